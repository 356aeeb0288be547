"""Fetching a patient's context: the search plan, batch vs parallel, scopes refused, paging, request counts.

A small fake server (``responses`` callbacks over a fixture's resources) plays the FHIR answers; the same
paths run against the real local HAPI server in test_context_hapi.py.
"""

from __future__ import annotations

import itertools
import json
import re
from urllib.parse import parse_qsl, urlsplit

import pytest
import responses

from app.context import assemble, default_requirements, fetch_resources
from app.context import fetch as fetch_module
from app.context.fetch import plan
from app.errors import FhirNotFound
from app.fhir import FhirClient
from app.fhir.capabilities import forget, parse
from app.fhir.search import MAX_PARALLEL
from tests.conftest import FIXTURES

BASE = "https://ehr.example.org/fhir"
AS_OF = "2020-06-01"
REQUIREMENTS = default_requirements()
DENIED = {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "forbidden",
                                                          "diagnostics": "scope not granted"}]}


def metadata(system=("batch",)):
    return {"resourceType": "CapabilityStatement", "rest": [{"mode": "server", "interaction": [
        {"code": c} for c in system]}]}


class FakeServer:
    """Answers GET searches over a list of resources; knobs switch off batch, _sort or whole types."""

    def __init__(self, resources, *, batch=True, sort=True, forbidden=(), page_size=None):
        self.resources, self.sort, self.forbidden, self.page_size = resources, sort, set(forbidden), page_size
        self.batch = batch
        self.pages: dict[str, dict] = {}
        self.page_ids = itertools.count(1)  # batches are answered from several threads: ids stay unique

    def install(self, mock):
        mock.get(f"{BASE}/metadata", json=metadata(("batch",) if self.batch else ()))
        if self.batch:
            mock.add_callback(responses.POST, BASE, callback=self._batch)
        else:
            mock.post(BASE, json={"resourceType": "OperationOutcome", "issue": []}, status=405)
        mock.add_callback(responses.GET, re.compile(re.escape(BASE) + r"(/(?!metadata).*|\?.*)"), callback=self._get)

    def _batch(self, request):
        entries = []
        for entry in json.loads(request.body)["entry"]:
            status, body = self.answer(entry["request"]["url"])
            item = {"response": {"status": f"{status}"}}
            if status == 200:
                item["resource"] = body
            else:
                item["response"]["outcome"] = body
            entries.append(item)
        return 200, {}, json.dumps({"resourceType": "Bundle", "type": "batch-response", "entry": entries})

    def _get(self, request):
        status, body = self.answer(request.url.replace(BASE + "/", "").replace(BASE, ""))
        return status, {}, json.dumps(body)

    def answer(self, url):
        parts = urlsplit(url)
        query = dict(parse_qsl(parts.query))
        if "_getpages" in query:
            return 200, self.pages[query["_getpages"]]
        kind = parts.path.strip("/")
        if kind.split("/")[0] in self.forbidden:
            return 403, DENIED
        if "/" in kind:
            found = [r for r in self.resources if f"{r['resourceType']}/{r['id']}" == kind]
            return (200, found[0]) if found else (404, {"resourceType": "OperationOutcome", "issue": []})
        matches = [r for r in self.resources if r["resourceType"] == kind and self._matches(r, query)]
        used = {k: v for k, v in query.items() if self.sort or k != "_sort"}
        return 200, self._pages(kind, matches, used)

    @staticmethod
    def _matches(resource, query):
        codes = query.get("code")
        if not codes:
            return True
        wanted = set(codes.split(","))
        found = (resource.get("code") or {}).get("coding", [])
        return any(f"{c.get('system')}|{c.get('code')}" in wanted for c in found)

    def _pages(self, kind, matches, used):
        size = self.page_size or int(used.get("_count", 1000))
        chunks = [matches[i:i + size] for i in range(0, len(matches), size)] or [[]]
        bundles = []
        for chunk in chunks:
            bundle = {"resourceType": "Bundle", "type": "searchset", "link": [
                {"relation": "self", "url": f"{BASE}/{kind}?" + "&".join(f"{k}={v}" for k, v in used.items())}],
                "entry": [{"resource": r} for r in chunk]}
            bundles.append(bundle)
        for bundle, following in itertools.pairwise(bundles):
            page_id = f"{kind}-{next(self.page_ids)}"
            self.pages[page_id] = following
            bundle["link"].append({"relation": "next", "url": f"{BASE}?_getpages={page_id}"})
        return bundles[0]


def units_resources():
    bundle = json.loads((FIXTURES / "context-units.json").read_text())
    return [e["resource"] for e in bundle["entry"]]


@pytest.fixture(autouse=True)
def _fresh_state():
    forget()
    fetch_module._servers_without_batch.clear()
    yield
    forget()
    fetch_module._servers_without_batch.clear()


@pytest.fixture
def client():
    return FhirClient(BASE, sleep=lambda _s: None)


def test_plan__one_search_per_code_set_with_filters():
    from datetime import date

    searches = plan("cp-1", REQUIREMENTS, parse(metadata()), date(2020, 6, 1))
    urls = [s.url for s in searches]
    assert urls[0] == "Patient/cp-1"
    hba1c = next(u for u in urls if "4548-4" in u)
    assert hba1c == ("Observation?patient=cp-1&code=http://loinc.org|4548-4&status=final,amended,corrected"
                     "&date=le2020-06-02&_sort=-date&_count=100")
    assert sum("84413-4" in u for u in urls) == 1  # cyp2c19 and slco1b1 share one search
    assert any(u.startswith("MedicationRequest?patient=cp-1&status=active&_include=MedicationRequest:medication")
               for u in urls)
    assert any(u.startswith("AllergyIntolerance?patient=cp-1") for u in urls)
    assert len(searches) == len({s.url for s in searches})


@pytest.mark.parametrize("patient_id", ["", "a b", "x&code=1", "../Patient", "p" * 65])
def test_plan__refuses_what_is_not_a_fhir_id(patient_id):
    with pytest.raises(ValueError, match="FHIR patient id"):
        plan(patient_id, REQUIREMENTS)


def test_fetch__one_batch_request_gives_the_same_facts_as_the_bundle(client):
    from app.context import facts_from_resources

    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        FakeServer(units_resources()).install(mock)
        facts = assemble(client, "cp-ctx-units", REQUIREMENTS, AS_OF)
    # the CapabilityStatement, then the searches spread over 4 batch Bundles sent at once
    assert facts["fetch"] == {"mode": "batch", "requests": 1 + MAX_PARALLEL, "notes": []}
    expected = facts_from_resources(units_resources(), REQUIREMENTS, AS_OF)
    assert {k: v for k, v in facts.items() if k != "fetch"} == expected


def test_fetch__request_count_does_not_grow_with_history(client):
    base = units_resources()
    history = [{**base[1], "id": f"old-{i}", "effectiveDateTime": f"{1990 + i % 25}-01-{1 + i % 28:02d}"}
               for i in range(3000)]
    counts = []
    for resources in (base, base + history):
        forget()
        with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
            FakeServer(resources).install(mock)
            counts.append(fetch_resources(client, "cp-ctx-units", REQUIREMENTS).requests)
    assert counts == [1 + MAX_PARALLEL] * 2


def test_fetch__a_refused_type_is_named_not_fatal(client):
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        FakeServer(units_resources(), forbidden={"MedicationRequest", "Observation"}).install(mock)
        facts = assemble(client, "cp-ctx-units", REQUIREMENTS, AS_OF)
    notes = {n["type"]: n["message"] for n in facts["fetch"]["notes"]}
    assert notes == {"Observation": "could not see Observation: scope not granted",
                     "MedicationRequest": "could not see MedicationRequest: scope not granted"}
    missing = {m["key"]: m["message"] for m in facts["missing"]}
    assert missing["hba1c"] == "HbA1c unknown: could not see Observation: scope not granted"
    assert missing["medications"] == "could not see MedicationRequest: scope not granted"
    assert facts["patient"]["id"] == "cp-ctx-units" and not facts["measures"]


def test_fetch__without_batch_falls_back_to_parallel_gets_and_remembers(client):
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        FakeServer(units_resources(), batch=False).install(mock)
        mock.replace(responses.GET, f"{BASE}/metadata", json=metadata(("transaction",)))
        first = fetch_resources(client, "cp-ctx-units", REQUIREMENTS)
        second = fetch_resources(client, "cp-ctx-units", REQUIREMENTS)
    searches = len(plan("cp-ctx-units", REQUIREMENTS))
    # metadata, the refused batches (those not yet sent are cancelled on the first refusal), the GETs
    assert first.mode == "parallel" and 2 + searches <= first.requests <= 1 + MAX_PARALLEL + searches
    assert (second.mode, second.requests) == ("parallel", searches)
    assert {r["id"] for r in first.resources} == {r["id"] for r in units_resources()}


def test_fetch__a_server_that_ignores_sort_is_paged_to_the_end(client):
    resources = units_resources()
    extra = [{**resources[1], "id": f"tc-{i}", "effectiveDateTime": f"2000-01-{1 + i:02d}"} for i in range(5)]
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        FakeServer(resources + extra, sort=False, page_size=2).install(mock)
        result = fetch_resources(client, "cp-ctx-units", REQUIREMENTS)
    assert {f"tc-{i}" for i in range(5)} <= {r["id"] for r in result.resources}
    assert result.requests > 1 + MAX_PARALLEL


def test_fetch__without_server_sort_the_newest_are_kept_like_a_sorting_server(client, monkeypatch):
    monkeypatch.setattr(fetch_module, "SEARCH_CAP", 3)
    resources = units_resources()
    glucose = next(r for r in resources if r["id"] == "cp-ctx-units-glucose")  # 2020-03-01
    older = [{**glucose, "id": f"glucose-{i}", "effectiveDateTime": f"2000-01-{1 + i:02d}"} for i in range(5)]
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        FakeServer(sorted(resources + older, key=lambda r: r["id"]), sort=False, page_size=2).install(mock)
        found = fetch_resources(client, "cp-ctx-units", REQUIREMENTS).resources
    assert [r["id"] for r in found if "glucose" in r["id"]] == ["cp-ctx-units-glucose", "glucose-4", "glucose-3"]


def test_fetch__a_server_that_sorts_is_read_from_its_first_page_only(client):
    resources = units_resources()
    extra = [{**resources[1], "id": f"tc-{i}", "effectiveDateTime": f"2000-01-{1 + i:02d}"} for i in range(5)]
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        FakeServer(resources + extra, page_size=2).install(mock)
        result = fetch_resources(client, "cp-ctx-units", REQUIREMENTS)
    assert result.requests == 1 + MAX_PARALLEL


def test_fetch__an_unknown_patient_raises(client):
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        FakeServer(units_resources()).install(mock)
        with pytest.raises(FhirNotFound):
            fetch_resources(client, "nobody", REQUIREMENTS)


def test_fetch__a_batch_refused_for_scope_falls_back_without_forgetting_batch(client):
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        FakeServer(units_resources(), forbidden={"MedicationRequest"}).install(mock)
        mock.replace(responses.POST, BASE, json=DENIED, status=403)
        result = fetch_resources(client, "cp-ctx-units", REQUIREMENTS)
    assert result.mode == "parallel"
    assert result.notes == [{"type": "MedicationRequest",
                             "message": "could not see MedicationRequest: scope not granted"}]
    assert client.base_url not in fetch_module._servers_without_batch


def test_fetch__results_are_validated_while_the_requests_are_in_flight(client, monkeypatch):
    from app.context import resources as resources_module

    seen = []
    real = resources_module._verdict
    monkeypatch.setattr(resources_module, "_verdict", lambda r: seen.append(r["id"]) or real(r))
    resources_module.forget_validations()
    versioned = [{**r, "meta": {"versionId": "1", "lastUpdated": "2020-01-01T00:00:00Z"}} for r in units_resources()]
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        FakeServer(versioned).install(mock)
        found = fetch_resources(client, "cp-ctx-units", REQUIREMENTS).resources
    assert set(seen) == {r["id"] for r in found}
    count = len(seen)
    from app.context import facts_from_resources

    facts_from_resources(found, REQUIREMENTS, AS_OF)
    assert len(seen) == count  # facts reuse the verdicts, nothing is validated twice
    resources_module.forget_validations()


class UnreadableObservations(FakeServer):
    """Answers every Observation search with HTTP 200 and ``body`` (in a batch: the entry's resource)."""

    def __init__(self, resources, body, **kwargs):
        super().__init__(resources, **kwargs)
        self.body = body

    def answer(self, url):
        if url.startswith("Observation"):
            return 200, json.loads(self.body) if self.body.startswith("{") else self.body
        return super().answer(url)

    def _get(self, request):
        if "/Observation" in request.url:
            return 200, {}, self.body
        return super()._get(request)


@pytest.mark.parametrize("batch", [True, False])
@pytest.mark.parametrize("body", [
    "<html>Service temporarily unavailable</html>",  # not JSON
    json.dumps({"resourceType": "OperationOutcome", "issue": []}),  # JSON, not a Bundle
    json.dumps({"entry": []}),  # JSON, not a resource
])
def test_fetch__a_search_answered_200_with_what_is_not_a_bundle_is_unreadable_not_empty(client, body, batch):
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        UnreadableObservations(units_resources(), body, batch=batch).install(mock)
        facts = assemble(client, "cp-ctx-units", REQUIREMENTS, AS_OF)
    notes = {n["type"]: n["message"] for n in facts["fetch"]["notes"]}
    assert notes == {"Observation": "could not see Observation: the fhir server sent data carepath cannot read"}
    missing = {m["key"]: m for m in facts["missing"]}
    assert missing["smoking"]["unreadable"] and "smoking status unknown: could not see" in missing["smoking"]["message"]
    assert missing["scores.bmi"]["unreadable"]  # a score computed from results is unknown too, not "not computed"
    assert not facts["measures"] and facts["patient"]["id"] == "cp-ctx-units"


def test_fetch__a_search_answered_with_a_bundle_is_read_as_before(client):
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        UnreadableObservations(units_resources(), json.dumps({"resourceType": "Bundle", "type": "searchset"}),
                               batch=False).install(mock)
        facts = assemble(client, "cp-ctx-units", REQUIREMENTS, AS_OF)
    assert facts["fetch"]["notes"] == []  # an empty searchset is "none of that type"
    assert not any(m.get("unreadable") for m in facts["missing"])
    assert {m["key"]: m["message"] for m in facts["missing"]}["smoking"] == "no smoking status recorded"


def test_fetch__a_patient_read_answered_with_another_type_raises(client):
    from app.errors import FhirMalformedResponse

    class NotAPatient(FakeServer):
        def _get(self, request):
            if "/Patient/" in request.url:
                return 200, {}, json.dumps({"resourceType": "Bundle", "type": "searchset"})
            return super()._get(request)

    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        NotAPatient(units_resources(), batch=False).install(mock)
        with pytest.raises(FhirMalformedResponse, match="expected a Patient"):
            fetch_resources(client, "cp-ctx-units", REQUIREMENTS)
