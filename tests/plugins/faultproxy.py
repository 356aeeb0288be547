"""A fault-injecting HTTP proxy between carepath and the local HAPI server.

``fault_proxy`` (a fixture) forwards every request to HAPI unchanged, except the next requests a test arms it
for (``proxy.arm(mode, times=n)``; by default the POST of a transaction to the base URL), which it answers as:

- ``5xx-before``: 503 without forwarding (HAPI never sees the request);
- ``5xx-after``: forwards (HAPI commits), then answers 502 instead of HAPI's answer;
- ``drop-before`` / ``drop-after``: closes the connection without an answer, before or after forwarding;
- ``delay-before``: holds the request ``delay`` seconds (longer than carepath's timeout), then forwards it
  anyway, as a slow network or server would: it may commit after carepath gave up waiting;
- ``delay-after``: forwards, then holds HAPI's answer ``delay`` seconds before sending it.

``arm(..., after_forward=callback)`` runs ``callback`` once the faulted request reached HAPI and before the fault's
answer: another clinician's write landing between a commit and carepath's read-back, say.

The Host header is forwarded as the client sent it, so HAPI writes the proxy's address into the links it
returns. ``proxy.settle()`` waits until every request in flight (a delayed one too) is done.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import pytest
import requests

MODES = ("5xx-before", "5xx-after", "drop-before", "drop-after", "delay-before", "delay-after")
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-authorization",
               "proxy-authenticate", "content-encoding", "content-length"}
Matcher = Callable[[str, str], bool]


def is_transaction(method: str, path: str) -> bool:
    """True for a POST to the FHIR base (a transaction or batch Bundle)."""
    return method == "POST" and urlsplit(path).path.rstrip("/") == "/fhir"


@dataclass
class Seen:
    """One request the proxy handled: what it was and what the proxy did with it."""

    method: str
    path: str
    fault: str | None
    forwarded: bool = False
    upstream_status: int | None = None


@dataclass
class _Armed:
    mode: str
    times: int
    match: Matcher
    after_forward: Callable[[], None] | None = None


@dataclass
class FaultProxy:
    """The proxy's state: faults armed, requests seen, requests in flight."""

    upstream: str
    delay: float = 2.0
    seen: list[Seen] = field(default_factory=list)
    _armed: list[_Armed] = field(default_factory=list)
    _lock: threading.Condition = field(default_factory=threading.Condition)
    _in_flight: int = 0
    url: str = ""

    def arm(self, mode: str, *, times: int = 1, match: Matcher = is_transaction,
            after_forward: Callable[[], None] | None = None) -> None:
        """Answer the next ``times`` requests that ``match`` with ``mode`` (``after_forward``: see the module)."""
        assert mode in MODES, mode
        with self._lock:
            self._armed.append(_Armed(mode, times, match, after_forward))

    def disarm(self) -> None:
        """Forget every fault not used yet."""
        with self._lock:
            self._armed.clear()

    def settle(self, timeout: float = 30.0) -> None:
        """Wait until no request is in flight (delayed ones included)."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while self._in_flight:
                remaining = deadline - time.monotonic()
                assert remaining > 0, "fault proxy: requests still in flight"
                self._lock.wait(remaining)

    def _take(self, method: str, path: str) -> _Armed | None:
        with self._lock:
            self._in_flight += 1
            for armed in self._armed:
                if armed.times > 0 and armed.match(method, path):
                    armed.times -= 1
                    return armed
        return None

    def _done(self) -> None:
        with self._lock:
            self._in_flight -= 1
            self._lock.notify_all()


def _handler(proxy: FaultProxy) -> type[BaseHTTPRequestHandler]:
    upstream = urlsplit(proxy.upstream)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self._handle()

        do_POST = do_PUT = do_DELETE = do_PATCH = do_GET

        def log_message(self, format: str, *args: object) -> None:
            return  # quiet: pytest shows failures, not every request

        def _handle(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            armed = proxy._take(self.command, self.path)
            mode = armed.mode if armed else None
            record = Seen(self.command, self.path, mode)
            proxy.seen.append(record)
            try:
                self._serve(mode, body, record, armed.after_forward if armed else None)
            except (BrokenPipeError, ConnectionResetError):
                pass  # carepath stopped waiting: as with a real slow server
            finally:
                proxy._done()

        def _serve(self, mode: str | None, body: bytes, record: Seen,
                   after_forward: Callable[[], None] | None = None) -> None:
            if mode == "5xx-before":
                return self._answer(503, {"Content-Type": "text/plain"}, b"injected: unavailable")
            if mode == "drop-before":
                return self._drop()
            if mode == "delay-before":
                time.sleep(proxy.delay)
            headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
            response = requests.request(self.command, f"{upstream.scheme}://{upstream.netloc}{self.path}",
                                        headers=headers, data=body or None, timeout=120, allow_redirects=False)
            record.forwarded, record.upstream_status = True, response.status_code
            if after_forward is not None:
                after_forward()
            if mode == "5xx-after":
                return self._answer(502, {"Content-Type": "text/plain"}, b"injected: bad gateway")
            if mode == "drop-after":
                return self._drop()
            if mode == "delay-after":
                time.sleep(proxy.delay)
            kept = {k: v for k, v in response.headers.items() if k.lower() not in _HOP_BY_HOP}
            return self._answer(response.status_code, kept, response.content)

        def _answer(self, status: int, headers: dict[str, str], content: bytes) -> None:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(content)))
            self.end_headers()
            self.wfile.write(content)

        def _drop(self) -> None:
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)

    return Handler


@pytest.fixture
def fault_proxy(hapi_url: str) -> Iterator[FaultProxy]:
    """A proxy in front of the local HAPI server at ``proxy.url`` (same ``/fhir`` path), faults armed per test."""
    proxy = FaultProxy(hapi_url)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(proxy))
    server.daemon_threads = True
    proxy.url = f"http://127.0.0.1:{server.server_port}{urlsplit(hapi_url).path}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield proxy
    finally:
        proxy.disarm()
        proxy.settle()
        server.shutdown()
        server.server_close()
