"""The sandbox's FHIR endpoint: checks the bearer token and its SMART scopes, then forwards to HAPI.

- No or bad token: 401 with ``WWW-Authenticate`` and an OperationOutcome (authlib's ``ResourceProtector``).
- A scope missing for the interaction: 403 with an OperationOutcome naming the scope needed.
- ``patient/`` scopes are held to the token's patient: reads of another patient, and searches of
  patient-compartment types not limited to that patient, are refused.
- Backend-services tokens (``system/`` scopes, client_credentials) may only run Bulk Data exports: see
  :mod:`sandbox.bulk`. App tokens never reach an export job or its files.
- Responses have HAPI's base URL rewritten to the sandbox's (Bundle links, fullUrl, Location, Content-Location,
  Bulk Data manifests), so paging, export polling and downloads stay on the server the client talks to.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import requests
from authlib.integrations.flask_oauth2 import ResourceProtector
from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6750 import BearerTokenValidator
from flask import Blueprint, Response, current_app, request

from sandbox import bulk
from sandbox.scopes import SCOPE, Granted

bp = Blueprint("proxy", __name__)

_FORWARD_REQUEST_HEADERS = ("Accept", "Content-Type", "If-Match", "If-None-Exist", "If-None-Match",
                            "If-Modified-Since", "Prefer")
_FORWARD_RESPONSE_HEADERS = ("Content-Type", "ETag", "Last-Modified", "Location", "Content-Location",
                             "Retry-After", "X-Progress", "Expires")  # the last three: Bulk Data status
_PATIENT_PARAMS = ("patient", "subject", "subject:Patient", "patient:Patient")
#: Types whose searches must be limited to the token's patient under patient/ scopes.
_NOT_COMPARTMENT = {"Practitioner", "PractitionerRole", "Organization", "Location", "Medication",
                    "PlanDefinition", "ActivityDefinition", "Library", "ValueSet", "CodeSystem",
                    "StructureDefinition", "Questionnaire"}


class _Validator(BearerTokenValidator):
    def __init__(self, registry: Any) -> None:
        super().__init__()
        self.registry = registry

    def authenticate_token(self, token_string: str) -> Any:
        return self.registry.token(token_string)


def protector(registry: Any) -> ResourceProtector:
    """A resource protector validating the sandbox's own access tokens."""
    protect = ResourceProtector()
    protect.register_token_validator(_Validator(registry))
    return protect


def outcome(status: int, code: str, text: str, headers: dict[str, str] | None = None) -> Response:
    """An OperationOutcome response."""
    body = {"resourceType": "OperationOutcome",
            "issue": [{"severity": "error", "code": code, "diagnostics": text}]}
    return Response(json.dumps(body), status=status, headers=headers or {},
                    content_type="application/fhir+json")


@bp.route("/fhir/metadata", methods=["GET"])
def metadata() -> Response:
    """HAPI's CapabilityStatement with the SMART security extension (no token needed)."""
    sandbox = current_app.extensions["sandbox"]
    response = _forward(sandbox, "metadata")
    if response.status_code == 200:
        statement = json.loads(response.get_data())
        for rest in statement.get("rest", []):
            rest["security"] = {
                "service": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
                                         "code": "SMART-on-FHIR"}]}],
                "extension": [{"url": "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris",
                               "extension": [
                                   {"url": "authorize", "valueUri": f"{sandbox.base_url}/auth/authorize"},
                                   {"url": "token", "valueUri": sandbox.token_endpoint}]}],
            }
        response.set_data(json.dumps(statement))
    return response


#: The content types of Bulk Data output files (NDJSON): never served to an app token.
EXPORT_CONTENT_TYPES = frozenset({"application/fhir+ndjson", "application/ndjson", "ndjson"})


@bp.route("/fhir", methods=["GET", "POST"], defaults={"path": ""})
@bp.route("/fhir/<path:path>", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
def fhir(path: str) -> Response:
    """Check the token and scopes for this interaction, then forward it to HAPI."""
    sandbox = current_app.extensions["sandbox"]
    try:
        token = sandbox.protect.acquire_token()
    except OAuth2Error as error:
        headers = dict(error.get_headers())
        return outcome(401, "login", f"Access token required or not valid ({error.error}).",
                       {k: v for k, v in headers.items() if k.lower() == "www-authenticate"})
    if token.backend:  # SMART Backend Services: Bulk Data exports, and nothing else
        refused = bulk.check(request.method, path, request.args, token, sandbox.registry)
        if refused:
            return outcome(403, "forbidden", refused)
        response = _forward(sandbox, path)
        bulk.note(path, response, token.client_id, sandbox.registry, sandbox.fhir_base)
        return response
    if token.context.simulate == "offsite_redirect" and request.method == "GET":
        # A hostile or misconfigured server: every read is redirected to a server off the app's allow-list.
        return Response(status=302, headers={"Location": f"{sandbox.redirect_target}/fhir/{path}"})
    body = request.get_json(silent=True, force=True) if request.data else None
    refused = check(request.method, path, request.args, body, token)
    if not refused and bulk.is_export_file(path, sandbox.registry):
        refused = "Bulk Data export files are served only to the backend client that started the export."
    if refused:
        return outcome(403, "forbidden", refused)
    response = _forward(sandbox, path)
    if request.method == "GET" and (path.count("/") >= 1 or path == "") and response.status_code == 200:
        # Reads by id and next pages: the answer itself must belong to the token's patient.
        try:
            resource = json.loads(response.get_data() or b"{}")
        except ValueError:  # not JSON (a Binary asked as its own content type): nothing to check it against
            return outcome(403, "forbidden", "Only FHIR JSON answers can be checked against the token's patient.")
        found = [entry.get("resource") or {} for entry in resource.get("entry", [])] if path == "" else [resource]
        if any(isinstance(item, dict) and item.get("resourceType") == "Binary" and
               str(item.get("contentType") or "").split(";")[0].strip() in EXPORT_CONTENT_TYPES for item in found):
            # an export's output, read before its owner polled the job (the proxy does not know the file yet)
            return outcome(403, "forbidden", "Bulk Data export files are served only to the backend client that "
                                             "started the export.")
        if any(_patient_of(item) not in (None, token.context.patient) for item in found
               if isinstance(item, dict) and not _user_level(token, str(item.get("resourceType")))):
            return outcome(403, "forbidden", "A patient-scoped token may only read resources of its patient.")
    return response


def _user_level(token: Any, resource_type: str) -> bool:
    """True when a ``user/`` scope grants this type: the user's own access bounds it, not the token's patient.
    ``patient/`` scopes of the same token still keep every other type to the patient."""
    matches = (SCOPE.match(scope) for scope in token.get_scope().split())
    return any(match and match[1] == "user" and match[2] in (resource_type, "*") for match in matches)


def check(method: str, path: str, args: Any, body: Any, token: Any) -> str | None:
    """Why the token may not do this interaction, or None when it may."""
    granted = Granted(token.get_scope())
    patient = token.context.patient
    if path == "" and method == "POST":
        if not isinstance(body, dict) or body.get("resourceType") != "Bundle":
            return "Only batch or transaction Bundles may be posted to the base URL."
        for entry in body.get("entry") or []:
            req = entry.get("request") or {}
            url = urlsplit(str(req.get("url", "")))
            refused = check(str(req.get("method", "GET")).upper(), url.path.strip("/"),
                            dict(parse_qsl(url.query)), entry.get("resource"), token)
            if refused:
                return refused
        return None
    if path == "" and method == "GET":
        if "_getpages" in args:
            return None  # the next page of a search this server answered; its entries are checked after
        return "System-level interactions are not allowed with a SMART app token."
    parts = [part for part in path.split("/") if part]
    resource_type = parts[0] if parts else ""
    patient_only = not _user_level(token, resource_type)
    if not resource_type[:1].isupper():
        return "System-level interactions are not allowed with a SMART app token."
    if (len(parts) >= 2 and parts[1].startswith("$")) or (len(parts) >= 3 and parts[2].startswith("$")):
        operation = parts[1] if parts[1].startswith("$") else parts[2]
        if operation != "$validate":
            return f"Operation {operation} is not available to SMART apps on this sandbox."
        return granted.refusal(resource_type, "r")
    if (method == "GET" and len(parts) == 1) or (method == "POST" and parts[1:] == ["_search"]):
        refused = granted.refusal(resource_type, "s")
        if refused or not patient_only or resource_type in _NOT_COMPARTMENT:
            return refused
        limit = args.get("_id") if resource_type == "Patient" else next(
            (args.get(name) for name in _PATIENT_PARAMS if args.get(name)), None)
        if not limit or str(limit).split("/")[-1] != patient:
            return (f"A patient-scoped token may only search {resource_type} of its patient: add "
                    f"patient={patient}.")
        return None
    permission = {"GET": "r", "POST": "c", "PUT": "u", "PATCH": "u", "DELETE": "d"}.get(method, "?")
    refused = granted.refusal(resource_type, permission)
    if refused or not patient_only:
        return refused
    if resource_type == "Patient" and len(parts) >= 2 and parts[1] != patient:
        return "A patient-scoped token may only read its own patient."
    if isinstance(body, dict) and _patient_of(body) not in (None, patient):
        return "A patient-scoped token may only write resources of its patient."
    return None


def _patient_of(resource: dict[str, Any]) -> str | None:
    for field in ("subject", "patient"):
        reference = (resource.get(field) or {}).get("reference") if isinstance(resource.get(field), dict) else None
        if reference and reference.startswith("Patient/"):
            return reference.split("/")[1]
    return None


def _forward(sandbox: Any, path: str) -> Response:
    url = f"{sandbox.upstream}/{path}" if path else sandbox.upstream
    if request.query_string:
        url += "?" + request.query_string.decode()
    headers = {name: request.headers[name] for name in _FORWARD_REQUEST_HEADERS if name in request.headers}
    try:
        upstream = sandbox.http.request(request.method, url, data=request.get_data(), headers=headers, timeout=60,
                                        allow_redirects=False)
    except requests.RequestException:
        return outcome(502, "transient", "The sandbox could not reach its FHIR server.")
    body = upstream.content.replace(sandbox.upstream.encode(), sandbox.fhir_base.encode())
    response = Response(body, status=upstream.status_code)
    for name in _FORWARD_RESPONSE_HEADERS:
        if name in upstream.headers:
            response.headers[name] = upstream.headers[name].replace(sandbox.upstream, sandbox.fhir_base)
    return response
