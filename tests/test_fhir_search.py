"""Batch GETs, the bounded parallel fallback, paging after a first page, and the client-side sort."""

from __future__ import annotations

import json
import threading
import time

import pytest
import responses

from app.errors import FhirForbidden, FhirMalformedResponse, FhirNotFound, FhirStatusError, UnsafeUrl
from app.fhir import FhirClient
from app.fhir.search import (
    batch_get,
    grouped_batch_get,
    honoured_params,
    pages_after,
    parallel_get,
    sort_resources,
)

BASE = "https://fhir.example.org/r4"
DENIED = {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "forbidden",
                                                          "diagnostics": "scope patient/Observation.rs not granted"}]}


@pytest.fixture
def client():
    return FhirClient(BASE, sleep=lambda _s: None)


@responses.activate
def test_batch_get__one_post_and_one_outcome_per_url(client):
    answer = {"resourceType": "Bundle", "type": "batch-response", "entry": [
        {"resource": {"resourceType": "Patient", "id": "p1"}, "response": {"status": "200 OK"}},
        {"response": {"status": "403 Forbidden", "outcome": DENIED}},
        {"response": {"status": "404 Not Found"}},
    ]}
    responses.post(BASE, json=answer)
    outcomes = batch_get(client, ["Patient/p1", "Observation?patient=p1", "Condition?patient=p1"])
    sent = json.loads(responses.calls[0].request.body)
    assert sent["type"] == "batch" and [e["request"] for e in sent["entry"]] == [
        {"method": "GET", "url": "Patient/p1"}, {"method": "GET", "url": "Observation?patient=p1"},
        {"method": "GET", "url": "Condition?patient=p1"}]
    assert outcomes[0].resource == {"resourceType": "Patient", "id": "p1"}
    assert isinstance(outcomes[1].error, FhirForbidden)
    assert outcomes[1].error.issues == ["error: scope patient/Observation.rs not granted"]
    assert isinstance(outcomes[2].error, FhirNotFound)
    assert client.request_count == 1


def _echo_batch(request):
    """A batch answer that returns, for each GET, a Patient whose id is the URL asked for."""
    entries = [{"resource": {"resourceType": "Patient", "id": e["request"]["url"].replace("/", "-")},
                "response": {"status": "200 OK"}} for e in json.loads(request.body)["entry"]]
    return 200, {}, json.dumps({"resourceType": "Bundle", "type": "batch-response", "entry": entries})


@pytest.mark.parametrize(("urls", "groups", "posts"), [(7, 3, 3), (2, 4, 2), (5, 1, 1)])
def test_grouped_batch_get__spreads_gets_over_batches_and_keeps_order(client, urls, groups, posts):
    wanted = [f"Patient/p{i}" for i in range(urls)]
    with responses.RequestsMock() as mock:
        mock.add_callback(responses.POST, BASE, callback=_echo_batch)
        outcomes = grouped_batch_get(client, wanted, groups=groups)
        assert len(mock.calls) == posts
    assert [o.resource["id"] for o in outcomes] == [u.replace("/", "-") for u in wanted]


@responses.activate
def test_grouped_batch_get__a_refused_batch_raises(client):
    responses.post(BASE, json={"resourceType": "OperationOutcome", "issue": []}, status=405)
    with pytest.raises(FhirStatusError):
        grouped_batch_get(client, ["Patient/a", "Patient/b"], groups=2)


@responses.activate
def test_batch_get__is_retried_as_an_idempotent_read(client):
    responses.post(BASE, status=503)
    responses.post(BASE, json={"resourceType": "Bundle", "type": "batch-response", "entry": [
        {"resource": {"resourceType": "Patient", "id": "p1"}, "response": {"status": "200"}}]})
    assert batch_get(client, ["Patient/p1"])[0].resource["id"] == "p1"


@responses.activate
@pytest.mark.parametrize("entries", [[], [{"response": {}}], [{"response": {"status": "200 OK"}}]])
def test_batch_get__a_malformed_answer_is_typed(client, entries):
    responses.post(BASE, json={"resourceType": "Bundle", "type": "batch-response", "entry": entries})
    if not entries:
        with pytest.raises(FhirMalformedResponse):
            batch_get(client, ["Patient/p1"])
    else:
        assert isinstance(batch_get(client, ["Patient/p1"])[0].error, FhirMalformedResponse)


@responses.activate
def test_parallel_get__keeps_order_and_errors_per_url(client):
    responses.get(f"{BASE}/Patient/p1", json={"resourceType": "Patient", "id": "p1"})
    responses.get(f"{BASE}/Observation", json=DENIED, status=403)
    outcomes = parallel_get(client, ["Patient/p1", "Observation?patient=p1"])
    assert outcomes[0].resource["id"] == "p1" and isinstance(outcomes[1].error, FhirForbidden)


def test_parallel_get__never_more_than_the_pool_in_flight(client):
    in_flight, peak, lock = [0], [0], threading.Lock()

    def slow(request):
        with lock:
            in_flight[0] += 1
            peak[0] = max(peak[0], in_flight[0])
        time.sleep(0.02)
        with lock:
            in_flight[0] -= 1
        return 200, {}, json.dumps({"resourceType": "Bundle", "type": "searchset"})

    with responses.RequestsMock() as mock:
        mock.add_callback(responses.GET, f"{BASE}/Observation", callback=slow)
        outcomes = parallel_get(client, [f"Observation?code={i}" for i in range(10)], max_workers=3)
    assert len(outcomes) == 10 and all(o.resource for o in outcomes)
    assert peak[0] <= 3 and client.request_count == 10


@responses.activate
def test_pages_after__follows_next_and_refuses_other_servers(client):
    first = {"resourceType": "Bundle", "link": [{"relation": "next", "url": f"{BASE}?page=2"}]}
    responses.get(BASE, json={"resourceType": "Bundle", "entry": [], "link": [
        {"relation": "next", "url": "https://evil.example.com/r4?page=3"}]})
    pages = pages_after(client, first)
    assert next(pages)["resourceType"] == "Bundle"
    with pytest.raises(UnsafeUrl):
        next(pages)


@pytest.mark.parametrize(("self_url", "expected"), [
    (f"{BASE}/Observation?patient=p1&_sort=-date&_count=100", {"patient", "_sort", "_count"}),
    (f"{BASE}/Observation?patient=p1&_count=100", {"patient", "_count"}),
])
def test_honoured_params__reads_the_self_link(self_url, expected):
    assert honoured_params({"link": [{"relation": "self", "url": self_url}]}) == expected


def test_sort_resources__newest_first_undated_last():
    resources = [{"id": "a", "d": "2020-01-01"}, {"id": "b", "d": None}, {"id": "c", "d": "2021-01-01"}]
    assert [r["id"] for r in sort_resources(resources, lambda r: r["d"])] == ["c", "a", "b"]
    assert [r["id"] for r in sort_resources(resources, lambda r: r["d"], newest_first=False)] == ["a", "c", "b"]


def test_grouped_batch_get__hands_each_answer_over_as_it_arrives(client):
    answers = []
    with responses.RequestsMock() as mock:
        mock.add_callback(responses.POST, BASE, callback=_echo_batch)
        grouped_batch_get(client, [f"Patient/p{i}" for i in range(5)], groups=2, on_answer=answers.append)
    assert sorted(len(a) for a in answers) == [2, 3]


@responses.activate
def test_parallel_get__hands_each_answer_over(client):
    responses.get(f"{BASE}/Patient/p1", json={"resourceType": "Patient", "id": "p1"})
    responses.get(f"{BASE}/Patient/p2", status=404)
    answers = []
    parallel_get(client, ["Patient/p1", "Patient/p2"], on_answer=answers.append)
    assert sorted((a[0].resource or {}).get("id", "error") for a in answers) == ["error", "p1"]
