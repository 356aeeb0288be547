"""Build facts dicts (docs/facts.md) from a short description, for tests, the cases table and benchmarks.

``make_facts(age=58, sex="female", hba1c=7.4, conditions=["diabetes"])`` gives the facts the context layer
would produce for such a patient, with references and dates, so engine tests do not need FHIR.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, timedelta
from typing import Any

LOOKBACK_DAYS = {"hba1c": 365, "egfr": 365, "uacr": 365, "bmi": 365, "phq9": 365, "phq2": 365,
                 "ldl": 1826, "total_cholesterol": 1826, "hdl": 1826}
UNITS = {"hba1c": "%", "egfr": "mL/min/1.73m2", "uacr": "mg/g", "bmi": "kg/m2", "phq9": "{score}",
         "phq2": "{score}", "ldl": "mg/dL", "total_cholesterol": "mg/dL", "hdl": "mg/dL", "pack_years": "{pack-years}",
         "creatinine": "mg/dL", "weight": "kg", "height": "cm"}
LABELS = {"hba1c": "HbA1c", "egfr": "eGFR", "uacr": "UACR", "bmi": "BMI", "ldl": "LDL cholesterol",
          "phq9": "PHQ-9", "smoking": "smoking status", "total_cholesterol": "total cholesterol"}
Value = float | tuple[float, int] | None  # a value, or (value, days before as_of)


def _ref(kind: str, key: str) -> list[dict[str, str]]:
    return [{"type": kind, "id": f"cp-{key.replace('_', '-')}", "version": "1"}]


def _day(as_of: date, days_ago: int) -> str:
    return (as_of - timedelta(days=days_ago)).isoformat()


def _measure(key: str, value: Value, as_of: date) -> dict[str, Any] | None:
    if value is None:
        return None
    amount, days_ago = value if isinstance(value, tuple) else (value, 30)
    recent = days_ago <= LOOKBACK_DAYS.get(key, 365)
    return {"value": amount, "unit": UNITS.get(key, ""), "date": _day(as_of, days_ago), "daysAgo": days_ago,
            "withinLookback": recent, "code": f"http://loinc.org|{key}", "refs": _ref("Observation", key),
            "series": [], **({"recentValue": amount} if recent else {})}


def make_facts(*, age: int | None = 50, sex: str = "female", as_of: str = "2025-06-01", patient_id: str = "cp-test",
               birth_date: str | None = None,
               bp: tuple[float, float] | tuple[float, float, int] | None = None,
               smoking: str | tuple[str, int] | None = "never", creatinine_series: Sequence[tuple[float, int]] = (),
               ascvd10y: float | None = None, egfr: Value = None, bmi: Value = None,
               conditions: Sequence[str] | Mapping[str, str] = (),
               past_conditions: Sequence[str] | Mapping[str, str] = (), medications: Mapping[str, str] | None = None,
               allergies: Mapping[str, str] | None = None, procedures: Mapping[str, int] | None = None,
               cyp2c19: str | None = None, slco1b1: str | None = None,
               prescribed_days_ago: Mapping[str, int] | None = None, not_done: Mapping[str, str] | None = None,
               housing: str | None = None, out_of_office: tuple[float, float, str] | None = None,
               **measures: Value) -> dict[str, Any]:
    """Facts for one patient; procedures map a key to how many days ago it was done; medications are prescribed
    200 days before ``as_of`` unless ``prescribed_days_ago`` says otherwise for their key; ``not_done`` maps a key
    to the reason of an order not to do it (a request with ``doNotPerform``, recorded 100 days before ``as_of``).
    ``past_conditions`` are recorded but no longer active (status ``history``, as a resolved or inactive
    Condition of a key that reads past episodes). ``bp`` is (systolic, diastolic[, readings]): 2 readings are 2
    occasions, 1 a single one. ``smoking`` is a status,
    or (status, days ago). ``creatinine_series`` is [(mg/dL, days ago)], newest first; the derived facts
    (hypertension by readings, treatment of hypertension, acute kidney injury) come from the context layer's own
    functions. ``birth_date`` (instead of ``age``) gives the age in completed years on ``as_of``, as the context
    layer computes it; ``age=None`` is a patient with no date of birth on record. ``housing`` is the SNOMED CT code
    of the latest housing status answer (160734000: lives in a nursing home); ``out_of_office`` an out-of-office
    BP average (systolic, diastolic, setting: ``self-measured`` or ``ambulatory``) 5 days before ``as_of``. For a
    patient under 22 (the pediatric pack's ages) height, weight and lipid results also form one-point series, and the
    children's scores are derived as the context layer derives them (``app.context.pediatric``: BMI-for-age, the
    AAP 2017 BP category, the NHLBI lipid window)."""
    from app.context.dates import age_on

    day = date.fromisoformat(as_of)
    born = date.fromisoformat(birth_date) if birth_date else date(day.year - age, 1, 1) if age is not None else None
    facts: dict[str, Any] = {
        "asOf": as_of,
        "patient": {"id": patient_id, "ageYears": age_on(born, day) if born else None, "sex": sex,
                    "birthDate": born.isoformat() if born else None, "race": "unknown",
                    "refs": [{"type": "Patient", "id": patient_id, "version": "1"}]},
        "measures": {}, "conditions": {}, "medications": {}, "allergies": {}, "procedures": {}, "scores": {},
        "not_done": {key: {"display": key.replace("_", " "), "date": _day(day, 100),
                           "reasons": [{"code": None, "system": None, "display": reason}],
                           "refs": _ref("MedicationRequest", f"{key}-not-done")}
                     for key, reason in (not_done or {}).items()},
        "missing": [], "dataQuality": [],
    }
    for key, value in measures.items():
        measure = _measure(key, value, day)
        if measure:
            facts["measures"][key] = measure
    if housing is not None:
        display = {"160734000": "Lives in a nursing home"}.get(housing, housing)
        facts["measures"]["housing_status"] = {
            "valueCode": {"system": "http://snomed.info/sct", "code": housing, "display": display},
            "date": _day(day, 30), "refs": _ref("Observation", "housing-status")}
    if egfr is not None:
        facts["measures"]["egfr"] = _measure("egfr", egfr, day)
        facts["scores"]["egfr"] = {"value": facts["measures"]["egfr"]["value"], "unit": "mL/min/1.73m2",
                                   "method": "reported", "refs": _ref("Observation", "egfr")}
    if bmi is not None:
        facts["measures"]["bmi"] = _measure("bmi", bmi, day)
        facts["scores"]["bmi"] = {"value": facts["measures"]["bmi"]["value"], "unit": "kg/m2",
                                  "method": "reported", "refs": _ref("Observation", "bmi")}
    if ascvd10y is not None:
        facts["scores"]["ascvd10y"] = {"value": ascvd10y, "unit": "%", "method": "Pooled Cohort Equations (2013)",
                                       "basis": "PCE 2013", "inputs": {},
                                       "refs": _ref("Observation", "total-cholesterol")}
    if bp is not None:
        sbp, dbp, readings = (*bp, 2)[:3]
        facts["bp"] = {"sbp": sbp, "dbp": dbp, "readings": readings, "occasions": min(readings, 2),
                       "date": _day(day, 10), "refs": _ref("Observation", "bp"),
                       "latest": {"sbp": sbp, "dbp": dbp, "date": _day(day, 10), "readings": 1,
                                  "refs": _ref("Observation", "bp")}}
    if out_of_office is not None:
        facts.setdefault("bp", {})["outOfOffice"] = {
            "sbp": out_of_office[0], "dbp": out_of_office[1], "setting": out_of_office[2], "date": _day(day, 5),
            "refs": _ref("Observation", "bp-average")}
    if smoking is not None:
        status, smoked_days_ago = (smoking, 30) if isinstance(smoking, str) else smoking
        facts["smoking"] = {"status": status, "date": _day(day, smoked_days_ago), "daysAgo": smoked_days_ago,
                            "withinLookback": smoked_days_ago <= 365, "refs": _ref("Observation", "smoking")}
    for status, recorded in (("active", conditions), ("history", past_conditions)):
        named = recorded.items() if isinstance(recorded, Mapping) else ((key, key) for key in recorded)
        for key, display in named:
            facts["conditions"][key] = {"code": key, "system": "http://snomed.info/sct",
                                        "display": display.replace("_", " "), "onset": _day(day, 800),
                                        "status": status, "refs": _ref("Condition", key)}
    for key, display in (medications or {}).items():
        facts["medications"][key] = [{"code": key, "system": "http://www.nlm.nih.gov/research/umls/rxnorm",
                                      "display": item,
                                      "authoredOn": _day(day, (prescribed_days_ago or {}).get(key, 200)),
                                      "refs": _ref("MedicationRequest", f"{key}-{index}")}
                                     for index, item in enumerate(display.split(" + "))]
    from app.context.facts import prescriptions  # the same derivation as facts from FHIR

    facts["prescribed"] = prescriptions(facts["medications"], day)
    for key, display in (allergies or {}).items():
        facts["allergies"][key] = [{"code": key, "display": display, "criticality": "high",
                                    "refs": _ref("AllergyIntolerance", key)}]
    for key, days_ago in (procedures or {}).items():
        facts["procedures"][key] = {"code": key, "display": key.replace("_", " "), "date": _day(day, days_ago),
                                    "daysAgo": days_ago, "withinLookback": days_ago <= 365,
                                    "refs": _ref("Procedure", key)}
    for key, phenotype in (("cyp2c19", cyp2c19), ("slco1b1", slco1b1)):
        if phenotype:
            facts["measures"][key] = {"phenotype": phenotype, "valueCode": {"display": f"{phenotype}"},
                                      "date": _day(day, 400), "refs": _ref("Observation", key)}
    _derive(facts, creatinine_series, day)
    if facts["patient"]["ageYears"] is not None and facts["patient"]["ageYears"] < 22:
        _child_scores(facts)
    for key, label in LABELS.items():
        present = facts["smoking"] if key == "smoking" and smoking else facts["measures"].get(key)
        if not present or (isinstance(present, dict) and present.get("withinLookback") is False):
            facts["missing"].append({"key": key, "message": f"no {label} in the last 12 months"})
    return facts


def _child_scores(facts: dict[str, Any]) -> None:
    """A child's height, weight and lipids as series (the context layer's shape), then the children's scores."""
    from app.context.pediatric import add_scores

    for key in ("height", "weight", "ldl", "total_cholesterol", "hdl"):
        measure = facts["measures"].get(key)
        if measure:
            measure["series"] = [{"date": measure["date"], "value": measure["value"], "ref": measure["refs"][0]}]
    add_scores(facts, facts["missing"])


def _derive(facts: dict[str, Any], creatinine_series: Sequence[tuple[float, int]], day: date) -> None:
    """The context layer's derived facts (app.context.diagnoses), computed as it computes them."""
    from app.context.dates import When
    from app.context.derived import polyp_findings
    from app.context.diagnoses import acute_kidney, hypertension_by_readings, hypertension_treatment
    from app.context.observations import Reading

    readings = [Reading("creatinine", When(_day(day, days_ago)), _ref("Observation", f"creatinine-{index}")[0],
                        "http://loinc.org|2160-0", value=value)
                for index, (value, days_ago) in enumerate(creatinine_series)]
    if readings:
        facts["measures"]["creatinine"] = {**_measure("creatinine", creatinine_series[0], day),
                                           "refs": [readings[0].ref]}
    hypertension_by_readings(facts)
    hypertension_treatment(facts)
    acute_kidney(facts, readings)
    polyp_findings(facts)
