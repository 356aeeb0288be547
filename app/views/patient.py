"""The landing page of a launch: names the patient (read over FHIR) and what carepath may do.

Kept in its own small view and template (``templates/patient.html``): the care-plan review page grows
from here.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, g, render_template
from flask.typing import ResponseReturnValue

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
    """The patient's display name: the official (else first) HumanName, as text or given + family."""
    names = [name for name in resource.get("name") or [] if isinstance(name, dict)]
    if not names:
        return "(no name recorded)"
    chosen = next((name for name in names if name.get("use") == "official"), names[0])
    if chosen.get("text"):
        return str(chosen["text"])
    parts = [*(chosen.get("given") or []), chosen.get("family") or ""]
    return " ".join(str(part) for part in parts if part) or "(no name recorded)"
