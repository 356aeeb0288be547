"""The patient context against the real local HAPI server: facts via FHIR equal facts from the source files."""

from __future__ import annotations

import json

import pytest

from app.context import assemble, default_requirements, facts_from_bundle
from app.context import fetch as fetch_module
from app.fhir.search import MAX_PARALLEL
from tests.conftest import FIXTURES, SYNTHEA

pytestmark = pytest.mark.integration

AS_OF = "2020-06-01"
REQUIREMENTS = default_requirements()
# A few Synthea patients with long histories, diabetes, CKD or coronary disease (see shared/data/README.md).
SYNTHEA_PATIENTS = ["Cody_Larson", "Josue_Sipes", "Neva_Hyatt"]


def without_versions(value):
    """Facts with every ``version`` removed (a file has none; the server numbers them) and no fetch notes."""
    if isinstance(value, dict):
        return {k: without_versions(v) for k, v in value.items() if k not in ("version", "fetch")}
    if isinstance(value, list):
        return [without_versions(v) for v in value]
    return value


def bundle_and_patient(path):
    bundle = json.loads(path.read_text())
    patient = next(e for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient")
    patient_id = patient["resource"].get("id") or patient["fullUrl"].rsplit(":", 1)[1]
    return bundle, patient_id


@pytest.mark.parametrize("name", ["filters", "units", "pce", "timezones", "genomics"])
def test_assemble__fixture_facts_via_hapi_equal_the_bundle_facts(loaded_hapi, name):
    bundle, patient_id = bundle_and_patient(FIXTURES / f"context-{name}.json")
    via_server = assemble(loaded_hapi, patient_id, REQUIREMENTS, AS_OF)
    assert via_server["fetch"]["mode"] == "batch" and via_server["fetch"]["notes"] == []
    assert without_versions(via_server) == without_versions(facts_from_bundle(bundle, REQUIREMENTS, AS_OF))
    assert all(ref["version"] for ref in via_server["patient"]["refs"])


@pytest.mark.parametrize("prefix", SYNTHEA_PATIENTS)
def test_assemble__synthea_facts_via_hapi_equal_the_source_bundle_facts(loaded_hapi, prefix):
    [path] = SYNTHEA.glob(f"{prefix}_*.json")
    bundle, patient_id = bundle_and_patient(path)
    via_server = assemble(loaded_hapi, patient_id, REQUIREMENTS, AS_OF)
    from_file = facts_from_bundle(bundle, REQUIREMENTS, AS_OF)
    assert via_server["measures"], "the server returned no measures"
    assert without_versions(via_server) == without_versions(from_file)


def test_assemble__data_quality_problems_are_named_via_hapi(loaded_hapi):
    facts = assemble(loaded_hapi, "cp-ctx-quality", REQUIREMENTS, AS_OF)
    problems = {q["ref"]["id"]: q["problem"] for q in facts["dataQuality"]}
    assert problems["cp-ctx-quality-a1c-unit"] == "unit 'foo' unknown for HbA1c: not used"
    assert problems["cp-ctx-quality-weight-huge"].startswith("body weight 7000 kg implausible")
    assert problems["cp-ctx-quality-ldl-badcode"].startswith("failed FHIR R4 validation at valueQuantity.code")
    assert facts["measures"]["weight"]["value"] == 62.5


def test_assemble__request_count_is_the_same_for_short_and_long_histories(loaded_hapi):
    [path] = SYNTHEA.glob("Cody_Larson_*.json")
    _bundle, long_history = bundle_and_patient(path)
    assemble(loaded_hapi, "cp-ctx-pce", REQUIREMENTS, AS_OF)  # CapabilityStatement read and cached
    short = assemble(loaded_hapi, "cp-ctx-pce", REQUIREMENTS, AS_OF)["fetch"]["requests"]
    long = assemble(loaded_hapi, long_history, REQUIREMENTS, AS_OF)["fetch"]["requests"]
    assert short == long == MAX_PARALLEL  # the searches spread over a few batch Bundles sent at once


def test_assemble__parallel_fallback_gives_the_same_facts(loaded_hapi):
    batch = assemble(loaded_hapi, "cp-ctx-units", REQUIREMENTS, AS_OF)
    fetch_module._servers_without_batch.add(loaded_hapi.base_url)
    try:
        parallel = assemble(loaded_hapi, "cp-ctx-units", REQUIREMENTS, AS_OF)
    finally:
        fetch_module._servers_without_batch.discard(loaded_hapi.base_url)
    assert parallel["fetch"]["mode"] == "parallel"
    assert parallel["fetch"]["requests"] == len(fetch_module.plan("cp-ctx-units", REQUIREMENTS))
    assert without_versions(parallel) == without_versions(batch)


def test_assemble__an_evaluation_date_in_the_past_sees_the_history_of_then(loaded_hapi):
    bundle, patient_id = bundle_and_patient(FIXTURES / "context-filters.json")
    via_server = assemble(loaded_hapi, patient_id, REQUIREMENTS, "2019-12-31")
    assert via_server["measures"]["hba1c"]["refs"][0]["id"] == "cp-ctx-filters-a1c-amended"
    assert without_versions(via_server) == without_versions(facts_from_bundle(bundle, REQUIREMENTS, "2019-12-31"))


@pytest.mark.parametrize(("patient", "path", "expected"), [
    ("cp-ctx-units", ("measures", "glucose", "value"), 99.09),           # 5.5 mmol/L
    ("cp-ctx-units", ("measures", "total_cholesterol", "value"), 201.06),  # 5.2 mmol/L
    ("cp-ctx-units", ("measures", "hba1c", "value"), 7.0),               # 53 mmol/mol
    ("cp-ctx-units", ("measures", "creatinine", "value"), 1.0),          # 88.4 umol/L
    ("cp-ctx-units", ("measures", "weight", "value"), 81.65),            # 180 [lb_av]
    ("cp-ctx-units", ("measures", "height", "value"), 177.8),            # 70 [in_i]
    ("cp-ctx-units", ("scores", "egfr", "method"), "CKD-EPI 2021 (race-free)"),
    ("cp-ctx-filters", ("measures", "hba1c", "refs", 0, "id"), "cp-ctx-filters-a1c-final"),
    ("cp-ctx-filters", ("conditions",), ["diabetes", "ckd"]),
    ("cp-ctx-filters", ("medications",), ["antihypertensive", "statin"]),
    ("cp-ctx-filters", ("procedures", "colonoscopy", "refs", 0, "id"), "cp-ctx-filters-colonoscopy-2015"),
    ("cp-ctx-pce", ("scores", "ascvd10y", "value"), 2.1),
    ("cp-ctx-tz", ("measures", "hba1c", "refs", 0, "id"), "cp-ctx-tz-a1c-evening"),
    ("cp-ctx-pgx", ("measures", "cyp2c19", "phenotype"), "poor"),
])
def test_assemble__filters_and_conversions_via_hapi(loaded_hapi, patient, path, expected):
    value = assemble(loaded_hapi, patient, REQUIREMENTS, AS_OF)
    for step in path:
        value = value[step]
    assert (sorted(value) if isinstance(value, dict) else value) == (
        sorted(expected) if isinstance(expected, list) else expected)
