"""The care-plan engine: guideline packs + a patient's facts + an evaluation date -> a cited Plan.

Pure: no Flask, no HTTP, no clock. Facts follow ``docs/facts.md``; packs are FHIR PlanDefinitions,
ActivityDefinitions and a Library (``docs/packs.md``).
"""

from app.engine.evaluate import add_duration, build_plan
from app.engine.model import Activity, Citation, FactUsed, Goal, Plan, Rationale
from app.engine.packs import (
    DEFAULT_PACK_DIR,
    PackSet,
    load_configured_pack_set,
    load_pack_set,
    load_pack_set_from_server,
)

__all__ = [
    "DEFAULT_PACK_DIR",
    "Activity",
    "Citation",
    "FactUsed",
    "Goal",
    "PackSet",
    "Plan",
    "Rationale",
    "add_duration",
    "build_plan",
    "load_configured_pack_set",
    "load_pack_set",
    "load_pack_set_from_server",
]
