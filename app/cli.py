"""The ``carepath`` command: ``load`` sample data into a FHIR server, and the offline tools."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from app import config as default_config


def _load(args: argparse.Namespace) -> int:
    """Upload bundles into a FHIR server, idempotently, reporting each failure."""
    from app.fhir import FhirClient
    from app.loader import load_paths

    client = FhirClient(args.fhir_base, timeout=args.timeout)
    paths = args.paths or default_config.SAMPLE_DATA
    report = load_paths(client, paths, progress=not args.quiet)
    for failure in report.failures:
        print(f"FAILED {failure.path}: {failure.message}", file=sys.stderr)
        for issue in failure.issues:
            print(f"    {issue}", file=sys.stderr)
    print(report.summary())
    return 1 if report.failures else 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    parser = argparse.ArgumentParser(prog="carepath", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    load = commands.add_parser("load", help="upload FHIR bundles (default: the sample patients) into a FHIR server")
    load.add_argument("paths", nargs="*", help="bundle files or folders (default: sample patients + fhir_fixtures)")
    load.add_argument("--fhir-base", default=default_config.FHIR_BASE_URL, help="FHIR base URL (default: %(default)s)")
    load.add_argument("--timeout", type=float, default=300.0, help="seconds per bundle (default: %(default)s)")
    load.add_argument("--quiet", action="store_true", help="no progress bar")
    load.set_defaults(func=_load)

    from app.context.cli import add_facts_command

    add_facts_command(commands)

    from app.engine.cli import add_engine_commands

    add_engine_commands(commands)

    from app.audit import add_audit_command

    add_audit_command(commands)

    from app.cohort.cli import add_cohort_commands

    add_cohort_commands(commands)

    from app.conformance.cli import add_conformance_command

    add_conformance_command(commands)

    from app.governance.cli import add_governance_command, add_monitor_command

    add_governance_command(commands)
    add_monitor_command(commands)

    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``carepath`` command."""
    from app import logs

    logs.configure("WARNING", "text")
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
