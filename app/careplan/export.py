"""The dry run for integrators: the transaction Bundle saving a plan would send, as JSON text."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from app.careplan.bundle import draft_bundle
from app.careplan.model import PlanEditError


def fhir_json(plan: Mapping[str, Any], *, now: str | None = None,
              organization: Mapping[str, Any] | None = None) -> str:
    """The draft Bundle (Goals, CarePlan, Provenance) for ``plan`` as indented JSON; offline, no edits.

    ``organization`` is written as ``Provenance.agent.onBehalfOf`` (the command line passes the
    ``CAREPATH_ORGANIZATION_REFERENCE`` setting); without it the Provenance has no ``onBehalfOf``.
    """
    if not plan.get("patient_id"):
        raise PlanEditError("the Bundle holds no Patient with an id: a draft CarePlan needs its subject")
    return json.dumps(draft_bundle(plan, now=now, organization=organization), indent=2, ensure_ascii=False) + "\n"
