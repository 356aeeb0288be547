"""``cohort run`` on a real Spark standalone cluster (a master and two 1-core workers started from the installed
PySpark, on the loopback) whose Python has no carepath: the job ships its environment and code, its plans equal
the local-mode plans, a worker killed while it runs a task costs nothing but a retry, and each failure of the
deployment gives one message naming its cause, a non-zero exit, and no Java stack trace on the terminal.

The cluster tests are marked ``cluster`` (they need Java, not the HAPI server); the explanations of failures and
the unreachable master are checked without a cluster.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import subprocess
import sys
import threading
import time
from datetime import date
from pathlib import Path

import pytest

from app.cli import main
from app.cohort.cluster import explain, master_addresses
from app.cohort.generate import generate
from tests.cohort_cluster import StandaloneCluster, bare_python, free_port, readers_of
from tests.cohort_data import with_medication_resources, write_ndjson
from tests.conftest import SYNTHEA

AS_OF = date(2021, 4, 1)
ROOT = Path(__file__).resolve().parents[1]
#: Bound of one cohort command on the test cluster (a hung run fails the test instead of the CI job).
RUN_TIMEOUT = 300


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A standalone master and two 1-core workers; their Python (``python3`` on their PATH) is a bare venv.
    Skipped without PySpark or Java, except under CAREPATH_REQUIRE_INTEGRATION=1 (scripts/test.sh, CI)."""
    if os.environ.get("CAREPATH_REQUIRE_INTEGRATION") != "1":
        pytest.importorskip("pyspark", reason="pyspark is installed by the test extra (pip install -e '.[test]')")
        if not (shutil.which("java") or os.environ.get("JAVA_HOME")):
            pytest.skip("no Java to run Spark's master and workers")
    folder = tmp_path_factory.mktemp("spark-cluster")
    running = StandaloneCluster(folder, bare_python(folder / "bare-python")).start()
    yield running
    running.stop()


@pytest.fixture
def two_workers(cluster):
    """The cluster with both workers ALIVE (a worker killed by an earlier test is started again first)."""
    cluster.ensure_workers()
    return cluster


@pytest.fixture(scope="module")
def panel(tmp_path_factory):
    """A generated panel (gzip ndjson, read by Python in the executors), two Synthea patients as plain ndjson
    with Medication resources (read by Spark's JVM, joined), and one as a Bundle file: every input path."""
    source = tmp_path_factory.mktemp("cluster-panel")
    generate(SYNTHEA, source / "generated", 24, seed=5, per_chunk=12, progress=False)
    bundles = sorted(SYNTHEA.glob("*.json"), key=lambda p: p.stat().st_size)
    (source / "export").mkdir()
    import json

    for index, path in enumerate(bundles[1:3]):
        bundle = with_medication_resources(json.loads(path.read_text(encoding="utf-8")))
        (source / f"b{index}.json").write_text(json.dumps(bundle), encoding="utf-8")
    write_ndjson([source / "b0.json", source / "b1.json"], source / "export")
    for index in range(2):
        (source / f"b{index}.json").unlink()
    (source / "bundle").mkdir()
    (source / "bundle" / "patient.json").write_bytes(bundles[0].read_bytes())
    return source


@pytest.fixture(scope="module")
def local_out(spark, panel, tmp_path_factory):
    """The panel's outputs in local mode (the embedded session)."""
    from app.cohort.run import run_cohort

    out = tmp_path_factory.mktemp("local-out")
    run_cohort(spark, panel, AS_OF, out, report=False)
    return out


@pytest.fixture(scope="module")
def local_plans(local_out):
    """The panel's plans in local mode, one JSON text per patient."""
    return _plans(local_out)


def _outreach(out: Path) -> list[str]:
    """The outreach list's rows, in a stable order (partitions may list patients in another order)."""
    header, *rows = (out / "outreach.csv").read_text(encoding="utf-8").splitlines()
    return [header, *sorted(rows)]


@pytest.fixture(scope="module")
def var_dir(tmp_path_factory):
    """The commands' VAR_DIR: where the shipped archives are cached and Spark's logs go."""
    return tmp_path_factory.mktemp("var")


def _plans(out: Path) -> dict[str, str]:
    import json

    lines = (out / "plans.ndjson").read_text(encoding="utf-8").splitlines()
    return {json.loads(line)["patient_id"]: line for line in lines}


def _environment(var_dir: Path, **extra: str) -> dict[str, str]:
    """The driver's environment: carepath importable here only (PYTHONPATH), nothing telling Spark which
    Python the executors run."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("PYSPARK_", "SPARK_"))}
    env.update(PYTHONPATH=str(ROOT), CAREPATH_VAR_DIR=str(var_dir), SPARK_LOCAL_IP="127.0.0.1", **extra)
    return env


def _cohort(arguments: list[str], env: dict[str, str], *, driver: list[str] | None = None) -> subprocess.Popen:
    command = driver or [sys.executable, "-m", "app.cohort"]
    return subprocess.Popen([*command, *arguments], env=env, cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _finish(process: subprocess.Popen) -> tuple[int, str, str]:
    try:
        out, err = process.communicate(timeout=RUN_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        out, err = process.communicate()
        pytest.fail(f"the cohort command did not end within {RUN_TIMEOUT} s:\n{out}\n{err}")
    return process.returncode, out, err


def _no_java_on_terminal(out: str, err: str) -> None:
    for text in (out, err):
        assert "\tat org.apache" not in text and "Exception in thread" not in text and "Traceback" not in text


@pytest.mark.cluster
@pytest.mark.usefixtures("two_workers")
def test_cohort_cluster__shipped_job_plans_equal_local_plans(cluster, panel, local_plans, local_out, var_dir,
                                                             tmp_path):
    env = _environment(var_dir)
    first = _finish(_cohort(["run", "--ndjson", str(panel), "--as-of", AS_OF.isoformat(), "--out",
                             str(tmp_path / "out"), "--master", cluster.master_url, "--partitions", "2"], env))
    assert first[0] == 0, first
    _no_java_on_terminal(first[1], first[2])
    assert _plans(tmp_path / "out") == local_plans
    assert len(local_plans) == 24 + 3
    assert _outreach(tmp_path / "out") == _outreach(local_out)
    shipped = sorted(path.name for path in (var_dir / "cohort" / "ship").iterdir())
    assert [name.split("-")[0] for name in shipped] == ["carepath", "environment"]
    # the executors ran the shipped environment: it was unpacked in their working directories
    assert list(cluster.folder.glob("work-*/app-*/*/environment/lib/python*/site-packages/orjson"))


@pytest.mark.cluster
@pytest.mark.usefixtures("two_workers")
def test_cohort_cluster__without_shipping_one_message_names_the_missing_module(cluster, panel, var_dir, tmp_path):
    status, out, err = _finish(_cohort(["run", "--ndjson", str(panel), "--as-of", AS_OF.isoformat(), "--out",
                                        str(tmp_path / "out"), "--master", cluster.master_url, "--no-ship"],
                                       _environment(var_dir)))
    assert status == 1
    messages = [line for line in err.splitlines() if line.startswith("cohort run:")]
    assert len(messages) == 1, err
    assert "cannot import carepath" in messages[0] and "--no-ship" in messages[0]
    _no_java_on_terminal(out, err)
    log = Path(messages[0].rsplit("Spark's log: ", 1)[1].rstrip(")"))
    assert "No module named 'app'" in log.read_text(encoding="utf-8")


@pytest.mark.cluster
@pytest.mark.usefixtures("two_workers")
def test_cohort_cluster__no_executor_stops_within_the_wait(cluster, panel, var_dir, tmp_path):
    # executors of 4 GB: no 1 GB worker can take one, so none ever joins
    env = _environment(var_dir, CAREPATH_COHORT_EXECUTOR_WAIT_SECONDS="3",
                       PYSPARK_SUBMIT_ARGS="--conf spark.executor.memory=4g pyspark-shell")
    status, out, err = _finish(_cohort(["run", "--ndjson", str(panel), "--as-of", AS_OF.isoformat(), "--out",
                                        str(tmp_path / "out"), "--master", cluster.master_url], env))
    assert status == 1
    messages = [line for line in err.splitlines() if line.startswith("cohort run:")]
    assert len(messages) == 1 and "no executor joined within 3 s" in messages[0], err
    _no_java_on_terminal(out, err)


#: The driver of the worker-loss test: ``cohort run`` whose input Bundle is replaced by a named pipe (GATE), so
#: that the task reading it waits for the test: the test sees which worker runs it, kills that worker, then
#: serves the Bundle's bytes to the retry.
GATED_DRIVER = """
import sys
import app.cohort.spark as spark_job
gate, name = sys.argv.pop(1), sys.argv.pop(1)
listed = spark_job.input_files
def gated(folder):
    ndjson, bundles = listed(folder)
    return ndjson, [gate if path.endswith(name) else path for path in bundles]
spark_job.input_files = gated
from app.cli import main
sys.exit(main(["cohort", *sys.argv[1:]]))
"""


@pytest.mark.cluster
@pytest.mark.usefixtures("two_workers")
def test_cohort_cluster__a_worker_killed_mid_run_costs_a_retry_not_the_plans(cluster, panel, local_plans, local_out,
                                                                             var_dir, tmp_path):
    gate = tmp_path / "gate.json"
    os.mkfifo(gate)
    content = (panel / "bundle" / "patient.json").read_bytes()
    # the executors run a plain Python of the same minor version, with the shipped packages on its path
    env = _environment(var_dir, CAREPATH_COHORT_EXECUTOR_PYTHON=str(cluster.python))
    process = _cohort([str(gate), "bundle/patient.json", "run", "--ndjson", str(panel), "--as-of",
                       AS_OF.isoformat(), "--out", str(tmp_path / "out"), "--master", cluster.master_url,
                       "--partitions", "2"], env, driver=[sys.executable, "-c", GATED_DRIVER])
    killed: list[int] = []
    served = threading.Thread(target=_serve_gate, args=(gate, content, process, cluster, killed), daemon=True)
    served.start()
    status, out, err = _finish(process)
    served.join(timeout=30)
    assert killed, f"no task read the gated Bundle: {out}\n{err}"
    assert status == 0, (out, err)
    assert _plans(tmp_path / "out") == local_plans
    assert _outreach(tmp_path / "out") == _outreach(local_out)  # written by the executors, each partition once
    assert not list((tmp_path / "out").glob("_parts"))
    log = next((var_dir / "cohort" / "logs").glob(f"spark-*-{process.pid}.log")).read_text(encoding="utf-8")
    assert "Lost executor" in log or "ExecutorLost" in log  # Spark saw the loss and ran the task again


def _serve_gate(gate: Path, content: bytes, process: subprocess.Popen, cluster: StandaloneCluster,
                killed: list[int]) -> None:
    """The first task that opens ``gate`` has its worker killed while it waits; every later one reads
    ``content``, once: the next open waits until that reader has closed it. Ends when the driver does."""
    while process.poll() is None:
        try:
            descriptor = os.open(gate, os.O_WRONLY | os.O_NONBLOCK)
        except OSError as exc:
            if exc.errno != errno.ENXIO:  # ENXIO: no task has opened it for reading yet
                raise
            time.sleep(0.05)
            continue
        try:
            if not killed:
                reader = _wait_for_readers(gate, process=process)[0]
                index = cluster.worker_of(reader)
                assert index is not None, f"the gate's reader {reader} runs under no worker"
                cluster.kill_worker(index)
                killed.append(index)
                # the pipe stays open on this side, so the retry's open does not see an end of file: wait
                # for it, then serve it through the same pipe
                _wait_for_readers(gate, other_than=reader, process=process)
            os.set_blocking(descriptor, True)
            with contextlib.suppress(BrokenPipeError):
                _write_all(descriptor, content)
        finally:
            os.close(descriptor)
        # a reader still reading would take a second copy as the rest of the same file
        while readers_of(gate) and process.poll() is None:
            time.sleep(0.02)


def _write_all(descriptor: int, content: bytes) -> None:
    view = memoryview(content)
    while view:
        view = view[os.write(descriptor, view):]


def _wait_for_readers(gate: Path, other_than: int = 0, process: subprocess.Popen | None = None) -> list[int]:
    """The processes holding ``gate`` open for reading (the open completes just after the writer's), besides
    ``other_than``; RuntimeError when the driver ``process`` ends first."""
    deadline = time.monotonic() + RUN_TIMEOUT
    while not (readers := [pid for pid in readers_of(gate) if pid != other_than]):
        if time.monotonic() > deadline or (process is not None and process.poll() is not None):
            raise RuntimeError("the gate's reader was not found")
        time.sleep(0.02)
    return readers


def test_cohort_cluster__unreachable_master_one_message_no_wait(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CAREPATH_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("CAREPATH_COHORT_CONNECT_TIMEOUT_SECONDS", "2")
    port = free_port()
    status = main(["cohort", "run", "--ndjson", str(tmp_path), "--as-of", "2021-04-01", "--out",
                   str(tmp_path / "out"), "--master", f"spark://127.0.0.1:{port}"])
    err = capsys.readouterr().err
    assert status == 1
    assert err.count("cohort run:") == 1
    assert f"the Spark master spark://127.0.0.1:{port} cannot be reached" in err and "--master" in err


def test_cohort_cluster__master_addresses():
    assert master_addresses("spark://a:7077,b:7078") == [("a", 7077), ("b", 7078)]
    assert master_addresses("k8s://https://api.example:6443") == [("api.example", 6443)]
    assert master_addresses("yarn") == []


@pytest.mark.parametrize(("text", "shipped", "expected"), [
    ("org.apache.spark.api.python.PythonException: Traceback ...\nModuleNotFoundError: No module named 'app'\n",
     False, "cannot import carepath (No module named 'app'): run without --no-ship"),
    ("ModuleNotFoundError: No module named 'orjson'", True,
     "cannot import the module 'orjson' carepath needs (No module named 'orjson'): the shipped environment"),
    ('java.io.IOException: Cannot run program "./environment/bin/python": error=2, No such file or directory',
     True, "cannot start Python './environment/bin/python'"),
    ("FileNotFoundError: carepath input not on this node: /data/panel/Patient.ndjson.gz\n", True,
     "cannot read the input /data/panel/Patient.ndjson.gz: on a cluster the input"),
    ("Caused by: java.io.FileNotFoundException: File file:/data/Observation.ndjson does not exist\n", True,
     "cannot read the input file:/data/Observation.ndjson"),
    ("Job aborted: Task 3 failed 4 times, most recent failure: ExecutorLostFailure (executor 1 exited)", True,
     "workers were lost while the job ran"),
    ("org.apache.spark.SparkException: Job 0 cancelled because SparkContext was shut down", True,
     "the application was stopped before the job completed"),
    ("Job aborted.\nCaused by: java.lang.OutOfMemoryError: Java heap space\n", True,
     "the Spark job failed: java.lang.OutOfMemoryError: Java heap space"),
])
def test_cohort_cluster__explain_names_the_cause_and_the_remedy(text, shipped, expected):
    assert expected in explain(text, shipped=shipped)


def test_cohort_cluster__pack_holds_what_executors_import_and_is_reused(tmp_path, capsys):
    import tarfile
    import zipfile

    assert main(["cohort", "pack", "--out", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    archives = sorted(tmp_path.iterdir())
    environment = next(path for path in archives if path.name.startswith("environment-"))
    code = next(path for path in archives if path.name.startswith("carepath-"))
    assert f"--archives {environment}#environment" in printed and f"--py-files {code}" in printed
    with tarfile.open(environment) as archive:
        names = archive.getnames()
    assert "pyvenv.cfg" in names and "bin/python" in names
    packages = {name.split("/")[3] for name in names if name.startswith("lib/python") and name.count("/") > 3}
    assert {"orjson", "fhirpathpy", "flask"} <= packages  # carepath's runtime dependencies
    assert not packages & {"pyspark", "py4j", "pytest", "playwright", "app"}  # Spark's own, test tools, the code
    assert not any("__editable__" in name for name in names)
    with zipfile.ZipFile(code) as archive:
        assert "app/cohort/ship.py" in archive.namelist() and "app/engine/__init__.py" in archive.namelist()
    stamps = {path: path.stat().st_mtime_ns for path in archives}
    assert main(["cohort", "pack", "--out", str(tmp_path)]) == 0  # the same content: the same files, not rewritten
    assert {path: path.stat().st_mtime_ns for path in tmp_path.iterdir()} == stamps


class _FakeContext:
    """What ExecutorWatch reads of a SparkContext: the executors registered (scripted), whether it stopped."""

    master = "spark://127.0.0.1:7077"

    def __init__(self, executors: list[int]) -> None:
        self.script, self.cancelled = list(executors), threading.Event()
        self._jsc = self

    def sc(self):
        return self

    def isStopped(self) -> bool:
        return False

    def getExecutorMemoryStatus(self):
        return self

    def size(self) -> int:  # the driver counts as one
        return 1 + (self.script.pop(0) if len(self.script) > 1 else self.script[0])

    def cancelAllJobs(self) -> None:
        self.cancelled.set()


class _FakeSession:
    def __init__(self, context: _FakeContext) -> None:
        self.sparkContext = context


def test_cohort_cluster__every_executor_lost_stops_the_jobs_with_its_cause():
    from app.cohort.cluster import ExecutorWatch

    context = _FakeContext([2, 2, 1, 0])  # two executors, then one, then none (and none again)
    with ExecutorWatch(_FakeSession(context), wait=0.2, poll=0.01) as watch:
        assert context.cancelled.wait(10)
    assert watch.reason.startswith("the cluster lost every executor and none came back within 0.2 s")


def test_cohort_cluster__no_executor_ever_stops_the_jobs_with_its_cause():
    from app.cohort.cluster import ExecutorWatch

    context = _FakeContext([0])
    with ExecutorWatch(_FakeSession(context), wait=0.2, poll=0.01) as watch:
        assert context.cancelled.wait(10)
    assert watch.reason.startswith("no executor joined within 0.2 s: the master spark://127.0.0.1:7077")


def test_cohort_cluster__executors_present_no_cancellation():
    from app.cohort.cluster import ExecutorWatch

    context = _FakeContext([1])
    with ExecutorWatch(_FakeSession(context), wait=0.05, poll=0.01) as watch:
        assert not context.cancelled.wait(0.5)
    assert watch.reason is None
