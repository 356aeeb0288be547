"""Facts derived from several measures: the blood-pressure average and the scores (PCE, eGFR, BMI)."""

from __future__ import annotations

from datetime import date
from typing import Any

from app.context import scores as formulas
from app.context.dates import age_on
from app.context.observations import Reading
from app.context.requirements import RequirementSet
from app.formats import human_date
from app.refs import unique_refs

# 2017 ACC/AHA High Blood Pressure guideline (Whelton PK et al.), Table 8 "Checklist for accurate
# measurement of BP", step 6: use an average of >=2 readings obtained on >=2 occasions to estimate the
# individual's level of BP. carepath averages every reading of the 2 most recent days with a reading.
BP_OCCASIONS = 2


def blood_pressure(systolic: list[Reading], diastolic: list[Reading], since: date | None = None,
                   acute_care: frozenset[str] = frozenset()) -> dict[str, Any]:
    """Average SBP/DBP of the office readings on the latest ``BP_OCCASIONS`` days; {} when there is none.

    Readings before ``since`` (the look-back of the BP keys) never stage, set a goal or start treatment: they
    stay visible in ``measures.sbp``/``measures.dbp`` (with ``withinLookback: false``) and in ``missing``.
    Readings taken in emergency or inpatient care (the Observation ids in ``acute_care``) are not office readings
    (2017 ACC/AHA §4.1, Table 8: office BP under standard conditions): they never stage, set a goal or count as
    control; they are named in ``acuteCare`` and still count for ``latest`` (a severe value is always a warning).
    """
    if since is not None:
        systolic = [r for r in systolic if r.when.day >= since]
        diastolic = [r for r in diastolic if r.when.day >= since]
    acute = [r for r in systolic + diastolic if r.ref.get("id") in acute_care]
    if not acute:
        return _average(systolic, diastolic)
    every = _average(systolic, diastolic)
    office = _average([r for r in systolic if r.ref.get("id") not in acute_care],
                      [r for r in diastolic if r.ref.get("id") not in acute_care])
    latest = max(r.when.day for r in acute)
    office["acuteCare"] = {"readings": len({r.when.instant for r in acute}), "date": latest.isoformat(),
                           "refs": unique_refs(r.ref for r in acute)}
    if not office.get("latest") or every["latest"]["date"] > office["latest"]["date"]:
        office["latest"] = every["latest"]
    return office


def _average(systolic: list[Reading], diastolic: list[Reading]) -> dict[str, Any]:
    days = sorted({r.when.day for r in systolic + diastolic}, reverse=True)[:BP_OCCASIONS]
    if not days:
        return {}
    used_sbp = [r for r in systolic if r.when.day in days]
    used_dbp = [r for r in diastolic if r.when.day in days]
    refs = unique_refs(reading.ref for reading in used_sbp + used_dbp)
    instants = {r.when.instant for r in used_sbp + used_dbp}

    def mean(values: list[Reading]) -> float | None:
        return round(sum(r.value or 0.0 for r in values) / len(values), 1) if values else None

    latest_sbp = [r for r in used_sbp if r.when.day == days[0]]
    latest_dbp = [r for r in used_dbp if r.when.day == days[0]]
    # the latest day alone: a severe value is a warning even when an earlier occasion lowers the average
    latest = {"sbp": mean(latest_sbp), "dbp": mean(latest_dbp), "date": days[0].isoformat(),
              "readings": len({r.when.instant for r in latest_sbp + latest_dbp}),
              "refs": unique_refs(r.ref for r in latest_sbp + latest_dbp)}
    return {"sbp": mean(used_sbp), "dbp": mean(used_dbp), "readings": len(instants), "occasions": len(days),
            "date": days[0].isoformat(), "latest": latest, "refs": refs}


def scores(facts: dict[str, Any], wanted: RequirementSet, missing: list[dict[str, str]]) -> dict[str, Any]:
    """The derived scores that can be computed; a ``missing`` entry names why each other one is not."""
    found: dict[str, Any] = {}
    for name, compute in (("ascvd10y", _ascvd), ("egfr", _egfr), ("bmi", _bmi)):
        result = compute(facts, wanted)
        if isinstance(result, str):
            missing.append({"key": f"scores.{name}", "message": result})
        else:
            found[name] = result
    return found


def _recent(facts: dict[str, Any], key: str) -> dict[str, Any] | None:
    """The measure of ``key`` when it has a value within its look-back (older values never feed a score)."""
    measure = facts["measures"].get(key)
    if not measure or measure.get("value") is None or measure.get("withinLookback") is False:
        return None
    return measure


def _value(facts: dict[str, Any], key: str) -> tuple[float, dict[str, Any]] | None:
    measure = _recent(facts, key)
    if measure is None:
        return None
    return measure["value"], {"value": measure["value"], "unit": measure["unit"], "date": measure["date"]}


def _ascvd(facts: dict[str, Any], wanted: RequirementSet) -> dict[str, Any] | str:
    """The 10-year ASCVD risk by the Pooled Cohort Equations; when they cannot be computed from the record, a risk
    estimate recorded within its look-back stands in (named as recorded, with its date); else why there is none."""
    computed = _pce(facts, wanted)
    if not isinstance(computed, str):
        return computed
    recorded = _recent(facts, "ascvd_risk_recorded")
    if recorded is None:
        return computed
    return {"value": recorded["value"], "unit": "%", "method": f"recorded estimate of {human_date(recorded['date'])}",
            "basis": f"recorded on {human_date(recorded['date'])}", "date": recorded["date"],
            "refs": list(recorded["refs"])}


def _pce(facts: dict[str, Any], wanted: RequirementSet) -> dict[str, Any] | str:
    patient, absent = facts["patient"], []
    total, hdl = _value(facts, "total_cholesterol"), _value(facts, "hdl")
    bp = facts["bp"]
    if total is None:
        absent.append("recent total cholesterol")
    if hdl is None:
        absent.append("recent HDL cholesterol")
    if not bp or bp.get("sbp") is None:
        absent.append("recent systolic blood pressure")
    if facts["smoking"]["status"] == "unknown":
        absent.append("smoking status")
    if patient.get("ageYears") is None:
        absent.append("age")
    if patient.get("sex") not in ("female", "male"):
        absent.append("sex (female or male)")
    for kind, key, what in (("Condition", "diabetes", "diabetes condition list"),
                            ("MedicationRequest", "antihypertensive", "antihypertensive medication list")):
        if key not in wanted.of(kind):
            absent.append(f"{what} (not requested by the pack)")
    if absent:
        return f"{', '.join(absent)} missing: ASCVD risk not computed"
    age = patient["ageYears"]
    if not formulas.PCE_AGES[0] <= age <= formulas.PCE_AGES[1]:
        return f"age {age} outside {formulas.PCE_AGES[0]}-{formulas.PCE_AGES[1]}: ASCVD risk (PCE) not computed"
    assert total and hdl
    treated = bool(facts["medications"].get("antihypertensive"))
    smoker = facts["smoking"]["status"] == "current"
    diabetes = "diabetes" in facts["conditions"]
    sex, race = formulas.pce_group(patient["sex"], patient["race"])
    value = formulas.pce_risk(age=age, sex=sex, race=patient["race"], total_cholesterol=total[0], hdl=hdl[0],
                              sbp=bp["sbp"], treated=treated, smoker=smoker, diabetes=diabetes)
    refs = unique_refs(ref for part in (
        patient["refs"], facts["measures"]["total_cholesterol"]["refs"], facts["measures"]["hdl"]["refs"], bp["refs"],
        facts["smoking"]["refs"], *(c["refs"] for c in facts["medications"].get("antihypertensive", [])),
        facts["conditions"].get("diabetes", {}).get("refs", [])) for ref in part)
    return {"value": round(value, 1), "unit": "%", "method": formulas.PCE_METHOD, "basis": "PCE 2013", "inputs": {
        "ageYears": age, "sex": sex, "equations": "African American" if race == "black" else "white",
        "totalCholesterol": total[1], "hdl": hdl[1],
        "sbp": {"value": bp["sbp"], "unit": "mmHg", "date": bp["date"], "readings": bp["readings"]},
        "treatedHypertension": treated, "smoker": smoker, "diabetes": diabetes}, "refs": refs}


#: KDIGO 2024 GFR categories (Chapter 1, Figure: G1 90 or more, G2 60-89, G3a 45-59, G3b 30-44, G4 15-29,
#: G5 below 15 mL/min/1.73 m2): a reported and a computed eGFR of the same day that fall in different
#: categories are a conflict the clinician must see.
GFR_CATEGORIES = ((90.0, "G1"), (60.0, "G2"), (45.0, "G3a"), (30.0, "G3b"), (15.0, "G4"), (0.0, "G5"))


#: KDIGO 2024 Chapter 1 definition of CKD: GFR below 60 mL/min/1.73 m2 or albuminuria (UACR 30 mg/g or more)
#: present for more than 3 months. ``lowSince`` / ``highSince`` is the first result of the uninterrupted run of
#: abnormal results that ends with the latest one; ``...Days`` how long that run lasts (latest minus first).
CKD_GFR_BELOW, CKD_UACR_FROM, CKD_MORE_THAN_DAYS = 60.0, 30.0, 90


def abnormal_run(series: list[dict[str, Any]], abnormal: Any) -> tuple[str, int] | None:
    """(first date, days) of the run of abnormal values (oldest first ``series``) that ends with the latest one."""
    dated = [point for point in series if point.get("value") is not None and point.get("date")]
    if not dated or not abnormal(dated[-1]["value"]):
        return None
    first = dated[-1]["date"]
    for point in reversed(dated):
        if not abnormal(point["value"]):
            break
        first = point["date"]
    return first, (date.fromisoformat(dated[-1]["date"]) - date.fromisoformat(first)).days


def chronicity(facts: dict[str, Any]) -> None:
    """Add the KDIGO persistence of a low eGFR (``scores.egfr.lowSince/lowDays``) and of albuminuria
    (``measures.uacr.highSince/highDays``) to the facts; when one lasts more than 3 months, the condition
    ``ckd_by_results`` says so (CKD by its definition, with or without a diagnosis on record)."""
    found = []
    egfr = facts["scores"].get("egfr")
    if egfr and egfr.get("series"):
        run = abnormal_run(egfr["series"], lambda value: value < CKD_GFR_BELOW)
        if run:
            egfr["lowSince"], egfr["lowDays"] = run
            if run[1] > CKD_MORE_THAN_DAYS:
                found.append((f"eGFR below 60 since {run[0]} ({run[1]} days)", run[0], egfr["refs"]))
    uacr = facts["measures"].get("uacr")
    if uacr and uacr.get("recentValue") is not None and uacr.get("series"):
        run = abnormal_run(uacr["series"], lambda value: value >= CKD_UACR_FROM)
        if run:
            uacr["highSince"], uacr["highDays"] = run
            if run[1] > CKD_MORE_THAN_DAYS:
                found.append((f"UACR 30 mg/g or more since {run[0]} ({run[1]} days)", run[0], uacr["refs"]))
    if found:
        facts["conditions"]["ckd_by_results"] = {
            "display": "; ".join(text for text, _since, _refs in found), "status": "active", "source": "results",
            "onset": min(since for _text, since, _refs in found),
            "refs": [ref for _text, _since, refs in found for ref in refs]}


def gfr_category(value: float) -> str:
    """The KDIGO 2024 GFR category of an eGFR in mL/min/1.73 m2."""
    return next(name for low, name in GFR_CATEGORIES if value >= low)


def _egfr(facts: dict[str, Any], wanted: RequirementSet) -> dict[str, Any] | str:
    reported = _recent(facts, "egfr")
    if reported:
        # The laboratory's own eGFR is preferred; a creatinine of the same day that gives another KDIGO
        # category is shown beside it, never silently resolved.
        score = {"value": reported["value"], "unit": "mL/min/1.73m2", "method": "reported",
                 "date": reported["date"], "refs": reported["refs"],
                 "series": [{"date": p["date"], "value": p["value"]} for p in reported.get("series") or []]}
        if reported.get("comparator"):
            score["comparator"] = reported["comparator"]
        computed = _computed_egfr(facts)
        if isinstance(computed, dict) and computed["date"] == reported["date"] and not reported.get("comparator") \
                and gfr_category(computed["value"]) != gfr_category(reported["value"]):
            score["conflict"] = {"value": computed["value"], "method": computed["method"],
                                 "message": f"reported eGFR {reported['value']:g} ({gfr_category(reported['value'])}) "
                                            f"and eGFR {computed['value']:g} ({gfr_category(computed['value'])}) "
                                            f"computed from the same day's creatinine disagree: the reported value "
                                            "is used; please verify", "refs": computed["refs"]}
        return score
    return _computed_egfr(facts)


def _computed_egfr(facts: dict[str, Any]) -> dict[str, Any] | str:
    creatinine, patient = _recent(facts, "creatinine"), facts["patient"]
    if not creatinine:
        return "no recent eGFR or creatinine: eGFR not computed"
    if not patient.get("birthDate") or patient.get("sex") not in ("female", "male"):
        return "no eGFR reported and age or sex (female or male) unknown: eGFR not computed from creatinine"
    # the equation takes the age on the day the creatinine was drawn
    age = age_on(date.fromisoformat(patient["birthDate"]), date.fromisoformat(creatinine["date"]))
    try:
        value = formulas.ckd_epi_2021(creatinine_mg_dl=creatinine["value"], age=age, sex=patient["sex"])
    except ValueError as exc:
        return f"no eGFR reported; CKD-EPI 2021 not applicable ({exc})"
    return {"value": round(value, 1), "unit": "mL/min/1.73m2", "method": formulas.CKD_EPI_METHOD,
            "date": creatinine["date"], "inputs": {
                "creatinine": {"value": creatinine["value"], "unit": "mg/dL", "date": creatinine["date"]},
                "ageYears": age, "sex": patient["sex"]},
            "refs": [*patient["refs"], *creatinine["refs"]],
            "series": _computed_series(creatinine.get("series") or [], patient)}


def _computed_series(creatinine: list[dict[str, Any]], patient: dict[str, Any]) -> list[dict[str, Any]]:
    """CKD-EPI 2021 for each creatinine result (the age on its day), oldest first, for chronicity."""
    born, found = date.fromisoformat(patient["birthDate"]), []
    for point in creatinine:
        if point.get("comparator"):
            continue
        try:
            value = formulas.ckd_epi_2021(creatinine_mg_dl=point["value"],
                                          age=age_on(born, date.fromisoformat(point["date"])), sex=patient["sex"])
        except ValueError:
            continue
        found.append({"date": point["date"], "value": round(value, 1)})
    return found


def _bmi(facts: dict[str, Any], wanted: RequirementSet) -> dict[str, Any] | str:
    reported = _recent(facts, "bmi")
    if reported:
        return {"value": reported["value"], "unit": "kg/m2", "method": "reported", "date": reported["date"],
                "refs": reported["refs"]}
    weight, height = _recent(facts, "weight"), _recent(facts, "height")
    if not weight or not height:
        absent = " and ".join(n for n, m in (("weight", weight), ("height", height)) if not m)
        return f"no recent BMI, and no recent {absent}: BMI not computed"
    value = formulas.bmi(weight_kg=weight["value"], height_cm=height["value"])
    return {"value": round(value, 1), "unit": "kg/m2", "method": formulas.BMI_METHOD, "date": weight["date"],
            "inputs": {"weight": {"value": weight["value"], "unit": "kg", "date": weight["date"]},
                       "height": {"value": height["value"], "unit": "cm", "date": height["date"]}},
            "refs": [*weight["refs"], *height["refs"]]}


#: The fact keys of colorectal polyp histology (Condition, or a pathology DiagnosticReport's conclusionCode), each
#: one group of USMSTF 2020 Table 3, and how a plan names them.
POLYP_HISTOLOGY = {"polyp_advanced_histology": "advanced histology", "polyp_adenoma_or_serrated":
                   "adenoma or sessile serrated lesion", "polyp_hyperplastic": "hyperplastic polyp"}
POLYP_SIZE = "polyp_size"
#: What USMSTF 2020 grades by that no published code carepath found records: never read, always named missing.
POLYP_UNCODED = ("number of polyps", "resection technique (en bloc or piecemeal)")


def polyp_findings(facts: dict[str, Any]) -> None:
    """Tie the recorded polyp findings to the last colonoscopy (``procedures.colonoscopy``), as USMSTF 2020 grades
    the next interval by the findings of that examination.

    A histology entry (``conditions.X`` or ``procedures.X`` for the keys of :data:`POLYP_HISTOLOGY`) gets
    ``atLastColonoscopy``: true when it is dated on or after the last colonoscopy, false otherwise (older, undated,
    or no colonoscopy on record). ``measures.polyp_size`` gets ``largestAtLastColonoscopy`` (mm): the largest size
    dated on or after it. The colonoscopy entry gets ``polypFindings`` (what was read, with dates),
    ``polypFindingsMissing`` (what the interval also depends on and the record does not hold) and
    ``polypFindingsBefore`` (findings recorded before it, not used). Nothing is graded here: the pack's rules do.
    """
    colonoscopy = facts["procedures"].get("colonoscopy")
    since = colonoscopy.get("date") if colonoscopy else None
    read: list[str] = []
    before: list[str] = []
    histology = histology_at_last = False
    for key, name in POLYP_HISTOLOGY.items():
        for section in ("conditions", "procedures"):
            entry = facts[section].get(key)
            if not isinstance(entry, dict):
                continue
            day = entry.get("onset") or entry.get("date")
            entry["atLastColonoscopy"] = bool(since and day and day >= since)
            histology, histology_at_last = True, histology_at_last or entry["atLastColonoscopy"]
            shown = f"{entry.get('display') or name} ({name}, {human_date(day) if day else 'undated'})"
            (read if entry["atLastColonoscopy"] else before).append(shown)
    size = facts["measures"].get(POLYP_SIZE)
    sized = None
    if isinstance(size, dict):
        # the series and the latest value (which the series may also hold: the largest is the same)
        points = [*(size.get("series") or []), {"date": size.get("date"), "value": size.get("value")}]
        kept = [p for p in points if since and p.get("date") and p["date"] >= since and p.get("value") is not None]
        if kept:
            sized = max(kept, key=lambda p: p["value"])
            size["largestAtLastColonoscopy"] = sized["value"]
            read.append(f"largest polyp {sized['value']:g} mm ({human_date(sized['date'])})")
        elif size.get("value") is not None and size.get("date"):
            before.append(f"polyp of {size['value']:g} mm ({human_date(size['date'])})")
    polyps = (facts["conditions"].get("colorectal_polyp") or facts["procedures"].get("polypectomy") or size
              or histology)
    if colonoscopy is None or not polyps:
        return
    missing = list(POLYP_UNCODED)
    if sized is None:
        missing.insert(0, "size of the polyps")
    if not histology_at_last:
        missing.insert(0, "histology")
    if read:
        colonoscopy["polypFindings"] = "; ".join(read)
    colonoscopy["polypFindingsMissing"] = "; ".join(missing)
    if before:
        colonoscopy["polypFindingsBefore"] = "; ".join(before)
