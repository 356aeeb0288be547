"""The append-only audit log of plans generated, saved, approved and rejected (SQLite by default).

One row says who (a ``Practitioner/123``-style reference, never a name), when, which patient (id only),
which CarePlan id and version, and which pack versions. The database refuses UPDATE, DELETE and an INSERT
that would replace a row (``INSERT OR REPLACE`` fires no delete trigger) by trigger, so a row once written stays
as written. Against someone who can write the file itself (drop the triggers, edit, recompute), three more layers,
each checked by ``carepath audit verify``:

- each row carries a hash chained to the previous row's: an HMAC-SHA256 keyed with ``AUDIT_KEY``, a secret the
  database does not hold (``hmac-sha256:<key id>:<hex>``), so a row edited, or a chain recomputed, without the key
  does not match; rows written before the key are SHA-256 only (plain hex) and reported as such, and a row that is
  not keyed after one that is, or has no hash at all (NULL) after the first hashed row, is a break;
- after each row, a checkpoint of the chain head (``seq``, ``hash``, time), signed with the same key, is appended
  to a file outside the database (``AUDIT_CHECKPOINT_FILE``): a log that ends before a checkpoint's entry has lost
  its tail, and an entry whose hash differs from a checkpoint's was rewritten, even by someone who recomputed the
  whole chain;
- ``carepath audit checkpoint`` also writes the head to a FHIR server as an ``AuditEvent``
  (``AUDIT_CHECKPOINT_FHIR_BASE_URL``), out of reach of whoever holds the host.

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
import hmac
import json
import logging
import os
import sqlite3
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from flask import Flask, current_app

from app.errors import CarepathError

log = logging.getLogger(__name__)
#: The key used when ``AUDIT_KEY`` is empty outside production: it is no secret, and ``audit verify`` says so.
DEVELOPMENT_KEY = "carepath-development-audit-key-not-a-secret"
_KEYED = "hmac-sha256"
#: The actor recorded when the launch named no user (an open FHIR server).
UNKNOWN_ACTOR = "unknown"
#: The phase of an entry that settles an earlier ``unknown`` outcome (:mod:`app.careplan.reconcile`).
RECONCILED = "reconciled"
#: ``signed-off`` and ``pack-activated`` are the governance of pack versions (:mod:`app.governance.signoff`): their
#: ``patient_id`` is empty; ``previewed`` is a reviewer opening a patient's plan under a draft pack version.
EVENTS = ("generated", "saved", "approved", "rejected", "conflict", "cds-accepted", "cds-overridden", "signed-off",
          "pack-activated", "previewed")
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


@dataclass(frozen=True)
class AuditKey:
    """The secret that keys the chain and signs the checkpoints (``AUDIT_KEY``), kept out of the database."""

    secret: bytes = field(repr=False)
    #: True for :data:`DEVELOPMENT_KEY` (no secret: anyone can recompute a chain keyed with it).
    development: bool = False

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> AuditKey:
        """``AUDIT_KEY``, or the labelled development key when it is empty (production refuses to start so)."""
        secret = str(config.get("AUDIT_KEY") or "")
        if not secret or secret == DEVELOPMENT_KEY:
            return cls(DEVELOPMENT_KEY.encode(), development=True)
        return cls(secret.encode("utf-8"))

    @property
    def id(self) -> str:
        """A short fingerprint naming the key in each hash (says which key, not the key)."""
        return hmac.new(self.secret, b"carepath audit key id", hashlib.sha256).hexdigest()[:12]

    def sign(self, material: str) -> str:
        """HMAC-SHA256 of ``material``, hex."""
        return hmac.new(self.secret, material.encode("utf-8"), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Verification:
    """What ``audit verify`` found: counts of each kind of entry, the first problem, and what was checked."""

    checked: int
    #: Entries written before the chain began (no hash).
    unchained: int = 0
    #: Entries written before the key was introduced (SHA-256 chain only: a recomputed chain passes them).
    hash_only: int = 0
    keyed: int = 0
    problem: str | None = None
    #: The newest checkpoint's entry checked against the log, or None when there was none.
    checkpoint: int | None = None
    notes: tuple[str, ...] = ()


class AuditLog:
    """Append-only audit entries in one SQLite file, keyed with ``key``; each entry's checkpoint goes to
    ``checkpoints`` (a file outside the database) when given."""

    def __init__(self, path: str | Path, *, key: AuditKey | None = None, checkpoints: str | Path | None = None,
                 ) -> None:
        self.path = Path(path)
        self.key = key or AuditKey(DEVELOPMENT_KEY.encode(), development=True)
        self.checkpoints = Path(checkpoints) if checkpoints else None
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
            digest = keyed_hash(self.key, last[1] if last else None, _hashed(fields, detail_text))
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
        if self.checkpoints is not None:
            try:
                append_checkpoint(self.checkpoints, checkpoint(self.key, seq, digest))
            except OSError as exc:  # the entry stands; verify will say the checkpoints stop short of it
                log.error("audit checkpoint not written", extra={"path": str(self.checkpoints),
                                                                 "reason": exc.strerror or str(exc)})

    def head(self) -> tuple[int, str] | None:
        """(seq, hash) of the newest entry, or None for an empty log."""
        connection = self._connect()
        try:
            row = connection.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
        finally:
            connection.close()
        return (row[0], row[1] or "") if row else None

    def verify(self) -> tuple[int, int, str | None]:
        """(rows checked, rows written before the chain, first problem or None): :meth:`check`, in short."""
        found = self.check()
        return found.checked, found.unchained, found.problem

    def check(self, checkpoints: Iterable[tuple[str, str]] = ()) -> Verification:
        """Recompute the chain with this log's key, then hold it against ``checkpoints`` ((where, JSON line)
        pairs: the checkpoint file's lines, AuditEvents read back)."""
        connection = self._connect()
        try:
            rows = connection.execute(f"SELECT {_COLUMNS} FROM audit ORDER BY seq").fetchall()  # noqa: S608
        finally:
            connection.close()
        chain = _Chain(self.key)
        for row in rows:
            if chain.add(row):
                break
        problem = chain.problem
        if problem is None and rows and not chain.hashes:
            problem = (f"no entry carries a hash (all {len(rows)}): written before the chain began, or every hash "
                       "was removed")
        checked_at, notes = None, []
        if problem is None:
            checked_at, problem, notes = _hold_against(self.key, chain.hashes, rows[-1][0] if rows else 0,
                                                       checkpoints)
        return Verification(len(rows), chain.unchained, chain.hash_only, chain.keyed, problem, checked_at,
                            tuple(notes))

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
    #: What the write decides, as ids only (e.g. an approval's rules accepted and rejected), on every row.
    items: Mapping[str, Any] = field(default_factory=dict)

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
        where.update(self.items)
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
    """SHA-256 of the previous row's hash and this row's fields (canonical JSON): rows written before the key."""
    return hashlib.sha256(_material(previous, fields).encode("utf-8")).hexdigest()


def keyed_hash(key: AuditKey, previous: str | None, fields: tuple) -> str:
    """``hmac-sha256:<key id>:<hex>``: the HMAC of the previous row's hash and this row's fields."""
    return f"{_KEYED}:{key.id}:{key.sign(_material(previous, fields))}"


def _material(previous: str | None, fields: tuple) -> str:
    return json.dumps([previous or "", *fields], separators=(",", ":"), ensure_ascii=False)


class _Chain:
    """The chain recomputed row by row; ``problem`` is the first break."""

    def __init__(self, key: AuditKey) -> None:
        self.key = key
        self.previous: str | None = None
        self.expected_seq: int | None = None
        self.unchained = self.hash_only = self.keyed = 0
        #: seq -> stored hash of every hashed row.
        self.hashes: dict[int, str] = {}
        self.problem: str | None = None

    def add(self, row: tuple) -> bool:
        """Check one row; True when it breaks the chain."""
        *fields, stored, detail = row
        seq = fields[0]
        if self.expected_seq is not None and seq != self.expected_seq:
            return self._broken(f"entry {self.expected_seq} is missing (next entry is {seq})")
        if stored is None:
            if self.hashes or detail is not None:
                # Only rows written before the chain (which had no detail either) are without a hash.
                return self._broken(f"entry {seq} ({fields[1]}, {fields[2]}) has no hash (NULL): the chain is "
                                    "broken there")
            self.unchained += 1
            self.expected_seq = seq + 1
            return False
        material = _hashed(tuple(fields), detail)
        if stored.startswith(f"{_KEYED}:"):
            key_id = stored.split(":")[1] if stored.count(":") >= 2 else ""
            if key_id != self.key.id:
                return self._broken(f"entry {seq} is keyed with another key (id {key_id or '?'}; this key is "
                                    f"{self.key.id}): set CAREPATH_AUDIT_KEY to the key the log was written with, "
                                    "or the entry was forged")
            expected = keyed_hash(self.key, self.previous, material)
            self.keyed += 1
        else:
            if self.keyed:
                return self._broken(f"entry {seq} ({fields[1]}, {fields[2]}) is not keyed though entries before it "
                                    "are: it was rewritten without the key")
            expected = entry_hash(self.previous, material)
            self.hash_only += 1
        if not hmac.compare_digest(stored, expected):
            return self._broken(f"entry {seq} ({fields[1]}, {fields[2]}) does not match its hash: it or an earlier "
                                "entry was changed, or the chain was recomputed without the key")
        self.previous, self.expected_seq, self.hashes[seq] = stored, seq + 1, stored
        return False

    def _broken(self, problem: str) -> bool:
        self.problem = problem
        return True


# -- checkpoints of the chain head, kept outside the database ------------------------------------------------------

def checkpoint(key: AuditKey, seq: int, digest: str, at: str | None = None) -> dict[str, Any]:
    """A signed checkpoint: the chain's head entry and hash at a time, and the key's id."""
    body = {"seq": seq, "hash": digest, "at": at or datetime.now(UTC).isoformat(timespec="seconds"), "key": key.id}
    return {**body, "sig": key.sign(_checkpoint_material(body))}


def _checkpoint_material(body: Mapping[str, Any]) -> str:
    fields = {name: body.get(name) for name in ("seq", "hash", "at", "key")}
    return "checkpoint:" + json.dumps(fields, sort_keys=True, separators=(",", ":"))


def append_checkpoint(path: Path, point: Mapping[str, Any]) -> None:
    """Append one checkpoint as a JSON line (one ``write`` in append mode: lines of several workers never mix)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    line = (json.dumps(dict(point), sort_keys=True, separators=(",", ":")) + "\n").encode("utf-8")
    descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(descriptor, line)
    finally:
        os.close(descriptor)


def file_checkpoints(path: Path) -> list[tuple[str, str]]:
    """(``file:line``, text) of each line of a checkpoint file ([] when there is none)."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return []
    return [(f"{path.name}:{number}", line) for number, line in enumerate(text.splitlines(), 1) if line.strip()]


def _hold_against(key: AuditKey, hashes: Mapping[int, str], last_seq: int, checkpoints: Iterable[tuple[str, str]],
                  ) -> tuple[int | None, str | None, list[str]]:
    """(newest checkpoint entry checked, first problem, notes): every checkpoint signed with this key must name an
    entry the log holds, with the same hash."""
    newest: int | None = None
    other_keys: set[str] = set()
    for where, text in checkpoints:
        try:
            point = json.loads(text)
            seq, digest, signature = int(point["seq"]), str(point["hash"]), str(point["sig"])
        except (ValueError, TypeError, KeyError):
            return newest, f"checkpoint {where} cannot be read: it was damaged", []
        if point.get("key") != key.id:
            other_keys.add(str(point.get("key")))
            continue
        if not hmac.compare_digest(signature, key.sign(_checkpoint_material(point))):
            return newest, f"checkpoint {where} is not signed by this key: it was forged or altered", []
        if seq > last_seq:
            return newest, (f"the log ends at entry {last_seq}, but checkpoint {where} ({point.get('at')}) names "
                            f"entry {seq}: entries were cut from the end"), []
        if not hmac.compare_digest(hashes.get(seq, ""), digest):
            return newest, (f"entry {seq} differs from checkpoint {where} ({point.get('at')}): the entry was "
                            "rewritten, or the chain was recomputed"), []
        newest = max(newest or 0, seq)
    notes = [f"checkpoints signed with another key were not checked (key ids: {', '.join(sorted(other_keys))})"] \
        if other_keys else []
    return newest, None, notes


def configured_path(db: str | None, config: Mapping[str, Any]) -> Path:
    """The audit log's file: ``db`` when given, else ``AUDIT_DB``, else ``VAR_DIR/audit.sqlite3``."""
    return Path(db or config.get("AUDIT_DB") or Path(config["VAR_DIR"]) / "audit.sqlite3")


def checkpoint_path(config: Mapping[str, Any]) -> Path:
    """The checkpoint file: ``AUDIT_CHECKPOINT_FILE``, else ``VAR_DIR/audit-checkpoints.jsonl``."""
    return Path(config.get("AUDIT_CHECKPOINT_FILE") or Path(config["VAR_DIR"]) / "audit-checkpoints.jsonl")


def open_log(config: Mapping[str, Any], db: str | None = None, checkpoints: str | None = None) -> AuditLog:
    """The audit log the settings name, with its key and its checkpoint file. A log named by ``db`` takes its
    checkpoints from ``checkpoints`` or ``AUDIT_CHECKPOINT_FILE`` only: the var dir's file is another log's."""
    if checkpoints or not db:
        points: Path | None = Path(checkpoints) if checkpoints else checkpoint_path(config)
    else:
        points = Path(config["AUDIT_CHECKPOINT_FILE"]) if config.get("AUDIT_CHECKPOINT_FILE") else None
    return AuditLog(configured_path(db, config), key=AuditKey.from_config(config), checkpoints=points)


def verify_command(args: Any) -> int:
    """``carepath audit verify``: check the chain, its key and its checkpoints, naming the first break."""
    from app.cli_common import settings, terminal_text

    config = settings()
    path = configured_path(args.db, config)
    if not path.is_file():
        print(f"error: no audit log at {path}", file=sys.stderr)
        return 2
    audit = open_log(config, args.db, args.checkpoints)
    points = file_checkpoints(audit.checkpoints) if audit.checkpoints else []
    fhir_base = config.get("AUDIT_CHECKPOINT_FHIR_BASE_URL")
    if fhir_base:
        from app.audit_checkpoints import fhir_checkpoints

        try:
            points += fhir_checkpoints(config, fhir_base)
        except CarepathError as exc:
            print(terminal_text(f"audit log {path}: BROKEN: the checkpoints on {fhir_base} could not be read: "
                                f"{exc.message}"), file=sys.stderr)
            return 1
    found = audit.check(points)
    if found.problem:
        print(terminal_text(f"audit log {path}: BROKEN: {found.problem}"), file=sys.stderr)
        return 1
    print(f"audit log {path}: {found.checked} entries, hash chain intact")
    for line in _verification_lines(found, audit):
        print(f"  {line}")
    return 0


def _verification_lines(found: Verification, audit: AuditLog) -> list[str]:
    """What an intact chain's check covered, and what it could not."""
    lines = []
    if found.keyed:
        key = "the DEVELOPMENT key (no secret: anyone can recompute these)" if audit.key.development else \
            f"CAREPATH_AUDIT_KEY (key id {audit.key.id})"
        lines.append(f"{found.keyed} keyed with {key}")
    if found.hash_only:
        lines.append(f"{found.hash_only} written before the key was introduced: only hash-chained (SHA-256), so "
                     "a recomputed chain is not detected there")
    if found.unchained:
        lines.append(f"{found.unchained} written before the chain began")
    if found.checkpoint is not None:
        lines.append(f"checkpoints agree (newest names entry {found.checkpoint} of {found.checked}; "
                     f"{audit.checkpoints or 'no file'})")
    else:
        lines.append("no checkpoint signed with this key: a cut tail or a recomputed chain cannot be detected")
    return lines + list(found.notes)


def checkpoint_command(args: Any) -> int:
    """``carepath audit checkpoint``: sign the chain head now, to the checkpoint file and (when configured) to a
    FHIR server as an AuditEvent."""
    from app.cli_common import fail, settings

    config = settings()
    path = configured_path(args.db, config)
    if not path.is_file():
        return fail("audit checkpoint", f"no audit log at {path}")
    audit = open_log(config, args.db, args.checkpoints)
    head = audit.head()
    if head is None:
        return fail("audit checkpoint", f"the audit log {path} is empty")
    point = checkpoint(audit.key, *head)
    if audit.checkpoints:
        append_checkpoint(audit.checkpoints, point)
        print(f"checkpoint of entry {head[0]} written to {audit.checkpoints}")
    fhir_base = config.get("AUDIT_CHECKPOINT_FHIR_BASE_URL")
    if fhir_base:
        from app.audit_checkpoints import write_audit_event

        try:
            reference = write_audit_event(config, fhir_base, point)
        except CarepathError as exc:
            return fail("audit checkpoint", f"the checkpoint was not written to {fhir_base}: {exc.message}")
        print(f"checkpoint of entry {head[0]} written to {fhir_base} as {reference}")
    return 0


def _reconcile_command(args: Any) -> int:
    from app.careplan.reconcile import reconcile_command

    return reconcile_command(args)


def add_audit_command(commands: Any) -> None:
    """Register ``carepath audit verify`` and ``carepath audit reconcile``."""
    audit = commands.add_parser("audit", help="check the audit log, settle unknown outcomes")
    actions = audit.add_subparsers(dest="audit_command", required=True)
    verify = actions.add_parser("verify", help="recompute the keyed hash chain (CAREPATH_AUDIT_KEY), hold it "
                                "against the signed checkpoints (CAREPATH_AUDIT_CHECKPOINT_FILE, and the FHIR server's "
                                "when CAREPATH_AUDIT_CHECKPOINT_FHIR_BASE_URL is set), name the first break")
    verify.add_argument("--db", help="the audit SQLite file (default: CAREPATH_AUDIT_DB or VAR_DIR/audit.sqlite3)")
    verify.add_argument("--checkpoints", help="the checkpoint file (default: CAREPATH_AUDIT_CHECKPOINT_FILE, else "
                        "VAR_DIR/audit-checkpoints.jsonl unless --db names another log)")
    verify.set_defaults(func=verify_command)
    point = actions.add_parser("checkpoint", help="sign the chain head now: to the checkpoint file and, when "
                               "CAREPATH_AUDIT_CHECKPOINT_FHIR_BASE_URL is set, to that FHIR server as an AuditEvent")
    point.add_argument("--db", help="the audit SQLite file (default: CAREPATH_AUDIT_DB or VAR_DIR/audit.sqlite3)")
    point.add_argument("--checkpoints", help="the checkpoint file (default: as for verify)")
    point.set_defaults(func=checkpoint_command)
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
    """Open the app's audit log (``AUDIT_DB``, default ``VAR_DIR/audit.sqlite3``, keyed with ``AUDIT_KEY``,
    checkpoints to ``AUDIT_CHECKPOINT_FILE``) in ``app.extensions``."""
    app.extensions["carepath_audit"] = open_log(app.config)


def audit_log() -> AuditLog:
    """The current app's audit log, opened on first use."""
    if "carepath_audit" not in current_app.extensions:
        init_app(current_app)
    return current_app.extensions["carepath_audit"]
