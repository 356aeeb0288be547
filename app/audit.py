"""The append-only audit log of plans generated, saved, approved and rejected (SQLite by default).

One row says who (a ``Practitioner/123``-style reference, never a name), when, which patient (id only),
which CarePlan id and version, and which pack versions. The database refuses UPDATE, DELETE and an INSERT
that would replace a row (``INSERT OR REPLACE`` fires no delete trigger) by trigger, so a row once written stays
as written; and each row carries a SHA-256 hash chained to the previous row's, so that a row rewritten by
other means (the file edited, the triggers dropped) is found by ``carepath audit verify``.

A write a clinician asks for (a save, an approval, a rejection) leaves two rows under the same event name: an
*intent* row before anything is sent to the FHIR server and an *outcome* row once carepath knows what the record
holds (``committed``, ``not committed``, ``conflict`` or ``unknown``, and whether a read-back settled it). Both
carry the request id stamped on the CarePlan (see :mod:`app.careplan.marker`), in the ``detail`` column. An
``unknown`` outcome is never edited: when a later read of the record settles it (at the next page load for the
patient, or ``carepath audit reconcile``), a third row, ``reconciled``, says what the record holds and which entry
it settles.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from flask import Flask, current_app

from app.errors import CarepathError

#: The actor recorded when the launch named no user (an open FHIR server).
UNKNOWN_ACTOR = "unknown"
#: The phase of an entry that settles an earlier ``unknown`` outcome (:mod:`app.careplan.reconcile`).
RECONCILED = "reconciled"
EVENTS = ("generated", "saved", "approved", "rejected", "conflict", "cds-accepted", "cds-overridden")
# The only value put into this SQL is EVENTS, constants of this module.
_TABLE = f"""
CREATE TABLE IF NOT EXISTS audit (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    event TEXT NOT NULL CHECK (event IN ({", ".join(repr(e) for e in EVENTS)})),
    actor TEXT NOT NULL,
    patient_id TEXT NOT NULL,
    careplan_id TEXT,
    careplan_version TEXT,
    packs TEXT NOT NULL,
    hash TEXT,
    detail TEXT
);
"""
_TRIGGERS = """
CREATE TRIGGER IF NOT EXISTS audit_no_replace BEFORE INSERT ON audit
WHEN EXISTS (SELECT 1 FROM audit WHERE seq = NEW.seq)
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
"""
_COLUMNS = "seq, at, event, actor, patient_id, careplan_id, careplan_version, packs, hash, detail"


class AuditError(CarepathError):
    """An audit entry could not be written (or was refused as malformed)."""

    title = "The audit log could not be written"


@dataclass(frozen=True)
class Entry:
    """One audit row."""

    seq: int
    at: str
    event: str
    actor: str
    patient_id: str
    careplan_id: str | None
    careplan_version: str | None
    packs: tuple[str, ...]
    #: For the intent and outcome rows of a write: ``phase``, ``request``, ``result``, ``read_back``; for CDS Hooks
    #: feedback: the card, its area and the override reason's code.
    detail: Mapping[str, Any] = field(default_factory=dict)

    @property
    def phase(self) -> str | None:
        """``intent``, ``outcome`` or ``reconciled`` for the rows of a write, else None."""
        return self.detail.get("phase")

    @property
    def result(self) -> str | None:
        """What an outcome row says became of the write (``committed``, ``not committed``...)."""
        return self.detail.get("result")


class AuditLog:
    """Append-only audit entries in one SQLite file."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        connection = self._connect()
        try:
            connection.executescript(_TABLE + _TRIGGERS)
            columns = {row[1] for row in connection.execute("PRAGMA table_info(audit)")}
            if "hash" not in columns:  # a log written before the chain: its rows are reported as unchained
                connection.execute("ALTER TABLE audit ADD COLUMN hash TEXT")
            if "detail" not in columns:
                connection.execute("ALTER TABLE audit ADD COLUMN detail TEXT")
            _allow_new_events(connection)
        finally:
            connection.close()

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=10, isolation_level=None)

    def record(self, event: str, *, actor: str, patient_id: str, packs: Iterable[str],
               careplan_id: str | None = None, careplan_version: str | None = None,
               at: str | None = None, detail: Mapping[str, Any] | None = None) -> None:
        """Append one entry; ``actor`` is a FHIR reference such as ``Practitioner/123``, never a name; ``detail``
        (codes and ids only, e.g. a CDS card's override reason) is kept as JSON and covered by the hash."""
        if event not in EVENTS:
            raise AuditError(f"unknown audit event {event!r}")
        if actor != UNKNOWN_ACTOR and (actor.count("/") < 1 or " " in actor):
            raise AuditError("the audit actor must be a FHIR reference (Type/id), not a name")
        actor = "/".join(actor.rstrip("/").split("/")[-2:])  # an absolute fhirUser URL keeps Type/id only
        at = at or datetime.now(UTC).isoformat(timespec="seconds")
        packs_text = json.dumps(sorted(packs))
        detail_text = json.dumps(dict(detail), sort_keys=True, separators=(",", ":")) if detail is not None else None
        connection = self._connect()
        try:
            # One writer at a time: the next sequence number and the previous hash are read in the transaction
            # that writes the row.
            connection.execute("BEGIN IMMEDIATE")
            last = connection.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
            seq = (last[0] + 1) if last else 1
            fields = (seq, at, event, actor, patient_id, careplan_id, careplan_version, packs_text)
            digest = entry_hash(last[1] if last else None, _hashed(fields, detail_text))
            connection.execute(
                f"INSERT INTO audit ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",  # noqa: S608 - constants
                (*fields, digest, detail_text),
            )
            connection.execute("COMMIT")
        except sqlite3.Error as exc:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            raise AuditError(f"audit entry not written: {exc}") from exc
        finally:
            connection.close()

    def verify(self) -> tuple[int, int, str | None]:
        """(rows checked, rows written before the chain, first problem or None): recomputes the hash chain."""
        connection = self._connect()
        try:
            rows = connection.execute("SELECT seq, at, event, actor, patient_id, careplan_id, careplan_version, "
                                      "packs, hash, detail FROM audit ORDER BY seq").fetchall()
        finally:
            connection.close()
        previous, unchained, expected_seq = None, 0, None
        for row in rows:
            *fields, stored, detail = row
            if stored is None and previous is None:
                unchained += 1  # written before this version kept a chain
                continue
            if expected_seq is not None and fields[0] != expected_seq:
                return len(rows), unchained, f"entry {expected_seq} is missing (next entry is {fields[0]})"
            if stored != entry_hash(previous, _hashed(tuple(fields), detail)):
                return len(rows), unchained, (f"entry {fields[0]} ({fields[1]}, {fields[2]}) does not match its "
                                              "hash: it or an earlier entry was changed")
            previous, expected_seq = stored, fields[0] + 1
        return len(rows), unchained, None

    def entries(self, patient_id: str | None = None) -> list[Entry]:
        """Every entry (or one patient's), oldest first."""
        query = "SELECT seq, at, event, actor, patient_id, careplan_id, careplan_version, packs, detail FROM audit"
        args: tuple[str, ...] = ()
        if patient_id is not None:
            query, args = query + " WHERE patient_id = ?", (patient_id,)
        connection = self._connect()
        try:
            rows = connection.execute(query + " ORDER BY seq", args).fetchall()
        finally:
            connection.close()
        return [Entry(*row[:7], tuple(json.loads(row[7])), json.loads(row[8]) if row[8] else {}) for row in rows]


@dataclass(frozen=True)
class Journal:
    """The intent and outcome rows of one write a clinician asked for, under one event and one request id."""

    log: AuditLog
    event: str
    actor: str
    patient_id: str
    packs: tuple[str, ...]
    request_id: str
    #: The FHIR base the write goes to, so that an ``unknown`` outcome can be settled against it later.
    server: str | None = None
    #: The plan's identifier (a save of a new plan has no CarePlan id yet: the reconciler finds it by this).
    plan: str | None = None

    def intent(self, careplan_id: str | None = None, version: str | None = None) -> None:
        """Record that the write is about to be sent (raises :class:`AuditError`: then nothing is sent)."""
        self._record(careplan_id, version, {"phase": "intent", "request": self.request_id})

    def outcome(self, result: str, careplan_id: str | None = None, version: str | None = None, *,
                read_back: bool = False) -> None:
        """Record what became of the write; ``read_back`` when a read of the record settled it."""
        self._record(careplan_id, version, {"phase": "outcome", "request": self.request_id, "result": result,
                                            "read_back": read_back})

    def reconciled(self, result: str, settles: int, careplan_id: str | None = None,
                   version: str | None = None) -> None:
        """Record what a later read of the record found for the ``unknown`` outcome in entry ``settles``."""
        self._record(careplan_id, version, {"phase": RECONCILED, "request": self.request_id, "result": result,
                                            "read_back": True, "settles": settles})

    def _record(self, careplan_id: str | None, version: str | None, detail: dict[str, Any]) -> None:
        where = {key: value for key, value in (("server", self.server), ("plan", self.plan)) if value}
        self.log.record(self.event, actor=self.actor, patient_id=self.patient_id, packs=self.packs,
                        careplan_id=careplan_id, careplan_version=version, detail={**detail, **where})

    @classmethod
    def of(cls, log: AuditLog, entry: Entry) -> Journal:
        """The journal of the write an entry belongs to (same event, actor, patient, packs and request)."""
        return cls(log, entry.event, entry.actor, entry.patient_id, entry.packs, str(entry.detail.get("request")),
                   server=entry.detail.get("server"), plan=entry.detail.get("plan"))


def unsettled(entries: Iterable[Entry]) -> list[Entry]:
    """The ``unknown`` outcome entries no later ``reconciled`` entry settles, oldest first."""
    entries = list(entries)
    settled = {entry.detail.get("settles") for entry in entries if entry.phase == RECONCILED}
    return [entry for entry in entries
            if entry.phase == "outcome" and entry.result == "unknown" and entry.seq not in settled]


def _hashed(fields: tuple, detail: str | None) -> tuple:
    """The fields a row's hash covers: ``detail`` only when present, so rows written before it keep their hash."""
    return fields if detail is None else (*fields, detail)


def _allow_new_events(connection: sqlite3.Connection) -> None:
    """Rebuild a log whose CHECK constraint predates an event of EVENTS (SQLite cannot alter a constraint): rows,
    sequence numbers and hashes are copied as they are, in one transaction."""
    row = connection.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'audit'").fetchone()
    sql = row[0] if row else ""
    if "CHECK" not in sql or all(repr(event) in sql for event in EVENTS):
        return
    connection.executescript(f"""
        BEGIN IMMEDIATE;
        DROP TRIGGER IF EXISTS audit_no_replace; DROP TRIGGER IF EXISTS audit_no_update;
        DROP TRIGGER IF EXISTS audit_no_delete;
        ALTER TABLE audit RENAME TO audit_before_upgrade;
        {_TABLE}
        INSERT INTO audit ({_COLUMNS}) SELECT {_COLUMNS} FROM audit_before_upgrade;
        DROP TABLE audit_before_upgrade;
        {_TRIGGERS}
        COMMIT;""")  # noqa: S608 - only this module's constants


def entry_hash(previous: str | None, fields: tuple) -> str:
    """SHA-256 of the previous row's hash and this row's fields (canonical JSON)."""
    material = json.dumps([previous or "", *fields], separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(material.encode("utf-8")).hexdigest()


def configured_path(db: str | None, config: Mapping[str, Any]) -> Path:
    """The audit log's file: ``db`` when given, else ``AUDIT_DB``, else ``VAR_DIR/audit.sqlite3``."""
    return Path(db or config.get("AUDIT_DB") or Path(config["VAR_DIR"]) / "audit.sqlite3")


def verify_command(args: Any) -> int:
    """``carepath audit verify``: check the hash chain, naming the first broken entry."""
    from app.cli_common import settings

    path = configured_path(args.db, settings())
    if not path.is_file():
        print(f"error: no audit log at {path}", file=sys.stderr)
        return 2
    checked, unchained, problem = AuditLog(path).verify()
    if problem:
        print(f"audit log {path}: BROKEN: {problem}", file=sys.stderr)
        return 1
    before = f" ({unchained} written before the chain began)" if unchained else ""
    print(f"audit log {path}: {checked} entries, hash chain intact{before}")
    return 0


def _reconcile_command(args: Any) -> int:
    from app.careplan.reconcile import reconcile_command

    return reconcile_command(args)


def add_audit_command(commands: Any) -> None:
    """Register ``carepath audit verify`` and ``carepath audit reconcile``."""
    audit = commands.add_parser("audit", help="check the audit log, settle unknown outcomes")
    actions = audit.add_subparsers(dest="audit_command", required=True)
    verify = actions.add_parser("verify", help="recompute the hash chain and name the first broken entry")
    verify.add_argument("--db", help="the audit SQLite file (default: CAREPATH_AUDIT_DB or VAR_DIR/audit.sqlite3)")
    verify.set_defaults(func=verify_command)
    reconcile = actions.add_parser(
        "reconcile", help="settle every 'unknown' write outcome against the FHIR server's record, appending what "
        "was found (committed or not) as a new entry")
    reconcile.add_argument("--db", help="the audit SQLite file (default: CAREPATH_AUDIT_DB or "
                           "VAR_DIR/audit.sqlite3)")
    reconcile.add_argument("--fhir-base", help="the FHIR server the writes went to (default: CAREPATH_FHIR_BASE_URL; "
                           "must be in SMART_ALLOWED_ISS; Backend Services unless in SMART_OPEN_SERVERS)")
    reconcile.add_argument("--patient", help="only this patient's entries (a FHIR id)")
    reconcile.add_argument("--unlabelled", action="store_true",
                           help="also entries written before carepath recorded the server (checked against "
                           "--fhir-base: use only when every write went to it)")
    reconcile.add_argument("--min-age", type=float, default=300.0,
                           help="seconds an entry must be old before 'not committed' is settled: a write that "
                           "timed out may still land (default: %(default)s)")
    reconcile.set_defaults(func=_reconcile_command)


def init_app(app: Flask) -> None:
    """Open the app's audit log (``AUDIT_DB``, default ``VAR_DIR/audit.sqlite3``) in ``app.extensions``."""
    path = app.config.get("AUDIT_DB") or Path(app.config["VAR_DIR"]) / "audit.sqlite3"
    app.extensions["carepath_audit"] = AuditLog(path)


def audit_log() -> AuditLog:
    """The current app's audit log, opened on first use."""
    if "carepath_audit" not in current_app.extensions:
        init_app(current_app)
    return current_app.extensions["carepath_audit"]
