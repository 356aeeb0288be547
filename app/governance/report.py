"""``governance.json`` and ``governance.html``: what a proposed pack version changes, for the committee.

The report puts side by side, for a current and a proposed pack folder: the content hash of every file of both
(sign-off refuses a report made for other files), what changed rule by rule with the citations behind each
change (:mod:`app.governance.changes`), the conformance run of both versions on a published test deck and the
difference (the harness of :mod:`app.conformance`, called, never copied), and the panel impact (``cohort diff``:
patients whose plan changes, by rule, with counts). The HTML page is static and autoescaped. Each report written by
the command is recorded in ``VAR_DIR/governance/reports.json`` (newest last): the draft preview falls back on the
latest one's proposed folder.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape

from app.cache import replace_atomically
from app.conformance import load_review, review_folder, run_changes, run_conformance, write_report
from app.conformance.run import pack_digest
from app.engine.packs import load_pack_set
from app.governance.changes import content_hashes, pack_changes

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
REPORT_KIND = "carepath-governance-report"
#: How many reports the index (``VAR_DIR/governance/reports.json``) keeps.
INDEX_LIMIT = 50


def build_report(current: str | Path, proposed: str | Path, as_of: date, *, deck: str | Path | None = None,
                 ndjson: str | Path | None = None, spark: Callable[[], Any] | None = None,
                 out: str | Path | None = None) -> dict[str, Any]:
    """The governance report of ``proposed`` against ``current``; ``deck`` adds conformance, ``ndjson`` (with a
    ``spark`` session factory) adds the panel impact. Both packs are loaded (checked) first: a broken pack
    raises PackError before any work. ``out`` keeps the full conformance reports and the diff's patients."""
    packs = {side: load_pack_set(folder) for side, folder in (("current", current), ("proposed", proposed))}
    report: dict[str, Any] = {
        "kind": REPORT_KIND, "asOf": as_of.isoformat(),
        "generated": datetime.now(UTC).isoformat(timespec="seconds"),
        **{side: {"folder": str(folder), "packDigest": pack_digest(folder), "packs": packs[side].packs,
                  "files": content_hashes(folder)}
           for side, folder in (("current", current), ("proposed", proposed))},
        "changes": pack_changes(current, proposed),
        "conformance": None, "panel": None,
    }
    if deck is not None:
        report["conformance"] = _conformance(deck, {"current": current, "proposed": proposed}, packs, out)
    if ndjson is not None:
        if spark is None:
            raise ValueError("the panel impact (ndjson) needs a Spark session")
        report["panel"] = _panel(spark(), ndjson, as_of, current, proposed, out)
    return report


def _conformance(deck: str | Path, folders: dict[str, str | Path], packs: dict[str, Any],
                 out: str | Path | None) -> dict[str, Any]:
    """Each version through the deck, judged against its own reviewed files, and what changed between them."""
    documents = {}
    proposed_review = load_review(review_folder(folders["proposed"]))
    if proposed_review.not_applicable:  # no published measure covers the pack: said, reviewed, nothing to run
        return {"deck": str(deck), "status": "not-applicable", "reason": proposed_review.not_applicable,
                "failures": [], "knownDefects": 0, "defectsByCause": [], "overall": {}, "packDigest": {},
                "difference": {}}
    for side, folder in folders.items():
        result = run_conformance(deck, packs[side], load_review(review_folder(folder)), pack_dir=folder)
        if out is not None:
            write_report(result, Path(out) / "conformance" / side)
        documents[side] = result.to_dict()
    proposed = documents["proposed"]
    return {"deck": proposed["deck"], "status": proposed["status"], "failures": proposed["failures"],
            "knownDefects": proposed["summary"]["knownDefects"],
            "defectsByCause": proposed["summary"]["defectsByCause"],
            "overall": {side: documents[side]["summary"]["overall"] for side in documents},
            "packDigest": {side: documents[side]["packDigest"] for side in documents},
            "difference": run_changes(documents["current"], proposed)}


def _panel(spark: Any, ndjson: str | Path, as_of: date, current: str | Path, proposed: str | Path,
           out: str | Path | None) -> dict[str, Any]:
    """``cohort diff`` of the panel between the two versions, with the changes grouped by rule."""
    import tempfile

    from app.cohort.diff import SECTIONS, run_diff

    with tempfile.TemporaryDirectory(prefix="carepath-governance-") as scratch:
        target = Path(out) / "cohort-diff" if out is not None else Path(scratch)
        summary = run_diff(spark, ndjson, as_of, current, proposed, target)
    by_rule: dict[str, dict[str, Any]] = {}
    for change in summary["changes"]:
        row = by_rule.setdefault(change["id"], {"id": change["id"], "title": change["title"], "changes": []})
        row["changes"].append({"section": SECTIONS.get(change["section"], change["section"]),
                               "change": change["change"], "patients": change["patients"]})
    rules = sorted(by_rule.values(), key=lambda row: (-max(c["patients"] for c in row["changes"]), row["id"]))
    return {"patients": summary["patients"], "patientsChanged": summary["patients_changed"],
            "compared": summary["compared"], "sections": summary["sections"], "byRule": rules,
            "inputProblems": summary["input_problems"]}


def write_governance_report(report: dict[str, Any], out: str | Path) -> dict[str, Path]:
    """Write ``governance.json`` and ``governance.html`` into ``out``; returns their paths."""
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {"json": folder / "governance.json", "html": folder / "governance.html"}
    paths["json"].write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    paths["html"].write_text(render_html(report), encoding="utf-8")
    return paths


def reports_index(var_dir: str | Path) -> Path:
    """Where ``carepath governance report`` records the reports it wrote: ``VAR_DIR/governance/reports.json``."""
    return Path(var_dir) / "governance" / "reports.json"


def recorded_reports(var_dir: str | Path) -> list[dict[str, Any]]:
    """The reports ``governance report`` recorded, oldest first ([] when none, or the index is unreadable)."""
    try:
        entries = json.loads(reports_index(var_dir).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    return [entry for entry in entries if isinstance(entry, dict) and entry.get("report") and entry.get("proposed")] \
        if isinstance(entries, list) else []


def latest_report(var_dir: str | Path) -> dict[str, Any] | None:
    """The most recent report recorded in ``var_dir``, or None."""
    entries = recorded_reports(var_dir)
    return entries[-1] if entries else None


def record_report(var_dir: str | Path, report: dict[str, Any], written: Path) -> Path:
    """Add the report written at ``written`` (its ``governance.json``) to the index, newest last (a report written
    again to the same place moves to the end; the last ``INDEX_LIMIT`` are kept); the absolute paths, so that the
    app finds the proposed folder whatever its working directory. Returns the index's path."""
    index = reports_index(var_dir)
    entry = {"report": str(written.resolve()), "proposed": str(Path(report["proposed"]["folder"]).resolve()),
             "proposedDigest": report["proposed"]["packDigest"],
             "versions": sorted({str(pack.get("version")) for pack in report["proposed"].get("packs") or []}),
             "recorded": datetime.now(UTC).isoformat(timespec="seconds")}
    entries = [old for old in recorded_reports(var_dir) if old.get("report") != entry["report"]]
    entries = [*entries, entry][-INDEX_LIMIT:]
    text = json.dumps(entries, indent=2, ensure_ascii=False) + "\n"
    replace_atomically(index, lambda out: out.write(text.encode("utf-8")))  # whole or not at all: the app reads it
    return index


def render_html(report: dict[str, Any]) -> str:
    """The page of a ``governance.json`` document (autoescaped: pack texts and expressions are never markup)."""
    environment = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(default=True))
    return environment.get_template("governance/report.html").render(report=report, changes=report["changes"])


def summary_lines(report: dict[str, Any]) -> list[str]:
    """The few lines ``carepath governance report`` prints."""
    counts = report["changes"]["counts"]
    lines = ["changes: " + "; ".join(f"{name} {c['added']} added, {c['removed']} removed, {c['changed']} changed"
                                     for name, c in counts.items())]
    conformance = report.get("conformance")
    if conformance and conformance.get("status") == "not-applicable":
        lines.append(f"conformance: not applicable ({conformance['reason']})")
    elif conformance:
        overall = conformance["overall"]
        lines.append(f"conformance of the proposed version: {conformance['status']}, "
                     f"{conformance['knownDefects']} known defects, agreement "
                     f"{overall['current']['agreement']} -> {overall['proposed']['agreement']}, "
                     f"{len(conformance['difference']['changed'])} cases change")
    else:
        lines.append("conformance: not run (no --deck); sign-off needs it")
    if report.get("panel"):
        lines.append(f"panel: {report['panel']['patientsChanged']} of {report['panel']['patients']} patients' "
                     "plans change")
    return lines
