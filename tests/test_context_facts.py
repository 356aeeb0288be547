"""The pure facts core over fhir_fixtures/context-*.json, inline malformed resources and the Synthea bundles."""

from __future__ import annotations

import dataclasses
import json
from datetime import date

import pytest

from app.context import default_requirements, facts_from_bundle, facts_from_resources
from tests.conftest import FIXTURES, SYNTHEA

AS_OF = "2020-06-01"
REQUIREMENTS = default_requirements()


def facts_of(name: str, as_of: str = AS_OF) -> dict:
    return facts_from_bundle(json.loads((FIXTURES / f"context-{name}.json").read_text()), REQUIREMENTS, as_of)


def ids(refs: list[dict]) -> list[str]:
    return [r["id"] for r in refs]


def missing_of(facts: dict) -> dict[str, str]:
    return {m["key"]: m["message"] for m in facts["missing"]}


@pytest.fixture(scope="module")
def filters():
    return facts_of("filters")


def test_facts__observation_status_filter_keeps_final_amended_corrected(filters):
    hba1c = filters["measures"]["hba1c"]
    assert (hba1c["value"], hba1c["date"], ids(hba1c["refs"])) == (7.4, "2020-01-15", ["cp-ctx-filters-a1c-final"])
    assert [s["ref"]["id"] for s in hba1c["series"]] == [
        "cp-ctx-filters-a1c-corrected", "cp-ctx-filters-a1c-amended", "cp-ctx-filters-a1c-final"]


def test_facts__results_after_the_evaluation_date_are_not_used(filters):
    assert "cp-ctx-filters-a1c-future" not in [s["ref"]["id"] for s in filters["measures"]["hba1c"]["series"]]
    assert facts_of("filters", "2020-07-02")["measures"]["hba1c"]["refs"][0]["id"] == "cp-ctx-filters-a1c-future"


def test_facts__condition_filters(filters):
    conditions = filters["conditions"]
    assert set(conditions) == {"diabetes", "ckd"}  # refuted, resolved, entered-in-error, future onset: out
    assert ids(conditions["diabetes"]["refs"]) == ["cp-ctx-filters-dm"]
    assert (conditions["ckd"]["system"], conditions["ckd"]["code"]) == ("http://hl7.org/fhir/sid/icd-10-cm", "N18.3")


def test_facts__only_active_medication_requests_classified_by_code_or_medication_reference(filters):
    medications = filters["medications"]
    assert set(medications) == {"antihypertensive", "statin"}  # stopped statin, completed clopidogrel: out
    [statin] = medications["statin"]
    assert statin["code"] == "316672"
    assert ids(statin["refs"]) == ["cp-ctx-filters-statin-byref", "cp-ctx-filters-med-simva"]


def test_facts__allergies_not_refuted_or_entered_in_error(filters):
    assert [ids(a["refs"]) for a in filters["allergies"]["other"]] == [["cp-ctx-filters-allergy-ace"]]
    assert filters["allergies"]["other"][0]["criticality"] == "high"


def test_facts__only_completed_procedures(filters):
    colonoscopy = filters["procedures"]["colonoscopy"]
    assert (colonoscopy["date"], colonoscopy["withinLookback"]) == ("2015-05-01", True)
    assert ids(colonoscopy["refs"]) == ["cp-ctx-filters-colonoscopy-2015"]


@pytest.fixture(scope="module")
def units():
    return facts_of("units")


@pytest.mark.parametrize(("key", "value", "unit"), [
    ("glucose", 99.09, "mg/dL"), ("total_cholesterol", 201.06, "mg/dL"), ("hdl", 50.26, "mg/dL"),
    ("ldl", 116.0, "mg/dL"), ("hba1c", 7.0, "%"), ("creatinine", 1.0, "mg/dL"), ("uacr", 26.52, "mg/g"),
    ("weight", 81.65, "kg"), ("height", 177.8, "cm"),
])
def test_facts__values_are_converted_to_the_canonical_unit(units, key, value, unit):
    assert (units["measures"][key]["value"], units["measures"][key]["unit"]) == (value, unit)


def test_facts__unit_given_as_text_only_is_read(units):
    assert units["measures"]["total_cholesterol"]["series"][0] == {
        "date": "2019-03-01", "value": 190.0, "ref": {"type": "Observation", "id": "cp-ctx-units-tc-text",
                                                      "version": None}}


def test_facts__bp_averages_panels_and_separate_readings_on_the_two_latest_days(units):
    bp = units["bp"]
    assert (bp["sbp"], bp["dbp"], bp["readings"], bp["occasions"], bp["date"]) == (140.0, 86.7, 3, 2, "2020-03-01")
    assert "cp-ctx-units-bp-old" not in ids(bp["refs"])
    assert units["measures"]["sbp"]["value"] == 140.0  # the latest panel (09:10)


def test_facts__derived_egfr_and_bmi_when_not_reported(units):
    egfr, bmi = units["scores"]["egfr"], units["scores"]["bmi"]
    assert (egfr["method"], egfr["value"], egfr["inputs"]["ageYears"]) == ("CKD-EPI 2021 (race-free)", 86.2, 60)
    assert (bmi["method"], bmi["value"]) == ("weight/height^2", 25.8)
    assert missing_of(units)["egfr"] == "no eGFR recorded"


def test_facts__pce_uses_african_american_equations_and_names_its_inputs(units):
    ascvd = units["scores"]["ascvd10y"]
    assert ascvd["inputs"]["equations"] == "African American"
    assert ascvd["inputs"]["smoker"] is True and ascvd["inputs"]["treatedHypertension"] is False
    assert "cp-ctx-units-smoking" in ids(ascvd["refs"])


def test_facts__pce_worked_example_patient_gives_the_published_risk():
    facts = facts_of("pce")
    assert facts["patient"]["ageYears"] == 55
    assert facts["scores"]["ascvd10y"]["value"] == 2.1  # Goff 2013 Table A, white women
    assert facts["scores"]["egfr"]["method"] == "reported" and facts["scores"]["bmi"]["method"] == "reported"


@pytest.mark.parametrize(("removed", "message"), [
    ("cp-ctx-pce-tc", "recent total cholesterol missing: ASCVD risk not computed"),
    ("cp-ctx-pce-smoking", "smoking status missing: ASCVD risk not computed"),
])
def test_facts__pce_not_computed_names_the_missing_input(removed, message):
    bundle = json.loads((FIXTURES / "context-pce.json").read_text())
    bundle["entry"] = [e for e in bundle["entry"] if e["resource"]["id"] != removed]
    facts = facts_from_bundle(bundle, REQUIREMENTS, AS_OF)
    assert "ascvd10y" not in facts["scores"]
    assert missing_of(facts)["scores.ascvd10y"] == message


def test_facts__pce_not_computed_outside_40_to_79():
    # The fixture's readings are from 2020: evaluated decades later, BP and lipids do not count as recent, so
    # the age boundary is checked with requirements that keep any reading.
    timeless = [dataclasses.replace(r, lookback=None) if r.type == "Observation" else r for r in REQUIREMENTS]
    bundle = json.loads((FIXTURES / "context-pce.json").read_text())
    assert "ascvd10y" in facts_from_bundle(bundle, timeless, "2044-06-01")["scores"]  # 79 on 2044-01-01
    facts = facts_from_bundle(bundle, timeless, "2045-06-01")
    assert missing_of(facts)["scores.ascvd10y"] == "age 80 outside 40-79: ASCVD risk (PCE) not computed"


def test_facts__blood_pressure_older_than_its_look_back_is_not_used():
    facts = facts_of("pce", "2044-06-01")
    assert facts["bp"] == {}
    assert facts["measures"]["sbp"]["withinLookback"] is False  # still shown, with its date
    assert "ascvd10y" not in facts["scores"]
    assert missing_of(facts)["sbp"].startswith("no systolic blood pressure in the last 12 months (latest ")


@pytest.fixture(scope="module")
def timezones():
    return facts_of("timezones")


def test_facts__local_day_decides_the_evaluation_date_boundary(timezones):
    hba1c = timezones["measures"]["hba1c"]
    assert (ids(hba1c["refs"]), hba1c["date"], hba1c["daysAgo"]) == (["cp-ctx-tz-a1c-evening"], "2020-06-01", 0)


def test_facts__local_day_decides_the_lookback_boundary(timezones):
    assert timezones["measures"]["ldl"]["withinLookback"] is True
    assert timezones["measures"]["hdl"]["withinLookback"] is False
    assert missing_of(timezones)["hdl"] == "no HDL cholesterol in the last 12 months (latest 2019-06-01)"


def test_facts__effective_period_start_dates_a_result(timezones):
    assert timezones["measures"]["weight"]["date"] == "2020-05-20"


def test_facts__age_is_completed_years_on_the_evaluation_date(timezones):
    assert timezones["patient"]["ageYears"] == 49  # born 1970-06-02, 50 the next day


@pytest.fixture(scope="module")
def quality():
    return facts_of("quality")


@pytest.mark.parametrize(("resource_id", "problem"), [
    ("cp-ctx-quality-a1c-unit", "unit 'foo' unknown for HbA1c: not used"),
    ("cp-ctx-quality-weight-novalue", "no value for body weight (not-performed): not used"),
    ("cp-ctx-quality-weight-huge", "body weight 7000 kg implausible, please verify: outside 0.2-700; not used"),
    ("cp-ctx-quality-hdl-nodate", "no effective date: not used"),
    ("cp-ctx-quality-bp-implausible",
     "systolic blood pressure 400 mm[Hg] implausible, please verify: outside 30-350; not used"),
    ("cp-ctx-quality-egfr-unit", "eGFR: unit 'mL/min' read as mL/min/1.73m2 (an eGFR is normalised to 1.73 m2; "
                                 "many laboratories omit it)"),
])
def test_facts__data_quality_names_each_unusable_resource(quality, resource_id, problem):
    found = [{"ref": q["ref"], "problem": q["problem"]} for q in quality["dataQuality"]]
    assert {"ref": {"type": "Observation", "id": resource_id, "version": None}, "problem": problem} in found


def test_facts__an_implausible_result_is_kept_apart_with_its_key_and_date(quality):
    implausible = {q["ref"]["id"]: q for q in quality["dataQuality"] if q.get("kind") == "implausible"}
    assert implausible["cp-ctx-quality-weight-huge"]["key"] == "weight"
    assert implausible["cp-ctx-quality-weight-huge"]["date"]


def test_facts__unusable_values_are_not_used(quality):
    assert quality["measures"]["weight"]["value"] == 62.5
    assert quality["measures"]["hba1c"]["date"] == "2019-05-01"
    assert quality["bp"] == {}  # the one panel had an implausible systolic value: the whole reading is dropped
    # the eGFR reported in 'mL/min' is read (with a note) and preferred to one computed from creatinine
    assert quality["scores"]["egfr"]["method"] == "reported"


MALFORMED = [
    ({"resourceType": "Observation", "id": "no-status", "code": {"coding": [
        {"system": "http://loinc.org", "code": "4548-4"}]}, "valueQuantity": {"value": 7, "unit": "%"}},
     "failed FHIR R4 validation"),
    ({"resourceType": "Observation", "id": "bad-value", "status": "final", "code": {"coding": [
        {"system": "http://loinc.org", "code": "4548-4"}]}, "valueQuantity": {"value": "seven", "unit": "%"}},
     "failed FHIR R4 validation at valueQuantity.value"),
    ({"resourceType": "Observation", "id": "no-code", "status": "final"}, "failed FHIR R4 validation at code"),
    ({"resourceType": "Condition", "id": "bad-date", "subject": {"reference": "Patient/p"}, "code": {"coding": [
        {"system": "http://snomed.info/sct", "code": "44054006"}]}, "onsetDateTime": "2020-13-45"},
     "failed FHIR R4 validation at onsetDateTime"),
]


@pytest.mark.parametrize(("resource", "problem"), MALFORMED)
def test_facts__malformed_resources_are_listed_never_crash(resource, problem):
    patient = {"resourceType": "Patient", "id": "p", "gender": "male", "birthDate": "1960-01-01"}
    facts = facts_from_resources([patient, resource], REQUIREMENTS, AS_OF)
    [entry] = facts["dataQuality"]
    assert entry["ref"]["id"] == resource["id"] and entry["problem"].startswith(problem)
    assert "hba1c" not in facts["measures"] and "diabetes" not in facts["conditions"]


def test_facts__an_unknown_status_is_ignored_like_preliminary():
    observation = {"resourceType": "Observation", "id": "odd", "status": "bogus", "code": {"coding": [
        {"system": "http://loinc.org", "code": "4548-4"}]}, "effectiveDateTime": "2020-01-01",
        "valueQuantity": {"value": 7, "unit": "%"}}
    assert "hba1c" not in facts_from_resources([observation], REQUIREMENTS, AS_OF)["measures"]


def test_facts__without_a_patient_names_the_gap():
    facts = facts_from_resources([], REQUIREMENTS, AS_OF)
    assert facts["patient"]["id"] is None and facts["patient"]["ageYears"] is None
    assert "sex (female or male)" in missing_of(facts)["scores.ascvd10y"]


def test_facts__another_patients_resources_are_never_mixed_in():
    bundle = json.loads((FIXTURES / "context-units.json").read_text())
    other = json.loads((FIXTURES / "context-filters.json").read_text())
    bundle["entry"] += [e for e in other["entry"] if e["resource"]["resourceType"] != "Patient"]
    facts = facts_from_bundle(bundle, REQUIREMENTS, AS_OF)
    assert facts["patient"]["id"] == "cp-ctx-units"
    recorded = {key for key, entry in facts["conditions"].items() if entry.get("source") != "results"}
    assert facts["measures"]["hba1c"]["refs"][0]["id"] == "cp-ctx-units-a1c" and not recorded


def test_facts__genomics_phenotypes_from_the_genomics_reporting_shapes():
    measures = facts_of("genomics")["measures"]
    cyp2c19, slco1b1 = measures["cyp2c19"], measures["slco1b1"]
    assert (cyp2c19["phenotype"], cyp2c19["genotype"], cyp2c19["valueCode"]["code"]) == (
        "poor", "CYP2C19 *2/*2", "LA9657-3")
    assert ids(cyp2c19["refs"]) == ["cp-ctx-pgx-cyp2c19-phenotype", "cp-ctx-pgx-cyp2c19-genotype"]
    assert (slco1b1["phenotype"], ids(slco1b1["refs"])) == ("decreased", ["cp-ctx-pgx-slco1b1-phenotype"])


def test_facts__a_genotype_alone_is_not_interpreted():
    bundle = json.loads((FIXTURES / "context-genomics.json").read_text())
    bundle["entry"] = [e for e in bundle["entry"] if "phenotype" not in e["resource"]["id"]]
    facts = facts_from_bundle(bundle, REQUIREMENTS, AS_OF)
    assert facts["measures"]["cyp2c19"]["phenotype"] == "unknown"
    assert missing_of(facts)["cyp2c19"] == (
        "CYP2C19 phenotype: a result without a phenotype carepath can read (genotype CYP2C19 *2/*2)")


def test_facts__a_pharmacogenomic_result_is_examined_only_for_a_gene_asked_for():
    import copy

    bundle = json.loads((FIXTURES / "context-genomics.json").read_text())
    genotype = next(e["resource"] for e in bundle["entry"] if e["resource"]["id"] == "cp-ctx-pgx-cyp2c19-genotype")
    broken = []
    for gene, hgnc in (("DPYD", "HGNC:3012"), ("CYP2C19", "HGNC:2621")):
        result = copy.deepcopy(genotype)
        result["id"] = f"cp-ctx-pgx-broken-{gene.lower()}"
        result["effectiveDateTime"] = "2019-05-01"  # newer than the fixture's results
        for component in result["component"]:
            for coding in component.get("valueCodeableConcept", {}).get("coding", []):
                coding.update(code=hgnc, display=gene)
        result["valueCodeableConcept"] = {"text": f"{gene} *1/*2"}
        result["issued"] = "yesterday"  # fails validation
        broken.append(result)
    bundle["entry"] += [{"resource": r} for r in broken]
    facts = facts_from_bundle(bundle, REQUIREMENTS, AS_OF)
    # DPYD is asked for by no key: never examined; the CYP2C19 one is, and is named
    assert [q["ref"]["id"] for q in facts["dataQuality"]] == ["cp-ctx-pgx-broken-cyp2c19"]
    assert facts["measures"]["cyp2c19"]["genotype"] == "CYP2C19 *2/*2"


@pytest.mark.parametrize("path", sorted(SYNTHEA.glob("*.json")), ids=lambda p: p.stem.split("_")[0])
def test_facts__every_synthea_patient_gives_json_facts(path):
    facts = facts_from_bundle(json.loads(path.read_text()), REQUIREMENTS, AS_OF)
    assert facts["patient"]["id"] and facts["patient"]["sex"] in ("female", "male")
    json.dumps(facts)  # plain JSON, nothing else
    for measure in facts["measures"].values():
        assert measure["refs"] and all(ref["type"] == "Observation" for ref in measure["refs"])


def test_facts__are_deterministic():
    assert facts_of("units") == facts_of("units")


@pytest.mark.parametrize(("value", "expected"), [
    ({"valueCodeableConcept": {"coding": [{"system": "http://snomed.info/sct", "code": "260385009",
                                           "display": "Negative"}]}},
     {"valueCode": {"system": "http://snomed.info/sct", "code": "260385009", "display": "Negative"}}),
    ({"valueQuantity": {"value": 30, "unit": "{pack-years}"}}, {"value": 30.0, "unit": "{pack-years}"}),
    ({"valueBoolean": True}, {"valueCode": {"value": True}}),
    ({"valueString": "not detected"}, {"valueCode": {"text": "not detected"}}),
])
def test_facts__keys_without_a_canonical_unit_keep_the_value_as_given(value, expected):
    from app.context.requirements import Requirement

    requirement = Requirement("fit", "Observation", (("http://loinc.org", "29771-3"),), "FIT")
    observation = {"resourceType": "Observation", "id": "o1", "status": "final", "code": {"coding": [
        {"system": "http://loinc.org", "code": "29771-3"}]}, "effectiveDateTime": "2020-01-01", **value}
    measure = facts_from_resources([observation], [requirement], AS_OF)["measures"]["fit"]
    assert {k: measure[k] for k in expected} == expected


def _hba1c(index: int, day: str, **extra) -> dict:
    return {"resourceType": "Observation", "id": f"a1c-{index}", "status": "final", "code": {"coding": [
        {"system": "http://loinc.org", "code": "4548-4"}]}, "effectiveDateTime": day,
        "valueQuantity": {"value": 7.0, "unit": "%", "system": "http://unitsofmeasure.org", "code": "%"}, **extra}


def test_facts__only_the_kept_window_of_a_long_history_is_examined():
    from datetime import date, timedelta

    from app.context.facts import SERIES_LIMIT

    newest = [_hba1c(i, (date(2020, 1, 1) - timedelta(days=i)).isoformat()) for i in range(SERIES_LIMIT)]
    broken_old = _hba1c(999, "2001-01-01", valueQuantity={"value": "seven"})
    facts = facts_from_resources([broken_old, *newest], REQUIREMENTS, AS_OF)
    assert len(facts["measures"]["hba1c"]["series"]) == SERIES_LIMIT
    assert facts["dataQuality"] == []  # beyond the window: neither used nor checked
    facts = facts_from_resources([broken_old, *newest[:-1]], REQUIREMENTS, AS_OF)
    assert [q["ref"]["id"] for q in facts["dataQuality"]] == ["a1c-999"]  # inside the window: named


def _bp_panel(index: int, day: str, systolic: object = 120) -> dict:
    def component(code: str, value: object) -> dict:
        return {"code": {"coding": [{"system": "http://loinc.org", "code": code}]}, "valueQuantity": {
            "value": value, "unit": "mm[Hg]", "system": "http://unitsofmeasure.org", "code": "mm[Hg]"}}

    return {"resourceType": "Observation", "id": f"bp-{index}", "status": "final", "code": {"coding": [
        {"system": "http://loinc.org", "code": "85354-9"}]}, "effectiveDateTime": day,
        "component": [component("8480-6", systolic), component("8462-4", 80)]}


def test_facts__bp_panels_beyond_the_window_of_both_pressures_are_not_examined():
    from datetime import timedelta

    from app.context.facts import SERIES_LIMIT

    newest = [_bp_panel(i, (date(2020, 1, 1) - timedelta(days=i)).isoformat()) for i in range(SERIES_LIMIT)]
    broken_old = _bp_panel(999, "2001-01-01", systolic="high")
    facts = facts_from_resources([broken_old, *newest], REQUIREMENTS, AS_OF)
    assert len(facts["measures"]["sbp"]["series"]) == len(facts["measures"]["dbp"]["series"]) == SERIES_LIMIT
    assert facts["dataQuality"] == []  # a panel fills sbp and dbp: once both are full, older panels are not read
    facts = facts_from_resources([broken_old, *newest[:-1]], REQUIREMENTS, AS_OF)
    assert [q["ref"]["id"] for q in facts["dataQuality"]] == ["bp-999"]


def test_validate__remembers_a_server_version_not_an_unversioned_resource(monkeypatch):
    from app.context import resources

    calls = []
    monkeypatch.setattr(resources, "_verdict", lambda resource: calls.append(resource["id"]))
    resources.forget_validations()
    versioned = _hba1c(1, "2020-01-01", meta={"versionId": "3", "lastUpdated": "2020-01-02T00:00:00Z"})
    for _ in range(3):
        resources.validate(versioned)
        resources.validate(_hba1c(2, "2020-01-01"))
    assert calls == ["a1c-1", "a1c-2", "a1c-2", "a1c-2"]
    resources.forget_validations()


def test_facts__a_comparator_is_kept_beside_the_value():
    egfr = {"resourceType": "Observation", "id": "egfr-1", "status": "final", "code": {"coding": [
        {"system": "http://loinc.org", "code": "33914-3"}]}, "effectiveDateTime": "2020-01-01",
        "valueQuantity": {"value": 90, "comparator": ">", "unit": "mL/min/{1.73_m2}",
                          "system": "http://unitsofmeasure.org", "code": "mL/min/{1.73_m2}"}}
    facts = facts_from_resources([egfr], REQUIREMENTS, AS_OF)
    measure = facts["measures"]["egfr"]
    assert (measure["value"], measure["comparator"], measure["series"][0]["comparator"]) == (90.0, ">", ">")
    assert (facts["scores"]["egfr"]["method"], facts["scores"]["egfr"]["comparator"]) == ("reported", ">")


@pytest.mark.parametrize("bundle_type", ["searchset", "collection", "batch-response"])
def test_facts_from_bundle__any_bundle_type_gives_the_same_facts(bundle_type):
    source = json.loads((FIXTURES / "context-units.json").read_text())
    resources = [e["resource"] for e in source["entry"]]
    if bundle_type == "batch-response":  # searchsets nested in a batch answer, as a FHIR server sends them
        inner = {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": r} for r in resources]}
        bundle = {"resourceType": "Bundle", "type": bundle_type, "entry": [
            {"resource": inner, "response": {"status": "200 OK"}}]}
    else:
        bundle = {"resourceType": "Bundle", "type": bundle_type, "entry": [
            {"fullUrl": f"https://ehr.example.org/fhir/{r['resourceType']}/{r['id']}", "resource": r}
            for r in resources]}
    assert facts_from_bundle(bundle, REQUIREMENTS, AS_OF) == facts_of("units")


def test_facts_from_bundle__synthea_ids_come_from_the_urn_uuid_full_urls():
    path = next(iter(sorted(SYNTHEA.glob("*.json"))))
    bundle = json.loads(path.read_text())
    patient_entry = next(e for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient")
    facts = facts_from_bundle(bundle, REQUIREMENTS, AS_OF)
    assert facts["patient"]["id"] == patient_entry["fullUrl"].removeprefix("urn:uuid:")


def test_facts__the_same_with_observations_read_ahead_by_the_fetch():
    from app.context.observations import ObservationReader
    from app.context.requirements import merge
    from app.context.resources import forget_validations, from_bundle

    wanted = merge(default_requirements())
    as_of = date(2020, 6, 1)
    for path in sorted(SYNTHEA.glob("*.json"))[:6]:
        resources = from_bundle(json.loads(path.read_text()))
        forget_validations()
        plain = facts_from_resources(resources, wanted, as_of)
        reader = ObservationReader(wanted.of("Observation"), as_of)
        observations = [r for r in resources if r["resourceType"] == "Observation"]
        reader.prepare(observations)
        assert reader._examined, "the read-ahead examined nothing"
        assert facts_from_resources(resources, wanted, as_of, reader=reader) == plain
        # a reader prepared for another evaluation date is not used
        other = ObservationReader(wanted.of("Observation"), date(2019, 1, 1))
        other.prepare(observations)
        assert not other.serves(wanted.of("Observation"), as_of)
        assert facts_from_resources(resources, wanted, as_of, reader=other) == plain
