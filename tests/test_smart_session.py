"""The browser's session around a launch: a new browser id at the callback (session fixation), a foreign request
with a leaked callback URL that uses up nothing, ending a launch early, HSTS and the production checks, and
names that cannot turn the banner around. The EHR is played by ``responses`` (tests/test_smart_client.py)."""

from __future__ import annotations

import re
from types import SimpleNamespace
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import render_template

from app import create_app
from app.careplan.present import clean_text as plain_text
from app.errors import ConfigError
from app.logs import JsonFormatter, TextFormatter
from app.smart.errors import StateMismatch
from app.views.patient import patient_name
from tests import test_smart_client
from tests.test_smart_client import ISS, TOKEN_URL, start, token_body

HOST = "https://localhost"
smart_app = test_smart_client.smart_app  # the same app and EHR fixtures as the SmartClient tests
ehr = test_smart_client.ehr


def _begin(client) -> str:
    """Start an EHR launch in ``client``; returns the state the EHR will send back."""
    answer = client.get(f"{HOST}/launch", query_string={"iss": ISS, "launch": "L1"})
    assert answer.status_code == 302
    return parse_qs(urlsplit(answer.headers["Location"]).query)["state"][0]


def _finish(client, smart_app, ehr, state: str) -> str:
    """The EHR's callback with a code for ``state``; returns the launch id."""
    pending = smart_app.extensions["carepath_smart"].store.get("pending", state)
    ehr.post(TOKEN_URL, json=token_body(pending))
    answer = client.get(f"{HOST}/callback", query_string={"code": "c1", "state": state})
    assert answer.status_code == 302, answer.get_data(as_text=True)
    return answer.headers["Location"].split("/p/")[1].split("/")[0]


def _session(client) -> dict:
    with client.session_transaction() as session:
        return dict(session)


def _cookie(client) -> str:
    return client.get_cookie("carepath_session").value


def _open(client, launch_id: str, fhir) -> int:
    """The launch's address as this browser gets it: 302 to its plan when the browser may use the launch."""
    response = client.get(f"{HOST}/p/{launch_id}/")
    assert response.status_code != 302 or response.headers["Location"].endswith(f"/p/{launch_id}/plan")
    return response.status_code


# -- session fixation ------------------------------------------------------------------------------------

def test_callback__gives_the_browser_a_new_id_and_csrf_token(smart_app, ehr):
    client = smart_app.test_client()
    state = _begin(client)
    with client.session_transaction() as session:  # a CSRF token the session held (or an attacker planted)
        session["_csrf"] = "known-csrf"
    before = _session(client)
    _finish(client, smart_app, ehr, state)
    after = _session(client)
    assert after["browser"] != before["browser"]
    assert after.get("_csrf") != "known-csrf"


def test_callback__a_cookie_planted_before_the_sign_in_does_not_open_the_launch(smart_app, ehr):
    """An attacker who planted their cookie in the victim's browser, and learnt the launch id, gets nothing."""
    victim = smart_app.test_client()
    state = _begin(victim)
    planted = _cookie(victim)  # what the attacker put there (and still holds)
    launch_id = _finish(victim, smart_app, ehr, state)
    attacker = smart_app.test_client()
    attacker.set_cookie("carepath_session", planted, domain="localhost")
    assert _open(attacker, launch_id, ehr) == 401
    assert _open(victim, launch_id, ehr) == 302


def test_callback__the_browsers_other_launches_follow_the_new_id(smart_app, ehr):
    client = smart_app.test_client()
    first = _finish(client, smart_app, ehr, _begin(client))
    second = _finish(client, smart_app, ehr, _begin(client))
    assert first != second
    assert _open(client, first, ehr) == 302 and _open(client, second, ehr) == 302


def test_handle_callback__another_browser_does_not_use_up_the_pending_sign_in(smart_app, ehr):
    with smart_app.app_context():
        smart = smart_app.extensions["carepath_smart"]
        state, pending = start(smart, browser="browser-1")
        with pytest.raises(StateMismatch, match="another browser"):
            smart.handle_callback({"code": "c1", "state": state}, browser_id="attacker")
        assert smart.store.get("pending", state) is not None  # still there for its own browser
        ehr.post(TOKEN_URL, json=token_body(pending))
        assert smart.handle_callback({"code": "c1", "state": state}, browser_id="browser-1")
        with pytest.raises(StateMismatch, match="already used"):
            smart.handle_callback({"code": "c1", "state": state}, browser_id="browser-1")
    assert len([call for call in ehr.calls if call.request.url == TOKEN_URL]) == 1


# -- ending a launch early -----------------------------------------------------------------------------

def _csrf(page: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def test_end_session__forgets_the_launch_and_its_tokens(smart_app, ehr):
    client = smart_app.test_client()
    launch_id = _finish(client, smart_app, ehr, _begin(client))
    ehr.get(f"{ISS}/Patient/pat1", json={"resourceType": "Patient", "id": "pat1"})
    page = client.get(f"{HOST}/p/{launch_id}/source/Patient/pat1").get_data(as_text=True)  # any launch page
    assert f'action="/p/{launch_id}/end"' in page and 'id="end-session"' in page
    answer = client.post(f"{HOST}/p/{launch_id}/end", data={"csrf_token": _csrf(page)})
    assert answer.status_code == 200 and "Session ended" in answer.get_data(as_text=True)
    assert smart_app.extensions["carepath_smart"].load(launch_id) is None  # tokens gone server-side
    assert launch_id not in _session(client).get("launches", [])
    assert client.get(f"{HOST}/p/{launch_id}/").status_code == 401


def test_end_session__needs_the_csrf_token_and_the_launchs_own_browser(smart_app, ehr):
    client = smart_app.test_client()
    launch_id = _finish(client, smart_app, ehr, _begin(client))
    assert client.post(f"{HOST}/p/{launch_id}/end").status_code == 400
    assert client.post(f"{HOST}/p/{launch_id}/end", data={"csrf_token": "forged"}).status_code == 400
    stranger = smart_app.test_client()  # a browser with a session and a CSRF token of its own
    with stranger.session_transaction() as session:
        session["_csrf"] = "strangers-own-token"
    assert stranger.post(f"{HOST}/p/{launch_id}/end", data={"csrf_token": "strangers-own-token"}).status_code == 401
    assert smart_app.extensions["carepath_smart"].load(launch_id) is not None


# -- production ---------------------------------------------------------------------------------------

PRODUCTION = {"ENV": "production", "SECRET_KEY": "a-long-random-production-secret", "SMART_OPEN_SERVERS": [],
              "AUDIT_KEY": "a-long-random-audit-key", "CDS_BASE_URL": "https://carepath.example.org"}


def test_production__sends_hsts_and_development_does_not(tmp_path):
    production = create_app({**PRODUCTION, "VAR_DIR": str(tmp_path / "p")})
    development = create_app({"TESTING": True, "SECRET_KEY": "test", "VAR_DIR": str(tmp_path / "d")})
    assert production.test_client().get(f"{HOST}/").headers["Strict-Transport-Security"] == "max-age=31536000"
    assert "Strict-Transport-Security" not in development.test_client().get(f"{HOST}/").headers


@pytest.mark.parametrize("open_servers", [None, ["http://127.0.0.1:8090/fhir/"], "http://127.0.0.1:8090/fhir"])
def test_production__refuses_to_start_with_the_development_open_server(tmp_path, open_servers):
    settings = {**PRODUCTION, "VAR_DIR": str(tmp_path)}
    if open_servers is None:
        del settings["SMART_OPEN_SERVERS"]  # the default
    else:
        settings["SMART_OPEN_SERVERS"] = open_servers
    with pytest.raises(ConfigError, match="CAREPATH_SMART_OPEN_SERVERS"):
        create_app(settings)


def test_production__starts_with_open_servers_named_on_purpose(tmp_path):
    app = create_app({**PRODUCTION, "VAR_DIR": str(tmp_path), "SMART_ALLOWED_ISS": ["https://hapi.fhir.org/baseR4"],
                      "SMART_OPEN_SERVERS": ["https://hapi.fhir.org/baseR4"]})
    assert app.config["SMART_OPEN_SERVERS"] == ["https://hapi.fhir.org/baseR4"]


# -- sandbox logs -------------------------------------------------------------------------------------

@pytest.mark.parametrize("formatter", [JsonFormatter(), TextFormatter()])
def test_logs__an_authorize_request_line_keeps_no_nonce_state_or_launch(formatter):
    import logging

    line = ('127.0.0.1 - - "GET /authorize?response_type=code&client_id=carepath&state=S3cr3tState&'
            'nonce=N0nceValue&launch=L4unchToken&aud=http://127.0.0.1:8001/fhir HTTP/1.1" 302 -')
    record = logging.makeLogRecord({"name": "werkzeug", "levelno": logging.INFO, "levelname": "INFO",
                                    "msg": "%s", "args": (line,), "nonce": "N0nceValue"})
    text = formatter.format(record)
    assert "aud=http://127.0.0.1:8001/fhir" in text
    for secret in ("S3cr3tState", "N0nceValue", "L4unchToken"):
        assert secret not in text


def test_sandbox__remembers_nonce_and_state_with_the_secrets_the_log_check_looks_for():
    from sandbox.models import AuthorizationCode, Registry

    registry = Registry()
    registry.save_code(AuthorizationCode(code="C0de", client_id="carepath", redirect_uri="http://x/cb", scope="",
                                         context=None, nonce="N0nce"), state="St4te")
    assert {"C0de", "N0nce", "St4te"} <= set(registry.issued)


# -- names that would turn the banner around ------------------------------------------------------------

@pytest.mark.parametrize(("name", "shown"), [
    ({"text": "\u202eReversed Name"}, "Reversed Name"),
    ({"family": "Smith\u202e", "given": ["\u2067Ada\u2069"]}, "Ada Smith"),
    ({"text": "\u200fA\x00da\u061c  \u202dLovelace\u202c"}, "Ada Lovelace"),
    ({"text": "\u202e", "given": ["Ada"]}, "Ada"),
    ({"given": "Ada"}, "Ada"),  # a string where FHIR has a list: still read
    ({"given": [{"x": 1}]}, "(no name recorded)"),
])
def test_patient_banner__a_name_is_shown_without_bidi_controls_and_isolated(app, name, shown):
    patient = {"resourceType": "Patient", "id": "p1", "name": [name]}
    launch = SimpleNamespace(launch_id="l1", need_patient_banner=True, fhir_user=None, smart_style_url=None)
    with app.test_request_context("/"):
        page = render_template("review/layout.html", launch=launch, patient=patient, facts={},
                               patient_name=patient_name(patient))
    assert f'<h1 id="patient-name"><bdi>{shown}</bdi></h1>' in page
    assert not re.search("[\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c\x00]", page)


def test_plain_text__keeps_letters_of_right_to_left_scripts():
    assert plain_text("\u202eמשה כהן\u202c") == "משה כהן"
    assert plain_text("محمد\u200f علي") == "محمد علي"
