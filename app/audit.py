"""The append-only audit log of plans generated, saved, approved and rejected (SQLite by default).

One row says who (a ``Practitioner/123``-style reference, never a name), when, which patient (id only),
which CarePlan id and version, and which pack versions. The database refuses UPDATE and DELETE by trigger,
so a row once written stays as written.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from flask import Flask, current_app

from app.errors import CarepathError

#: The actor recorded when the launch named no user (an open FHIR server).
UNKNOWN_ACTOR = "unknown"
EVENTS = ("generated", "saved", "approved", "rejected", "conflict")
_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS audit (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    event TEXT NOT NULL CHECK (event IN ({", ".join(repr(e) for e in EVENTS)})),
    actor TEXT NOT NULL,
    patient_id TEXT NOT NULL,
    careplan_id TEXT,
    careplan_version TEXT,
    packs TEXT NOT NULL
);
CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
"""


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


class AuditLog:
    """Append-only audit entries in one SQLite file."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        connection = self._connect()
        try:
            connection.executescript(_SCHEMA)
        finally:
            connection.close()

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=10, isolation_level=None)

    def record(self, event: str, *, actor: str, patient_id: str, packs: Iterable[str],
               careplan_id: str | None = None, careplan_version: str | None = None,
               at: str | None = None) -> None:
        """Append one entry; ``actor`` is a FHIR reference such as ``Practitioner/123``, never a name."""
        if event not in EVENTS:
            raise AuditError(f"unknown audit event {event!r}")
        if actor != UNKNOWN_ACTOR and (actor.count("/") < 1 or " " in actor):
            raise AuditError("the audit actor must be a FHIR reference (Type/id), not a name")
        actor = "/".join(actor.rstrip("/").split("/")[-2:])  # an absolute fhirUser URL keeps Type/id only
        at = at or datetime.now(UTC).isoformat(timespec="seconds")
        connection = self._connect()
        try:
            connection.execute(
                "INSERT INTO audit (at, event, actor, patient_id, careplan_id, careplan_version, packs) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (at, event, actor, patient_id, careplan_id, careplan_version, json.dumps(sorted(packs))),
            )
        except sqlite3.Error as exc:
            raise AuditError(f"audit entry not written: {exc}") from exc
        finally:
            connection.close()

    def entries(self, patient_id: str | None = None) -> list[Entry]:
        """Every entry (or one patient's), oldest first."""
        query = "SELECT seq, at, event, actor, patient_id, careplan_id, careplan_version, packs FROM audit"
        args: tuple[str, ...] = ()
        if patient_id is not None:
            query, args = query + " WHERE patient_id = ?", (patient_id,)
        connection = self._connect()
        try:
            rows = connection.execute(query + " ORDER BY seq", args).fetchall()
        finally:
            connection.close()
        return [Entry(*row[:7], tuple(json.loads(row[7]))) for row in rows]


def init_app(app: Flask) -> None:
    """Open the app's audit log (``AUDIT_DB``, default ``VAR_DIR/audit.sqlite3``) in ``app.extensions``."""
    path = app.config.get("AUDIT_DB") or Path(app.config["VAR_DIR"]) / "audit.sqlite3"
    app.extensions["carepath_audit"] = AuditLog(path)


def audit_log() -> AuditLog:
    """The current app's audit log, opened on first use."""
    if "carepath_audit" not in current_app.extensions:
        init_app(current_app)
    return current_app.extensions["carepath_audit"]
