"""Slow clients cannot starve carepath as deployed: gunicorn behind the buffering nginx of deploy/ (issue: 16
connections sending one header byte every 3 s used to stop every answer).

The deployment is started exactly as `make run` starts it (deploy/serve.sh), with Debian's nginx; without nginx the
test is skipped locally and, being marked ``integration``, fails the run under ``make test``.
"""

from __future__ import annotations

import http.client
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parent.parent
SLOW_CLIENTS = 64


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _health(port: int, timeout: float) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("GET", "/health")
        return connection.getresponse().status
    finally:
        connection.close()


@pytest.fixture(scope="module")
def deployed(tmp_path_factory):
    """carepath behind nginx on a free loopback port, as deploy/serve.sh runs it."""
    if not (shutil.which("nginx") or Path("/usr/sbin/nginx").exists()):
        pytest.skip("nginx not installed (make test installs Debian's nginx)")
    port = _free_port()
    state = tmp_path_factory.mktemp("deploy")
    env = {**os.environ, "CAREPATH_VAR_DIR": str(state / "var")}
    process = subprocess.Popen(["bash", str(ROOT / "deploy" / "serve.sh"), f"127.0.0.1:{port}", str(state)],
                               env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 60
    while True:
        try:
            if _health(port, timeout=2) == 200:
                break
        except OSError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            os.killpg(process.pid, signal.SIGTERM)
            log = "\n".join(p.read_text()[-2000:] for p in (state / "carepath.log", state / "nginx" / "error.log")
                            if p.exists())
            pytest.fail(f"carepath behind nginx did not start:\n{log}")
        time.sleep(0.2)
    yield port, state
    os.killpg(process.pid, signal.SIGTERM)
    process.wait(timeout=30)


def test_nginx_config_renders_and_checks(deployed):
    _, state = deployed
    config = (state / "nginx" / "nginx.conf").read_text()
    assert "@" not in config.replace("$", "")  # every placeholder rendered
    assert "proxy_request_buffering on" in config and "client_header_timeout 10s" in config


def test_health_answers_within_a_second_while_64_clients_drip_their_headers(deployed):
    port, _ = deployed
    stop = threading.Event()
    connected = threading.Barrier(SLOW_CLIENTS + 1)
    errors: list[BaseException] = []

    def slow_client() -> None:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
                sock.sendall(b"GET /health HTTP/1.1\r\n")
                connected.wait(timeout=30)
                header = b"X-Slow: " + b"a" * 64
                for byte in header:
                    if stop.wait(0.5):
                        return
                    sock.sendall(bytes([byte]))
        except (OSError, threading.BrokenBarrierError) as error:  # nginx may close a stalled client: fine
            if not stop.is_set() and not isinstance(error, OSError):
                errors.append(error)

    threads = [threading.Thread(target=slow_client, daemon=True) for _ in range(SLOW_CLIENTS)]
    for thread in threads:
        thread.start()
    try:
        connected.wait(timeout=30)  # every slow client is connected and has sent part of its request
        for _ in range(5):
            started = time.monotonic()
            assert _health(port, timeout=5) == 200
            assert time.monotonic() - started < 1.0
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=10)
    assert not errors
