"""Every write outcome reconciled, with ``responses`` playing the FHIR server: the read-back reads the version it
needs directly (never a history listing whose count HAPI caches), a failed read-back says "could not confirm" and
repeats nothing, and the reconciler settles each ``unknown`` outcome later, as a new entry in the audit chain.

The two interleavings of issue 28:

1. A's write commits, its answer is lost, and B writes before A's read-back (HAPI's cached ``_history`` count
   then hid A's version: "your save was not sent", audited "conflict", for a committed save);
2. the read-back itself fails after the commit ("unknown", which stayed so forever, behind a FHIR error page).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
import requests
import responses

from app import create_app
from app.audit import RECONCILED, AuditLog, Journal, audit_log, unsettled
from app.careplan import plan_key
from app.careplan.approval import Decision, DecisionNotRecorded, decide
from app.careplan.delivery import COMMITTED, NOT_COMMITTED, UNKNOWN
from app.careplan.marker import answered_version, committed_version
from app.careplan.notices import save_notice
from app.careplan.reconcile import pending, settle
from app.careplan.saving import DIFFERS, UNKNOWN_OUTCOME, BasedOn, save
from app.cli import main
from app.fhir import FhirClient
from tests.careplan_sample import sample_plan
from tests.test_careplan_approval import _careplan as _approval_careplan
from tests.test_careplan_approval import _decision_setup, _recorded
from tests.test_careplan_saving import BASE, EDITS, MINE, NOW, THEIRS, _careplan, _goal, _search
from tests.test_careplan_saving import Journal as RowsJournal

APPROVAL_REQUEST = "7" * 32
PATIENT = "p1"


@pytest.fixture
def fhir():
    return FhirClient(BASE, retries=0, backoff=0, sleep=lambda _s: None)


@pytest.fixture
def audit(tmp_path):
    return AuditLog(tmp_path / "audit.sqlite3")


def _history_listed() -> bool:
    """True when a request listed a CarePlan's history (the read-back must never depend on it)."""
    return any(call.request.url.split("?")[0].endswith("/_history") for call in responses.calls)


def _stale_history():
    """What HAPI answered within a minute of an earlier listing: its cached count, so only the newest version."""
    responses.get(f"{BASE}/CarePlan/30/_history", json={"resourceType": "Bundle", "type": "history", "total": 1,
                                                        "entry": [{"resource": _careplan(THEIRS, version="3")}]})


# -- the version a write produced, read directly ----------------------------------------------------------------

@responses.activate
def test_committed_version__vreads_the_versions_after_the_one_the_write_started_from(fhir):
    _stale_history()
    responses.get(f"{BASE}/CarePlan/30/_history/2", json=_careplan(MINE, version="2"))
    found = committed_version(fhir, "30", MINE, current=_careplan(THEIRS, version="3"), since="1")
    assert found["meta"]["versionId"] == "2" and not _history_listed()


@responses.activate
def test_committed_version__vreads_the_version_the_answer_named_first(fhir):
    responses.get(f"{BASE}/CarePlan/30/_history/5", json=_careplan(MINE, version="5"))
    found = committed_version(fhir, "30", MINE, current=_careplan(THEIRS, version="9"), since="1", written="5")
    assert found["meta"]["versionId"] == "5" and len(responses.calls) == 1


@responses.activate
def test_committed_version__none_when_no_version_after_the_start_holds_the_request(fhir):
    responses.get(f"{BASE}/CarePlan/30/_history/3", json=_careplan(THEIRS, version="3"))
    responses.get(f"{BASE}/CarePlan/30/_history/2", status=410)  # a version the server no longer has
    assert committed_version(fhir, "30", MINE, current=_careplan(THEIRS, version="4"), since="1") is None
    assert [call.request.url.rsplit("/", 1)[-1] for call in responses.calls] == ["3", "2"]


@pytest.mark.parametrize(("location", "expected"), [
    ("CarePlan/30/_history/2", ("30", "2")),
    ("http://fhir.test/r4/CarePlan/30/_history/2", ("30", "2")),
    ("CarePlan/30", None), ("Goal/2/_history/1", None), ("CarePlan/../x/_history/1", None), (None, None)])
def test_answered_version__from_the_location_the_answer_gave(location, expected):
    assert answered_version(location) == expected


# -- interleaving 1: A's answer lost, B saves before A's read-back ------------------------------------------------

@responses.activate
def test_save__answer_lost_and_someone_saves_before_the_read_back__is_recorded_not_a_conflict(fhir):
    mine_v2 = _careplan(MINE, version="2")
    theirs_v3 = _careplan(THEIRS, version="3", note="B's note", author="Practitioner/9")
    responses.get(f"{BASE}/CarePlan", json=_search(_careplan(THEIRS, version="1")))  # the draft A's page showed
    responses.get(f"{BASE}/Goal/2", json=_goal(7.0))
    responses.post(BASE, body=requests.ConnectionError("answer lost"))               # A's transaction committed
    responses.get(f"{BASE}/CarePlan", json=_search(theirs_v3))                       # B saved meanwhile
    _stale_history()
    responses.get(f"{BASE}/CarePlan/30/_history/2", json=mine_v2)
    responses.get(f"{BASE}/CarePlan/30", json=theirs_v3)
    responses.get(f"{BASE}/Goal/2", json=_goal())
    journal = RowsJournal()
    outcome = save(fhir, sample_plan(), EDITS, request_id=MINE, based_on=BasedOn("30", "1"), journal=journal,
                   now=NOW, sleep=lambda _s: None)
    assert outcome.committed is True and outcome.status == DIFFERS and outcome.written_version == "2"
    assert outcome.differences[0] == ("the draft was saved again after your save (your save is version 2, "
                                      "the record is now at version 3)")
    assert journal.rows[-1] == ("outcome", COMMITTED, "30", "2", True)  # the version A's save produced
    assert sum(call.request.method == "POST" for call in responses.calls) == 1  # never sent twice
    assert not _history_listed()


@responses.activate
def test_decide__answer_lost_and_someone_changes_the_plan_before_the_read_back__is_recorded(fhir):
    _decision_setup()
    responses.post(BASE, body=requests.ConnectionError("answer lost"))                 # committed as version 2
    responses.get(f"{BASE}/CarePlan/30", json=_approval_careplan(version="3", status="active"))  # B's change
    responses.get(f"{BASE}/CarePlan/30/_history", json={"resourceType": "Bundle", "type": "history", "total": 1})
    responses.get(f"{BASE}/CarePlan/30/_history/2", json=_recorded(version="2", status="active"))
    journal = RowsJournal()
    result = decide(fhir, "30", "1", Decision("Practitioner/dr1"), now=NOW, request_id=APPROVAL_REQUEST,
                    journal=journal, sleep=lambda _s: None)
    assert result["meta"]["versionId"] == "2"
    assert journal.rows[-1] == ("outcome", COMMITTED, "30", "2", True)
    assert sum(call.request.method == "POST" for call in responses.calls) == 1
    assert not _history_listed()


@responses.activate
def test_decide__the_answer_names_the_version_which_is_read_directly(fhir):
    _decision_setup()
    responses.post(BASE, json={"resourceType": "Bundle", "type": "transaction-response", "entry": [
        {"response": {"status": "200", "location": "Goal/2/_history/5"}},
        {"response": {"status": "201", "location": "Provenance/9/_history/1"}},
        {"response": {"status": "200", "location": "CarePlan/30/_history/2"}}]})
    responses.get(f"{BASE}/CarePlan/30", json=_approval_careplan(version="3", status="active"))
    responses.get(f"{BASE}/CarePlan/30/_history/2", json=_recorded(version="2", status="active"))
    result = decide(fhir, "30", "1", Decision("Practitioner/dr1"), now=NOW, request_id=APPROVAL_REQUEST)
    assert result["meta"]["versionId"] == "2"
    assert [call.request.url for call in responses.calls][-1] == f"{BASE}/CarePlan/30/_history/2"


# -- interleaving 2: the read-back fails after the commit -----------------------------------------------------------

@responses.activate
def test_save__read_back_failing_after_the_commit_is_unknown_and_nothing_is_repeated(fhir, audit):
    responses.get(f"{BASE}/CarePlan", json=_search())
    responses.get(f"{BASE}/CarePlan", json=_search())
    responses.post(BASE, status=502)                       # committed; the gateway lost the answer
    responses.get(f"{BASE}/CarePlan", status=503)          # and the read-back fails
    journal = Journal(audit, "saved", "Practitioner/dr1", PATIENT, (), MINE, server=BASE, plan=plan_key(sample_plan()))
    outcome = save(fhir, sample_plan(), EDITS, request_id=MINE, journal=journal, now=NOW, sleep=lambda _s: None)
    assert outcome.status == UNKNOWN_OUTCOME and outcome.committed is None
    assert sum(call.request.method == "POST" for call in responses.calls) == 1
    notice = save_notice(outcome)
    assert notice.kind == "save-unknown" and notice.text.startswith("carepath could not confirm")
    assert "Nothing will be sent again on its own" in notice.text
    assert [(e.phase, e.result) for e in audit.entries()] == [("intent", None), ("outcome", UNKNOWN)]


@responses.activate
def test_decide__read_back_failing_after_the_commit_says_nothing_will_be_repeated(fhir):
    _decision_setup()
    responses.post(BASE, body=requests.ConnectionError("answer lost"))
    responses.get(f"{BASE}/CarePlan/30", body=requests.ConnectionError("still down"))
    with pytest.raises(DecisionNotRecorded) as raised:
        decide(fhir, "30", "1", Decision("Practitioner/dr1"), now=NOW, request_id=APPROVAL_REQUEST,
               sleep=lambda _s: None)
    assert raised.value.unknown and "Nothing will be sent again on its own" in raised.value.message
    assert sum(call.request.method == "POST" for call in responses.calls) == 1


# -- the reconciler -----------------------------------------------------------------------------------------------

def _unknown_save(audit: AuditLog, *, careplan_id=None, since=None, at=None, server=BASE) -> None:
    journal = Journal(audit, "saved", "Practitioner/dr1", PATIENT, ("pack|1",), MINE, server=server,
                      plan=plan_key(sample_plan()))
    journal.intent(careplan_id, since)
    audit.record("saved", actor="Practitioner/dr1", patient_id=PATIENT, packs=["pack|1"], careplan_id=careplan_id,
                 at=at, detail={"phase": "outcome", "request": MINE, "result": UNKNOWN, "read_back": True,
                                "server": server, "plan": plan_key(sample_plan())})


@responses.activate
def test_settle__a_new_plans_save_that_committed_is_settled_committed_by_a_new_entry(fhir, audit):
    _unknown_save(audit)
    before = [(e.seq, e.detail) for e in audit.entries()]
    responses.get(f"{BASE}/CarePlan", json=_search(_careplan(MINE, version="1")))
    (settled,) = settle(audit, fhir, pending(audit, server=BASE, patient_id=PATIENT))
    assert (settled.result, settled.careplan_id, settled.version) == (COMMITTED, "30", "1")
    entries = audit.entries()
    assert [(e.seq, e.detail) for e in entries[:2]] == before  # the unknown entry is left as written
    assert (entries[2].phase, entries[2].result, entries[2].detail["settles"]) == (RECONCILED, COMMITTED, 2)
    assert (entries[2].careplan_id, entries[2].careplan_version, entries[2].event) == ("30", "1", "saved")
    assert unsettled(entries) == [] and audit.verify()[2] is None


@responses.activate
def test_settle__an_update_overtaken_afterwards_is_found_by_version_not_by_history(fhir, audit):
    _unknown_save(audit, careplan_id="30", since="1")
    responses.get(f"{BASE}/CarePlan/30", json=_careplan(THEIRS, version="3"))
    _stale_history()
    responses.get(f"{BASE}/CarePlan/30/_history/2", json=_careplan(MINE, version="2"))
    (settled,) = settle(audit, fhir, pending(audit, server=BASE))
    assert (settled.result, settled.version) == (COMMITTED, "2") and not _history_listed()


@responses.activate
def test_settle__a_plan_the_record_never_got_is_not_committed_once_old_enough(fhir, audit):
    recent = datetime.now(UTC).isoformat(timespec="seconds")
    _unknown_save(audit, at=recent)
    responses.get(f"{BASE}/CarePlan", json=_search())
    (waiting,) = settle(audit, fhir, pending(audit, server=BASE), absent_after=60)
    assert waiting.result is None and len(audit.entries()) == 2  # a late write may still land
    later = datetime.now(UTC) + timedelta(minutes=5)
    (settled,) = settle(audit, fhir, pending(audit, server=BASE), absent_after=60, now=later)
    assert settled.result == NOT_COMMITTED and audit.entries()[-1].result == NOT_COMMITTED


@responses.activate
def test_settle__a_record_that_cannot_be_read_leaves_the_entry_for_next_time(fhir, audit):
    _unknown_save(audit, careplan_id="30", since="1")
    responses.get(f"{BASE}/CarePlan/30", status=500)
    (settled,) = settle(audit, fhir, pending(audit, server=BASE))
    assert settled.result is None and "FhirServerError" in settled.reason
    assert len(audit.entries()) == 2 and len(pending(audit, server=BASE)) == 1


@responses.activate
def test_settle__an_approval_that_made_the_plan_active_is_settled_committed(fhir, audit):
    journal = Journal(audit, "approved", "Practitioner/dr1", PATIENT, (), APPROVAL_REQUEST, server=BASE)
    journal.intent("30", "1")
    journal.outcome(UNKNOWN, "30", "1", read_back=True)
    responses.get(f"{BASE}/CarePlan/30", json=_recorded(version="2", status="active"))
    (settled,) = settle(audit, fhir, pending(audit, server=BASE, patient_id=PATIENT))
    assert (settled.result, settled.version) == (COMMITTED, "2")
    last = audit.entries()[-1]
    assert (last.event, last.phase, last.result, last.detail["settles"]) == ("approved", RECONCILED, COMMITTED, 2)


def test_pending__only_entries_of_the_server_asked_and_the_unlabelled_on_request(audit):
    _unknown_save(audit)
    _unknown_save(audit, server="http://other.test/fhir")
    audit.record("saved", actor="Practitioner/dr1", patient_id=PATIENT, packs=[],
                 detail={"phase": "outcome", "request": THEIRS, "result": UNKNOWN, "read_back": False})
    assert [e.seq for e in pending(audit, server=BASE + "/")] == [2]
    assert [e.seq for e in pending(audit, server=BASE, unlabelled=True)] == [2, 5]
    assert pending(audit, server=BASE, patient_id="someone-else") == []


# -- the pages: no FHIR error page after a write, settled at the next page load ---------------------------------

@pytest.fixture
def review_app(tmp_path, monkeypatch):
    app = create_app({"TESTING": True, "SECRET_KEY": "test", "VAR_DIR": str(tmp_path), "SMART_ALLOWED_ISS": [BASE],
                      "SMART_OPEN_SERVERS": [BASE], "FHIR_RETRIES": 0, "FHIR_BACKOFF": 0})
    from app.views import review

    facts = {"measures": {}, "missing": [], "dataQuality": []}
    monkeypatch.setattr(review, "plan_for_patient", lambda client, patient_id, packs, as_of: (sample_plan(), facts))
    monkeypatch.setattr(review, "_pack_set", lambda: None)
    monkeypatch.setattr(review, "_write_problems", lambda: [])
    monkeypatch.setattr(review, "_capabilities", lambda: {"rest": [{"interaction": [{"code": "transaction"}]}]})
    return app


def _launched(app) -> tuple[object, str]:
    client = app.test_client()
    with responses.RequestsMock(assert_all_requests_are_fired=False):
        launched = client.get(f"https://localhost/launch?iss={BASE}&patient={PATIENT}")
    launch_id = launched.headers["Location"].split("/p/")[1].split("/")[0]
    smart = app.extensions["carepath_smart"]
    smart.store.put("launch", launch_id, {**smart.load(launch_id), "fhir_user": "Practitioner/dr1"}, ttl=600)
    with client.session_transaction() as session:
        session["_csrf"] = "csrf"
    return client, launch_id


def test_save_page__read_back_and_page_failing_after_a_commit_is_carepaths_notice_then_settled(review_app):
    client, launch_id = _launched(review_app)
    form = {"csrf_token": "csrf", "plan_key": plan_key(sample_plan()), "request_id": MINE, "keep": ["a-hba1c"],
            "target-g-hba1c": "7.5", "note": "diet first"}
    with responses.RequestsMock(assert_all_requests_are_fired=False) as server:
        server.get(f"{BASE}/CarePlan", json=_search())
        server.get(f"{BASE}/CarePlan", json=_search())
        server.post(BASE, status=504)                         # committed, the answer lost
        server.get(f"{BASE}/CarePlan", status=503)            # the read-back fails...
        server.get(f"{BASE}/Patient/{PATIENT}", status=503)   # ...and so does the page's own reading
        response = client.post(f"https://localhost/p/{launch_id}/plan", data=form)
    body = response.get_data(as_text=True)
    assert response.status_code == 502 and 'id="save-unknown"' in body and 'id="unconfirmed-next"' in body
    assert "Nothing will be sent again on its own" in body and 'id="error-message"' not in body
    with review_app.app_context():
        assert [e.result for e in audit_log().entries() if e.phase == "outcome"] == [UNKNOWN]
        (outcome,) = [e for e in audit_log().entries() if e.phase == "outcome"]
        assert outcome.detail["server"] == BASE and outcome.detail["plan"] == plan_key(sample_plan())

    with responses.RequestsMock(assert_all_requests_are_fired=False) as server:  # the next page load
        server.get(f"{BASE}/CarePlan", json=_search(_careplan(MINE, version="1")))
        server.get(f"{BASE}/Patient/{PATIENT}", status=503)   # the page itself may still fail: settled before
        client.get(f"https://localhost/p/{launch_id}/plan")
    with review_app.app_context():
        rows = [(e.phase, e.result, e.careplan_id) for e in audit_log().entries() if e.event == "saved"]
    assert rows[-1] == (RECONCILED, COMMITTED, "30")


# -- carepath audit reconcile -----------------------------------------------------------------------------------

def test_audit_reconcile__settles_the_rest_from_the_settings_database(tmp_path, monkeypatch, capsys):
    path = tmp_path / "elsewhere.sqlite3"
    audit = AuditLog(path)
    _unknown_save(audit, careplan_id="30", since="1", at="2020-06-01T10:00:00+00:00")
    monkeypatch.setenv("CAREPATH_AUDIT_DB", str(path))
    monkeypatch.setenv("CAREPATH_SMART_ALLOWED_ISS", json.dumps([BASE]))
    monkeypatch.setenv("CAREPATH_SMART_OPEN_SERVERS", json.dumps([BASE]))
    monkeypatch.setenv("CAREPATH_FHIR_RETRIES", "0")
    with responses.RequestsMock() as server:
        server.get(f"{BASE}/CarePlan/30", json=_careplan(THEIRS, version="2"))
        assert main(["audit", "reconcile", "--fhir-base", BASE]) == 0
    out = capsys.readouterr().out
    assert "entry 2 (2020-06-01T10:00:00+00:00, saved): not committed, CarePlan/30" in out
    assert "1 settled, 0 still unknown" in out
    assert main(["audit", "reconcile", "--fhir-base", BASE]) == 0
    assert "no unknown outcome to settle" in capsys.readouterr().out


def test_audit_reconcile__a_server_off_the_allow_list_is_refused_without_a_request(tmp_path, capsys):
    path = tmp_path / "a.sqlite3"
    _unknown_save(AuditLog(path))
    with responses.RequestsMock():
        assert main(["audit", "reconcile", "--db", str(path), "--fhir-base", "http://evil.test/fhir"]) == 2
    assert "evil.test" in capsys.readouterr().err
