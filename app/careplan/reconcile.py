"""Settling the writes whose outcome carepath could not find out, against the record, after the fact.

A save or a decision whose answer was lost and whose read-back failed too leaves an ``unknown`` outcome in the
audit log. Nothing is sent again on its own; instead, the next time the patient's plan is opened by a launch on
the same FHIR server (and ``carepath audit reconcile`` for the rest) each such entry is looked up:

- the CarePlan is the one the write named (an update, a decision), or the patient's CarePlan with the plan's
  identifier (a save of a new plan, recorded in the entry's ``plan``);
- the version this write produced is looked for by the request id stamped on it, version by version
  (:func:`app.careplan.marker.committed_version`): found, the write committed; not found, it did not (and a new
  plan whose identifier the record does not hold was never created);
- the finding is appended as a ``reconciled`` entry naming the entry it settles; the ``unknown`` one stays as it
  was written. A read that fails leaves the entry unsettled, for the next time.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from app.audit import AuditLog, Entry, Journal, unsettled
from app.careplan.delivery import COMMITTED, NOT_COMMITTED
from app.careplan.marker import committed_version
from app.careplan.writer import find_same_plan
from app.errors import FhirError
from app.fhir import FhirClient
from app.smart.discovery import normalize_base

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Settled:
    """What a later read found for one ``unknown`` outcome (``result`` None: still unknown, and why)."""

    entry: Entry
    result: str | None
    careplan_id: str | None = None
    version: str | None = None
    reason: str = ""


def pending(audit: AuditLog, *, server: str | None, patient_id: str | None = None,
            unlabelled: bool = False) -> list[Entry]:
    """The unsettled ``unknown`` outcomes of writes to ``server`` (one patient's, when given); with
    ``unlabelled``, also those written before carepath recorded the server."""
    wanted = normalize_base(server) if server else None
    found = []
    for entry in unsettled(audit.entries(patient_id)):
        written_to = entry.detail.get("server")
        if (written_to and wanted and normalize_base(str(written_to)) == wanted) or (unlabelled and not written_to):
            found.append(entry)
    return found


def settle(audit: AuditLog, client: FhirClient, entries: Iterable[Entry], *, absent_after: float = 0.0,
           now: datetime | None = None) -> list[Settled]:
    """Look each entry's write up in the record and append a ``reconciled`` entry for each one settled.

    A write the record does not hold is settled as ``not committed`` only once its entry is ``absent_after``
    seconds old: a request that timed out may still be landing on the server.
    """
    results = []
    every = audit.entries()
    now = now or datetime.now(UTC)
    for entry in entries:
        settled = _look_up(client, entry, _intent_of(every, entry))
        if settled.result == NOT_COMMITTED and _age(entry, now) < absent_after:
            settled = Settled(entry, None, settled.careplan_id, reason="too recent to say it never landed")
        if settled.result is not None:
            Journal.of(audit, entry).reconciled(settled.result, entry.seq, settled.careplan_id, settled.version)
        else:
            log.warning("write outcome still unknown", extra={"entry": entry.seq, "reason": settled.reason})
        results.append(settled)
    return results


def _age(entry: Entry, now: datetime) -> float:
    """Seconds since the entry was written (0 when its time cannot be read)."""
    try:
        written = datetime.fromisoformat(entry.at)
    except ValueError:
        return 0.0
    return (now - (written if written.tzinfo else written.replace(tzinfo=UTC))).total_seconds()


def _intent_of(entries: list[Entry], outcome: Entry) -> Entry | None:
    """The intent entry of the same write (same event and request id), written before the outcome."""
    request_id = outcome.detail.get("request")
    return next((entry for entry in reversed(entries) if entry.seq < outcome.seq and entry.phase == "intent"
                 and entry.event == outcome.event and entry.detail.get("request") == request_id), None)


def _look_up(client: FhirClient, entry: Entry, intent: Entry | None) -> Settled:
    request_id = entry.detail.get("request")
    if not isinstance(request_id, str) or not request_id:
        return Settled(entry, None, reason="the entry names no request id")
    careplan_id = entry.careplan_id or (intent.careplan_id if intent else None)
    # The version the write started from: versions after it are the only ones it can have produced.
    since = intent.careplan_version if intent and intent.careplan_id == careplan_id else None
    try:
        current = None
        if careplan_id is None:
            plan = entry.detail.get("plan")
            if not isinstance(plan, str) or not plan:
                return Settled(entry, None, reason="a new plan's save that names no plan identifier")
            current = find_same_plan(client, entry.patient_id, plan)
            if current is None:  # the plan was never created: the save did not commit
                return Settled(entry, NOT_COMMITTED)
            careplan_id = str(current["id"])
        version = committed_version(client, careplan_id, request_id, current, since=since)
    except FhirError as exc:
        return Settled(entry, None, careplan_id, reason=f"{type(exc).__name__}: {exc.message}")
    if version is None:
        return Settled(entry, NOT_COMMITTED, careplan_id)
    return Settled(entry, COMMITTED, careplan_id, str((version.get("meta") or {}).get("versionId") or "") or None)


def reconcile_command(args: Any) -> int:
    """``carepath audit reconcile``: settle the unknown outcomes of writes to one FHIR server against its record."""
    from app.audit import configured_path
    from app.cli_common import fail, settings, terminal_text
    from app.errors import CarepathError
    from app.smart.discovery import allowed_bases, check_iss
    from app.smart.errors import UnknownIssuer

    config = settings()
    path = configured_path(args.db, config)
    if not path.is_file():
        return fail("audit reconcile", f"no audit log at {path}")
    try:
        base = check_iss(args.fhir_base or config["FHIR_BASE_URL"], config["SMART_ALLOWED_ISS"])
    except UnknownIssuer as exc:
        return fail("audit reconcile", exc.message)
    audit = AuditLog(path)
    entries = pending(audit, server=base, patient_id=args.patient, unlabelled=args.unlabelled)
    if not entries:
        print(f"audit log {path}: no unknown outcome to settle for {base}")
        return 0
    try:
        token = refresh = None
        if base not in allowed_bases(config["SMART_OPEN_SERVERS"]):
            from app.cohort.auth import BackendServicesToken

            v1 = config.get("SMART_SCOPE_VERSION") == "v1"
            provider = BackendServicesToken(base, config.get_namespace("SMART_", lowercase=False),
                                            scope="system/CarePlan.read" if v1 else "system/CarePlan.rs")
            token, refresh = provider.token, provider.refresh
        client = FhirClient.from_config(config, base, token=token, on_unauthorized=refresh)
        results = settle(audit, client, entries, absent_after=args.min_age)
    except CarepathError as exc:
        return fail("audit reconcile", exc.message)
    for settled in results:
        where = f", CarePlan/{settled.careplan_id}" if settled.careplan_id else ""
        where += f" version {settled.version}" if settled.version else ""
        said = settled.result or f"still unknown ({settled.reason})"
        print(terminal_text(f"entry {settled.entry.seq} ({settled.entry.at}, {settled.entry.event}): {said}{where}"))
    left = sum(settled.result is None for settled in results)
    print(f"audit log {path}: {len(results) - left} settled, {left} still unknown")
    return 1 if left else 0
