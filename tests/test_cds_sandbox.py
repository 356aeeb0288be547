"""CDS Hooks over real HTTP: the sandbox EHR as CDS client, carepath served on localhost, the local HAPI server.

Discovery, cards from a complete prefetch, the same cards when carepath reads the data itself with the
sandbox's fhirAuthorization (partial or no prefetch), no request to a server not allowed, the JWT checks,
feedback in the audit log, and a card link that launches carepath with its appContext.
"""

from __future__ import annotations

import json
import time
import uuid
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from joserfc import jwt
from joserfc.jwk import ECKey

from tests.plugins.sandbox import Served, form_fields

pytestmark = pytest.mark.integration

PATIENT = "cp-clin-t2d-ckd"  # fhir_fixtures: type 2 diabetes with CKD


@pytest.fixture
def carepath(sandbox_ehr, carepath_servers):
    served = carepath_servers("public")
    sandbox_ehr.app_url = served.url  # the sandbox launches, and calls the CDS service of, this carepath
    return served


def _context(sandbox_ehr, **fields):
    from sandbox.models import LaunchContext

    return sandbox_ehr.registry.add_launch(LaunchContext(patient=PATIENT, fhir_user="Practitioner/cp-doc", **fields))


def _service_url(carepath):
    return f"{carepath.url}/cds-services/carepath-care-gaps"


def _token(sandbox_ehr, carepath, *, key=None, kid=None, jku=None, aud=None, exp_in=240, iat_delta=0, jti=None):
    now = int(time.time())
    header = {"alg": "ES384", "typ": "JWT", "kid": kid or sandbox_ehr.cds.kid}
    if jku:
        header["jku"] = jku
    claims = {"iss": sandbox_ehr.cds.iss, "sub": "sandbox-ehr", "aud": aud or _service_url(carepath),
              "iat": now + iat_delta, "exp": now + exp_in, "jti": jti or str(uuid.uuid4())}
    return jwt.encode(header, claims, key or sandbox_ehr.cds.key, algorithms=["ES384"])


def _hook(carepath, token, body):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.post(_service_url(carepath), json=body, headers=headers, timeout=60)


def _body(**fields):
    body = {"hook": "patient-view", "hookInstance": str(uuid.uuid4()), "context": {"patientId": PATIENT}}
    body.update(fields)
    return body


def test_cds_http__discovery_lists_the_service_with_cors(carepath):
    response = requests.get(f"{carepath.url}/cds-services", timeout=30, headers={"Origin": "http://ehr.example"})
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    [service] = response.json()["services"]
    assert service["id"] == "carepath-care-gaps" and service["hook"] == "patient-view"
    assert service["prefetch"]["patient"] == "Patient/{{context.patientId}}"


def test_cds_http__the_same_cards_from_full_partial_or_no_prefetch(sandbox_ehr, carepath):
    calls = {mode: sandbox_ehr.cds.patient_view(_context(sandbox_ehr), mode) for mode in ("full", "partial", "none")}
    for mode, call in calls.items():
        assert call.status == 200 and call.problem is None, (mode, call.problem)
    assert calls["full"].prefetch_keys > 30 and calls["partial"].prefetch_keys == 2
    summaries = {mode: [card["summary"] for card in call.cards] for mode, call in calls.items()}
    assert summaries["full"] and any(s.endswith(" (Diabetes)") for s in summaries["full"])
    assert summaries["full"] == summaries["partial"] == summaries["none"]


def test_cds_http__complete_prefetch_reads_nothing_and_unknown_servers_are_never_contacted(sandbox_ehr, carepath):
    hits = []
    stranger = Served("127.0.0.1")
    stranger.app = lambda environ, start: (hits.append(environ["PATH_INFO"]),
                                           start("200 OK", [("Content-Type", "application/json")]),
                                           [b"{}"])[2]
    try:
        full = sandbox_ehr.cds._prefetch(sandbox_ehr.cds._service()["prefetch"],
                                         _context(sandbox_ehr))
        authorization = {"access_token": "not-for-strangers", "token_type": "Bearer"}
        answer = _hook(carepath, _token(sandbox_ehr, carepath),
                       _body(fhirServer=f"{stranger.url}/fhir", fhirAuthorization=authorization, prefetch=full))
        assert answer.status_code == 200 and answer.json()["cards"]
        partial = {"patient": full["patient"]}
        refused = _hook(carepath, _token(sandbox_ehr, carepath),
                        _body(fhirServer=f"{stranger.url}/fhir", fhirAuthorization=authorization, prefetch=partial))
        assert refused.status_code == 412
        assert "not a FHIR server carepath may read" in refused.json()["message"]
        assert hits == []
    finally:
        stranger.stop()


def test_cds_http__jwt_checks(sandbox_ehr, carepath):
    body = _body(prefetch={"patient": None})  # would need work: a 401 must come before any of it
    other_key = ECKey.generate_key("P-384")
    cases = {
        "missing": None,
        "wrong aud": _token(sandbox_ehr, carepath, aud=f"{carepath.url}/cds-services/another-service"),
        "expired": _token(sandbox_ehr, carepath, exp_in=-120, iat_delta=-400),
        "unknown key": _token(sandbox_ehr, carepath, key=other_key, kid="not-published"),
        "known kid, other key": _token(sandbox_ehr, carepath, key=other_key),
        "jku not allowed": _token(sandbox_ehr, carepath, jku="http://127.0.0.1:9/evil/jwks"),
    }
    for name, token in cases.items():
        response = _hook(carepath, token, body)
        assert response.status_code == 401, name
        assert "cards" not in response.json(), name
    jti = str(uuid.uuid4())
    full = _body(prefetch=sandbox_ehr.cds._prefetch(sandbox_ehr.cds._service()["prefetch"], _context(sandbox_ehr)))
    assert _hook(carepath, _token(sandbox_ehr, carepath, jti=jti, jku=sandbox_ehr.cds.jwks_url), full).status_code \
        == 200
    replay = _hook(carepath, _token(sandbox_ehr, carepath, jti=jti), full)
    assert replay.status_code == 401 and "jti" in replay.json()["message"]


def test_cds_http__feedback_is_recorded_with_the_pack_version(sandbox_ehr, carepath):
    from app.audit import audit_log

    call = sandbox_ehr.cds.patient_view(_context(sandbox_ehr), "full")
    card = next(c for c in call.cards if c["summary"].endswith(" (Diabetes)"))
    reason = card["overrideReasons"][1]
    assert sandbox_ehr.cds.send_feedback("carepath-care-gaps", card["uuid"], "overridden", reason) == 200
    with carepath.app.app_context():
        entries = [e for e in audit_log().entries(PATIENT) if e.event == "cds-overridden"]
    entry = entries[-1]
    assert entry.detail["card"] == card["uuid"] and entry.detail["area"] == "type-2-diabetes"
    assert entry.detail["overrideReason"]["code"] == reason["code"]
    assert entry.actor == "Practitioner/cp-doc"
    assert any(pack.endswith("|2025.1.0") and "type-2-diabetes" in pack for pack in entry.packs)


def test_cds_http__the_chart_shows_cards_and_a_card_link_launches_carepath_on_its_area(sandbox_ehr, carepath,
                                                                                        browser):
    launch = requests.post(f"{sandbox_ehr.base_url}/api/launch", json={"patient": PATIENT, "cds_prefetch": "partial",
                                                                       "fhir_user": "Practitioner/cp-doc"},
                           timeout=30).json()
    chart = browser.session.get(launch["ehr_url"], timeout=60)
    assert chart.status_code == 200 and 'class="cds-card' in chart.text
    context = sandbox_ehr.registry.launch(launch["launch"])
    card = next(c for c in context.cds_cards.values() if c["summary"].endswith(" (Diabetes)"))
    fields = {"form_token": form_fields(chart.text)["form_token"]}
    consent = browser.session.post(f"{sandbox_ehr.base_url}/ehr/{launch['launch']}/cards/{card['uuid']}/open",
                                   data=fields, timeout=60)
    assert consent.status_code == 200 and "allow" in consent.text
    page = browser.consent(consent)
    assert page.status_code == 200, page.text[:300]
    landed = urlsplit(page.url)
    assert landed.path.endswith("/plan") and parse_qs(landed.query)["area"] == ["type-2-diabetes"]
    first_action = page.text.split('<li class="action', 1)[1].split(">", 1)[0]
    assert "action-focus" in first_action and 'data-area="type-2-diabetes"' in first_action
    assert 'id="area-type-2-diabetes"' in page.text
    assert json.loads(card["links"][0]["appContext"]) == {"area": "type-2-diabetes"}
    assert any(r.headers.get("Location", "").endswith("#area-type-2-diabetes") for r in page.history)


def test_sandbox_picker__shows_age_sex_and_main_conditions_read_from_the_server(sandbox_ehr):
    import re

    page = requests.get(f"{sandbox_ehr.base_url}/", timeout=60).text
    option = re.search(rf'<option value="{PATIENT}">([^<]*)</option>', page)
    assert option, "the fixture patient is not in the picker"
    assert re.search(r"\(\d+ y, female: .*diabetes.*chronic kidney disease", option.group(1)), option.group(1)


def test_sandbox_chart__a_cds_service_that_cannot_be_reached_shows_the_chart_and_says_so(sandbox_ehr):
    """The stand-in EHR, like a real one, still shows the chart when the CDS service is down: no 500."""
    sandbox_ehr.app_url = "http://127.0.0.1:1"  # nothing listens there
    launch = requests.post(f"{sandbox_ehr.base_url}/api/launch", json={"patient": PATIENT, "cds_prefetch": "partial",
                                                                       "fhir_user": "Practitioner/cp-doc"},
                           timeout=30).json()
    chart = requests.get(launch["ehr_url"], timeout=60)
    assert chart.status_code == 200
    assert 'id="cds-problem"' in chart.text and "could not be called" in chart.text
    assert 'class="cds-card ' not in chart.text and 'class="cds-card"' not in chart.text
