"""carepath as a SMART App Launch 2 client: authorize, handle the callback, refresh. No Flask in here.

A launch moves through the store (:mod:`app.store`) in two namespaces:

- ``pending`` (key: ``state``, single use, ``SMART_PENDING_TTL``): what the callback needs to finish an
  authorization this browser started: ``iss``, PKCE ``code_verifier``, ``nonce``, requested scope.
- ``launch`` (key: an opaque launch id, ``SMART_LAUNCH_TTL``): the context (patient, encounter, fhirUser,
  banner, style, granted scope) and the tokens. Tokens stay here; pages carry only the launch id, which
  is bound to the browser that started the launch.

Vocabulary borrowed from smart-on-fhir/client-py: ``authorize_url``, ``handle_callback``, ``refresh``.
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
import time
from collections.abc import Mapping
from typing import Any

import requests
from authlib.integrations.base_client.errors import OAuthError

from app.errors import FhirError
from app.outbound import get
from app.smart.client_auth import ClientCredentials
from app.smart.discovery import SmartConfiguration, allowed_bases, check_iss, discover, normalize_base
from app.smart.errors import (
    AuthorizationFailed,
    LaunchRequestInvalid,
    RelaunchRequired,
    StateMismatch,
    TokenInvalid,
)
from app.smart.idtoken import fetch_jwks, fhir_user_reference, validate_id_token
from app.smart.scopes import GrantedScopes, requested_scope
from app.store import Store

__all__ = ["SmartClient", "browser_hash"]

log = logging.getLogger(__name__)

#: A FHIR resource id (R4 datatypes: ``[A-Za-z0-9\-\.]{1,64}``), checked on every patient a launch names.
FHIR_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}\Z")

_OAUTH_MESSAGES = {
    "access_denied": "Access was denied in the EHR: carepath was not allowed to open this record.",
    "invalid_client": "The EHR did not accept carepath's client credentials (invalid_client). An administrator "
                      "should check SMART_CLIENT_ID and its secret or key registration.",
    "invalid_grant": "The EHR refused the authorization code (invalid_grant): it was used already, expired, or "
                     "the PKCE check failed. Open carepath again from the EHR.",
    "invalid_scope": "The EHR refused the permissions carepath asked for (invalid_scope).",
    "unauthorized_client": "This EHR does not allow carepath to sign in this way (unauthorized_client).",
}


def browser_hash(browser_id: str) -> str:
    """What the store keeps of a browser id: its SHA-256, never the id itself."""
    return hashlib.sha256(browser_id.encode()).hexdigest()


class SmartClient:
    """Runs SMART launches for one app configuration (``SMART_*`` settings) over one store."""

    def __init__(self, config: Mapping[str, Any], store: Store, *, http: requests.Session | None = None) -> None:
        self.settings = {k[len("SMART_"):]: v for k, v in config.items() if k.startswith("SMART_")}
        self.credentials = ClientCredentials(self.settings)
        self.store = store
        self.http = http or requests.Session()
        self.timeout = float(self.settings.get("HTTP_TIMEOUT", 10))
        self.allowed_iss = allowed_bases(self.settings.get("ALLOWED_ISS"))
        self.open_servers = allowed_bases(self.settings.get("OPEN_SERVERS"))
        self.launch_ttl = float(self.settings.get("LAUNCH_TTL", 8 * 3600))
        self.pending_ttl = float(self.settings.get("PENDING_TTL", 600))
        self.refresh_margin = float(self.settings.get("REFRESH_MARGIN", 60))

    # -- starting a launch ------------------------------------------------------------------------

    def check_iss(self, iss: str | None) -> str:
        """The normalized ``iss`` if allowed; :class:`UnknownIssuer` (and no network call) otherwise."""
        return check_iss(iss, self.allowed_iss)

    def is_open_server(self, iss: str) -> bool:
        """True when ``iss`` is an allowed FHIR server that needs no authorization."""
        return normalize_base(iss) in self.open_servers

    def discover(self, iss: str) -> SmartConfiguration:
        """The SMART configuration of an allowed ``iss``."""
        iss = self.check_iss(iss)
        return discover(iss, session=self.http, timeout=self.timeout,
                        ttl=float(self.settings.get("DISCOVERY_TTL", 300)))

    def authorize_url(self, iss: str | None, *, launch: str | None, browser_id: str) -> str:
        """The EHR's authorize URL for an EHR launch (``launch`` given) or a standalone launch (None)."""
        iss = self.check_iss(iss)
        configuration = self.discover(iss)
        standalone = launch is None
        scope = requested_scope(self.settings, standalone=standalone)
        state = secrets.token_urlsafe(32)  # 256 bits; SMART asks at least 122
        code_verifier = secrets.token_urlsafe(64)  # 86 characters, within RFC 7636's 43-128
        nonce = secrets.token_urlsafe(32)
        self.store.put("pending", state, {
            "iss": iss, "launch": launch, "code_verifier": code_verifier, "nonce": nonce, "scope": scope,
            "browser": browser_hash(browser_id), "started": time.time(),
        }, ttl=self.pending_ttl)
        extra = {"aud": iss, "nonce": nonce}
        if launch is not None:
            extra["launch"] = launch
        session = self.credentials.session(scope=scope, timeout=self.timeout)
        url, _ = session.create_authorization_url(
            configuration.authorization_endpoint, state=state, code_verifier=code_verifier, **extra
        )
        log.info("smart authorize", extra={"iss": iss, "standalone": standalone,
                                           "client_type": self.credentials.client_type})
        return url

    def open_server_launch(self, iss: str | None, patient_id: str | None, *, browser_id: str) -> str:
        """A launch on a FHIR server without authorization; returns the launch id."""
        iss = self.check_iss(iss)
        if not self.is_open_server(iss):
            raise LaunchRequestInvalid("A launch with 'patient' and no 'launch' is only possible on a server "
                                       "listed in SMART_OPEN_SERVERS.")
        if not patient_id or not FHIR_ID.match(patient_id):
            raise LaunchRequestInvalid("Open-server mode needs a valid 'patient' id (1-64 letters, digits, '-' "
                                       "or '.').")
        return self._save_launch({
            "iss": iss, "open_server": True, "patient_id": patient_id, "encounter_id": None,
            "fhir_user": None, "need_patient_banner": True, "smart_style_url": None, "intent": None,
            "scope": "", "access_token": None, "refresh_token": None, "expires_at": None,
            "token_endpoint": None,
        }, browser_id)

    # -- finishing it --------------------------------------------------------------------------------

    def handle_callback(self, params: Mapping[str, str], *, browser_id: str) -> str:
        """Check ``state``, exchange the code, validate the answer, store the launch; returns its id."""
        state = params.get("state")
        if not state:
            raise StateMismatch("The EHR sent carepath back without the 'state' it was given, so this sign-in "
                                "cannot be matched to a launch. Open carepath again from the EHR.")
        # The browser is checked before the state is used up: a request from another browser (a leaked callback
        # URL) is refused without consuming the pending sign-in of the browser that started it.
        pending = self.store.get("pending", state)
        if pending is not None and not secrets.compare_digest(pending.get("browser", ""), browser_hash(browser_id)):
            raise StateMismatch("This sign-in was started in another browser or tab session. Open carepath "
                                "again from the EHR.")
        pending = self.store.take("pending", state) if pending is not None else None
        if pending is None:
            raise StateMismatch("This sign-in is unknown, was already used, or took too long. Open carepath "
                                "again from the EHR.")
        if params.get("error"):
            error = params["error"]
            raise AuthorizationFailed(_OAUTH_MESSAGES.get(error, f"The EHR refused the sign-in ({error[:60]})."),
                                      error=error[:60], description=(params.get("error_description") or "")[:300])
        code = params.get("code")
        if not code:
            raise LaunchRequestInvalid("The EHR sent carepath back without an authorization code.")
        configuration = self.discover(pending["iss"])
        if params.get("iss") and configuration.issuer and params["iss"] != configuration.issuer:
            raise AuthorizationFailed("The answer came from another authorization server than the one carepath "
                                      "asked (RFC 9207 'iss' mismatch).")
        session = self.credentials.session(scope=pending["scope"], timeout=self.timeout)
        token = self._token_request(lambda: session.fetch_token(
            configuration.token_endpoint, grant_type="authorization_code", code=code,
            code_verifier=pending["code_verifier"], redirect_uri=self.credentials.redirect_uri,
        ))
        record = self._launch_from_token(token, pending, configuration)
        launch_id = self._save_launch(record, browser_id)
        log.info("smart launch", extra={"launch": launch_id[:8], "iss": pending["iss"],
                                        "standalone": pending["launch"] is None, "scope": record["scope"]})
        return launch_id

    def _launch_from_token(self, token: Mapping[str, Any], pending: Mapping[str, Any],
                           configuration: SmartConfiguration) -> dict[str, Any]:
        from app.smart.launch import app_context_area  # launch.py builds on this module

        if not isinstance(token.get("access_token"), str) or not token["access_token"]:
            raise TokenInvalid("The EHR's token response has no access_token.")
        if str(token.get("token_type", "")).lower() != "bearer":
            raise TokenInvalid("The EHR's token response is not a Bearer token.")
        patient_id = token.get("patient")
        if not isinstance(patient_id, str) or not patient_id:
            raise TokenInvalid("The EHR did not say which patient carepath was opened for (no 'patient' in the "
                               "token response).")
        if not FHIR_ID.match(patient_id):
            raise TokenInvalid("The EHR named a patient whose id is not a FHIR id (1-64 letters, digits, '-' or '.'), "
                               "so carepath cannot read the record.")
        granted = GrantedScopes(token.get("scope") or pending["scope"])
        fhir_user = None
        if token.get("id_token") or "openid" in granted:
            if not token.get("id_token"):
                raise TokenInvalid("The EHR granted 'openid' but sent no id_token.")
            claims = self._validate_id_token(str(token["id_token"]), configuration, pending["nonce"])
            fhir_user = fhir_user_reference(claims, pending["iss"])
        return {
            "iss": pending["iss"], "open_server": False, "patient_id": patient_id,
            "encounter_id": token.get("encounter") if isinstance(token.get("encounter"), str) else None,
            "fhir_user": fhir_user,
            "need_patient_banner": bool(token.get("need_patient_banner", True)),
            "smart_style_url": token.get("smart_style_url") if isinstance(token.get("smart_style_url"), str)
            else None,
            "intent": token.get("intent") if isinstance(token.get("intent"), str) else None,
            "tenant": token.get("tenant") if isinstance(token.get("tenant"), str) else None,
            "app_context_area": app_context_area(token.get("appContext")),
            "scope": str(granted),
            "access_token": token["access_token"],
            "refresh_token": token.get("refresh_token"),
            "expires_at": _expires_at(token), "lifetime": _lifetime(token),
            "token_endpoint": configuration.token_endpoint,
        }

    def _validate_id_token(self, id_token: str, configuration: SmartConfiguration, nonce: str) -> dict[str, Any]:
        issuer, jwks_uri = configuration.issuer, configuration.jwks_uri
        if not issuer or not jwks_uri:
            openid = self._openid_configuration(configuration)
            issuer, jwks_uri = issuer or openid.get("issuer"), jwks_uri or openid.get("jwks_uri")
        if not issuer or not jwks_uri:
            raise TokenInvalid("The EHR publishes no issuer and jwks_uri, so its id_token cannot be checked.")
        jwks = fetch_jwks(jwks_uri, session=self.http, timeout=self.timeout)
        return validate_id_token(id_token, jwks=jwks, issuer=issuer, client_id=self.credentials.client_id,
                                 nonce=nonce)

    def _openid_configuration(self, configuration: SmartConfiguration) -> dict[str, Any]:
        url = f"{configuration.iss}/.well-known/openid-configuration"
        try:
            response = get(self.http, url, [configuration.iss], timeout=self.timeout,
                           outside="the EHR's FHIR server")
            document = response.json() if response.status_code == 200 else {}
        except (requests.RequestException, ValueError, FhirError):
            document = {}
        return document if isinstance(document, dict) else {}

    def _save_launch(self, record: dict[str, Any], browser_id: str) -> str:
        launch_id = secrets.token_urlsafe(24)
        record.update(launch_id=launch_id, browser=browser_hash(browser_id), created=time.time())
        self.store.put("launch", launch_id, record, ttl=self.launch_ttl)
        return launch_id

    # -- using and renewing it -------------------------------------------------------------------------

    def load(self, launch_id: str) -> dict[str, Any] | None:
        """The stored launch, or None."""
        return self.store.get("launch", launch_id)

    def end(self, launch_id: str) -> None:
        """Forget a launch and its tokens."""
        self.store.delete("launch", launch_id)

    def rebind(self, launch_id: str, *, old_browser: str, new_browser: str) -> bool:
        """Move a launch of ``old_browser`` to ``new_browser`` (a rotated browser id); False when it is not
        (or no longer) a launch of ``old_browser``."""
        record = self.load(launch_id)
        if record is None or not secrets.compare_digest(record.get("browser", ""), browser_hash(old_browser)):
            return False
        record["browser"] = browser_hash(new_browser)
        remaining = self.launch_ttl - (time.time() - float(record.get("created") or time.time()))
        if remaining <= 0:
            return False
        self.store.put("launch", launch_id, record, ttl=remaining)
        return True

    def access_token(self, launch_id: str) -> str | None:
        """The current access token, refreshed first when it expires within ``SMART_REFRESH_MARGIN``."""
        record = self.load(launch_id)
        if record is None:
            raise RelaunchRequired("Your carepath session has ended. Open carepath again from the EHR.")
        if record.get("open_server"):
            return None
        expires_at = record.get("expires_at")
        if expires_at is not None and expires_at - time.time() < self._margin(record):
            record = self.refresh(launch_id, stale_token=record["access_token"])
        return record["access_token"]

    def _margin(self, record: Mapping[str, Any]) -> float:
        """How long before expiry a token is renewed: ``SMART_REFRESH_MARGIN``, but at most half the token's
        lifetime, so that a token of 60 s or less is not renewed on every request."""
        lifetime = record.get("lifetime")
        if isinstance(lifetime, int | float) and not isinstance(lifetime, bool) and lifetime > 0:
            return min(self.refresh_margin, lifetime / 2)
        return self.refresh_margin

    def refresh(self, launch_id: str, *, stale_token: str | None) -> dict[str, Any]:
        """Renew the tokens once (rotating the refresh token); :class:`RelaunchRequired` when impossible."""
        deadline = time.monotonic() + self.timeout + 5
        while not self.store.add("refresh-lock", launch_id, {}, ttl=self.timeout + 5):
            # Another request of this launch is refreshing: use its result.
            if time.monotonic() > deadline:
                raise RelaunchRequired("carepath could not renew your session with the EHR in time. Open "
                                       "carepath again from the EHR.")
            time.sleep(0.05)
        try:
            record = self.load(launch_id)
            if record is None:
                raise RelaunchRequired("Your carepath session has ended. Open carepath again from the EHR.")
            if stale_token is not None and record.get("access_token") != stale_token:
                return record  # refreshed meanwhile by another request
            return self._refresh_locked(launch_id, record)
        finally:
            self.store.delete("refresh-lock", launch_id)

    def _refresh_locked(self, launch_id: str, record: dict[str, Any]) -> dict[str, Any]:
        if not record.get("refresh_token") or not record.get("token_endpoint"):
            self.end(launch_id)
            raise RelaunchRequired("Your session with the EHR has expired and the EHR gave carepath no way to "
                                   "renew it. Open carepath again from the EHR.")
        session = self.credentials.session(timeout=self.timeout)
        try:
            token = self._token_request(lambda: session.refresh_token(
                record["token_endpoint"], refresh_token=record["refresh_token"]))
        except AuthorizationFailed as exc:
            self.end(launch_id)
            log.warning("smart refresh failed", extra={"launch": launch_id[:8], "error": exc.error})
            raise RelaunchRequired("Your session with the EHR has ended and could not be renewed. Open carepath "
                                   "again from the EHR.", error=exc.error) from exc
        if not isinstance(token.get("access_token"), str) or not token["access_token"]:
            self.end(launch_id)
            raise RelaunchRequired("The EHR answered the renewal without an access token. Open carepath again.")
        record.update(
            access_token=token["access_token"],
            refresh_token=token.get("refresh_token") or record["refresh_token"],
            expires_at=_expires_at(token), lifetime=_lifetime(token),
            scope=str(GrantedScopes(token["scope"])) if token.get("scope") else record["scope"],
        )
        self.store.put("launch", launch_id, record, ttl=self.launch_ttl)
        log.info("smart refresh", extra={"launch": launch_id[:8]})
        return record

    def _token_request(self, call: Any) -> dict[str, Any]:
        try:
            return dict(call())
        except OAuthError as exc:
            error = str(exc.error or "oauth_error")[:60]
            message = _OAUTH_MESSAGES.get(error, f"The EHR refused the token request ({error}).")
            raise AuthorizationFailed(message, error=error,
                                      description=str(exc.description or "")[:300]) from None
        except requests.Timeout as exc:
            raise AuthorizationFailed("The EHR's token endpoint did not answer in time.") from exc
        except requests.HTTPError as exc:
            status = exc.response.status_code if exc.response is not None else "?"
            raise AuthorizationFailed(f"The EHR's token endpoint failed (HTTP {status}).") from None
        except requests.RequestException as exc:
            raise AuthorizationFailed("The EHR's token endpoint cannot be reached.") from exc
        except FhirError as exc:  # a redirect: the code, verifier and credentials go only where discovery said
            raise AuthorizationFailed(f"The EHR's token endpoint could not be used: {exc.message}.") from None
        except ValueError:
            raise AuthorizationFailed("The EHR's token endpoint did not answer with JSON.") from None


def _lifetime(token: Mapping[str, Any]) -> float | None:
    """The token's ``expires_in`` in seconds, or None when absent or unreadable."""
    try:
        return float(token["expires_in"])
    except (KeyError, TypeError, ValueError):
        return None


def _expires_at(token: Mapping[str, Any]) -> float | None:
    try:
        return time.time() + float(token["expires_in"])
    except (KeyError, TypeError, ValueError):
        return None

