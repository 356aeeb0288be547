"""Pure functions from one Plan dict (+ clinician edits) to FHIR R4 Goal, CarePlan and Provenance."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from app.careplan import narrative
from app.careplan.model import (
    CAREPLAN_ID_SYSTEM,
    CLINICIAN_EDIT_URL,
    DEVICE_ID_SYSTEM,
    GOAL_ID_SYSTEM,
    PROVENANCE_KEY_SYSTEM,
    RATIONALE_URL,
    TAG,
    UCUM,
    US_CORE_CAREPLAN_CATEGORY,
    Edits,
    edited_description,
    goal_bounds,
    input_refs,
    pack_canonicals,
    planned_schedule,
    ref_string,
    unique,
)
from app.careplan.patient_copy import VISIT_SCHEDULE_URL, patient_text_extension
from app.engine.schedule import THIS_VISIT, scheduled_date

VERSION = "0.1.0"
#: Display units of the engine -> UCUM codes. A unit not listed is written as text only.
UCUM_CODES = {
    "%": "%", "mmHg": "mm[Hg]", "mm[Hg]": "mm[Hg]", "mg/dL": "mg/dL", "mmol/L": "mmol/L",
    "mmol/mol": "mmol/mol", "mL/min/1.73m2": "mL/min/{1.73_m2}", "mL/min/{1.73_m2}": "mL/min/{1.73_m2}",
    "kg/m2": "kg/m2", "kg": "kg", "mg/g": "mg/g", "{score}": "{score}",
}
_PERIOD_UNITS = {"day": "d", "days": "d", "d": "d", "week": "wk", "weeks": "wk", "wk": "wk",
                 "month": "mo", "months": "mo", "mo": "mo", "year": "a", "years": "a", "a": "a"}
_REQUEST_KIND = {"lab-order": "ServiceRequest", "referral": "ServiceRequest", "screening": "ServiceRequest",
                 "procedure": "ServiceRequest", "medication": "MedicationRequest"}
#: Which source types each reference element may point to (FHIR R4).
_REASON_TYPES = frozenset({"Condition", "Observation", "DiagnosticReport", "DocumentReference"})
_GOAL_ADDRESSES_TYPES = frozenset({"Condition", "Observation", "MedicationStatement", "RiskAssessment"})
DESELECTED_REASON = "Not selected by the clinician before saving"


def carepath_reference() -> dict[str, Any]:
    """carepath as a logical Device reference: a SMART app is not granted writing Device resources."""
    return {"type": "Device", "identifier": {"system": DEVICE_ID_SYSTEM, "value": "carepath"},
            "display": f"carepath {VERSION}"}


def goal(plan: Mapping[str, Any], item: Mapping[str, Any], identifier: str, edits: Edits) -> dict[str, Any]:
    """A proposed Goal with its target(s), the conditions it addresses and its rationale."""
    targets = item.get("targets") or [item.get("target") or {}]
    edited = item["id"] in edits.goal_targets
    resource: dict[str, Any] = {
        "resourceType": "Goal",
        "meta": {"tag": [TAG]},
        "extension": [rationale_extension(item.get("rationale"))] if item.get("rationale") else [],
        "identifier": [{"system": GOAL_ID_SYSTEM, "value": identifier}],
        "lifecycleStatus": "proposed",
        "category": [{"text": item["area"]}] if item.get("area") else [],
        "description": {"text": edited_description(item["description"], targets[0].get("value"),
                                                   edits.goal_targets[item["id"]], targets[0].get("unit"))
                        if edited and len(targets) == 1 else item["description"]},
        "subject": {"reference": f"Patient/{plan['patient_id']}"},
        "startDate": plan["as_of"],
        "target": [_target(item, target, edits if edited else None) for target in targets if target],
        "addresses": [{"reference": ref_string(ref), "display": address.get("display")}
                      for address in item.get("addresses", []) for ref in address.get("refs", [])
                      if ref["type"] in _GOAL_ADDRESSES_TYPES],
    }
    if edited:
        resource["extension"].append(_clinician_edit(edits, f"target changed to {edits.goal_targets[item['id']]:g}"))
    words = patient_text_extension(item.get("patient_text") or {})
    if words:  # the patient copy's words, saved with the goal they describe
        resource["extension"].append(words)
    return _prune(resource)


def careplan(plan: Mapping[str, Any], *, identifier: str, goal_urns: Mapping[str, str], edits: Edits,
             now: str, replaces: str | None = None) -> dict[str, Any]:
    """The draft CarePlan (status draft, intent plan, US Core category assess-plan)."""
    refs = input_refs(plan)
    schedule = planned_schedule(plan, edits)
    contributors = [carepath_reference()]
    if edits.author:
        contributors.append({"reference": edits.author})
    resource: dict[str, Any] = {
        "resourceType": "CarePlan",
        "meta": {"tag": [TAG]},
        "text": {"status": "generated", "div": narrative.careplan_div(plan, edits)},
        "identifier": [{"system": CAREPLAN_ID_SYSTEM, "value": identifier}],
        # CarePlan.instantiatesCanonical names definitions (PlanDefinition...), not the data Library.
        "instantiatesCanonical": pack_canonicals(plan, definitions_only=True),
        "replaces": [{"reference": replaces}] if replaces else [],
        "status": "draft",
        "intent": "plan",
        "category": [{"coding": [{"system": US_CORE_CAREPLAN_CATEGORY, "code": "assess-plan",
                                  "display": "Assessment and Plan of Treatment"}]}],
        "title": "carepath care plan (draft)",
        "description": "Care plan drafted by carepath from " + ", ".join(
            f"{pack.get('title') or pack['url']} {pack['version']}" for pack in plan.get("packs", [])),
        "subject": {"reference": f"Patient/{plan['patient_id']}"},
        "period": {"start": plan["as_of"]},
        "created": now,
        "author": carepath_reference(),
        "contributor": contributors,
        "addresses": [{"reference": ref} for ref in unique(ref_string(r) for r in refs if r["type"] == "Condition")],
        "supportingInfo": [{"reference": ref}
                           for ref in unique(ref_string(r) for r in refs if r["type"] == "Observation")],
        "goal": [{"reference": goal_urns[item["id"]]} for item in plan.get("goals", [])],
        "activity": [_activity(item, goal_urns, edits, schedule, str(plan["as_of"]))
                     for item in plan.get("activities", [])],
        "note": [_note(edits, now)] if edits.note.strip() else [],
    }
    return _prune(resource)


def provenance(plan: Mapping[str, Any], *, key: str, targets: list[str], edits: Edits, now: str,
               organization: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The Provenance of a draft: carepath as author, exact source versions, the citations as policy.

    ``organization`` (see :mod:`app.careplan.organization`) is written as each agent's ``onBehalfOf``: US Core
    Provenance ``provenance-1`` requires it when ``agent.who`` is a Device or a Practitioner.
    """
    agents = [agent(_participant("author", "Author"), carepath_reference(), organization)]
    if edits.author and not edits.empty:
        agents.append({**agent(_participant("enterer", "Enterer"), {"reference": edits.author}, organization),
                       "role": [{"text": "clinician edits before saving (marked with the clinician-edit extension)"}]})
    return _prune({
        "resourceType": "Provenance",
        "meta": {"tag": [TAG, {"system": PROVENANCE_KEY_SYSTEM, "code": key}]},
        "target": [{"reference": target} for target in targets],
        "recorded": now,
        "policy": policies(plan),
        "activity": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-DataOperation",
                                 "code": "CREATE", "display": "create"}]},
        "agent": agents,
        "entity": [{"role": "source", "what": {"reference": ref_string(ref, versioned=True)}}
                   for ref in input_refs(plan)],
    })


def agent(participant: Mapping[str, Any], who: Mapping[str, Any],
          organization: Mapping[str, Any] | None) -> dict[str, Any]:
    """A Provenance agent; ``onBehalfOf`` the organization when one is known (never made up)."""
    result: dict[str, Any] = {"type": dict(participant), "who": dict(who)}
    if organization:
        result["onBehalfOf"] = dict(organization)
    return result


def participant(code: str, display: str) -> dict[str, Any]:
    """An agent type from http://terminology.hl7.org/CodeSystem/provenance-participant-type."""
    return _participant(code, display)


def policies(plan: Mapping[str, Any]) -> list[str]:
    """The guideline citation URLs behind the plan (pack canonicals where a citation has no URL)."""
    found = []
    for item in [*plan.get("goals", []), *plan.get("activities", [])]:
        rationale = item.get("rationale") or {}
        url = (rationale.get("citation") or {}).get("url")
        found.append(url or f"{rationale.get('pack_url')}|{rationale.get('pack_version')}")
    return sorted(set(found) | set(pack_canonicals(plan))) if found else pack_canonicals(plan)


def rationale_extension(rationale: Mapping[str, Any]) -> dict[str, Any]:
    """The rationale of one plan item as a complex extension: rule, pack, citation, facts, text."""
    citation = rationale.get("citation") or {}
    parts: list[dict[str, Any]] = [
        {"url": "ruleId", "valueString": rationale["rule_id"]},
        {"url": "pack", "valueCanonical": f"{rationale['pack_url']}|{rationale['pack_version']}"},
        {"url": "citation", "valueString": narrative.citation_text(citation)},
    ]
    if citation.get("url"):
        parts.append({"url": "citationUrl", "valueUri": citation["url"]})
    for fact in rationale.get("facts_used", []):
        parts.append({"url": "fact", "valueString": narrative.fact_text(fact)})
    if rationale.get("text"):
        parts.append({"url": "text", "valueString": rationale["text"]})
    # The exact source versions, as text: servers may strip versions from references (HAPI does by default).
    for source in unique(ref_string(ref, versioned=True) for ref in _rationale_refs(rationale)):
        parts.append({"url": "source", "valueString": source})
    return {"url": RATIONALE_URL, "extension": parts}


def _activity(item: Mapping[str, Any], goal_urns: Mapping[str, str], edits: Edits, schedule: Mapping[str, Any],
              as_of: str) -> dict[str, Any]:
    deselected = item["id"] in edits.deselected
    when = scheduled_date(schedule, item["id"], as_of)
    rationale = item.get("rationale") or {}
    reasons = unique(ref_string(ref) for ref in _rationale_refs(rationale) if ref["type"] in _REASON_TYPES)
    detail: dict[str, Any] = {
        "kind": _REQUEST_KIND.get(item.get("kind", "")),
        "code": _concept(item.get("code")),
        "reasonReference": [{"reference": ref} for ref in reasons],
        "goal": [{"reference": goal_urns[goal_id]} for goal_id in item.get("goal_ids", []) if goal_id in goal_urns],
        "status": "cancelled" if deselected else "not-started",
        "statusReason": {"text": DESELECTED_REASON} if deselected else None,
        # The schedule's date (this visit: the plan date; later: the date proposed or the clinician's), then repeats.
        "scheduledTiming": _timing({**(item.get("timing") or {}), **({"due": when} if when else {})}),
        "description": _activity_text(item),
    }
    extensions = [{"url": f"{RATIONALE_URL}-item", "valueString": item["id"]}]
    if when:
        extensions.append(visit_extension(schedule, item["id"]))
    if rationale:
        extensions.append(rationale_extension(rationale))
    words = patient_text_extension(item.get("patient_text") or {})
    if words:  # the patient copy's words, saved with the activity they describe
        extensions.append(words)
    if deselected:
        extensions.append(_clinician_edit(edits, "deselected before saving"))
    if item["id"] in edits.moves:
        where = edits.moves[item["id"]]
        extensions.append(_clinician_edit(edits, "moved to this visit" if where == THIS_VISIT
                                          else f"scheduled for {where}"))
    return _prune({"extension": extensions, "detail": detail})


def visit_extension(schedule: Mapping[str, Any], activity_id: str) -> dict[str, Any]:
    """Where the activity sits in the schedule: ``placement`` (this-visit | later) and the reason for it."""
    this_visit = activity_id in (schedule.get("thisVisit") or [])
    reason = (schedule.get("reasons") or {}).get(activity_id) if this_visit else next(
        (item.get("reason") for item in schedule.get("later") or [] if item["id"] == activity_id), None)
    listed = list(schedule.get("thisVisit") or []) if this_visit else [i["id"] for i in schedule.get("later") or []]
    parts = [{"url": "placement", "valueCode": THIS_VISIT if this_visit else "later"},
             {"url": "order", "valueInteger": listed.index(activity_id)}]
    if reason:
        parts.append({"url": "reason", "valueString": reason})
    return {"url": VISIT_SCHEDULE_URL, "extension": parts}


def visit_place(activity: Mapping[str, Any]) -> dict[str, str] | None:
    """A saved CarePlan activity's place in the schedule: {placement, date, reason}, or None (not scheduled)."""
    for extension in activity.get("extension") or []:
        if extension.get("url") == VISIT_SCHEDULE_URL:
            parts = {part.get("url"): part.get("valueCode") or part.get("valueString")
                     for part in extension.get("extension") or []}
            events = ((activity.get("detail") or {}).get("scheduledTiming") or {}).get("event") or [""]
            return {"placement": str(parts.get("placement") or ""), "date": str(events[0])[:10],
                    "reason": str(parts.get("reason") or "")}
    return None


def _activity_text(item: Mapping[str, Any]) -> str:
    """The activity's title and description, as one sentence pair for the record."""
    title, description = (item.get("title") or "").strip(), item["description"].strip()
    if not title or title.rstrip(".") == description.rstrip("."):
        return description
    return f"{title.rstrip('.')}. {description}"


def _target(item: Mapping[str, Any], target: Mapping[str, Any], edits: Edits | None) -> dict[str, Any]:
    value = edits.goal_targets[item["id"]] if edits else target.get("value")
    unit = target.get("unit") or (goal_bounds(item) or (0, 0, None))[2]
    quantity = {"value": value, "comparator": target.get("comparator"), "unit": unit}
    if unit in UCUM_CODES:
        quantity.update(system=UCUM, code=UCUM_CODES[unit])
    return {"measure": _concept(target.get("measure") or item.get("measure")),
            "detailQuantity": quantity, "dueDate": item.get("due")}


def _timing(timing: Mapping[str, Any]) -> dict[str, Any] | None:
    repeat = timing.get("repeat") or {}
    result: dict[str, Any] = {}
    if timing.get("due"):
        result["event"] = [timing["due"]]
    if repeat:
        result["repeat"] = {"frequency": repeat.get("frequency", 1), "period": repeat.get("period"),
                            "periodUnit": _PERIOD_UNITS.get(str(repeat.get("period_unit")))}
    return result or None


def _rationale_refs(rationale: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    refs = list(rationale.get("refs", []))
    for fact in rationale.get("facts_used", []):
        refs.extend(fact.get("refs", []))
    return refs


def _concept(code: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if not code:
        return None
    if not (code.get("system") and code.get("code")):
        # A pack concept with only a name: a Coding without system and code has no defined meaning.
        return {"text": code.get("display") or code.get("code")}
    coding = {key: code.get(key) for key in ("system", "code", "display")}
    return {"coding": [coding], "text": code.get("display")}


def _note(edits: Edits, now: str) -> dict[str, Any]:
    note: dict[str, Any] = {"text": edits.note.strip(), "time": now}
    if edits.author:
        note["authorReference"] = {"reference": edits.author}
    return note


def _clinician_edit(edits: Edits, what: str) -> dict[str, Any]:
    return {"url": CLINICIAN_EDIT_URL, "extension": [
        {"url": "author", "valueReference": {"reference": edits.author}},
        {"url": "change", "valueString": what},
    ]}


def _participant(code: str, display: str) -> dict[str, Any]:
    return {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/provenance-participant-type",
                        "code": code, "display": display}]}


def _prune(value: Any) -> Any:
    """Drop None, empty lists and empty dicts, recursively, so the JSON holds only what was said."""
    if isinstance(value, dict):
        pruned = {key: _prune(item) for key, item in value.items()}
        return {key: item for key, item in pruned.items() if item not in (None, [], {}, "")}
    if isinstance(value, list):
        return [item for item in (_prune(item) for item in value) if item not in (None, [], {}, "")]
    return value

