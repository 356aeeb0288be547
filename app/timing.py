"""What each step of a request cost, sent as a ``Server-Timing`` header (read by browsers' developer tools and by
``benchmarks/launch_latency.py``): ``facts`` (fetching and reading the record), ``engine``, ``record`` (the
patient, drafts, plans and goals the page shows), ``render``; and ``fhir``, the time of every FHIR request of the
page summed (requests sent in parallel count each: it may exceed the wall time of the step that sent them).

Framework-free: the steps are collected in a context variable that the Flask app opens per request; outside a
request (the CLI, the cohort job) :func:`step` and :func:`add` do nothing.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flask import Flask

_STEPS: ContextVar[dict[str, float] | None] = ContextVar("carepath_timing", default=None)


def add(name: str, milliseconds: float) -> None:
    """Add time to a step of the current request (no-op outside one)."""
    steps = _STEPS.get()
    if steps is not None:
        steps[name] = steps.get(name, 0.0) + milliseconds


@contextmanager
def step(name: str) -> Iterator[None]:
    """Time the block as step ``name`` of the current request."""
    started = time.perf_counter()
    try:
        yield
    finally:
        add(name, (time.perf_counter() - started) * 1000)


def header(steps: dict[str, float]) -> str:
    """``fhir;dur=412.3, engine;dur=3.1``: the steps as a Server-Timing value."""
    return ", ".join(f"{name};dur={milliseconds:.1f}" for name, milliseconds in steps.items())


def init_app(app: Flask) -> None:
    """Open a step collector for each request and send what it holds as ``Server-Timing``."""

    @app.before_request
    def _open() -> None:
        _STEPS.set({})

    @app.after_request
    def _send(response):  # type: ignore[no-untyped-def]
        steps = _STEPS.get()
        if steps:
            response.headers["Server-Timing"] = header(steps)
        _STEPS.set(None)
        return response
