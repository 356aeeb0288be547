"""This visit, and later, on the review page (Flask test client; ``responses`` plays an open FHIR server from a
Synthea bundle): the split and its reasons are shown, escaped; the clinician moves actions between this visit and
later or changes a date through the form (CSRF-protected); the saved CarePlan carries the schedule in
``activity.detail.scheduledTiming``. The save itself is stood in for here (its read-back is tested in
test_careplan_saving.py and over HAPI in test_review_views.py)."""

from __future__ import annotations

import re

import pytest
import responses

from app import create_app
from app.careplan import draft_bundle
from app.careplan.approval import item_id
from app.careplan.resources import VISIT_SCHEDULE_URL, visit_place
from app.careplan.saving import SAVED, SaveOutcome
from app.fhir.decoding import load_file
from tests.cds_helpers import FakeFhirServer
from tests.conftest import SYNTHEA

OPEN_FHIR = "https://open-fhir.example.org/fhir"
AS_OF = "2020-06-01"
DOCTOR = "Practitioner/dr-visit"
PATIENT_FILE = "Dirk_Kuhlman_1e503533-b8c2-42cb-a6d5-bbd7d70d07ad.json"  # 14 actions, three of them safety


@pytest.fixture
def served() -> list[dict]:
    """What the played FHIR server holds: the patient's record without its own CarePlans (the played server
    answers every search with all resources of the type; without them a search for this plan's draft finds
    none, as on a server that filters by identifier)."""
    return [entry["resource"] for entry in load_file(SYNTHEA / PATIENT_FILE)["entry"]
            if entry["resource"]["resourceType"] != "CarePlan"]


@pytest.fixture
def sidebar(tmp_path, monkeypatch, served):
    """The app on an open FHIR server playing one Synthea patient, writable, with the save recorded."""
    from app.fhir.capabilities import forget
    from app.views import review

    forget()
    app = create_app({"TESTING": True, "SECRET_KEY": "test", "VAR_DIR": str(tmp_path), "REVIEW_AS_OF": AS_OF,
                      "SMART_ALLOWED_ISS": [OPEN_FHIR], "SMART_OPEN_SERVERS": [OPEN_FHIR], "FHIR_RETRIES": 0})
    saves: list[tuple[dict, object]] = []

    def save_plan(client, plan, edits, **_kwargs):
        saves.append((plan, edits))
        return SaveOutcome(SAVED, careplan={"resourceType": "CarePlan", "id": "cp-1"}, committed=True)

    monkeypatch.setattr(review, "save_plan", save_plan)
    monkeypatch.setattr(review, "_write_problems", lambda: [])  # the played server declares no write support
    resources = served
    patient_id = next(r["id"] for r in resources if r["resourceType"] == "Patient")
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        FakeFhirServer(OPEN_FHIR, resources).register(mocked)
        client = app.test_client()
        launched = client.get(f"https://localhost/launch?iss={OPEN_FHIR}&patient={patient_id}")
        assert launched.status_code == 302, launched.get_data(as_text=True)
        launch_id = launched.headers["Location"].split("/p/")[1].split("/")[0]
        smart = app.extensions["carepath_smart"]
        smart.store.put("launch", launch_id, {**smart.load(launch_id), "fhir_user": DOCTOR}, ttl=600)
        yield client, f"https://localhost/p/{launch_id}/plan", saves


def _section(page: str, section: str) -> list[str]:
    """The activity ids listed under ``this-visit`` or ``later``, in order."""
    body = re.search(rf'<ol class="action-list" id="{section}"[^>]*>(.*?)</ol>', page, re.S).group(1)
    return re.findall(r'<li class="action[^"]*"\s+id="activity-([^"]+)"', body)


def _form(page: str, **changes: str) -> dict:
    """The form as the page fills it (every action kept, each in its proposed place), then ``changes``."""
    form: dict = {"csrf_token": re.search(r'name="csrf_token" value="([^"]+)"', page).group(1),
                  "plan_key": re.search(r'name="plan_key" value="([^"]+)"', page).group(1),
                  "request_id": re.search(r'name="request_id" value="([^"]+)"', page).group(1),
                  "keep": re.findall(r'name="keep" value="([^"]+)"', page), "note": ""}
    for activity_id in form["keep"]:
        chosen = re.search(rf'<select name="when-{re.escape(activity_id)}".*?<option value="([^"]+)" selected', page,
                           re.S).group(1)
        date = re.search(rf'name="date-{re.escape(activity_id)}" id="[^"]+" min="[^"]+"\s+value="([^"]*)"', page)
        form[f"when-{activity_id}"], form[f"date-{activity_id}"] = chosen, date.group(1)
    form.update(changes)
    return form


def test_review__shows_this_visit_and_later_with_the_reason_for_each_place(sidebar):
    client, url, _saves = sidebar
    page = client.get(url).get_data(as_text=True)
    this_visit, later = _section(page, "this-visit"), _section(page, "later")
    assert len(this_visit) == 5 and len(later) == 9
    assert this_visit[:3] == ["t2d.hypoglycemia-low-hba1c", "htn.severe", "ckd.egfr-conflict"]  # safety first
    assert "This visit <span class=\"count\">(5 of 5)</span>" in page
    assert re.search(r'id="place-t2d.hypoglycemia-low-hba1c"><bdi>safety: high warning', page)
    assert re.search(r'id="place-ckd.sglt2-inhibitor"><span class="when">15 Jun 2020</span>: '
                     r'<bdi>after the eGFR result; KDIGO grade 1A</bdi>', page)
    assert "USPSTF grade B, can wait 3 months (this visit is full)" in page


def test_review__moving_actions_saves_a_careplan_carrying_the_schedule(sidebar):
    client, url, saves = sidebar
    page = client.get(url).get_data(as_text=True)
    form = _form(page, **{"when-htn.lifestyle": "this-visit",  # later -> this visit
                          "when-t2d.dsmes": "later", "date-t2d.dsmes": "2020-08-03",  # this visit -> later
                          "date-t2d.foot-exam": "2020-07-20"})  # a later date changed
    response = client.post(url, data=form)
    assert response.status_code == 303, response.get_data(as_text=True)
    (plan, edits), = saves
    assert dict(edits.moves) == {"htn.lifestyle": "this-visit", "t2d.dsmes": "2020-08-03",
                                 "t2d.foot-exam": "2020-07-20"}
    assert edits.author == DOCTOR
    careplan = next(e["resource"] for e in draft_bundle(plan, edits, now="2020-06-01T10:00:00Z")["entry"]
                    if e["resource"]["resourceType"] == "CarePlan")
    activities = {item_id(activity): activity for activity in careplan["activity"]}
    assert len(activities) == 14

    def placed(activity_id: str) -> tuple[str, list[str]]:
        activity = activities[activity_id]
        schedule = next(ext for ext in activity["extension"] if ext["url"] == VISIT_SCHEDULE_URL)
        parts = {part["url"]: part.get("valueCode") or part.get("valueString") for part in schedule["extension"]}
        return parts["placement"], activity["detail"]["scheduledTiming"]["event"]

    assert placed("htn.lifestyle") == ("this-visit", [AS_OF])
    assert placed("t2d.dsmes") == ("later", ["2020-08-03"])
    assert placed("t2d.foot-exam") == ("later", ["2020-07-20"])
    assert placed("htn.severe") == ("this-visit", [AS_OF])  # not moved: as proposed
    assert placed("ckd.sglt2-inhibitor") == ("later", ["2020-06-15"])
    assert placed("t2d.retinal-exam")[1] == ["2020-09-01"]
    repeat = activities["t2d.retinal-exam"]["detail"]["scheduledTiming"]["repeat"]
    assert repeat == {"frequency": 1, "period": 1, "periodUnit": "a"}  # the repeat stays beside the date
    assert visit_place(activities["t2d.dsmes"]) == {"placement": "later", "date": "2020-08-03",  # approval page
                                                     "reason": "moved to later by the clinician (3 Aug 2020)"}
    edits_recorded = [part["valueString"] for ext in activities["t2d.dsmes"]["extension"]
                      if ext["url"].endswith("clinician-edit") for part in ext["extension"] if part["url"] == "change"]
    assert edits_recorded == ["scheduled for 2020-08-03"]


def test_review__a_move_to_later_without_a_date_or_before_the_plan_keeps_the_entries(sidebar):
    client, url, saves = sidebar
    page = client.get(url).get_data(as_text=True)
    response = client.post(url, data=_form(page, **{"when-t2d.dsmes": "later", "date-t2d.dsmes": ""}))
    body = response.get_data(as_text=True)
    assert response.status_code == 400 and "choose a date for" in body and saves == []
    assert re.search(r'<select name="when-t2d.dsmes".*?<option value="later" selected', body, re.S)
    response = client.post(url, data=_form(page, **{"date-t2d.foot-exam": "2020-05-01"}))
    assert response.status_code == 400 and "is before the plan date" in response.get_data(as_text=True)
    assert saves == []


def test_review__a_move_without_the_csrf_token_is_refused(sidebar):
    client, url, saves = sidebar
    page = client.get(url).get_data(as_text=True)
    form = _form(page, **{"when-htn.lifestyle": "this-visit"})
    form.pop("csrf_token")
    assert client.post(url, data=form).status_code == 400
    assert saves == []


def test_review__the_printable_plan_says_when_each_action_comes(sidebar):
    client, url, _saves = sidebar
    page = client.get(url + "/print").get_data(as_text=True)
    assert "Review for de-intensification (HbA1c below 6.5 % on insulin or a sulfonylurea) (this visit)" in page
    assert "SGLT2 inhibitor (CKD) (later, 15 Jun 2020: after the eGFR result; KDIGO grade 1A)" in page


def test_review__the_patient_copy_of_the_proposal_in_english_and_spanish(sidebar):
    client, url, _saves = sidebar
    assert 'id="patient-copy" href="/p/' in client.get(url).get_data(as_text=True)
    page = client.get(url + "/patient").get_data(as_text=True)
    assert '<article id="patient-copy" lang="en">' in page and "Your care plan" in page
    assert 'id="copy-draft"' in page  # a proposal: the copy says it is not final
    assert "Keep your average blood sugar (A1C test) below 7 %." in page
    assert "<strong>Around June 15, 2020:</strong> A medicine that protects your kidneys and heart." in page
    assert "Questions? Call your clinic and ask for your care team." in page  # the doctor's name is not known
    assert "t2d." not in page and "KDIGO" not in page and "4548-4" not in page  # no rule id, no grade, no code
    spanish = client.get(url + "/patient?lang=es").get_data(as_text=True)
    assert '<article id="patient-copy" lang="es">' in spanish and "Su plan de cuidado" in spanish
    assert "Cerca del 15 de junio de 2020:</strong> Una medicina que protege los riñones y el corazón." in spanish
    assert client.get(url + "/patient?lang=xx").get_data(as_text=True).count('lang="en"') >= 1  # unknown: English


def test_approval__the_patient_copy_holds_only_what_the_saved_plan_holds(sidebar, served):
    from app.careplan.model import Edits

    client, url, _saves = sidebar
    client.get(url)
    from app.context import facts_from_bundle
    from app.engine import build_plan, load_pack_set

    packs = load_pack_set()
    bundle = load_file(SYNTHEA / PATIENT_FILE)
    plan = build_plan(facts_from_bundle(bundle, packs.requirements, AS_OF), packs, AS_OF).to_dict()
    edits = Edits(deselected=frozenset({"t2d.dsmes"}), moves={"t2d.foot-exam": "2020-07-20"}, author=DOCTOR)
    resources = [e["resource"] for e in draft_bundle(plan, edits, now="2020-06-01T10:00:00Z")["entry"]]
    careplan = next(r for r in resources if r["resourceType"] == "CarePlan")
    goals = [r for r in resources if r["resourceType"] == "Goal"]
    for index, goal in enumerate(goals):
        goal["id"] = f"g-{index}"
    careplan.update(id="cp-1", status="active", goal=[{"reference": f"Goal/{g['id']}"} for g in goals])
    served.extend([careplan, *goals])
    page = client.get(url.removesuffix("/plan") + "/careplans/cp-1/patient").get_data(as_text=True)
    assert "Your care plan" in page and 'id="copy-draft"' not in page  # approved: final
    assert "Classes and support" not in page  # unticked before saving: not in the record, not in the copy
    assert "<strong>Around July 20, 2020:</strong> A check of your feet" in page
    assert "Keep your blood pressure below 130/80." in page
