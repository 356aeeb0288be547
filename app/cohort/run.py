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
import os
import shutil
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from pyspark.accumulators import AccumulatorParam

from app.cohort.counting import Counting, load_counting
from app.cohort.decoder import InputLimits
from app.cohort.plans import PatientResult, cached_pack_set, pack_token, patient_result
from app.cohort.sources import DEFAULT_LIMITS, Counts, resources_in_order
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

    work = out.resolve() / "_parts"  # the executors write here: a path, not one relative to their folder
    shutil.rmtree(work, ignore_errors=True)  # what an interrupted run left
    tallies = spark.sparkContext.accumulator(CountsTotal(), PartitionCounts())

    def plan_partition(index: int, rows: Iterable[tuple[str, list[Any]]]) -> Iterator[tuple[Any, ...]]:
        """Plan one partition's patients in one pass: its plans and outreach lines go to part files, its report
        counts to ``tallies`` (under the partition's number, so a retried task is not counted twice), and its activity
        rows on to the Parquet writer."""
        token, resources = shared.value
        pack_set = cached_pack_set(token, resources)
        counts = Counts()
        with PartFile(work / "plans", index) as plans, PartFile(work / "outreach", index) as outreach:
            for patient_id, items in rows:
                result = patient_result(patient_id, resources_in_order(items), pack_set, as_of, counting)
                if result.plan_json:
                    plans.write(result.plan_json + "\n")
                if result.open_gaps:
                    outreach.write(_outreach_line(result) + "\n")
                counts.add(result.counts)
                yield from activity_rows(result)
        tallies.add({index: counts})

    try:
        rows = groups.mapPartitionsWithIndex(plan_partition)
        _write_activities(spark, rows, out / "activities.parquet")  # runs the job: every output is written
        merge_parts(work / "plans", out / "plans.ndjson")
        merge_parts(work / "outreach", out / "outreach.csv", header=_csv_line(OUTREACH_HEADER))
        counts = tallies.value.counts
        work.rmdir()
    finally:
        shared.unpersist()
    summary = CohortSummary(as_of=as_of, counts=counts, input_problems=dict(problems.value), packs=packs, out=out,
                            seconds=time.perf_counter() - started, counting=counting, capacity=capacity)
    summary.files = {"plans": "plans.ndjson", "activities": "activities.parquet", "outreach": "outreach.csv"}
    if report:
        from app.cohort.report import write_report

        write_report(summary, out / "report.html")
        summary.files["report"] = "report.html"
    return summary


def _write_activities(spark: Any, rows: Any, target: Path) -> None:
    from pyspark.sql.types import DateType, StringType, StructField, StructType

    schema = StructType([StructField(name, DateType() if name == "due" else StringType(), name != "patient")
                         for name in ACTIVITY_COLUMNS])
    # one Parquet file per partition of patients: the plans are made by this very write, one task per partition
    spark.createDataFrame(rows, schema).write.mode("overwrite").parquet(local_uri(target))


def activity_rows(result: PatientResult) -> Iterator[tuple[Any, ...]]:
    """The rows of the activity table for one patient, in ``ACTIVITY_COLUMNS`` order."""
    for row in result.activities:
        yield tuple(_due(row[name]) if name == "due" else row[name] for name in ACTIVITY_COLUMNS)


class CountsTotal:
    """The report's counts summed over partitions, each partition counted once: a partition planned again (a lost
    worker, a retried stage) gives the same counts, which are not added twice. The driver keeps the total and the
    partition numbers, never one dict per partition."""

    def __init__(self) -> None:
        self.seen: set[int] = set()
        self.counts = Counts()

    def add(self, index: int, counts: dict[tuple[str, ...], int]) -> None:
        """Add partition ``index``'s counts, unless it was counted already."""
        if index in self.seen:
            return
        self.seen.add(index)
        self.counts.add(counts)


class PartitionCounts(AccumulatorParam):
    """Accumulator of report counts: each task adds ``{partition: counts}``, and the driver's
    :class:`CountsTotal` sums them, each partition once."""

    def zero(self, value: Any) -> dict[int, dict[tuple[str, ...], int]]:
        """A task's empty counts."""
        return {}

    def addInPlace(self, left: Any, right: dict[int, dict[tuple[str, ...], int]]) -> Any:
        """``right``'s partitions added to the driver's total, or gathered in a task's dict."""
        if isinstance(left, CountsTotal):
            for index, counts in right.items():
                left.add(index, counts)
        else:
            left.update(right)
        return left


class PartFile:
    """One partition's part file of a text output, written by the task that plans it: to a name of its own
    attempt, then renamed to ``part-NNNNN`` when the partition is complete, so a failed or repeated attempt never
    leaves half a part (outputs are merged in part order: :func:`app.cohort.spark.merge_parts`)."""

    def __init__(self, folder: Path, index: int) -> None:
        from pyspark import TaskContext

        context = TaskContext.get()
        attempt = f"{context.stageId()}-{context.attemptNumber()}" if context else "0"
        folder.mkdir(parents=True, exist_ok=True)
        self.target = folder / f"part-{index:05d}"
        self.partial = folder / f".part-{index:05d}.{attempt}.{os.getpid()}.tmp"
        self.file = self.partial.open("w", encoding="utf-8")

    def write(self, text: str) -> None:
        """Append ``text``."""
        self.file.write(text)

    def __enter__(self) -> PartFile:
        return self

    def __exit__(self, kind: Any, *rest: Any) -> None:
        self.file.close()
        if kind is None:
            os.replace(self.partial, self.target)
        else:
            self.partial.unlink(missing_ok=True)


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
