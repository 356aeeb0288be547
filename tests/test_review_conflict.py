"""Two clinicians editing one draft (local HAPI): the second is shown the conflict, and nothing is lost."""

from __future__ import annotations

import re

import pytest

from app.audit import audit_log
from tests.test_review_views import _form, _launch, record, review_app  # noqa: F401 (fixtures)

pytestmark = pytest.mark.integration


def _plan_url(launch_id: str) -> str:
    return f"https://localhost/p/{launch_id}/plan"


def _statuses(careplan: dict) -> dict[str, str]:
    return {a["extension"][0]["valueString"]: a["detail"]["status"] for a in careplan["activity"]}


def _hba1c_target(hapi, careplan: dict) -> float:
    goals = [hapi.read("Goal", ref["reference"].split("/")[1]) for ref in careplan["goal"]]
    return next(g["target"][0]["detailQuantity"]["value"] for g in goals
                if g["target"][0]["measure"]["coding"][0]["code"] == "4548-4")


def test_two_clinicians__the_second_sees_the_conflict_keeps_the_entries_and_saves_after_review(
        review_app, hapi, hapi_url, record):  # noqa: F811 (fixtures)
    hapi.update({"resourceType": "Practitioner", "id": f"{record}-dr2", "active": True,
                 "name": [{"family": "Okafor", "given": ["Ngozi"], "prefix": ["Dr"]}]})
    doctor_a, doctor_b = review_app.test_client(), review_app.test_client()
    launch_a = _launch(doctor_a, review_app, hapi_url, record, fhir_user=f"Practitioner/{record}-dr2")
    launch_b = _launch(doctor_b, review_app, hapi_url, record, fhir_user=f"Practitioner/{record}-dr")
    page_a = doctor_a.get(_plan_url(launch_a)).get_data(as_text=True)
    page_b = doctor_b.get(_plan_url(launch_b)).get_data(as_text=True)  # both open the same new plan

    saved_a = doctor_a.post(_plan_url(launch_a), data=_form(page_a, **{"target-g-hba1c": "7.5", "note": "A: diet"}))
    assert saved_a.status_code == 303
    response = doctor_b.post(_plan_url(launch_b), data=_form(page_b, keep=["a-hba1c"], note="B: <refer> to DSMES"))
    body = response.get_data(as_text=True)

    # B is told who saved, when, and how that draft differs from B's entries; nothing of B's was written.
    assert response.status_code == 409 and 'id="save-conflict"' in body and 'id="saved"' not in body
    assert "Dr Ngozi Okafor saved this draft on" in body and f"Practitioner/{record}-dr2" not in body
    assert "Diabetes self-management education &amp; support\u201d: you unticked it, the record has it selected" in body
    assert "you set the target to 7, the record holds 7.5" in body
    assert "the saved draft has another author&#39;s note" in body and "A: diet" in body
    # B's entries are still on the page: the note, the unticked activity, the target.
    assert "B: &lt;refer&gt; to DSMES</textarea>" in body
    assert re.search(r'value="a-dsmes" id="keep-a-dsmes"\s*>', body)
    assert re.search(r'value="a-hba1c" id="keep-a-hba1c"\s*checked>', body)
    (draft,) = hapi.search("CarePlan", {"subject": f"Patient/{record}"})
    assert _statuses(draft) == {"a-hba1c": "not-started", "a-dsmes": "not-started"}
    assert [n["text"] for n in draft["note"]] == ["A: diet"]
    # The page now builds on A's version: saving again after review records B's choices, A's note kept.
    assert f'name="based_on" value="CarePlan/{draft["id"]}/_history/{draft["meta"]["versionId"]}"' in body
    again = doctor_b.post(_plan_url(launch_b), data=_form(body, keep=["a-hba1c"], note="B: <refer> to DSMES"))
    assert again.status_code == 303 and "saved=" in again.headers["Location"]
    (draft,) = hapi.search("CarePlan", {"subject": f"Patient/{record}"})
    assert _statuses(draft) == {"a-hba1c": "not-started", "a-dsmes": "cancelled"}
    assert [(n["text"], n["authorReference"]["reference"]) for n in draft["note"]] == [
        ("A: diet", f"Practitioner/{record}-dr2"), ("B: <refer> to DSMES", f"Practitioner/{record}-dr")]
    assert _hba1c_target(hapi, draft) == 7.0  # B's reviewed choice
    assert len(hapi.search("Provenance", {"target": f"CarePlan/{draft['id']}"})) == 2  # A's create, B's update
    with review_app.app_context():
        outcomes = [(e.actor, e.result) for e in audit_log().entries(record) if e.phase == "outcome"]
    assert outcomes == [(f"Practitioner/{record}-dr2", "committed"), (f"Practitioner/{record}-dr", "conflict"),
                        (f"Practitioner/{record}-dr", "committed")]

    # A's page is now stale too: A's next edit conflicts instead of overwriting B's.
    page_a = doctor_a.get(_plan_url(launch_a)).get_data(as_text=True)
    hapi_version = draft["meta"]["versionId"]
    assert f'_history/{hapi_version}"' in page_a and "B: &lt;refer&gt; to DSMES" in page_a  # the draft's notes
    stale = _form(page_a, keep=["a-hba1c", "a-dsmes"])
    stale["based_on"] = f"CarePlan/{draft['id']}/_history/1"
    assert doctor_a.post(_plan_url(launch_a), data=stale).status_code == 409
    assert hapi.read("CarePlan", draft["id"])["meta"]["versionId"] == hapi_version


def test_edit_saved_draft__the_resumed_page_is_the_draft_and_resubmitting_saves_once(
        review_app, hapi, hapi_url, record):  # noqa: F811 (fixtures)
    doctor = review_app.test_client()
    launch_id = _launch(doctor, review_app, hapi_url, record, fhir_user=f"Practitioner/{record}-dr")
    page = doctor.get(_plan_url(launch_id)).get_data(as_text=True)
    assert doctor.post(_plan_url(launch_id), data=_form(page, keep=["a-hba1c"], **{"target-g-hba1c": "8"})
                       ).status_code == 303
    page = doctor.get(_plan_url(launch_id)).get_data(as_text=True)
    # The saved draft's choices fill the form: the unticked activity stays unticked, the target is the saved one.
    assert 'id="resumed"' in page and 'id="save"' in page
    assert re.search(r'value="a-dsmes" id="keep-a-dsmes"\s*>', page) and 'value="8"' in page
    form = _form(page, keep=["a-hba1c", "a-dsmes"], **{"target-g-hba1c": "8", "note": "ticked again"})
    for _ in range(2):  # a double submit: the second finds the first in the record
        assert doctor.post(_plan_url(launch_id), data=form).status_code == 303
    (draft,) = hapi.search("CarePlan", {"subject": f"Patient/{record}"})
    assert _statuses(draft) == {"a-hba1c": "not-started", "a-dsmes": "not-started"}
    assert [n["text"] for n in draft["note"]] == ["ticked again"] and draft["meta"]["versionId"] == "2"
