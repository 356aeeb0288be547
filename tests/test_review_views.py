"""The review and approval pages against the local HAPI server (open-server launches, Flask test client).

The plan itself comes from tests/careplan_sample.py (the engine has its own tests); everything else is real:
the launch, the store, the FHIR reads and writes, the CSRF check, the audit log.
"""

from __future__ import annotations

import re
import uuid

import pytest

from app import create_app
from app.audit import audit_log
from app.careplan import plan_key
from tests.careplan_sample import sample_plan

pytestmark = pytest.mark.integration


@pytest.fixture
def record(hapi):
    """A patient with a diabetes Condition, an HbA1c, and a Practitioner, under fresh ids."""
    key = f"rv-{uuid.uuid4().hex[:10]}"
    hapi.update({"resourceType": "Patient", "id": key, "gender": "female", "birthDate": "1960-01-01",
                 "name": [{"family": "Reviewtest", "given": ["Ada"]}]})
    hapi.update({"resourceType": "Practitioner", "id": f"{key}-dr", "active": True})
    hapi.update({"resourceType": "Condition", "id": f"{key}-dm", "subject": {"reference": f"Patient/{key}"},
                 "code": {"coding": [{"system": "http://snomed.info/sct", "code": "44054006"}]}})
    hapi.update({"resourceType": "Observation", "id": f"{key}-a1c", "status": "final",
                 "code": {"coding": [{"system": "http://loinc.org", "code": "4548-4"}]},
                 "subject": {"reference": f"Patient/{key}"}, "effectiveDateTime": "2020-01-15",
                 "valueQuantity": {"value": 8.1, "unit": "%"}})
    return key


@pytest.fixture
def review_app(hapi_url, tmp_path, record, monkeypatch):
    """The app allowing the local HAPI as an open server, with the sample plan for ``record``."""
    app = create_app({"TESTING": True, "SECRET_KEY": "test", "VAR_DIR": str(tmp_path),
                      "SMART_ALLOWED_ISS": [hapi_url], "SMART_OPEN_SERVERS": [hapi_url]})
    from app.views import review

    facts = {"measures": {"hba1c": {"value": 8.1, "unit": "%", "date": "2020-01-15", "series": [
        {"date": "2019-07-01", "value": 7.6}, {"date": "2020-01-15", "value": 8.1}]}},
        "missing": [{"key": "uacr", "message": "no UACR in the last 12 months"}], "dataQuality": []}

    def plan_for_patient(client, patient_id, packs, as_of):
        # The engine is tested on its own; here the plan follows the HbA1c's current version, as it would.
        version = client.read("Observation", f"{patient_id}-a1c")["meta"]["versionId"]
        return sample_plan(patient_id, condition_id=f"{patient_id}-dm", hba1c_id=f"{patient_id}-a1c",
                           hba1c_version=version), facts

    monkeypatch.setattr(review, "plan_for_patient", plan_for_patient)
    monkeypatch.setattr(review, "_pack_set", lambda: None)
    return app


def _launch(client, app, hapi_url, record, fhir_user=None):
    response = client.get(f"https://localhost/launch?iss={hapi_url}&patient={record}")
    assert response.status_code == 302, response.get_data(as_text=True)
    launch_id = response.headers["Location"].split("/p/")[1].split("/")[0]
    if fhir_user:
        smart = app.extensions["carepath_smart"]
        smart.store.put("launch", launch_id, {**smart.load(launch_id), "fhir_user": fhir_user}, ttl=3600)
    return launch_id


def _csrf(page: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def _form(page: str, **extra):
    form = {"csrf_token": _csrf(page), "plan_key": re.search(r'name="plan_key" value="([^"]+)"', page).group(1),
            "keep": ["a-hba1c", "a-dsmes"], "target-g-hba1c": "7.0", "note": ""}
    for hidden in ("request_id", "based_on"):  # the write's request id, the draft version the page shows
        found = re.search(rf'name="{hidden}" value="([^"]+)"', page)
        if found:
            form[hidden] = found.group(1)
    form.update(extra)
    return form


def test_review__shows_goals_activities_rationale_gaps_and_charts(review_app, hapi_url, record):
    client = review_app.test_client()
    launch_id = _launch(client, review_app, hapi_url, record)
    page = client.get(f"https://localhost/p/{launch_id}/plan").get_data(as_text=True)
    assert "Reviewtest" in page and 'id="patient-name"' in page
    assert "HbA1c below 7 %" in page and "Repeat HbA1c every 3 months" in page
    assert "Diabetes self-management education &amp; support" in page
    assert "6.5 &lt;Glycemic goals&gt;" in page  # citation section escaped
    assert 'href="https://diabetesjournals.org/care/issue/48/Supplement_1"' in page
    assert f"/p/{launch_id}/source/Observation/{record}-a1c?v=1" in page
    assert "no UACR in the last 12 months" in page
    assert '<details class="why">' in page and '<svg class="trend"' in page and "target &lt; 7 %" in page
    assert "Considered, not recommended" in page and "active atorvastatin" in page
    assert "<script" not in page and "style=" not in page
    with review_app.app_context():
        assert [e.event for e in audit_log().entries(record)] == ["generated"]


def test_review__save_edits_then_relaunch_resumes_the_draft(review_app, hapi, hapi_url, record):
    client = review_app.test_client()
    launch_id = _launch(client, review_app, hapi_url, record, fhir_user=f"Practitioner/{record}-dr")
    page = client.get(f"https://localhost/p/{launch_id}/plan").get_data(as_text=True)
    form = _form(page, keep=["a-hba1c"], **{"target-g-hba1c": "7.5", "note": "Patient prefers <diet> first"})
    for _ in range(2):  # a double submit leaves one draft
        saved = client.post(f"https://localhost/p/{launch_id}/plan", data=form)
        assert saved.status_code == 303
    careplans = hapi.search("CarePlan", {"subject": f"Patient/{record}"})
    assert len(careplans) == 1
    careplan = careplans[0]
    assert careplan["status"] == "draft"
    assert careplan["note"][0]["authorReference"] == {"reference": f"Practitioner/{record}-dr"}
    assert [a["detail"]["status"] for a in careplan["activity"]] == ["not-started", "cancelled"]
    second = review_app.test_client()
    relaunch = _launch(second, review_app, hapi_url, record)
    page = second.get(f"https://localhost/p/{relaunch}/plan").get_data(as_text=True)
    # Named by what it is and when it was saved; the id stays in the link, not in the words.
    assert 'id="resumed"' in page and f"/careplans/{careplan['id']}\"" in page
    words = re.sub(r"<[^>]+>", " ", page)  # what the clinician reads (the hidden based_on field carries the id)
    assert "Draft in the record, last saved" in words and f"CarePlan/{careplan['id']}" not in words
    with review_app.app_context():
        events = [(e.event, e.actor, e.careplan_id) for e in audit_log().entries(record)]
    assert ("saved", f"Practitioner/{record}-dr", careplan["id"]) in events


def test_review__post_without_csrf_token_is_refused(review_app, hapi, hapi_url, record):
    client = review_app.test_client()
    launch_id = _launch(client, review_app, hapi_url, record, fhir_user=f"Practitioner/{record}-dr")
    page = client.get(f"https://localhost/p/{launch_id}/plan").get_data(as_text=True)
    form = _form(page)
    form.pop("csrf_token")
    assert client.post(f"https://localhost/p/{launch_id}/plan", data=form).status_code == 400
    assert hapi.search("CarePlan", {"subject": f"Patient/{record}"}) == []


@pytest.mark.parametrize(("target", "message"), [("9.5", "between 6.5 and 8"), ("abc", "must be a number")])
def test_review__bad_target_keeps_what_the_clinician_entered(review_app, hapi, hapi_url, record, target, message):
    client = review_app.test_client()
    launch_id = _launch(client, review_app, hapi_url, record, fhir_user=f"Practitioner/{record}-dr")
    page = client.get(f"https://localhost/p/{launch_id}/plan").get_data(as_text=True)
    response = client.post(f"https://localhost/p/{launch_id}/plan", data=_form(
        page, keep=["a-hba1c"], note="keep this note", **{"target-g-hba1c": target}))
    body = response.get_data(as_text=True)
    assert response.status_code == 400 and message in body
    assert "keep this note</textarea>" in body and f'value="{target}"' in body
    assert re.search(r'value="a-dsmes" id="keep-a-dsmes"\s*>', body)  # still unticked
    assert re.search(r'value="a-hba1c" id="keep-a-hba1c"\s*checked>', body)
    assert hapi.search("CarePlan", {"subject": f"Patient/{record}"}) == []


def test_approval__patient_user_is_refused_practitioner_approves(review_app, hapi, hapi_url, record):
    doctor = review_app.test_client()
    launch_id = _launch(doctor, review_app, hapi_url, record, fhir_user=f"Practitioner/{record}-dr")
    page = doctor.get(f"https://localhost/p/{launch_id}/plan").get_data(as_text=True)
    doctor.post(f"https://localhost/p/{launch_id}/plan", data=_form(page))
    careplan = hapi.search("CarePlan", {"subject": f"Patient/{record}"})[0]

    patient = review_app.test_client()
    patient_launch = _launch(patient, review_app, hapi_url, record, fhir_user=f"Patient/{record}")
    view = patient.get(f"https://localhost/p/{patient_launch}/careplans/{careplan['id']}").get_data(as_text=True)
    assert 'id="view-only"' in view and 'id="approve"' not in view
    with patient.session_transaction() as session:
        session["_csrf"] = "patient-token"
    refused = patient.post(f"https://localhost/p/{patient_launch}/careplans/{careplan['id']}/decision",
                           data={"csrf_token": "patient-token", "version": "1", "action": "approve",
                                 "confirm": "yes"})
    assert refused.status_code == 403
    assert hapi.read("CarePlan", careplan["id"])["status"] == "draft"

    screen = doctor.get(f"https://localhost/p/{launch_id}/careplans/{careplan['id']}").get_data(as_text=True)
    unconfirmed = {"csrf_token": _csrf(screen), "version": careplan["meta"]["versionId"], "action": "approve",
                   "reject": ["a-dsmes"], "reason-a-dsmes": "attended last year"}
    response = doctor.post(f"https://localhost/p/{launch_id}/careplans/{careplan['id']}/decision", data=unconfirmed)
    assert response.status_code == 400 and "confirmation" in response.get_data(as_text=True)
    response = doctor.post(f"https://localhost/p/{launch_id}/careplans/{careplan['id']}/decision",
                           data={**unconfirmed, "confirm": "yes"})
    assert response.status_code == 303
    approved = hapi.read("CarePlan", careplan["id"])
    assert approved["status"] == "active"
    assert approved["activity"][1]["detail"]["statusReason"] == {"text": "attended last year"}
    replay = doctor.post(f"https://localhost/p/{launch_id}/careplans/{careplan['id']}/decision",
                         data={**unconfirmed, "confirm": "yes", "version": approved["meta"]["versionId"]})
    assert replay.status_code == 409 and "already active" in replay.get_data(as_text=True)
    # Same data, same packs: the review page says the plan is already decided instead of offering a save.
    again = doctor.get(f"https://localhost/p/{launch_id}/plan").get_data(as_text=True)
    assert 'id="decided"' in again and "active" in again and 'id="save"' not in again


def test_approval__concurrent_change_shows_what_changed_and_keeps_the_choices(review_app, hapi, hapi_url, record):
    doctor = review_app.test_client()
    launch_id = _launch(doctor, review_app, hapi_url, record, fhir_user=f"Practitioner/{record}-dr")
    page = doctor.get(f"https://localhost/p/{launch_id}/plan").get_data(as_text=True)
    doctor.post(f"https://localhost/p/{launch_id}/plan", data=_form(page))
    careplan = hapi.search("CarePlan", {"subject": f"Patient/{record}"})[0]
    screen = doctor.get(f"https://localhost/p/{launch_id}/careplans/{careplan['id']}").get_data(as_text=True)
    hapi.update({**careplan, "note": [{"text": "nurse called the patient"}]}, if_match=careplan["meta"]["versionId"])
    response = doctor.post(f"https://localhost/p/{launch_id}/careplans/{careplan['id']}/decision", data={
        "csrf_token": _csrf(screen), "version": careplan["meta"]["versionId"], "action": "approve", "confirm": "yes",
        "reject": ["a-dsmes"], "reason-a-dsmes": "attended last year"})
    body = response.get_data(as_text=True)
    assert response.status_code == 409
    assert "notes were added or removed" in body and "nurse called the patient" in body
    assert 'value="attended last year"' in body and 'name="version" value="2"' in body
    assert hapi.read("CarePlan", careplan["id"])["status"] == "draft"


def test_review__read_only_launch_offers_download_and_print(review_app, hapi_url, record):
    client = review_app.test_client()
    launch_id = _launch(client, review_app, hapi_url, record)
    smart = review_app.extensions["carepath_smart"]
    smart.store.put("launch", launch_id, {**smart.load(launch_id), "open_server": False,
                                          "scope": "patient/*.rs openid fhirUser"}, ttl=3600)
    page = client.get(f"https://localhost/p/{launch_id}/plan").get_data(as_text=True)
    assert 'id="read-only"' in page and 'id="save"' not in page
    download = client.get(f"https://localhost/p/{launch_id}/plan/bundle.json")
    assert download.status_code == 200 and "attachment" in download.headers["Content-Disposition"]
    bundle = download.get_json(force=True)
    assert bundle["type"] == "transaction" and bundle["entry"][-1]["resource"]["resourceType"] == "Provenance"
    assert plan_key(sample_plan(record, condition_id=f"{record}-dm", hba1c_id=f"{record}-a1c")) in download.text
    printable = client.get(f"https://localhost/p/{launch_id}/plan/print").get_data(as_text=True)
    assert "HbA1c below 7 %" in printable and "<form" not in printable


def test_review__server_refusing_the_write_keeps_the_entries_and_saves_nothing(review_app, hapi, hapi_url, record):
    client = review_app.test_client()
    # A fhirUser the FHIR server does not know: HAPI refuses the reference, the whole transaction fails.
    launch_id = _launch(client, review_app, hapi_url, record, fhir_user=f"Practitioner/{record}-unknown")
    page = client.get(f"https://localhost/p/{launch_id}/plan").get_data(as_text=True)
    response = client.post(f"https://localhost/p/{launch_id}/plan", data=_form(
        page, keep=["a-hba1c"], note="do not lose me", **{"target-g-hba1c": "7.5"}))
    body = response.get_data(as_text=True)
    assert response.status_code == 409 and "Nothing was saved" in body
    assert "do not lose me</textarea>" in body and 'value="7.5"' in body
    assert hapi.search("CarePlan", {"subject": f"Patient/{record}"}) == []
    assert hapi.search("Goal", {"subject": f"Patient/{record}"}) == []


def test_review__source_viewer_reads_only_allowed_types_and_ids(review_app, hapi_url, record):
    client = review_app.test_client()
    launch_id = _launch(client, review_app, hapi_url, record)
    page = client.get(f"https://localhost/p/{launch_id}/source/Observation/{record}-a1c?v=1")
    assert page.status_code == 200 and "4548-4" in page.get_data(as_text=True)
    for path in ["Binary/x", "Observation/..%2Fmetadata", f"Observation/{record}-a1c?v=1%2F..%2F.."]:
        assert client.get(f"https://localhost/p/{launch_id}/source/{path}").status_code == 404


def test_review__new_data_offers_a_new_draft_that_replaces_the_old_one(review_app, hapi, hapi_url, record):
    client = review_app.test_client()
    launch_id = _launch(client, review_app, hapi_url, record, fhir_user=f"Practitioner/{record}-dr")
    page = client.get(f"https://localhost/p/{launch_id}/plan").get_data(as_text=True)
    client.post(f"https://localhost/p/{launch_id}/plan", data=_form(page))
    (old,) = hapi.search("CarePlan", {"subject": f"Patient/{record}"})
    observation = hapi.read("Observation", f"{record}-a1c")
    hapi.update({**observation, "valueQuantity": {"value": 8.4, "unit": "%"}})  # a corrected result arrives
    page = client.get(f"https://localhost/p/{launch_id}/plan").get_data(as_text=True)
    assert 'id="older-draft"' in page and "earlier draft from older data" in page and 'id="save"' in page
    assert client.post(f"https://localhost/p/{launch_id}/plan", data=_form(page)).status_code == 303
    careplans = {c["id"]: c for c in hapi.search("CarePlan", {"subject": f"Patient/{record}"})}
    new = next(c for key, c in careplans.items() if key != old["id"])
    assert careplans[old["id"]]["status"] == "revoked" and new["status"] == "draft"
    assert new["replaces"] == [{"reference": f"CarePlan/{old['id']}"}]


def test_review__record_changed_since_the_page_was_opened_keeps_entries_and_saves_nothing(
        review_app, hapi, hapi_url, record):
    client = review_app.test_client()
    launch_id = _launch(client, review_app, hapi_url, record, fhir_user=f"Practitioner/{record}-dr")
    page = client.get(f"https://localhost/p/{launch_id}/plan").get_data(as_text=True)
    observation = hapi.read("Observation", f"{record}-a1c")
    hapi.update({**observation, "valueQuantity": {"value": 8.3, "unit": "%"}})  # new data meanwhile
    response = client.post(f"https://localhost/p/{launch_id}/plan", data=_form(page, note="my words"))
    body = response.get_data(as_text=True)
    assert response.status_code == 400 and "record changed since you opened this page" in body
    assert "my words</textarea>" in body
    assert hapi.search("CarePlan", {"subject": f"Patient/{record}"}) == []


def _provenances(hapi, careplan_id):
    return {p["agent"][0]["type"]["coding"][0]["code"]: p
            for p in hapi.search("Provenance", {"target": f"CarePlan/{careplan_id}"})}


def test_save_and_approve__as_a_practitioner_role_act_on_behalf_of_its_organization(review_app, hapi, hapi_url,
                                                                                   record):
    """No ORGANIZATION_REFERENCE: the launching PractitionerRole's organization is the agents' onBehalfOf."""
    hapi.update({"resourceType": "Organization", "id": f"{record}-org", "active": True, "name": "Role clinic"})
    hapi.update({"resourceType": "PractitionerRole", "id": f"{record}-role", "active": True,
                 "practitioner": {"reference": f"Practitioner/{record}-dr"},
                 "organization": {"reference": f"Organization/{record}-org", "display": "Role clinic"}})
    doctor = review_app.test_client()
    launch_id = _launch(doctor, review_app, hapi_url, record, fhir_user=f"PractitionerRole/{record}-role")
    page = doctor.get(f"https://localhost/p/{launch_id}/plan").get_data(as_text=True)
    assert doctor.post(f"https://localhost/p/{launch_id}/plan", data=_form(page, note="seen")).status_code == 303
    careplan = hapi.search("CarePlan", {"subject": f"Patient/{record}"})[0]
    screen = doctor.get(f"https://localhost/p/{launch_id}/careplans/{careplan['id']}").get_data(as_text=True)
    response = doctor.post(f"https://localhost/p/{launch_id}/careplans/{careplan['id']}/decision", data={
        "csrf_token": _csrf(screen), "version": careplan["meta"]["versionId"], "action": "approve", "confirm": "yes"})
    assert response.status_code == 303
    provenances = _provenances(hapi, careplan["id"])
    assert set(provenances) == {"author", "verifier"}
    for provenance in provenances.values():
        assert {a["onBehalfOf"]["reference"] for a in provenance["agent"]} == {f"Organization/{record}-org"}


def test_save__the_organization_setting_wins(review_app, hapi, hapi_url, record):
    hapi.update({"resourceType": "Organization", "id": f"{record}-set", "active": True, "name": "Set clinic"})
    review_app.config.update(ORGANIZATION_REFERENCE=f"Organization/{record}-set", ORGANIZATION_DISPLAY="Set clinic")
    doctor = review_app.test_client()
    launch_id = _launch(doctor, review_app, hapi_url, record, fhir_user=f"Practitioner/{record}-dr")
    page = doctor.get(f"https://localhost/p/{launch_id}/plan").get_data(as_text=True)
    assert doctor.post(f"https://localhost/p/{launch_id}/plan", data=_form(page)).status_code == 303
    careplan = hapi.search("CarePlan", {"subject": f"Patient/{record}"})[0]
    (author,) = _provenances(hapi, careplan["id"])["author"]["agent"]
    assert author["onBehalfOf"] == {"reference": f"Organization/{record}-set", "display": "Set clinic"}


def test_review__edited_target_is_the_same_in_the_goal_the_approve_page_and_after_relaunch(review_app, hapi,
                                                                                           hapi_url, record):
    doctor = review_app.test_client()
    launch_id = _launch(doctor, review_app, hapi_url, record, fhir_user=f"Practitioner/{record}-dr")
    page = doctor.get(f"https://localhost/p/{launch_id}/plan").get_data(as_text=True)
    assert doctor.post(f"https://localhost/p/{launch_id}/plan",
                       data=_form(page, **{"target-g-hba1c": "8.0"})).status_code == 303
    careplan = hapi.search("CarePlan", {"subject": f"Patient/{record}"})[0]
    goal = next(hapi.read("Goal", ref["reference"].split("/")[1]) for ref in careplan["goal"]
                if hapi.read("Goal", ref["reference"].split("/")[1])["target"][0]["measure"]["coding"][0]["code"]
                == "4548-4")
    assert goal["description"]["text"] == "HbA1c below 8 %"
    assert goal["target"][0]["detailQuantity"]["value"] == 8.0

    screen = doctor.get(f"https://localhost/p/{launch_id}/careplans/{careplan['id']}").get_data(as_text=True)
    assert "HbA1c below 8 %" in screen and "HbA1c below 7 %" not in screen

    relaunch = review_app.test_client()
    relaunched = _launch(relaunch, review_app, hapi_url, record, fhir_user=f"Practitioner/{record}-dr")
    again = relaunch.get(f"https://localhost/p/{relaunched}/plan")
    text = again.get_data(as_text=True)
    assert "HbA1c below 8 %" in text and "HbA1c below 7 %" not in text
    assert 'id="resumed"' in text and "target &lt; 8.0 %" in text and "target &lt; 7.0 %" not in text

    response = doctor.post(f"https://localhost/p/{launch_id}/careplans/{careplan['id']}/decision",
                           data={"csrf_token": _csrf(screen), "version": careplan["meta"]["versionId"],
                                 "action": "approve", "confirm": "yes"})
    assert response.status_code == 303
    assert hapi.read("Goal", goal["id"])["description"]["text"] == "HbA1c below 8 %"
    after = review_app.test_client()
    decided = after.get(f"https://localhost/p/{_launch(after, review_app, hapi_url, record)}/plan")
    text = decided.get_data(as_text=True)
    assert 'id="decided"' in text and "HbA1c below 8 %" in text and "HbA1c below 7 %" not in text
    assert "target &lt; 8.0 %" in text
