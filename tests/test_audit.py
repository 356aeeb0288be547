"""The audit log: append-only (UPDATE and DELETE refused by the database), no names, no tokens."""

from __future__ import annotations

import sqlite3

import pytest

from app.audit import AuditError, AuditLog, audit_log

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
