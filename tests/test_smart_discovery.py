"""The iss allow-list (checked before any request) and SMART discovery, error paths played with responses."""

from __future__ import annotations

import pytest
import requests
import responses

from app.smart import discovery
from app.smart.discovery import check_iss, discover, normalize_base
from app.smart.errors import DiscoveryFailed, UnknownIssuer

ISS = "https://ehr.example/fhir"
GOOD = {"authorization_endpoint": "https://ehr.example/auth", "token_endpoint": "https://ehr.example/token",
        "code_challenge_methods_supported": ["S256"], "capabilities": ["launch-ehr"]}


@pytest.fixture(autouse=True)
def _fresh_cache():
    discovery.forget()
    yield
    discovery.forget()


@pytest.mark.parametrize(("iss", "normalized"), [
    ("https://EHR.example/fhir/", "https://ehr.example/fhir"),
    ("https://ehr.example/fhir", "https://ehr.example/fhir"),
    (" https://ehr.example/fhir ", "https://ehr.example/fhir"),
])
def test_check_iss__accepts_allowed_servers_in_any_spelling(iss, normalized):
    assert normalize_base(iss) == normalized
    assert check_iss(iss, [ISS]) == normalized


@pytest.mark.parametrize("iss", [
    "https://evil.example/fhir", "https://ehr.example/fhir2", "https://ehr.example", "http://ehr.example/fhir",
    "https://ehr.example.evil.example/fhir", "https://ehr.example:444/fhir", "", None,
])
def test_check_iss__refuses_anything_else(iss):
    with pytest.raises(UnknownIssuer):
        check_iss(iss, [ISS])


@responses.activate
def test_discover__reads_and_caches_the_configuration():
    responses.get(f"{ISS}/.well-known/smart-configuration", json=GOOD)
    first = discover(ISS, session=requests.Session(), timeout=5)
    second = discover(ISS, session=requests.Session(), timeout=5)
    assert first.token_endpoint == "https://ehr.example/token" and first is second
    assert len(responses.calls) == 1


@pytest.mark.parametrize(("status", "body", "message"), [
    (404, {"x": 1}, "does not publish a SMART configuration"),
    (200, "not json", "did not answer with JSON"),
    (200, ["a list"], "is not a JSON object"),
    (200, {**GOOD, "token_endpoint": None}, "no usable token_endpoint"),
    (200, {**GOOD, "authorization_endpoint": "javascript:alert(1)"}, "no usable authorization_endpoint"),
    (200, {**GOOD, "token_endpoint": "http://ehr.example/token"}, "not HTTPS"),
    (200, {**GOOD, "code_challenge_methods_supported": ["plain"]}, "never falls back to 'plain'"),
    (200, {**GOOD, "code_challenge_methods_supported": 5}, "code_challenge_methods_supported must be a list"),
    (200, {**GOOD, "code_challenge_methods_supported": "S256"}, "must be a list of strings"),
    (200, {**GOOD, "capabilities": [1, 2]}, "capabilities must be a list of strings"),
    (200, {**GOOD, "token_endpoint_auth_methods_supported": {"a": 1}}, "token_endpoint_auth_methods_supported"),
])
@responses.activate
def test_discover__explains_an_unusable_configuration(status, body, message):
    kwargs = {"json": body} if not isinstance(body, str) else {"body": body}
    responses.get(f"{ISS}/.well-known/smart-configuration", status=status, **kwargs)
    with pytest.raises(DiscoveryFailed, match=message):
        discover(ISS, session=requests.Session(), timeout=5)


@responses.activate
def test_discover__plain_http_is_accepted_on_loopback_only():
    local = "http://127.0.0.1:8001/fhir"
    responses.get(f"{local}/.well-known/smart-configuration",
                  json={**GOOD, "authorization_endpoint": "http://127.0.0.1:8001/auth",
                        "token_endpoint": "http://127.0.0.1:8001/token"})
    assert discover(local, session=requests.Session(), timeout=5).token_endpoint.startswith("http://127.0.0.1")


@pytest.mark.parametrize(("error", "message"), [
    (requests.ConnectTimeout(), "did not answer"),
    (requests.ConnectionError(), "cannot be reached"),
])
@responses.activate
def test_discover__network_failures_are_named(error, message):
    responses.get(f"{ISS}/.well-known/smart-configuration", body=error)
    with pytest.raises(DiscoveryFailed, match=message):
        discover(ISS, session=requests.Session(), timeout=5)


@responses.activate
@pytest.mark.parametrize("status", [301, 302, 307, 308])
@pytest.mark.parametrize("location", ["https://evil.example/.well-known/smart-configuration",
                                      f"{ISS}/../other/.well-known/smart-configuration",
                                      "http://ehr.example/fhir/.well-known/smart-configuration"])
def test_discover__a_redirect_off_the_ehr_is_refused_and_never_followed(status, location):
    responses.get(f"{ISS}/.well-known/smart-configuration", status=status, headers={"Location": location})
    with pytest.raises(DiscoveryFailed, match="refused a redirect"):
        discover(ISS, session=requests.Session(), timeout=5)
    assert len(responses.calls) == 1


@responses.activate
def test_discover__a_redirect_on_the_same_ehr_is_followed():
    responses.get(f"{ISS}/.well-known/smart-configuration", status=301,
                  headers={"Location": f"{ISS}/.well-known/smart-configuration/"})
    responses.get(f"{ISS}/.well-known/smart-configuration/", json=GOOD)
    assert discover(ISS, session=requests.Session(), timeout=5).token_endpoint == "https://ehr.example/token"


@pytest.mark.parametrize("iss", ["https://ehr.example/fhir/x/..", "https://ehr.example:443/fhir",
                                 "https://EHR.example/fhir/%2E/"])
def test_check_iss__the_same_base_after_normalising(iss):
    assert check_iss(iss, [ISS]) == ISS


@pytest.mark.parametrize("iss", ["https://ehr.example/fhir/../other", "https://x@ehr.example/fhir",
                                 "https://ehr.example/fhir/..;/other", "https://ehr.example\\@evil.example/fhir"])
def test_check_iss__refuses_a_base_that_only_looks_allowed(iss):
    with pytest.raises(UnknownIssuer):
        check_iss(iss, [ISS])
