"""One patient of a cohort: resources -> facts -> plan, by the very functions ``carepath plan`` and the app use.

``plan_of`` is :func:`app.context.facts_from_resources` then :func:`app.engine.build_plan`, the sequence of
``carepath plan`` (whose ``facts_from_bundle`` is ``facts_from_resources(from_bundle(bundle))``) and of the
review page (whose ``assemble`` fetches the resources, then calls the same function). Nothing clinical is
computed here: the rest of this module only reads the plan for the cohort's outputs.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import orjson

from app.cohort.counting import Counting, eligible_rules, load_counting
from app.cohort.workload import occurrences
from app.context import facts_from_resources
from app.engine import PackSet, Plan, build_plan
from app.engine.packs import pack_set_from_resources
from app.engine.schedule import scheduled_date
from app.errors import CarepathError

_PACKS: dict[str, PackSet] = {}
_packs_lock = threading.Lock()
_COUNTING: dict[int, tuple[PackSet, Counting]] = {}


def plan_of(resources: list[dict[str, Any]], pack_set: PackSet, as_of: date) -> Plan | None:
    """The patient's plan, or None when no Patient can be read (``carepath plan`` refuses such a file)."""
    facts = facts_from_resources(resources, pack_set.requirements, as_of)
    if facts["patient"]["id"] is None:
        return None
    return build_plan(facts, pack_set, as_of)


def pack_token(resources: list[tuple[str, dict[str, Any]]]) -> str:
    """A digest naming a pack's resources, so each worker process compiles a pack once."""
    return hashlib.sha256(orjson.dumps(resources, option=orjson.OPT_SORT_KEYS)).hexdigest()


def cached_pack_set(token: str, resources: list[tuple[str, dict[str, Any]]]) -> PackSet:
    """The pack compiled from ``resources`` (as ``load_pack_set`` reads a folder), once per process."""
    with _packs_lock:
        if token not in _PACKS:
            _PACKS[token] = pack_set_from_resources(resources)
        return _PACKS[token]


@dataclass
class PatientResult:
    """What the cohort keeps of one patient: the plan as JSON text and the few fields its outputs read."""

    patient_id: str
    plan_json: str = ""
    name: str = ""
    birth_date: str = ""
    activities: list[dict[str, Any]] = field(default_factory=list)
    counts: dict[tuple[str, ...], int] = field(default_factory=dict)
    open_gaps: list[dict[str, Any]] = field(default_factory=list)


def patient_result(patient_id: str, resources: list[dict[str, Any]], pack_set: PackSet, as_of: date,
                   counting: Counting | None = None) -> PatientResult:
    """Plan one patient and read what the report, the activity table and the outreach list need; ``counting``
    (default: the mapping of the bundled pack folder) says how each activity counts."""
    counting = counting or _default_counting(pack_set)
    result = PatientResult(patient_id)
    patient = next((r for r in resources if r.get("resourceType") == "Patient" and r.get("id") == patient_id), None)
    result.name, result.birth_date = _name(patient), str((patient or {}).get("birthDate") or "")
    try:
        plan = plan_of(resources, pack_set, as_of)
    except (ValueError, CarepathError) as exc:
        _finding(result.counts, "quality", "Patient", "", f"no plan: {counting.finding_text(str(exc))}")
        return result
    except Exception as exc:  # one patient's data, however odd, never costs the cohort's run
        _finding(result.counts, "quality", "Patient", "", f"no plan: data carepath cannot read ({type(exc).__name__})")
        return result
    if plan is None:
        _finding(result.counts, "quality", "Patient", "", "no readable Patient resource: no plan")
        return result
    data = plan.to_dict()
    result.plan_json = orjson.dumps(data).decode()
    result.counts.update(plan_counts(data, as_of, counting))
    _read_activities(result, data, as_of, counting)
    return result


def plan_counts(data: dict[str, Any], as_of: date, counting: Counting) -> dict[tuple[str, ...], int]:
    """One plan's contribution to the report: each key counts a patient once (or, for 'open gaps', 'due apart',
    'backlog' and 'work', counts activities). Every key can be recomputed from the plan alone."""
    counts: dict[tuple[str, ...], int] = {("patients",): 1}
    for rule_id in eligible_rules(data):
        counts[("eligible", rule_id)] = 1
    for item in data["data_quality"]:
        _finding(counts, "quality", (item.get("ref") or {}).get("type") or "resource", "",
                 counting.finding_text(str(item.get("problem", ""))))
    for gap in data["gaps"]:
        _finding(counts, "missing", str(gap.get("rule_id") or gap.get("key")), "",
                 counting.finding_text(str(gap.get("message", ""))))
    for warning in data["warnings"]:
        _finding(counts, "warning", str(warning.get("rule_id")), str(warning.get("severity") or ""),
                 counting.finding_text(str(warning.get("message", "")), pack_text=True))
    for goal in data["goals"]:
        counts[("goal", goal["area_id"], goal["area"], goal["rationale"]["rule_id"], goal["description"])] = 1
    for activity in data["activities"]:
        kind, rule_id = counting.kind_of(activity), activity["rationale"]["rule_id"]
        title = activity.get("title") or activity["description"]
        due = str(activity["timing"].get("due") or "")
        # The forecast follows the visit schedule: an action the schedule puts later falls in its month.
        scheduled = scheduled_date(data.get("schedule"), activity["id"], as_of.isoformat())
        later = bool(scheduled) and scheduled > as_of.isoformat()
        when = occurrences({**activity["timing"], **({"due": scheduled} if later else {})}, as_of)
        if due and due <= as_of.isoformat():  # due now or overdue, and not done (the engine left out done ones)
            section = "open gaps" if kind.care_gap else "due apart"
            counts[(section,)] = counts.get((section,), 0) + 1
            counts[(f"patients with {section}",)] = 1
            if kind.care_gap:
                counts[("gap", activity["area_id"], activity["area"], rule_id, title)] = 1
            else:
                counts[("apart", kind.category, activity["area"], rule_id, title)] = 1
            if not later:  # this visit's: the backlog; one scheduled later is counted in its month
                counts[("backlog", kind.work)] = counts.get(("backlog", kind.work), 0) + 1
                when = when[1:]  # the rest are the plan's repeats
        for day in when:
            key = ("work", day.strftime("%Y-%m"), kind.work)
            counts[key] = counts.get(key, 0) + 1
    return counts


def _finding(counts: dict[tuple[str, ...], int], section: str, about: str, severity: str, text: str) -> None:
    """A finding of one patient: its text, and the patient under its group (a rule, a key, a resource type)."""
    counts[(section, about, severity, text)] = 1
    counts[("found", section, about, severity)] = 1


def _read_activities(result: PatientResult, data: dict[str, Any], as_of: date, counting: Counting) -> None:
    for activity in data["activities"]:
        rationale, code, kind = activity["rationale"], activity.get("code") or {}, counting.kind_of(activity)
        due = str(activity["timing"].get("due") or "")
        row = {"patient": result.patient_id, "rule": rationale["rule_id"], "kind": activity["kind"],
               "category": kind.category, "workload": kind.work, "area": activity["area_id"],
               "code": f"{code.get('system', '')}|{code['code']}" if code.get("code") else "",
               "title": activity.get("title") or activity["description"], "due": due,
               "pack_url": rationale["pack_url"], "pack_version": rationale["pack_version"]}
        result.activities.append(row)
        if kind.care_gap and due and due <= as_of.isoformat():
            result.open_gaps.append(row)


def _default_counting(pack_set: PackSet) -> Counting:
    """The counting of the bundled pack folder, once per pack set (tests and benchmarks plan without a folder)."""
    with _packs_lock:
        known = _COUNTING.get(id(pack_set))
        if known is None or known[0] is not pack_set:
            known = _COUNTING[id(pack_set)] = (pack_set, load_counting(pack_set))
        return known[1]


def _name(patient: dict[str, Any] | None) -> str:
    """'Given Family' from the first usable HumanName (official first), for the outreach list; parts of another
    type than FHIR's (a ``given`` that is not a list of strings) are left out."""
    names = (patient or {}).get("name")
    names = [n for n in names if isinstance(n, dict)] if isinstance(names, list) else []
    names.sort(key=lambda n: n.get("use") != "official")
    for name in names:
        given = name.get("given") if isinstance(name.get("given"), list) else []
        parts = [part for part in (*given, name.get("family")) if isinstance(part, str)]
        text = name.get("text") if isinstance(name.get("text"), str) else ""
        text = text.strip() or " ".join(parts).strip()
        if text:
            return text
    return ""
