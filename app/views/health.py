"""``/health``: is carepath up, and can it reach its FHIR server?"""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify

from app.errors import FhirError
from app.fhir import FhirClient

bp = Blueprint("health", __name__)


@bp.get("/health")
def health():
    """Report the app as up and whether the default FHIR server answers ``/metadata``."""
    base_url = current_app.config["FHIR_BASE_URL"]
    client = FhirClient.from_config(
        current_app.config, timeout=min(5.0, float(current_app.config["FHIR_TIMEOUT"])), retries=0
    )
    fhir: dict[str, object] = {"base_url": base_url}
    try:
        statement = client.capabilities()
    except FhirError as exc:
        fhir.update(reachable=False, error=exc.message)
    else:
        fhir.update(reachable=True, fhirVersion=statement.get("fhirVersion"),
                    software=(statement.get("software") or {}).get("name"))
    body = {"status": "ok" if fhir["reachable"] else "degraded", "fhir": fhir}
    return jsonify(body), 200
