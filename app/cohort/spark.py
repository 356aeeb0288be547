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

from pyspark.accumulators import AccumulatorParam

from app.cohort.cluster import MISSING_INPUT
from app.cohort.decoder import InputLimits
from app.cohort.ship import Shipment
from app.cohort.sources import (
    DEFAULT_LIMITS,
    MEDICATION_MARKERS,
    file_lines,
    input_files,
    key_bundle,
    key_lines,
    line_number,
    medication_sides,
)

#: Gzip files' numbers in the Medication join start here, above the partition numbers Spark gives plain files
#: (both are put in the high bits of a line's number: :func:`app.cohort.sources.line_number`).
_PACKED_FILES = 1 << 24
#: Bytes of input text per shuffle partition (gzip counted inflated): a partition's patients are grouped in the
#: Python worker's memory, which this keeps to a few hundred MB.
BYTES_PER_PARTITION = 128 * 1024 * 1024


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
    size = sum(text_size(path) for path in ndjson + bundles)
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
    return _by_patient(context, parts, partitions), problems


def _by_patient(context: Any, parts: list[Any], partitions: int) -> Any:
    """(patient, [items]) from the keyed ``parts``: each part is hashed to ``partitions`` by patient in the
    Python stage that keys it, and partition i of every part is read together (Spark's union of RDDs with one
    partitioner), so a line crosses to the JVM once, and each partition's patients are gathered in a dict."""
    shuffled = [part.partitionBy(partitions) for part in parts]
    together = shuffled[0] if len(shuffled) == 1 else context.union(shuffled)
    if together.getNumPartitions() != partitions or not together._jrdd.rdd().partitioner().isDefined():
        # this Spark did not keep the partitioning through the union: group the plain way
        keyed = parts[0] if len(parts) == 1 else context.union(parts)
        return keyed.groupByKey(numPartitions=partitions).mapValues(list)
    return together.mapPartitions(gather, preservesPartitioning=True)


def gather(rows: Iterable[tuple[str, Any]]) -> Iterator[tuple[str, list[Any]]]:
    """The items of one partition gathered per patient, patients in the order first seen."""
    groups: dict[str, list[Any]] = {}
    for patient, item in rows:
        items = groups.get(patient)
        if items is None:
            groups[patient] = [item]
        else:
            items.append(item)
    return iter(groups.items())


def text_size(path: str) -> int:
    """Bytes of text in an input file: a gzip file's inflated size from its trailer (RFC 1952 ISIZE, the size
    modulo 2^32 of its last member), never less than the file itself."""
    size = os.path.getsize(path)
    if not path.endswith(".gz") or size < 18:
        return size
    with open(path, "rb") as file:
        file.seek(-4, os.SEEK_END)
        return max(size, int.from_bytes(file.read(4), "little"))


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
    shutil.rmtree(folder, ignore_errors=True)
