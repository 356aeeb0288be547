"""A Spark standalone cluster on the loopback, as a site's small cluster is started: a master and 1-core workers
from the installed PySpark's ``spark-class``, each on its own free ports, in an environment whose Python has
neither carepath nor its dependencies (a fresh ``python -m venv``). Used by ``tests/test_cohort_cluster.py``."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

WAIT_SECONDS = 90.0


def free_port() -> int:
    """A TCP port free on the loopback now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def bare_python(folder: Path) -> Path:
    """A fresh venv of the interpreter the project's venv was made from (same minor version), without pip,
    carepath or any package: what a node's plain Python has."""
    base = Path(getattr(sys, "_base_executable", sys.executable))
    subprocess.run([str(base), "-m", "venv", "--without-pip", str(folder)], check=True)
    return folder / "bin" / "python"


def spark_home() -> Path:
    """The installed PySpark's folder, which holds ``bin/spark-class`` and Spark's jars."""
    import pyspark

    return Path(pyspark.__file__).parent


class StandaloneCluster:
    """A master and ``workers`` workers of one core each; :meth:`stop` ends every process it started."""

    def __init__(self, folder: Path, python: Path, workers: int = 2) -> None:
        self.folder, self.python = folder, python
        self.port, self.ui_port = free_port(), free_port()
        self.master_url = f"spark://127.0.0.1:{self.port}"
        self.master: subprocess.Popen | None = None
        self.workers: list[subprocess.Popen | None] = [None] * workers

    def environment(self) -> dict[str, str]:
        """The daemons' environment: no PYTHONPATH or venv of the project; ``python3`` is the bare venv's."""
        keep = {"HOME", "LANG", "LC_ALL", "JAVA_HOME", "TMPDIR", "USER"}
        env = {key: value for key, value in os.environ.items() if key in keep}
        env.update(PATH=f"{self.python.parent}:/usr/local/bin:/usr/bin:/bin", SPARK_HOME=str(spark_home()),
                   SPARK_LOCAL_IP="127.0.0.1", SPARK_DAEMON_MEMORY="256m", SPARK_NO_DAEMONIZE="1",
                   # master and workers do little: the quick compiler only, less CPU at start on a shared machine
                   SPARK_DAEMON_JAVA_OPTS="-XX:TieredStopAtLevel=1 -XX:+UseSerialGC",
                   SPARK_LOG_DIR=str(self.folder / "logs"), SPARK_WORKER_DIR=str(self.folder / "work"))
        return env

    def _start(self, name: str, *arguments: str) -> subprocess.Popen:
        command = [str(spark_home() / "bin" / "spark-class"), *arguments]
        with (self.folder / f"{name}.log").open("ab") as log:  # the daemon keeps its own descriptor
            # its own session, so that nothing it starts gets the terminal's signals
            return subprocess.Popen(command, env=self.environment(), cwd=self.folder, stdout=log,
                                    stderr=subprocess.STDOUT, start_new_session=True)

    def start(self) -> StandaloneCluster:
        """Start the master and the workers; returns once every worker is registered ALIVE."""
        self.folder.mkdir(parents=True, exist_ok=True)
        self.master = self._start("master", "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1",
                                  "--port", str(self.port), "--webui-port", str(self.ui_port))
        try:
            for index in range(len(self.workers)):
                self.start_worker(index)
            self.wait_for_workers(len(self.workers))
        except BaseException:
            self.stop()
            raise
        return self

    def start_worker(self, index: int) -> None:
        """Start worker ``index`` (again): one core, 1 GB for its executor, its own ports."""
        self.workers[index] = self._start(
            f"worker-{index}", "org.apache.spark.deploy.worker.Worker", "--host", "127.0.0.1",
            "--port", str(free_port()), "--webui-port", str(free_port()), "--cores", "1", "--memory", "1g",
            "--work-dir", str(self.folder / f"work-{index}"), self.master_url)

    def ensure_workers(self) -> None:
        """Start again any worker a test killed, and wait until all are ALIVE."""
        for index, process in enumerate(self.workers):
            if process is None:
                self.start_worker(index)
        self.wait_for_workers(len(self.workers))

    def state(self) -> dict:
        """The master's JSON status (workers, applications)."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.ui_port}/json/", timeout=5) as answer:
            return json.load(answer)

    def alive_workers(self) -> int:
        """Workers the master has ALIVE now (0 while it is not answering yet)."""
        try:
            return sum(1 for worker in self.state()["workers"] if worker["state"] == "ALIVE")
        except (OSError, ValueError):  # not answering yet, or answering before its status is ready
            return 0

    def wait_for_workers(self, count: int) -> None:
        """Wait until the master has ``count`` workers ALIVE (RuntimeError after WAIT_SECONDS)."""
        deadline = time.monotonic() + WAIT_SECONDS
        while self.alive_workers() < count:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{count} Spark workers did not register: see the logs in {self.folder}")
            time.sleep(0.2)

    def worker_of(self, pid: int) -> int | None:
        """Which worker ``pid`` runs under (the worker itself, its executor or their Python workers)."""
        leaders = {process.pid: index for index, process in enumerate(self.workers) if process is not None}
        while pid > 1:
            if pid in leaders:
                return leaders[pid]
            pid = _parent(pid)
        return None

    def kill_worker(self, index: int) -> None:
        """SIGKILL worker ``index`` and every process under it at once, as when its machine goes away."""
        process = self.workers[index]
        assert process is not None
        doomed = [pid for pid in _all_pids() if self.worker_of(pid) == index]
        for pid in doomed:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        process.wait(timeout=30)
        self.workers[index] = None

    def stop(self) -> None:
        """End every process this cluster started (workers first, then the master)."""
        for index, process in enumerate(self.workers):
            if process is not None:
                self.kill_worker(index)
        if self.master is not None:
            os.killpg(self.master.pid, signal.SIGTERM)
            try:
                self.master.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.master.pid, signal.SIGKILL)
                self.master.wait(timeout=30)


def readers_of(path: Path) -> list[int]:
    """The other processes that have ``path`` open (from /proc); this one is left out."""
    target, found = str(path), []
    for pid in _all_pids():
        if pid == os.getpid():
            continue
        try:
            descriptors = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for descriptor in descriptors:
            try:
                if os.readlink(f"/proc/{pid}/fd/{descriptor}") == target:
                    found.append(pid)
                    break
            except OSError:
                continue
    return found


def _all_pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def _parent(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as stat:
            return int(stat.read().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return 0
