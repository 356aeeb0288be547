"""The simulated EHR: picker, chart page with carepath in the sidebar, standalone entry, launch API.

``GET /``                   patient and practitioner pickers, launch options, error simulation
``POST /ehr``               create a launch context and open the chart (303 to ``/ehr/<launch>``)
``GET /ehr/<launch>``       the chart, with carepath in a sidebar iframe launched with ``iss`` + ``launch``
``GET /standalone``         how to launch carepath on its own against this EHR
``POST /api/launch``        JSON for tests and integrators: create a launch, get the app's launch URL
``POST /ehr/<launch>/cards/<uuid>/open``      a card's SMART link: a new EHR launch carrying its appContext
``POST /ehr/<launch>/cards/<uuid>/feedback``  a card accepted or dismissed (with a reason): sent to the service
``GET /cds/jwks``           the public key of the sandbox as a CDS Hooks client
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, abort, current_app, jsonify, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from sandbox import fhir_upstream
from sandbox.cds_client import PREFETCH_MODES, CdsCall
from sandbox.models import SIMULATIONS, LaunchContext

bp = Blueprint("ehr", __name__)


def _sandbox() -> Any:
    return current_app.extensions["sandbox"]


def _form_token() -> str:
    return hmac.new(_sandbox().secret, b"picker", hashlib.sha256).hexdigest()


@bp.get("/")
def picker() -> ResponseReturnValue:
    """Choose a patient, a practitioner (the signed-in user) and launch options."""
    sandbox = _sandbox()
    try:
        patients = fhir_upstream.patients(sandbox)
        practitioners = fhir_upstream.practitioners(sandbox)
        problem = None
    except fhir_upstream.UpstreamError as exc:
        patients, practitioners, problem = [], [], str(exc)
    return render_template("picker.html", patients=patients, practitioners=practitioners, problem=problem,
                           simulations=SIMULATIONS, form_token=_form_token(), sandbox=sandbox)


@bp.post("/ehr")
def open_chart() -> ResponseReturnValue:
    """Create the launch context chosen in the picker and open the chart."""
    if not hmac.compare_digest(request.form.get("form_token", ""), _form_token()):
        abort(400, "The picker form expired; reload it.")
    context = _new_launch(request.form)
    return redirect(url_for("ehr.chart", launch=context.id), code=303)


@bp.get("/ehr/<launch>")
def chart(launch: str) -> ResponseReturnValue:
    """The simulated chart, with carepath launched in the sidebar."""
    sandbox = _sandbox()
    context = sandbox.registry.launch(launch)
    if context is None or not context.patient:
        abort(404, "This launch is unknown or expired: pick a patient again.")
    try:
        chart_data = fhir_upstream.chart(sandbox, context.patient)
    except fhir_upstream.UpstreamError as exc:
        abort(502, str(exc))
    cds = None
    if request.args.get("cds") == "keep":  # back from a card's feedback: the cards still shown, no new call
        cds = CdsCall(cards=list(context.cds_cards.values()))
    elif sandbox.cds_enabled and context.cds_prefetch != "off":
        cds = sandbox.cds.patient_view(context, context.cds_prefetch)
    return render_template("ehr.html", chart=chart_data, context=context, launch_url=launch_url(context),
                           simulation=SIMULATIONS.get(context.simulate, ""), cds=cds, form_token=_form_token(),
                           override_reasons=_override_reasons(cds))


@bp.post("/ehr/<launch>/cards/<card_id>/open")
def open_card_link(launch: str, card_id: str) -> ResponseReturnValue:
    """Follow a card's SMART link: launch the app again (in the sidebar) with the link's appContext."""
    context, card = _card(launch, card_id)
    sandbox = _sandbox()
    link = next((item for item in card.get("links") or [] if item.get("type") == "smart"), None)
    if link is None or str(link.get("url", "")).rstrip("/") != f"{sandbox.app_url}/launch":
        abort(400, "This card has no SMART link to the app this EHR launches.")
    app_context = link.get("appContext")
    launched = sandbox.registry.add_launch(LaunchContext(
        patient=context.patient, fhir_user=context.fhir_user, encounter=context.encounter,
        need_patient_banner=context.need_patient_banner, smart_style_url=context.smart_style_url,
        app_context=app_context if isinstance(app_context, str) and len(app_context) <= 4096 else None,
        cds_prefetch="off"))
    return redirect(launch_url(launched), code=303)


@bp.post("/ehr/<launch>/cards/<card_id>/feedback")
def card_feedback(launch: str, card_id: str) -> ResponseReturnValue:
    """Send a card's outcome (accepted, or overridden with one of the card's own reasons) to its service."""
    context, card = _card(launch, card_id)
    outcome = request.form.get("outcome", "")
    if outcome not in ("accepted", "overridden"):
        abort(400, "outcome must be accepted or overridden")
    reason = None
    if outcome == "overridden":
        code = request.form.get("reason", "")
        reason = next((r for r in card.get("overrideReasons") or [] if r.get("code") == code), None)
    status = _sandbox().cds.send_feedback(context.cds_service or "", card_id, outcome, reason)
    if status != 200:
        abort(502, f"The CDS service refused the feedback ({status}).")
    context.cds_cards.pop(card_id, None)
    return redirect(url_for("ehr.chart", launch=launch, cds="keep"), code=303)


@bp.get("/cds/jwks")
def cds_jwks() -> ResponseReturnValue:
    """The sandbox's public key as a CDS Hooks client (the service verifies its JWTs with it)."""
    return jsonify(_sandbox().cds.jwks())


def _card(launch: str, card_id: str) -> tuple[LaunchContext, dict[str, Any]]:
    if not hmac.compare_digest(request.form.get("form_token", ""), _form_token()):
        abort(400, "The chart form expired; reload it.")
    context = _sandbox().registry.launch(launch)
    card = context.cds_cards.get(card_id) if context else None
    if context is None or card is None:
        abort(404, "This card is unknown: reload the chart.")
    return context, card


def _override_reasons(cds: Any) -> dict[str, list[dict[str, Any]]]:
    return {card["uuid"]: [r for r in card.get("overrideReasons") or [] if isinstance(r, dict)]
            for card in (cds.cards if cds else [])}


@bp.get("/standalone")
def standalone() -> ResponseReturnValue:
    """Explain the standalone launch and link to carepath's standalone page."""
    sandbox = _sandbox()
    return render_template("standalone.html", sandbox=sandbox, clients=list(sandbox.registry.clients.values()))


@bp.post("/api/launch")
def api_launch() -> ResponseReturnValue:
    """Create a launch context from JSON; returns ``launch``, ``launch_url`` (carepath) and ``ehr_url``."""
    data = request.get_json(silent=True)
    if not isinstance(data, dict) or not data.get("patient"):
        return jsonify({"error": "send JSON with at least 'patient'"}), 400
    if data.get("simulate", "") not in SIMULATIONS:
        return jsonify({"error": f"simulate must be one of {sorted(SIMULATIONS)}"}), 400
    if data.get("cds_prefetch", "full") not in PREFETCH_MODES:
        return jsonify({"error": f"cds_prefetch must be one of {', '.join(PREFETCH_MODES)}"}), 400
    context = _new_launch(data)
    return jsonify({"launch": context.id, "launch_url": launch_url(context),
                    "ehr_url": url_for("ehr.chart", launch=context.id, _external=True)})


def launch_url(context: LaunchContext) -> str:
    """carepath's EHR-launch URL for ``context``."""
    sandbox = _sandbox()
    return f"{sandbox.app_url}/launch?" + urlencode({"iss": sandbox.fhir_base, "launch": context.id})


def _new_launch(data: Any) -> LaunchContext:
    sandbox = _sandbox()
    patient = str(data.get("patient") or "")
    practitioner = str(data.get("practitioner") or "")
    simulate = str(data.get("simulate") or "")
    prefetch = str(data.get("cds_prefetch") or sandbox.cds_prefetch)
    banner = data.get("need_patient_banner", "true")
    encounter = data.get("encounter")
    if encounter is None:
        encounter = fhir_upstream.latest_encounter(sandbox, patient)
    return sandbox.registry.add_launch(LaunchContext(
        patient=patient, fhir_user=f"Practitioner/{practitioner}" if practitioner else data.get("fhir_user"),
        encounter=encounter or None, need_patient_banner=str(banner).lower() not in {"false", "0", "off", ""},
        smart_style_url=f"{sandbox.base_url}/static/smart-style.json", intent=data.get("intent") or None,
        simulate=simulate if simulate in SIMULATIONS else "",
        cds_prefetch=prefetch if prefetch in PREFETCH_MODES else sandbox.cds_prefetch,
    ))
