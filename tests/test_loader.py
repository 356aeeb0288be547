"""Loading bundles: idempotent rewriting, failure reports, and the real round trip into local HAPI."""

from __future__ import annotations

import json

import pytest
import responses

from app.fhir import FhirClient
from app.loader import as_idempotent_transaction, bundle_files, load_paths
from tests.conftest import FIXTURES, SYNTHEA

BASE = "http://fhir.test/fhir"


def _synthea_like() -> dict:
    return {
        "resourceType": "Bundle", "type": "transaction",
        "entry": [
            {"fullUrl": "urn:uuid:p-1", "resource": {"resourceType": "Patient", "id": "p-1"},
             "request": {"method": "POST", "url": "Patient"}},
            {"fullUrl": "urn:uuid:o-1",
             "resource": {"resourceType": "Observation", "status": "final", "subject": {"reference": "urn:uuid:p-1"},
                          "code": {"coding": [{"system": "http://loinc.org", "code": "4548-4"}]}},
             "request": {"method": "POST", "url": "Observation"}},
        ],
    }


def test_as_idempotent_transaction__posts_become_puts_on_the_bundle_ids():
    result = as_idempotent_transaction(_synthea_like())
    assert [e["request"] for e in result["entry"]] == [
        {"method": "PUT", "url": "Patient/p-1"},
        {"method": "PUT", "url": "Observation/o-1"},
    ]
    assert result["entry"][1]["resource"]["id"] == "o-1"
    assert result["entry"][1]["resource"]["subject"] == {"reference": "urn:uuid:p-1"}


@pytest.mark.parametrize(
    ("bundle", "message"),
    [
        ({"resourceType": "Patient"}, "not a FHIR Bundle"),
        ({"resourceType": "Bundle", "type": "history"}, "cannot be loaded"),
        ({"resourceType": "Bundle", "type": "transaction", "entry": [{"request": {}}]}, "has no resource"),
        ({"resourceType": "Bundle", "type": "transaction",
          "entry": [{"resource": {"resourceType": "Patient"}}]}, "has no id"),
    ],
)
def test_as_idempotent_transaction__refuses_what_it_cannot_load(bundle, message):
    with pytest.raises(ValueError, match=message):
        as_idempotent_transaction(bundle)


@responses.activate
def test_load_paths__reports_each_failure_and_loads_the_rest(tmp_path):
    (tmp_path / "a_good.json").write_text(json.dumps(_synthea_like()))
    (tmp_path / "b_broken.json").write_text("{not json")
    (tmp_path / "c_refused.json").write_text(json.dumps(_synthea_like()))
    ok = {"resourceType": "Bundle", "type": "transaction-response", "entry": [{}, {}]}
    outcome = {"resourceType": "OperationOutcome",
               "issue": [{"severity": "error", "code": "processing", "diagnostics": "Invalid reference"}]}
    responses.post(BASE, json=ok)
    responses.post(BASE, json=outcome, status=422)

    report = load_paths(FhirClient(BASE, retries=0), [tmp_path], progress=False)

    assert [p.rsplit("/", 1)[-1] for p in report.loaded] == ["a_good.json"]
    assert report.resources == 2
    failures = {f.path.rsplit("/", 1)[-1]: f for f in report.failures}
    assert "not valid JSON" in failures["b_broken.json"].message
    assert failures["c_refused.json"].issues == ["error: Invalid reference"]


def test_bundle_files__missing_path_is_named():
    with pytest.raises(FileNotFoundError, match="no-such-folder"):
        bundle_files(["no-such-folder"])


def _patient_id(bundle: dict) -> str:
    return next(e["resource"]["id"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient")


def _observation_ids(client: FhirClient, patient_id: str, code: str) -> set[str]:
    return {r["id"] for r in client.search("Observation", {"patient": patient_id, "code": code})
            if r["resourceType"] == "Observation"}


@pytest.mark.integration
def test_load_paths__synthea_into_hapi_matches_the_source_and_does_not_duplicate(loaded_hapi):
    bundles = {path: json.loads(path.read_text()) for path in sorted(SYNTHEA.glob("*.json"))}
    patient_ids = [_patient_id(bundle) for bundle in bundles.values()]
    patients = loaded_hapi.search("Patient", {"_id": ",".join(patient_ids)})
    assert sorted(p["id"] for p in patients) == sorted(patient_ids)
    assert len(patients) == 25

    source_path, source = next(iter(bundles.items()))
    patient_id = _patient_id(source)
    expected = {e["resource"]["id"] for e in source["entry"]
                if e["resource"]["resourceType"] == "Observation"
                and any(c.get("code") == "4548-4" for c in e["resource"]["code"].get("coding", []))}
    before = _observation_ids(loaded_hapi, patient_id, "4548-4")
    assert before == expected

    report = load_paths(loaded_hapi, [source_path, FIXTURES], progress=False)
    assert not report.failures
    total = loaded_hapi.get_json("Observation", {"patient": patient_id, "_summary": "count"})["total"]
    source_total = sum(1 for e in source["entry"] if e["resource"]["resourceType"] == "Observation")
    assert total == source_total
    assert _observation_ids(loaded_hapi, patient_id, "4548-4") == expected


@pytest.mark.integration
def test_load_paths__hapi_refusal_is_reported_with_its_outcome_and_the_rest_loads(hapi, tmp_path):
    good = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": "urn:uuid:cp-loader-ok", "resource": {"resourceType": "Patient", "id": "cp-loader-ok"},
         "request": {"method": "POST", "url": "Patient"}}]}
    refused = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": "urn:uuid:cp-loader-bad",
         "resource": {"resourceType": "Observation", "id": "cp-loader-bad", "status": "not-a-status",
                      "code": {"text": "x"}},
         "request": {"method": "POST", "url": "Observation"}}]}
    (tmp_path / "1_broken.json").write_text('{"resourceType": "Bundle", ')
    (tmp_path / "2_refused.json").write_text(json.dumps(refused))
    (tmp_path / "3_good.json").write_text(json.dumps(good))

    report = load_paths(hapi, [tmp_path], progress=False)

    assert [p.rsplit("/", 1)[-1] for p in report.loaded] == ["3_good.json"]
    failures = {f.path.rsplit("/", 1)[-1]: f for f in report.failures}
    assert set(failures) == {"1_broken.json", "2_refused.json"}
    assert "not valid JSON" in failures["1_broken.json"].message
    assert any("not-a-status" in issue for issue in failures["2_refused.json"].issues)
    assert hapi.read("Patient", "cp-loader-ok")["id"] == "cp-loader-ok"
