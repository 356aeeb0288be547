"""Conditions, medications, allergies and procedures: status filters and grouping by fact key."""

from __future__ import annotations

from datetime import date
from typing import Any

from app.context.dates import effective
from app.context.requirements import Requirement
from app.context.resources import codings, problem, ref

ACTIVE_CLINICAL = frozenset({"active", "recurrence", "relapse"})
EXCLUDED_VERIFICATION = frozenset({"refuted", "entered-in-error"})
OTHER = "other"


def _status(resource: dict[str, Any], field: str) -> str | None:
    return next((c.get("code") for c in codings(resource.get(field))), None)


def _match(concepts: list[dict[str, Any]], keys: dict[str, Requirement], resource_type: str,
           ) -> list[tuple[str, dict[str, Any]]]:
    """(key, matching coding) for every key of ``resource_type`` one of the concepts' codings feeds."""
    found: dict[str, dict[str, Any]] = {}
    for concept in concepts:
        for coding in codings(concept):
            for key, requirement in keys.items():
                if requirement.type == resource_type and key not in found and requirement.matches(coding):
                    found[key] = coding
    return list(found.items())


def _first_coding(concept: dict[str, Any] | None) -> dict[str, Any]:
    first = (codings(concept) or [{}])[0]
    return {"code": first.get("code"), "system": first.get("system"),
            "display": first.get("display") or (concept or {}).get("text")}


def conditions(resources: list[dict[str, Any]], keys: dict[str, Requirement], as_of: date,
               quality: list[dict[str, Any]]) -> dict[str, Any]:
    """Active, not refuted, already begun Conditions per key (earliest onset shown, every source referenced)."""
    found: dict[str, dict[str, Any]] = {}
    for condition in resources:
        clinical, verification = _status(condition, "clinicalStatus"), _status(condition, "verificationStatus")
        if clinical not in ACTIVE_CLINICAL or verification in EXCLUDED_VERIFICATION:
            continue
        try:
            onset = effective(condition, "onsetDateTime", "onsetPeriod.start", "recordedDate")
        except ValueError as exc:
            quality.append(problem(condition, f"onset date not understood ({exc}): not used"))
            continue
        if onset and onset.day > as_of:
            continue
        for key, coding in _match([condition.get("code")], keys, "Condition"):
            onset_text = onset.day.isoformat() if onset else None
            entry = found.get(key)
            if entry is None:
                found[key] = {"code": coding.get("code"), "system": coding.get("system"),
                              "display": coding.get("display") or (condition.get("code") or {}).get("text"),
                              "onset": onset_text, "refs": [ref(condition)]}
                continue
            entry["refs"].append(ref(condition))
            if onset_text and (entry["onset"] is None or onset_text < entry["onset"]):
                entry.update(code=coding.get("code"), system=coding.get("system"), onset=onset_text,
                             display=coding.get("display") or (condition.get("code") or {}).get("text"))
    return found


def medications(resources: list[dict[str, Any]], medication_index: dict[str, dict[str, Any]],
                keys: dict[str, Requirement], as_of: date) -> dict[str, list[dict[str, Any]]]:
    """Active MedicationRequests per class key; unclassified ones under ``other``."""
    found: dict[str, list[dict[str, Any]]] = {}
    for request in resources:
        if request.get("status") != "active":
            continue
        authored = request.get("authoredOn")
        if authored and authored[:10] > as_of.isoformat():
            continue
        concept, refs = request.get("medicationCodeableConcept"), [ref(request)]
        reference = (request.get("medicationReference") or {}).get("reference")
        if concept is None and reference:
            medication = medication_index.get(reference) or _contained(request, reference)
            if medication:
                concept = medication.get("code")
                if medication.get("id") and not reference.startswith("#"):
                    refs.append(ref(medication))
        shown = _first_coding(concept)
        matches = _match([concept] if concept else [], keys, "MedicationRequest") or [(OTHER, {})]
        for key, coding in matches:
            entry = {**shown, **{k: coding[k] for k in ("code", "system") if coding.get(k)},
                     "authoredOn": authored[:10] if authored else None, "refs": refs}
            if coding.get("display"):
                entry["display"] = coding["display"]
            found.setdefault(key, []).append(entry)
    return found


def allergies(resources: list[dict[str, Any]], keys: dict[str, Requirement]) -> dict[str, list[dict[str, Any]]]:
    """AllergyIntolerances that are not refuted or entered in error, per key; unclassified under ``other``."""
    found: dict[str, list[dict[str, Any]]] = {}
    for allergy in resources:
        if _status(allergy, "verificationStatus") in EXCLUDED_VERIFICATION:
            continue
        entry = {**_first_coding(allergy.get("code")), "criticality": allergy.get("criticality"),
                 "clinicalStatus": _status(allergy, "clinicalStatus"), "refs": [ref(allergy)]}
        for key, _coding in _match([allergy.get("code")], keys, "AllergyIntolerance") or [(OTHER, {})]:
            found.setdefault(key, []).append(entry)
    return found


def procedures(resources: list[dict[str, Any]], keys: dict[str, Requirement], as_of: date,
               quality: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The latest completed Procedure per key, on or before the evaluation date."""
    found: dict[str, dict[str, Any]] = {}
    for procedure in resources:
        if procedure.get("status") != "completed":
            continue
        try:
            when = effective(procedure, "performedDateTime", "performedPeriod.start")
        except ValueError as exc:
            quality.append(problem(procedure, f"date not understood ({exc}): not used"))
            continue
        if when is None:
            quality.append(problem(procedure, "completed procedure without a date: not used"))
            continue
        if when.day > as_of:
            continue
        for key, coding in _match([procedure.get("code")], keys, "Procedure"):
            known = found.get(key)
            if known is None or when.instant > known["_instant"]:
                found[key] = {"code": coding.get("code"), "system": coding.get("system"),
                              "display": coding.get("display") or (procedure.get("code") or {}).get("text"),
                              "date": when.day.isoformat(), "_instant": when.instant, "refs": [ref(procedure)]}
    for entry in found.values():
        entry.pop("_instant")
    return found


def _contained(resource: dict[str, Any], reference: str) -> dict[str, Any] | None:
    if not reference.startswith("#"):
        return None
    return next((r for r in resource.get("contained") or [] if r.get("id") == reference[1:]), None)
