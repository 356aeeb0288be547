"""Plan + clinician edits -> FHIR R4 CarePlan, Goals and Provenance; saving, resuming and approving drafts."""

from app.careplan.bundle import Replacement, draft_bundle, now_instant
from app.careplan.model import TAG, Edits, PlanEditError, plan_key

__all__ = ["TAG", "Edits", "PlanEditError", "Replacement", "draft_bundle", "now_instant", "plan_key"]
