"""Conditions, medications, allergies and procedures: status filters and grouping by fact key."""

from __future__ import annotations

from datetime import date
from typing import Any

from app.context.dates import EFFECTIVE_FIELDS, When, effective, lookback_start
from app.context.requirements import DEFAULT_PATHS, Criterion, Requirement
from app.context.resources import codings, problem, ref, value_at, value_field
from app.terminology import rxnorm
from app.terminology.codes import RXNORM, system_of
from app.terminology.valuesets import Concept

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
    "DeviceRequest": frozenset({"active", "completed"}),
}
EVENT_DATES = {
    "Procedure": ("performedDateTime", "performedPeriod.start"),
    "DiagnosticReport": ("effectiveDateTime", "effectivePeriod.start", "issued"),
    "Encounter": ("period.start", "period.end"),
    "Observation": EFFECTIVE_FIELDS,
    "ServiceRequest": ("occurrenceDateTime", "occurrencePeriod.start", "authoredOn"),
    "DeviceRequest": ("occurrenceDateTime", "occurrencePeriod.start", "authoredOn"),
}
#: Where an event recorded over a period ends: a period that overlaps the look-back counts.
EVENT_ENDS = {
    "Procedure": ("performedPeriod.end",), "DiagnosticReport": ("effectivePeriod.end",),
    "Encounter": ("period.end",), "Observation": ("effectivePeriod.end",),
    "ServiceRequest": ("occurrencePeriod.end",), "DeviceRequest": ("occurrencePeriod.end",),
}
#: An Encounter in one of these statuses without an end is still going on (it overlaps the evaluation date).
ONGOING_ENCOUNTER = frozenset({"in-progress", "onleave", "arrived"})
#: Request intents that are an order (FHIR R4 request-intent: ``order`` and its specialisations). A proposal or
#: a plan is not yet a decision; the eCQMs count ``order`` (QI-Core Status library, isInterventionOrder).
ORDER_INTENTS = frozenset({"order", "original-order", "reflex-order", "filler-order", "instance-order"})
#: Where a request says "do not do this": R4's ``doNotPerform`` element (MedicationRequest, ServiceRequest) or,
#: for DeviceRequest (which has no such element in R4), one of these extensions (the R4 core request extension,
#: the R5 cross-version extension and QI-Core's), as an extension or a modifierExtension.
DO_NOT_PERFORM_URLS = frozenset({
    "http://hl7.org/fhir/StructureDefinition/request-doNotPerform",
    "http://hl7.org/fhir/5.0/StructureDefinition/extension-DeviceRequest.doNotPerform",
    "http://hl7.org/fhir/us/qicore/StructureDefinition/qicore-doNotPerform",
})
#: QI-Core's extension holding the reason of a request not to do something (beside ``reasonCode``).
DO_NOT_PERFORM_REASON_URL = "http://hl7.org/fhir/us/qicore/StructureDefinition/qicore-doNotPerformReason"
#: Statuses of a request not to do something that still stand (draft, revoked/stopped/cancelled and
#: entered-in-error do not).
NOT_DONE_STATUSES = frozenset({"active", "completed", "on-hold"})
#: QI-Core 4.1.1: an event recorded as not done (Observation), and why.
NOT_DONE_URL = "http://hl7.org/fhir/us/qicore/StructureDefinition/qicore-notDone"
NOT_DONE_REASON_URL = "http://hl7.org/fhir/us/qicore/StructureDefinition/qicore-notDoneReason"


def _status(resource: dict[str, Any], field: str) -> str | None:
    return next((c.get("code") for c in codings(resource.get(field))), None)


def concepts_at(resource: dict[str, Any], path: str) -> list[dict[str, Any]]:
    """Every CodeableConcept at a dotted ``path``: each element of a list on the way (``Encounter.type``,
    ``reasonCode``, ``bodySite`` are 0..*), and a choice element by its CodeableConcept form (``value`` is
    ``valueCodeableConcept``, DeviceRequest ``code`` is ``codeCodeableConcept``)."""
    nodes: list[Any] = [resource]
    parts = path.split(".")
    for index, part in enumerate(parts):
        found: list[Any] = []
        for node in nodes:
            if not isinstance(node, dict):
                continue
            value = node.get(part)
            if value is None and index == len(parts) - 1:
                value = node.get(f"{part}CodeableConcept")
            found += value if isinstance(value, list) else [value]
        nodes = found
    # a Coding where a CodeableConcept usually stands (Encounter.class) is read as a concept of that one coding
    return [({"coding": [node]} if "coding" not in node and "code" in node else node)
            for node in nodes if isinstance(node, dict)]


def matching_ids(resources: list[dict[str, Any]], keys: dict[str, Requirement], key: str) -> frozenset[str]:
    """The ids of the resources that feed ``key`` (an Encounter in emergency or inpatient care)."""
    if key not in keys:
        return frozenset()
    wanted = {key: keys[key]}
    return frozenset(resource["id"] for resource in resources
                     if isinstance(resource.get("id"), str) and _match(resource, wanted))


def _at(resource: dict[str, Any], path: str, wanted: Concept, name: str | None,
        given: dict[str, Any] | None) -> tuple[dict[str, Any], str] | None:
    """The first coding at ``path`` that ``wanted`` recognises, and how (``given`` replaces a medicine's code)."""
    held = [given] if given is not None and path == "medication" else concepts_at(resource, path)
    for concept in held:
        for coding in codings(concept):
            how = wanted.match(coding, name)
            if how:
                return coding, how
    return None


def _criterion(resource: dict[str, Any], criterion: Criterion, default: str, name: str | None,
               given: dict[str, Any] | None) -> tuple[dict[str, Any], str, dict[str, dict[str, Any]]] | None:
    """(coding of the code element, how, {other path: its matching coding}) when every filter matches."""
    found: dict[str, tuple[dict[str, Any], str]] = {}
    for path, wanted in criterion.filters:
        hit = _at(resource, path, wanted, name, given)
        if hit is None:
            return None
        found.setdefault(path, hit)
    coding, how = found.pop(default)
    return coding, how, {path: hit[0] for path, hit in found.items()}


def _match(resource: dict[str, Any], keys: dict[str, Requirement], *, name: str | None = None,
           concept: dict[str, Any] | None = None) -> list[tuple[str, dict[str, Any], str, dict[str, Any]]]:
    """(key, matching coding, how, {other path: coding}) for every key the resource feeds: one of its codings at
    one of the key's paths (every element of a list), or all the filters of one of its criteria (an Observation's
    code and its coded answer). Criteria that recognise one side of a paired organ are read by :func:`sides`.

    ``concept`` replaces the resource's own code (a MedicationRequest's medication); ``name`` is the text a
    medicine is named by when its coding has no display (the ingredient fallback reads it).
    """
    found = []
    for key, requirement in keys.items():
        hit: tuple[dict[str, Any], str, dict[str, Any]] | None = None
        for path, wanted in requirement.concepts:
            single = _at(resource, path, wanted, name, concept)
            if single is not None:
                hit = (*single, {})
                break
        default = DEFAULT_PATHS.get(requirement.type, "code")
        for criterion in requirement.criteria if hit is None else ():
            if criterion.side is None:
                hit = _criterion(resource, criterion, default, name, concept)
                if hit is not None:
                    break
        if hit is not None:
            found.append((key, *hit))
    return found


def sides(resource: dict[str, Any], keys: dict[str, Requirement]) -> list[tuple[str, str, dict[str, Any]]]:
    """(key, side, coding) for every criterion recognising one side of a paired organ the resource records."""
    found = []
    for key, requirement in keys.items():
        default = DEFAULT_PATHS.get(requirement.type, "code")
        for criterion in requirement.criteria:
            hit = _criterion(resource, criterion, default, None, None) if criterion.side else None
            if hit is not None:
                found.append((key, criterion.side, hit[0]))
    return found


def do_not_perform(request: dict[str, Any]) -> bool:
    """True when a request says the thing is *not* to be done (``doNotPerform`` or its extension)."""
    if request.get("doNotPerform") is True:
        return True
    extensions = [*(request.get("modifierExtension") or []), *(request.get("extension") or [])]
    return any(isinstance(e, dict) and e.get("url") in DO_NOT_PERFORM_URLS and e.get("valueBoolean") is True
               for e in extensions)


def _is_order(request: dict[str, Any]) -> bool:
    return request.get("intent") in ORDER_INTENTS


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


def _readable_when(resource: dict[str, Any], *fields: str) -> When | None:
    """The first of ``fields`` that dates ``resource``; None when none does or the date cannot be read."""
    try:
        return effective(resource, *fields)
    except ValueError:
        return None


def _abatement_day(condition: dict[str, Any]) -> When | None:
    """When ``abatement[x]`` dates the end of a condition (None when it does not, or cannot be read)."""
    return _readable_when(condition, "abatementDateTime", "abatementPeriod.end", "abatementPeriod.start")


def _condition_state(condition: dict[str, Any], as_of: date) -> tuple[str | None, bool]:
    """(``active``, ``history`` (recorded, ended by ``as_of``) or None (refuted, entered in error), and whether the
    record contradicts itself: a clinicalStatus of active, recurrence or relapse with an abatement on or before
    ``as_of``, which FHIR's invariant con-4 forbids; it is read as ended unless the key is lifelong).

    FHIR R4: clinicalStatus may be absent (encounter diagnoses); then the condition stands unless
    ``abatement[x]`` ends it. A status of resolved whose abatement is after ``as_of`` was active on that date.
    """
    if _status(condition, "verificationStatus") in EXCLUDED_VERIFICATION:
        return None, False
    clinical = _status(condition, "clinicalStatus")
    abated = _abated(condition, as_of)
    if clinical is None:
        return ("history" if abated else "active"), False
    if clinical in ACTIVE_CLINICAL:
        return ("history", True) if abated else ("active", False)
    return ("active" if abated is False else "history"), False


def _contradiction(condition: dict[str, Any], as_of: date, lifelong: list[Requirement]) -> dict[str, Any]:
    """The dataQuality entry of a condition both active and abated: read as ended, or, for a lifelong key, kept
    active with a request to verify the record (``kind: contradiction``, which the plan shows as a warning)."""
    clinical = _status(condition, "clinicalStatus")
    ended = _abatement_day(condition)
    when = ended.day.isoformat() if ended else f"on or before {as_of.isoformat()}"
    if not lifelong:
        return problem(condition, f"clinicalStatus {clinical} but abatement recorded on or before "
                                  f"{as_of.isoformat()}: read as ended")
    names = " / ".join(r.name for r in lifelong)
    return {**problem(condition, f"{names}: recorded as {clinical} with an end ({when}), which FHIR does not allow "
                                 "(con-4); a lifelong condition is read as still present: please verify the record"),
            "kind": "contradiction", "key": lifelong[0].key, "date": ended.day.isoformat() if ended else None}


def conditions(resources: list[dict[str, Any]], keys: dict[str, Requirement], as_of: date,
               quality: list[dict[str, Any]]) -> dict[str, Any]:
    """Conditions per key: active (or, for a history key, ever recorded), not refuted, already begun (earliest
    onset shown, every source referenced).

    A condition with no clinicalStatus and no abatement is read as active; when its key has a look-back, only
    if recorded within it (an undated status cannot stand for ever). A past condition of a history key counts
    when it overlaps the key's look-back (it began, or ended, within it: a hypoglycaemia in the last 12 months).
    A lifelong key's condition recorded as active with a past abatement stays active (``conflict`` says why).
    """
    found: dict[str, dict[str, Any]] = {}
    for condition in resources:
        state, conflicted = _condition_state(condition, as_of)
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
        matches = _match(condition, keys)
        conflict = None
        if conflicted:
            conflict = _contradiction(condition, as_of, [keys[key] for key, *_rest in matches if keys[key].lifelong])
            quality.append(conflict)
        ended = _abatement_day(condition) if state == "history" else None
        last = ended or onset
        for key, coding, how, _other in matches:
            requirement = keys[key]
            key_state = "active" if conflicted and requirement.lifelong else state
            if key_state == "history" and not requirement.history:
                continue
            if (not status_given or key_state == "history") and requirement.lookback and (
                    last is None or last.day < lookback_start(as_of, *requirement.lookback)):
                continue  # an undated status, or a past condition, counts only when it overlaps the look-back
            _add_condition(found, key, condition, coding, how, onset, key_state,
                           conflict["problem"] if conflict and requirement.lifelong else None)
    return found


def _add_condition(found: dict[str, dict[str, Any]], key: str, condition: dict[str, Any], coding: dict[str, Any],
                   how: str, onset: When | None, state: str, conflict: str | None) -> None:
    onset_text = onset.day.isoformat() if onset else None
    entry = found.get(key)
    if entry is None or (entry["status"] == "history" and state == "active"):
        found[key] = {"code": coding.get("code"), "system": coding.get("system"),
                      "display": _display(coding, condition.get("code")), "onset": onset_text,
                      "status": state, "refs": [ref(condition)]}
        if how != "code":
            found[key]["matchedBy"] = how
        if conflict:
            found[key]["conflict"] = conflict
        return
    if state != entry["status"]:
        return
    entry["refs"].append(ref(condition))
    if conflict and "conflict" not in entry:
        entry["conflict"] = conflict
    if onset_text and (entry["onset"] is None or onset_text < entry["onset"]):
        entry.update(code=coding.get("code"), system=coding.get("system"), onset=onset_text,
                     display=_display(coding, condition.get("code")))


def medications(resources: list[dict[str, Any]], medication_index: dict[str, dict[str, Any]],
                keys: dict[str, Requirement], as_of: date,
                quality: list[dict[str, Any]] | None = None) -> dict[str, list[dict[str, Any]]]:
    """Active MedicationRequests per class key (by value set, else by ingredient); unclassified ones under
    ``other``, and those whose ingredient could not be read at all named in ``quality``. For a key that says so
    (``Requirement.completed``), an order completed within that time counts too, marked ``status: completed``."""
    found: dict[str, list[dict[str, Any]]] = {}
    for request in resources:
        status = request.get("status")
        if status not in ("active", "completed") or not _is_order(request) or do_not_perform(request):
            continue  # a proposal or plan is not a prescription; an order not to give it is read by not_done
        authored = request.get("authoredOn")
        if isinstance(authored, str) and authored[:10] > as_of.isoformat():
            continue
        concept, refs, reference = _medicine(request, medication_index)
        shown = _first_coding(concept)
        name = (concept or {}).get("text") or (reference if isinstance(reference, str) else None)
        matches = _match(request, keys, name=(concept or {}).get("text"), concept=concept or {})
        if status == "completed":
            matches = [match for match in matches if _recent_completed(keys.get(match[0]), authored, as_of)]
        elif not matches:
            if quality is not None and not _readable_medicine(concept):
                quality.append(problem(request, f"active medication {shown['display'] or name or 'without a name'!r}"
                                                " could not be classified (no RxNorm code or name carepath can "
                                                "read): the plan does not know whether it is one of the "
                                                "medicine classes its rules check"))
            matches = [(OTHER, {}, "", {})]
        for key, coding, how, _other in matches:
            entry = {**shown, **{k: coding[k] for k in ("code", "system") if coding.get(k)},
                     "authoredOn": authored[:10] if isinstance(authored, str) else None, "refs": refs}
            if coding.get("display"):
                entry["display"] = coding["display"]
            if how and how != "code":
                entry["matchedBy"] = how
            if status == "completed":
                entry.update(status="completed", note="a completed order: confirm the patient still takes it")
            found.setdefault(key, []).append(entry)
    for key, entries in found.items():
        if any(entry.get("status") != "completed" for entry in entries):  # an active order is the therapy
            found[key] = [entry for entry in entries if entry.get("status") != "completed"]
    return found


def _recent_completed(requirement: Requirement | None, authored: Any, as_of: date) -> bool:
    """True when a completed order counts for its key: the key says so (``completed``) and the order was written
    within that time (an undated one never counts)."""
    within = requirement.completed if requirement is not None else None
    if within is None or not isinstance(authored, str):
        return False
    try:
        return date.fromisoformat(authored[:10]) >= lookback_start(as_of, *within)
    except ValueError:
        return False


def _medicine(request: dict[str, Any], medication_index: dict[str, dict[str, Any]]) -> tuple[
        dict[str, Any] | None, list[dict[str, Any]], str | None]:
    """A MedicationRequest's medicine: its concept (inline, referenced or contained), the references to cite
    (the request, and a referenced Medication), and the reference itself."""
    concept, refs = request.get("medicationCodeableConcept"), [ref(request)]
    reference = (request.get("medicationReference") or {}).get("reference")
    if concept is None and isinstance(reference, str):
        medication = medication_index.get(reference) or _contained(request, reference)
        if medication:
            concept = medication.get("code")
            if medication.get("id") and not reference.startswith("#"):
                refs.append(ref(medication))
    return (concept if isinstance(concept, dict) else None), refs, (reference if isinstance(reference, str) else None)


def _readable_medicine(concept: dict[str, Any] | None) -> bool:
    """True when a medicine is coded in RxNorm with a name its ingredients can be read from."""
    for coding in codings(concept):
        if isinstance(coding, dict) and system_of(coding.get("system")) == RXNORM and (
                rxnorm.moieties(coding.get("display"))):
            return True
    return False


def allergies(resources: list[dict[str, Any]], keys: dict[str, Requirement],
              quality: list[dict[str, Any]] | None = None,
              as_of: date | None = None) -> dict[str, list[dict[str, Any]]]:
    """AllergyIntolerances that are not refuted or entered in error, per key; unclassified under ``other``.

    One whose onset (or, without one, its recording) is after ``as_of`` is not yet known on that date. A medicine
    allergy (category medication, or none) that matches no key and whose substance is not an RxNorm name carepath
    can read is named in ``quality``: it might be one the rules check.
    """
    found: dict[str, list[dict[str, Any]]] = {}
    for allergy in resources:
        if _status(allergy, "verificationStatus") in EXCLUDED_VERIFICATION or _after(allergy, as_of):
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
            matches = [(OTHER, {}, "", {})]
        for key, _coding, how, _other in matches:
            found.setdefault(key, []).append({**entry, "matchedBy": how} if how and how != "code" else entry)
    return found


def events(resources: dict[str, list[dict[str, Any]]], keys: dict[str, dict[str, Requirement]], as_of: date,
           quality: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The latest event per key, on or before the evaluation date, from whichever resource records it:
    a completed Procedure, a final DiagnosticReport, an Encounter (its type, discharge disposition or reason), a
    final Observation of an event key (with its coded answer when the key asks for one), or an order (a
    ServiceRequest or DeviceRequest, active or completed, intent order, not ``doNotPerform``). ``keys`` are the
    event keys per resource type.

    An event recorded over a period keeps its start as ``date`` and its end as ``end`` (``ongoing`` for an
    Encounter still going on): the latest is the one that ended last, and it is within a look-back it overlaps.
    """
    found: dict[str, dict[str, Any]] = {}
    for resource_type, statuses in EVENT_STATUSES.items():
        wanted = keys.get(resource_type)
        if not wanted:
            continue
        for resource in resources.get(resource_type, []):
            if resource.get("status") not in statuses:
                continue
            if resource_type.endswith("Request") and (not _is_order(resource) or do_not_perform(resource)):
                continue
            matches = _match(resource, wanted)
            if not matches:
                continue
            span = _span(resource, resource_type, as_of, quality)
            if span is None:
                continue
            when, end, ongoing = span
            last = end or when
            for key, coding, _how, other in matches:
                if resource_type == "Encounter" and _discharged(resource, coding, as_of) is False:
                    continue  # discharged to hospice after the evaluation date: not yet
                if wanted[key].resulted and not resulted(resource):
                    continue  # a test recorded without a result was not resulted
                known = found.get(key)
                if known is None or last.instant > known["_instant"]:
                    concept = value_at(resource, "code") if resource_type != "Encounter" else None
                    found[key] = {"code": coding.get("code"), "system": coding.get("system"),
                                  "display": _display(coding, concept if isinstance(concept, dict) else None),
                                  "date": when.day.isoformat(), "_instant": last.instant, "source": resource_type,
                                  "refs": [ref(resource)]}
                    if end is not None and end.day != when.day:
                        found[key]["end"] = end.day.isoformat()
                    if ongoing:
                        found[key]["ongoing"] = True
                    if "value" in other:
                        found[key]["answer"] = {k: other["value"].get(k) for k in ("code", "system", "display")}
    for entry in found.values():
        entry.pop("_instant")
    return found


def resulted(observation: dict[str, Any]) -> bool:
    """True when an Observation holds a result: a ``value[x]`` of any type (a quantity, a code, a boolean, a
    text...) or a component with one, and no ``dataAbsentReason`` saying why the value is missing (FHIR R4)."""
    if observation.get("dataAbsentReason"):
        return False
    holders = [observation, *(c for c in observation.get("component") or () if isinstance(c, dict))]
    return any(value_field(node) for node in holders if not node.get("dataAbsentReason"))


def _discharged(encounter: dict[str, Any], coding: dict[str, Any], as_of: date) -> bool | None:
    """None when ``coding`` is not the Encounter's discharge disposition; else whether the discharge (the end of the
    stay) took place on or before ``as_of`` (a stay without an end has not been discharged)."""
    dispositions = [c for concept in concepts_at(encounter, "hospitalization.dischargeDisposition")
                    for c in codings(concept)]
    if not any(c is coding for c in dispositions):
        return None
    try:
        end = effective(encounter, *EVENT_ENDS["Encounter"])
    except ValueError:
        return False
    return end is not None and end.day <= as_of


def _span(resource: dict[str, Any], resource_type: str, as_of: date,
          quality: list[dict[str, Any]]) -> tuple[When, When | None, bool] | None:
    """(start, end or None, still going on) of an event that began on or before ``as_of``; None (named in
    ``quality`` when its date cannot be read) otherwise."""
    try:
        when = effective(resource, *EVENT_DATES[resource_type])
        end = effective(resource, *EVENT_ENDS[resource_type])
    except ValueError as exc:
        quality.append(problem(resource, f"date not understood ({exc}): not used"))
        return None
    if when is None:
        quality.append(problem(resource, f"{resource_type} without a date: not used"))
        return None
    if when.day > as_of:
        return None
    if resource_type == "Encounter":
        ongoing = end is None and resource.get("status") in ONGOING_ENCOUNTER
    else:  # FHIR R4 Period: "If the end of the period is missing, it means that the period is ongoing"
        ongoing = end is None and any(_open_period(resource, path.partition(".")[0])
                                      for path in EVENT_ENDS.get(resource_type, ()))
    return when, end, ongoing


def _open_period(resource: dict[str, Any], field: str) -> bool:
    """True when ``field`` is a Period with a start and no end."""
    period = resource.get(field)
    return isinstance(period, dict) and bool(period.get("start")) and not period.get("end")


def not_done(resources: dict[str, list[dict[str, Any]]], keys: dict[str, dict[str, Requirement]],
             medication_index: dict[str, dict[str, Any]], as_of: date) -> dict[str, dict[str, Any]]:
    """Per key, the latest record *not* to do something (a MedicationRequest, ServiceRequest or DeviceRequest
    with ``doNotPerform``: an order, still standing; an Observation recorded as not done, QI-Core's notDone), with
    its reasons: ``{display, date, reasons, refs}``.

    It is never evidence of the thing itself. ``keys`` are the not-done keys per resource type.
    """
    found: dict[str, dict[str, Any]] = {}
    for resource_type, wanted in keys.items():
        for request in resources.get(resource_type, []):
            if not _not_done(request, resource_type):
                continue
            concept, refs = None, [ref(request)]
            if resource_type == "MedicationRequest":
                concept, refs, _reference = _medicine(request, medication_index)
            when = _readable_when(request, "authoredOn", "occurrenceDateTime", "occurrencePeriod.start",
                                  *EFFECTIVE_FIELDS, "issued")
            if when is not None and when.day > as_of:
                continue
            day = when.day.isoformat() if when else None
            for key, coding, _how, _other in _match(request, wanted, name=(concept or {}).get("text"),
                                                   concept=concept if resource_type == "MedicationRequest" else None):
                known = found.get(key)
                if known is not None and (known["date"] or "") >= (day or ""):
                    continue
                shown = concept if concept is not None else value_at(request, "code")
                found[key] = {"display": _display(coding, shown if isinstance(shown, dict) else None),
                              "date": day, "reasons": _reasons(request), "refs": refs}
    return found


def _not_done(resource: dict[str, Any], resource_type: str) -> bool:
    """True for a standing order not to do something, or an Observation recorded as not done: QI-Core's notDone
    modifier, or its notDoneReason (not for an entry in error)."""
    if resource_type == "Observation":
        if resource.get("status") == "entered-in-error":
            return False
        return any(isinstance(e, dict) and e.get("url") == NOT_DONE_URL and e.get("valueBoolean") is True
                   for e in resource.get("modifierExtension") or []) or any(
            isinstance(e, dict) and e.get("url") == NOT_DONE_REASON_URL for e in resource.get("extension") or [])
    return do_not_perform(resource) and resource.get("status") in NOT_DONE_STATUSES and _is_order(resource)


def _reasons(request: dict[str, Any]) -> list[dict[str, Any]]:
    """The codings of a request's ``reasonCode`` and of QI-Core's doNotPerformReason and notDoneReason."""
    concepts = concepts_at(request, "reasonCode") + [
        e.get("valueCodeableConcept") for e in request.get("extension") or []
        if isinstance(e, dict) and e.get("url") in (DO_NOT_PERFORM_REASON_URL, NOT_DONE_REASON_URL)]
    found = []
    for concept in concepts:
        for coding in codings(concept):
            found.append({"code": coding.get("code"), "system": coding.get("system"),
                          "display": coding.get("display") or (concept or {}).get("text")})
        if not codings(concept) and isinstance(concept, dict) and concept.get("text"):
            found.append({"code": None, "system": None, "display": concept["text"]})
    return found


def both_sides(resources: dict[str, list[dict[str, Any]]], keys: dict[str, dict[str, Requirement]],
               as_of: date) -> dict[str, dict[str, Any]]:
    """Per key, a condition made of two unilateral records, one of each side (a left and a right mastectomy,
    each coded by side or by a body site): shaped as a past condition (``matchedBy: laterality``), dated by the
    later of the two."""
    hits: dict[str, dict[str, list[tuple[str | None, dict[str, Any], dict[str, Any]]]]] = {}
    for resource_type in ("Condition", "Procedure"):
        sided = {key: r for key, r in keys.get(resource_type, {}).items() if any(c.side for c in r.criteria)}
        for resource in resources.get(resource_type, []) if sided else ():
            day = _sided_day(resource, resource_type, as_of)
            if day is False:
                continue
            for key, side, coding in sides(resource, sided):
                hits.setdefault(key, {}).setdefault(side, []).append((day, resource, coding))
    found = {}
    for key, by_side in hits.items():
        if not {"left", "right"} <= set(by_side):
            continue
        chosen = [max(by_side[side], key=lambda hit: hit[0] or "") for side in ("left", "right")]
        days = [day for day, _resource, _coding in chosen if day]
        found[key] = {"code": None, "system": None, "onset": max(days) if days else None, "status": "history",
                      "display": "; ".join(f"{side}: {_display(coding, None) or coding.get('code')}"
                                           for side, (_day, _resource, coding) in zip(("left", "right"), chosen,
                                                                                       strict=True)),
                      "matchedBy": "laterality", "refs": [ref(resource) for _day, resource, _coding in chosen]}
    return found


def _sided_day(resource: dict[str, Any], resource_type: str, as_of: date) -> str | bool | None:
    """The day a one-sided record dates from (None when undated), or False when it does not count (refuted, not
    completed, or after ``as_of``)."""
    try:
        if resource_type == "Condition":
            if _condition_state(resource, as_of)[0] is None:
                return False
            when = effective(resource, "onsetDateTime", "onsetPeriod.start", "recordedDate")
        else:
            if resource.get("status") != "completed":
                return False
            when = effective(resource, *EVENT_DATES["Procedure"])
    except ValueError:
        return None
    if when is not None and when.day > as_of:
        return False
    return when.day.isoformat() if when else None


def adverse_events(resources: list[dict[str, Any]], keys: dict[str, Requirement],
                   as_of: date) -> dict[str, list[dict[str, Any]]]:
    """AdverseEvents that happened (``actuality`` actual, or none given) on or before ``as_of``, per key, shaped as
    allergies (``source: AdverseEvent``): an adverse reaction to a medicine class is read as an intolerance of it.
    A potential event (a near miss) is not; an event dated after the plan date is not yet known."""
    found: dict[str, list[dict[str, Any]]] = {}
    for event in resources:
        if event.get("actuality") not in (None, "actual"):
            continue
        when = _readable_when(event, "date", "recordedDate", "detected")
        if when is not None and when.day > as_of:
            continue
        concept = event.get("event") if isinstance(event.get("event"), dict) else None
        for key, coding, how, _other in _match(event, keys, name=(concept or {}).get("text")):
            entry = {"code": coding.get("code"), "system": coding.get("system"),
                     "display": _display(coding, concept), "criticality": None, "clinicalStatus": "active",
                     "source": "AdverseEvent", "date": when.day.isoformat() if when else None, "refs": [ref(event)]}
            found.setdefault(key, []).append({**entry, "matchedBy": how} if how and how != "code" else entry)
    return found


def devices(resources: list[dict[str, Any]], keys: dict[str, Requirement]) -> dict[str, dict[str, Any]]:
    """Active Devices per key (a wheelchair or hospital bed in use is evidence of frailty), shaped as conditions."""
    found: dict[str, dict[str, Any]] = {}
    for device in resources:
        if device.get("status") not in ("active", None):
            continue
        for key, coding, _how, _other in _match(device, keys):
            entry = found.setdefault(key, {"code": coding.get("code"), "system": coding.get("system"),
                                           "display": _display(coding, device.get("type")), "onset": None,
                                           "status": "active", "source": "Device", "refs": []})
            entry["refs"].append(ref(device))
    return found


def _after(allergy: dict[str, Any], as_of: date | None) -> bool:
    """True when an allergy's onset, or else its recorded date, is after ``as_of`` (an unreadable date is not)."""
    began = _readable_when(allergy, "onsetDateTime", "onsetPeriod.start", "recordedDate") if as_of else None
    return began is not None and began.day > as_of


def _contained(resource: dict[str, Any], reference: str) -> dict[str, Any] | None:
    if not reference.startswith("#"):
        return None
    return next((r for r in resource.get("contained") or [] if isinstance(r, dict) and r.get("id") == reference[1:]),
                None)
