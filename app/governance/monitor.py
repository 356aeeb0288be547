"""``carepath monitor``: per rule and pack version, how clinicians answered what the packs proposed.

Counted from the audit log, after its chain is verified (a broken chain is reported with the counts, never
hidden): ``generated`` rows name the rules a plan proposed; ``saved`` rows the rules not selected before saving;
``approved``/``rejected`` rows (their committed outcome) the rules accepted and rejected at approval, and which
rejections gave a reason (the reason's text stays on the CarePlan: the audit log keeps ids and codes only);
``cds-accepted``/``cds-overridden`` rows the rules behind a CDS card and the coded override reason. A rule whose
rate of rejections and overrides among its decisions is above the pack's review threshold (extension
``review-threshold`` on the Library, or on the rule's action) is flagged. No patient identifier is in the output.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from app.audit import RECONCILED, AuditLog, Entry
from app.engine.packs import read_pack_folder

THRESHOLD_URL = "http://carepath.dev/fhir/StructureDefinition/review-threshold"
NOT_SELECTED = "not selected before saving"
REJECTED_WITH_REASON, REJECTED_WITHOUT_REASON = "rejected at approval, reason given", "rejected at approval, no reason"


@dataclass
class RuleCounts:
    """One rule under one pack version."""

    rule: str
    version: str
    proposed: int = 0
    accepted: int = 0
    rejected: int = 0
    cds_accepted: int = 0
    overridden: int = 0
    rejection_reasons: dict[str, int] = field(default_factory=dict)
    override_reasons: dict[str, int] = field(default_factory=dict)

    @property
    def decisions(self) -> int:
        return self.accepted + self.rejected + self.cds_accepted + self.overridden

    @property
    def rate(self) -> float | None:
        """Rejections and overrides among the rule's decisions."""
        return round((self.rejected + self.overridden) / self.decisions, 4) if self.decisions else None


def thresholds(pack_dir: str | Path | None) -> tuple[float | None, dict[str, float]]:
    """(pack-wide review threshold, per-rule thresholds) set in a pack folder's Library and actions."""
    default, per_rule = None, {}
    for _file, resource in read_pack_folder(pack_dir):
        if resource.get("resourceType") == "Library":
            default = _threshold(resource)
        if resource.get("resourceType") == "PlanDefinition":
            stack = list(resource.get("action") or [])
            while stack:
                action = stack.pop()
                stack.extend(action.get("action") or [])
                value = _threshold(action)
                if value is not None and action.get("id"):
                    per_rule[action["id"]] = value
    return default, per_rule


def _threshold(element: Mapping[str, Any]) -> float | None:
    for extension in element.get("extension") or []:
        if extension.get("url") == THRESHOLD_URL and isinstance(extension.get("valueDecimal"), int | float):
            return float(extension["valueDecimal"])
    return None


def monitor(audit: AuditLog, *, since: date | None = None, pack_dir: str | Path | None = None,
            checkpoints: Iterable[tuple[str, str]] = ()) -> dict[str, Any]:
    """The monitor's document: the chain's verification, then per rule and pack version the counts and flags."""
    found = audit.check(checkpoints)
    rows: dict[tuple[str, str], RuleCounts] = {}
    monthly: dict[str, dict[tuple[str, str], RuleCounts]] = {}
    considered, first, last = 0, None, None
    for entry in audit.entries():
        if since is not None and entry.at[:10] < since.isoformat():
            continue
        counted = _count(entry, rows)
        if counted:
            _count(entry, monthly.setdefault(entry.at[:7], {}))  # the same counting, by calendar month (UTC)
            first, last = first or entry.at, entry.at
        considered += counted
    default, per_rule = thresholds(pack_dir)
    out = []
    for (rule, version), counts in sorted(rows.items()):
        threshold = per_rule.get(rule, default)
        rate = counts.rate
        out.append({"rule": rule, "packVersion": version, "proposed": counts.proposed,
                    "accepted": counts.accepted, "rejected": counts.rejected,
                    "cdsAccepted": counts.cds_accepted, "overridden": counts.overridden,
                    "rejectionReasons": counts.rejection_reasons, "overrideReasons": counts.override_reasons,
                    "rate": rate, "threshold": threshold,
                    "flagged": threshold is not None and rate is not None and rate > threshold,
                    "byMonth": {month: _numbers(counts_of[(rule, version)])
                                for month, counts_of in sorted(monthly.items()) if (rule, version) in counts_of}})
    return {"chain": {"intact": found.problem is None, "problem": found.problem, "entries": found.checked},
            "since": since.isoformat() if since else None, "entriesCounted": considered,
            "period": {"start": first, "end": last},
            "threshold": default, "rules": out, "flagged": [row["rule"] for row in out if row["flagged"]]}


def _numbers(counts: RuleCounts) -> dict[str, int]:
    return {"proposed": counts.proposed, "accepted": counts.accepted, "rejected": counts.rejected,
            "cdsAccepted": counts.cds_accepted, "overridden": counts.overridden}


def configured_monitor(config: Mapping[str, Any], audit: AuditLog, *, since: date | None = None,
                       pack_dir: str | Path | None = None) -> dict[str, Any]:
    """The monitor as ``carepath monitor`` and the ``/governance`` page compute it from the settings: the audit
    log checked against its checkpoint file, the review thresholds of ``pack_dir`` (default ``PACK_DIR``)."""
    from app.audit import file_checkpoints

    points = file_checkpoints(audit.checkpoints) if audit.checkpoints else []
    return monitor(audit, since=since, pack_dir=pack_dir or config.get("PACK_DIR") or None, checkpoints=points)


def _version(entry: Entry) -> str:
    versions = sorted({canonical.partition("|")[2] for canonical in entry.packs if "|" in canonical})
    return ",".join(versions) or "unknown"


def _row(rows: dict[tuple[str, str], RuleCounts], rule: str, version: str) -> RuleCounts:
    return rows.setdefault((rule, version), RuleCounts(rule, version))


def _count(entry: Entry, rows: dict[tuple[str, str], RuleCounts]) -> int:
    """Add one audit entry's decisions; returns 1 when it counted for something."""
    detail, version = entry.detail, _version(entry)
    if entry.event == "generated":
        for rule in detail.get("rules") or []:
            _row(rows, rule, version).proposed += 1
        return 1
    if entry.event in ("saved", "approved", "rejected") and not (
            entry.phase in ("outcome", RECONCILED) and entry.result == "committed"):
        return 0  # the intent of a write, or a write that did not reach the record
    if entry.event == "saved":
        for rule in detail.get("deselectedRules") or []:
            row = _row(rows, rule, version)
            row.rejected += 1
            row.rejection_reasons[NOT_SELECTED] = row.rejection_reasons.get(NOT_SELECTED, 0) + 1
        return 1
    if entry.event in ("approved", "rejected"):
        with_reason = set(detail.get("rejectedWithReason") or [])
        for rule in detail.get("acceptedRules") or []:
            _row(rows, rule, version).accepted += 1
        for rule in detail.get("rejectedRules") or []:
            row = _row(rows, rule, version)
            row.rejected += 1
            label = REJECTED_WITH_REASON if rule in with_reason else REJECTED_WITHOUT_REASON
            row.rejection_reasons[label] = row.rejection_reasons.get(label, 0) + 1
        return 1
    if entry.event in ("cds-accepted", "cds-overridden"):
        reason = detail.get("overrideReason") or {}
        label = str(reason.get("display") or reason.get("code") or "no reason given")
        for rule in detail.get("rules") or []:
            row = _row(rows, rule, version)
            if entry.event == "cds-accepted":
                row.cds_accepted += 1
            else:
                row.overridden += 1
                row.override_reasons[label] = row.override_reasons.get(label, 0) + 1
        return 1
    return 0


def render_html(document: Mapping[str, Any]) -> str:
    """The monitor as a static page (autoescaped)."""
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    from app.governance.report import TEMPLATES

    environment = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(default=True))
    return environment.get_template("governance/monitor.html").render(data=document)
