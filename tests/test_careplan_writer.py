"""Saving drafts: transaction, the conditional-create fallback with cleanup, finding the open draft."""

from __future__ import annotations

import json

import pytest
import responses

from app.careplan import draft_bundle
from app.careplan.model import TAG
from app.careplan.writer import find_open_draft, missing_write_support, save_draft, supports_transaction
from app.errors import FhirUnprocessable
from app.fhir import FhirClient
from tests.careplan_sample import sample_plan

BASE = "http://fhir.test/r4"
NOW = "2020-06-01T10:00:00Z"


@pytest.fixture
def fhir():
    return FhirClient(BASE, retries=0, sleep=lambda _s: None)


def _careplan(id_="30", version="1", status="draft", updated="2020-06-01T10:00:00Z", goals=()):
    return {"resourceType": "CarePlan", "id": id_, "status": status,
            "meta": {"versionId": version, "lastUpdated": updated, "tag": [TAG]},
            "goal": [{"reference": f"Goal/{g}"} for g in goals]}


@responses.activate
def test_save_draft__one_transaction_then_reads_the_careplan_back(fhir):
    bundle = draft_bundle(sample_plan(), now=NOW)
    statuses = ["201 Created", "201 Created", "201 Created", "201 Created"]
    locations = ["Goal/2/_history/1", "Goal/3/_history/1", "CarePlan/30/_history/1", "Provenance/5/_history/1"]
    responses.post(BASE, json={"resourceType": "Bundle", "type": "transaction-response", "entry": [
        {"response": {"status": s, "location": loc}} for s, loc in zip(statuses, locations, strict=True)]})
    responses.get(f"{BASE}/CarePlan/30", json=_careplan())
    result = save_draft(fhir, bundle)
    assert result.created and result.careplan["id"] == "30" and result.version == "1"
    sent = json.loads(responses.calls[0].request.body)
    assert sent["type"] == "transaction" and len(sent["entry"]) == 4


@responses.activate
def test_save_draft__retried_after_a_502_because_every_write_is_conditional():
    fhir = FhirClient(BASE, retries=1, sleep=lambda _s: None)
    bundle = draft_bundle(sample_plan(), now=NOW)
    responses.post(BASE, status=502)
    responses.post(BASE, json={"resourceType": "Bundle", "type": "transaction-response", "entry": [
        {"response": {"status": "200 OK", "location": f"X/{i}/_history/1"}} for i in range(2)] + [
        {"response": {"status": "200 OK", "location": "CarePlan/30/_history/1"}},
        {"response": {"status": "200 OK", "location": "Provenance/5/_history/1"}}]})
    responses.get(f"{BASE}/CarePlan/30", json=_careplan())
    result = save_draft(fhir, bundle)
    assert not result.created and len(responses.calls) == 3


@responses.activate
def test_save_draft__without_transaction_resolves_references_in_order(fhir):
    bundle = draft_bundle(sample_plan(), now=NOW)
    for type_, id_, status in [("Goal", "2", 200), ("Goal", "3", 201), ("CarePlan", "30", 201),
                               ("Provenance", "5", 201)]:
        responses.post(f"{BASE}/{type_}", status=status,
                       json={"resourceType": type_, "id": id_, "meta": {"versionId": "1"}},
                       headers={"Location": f"{BASE}/{type_}/{id_}/_history/1"})
    responses.get(f"{BASE}/CarePlan/30", json=_careplan())
    result = save_draft(fhir, bundle, transaction=False)
    assert result.created
    careplan_sent = json.loads(responses.calls[2].request.body)
    assert [g["reference"] for g in careplan_sent["goal"]] == ["Goal/2", "Goal/3"]
    assert careplan_sent["activity"][0]["detail"]["goal"] == [{"reference": "Goal/2"}]
    assert responses.calls[2].request.headers["If-None-Exist"].startswith("identifier=")
    provenance_sent = json.loads(responses.calls[3].request.body)
    assert provenance_sent["target"][0] == {"reference": "CarePlan/30"}


@responses.activate
def test_save_draft__without_transaction_deletes_what_it_created_when_a_step_fails(fhir):
    bundle = draft_bundle(sample_plan(), now=NOW)
    responses.post(f"{BASE}/Goal", status=200, json={"resourceType": "Goal", "id": "2", "meta": {"versionId": "1"}})
    responses.post(f"{BASE}/Goal", status=201, json={"resourceType": "Goal", "id": "3", "meta": {"versionId": "1"}})
    responses.post(f"{BASE}/CarePlan", status=422, json={"resourceType": "OperationOutcome", "issue": [
        {"severity": "error", "code": "invalid", "diagnostics": "CarePlan.subject is required"}]})
    responses.delete(f"{BASE}/Goal/3")
    with pytest.raises(FhirUnprocessable) as raised:
        save_draft(fhir, bundle, transaction=False)
    assert raised.value.issues == ["error: CarePlan.subject is required"]
    deleted = [call.request.url for call in responses.calls if call.request.method == "DELETE"]
    assert deleted == [f"{BASE}/Goal/3"]  # Goal/2 matched an existing one (200): not this call's to delete


@responses.activate
def test_find_open_draft__newest_draft_with_its_goals(fhir):
    responses.get(f"{BASE}/CarePlan", json={"resourceType": "Bundle", "type": "searchset", "entry": [
        {"resource": _careplan("30", updated="2020-06-01T10:00:00Z", goals=["2"])},
        {"resource": _careplan("31", updated="2020-06-02T10:00:00Z", goals=["3"])},
        {"resource": _careplan("32", status="active", updated="2020-06-03T10:00:00Z")},
        {"resource": {"resourceType": "Goal", "id": "2"}, "search": {"mode": "include"}},
        {"resource": {"resourceType": "Goal", "id": "3"}, "search": {"mode": "include"}},
    ]})
    found = find_open_draft(fhir, "p1")
    assert found.careplan["id"] == "31" and [g["id"] for g in found.goals] == ["3"]
    query = responses.calls[0].request.url
    assert "status=draft" in query and "_tag=http" in query and "subject=Patient%2Fp1" in query


@responses.activate
def test_find_open_draft__none_when_the_patient_has_no_carepath_draft(fhir):
    responses.get(f"{BASE}/CarePlan", json={"resourceType": "Bundle", "type": "searchset"})
    assert find_open_draft(fhir, "p1") is None


def _statement(interactions, resources):
    return {"resourceType": "CapabilityStatement", "rest": [{
        "mode": "server", "interaction": [{"code": c} for c in interactions],
        "resource": [{"type": t, "interaction": [{"code": c} for c in codes]} for t, codes in resources.items()]}]}


@pytest.mark.parametrize(("statement", "transaction", "missing"), [
    (_statement(["transaction"], {"CarePlan": ["create", "update"], "Goal": ["create", "update"],
                                  "Provenance": ["create"]}), True, []),
    (_statement(["batch"], {"CarePlan": ["create", "update", "read"], "Goal": ["create", "update"],
                            "Provenance": ["create"]}), False, []),
    (_statement([], {"CarePlan": ["read"], "Goal": ["create"]}), False,
     ["CarePlan create", "CarePlan update", "Goal update", "Provenance create"]),
])
def test_capabilities__transaction_and_write_support(statement, transaction, missing):
    assert supports_transaction(statement) is transaction
    assert missing_write_support(statement) == missing
