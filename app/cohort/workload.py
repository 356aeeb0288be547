"""Workload forecast: which kind of work each activity is, and in which months it falls due.

The kind of work comes from the activity's ``kind``, which the pack's ActivityDefinition states in its
``activity-kind`` extension (``docs/packs.md``); nothing is inferred from codes or texts:

=========================================================  ==========
activity kind (ActivityDefinition ``activity-kind``)        workload
=========================================================  ==========
``lab-order``                                               labs
``screening``                                               screenings
``referral``                                                referrals
``procedure``, ``medication``, ``counselling``,             visits
``education``, ``lifestyle``
=========================================================  ==========

A medication start or review, counselling, education and lifestyle advice each need a clinician's time,
hence "visits". The forecast counts activities, not appointments: two activities due the same day are two.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from app.engine.evaluate import add_duration
from app.engine.rules import Duration

WORKLOADS = ("labs", "screenings", "referrals", "visits")
_WORKLOAD_OF_KIND = {"lab-order": "labs", "screening": "screenings", "referral": "referrals"}
#: Days in a FHIR Timing period unit, used only when a rule asks for several occurrences per period.
_UNIT_DAYS = {"a": 365.25, "mo": 30.4375, "wk": 7, "d": 1}
HORIZON_MONTHS = 12


def workload_of(kind: str) -> str:
    """The workload an activity kind belongs to (see the module's table)."""
    return _WORKLOAD_OF_KIND.get(kind, "visits")


def forecast_months(as_of: date, months: int = HORIZON_MONTHS) -> list[str]:
    """The ``YYYY-MM`` months of the forecast: the month of ``as_of`` and the ``months - 1`` after it."""
    return [add_duration(as_of.replace(day=1), Duration(n, "mo")).strftime("%Y-%m") for n in range(months)]


def occurrences(timing: dict[str, Any], as_of: date, months: int = HORIZON_MONTHS) -> list[date]:
    """The dates an activity falls due within ``months`` of ``as_of``: its due date, then its repeats.

    A due date before ``as_of`` (overdue) counts in the first month. ``repeat`` is the plan's
    ``{frequency, period, period_unit}``: one occurrence per period, or ``frequency`` evenly spaced ones.
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
