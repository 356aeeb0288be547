"""Reading a pack Library's data requirements."""

from __future__ import annotations

import copy

import pytest

from app.context.requirements import (
    FACT_KEY_URL,
    FACT_LABEL_URL,
    Requirement,
    default_requirements,
    merge,
    requirements_from_library,
)
from app.errors import PackError

LOINC = "http://loinc.org"


def _requirement(key="hba1c", codes=(("http://loinc.org", "4548-4"),), lookback=(12, "mo"), type_="Observation"):
    entry = {"type": type_, "extension": [{"url": FACT_KEY_URL, "valueCode": key},
                                          {"url": FACT_LABEL_URL, "valueString": key.upper()}],
             "codeFilter": [{"path": "code", "code": [{"system": s, "code": c} for s, c in codes]}]}
    if lookback:
        entry["dateFilter"] = [{"path": "effective", "valueDuration": {
            "value": lookback[0], "unit": "months", "system": "http://unitsofmeasure.org", "code": lookback[1]}}]
    return entry


def _library(*entries):
    return {"resourceType": "Library", "id": "test", "dataRequirement": list(entries)}


def test_requirements_from_library__reads_keys_codes_labels_and_lookbacks():
    [requirement] = requirements_from_library(_library(_requirement()))
    assert requirement == Requirement("hba1c", "Observation", ((LOINC, "4548-4"),), "HBA1C", (12.0, "mo"))
    assert requirement.matches({"system": LOINC, "code": "4548-4"})
    assert not requirement.matches({"system": "http://snomed.info/sct", "code": "4548-4"})


@pytest.mark.parametrize(("change", "message"), [
    (lambda r: r.update(type="Specimen"), "type 'Specimen'"),
    (lambda r: r.update(extension=[]), "fact-key extension"),
    (lambda r: r.update(codeFilter=[{"path": "code", "valueSet": "http://example.org/vs"}]),
     "value set http://example.org/vs is not resolved"),
    (lambda r: r.update(codeFilter=[]), "no codes"),
    (lambda r: r["codeFilter"][0]["code"].append({"code": "x"}), "system and a code"),
    (lambda r: r["dateFilter"][0]["valueDuration"].update(code="h"), "a/mo/wk/d"),
])
def test_requirements_from_library__names_the_faulty_entry(change, message):
    entry = _requirement()
    change(entry)
    with pytest.raises(PackError, match=message) as error:
        requirements_from_library(_library(_requirement("ldl"), entry))
    assert "dataRequirement[1]" in str(error.value)


def test_requirements_from_library__refuses_what_is_not_a_library():
    with pytest.raises(PackError, match="Library"):
        requirements_from_library({"resourceType": "PlanDefinition"})


def test_merge__unites_codes_and_keeps_the_shortest_lookback():
    first = requirements_from_library(_library(_requirement("ldl", [(LOINC, "18262-6")], (12, "mo"))))
    second = requirements_from_library(_library(_requirement("ldl", [(LOINC, "13457-7")], (1, "a"))))
    third = requirements_from_library(_library(_requirement("ldl", [(LOINC, "18262-6")], (6, "mo"))))
    merged = merge(first + second + third).of("Observation")["ldl"]
    assert merged.codes == ((LOINC, "18262-6"), (LOINC, "13457-7"))
    assert merged.lookback == (6.0, "mo")


def test_merge__keeps_one_key_of_two_types_apart():
    requirements = requirements_from_library(_library(
        _requirement("statin", [("http://www.nlm.nih.gov/research/umls/rxnorm", "617311")], None, "MedicationRequest"),
        _requirement("statin", [("http://snomed.info/sct", "293472002")], None, "AllergyIntolerance")))
    merged = merge(requirements)
    assert len(merged) == 2
    assert merged.of("AllergyIntolerance")["statin"].codes == (("http://snomed.info/sct", "293472002"),)


def test_default_requirements__cover_the_fixed_keys_of_the_contract():
    keys = {r.key for r in default_requirements()}
    assert {"sbp", "dbp", "bp_panel", "total_cholesterol", "hdl", "ldl", "hba1c", "egfr", "creatinine", "uacr",
            "bmi", "weight", "height", "smoking", "phq9", "diabetes", "ascvd", "antihypertensive", "cyp2c19",
            "slco1b1"} <= keys


def test_requirements_from_library__does_not_mutate_its_input():
    library = _library(_requirement())
    before = copy.deepcopy(library)
    requirements_from_library(library)
    assert library == before
