"""Plans and goals already in the record, on the local HAPI server with the real engine and packs.

A copy of the hypertension fixture patient (fhir_fixtures/clinical-angioedema-ckd.json, under fresh ids) gets an
active CarePlan and BP Goal (< 140/90 mmHg) from "the EHR"; carepath proposes < 130/80 mmHg. The review page
lists the record's plan and flags carepath's BP goal; approving marks the record goal superseded (in the
approval's transaction) or keeps both, and the confirmation says which.
"""

from __future__ import annotations

import json
import re
import uuid
from html import unescape

import pytest

from app import create_app
from app.audit import audit_log
from app.loader import as_idempotent_transaction
from tests.conftest import FIXTURES

pytestmark = pytest.mark.integration
FIXTURE_ID = "cp-clin-angioedema"
AS_OF = "2025-06-01"
UCUM = "http://unitsofmeasure.org"


def _bp_target(code: str, value: int) -> dict:
    return {"measure": {"coding": [{"system": "http://loinc.org", "code": code}]},
            "detailQuantity": {"value": value, "comparator": "<", "unit": "mmHg", "system": UCUM, "code": "mm[Hg]"},
            "dueDate": "2025-01-02"}


@pytest.fixture
def record(hapi):
    """The hypertension fixture patient under fresh ids, a clinician, and the EHR's active BP plan and goal."""
    key = f"ex-{uuid.uuid4().hex[:10]}"
    bundle = json.loads((FIXTURES / "clinical-angioedema-ckd.json").read_text().replace(FIXTURE_ID, key))
    hapi.transaction(as_idempotent_transaction(bundle))
    hapi.update({"resourceType": "Practitioner", "id": f"{key}-dr", "active": True})
    hapi.update({"resourceType": "Practitioner", "id": f"{key}-gp", "active": True,
                 "name": [{"family": "Hopper", "given": ["Grace"]}]})
    gp = {"reference": f"Practitioner/{key}-gp", "display": "Dr Grace Hopper"}
    hapi.update({"resourceType": "Goal", "id": f"{key}-ehr-bp", "lifecycleStatus": "active",
                 "description": {"text": "Blood pressure below 140/90 mmHg"},
                 "subject": {"reference": f"Patient/{key}"}, "startDate": "2024-01-02", "expressedBy": gp,
                 "target": [_bp_target("8480-6", 140), _bp_target("8462-4", 90)]})
    hapi.update({"resourceType": "CarePlan", "id": f"{key}-ehr-plan", "status": "active", "intent": "plan",
                 "title": "Hypertension plan (EHR)", "subject": {"reference": f"Patient/{key}"},
                 "period": {"start": "2024-01-02"}, "author": gp, "goal": [{"reference": f"Goal/{key}-ehr-bp"}]})
    return key


@pytest.fixture
def review_app(hapi_url, tmp_path):
    """carepath allowing the local HAPI as an open server, with the bundled packs, as of the fixtures' date."""
    return create_app({"TESTING": True, "SECRET_KEY": "test", "VAR_DIR": str(tmp_path), "REVIEW_AS_OF": AS_OF,
                       "SMART_ALLOWED_ISS": [hapi_url], "SMART_OPEN_SERVERS": [hapi_url]})


def _launch(client, app, hapi_url, patient, fhir_user):
    response = client.get(f"https://localhost/launch?iss={hapi_url}&patient={patient}")
    assert response.status_code == 302, response.get_data(as_text=True)
    launch_id = response.headers["Location"].split("/p/")[1].split("/")[0]
    smart = app.extensions["carepath_smart"]
    smart.store.put("launch", launch_id, {**smart.load(launch_id), "fhir_user": fhir_user}, ttl=3600)
    return launch_id


def _hidden(page: str) -> dict[str, str]:
    found = re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page)
    return {unescape(name): unescape(value) for name, value in found}


def _existing_section(page: str) -> str:
    return page.split('<details id="existing"', 1)[1].split("</details>", 1)[0]


def _save_and_open_approval(client, hapi, launch_id, record):
    page = client.get(f"https://localhost/p/{launch_id}/plan").get_data(as_text=True)
    form = {**_hidden(page), "keep": re.findall(r'name="keep" value="([^"]+)"', page)}
    assert client.post(f"https://localhost/p/{launch_id}/plan", data=form).status_code == 303
    (careplan,) = hapi.search("CarePlan", {"subject": f"Patient/{record}", "status": "draft"})
    screen = client.get(f"https://localhost/p/{launch_id}/careplans/{careplan['id']}").get_data(as_text=True)
    return careplan, screen


def _approve(client, launch_id, careplan, screen, **choices):
    return client.post(f"https://localhost/p/{launch_id}/careplans/{careplan['id']}/decision",
                       data={**_hidden(screen), "action": "approve", "confirm": "yes", **choices})


def test_review__lists_the_records_plan_and_flags_the_bp_goal(review_app, hapi_url, record):
    client = review_app.test_client()
    launch_id = _launch(client, review_app, hapi_url, record, f"Practitioner/{record}-dr")
    page = client.get(f"https://localhost/p/{launch_id}/plan").get_data(as_text=True)
    section = _existing_section(page)
    assert "Existing plans and goals in the record" in page and "(1 active plan, 1 goal)" in page
    assert "Hypertension plan (EHR)" in section and "Author: Dr Grace Hopper · from 2 Jan 2024" in section
    assert "Target &lt; 140/90 mmHg, by 2 Jan 2025 · Set by Dr Grace Hopper on 2 Jan 2024" in section
    assert f'href="/p/{launch_id}/source/Goal/{record}-ehr-bp?v=1"' in section
    assert f'href="/p/{launch_id}/source/CarePlan/{record}-ehr-plan?v=1"' in section
    bp_goal = page.split('id="goal-htn.bp-goal"', 1)[1].split("</li>", 1)[0]
    assert ('Differs from an active goal in the record: Blood pressure below 140/90 mmHg (&lt; 140/90 mmHg) set by '
            'Dr Grace Hopper on 2 Jan 2024, due 2 Jan 2025') in bp_goal
    assert "differs in target and due date" in bp_goal
    assert page.count('class="goal-conflict"') == 1  # only the BP goal shares a measure with the record


def test_approve__supersede_cancels_the_record_goal_in_the_approval_and_says_so(review_app, hapi, hapi_url, record):
    client = review_app.test_client()
    launch_id = _launch(client, review_app, hapi_url, record, f"Practitioner/{record}-dr")
    careplan, screen = _save_and_open_approval(client, hapi, launch_id, record)
    goal_id = f"{record}-ehr-bp"
    assert 'id="record-goals"' in screen and "Blood pressure below 140/90 mmHg" in screen
    assert re.search(rf'value="keep" id="existing-keep-{goal_id}" checked>', screen)  # keep both by default
    assert f'name="existing-version-{goal_id}" value="1"' in screen
    response = _approve(client, launch_id, careplan, screen, **{f"existing-{goal_id}": "supersede"})
    assert response.status_code == 303
    done = client.get(response.headers["Location"]).get_data(as_text=True)
    marked = done.split('id="marked-superseded"', 1)[1].split("</div>", 1)[0]
    assert "Marked superseded in the record" in marked and "Blood pressure below 140/90 mmHg" in marked
    assert 'id="kept-both"' not in done
    goal = hapi.read("Goal", goal_id)
    assert goal["lifecycleStatus"] == "cancelled" and goal["meta"]["versionId"] == "2"
    assert goal["statusReason"] == f"superseded by carepath plan CarePlan/{careplan['id']}"
    approved = hapi.read("CarePlan", careplan["id"])
    assert approved["status"] == "active" and "marked superseded: Blood pressure below 140/90" in \
        approved["note"][-1]["text"]
    verification = next(p for p in hapi.search("Provenance", {"target": f"CarePlan/{careplan['id']}"})
                        if p["agent"][0]["type"]["coding"][0]["code"] == "verifier")
    assert {"reference": f"Goal/{goal_id}"} in verification["target"]
    with review_app.app_context():
        assert [e.event for e in audit_log().entries(record)][-1] == "approved"
    # The record's own plan is still listed; its goal is no longer standing, so nothing is flagged any more.
    page = client.get(f"https://localhost/p/{launch_id}/plan").get_data(as_text=True)
    assert "Hypertension plan (EHR)" in _existing_section(page) and 'class="goal-conflict"' not in page


def test_approve__keep_both_leaves_the_record_goal_active_and_says_so(review_app, hapi, hapi_url, record):
    client = review_app.test_client()
    launch_id = _launch(client, review_app, hapi_url, record, f"Practitioner/{record}-dr")
    careplan, screen = _save_and_open_approval(client, hapi, launch_id, record)
    response = _approve(client, launch_id, careplan, screen)  # the radio left on "keep both"
    assert response.status_code == 303
    done = client.get(response.headers["Location"]).get_data(as_text=True)
    kept = done.split('id="kept-both"', 1)[1].split("</div>", 1)[0]
    assert "Kept both" in kept and "Blood pressure below 140/90 mmHg" in kept and 'id="marked-superseded"' not in done
    goal = hapi.read("Goal", f"{record}-ehr-bp")
    assert goal["lifecycleStatus"] == "active" and goal["meta"]["versionId"] == "1"
    assert "kept beside this plan: Blood pressure below 140/90 mmHg" in hapi.read(
        "CarePlan", careplan["id"])["note"][-1]["text"]
    # carepath's approved plan (same data, same packs) is not listed as "existing" against itself.
    page = client.get(f"https://localhost/p/{launch_id}/plan").get_data(as_text=True)
    assert 'id="decided"' in page and careplan["id"] not in _existing_section(page)
    assert "earlier carepath plan" not in page and page.count('class="goal-conflict"') == 1


def test_approve__a_record_goal_changed_meanwhile_changes_nothing(review_app, hapi, hapi_url, record):
    client = review_app.test_client()
    launch_id = _launch(client, review_app, hapi_url, record, f"Practitioner/{record}-dr")
    careplan, screen = _save_and_open_approval(client, hapi, launch_id, record)
    goal = hapi.read("Goal", f"{record}-ehr-bp")
    hapi.update({**goal, "description": {"text": "Blood pressure below 135/85 mmHg"}})  # the EHR edits it
    response = _approve(client, launch_id, careplan, screen, **{f"existing-{record}-ehr-bp": "supersede"})
    body = response.get_data(as_text=True)
    assert response.status_code == 409 and "changed since you read it" in body
    assert "Blood pressure below 135/85 mmHg" in body and 'value="supersede" id="existing-supersede-' in body
    assert hapi.read("CarePlan", careplan["id"])["status"] == "draft"  # all or nothing
    assert hapi.read("Goal", f"{record}-ehr-bp")["lifecycleStatus"] == "active"
