"""Authorization endpoints of the sandbox: discovery, authorize (with a consent page), token, JWKS.

The consent form carries an HMAC of the exact authorize request (no cookie: the page runs inside the EHR
sidebar iframe, where cross-site cookies are unreliable), so a forged POST cannot grant access.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from authlib.oauth2 import OAuth2Error
from flask import Blueprint, current_app, jsonify, render_template, request
from flask.typing import ResponseReturnValue

from sandbox import fhir_upstream
from sandbox.models import SIMULATIONS, LaunchContext

bp = Blueprint("auth", __name__)


def _sandbox() -> Any:
    return current_app.extensions["sandbox"]


@bp.get("/fhir/.well-known/smart-configuration")
def smart_configuration() -> ResponseReturnValue:
    """The SMART discovery document of the sandbox FHIR base (SMART App Launch 2.x, Backend Services included:
    ``client_credentials``, ``private_key_jwt`` with RS384/ES384, ``system/*.rs``, ``client-confidential-asymmetric``
    and ``permission-v2``)."""
    sandbox = _sandbox()
    return jsonify({
        "issuer": sandbox.fhir_base,
        "jwks_uri": f"{sandbox.base_url}/auth/jwks",
        "authorization_endpoint": f"{sandbox.base_url}/auth/authorize",
        "token_endpoint": sandbox.token_endpoint,
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "token_endpoint_auth_methods_supported": ["none", "client_secret_basic", "private_key_jwt"],
        "token_endpoint_auth_signing_alg_values_supported": ["RS384", "ES384"],
        "scopes_supported": ["openid", "fhirUser", "launch", "launch/patient", "offline_access", "online_access",
                             "patient/*.cruds", "patient/*.read", "patient/*.write", "user/*.cruds",
                             "user/Practitioner.rs", "user/Practitioner.read", "system/*.rs", "system/*.read"],
        "response_types_supported": ["code"],
        "code_challenge_methods_supported": ["S256"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "capabilities": ["launch-ehr", "launch-standalone", "client-public", "client-confidential-symmetric",
                         "client-confidential-asymmetric", "context-ehr-patient", "context-ehr-encounter",
                         "context-standalone-patient", "context-banner", "context-style", "sso-openid-connect",
                         "permission-offline", "permission-online", "permission-patient", "permission-user",
                         "permission-v1", "permission-v2"],
    })


@bp.get("/fhir/.well-known/openid-configuration")
def openid_configuration() -> ResponseReturnValue:
    """OpenID Connect discovery for the sandbox issuer."""
    sandbox = _sandbox()
    return jsonify({
        "issuer": sandbox.fhir_base, "jwks_uri": f"{sandbox.base_url}/auth/jwks",
        "authorization_endpoint": f"{sandbox.base_url}/auth/authorize", "token_endpoint": sandbox.token_endpoint,
        "response_types_supported": ["code"], "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
    })


@bp.get("/auth/jwks")
def jwks() -> ResponseReturnValue:
    """The public key that signs id_tokens."""
    key = _sandbox().signing_key
    public = dict(key.as_dict(private=False))
    public.update(kid=key.kid or key.thumbprint(), alg="RS256", use="sig")
    return jsonify({"keys": [public]})


@bp.post("/auth/token")
def token() -> ResponseReturnValue:
    """The token endpoint (authorization code, refresh token, and client credentials for backend services)."""
    sandbox = _sandbox()
    sandbox.registry.token_requests += 1
    return sandbox.server.create_token_response()


@bp.route("/auth/authorize", methods=["GET", "POST"])
def authorize() -> ResponseReturnValue:
    """Validate the request, show the consent page, and answer with a code or an error."""
    sandbox = _sandbox()
    launch_param = request.args.get("launch")
    context = sandbox.registry.launch(launch_param) if launch_param else None
    if launch_param and context is None:
        return _error("Unknown or expired launch", "The 'launch' parameter does not match a launch of this EHR."), 400
    try:
        grant = sandbox.server.get_consent_grant(end_user=context)
    except OAuth2Error as error:
        if error.redirect_uri:
            return sandbox.server.handle_error_response(None, error)
        return _error("Invalid authorization request", error.description or error.error), 400
    problem = _smart_problem(grant, context, sandbox.fhir_base)
    if problem:
        return _error("Invalid SMART authorization request", problem), 400
    if request.method == "GET":
        return _consent_page(grant, context)
    if not hmac.compare_digest(request.form.get("consent_token", ""), _consent_token(sandbox.secret)):
        return _error("Consent form expired", "Reload the authorization page and answer again."), 400
    simulate = request.form.get("simulate") or (context.simulate if context else "")
    if simulate not in SIMULATIONS:
        simulate = ""
    if context is None:
        patient, practitioner = request.form.get("patient", ""), request.form.get("practitioner", "")
        if not patient:
            return _error("No patient chosen", "A standalone launch needs a patient."), 400
        context = LaunchContext(patient=patient, fhir_user=f"Practitioner/{practitioner}" if practitioner else None)
    context.simulate = simulate
    allowed = request.form.get("decision") == "allow" and simulate != "deny_consent"
    return sandbox.server.create_authorization_response(grant_user=context if allowed else None, grant=grant)


def _smart_problem(grant: Any, context: LaunchContext | None, fhir_base: str) -> str | None:
    payload = grant.request.payload
    scopes = (payload.scope or "").split()
    if payload.data.get("aud", "").rstrip("/") != fhir_base:
        return f"'aud' must be this EHR's FHIR base URL ({fhir_base})."
    if context is not None and "launch" not in scopes:
        return "An EHR launch must ask for the 'launch' scope."
    if context is None and "launch/patient" not in scopes:
        return "A standalone launch must ask for 'launch/patient' (this EHR gives no other context)."
    return None


def _consent_token(secret: bytes) -> str:
    return hmac.new(secret, request.query_string, hashlib.sha256).hexdigest()


def _consent_page(grant: Any, context: LaunchContext | None) -> ResponseReturnValue:
    sandbox = _sandbox()
    patients, practitioners, problem = [], [], None
    patient_name = None
    try:
        if context is None:
            patients = fhir_upstream.patients(sandbox)
            practitioners = fhir_upstream.practitioners(sandbox)
        elif context.patient:
            patient_name = fhir_upstream.patient_label(sandbox, context.patient)
    except fhir_upstream.UpstreamError as exc:
        problem = str(exc)
    return render_template(
        "consent.html", client=grant.client, scopes=(grant.request.payload.scope or "").split(), context=context,
        patient_name=patient_name, patients=patients, practitioners=practitioners, problem=problem,
        simulations=SIMULATIONS, consent_token=_consent_token(sandbox.secret),
        action=request.full_path,
    )


def _error(title: str, message: str) -> str:
    return render_template("error.html", title=title, message=message)
