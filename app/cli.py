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


#: Which module registers each subcommand (module, function names): only the chosen command's module is imported,
#: so `carepath plan` does not pay for Flask, Spark or the FHIR client's imports (benchmarks/cli_startup.py).
REGISTRARS: dict[str, tuple[str, tuple[str, ...]]] = {
    "facts": ("app.context.cli", ("add_facts_command",)),
    "plan": ("app.engine.cli", ("add_engine_commands",)),
    "explain": ("app.engine.cli", ("add_engine_commands",)),
    "pack": ("app.engine.cli", ("add_engine_commands",)),
    "audit": ("app.audit", ("add_audit_command",)),
    "cohort": ("app.cohort.cli", ("add_cohort_commands",)),
    "conformance": ("app.conformance.cli", ("add_conformance_command",)),
    "governance": ("app.governance.cli", ("add_governance_command",)),
    "monitor": ("app.governance.cli", ("add_monitor_command",)),
}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The argument parser with every subcommand, or (``command``) with the one it names registered in full and
    the others listed by name only."""
    import importlib

    parser = argparse.ArgumentParser(prog="carepath", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    load = commands.add_parser("load", help="upload FHIR bundles (default: the sample patients) into a FHIR server")
    load.add_argument("paths", nargs="*", help="bundle files or folders (default: sample patients + fhir_fixtures)")
    load.add_argument("--fhir-base", default=default_config.FHIR_BASE_URL, help="FHIR base URL (default: %(default)s)")
    load.add_argument("--timeout", type=float, default=300.0, help="seconds per bundle (default: %(default)s)")
    load.add_argument("--quiet", action="store_true", help="no progress bar")
    load.set_defaults(func=_load)

    done: set[tuple[str, str]] = set()
    for name, (module, functions) in REGISTRARS.items():
        if command is not None and name != command:
            continue
        for function in functions:
            if (module, function) not in done:
                done.add((module, function))
                getattr(importlib.import_module(module), function)(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``carepath`` command."""
    from app import logs

    logs.configure("WARNING", "text")
    arguments = list(sys.argv[1:] if argv is None else argv)
    chosen = arguments[0] if arguments and arguments[0] in REGISTRARS else None
    args = build_parser(chosen).parse_args(arguments)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
