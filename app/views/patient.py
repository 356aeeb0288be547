"""The landing page of a launch: names the patient (read over FHIR) and what carepath may do.

Kept in its own small view and template (``templates/patient.html``): the care-plan review page grows
from here.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, g, render_template
from flask.typing import ResponseReturnValue

from app.security import plain_text
from app.smart import launch_required

bp = Blueprint("patient", __name__)


@bp.get("/p/<launch_id>/")
@launch_required
def patient(launch_id: str) -> ResponseReturnValue:
    """Show who the patient is, who the user is, and whether carepath runs read-only."""
    resource = g.launch.fhir.read("Patient", g.launch.patient_id)
    return render_template("patient.html", launch=g.launch, patient=resource,
                           patient_name=patient_name(resource))


def patient_name(resource: dict[str, Any]) -> str:
    """The patient's display name: the official (else first) HumanName, as text or given + family, without the
    bidirectional and control characters that could reverse or hide the banner (:func:`plain_text`)."""
    listed = resource.get("name")
    names = [name for name in listed if isinstance(name, dict)] if isinstance(listed, list) else []
    chosen = next((name for name in names if name.get("use") == "official"), names[0] if names else {})
    text = chosen.get("text")
    if not isinstance(text, str) or not plain_text(text):
        given = chosen.get("given")
        parts = [*(given if isinstance(given, list) else []), chosen.get("family")]
        text = " ".join(part for part in parts if isinstance(part, str))
    return plain_text(text) or "(no name recorded)"
