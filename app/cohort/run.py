"""``carepath cohort run``: every patient's plan on Spark, then the activity table, the outreach list and the report.

Outputs in OUT: ``plans.ndjson`` (one plan per line, the JSON of ``carepath plan --format json``),
``activities.parquet`` (a Parquet dataset: one row per planned activity), ``outreach.csv`` (patients with an
open care gap, as ``app.cohort.counting`` defines one) and ``report.html``. Plans, rows and the outreach list
are written by the executors; the driver receives only the report's aggregates (counts per rule, per month and
kind, per finding), whose size does not grow with the number of patients (finding texts aside: their values
are bucketed).
"""

from __future__ import annotations

import csv
import io
import shutil
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from operator import add
from pathlib import Path
from typing import Any

from app.cohort.counting import Counting, load_counting
from app.cohort.decoder import InputLimits
from app.cohort.plans import PatientResult, cached_pack_set, pack_token, patient_result
from app.cohort.sources import DEFAULT_LIMITS, resources_in_order
from app.cohort.spark import grouped_resources, local_uri, merge_parts
from app.cohort.workload import parse_capacity
from app.engine.packs import pack_folders, pack_set_from_resources, read_pack_folder

OUTREACH_HEADER = ["patient_id", "name", "birth_date", "open_gaps", "earliest_due", "gaps"]
ACTIVITY_COLUMNS = ("patient", "rule", "kind", "category", "workload", "area", "code", "title", "due", "pack_url",
                    "pack_version")


@dataclass
class CohortSummary:
    """What a run found: aggregates for the report, input problems, where the outputs are, and how long it took."""

    as_of: date
    counts: dict[tuple[str, ...], int]
    input_problems: dict[str, int]
    packs: list[dict[str, str]]
    out: Path
    seconds: float = 0.0
    files: dict[str, str] = field(default_factory=dict)
    counting: Counting | None = None
    #: Activities a month each kind of work can take on (``--capacity``), to spread the backlog.
    capacity: dict[str, int] = field(default_factory=dict)

    @property
    def patients(self) -> int:
        """Patients with a plan."""
        return self.counts.get(("patients",), 0)


def run_cohort(spark: Any, source: str | Path, as_of: date, out: str | Path, *, pack_dir: str | Path | None = None,
               partitions: int | None = None, report: bool = True, capacity: dict[str, int] | None = None,
               limits: InputLimits = DEFAULT_LIMITS, allow_draft: Any = None) -> CohortSummary:
    """Plan every patient under ``source`` and write the outputs to ``out``; returns the report's aggregates.
    An input that cannot be read (``limits``: :mod:`app.cohort.decoder`) is counted in the report, never fatal.
    ``capacity`` (activities a month per kind of work) spreads the overdue backlog in the forecast. With
    ``allow_draft`` (``PACK_ALLOW_DRAFT``) a pack version that is neither active nor named there is refused."""
    started = time.perf_counter()
    out = Path(out)
    # the packs carepath plan uses (default: every bundled pack), so a child is planned as in the sidebar
    pack_dir = pack_dir if pack_dir is not None else ",".join(str(folder) for folder in pack_folders(None))
    pack_resources = read_pack_folder(pack_dir)
    pack_set = pack_set_from_resources(pack_resources)  # checked here: a broken pack fails before any work
    if allow_draft is not None:
        from app.governance.lifecycle import check_lifecycle

        check_lifecycle(pack_set.packs, allow_draft)
    packs, counting = pack_set.packs, load_counting(pack_set, pack_dir)
    capacity = capacity or {}
    parse_capacity([f"{kind}={n}" for kind, n in capacity.items()], counting.work_kinds)  # a kind it knows
    out.mkdir(parents=True, exist_ok=True)
    shared = spark.sparkContext.broadcast((pack_token(pack_resources), pack_resources))
    groups, problems = grouped_resources(spark, source, partitions=partitions, limits=limits)

    def plan_partition(rows: Iterable[tuple[str, list[Any]]]) -> Iterator[PatientResult]:
        token, resources = shared.value
        pack_set = cached_pack_set(token, resources)
        for patient_id, items in rows:
            yield patient_result(patient_id, resources_in_order(items), pack_set, as_of, counting)

    from pyspark import StorageLevel

    results = groups.mapPartitions(plan_partition).persist(StorageLevel.MEMORY_AND_DISK)
    work = out / "_parts"
    shutil.rmtree(work, ignore_errors=True)  # what an interrupted run left
    try:
        results.map(lambda r: r.plan_json).filter(bool).saveAsTextFile(local_uri(work / "plans"))
        merge_parts(work / "plans", out / "plans.ndjson")
        _write_activities(spark, results, out / "activities.parquet")
        results.filter(lambda r: r.open_gaps).map(_outreach_line).saveAsTextFile(local_uri(work / "outreach"))
        merge_parts(work / "outreach", out / "outreach.csv", header=_csv_line(OUTREACH_HEADER))
        counts = dict(results.flatMap(lambda r: r.counts.items()).reduceByKey(add).collect())
        work.rmdir()
    finally:
        results.unpersist()
        shared.unpersist()
    summary = CohortSummary(as_of=as_of, counts=counts, input_problems=dict(problems.value), packs=packs, out=out,
                            seconds=time.perf_counter() - started, counting=counting, capacity=capacity)
    summary.files = {"plans": "plans.ndjson", "activities": "activities.parquet", "outreach": "outreach.csv"}
    if report:
        from app.cohort.report import write_report

        write_report(summary, out / "report.html")
        summary.files["report"] = "report.html"
    return summary


def _write_activities(spark: Any, results: Any, target: Path) -> None:
    from pyspark.sql.types import DateType, StringType, StructField, StructType

    schema = StructType([StructField(name, DateType() if name == "due" else StringType(), name != "patient")
                         for name in ACTIVITY_COLUMNS])

    def rows(result: PatientResult) -> Iterator[tuple[Any, ...]]:
        for row in result.activities:
            yield tuple(_due(row[name]) if name == "due" else row[name] for name in ACTIVITY_COLUMNS)

    frame = spark.createDataFrame(results.flatMap(rows), schema)
    frame.coalesce(max(1, spark.sparkContext.defaultParallelism)).write.mode("overwrite").parquet(local_uri(target))


def _due(text: str) -> date | None:
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def _outreach_line(result: PatientResult) -> str:
    """One CSV row of the outreach list (no trailing newline: saveAsTextFile adds it)."""
    gaps = sorted(result.open_gaps, key=lambda g: (g["due"], g["title"]))
    return _csv_line([result.patient_id, result.name, result.birth_date, str(len(gaps)), gaps[0]["due"],
                      "; ".join(dict.fromkeys(g["title"] for g in gaps))]).rstrip("\r\n")


def _csv_line(cells: list[str]) -> str:
    """A CSV row; cells that a spreadsheet would run as a formula (=, +, -, @) are quoted with a leading '."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(
        [f"'{cell}" if cell[:1] in ("=", "+", "-", "@", "\t", "\r") else cell for cell in cells])
    return buffer.getvalue()
