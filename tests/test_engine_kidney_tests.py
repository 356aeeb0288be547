"""The yearly kidney tests (ADA 2025 §11, KDIGO 2024 Practice Point 2.1.1) from FHIR to facts to plan.

A laboratory result that is not a number (a text such as ">60", a code, a boolean) still records a test that was
done: it is read as the test resulted (``fact-resulted``, an event in ``procedures``), never as a value. Each of the
two tests is due a year after its latest result, and the activity is due when the first of them is.
"""

from __future__ import annotations

from typing import Any

import pytest

from app.context import facts_from_resources, requirements_from_library
from app.context.clinical import resulted
from app.engine import build_plan, load_pack_set
from app.errors import PackError
from tests.test_context_evidence import _entry, _library

AS_OF = "2025-01-03"
LOINC = "http://loinc.org"
SCT = "http://snomed.info/sct"
EGFR, UACR = "48642-3", "13705-9"  # eGFR (MDRD), albumin/creatinine mass ratio in 24-hour urine


@pytest.fixture(scope="module")
def pack():
    return load_pack_set()


def lab(code: str, day: str, **value: Any) -> dict[str, Any]:
    return {"resourceType": "Observation", "status": "final", "code": {"coding": [{"system": LOINC, "code": code}]},
            "effectiveDateTime": day, **value}


def _plan(pack, *results: dict[str, Any]):
    patient = {"resourceType": "Patient", "id": "p1", "gender": "male", "birthDate": "1960-02-01"}
    diabetes = {"resourceType": "Condition", "subject": {"reference": "Patient/p1"}, "onsetDateTime": "2015-01-01",
                "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                                               "code": "active"}]},
                "code": {"coding": [{"system": SCT, "code": "44054006", "display": "Type 2 diabetes mellitus"}]}}
    resources = [patient, {"id": "dm", **diabetes}]
    resources += [{"id": f"r{i}", "subject": {"reference": "Patient/p1"}, **r} for i, r in enumerate(results)]
    facts = facts_from_resources(resources, pack.requirements, AS_OF)
    return facts, build_plan(facts, pack, AS_OF)


@pytest.mark.parametrize("value", [{"valueBoolean": True}, {"valueString": ">60"},
                                   {"valueCodeableConcept": {"text": "normal"}},
                                   {"valueQuantity": {"value": 75, "unit": "mL/min/{1.73_m2}"}},
                                   {"component": [{"code": {"text": "x"}, "valueString": "see report"}]}])
def test_resulted__a_value_of_any_type_is_a_result(value):
    assert resulted(lab(EGFR, "2024-06-01", **value))


@pytest.mark.parametrize("value", [{}, {"valueString": ""},
                                   {"dataAbsentReason": {"coding": [{"code": "error"}]}},
                                   {"component": [{"code": {"text": "x"},
                                                   "dataAbsentReason": {"coding": [{"code": "error"}]}}]}])
def test_resulted__no_value_or_a_data_absent_reason_is_no_result(value):
    assert not resulted(lab(EGFR, "2024-06-01", **value))


def test_kidney_tests__results_that_are_not_numbers_count_as_done_and_are_shown(pack):
    facts, plan = _plan(pack, lab(EGFR, "2024-03-16", valueBoolean=True), lab(UACR, "2024-03-16", valueString="neg"))
    assert facts["procedures"]["egfr_test"]["date"] == "2024-03-16"
    assert facts["procedures"]["uacr_test"]["date"] == "2024-03-16"
    assert "egfr" not in facts["measures"] and "uacr" not in facts["measures"]  # no value to stage by
    assert any("eGFR result is a valueBoolean, not a quantity" in q["problem"] for q in facts["dataQuality"])
    tests = plan.activity("t2d.kidney-tests")
    assert tests.timing["due"] == "2025-03-16"  # a year after the tests, not now
    assert "an eGFR resulted on 16 Mar 2024 has no value carepath can read as a number: see the lab report" in \
        tests.rationale.text
    assert "a UACR resulted on 16 Mar 2024 has no value" in tests.rationale.text
    assert {"egfr_test", "uacr_test"} <= {fact.key for fact in tests.rationale.facts_used}


def test_kidney_tests__a_test_recorded_without_a_value_is_not_done(pack):
    facts, plan = _plan(pack, lab(EGFR, "2024-03-16", valueBoolean=True), lab(UACR, "2024-03-16"))
    assert "uacr_test" not in facts["procedures"]
    tests = plan.activity("t2d.kidney-tests")
    assert tests.timing["due"] == AS_OF  # the UACR is due now: one test done does not stand for the other
    assert "Latest UACR: no numeric result." in tests.rationale.text


def test_kidney_tests__each_test_is_due_a_year_after_its_own_latest_result(pack):
    _facts, plan = _plan(pack, lab(EGFR, "2024-09-01", valueQuantity={"value": 75, "unit": "mL/min/{1.73_m2}"}),
                         lab(UACR, "2024-02-01", valueQuantity={"value": 12, "unit": "mg/g"}))
    tests = plan.activity("t2d.kidney-tests")
    assert tests.timing["due"] == "2025-02-01"  # the UACR's year ends first
    assert "Latest UACR: 12 mg/g (1 Feb 2024)" in tests.rationale.text
    assert "see the lab report" not in tests.rationale.text


def test_kidney_tests__a_newer_result_without_a_number_is_named_beside_an_older_value(pack):
    _facts, plan = _plan(pack, lab(UACR, "2023-05-01", valueQuantity={"value": 40, "unit": "mg/g"}),
                         lab(UACR, "2024-05-01", valueBoolean=True),
                         lab(EGFR, "2024-05-01", valueQuantity={"value": 70, "unit": "mL/min/{1.73_m2}"}))
    tests = plan.activity("t2d.kidney-tests")
    assert tests.timing["due"] == "2025-05-01"
    assert "a UACR resulted on 1 May 2024 has no value" in tests.rationale.text
    assert "an eGFR resulted" not in tests.rationale.text


def test_library__fact_resulted_is_for_observation_event_keys_only():
    filters = [("code", LOINC, EGFR)]
    [requirement] = requirements_from_library(_library(_entry("Observation", "t", filters, **{
        "fact-event": True, "fact-resulted": True})))
    assert requirement.resulted and requirement.event
    for resource_type, flags in (("Observation", {}), ("Procedure", {})):
        with pytest.raises(PackError, match="fact-resulted"):
            requirements_from_library(_library(_entry(resource_type, "t", filters,
                                                      **{"fact-resulted": True, **flags})))


def test_kidney_tests__overdue_since_the_test_that_was_not_repeated_in_time(pack):
    _facts, plan = _plan(pack, lab(EGFR, "2022-04-01", valueQuantity={"value": 75, "unit": "mL/min/{1.73_m2}"}))
    tests = plan.activity("t2d.kidney-tests")
    assert tests.timing["due"] == AS_OF  # no UACR ever: due now
    assert tests.priority["overdue_since"] == "2023-04-01"  # the eGFR has been due again since then
    _facts, plan = _plan(pack)
    assert plan.activity("t2d.kidney-tests").priority["overdue_since"] is None  # never done: no date to give
