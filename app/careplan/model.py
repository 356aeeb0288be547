"""Names, identifiers and clinician edits shared by the draft builder, the writer and the approval."""

from __future__ import annotations

import copy
import hashlib
import json
import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from app.engine.schedule import reschedule
from app.errors import CarepathError

#: Our namespace for identifiers, tags and extensions.
BASE = "http://carepath.dev/fhir"
CAREPLAN_ID_SYSTEM = f"{BASE}/careplan-id"
GOAL_ID_SYSTEM = f"{BASE}/goal-id"
DEVICE_ID_SYSTEM = f"{BASE}/device"
PROVENANCE_KEY_SYSTEM = f"{BASE}/provenance-key"
#: The tag that tells carepath's resources apart from the CarePlans and Goals already in the record.
TAG = {"system": f"{BASE}/CodeSystem/origin", "code": "carepath", "display": "Drafted by carepath"}
RATIONALE_URL = f"{BASE}/StructureDefinition/rationale"
CLINICIAN_EDIT_URL = f"{BASE}/StructureDefinition/clinician-edit"
US_CORE_CAREPLAN_CATEGORY = "http://hl7.org/fhir/us/core/CodeSystem/careplan-category"
UCUM = "http://unitsofmeasure.org"
_URN_NAMESPACE = uuid.UUID("8b1d0c55-5a53-4d2f-9a55-1f0b6a1f2c0e")


class PlanEditError(CarepathError):
    """A clinician edit is outside what the plan allows (unknown item, target out of bounds)."""

    title = "This change cannot be saved"


@dataclass(frozen=True)
class Edits:
    """What the clinician changed before saving: all of it is recorded as the clinician's."""

    #: Activity ids the clinician deselected.
    deselected: frozenset[str] = frozenset()
    #: Goal id -> new target value, in the goal's unit and within its ``editable_range``.
    goal_targets: Mapping[str, float] = field(default_factory=dict)
    #: A free-text note for the plan.
    note: str = ""
    #: The clinician's ``fhirUser`` reference (``Practitioner/123``), when known.
    author: str | None = None
    #: Activity id -> ``this-visit`` or the ISO date it moves to (later): the clinician's changes to the schedule.
    moves: Mapping[str, str] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        """True when the clinician changed nothing."""
        return not (self.deselected or self.goal_targets or self.note.strip() or self.moves)


def validate_edits(plan: Mapping[str, Any], edits: Edits) -> None:
    """Raise :class:`PlanEditError` when an edit names an unknown item or leaves a goal's bounds."""
    activity_ids = {activity["id"] for activity in plan.get("activities", [])}
    unknown = sorted(edits.deselected - activity_ids)
    if unknown:
        raise PlanEditError(f"unknown activity: {', '.join(unknown)}")
    goals = {goal["id"]: goal for goal in plan.get("goals", [])}
    for goal_id, value in edits.goal_targets.items():
        goal = goals.get(goal_id)
        if goal is None:
            raise PlanEditError(f"unknown goal: {goal_id}")
        bounds = goal_bounds(goal)
        if bounds is None:
            raise PlanEditError(f"the target of '{goal['description']}' is not editable")
        low, high, unit = bounds
        if not low <= value <= high:
            raise PlanEditError(
                f"target for '{goal['description']}' must lie between {low:g} and {high:g} {unit}".rstrip()
            )
    unknown = sorted(set(edits.moves) - activity_ids)
    if unknown:
        raise PlanEditError(f"unknown activity: {', '.join(unknown)}")
    try:
        planned_schedule(plan, edits)
    except ValueError as exc:
        raise PlanEditError(f"a later date must be a date on or after the plan date: {exc}") from exc
    if edits.author is None and not edits.empty:
        raise PlanEditError("edits need the clinician they come from (fhirUser)")


def planned_schedule(plan: Mapping[str, Any], edits: Edits) -> dict[str, Any]:
    """The plan's schedule (this visit, later) with the clinician's moves applied; {} for a plan without one."""
    schedule = plan.get("schedule") or {}
    return reschedule(schedule, edits.moves, str(plan["as_of"])) if schedule else {}


def goal_bounds(goal: Mapping[str, Any]) -> tuple[float, float, str] | None:
    """(low, high, unit) a clinician may set the goal's target to, or None when it is not editable.

    Accepts ``{low, high, unit}`` and the engine's ``{low: {value, unit}, high: {value, unit}}``.
    """
    bounds = goal.get("editable_range")
    if not bounds:
        return None
    low, high = bounds.get("low"), bounds.get("high")
    unit = bounds.get("unit") or ""
    if isinstance(low, Mapping):
        unit = unit or low.get("unit") or ""
        low = low.get("value")
    if isinstance(high, Mapping):
        unit = unit or high.get("unit") or ""
        high = high.get("value")
    if not isinstance(low, int | float) or not isinstance(high, int | float):
        return None
    return float(low), float(high), str(unit)


def ref_string(ref: Mapping[str, Any], *, versioned: bool = False) -> str:
    """``Type/id`` (or ``Type/id/_history/v``) from a plan reference ``{type, id, version}``."""
    base = f"{ref['type']}/{ref['id']}"
    if versioned and ref.get("version"):
        return f"{base}/_history/{ref['version']}"
    return base


def input_refs(plan: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every source reference the plan's rationale names, unique and sorted."""
    found: dict[str, dict[str, Any]] = {}
    for item in [*plan.get("goals", []), *plan.get("activities", [])]:
        rationale = item.get("rationale") or {}
        refs: list[Mapping[str, Any]] = list(rationale.get("refs", []))
        for fact in rationale.get("facts_used", []):
            refs.extend(fact.get("refs", []))
        for address in item.get("addresses", []):
            refs.extend(address.get("refs", []))
        for ref in refs:
            found.setdefault(ref_string(ref, versioned=True), dict(ref))
    return [found[key] for key in sorted(found)]


def plan_key(plan: Mapping[str, Any]) -> str:
    """The deterministic identifier value: a hash of patient, pack versions and input resource versions."""
    material = {
        "patient": plan["patient_id"],
        "packs": sorted(f"{pack['url']}|{pack['version']}" for pack in plan.get("packs", [])),
        "inputs": [ref_string(ref, versioned=True) for ref in input_refs(plan)],
    }
    return _digest(material)


def goal_key(plan_identifier: str, goal_id: str) -> str:
    """The deterministic identifier value of one Goal of a plan."""
    return _digest({"plan": plan_identifier, "goal": goal_id})


def urn(*parts: str) -> str:
    """A deterministic ``urn:uuid`` for a bundle entry, so the same input gives the same bundle."""
    return f"urn:uuid:{uuid.uuid5(_URN_NAMESPACE, '|'.join(parts))}"


def token(system: str, value: str) -> str:
    """A FHIR token search value ``system|value``."""
    return f"{system}|{value}"


def pack_canonicals(plan: Mapping[str, Any], *, definitions_only: bool = False) -> list[str]:
    """``url|version`` of each pack the plan used, sorted; ``definitions_only`` leaves out Libraries."""
    return sorted({f"{pack['url']}|{pack['version']}" for pack in plan.get("packs", [])
                   if not (definitions_only and "/Library/" in pack["url"])})


def unique(values: Iterable[str]) -> list[str]:
    """The values in first-seen order, without repeats."""
    return list(dict.fromkeys(values))


def _digest(material: Mapping[str, Any]) -> str:
    encoded = json.dumps(material, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(encoded).hexdigest()[:40]


def edited_description(description: str, original: Any, value: float, unit: str | None) -> str:
    """A goal's description with its target changed by a clinician: the original value replaced where the text
    states it ("HbA1c below 7 %" -> "HbA1c below 8 %"), else the new target added, so that the description never
    contradicts the target."""
    if isinstance(original, int | float):
        pattern = re.compile(rf"(?<![\d.]){re.escape(f'{original:g}')}(?:\.0+)?(?![\d.])")
        if pattern.search(description):
            return pattern.sub(f"{value:g}", description, count=1)
    return f"{description} (target changed to {value:g}{f' {unit}' if unit else ''})"


def with_saved_targets(plan: Mapping[str, Any], targets: Mapping[str, float]) -> dict[str, Any]:
    """The plan as a clinician saved it: goal id -> target value replaced in the goal's target and description
    (what the review page shows after a relaunch)."""
    shown = copy.deepcopy(dict(plan))
    for goal in shown.get("goals", []):
        value = targets.get(goal["id"])
        if value is None:
            continue
        listed = goal.get("targets") or ([goal["target"]] if goal.get("target") else [])
        if len(listed) != 1 or listed[0].get("value") == value:
            continue
        original = listed[0].get("value")
        listed[0]["value"] = value
        if goal.get("target"):
            goal["target"] = listed[0]
        goal["description"] = edited_description(goal["description"], original, value, listed[0].get("unit"))
    return shown


def saved_targets(plan: Mapping[str, Any], identifier: str, goals: Iterable[Mapping[str, Any]]) -> dict[str, float]:
    """goal id -> the target value of the saved Goal of this plan (matched by its deterministic identifier)."""
    by_key = {}
    for resource in goals:
        for ident in resource.get("identifier") or []:
            if ident.get("system") == GOAL_ID_SYSTEM:
                by_key[ident.get("value")] = resource
    found = {}
    for goal in plan.get("goals", []):
        resource = by_key.get(goal_key(identifier, goal["id"]))
        quantities = [t.get("detailQuantity") for t in (resource or {}).get("target") or []]
        if len(quantities) == 1 and isinstance((quantities[0] or {}).get("value"), int | float):
            found[goal["id"]] = float(quantities[0]["value"])
    return found
