"""CDS Hooks endpoints: discovery, the ``carepath-care-gaps`` service and its feedback.

``GET  /cds-services``                               discovery (public: no patient data)
``POST /cds-services/carepath-care-gaps``            cards for a ``patient-view`` hook
``POST /cds-services/carepath-care-gaps/feedback``   accepted / overridden cards, into the audit log

These are API endpoints for EHRs, authenticated by the CDS client's signed JWT (:mod:`app.cds.auth`), not
by cookies: CSRF does not apply (no browser session is read or written) and CORS allows any origin, as CDS
Hooks asks. Errors are JSON ``{"error", "message"}``: 400 malformed request, 401 JWT missing or refused (no
work done), 412 data missing that cannot be read (prefetch incomplete and no allowed ``fhirServer`` or
authorization), 502 the EHR's FHIR server failed. A data request the FHIR server refuses for one resource type
still gives cards, which say what carepath could not see.
"""

from __future__ import annotations

import logging
import time
from datetime import date
from typing import Any

from flask import Blueprint, Flask, Response, current_app, jsonify, request
from flask.typing import ResponseReturnValue

from app import pack_set
from app.audit import audit_log
from app.cds.auth import CdsUnauthorized, ClientVerifier, KeySets, clients_from_config
from app.cds.cards import cards_for_plan
from app.cds.feedback import record_feedback, remember_cards
from app.cds.service import SERVICE_ID, CdsRequestError, answer, discovery
from app.errors import ConfigError
from app.fhir.decoding import UnreadableJson, loads
from app.security import csrf_exempt
from app.store import get_store

log = logging.getLogger(__name__)
bp = Blueprint("cds", __name__)
_EXTENSION = "carepath_cds"
_CORS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
    "Access-Control-Allow-Headers": "Authorization, Content-Type",
    "Access-Control-Max-Age": "600",
}


@bp.record_once
def _init(state) -> None:  # type: ignore[no-untyped-def]
    init_app(state.app)


def init_app(app: Flask) -> None:
    """Check the ``CDS_*`` settings (a wrong one stops the app here) and build the JWT verifier."""
    clients = clients_from_config(app.config.get("CDS_CLIENTS"))
    if not _require_jwt(app.config) and app.config.get("ENV") == "production":
        raise ConfigError("CDS_REQUIRE_JWT=false is for development only and is refused when ENV is production")
    key_sets = KeySets(ttl=float(app.config.get("CDS_JWKS_TTL", 300)),
                       timeout=float(app.config.get("SMART_HTTP_TIMEOUT", 10)))
    app.extensions[_EXTENSION] = {"clients": clients, "key_sets": key_sets, "discovery": {}}


@bp.after_request
def _cors(response: Response) -> Response:
    response.headers.update(_CORS)
    return response


@bp.get("/cds-services")
def services() -> ResponseReturnValue:
    """The discovery document: one service, its hook and its prefetch templates."""
    as_of = _as_of()
    cache = current_app.extensions[_EXTENSION]["discovery"]
    if as_of not in cache:
        cache.clear()
        cache[as_of] = discovery(_pack_set(), as_of, int(current_app.config.get("FHIR_PAGE_COUNT", 200)))
    return jsonify(cache[as_of])


@bp.post(f"/cds-services/{SERVICE_ID}")
@csrf_exempt
def service() -> ResponseReturnValue:
    """Cards for a ``patient-view`` call: care gaps by area and safety warnings, from the guideline packs."""
    started = time.perf_counter()
    try:
        claims = _authenticate(_service_url())
        result = answer(_json_body(), _pack_set(), _as_of(), current_app.config)
    except (CdsUnauthorized, CdsRequestError) as exc:
        return _error(exc)
    cards, metas = cards_for_plan(result.plan, launch_url=f"{_base_url()}/launch")
    remember_cards(get_store(), metas, patient_id=result.patient_id, user=result.user,
                   client=str(claims.get("iss") or ""), ttl=float(current_app.config.get("CDS_CARD_TTL", 604800)))
    log.info("cds answer", extra={"cards": len(cards), "prefetched": len(result.prefetched),
                                  "fetched": len(result.fetched), "requests": result.requests,
                                  "ms": round((time.perf_counter() - started) * 1000, 1)})
    return jsonify({"cards": cards})


@bp.post(f"/cds-services/{SERVICE_ID}/feedback")
@csrf_exempt
def feedback() -> ResponseReturnValue:
    """Record each card's outcome (accepted, or overridden with its reason) in the audit log."""
    try:
        _authenticate(_service_url(), f"{_service_url()}/feedback")
        recorded, unknown = record_feedback(_json_body(), get_store(), audit_log())
    except (CdsUnauthorized, CdsRequestError) as exc:
        return _error(exc)
    return jsonify({"recorded": recorded, "unknown": unknown})


def _json_body() -> Any:
    """The request's JSON, read by carepath's own decoder (depth-bounded, like every JSON that comes in);
    :class:`CdsRequestError` (400) saying why it cannot be read."""
    try:
        return loads(request.get_data(cache=False))
    except UnreadableJson as exc:
        raise CdsRequestError(f"The request body is not JSON carepath can read: {exc}.") from exc


def _authenticate(*audiences: str) -> dict[str, Any]:
    """The verified JWT claims ({} when CDS_REQUIRE_JWT is off); :class:`CdsUnauthorized` otherwise."""
    if not _require_jwt(current_app.config):
        return {}
    state = current_app.extensions[_EXTENSION]
    verifier = ClientVerifier(state["clients"], get_store(), state["key_sets"])
    header = request.headers.get("Authorization")
    for audience in audiences[:-1]:
        try:
            return verifier.verify(header, audience)
        except CdsUnauthorized as exc:
            if "audience" not in exc.message:
                raise
    return verifier.verify(header, audiences[-1])


def _error(exc: CdsUnauthorized | CdsRequestError) -> ResponseReturnValue:
    status = 401 if isinstance(exc, CdsUnauthorized) else exc.status
    log.warning("cds request refused", extra={"status": status, "error_type": type(exc).__name__,
                                              "reason": exc.message})
    response = jsonify({"error": exc.title, "message": exc.message})
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="carepath CDS Hooks"'
    return response, status


def _require_jwt(config: Any) -> bool:
    value = config.get("CDS_REQUIRE_JWT", True)
    return str(value).lower() not in ("false", "0", "no", "off") if isinstance(value, str) else bool(value)


def _base_url() -> str:
    return str(current_app.config.get("CDS_BASE_URL") or request.host_url).rstrip("/")


def _service_url() -> str:
    return f"{_base_url()}/cds-services/{SERVICE_ID}"


def _as_of() -> date:
    configured = current_app.config.get("REVIEW_AS_OF")
    return date.fromisoformat(configured) if configured else date.today()


def _pack_set() -> Any:
    """The app's guideline packs (loaded once per app, shared with the review page)."""
    return pack_set(current_app)
