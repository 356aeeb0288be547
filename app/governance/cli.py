"""``carepath governance report`` and ``carepath pack sign-off``: the committee's commands."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from app.cli_common import fail, iso_date, terminal_text
from app.errors import CarepathError, PackError


def add_governance_command(commands: Any) -> None:
    """Register ``governance report`` on an argparse subparsers object."""
    governance = commands.add_parser("governance", help="what a proposed pack version changes, for sign-off")
    actions = governance.add_subparsers(dest="governance_command", required=True)
    report = actions.add_parser("report", help="changes, conformance and panel impact of a proposed pack version "
                                               "(OUT/governance.json and OUT/governance.html)")
    report.add_argument("--current", required=True, type=Path, help="the pack folder in use")
    report.add_argument("--proposed", required=True, type=Path, help="the pack folder proposed")
    report.add_argument("--deck", type=Path, default=None,
                        help="a published eCQM test deck: conformance of both versions (sign-off needs it)")
    report.add_argument("--ndjson", type=Path, default=None,
                        help="a Bulk Data export folder: patients whose plan changes (cohort diff, Spark)")
    report.add_argument("--master", default=None, help="with --ndjson: Spark master (default: local[*])")
    report.add_argument("--as-of", required=True, type=iso_date, help="evaluation date, YYYY-MM-DD")
    report.add_argument("--out", required=True, type=Path, help="report folder")
    report.set_defaults(func=run_report_command)


def add_monitor_command(commands: Any) -> None:
    """Register ``monitor`` on an argparse subparsers object."""
    command = commands.add_parser("monitor", help="per rule and pack version: proposed, accepted, rejected and "
                                                  "overridden, from the verified audit log")
    command.add_argument("--db", default=None, help="the audit SQLite file (default: CAREPATH_AUDIT_DB or "
                         "VAR_DIR/audit.sqlite3)")
    command.add_argument("--since", type=iso_date, default=None, help="only entries from this date, YYYY-MM-DD")
    command.add_argument("--format", choices=("json", "html", "measurereport"), default="json",
                         help="output (default: json; measurereport: a FHIR R4 MeasureReport, type summary)")
    command.add_argument("--packs", type=Path, default=None,
                         help="the pack folder whose review thresholds apply (default: CAREPATH_PACK_DIR)")
    command.add_argument("--out", type=Path, default=None, help="write to this file (default: stdout)")
    command.set_defaults(func=run_monitor_command)


def run_monitor_command(args: argparse.Namespace) -> int:
    """Print or write the monitor; exit 0, 1 when the audit chain is broken (the counts are still shown)."""
    import json

    from app.audit import configured_path, open_log
    from app.cli_common import settings
    from app.governance.measure import measure_report
    from app.governance.monitor import configured_monitor, render_html

    config = settings()
    if not configured_path(args.db, config).is_file():
        return fail("monitor", f"no audit log at {configured_path(args.db, config)}")
    try:
        document = configured_monitor(config, open_log(config, args.db), since=args.since, pack_dir=args.packs)
    except PackError as exc:
        return fail("monitor", f"invalid guideline pack:\n{exc.message}")
    if args.format == "html":
        text = render_html(document)
    else:
        text = json.dumps(measure_report(document) if args.format == "measurereport" else document, indent=2) + "\n"
    if args.out:
        args.out.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    if not document["chain"]["intact"]:
        print(terminal_text(f"audit log BROKEN: {document['chain']['problem']}"), file=sys.stderr)
        return 1
    return 0


def add_sign_off_command(actions: Any) -> None:
    """Register ``pack sign-off`` on the ``pack`` subparsers."""
    sign = actions.add_parser("sign-off", help="record a reviewer's sign-off of a governance report; once "
                              "CAREPATH_GOVERNANCE_REVIEWERS reviewers have signed, mark the pack version active")
    sign.add_argument("folder", type=Path, help="the proposed pack folder the report was made for")
    sign.add_argument("--report", required=True, type=Path, help="OUT/governance.json")
    sign.add_argument("--reviewer", required=True, help="the reviewer, as a FHIR reference (Practitioner/123)")
    sign.add_argument("--fhir-base", default=None,
                      help="once active, publish the pack and a Provenance naming the reviewers to this FHIR server")
    sign.add_argument("--db", default=None, help="the audit SQLite file (default: CAREPATH_AUDIT_DB or "
                      "VAR_DIR/audit.sqlite3)")
    sign.add_argument("--date", type=iso_date, default=None, help="the approval date (default: today)")
    sign.add_argument("--retire", type=Path, default=None,
                      help="the folder of the active version this one replaces: retired when this one becomes active")
    sign.set_defaults(func=run_sign_off_command)


def run_report_command(args: argparse.Namespace) -> int:
    """Build and write the report; exit 0, or 2 when a pack, the deck or the export cannot be used."""
    from app.cli_common import settings
    from app.conformance import DeckError, ReviewError
    from app.governance.report import build_report, record_report, summary_lines, write_governance_report

    def spark() -> Any:
        from app.cohort.spark import spark_session

        return spark_session(args.master)

    try:
        report = build_report(args.current, args.proposed, args.as_of, deck=args.deck, ndjson=args.ndjson,
                              spark=spark, out=args.out)
    except PackError as exc:
        return fail("governance report", f"invalid guideline pack:\n{exc.message}")
    except (DeckError, ReviewError, FileNotFoundError, CarepathError) as exc:
        return fail("governance report", str(exc))
    paths = write_governance_report(report, args.out)
    print("\n".join(summary_lines(report)))
    print(f"report: {paths['html']} and {paths['json']}")
    try:
        index = record_report(settings()["VAR_DIR"], report, paths["json"])
    except OSError as exc:
        print(terminal_text(f"warning: the report was not recorded for the draft preview ({exc})"), file=sys.stderr)
    else:
        print(f"recorded as the latest report (the draft preview's default): {index}")
    return 0


def run_sign_off_command(args: argparse.Namespace) -> int:
    """Record the sign-off; exit 0 (recorded, maybe activated), 1 (refused) or 2 (input unusable)."""
    from app.audit import open_log
    from app.cli_common import settings
    from app.governance.signoff import SignOffRefused, read_report, sign_off

    config = settings()
    try:
        report = read_report(args.report)
        outcome = sign_off(args.folder, report, args.reviewer, open_log(config, args.db),
                           required=int(config.get("GOVERNANCE_REVIEWERS") or 2), on=args.date,
                           fhir_base=args.fhir_base, config=config, retire=args.retire)
    except SignOffRefused as exc:
        print(terminal_text(f"sign-off refused: {exc.message}"), file=sys.stderr)
        return 1
    except PackError as exc:
        return fail("pack sign-off", f"invalid guideline pack:\n{exc.message}")
    except CarepathError as exc:
        return fail("pack sign-off", exc.message)
    print("\n".join(outcome.lines()))
    return 0
