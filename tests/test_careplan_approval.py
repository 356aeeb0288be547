"""Approval and rejection: who may approve, the versioned transaction, the 412 path."""

from __future__ import annotations

import json

import pytest
import requests
import responses

from app.careplan.approval import (
    Decision,
    DecisionNotRecorded,
    NotAllowedToApprove,
    PlanChanged,
    check_approver,
    decide,
    describe_changes,
)
from app.careplan.marker import mark
from app.careplan.model import TAG
from app.fhir import FhirClient

BASE = "http://fhir.test/r4"
NOW = "2020-06-02T09:00:00Z"
ITEM = "http://carepath.dev/fhir/StructureDefinition/rationale-item"
REQUEST_ID = "7" * 32


@pytest.fixture
def fhir():
    return FhirClient(BASE, retries=0, sleep=lambda _s: None)


def _activity(item, status="not-started", description=None):
    return {"extension": [{"url": ITEM, "valueString": item}],
            "detail": {"status": status, "description": description or item}}


def _careplan(version="1", status="draft", activities=None, notes=()):
    return {"resourceType": "CarePlan", "id": "30", "meta": {"versionId": version, "tag": [TAG]},
            "status": status, "intent": "plan", "subject": {"reference": "Patient/p1"},
            "goal": [{"reference": "Goal/2"}],
            "activity": activities if activities is not None else [_activity("a-hba1c"), _activity("a-dsmes")],
            "note": list(notes)}


def _recorded(**kwargs):
    """The CarePlan as the server holds it after this test's decision (stamped with its request id)."""
    return mark(_careplan(**kwargs), REQUEST_ID, author="Practitioner/dr1", now=NOW)


def _goal():
    return {"resourceType": "Goal", "id": "2", "meta": {"versionId": "4"}, "lifecycleStatus": "proposed"}


@pytest.mark.parametrize("fhir_user", [None, "", "Patient/p1", "RelatedPerson/r1", "Device/d1",
                                       "https://ehr.test/fhir/Patient/p1", "Practitioner"])
def test_check_approver__refuses_anyone_but_a_practitioner(fhir_user):
    with pytest.raises(NotAllowedToApprove):
        check_approver(fhir_user)


@pytest.mark.parametrize(("fhir_user", "reference"), [
    ("Practitioner/dr1", "Practitioner/dr1"),
    ("PractitionerRole/r1", "PractitionerRole/r1"),
    ("https://ehr.test/fhir/Practitioner/dr1", "Practitioner/dr1"),
])
def test_check_approver__accepts_practitioners(fhir_user, reference):
    assert check_approver(fhir_user) == reference


@responses.activate
def test_decide__approve_puts_with_if_match_and_adds_a_verifier_provenance(fhir):
    responses.get(f"{BASE}/CarePlan/30/_history/1", json=_careplan())
    responses.get(f"{BASE}/Goal/2", json=_goal())
    responses.post(BASE, json={"resourceType": "Bundle", "type": "transaction-response", "entry": []})
    responses.get(f"{BASE}/CarePlan/30", json=_recorded(version="2", status="active"))
    result = decide(fhir, "30", "1", Decision("Practitioner/dr1", rejected={"a-dsmes": "patient declined"}),
                    now=NOW, request_id=REQUEST_ID)
    assert result["status"] == "active"
    sent = json.loads(responses.calls[2].request.body)["entry"]
    goal, provenance, careplan = (entry["resource"] for entry in sent)
    assert sent[-1]["request"] == {"method": "PUT", "url": "CarePlan/30", "ifMatch": 'W/"1"'}
    assert sent[0]["request"]["ifMatch"] == 'W/"4"'
    assert careplan["extension"][-1]["extension"][0] == {"url": "id", "valueString": REQUEST_ID}
    assert careplan["status"] == "active"
    assert [a["detail"]["status"] for a in careplan["activity"]] == ["not-started", "cancelled"]
    assert careplan["activity"][1]["detail"]["statusReason"] == {"text": "patient declined"}
    assert goal["lifecycleStatus"] == "accepted" and goal["statusDate"] == "2020-06-02"
    assert provenance["agent"][0]["type"]["coding"][0]["code"] == "verifier"
    assert provenance["agent"][0]["who"] == {"reference": "Practitioner/dr1"}
    assert provenance["recorded"] == NOW
    div = careplan["text"]["div"]
    assert "approved by Practitioner/dr1 on 2020-06-02" in div and "[cancelled: patient declined]" in div


@responses.activate
def test_decide__reject_the_whole_plan_revokes_it_with_the_reason(fhir):
    responses.get(f"{BASE}/CarePlan/30/_history/1", json=_careplan())
    responses.get(f"{BASE}/Goal/2", json=_goal())
    responses.post(BASE, json={"resourceType": "Bundle", "type": "transaction-response", "entry": []})
    responses.get(f"{BASE}/CarePlan/30", json=_recorded(version="2", status="revoked"))
    decide(fhir, "30", "1", Decision("Practitioner/dr1", reject_plan_reason="wrong patient context"), now=NOW,
           request_id=REQUEST_ID)
    goal, provenance, careplan = (e["resource"] for e in json.loads(responses.calls[2].request.body)["entry"])
    assert careplan["status"] == "revoked"
    assert careplan["note"][-1] == {"authorReference": {"reference": "Practitioner/dr1"}, "time": NOW,
                                    "text": "Plan rejected: wrong patient context"}
    assert goal["lifecycleStatus"] == "rejected" and goal["statusReason"] == "wrong patient context"
    assert provenance["reason"] == [{"text": "rejected: wrong patient context"}]


@responses.activate
def test_decide__412_reports_what_changed(fhir):
    responses.get(f"{BASE}/CarePlan/30/_history/1", json=_careplan())
    responses.get(f"{BASE}/Goal/2", json=_goal())
    responses.post(BASE, status=412, json={"resourceType": "OperationOutcome", "issue": [
        {"severity": "error", "code": "conflict", "diagnostics": "version conflict"}]})
    responses.get(f"{BASE}/CarePlan/30", json=_careplan(
        version="2", activities=[_activity("a-hba1c", "cancelled", "Repeat HbA1c"), _activity("a-dsmes")],
        notes=[{"text": "seen"}]))
    responses.get(f"{BASE}/CarePlan/30/_history", json={"resourceType": "Bundle", "type": "history", "entry": []})
    with pytest.raises(PlanChanged) as raised:
        decide(fhir, "30", "1", Decision("Practitioner/dr1"), now=NOW)
    assert raised.value.changes == ["activity 'Repeat HbA1c': not-started -> cancelled",
                                    "notes were added or removed"]
    assert raised.value.current["meta"]["versionId"] == "2"


@responses.activate
def test_decide__refuses_a_careplan_carepath_did_not_write(fhir):
    foreign = _careplan()
    foreign["meta"]["tag"] = []
    responses.get(f"{BASE}/CarePlan/30/_history/1", json=foreign)
    with pytest.raises(NotAllowedToApprove):
        decide(fhir, "30", "1", Decision("Practitioner/dr1"), now=NOW)
    assert len(responses.calls) == 1


@pytest.mark.parametrize(("after", "expected"), [
    (_careplan(version="2", status="active"), ["plan status changed from draft to active"]),
    (_careplan(version="2", activities=[_activity("a-hba1c")]), ["activity removed: a-dsmes"]),
    (_careplan(version="2", activities=[_activity("a-hba1c"), _activity("a-dsmes"), _activity("a-new")]),
     ["activity added: a-new"]),
    (_careplan(version="2"), ["the plan was saved again by someone else (no change to status, activities "
                              "or notes)"]),
])
def test_describe_changes__plain_sentences(after, expected):
    assert describe_changes(_careplan(), after) == expected


class _Journal:
    def __init__(self):
        self.rows = []

    def intent(self, careplan_id=None, version=None):
        self.rows.append(("intent", careplan_id, version))

    def outcome(self, result, careplan_id=None, version=None, *, read_back=False):
        self.rows.append(("outcome", result, careplan_id, version, read_back))


def _decision_setup():
    responses.get(f"{BASE}/CarePlan/30/_history/1", json=_careplan())
    responses.get(f"{BASE}/Goal/2", json=_goal())


@responses.activate
def test_decide__an_answer_lost_after_the_commit_is_recorded_by_reading_back(fhir):
    _decision_setup()
    responses.post(BASE, status=502)
    responses.get(f"{BASE}/CarePlan/30", json=_recorded(version="2", status="active"))
    journal = _Journal()
    result = decide(fhir, "30", "1", Decision("Practitioner/dr1"), now=NOW, request_id=REQUEST_ID, journal=journal)
    assert result["status"] == "active"
    assert journal.rows == [("intent", "30", "1"), ("outcome", "committed", "30", "2", True)]
    assert sum(call.request.method == "POST" for call in responses.calls) == 1


@responses.activate
def test_decide__a_retry_refused_because_its_first_attempt_committed_is_recorded(fhir):
    _decision_setup()
    responses.post(BASE, body=requests.ConnectionError("dropped"))      # committed, answer lost
    responses.post(BASE, status=412)                                     # the retry meets its own commit
    responses.get(f"{BASE}/CarePlan/30", json=_careplan())               # read back after the drop: not yet
    responses.get(f"{BASE}/CarePlan/30/_history", json={"resourceType": "Bundle", "type": "history"})
    responses.get(f"{BASE}/CarePlan/30", json=_recorded(version="2", status="active"))
    result = decide(fhir, "30", "1", Decision("Practitioner/dr1"), now=NOW, request_id=REQUEST_ID,
                    sleep=lambda _s: None)
    assert result["status"] == "active"


@pytest.mark.parametrize(("answer", "unknown"), [(503, False), (None, True)])
@responses.activate
def test_decide__not_recorded_or_unknown_is_said_and_audited(fhir, answer, unknown):
    _decision_setup()
    responses.post(BASE, status=answer or 504)
    if unknown:
        responses.get(f"{BASE}/CarePlan/30", status=500)
    else:
        responses.get(f"{BASE}/CarePlan/30", json=_careplan())
        responses.get(f"{BASE}/CarePlan/30/_history", json={"resourceType": "Bundle", "type": "history"})
    journal = _Journal()
    with pytest.raises(DecisionNotRecorded) as raised:
        decide(fhir, "30", "1", Decision("Practitioner/dr1"), now=NOW, request_id=REQUEST_ID, journal=journal,
               sleep=lambda _s: None)
    assert raised.value.unknown is unknown
    assert journal.rows[-1][:2] == ("outcome", "unknown" if unknown else "not committed")
    message = raised.value.message
    assert ("could not confirm" in message) if unknown else message.startswith("Nothing was recorded")
