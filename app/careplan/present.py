"""How the plan reads to a clinician, without Flask: dates, units, names, record references, the ordered actions.

Everything here formats what the plan and the record already hold; nothing clinical is decided here. Ids stay in
the FHIR and in the source view; the pages show names, dates and values.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from app.engine.schedule import reschedule
from app.formats import human_date, human_datetime, human_unit, human_value, medicine_name

__all__ = ["Action", "actions", "age_on", "clean_text", "fact_line", "human_date", "human_datetime", "human_name",
           "human_unit", "human_value", "key_conditions", "open_gaps", "record_kind"]

#: Bidirectional controls (LRE, RLE, PDF, LRO, RLO, LRI, RLI, FSI, PDI, LRM, RLM, ALM) and the other control
#: characters: in a name from the record they could reverse or hide the text around them on a page.
_UNSHOWN = re.compile("[\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c\x00-\x08\x0b-\x1f\x7f]")
#: What a clinician calls each kind of record carepath cites.
_RECORD_KINDS = {
    "Observation": "result", "Condition": "problem list", "MedicationRequest": "prescription",
    "MedicationStatement": "medication list", "Procedure": "procedure", "Encounter": "visit",
    "DiagnosticReport": "report", "AllergyIntolerance": "allergy list", "Immunization": "immunization",
    "ServiceRequest": "order", "DeviceRequest": "device order", "Device": "device", "Patient": "demographics",
    "Goal": "goal", "CarePlan": "care plan", "FamilyMemberHistory": "family history", "Coverage": "coverage",
}


def clean_text(value: Any) -> str:
    """Text from the record as a page shows it: without bidirectional controls or control characters (U+202E
    would reverse the banner around it), spaces collapsed."""
    return " ".join(_UNSHOWN.sub("", str(value or "")).split())


def human_name(resource: Mapping[str, Any] | None, *, default: str = "(no name recorded)") -> str:
    """A person's name: the official (else first usable) HumanName, as text or prefix + given + family."""
    names = [name for name in (resource or {}).get("name") or [] if isinstance(name, dict)]
    if not names:
        return default
    chosen = next((name for name in names if name.get("use") == "official"), names[0])
    text = clean_text(chosen.get("text")) if isinstance(chosen.get("text"), str) else ""
    if text:
        return text

    def words(key: str) -> list[str]:
        value = chosen.get(key)
        items = value if isinstance(value, list) else [value]
        return [str(item) for item in items if isinstance(item, str | int) and str(item).strip()]

    parts = [*words("prefix"), *words("given"), *words("family")]
    return clean_text(" ".join(parts)).strip() or default


def age_on(birth_date: Any, as_of: date) -> int | None:
    """Age in whole years on ``as_of``, or None when the birth date cannot be read."""
    try:
        born = date.fromisoformat(str(birth_date)[:10])
    except ValueError:
        return None
    return as_of.year - born.year - ((as_of.month, as_of.day) < (born.month, born.day))


def record_kind(ref: Mapping[str, Any]) -> str:
    """``result``, ``problem list``, ``prescription``...: what kind of record a reference points to."""
    return _RECORD_KINDS.get(str(ref.get("type")), "record")


@dataclass
class Action:
    """One proposed activity as a line: what to do, why (one phrase), when, and the full item behind it."""

    item: dict[str, Any]
    reason: str
    due: str
    rank: int
    safety: bool = False
    #: ``this-visit`` or ``later`` (the plan's schedule, with the clinician's moves), and why it sits there.
    when: str = "this-visit"
    place: str = ""


def actions(plan: Mapping[str, Any], moves: Mapping[str, str] | None = None) -> list[Action]:
    """The plan's activities in the order a clinician acts on them: this visit in the schedule's order (safety
    first), then later by date (``app.engine.schedule``); ``due`` is the scheduled date. A plan without a schedule:
    safety, then due now, then the rest by due date.
    """
    as_of = str(plan.get("as_of") or "")
    warned = {w.get("rule_id") for w in plan.get("warnings", []) if w.get("severity") not in (None, "low")}
    schedule = plan.get("schedule") or {}
    if schedule:
        schedule = reschedule(schedule, moves or {}, as_of)
    order = {activity_id: n for n, activity_id in enumerate(schedule.get("thisVisit") or [])}
    later = {item["id"]: item for item in schedule.get("later") or []}
    rows = []
    for index, item in enumerate(plan.get("activities", [])):
        due = str((item.get("timing") or {}).get("due") or "")
        safety = item.get("id") in warned or (item.get("rationale") or {}).get("rule_id") in warned
        rank = 0 if safety else 1 if due and due <= as_of else 2
        if item["id"] in later:
            entry = later[item["id"]]
            rows.append((1, entry["date"], index, Action(item=item, reason=_reason(item), due=entry["date"], rank=2,
                                                         safety=safety, when="later", place=entry["reason"])))
        elif item["id"] in order:
            place = (schedule.get("reasons") or {}).get(item["id"], "")
            rows.append((0, "", order[item["id"]], Action(item=item, reason=_reason(item), due=as_of, rank=min(rank, 1),
                                                          safety=safety, place=place)))
        else:
            rows.append((rank, due or "9999", index, Action(
                item=item, reason=_reason(item), due=due, rank=rank, safety=safety,
                when="this-visit" if rank <= 1 else "later")))
    return [action for *_, action in sorted(rows, key=lambda row: row[:3])]


def open_gaps(plan: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The missing data that no proposed activity answers (an activity ordering the test answers its gap)."""
    return [gap for gap in plan.get("gaps", []) if not any(_answers(a, gap) for a in plan.get("activities", []))]


def key_conditions(facts: Mapping[str, Any], limit: int = 4) -> list[str]:
    """The patient's main conditions as the packs recognise them (the banner's summary), in the facts' order."""
    shown: list[str] = []
    for entry in (facts.get("conditions") or {}).values():
        if not isinstance(entry, Mapping):
            continue
        # SNOMED's semantic tag ("(disorder)") is for terminologists, not for a banner.
        label = re.sub(r"\s*\((disorder|finding|situation)\)$", "", clean_text(entry.get("display") or "")).strip()
        if label and label not in shown:
            shown.append(label)
    return shown[:limit]


def fact_line(fact: Mapping[str, Any]) -> str:
    """``HbA1c 7.6 % on 25 Jun 2019``: one value used by a rule, in words."""
    label = clean_text(fact.get("label") or fact.get("key") or "")
    given = fact.get("value")
    value = human_value(medicine_name(given), fact.get("unit")) if given not in (None, "") else ""
    if value and value.lower().startswith(label.lower()):  # "Insulin insulin glargine" reads "insulin glargine"
        label = ""
    shown = value
    # A condition's date is its onset: it holds since then; a result's date is when it was taken.
    since = any(isinstance(r, Mapping) and r.get("type") == "Condition" for r in fact.get("refs") or [])
    when = f" {'since' if since else 'on'} {human_date(fact['date'])}" if fact.get("date") else ""
    return " ".join(part for part in (label, shown) if part) + when


def _reason(item: Mapping[str, Any]) -> str:
    """The first measured value the rule used (``HbA1c 7.38 % on 10 Jul 2020``), else its first fact."""
    facts = [f for f in (item.get("rationale") or {}).get("facts_used") or [] if isinstance(f, Mapping)]
    measured = [f for f in facts if f.get("unit") or isinstance(f.get("value"), int | float)]
    chosen = (measured or facts)[:1]
    return fact_line(chosen[0]) if chosen else ""


def _answers(activity: Mapping[str, Any], gap: Mapping[str, Any]) -> bool:
    """True when the activity acts on the missing fact: its rule read the fact, or it orders the same test."""
    key = str(gap.get("key") or "").removeprefix("scores.")
    if not key:
        return False
    if gap.get("rule_id") and gap.get("rule_id") == activity.get("id"):
        return True
    used = {str(f.get("key")) for f in (activity.get("rationale") or {}).get("facts_used") or []
            if isinstance(f, Mapping)}
    return key in used or (key in ("sbp", "dbp") and "bp" in used)

