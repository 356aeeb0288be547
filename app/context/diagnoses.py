"""Facts that follow a guideline's diagnostic rule rather than a single value: hypertension shown by readings on
2 or more occasions, whether a BP-lowering medicine treats hypertension, and acute kidney injury or disease from
the creatinine (or eGFR) series. Each states its rule and source; the packs decide what to do with them."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from app.context.observations import Reading
from app.formats import human_date, human_value, mmhg
from app.refs import unique_refs

# 2017 ACC/AHA High Blood Pressure guideline, §3.1 (Table 6: stage 1 hypertension is SBP 130-139 or DBP 80-89
# mmHg) and §4.1 (Table 8, step 6: an average of >=2 readings obtained on >=2 occasions estimates the level of
# BP). carepath's ``bp`` is that average over the 2 most recent days with a reading (app.context.derived).
HYPERTENSION_SBP, HYPERTENSION_DBP, DIAGNOSTIC_OCCASIONS = 130.0, 80.0, 2
BP_RULE = ("2017 ACC/AHA §3.1 and §4.1 (Table 8): an average of 130/80 mmHg or more from readings on 2 or more "
           "occasions")

# 2017 ACC/AHA §4.2 (out-of-office BP to confirm the diagnosis) and Table 11 (corresponding values: an office
# 130/80 mmHg is 130/80 by home monitoring and by daytime ambulatory monitoring, 125/75 over 24 hours). carepath
# confirms from 130/80 whichever kind of average it is: never below the guideline's threshold for that kind.
OUT_OF_OFFICE_RULE = ("2017 ACC/AHA §4.2 and Table 11: an out-of-office (home or ambulatory) average of 130/80 mmHg "
                      "or more confirms hypertension")

#: Conditions other than hypertension for which BP-lowering medicines (beta blockers, calcium-channel blockers,
#: ACE inhibitors, diuretics...) are also prescribed, recognised through the pack's published value sets
#: (Arrhythmia, Stable and Unstable Angina, Heart Failure).
OTHER_BP_DRUG_INDICATIONS = ("arrhythmia", "angina", "heart_failure")
INDICATION_RULE = ("a BP-lowering medicine counts as treatment of hypertension only with a hypertension diagnosis "
                   "(recorded, or by readings), or when the record shows nothing else it is prescribed for "
                   "(arrhythmia, angina, heart failure); otherwise its indication is not recorded")

# KDIGO 2012 Clinical Practice Guideline for Acute Kidney Injury, §2.1.1 (AKI: serum creatinine up by 0.3 mg/dL
# or more within 48 hours, or to 1.5 times baseline or more within the prior 7 days) and §2.5, Table 11 (AKD: AKI,
# or a decrease in GFR by 35 % or more, or an increase in serum creatinine by more than 50 %, for less than 3
# months). Urine output, the third AKI criterion, is not in the records carepath reads.
AKI_RISE_MG_DL, AKI_RISE_HOURS = 0.3, 48
AKI_RATIO, AKI_RATIO_DAYS = 1.5, 7
AKD_DAYS, AKD_GFR_FALL = 90, 0.35
#: Results carry 2 decimals: a rise of exactly 0.3 mg/dL must not be lost to binary rounding (1.2 - 0.9).
_EPSILON = 1e-9


def hypertension_by_readings(facts: dict[str, Any]) -> None:
    """``conditions.hypertension_by_readings`` when the BP average of 2 or more occasions is 130/80 or more, or
    an out-of-office average (home or ambulatory) is."""
    bp = facts.get("bp") or {}
    if (bp.get("occasions") or 0) < DIAGNOSTIC_OCCASIONS or bp.get("sbp") is None or not _raised(bp):
        _out_of_office_hypertension(facts, bp.get("outOfOffice"))
        return
    facts["conditions"]["hypertension_by_readings"] = {
        "display": f"average {mmhg(bp['sbp'])}/{mmhg(bp['dbp'])} mmHg from {bp['readings']} readings on "
                   f"{bp['occasions']} occasions up to {human_date(bp['date'])}",
        "status": "active", "source": "results", "rule": BP_RULE,
        "onset": bp["date"], "refs": list(bp.get("refs") or [])}


def _raised(average: dict[str, Any]) -> bool:
    """130 mmHg systolic or 80 mmHg diastolic or more (either may be absent)."""
    sbp, dbp = average.get("sbp"), average.get("dbp")
    return (sbp is not None and sbp >= HYPERTENSION_SBP) or (dbp is not None and dbp >= HYPERTENSION_DBP)


def _out_of_office_hypertension(facts: dict[str, Any], average: dict[str, Any] | None) -> None:
    if not average or not _raised(average):
        return
    shown = "/".join(mmhg(value) if value is not None else "?" for value in (average.get("sbp"), average.get("dbp")))
    facts["conditions"]["hypertension_by_readings"] = {
        "display": f"{average['setting']} out-of-office average {shown} mmHg on {human_date(average['date'])}",
        "status": "active", "source": "results", "rule": OUT_OF_OFFICE_RULE, "onset": average["date"],
        "refs": list(average.get("refs") or [])}


def hypertension_treatment(facts: dict[str, Any]) -> None:
    """``treatment.hypertension``: whether the active BP-lowering medicines count as treatment of hypertension.

    ``status`` is ``treated`` (hypertension recorded or shown by readings, or no other indication recorded) or
    ``indication-not-recorded`` (no hypertension diagnosis, and the record shows another condition the medicine
    is given for, listed in ``otherIndications``); absent when no BP-lowering medicine is active.
    """
    medicines = facts["medications"].get("antihypertensive") or []
    if not medicines:
        return
    conditions = facts["conditions"]
    diagnosed = [conditions[key] for key in ("hypertension", "hypertension_by_readings") if key in conditions]
    others = [conditions[key] for key in OTHER_BP_DRUG_INDICATIONS if key in conditions]
    status = "treated" if diagnosed or not others else "indication-not-recorded"
    entry = {"status": status, "rule": INDICATION_RULE,
             "display": "; ".join(m.get("display") or m.get("code") or "?" for m in medicines),
             "refs": unique_refs(ref for item in [*medicines, *diagnosed, *others] for ref in item.get("refs") or [])}
    if others:
        entry["otherIndications"] = "; ".join(c.get("display") or "?" for c in others)
    facts.setdefault("treatment", {})["hypertension"] = entry


def acute_kidney(facts: dict[str, Any], creatinine: list[Reading]) -> None:
    """``conditions.acute_kidney_by_results`` when the latest recent creatinine (newest first ``creatinine``) or
    eGFR meets a KDIGO 2012 AKI or AKD criterion against an earlier result; the first criterion met is kept."""
    measure = facts["measures"].get("creatinine") or {}
    found = None
    if measure.get("withinLookback") and creatinine:
        found = _creatinine_rise([r for r in creatinine if r.value is not None and not r.extra.get("comparator")])
    egfr = facts["scores"].get("egfr") or {}  # a score is computed from recent results only
    if found is None and egfr.get("series"):
        found = _gfr_fall(egfr)
    if found is not None:
        facts["conditions"]["acute_kidney_by_results"] = {**found, "status": "active", "source": "results"}


def _creatinine_rise(series: list[Reading]) -> dict[str, Any] | None:
    if len(series) < 2:
        return None
    latest, earlier = series[0], series[1:]
    checks = (
        ("AKI", f"rise of {AKI_RISE_MG_DL} mg/dL or more within {AKI_RISE_HOURS} hours (KDIGO 2012 AKI §2.1.1)",
         timedelta(hours=AKI_RISE_HOURS), lambda base: latest.value - base >= AKI_RISE_MG_DL - _EPSILON),
        ("AKI", f"{AKI_RATIO} times the baseline or more within {AKI_RATIO_DAYS} days (KDIGO 2012 AKI §2.1.1)",
         timedelta(days=AKI_RATIO_DAYS), lambda base: latest.value >= AKI_RATIO * base - _EPSILON),
        ("AKD", "more than 50 % above the baseline for less than 3 months (KDIGO 2012 AKI §2.5, Table 11)",
         timedelta(days=AKD_DAYS), lambda base: latest.value > AKI_RATIO * base + _EPSILON),
    )
    for kind, criterion, window, met in checks:
        within = [r for r in earlier if latest.when.instant - r.when.instant <= window]
        if not within:
            continue
        baseline = min(within, key=lambda r: r.value or 0.0)
        if baseline.value and met(baseline.value):
            return _finding(kind, criterion, "creatinine", "mg/dL",
                            (baseline.value, baseline.when.day.isoformat()),
                            (latest.value, latest.when.day.isoformat()),
                            [baseline.ref, latest.ref])
    return None


def _gfr_fall(egfr: dict[str, Any]) -> dict[str, Any] | None:
    points = [p for p in egfr["series"] if p.get("value") is not None and p.get("date") and not p.get("comparator")]
    if len(points) < 2:
        return None
    latest = points[-1]
    day = date.fromisoformat(latest["date"])
    within = [p for p in points[:-1] if (day - date.fromisoformat(p["date"])).days <= AKD_DAYS]
    if not within:
        return None
    baseline = max(within, key=lambda p: p["value"])
    if latest["value"] > (1 - AKD_GFR_FALL) * baseline["value"] + _EPSILON:
        return None
    return _finding("AKD", "eGFR fall of 35 % or more for less than 3 months (KDIGO 2012 AKI §2.5, Table 11)",
                    "eGFR", "mL/min/1.73m2", (baseline["value"], baseline["date"]), (latest["value"], latest["date"]),
                    list(egfr.get("refs") or []))


def _finding(kind: str, criterion: str, name: str, unit: str, baseline: tuple[float, str], latest: tuple[float, str],
             refs: list[dict[str, Any]]) -> dict[str, Any]:
    kind_text = "acute kidney injury" if kind == "AKI" else "acute kidney disease"
    return {"kind": kind, "criterion": criterion, "onset": latest[1],
            "baseline": {"value": baseline[0], "unit": unit, "date": baseline[1]},
            "latest": {"value": latest[0], "unit": unit, "date": latest[1]},
            "display": f"{kind_text} by results: {name} {human_value(baseline[0], unit)} ({human_date(baseline[1])}) "
                       f"to {human_value(latest[0], unit)} ({human_date(latest[1])}), {criterion}",
            "refs": unique_refs(refs)}
