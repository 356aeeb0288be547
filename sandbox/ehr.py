"""The simulated EHR: picker, chart page with carepath in the sidebar, standalone entry, launch API.

``GET /``                   patient and practitioner pickers, launch options, error simulation
``POST /ehr``               create a launch context and open the chart (303 to ``/ehr/<launch>``)
``GET /ehr/<launch>``       the chart, with carepath in a sidebar iframe launched with ``iss`` + ``launch``
``GET /standalone``         how to launch carepath on its own against this EHR
``POST /api/launch``        JSON for tests and integrators: create a launch, get the app's launch URL
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, abort, current_app, jsonify, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from sandbox import fhir_upstream
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
    return render_template("ehr.html", chart=chart_data, context=context, launch_url=launch_url(context),
                           simulation=SIMULATIONS.get(context.simulate, ""))


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
    banner = data.get("need_patient_banner", "true")
    encounter = data.get("encounter")
    if encounter is None:
        encounter = fhir_upstream.latest_encounter(sandbox, patient)
    return sandbox.registry.add_launch(LaunchContext(
        patient=patient, fhir_user=f"Practitioner/{practitioner}" if practitioner else data.get("fhir_user"),
        encounter=encounter or None, need_patient_banner=str(banner).lower() not in {"false", "0", "off", ""},
        smart_style_url=f"{sandbox.base_url}/static/smart-style.json", intent=data.get("intent") or None,
        simulate=simulate if simulate in SIMULATIONS else "",
    ))
