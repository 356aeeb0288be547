"""The launch's address ``/p/<launch_id>/``: a launch lands on the plan, so this only sends the browser there."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, redirect, url_for
from flask.typing import ResponseReturnValue

from app.careplan.present import human_name
from app.smart import launch_required

bp = Blueprint("patient", __name__)


@bp.get("/p/<launch_id>/")
@launch_required
def patient(launch_id: str) -> ResponseReturnValue:
    """Open the plan (the patient banner, notices about access and the plan are all on that page)."""
    return redirect(url_for("review.review", launch_id=launch_id))


def patient_name(resource: dict[str, Any]) -> str:
    """The patient's display name (official, else first HumanName)."""
    return human_name(resource)
