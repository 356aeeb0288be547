"""What the review page shows, without Flask: the plan built for a patient, grouped by area, and form edits."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from app import timing
from app.careplan.model import CAREPLAN_ID_SYSTEM, Edits, PlanEditError, goal_bounds
from app.engine.schedule import THIS_VISIT
from app.fhir import FhirClient

NOTE_LIMIT = 2000


@dataclass
class Area:
    """One guideline area of the plan (diabetes, hypertension...) with its goals, activities and more."""

    id: str
    title: str
    goals: list[dict[str, Any]] = field(default_factory=list)
    activities: list[dict[str, Any]] = field(default_factory=list)
    not_recommended: list[dict[str, Any]] = field(default_factory=list)
    summary: str = ""


def plan_for_patient(client: FhirClient, patient_id: str, pack_set: Any, as_of: date) -> tuple[dict, dict]:
    """Fetch the patient's facts (as the packs require) and build the plan; returns (plan, facts)."""
    from app.context import assemble

    with timing.step("facts"):
        facts = assemble(client, patient_id, pack_set.requirements, as_of)
    with timing.step("engine"):
        return plan_from_facts(facts, pack_set, as_of, patient_id), facts


def plan_from_facts(facts: dict[str, Any], pack_set: Any, as_of: date, patient_id: str) -> dict[str, Any]:
    """The plan (``Plan.to_dict()``) the engine builds from facts: the sidebar's and CDS Hooks' one step."""
    from app.engine import build_plan

    plan = build_plan(facts, pack_set, as_of).to_dict()
    plan["patient_id"] = plan.get("patient_id") or patient_id
    return plan


def areas(plan: Mapping[str, Any]) -> list[Area]:
    """The plan's items grouped by guideline area, in the order the packs list them.

    Items are grouped by ``area_id`` (else by their ``area`` title); each goal also gets ``bounds``, the
    (low, high, unit) its target may be set to, for the form.
    """
    grouped: dict[str, Area] = {}

    def area_of(item: Mapping[str, Any], default_title: str) -> Area:
        title = item.get("area") or default_title
        key = item.get("area_id") or _slug(title)
        return grouped.setdefault(key, Area(key, title))

    for summary in plan.get("area_summaries", []):
        area_of(summary, summary.get("area_id") or "Other").summary = summary.get("text", "")
    prefixes: dict[str, Mapping[str, Any]] = {}
    for kind in ("goals", "activities"):
        for item in plan.get(kind, []):
            area = area_of(item, "Other")
            rule_id = (item.get("rationale") or {}).get("rule_id") or item.get("id", "")
            prefixes.setdefault(rule_id.split(".")[0], {"area_id": area.id, "area": area.title})
            if kind == "goals":
                bounds = goal_bounds(item)
                item = {**item, "bounds": dict(zip(("low", "high", "unit"), bounds, strict=True)) if bounds else None}
            getattr(area, kind).append(item)
    for item in plan.get("not_recommended", []):
        owner = item if item.get("area") or item.get("area_id") else prefixes.get(
            str(item.get("rule_id", "")).split(".")[0], {"area": "Other considerations"})
        area_of(owner, "Other considerations").not_recommended.append(item)
    return [area for area in grouped.values() if area.goals or area.activities or area.not_recommended]


def edits_from_form(plan: Mapping[str, Any], form: Mapping[str, Any], author: str | None) -> Edits:
    """Edits from the review form: unticked activities, changed targets (within bounds), a note, moves between
    this visit and later."""
    kept = set(form.getlist("keep")) if hasattr(form, "getlist") else set(form.get("keep", []))
    deselected = frozenset(a["id"] for a in plan.get("activities", []) if a["id"] not in kept)
    targets: dict[str, float] = {}
    for goal in plan.get("goals", []):
        raw = str(form.get(f"target-{goal['id']}", "")).strip()
        if not raw or goal_bounds(goal) is None:
            continue
        try:
            value = float(raw)
        except ValueError as exc:
            raise PlanEditError(f"the target for '{goal['description']}' must be a number, not {raw!r}") from exc
        original = (goal.get("targets") or [goal.get("target") or {}])[0].get("value")
        if original is None or abs(value - float(original)) > 1e-9:
            targets[goal["id"]] = value
    note = str(form.get("note", "")).strip()
    if len(note) > NOTE_LIMIT:
        raise PlanEditError(f"the note is limited to {NOTE_LIMIT} characters")
    return Edits(deselected=deselected, goal_targets=targets, note=note, author=author, moves=_moves(plan, form))


def _moves(plan: Mapping[str, Any], form: Mapping[str, Any]) -> dict[str, str]:
    """The clinician's changes to the schedule: ``when-<id>`` (this-visit | later) and ``date-<id>`` (a later
    date); an activity the form says nothing about keeps its proposed place."""
    schedule = plan.get("schedule") or {}
    as_of = str(plan.get("as_of") or "")
    this_visit = set(schedule.get("thisVisit") or [])
    later = {item["id"]: item["date"] for item in schedule.get("later") or []}
    moves: dict[str, str] = {}
    for activity in plan.get("activities", []) if schedule else []:
        activity_id, title = activity["id"], activity.get("title") or activity["description"]
        when, raw = (str(form.get(f"{name}-{activity['id']}", "")).strip() for name in ("when", "date"))
        if when == THIS_VISIT:
            if activity_id not in this_visit:
                moves[activity_id] = THIS_VISIT
            continue
        if when != "later" or (not raw and activity_id in later):
            continue
        if not raw:
            raise PlanEditError(f"choose a date for '{title}' to move it to later")
        try:
            day = date.fromisoformat(raw).isoformat()
        except ValueError as exc:
            raise PlanEditError(f"the date for '{title}' must be a date (YYYY-MM-DD), not {raw!r}") from exc
        if day < as_of:
            raise PlanEditError(f"the date for '{title}' is before the plan date")
        if later.get(activity_id) != day:
            moves[activity_id] = day
    return moves


def proposed_rules(plan: Mapping[str, Any]) -> list[str]:
    """The rule ids of the plan's activities and goals (what the governance monitor counts as proposed)."""
    return sorted({str(item.get("id")) for kind in ("activities", "goals") for item in plan.get(kind, [])
                   if item.get("id")})


def identifier_of(careplan: Mapping[str, Any]) -> str | None:
    """carepath's identifier value on a CarePlan."""
    identifiers = careplan.get("identifier")
    return next((i.get("value") for i in identifiers if isinstance(i, Mapping) and i.get("system") == CAREPLAN_ID_SYSTEM
                 and isinstance(i.get("value"), str)), None) if isinstance(identifiers, list) else None


def source_path(ref: Mapping[str, Any]) -> str:
    """``Observation/o1`` from a plan reference, for the source viewer route."""
    return f"{ref['type']}/{ref['id']}"


def _slug(title: str) -> str:
    return "-".join("".join(ch if ch.isalnum() else " " for ch in title.lower()).split()) or "other"
