"""The one FHIR request function: every error path, played with ``responses``."""

from __future__ import annotations

import json

import pytest
import requests
import responses

from app.errors import (
    FhirBadRequest,
    FhirForbidden,
    FhirMalformedResponse,
    FhirNotFound,
    FhirPreconditionFailed,
    FhirServerError,
    FhirStatusError,
    FhirTimeout,
    FhirTooManyRequests,
    FhirTransportError,
    FhirUnauthorized,
    FhirUnavailable,
    UnsafeUrl,
)
from app.fhir import FhirClient
from app.outbound import MAX_REDIRECTS

BASE = "https://fhir.example.org/r4"
OUTCOME = {"resourceType": "OperationOutcome", "issue": [
    {"severity": "error", "code": "processing", "diagnostics": "Observation.code is required"}]}


@pytest.fixture
def waits():
    return []


@pytest.fixture
def client(waits):
    return FhirClient(BASE, retries=3, backoff=0.5, sleep=waits.append, page_count=2)


@responses.activate
@pytest.mark.parametrize(("status", "error"), [
    (400, FhirBadRequest), (403, FhirForbidden), (404, FhirNotFound), (410, FhirNotFound),
    (412, FhirPreconditionFailed), (500, FhirServerError),
])
def test_request__maps_status_to_typed_error_with_outcome(client, status, error):
    responses.get(f"{BASE}/Patient/p1", json=OUTCOME, status=status)
    with pytest.raises(error) as raised:
        client.read("Patient", "p1")
    assert raised.value.status == status
    assert raised.value.issues == ["error: Observation.code is required"]


@responses.activate
def test_request__retries_429_honouring_retry_after(client, waits):
    responses.get(f"{BASE}/Patient/p1", status=429, headers={"Retry-After": "7"})
    responses.get(f"{BASE}/Patient/p1", json={"resourceType": "Patient", "id": "p1"})
    assert client.read("Patient", "p1")["id"] == "p1"
    assert waits == [7.0]


@responses.activate
def test_request__gives_up_after_the_retries_with_the_last_error(client, waits):
    for _ in range(4):
        responses.get(f"{BASE}/Patient/p1", status=503)
    with pytest.raises(FhirServerError):
        client.read("Patient", "p1")
    assert waits == [0.5, 1.0, 2.0]  # exponential backoff without Retry-After
    assert client.request_count == 4


@responses.activate
@pytest.mark.parametrize("status", [502, 503, 504])
def test_request__retries_gateway_errors_for_idempotent_requests(client, status):
    responses.get(f"{BASE}/metadata", status=status)
    responses.get(f"{BASE}/metadata", json={"resourceType": "CapabilityStatement"})
    assert client.capabilities()["resourceType"] == "CapabilityStatement"


@responses.activate
def test_request__never_retries_a_plain_post(client, waits):
    responses.post(f"{BASE}/Observation", status=503)
    with pytest.raises(FhirServerError):
        client.create({"resourceType": "Observation"})
    assert waits == [] and client.request_count == 1


@responses.activate
def test_request__retries_a_conditional_create(client):
    responses.post(f"{BASE}/Goal", status=503)
    responses.post(f"{BASE}/Goal", json={"resourceType": "Goal", "id": "g1"}, status=201)
    assert client.create({"resourceType": "Goal"}, if_none_exist="identifier=x|1").status_code == 201
    assert responses.calls[1].request.headers["If-None-Exist"] == "identifier=x|1"


@responses.activate
def test_request__does_not_retry_429_on_a_non_idempotent_request(client, waits):
    responses.post(f"{BASE}/Observation", status=429, headers={"Retry-After": "1"})
    with pytest.raises(FhirTooManyRequests):
        client.create({"resourceType": "Observation"})
    assert waits == []


@responses.activate
def test_request__timeout_becomes_fhir_timeout_after_retries(client, waits):
    responses.get(f"{BASE}/Patient/p1", body=requests.Timeout("slow"))
    with pytest.raises(FhirTimeout, match="did not answer"):
        client.read("Patient", "p1")
    assert len(waits) == 3


@responses.activate
def test_request__connection_error_becomes_fhir_unavailable(client):
    responses.get(f"{BASE}/Patient/p1", body=requests.ConnectionError("refused"))
    with pytest.raises(FhirUnavailable):
        client.read("Patient", "p1")


@responses.activate
@pytest.mark.parametrize("body", ["<html>oops</html>", json.dumps([1, 2]), json.dumps({"no": "type"})])
def test_request__malformed_json_is_a_typed_error(client, body):
    responses.get(f"{BASE}/Patient/p1", body=body, content_type="application/fhir+json")
    with pytest.raises(FhirMalformedResponse):
        client.read("Patient", "p1")


@responses.activate
def test_request__401_refreshes_once_then_retries():
    tokens = iter(["old", "new"])
    current = {"token": next(tokens)}
    refreshed = []

    def refresh() -> bool:
        refreshed.append(True)
        current["token"] = next(tokens)
        return True

    client = FhirClient(BASE, token=lambda: current["token"], on_unauthorized=refresh, sleep=lambda _s: None)
    responses.get(f"{BASE}/Patient/p1", status=401)
    responses.get(f"{BASE}/Patient/p1", json={"resourceType": "Patient", "id": "p1"})
    assert client.read("Patient", "p1")["id"] == "p1"
    assert refreshed == [True]
    assert responses.calls[1].request.headers["Authorization"] == "Bearer new"


@responses.activate
def test_request__a_second_401_is_raised_not_looped():
    client = FhirClient(BASE, token=lambda: "t", on_unauthorized=lambda: True, sleep=lambda _s: None)
    responses.get(f"{BASE}/Patient/p1", status=401)
    responses.get(f"{BASE}/Patient/p1", status=401)
    with pytest.raises(FhirUnauthorized):
        client.read("Patient", "p1")
    assert client.request_count == 2


def _page(ids, next_url=None):
    bundle = {"resourceType": "Bundle", "type": "searchset",
              "entry": [{"resource": {"resourceType": "Observation", "id": i}} for i in ids]}
    if next_url:
        bundle["link"] = [{"relation": "next", "url": next_url}]
    return bundle


@responses.activate
def test_search__follows_next_links_on_the_same_server(client):
    responses.get(f"{BASE}/Observation", json=_page(["a", "b"], f"{BASE}?_getpages=x&_offset=2"))
    responses.get(f"{BASE}", json=_page(["c"]))
    assert [r["id"] for r in client.search("Observation", {"patient": "p1"})] == ["a", "b", "c"]
    assert "_count=2" in responses.calls[0].request.url


@responses.activate
@pytest.mark.parametrize("next_url", [
    "https://evil.example.com/r4/Observation?page=2",
    "https://fhir.example.org/other/Observation?page=2",
    "http://fhir.example.org/r4/Observation?page=2",
])
def test_search__refuses_an_off_server_next_link(client, next_url):
    responses.get(f"{BASE}/Observation", json=_page(["a"], next_url))
    with pytest.raises(UnsafeUrl):
        client.search("Observation", {"patient": "p1"})
    assert len(responses.calls) == 1  # nothing was sent to the other server


@responses.activate
def test_request__retry_after_as_an_http_date_and_capped(waits):
    from datetime import UTC, datetime, timedelta
    from email.utils import format_datetime

    client = FhirClient(BASE, retries=2, sleep=waits.append, max_retry_wait=30.0)
    soon = format_datetime(datetime.now(UTC) + timedelta(seconds=20), usegmt=True)
    responses.get(f"{BASE}/Patient/p1", status=503, headers={"Retry-After": soon})
    responses.get(f"{BASE}/Patient/p1", status=429, headers={"Retry-After": "3600"})
    responses.get(f"{BASE}/Patient/p1", json={"resourceType": "Patient", "id": "p1"})
    assert client.read("Patient", "p1")["id"] == "p1"
    assert 15 <= waits[0] <= 20 and waits[1] == 30.0  # an hour is capped at max_retry_wait


@responses.activate
def test_request__an_unreadable_retry_after_falls_back_to_backoff(client, waits):
    responses.get(f"{BASE}/Patient/p1", status=503, headers={"Retry-After": "soon"})
    responses.get(f"{BASE}/Patient/p1", json={"resourceType": "Patient", "id": "p1"})
    client.read("Patient", "p1")
    assert waits == [0.5]


@pytest.mark.parametrize("relative", [
    "Observation?code=http://loinc.org|4548-4", "Patient/p1", "/Patient/p1",
])
def test_url_for__relative_paths_stay_on_the_server_even_with_urls_in_the_query(client, relative):
    assert client.url_for(relative).startswith(BASE + "/")


@responses.activate
@pytest.mark.parametrize(("body", "content_type"), [
    ('{"resourceType": "Patient", "id": "p1", "name": [{"text": "Zoë"}]}'.encode(), "application/fhir+json"),
    ('\ufeff{"resourceType": "Patient", "id": "p1", "name": [{"text": "Zoë"}]}'.encode(), "application/fhir+json"),
    ('{"resourceType": "Patient", "id": "p1", "name": [{"text": "Zoë"}]}'.encode("utf-16"),
     "application/fhir+json; charset=utf-16"),
])
def test_request__json_in_utf8_with_a_bom_or_a_declared_charset_is_read(client, body, content_type):
    responses.get(f"{BASE}/Patient/p1", body=body, content_type=content_type)
    assert client.read("Patient", "p1")["name"][0]["text"] == "Zoë"


def test_client__proxy_settings_are_read_from_the_environment_once_and_netrc_never(monkeypatch, tmp_path):
    netrc = tmp_path / ".netrc"
    netrc.write_text("machine fhir.example.org login someone password secret\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example.org:3128")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    client = FhirClient(BASE)
    assert client.session.proxies["https"] == "http://proxy.example.org:3128"
    assert client.session.trust_env is False  # requests no longer reads the environment on every request
    request = client.session.prepare_request(requests.Request("GET", f"{BASE}/Patient/p1"))
    assert "Authorization" not in request.headers  # ~/.netrc never replaces carepath's bearer token
    monkeypatch.setenv("NO_PROXY", "fhir.example.org")
    assert "https" not in FhirClient(BASE).session.proxies


@responses.activate
def test_search__keeps_only_entries_of_a_readable_shape(client):
    responses.get(f"{BASE}/CarePlan", json={"resourceType": "Bundle", "type": "searchset", "entry": [
        "x", 5, None, {"resource": 7}, {"resource": {"resourceType": ["CarePlan"], "id": "a"}},
        {"resource": {"resourceType": "CarePlan", "id": 5}}, {"resource": {"resourceType": "CarePlan", "meta": "v1"}},
        {"resource": {"resourceType": "CarePlan", "id": "b", "meta": {"versionId": 2}}},
        {"resource": {"resourceType": "CarePlan", "id": "ok", "meta": {"versionId": "1"}}},
        {"resource": {"resourceType": "ValueSet", "url": "http://x"}},  # no id: still read (a search by url)
    ]})
    assert client.search("CarePlan") == [{"resourceType": "CarePlan", "id": "ok", "meta": {"versionId": "1"}},
                                         {"resourceType": "ValueSet", "url": "http://x"}]


@responses.activate
@pytest.mark.parametrize(("body", "message"), [
    ('{"resourceType": "Bundle", "entry": {"resource": {}}}', "'entry' is not a list"),
    ('{"resourceType": "Bundle", "link": "next"}', "'link' is not a list"),
    ('{"resourceType": ["Patient"]}', "not a FHIR resource"),
    ("[" * 1100 + "]" * 1100, "nested deeper than 256 levels"),
    ('{"resourceType": "Patient", "birthDate": NaN}', "NaN is not a JSON number"),
])
def test_search__a_malformed_answer_is_a_typed_error_that_says_why(client, body, message):
    responses.get(f"{BASE}/Patient", body=body, content_type="application/fhir+json")
    with pytest.raises(FhirMalformedResponse, match=message):
        client.search("Patient")


@responses.activate
def test_read__a_lone_surrogate_is_read_as_a_replacement_character(client):
    body = '{"resourceType": "Patient", "id": "p1", "name": [{"family": "A\\ud800"}]}'
    responses.get(f"{BASE}/Patient/p1", body=body, content_type="application/fhir+json")
    assert client.read("Patient", "p1")["name"] == [{"family": "A\ufffd"}]


# -- redirects: followed by carepath only to the same base ---------------------------------------------

EVIL = "https://evil.example.com/r4/Patient/p1"


@responses.activate
@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
@pytest.mark.parametrize("location", [EVIL, f"{BASE}/../secret/Patient/p1", f"{BASE}/%2e%2e/secret/Patient/p1",
                                      "http://fhir.example.org/r4/Patient/p1", "//evil.example.com/r4/Patient/p1"])
def test_request__a_redirect_off_the_server_is_refused_and_nothing_reaches_its_target(status, location):
    client = FhirClient(BASE, token=lambda: "secret-token", sleep=lambda seconds: None)
    responses.get(f"{BASE}/Patient/p1", status=status, headers={"Location": location})
    with pytest.raises(UnsafeUrl, match="outside the FHIR server carepath was opened with"):
        client.read("Patient", "p1")
    assert [call.request.url for call in responses.calls] == [f"{BASE}/Patient/p1"]  # no retry, no target


@responses.activate
@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_request__a_redirect_on_the_same_server_is_followed_with_the_token(status):
    client = FhirClient(BASE, token=lambda: "secret-token")
    responses.get(f"{BASE}/Patient/p1", status=status, headers={"Location": "/r4/Patient/p2"})
    responses.get(f"{BASE}/Patient/p2", json={"resourceType": "Patient", "id": "p2"})
    assert client.read("Patient", "p1")["id"] == "p2"
    assert responses.calls[1].request.headers["Authorization"] == "Bearer secret-token"


@responses.activate
def test_request__a_redirect_keeps_the_search_parameters_of_its_location_only():
    client = FhirClient(BASE)
    responses.get(f"{BASE}/Observation", status=302, headers={"Location": f"{BASE}/Observation?page=2"})
    responses.get(f"{BASE}/Observation", json={"resourceType": "Bundle", "type": "searchset"})
    client.get_json("Observation", params={"patient": "p1"})
    assert responses.calls[0].request.url == f"{BASE}/Observation?patient=p1"
    assert responses.calls[1].request.url == f"{BASE}/Observation?page=2"


@responses.activate
def test_request__a_redirect_loop_is_bounded():
    client = FhirClient(BASE, sleep=lambda seconds: None)
    responses.get(f"{BASE}/Patient/p1", status=302, headers={"Location": f"{BASE}/Patient/p1/"})
    responses.get(f"{BASE}/Patient/p1/", status=301, headers={"Location": f"{BASE}/Patient/p1"})
    with pytest.raises(FhirTransportError, match="redirects"):
        client.read("Patient", "p1")
    assert len(responses.calls) == MAX_REDIRECTS + 1


@responses.activate
def test_request__a_redirected_write_is_not_sent_again():
    client = FhirClient(BASE)
    responses.post(f"{BASE}/CarePlan", status=307, headers={"Location": f"{BASE}/CarePlan/2"})
    with pytest.raises(FhirTransportError, match="not sent again"):
        client.create({"resourceType": "CarePlan"})
    assert len(responses.calls) == 1


@responses.activate
@pytest.mark.parametrize("status", [300, 302, 304])
def test_request__a_3xx_without_a_followed_location_is_an_error_not_an_answer(client, status):
    responses.get(f"{BASE}/Patient/p1", status=status)
    with pytest.raises(FhirStatusError) as raised:
        client.read("Patient", "p1")
    assert raised.value.status == status


@pytest.mark.parametrize("path", ["Patient/../../secret", "Patient/%2e%2e/%2e%2e/secret", "//evil.example.com/r4"])
def test_url_for__a_relative_path_cannot_leave_the_base(client, path):
    with pytest.raises(UnsafeUrl):
        client.url_for(path)


@responses.activate
@pytest.mark.parametrize("next_url", [f"{BASE}/../secret/Observation?page=2",
                                      f"{BASE}/%2E%2E/secret/Observation?page=2"])
def test_search__refuses_a_next_link_that_leaves_the_base_through_dot_segments(client, next_url):
    responses.get(f"{BASE}/Observation", json=_page(["a"], next_url))
    with pytest.raises(UnsafeUrl):
        client.search("Observation", {"patient": "p1"})
    assert len(responses.calls) == 1


@responses.activate
def test_search__a_next_page_redirected_elsewhere_is_refused(client):
    responses.get(f"{BASE}/Observation", json=_page(["a"], f"{BASE}?_getpages=x&_offset=1"))
    responses.get(BASE, status=302, headers={"Location": "https://evil.example.com/r4?_getpages=x"})
    with pytest.raises(UnsafeUrl):
        client.search("Observation", {"patient": "p1"})
    assert [call.request.url.split("?")[0] for call in responses.calls] == [f"{BASE}/Observation", BASE]


@responses.activate
def test_search__a_next_page_redirected_on_the_same_server_is_read(client):
    responses.get(f"{BASE}/Observation", json=_page(["a"], f"{BASE}?_getpages=x&_offset=1"))
    responses.get(BASE, status=303, headers={"Location": f"{BASE}/page-2"})
    responses.get(f"{BASE}/page-2", json=_page(["b"]))
    assert [r["id"] for r in client.search("Observation", {"patient": "p1"})] == ["a", "b"]
