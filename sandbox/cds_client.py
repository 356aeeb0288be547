"""The sandbox EHR as a CDS Hooks 2.0 client: ``patient-view`` when a chart opens, cards above the sidebar.

- Its own ES384 signing key, published at ``/cds/jwks``; each call carries a JWT (``iss`` = the sandbox's base
  URL, ``aud`` = the service URL, ``exp`` 5 minutes, ``iat``, ``jti``, ``kid`` and ``jku`` in the header).
- Prefetch built from the service's discovery templates (``{{context.patientId}}``, ``{{context.userId}}``),
  answered by one batch Bundle to the upstream server, its base URL rewritten to the sandbox's as the proxy does.
  Per launch: ``full`` (every template), ``partial`` (Patient and Conditions only: the service fetches the rest)
  or ``none``.
- ``fhirAuthorization``: an access token its OAuth server issues for the purpose, patient-scoped read/search,
  5 minutes, accepted by the sandbox's own FHIR proxy.
- Feedback (accepted / overridden with a reason) sent to ``<service>/feedback`` with a fresh JWT.
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import requests
from joserfc import jwt
from joserfc.jwk import ECKey

from sandbox.models import LaunchContext, Token

log = logging.getLogger(__name__)

PREFETCH_MODES = ("full", "partial", "none", "off")
HOOK = "patient-view"
_PARTIAL_KEYS = ("patient", "condition")
_DISCOVERY_TTL = 60
_TIMEOUT = 30


@dataclass
class CdsCall:
    """What one hook call gave: cards (by uuid, in order), or a problem to show instead; and what it cost."""

    cards: list[dict[str, Any]] = field(default_factory=list)
    problem: str | None = None
    status: int | None = None
    prefetch_keys: int = 0
    seconds: float = 0.0

    def card(self, card_id: str) -> dict[str, Any] | None:
        """The card with this uuid."""
        return next((card for card in self.cards if card.get("uuid") == card_id), None)


class CdsHooksClient:
    """Calls CDS services for the sandbox (one per sandbox; thread-safe)."""

    def __init__(self, sandbox: Any) -> None:
        self.sandbox = sandbox
        self.key = ECKey.generate_key("P-384", parameters={"use": "sig", "alg": "ES384"})
        self.kid = self.key.thumbprint()
        self._discovered: dict[str, tuple[float, dict[str, Any]]] = {}
        self._lock = threading.Lock()

    @property
    def iss(self) -> str:
        """The sandbox's identity as a CDS client (its base URL)."""
        return self.sandbox.base_url

    @property
    def jwks_url(self) -> str:
        """Where the public key is published."""
        return f"{self.sandbox.base_url}/cds/jwks"

    def jwks(self) -> dict[str, Any]:
        """The public key set (never the private key)."""
        public = self.key.as_dict(private=False)
        public.update(kid=self.kid, use="sig", alg="ES384")
        return {"keys": [public]}

    def services_url(self) -> str:
        """The CDS discovery endpoint of the app the sandbox launches."""
        return f"{self.sandbox.app_url}/cds-services"

    def signed_jwt(self, audience: str, *, lifetime: int = 300, jku: bool = True) -> str:
        """A CDS Hooks 2.0 client JWT for ``audience`` (the service URL)."""
        now = int(time.time())
        header = {"alg": "ES384", "typ": "JWT", "kid": self.kid}
        if jku:
            header["jku"] = self.jwks_url
        claims = {"iss": self.iss, "sub": "sandbox-ehr", "aud": audience, "iat": now, "exp": now + lifetime,
                  "jti": str(uuid.uuid4())}
        return jwt.encode(header, claims, self.key, algorithms=["ES384"])

    def patient_view(self, context: LaunchContext, mode: str = "full") -> CdsCall:
        """Call every discovered ``patient-view`` service (carepath's) for the chart of ``context``."""
        started = time.perf_counter()
        result = CdsCall()
        try:
            service = self._service()
            if service is None:
                result.problem = "The app publishes no patient-view CDS service."
                return result
            url = f"{self.services_url()}/{service['id']}"
            body = self._request(service, context, mode)
            result.prefetch_keys = len(body.get("prefetch") or {})
            response = self.sandbox.http.post(url, json=body, timeout=_TIMEOUT, headers={
                "Authorization": f"Bearer {self.signed_jwt(url)}", "Accept": "application/json"})
            result.status = response.status_code
            answer = response.json() if response.content else {}
            if response.status_code != 200:
                result.problem = f"The CDS service answered {response.status_code}: {answer.get('message', '')}"
            else:
                result.cards = [card for card in answer.get("cards") or [] if isinstance(card, dict)]
        except (requests.RequestException, ValueError) as exc:
            result.problem = f"The CDS service could not be called ({type(exc).__name__})."
        finally:
            result.seconds = time.perf_counter() - started
        context.cds_cards = {card["uuid"]: card for card in result.cards if isinstance(card.get("uuid"), str)}
        context.cds_service = self._service_id()
        return result

    def send_feedback(self, service_id: str, card_id: str, outcome: str, reason: dict[str, Any] | None) -> int:
        """Send one card's outcome to the service's feedback endpoint; returns the HTTP status."""
        url = f"{self.services_url()}/{service_id}"
        entry: dict[str, Any] = {"card": card_id, "outcome": outcome,
                                 "outcomeTimestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        if reason:
            entry["overrideReason"] = {"reason": reason}
        response = self.sandbox.http.post(f"{url}/feedback", json={"feedback": [entry]}, timeout=_TIMEOUT,
                                          headers={"Authorization": f"Bearer {self.signed_jwt(url)}"})
        return response.status_code

    # -- helpers ----------------------------------------------------------------------------------

    def _service_id(self) -> str | None:
        """The service's id, or None when discovery cannot be read (the call above has said why)."""
        try:
            service = self._service()
        except (requests.RequestException, ValueError):
            return None
        return service["id"] if service else None

    def _service(self) -> dict[str, Any] | None:
        url = self.services_url()
        with self._lock:
            cached = self._discovered.get(url)
        if cached is None or time.monotonic() - cached[0] > _DISCOVERY_TTL:
            response = self.sandbox.http.get(url, timeout=_TIMEOUT, headers={"Accept": "application/json"})
            response.raise_for_status()
            cached = (time.monotonic(), response.json())
            with self._lock:
                self._discovered[url] = cached
        return next((s for s in cached[1].get("services") or [] if s.get("hook") == HOOK), None)

    def _request(self, service: dict[str, Any], context: LaunchContext, mode: str) -> dict[str, Any]:
        body: dict[str, Any] = {
            "hook": HOOK, "hookInstance": str(uuid.uuid4()), "fhirServer": self.sandbox.fhir_base,
            "fhirAuthorization": self._authorization(context),
            "context": {"patientId": context.patient},
        }
        if context.fhir_user:
            body["context"]["userId"] = context.fhir_user
        if context.encounter:
            body["context"]["encounterId"] = context.encounter
        templates = service.get("prefetch") or {}
        if mode == "partial":
            templates = {key: query for key, query in templates.items() if key in _PARTIAL_KEYS}
        if mode in ("full", "partial") and templates:
            body["prefetch"] = self._prefetch(templates, context)
        return body

    def _authorization(self, context: LaunchContext) -> dict[str, Any]:
        """A patient-scoped read token for the service, issued by the sandbox's OAuth server."""
        scope = "patient/*.rs"
        token = Token(client_id="cds-service", access_token=secrets.token_urlsafe(32), scope=scope,
                      context=context, expires_in=300)
        self.sandbox.registry.save_token(token)
        return {"access_token": token.access_token, "token_type": "Bearer", "expires_in": 300, "scope": scope,
                "subject": "cds-service", "patient": context.patient}

    def _prefetch(self, templates: dict[str, str], context: LaunchContext) -> dict[str, Any]:
        """Every template answered by one batch Bundle to the upstream server (failed entries are left null)."""
        values = {"{{context.patientId}}": context.patient or "", "{{context.userId}}": context.fhir_user or ""}
        keys = list(templates)
        urls = []
        for key in keys:
            query = templates[key]
            for token, value in values.items():
                query = query.replace(token, value)
            urls.append(query)
        batch = {"resourceType": "Bundle", "type": "batch",
                 "entry": [{"request": {"method": "GET", "url": url}} for url in urls]}
        response = self.sandbox.http.post(self.sandbox.upstream, json=batch, timeout=_TIMEOUT,
                                          headers={"Content-Type": "application/fhir+json"})
        response.raise_for_status()
        text = response.content.replace(self.sandbox.upstream.encode(), self.sandbox.fhir_base.encode())
        entries = json.loads(text).get("entry") or []
        prefetch: dict[str, Any] = {}
        for key, entry in zip(keys, entries, strict=False):
            status = str((entry.get("response") or {}).get("status") or "")
            prefetch[key] = entry.get("resource") if status.startswith("2") else None
        return prefetch
