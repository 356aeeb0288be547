"""CDS Hooks service (unit): discovery, cards from prefetch, fetching what is missing, error answers.

FHIR servers and the CDS client's key set are played by ``responses``: no request leaves the test, and a
request to anything not registered fails the test.
"""

from __future__ import annotations

import json

import pytest
import responses

from app import create_app
from app.cds.cards import SUMMARY_LIMIT
from tests.cds_helpers import (
    EHR_ISS,
    JWKS_URL,
    CdsClientKeys,
    FakeFhirServer,
    bundle_resources,
    hook_request,
    prefetch_from_bundle,
)

AS_OF = "2026-06-01"
EHR_FHIR = "https://ehr.example.org/fhir"
STRANGER_CONDITION = {  # another patient's diabetes, in a careless server's answer: never this patient's
    "resourceType": "Condition", "id": "stranger-dm", "subject": {"reference": "Patient/someone-else"},
    "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                                   "code": "active"}]},
    "code": {"coding": [{"system": "http://snomed.info/sct", "code": "44054006"}]}}


@pytest.fixture
def keys() -> CdsClientKeys:
    return CdsClientKeys()


@pytest.fixture
def app(tmp_path):
    return create_app({"TESTING": True, "SECRET_KEY": "test", "VAR_DIR": str(tmp_path), "REVIEW_AS_OF": AS_OF,
                       "CDS_CLIENTS": [{"iss": EHR_ISS, "jwks_url": JWKS_URL}],
                       "SMART_ALLOWED_ISS": [EHR_FHIR], "SMART_OPEN_SERVERS": [], "FHIR_RETRIES": 0})


@pytest.fixture
def mocked(keys):
    from app.fhir.capabilities import forget

    forget()  # each test's fake server says what it can do
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.add("GET", JWKS_URL, json=keys.jwks())
        yield mock


def _post(client, keys, body, path="/cds-services/carepath-care-gaps"):
    return client.post(path, json=body, headers={"Authorization": f"Bearer {keys.token()}"})


def _templates(client):
    return client.get("/cds-services").get_json()["services"][0]["prefetch"]


def test_cds_discovery__one_patient_view_service_with_templates_from_the_library(client):
    response = client.get("/cds-services")
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    [service] = response.get_json()["services"]
    assert (service["id"], service["hook"]) == ("carepath-care-gaps", "patient-view")
    prefetch = service["prefetch"]
    assert prefetch["patient"] == "Patient/{{context.patientId}}"
    assert "http://loinc.org|4548-4" in prefetch["observation-hba1c"]
    assert prefetch["observation-hba1c"].startswith("Observation?patient={{context.patientId}}&")
    assert {"condition", "medicationrequest", "allergyintolerance"} <= set(prefetch)
    assert all("{{context.patientId}}" in query for query in prefetch.values())
    assert not any("date=le" in query for query in prefetch.values())  # templates outlive the day they were written


def test_cds_cors__preflight_is_answered_without_a_jwt(client):
    response = client.options("/cds-services/carepath-care-gaps", headers={
        "Origin": "https://ehr.example.org", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type"})
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert "POST" in response.headers["Access-Control-Allow-Methods"]
    assert "Authorization" in response.headers["Access-Control-Allow-Headers"]


def test_cds_service__complete_prefetch_gives_cards_without_any_fhir_request(client, keys, mocked):
    resources = bundle_resources("clinical-t2d-ckd.json")
    body = hook_request("cp-clin-t2d-ckd", fhirServer="https://not-allowed.example/fhir",
                        prefetch=prefetch_from_bundle(_templates(client), resources, STRANGER_CONDITION))
    response = _post(client, keys, body)
    assert response.status_code == 200, response.get_json()
    cards = response.get_json()["cards"]
    assert 1 <= len(cards) <= 5
    diabetes = next(card for card in cards if card["summary"].endswith(" (Diabetes)"))
    assert all(len(card["summary"]) <= SUMMARY_LIMIT for card in cards)
    assert diabetes["indicator"] == "info"
    assert "ADA Standards of Care" in diabetes["source"]["label"] and "2025.1.0" in diabetes["source"]["label"]
    [link] = diabetes["links"]
    assert link["type"] == "smart" and link["url"] == "http://localhost/launch"
    assert json.loads(link["appContext"]) == {"area": "type-2-diabetes"}
    assert {reason["code"] for reason in diabetes["overrideReasons"]} >= {"patient-declined"}
    assert [call.request.url for call in mocked.calls] == [JWKS_URL]  # the key set only: not the EHR


def test_cds_service__unfiltered_prefetch_gives_the_same_cards_as_the_engine_on_the_bundle(client, keys, mocked):
    """Recognition is carepath's own: an answer holding every resource (and a stranger's) changes nothing."""
    from app.cds.cards import cards_for_plan
    from app.context import facts_from_resources
    from app.engine import build_plan, load_pack_set

    resources = bundle_resources("clinical-t2d-ckd.json")
    body = hook_request("cp-clin-t2d-ckd",
                        prefetch=prefetch_from_bundle(_templates(client), resources, STRANGER_CONDITION))
    served = [card["summary"] for card in _post(client, keys, body).get_json()["cards"]]
    packs = load_pack_set()
    plan = build_plan(facts_from_resources(resources, packs.requirements, AS_OF), packs, AS_OF).to_dict()
    expected = [card["summary"] for card in cards_for_plan(plan, launch_url="http://localhost/launch")[0]]
    assert served == expected


def test_cds_service__warnings_come_first_as_warning_or_critical(client, keys, mocked):
    from app.context import facts_from_resources
    from app.engine import build_plan, load_pack_set

    resources = bundle_resources("clinical-statin-allergy.json")
    packs = load_pack_set()
    plan = build_plan(facts_from_resources(resources, packs.requirements, AS_OF), packs, AS_OF).to_dict()
    serious = [w for w in plan["warnings"] if w["severity"] in ("high", "moderate")]
    body = hook_request("cp-clin-statin-allergy", prefetch=prefetch_from_bundle(_templates(client), resources))
    cards = _post(client, keys, body).get_json()["cards"]
    indicators = [card["indicator"] for card in cards]
    assert indicators[:len(serious)] == [{"high": "critical", "moderate": "warning"}[w["severity"]] for w in serious]
    assert "info" not in indicators[:len(serious)]


def test_cds_service__nothing_due_gives_no_card(client, keys, mocked):
    # a baby of one year: younger than every area (the pediatric pack's weight area starts at 2)
    resources = [{"resourceType": "Patient", "id": "cp-young", "gender": "male",
                  "birthDate": str(int(AS_OF[:4]) - 1) + AS_OF[4:]}]
    body = hook_request("cp-young", prefetch=prefetch_from_bundle(_templates(client), resources))
    response = _post(client, keys, body)
    assert response.status_code == 200
    assert response.get_json() == {"cards": []}


def test_cds_service__missing_prefetch_is_read_from_an_allowed_server_with_the_token(client, keys, mocked):
    server = FakeFhirServer(EHR_FHIR, bundle_resources("clinical-t2d-ckd.json"), token="ehr-token-123")
    server.register(mocked)
    body = hook_request("cp-clin-t2d-ckd", fhirServer=EHR_FHIR,
                        fhirAuthorization={"access_token": "ehr-token-123", "token_type": "Bearer",
                                           "expires_in": 300, "scope": "patient/*.rs", "subject": "carepath"},
                        prefetch={"patient": None})
    response = _post(client, keys, body)
    assert response.status_code == 200, response.get_json()
    assert any(card["summary"].endswith(" (Diabetes)") for card in response.get_json()["cards"])
    assert server.requests and all(url.startswith(EHR_FHIR) for url in server.requests)


@pytest.mark.parametrize(("fields", "message"), [
    ({}, "no fhirServer"),
    ({"fhirServer": "https://not-allowed.example/fhir", "fhirAuthorization": {"access_token": "t"}},
     "not a FHIR server carepath may read"),
    ({"fhirServer": EHR_FHIR}, "no fhirAuthorization"),
])
def test_cds_service__incomplete_prefetch_that_cannot_be_read_is_412_without_a_request(client, keys, mocked,
                                                                                        fields, message):
    body = hook_request("cp-clin-t2d-ckd", prefetch={"patient": {"resourceType": "Patient", "id": "cp-clin-t2d-ckd"}},
                        **fields)
    response = _post(client, keys, body)
    assert response.status_code == 412
    assert message in response.get_json()["message"]
    assert [call.request.url for call in mocked.calls] == [JWKS_URL]


@pytest.mark.parametrize(("failing", "status", "expected"), [
    ("Patient", 500, 502), ("Patient", 401, 412), ("Patient", 404, 412), ("metadata", 503, 502),
])
def test_cds_service__fhir_errors_on_the_patient_are_clear_answers(client, keys, mocked, failing, status, expected):
    server = FakeFhirServer(EHR_FHIR, bundle_resources("clinical-t2d-ckd.json"), token="tok")
    server.failures[failing] = status
    server.register(mocked)
    body = hook_request("cp-clin-t2d-ckd", fhirServer=EHR_FHIR, fhirAuthorization={"access_token": "tok"})
    response = _post(client, keys, body)
    assert response.status_code == expected
    assert response.get_json()["message"]
    assert "tok" not in response.get_data(as_text=True)


@pytest.mark.parametrize("location", ["https://evil.example/fhir/Patient/cp-clin-t2d-ckd",
                                      f"{EHR_FHIR}/../other/Patient/cp-clin-t2d-ckd"])
def test_cds_service__a_fhir_server_redirecting_elsewhere_is_a_clear_answer_and_the_target_never_called(
        client, keys, mocked, location):
    mocked.get(f"{EHR_FHIR}/Patient/cp-clin-t2d-ckd", status=302, headers={"Location": location})
    server = FakeFhirServer(EHR_FHIR, bundle_resources("clinical-t2d-ckd.json"), token="tok")
    server.register(mocked)
    body = hook_request("cp-clin-t2d-ckd", fhirServer=EHR_FHIR, fhirAuthorization={"access_token": "tok"})
    response = _post(client, keys, body)
    assert response.status_code == 502
    assert response.get_json()["message"].endswith("A link from the FHIR server was refused.")
    assert not [call for call in mocked.calls if "evil" in call.request.url or "/other/" in call.request.url]


def test_cds_service__a_search_refused_still_gives_cards_that_say_what_was_not_seen(client, keys, mocked):
    server = FakeFhirServer(EHR_FHIR, bundle_resources("clinical-t2d-ckd.json"), token="tok")
    server.failures["MedicationRequest"] = 403
    server.register(mocked)
    body = hook_request("cp-clin-t2d-ckd", fhirServer=EHR_FHIR, fhirAuthorization={"access_token": "tok"})
    response = _post(client, keys, body)
    assert response.status_code == 200
    assert response.get_json()["cards"]


@pytest.mark.parametrize("body", [
    None, {"hook": "order-sign", "hookInstance": "x", "context": {"patientId": "p1"}},
    {"hook": "patient-view", "context": {"patientId": "p1"}},
    {"hook": "patient-view", "hookInstance": "x", "context": {"patientId": "../etc"}},
])
def test_cds_service__malformed_requests_are_400(client, keys, mocked, body):
    response = client.post("/cds-services/carepath-care-gaps", data=json.dumps(body),
                           content_type="application/json", headers={"Authorization": f"Bearer {keys.token()}"})
    assert response.status_code == 400


def test_cds_service__a_token_given_for_another_patient_is_refused(client, keys, mocked):
    body = hook_request("cp-clin-t2d-ckd", fhirServer=EHR_FHIR,
                        fhirAuthorization={"access_token": "tok", "patient": "someone-else"})
    assert _post(client, keys, body).status_code == 400


def test_cds_settings__require_jwt_false_is_refused_in_production(tmp_path):
    from app.errors import ConfigError

    with pytest.raises(ConfigError, match="CDS_REQUIRE_JWT"):
        create_app({"TESTING": True, "ENV": "production", "SECRET_KEY": "x" * 40, "AUDIT_KEY": "y" * 40,
                    "VAR_DIR": str(tmp_path), "CDS_REQUIRE_JWT": False, "SMART_OPEN_SERVERS": [],
                    "CDS_BASE_URL": "https://carepath.example.org"})


@pytest.mark.parametrize("base", ["", "http://carepath.example.org"])
def test_cds_settings__production_needs_a_public_https_base_url(tmp_path, base):
    from app.errors import ConfigError

    with pytest.raises(ConfigError, match="CAREPATH_CDS_BASE_URL"):
        create_app({"TESTING": True, "ENV": "production", "SECRET_KEY": "x" * 40, "AUDIT_KEY": "y" * 40,
                    "VAR_DIR": str(tmp_path), "SMART_OPEN_SERVERS": [], "CDS_BASE_URL": base})


def test_cds_settings__a_malformed_client_list_stops_the_app(tmp_path):
    from app.errors import ConfigError

    with pytest.raises(ConfigError, match="CDS_CLIENTS"):
        create_app({"TESTING": True, "SECRET_KEY": "t", "VAR_DIR": str(tmp_path), "CDS_CLIENTS": [{"iss": "x"}]})


@pytest.mark.parametrize(("birth_date", "adult"), [("2016-06-02", False), ("2008-06-01", True)])
def test_cds_service__a_child_gets_no_card_from_the_adult_packs(client, keys, mocked, birth_date, adult):
    """The same record (diabetes, CKD, raised BP) at 9 years and 364 days and at 18 years on the plan date: the
    child's cards come from the pediatric pack only."""
    resources = [dict(r, birthDate=birth_date) if r["resourceType"] == "Patient" else r
                 for r in bundle_resources("clinical-t2d-ckd.json")]
    body = hook_request("cp-clin-t2d-ckd", prefetch=prefetch_from_bundle(_templates(client), resources))
    response = _post(client, keys, body)
    assert response.status_code == 200, response.get_json()
    cards = response.get_json()["cards"]
    assert cards
    areas = {json.loads(link["appContext"])["area"] for card in cards for link in card.get("links") or []
             if link.get("appContext")}
    assert any(card["summary"].endswith(" (Diabetes)") for card in cards) is adult
    if not adult:
        assert areas and all(area.startswith("pediatric-") for area in areas), areas


DEEP = "[" * 5000 + "]" * 5000


@pytest.mark.parametrize("path", ["/cds-services/carepath-care-gaps", "/cds-services/carepath-care-gaps/feedback"])
@pytest.mark.parametrize(("body", "message"), [
    (DEEP, "nested deeper than 256 levels"),
    ('{"hook": "patient-view", "context": ' + '{"a": ' * 5000 + "1" + "}" * 5001, "nested deeper than 256 levels"),
    ("{not json", "not valid JSON"),
    (b"\xff\xfe{}", "not UTF-8 text"),
    ("", "not valid JSON"),
])
def test_cds_endpoints__a_body_carepath_cannot_read_is_400_with_a_clear_message(client, keys, mocked, path, body,
                                                                                 message):
    response = client.post(path, data=body, content_type="application/json",
                           headers={"Authorization": f"Bearer {keys.token()}"})
    assert response.status_code == 400
    assert response.get_json()["message"].startswith("The request body is not JSON carepath can read: ")
    assert message in response.get_json()["message"]


def test_cds_endpoints__json_nested_within_the_limit_is_read(client, keys, mocked):
    feedback = {"feedback": [{"card": "no-such-card", "outcome": "accepted"}], "extra": [[[[[[[[[[1]]]]]]]]]]}
    response = client.post("/cds-services/carepath-care-gaps/feedback", json=feedback,
                           headers={"Authorization": f"Bearer {keys.token()}"})
    assert response.status_code == 200 and response.get_json() == {"recorded": 0, "unknown": 1}
