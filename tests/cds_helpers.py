"""Helpers for the CDS Hooks tests: a CDS client's keys and JWTs, prefetch answered from a Bundle, a fake server.

``prefetch_from_bundle`` answers every template with *all* the patient's resources of the template's type
(and another patient's resource mixed in): a careless server that filtered nothing, which the service must
survive by recognising codes itself.
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey

ROOT = Path(__file__).resolve().parent.parent
EHR_ISS = "https://ehr.example.org"
JWKS_URL = "https://ehr.example.org/cds/jwks"
SERVICE_URL = "http://localhost/cds-services/carepath-care-gaps"


class CdsClientKeys:
    """A CDS client (EHR) signing key pair and what it publishes."""

    def __init__(self, alg: str = "ES384", kid: str = "ehr-key-1") -> None:
        self.alg, self.kid = alg, kid
        self.key = ECKey.generate_key("P-384") if alg == "ES384" else RSAKey.generate_key(2048)

    def jwks(self) -> dict[str, Any]:
        """The public key set."""
        public = self.key.as_dict(private=False)
        public.update(kid=self.kid, alg=self.alg, use="sig")
        return {"keys": [public]}

    def token(self, aud: str = SERVICE_URL, *, iss: str = EHR_ISS, exp_in: int = 240, iat_delta: int = 0,
              jti: str | None = None, kid: str | None = None, jku: str | None = None,
              drop: tuple[str, ...] = (), nbf_in: int | None = None) -> str:
        """A signed CDS Hooks client JWT; every claim can be bent for negative tests."""
        now = int(time.time())
        header = {"alg": self.alg, "typ": "JWT", "kid": kid or self.kid}
        if jku:
            header["jku"] = jku
        claims = {"iss": iss, "sub": "ehr", "aud": aud, "exp": now + exp_in, "iat": now + iat_delta,
                  "jti": jti or str(uuid.uuid4())}
        if nbf_in is not None:
            claims["nbf"] = now + nbf_in
        for name in drop:
            claims.pop(name, None)
        return jwt.encode(header, claims, self.key, algorithms=[self.alg])


def bundle_resources(name: str) -> list[dict[str, Any]]:
    """The resources of a ``fhir_fixtures/`` bundle."""
    bundle = json.loads((ROOT / "fhir_fixtures" / name).read_text())
    return [entry["resource"] for entry in bundle["entry"]]


def searchset(resources: list[dict[str, Any]]) -> dict[str, Any]:
    """A searchset Bundle of ``resources``."""
    return {"resourceType": "Bundle", "type": "searchset", "total": len(resources),
            "entry": [{"resource": resource} for resource in resources]}


def prefetch_from_bundle(templates: dict[str, str], resources: list[dict[str, Any]],
                         stranger: dict[str, Any] | None = None) -> dict[str, Any]:
    """Every template answered without any filtering: all resources of the type (plus ``stranger``)."""
    patient = next(r for r in resources if r["resourceType"] == "Patient")
    prefetch: dict[str, Any] = {}
    for key, template in templates.items():
        resource_type = template.split("?")[0].split("/")[0]
        if resource_type == "Patient":
            prefetch[key] = patient
            continue
        found = [r for r in resources if r["resourceType"] == resource_type]
        if stranger is not None and stranger["resourceType"] == resource_type:
            found.append(stranger)
        prefetch[key] = searchset(found)
    return prefetch


def hook_request(patient_id: str, **fields: Any) -> dict[str, Any]:
    """A ``patient-view`` request body."""
    body = {"hook": "patient-view", "hookInstance": str(uuid.uuid4()),
            "context": {"patientId": patient_id, "userId": "Practitioner/cp-doc-1"}}
    body.update(fields)
    return body


class FakeFhirServer:
    """A FHIR server for ``responses``: answers reads and searches from a list of resources, filtering nothing
    but the type; counts requests and checks the bearer token."""

    def __init__(self, base: str, resources: list[dict[str, Any]], token: str | None = None) -> None:
        self.base, self.resources, self.token = base.rstrip("/"), resources, token
        self.requests: list[str] = []
        self.failures: dict[str, int] = {}

    def register(self, mocked: Any) -> None:
        """Route every GET under ``base`` to this server."""
        import re

        mocked.add_callback("GET", re.compile(re.escape(self.base) + r"/.*"), callback=self._answer)

    def _answer(self, request: Any) -> tuple[int, dict[str, str], str]:
        self.requests.append(request.url)
        if self.token and request.headers.get("Authorization") != f"Bearer {self.token}":
            return 401, {}, json.dumps({"resourceType": "OperationOutcome", "issue": []})
        path = urlsplit(request.url).path[len(urlsplit(self.base).path):].strip("/")
        resource_type = path.split("/")[0]
        for prefix, status in self.failures.items():
            if path.startswith(prefix):
                return status, {}, json.dumps({"resourceType": "OperationOutcome", "issue": [
                    {"severity": "error", "code": "exception", "diagnostics": "simulated"}]})
        if path == "metadata":
            return 200, {}, json.dumps({"resourceType": "CapabilityStatement", "fhirVersion": "4.0.1",
                                        "rest": [{"mode": "server", "resource": []}]})
        if "/" in path:
            found = next((r for r in self.resources if f"{r['resourceType']}/{r['id']}" == path), None)
            return (200, {}, json.dumps(found)) if found else (404, {}, "{}")
        query = dict(parse_qsl(urlsplit(request.url).query))
        found = [r for r in self.resources if r["resourceType"] == resource_type]
        bundle = searchset(found)
        bundle["link"] = [{"relation": "self", "url": f"{self.base}/{resource_type}?"
                           + "&".join(f"{k}={v}" for k, v in query.items())}]
        return 200, {}, json.dumps(bundle)
