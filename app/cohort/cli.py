"""``carepath cohort export | run | diff | generate``: population mode on the command line.

Settings are read as the app reads them (``app.config`` defaults, then ``CAREPATH_*`` variables): the export's
FHIR base must be in ``SMART_ALLOWED_ISS``; a base listed in ``SMART_OPEN_SERVERS`` is read without a token,
any other with a SMART Backend Services token (``SMART_CLIENT_TYPE=confidential-asymmetric``).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from app.cli_common import fail, iso_date, terminal_text
from app.cli_common import settings as cli_settings
from app.errors import CarepathError, PackError


def add_cohort_commands(commands: Any) -> None:
    """Register ``cohort`` and its subcommands on an argparse subparsers object."""
    cohort = commands.add_parser("cohort", help="population mode: Bulk Data export, plans for a panel on Spark")
    actions = cohort.add_subparsers(dest="cohort_command", required=True)

    export = actions.add_parser("export", help="FHIR Bulk Data $export into a folder of ndjson (resumable)")
    export.add_argument("--fhir-base", required=True, help="FHIR base URL (must be in SMART_ALLOWED_ISS)")
    export.add_argument("--out", required=True, type=Path, help="folder for the ndjson files and export-state.json")
    export.add_argument("--level", default="system", help="system (default), Patient, or Group/<id>")
    export.add_argument("--type", dest="types", default=None,
                        help="comma-separated resource types (default: the types carepath reads)")
    export.add_argument("--since", default=None, help="only resources changed since this instant (_since)")
    export.add_argument("--allow-files", action="append", default=[], metavar="PREFIX",
                        help="also download output files under this URL prefix (repeatable)")
    export.add_argument("--scope", default=None, help="Backend Services scope (default: system/*.rs, v1: .read)")
    export.add_argument("--max-poll", type=float, default=120.0, help="longest wait between polls, s")
    export.add_argument("--timeout", type=float, default=3600.0, help="give up polling after this many seconds")
    export.add_argument("--quiet", action="store_true", help="no progress bar")
    export.set_defaults(func=_export)

    run = actions.add_parser("run", help="every patient's plan on Spark; plans, activities, outreach, report")
    _input_arguments(run)
    run.add_argument("--out", required=True, type=Path, help="output folder")
    run.add_argument("--pack", default=None, help="pack folders separated by commas (default: every bundled pack, "
                     "packs/primary-care and packs/pediatric, as carepath plan)")
    run.add_argument("--capacity", action="append", default=[], metavar="KIND=N/month",
                     help="activities a month one kind of work can take on (labs, screenings, exams, referrals, "
                          "visits, counselling), to spread the overdue backlog in the forecast (repeatable)")
    run.set_defaults(func=_run)

    diff = actions.add_parser("diff", help="patients whose plan changes between two pack versions")
    _input_arguments(diff)
    diff.add_argument("--pack-a", required=True, type=Path, help="pack folder, before")
    diff.add_argument("--pack-b", required=True, type=Path, help="pack folder, after")
    diff.add_argument("--out", type=Path, default=Path("cohort-diff"), help="output folder (default: %(default)s)")
    diff.set_defaults(func=_diff)

    pack = actions.add_parser("pack", help="pack carepath's environment and code for a cluster's executors, and "
                                           "print the spark-submit options that ship them")
    pack.add_argument("--out", type=Path, default=None,
                      help="folder for the archives (default: VAR_DIR/cohort/ship, where run and diff cache them)")
    pack.set_defaults(func=_pack)

    generate = actions.add_parser("generate", help="N synthetic patients from the Synthea bundles, as ndjson")
    generate.add_argument("--n", required=True, type=int, help="number of patients")
    generate.add_argument("--out", required=True, type=Path, help="output folder")
    generate.add_argument("--source", type=Path, default=None, help="folder of Synthea bundles (default: shared)")
    generate.add_argument("--seed", type=int, default=17, help="random seed (default: %(default)s)")
    generate.add_argument("--per-chunk", type=int, default=1000, help="patients per chunk folder")
    generate.add_argument("--quiet", action="store_true", help="no progress bar")
    generate.set_defaults(func=_generate)


def _input_arguments(command: argparse.ArgumentParser) -> None:
    command.add_argument("--ndjson", required=True, type=Path,
                         help="folder of ndjson (a Bulk Data export) and/or of Bundle .json files")
    command.add_argument("--as-of", required=True, type=iso_date, help="evaluation date, YYYY-MM-DD")
    command.add_argument("--master", default=None, help="Spark master (default: local[*], or spark-submit's)")
    command.add_argument("--partitions", type=int, default=None, help="shuffle partitions (default: by size)")
    command.add_argument("--no-ship", dest="ship", action="store_false",
                         help="on a cluster, do not ship carepath's environment and code to the executors (their "
                              "Python already has carepath installed)")


def settings() -> Any:
    """carepath's settings as the app sees them (a flask.Config): defaults, then CAREPATH_* variables."""
    return cli_settings()


def _export(args: argparse.Namespace) -> int:
    from app.cohort.auth import BackendServicesToken
    from app.cohort.export import ExportOptions, bulk_export
    from app.context.resources import USED_TYPES
    from app.fhir import FhirClient
    from app.smart.discovery import allowed_bases, check_iss
    from app.smart.errors import UnknownIssuer

    config = settings()
    try:
        base = check_iss(args.fhir_base, config["SMART_ALLOWED_ISS"])
    except UnknownIssuer as exc:
        return fail("cohort export", exc.message)
    token = refresh = None
    try:
        if base not in allowed_bases(config["SMART_OPEN_SERVERS"]):
            v1 = config.get("SMART_SCOPE_VERSION") == "v1"
            provider = BackendServicesToken(base, config.get_namespace("SMART_", lowercase=False),
                                            scope=args.scope or ("system/*.read" if v1 else "system/*.rs"))
            token, refresh = provider.token, provider.refresh
        client = FhirClient.from_config(config, base, token=token, on_unauthorized=refresh)
        types = tuple(t for t in (args.types or ",".join(sorted(USED_TYPES))).split(",") if t)
        options = ExportOptions(level=args.level, types=types, since=args.since, max_poll=args.max_poll,
                                timeout=args.timeout, allowed_file_prefixes=tuple(args.allow_files),
                                max_files=int(config["COHORT_EXPORT_MAX_FILES"]),
                                stall=float(config["COHORT_EXPORT_STALL_SECONDS"]),
                                min_rate=float(config["COHORT_EXPORT_MIN_RATE"]))
        # what is said quotes the server (its status URL, X-Progress): never its escape sequences
        state = bulk_export(client, args.out, options, progress=not args.quiet, token=token,
                            say=(lambda text: None) if args.quiet
                            else (lambda text: print(terminal_text(text), file=sys.stderr)))
    except CarepathError as exc:
        return fail("cohort export", exc.message)
    files = state["files"].values()
    print(f"exported {len(files)} files, {sum(f['bytes'] for f in files) / 1e6:.1f} MB, into {args.out}")
    return 0


def _run(args: argparse.Namespace) -> int:
    from app.cohort.decoder import InputLimits
    from app.cohort.run import run_cohort
    from app.cohort.workload import parse_capacity

    config = settings()
    try:
        capacity = parse_capacity(args.capacity)
        with _spark_job(args, config, "cohort run") as spark:
            summary = run_cohort(spark, args.ndjson, args.as_of, args.out, pack_dir=args.pack,
                                 partitions=args.partitions, capacity=capacity,
                                 limits=InputLimits.from_config(config),
                                 allow_draft=config.get("PACK_ALLOW_DRAFT") or [])
    except _JobFailed as failed:
        return failed.status
    except PackError as exc:
        return fail("cohort run", f"invalid guideline pack:\n{exc.message}")
    except (FileNotFoundError, CarepathError, ValueError) as exc:
        return fail("cohort run", str(exc))
    print(f"{summary.patients} plans in {summary.seconds:.1f} s; "
          f"{summary.counts.get(('patients with open gaps',), 0)} patients with an open care gap; "
          f"report: {args.out / 'report.html'}")
    return 0


def _diff(args: argparse.Namespace) -> int:
    from app.cohort.decoder import InputLimits
    from app.cohort.diff import run_diff, summary_text

    config = settings()
    try:
        with _spark_job(args, config, "cohort diff") as spark:
            summary = run_diff(spark, args.ndjson, args.as_of, args.pack_a, args.pack_b, args.out,
                               partitions=args.partitions, limits=InputLimits.from_config(config))
    except _JobFailed as failed:
        return failed.status
    except PackError as exc:
        return fail("cohort diff", f"invalid guideline pack:\n{exc.message}")
    except (FileNotFoundError, CarepathError) as exc:
        return fail("cohort diff", str(exc))
    print(summary_text(summary))
    print(f"details: {args.out / 'diff.ndjson'}")
    return 0


class _JobFailed(Exception):
    """The Spark side failed; its one message is printed already."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


@contextmanager
def _spark_job(args: argparse.Namespace, config: Any, command: str) -> Iterator[Any]:
    """A SparkSession for ``command`` (on a cluster: master checked, environment shipped unless --no-ship),
    stopped at the end unless it was running before; a failure of Spark's side is printed as one message naming
    its cause (the details in the log file under VAR_DIR/cohort/logs) and ends the command with status 1."""
    from app.cohort.cluster import (
        ClusterError,
        ClusterSettings,
        cluster_session,
        explained_failures,
        log_to_file,
        new_log_file,
    )
    from app.cohort.ship import ShipError

    cluster = ClusterSettings.from_config(config, ship=args.ship)
    cluster.log_file = new_log_file(cluster.var_dir)
    log_to_file(cluster.log_file)
    from pyspark import SparkContext

    ours = SparkContext._active_spark_context is None  # a session this process already had is left running
    spark = None
    try:
        spark = cluster_session(args.master, cluster)
        shipped = args.ship and "spark.archives" in dict(spark.sparkContext.getConf().getAll())
        with explained_failures(spark, cluster, shipped=shipped):
            yield spark
    except (ClusterError, ShipError) as exc:
        logged = cluster.log_file.is_file() and cluster.log_file.stat().st_size > 0
        fail(command, exc.message + (f" (Spark's log: {cluster.log_file})" if logged else ""))
        raise _JobFailed(1) from exc
    finally:
        if spark is not None and ours:
            with suppress(Exception):
                spark.stop()


def _pack(args: argparse.Namespace) -> int:
    from app.cohort.ship import ShipError, prepare

    config = settings()
    try:
        shipment = prepare(args.out or Path(config["VAR_DIR"]) / "cohort" / "ship",
                           str(config.get("COHORT_EXECUTOR_PYTHON") or ""))
    except (ShipError, OSError) as exc:
        return fail("cohort pack", getattr(exc, "message", str(exc)))
    print(f"environment: {shipment.environment}\ncode: {shipment.code}")
    print("spark-submit options (then run with --no-ship):")
    options = [f"--archives {shipment.environment}#environment", f"--py-files {shipment.code}",
               f"--conf spark.pyspark.python={shipment.python}"]
    if "spark.executorEnv.PYTHONPATH" in shipment.spark_config():
        options.append(f"--conf spark.executorEnv.PYTHONPATH={shipment.site_packages}")
    print("  " + " \\\n  ".join(options))
    return 0


def _generate(args: argparse.Namespace) -> int:
    from app import config as default_config
    from app.cohort.generate import generate

    source = args.source or Path(default_config.SAMPLE_DATA[0])
    try:
        written = generate(source, args.out, args.n, seed=args.seed, per_chunk=args.per_chunk,
                           progress=not args.quiet)
    except FileNotFoundError as exc:
        return fail("cohort generate", str(exc))
    print(f"{args.n} patients, {written} resources, in {args.out}")
    return 0
