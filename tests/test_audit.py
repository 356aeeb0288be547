"""The audit log: append-only (UPDATE and DELETE refused by the database), no names, no tokens."""

from __future__ import annotations

import sqlite3

import pytest

from app.audit import AuditError, AuditLog, Journal, audit_log
from app.cli import main

PACKS = ["http://carepath.dev/fhir/PlanDefinition/diabetes|2025.1"]


@pytest.fixture
def log(tmp_path):
    return AuditLog(tmp_path / "audit.sqlite3")


def test_audit__records_who_when_patient_careplan_and_packs(log):
    log.record("saved", actor="Practitioner/dr1", patient_id="p1", packs=PACKS, careplan_id="30",
               careplan_version="1", at="2020-06-01T10:00:00+00:00")
    log.record("approved", actor="Practitioner/dr1", patient_id="p1", packs=PACKS, careplan_id="30",
               careplan_version="2")
    log.record("generated", actor="Patient/p2", patient_id="p2", packs=PACKS)
    entries = log.entries("p1")
    assert [(e.event, e.careplan_id, e.careplan_version) for e in entries] == [("saved", "30", "1"),
                                                                               ("approved", "30", "2")]
    assert entries[0].at == "2020-06-01T10:00:00+00:00" and entries[0].packs == tuple(PACKS)
    assert len(log.entries()) == 3


@pytest.mark.parametrize("statement", [
    "UPDATE audit SET actor = 'Practitioner/other'",
    "DELETE FROM audit",
    "DELETE FROM audit WHERE seq = 1",
])
def test_audit__database_refuses_update_and_delete(log, statement):
    log.record("saved", actor="Practitioner/dr1", patient_id="p1", packs=PACKS, careplan_id="30")
    connection = sqlite3.connect(log.path)
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        connection.execute(statement)
    connection.close()
    assert len(log.entries()) == 1


@pytest.mark.parametrize(("event", "actor"), [
    ("deleted", "Practitioner/dr1"),
    ("saved", "Dr Jane Smith"),
    ("saved", "eyJhbGciOiJSUzI1NiJ9"),
])
def test_audit__refuses_unknown_events_and_names_as_actor(log, event, actor):
    with pytest.raises(AuditError):
        log.record(event, actor=actor, patient_id="p1", packs=PACKS)
    assert log.entries() == []


def test_audit__reopening_keeps_entries_and_triggers(tmp_path):
    AuditLog(tmp_path / "a.db").record("saved", actor="Practitioner/dr1", patient_id="p1", packs=PACKS)
    reopened = AuditLog(tmp_path / "a.db")
    assert len(reopened.entries()) == 1
    connection = sqlite3.connect(reopened.path)
    with pytest.raises(sqlite3.IntegrityError):
        connection.execute("DELETE FROM audit")
    connection.close()


def test_audit_log__lives_under_var_dir(app, tmp_path):
    with app.app_context():
        audit_log().record("generated", actor="Practitioner/dr1", patient_id="p1", packs=PACKS)
        assert audit_log().path == tmp_path / "audit.sqlite3"


@pytest.mark.parametrize(("actor", "stored"), [
    ("https://ehr.test/fhir/Practitioner/dr1", "Practitioner/dr1"),
    ("PractitionerRole/r1", "PractitionerRole/r1"),
    ("unknown", "unknown"),
])
def test_audit__actor_is_kept_as_a_relative_reference(log, actor, stored):
    log.record("generated", actor=actor, patient_id="p1", packs=PACKS)
    assert log.entries()[0].actor == stored


def _write_three(log):
    for event in ("generated", "saved", "approved"):
        log.record(event, actor="Practitioner/1", patient_id="p1", packs=["pack|1"], careplan_id="cp1")


def test_audit__insert_or_replace_of_a_written_row_is_refused(log):
    _write_three(log)
    connection = sqlite3.connect(log.path)
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        connection.execute("INSERT OR REPLACE INTO audit (seq, at, event, actor, patient_id, packs) "
                           "VALUES (2, '2020-01-01T00:00:00+00:00', 'rejected', 'Practitioner/9', 'p1', '[]')")
    connection.close()
    assert [e.event for e in log.entries()] == ["generated", "saved", "approved"]


def test_audit_verify__an_intact_chain_passes(log, capsys):
    _write_three(log)
    assert log.verify() == (3, 0, None)
    assert main(["audit", "verify", "--db", str(log.path)]) == 0
    assert "3 entries, hash chain intact" in capsys.readouterr().out


@pytest.mark.parametrize(("forgery", "named"), [
    # someone with the file drops the triggers, then rewrites, removes or replaces a row
    ("INSERT OR REPLACE INTO audit (seq, at, event, actor, patient_id, careplan_id, packs, hash) "
     "SELECT seq, at, 'rejected', actor, patient_id, careplan_id, packs, hash FROM audit WHERE seq = 2",
     "entry 2 "),
    ("UPDATE audit SET actor = 'Practitioner/9' WHERE seq = 3", "entry 3 "),
    ("DELETE FROM audit WHERE seq = 2", "entry 2 is missing"),
])
def test_audit_verify__names_the_first_broken_entry(log, capsys, forgery, named):
    _write_three(log)
    connection = sqlite3.connect(log.path, isolation_level=None)
    for trigger in ("audit_no_replace", "audit_no_update", "audit_no_delete"):
        connection.execute(f"DROP TRIGGER {trigger}")
    connection.execute(forgery)
    connection.close()
    problem = log.verify()[2]
    assert problem is not None and problem.startswith(named)
    assert main(["audit", "verify", "--db", str(log.path)]) == 1
    assert "BROKEN: " + named in capsys.readouterr().err


def test_audit__a_log_written_before_the_chain_is_kept_and_reported(tmp_path, capsys):
    path = tmp_path / "old.sqlite3"
    connection = sqlite3.connect(path, isolation_level=None)
    connection.executescript("""
        CREATE TABLE audit (seq INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL, event TEXT NOT NULL,
            actor TEXT NOT NULL, patient_id TEXT NOT NULL, careplan_id TEXT, careplan_version TEXT,
            packs TEXT NOT NULL);
        INSERT INTO audit (at, event, actor, patient_id, packs) VALUES ('2020-01-01', 'saved', 'Practitioner/1',
            'p1', '[]');""")
    connection.close()
    log = AuditLog(path)
    log.record("approved", actor="Practitioner/1", patient_id="p1", packs=[])
    assert log.verify() == (2, 1, None)
    assert main(["audit", "verify", "--db", str(path)]) == 0
    assert "(1 written before the chain began)" in capsys.readouterr().out


def test_journal__intent_then_outcome_in_the_chain_and_a_changed_outcome_is_found(log):
    journal = Journal(log, "saved", "Practitioner/dr1", "p1", tuple(PACKS), "f" * 32)
    journal.intent("30", "1")
    journal.outcome("committed", "30", "2", read_back=True)
    intent, outcome = log.entries()
    assert (intent.phase, outcome.phase, outcome.result) == ("intent", "outcome", "committed")
    assert intent.detail["request"] == outcome.detail["request"] == "f" * 32 and outcome.detail["read_back"]
    assert log.verify() == (2, 0, None)
    connection = sqlite3.connect(log.path, isolation_level=None)
    connection.execute("DROP TRIGGER audit_no_update")
    connection.execute("""UPDATE audit SET detail = replace(detail, '"committed"', '"not committed"') WHERE seq = 2""")
    connection.close()
    assert log.verify()[2].startswith("entry 2 ")


def test_journal__a_log_from_before_intent_rows_gains_them_and_still_verifies(tmp_path):
    path = tmp_path / "before.sqlite3"
    AuditLog(path).record("saved", actor="Practitioner/1", patient_id="p1", packs=[])
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("DROP TRIGGER audit_no_replace")  # a log as the previous version wrote it: no detail column
    connection.executescript("""
        CREATE TABLE old AS SELECT seq, at, event, actor, patient_id, careplan_id, careplan_version, packs, hash
            FROM audit;
        DROP TABLE audit; ALTER TABLE old RENAME TO audit;""")
    connection.close()
    log = AuditLog(path)
    Journal(log, "approved", "Practitioner/1", "p1", (), "e" * 32).intent("30", "1")
    assert log.verify() == (2, 0, None) and [e.phase for e in log.entries()] == [None, "intent"]
