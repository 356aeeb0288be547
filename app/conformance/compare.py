"""One case: does the plan do what the case's populations say, for the measure's action?

The measure's action is the set of plan rules its ``measures.json`` entry names. ``docs/conformance.md`` says
what agreement means for each category; in short:

- care gap: an activity of one of those rules is due by the case's date (a clinician's choice counts);
- met: none is due by that date (a repeat scheduled later is the routine, not a new action);
- exclusion / exception: none is proposed, unless as a clinician's choice whose rationale reads evidence of the
  kind the measure excludes for (``exclusionEvidence.factKeys``); a not-recommended entry with its reason honours it;
- outside the initial population (or the denominator): not assessed, the measure makes no claim; what the plan
  did is still recorded.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from app.conformance.deck import EXCEPTED, EXCLUDED, GAP, MET, OUTSIDE, Case
from app.conformance.review import MeasureMap

#: Disagreement codes (a classification names one of them as its ``finding``).
GAP_NOT_PROPOSED = "care-gap-not-proposed"
MET_NEW_ACTION = "met-new-action"
EXCLUSION_NOT_HONOURED = "exclusion-not-honoured"
EXCEPTION_NOT_HONOURED = "exception-not-honoured"
NO_PLAN = "no-plan"
FINDINGS = (GAP_NOT_PROPOSED, MET_NEW_ACTION, EXCLUSION_NOT_HONOURED, EXCEPTION_NOT_HONOURED, NO_PLAN)


@dataclass
class CaseResult:
    """What the plan did for one case, whether it agrees with the measure, and why not."""

    measure: str
    case: str
    category: str
    as_of: str | None
    agrees: bool | None
    outcome: str
    finding: str | None = None
    plan_items: list[dict[str, Any]] = field(default_factory=list)
    note: str = ""
    title: str = ""
    description: str = ""
    data_issues: list[str] = field(default_factory=list)
    data_quality: list[str] = field(default_factory=list)

    @property
    def key(self) -> tuple[str, str, str]:
        """(measure, case, finding): what a classification matches."""
        return (self.measure, self.case, self.finding or "")

    def to_dict(self) -> dict[str, Any]:
        """JSON of the case in ``conformance.json``."""
        return {"measure": self.measure, "case": self.case, "category": self.category, "asOf": self.as_of,
                "agrees": self.agrees, "outcome": self.outcome, "finding": self.finding,
                "planItems": self.plan_items, "note": self.note, "title": self.title,
                "description": self.description, "dataIssues": self.data_issues, "dataQuality": self.data_quality}


def plan_items(plan: dict[str, Any], measure: MeasureMap) -> list[dict[str, Any]]:
    """The plan's activities and not-recommended entries of the measure's action rules."""
    items = []
    for activity in plan.get("activities", []):
        if activity.get("id") in measure.actions:
            rationale = activity.get("rationale") or {}
            items.append({"rule": activity["id"], "item": "activity", "title": activity.get("title", ""),
                          "clinicianChoice": bool(activity.get("clinician_choice")),
                          "due": (activity.get("timing") or {}).get("due"), "text": rationale.get("text", ""),
                          "facts": sorted({fact.get("key", "") for fact in rationale.get("facts_used", [])})})
    for entry in plan.get("not_recommended", []):
        if entry.get("rule_id") in measure.actions:
            items.append({"rule": entry["rule_id"], "item": "not-recommended", "title": entry.get("title", ""),
                          "text": entry.get("reason", "")})
    return items


def compare(case: Case, plan: dict[str, Any], measure: MeasureMap, evidence_keys: frozenset[str]) -> CaseResult:
    """The case's result: agreement, or the finding that names the disagreement."""
    items = plan_items(plan, measure)
    result = CaseResult(measure=case.measure, case=case.name, category=case.category,
                        as_of=case.as_of.isoformat() if case.as_of else None, agrees=True, outcome="",
                        plan_items=items, title=case.title, description=case.description,
                        data_issues=list(case.data_issues),
                        data_quality=[_quality(entry) for entry in plan.get("data_quality", [])])
    proposed = [item for item in items if item["item"] == "activity"]
    due_now = [item for item in proposed if _due_by(item, case.as_of)]
    if case.category == OUTSIDE:
        result.agrees, result.outcome = None, "not-assessed"
        result.note = ("outside the measure's population; the plan proposes the measure's action" if proposed
                       else "outside the measure's population; the plan does not propose the measure's action")
    elif case.category == GAP:
        _care_gap(result, due_now)
    elif case.category == MET:
        _met(result, due_now)
    elif case.category in (EXCLUDED, EXCEPTED):
        _left_out(result, proposed, items, evidence_keys)
    return result


def no_plan(case: Case, why: str) -> CaseResult:
    """A case carepath could not plan (unreadable file, no Patient): a disagreement to classify, never a crash."""
    return CaseResult(measure=case.measure, case=case.name, category=case.category,
                      as_of=case.as_of.isoformat() if case.as_of else None,
                      agrees=None if case.category == OUTSIDE else False, outcome=NO_PLAN,
                      finding=None if case.category == OUTSIDE else NO_PLAN, note=why, title=case.title,
                      description=case.description, data_issues=list(case.data_issues))


def _care_gap(result: CaseResult, due_now: list[dict[str, Any]]) -> None:
    if not due_now:
        result.agrees, result.outcome, result.finding = False, GAP_NOT_PROPOSED, GAP_NOT_PROPOSED
        result.note = "care gap: the measure's action is not proposed"
    elif all(item["clinicianChoice"] for item in due_now):
        result.outcome, result.note = "offered-as-choice", "care gap: the action is offered as the clinician's choice"
    else:
        result.outcome, result.note = "proposed", "care gap: the measure's action is proposed"


def _met(result: CaseResult, due_now: list[dict[str, Any]]) -> None:
    if due_now:
        result.agrees, result.outcome, result.finding = False, MET_NEW_ACTION, MET_NEW_ACTION
        result.note = "met: the plan proposes the measure's action again"
    else:
        result.outcome, result.note = "no-new-action", "met: no new action of the measure's kind"


def _left_out(result: CaseResult, proposed: list[dict[str, Any]], items: list[dict[str, Any]],
              evidence_keys: frozenset[str]) -> None:
    """An exclusion or exception is honoured when nothing is proposed but a choice reading exclusion evidence."""
    word = "exclusion" if result.category == EXCLUDED else "exception"
    unhonoured = [item for item in proposed if not (item["clinicianChoice"] and _reads_evidence(item, evidence_keys))]
    if unhonoured:
        result.agrees = False
        result.outcome = result.finding = (EXCLUSION_NOT_HONOURED if result.category == EXCLUDED
                                           else EXCEPTION_NOT_HONOURED)
        result.note = f"denominator {word}: the plan still proposes the measure's action"
    elif proposed:
        result.outcome = "clinician-choice-with-reason"
        result.note = f"denominator {word}: offered as the clinician's choice, for the reason it reads"
    elif any(item["item"] == "not-recommended" for item in items):
        result.outcome, result.note = "not-recommended", f"denominator {word}: considered, not recommended"
    else:
        result.outcome, result.note = "not-proposed", f"denominator {word}: the action is not proposed"


def _reads_evidence(item: dict[str, Any], evidence_keys: frozenset[str]) -> bool:
    """True when the item's rationale read a fact of the kind a measure excludes for (hospice, dialysis...)."""
    return any(key in evidence_keys or key.rsplit(".", 1)[-1] in evidence_keys for key in item.get("facts", []))


def _due_by(item: dict[str, Any], as_of: date | None) -> bool:
    """Due on or before the case's date (an undated activity is due now)."""
    due = item.get("due")
    if not due or as_of is None:
        return True
    try:
        return date.fromisoformat(str(due)[:10]) <= as_of
    except ValueError:
        return True


def _quality(entry: dict[str, Any]) -> str:
    ref = entry.get("ref") or {}
    return f"{ref.get('type')}/{ref.get('id')}: {entry.get('problem')}"
