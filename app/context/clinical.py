"""Conditions, medications, allergies and procedures: status filters and grouping by fact key."""

from __future__ import annotations

from datetime import date
from typing import Any

from app.context.dates import EFFECTIVE_FIELDS, effective, lookback_start
from app.context.requirements import Requirement
from app.context.resources import codings, problem, ref, value_at
from app.terminology import rxnorm
from app.terminology.codes import RXNORM, system_of

ACTIVE_CLINICAL = frozenset({"active", "recurrence", "relapse"})
EXCLUDED_VERIFICATION = frozenset({"refuted", "entered-in-error"})
OTHER = "other"
#: Statuses that say an event took place, per resource type (FHIR R4 value sets event-status,
#: diagnostic-report-status, encounter-status, observation-status).
EVENT_STATUSES = {
    "Procedure": frozenset({"completed"}),
    "DiagnosticReport": frozenset({"final", "amended", "corrected", "appended"}),
    "Encounter": frozenset({"finished", "in-progress", "onleave", "arrived"}),
    "Observation": frozenset({"final", "amended", "corrected"}),
    "ServiceRequest": frozenset({"active", "completed"}),
}
EVENT_DATES = {
    "Procedure": ("performedDateTime", "performedPeriod.start"),
    "DiagnosticReport": ("effectiveDateTime", "effectivePeriod.start", "issued"),
    "Encounter": ("period.start", "period.end"),
    "Observation": EFFECTIVE_FIELDS,
    "ServiceRequest": ("occurrenceDateTime", "occurrencePeriod.start", "authoredOn"),
}


def _status(resource: dict[str, Any], field: str) -> str | None:
    return next((c.get("code") for c in codings(resource.get(field))), None)


def _match(resource: dict[str, Any], keys: dict[str, Requirement], *, name: str | None = None,
           concept: dict[str, Any] | None = None) -> list[tuple[str, dict[str, Any], str]]:
    """(key, matching coding, how) for every key one of the resource's codings feeds, at each key's paths.

    ``concept`` replaces the resource's own code (a MedicationRequest's medication); ``name`` is the text a
    medicine is named by when its coding has no display (the ingredient fallback reads it).
    """
    found: dict[str, tuple[dict[str, Any], str]] = {}
    for key, requirement in keys.items():
        for path in requirement.paths:
            held = concept if concept is not None else value_at(resource, path)
            for coding in codings(held) if isinstance(held, dict) else ():
                if not isinstance(coding, dict):
                    continue
                how = requirement.matches(coding, name, path)
                if how:
                    found.setdefault(key, (coding, how))
                    break
            if key in found:
                break
    return [(key, coding, how) for key, (coding, how) in found.items()]


def _first_coding(concept: dict[str, Any] | None) -> dict[str, Any]:
    first = (codings(concept) or [{}])[0]
    return {"code": first.get("code"), "system": first.get("system"),
            "display": first.get("display") or (concept or {}).get("text")}


def _display(coding: dict[str, Any], concept: dict[str, Any] | None) -> str | None:
    return coding.get("display") or (concept or {}).get("text")


def _abated(condition: dict[str, Any], as_of: date) -> bool | None:
    """True when ``abatement[x]`` says the condition had ended by ``as_of``; False when it ended later; None
    when there is no abatement (or none that can be dated)."""
    if condition.get("abatementBoolean") is True or isinstance(condition.get("abatementString"), str):
        return True
    try:
        ended = effective(condition, "abatementDateTime", "abatementPeriod.end", "abatementPeriod.start")
    except ValueError:
        return True  # an abatement is recorded; its date is not readable
    if ended is None:
        return None
    return ended.day <= as_of


def _condition_state(condition: dict[str, Any], as_of: date, quality: list[dict[str, Any]]) -> str | None:
    """``active``, ``history`` (recorded, ended by ``as_of``), or None (refuted, entered in error).

    FHIR R4: clinicalStatus may be absent (encounter diagnoses); then the condition stands unless
    ``abatement[x]`` ends it. A status of resolved whose abatement is after ``as_of`` was active on that date.
    """
    if _status(condition, "verificationStatus") in EXCLUDED_VERIFICATION:
        return None
    clinical = _status(condition, "clinicalStatus")
    abated = _abated(condition, as_of)
    if clinical is None:
        return "history" if abated else "active"
    if clinical in ACTIVE_CLINICAL:
        if abated:
            quality.append(problem(condition, f"clinicalStatus {clinical} but abatement recorded on or before "
                                              f"{as_of.isoformat()}: read as ended"))
            return "history"
        return "active"
    return "active" if abated is False else "history"


def conditions(resources: list[dict[str, Any]], keys: dict[str, Requirement], as_of: date,
               quality: list[dict[str, Any]]) -> dict[str, Any]:
    """Conditions per key: active (or, for a history key, ever recorded), not refuted, already begun (earliest
    onset shown, every source referenced).

    A condition with no clinicalStatus and no abatement is read as active; when its key has a look-back, only
    if recorded within it (an undated status cannot stand for ever). A past condition of a history key counts
    within the key's look-back when it has one (a hypoglycaemia in the last 12 months).
    """
    found: dict[str, dict[str, Any]] = {}
    for condition in resources:
        state = _condition_state(condition, as_of, quality)
        if state is None:
            continue
        try:
            onset = effective(condition, "onsetDateTime", "onsetPeriod.start", "recordedDate")
        except ValueError as exc:
            quality.append(problem(condition, f"onset date not understood ({exc}): not used"))
            continue
        if onset and onset.day > as_of:
            continue
        status_given = _status(condition, "clinicalStatus") is not None
        for key, coding, how in _match(condition, keys):
            requirement = keys[key]
            if state == "history" and not requirement.history:
                continue
            if (not status_given or state == "history") and requirement.lookback and (
                    onset is None or onset.day < lookback_start(as_of, *requirement.lookback)):
                continue  # an undated status, or a past condition, counts only within the key's look-back
            onset_text = onset.day.isoformat() if onset else None
            entry = found.get(key)
            if entry is None or (entry["status"] == "history" and state == "active"):
                found[key] = {"code": coding.get("code"), "system": coding.get("system"),
                              "display": _display(coding, condition.get("code")), "onset": onset_text,
                              "status": state, "refs": [ref(condition)]}
                if how != "code":
                    found[key]["matchedBy"] = how
                continue
            if state != entry["status"]:
                continue
            entry["refs"].append(ref(condition))
            if onset_text and (entry["onset"] is None or onset_text < entry["onset"]):
                entry.update(code=coding.get("code"), system=coding.get("system"), onset=onset_text,
                             display=_display(coding, condition.get("code")))
    return found


def medications(resources: list[dict[str, Any]], medication_index: dict[str, dict[str, Any]],
                keys: dict[str, Requirement], as_of: date,
                quality: list[dict[str, Any]] | None = None) -> dict[str, list[dict[str, Any]]]:
    """Active MedicationRequests per class key (by value set, else by ingredient); unclassified ones under
    ``other``, and those whose ingredient could not be read at all named in ``quality``."""
    found: dict[str, list[dict[str, Any]]] = {}
    for request in resources:
        if request.get("status") != "active":
            continue
        authored = request.get("authoredOn")
        if isinstance(authored, str) and authored[:10] > as_of.isoformat():
            continue
        concept, refs = request.get("medicationCodeableConcept"), [ref(request)]
        reference = (request.get("medicationReference") or {}).get("reference")
        if concept is None and isinstance(reference, str):
            medication = medication_index.get(reference) or _contained(request, reference)
            if medication:
                concept = medication.get("code")
                if medication.get("id") and not reference.startswith("#"):
                    refs.append(ref(medication))
        concept = concept if isinstance(concept, dict) else None
        shown = _first_coding(concept)
        name = (concept or {}).get("text") or (reference if isinstance(reference, str) else None)
        matches = _match(request, keys, name=(concept or {}).get("text"), concept=concept or {})
        if not matches:
            if quality is not None and not _readable_medicine(concept):
                quality.append(problem(request, f"active medication {shown['display'] or name or 'without a name'!r}"
                                                " could not be classified (no RxNorm code or name carepath can "
                                                "read): the plan does not know whether it is one of the "
                                                "medicine classes its rules check"))
            matches = [(OTHER, {}, "")]
        for key, coding, how in matches:
            entry = {**shown, **{k: coding[k] for k in ("code", "system") if coding.get(k)},
                     "authoredOn": authored[:10] if isinstance(authored, str) else None, "refs": refs}
            if coding.get("display"):
                entry["display"] = coding["display"]
            if how and how != "code":
                entry["matchedBy"] = how
            found.setdefault(key, []).append(entry)
    return found


def _readable_medicine(concept: dict[str, Any] | None) -> bool:
    """True when a medicine is coded in RxNorm with a name its ingredients can be read from."""
    for coding in codings(concept):
        if isinstance(coding, dict) and system_of(coding.get("system")) == RXNORM and (
                rxnorm.moieties(coding.get("display"))):
            return True
    return False


def allergies(resources: list[dict[str, Any]], keys: dict[str, Requirement],
              quality: list[dict[str, Any]] | None = None) -> dict[str, list[dict[str, Any]]]:
    """AllergyIntolerances that are not refuted or entered in error, per key; unclassified under ``other``.

    A medicine allergy (category medication, or none) that matches no key and whose substance is not an RxNorm
    name carepath can read is named in ``quality``: it might be one the rules check.
    """
    found: dict[str, list[dict[str, Any]]] = {}
    for allergy in resources:
        if _status(allergy, "verificationStatus") in EXCLUDED_VERIFICATION:
            continue
        concept = allergy.get("code") if isinstance(allergy.get("code"), dict) else None
        entry = {**_first_coding(concept), "criticality": allergy.get("criticality"),
                 "clinicalStatus": _status(allergy, "clinicalStatus"), "refs": [ref(allergy)]}
        matches = _match(allergy, keys, name=(concept or {}).get("text"))
        if not matches:
            categories = allergy.get("category") if isinstance(allergy.get("category"), list) else []
            if quality is not None and (not categories or "medication" in categories) and \
                    not _readable_medicine(concept):
                quality.append(problem(allergy, f"allergy {entry['display'] or 'without a name'!r} could not be "
                                                "matched to the medicine classes the rules check (no RxNorm "
                                                "code or name carepath can read): verify it by hand"))
            matches = [(OTHER, {}, "")]
        for key, _coding, how in matches:
            found.setdefault(key, []).append({**entry, "matchedBy": how} if how and how != "code" else entry)
    return found


def events(resources: dict[str, list[dict[str, Any]]], keys: dict[str, dict[str, Requirement]], as_of: date,
           quality: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The latest event per key, on or before the evaluation date, from whichever resource records it:
    a completed Procedure, a final DiagnosticReport, an Encounter (its type or discharge disposition), or a
    final Observation of an event key. ``keys`` are the event keys per resource type."""
    found: dict[str, dict[str, Any]] = {}
    for resource_type, statuses in EVENT_STATUSES.items():
        wanted = keys.get(resource_type)
        if not wanted:
            continue
        for resource in resources.get(resource_type, []):
            if resource.get("status") not in statuses:
                continue
            matches = _match(resource, wanted)
            if not matches:
                continue
            try:
                when = effective(resource, *EVENT_DATES[resource_type])
            except ValueError as exc:
                quality.append(problem(resource, f"date not understood ({exc}): not used"))
                continue
            if when is None:
                quality.append(problem(resource, f"{resource_type} without a date: not used"))
                continue
            if when.day > as_of:
                continue
            for key, coding, _how in matches:
                known = found.get(key)
                if known is None or when.instant > known["_instant"]:
                    concept = value_at(resource, "code") if resource_type != "Encounter" else None
                    found[key] = {"code": coding.get("code"), "system": coding.get("system"),
                                  "display": _display(coding, concept if isinstance(concept, dict) else None),
                                  "date": when.day.isoformat(), "_instant": when.instant, "source": resource_type,
                                  "refs": [ref(resource)]}
    for entry in found.values():
        entry.pop("_instant")
    return found


def devices(resources: list[dict[str, Any]], keys: dict[str, Requirement]) -> dict[str, dict[str, Any]]:
    """Active Devices per key (a wheelchair or hospital bed in use is evidence of frailty), shaped as conditions."""
    found: dict[str, dict[str, Any]] = {}
    for device in resources:
        if device.get("status") not in ("active", None):
            continue
        for key, coding, _how in _match(device, keys):
            entry = found.setdefault(key, {"code": coding.get("code"), "system": coding.get("system"),
                                           "display": _display(coding, device.get("type")), "onset": None,
                                           "status": "active", "source": "Device", "refs": []})
            entry["refs"].append(ref(device))
    return found


def _contained(resource: dict[str, Any], reference: str) -> dict[str, Any] | None:
    if not reference.startswith("#"):
        return None
    return next((r for r in resource.get("contained") or [] if isinstance(r, dict) and r.get("id") == reference[1:]),
                None)
