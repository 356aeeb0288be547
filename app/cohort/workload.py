"""Workload forecast: in which months each activity falls due, and how an overdue backlog is worked off.

The kind of work an activity takes (labs, screenings, exams, referrals, visits, counselling) comes from the
pack's reviewed mapping (``app.cohort.counting``); nothing is inferred from codes or texts. The forecast counts
activities, not appointments: two activities due the same day are two. What is due on or before the plan date
is the backlog, shown apart and spread over the capacity the user gives (``--capacity labs=40/month``), after
the month's new work; with no capacity for a kind, its backlog stays unscheduled.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from typing import Any

from app.engine.evaluate import add_duration
from app.engine.rules import Duration

#: Days in a FHIR Timing period unit, used only when a rule asks for several occurrences per period.
_UNIT_DAYS = {"a": 365.25, "mo": 30.4375, "wk": 7, "d": 1}
HORIZON_MONTHS = 12
_CAPACITY = re.compile(r"^\s*([a-z-]+)\s*=\s*(\d+)\s*(?:/\s*(?:month|mo))?\s*$")


def parse_capacity(texts: list[str], kinds: tuple[str, ...] | None = None) -> dict[str, int]:
    """``["labs=40/month", ...]`` -> ``{"labs": 40}``; ValueError names a malformed entry or a kind not in
    ``kinds``."""
    capacity: dict[str, int] = {}
    for text in texts:
        match = _CAPACITY.match(text)
        if match is None:
            raise ValueError(f"capacity {text!r}: write kind=N/month, e.g. labs=40/month")
        if kinds is not None and match.group(1) not in kinds:
            raise ValueError(f"capacity {text!r}: the kinds of work are {', '.join(kinds)}")
        capacity[match.group(1)] = int(match.group(2))
    return capacity


def spread_backlog(new_work: list[int], backlog: int, capacity: int | None) -> tuple[list[int], int]:
    """Backlog worked off per month with ``capacity`` activities a month, after each month's new work; returns
    (cleared per month, left at the end). Without a capacity nothing is scheduled."""
    cleared, left = [], backlog
    for due in new_work:
        done = 0 if capacity is None else min(left, max(0, capacity - due))
        cleared.append(done)
        left -= done
    return cleared, left


def forecast_months(as_of: date, months: int = HORIZON_MONTHS) -> list[str]:
    """The ``YYYY-MM`` months of the forecast: the month of ``as_of`` and the ``months - 1`` after it."""
    return [add_duration(as_of.replace(day=1), Duration(n, "mo")).strftime("%Y-%m") for n in range(months)]


def occurrences(timing: dict[str, Any], as_of: date, months: int = HORIZON_MONTHS) -> list[date]:
    """The dates an activity falls due within ``months`` of ``as_of``: its due date, then its repeats.

    A due date before ``as_of`` (overdue) counts on ``as_of``: the caller keeps it apart as backlog. ``repeat``
    is the plan's ``{frequency, period, period_unit}``: one occurrence per period, or ``frequency`` evenly spaced ones.
    """
    end = add_duration(as_of.replace(day=1), Duration(months, "mo"))
    try:
        current = max(date.fromisoformat(str(timing.get("due") or as_of.isoformat())), as_of)
    except ValueError:
        return []
    nth = _nth(timing.get("repeat") or {})
    found: list[date] = []
    start, n = current, 0
    while current < end:
        found.append(current)
        if nth is None:
            break
        n += 1
        current = nth(start, n)
    return found


def _nth(repeat: dict[str, Any]) -> Callable[[date, int], date] | None:
    """A function (first date, n) -> the n-th repeat after it, or None when the activity does not repeat."""
    period, unit = repeat.get("period"), repeat.get("period_unit")
    if not isinstance(period, int | float) or period <= 0 or unit not in _UNIT_DAYS:
        return None
    frequency = repeat.get("frequency") or 1
    if frequency == 1 and float(period).is_integer():
        # calendar arithmetic from the first date, so month ends do not drift (Jan 31, Feb 28, Mar 31)
        return lambda start, n: add_duration(start, Duration(int(period) * n, unit))
    days = period * _UNIT_DAYS[unit] / frequency
    return lambda start, n: date.fromordinal(start.toordinal() + max(1, round(days * n)))
