"""Every door, fuzzed: whatever a CDS client, a cohort input file or a Bulk Data server sends, carepath answers
with cards, a clear status, a counted bad line or a clear message: never a 500, a traceback or a lost run.

The app's pages and the ``carepath`` command are fuzzed in ``test_hostile_data.py``; this file covers the other
doors with the same damaged sample bundles (``tests/hostile.py``) and with arbitrary JSON and bytes.
"""

from __future__ import annotations

import gzip
import json
import tempfile
from datetime import date
from pathlib import Path

import pytest
import responses
from hypothesis import given, settings
from hypothesis import strategies as st

from app import create_app
from app.cohort.decoder import UnreadableInput, decode_document
from app.cohort.export import ExportFailed, ExportOptions, _manifest
from app.cohort.plans import patient_result
from app.cohort.sources import local_groups, resources_in_order
from tests.cds_helpers import EHR_ISS, JWKS_URL, CdsClientKeys
from tests.hostile import mutated_bundles, to_json
from tests.test_hostile_data import HOSTILE, _packs

AS_OF = date(2021, 4, 1)
SERVICE = "/cds-services/carepath-care-gaps"
#: What a CDS Hooks answer may be, besides cards: a request carepath refuses says so with one of these.
CDS_REFUSALS = {400, 401, 403, 404, 405, 412, 413, 415, 422}

#: Any JSON value, nested a little: what a careless or hostile client may post.
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=20)
#: Hook bodies: mostly well-formed around a damaged part, sometimes anything at all.
hook_fields = st.fixed_dictionaries({}, optional={
    "hook": st.sampled_from(["patient-view", "order-select", ""]) | json_values,
    "hookInstance": st.uuids().map(str) | json_values,
    "context": st.fixed_dictionaries({}, optional={"patientId": st.sampled_from(["p1", "../x", ""]) | json_values,
                                                   "userId": st.just("Practitioner/cp-doc-1") | json_values}),
    "prefetch": json_values,
    "fhirServer": st.sampled_from(["https://ehr.example.org/fhir", "http://169.254.169.254/", "file:///etc/passwd"])
    | json_values,
    "fhirAuthorization": json_values,
})


@pytest.fixture(scope="module")
def cds():
    keys = CdsClientKeys()
    app = create_app({"TESTING": True, "SECRET_KEY": "test", "VAR_DIR": tempfile.mkdtemp(),
                      "REVIEW_AS_OF": "2021-04-01",
                      "CDS_CLIENTS": [{"iss": EHR_ISS, "jwks_url": JWKS_URL}],
                      "SMART_ALLOWED_ISS": ["https://ehr.example.org/fhir"], "SMART_OPEN_SERVERS": [],
                      "FHIR_RETRIES": 0})
    app.extensions["carepath_packs"] = _packs()
    return app.test_client(), keys


def _post_hook(cds, body: bytes, path: str = SERVICE):
    client, keys = cds
    # nothing may leave the test: a request to an unregistered URL raises inside responses, which carepath must
    # turn into an answer like any unreachable server
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.add("GET", JWKS_URL, json=keys.jwks())
        answer = client.post(path, data=body, content_type="application/json",
                             headers={"Authorization": f"Bearer {keys.token()}"})
    return answer


def _assert_cds_answer(answer) -> None:
    assert answer.status_code == 200 or answer.status_code in CDS_REFUSALS, answer.get_data(as_text=True)[:300]
    body = answer.get_json(silent=True)
    assert isinstance(body, dict), answer.get_data(as_text=True)[:300]
    if answer.status_code == 200:
        assert isinstance(body.get("cards"), list)


@settings(HOSTILE, max_examples=60)
@given(hook_fields)
def test_cds_service__any_hook_body_gets_cards_or_a_clear_refusal(cds, body):
    _assert_cds_answer(_post_hook(cds, to_json(body).encode("utf-8", "surrogatepass")))


def _templates(cds) -> dict[str, str]:
    client, _ = cds
    [service] = client.get("/cds-services").get_json()["services"]
    return service["prefetch"]


@settings(HOSTILE, max_examples=40)
@given(mutated_bundles())
def test_cds_service__a_damaged_record_as_prefetch_gets_cards_or_a_clear_refusal(cds, bundle):
    """Every prefetch template answered from a damaged sample record, as an EHR would send it."""
    listed = bundle.get("entry") if isinstance(bundle.get("entry"), list) else []
    entries = [e.get("resource") for e in listed if isinstance(e, dict)]
    patient = next((r for r in entries if isinstance(r, dict) and r.get("resourceType") == "Patient"), None)
    patient_id = patient.get("id") if isinstance(patient, dict) and isinstance(patient.get("id"), str) else "p1"
    prefetch = {}
    for key, template in _templates(cds).items():
        resource_type = template.split("?")[0].split("/")[0]
        found = [r for r in entries if isinstance(r, dict) and r.get("resourceType") == resource_type]
        prefetch[key] = patient if resource_type == "Patient" else {
            "resourceType": "Bundle", "type": "searchset", "entry": [{"resource": r} for r in found]}
    body = {"hook": "patient-view", "hookInstance": "d5c1b3e2-0000-4000-8000-000000000001",
            "context": {"patientId": patient_id, "userId": "Practitioner/cp-doc-1"}, "prefetch": prefetch}
    _assert_cds_answer(_post_hook(cds, to_json(body).encode("utf-8", "surrogatepass")))


@settings(HOSTILE, max_examples=60)
@given(st.binary(max_size=200) | json_values.map(lambda v: json.dumps(v).encode()))
def test_cds_feedback__any_body_gets_a_clear_answer(cds, body):
    _assert_cds_answer(_post_hook(cds, body, path=f"{SERVICE}/feedback"))


# -- cohort inputs: ndjson and Bundle files ---------------------------------------------------------------------

hostile_lines = st.lists(st.binary(max_size=80) | json_values.map(lambda v: json.dumps(v).encode())
                         | st.sampled_from([b'{"resourceType": ["Patient"]}', b'{"resourceType": null}',
                                            b'{"resourceType": "Patient", "id": "p", "name": 7}',
                                            b'{"resourceType": "Patient", "id": "p", "name": [{"given": {}}]}',
                                            b"[" * 5000, b"\xff\xfe", b"\x1b[2J\x1b]0;owned\x07"]),
                         max_size=12)


@settings(HOSTILE, max_examples=60)
@given(hostile_lines, mutated_bundles(), st.booleans())
def test_cohort_inputs__bad_lines_are_counted_and_every_patient_planned_or_named(lines, bundle, gzipped):
    with tempfile.TemporaryDirectory() as folder:
        listed = bundle.get("entry") if isinstance(bundle.get("entry"), list) else []
        good = [to_json(e["resource"]).encode("utf-8", "surrogatepass") for e in listed
                if isinstance(e, dict) and isinstance(e.get("resource"), dict)]
        data = b"\n".join([*good, *lines])
        name = "Mixed.ndjson.gz" if gzipped else "Mixed.ndjson"
        Path(folder, name).write_bytes(gzip.compress(data) if gzipped else data)
        Path(folder, "bundle.json").write_bytes(to_json(bundle).encode("utf-8", "surrogatepass"))
        groups, problems = local_groups(folder)
        assert all(isinstance(kind, str) and count > 0 for kind, count in problems.items())
        for patient_id, items in groups.items():
            try:
                resources = resources_in_order(items)
            except UnreadableInput:
                continue  # a keyed line the decoder refuses at planning time is the same counted refusal
            result = patient_result(patient_id, resources, _packs(), AS_OF)
            assert result.plan_json or result.counts  # a plan, or a finding naming why there is none


def test_cohort_inputs__a_file_that_is_not_gzip_is_counted_not_fatal(tmp_path):
    (tmp_path / "Patient.ndjson.gz").write_bytes(b"not gzip at all")
    observation = {"resourceType": "Observation", "subject": {"reference": "Patient/1"}}
    (tmp_path / "Observation.ndjson").write_text(json.dumps(observation))
    groups, problems = local_groups(tmp_path)
    assert any("gzip" in kind for kind in problems), problems
    assert list(groups) == ["1"]  # the readable file still counts


# -- the Bulk Data export manifest -----------------------------------------------------------------------------

@settings(HOSTILE, max_examples=100)
@given(st.binary(max_size=300) | json_values.map(lambda v: json.dumps(v).encode())
       | st.fixed_dictionaries({"output": json_values, "error": json_values}).map(lambda v: json.dumps(v).encode()))
def test_export_manifest__anything_is_a_manifest_or_a_clear_export_failure(body):
    try:
        manifest = _manifest(body, ExportOptions())
    except ExportFailed as failure:
        assert str(failure).startswith("the ")
        return
    assert isinstance(manifest["output"], list)


def test_export_manifest__nested_100000_deep_is_a_clear_failure():
    with pytest.raises(ExportFailed, match="cannot be read"):
        _manifest(b'{"output": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", ExportOptions())
    with pytest.raises(UnreadableInput):
        decode_document(b"[" * 100_000)
