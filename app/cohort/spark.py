"""The Spark side: a session, and a cohort's resources grouped per patient without passing through the driver.

Input lines are keyed by their patient where they are read (``app.cohort.sources``), shuffled to one
partition per group of patients, and put back in input order there. Medications, which name no patient,
reach the patients that prescribe them by a join on their id. The driver only holds the list of input files,
the pack and, at the end, the small aggregates of the report.

Pathling's FHIR encoders are not used: they turn resources into typed columns, while the facts are computed
by carepath's own code from the resources' JSON (the same dicts the app reads from a FHIR server), so the job
keeps each resource as its JSON text from file to patient, and the one code path stays one.
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from pyspark.accumulators import AccumulatorParam

from app.cohort.cluster import MISSING_INPUT
from app.cohort.decoder import InputLimits, decode_resource, line_text
from app.cohort.ship import Shipment
from app.cohort.sources import (
    DEFAULT_LIMITS,
    MEDICATION_MARKERS,
    Counts,
    file_lines,
    gzip_problem,
    input_files,
    key_bundle,
    key_line,
    key_lines,
    line_number,
    medication_sides,
)

#: Gzip files' numbers in the Medication join start here, above the partition numbers Spark gives plain files
#: (both are put in the high bits of a line's number: :func:`app.cohort.sources.line_number`).
_PACKED_FILES = 1 << 24
#: Bytes of input per shuffle partition: a partition of patients fits a worker's memory easily.
BYTES_PER_PARTITION = 32 * 1024 * 1024


def spark_session(master: str | None = None, *, app_name: str = "carepath cohort",
                  config: dict[str, str] | None = None, shipment: Shipment | None = None,
                  log_file: Path | None = None) -> Any:
    """A SparkSession: ``master`` when given, else the one spark-submit set, else embedded ``local[*]``.

    ``shipment`` (:mod:`app.cohort.ship`) gives the executors carepath's environment and code. With ``log_file``,
    the JVM this process starts writes its log and output there, not to the terminal (under spark-submit the
    JVM is spark-submit's, and so is its log)."""
    from pyspark import SparkConf, SparkContext
    from pyspark.sql import SparkSession

    # under spark-submit the JVM is already there (its gateway port is in the environment) with its master
    submitted = "PYSPARK_GATEWAY_PORT" in os.environ or "--master" in os.environ.get("PYSPARK_SUBMIT_ARGS", "")
    chosen = master or submitted_master() or (None if submitted else "local[*]")
    if not chosen or chosen.startswith("local"):
        # embedded: the workers run this very interpreter (the venv with carepath installed); PySpark's RDD
        # API reads the worker's Python from the environment, not from the configuration
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    defaults = {"spark.ui.enabled": "false", "spark.ui.showConsoleProgress": "false",
                "spark.sql.session.timeZone": "UTC", "spark.driver.extraJavaOptions": "-Dlog4j2.level=WARN"}
    settings = {**defaults, **(shipment.spark_config() if shipment else {}), **(config or {})}
    if shipment is not None:
        os.environ["PYSPARK_PYTHON"] = shipment.python  # read by the RDD API, as above
    if log_file is not None and not submitted and SparkContext._active_spark_context is None:
        conf = SparkConf().setAppName(app_name).setMaster(chosen or "local[*]").setAll(list(settings.items()))
        SparkContext(conf=conf, gateway=_gateway_logging_to(conf, log_file))
    builder = SparkSession.builder.appName(app_name)
    if chosen:
        builder = builder.master(chosen)
    for key, value in settings.items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("WARN")
    if shipment is not None:
        shipment.add_code(session.sparkContext)
    return session


def submitted_master() -> str | None:
    """The master spark-submit was given, when this process runs under spark-submit (read from its JVM, whose
    gateway is in the environment), else None."""
    if "PYSPARK_GATEWAY_PORT" not in os.environ:
        return None
    from pyspark import SparkConf, SparkContext

    SparkContext._ensure_initialized()  # connects to spark-submit's JVM; starts no context
    return SparkConf().get("spark.master", None)


def _gateway_logging_to(conf: Any, log_file: Path) -> Any:
    """Start Spark's JVM with its standard output and error, and so its log, appended to ``log_file``."""
    from pyspark.java_gateway import launch_gateway

    with log_file.open("ab") as log:  # the JVM keeps its own descriptor
        return launch_gateway(conf, popen_kwargs={"stdout": log, "stderr": log})


def local_uri(path: str | Path) -> str:
    """``file://`` URI of a local path: Spark resolves a bare path against the cluster's default file system
    (HDFS on YARN), while carepath's input and output folders are file-system paths every node mounts."""
    return Path(path).resolve().as_uri()


def on_this_node(path: str) -> str:
    """``path``, or an error naming it when an executor does not find a file the driver listed (the input is
    not on a file system every node reads): the job stops with that cause, see :mod:`app.cohort.cluster`."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"{MISSING_INPUT}: {path}")
    return path


class CountsParam(AccumulatorParam):
    """Accumulator of input problems by kind (dicts merged by addition)."""

    def zero(self, value: dict[str, int]) -> dict[str, int]:
        """An empty count."""
        return {}

    def addInPlace(self, left: dict[str, int], right: dict[str, int]) -> dict[str, int]:
        """``left`` with ``right``'s counts added."""
        for kind, number in right.items():
            left[kind] = left.get(kind, 0) + number
        return left


def grouped_resources(spark: Any, source: str | Path, *, partitions: int | None = None,
                      limits: InputLimits = DEFAULT_LIMITS) -> tuple[Any, Any]:
    """An RDD of (patient id, [(order, resource text or dict), ...]) and the accumulator of input problems.

    Plain ndjson is read by Spark, split across partitions, one RDD per file so that a bad line is counted under
    its file's name. Gzip is inflated in Python by :mod:`app.cohort.decoder` (within ``limits``; a gzip file
    cannot be split anyway), so a file that is not gzip or inflates too far is counted, never fatal. Nothing is
    read yet: Spark runs it when an output is written.
    """
    context = spark.sparkContext
    problems = context.accumulator({}, CountsParam())
    ndjson, bundles = input_files(source)
    if not ndjson and not bundles:
        raise FileNotFoundError(f"{source}: no .ndjson or Bundle .json files")
    size = sum(os.path.getsize(path) for path in ndjson + bundles)
    partitions = partitions or max(context.defaultParallelism * 2, math.ceil(size / BYTES_PER_PARTITION))
    plain = [path for path in ndjson if not path.endswith(".gz")]
    packed = [path for path in ndjson if path.endswith(".gz")]
    parts, sides = [], []
    for path in plain:
        lines = context.textFile(local_uri(path))
        parts.append(lines.mapPartitionsWithIndex(
            lambda index, rows, path=path: key_lines(index, rows, problems, file=path, limits=limits)))
    if plain:
        sides.append(medication_side_lines(spark, plain).mapPartitions(
            lambda rows: medication_sides(rows, limits=limits)))
    if packed:
        files = context.parallelize(list(enumerate(packed)), min(len(packed), max(1, context.defaultParallelism * 4)))
        parts.append(files.flatMap(lambda item: key_lines(
            0, file_lines(on_this_node(item[1]), problems, limits=limits), problems, file=item[1], limits=limits)))
        sides.append(files.flatMap(lambda item: medication_sides(
            ((line_number(_PACKED_FILES + item[0], position), line)
             for position, line in enumerate(file_lines(on_this_node(item[1]), limits=limits))), limits=limits)))
    if sides:
        parts.append(_medications(sides[0] if len(sides) == 1 else context.union(sides)))
    if bundles:
        files = context.parallelize(bundles, min(len(bundles), max(1, context.defaultParallelism * 4)))
        parts.append(files.flatMap(lambda path: key_bundle(on_this_node(path), problems, limits=limits)))
    keyed = parts[0] if len(parts) == 1 else context.union(parts)
    return keyed.groupByKey(numPartitions=partitions).mapValues(list), problems


def _medications(sides: Any) -> Any:
    """(patient, (order, Medication line)) for every patient that prescribes a Medication, by a join on its id."""
    medications = sides.filter(lambda kv: kv[1][0] == "Medication").mapValues(lambda v: v[1])
    prescribed = sides.filter(lambda kv: kv[1][0] == "prescribed").mapValues(lambda v: v[1]).distinct()
    return medications.join(prescribed).map(lambda kv: (kv[1][1], kv[1][0]))


def medication_side_lines(spark: Any, ndjson: list[str]) -> Any:
    """An RDD of (number in input order, line) for the lines that may be a Medication or name one.

    The test runs in the JVM while the files are read (Spark SQL's ``contains``), so only those few lines are
    sent to Python a second time; the bulk of an export is read by Python once, in :func:`grouped_resources`.
    """
    from pyspark.sql import functions

    value = functions.col("value")
    test = value.contains(MEDICATION_MARKERS[0])
    for marker in MEDICATION_MARKERS[1:]:
        test = test | value.contains(marker)
    frame = spark.read.text([local_uri(path) for path in ndjson])
    frame = frame.withColumn("number", functions.monotonically_increasing_id()).filter(test)
    return frame.rdd.map(lambda row: (row["number"], row["value"]))


def merge_parts(folder: Path, target: Path, header: str = "") -> None:
    """Concatenate Spark's part files into one file, streamed (never whole in memory), then remove them."""
    import shutil

    with target.open("wb") as out:
        if header:
            out.write(header.encode())
        for part in sorted(folder.glob("part-*")):
            with part.open("rb") as chunk:
                shutil.copyfileobj(chunk, out, 1024 * 1024)
    shutil.rmtree(folder)


#: How a row of :func:`resource_frame` carries its resource: an ndjson line's bytes, a pickled dict (a Bundle's
#: entry, already read), or a count of input problems (the kind as text, the number in ``row``).
LINE, PICKLED, PROBLEM = 0, 1, 2
#: The rows :func:`resource_frame` gives: ``hint`` is the patient the JVM read a line as belonging to (Python
#: decides, :func:`app.cohort.sources.key_line`), ``exact`` that Python keyed the row already; ``kind``, ``file``,
#: ``block`` and ``row`` are the input order (source kind as :data:`app.cohort.sources.Order`, the file, the
#: byte offset of its split, the row's number in Spark's partition).
RESOURCE_COLUMNS = ("hint string, exact boolean, kind int, file string, block bigint, row bigint, payload binary, "
                    "fmt int")


def resource_frame(spark: Any, source: str | Path, *,
                   limits: InputLimits = DEFAULT_LIMITS) -> tuple[Any, dict[str, int]]:
    """A DataFrame of the cohort's resources (:data:`RESOURCE_COLUMNS`), not yet grouped, and the problems of the
    ``.gz`` files that are not read (counted by name).

    ndjson lines, plain or gzip, are read by Spark's text source; each ``.gz`` file is first checked in Python
    on the executors (:func:`app.cohort.sources.gzip_problem`: not gzip, inflating beyond the limit), so the
    JVM reads only what Python would. The patient of a line is read in the JVM from its top-level fields
    (``json_tuple``), with :func:`app.cohort.sources.patient_of`'s rules; that is only a hint that sends the
    line to its patient's partition: Python decodes each line once there and keys it itself. Medications reach
    the patients that prescribe them by a join on their id (their lines are picked out in the JVM by a text
    test, :data:`MEDICATION_MARKERS`); Bundle files are read in Python, as before.
    """
    from pyspark.sql import functions as f

    context = spark.sparkContext
    ndjson, bundles = input_files(source)
    if not ndjson and not bundles:
        raise FileNotFoundError(f"{source}: no .ndjson or Bundle .json files")
    packed = [path for path in ndjson if path.endswith(".gz")]
    problems: dict[str, int] = {}
    if packed:
        slices = min(len(packed), max(1, context.defaultParallelism * 4))
        checked = context.parallelize(packed, slices).map(
            lambda path: (path, gzip_problem(on_this_node(path), limits))).collect()
        unread = {path: problem for path, problem in checked if problem}
        for problem in unread.values():
            problems[problem] = problems.get(problem, 0) + 1
        ndjson = [path for path in ndjson if path not in unread]
    parts = []
    if ndjson:
        text = spark.read.text([local_uri(path) for path in ndjson], lineSep="\n")
        lines = text.select(
            f.col("value"), f.col("value").cast("binary").alias("payload"), f.col("_metadata.file_path").alias("file"),
            f.col("_metadata.file_block_start").alias("block"), f.monotonically_increasing_id().alias("row"))
        parts.append(_hinted(lines))
        value = f.col("value")
        test = value.contains(MEDICATION_MARKERS[0])
        for marker in MEDICATION_MARKERS[1:]:
            test = test | value.contains(marker)
        sides = lines.filter(test).drop("value").mapInArrow(
            lambda batches: _medication_batches(batches, limits),
            "medication string, side string, patient string, file string, block bigint, row bigint, payload binary")
        medications = sides.filter(f.col("side") == "Medication").drop("side", "patient")
        prescribed = sides.filter(f.col("side") == "prescribed").select("medication", "patient").distinct()
        parts.append(medications.join(prescribed, "medication").select(
            f.col("patient").alias("hint"), f.lit(True).alias("exact"), f.lit(2).alias("kind"), "file", "block", "row",
            "payload", f.lit(LINE).alias("fmt")))
    if bundles:
        files = context.parallelize(bundles, min(len(bundles), max(1, context.defaultParallelism * 4)))
        parts.append(spark.createDataFrame(files.flatMap(lambda path: _bundle_rows(on_this_node(path), limits)),
                                           RESOURCE_COLUMNS))
    frame = parts[0]
    for part in parts[1:]:
        frame = frame.unionByName(part)
    return frame, problems


def grouped_frame(frame: Any, partitions: int) -> Any:
    """``frame`` with each patient's rows in one partition, together and in input order (rows without a hint
    spread over the partitions)."""
    from pyspark.sql import functions as f

    spread = f.coalesce(f.col("hint"), f.concat(f.lit("\u0000"), f.col("file"), f.col("block").cast("string"),
                                                f.lit("/"), f.col("row").cast("string")))
    return frame.repartition(partitions, spread).sortWithinPartitions("hint", "kind", "file", "block", "row")


def partitions_for(spark: Any, source: str | Path) -> int:
    """Shuffle partitions for ``source``: about :data:`BYTES_PER_PARTITION` of input each, at least two a core."""
    ndjson, bundles = input_files(source)
    size = sum(os.path.getsize(path) for path in ndjson + bundles)
    return max(spark.sparkContext.defaultParallelism * 2, math.ceil(size / BYTES_PER_PARTITION))


def _hinted(lines: Any) -> Any:
    """The lines of :func:`resource_frame` with the patient the JVM reads from their top-level fields.

    A line written as servers write ndjson (compact, ``resourceType`` first, a reference's ``reference`` first) is
    read by a text search; any other by ``get_json_object``, with :func:`app.cohort.sources.patient_of`'s rules.
    Either is only a hint (:func:`arrow_groups` keys each line itself)."""
    from pyspark.sql import functions as f

    value = f.col("value")
    hint = (f.when(value.startswith('{"resourceType":"Patient"'), f.get_json_object(value, "$.id"))
            .otherwise(f.coalesce(_compact_reference(value, "subject"), _compact_reference(value, "patient"))))
    return lines.select(f.coalesce(hint, _read_hint(value)).alias("hint"), f.lit(False).alias("exact"),
                        f.lit(0).alias("kind"), "file", "block", "row", "payload", f.lit(LINE).alias("fmt"))


def _compact_reference(value: Any, field: str) -> Any:
    """The patient of the first ``"field":{"reference":"..."`` of a compact line, by a text search, or null."""
    from pyspark.sql import functions as f

    marker = f'"{field}":{{"reference":"'
    at = f.instr(value, marker)
    reference = f.substring_index(value.substr(at + len(marker), f.lit(1 << 30)), '"', 1)
    return f.when(at > 0, _referenced_patient(reference))


def _read_hint(value: Any) -> Any:
    """The patient of a line as ``get_json_object`` reads it: a Patient's own id, else ``subject`` (when not
    empty) or ``patient``, else a Coverage's ``beneficiary``."""
    from pyspark.sql import functions as f

    subject = f.get_json_object(value, "$.subject")
    holder = f.when(subject.isNotNull() & ~subject.isin("", "{}", "[]", "0", "false", "null"), subject).otherwise(
        f.get_json_object(value, "$.patient"))
    return f.when(f.get_json_object(value, "$.resourceType") == "Patient", f.get_json_object(value, "$.id")).otherwise(
        f.coalesce(_referenced_patient(f.get_json_object(holder, "$.reference")),
                   _referenced_patient(f.get_json_object(value, "$.beneficiary.reference"))))


def _referenced_patient(reference: Any) -> Any:
    """:func:`app.context.resources.reference_id` for Patient, in Spark SQL (empty is none)."""
    from pyspark.sql import functions as f

    after = f.substring_index(reference.substr(f.instr(reference, "Patient/") + 8, f.lit(1 << 30)), "/", 1)
    found = (f.when(reference.startswith("urn:uuid:"), reference.substr(f.lit(10), f.lit(1 << 30)))
             .when(reference.contains("Patient/"), after))
    return f.when(found != "", found)


def _medication_batches(batches: Iterable[Any], limits: InputLimits) -> Iterator[Any]:
    """The two sides of the Medication join (:func:`app.cohort.sources.medication_sides`) of Arrow batches of
    lines."""
    import pyarrow as pa

    schema = pa.schema([("medication", pa.string()), ("side", pa.string()), ("patient", pa.string()),
                        ("file", pa.string()), ("block", pa.int64()), ("row", pa.int64()), ("payload", pa.binary())])
    for batch in batches:
        columns = batch.to_pydict()
        texts = ((index, line_text(payload, limits)) for index, payload in enumerate(columns["payload"]))
        rows = []
        for medication, (side, value) in medication_sides(texts, limits=limits):
            if side == "Medication":
                index = value[0][3]
                rows.append({"medication": medication, "side": side, "file": columns["file"][index],
                             "block": columns["block"][index], "row": columns["row"][index],
                             "payload": columns["payload"][index]})
            else:
                rows.append({"medication": medication, "side": side, "patient": value})
        yield pa.RecordBatch.from_pylist(rows, schema=schema)


def _bundle_rows(path: str, limits: InputLimits) -> Iterator[tuple[Any, ...]]:
    """The rows of :func:`resource_frame` for a Bundle file: its resources, keyed, and its problems."""
    import pickle

    problems = Counts()
    for owner, ((kind, file, block, position), resource) in key_bundle(path, problems, limits=limits):
        yield owner, True, kind, file, block, position, pickle.dumps(resource, protocol=5), PICKLED
    for problem, number in problems.items():
        yield None, True, 1, path, 0, number, problem.encode(), PROBLEM


def arrow_groups(batches: Iterable[Any], counts: Any, strays: list[dict[str, Any]] | None, *,
                 limits: InputLimits = DEFAULT_LIMITS) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """(patient, resources in input order) from Arrow batches of :func:`grouped_frame`'s rows: each line decoded
    once, by the one decoder, and keyed by :func:`app.cohort.sources.key_line` (the JVM's hint only placed it).

    A line whose patient is not its hint is a stray: it is added to ``strays`` (a row of :data:`RESOURCE_COLUMNS`,
    keyed exactly, for :func:`app.cohort.run.run_cohort` to plan that patient again with it), or dropped when
    ``strays`` is None (that second pass, which has it already). Problems are counted in ``counts`` (None: not
    counted, as in the second pass).
    """
    import pickle

    current: str | None = None
    group: list[dict[str, Any]] = []
    for batch in batches:
        columns = batch.to_pydict()
        hints, exacts, fmts, payloads = columns["hint"], columns["exact"], columns["fmt"], columns["payload"]
        for index in range(batch.num_rows):
            hint, fmt, payload = hints[index], fmts[index], payloads[index]
            if hint != current or hint is None:
                if group:
                    yield current, group  # type: ignore[misc]
                current, group = hint, []
            if fmt == PROBLEM:
                if counts is not None:
                    counts.add({payload.decode(): columns["row"][index]})
                continue
            if fmt == PICKLED:
                group.append(pickle.loads(payload))  # noqa: S301 - written by _bundle_rows in this very job
                continue
            if exacts[index]:
                group.append(decode_resource(payload, limits))
                continue
            file = unquote(columns["file"][index].rsplit("/", 1)[-1])
            keyed = key_line(line_text(payload, limits), counts, file=file, limits=limits)
            if keyed is None:
                continue
            owner, resource = keyed
            if owner == hint:
                group.append(resource)
            elif strays is not None:
                strays.append({"hint": owner, "exact": True, "kind": columns["kind"][index],
                               "file": columns["file"][index], "block": columns["block"][index],
                               "row": columns["row"][index], "payload": payload, "fmt": LINE})
    if group:
        yield current, group  # type: ignore[misc]
