"""SmartClient and the launch views against an EHR played by ``responses``: error paths above all.

The full flows run against the real sandbox EHR in test_smart_launch.py / test_smart_refusals.py; here
each way an EHR can answer badly is played exactly, and the views are driven with Flask's test client.
"""

from __future__ import annotations

import threading
import time
from urllib.parse import parse_qs, urlsplit

import pytest
import responses
from joserfc import jwt
from joserfc.jwk import RSAKey

from app import create_app
from app.smart import discovery
from app.smart.errors import AuthorizationFailed, RelaunchRequired, StateMismatch, TokenInvalid
from app.smart.launch import Launch

ISS = "https://ehr.example/fhir"
TOKEN_URL = "https://ehr.example/token"
KEY = RSAKey.generate_key(2048, parameters={"kid": "ehr-key"})
CONFIG = {"authorization_endpoint": "https://ehr.example/authorize", "token_endpoint": TOKEN_URL,
          "issuer": ISS, "jwks_uri": "https://ehr.example/jwks", "code_challenge_methods_supported": ["S256"]}


@pytest.fixture
def smart_app(tmp_path):
    discovery.forget()
    app = create_app({"TESTING": True, "SECRET_KEY": "test", "VAR_DIR": str(tmp_path),
                      "SMART_ALLOWED_ISS": [ISS], "SMART_OPEN_SERVERS": [], "FHIR_RETRIES": 0})
    yield app
    discovery.forget()


@pytest.fixture
def ehr():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.get(f"{ISS}/.well-known/smart-configuration", json=CONFIG)
        mock.get("https://ehr.example/jwks", json={"keys": [dict(KEY.as_dict(private=False), kid="ehr-key")]})
        yield mock


def id_token(nonce: str, **changes) -> str:
    now = int(time.time())
    claims = {"iss": ISS, "aud": "carepath", "sub": "u1", "iat": now, "exp": now + 300, "nonce": nonce,
              "fhirUser": f"{ISS}/Practitioner/p9", **changes}
    return jwt.encode({"alg": "RS256", "kid": "ehr-key"}, claims, KEY)


def start(smart, browser: str = "browser-1") -> tuple[str, dict]:
    """Begin an EHR launch; returns the state and the pending record."""
    url = smart.authorize_url(ISS, launch="L1", browser_id=browser)
    state = parse_qs(urlsplit(url).query)["state"][0]
    return state, smart.store.get("pending", state)


def token_body(pending: dict, **changes) -> dict:
    body = {"access_token": "AT-secret-1", "token_type": "Bearer", "expires_in": 3600, "refresh_token": "RT-1",
            "scope": "openid fhirUser launch patient/*.rs patient/CarePlan.cu patient/Goal.cu patient/Provenance.cu",
            "patient": "pat1", "encounter": "enc1", "need_patient_banner": False,
            "smart_style_url": "https://ehr.example/style.json", "id_token": id_token(pending["nonce"])}
    body.update(changes)
    return {k: v for k, v in body.items() if v is not None}


def test_handle_callback__stores_the_launch_context(smart_app, ehr):
    with smart_app.app_context():
        smart = smart_app.extensions["carepath_smart"]
        state, pending = start(smart)
        ehr.post(TOKEN_URL, json=token_body(pending))
        launch_id = smart.handle_callback({"code": "c1", "state": state}, browser_id="browser-1")
        launch = Launch.from_record(smart.load(launch_id), smart)
    assert (launch.patient_id, launch.encounter_id, launch.fhir_user) == ("pat1", "enc1", "Practitioner/p9")
    assert launch.need_patient_banner is False and launch.smart_style_url == "https://ehr.example/style.json"
    assert launch.can_read("Observation") and launch.can_write("CarePlan") and not launch.read_only
    (token_call,) = [call for call in ehr.calls if call.request.url == TOKEN_URL]
    sent = parse_qs(token_call.request.body)
    assert sent["code_verifier"] == [pending["code_verifier"]] and sent["client_id"] == ["carepath"]


@pytest.mark.parametrize(("status", "body", "error", "message"), [
    (400, {"error": "invalid_grant"}, AuthorizationFailed, "invalid_grant"),
    (401, {"error": "invalid_client"}, AuthorizationFailed, "client credentials"),
    (400, {"error": "strange_thing", "error_description": "x"}, AuthorizationFailed, "strange_thing"),
    (500, {"oops": 1}, AuthorizationFailed, "HTTP 500"),
    (200, "<html>not json</html>", AuthorizationFailed, "JSON"),
])
def test_handle_callback__token_endpoint_failures_are_explained(smart_app, ehr, status, body, error, message):
    with smart_app.app_context():
        smart = smart_app.extensions["carepath_smart"]
        state, _ = start(smart)
        kwargs = {"json": body} if isinstance(body, dict) else {"body": body}
        ehr.post(TOKEN_URL, status=status, **kwargs)
        with pytest.raises(error, match=message):
            smart.handle_callback({"code": "c1", "state": state}, browser_id="browser-1")
        # the state was used up: retrying the same callback is a mismatch, not a second token request
        with pytest.raises(StateMismatch):
            smart.handle_callback({"code": "c1", "state": state}, browser_id="browser-1")


@pytest.mark.parametrize("status", [301, 302, 307, 308])
@pytest.mark.parametrize("location", ["https://evil.example/token", TOKEN_URL + "/again"])
def test_handle_callback__a_redirected_token_request_is_never_sent_again(smart_app, ehr, status, location):
    with smart_app.app_context():
        smart = smart_app.extensions["carepath_smart"]
        state, _ = start(smart)
        ehr.post(TOKEN_URL, status=status, headers={"Location": location})
        with pytest.raises(AuthorizationFailed, match=r"token endpoint could not be used.*not sent again"):
            smart.handle_callback({"code": "c1", "state": state}, browser_id="browser-1")
    assert [call.request.url for call in ehr.calls if "token" in call.request.url] == [TOKEN_URL]


@pytest.mark.parametrize("location", ["https://evil.example/jwks", "https://ehr.example/jwks/../evil-keys"])
def test_handle_callback__signing_keys_redirected_elsewhere_are_refused(smart_app, ehr, location):
    ehr.replace(responses.GET, "https://ehr.example/jwks", status=302, headers={"Location": location})
    with smart_app.app_context():
        smart = smart_app.extensions["carepath_smart"]
        state, pending = start(smart)
        ehr.post(TOKEN_URL, json=token_body(pending))
        with pytest.raises(TokenInvalid, match="signing keys"):
            smart.handle_callback({"code": "c1", "state": state}, browser_id="browser-1")
    assert not [call for call in ehr.calls if "evil" in call.request.url]


@pytest.mark.parametrize(("changes", "message"), [
    ({"patient": None}, "which patient"),
    ({"access_token": None}, "no access_token"),
    ({"token_type": "mac"}, "not a Bearer token"),
    ({"id_token": None}, "sent no id_token"),
    ({"id_token": "eyJhbGciOiJSUzI1NiJ9.e30.c2ln"}, "signature"),
])
def test_handle_callback__untrustworthy_token_responses_are_refused(smart_app, ehr, changes, message):
    with smart_app.app_context():
        smart = smart_app.extensions["carepath_smart"]
        state, pending = start(smart)
        ehr.post(TOKEN_URL, json=token_body(pending, **changes))
        with pytest.raises(TokenInvalid, match=message):
            smart.handle_callback({"code": "c1", "state": state}, browser_id="browser-1")


def test_handle_callback__id_token_with_another_nonce_is_refused(smart_app, ehr):
    with smart_app.app_context():
        smart = smart_app.extensions["carepath_smart"]
        state, pending = start(smart)
        ehr.post(TOKEN_URL, json=token_body(pending, id_token=id_token("someone-elses-nonce")))
        with pytest.raises(TokenInvalid, match="nonce"):
            smart.handle_callback({"code": "c1", "state": state}, browser_id="browser-1")


def test_handle_callback__ehr_error_and_other_browser_send_no_token_request(smart_app, ehr):
    with smart_app.app_context():
        smart = smart_app.extensions["carepath_smart"]
        state, _ = start(smart)
        with pytest.raises(StateMismatch, match="another browser"):
            smart.handle_callback({"code": "c1", "state": state}, browser_id="browser-2")
        state, _ = start(smart)
        with pytest.raises(AuthorizationFailed, match="Access was denied"):
            smart.handle_callback({"error": "access_denied", "state": state}, browser_id="browser-1")
    assert not [call for call in ehr.calls if call.request.url == TOKEN_URL]


def launched(smart, ehr, **changes) -> str:
    state, pending = start(smart)
    ehr.post(TOKEN_URL, json=token_body(pending, **changes))
    return smart.handle_callback({"code": "c1", "state": state}, browser_id="browser-1")


def test_refresh__rotates_tokens_once_for_concurrent_callers(smart_app, ehr):
    with smart_app.app_context():
        smart = smart_app.extensions["carepath_smart"]
        launch_id = launched(smart, ehr)
        ehr.replace(responses.POST, TOKEN_URL, json={"access_token": "AT-2", "token_type": "Bearer",
                                                     "expires_in": 3600, "refresh_token": "RT-2"})
        results = []
        threads = [threading.Thread(target=lambda: results.append(
            smart.refresh(launch_id, stale_token="AT-secret-1")["access_token"])) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        record = smart.load(launch_id)
    assert results == ["AT-2"] * 4
    assert (record["access_token"], record["refresh_token"]) == ("AT-2", "RT-2")
    refreshes = [call for call in ehr.calls if call.request.url == TOKEN_URL and "refresh_token" in call.request.body]
    assert len(refreshes) == 1


@pytest.mark.parametrize("changes", [{"refresh_token": None}, {}])
def test_refresh__impossible_or_refused_means_relaunch(smart_app, ehr, changes):
    with smart_app.app_context():
        smart = smart_app.extensions["carepath_smart"]
        launch_id = launched(smart, ehr, **changes)
        ehr.replace(responses.POST, TOKEN_URL, status=400, json={"error": "invalid_grant"})
        with pytest.raises(RelaunchRequired, match="Open carepath again"):
            smart.refresh(launch_id, stale_token="AT-secret-1")
        assert smart.load(launch_id) is None


def test_launch_fhir__refreshes_once_on_401_then_retries(smart_app, ehr):
    with smart_app.test_request_context():
        smart = smart_app.extensions["carepath_smart"]
        launch_id = launched(smart, ehr)
        ehr.replace(responses.POST, TOKEN_URL, json={"access_token": "AT-2", "token_type": "Bearer",
                                                     "expires_in": 3600})
        ehr.get(f"{ISS}/Patient/pat1", status=401, json={"resourceType": "OperationOutcome", "issue": []})
        ehr.get(f"{ISS}/Patient/pat1", json={"resourceType": "Patient", "id": "pat1"})
        launch = Launch.from_record(smart.load(launch_id), smart)
        assert launch.fhir.read("Patient", "pat1")["id"] == "pat1"
    reads = [call.request.headers["Authorization"] for call in ehr.calls if "/Patient/" in call.request.url]
    assert reads == ["Bearer AT-secret-1", "Bearer AT-2"]


# -- the views -----------------------------------------------------------------------------------

def test_launch_view__unknown_iss_makes_no_request(smart_app):
    client = smart_app.test_client()
    with responses.RequestsMock() as mock:  # any request would fail the test: nothing is registered
        page = client.get("/launch", query_string={"iss": "https://evil.example/fhir", "launch": "x"})
        assert len(mock.calls) == 0
    assert page.status_code == 403
    assert b"not on carepath&#39;s list of allowed EHRs" in page.data
    assert "frame-ancestors" in page.headers["Content-Security-Policy"]


@pytest.mark.parametrize(("query", "status", "text"), [
    ({}, 403, b"did not say which EHR"),
    ({"iss": ISS}, 400, b"without a &#39;launch&#39; parameter"),
    ({"iss": ISS, "patient": "p1"}, 400, b"SMART_OPEN_SERVERS"),
])
def test_launch_view__incomplete_launches_are_explained(smart_app, query, status, text):
    with responses.RequestsMock():
        page = smart_app.test_client().get("/launch", query_string=query)
    assert page.status_code == status and text in page.data


def test_callback_view__error_page_holds_no_token(smart_app, ehr):
    client = smart_app.test_client()
    first = client.get("/launch", query_string={"iss": ISS, "launch": "L1"})
    state = parse_qs(urlsplit(first.headers["Location"]).query)["state"][0]
    ehr.post(TOKEN_URL, json={"access_token": "AT-very-secret", "token_type": "Bearer", "scope": "launch"})
    page = client.get("/callback", query_string={"code": "c1", "state": state})
    assert page.status_code == 502
    assert b"which patient" in page.data and b"AT-very-secret" not in page.data


def test_patient_view__without_the_launch_cookie_asks_to_relaunch(smart_app):
    page = smart_app.test_client().get("/p/some-launch-id/")
    assert page.status_code == 401 and b"Open carepath again from the EHR" in page.data


def test_access_token__a_short_lived_token_is_renewed_at_half_its_life_not_on_every_request(smart_app, ehr,
                                                                                            monkeypatch):
    import app.smart.client as client_module

    with smart_app.app_context():
        smart = smart_app.extensions["carepath_smart"]
        launch_id = launched(smart, ehr, expires_in=40)  # shorter than SMART_REFRESH_MARGIN (60 s)
        ehr.replace(responses.POST, TOKEN_URL, json={"access_token": "AT-2", "token_type": "Bearer",
                                                     "expires_in": 40, "refresh_token": "RT-2"})
        assert [smart.access_token(launch_id) for _ in range(3)] == ["AT-secret-1"] * 3  # no renewal yet
        start = client_module.time.time()
        monkeypatch.setattr(client_module.time, "time", lambda: start + 25)  # 15 s left: under half of 40 s
        assert smart.access_token(launch_id) == "AT-2"
    refreshes = [call for call in ehr.calls if call.request.url == TOKEN_URL and "refresh_token" in call.request.body]
    assert len(refreshes) == 1
