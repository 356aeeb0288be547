"""Surveillance after colorectal polyps (USMSTF 2020 Table 3) by the findings of the last colonoscopy: histology from
a Condition or a pathology report's conclusionCode, the largest polyp's size from an Observation, read through the
context layer; the clinician's choice, never the average-risk interval, when the findings do not decide it."""

from __future__ import annotations

from functools import cache

from app.context import facts_from_bundle
from app.engine import build_plan, load_pack_set

AS_OF = "2025-06-01"
SNOMED, LOINC, ICD10CM = "http://snomed.info/sct", "http://loinc.org", "http://hl7.org/fhir/sid/icd-10-cm"


@cache
def _pack():
    return load_pack_set()


def _patient() -> dict:
    return {"resourceType": "Patient", "id": "p", "gender": "female", "birthDate": "1965-01-01"}


def _colonoscopy(day: str = "2024-03-01") -> dict:
    return {"resourceType": "Procedure", "id": "colo", "status": "completed", "subject": {"reference": "Patient/p"},
            "code": {"coding": [{"system": SNOMED, "code": "73761001", "display": "Colonoscopy"}]},
            "performedDateTime": day}


def _pathology(code: str, display: str, day: str = "2024-03-05") -> dict:
    return {"resourceType": "DiagnosticReport", "id": f"path-{code}", "status": "final",
            "subject": {"reference": "Patient/p"}, "effectiveDateTime": day,
            "code": {"coding": [{"system": LOINC, "code": "60567-5", "display": "Comprehensive pathology report"}]},
            "conclusionCode": [{"coding": [{"system": SNOMED, "code": code, "display": display}]}]}


def _condition(system: str, code: str, display: str, day: str = "2024-03-05") -> dict:
    return {"resourceType": "Condition", "id": f"c-{code}", "subject": {"reference": "Patient/p"},
            "clinicalStatus": {"coding": [{"code": "resolved"}]}, "onsetDateTime": day,
            "code": {"coding": [{"system": system, "code": code, "display": display}]}}


def _size(mm: float, day: str = "2024-03-01", code: str = "33756-8", system: str = LOINC, unit: str = "mm") -> dict:
    return {"resourceType": "Observation", "id": f"size-{mm}-{day}", "status": "final",
            "subject": {"reference": "Patient/p"}, "effectiveDateTime": day,
            "code": {"coding": [{"system": system, "code": code}]},
            "valueQuantity": {"value": mm, "unit": unit, "system": "http://unitsofmeasure.org", "code": unit}}


def _plan(*resources: dict):
    bundle = {"resourceType": "Bundle", "type": "collection",
              "entry": [{"resource": r} for r in (_patient(), *resources)]}
    facts = facts_from_bundle(bundle, _pack().requirements, AS_OF)
    plan = build_plan(facts, _pack(), AS_OF)
    return facts, {a.id: a for a in plan.activities}


def test_tubulovillous_adenoma_in_a_pathology_report_sets_3_years_from_the_last_colonoscopy():
    facts, activities = _plan(_colonoscopy(), _pathology("61722000", "Tubulovillous adenoma"))
    assert facts["procedures"]["polyp_advanced_histology"]["atLastColonoscopy"] is True
    surveillance = activities["screen.polyp-surveillance-3y"]
    assert surveillance.timing["due"] == "2027-03-01"
    assert "screen.polyp-surveillance" not in activities and "screen.colorectal" not in activities
    text = surveillance.rationale.text
    assert "For adults with colorectal polyps" in text and "Tubulovillous adenoma" in text
    assert "number of polyps" in text and "size of the polyps" in text  # what was not in the record
    assert surveillance.clinician_choice is True  # more than 10 adenomas or piecemeal resection would shorten it


def test_adenoma_of_10_mm_sets_3_years_and_one_of_9_mm_is_left_to_the_report():
    _facts, activities = _plan(_colonoscopy(), _condition(SNOMED, "399432003", "Adenoma of large intestine"),
                               _size(10))
    assert activities["screen.polyp-surveillance-3y"].timing["due"] == "2027-03-01"
    _facts, activities = _plan(_colonoscopy(), _condition(SNOMED, "399432003", "Adenoma of large intestine"),
                               _size(9))
    assert "screen.polyp-surveillance-3y" not in activities
    fallback = activities["screen.polyp-surveillance"]
    assert fallback.clinician_choice is True and fallback.timing["due"] == AS_OF
    assert "largest polyp 9 mm" in fallback.rationale.text and "7 to 10 years" in fallback.rationale.text


def test_a_size_in_cm_is_read_in_mm_and_the_largest_of_the_last_colonoscopy_counts():
    facts, activities = _plan(_colonoscopy(), _condition(ICD10CM, "Z86.0101", "Personal history of adenomatous and "
                                                         "serrated colon polyps"),
                              _size(1.2, unit="cm"), _size(4, day="2024-03-01T10:00:00Z"))
    assert facts["measures"]["polyp_size"]["largestAtLastColonoscopy"] == 12
    assert "screen.polyp-surveillance-3y" in activities


def test_hyperplastic_polyp_of_10_mm_proposes_3_years_and_names_the_3_to_5_year_range():
    _facts, activities = _plan(_colonoscopy(), _condition(ICD10CM, "Z86.0102", "Personal history of hyperplastic "
                                                          "colon polyps"), _size(11, code="373197004", system=SNOMED))
    surveillance = activities["screen.polyp-surveillance-3y"]
    assert "3 to 5 years" in surveillance.rationale.text


def test_a_polyp_of_20_mm_names_the_6_month_interval_after_piecemeal_resection():
    _facts, activities = _plan(_colonoscopy(), _pathology("1230009008", "Sessile serrated lesion of large intestine"),
                               _size(22))
    assert "piecemeal, Table 3 sets 6 months" in activities["screen.polyp-surveillance-3y"].rationale.text
    _facts, activities = _plan(_colonoscopy(), _pathology("1230009008", "Sessile serrated lesion of large intestine"),
                               _size(19))
    assert "piecemeal, Table 3 sets 6 months" not in activities["screen.polyp-surveillance-3y"].rationale.text


def test_findings_older_than_the_last_colonoscopy_are_shown_not_used():
    facts, activities = _plan(_colonoscopy("2024-03-01"),
                              _pathology("128859003", "Villous adenoma", day="2019-02-01"), _size(15, day="2019-02-01"))
    assert facts["procedures"]["polyp_advanced_histology"]["atLastColonoscopy"] is False
    assert "screen.polyp-surveillance-3y" not in activities
    fallback = activities["screen.polyp-surveillance"]
    assert "not used: Villous adenoma" in fallback.rationale.text and fallback.clinician_choice is True


def test_without_findings_the_fallback_keeps_its_text_and_never_the_average_risk_interval():
    _facts, activities = _plan(_colonoscopy(), _condition(SNOMED, "68496003", "Polyp of colon"))
    fallback = activities["screen.polyp-surveillance"]
    assert fallback.clinician_choice is True and "screen.colorectal" not in activities
    assert "the findings USMSTF 2020 grades them by (number, size, histology) are not in the record" in \
        fallback.rationale.text
    assert "screen.polyp-surveillance-3y" not in activities


def test_no_polyp_no_surveillance():
    _facts, activities = _plan(_colonoscopy())
    assert not {"screen.polyp-surveillance", "screen.polyp-surveillance-3y"} & set(activities)
