"""Running the cohort's Spark job on a cluster: reach the master, ship the environment, watch the executors, and
turn a failure into one message that names its cause and what to do.

Spark's own output (the JVM's log and stack traces, the executors' Python tracebacks) goes to a log file under
``VAR_DIR/cohort/logs``; the terminal gets one line. Bounded waits: the master must answer within
``COHORT_CONNECT_TIMEOUT_SECONDS``; an application with no executor (none joined, or every one lost) is stopped
after ``COHORT_EXECUTOR_WAIT_SECONDS``. A worker lost while others remain is Spark's to handle: its tasks run
again elsewhere and the job completes.
"""

from __future__ import annotations

import logging
import os
import re
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from app.cohort.ship import ShipError, Shipment, prepare
from app.errors import CarepathError

#: The text an executor's error carries when an input file listed by the driver is not there
#: (:func:`app.cohort.spark.on_this_node`).
MISSING_INPUT = "carepath input not on this node"


class ClusterError(CarepathError):
    """The Spark job could not run or complete on its cluster; the message says why and what to do."""

    title = "The cohort's Spark job failed"


@dataclass
class ClusterSettings:
    """The settings of a cohort run's Spark side (``COHORT_*``), and what the command line chose."""

    var_dir: Path
    ship: bool = True
    executor_python: str = ""
    connect_timeout: float = 10.0
    executor_wait: float = 120.0
    log_file: Path | None = field(default=None)

    @classmethod
    def from_config(cls, config: Any, *, ship: bool = True) -> ClusterSettings:
        """From carepath's settings (a mapping with ``VAR_DIR`` and the ``COHORT_*`` keys)."""
        return cls(var_dir=Path(config["VAR_DIR"]), ship=ship,
                   executor_python=str(config.get("COHORT_EXECUTOR_PYTHON") or ""),
                   connect_timeout=float(config.get("COHORT_CONNECT_TIMEOUT_SECONDS", 10)),
                   executor_wait=float(config.get("COHORT_EXECUTOR_WAIT_SECONDS", 120)))


def is_local(master: str | None) -> bool:
    """Whether ``master`` runs executors inside the driver's JVM (``local``, ``local[N]``, ...)."""
    return master is None or master.startswith("local")


def check_reachable(master: str, timeout: float) -> None:
    """:class:`ClusterError` unless a TCP connection to (one of) the master's address(es) opens within
    ``timeout`` seconds; masters without an address here (``yarn``) are not checked."""
    addresses = master_addresses(master)
    problems = []
    for host, port in addresses:
        try:
            with socket.create_connection((host, port), timeout=timeout):
                return
        except OSError as exc:
            problems.append(f"{host}:{port}: {exc.strerror or type(exc).__name__}")
    if addresses:
        raise ClusterError(f"the Spark master {master} cannot be reached ({'; '.join(problems)}, within "
                           f"{timeout:g} s): start it, or check the host and port given to --master "
                           "(COHORT_CONNECT_TIMEOUT_SECONDS sets the wait)")


def master_addresses(master: str) -> list[tuple[str, int]]:
    """(host, port) pairs of a ``spark://h:p[,h:p]`` or ``k8s://https://h:p`` master; empty for others."""
    if master.startswith("spark://"):
        pairs = []
        for item in master[len("spark://"):].split(","):
            host, _, port = item.rpartition(":")
            if host and port.isdigit():
                pairs.append((host.strip("[]"), int(port)))
        return pairs
    if master.startswith("k8s://"):
        url = urlsplit(master[len("k8s://"):] if "://" in master[len("k8s://"):] else "https://" + master[6:])
        if url.hostname:
            return [(url.hostname, url.port or (443 if url.scheme == "https" else 80))]
    return []


def new_log_file(var_dir: Path) -> Path:
    """A fresh log file for one run's Spark output, under ``var_dir/cohort/logs``."""
    folder = var_dir / "cohort" / "logs"
    folder.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    return folder / f"spark-{stamp}-{os.getpid()}.log"


def log_to_file(log_file: Path) -> None:
    """Send the Python side's Spark and py4j logging to ``log_file`` instead of the terminal."""
    handler = logging.FileHandler(log_file, encoding="utf-8", delay=True)  # created when first written
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    for name in ("py4j", "pyspark"):
        logger = logging.getLogger(name)
        logger.addHandler(handler)
        logger.propagate = False


def cluster_session(master: str | None, settings: ClusterSettings, *, app_name: str = "carepath cohort") -> Any:
    """A SparkSession for a cohort command: on a cluster, the master checked first and the environment shipped
    (unless ``settings.ship`` is off); Spark's output to ``settings.log_file``."""
    from app.cohort.spark import spark_session, submitted_master

    chosen = master or submitted_master()
    shipment: Shipment | None = None
    if not is_local(chosen):
        check_reachable(chosen, settings.connect_timeout)
        if settings.ship:
            try:
                shipment = prepare(settings.var_dir / "cohort" / "ship", settings.executor_python)
            except OSError as exc:
                raise ShipError(f"the environment could not be packed into {settings.var_dir / 'cohort'}: "
                                f"{exc}") from exc
    return spark_session(master, app_name=app_name, shipment=shipment, log_file=settings.log_file)


class ExecutorWatch:
    """Stops the jobs of an application that has had no executor for ``wait`` seconds (none joined yet, or every
    one lost), so that a run never waits for resources for ever; :attr:`reason` says which."""

    def __init__(self, spark: Any, wait: float, *, poll: float = 0.5) -> None:
        self.context = spark.sparkContext
        self.wait, self.poll = wait, poll
        self.reason: str | None = None
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name="carepath-executor-watch", daemon=True)

    def executors(self) -> int:
        """Executors registered with the driver now (the driver itself not counted)."""
        return int(self.context._jsc.sc().getExecutorMemoryStatus().size()) - 1

    def _run(self) -> None:
        master = self.context.master
        since, seen = time.monotonic(), False
        while not self._done.wait(self.poll):
            try:
                if self.reason is not None:  # a job started after the first cancellation is cancelled too
                    self.context.cancelAllJobs()
                    continue
                if self.context._jsc.sc().isStopped():
                    self.reason = (f"the application was stopped: the Spark master {master} ended it or could no "
                                   "longer be reached")
                    return
                count = self.executors()
            except Exception:  # the context is going away: the job's own error says why
                return
            if count > 0:
                since, seen = time.monotonic(), True
            elif time.monotonic() - since > self.wait:
                self.reason = (
                    f"the cluster lost every executor and none came back within {self.wait:g} s: its workers "
                    "stopped or cannot be reached; start them again and rerun" if seen else
                    f"no executor joined within {self.wait:g} s: the master {master} has no alive worker with the "
                    "free cores and memory the job asks for (spark.executor.memory, spark.executor.cores), or the "
                    "workers cannot connect back to this machine (spark.driver.host); "
                    "COHORT_EXECUTOR_WAIT_SECONDS sets the wait")
                with suppress(Exception):
                    self.context.cancelAllJobs()

    def __enter__(self) -> ExecutorWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join(timeout=5)


@contextmanager
def explained_failures(spark: Any, settings: ClusterSettings, *, shipped: bool) -> Iterator[None]:
    """Run a cohort job: a failure of the job becomes one :class:`ClusterError` (its full text goes to the log
    file); on a cluster, an application without executors is stopped after ``settings.executor_wait``."""
    local = is_local(spark.sparkContext.master)
    watch = None if local else ExecutorWatch(spark, settings.executor_wait)
    try:
        if watch is None:
            yield
        else:
            with watch:
                yield
    except (CarepathError, FileNotFoundError, ValueError, KeyboardInterrupt):
        raise
    except Exception as exc:
        text = _full_text(exc)
        if settings.log_file is not None:
            with settings.log_file.open("a", encoding="utf-8") as log:
                log.write(f"\n--- the job failed ---\n{text}\n")
        reason = watch.reason if watch is not None else None
        raise ClusterError(reason or explain(text, shipped=shipped, local=local)) from exc


def _full_text(exc: BaseException) -> str:
    text = str(exc)
    java = getattr(exc, "java_exception", None)
    if java is not None:
        with suppress(Exception):
            text += "\n" + str(java.toString())
    return text


def explain(text: str, *, shipped: bool, local: bool = False) -> str:
    """The cause of a failed job, from its error text (Spark's, with the executors' tracebacks), and what to do."""
    module = re.search(r"ModuleNotFoundError: No module named '([\w.]+)'", text)
    if module:
        name = module.group(1)
        what = "carepath" if name.split(".")[0] == "app" else f"the module {name!r} carepath needs"
        if local:
            return (f"Spark's Python workers cannot import {what} (No module named {name!r}): run carepath from "
                    "the virtual environment it is installed in")
        fix = ("the shipped environment was not used: check COHORT_EXECUTOR_PYTHON, and that the nodes run "
               "Python of the driver's minor version" if shipped else
               "run without --no-ship, so that the job ships carepath's environment, or install carepath (with "
               "its dependencies) in the executors' Python on every node")
        return f"the executors cannot import {what} (No module named {name!r}): {fix}"
    program = re.search(r'Cannot run program "([^"]+)"', text)
    if program:
        return (f"the executors cannot start Python {program.group(1)!r}: it is not on the nodes. "
                "With the shipped environment, its python links to the interpreter it was made from, which the "
                "nodes need at the same path; set COHORT_EXECUTOR_PYTHON to the nodes' Python of the driver's "
                "minor version (e.g. python3.11) instead")
    missing = re.search(re.escape(MISSING_INPUT) + r": ([^\n'\"]+)", text) or re.search(
        r"FileNotFoundException: (?:File )?(\S+?)(?: does not exist|\s|$)", text)
    if missing:
        return (f"the executors cannot read the input {missing.group(1).strip()}: on a cluster the input (and "
                "the output folder) must be on a file system every node reads under the same path (a shared "
                "mount, HDFS, an object store)")
    if re.search(r"ExecutorLostFailure|Worker lost|Executor heartbeat timed out|executor lost", text, re.I):
        return ("workers were lost while the job ran, more often than Spark retries a task "
                "(spark.task.maxFailures): check the workers' logs (memory, the machine) and rerun")
    if re.search(r"All masters are unresponsive|SparkContext was shut down|cancelled because SparkContext", text):
        return ("the application was stopped before the job completed: the Spark master ended it or could not be "
                "reached; check the master and rerun")
    first = next((line.strip() for line in text.splitlines() if line.strip()), "unknown error")
    cause = re.findall(r"([\w.]+(?:Error|Exception): [^\n]+)", text)
    return f"the Spark job failed: {cause[-1] if cause else first[:300]}"
