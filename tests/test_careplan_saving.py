"""Truthful saves, unit by unit with ``responses``: send, read back, retry, compare, and the words used."""

from __future__ import annotations

import json

import pytest
import requests
import responses

from app.careplan import Edits, plan_key
from app.careplan.delivery import COMMITTED, NOT_COMMITTED, UNKNOWN, deliver
from app.careplan.marker import WRITE_REQUEST_URL, committed_version, mark, request_of, stamp
from app.careplan.model import CAREPLAN_ID_SYSTEM, GOAL_ID_SYSTEM, TAG, goal_key
from app.careplan.notices import clock, save_notice
from app.careplan.resources import DESELECTED_REASON
from app.careplan.saving import CONFLICT, DIFFERS, NOT_SAVED, SAVED, UNKNOWN_OUTCOME, BasedOn, differences, save
from app.errors import FhirServerError
from app.fhir import FhirClient
from tests.careplan_sample import sample_plan

BASE = "http://fhir.test/r4"
NOW = "2020-06-01T10:00:00Z"
MINE, THEIRS = "a" * 32, "b" * 32
DOCTOR = "Practitioner/dr1"
ITEM = "http://carepath.dev/fhir/StructureDefinition/rationale-item"
EDITS = Edits(deselected=frozenset({"a-dsmes"}), goal_targets={"g-hba1c": 7.5}, note="diet first", author=DOCTOR)


class Journal:
    """Records what save() tells the audit log."""

    def __init__(self) -> None:
        self.rows: list[tuple] = []

    def intent(self, careplan_id=None, version=None) -> None:
        self.rows.append(("intent", careplan_id, version))

    def outcome(self, result, careplan_id=None, version=None, *, read_back=False) -> None:
        self.rows.append(("outcome", result, careplan_id, version, read_back))


@pytest.fixture
def fhir():
    return FhirClient(BASE, retries=0, backoff=0, sleep=lambda _s: None)


def _careplan(request_id=None, *, version="1", deselected=("a-dsmes",), target=7.5, note="diet first", author=DOCTOR):
    plan = sample_plan()
    careplan = {
        "resourceType": "CarePlan", "id": "30", "status": "draft", "meta": {"versionId": version, "tag": [TAG]},
        "identifier": [{"system": CAREPLAN_ID_SYSTEM, "value": plan_key(plan)}],
        "subject": {"reference": "Patient/p1"}, "goal": [{"reference": "Goal/2"}],
        "activity": [{"extension": [{"url": ITEM, "valueString": item}],
                      "detail": {"status": "cancelled" if item in deselected else "not-started"}}
                     for item in ("a-hba1c", "a-dsmes")],
        "note": [{"text": note, "authorReference": {"reference": author}}] if note else []}
    return mark(careplan, request_id, author=author, now=NOW) if request_id else careplan


def _goal(target=7.5):
    return {"resourceType": "Goal", "id": "2", "meta": {"versionId": "1"},
            "identifier": [{"system": GOAL_ID_SYSTEM, "value": goal_key(plan_key(sample_plan()), "g-hba1c")}],
            "target": [{"detailQuantity": {"value": target}}]}


def _search(*careplans):
    return {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": c} for c in careplans]}


def _history(*careplans):
    return {"resourceType": "Bundle", "type": "history", "entry": [{"resource": c} for c in careplans]}


# -- deliver: send, read back, send again only while nothing says it committed ---------------------------------

@pytest.mark.parametrize(("answers", "found", "result", "sends"), [
    ([None], [{"id": "30"}], COMMITTED, 1),                                   # answered, read back
    ([FhirServerError("502", status=502)], [{"id": "30"}], COMMITTED, 1),      # 502 after the commit
    ([FhirServerError("503", status=503), None], [None, {"id": "30"}], COMMITTED, 2),  # 503 before: sent again
    ([FhirServerError("503", status=503)] * 3, [None] * 3, NOT_COMMITTED, 3),  # never reached the record
    ([None], [None], NOT_COMMITTED, 1),                                       # 2xx, but someone else's data kept
])
def test_deliver__reads_back_after_every_attempt(answers, found, result, sends):
    sent, answers, found = [], list(answers), list(found)

    def send():
        sent.append(1)
        answer = answers.pop(0)
        if answer:
            raise answer

    delivery = deliver(send, lambda: found.pop(0), attempts=3, backoff=0, sleep=lambda _s: None)
    assert delivery.result == result and len(sent) == sends


def test_deliver__a_read_back_that_fails_is_unknown_never_a_guess():
    def unreadable():
        raise FhirServerError("500", status=500)

    delivery = deliver(lambda: None, unreadable, attempts=3, backoff=0, sleep=lambda _s: None)
    assert delivery.result == UNKNOWN and delivery.read_back


# -- the request id on the CarePlan ---------------------------------------------------------------------------

def test_mark__replaces_an_earlier_stamp_and_keeps_other_extensions():
    careplan = mark({"resourceType": "CarePlan", "extension": [{"url": "x", "valueString": "y"}]}, THEIRS,
                    author="Practitioner/9", now=NOW)
    careplan = mark(careplan, MINE, author=DOCTOR, now=NOW)
    assert request_of(careplan) == MINE and stamp(careplan) == {"id": MINE, "time": NOW, "author": DOCTOR}
    assert [e["url"] for e in careplan["extension"]] == ["x", WRITE_REQUEST_URL]


@responses.activate
def test_committed_version__found_by_version_when_someone_wrote_after(fhir):
    responses.get(f"{BASE}/CarePlan/30/_history/2", json=_careplan(MINE, version="2"))
    found = committed_version(fhir, "30", MINE, current=_careplan(THEIRS, version="3"))
    assert found["meta"]["versionId"] == "2"


@responses.activate
def test_committed_version__a_server_whose_version_ids_are_not_numbers_is_read_through_its_history(fhir):
    responses.get(f"{BASE}/CarePlan/30/_history", json=_history(_careplan(THEIRS, version="c"),
                                                                _careplan(MINE, version="b")))
    found = committed_version(fhir, "30", MINE, current=_careplan(THEIRS, version="c"))
    assert found["meta"]["versionId"] == "b"


# -- save: create, update, conflict, resubmission ---------------------------------------------------------------

@responses.activate
def test_save__a_new_plan_answered_502_after_it_committed_is_saved_and_audited(fhir):
    responses.get(f"{BASE}/CarePlan", json=_search())                    # no draft of this plan yet
    responses.get(f"{BASE}/CarePlan", json=_search())                    # find_open_draft: none to replace
    responses.post(BASE, status=502)
    responses.get(f"{BASE}/CarePlan", json=_search(_careplan(MINE)))     # read back: mine
    responses.get(f"{BASE}/CarePlan/30", json=_careplan(MINE))
    responses.get(f"{BASE}/Goal/2", json=_goal())
    journal = Journal()
    outcome = save(fhir, sample_plan(), EDITS, request_id=MINE, journal=journal, now=NOW, sleep=lambda _s: None)
    assert outcome.status == SAVED and outcome.read_back and outcome.differences == []
    assert journal.rows == [("intent", None, None), ("outcome", COMMITTED, "30", "1", True)]
    assert sum(call.request.method == "POST" for call in responses.calls) == 1
    sent = json.loads(next(c for c in responses.calls if c.request.method == "POST").request.body)
    careplan = next(e["resource"] for e in sent["entry"] if e["resource"]["resourceType"] == "CarePlan")
    assert request_of(careplan) == MINE


@responses.activate
def test_save__a_conditional_create_that_matched_someone_elses_draft_is_a_conflict(fhir):
    responses.get(f"{BASE}/CarePlan", json=_search())
    responses.get(f"{BASE}/CarePlan", json=_search())
    responses.post(BASE, json={"resourceType": "Bundle", "type": "transaction-response", "entry": []})
    theirs = _careplan(THEIRS, note="", deselected=())
    responses.get(f"{BASE}/CarePlan", json=_search(theirs))   # theirs, not mine
    responses.get(f"{BASE}/CarePlan/30/_history", json=_history(theirs))
    responses.get(f"{BASE}/CarePlan", json=_search(theirs))
    responses.get(f"{BASE}/Goal/2", json=_goal(7.0))
    outcome = save(fhir, sample_plan(), EDITS, request_id=MINE, now=NOW)
    assert outcome.status == CONFLICT and outcome.committed is False
    assert outcome.differences == [
        "activity \u201cDiabetes self-management education & support\u201d: you unticked it, the record has it "
        "selected", "goal \u201cHbA1c below 7 %\u201d: you set the target to 7.5, the record holds 7",
        "your note is not in the record"]


@responses.activate
def test_save__a_draft_the_page_did_not_show_is_a_conflict_and_nothing_is_sent(fhir):
    responses.get(f"{BASE}/CarePlan", json=_search(_careplan(THEIRS, version="2", author="Practitioner/9")))
    responses.get(f"{BASE}/CarePlan/30/_history", json=_history(_careplan(THEIRS, version="2")))
    responses.get(f"{BASE}/Goal/2", json=_goal())
    outcome = save(fhir, sample_plan(), EDITS, request_id=MINE, based_on=BasedOn("30", "1"), now=NOW)
    assert outcome.status == CONFLICT and outcome.written_by == ("Practitioner/9", NOW)
    assert not any(call.request.method in ("POST", "PUT") for call in responses.calls)
    notice = save_notice(outcome, "Dr Nine")
    assert notice.kind == "save-conflict"
    assert notice.text.startswith("Dr Nine saved this draft on 1 Jun 2020, 10:00 UTC")


@responses.activate
def test_save__an_edit_updates_the_version_the_page_showed_with_if_match(fhir):
    responses.get(f"{BASE}/CarePlan", json=_search(_careplan(THEIRS, note="A's note", author="Practitioner/9")))
    responses.get(f"{BASE}/CarePlan/30/_history", json=_history())
    responses.get(f"{BASE}/Goal/2", json=_goal(7.0))
    responses.post(BASE, status=412)  # lost the race? no: the read-back finds this very write
    responses.get(f"{BASE}/CarePlan", json=_search(_careplan(MINE, version="2")))
    responses.get(f"{BASE}/CarePlan/30", json=_careplan(MINE, version="2"))
    responses.get(f"{BASE}/Goal/2", json=_goal())
    outcome = save(fhir, sample_plan(), EDITS, request_id=MINE, based_on=BasedOn("30", "1"), now=NOW)
    assert outcome.status == SAVED and outcome.version == "2"
    sent = json.loads(next(c for c in responses.calls if c.request.method == "POST").request.body)["entry"]
    requests_sent = [(e["request"]["method"], e["request"]["url"], e["request"].get("ifMatch")) for e in sent]
    assert requests_sent == [("PUT", "Goal/2", 'W/"1"'), ("POST", "Goal", None),  # a goal missing from the draft
                             ("PUT", "CarePlan/30", 'W/"1"'), ("POST", "Provenance", None)]
    careplan = sent[2]["resource"]
    assert [n["text"] for n in careplan["note"]] == ["A's note", "diet first"]  # the earlier note is kept
    assert careplan["activity"][1]["detail"]["statusReason"] == {"text": DESELECTED_REASON}
    assert sent[3]["resource"]["activity"]["coding"][0]["code"] == "UPDATE"


@responses.activate
def test_save__a_resubmitted_form_whose_save_holds_is_saved_without_sending(fhir):
    responses.get(f"{BASE}/CarePlan", json=_search(_careplan(MINE)))
    responses.get(f"{BASE}/CarePlan/30", json=_careplan(MINE))
    responses.get(f"{BASE}/Goal/2", json=_goal())
    outcome = save(fhir, sample_plan(), EDITS, request_id=MINE, based_on=None, now=NOW)
    assert outcome.status == SAVED and outcome.read_back
    assert all(call.request.method == "GET" for call in responses.calls)


@responses.activate
def test_save__a_server_that_keeps_failing_is_not_saved_after_reading_back(fhir):
    responses.get(f"{BASE}/CarePlan", json=_search())
    responses.post(BASE, body=requests.ConnectionError("connection reset"))
    journal = Journal()
    outcome = save(fhir, sample_plan(), EDITS, request_id=MINE, journal=journal, now=NOW, sleep=lambda _s: None)
    assert outcome.status == NOT_SAVED and outcome.read_back and outcome.committed is False
    assert sum(call.request.method == "POST" for call in responses.calls) == 3
    assert journal.rows[-1] == ("outcome", NOT_COMMITTED, None, None, True)
    assert save_notice(outcome).text.startswith("Nothing was saved: the fhir server cannot be reached")


@responses.activate
def test_save__a_read_back_that_fails_is_unknown(fhir):
    responses.get(f"{BASE}/CarePlan", json=_search())
    responses.get(f"{BASE}/CarePlan", json=_search())
    responses.post(BASE, status=504)
    responses.get(f"{BASE}/CarePlan", status=500)
    journal = Journal()
    outcome = save(fhir, sample_plan(), EDITS, request_id=MINE, journal=journal, now=NOW)
    assert outcome.status == UNKNOWN_OUTCOME and outcome.committed is None
    assert journal.rows[-1][:2] == ("outcome", UNKNOWN)
    assert save_notice(outcome).kind == "save-unknown"


def test_differences__empty_when_the_record_holds_the_submission():
    plan = sample_plan()
    assert differences(plan, EDITS, _careplan(deselected={"a-dsmes"}), [_goal()]) == []
    assert differences(plan, EDITS, _careplan(deselected={"a-dsmes"}, note="other"), [_goal()]) == [
        "your note is not in the record"]
    outcome_differs = save_notice(type("O", (), {"status": DIFFERS, "careplan": None, "version": None,
                                                 "differences": ["x"]})())
    assert outcome_differs.kind == "save-differs" and outcome_differs.items == ["x"]


@pytest.mark.parametrize(("text", "expected"), [
    ("CarePlan/30/_history/2", BasedOn("30", "2")), ("", None), ("CarePlan/30", None),
    ("CarePlan/a b/_history/1", None), ("Goal/2/_history/1", None)])
def test_based_on__parse(text, expected):
    assert BasedOn.parse(text) == expected


def test_clock__hh_mm_utc():
    assert clock("2020-06-01T12:02:33+02:00") == "1 Jun 2020, 10:02 UTC" and clock(None) == "an unknown time"
