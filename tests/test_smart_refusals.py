"""What a SMART launch must refuse, over HTTP through the sandbox EHR: each case ends on a clear page."""

from __future__ import annotations

import http.server
import threading
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.test_smart_launch import launch_id_of

pytestmark = pytest.mark.integration


def start_launch(browser, carepath, patient: str, **kwargs):
    """Open carepath's /launch for a new EHR launch; returns (consent page, state)."""
    browser.sandbox.app_url = carepath.url
    consent = browser.to_consent(browser.new_launch(patient, **kwargs))
    state = parse_qs(urlsplit(consent.url).query)["state"][0]
    return consent, state


@pytest.mark.parametrize(("decision", "simulate"), [("deny", ""), ("allow", "deny_consent")])
def test_launch__denied_consent_ends_on_a_clear_page(carepath_servers, browser, sample_patients, decision,
                                                      simulate, assert_no_secret_logged):
    carepath = carepath_servers("public")
    page = browser.launch(carepath, sample_patients[0]["id"], decision=decision, simulate=simulate)
    assert page.status_code == 403
    assert "Access was denied in the EHR" in page.text
    assert "/p/" not in page.url


def test_launch__unknown_state_is_refused_without_a_token_request(carepath_servers, browser, sandbox_ehr):
    carepath = carepath_servers("public")
    before = sandbox_ehr.registry.token_requests
    page = browser.session.get(f"{carepath.url}/callback", params={"code": "x", "state": "forged"}, timeout=30)
    assert page.status_code == 400
    assert "This sign-in is unknown, was already used, or took too long" in page.text
    assert sandbox_ehr.registry.token_requests == before


def test_launch__state_from_another_browser_is_refused(carepath_servers, browser, browser_factory,
                                                       sample_patients, sandbox_ehr):
    carepath = carepath_servers("public")
    consent, _ = start_launch(browser, carepath, sample_patients[0]["id"])
    attacker = browser_factory()
    redirect = browser.consent(consent, follow=False)  # the victim's code and state ...
    before = sandbox_ehr.registry.token_requests
    page = attacker.session.get(redirect.headers["Location"], timeout=30)  # ... delivered to another browser
    assert page.status_code == 400
    assert "started in another browser" in page.text
    assert sandbox_ehr.registry.token_requests == before


def test_launch__replayed_code_is_refused_and_revokes_its_tokens(carepath_servers, browser, sample_patients,
                                                                  assert_no_secret_logged):
    carepath = carepath_servers("public")
    consent, state = start_launch(browser, carepath, sample_patients[0]["id"])
    pending = carepath.store.get("pending", state)
    callback = browser.consent(consent, follow=False).headers["Location"]
    first = browser.session.get(callback, timeout=30)
    assert first.status_code == 200
    # An attacker who captured the callback replays it with the same PKCE verifier, from the browser as it is now
    # (the callback gave it a new id: the launch record holds its hash).
    launch = carepath.store.get("launch", launch_id_of(first))
    carepath.store.put("pending", state, {**pending, "browser": launch["browser"]}, ttl=60)
    replay = browser.session.get(callback, timeout=30)
    assert replay.status_code == 403
    assert "invalid_grant" in replay.text
    # The sandbox revoked the tokens of the replayed code: the first launch must start again.
    again = browser.session.get(first.url, timeout=30)
    assert again.status_code == 401
    assert "Open carepath again" in again.text


def test_launch__pkce_verifier_mismatch_is_refused(carepath_servers, browser, sample_patients):
    carepath = carepath_servers("public")
    consent, state = start_launch(browser, carepath, sample_patients[0]["id"])
    pending = carepath.store.get("pending", state)
    pending["code_verifier"] = "x" * 64  # not the verifier the challenge was made from
    carepath.store.put("pending", state, pending, ttl=60)
    page = browser.consent(consent)
    assert page.status_code == 403
    assert "PKCE" in page.text and "invalid_grant" in page.text


class _Recorder(http.server.BaseHTTPRequestHandler):
    hits: list[str] = []

    def do_GET(self):
        _Recorder.hits.append(self.path)
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_launch__unknown_iss_gets_an_error_page_and_no_request(carepath_servers, browser):
    carepath = carepath_servers("public")
    server = http.server.HTTPServer(("127.0.0.1", 0), _Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    stranger = f"http://127.0.0.1:{server.server_port}/fhir"
    try:
        page = browser.session.get(f"{carepath.url}/launch", params={"iss": stranger, "launch": "abc"}, timeout=30)
        open_mode = browser.session.get(f"{carepath.url}/launch", params={"iss": stranger, "patient": "1"},
                                        timeout=30)
    finally:
        server.shutdown()
        server.server_close()
    assert page.status_code == 403 and open_mode.status_code == 403
    assert "is not on carepath&#39;s list of allowed EHRs" in page.text
    assert _Recorder.hits == []


def test_launch__invalid_client_ends_on_a_clear_page(carepath_servers, browser, sample_patients):
    carepath = carepath_servers("confidential-symmetric")
    page = browser.launch(carepath, sample_patients[0]["id"], simulate="invalid_client")
    assert page.status_code == 403
    assert "did not accept carepath&#39;s client credentials" in page.text


def test_launch__expired_access_token_is_refreshed_once_on_401(carepath_servers, browser, sample_patients,
                                                              sandbox_ehr, assert_no_secret_logged):
    carepath = carepath_servers("public")
    before = sandbox_ehr.registry.token_requests
    page = browser.launch(carepath, sample_patients[0]["id"], simulate="expired_token")
    assert page.status_code == 200, page.text[:300]
    assert sample_patients[0]["family"] in page.text
    assert sandbox_ehr.registry.token_requests == before + 2  # the code exchange, then one refresh


def test_launch__token_is_refreshed_before_expiry_and_rotated(carepath_servers, browser, sample_patients,
                                                               sandbox_ehr):
    carepath = carepath_servers("confidential-symmetric")
    page = browser.launch(carepath, sample_patients[0]["id"])
    launch_id = launch_id_of(page)
    record = carepath.store.get("launch", launch_id)
    old_access, old_refresh = record["access_token"], record["refresh_token"]
    record["expires_at"] = 0  # as if the hour had passed
    carepath.store.put("launch", launch_id, record, ttl=600)
    again = browser.session.get(page.url, timeout=30)
    assert again.status_code == 200
    renewed = carepath.store.get("launch", launch_id)
    assert renewed["access_token"] != old_access
    assert renewed["refresh_token"] != old_refresh
    assert sandbox_ehr.registry.by_refresh_token(old_refresh) is None  # the old refresh token is spent


def test_launch__failed_refresh_asks_to_relaunch(carepath_servers, browser, sample_patients, sandbox_ehr):
    carepath = carepath_servers("public")
    page = browser.launch(carepath, sample_patients[0]["id"])
    sandbox_ehr.registry.revoke_all()
    again = browser.session.get(page.url, timeout=30)
    assert again.status_code == 401
    assert "Open carepath again from the EHR" in again.text
    assert carepath.store.get("launch", launch_id_of(page)) is None  # the dead launch is forgotten


def test_launch__scope_downgrade_runs_read_only(carepath_servers, browser, sample_patients, sandbox_ehr):
    carepath = carepath_servers("public")
    page = browser.launch(carepath, sample_patients[0]["id"], simulate="scope_downgrade")
    assert page.status_code == 200
    assert 'id="read-only"' in page.text
    assert "CarePlan, Goal, Provenance" in page.text
    record = carepath.store.get("launch", launch_id_of(page))
    assert "patient/CarePlan.rs" in record["scope"].split()
    # The EHR's FHIR proxy enforces it too: writing a CarePlan is forbidden with an OperationOutcome.
    import requests

    response = requests.post(f"{sandbox_ehr.fhir_base}/CarePlan", timeout=30,
                             headers={"Authorization": f"Bearer {record['access_token']}",
                                      "Content-Type": "application/fhir+json"},
                             json={"resourceType": "CarePlan", "status": "draft", "intent": "plan",
                                   "subject": {"reference": f"Patient/{sample_patients[0]['id']}"}})
    assert response.status_code == 403
    assert response.json()["resourceType"] == "OperationOutcome"


def test_launch__two_launches_in_one_browser_never_mix(carepath_servers, browser, sample_patients):
    carepath = carepath_servers("public")
    first_patient, second_patient = sample_patients
    first = browser.launch(carepath, first_patient["id"])
    second = browser.launch(carepath, second_patient["id"])
    assert launch_id_of(first) != launch_id_of(second)
    results: dict[str, str] = {}

    def load(name: str, url: str) -> None:
        results[name] = browser.session.get(url, timeout=30).text

    threads = [threading.Thread(target=load, args=(f"{name}{i}", page.url))
               for i in range(3) for name, page in (("first", first), ("second", second))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for name, text in results.items():
        expected, other = (first_patient, second_patient) if name.startswith("first") else (second_patient,
                                                                                            first_patient)
        assert expected["family"] in text and other["family"] not in text


def test_launch__copied_page_url_does_not_work_in_another_browser(carepath_servers, browser, browser_factory,
                                                                  sample_patients):
    carepath = carepath_servers("public")
    page = browser.launch(carepath, sample_patients[0]["id"])
    stranger = browser_factory().session.get(page.url, timeout=30)
    assert stranger.status_code == 401
    assert sample_patients[0]["family"] not in stranger.text
    assert "opened in another browser" in stranger.text
