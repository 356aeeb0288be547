"""The audit log: append-only (UPDATE and DELETE refused by the database), no names, no tokens; keyed with a
secret the database does not hold, with signed checkpoints outside it, and ``audit verify`` finding each rewrite."""

from __future__ import annotations

import hashlib
import json
import sqlite3

import pytest
import responses

from app import create_app
from app.audit import (
    DEVELOPMENT_KEY,
    AuditError,
    AuditKey,
    AuditLog,
    Journal,
    append_checkpoint,
    audit_log,
    checkpoint,
    entry_hash,
    file_checkpoints,
    keyed_hash,
)
from app.audit_checkpoints import TAG, audit_event
from app.cli import main
from app.errors import ConfigError

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
    assert "\n  1 written before the chain began\n" in capsys.readouterr().out


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


# -- a log whoever holds the database file cannot rewrite unnoticed -----------------------------------------------

KEY = AuditKey(b"a-long-random-audit-key-for-tests")


@pytest.fixture
def keyed(tmp_path):
    return AuditLog(tmp_path / "keyed.sqlite3", key=KEY, checkpoints=tmp_path / "checkpoints.jsonl")


def _tamper(path, *statements):
    """What someone with the file can do: drop the triggers, then change rows as they like."""
    connection = sqlite3.connect(path, isolation_level=None)
    for trigger in ("audit_no_replace", "audit_no_update", "audit_no_delete"):
        connection.execute(f"DROP TRIGGER IF EXISTS {trigger}")
    for statement in statements:
        connection.execute(statement)
    connection.close()


def _recompute(path, hasher):
    """Rewrite every row's hash as ``hasher(previous, fields)`` would: a chain recomputed after an edit."""
    connection = sqlite3.connect(path, isolation_level=None)
    for trigger in ("audit_no_replace", "audit_no_update", "audit_no_delete"):
        connection.execute(f"DROP TRIGGER IF EXISTS {trigger}")
    previous = None
    for row in connection.execute("SELECT seq, at, event, actor, patient_id, careplan_id, careplan_version, packs, "
                                  "detail FROM audit ORDER BY seq").fetchall():
        fields, detail = row[:8], row[8]
        previous = hasher(previous, fields if detail is None else (*fields, detail))
        connection.execute("UPDATE audit SET hash = ? WHERE seq = ?", (previous, row[0]))
    connection.close()


def test_audit__entries_are_keyed_and_each_leaves_a_signed_checkpoint(keyed):
    _write_three(keyed)
    connection = sqlite3.connect(keyed.path)
    hashes = [row[0] for row in connection.execute("SELECT hash FROM audit ORDER BY seq")]
    connection.close()
    assert all(h.startswith(f"hmac-sha256:{KEY.id}:") for h in hashes)
    points = [json.loads(line) for _where, line in file_checkpoints(keyed.checkpoints)]
    assert [(p["seq"], p["hash"]) for p in points] == [(1, hashes[0]), (2, hashes[1]), (3, hashes[2])]
    assert b"a-long-random" not in keyed.path.read_bytes()  # the database does not hold the key
    found = keyed.check(file_checkpoints(keyed.checkpoints))
    assert (found.keyed, found.problem, found.checkpoint) == (3, None, 3)


def test_audit_verify__null_hashes_are_a_break(keyed):
    _write_three(keyed)
    _tamper(keyed.path, "UPDATE audit SET actor = 'Practitioner/9' WHERE seq = 2", "UPDATE audit SET hash = NULL")
    problem = keyed.check().problem
    assert problem is not None and "no entry carries a hash" in problem
    _write_three(keyed)  # the log goes on: the NULL entries now look like a log from before the chain...
    problem = keyed.check(file_checkpoints(keyed.checkpoints)).problem
    assert problem.startswith("entry 1 differs from checkpoint checkpoints.jsonl:1")  # ...but the checkpoints tell


def test_audit_verify__a_null_hash_after_the_first_hashed_entry_is_a_break(keyed):
    _write_three(keyed)
    _tamper(keyed.path, "UPDATE audit SET hash = NULL WHERE seq >= 2")
    assert keyed.check().problem.startswith("entry 2 (") and "has no hash (NULL)" in keyed.check().problem


def test_audit_verify__a_cut_tail_is_found_by_the_checkpoints(keyed, capsys):
    _write_three(keyed)
    _tamper(keyed.path, "DELETE FROM audit WHERE seq = 3")
    assert keyed.check().problem is None  # the chain alone cannot tell
    problem = keyed.check(file_checkpoints(keyed.checkpoints)).problem
    assert problem.startswith("the log ends at entry 2, but checkpoint checkpoints.jsonl:3")
    assert "cut from the end" in problem


@pytest.mark.parametrize(("hasher", "named"), [
    # the edit, then the chain recomputed with a key guessed wrong but named as this one
    (lambda previous, fields: f"hmac-sha256:{KEY.id}:" + hashlib.sha256(repr((previous, fields)).encode())
     .hexdigest(), "does not match its hash"),
    # ... with another key of one's own
    (lambda previous, fields: keyed_hash(AuditKey(b"guess"), previous, fields), "keyed with another key"),
    # ... as an unkeyed SHA-256 chain, the way a log from before the key looks: only the checkpoints tell
    (entry_hash, "differs from checkpoint"),
])
def test_audit_verify__a_chain_recomputed_without_the_key_is_found(keyed, hasher, named):
    _write_three(keyed)
    _tamper(keyed.path, "UPDATE audit SET event = 'rejected' WHERE seq = 3")
    _recompute(keyed.path, hasher)
    problem = keyed.check(file_checkpoints(keyed.checkpoints)).problem
    assert problem is not None and named in problem


def test_audit_verify__a_forged_checkpoint_is_found(keyed):
    _write_three(keyed)
    forged = {**checkpoint(AuditKey(b"guess"), 9, "x"), "key": KEY.id}
    append_checkpoint(keyed.checkpoints, forged)
    assert "is not signed by this key" in keyed.check(file_checkpoints(keyed.checkpoints)).problem


def test_audit_verify__an_unkeyed_entry_after_keyed_ones_is_a_break(keyed):
    _write_three(keyed)
    previous = keyed.head()[1]
    fields = (4, "2020-01-01T00:00:00+00:00", "saved", "Practitioner/9", "p1", None, None, "[]")
    _tamper(keyed.path)
    connection = sqlite3.connect(keyed.path, isolation_level=None)
    connection.execute("INSERT INTO audit (seq, at, event, actor, patient_id, careplan_id, careplan_version, packs, "
                       "hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", (*fields, entry_hash(previous, fields)))
    connection.close()
    assert "is not keyed though entries before it are" in keyed.check().problem


def test_audit_verify__a_log_from_before_the_key_still_verifies_and_says_what_is_only_hash_chained(tmp_path, capsys):
    path = tmp_path / "old.sqlite3"
    AuditLog(path).record("saved", actor="Practitioner/1", patient_id="p1", packs=[])
    _recompute(path, entry_hash)  # as the version before the key wrote it: SHA-256 only
    log = AuditLog(path, key=KEY)
    log.record("approved", actor="Practitioner/1", patient_id="p1", packs=[])
    found = log.check()
    assert (found.hash_only, found.keyed, found.problem) == (1, 1, None)
    with pytest.MonkeyPatch.context() as env:
        env.setenv("CAREPATH_AUDIT_KEY", KEY.secret.decode())
        assert main(["audit", "verify", "--db", str(path)]) == 0
    out = capsys.readouterr().out
    assert "1 written before the key was introduced: only hash-chained (SHA-256)" in out
    assert f"1 keyed with CAREPATH_AUDIT_KEY (key id {KEY.id})" in out


def test_audit_verify__reads_the_log_and_checkpoints_the_settings_name(tmp_path, monkeypatch, capsys):
    var = tmp_path / "var"
    monkeypatch.setenv("CAREPATH_VAR_DIR", str(var))
    monkeypatch.setenv("CAREPATH_AUDIT_KEY", KEY.secret.decode())
    log = AuditLog(var / "audit.sqlite3", key=KEY, checkpoints=var / "audit-checkpoints.jsonl")
    _write_three(log)
    assert main(["audit", "verify"]) == 0
    out = capsys.readouterr().out
    assert f"audit log {var / 'audit.sqlite3'}: 3 entries" in out and "checkpoints agree (newest names entry 3" in out
    elsewhere = tmp_path / "elsewhere.sqlite3"
    monkeypatch.setenv("CAREPATH_AUDIT_DB", str(elsewhere))
    assert main(["audit", "verify"]) == 2
    assert str(elsewhere) in capsys.readouterr().err
    _tamper(var / "audit.sqlite3", "DELETE FROM audit WHERE seq = 3")
    monkeypatch.delenv("CAREPATH_AUDIT_DB")
    assert main(["audit", "verify"]) == 1
    assert "cut from the end" in capsys.readouterr().err


def test_audit_verify__without_the_key_says_the_development_key_is_no_secret(log, capsys):
    _write_three(log)
    assert main(["audit", "verify", "--db", str(log.path)]) == 0
    assert "3 keyed with the DEVELOPMENT key (no secret" in capsys.readouterr().out


def test_audit_verify__with_another_key_than_the_log_was_written_with_is_a_break(log, monkeypatch, capsys):
    _write_three(log)  # keyed with the development key
    monkeypatch.setenv("CAREPATH_AUDIT_KEY", KEY.secret.decode())
    assert main(["audit", "verify", "--db", str(log.path)]) == 1
    assert "set CAREPATH_AUDIT_KEY to the key the log was written with" in capsys.readouterr().err


@pytest.mark.parametrize("key", ["", DEVELOPMENT_KEY])
def test_create_app__production_refuses_to_start_without_an_audit_key(tmp_path, key):
    with pytest.raises(ConfigError, match="CAREPATH_AUDIT_KEY"):
        create_app({"ENV": "production", "SECRET_KEY": "x" * 40, "SMART_OPEN_SERVERS": [], "AUDIT_KEY": key,
                    "VAR_DIR": str(tmp_path)})


def test_audit_log__the_app_keys_with_its_setting_and_checkpoints_under_var_dir(tmp_path):
    app = create_app({"TESTING": True, "SECRET_KEY": "t", "VAR_DIR": str(tmp_path), "AUDIT_KEY": "k" * 40})
    with app.app_context():
        audit_log().record("generated", actor="Practitioner/dr1", patient_id="p1", packs=PACKS)
        assert audit_log().key == AuditKey(b"k" * 40) and not audit_log().key.development
    assert len(file_checkpoints(tmp_path / "audit-checkpoints.jsonl")) == 1


CHECKPOINT_FHIR = "http://audit.test/fhir"


@responses.activate
def test_audit_checkpoint__to_the_fhir_server_as_an_audit_event_and_read_back_by_verify(keyed, monkeypatch, capsys):
    _write_three(keyed)
    for name, value in (("AUDIT_DB", str(keyed.path)), ("AUDIT_CHECKPOINT_FILE", str(keyed.checkpoints)),
                        ("AUDIT_KEY", KEY.secret.decode()), ("AUDIT_CHECKPOINT_FHIR_BASE_URL", CHECKPOINT_FHIR),
                        ("SMART_OPEN_SERVERS", json.dumps([CHECKPOINT_FHIR])), ("FHIR_RETRIES", "0")):
        monkeypatch.setenv(f"CAREPATH_{name}", value)
    responses.post(f"{CHECKPOINT_FHIR}/AuditEvent", status=201, json={"resourceType": "AuditEvent", "id": "a1"},
                   headers={"Location": f"{CHECKPOINT_FHIR}/AuditEvent/a1/_history/1"})
    assert main(["audit", "checkpoint"]) == 0
    event = json.loads(responses.calls[0].request.body)
    assert event["resourceType"] == "AuditEvent" and event["meta"]["tag"] == [TAG]
    assert event["source"]["observer"] and event["agent"][0]["requestor"] is False
    stored = json.loads(event["entity"][0]["detail"][0]["valueString"])
    assert (stored["seq"], stored["hash"]) == (3, keyed.head()[1])

    # Someone with the host cuts the log's tail and the checkpoint file; the FHIR server still has the head.
    _tamper(keyed.path, "DELETE FROM audit WHERE seq = 3")
    keyed.checkpoints.write_text("")
    responses.get(f"{CHECKPOINT_FHIR}/AuditEvent", json={"resourceType": "Bundle", "type": "searchset",
                                                         "entry": [{"resource": {**event, "id": "a1"}}]})
    assert main(["audit", "verify"]) == 1
    err = capsys.readouterr().err
    assert "checkpoint AuditEvent/a1" in err and "cut from the end" in err
    assert responses.calls[-1].request.url.startswith(f"{CHECKPOINT_FHIR}/AuditEvent?_tag=")


def test_audit_event__is_a_valid_r4_shape():
    event = audit_event(checkpoint(KEY, 1, "h", at="2020-01-01T00:00:00+00:00"))
    for required in ("type", "recorded", "agent", "source"):
        assert event[required]
    assert event["recorded"] == "2020-01-01T00:00:00+00:00" and event["action"] == "E"
