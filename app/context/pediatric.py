"""Children's measures as percentiles: BMI-for-age (CDC 2000, CDC 2022 extended) and the AAP 2017 blood-pressure
category by age, sex and height percentile.

Only for patients under 18 (the pediatric pack's population): an adult's facts are never touched. The growth
reference is the CDC 2000 LMS data as the ``rcpchgrowth`` package ships it (its BMI z-score above the 95th
percentile follows the CDC 2022 extended BMI-for-age method); the blood-pressure table is data in the pediatric
pack (``packs/pediatric/tables/aap2017-bp.json``, each cell from Flynn 2017 Tables 4 and 5).
"""

from __future__ import annotations

import json
import warnings
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

PEDIATRIC_UNTIL = 18
#: CDC 2000 BMI-for-age (and its 2022 extension) covers 2 to 20 years.
BMI_FOR_AGE_FROM, BMI_FOR_AGE_UNTIL = 2, 20
#: AAP 2017 (Flynn et al.) Table 3: percentile tables for 1 to 12 years; static thresholds from 13.
BP_TABLE_AGES, BP_STATIC_FROM = (1, 12), 13
#: The table's place under the project (also its name in the code archive a Spark cohort ships).
BP_TABLE_NAME = "packs/pediatric/tables/aap2017-bp.json"
BP_TABLE = Path(__file__).resolve().parent.parent.parent / BP_TABLE_NAME
#: The height-percentile columns of Flynn 2017 Tables 4 and 5.
HEIGHT_COLUMNS = (5, 10, 25, 50, 75, 90, 95)
#: The pack's data-freshness policy (not a guideline number): the height that sets the BP table column is one
#: measured within a year of the blood pressure, as the BP keys' own 12-month look-back.
HEIGHT_WITHIN_DAYS = 365
TABLES = {"male": "4 (boys)", "female": "5 (girls)"}
CATEGORIES = ("normal", "elevated", "stage 1", "stage 2")
#: z-scores of the 5th, 85th and 95th percentiles of the standard normal distribution.
Z5, Z85, Z95 = -1.6448536, 1.0364334, 1.6448536
#: CDC's biologically implausible value (BIV) cut points for the 2000 growth charts (SAS Program for the 2000 CDC
#: Growth Charts, ages 0 to <20 years; cut points revised in 2016), on CDC's modified z-score: a value below the
#: first or above the second is flagged to verify, and carepath does not use it.
BIV_CUTS = {"height": (-5.0, 4.0), "weight": (-5.0, 8.0), "bmi": (-4.0, 8.0)}
_NAMES = {"height": ("height", "cm"), "weight": ("weight", "kg"), "bmi": ("BMI", "kg/m²")}


def decimal_age(birth: date, day: date) -> float:
    """Age in years with a fraction (days / 365.25), as growth references are indexed."""
    return (day - birth).days / 365.25


def _growth() -> Any:
    with warnings.catch_warnings():  # scipy/numpy deprecation noise under filterwarnings=error
        warnings.simplefilter("ignore")
        from rcpchgrowth import global_functions
    return global_functions


def growth_z(measurement: str, value: float, sex: str, age: float) -> float:
    """z-score on the CDC 2000 reference (``measurement``: 'bmi' or 'height'), via rcpchgrowth."""
    growth = _growth()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(growth.sds_for_measurement("cdc", age, measurement, value, sex))


def growth_value(measurement: str, z: float, sex: str, age: float) -> float:
    """The measurement at a z-score on the CDC 2000 reference (e.g. the 95th-percentile BMI for age and sex)."""
    growth = _growth()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(growth.measurement_from_sds("cdc", z, measurement, sex, age))


def modified_z(measurement: str, value: float, sex: str, age: float) -> float:
    """CDC's modified z-score: the distance from the median, in half the distance from the median to the value at
    z = +2 (above the median) or z = -2 (below it), on the CDC 2000 reference."""
    median = growth_value(measurement, 0.0, sex, age)
    if value >= median:
        return (value - median) / ((growth_value(measurement, 2.0, sex, age) - median) / 2)
    return (value - median) / ((median - growth_value(measurement, -2.0, sex, age)) / 2)


def implausible_growth(measurement: str, value: float, sex: str, age: float, day: str) -> str | None:
    """A sentence when ``value`` is outside CDC's plausible range for age and sex (:data:`BIV_CUTS`), else None."""
    low, high = BIV_CUTS[measurement]
    z = modified_z(measurement, value, sex, age)
    if low <= z <= high:
        return None
    name, unit = _NAMES[measurement]
    return (f"{name} {round(value, 1):g} {unit} ({day}) is biologically implausible for age and sex (CDC modified "
            f"z-score {z:.1f}, outside {low:g} to {high:g}): verify it")


def percentile(z: float) -> float:
    """The percentile of a z-score (standard normal), one decimal."""
    from math import erf, sqrt

    return round(50 * (1 + erf(z / sqrt(2))), 1)


def bmi_class(bmi: float, p5: float, p85: float, p95: float) -> str:
    """CDC 2000 / CDC 2022 classes: underweight below the 5th percentile, healthy weight, overweight 85th to below
    95th, obesity 95th or more, severe obesity 120 % of the 95th percentile or more (AAP 2023 CPG, Hampl et al.,
    Table 1 and Key Action Statement 1; CDC 2022 extended BMI-for-age)."""
    if bmi >= 1.2 * p95:
        return "severe obesity"
    if bmi >= p95:
        return "obesity"
    if bmi >= p85:
        return "overweight"
    return "underweight" if bmi < p5 else "healthy weight"


def bmi_for_age(bmi: float, sex: str, age: float) -> dict[str, Any]:
    """BMI-for-age percentile, z-score, class and % of the 95th percentile (CDC 2000, 2022 extended)."""
    z = growth_z("bmi", bmi, sex, age)
    p5, p85, p95 = (growth_value("bmi", cut, sex, age) for cut in (Z5, Z85, Z95))
    return {"percentile": percentile(z), "z": round(z, 2), "class": bmi_class(bmi, p5, p85, p95),
            "percentOf95th": round(100 * bmi / p95, 1), "p95": round(p95, 1), "p85": round(p85, 1),
            "p5": round(p5, 1)}


@cache
def bp_table(path: Path = BP_TABLE) -> dict[str, Any]:
    """The pack's AAP 2017 BP percentile table (``packs/pediatric/tables/aap2017-bp.json``); on a Spark executor,
    from the code archive the cohort ships (which carries the packs' tables)."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError:
        if path != BP_TABLE or not hasattr(__loader__, "get_data"):
            raise
        return json.loads(__loader__.get_data(BP_TABLE_NAME))


def nearest_column(height_percentile: float) -> int:
    """The table column nearest the child's height percentile (ties go to the lower column)."""
    return min(HEIGHT_COLUMNS, key=lambda column: (abs(column - height_percentile), column))


def bp_thresholds(sex: str, age: int, column: int, table: dict[str, Any] | None = None) -> dict[str, dict[str, int]]:
    """{'sbp'|'dbp': {'p50', 'p90', 'p95', 'p95plus12'}} for a sex, an age (1-12) and a height column."""
    row = (table or bp_table())["sexes"][sex][str(age)]
    index = HEIGHT_COLUMNS.index(column)
    return {side: {name: row[side][name][index] for name in ("p50", "p90", "p95", "p95plus12")}
            for side in ("sbp", "dbp")}


def _component_category(value: float, cuts: tuple[float, float, float]) -> int:
    elevated, stage1, stage2 = cuts
    return 3 if value >= stage2 else 2 if value >= stage1 else 1 if value >= elevated else 0


def bp_category(sbp: float, dbp: float, age: int, thresholds: dict[str, dict[str, int]] | None) -> str:
    """AAP 2017 Table 3. Ages 1-12 (``thresholds`` from the table): elevated from the 90th percentile or 120/80,
    stage 1 from the 95th or 130/80, stage 2 from the 95th + 12 mm Hg or 140/90, whichever is lower; from 13
    (``thresholds`` None): elevated 120/<80 to 129/<80, stage 1 130/80 to 139/89, stage 2 140/90 or more. The
    higher of the systolic and diastolic categories is the child's."""
    systolic, diastolic = category_cutoffs(age, thresholds)
    return CATEGORIES[max(_component_category(sbp, systolic), _component_category(dbp, diastolic))]


def category_cutoffs(age: int, thresholds: dict[str, dict[str, int]] | None) -> tuple[tuple[float, float, float],
                                                                                       tuple[float, float, float]]:
    """The (elevated, stage 1, stage 2) lower bounds of AAP 2017 Table 3, systolic then diastolic, as
    :func:`bp_category` states them."""
    if age >= BP_STATIC_FROM or thresholds is None:
        return (120, 130, 140), (float("inf"), 80, 90)
    s, d = thresholds["sbp"], thresholds["dbp"]
    return ((min(s["p90"], 120), min(s["p95"], 130), min(s["p95plus12"], 140)),
            (min(d["p90"], 80), min(d["p95"], 80), min(d["p95plus12"], 90)))


def _band(value: float, cuts: dict[str, int]) -> str:
    if value >= cuts["p95plus12"]:
        return "95th + 12 mm Hg or more"
    if value >= cuts["p95"]:
        return "95th or more"
    if value >= cuts["p90"]:
        return "90th to below 95th"
    return "50th to below 90th" if value >= cuts["p50"] else "below 50th"


def add_scores(facts: dict[str, Any], missing: list[dict[str, str]]) -> None:
    """Add ``scores.bmi_for_age`` and ``scores.bp_pediatric`` to a child's facts (nothing for adults); a
    ``missing`` entry says why one is not computed."""
    patient = facts.get("patient") or {}
    age, sex, birth = patient.get("ageYears"), patient.get("sex"), patient.get("birthDate")
    if not isinstance(age, int) or not birth:
        return
    lipids = lipid_screen(facts, date.fromisoformat(birth), age)
    if lipids:
        facts["scores"]["lipid_screen"] = lipids
    if age >= PEDIATRIC_UNTIL:
        return
    if sex not in ("female", "male"):
        missing.append({"key": "scores.bmi_for_age", "message": "sex (female or male) not recorded: the CDC growth "
                                                                "reference and the AAP 2017 tables are by sex"})
        return
    born = date.fromisoformat(birth)
    trend = bmi_for_age_trend(facts, sex, born)
    if trend:
        facts["scores"]["bmi_for_age_trend"] = trend
    result = _bmi_for_age(facts, sex, born)
    if isinstance(result, str):
        missing.append({"key": "scores.bmi_for_age", "message": result})
    elif result:
        facts["scores"]["bmi_for_age"] = result
    pressure_trend = bp_trend(facts, sex, born)
    if pressure_trend:
        facts["scores"]["bp_pediatric_trend"] = pressure_trend
    pressure = _bp_pediatric(facts, sex, born)
    if isinstance(pressure, str):
        missing.append({"key": "scores.bp_pediatric", "message": pressure})
    elif pressure:
        facts["scores"]["bp_pediatric"] = pressure


#: NHLBI 2011 (Section 9): universal lipid screening once between 9 and 11 and once between 17 and 21 years.
LIPID_WINDOWS = ((9, 11), (17, 21))
LIPID_KEYS = ("ldl", "total_cholesterol", "hdl")


def lipid_screen(facts: dict[str, Any], born: date, age: int) -> dict[str, Any] | None:
    """In an NHLBI 2011 screening window: whether a lipid result (LDL, total or HDL cholesterol: a lipid panel)
    was taken since the window opened (the birthday that opens it), with its date."""
    window = next(((low, high) for low, high in LIPID_WINDOWS if low <= age <= high), None)
    if window is None:
        return None
    try:
        opened = born.replace(year=born.year + window[0])
    except ValueError:  # born on 29 February
        opened = date(born.year + window[0], 3, 1)
    found = [(point["date"], point["ref"]) for key in LIPID_KEYS
             for point in ((facts.get("measures") or {}).get(key) or {}).get("series") or []
             if point.get("date") and date.fromisoformat(point["date"]) >= opened]
    latest = max(found, default=None)
    return {"window": f"{window[0]} to {window[1]}", "since": opened.isoformat(), "done": latest is not None,
            "date": latest[0] if latest else None, "refs": [latest[1]] if latest else []}


def _bmi_for_age(facts: dict[str, Any], sex: str, born: date) -> dict[str, Any] | str | None:
    bmi = _child_bmi(facts)
    if bmi is None:
        return "no BMI, nor a weight and height measured the same day, in the last 12 months: BMI-for-age not " \
               "computed"
    day = date.fromisoformat(bmi["date"])
    age = decimal_age(born, day)
    if age < BMI_FOR_AGE_FROM:
        return f"the latest BMI ({bmi['date']}) was measured before 2 years of age: the CDC BMI-for-age reference " \
               "starts at 2 years"
    if age >= BMI_FOR_AGE_UNTIL:
        return None
    checks = [("bmi", bmi["value"])] + [(key, bmi[key]) for key in ("weight", "height") if bmi.get(key)]
    for measurement, value in checks:
        reason = implausible_growth(measurement, value, sex, age, bmi["date"])
        if reason:
            return f"{reason}; BMI-for-age not computed from it"
    found = bmi_for_age(bmi["value"], sex, age)
    return {"value": found["percentile"], "unit": "percentile", **found, "bmi": bmi["value"], "date": bmi["date"],
            "ageAtMeasure": round(age, 2), "method": "CDC 2000 BMI-for-age (CDC 2022 extended above the 95th), "
            "rcpchgrowth", "basis": bmi["basis"], "refs": bmi["refs"]}


#: Points of the BMI-for-age trend (the latest ones): the trend chart draws at most 60.
TREND_POINTS = 60


def bmi_for_age_trend(facts: dict[str, Any], sex: str, born: date) -> dict[str, Any] | None:
    """Each recorded BMI from 2 years of age as its CDC 2000 BMI-for-age percentile, for the trend chart:
    {"series": [{"date", "value"}], "unit": "percentile", "method"}; None when there is none."""
    points = [point for point in ((facts.get("measures") or {}).get("bmi") or {}).get("series") or []
              if isinstance(point.get("value"), int | float) and point.get("date")]
    series = []
    for point in points[-TREND_POINTS:]:
        age = decimal_age(born, date.fromisoformat(point["date"][:10]))
        if BMI_FOR_AGE_FROM <= age < BMI_FOR_AGE_UNTIL and \
                not implausible_growth("bmi", point["value"], sex, age, point["date"]):
            series.append({"date": point["date"], "value": percentile(growth_z("bmi", point["value"], sex, age)),
                           "ref": point.get("ref")})
    return {"series": series, "unit": "percentile", "method": "CDC 2000 BMI-for-age, rcpchgrowth"} if series else None


def _child_bmi(facts: dict[str, Any]) -> dict[str, Any] | None:
    """The latest recent BMI: a reported one, or weight over the square of a height of the same day (a child's
    height of another day is not used: the child grows)."""
    measures = facts.get("measures") or {}
    reported = measures.get("bmi")
    if reported and reported.get("value") is not None and reported.get("withinLookback"):
        return {"value": reported["value"], "date": reported["date"], "basis": "reported BMI",
                "refs": reported["refs"]}
    weight, height = measures.get("weight"), measures.get("height")
    if not weight or not height or not weight.get("withinLookback"):
        return None
    heights = {point["date"]: point for point in height.get("series") or []}
    for point in reversed(weight.get("series") or []):
        same_day = heights.get(point["date"])
        if same_day and same_day.get("value") and point.get("value"):
            value = point["value"] / (same_day["value"] / 100) ** 2
            return {"value": round(value, 1), "date": point["date"], "basis": "weight and height of the same day",
                    "refs": [point["ref"], same_day["ref"]], "weight": point["value"], "height": same_day["value"]}
    return None


def _bp_pediatric(facts: dict[str, Any], sex: str, born: date) -> dict[str, Any] | str | None:
    bp = facts.get("bp") or {}
    if bp.get("sbp") is None or bp.get("dbp") is None:
        return None  # no recent BP: the measurement rule asks for one
    found = read_bp(facts, sex, born, bp["sbp"], bp["dbp"], date.fromisoformat(bp["date"]))
    if not isinstance(found, dict):
        return found
    return {"sbp": bp["sbp"], "dbp": bp["dbp"], "date": bp["date"], "readings": bp.get("readings"), **found,
            "refs": list(bp.get("refs") or []) + found["refs"]}


def read_bp(facts: dict[str, Any], sex: str, born: date, sbp: float, dbp: float,
            day: date) -> dict[str, Any] | str | None:
    """One blood pressure read against AAP 2017 Table 3 at the child's age on ``day``: the category, and for ages 1
    to 12 the percentile bands and thresholds of the table's column nearest the child's height percentile (a height
    measured within a year of ``day``). A sentence when the percentiles cannot be read; None before 1 year of age
    or from 18 (adult thresholds apply)."""
    age = (day.year - born.year) - ((day.month, day.day) < (born.month, born.day))
    if age < BP_TABLE_AGES[0] or age >= PEDIATRIC_UNTIL:
        return None
    if age >= BP_STATIC_FROM:
        return {"ageAtMeasure": age, "category": bp_category(sbp, dbp, age, None), "refs": [],
                "stage1": _stage1(age, None), "method": "AAP 2017 Table 3, static thresholds (13 years and older)"}
    height = _height_near(facts, day)
    if height is None:
        return "no height measured within a year of the blood pressure: the AAP 2017 percentile category (by age, " \
               "sex and height percentile) not computed"
    height_age = decimal_age(born, date.fromisoformat(height["date"]))
    reason = implausible_growth("height", height["value"], sex, height_age, height["date"])
    if reason:
        return f"{reason}; the AAP 2017 percentile category (by height percentile) not computed from it"
    height_percentile = percentile(growth_z("height", height["value"], sex, height_age))
    column = nearest_column(height_percentile)
    cuts = bp_thresholds(sex, age, column)
    return {"ageAtMeasure": age, "category": bp_category(sbp, dbp, age, cuts), "heightPercentile": height_percentile,
            "heightColumn": column, "height": {"value": height["value"], "unit": "cm", "date": height["date"]},
            "sbpPercentile": _band(sbp, cuts["sbp"]), "dbpPercentile": _band(dbp, cuts["dbp"]), "thresholds": cuts,
            "stage1": _stage1(age, cuts),
            "method": f"AAP 2017 Table {TABLES[sex]}, age {age}, height column {column}th (nearest the child's "
                      f"{height_percentile:g}th percentile, CDC 2000 stature-for-age)", "refs": [height["ref"]]}


def _stage1(age: int, thresholds: dict[str, dict[str, int]] | None) -> dict[str, float]:
    """Where stage 1 starts (Table 3: the 95th percentile or 130/80 mm Hg, whichever is lower; 130/80 from 13)."""
    systolic, diastolic = category_cutoffs(age, thresholds)
    return {"sbp": systolic[1], "dbp": diastolic[1]}


def bp_trend(facts: dict[str, Any], sex: str, born: date) -> dict[str, Any] | None:
    """Each day with a systolic and a diastolic reading (the day's mean of each, as the latest BP is averaged),
    from 1 year of age, read against AAP 2017 by :func:`read_bp`, for the trend chart: {"series": [{"date", "sbp",
    "dbp", "category", "sbpPercentile", "dbpPercentile", "stage1", "note"}], "method"}; None when there is none."""
    measures = facts.get("measures") or {}
    days: dict[str, dict[str, list[float]]] = {}
    for key in ("sbp", "dbp"):
        for point in (measures.get(key) or {}).get("series") or []:
            if isinstance(point.get("value"), int | float) and point.get("date"):
                days.setdefault(point["date"][:10], {"sbp": [], "dbp": []})[key].append(float(point["value"]))
    series = []
    for day in sorted(day for day, values in days.items() if values["sbp"] and values["dbp"])[-TREND_POINTS:]:
        sbp, dbp = (round(sum(days[day][key]) / len(days[day][key]), 1) for key in ("sbp", "dbp"))
        found = read_bp(facts, sex, born, sbp, dbp, date.fromisoformat(day))
        if found is None:
            continue
        point: dict[str, Any] = {"date": day, "sbp": sbp, "dbp": dbp}
        if isinstance(found, str):
            point["note"] = found
        else:
            point.update({key: found[key] for key in ("category", "stage1", "ageAtMeasure", "method", "sbpPercentile",
                                                      "dbpPercentile", "heightColumn") if key in found})
        series.append(point)
    return {"series": series, "method": "AAP 2017 Table 3 (percentile tables 4 and 5 from 1 to 12 years, static "
            "thresholds from 13), each day's mean"} if series else None


def _height_near(facts: dict[str, Any], day: date) -> dict[str, Any] | None:
    """The height measured nearest in time to the BP day, within :data:`HEIGHT_WITHIN_DAYS`."""
    series = (facts.get("measures") or {}).get("height", {}).get("series") or []
    dated = [(abs((date.fromisoformat(p["date"]) - day).days), p) for p in series if p.get("value")]
    dated = [(gap, p) for gap, p in dated if gap <= HEIGHT_WITHIN_DAYS]
    return min(dated, key=lambda item: item[0])[1] if dated else None
