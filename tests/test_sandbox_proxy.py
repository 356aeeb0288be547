"""The sandbox's FHIR proxy: token and scope checks (unit), then forwarding to the local HAPI server."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import requests
import responses

from app.fhir import FhirClient
from sandbox import bulk
from sandbox.models import LaunchContext, Registry
from sandbox.proxy import check


@dataclass
class FakeToken:
    scope: str
    patient: str = "p1"

    def get_scope(self) -> str:
        return self.scope

    @property
    def context(self) -> LaunchContext:
        return LaunchContext(patient=self.patient, fhir_user="Practitioner/x")


READ_ALL = "launch patient/*.rs"
V2 = "launch patient/*.rs patient/CarePlan.cu"


@pytest.mark.parametrize(("method", "path", "args", "body", "scope", "allowed"), [
    ("GET", "Patient/p1", {}, None, READ_ALL, True),
    ("GET", "Patient/p2", {}, None, READ_ALL, False),  # another patient
    ("GET", "Patient/p2", {}, None, "user/*.read", True),  # a user scope reaches beyond one patient
    # ...but only for the types it names: user/Practitioner.rs beside patient/ scopes keeps the rest to p1.
    ("GET", "Patient/p2", {}, None, READ_ALL + " user/Practitioner.rs", False),
    ("GET", "Observation", {"patient": "p2"}, None, READ_ALL + " user/Practitioner.rs", False),
    ("GET", "Practitioner/d1", {}, None, READ_ALL + " user/Practitioner.rs", True),
    ("GET", "Observation", {"patient": "p1", "code": "4548-4"}, None, READ_ALL, True),
    ("GET", "Observation", {"subject": "Patient/p1"}, None, READ_ALL, True),
    ("GET", "Observation", {"patient": "p2"}, None, READ_ALL, False),
    ("GET", "Observation", {"code": "4548-4"}, None, READ_ALL, False),  # not limited to the patient
    ("GET", "Practitioner", {}, None, READ_ALL, True),  # outside the patient compartment
    ("GET", "Observation", {"patient": "p1"}, None, "launch patient/Observation.r", False),  # read, no search
    ("GET", "Observation", {"patient": "p1"}, None, "launch patient/Observation.read", True),  # v1
    ("GET", "Condition", {"patient": "p1"}, None, "launch patient/Observation.rs", False),
    ("POST", "CarePlan", {}, {"resourceType": "CarePlan", "subject": {"reference": "Patient/p1"}}, V2, True),
    ("POST", "CarePlan", {}, {"resourceType": "CarePlan", "subject": {"reference": "Patient/p2"}}, V2, False),
    ("POST", "CarePlan", {}, {"resourceType": "CarePlan"}, READ_ALL, False),
    ("PUT", "CarePlan/c1", {}, {"resourceType": "CarePlan"}, V2, True),
    ("DELETE", "CarePlan/c1", {}, None, V2, False),
    ("POST", "Goal", {}, {"resourceType": "Goal"}, "patient/*.write", True),
    ("POST", "CarePlan/$validate", {}, {"resourceType": "CarePlan"}, READ_ALL, True),
    ("GET", "Patient/p1/$everything", {}, None, READ_ALL, False),
    # Bulk Data is for backend services only: an app token gets no export, whatever its scopes
    ("GET", "$export", {"_type": "Patient"}, None, READ_ALL, False),
    ("GET", "Patient/$export", {"_type": "Patient"}, None, "user/*.rs system/*.rs", False),
    ("GET", "Group/g1/$export", {}, None, "user/*.cruds", False),
    ("GET", "$export-poll-status", {"_jobId": "j1"}, None, "user/*.rs", False),
    ("GET", "", {}, None, READ_ALL, False),
    ("GET", "", {"_getpages": "abc"}, None, READ_ALL, True),  # next page: entries checked on the answer
    ("GET", "_history", {}, None, READ_ALL, False),
    ("POST", "", {}, {"resourceType": "Bundle", "type": "batch", "entry": [
        {"request": {"method": "GET", "url": "Observation?patient=p1&code=4548-4"}},
        {"request": {"method": "GET", "url": "Patient/p1"}}]}, READ_ALL, True),
    ("POST", "", {}, {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"request": {"method": "GET", "url": "Patient/p1"}},
        {"request": {"method": "POST", "url": "Goal"}, "resource": {"resourceType": "Goal"}}]}, READ_ALL, False),
    ("POST", "", {}, {"resourceType": "Patient"}, V2, False),
])
def test_check__scopes_and_patient_compartment(method, path, args, body, scope, allowed):
    refused = check(method, path, args, body, FakeToken(scope))
    assert (refused is None) is allowed, refused


def test_check__explains_the_missing_scope():
    refused = check("POST", "CarePlan", {}, {"resourceType": "CarePlan"}, FakeToken(READ_ALL))
    assert refused == ("The access token does not grant create on CarePlan (needs a scope like "
                       "patient/CarePlan.c).")


@dataclass
class FakeBackendToken:
    scope: str
    client_id: str = "bulk-1"
    backend: bool = True

    def get_scope(self) -> str:
        return self.scope


@pytest.fixture
def exports() -> Registry:
    """A registry where bulk-1 started job-mine (file-mine) and bulk-2 started job-other (file-other)."""
    registry = Registry()
    for client_id, job, file in (("bulk-1", "job-mine", "file-mine"), ("bulk-2", "job-other", "file-other")):
        registry.note_export("job", job, client_id)
        registry.note_export("file", file, client_id)
    return registry


@pytest.mark.parametrize(("method", "path", "args", "scope", "allowed"), [
    ("GET", "$export", {"_type": "Patient,Observation"}, "system/*.rs", True),
    ("GET", "$export", {"_type": "Patient"}, "system/*.read", True),  # SMART v1
    ("GET", "$export", {}, "system/*.rs", True),  # every type: needs system/*
    ("GET", "$export", {}, "system/Patient.rs", False),
    ("GET", "$export", {"_type": "Patient,Observation"}, "system/Patient.rs", False),
    ("GET", "$export", {"_type": "Patient"}, "system/Patient.r", False),  # read without search
    ("GET", "$export", {"_type": "Patient", "_typeFilter": "Observation?code=4548-4"}, "system/Patient.rs", False),
    ("GET", "$export", {"_type": "Patient"}, "patient/*.rs user/*.rs", False),  # only system/ scopes count
    ("GET", "Patient/$export", {"_type": "Condition"}, "system/Condition.rs", True),
    ("GET", "Group/g-1/$export", {"_type": "Patient"}, "system/Patient.rs", True),
    ("POST", "$export", {}, "system/*.rs", False),
    ("GET", "Patient/p1/$export", {"_type": "Patient"}, "system/*.rs", False),
    ("GET", "$export-poll-status", {"_jobId": "job-mine"}, "system/Patient.rs", True),
    ("DELETE", "$export-poll-status", {"_jobId": "job-mine"}, "system/Patient.rs", True),
    ("GET", "$export-poll-status", {"_jobId": "job-other"}, "system/*.rs", False),  # another client's job
    ("GET", "$export-poll-status", {"_jobId": "unknown"}, "system/*.rs", False),
    ("GET", "$export-poll-status", {}, "system/*.rs", False),
    ("GET", "Binary/file-mine", {}, "system/Patient.rs", True),
    ("GET", "Binary/file-other", {}, "system/*.rs", False),
    ("GET", "Binary/unknown", {}, "system/*.rs", False),
    ("PUT", "Binary/file-mine", {}, "system/*.rs", False),
    # nothing else: no reads, searches, writes or other operations with a system token
    ("GET", "Patient/p1", {}, "system/*.rs", False),
    ("GET", "Observation", {"patient": "p1"}, "system/*.rs", False),
    ("POST", "", {}, "system/*.rs", False),
    ("GET", "", {"_getpages": "abc"}, "system/*.rs", False),
    ("GET", "Patient/p1/$everything", {}, "system/*.rs", False),
])
def test_bulk_check__a_backend_token_may_only_export_what_it_was_granted(exports, method, path, args, scope,
                                                                         allowed):
    refused = bulk.check(method, path, args, FakeBackendToken(scope), exports)
    assert (refused is None) is allowed, refused


def test_bulk_check__names_the_type_not_granted(exports):
    refused = bulk.check("GET", "$export", {"_type": "Patient,Observation"}, FakeBackendToken("system/Patient.rs"),
                         exports)
    assert refused == ("The access token does not grant read and search on Observation (needs a scope like "
                       "system/Observation.rs).")


def test_bulk_export_file__only_files_of_exports_started_here(exports):
    assert bulk.is_export_file("Binary/file-other", exports)
    assert bulk.is_export_file("Binary/file-mine/_history/1", exports)
    assert not bulk.is_export_file("Binary/a-document", exports)


# -- over HTTP, in front of the local HAPI server -------------------------------------------------

def issue_token(sandbox, patient: str, scope: str) -> str:
    from sandbox.models import Token

    token = Token(client_id="test", access_token=f"test-token-{patient}-{len(scope)}", scope=scope,
                  context=LaunchContext(patient=patient, fhir_user=None), expires_in=600)
    sandbox.registry.save_token(token)
    return token.access_token


@pytest.mark.integration
def test_proxy__refuses_requests_without_a_valid_token(sandbox_ehr):
    for headers in ({}, {"Authorization": "Bearer not-a-token"}):
        response = requests.get(f"{sandbox_ehr.fhir_base}/Patient", headers=headers, timeout=30)
        assert response.status_code == 401
        assert response.json()["resourceType"] == "OperationOutcome"
        assert response.headers["WWW-Authenticate"].lower().startswith("bearer")


@pytest.mark.integration
def test_proxy__metadata_is_public_and_names_the_smart_endpoints(sandbox_ehr):
    statement = requests.get(f"{sandbox_ehr.fhir_base}/metadata", timeout=60).json()
    security = statement["rest"][0]["security"]
    assert security["service"][0]["coding"][0]["code"] == "SMART-on-FHIR"
    uris = {item["url"]: item["valueUri"] for item in security["extension"][0]["extension"]}
    assert uris["token"] == sandbox_ehr.token_endpoint


@pytest.mark.integration
def test_proxy__paging_stays_on_the_sandbox(sandbox_ehr, sample_patients, hapi_url):
    patient = sample_patients[0]["id"]
    token = issue_token(sandbox_ehr, patient, "launch patient/*.rs")
    client = FhirClient(sandbox_ehr.fhir_base, token=lambda: token, page_count=5)
    pages = list(client.search_pages("Observation", {"patient": patient}))
    assert len(pages) >= 2, "the sample patient should have more than 5 Observations"
    for page in pages:
        links = [link["url"] for link in page.get("link", [])]
        assert all(url.startswith(sandbox_ehr.fhir_base) for url in links)
        assert hapi_url not in str(page)
    assert client.request_count == len(pages)


@pytest.mark.integration
def test_proxy__forbids_other_patients_with_an_operation_outcome(sandbox_ehr, sample_patients):
    mine, other = (patient["id"] for patient in sample_patients)
    headers = {"Authorization": f"Bearer {issue_token(sandbox_ehr, mine, 'launch patient/*.rs')}"}
    assert requests.get(f"{sandbox_ehr.fhir_base}/Patient/{mine}", headers=headers, timeout=30).status_code == 200
    for url, params in ((f"Patient/{other}", None), ("Observation", {"patient": other})):
        response = requests.get(f"{sandbox_ehr.fhir_base}/{url}", params=params, headers=headers, timeout=30)
        assert response.status_code == 403
        assert response.json()["issue"][0]["code"] == "forbidden"
    observation = next(FhirClient(sandbox_ehr.fhir_base, token=lambda: headers["Authorization"][7:])
                       .search_pages("Observation", {"patient": mine, "_count": 1}))["entry"][0]["resource"]
    other_headers = {"Authorization": f"Bearer {issue_token(sandbox_ehr, other, 'launch patient/*.rs')}"}
    response = requests.get(f"{sandbox_ehr.fhir_base}/Observation/{observation['id']}", headers=other_headers,
                            timeout=30)
    assert response.status_code == 403  # read by id of a resource of another patient


@pytest.mark.integration
def test_proxy__next_page_of_another_patients_search_is_forbidden(sandbox_ehr, sample_patients):
    owner, other = (patient["id"] for patient in sample_patients)
    owner_token = issue_token(sandbox_ehr, owner, "launch patient/*.rs")
    first = next(FhirClient(sandbox_ehr.fhir_base, token=lambda: owner_token)
                 .search_pages("Observation", {"patient": owner, "_count": 2}))
    next_url = next(link["url"] for link in first["link"] if link["relation"] == "next")
    headers = {"Authorization": f"Bearer {issue_token(sandbox_ehr, other, 'launch patient/*.rs')}"}
    response = requests.get(next_url, headers=headers, timeout=30)
    assert response.status_code == 403
    owner_headers = {"Authorization": f"Bearer {owner_token}"}
    assert requests.get(next_url, headers=owner_headers, timeout=30).status_code == 200


@responses.activate
def test_forward__bulk_status_headers_come_through_with_the_sandbox_address():
    """A running export's status answer keeps Retry-After, X-Progress and Expires; URLs name the sandbox."""
    from flask import Flask

    from sandbox.proxy import _forward

    upstream, public = "http://hapi.internal:8080/fhir", "http://ehr.example/fhir"
    status = f"{upstream}/$export-poll-status?_jobId=j1"
    responses.get(status, status=202, body=b"", headers={
        "Retry-After": "2", "X-Progress": "Build in progress - Status set to IN_PROGRESS",
        "Expires": "Wed, 02 Dec 2026 10:00:00 GMT", "Content-Location": status, "Set-Cookie": "hapi=1"})

    @dataclass
    class Sandbox:
        upstream: str
        fhir_base: str
        http: requests.Session

    with Flask(__name__).test_request_context("/fhir/$export-poll-status?_jobId=j1",
                                              headers={"Prefer": "respond-async", "Cookie": "ehr=2"}):
        answer = _forward(Sandbox(upstream, public, requests.Session()), "$export-poll-status")
    assert answer.status_code == 202
    assert answer.headers["Retry-After"] == "2" and answer.headers["X-Progress"].startswith("Build in progress")
    assert answer.headers["Expires"] == "Wed, 02 Dec 2026 10:00:00 GMT"
    assert answer.headers["Content-Location"] == f"{public}/$export-poll-status?_jobId=j1"
    assert "Set-Cookie" not in answer.headers  # only the listed headers pass
    sent = responses.calls[0].request.headers
    assert sent["Prefer"] == "respond-async" and "Cookie" not in sent
