"""EHR and standalone SMART launches, over HTTP, through the sandbox EHR and the local HAPI server."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest
from markupsafe import escape

from app.careplan.present import human_name
from tests.plugins.sandbox import CLIENT_TYPES, form_action, form_fields

pytestmark = pytest.mark.integration


def launch_id_of(response) -> str:
    match = re.search(r"/p/([A-Za-z0-9_-]+)/plan$", response.url)
    assert match, f"not on the plan page: {response.url} {response.status_code} {response.text[:300]}"
    return match.group(1)


@pytest.mark.parametrize("client_type", CLIENT_TYPES)
def test_ehr_launch__lands_on_the_plan_with_each_client_type(
        carepath_servers, browser, sample_patients, sample_practitioner, loaded_hapi, client_type,
        assert_no_secret_logged):
    carepath = carepath_servers(client_type)
    patient = sample_patients[0]
    page = browser.launch(carepath, patient["id"], practitioner=sample_practitioner)
    assert page.status_code == 200, page.text[:500]
    assert patient["family"] in page.text
    # The user is named (read with user/Practitioner.rs), never shown as an id.
    assert escape(human_name(loaded_hapi.read("Practitioner", sample_practitioner))) in page.text
    assert sample_practitioner not in page.text and 'id="actions"' in page.text
    assert 'id="read-only"' not in page.text
    record = carepath.store.get("launch", launch_id_of(page))
    assert record["patient_id"] == patient["id"]
    assert record["fhir_user"] == f"Practitioner/{sample_practitioner}"
    assert record["access_token"] not in page.text


def test_ehr_launch__authorize_request_carries_state_pkce_aud_and_nonce(carepath_servers, browser, sample_patients):
    carepath = carepath_servers("public")
    browser.sandbox.app_url = carepath.url
    launch_url = browser.new_launch(sample_patients[0]["id"])
    response = browser.session.get(launch_url, allow_redirects=False, timeout=30)
    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    query = {key: values[0] for key, values in parse_qs(location.query).items()}
    assert location.netloc == urlsplit(browser.sandbox.base_url).netloc
    assert query["response_type"] == "code"
    assert query["client_id"] == carepath.client_id
    assert query["redirect_uri"] == f"{carepath.url}/callback"
    assert query["aud"] == browser.sandbox.fhir_base
    assert query["code_challenge_method"] == "S256"
    assert len(query["code_challenge"]) == 43
    assert len(query["state"]) >= 43  # 256 random bits, url-safe base64
    assert query["nonce"]
    assert query["launch"] == parse_qs(urlsplit(launch_url).query)["launch"][0]
    scopes = query["scope"].split()
    assert {"openid", "fhirUser", "launch", "patient/Observation.rs", "patient/CarePlan.crus"} <= set(scopes)
    cookie = response.headers["Set-Cookie"]
    for attribute in ("Secure", "HttpOnly", "SameSite=None", "Partitioned"):
        assert attribute in cookie


def test_ehr_launch__with_smart_v1_scopes(carepath_servers, browser, sample_patients):
    carepath = carepath_servers("public-v1")
    page = browser.launch(carepath, sample_patients[0]["id"])
    assert page.status_code == 200, page.text[:300]
    assert sample_patients[0]["family"] in page.text and 'id="read-only"' not in page.text
    scopes = carepath.store.get("launch", launch_id_of(page))["scope"].split()
    assert "patient/*.read" in scopes and "patient/CarePlan.write" in scopes
    assert not any(scope.endswith(".rs") for scope in scopes)


def test_standalone_launch__lets_the_user_pick_the_patient(carepath_servers, browser, sample_patients,
                                                           sample_practitioner, assert_no_secret_logged):
    carepath = carepath_servers("public")
    page = browser.session.get(f"{carepath.url}/launch/standalone", timeout=30)
    assert browser.sandbox.fhir_base in page.text
    consent = browser.session.post(f"{carepath.url}{form_action(page.text)}", data=form_fields(page.text),
                                   timeout=60)
    assert consent.status_code == 200, consent.text[:500]
    assert "launch/patient" in consent.text
    patient = sample_patients[1]
    final = browser.consent(consent, patient=patient["id"], practitioner=sample_practitioner)
    assert final.status_code == 200, final.text[:500]
    assert patient["family"] in final.text
    assert carepath.store.get("launch", launch_id_of(final))["patient_id"] == patient["id"]


def test_standalone_launch__post_without_csrf_token_is_refused(carepath_servers, browser):
    carepath = carepath_servers("public")
    browser.session.get(f"{carepath.url}/launch/standalone", timeout=30)
    response = browser.session.post(f"{carepath.url}/launch/standalone", data={"iss": browser.sandbox.fhir_base},
                                    timeout=30, allow_redirects=False)
    assert response.status_code == 400
    assert "did not come from carepath" in response.text


def test_open_server_launch__reads_the_patient_without_a_token(carepath_servers, browser, sample_patients, hapi_url):
    carepath = carepath_servers("public")
    patient = sample_patients[0]
    page = browser.session.get(f"{carepath.url}/launch", params={"iss": hapi_url, "patient": patient["id"]},
                               timeout=30)
    assert page.status_code == 200, page.text[:500]
    assert patient["family"] in page.text
    assert "without authorization" in page.text
    assert carepath.store.get("launch", launch_id_of(page))["access_token"] is None
