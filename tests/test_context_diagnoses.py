"""Diagnostic-rule facts (app.context.diagnoses): hypertension by readings on 2 or more occasions (2017 ACC/AHA
§4.1), whether a BP-lowering medicine treats hypertension, acute kidney injury and disease by the KDIGO 2012
creatinine and eGFR criteria, and the age of the smoking status; through the FHIR road where the wiring matters."""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import cache

import pytest

from app.context import facts_from_bundle
from app.context.dates import When
from app.context.diagnoses import acute_kidney, hypertension_by_readings, hypertension_treatment
from app.context.observations import Reading
from app.engine import load_pack_set

AS_OF = "2021-04-01"
LOINC = "http://loinc.org"


@cache
def _requirements():
    return load_pack_set().requirements


def _facts(bp=None, conditions=(), medicines=()):
    return {"bp": bp or {}, "conditions": {key: {"display": key, "refs": []} for key in conditions},
            "medications": {"antihypertensive": [{"display": m, "refs": []} for m in medicines]} if medicines else {},
            "measures": {}, "scores": {}}


@pytest.mark.parametrize(("sbp", "dbp", "occasions", "diagnosed"), [
    (130, 70, 2, True), (120, 80, 2, True),     # 130 systolic or 80 diastolic on 2 occasions: stage 1 or more
    (129.9, 79.9, 2, False),                    # below 130/80
    (150, 95, 1, False),                        # a single occasion never diagnoses
])
def test_hypertension_by_readings__needs_130_80_on_2_occasions(sbp, dbp, occasions, diagnosed):
    facts = _facts({"sbp": sbp, "dbp": dbp, "readings": occasions, "occasions": occasions, "date": "2021-03-01",
                    "refs": []})
    hypertension_by_readings(facts)
    assert ("hypertension_by_readings" in facts["conditions"]) is diagnosed


@pytest.mark.parametrize(("conditions", "status"), [
    ((), "treated"),                                   # nothing else it is given for: hypertension treatment
    (("arrhythmia",), "indication-not-recorded"),
    (("angina",), "indication-not-recorded"),
    (("heart_failure",), "indication-not-recorded"),
    (("arrhythmia", "hypertension"), "treated"),       # the diagnosis is recorded
    (("heart_failure", "hypertension_by_readings"), "treated"),
])
def test_hypertension_treatment__counts_only_with_the_diagnosis_or_no_other_indication(conditions, status):
    facts = _facts(conditions=conditions, medicines=["verapamil 120 MG Oral Tablet"])
    hypertension_treatment(facts)
    entry = facts["treatment"]["hypertension"]
    assert entry["status"] == status
    assert "rule" in entry and entry["display"] == "verapamil 120 MG Oral Tablet"


def test_hypertension_treatment__absent_without_a_bp_lowering_medicine():
    facts = _facts(conditions=("hypertension",))
    hypertension_treatment(facts)
    assert "treatment" not in facts


def _readings(*points):
    """Creatinine readings, newest first, from (mg/dL, ISO date or dateTime)."""
    return [Reading("creatinine", When(day), {"type": "Observation", "id": f"c{i}", "version": None},
                    f"{LOINC}|2160-0", value=value) for i, (value, day) in enumerate(points)]


def _kidney(readings, recent=True, egfr_series=()):
    facts = _facts()
    facts["measures"]["creatinine"] = {"withinLookback": recent}
    if egfr_series:
        facts["scores"]["egfr"] = {"series": [{"date": d, "value": v} for d, v in egfr_series], "refs": []}
    acute_kidney(facts, readings)
    return facts["conditions"].get("acute_kidney_by_results")


@pytest.mark.parametrize(("points", "kind"), [
    (((1.2, "2021-03-02T08:00:00Z"), (0.9, "2021-03-01T09:00:00Z")), "AKI"),   # +0.3 in 23 h
    (((1.2, "2021-03-03T10:00:00Z"), (0.9, "2021-03-01T09:00:00Z")), None),    # +0.3 in 49 h, ratio 1.33
    (((1.19, "2021-03-02T08:00:00Z"), (0.9, "2021-03-01T09:00:00Z")), None),   # +0.29 in 23 h
    (((1.5, "2021-03-07"), (1.0, "2021-03-01")), "AKI"),                       # 1.5 times within 7 days
    (((3.02, "2021-03-25"), (0.74, "2021-02-18")), "AKD"),                     # 4 times in 5 weeks
    (((1.6, "2021-03-25"), (1.0, "2020-12-01")), None),                        # baseline older than 3 months
    (((1.5, "2021-03-25"), (1.0, "2021-02-01")), None),                        # exactly 50 % more: not "more than"
    (((1.8, "2021-03-25"), (1.7, "2021-02-01"), (1.75, "2020-12-01")), None),  # stable
])
def test_acute_kidney__kdigo_2012_creatinine_criteria(points, kind):
    found = _kidney(_readings(*points))
    assert (found or {}).get("kind") == kind
    if found:
        assert found["latest"]["value"] == points[0][0] and "KDIGO 2012" in found["criterion"]


def test_acute_kidney__an_old_latest_creatinine_raises_nothing():
    assert _kidney(_readings((3.0, "2019-03-25"), (0.8, "2019-03-20")), recent=False) is None


@pytest.mark.parametrize(("series", "kind"), [
    ((("2021-02-18", 100.0), ("2021-03-25", 64.0)), "AKD"),   # down 36 % within 3 months
    ((("2021-02-18", 100.0), ("2021-03-25", 70.0)), None),    # down 30 %
    ((("2020-10-18", 100.0), ("2021-03-25", 50.0)), None),    # the fall began more than 3 months ago
])
def test_acute_kidney__kdigo_2012_gfr_fall(series, kind):
    assert (_kidney([], egfr_series=series) or {}).get("kind") == kind


def _observation(oid, code, day, value, unit):
    return {"resourceType": "Observation", "id": oid, "status": "final", "subject": {"reference": "Patient/p"},
            "code": {"coding": [{"system": LOINC, "code": code}]}, "effectiveDateTime": day,
            "valueQuantity": {"value": value, "unit": unit, "system": "http://unitsofmeasure.org", "code": unit}}


def _bundle(*resources):
    patient = {"resourceType": "Patient", "id": "p", "gender": "female", "birthDate": "1960-01-01"}
    return {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": r} for r in (patient, *resources)]}


def test_facts__acute_kidney_from_fhir_creatinine():
    bundle = _bundle(_observation("c1", "2160-0", "2021-02-18", 0.74, "mg/dL"),
                     _observation("c2", "2160-0", "2021-03-25", 3.02, "mg/dL"))
    facts = facts_from_bundle(bundle, _requirements(), AS_OF)
    found = facts["conditions"]["acute_kidney_by_results"]
    assert found["kind"] == "AKD" and found["baseline"]["date"] == "2021-02-18"
    assert {r["id"] for r in found["refs"]} == {"c1", "c2"}


def test_facts__bp_latest_day_and_hypertension_by_readings_from_fhir():
    bundle = _bundle(_observation("s1", "8480-6", "2021-03-01", 128, "mm[Hg]"),
                     _observation("d1", "8462-4", "2021-03-01", 78, "mm[Hg]"),
                     _observation("s2", "8480-6", "2021-03-20", 184, "mm[Hg]"),
                     _observation("d2", "8462-4", "2021-03-20", 96, "mm[Hg]"))
    facts = facts_from_bundle(bundle, _requirements(), AS_OF)
    assert facts["bp"]["sbp"] == 156 and facts["bp"]["occasions"] == 2
    assert facts["bp"]["latest"]["sbp"] == 184 and facts["bp"]["latest"]["date"] == "2021-03-20"
    assert "hypertension_by_readings" in facts["conditions"]


@pytest.mark.parametrize(("day", "recent"), [("2020-03-01", False), ("2020-06-01", True)])
def test_facts__smoking_status_carries_its_age(day, recent):
    status = {"resourceType": "Observation", "id": "sm", "status": "final", "subject": {"reference": "Patient/p"},
              "code": {"coding": [{"system": LOINC, "code": "72166-2"}]}, "effectiveDateTime": day,
              "valueCodeableConcept": {"coding": [{"system": "http://snomed.info/sct", "code": "449868002"}]}}
    smoking = facts_from_bundle(_bundle(status), _requirements(), AS_OF)["smoking"]
    assert smoking["status"] == "current" and smoking["date"] == day  # an old status is still shown
    assert smoking["withinLookback"] is recent


def _average(oid, day, sbp, dbp, *, performer="Patient/p", period_hours=None):
    """A US Core Average Blood Pressure Observation (96607-7 with mean components)."""
    def mean(code, value):
        return {"code": {"coding": [{"system": LOINC, "code": code}]},
                "valueQuantity": {"value": value, "unit": "mm[Hg]", "system": "http://unitsofmeasure.org",
                                  "code": "mm[Hg]"}}
    start = datetime.fromisoformat(f"{day}T06:00:00+00:00")
    end = start + timedelta(hours=period_hours or 0)
    when = ({"effectivePeriod": {"start": start.isoformat(), "end": end.isoformat()}}
            if period_hours is not None else {"effectiveDateTime": day})
    return {"resourceType": "Observation", "id": oid, "status": "final", "subject": {"reference": "Patient/p"},
            "code": {"coding": [{"system": LOINC, "code": "96607-7"}]}, **when,
            "performer": [{"reference": performer}] if performer else [],
            "component": [mean("96608-5", sbp), mean("96609-3", dbp)]}


def _office(day, sbp, dbp):
    return (_observation(f"s-{day}", "8480-6", day, sbp, "mm[Hg]"),
            _observation(f"d-{day}", "8462-4", day, dbp, "mm[Hg]"))


def test_out_of_office__a_home_average_of_130_80_or_more_confirms_one_office_occasion():
    facts = facts_from_bundle(_bundle(*_office("2021-03-01", 150, 95), _average("a1", "2021-03-20", 138, 86)),
                              _requirements(), AS_OF)
    assert facts["bp"]["occasions"] == 1  # a single office occasion: not a diagnosis by itself
    assert facts["bp"]["outOfOffice"] == {"sbp": 138, "dbp": 86, "date": "2021-03-20", "setting": "self-measured",
                                          "refs": [{"type": "Observation", "id": "a1", "version": None}]}
    found = facts["conditions"]["hypertension_by_readings"]
    assert found["display"].startswith("self-measured out-of-office average 138/86 mmHg")
    assert "Table 11" in found["rule"] and found["refs"][0]["id"] == "a1"
    assert "bp_average" not in facts["measures"]
    assert not [m for m in facts["missing"] if m["key"] == "bp_average"]  # optional: never a gap


@pytest.mark.parametrize(("average", "setting"), [
    (dict(performer="Practitioner/x", period_hours=24), "ambulatory"),   # 24-hour ambulatory monitoring
    (dict(performer="RelatedPerson/r"), "self-measured"),
    (dict(performer="Practitioner/x"), None),                           # an office average of one visit
    (dict(performer="Practitioner/x", period_hours=2), None),
])
def test_out_of_office__setting_from_the_performer_or_the_period(average, setting):
    facts = facts_from_bundle(_bundle(_average("a1", "2021-03-20", 140, 90, **average)), _requirements(), AS_OF)
    assert (facts["bp"].get("outOfOffice") or {}).get("setting") == setting
    assert ("hypertension_by_readings" in facts["conditions"]) is (setting is not None)


def test_out_of_office__an_average_below_130_80_confirms_nothing_and_older_ones_do_not_count():
    below = facts_from_bundle(_bundle(*_office("2021-03-01", 150, 95), _average("a1", "2021-03-20", 126, 78)),
                              _requirements(), AS_OF)
    assert below["bp"]["outOfOffice"]["sbp"] == 126 and "hypertension_by_readings" not in below["conditions"]
    old = facts_from_bundle(_bundle(_average("a1", "2019-03-20", 150, 95)), _requirements(), AS_OF)
    assert "outOfOffice" not in old["bp"] and "hypertension_by_readings" not in old["conditions"]


def test_out_of_office__the_plan_sets_the_goal_when_confirmed_and_says_white_coat_when_not():
    from app.engine import build_plan

    confirmed = facts_from_bundle(_bundle(*_office("2021-03-01", 150, 95), _average("a1", "2021-03-20", 138, 86)),
                                  _requirements(), AS_OF)
    plan = build_plan(confirmed, load_pack_set(), AS_OF)
    assert plan.activity("htn.confirm-out-of-office") is None
    assert "htn.bp-goal" in {goal.id for goal in plan.goals}
    white_coat = facts_from_bundle(_bundle(*_office("2021-03-01", 150, 95), _average("a1", "2021-03-20", 126, 78)),
                                   _requirements(), AS_OF)
    plan = build_plan(white_coat, load_pack_set(), AS_OF)
    confirm = plan.activity("htn.confirm-out-of-office")
    assert confirm is not None and confirm.clinician_choice and "white coat hypertension" in confirm.rationale.text
    assert "htn.bp-goal" not in {goal.id for goal in plan.goals}
