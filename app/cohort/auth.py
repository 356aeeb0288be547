"""SMART Backend Services: an access token for a protected Bulk Data server (client_credentials + private_key_jwt).

The token endpoint comes from the server's ``.well-known/smart-configuration`` (allow-listed base only); the
client assertion is signed by the app's own :class:`app.smart.client_auth.ClientCredentials` (SMART_* settings:
``CLIENT_TYPE=confidential-asymmetric``, ``PRIVATE_KEY`` or ``PRIVATE_KEY_PATH``, ``KEY_ALG``, ``KEY_ID``). The
token stays in memory, is sent only to that server, and is never logged or written to the export state.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from typing import Any

import requests
from authlib.integrations.base_client.errors import OAuthError

from app.errors import ConfigError, FhirError
from app.smart.client_auth import ClientCredentials
from app.smart.discovery import discover
from app.smart.errors import DiscoveryFailed

#: Renew the token when it expires within this many seconds.
MARGIN = 60


class BackendServicesToken:
    """A token provider for :class:`app.fhir.FhirClient`: ``token()`` and ``refresh()`` (its 401 hook)."""

    def __init__(self, fhir_base: str, settings: Mapping[str, Any], *, scope: str, timeout: float = 10.0) -> None:
        credentials = ClientCredentials(settings)
        if credentials.client_type != "confidential-asymmetric":
            raise ConfigError("SMART Backend Services needs SMART_CLIENT_TYPE=confidential-asymmetric and a private "
                              "key (SMART_PRIVATE_KEY or SMART_PRIVATE_KEY_PATH)")
        self._credentials = credentials
        self._base = fhir_base
        self._scope = scope
        self._timeout = timeout
        self._token: str | None = None
        self._expires = 0.0
        self._lock = threading.Lock()

    def token(self) -> str | None:
        """The current access token, fetched or renewed when needed."""
        with self._lock:
            if self._token is None or time.time() > self._expires - MARGIN:
                self._fetch()
            return self._token

    def refresh(self) -> bool:
        """Fetch a new token (the server answered 401); True when one was obtained."""
        with self._lock:
            self._token = None
            self._fetch()
            return self._token is not None

    def _fetch(self) -> None:
        try:
            configuration = discover(self._base, session=requests.Session(), timeout=self._timeout)
        except DiscoveryFailed as exc:
            raise ConfigError(f"no SMART configuration for Backend Services at {self._base}: {exc}") from exc
        session = self._credentials.session(scope=self._scope, timeout=self._timeout)
        try:
            answer = session.fetch_token(configuration.token_endpoint, grant_type="client_credentials")
        except (OAuthError, requests.RequestException, ValueError, FhirError) as exc:
            error = getattr(exc, "error", None) or type(exc).__name__
            detail = getattr(exc, "description", None) or (exc.message if isinstance(exc, FhirError) else "")
            description = " ".join(str(detail or "").split())[:300]
            raise ConfigError(f"the token endpoint refused carepath's Backend Services request as client "
                              f"{self._credentials.client_id!r} ({error}{': ' + description if description else ''})"
                              ) from exc
        self._token = str(answer.get("access_token") or "") or None
        self._expires = time.time() + float(answer.get("expires_in") or 300)
