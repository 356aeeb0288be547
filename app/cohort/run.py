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
from pathlib import Path
from typing import Any

from app.cohort.counting import Counting, load_counting
from app.cohort.decoder import InputLimits
from app.cohort.plans import PatientResult, cached_pack_set, pack_token, patient_result
from app.cohort.sources import DEFAULT_LIMITS, Counts
from app.cohort.spark import arrow_groups, grouped_frame, local_uri, merge_parts, partitions_for, resource_frame
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
    frame, file_problems = resource_frame(spark, source, limits=limits)
    partitions = partitions or partitions_for(spark, source)

    def plan(grouped: Any, again: bool) -> Any:
        return grouped.mapInArrow(
            lambda batches: plan_batches(batches, shared, as_of, counting, limits, again=again), PLAN_COLUMNS)

    from pyspark.sql import functions as f

    work = out / "_parts"
    shutil.rmtree(work, ignore_errors=True)  # what an interrupted run left
    try:
        plan(grouped_frame(frame, partitions), False).write.parquet(local_uri(work / "results"))
        results = spark.read.parquet(local_uri(work / "results"))
        strays = results.filter(f.col("type") == "stray").select(
            f.col("patient").alias("hint"), f.lit(True).alias("exact"), f.col("order_kind").alias("kind"), "file",
            "block", "row", "payload", "fmt")
        if strays.limit(1).count():
            # lines the JVM placed with another patient than Python found (odd JSON): the whole planning again,
            # with each of those lines given to its patient
            place = ["kind", "file", "block", "row"]
            moved = frame.join(strays.select(*place), place, "left_anti").unionByName(strays)
            plan(grouped_frame(moved, partitions), True).write.parquet(local_uri(work / "results-again"))
            results = spark.read.parquet(local_uri(work / "results-again"))
        problems = {row[0]: row[1] for row in results.filter(f.col("type") == "problem").groupBy("plan")
                    .agg(f.sum("row")).collect()}
        plans = results.filter(f.col("type") == "plan")
        plans.filter(f.col("plan") != "").select("plan").write.text(local_uri(work / "plans"))
        merge_parts(work / "plans", out / "plans.ndjson")
        activities = results.filter(f.col("type") == "activity").select(*ACTIVITY_COLUMNS)
        activities.coalesce(max(1, spark.sparkContext.defaultParallelism)).write.mode("overwrite").parquet(
            local_uri(out / "activities.parquet"))
        plans.filter(f.col("outreach").isNotNull()).select("outreach").write.text(local_uri(work / "outreach"))
        merge_parts(work / "outreach", out / "outreach.csv", header=_csv_line(OUTREACH_HEADER))
        counts = {tuple(row[0]): row[1] for row in results.filter(f.col("type") == "count")
                  .groupBy("key").agg(f.sum("row")).collect()}
        for results_folder in work.glob("results*"):
            shutil.rmtree(results_folder)
        work.rmdir()
    finally:
        shared.unpersist()
    for problem, number in file_problems.items():
        problems[problem] = problems.get(problem, 0) + number
    summary = CohortSummary(as_of=as_of, counts=counts, input_problems=problems, packs=packs, out=out,
                            seconds=time.perf_counter() - started, counting=counting, capacity=capacity)
    summary.files = {"plans": "plans.ndjson", "activities": "activities.parquet", "outreach": "outreach.csv"}
    if report:
        from app.cohort.report import write_report

        write_report(summary, out / "report.html")
        summary.files["report"] = "report.html"
    return summary


#: The rows the planning gives (:func:`plan_batches`): a patient's outputs, input problems, stray lines.
PLAN_COLUMNS = ("type string, plan string, outreach string, "
                + ", ".join(f"{name} {'date' if name == 'due' else 'string'}" for name in ACTIVITY_COLUMNS)
                + ", key array<string>, order_kind int, file string, block bigint, row bigint, payload binary, fmt int")
#: Patients per Arrow batch the planning sends back.
_BATCH = 256


def plan_batches(batches: Iterable[Any], shared: Any, as_of: date, counting: Counting, limits: InputLimits, *,
                 again: bool = False) -> Iterator[Any]:
    """Arrow batches of :data:`PLAN_COLUMNS` from a partition of :func:`app.cohort.spark.grouped_frame`: each
    patient planned by :func:`app.cohort.plans.patient_result` (its plan, outreach line and activities), then the
    partition's report counts and input problems (``key`` or ``plan`` the kind, ``row`` the number), then the
    lines that belong to another patient than the JVM placed them with (:func:`arrow_groups`; with ``again``,
    the second planning that has them placed right, none)."""
    import pyarrow as pa

    schema = _plan_schema()
    token, resources = shared.value
    pack_set = cached_pack_set(token, resources)
    problems, counts = Counts(), Counts()
    strays: list[dict[str, Any]] | None = None if again else []
    rows: list[dict[str, Any]] = []
    for patient_id, items in arrow_groups(batches, problems, strays, limits=limits):
        result = patient_result(patient_id, items, pack_set, as_of, counting)
        counts.add(result.counts)
        rows.append({"type": "plan", "patient": patient_id, "plan": result.plan_json,
                     "outreach": _outreach_line(result) if result.open_gaps else None})
        rows += [{**row, "type": "activity", "due": _due(row["due"])} for row in result.activities]
        if len(rows) >= _BATCH:
            yield pa.RecordBatch.from_pylist(rows, schema=schema)
            rows = []
    rows += [{"type": "problem", "plan": kind, "row": n} for kind, n in problems.items()]
    rows += [{"type": "count", "key": list(key), "row": n} for key, n in counts.items()]
    rows += [{"type": "stray", "patient": row.pop("hint"), "order_kind": row.pop("kind"), **row}
             for row in strays or []]
    if rows:
        yield pa.RecordBatch.from_pylist(rows, schema=schema)


def _plan_schema() -> Any:
    import pyarrow as pa

    return pa.schema([("type", pa.string()), ("plan", pa.string()), ("outreach", pa.string()),
                      *[(name, pa.date32() if name == "due" else pa.string()) for name in ACTIVITY_COLUMNS],
                      ("key", pa.list_(pa.string())),
                      ("order_kind", pa.int32()), ("file", pa.string()), ("block", pa.int64()), ("row", pa.int64()),
                      ("payload", pa.binary()), ("fmt", pa.int32())])


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
