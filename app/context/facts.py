"""The pure core: a patient's FHIR resources + data requirements + evaluation date -> facts (docs/facts.md).

No HTTP and no clock: the same resources and date always give the same facts, offline.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any

from app.context import clinical, pediatric
from app.context.dates import age_on, describe_lookback, lookback_start, parse_when
from app.context.derived import blood_pressure, chronicity, polyp_findings, scores
from app.context.diagnoses import acute_kidney, hypertension_by_readings, hypertension_treatment
from app.context.observations import BP_AVERAGE_KEY, GENOMIC_KEYS, SERIES_LIMIT, ObservationReader, Reading
from app.context.repair import readable
from app.context.requirements import Requirement, RequirementSet, lookback_days, merge
from app.context.resources import codings, problem, ref, reference_id, subject_id, usable
from app.context.units import UNITS

US_CORE_RACE = "http://hl7.org/fhir/us/core/StructureDefinition/us-core-race"
_DEFAULT_NAMES = {"sbp": "systolic blood pressure", "dbp": "diastolic blood pressure"}
#: The Encounter key of emergency and inpatient care (docs/facts.md, fixed keys): a BP taken there is not an office
#: reading.
ACUTE_CARE_KEY = "acute_care"


def facts_from_resources(resources: Iterable[dict[str, Any]], requirements: Iterable[Requirement],
                         as_of: date | str, *, reader: ObservationReader | None = None) -> dict[str, Any]:
    """Facts for the (first) Patient among ``resources``, as of ``as_of``.

    ``reader`` may bring Observations already read for the same keys and date (the fetch prepares them while
    other answers are in flight); the facts are the same without it.
    """
    as_of = date.fromisoformat(as_of) if isinstance(as_of, str) else as_of
    wanted = merge(requirements)
    keys = wanted.measures()
    kept, quality, observations = usable(list(resources), defer={"Observation"})
    patients = [r for r in kept if r["resourceType"] == "Patient"]
    patient = patients[0] if patients else None
    by_type: dict[str, list[dict[str, Any]]] = {}
    for resource in kept:
        owner = subject_id(resource)
        if patient is not None and owner is not None and owner != patient.get("id"):
            continue  # another patient's data in the same Bundle is never mixed in
        by_type.setdefault(resource["resourceType"], []).append(resource)

    if patient is not None:
        observations = [o for o in observations if subject_id(o) in (None, patient.get("id"))]
    facts: dict[str, Any] = {"asOf": as_of.isoformat(), "patient": _patient(patient, as_of, quality)}
    if reader is None or not reader.serves(keys, as_of):
        reader = ObservationReader(keys, as_of)
    found = _observation_readings(observations, reader, quality)

    averages = found.pop(BP_AVERAGE_KEY, [])  # read into ``bp.outOfOffice``, not a measure of its own
    facts["measures"] = {key: _measure(key, series, keys.get(key), as_of) for key, series in sorted(found.items())}
    quality += _same_day_conflicts(found, keys)
    acute_encounters = clinical.matching_ids(by_type.get("Encounter", []), wanted.of("Encounter"), ACUTE_CARE_KEY)
    acute = frozenset(observation.get("id") for observation in observations
                      if reference_id(observation.get("encounter"), "Encounter") in acute_encounters) \
        if acute_encounters else frozenset()
    bp_since = _bp_since(keys, as_of)
    facts["bp"] = blood_pressure(found.get("sbp", []), found.get("dbp", []), bp_since, acute)
    out_of_office = _out_of_office(averages, bp_since)
    if out_of_office:
        facts["bp"]["outOfOffice"] = out_of_office
    medication_index = {f"Medication/{m['id']}": m for m in by_type.get("Medication", [])}
    medication_index.update({f"urn:uuid:{m['id']}": m for m in by_type.get("Medication", [])})
    facts["conditions"] = clinical.conditions(by_type.get("Condition", []), wanted.of("Condition"), as_of, quality)
    for key, entry in clinical.devices(by_type.get("Device", []), wanted.of("Device")).items():
        facts["conditions"].setdefault(key, entry)
    sided = {t: wanted.of(t) for t in ("Condition", "Procedure")}
    for key, entry in clinical.both_sides(by_type, sided, as_of).items():
        facts["conditions"].setdefault(key, entry)
    facts["medications"] = clinical.medications(by_type.get("MedicationRequest", []), medication_index,
                                                wanted.of("MedicationRequest"), as_of, quality)
    _implied(facts, wanted.of("MedicationRequest"), "medications")
    refused = {t: wanted.not_done(t) for t in ("MedicationRequest", "ServiceRequest", "DeviceRequest", "Observation")}
    facts["not_done"] = clinical.not_done({**by_type, "Observation": observations},
                                          {t: k for t, k in refused.items() if k}, medication_index, as_of)
    facts["allergies"] = clinical.allergies(by_type.get("AllergyIntolerance", []), wanted.of("AllergyIntolerance"),
                                            quality, as_of)
    for key, entries in clinical.adverse_events(by_type.get("AdverseEvent", []), wanted.of("AdverseEvent"),
                                                as_of).items():
        facts["allergies"].setdefault(key, []).extend(entries)
    facts["prescribed"] = prescriptions(facts["medications"], as_of)
    event_keys = wanted.events()
    if "Observation" in event_keys:
        by_type["Observation"] = _event_observations(observations, event_keys["Observation"], quality)
    facts["procedures"] = clinical.events(by_type, event_keys, as_of, quality)
    for key, entry in facts["procedures"].items():
        _recency(entry, _event_requirement(event_keys, key), as_of)
    _implied(facts, wanted.of("Procedure"), "procedures")
    facts["smoking"] = _smoking(facts["measures"].get("smoking"))
    missing: list[dict[str, str]] = []
    facts["scores"] = scores(facts, wanted, missing)
    pediatric.add_scores(facts, missing)
    chronicity(facts)
    polyp_findings(facts)
    hypertension_by_readings(facts)
    hypertension_treatment(facts)
    acute_kidney(facts, found.get("creatinine", []))
    conflict = facts["scores"].get("egfr", {}).get("conflict")
    if conflict:
        quality.append({"ref": facts["scores"]["egfr"]["refs"][0], "problem": conflict["message"]})
    facts["missing"] = _missing(facts, wanted) + missing
    facts["dataQuality"] = sorted(quality, key=lambda q: (q["ref"]["type"] or "", str(q["ref"]["id"]), q["problem"]))
    return facts


#: Keys measured several times a day by design (the guideline averages them): not a conflict.
_REPEATED_BY_DESIGN = frozenset({"sbp", "dbp"})


def _same_day_conflicts(found: dict[str, list[Reading]], keys: dict[str, Requirement]) -> list[dict[str, Any]]:
    """A data-quality entry when the results of a key on the day its latest result comes from disagree (two labs,
    or units that do not convert to the same value): shown, never resolved silently. The latest is used."""
    problems = []
    for key, series in found.items():
        if key in _REPEATED_BY_DESIGN or not series or series[0].value is None:
            continue
        day = series[0].when.day
        same_day = [r for r in series if r.when.day == day and r.value is not None]
        if len({round(r.value, 2) for r in same_day}) < 2:
            continue
        unit = UNITS[key].display if key in UNITS else (series[0].unit or "")
        name = keys[key].name if key in keys else key
        values = ", ".join(f"{r.value:g}" for r in sorted(same_day, key=lambda r: r.when.instant))
        problems.append({"ref": series[0].ref, "problem": f"{name}: {len(same_day)} results on {day.isoformat()} "
                                                          f"disagree ({values} {unit}); the latest "
                                                          f"({series[0].value:g}) is used; please verify"})
    return problems


def prescriptions(medications: dict[str, list[dict[str, Any]]], as_of: date) -> dict[str, dict[str, Any]]:
    """Per medicine class, the latest prescription date of its active orders (a start, a dose change or a renewal:
    the record does not say which) and how many days before the evaluation date it was."""
    found: dict[str, dict[str, Any]] = {}
    for key, entries in medications.items():
        dated = [e for e in entries if e.get("authoredOn")]
        if key == "other" or not dated:
            continue
        latest = max(dated, key=lambda e: e["authoredOn"])
        try:
            days = (as_of - date.fromisoformat(latest["authoredOn"])).days
        except ValueError:
            continue
        found[key] = {"date": latest["authoredOn"], "daysAgo": days, "display": latest.get("display"),
                      "refs": latest["refs"]}
    return found


def _out_of_office(averages: list[Reading], since: date | None) -> dict[str, Any] | None:
    """The latest out-of-office BP average (self-measured or ambulatory) within the BP look-back, or None."""
    usable = [r for r in averages if r.extra.get("setting") and (since is None or r.when.day >= since)]
    if not usable:
        return None
    latest = max(usable, key=lambda r: r.when.instant)
    return {"sbp": latest.value, "dbp": latest.extra.get("dbp"), "date": latest.when.day.isoformat(),
            "setting": latest.extra["setting"], "refs": [latest.ref]}


def _bp_since(keys: dict[str, Requirement], as_of: date) -> date | None:
    """The first day a BP reading counts from: the shortest look-back of the BP keys (none: any reading)."""
    lookbacks = [keys[k].lookback for k in ("sbp", "dbp", "bp_panel") if k in keys and keys[k].lookback]
    if not lookbacks:
        return None
    return max(lookback_start(as_of, *lookback) for lookback in lookbacks)


def _event_observations(observations: list[dict[str, Any]], keys: dict[str, Requirement],
                        quality: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The Observations that may record an event key, validated (the others are validated only if read)."""
    found = []
    for observation in observations:
        if not any(r.code_matches(c) for r in keys.values() for c in codings(observation.get("code"))):
            continue
        used, faults = readable(observation)
        quality += [problem(observation, fault) for fault in faults]
        if used is not None:
            found.append(used)
    return found


def _event_requirement(event_keys: dict[str, dict[str, Requirement]], key: str) -> Requirement | None:
    """The requirement of an event key (the shortest look-back when several types feed it)."""
    found = [keys[key] for keys in event_keys.values() if key in keys]
    with_lookback = [r for r in found if r.lookback]
    return min(with_lookback, key=lambda r: lookback_days(r.lookback)) if with_lookback else (found or [None])[0]


def _observation_readings(observations: list[dict[str, Any]], reader: ObservationReader,
                          quality: list[dict[str, Any]]) -> dict[str, list[Reading]]:
    """Readings per key, newest first, at most SERIES_LIMIT per key (:meth:`ObservationReader.gather` over
    every Observation, newest first)."""
    dated = [(reader.triage(observation)[0], observation) for observation in observations]
    dated.sort(key=lambda item: (item[0] is None, -(item[0] or 0.0)))
    found, problems = reader.gather(observation for _instant, observation in dated)
    quality += problems
    for series in found.values():
        series.sort(key=lambda r: r.when.instant, reverse=True)
    return found


def _patient(patient: dict[str, Any] | None, as_of: date, quality: list[dict[str, Any]]) -> dict[str, Any]:
    if patient is None:
        return {"id": None, "ageYears": None, "sex": "unknown", "birthDate": None, "race": "unknown", "refs": []}
    birth = None
    try:
        when = parse_when(patient.get("birthDate"))
        birth = when.day if when else None
    except ValueError:
        quality.append(problem(patient, "birthDate not understood: age unknown"))
    return {"id": patient.get("id"), "ageYears": age_on(birth, as_of) if birth else None,
            "sex": patient.get("gender") or "unknown", "birthDate": birth.isoformat() if birth else None,
            "race": _race(patient), "refs": [ref(patient)]}


def _race(patient: dict[str, Any]) -> str:
    categories = set()
    for extension in patient.get("extension") or []:
        if extension.get("url") == US_CORE_RACE:
            for part in extension.get("extension") or []:
                if part.get("url") == "ombCategory":
                    categories.add((part.get("valueCoding") or {}).get("code"))
    if "2054-5" in categories:
        return "black"
    if "2106-3" in categories:
        return "white"
    return "other" if categories - {None, "UNK", "ASKU"} else "unknown"


def _implied(facts: dict[str, Any], keys: dict[str, Requirement], section: str) -> None:
    """A condition that a medicine class or a procedure is evidence of (``fact-implies``: a dementia medicine of
    advanced illness, a coronary revascularization of clinical ASCVD), when no Condition records it: ``source``
    the key's resource type, ``impliedBy`` the key, dated by its earliest record, citing every one."""
    for key, requirement in keys.items():
        found = facts[section].get(key)
        if not requirement.implies or not found:
            continue
        records = found if isinstance(found, list) else [found]  # medicines are lists, events one entry
        first = min(records, key=lambda entry: entry.get("authoredOn") or entry.get("date") or "")
        facts["conditions"].setdefault(requirement.implies, {
            "code": first.get("code"), "system": first.get("system"), "display": first.get("display"),
            "onset": first.get("authoredOn") or first.get("date"), "status": "active", "source": requirement.type,
            "impliedBy": key, "refs": [r for entry in records for r in entry.get("refs") or []]})


def _recency(entry: dict[str, Any], requirement: Requirement | None, as_of: date) -> None:
    """``daysAgo`` and ``withinLookback`` from the entry's last day: its ``end`` when it spans a period (a period
    that overlaps the look-back counts), the evaluation date while it is ``ongoing``, else its ``date``."""
    last = as_of if entry.get("ongoing") else date.fromisoformat(entry.get("end") or entry["date"])
    day = min(last, as_of)
    entry["daysAgo"] = (as_of - day).days
    lookback = requirement.lookback if requirement else None
    entry["withinLookback"] = lookback is None or day >= lookback_start(as_of, *lookback)


def _measure(key: str, series: list[Reading], requirement: Requirement | None, as_of: date) -> dict[str, Any]:
    latest = series[0]
    if key in GENOMIC_KEYS:
        phenotyped = next((r for r in series if r.extra.get("phenotype")), None)
        genotyped = next((r for r in series if r.extra.get("genotype")), None)
        chosen = phenotyped or latest
        entry: dict[str, Any] = {"valueCode": chosen.coded, "phenotype": chosen.extra.get("phenotype", "unknown"),
                                 "date": chosen.when.day.isoformat(), "code": chosen.code, "refs": [chosen.ref]}
        if genotyped:
            entry["genotype"] = genotyped.extra["genotype"]
            if genotyped is not chosen:
                entry["refs"].append(genotyped.ref)
        _recency(entry, requirement, as_of)
        return entry
    entry = {"date": latest.when.day.isoformat(), "code": latest.code, "refs": [latest.ref]}
    if latest.coded is not None:
        entry = {"valueCode": latest.coded, **entry}
    else:
        entry = {"value": latest.value, "unit": UNITS[key].display if key in UNITS else latest.unit, **entry}
        if latest.extra.get("comparator"):
            entry["comparator"] = latest.extra["comparator"]
        recent = series[:SERIES_LIMIT]
        entry["series"] = [{"date": r.when.day.isoformat(), "value": r.value, "ref": r.ref,
                            **({"comparator": r.extra["comparator"]} if r.extra.get("comparator") else {})}
                           for r in reversed(recent)]
    _recency(entry, requirement, as_of)
    if entry.get("value") is not None and entry["withinLookback"]:
        entry["recentValue"] = entry["value"]  # what staging and treatment rules compare: never a stale value
    return entry


# SNOMED CT findings of the NHIS smoking status value set used with LOINC 72166-2 (US Core smoking status).
_SMOKING = {
    "449868002": "current", "428041000124106": "current", "77176002": "current", "428071000124103": "current",
    "428061000124105": "current", "8517006": "former", "266919005": "never", "266927001": "unknown",
}


def _smoking(measure: dict[str, Any] | None) -> dict[str, Any]:
    """The latest smoking status with its age (``daysAgo``, ``withinLookback``): rules that ask for a status
    recorded within the look-back treat an older one as absent, and still show it."""
    if not measure:
        return {"status": "unknown", "date": None, "refs": []}
    code = (measure.get("valueCode") or {}).get("code")
    return {"status": _SMOKING.get(code or "", "unknown"), "date": measure["date"], "daysAgo": measure["daysAgo"],
            "withinLookback": measure["withinLookback"], "refs": measure["refs"]}


def _missing(facts: dict[str, Any], wanted: RequirementSet) -> list[dict[str, str]]:
    missing = []
    seen: set[str] = set()
    for requirement in wanted:
        key = requirement.key
        if requirement.type not in ("Observation", "Procedure", "Encounter", "DiagnosticReport") or key in seen:
            continue
        seen.add(key)
        if key == BP_AVERAGE_KEY:
            continue  # optional: an out-of-office average confirms a diagnosis, its absence is not a gap
        if key == "bp_panel":
            if not facts["bp"] and "sbp" not in wanted.of("Observation"):
                missing.append({"key": key, "message": f"no {requirement.name} recorded"})
            continue
        entry = (facts["procedures"] if requirement.event else facts["measures"]).get(key)
        name = requirement.name or _DEFAULT_NAMES.get(key, key)
        if entry is None:
            missing.append({"key": key, "message": f"no {name} recorded"})
        elif not entry["withinLookback"] and requirement.lookback:
            missing.append({"key": key, "message": f"no {name} in {describe_lookback(*requirement.lookback)} "
                                                   f"(latest {entry['date']})"})
        elif key in GENOMIC_KEYS and entry["phenotype"] == "unknown":
            genotype = f" (genotype {entry['genotype']})" if entry.get("genotype") else ""
            missing.append({"key": key, "message": f"{name}: a result without a phenotype carepath can read{genotype}"})
    return missing
