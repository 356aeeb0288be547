"""One patient of a cohort: resources -> facts -> plan, by the very functions ``carepath plan`` and the app use.

``plan_of`` is :func:`app.context.facts_from_resources` then :func:`app.engine.build_plan`, the sequence of
``carepath plan`` (whose ``facts_from_bundle`` is ``facts_from_resources(from_bundle(bundle))``) and of the
review page (whose ``assemble`` fetches the resources, then calls the same function). Nothing clinical is
computed here: the rest of this module only reads the plan for the cohort's outputs.
"""

from __future__ import annotations

import hashlib
import re
import threading
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import orjson

from app.cohort.workload import occurrences, workload_of
from app.context import facts_from_resources
from app.engine import PackSet, Plan, build_plan
from app.engine.packs import pack_set_from_resources
from app.engine.schedule import scheduled_date
from app.errors import CarepathError

_PACKS: dict[str, PackSet] = {}
_packs_lock = threading.Lock()
_DATES = re.compile(r"\d{4}-\d{2}-\d{2}(?:T[0-9:.]+(?:Z|[+-]\d{2}:\d{2})?)?")
_NUMBERS = re.compile(r"\d+(?:[.,]\d+)*")


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


def patient_result(patient_id: str, resources: list[dict[str, Any]], pack_set: PackSet, as_of: date) -> PatientResult:
    """Plan one patient and read what the report, the activity table and the outreach list need."""
    result = PatientResult(patient_id)
    patient = next((r for r in resources if r.get("resourceType") == "Patient" and r.get("id") == patient_id), None)
    result.name, result.birth_date = _name(patient), str((patient or {}).get("birthDate") or "")
    try:
        plan = plan_of(resources, pack_set, as_of)
    except (ValueError, CarepathError) as exc:
        result.counts[("quality", "Patient", f"no plan: {_pattern(str(exc))}")] = 1
        return result
    except Exception as exc:  # one patient's data, however odd, never costs the cohort's run
        result.counts[("quality", "Patient", f"no plan: data carepath cannot read ({type(exc).__name__})")] = 1
        return result
    if plan is None:
        result.counts[("quality", "Patient", "no readable Patient resource: no plan")] = 1
        return result
    data = plan.to_dict()
    result.plan_json = orjson.dumps(data).decode()
    result.counts[("patients",)] = 1
    _read_activities(result, data, as_of)
    for item in data["data_quality"]:
        kind = (item.get("ref") or {}).get("type") or "resource"
        result.counts[("quality", kind, _pattern(item.get("problem", "")))] = 1
    for gap in data["gaps"]:
        result.counts[("missing", str(gap.get("key")), _pattern(str(gap.get("message", ""))))] = 1
    for warning in data["warnings"]:
        result.counts[("warning", str(warning.get("rule_id")), _pattern(str(warning.get("message", ""))))] = 1
    for goal in data["goals"]:
        result.counts[("goal", goal["area_id"], goal["area"], goal["rationale"]["rule_id"], goal["description"])] = 1
    return result


def _read_activities(result: PatientResult, data: dict[str, Any], as_of: date) -> None:
    for activity in data["activities"]:
        rationale, code = activity["rationale"], activity.get("code") or {}
        due = str(activity["timing"].get("due") or "")
        row = {"patient": result.patient_id, "rule": rationale["rule_id"], "kind": activity["kind"],
               "workload": workload_of(activity["kind"]), "area": activity["area_id"],
               "code": f"{code.get('system', '')}|{code['code']}" if code.get("code") else "",
               "title": activity.get("title") or activity["description"], "due": due,
               "pack_url": rationale["pack_url"], "pack_version": rationale["pack_version"]}
        result.activities.append(row)
        if due and due <= as_of.isoformat():  # due now or overdue: an open care gap
            result.open_gaps.append(row)
            result.counts[("open gaps",)] = result.counts.get(("open gaps",), 0) + 1
            result.counts[("patients with open gaps",)] = 1
            key = ("gap", activity["area_id"], activity["area"], rationale["rule_id"], row["title"])
            result.counts[key] = 1
        # The forecast follows the visit schedule: a later action falls in the month it is scheduled for.
        scheduled = scheduled_date(data.get("schedule"), activity["id"], as_of.isoformat())
        for when in occurrences({**activity["timing"], **({"due": scheduled} if scheduled else {})}, as_of):
            key = ("work", when.strftime("%Y-%m"), row["workload"])
            result.counts[key] = result.counts.get(key, 0) + 1


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


def _pattern(text: str) -> str:
    """A finding without its dates and numbers ('2 results on 2020-04-13 disagree (176.2, 291.2)' ->
    '# results on (date) disagree (#, #)'),
    so the same problem in many patients counts as one finding."""
    return _NUMBERS.sub("#", _DATES.sub("(date)", text))[:160]
