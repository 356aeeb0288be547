"""FHIR dates and times: partial dates, time zones, and the evaluation date's look-back window.

A result keeps the calendar day on which it was recorded, in the time zone it was recorded in
(``2020-06-01T23:30:00-05:00`` is 1 June), because that is the day the clinician sees on the chart. Results
are ordered by their instant in UTC. A result whose day is after the evaluation date is not used.
"""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime, timedelta
from typing import Any

from app.context.resources import value_at

_EARLIEST = datetime.min.replace(tzinfo=UTC)
_LATEST = datetime.max.replace(tzinfo=UTC)


class When:
    """A point in time from FHIR: the local calendar day and a UTC instant for ordering."""

    __slots__ = ("day", "instant", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        if len(text) <= 10:
            parts = [int(p) for p in text.split("-")]
            while len(parts) < 3:
                parts.append(1)  # a year or year-month dates from its first day
            self.day = date(*parts)
            self.instant = datetime(self.day.year, self.day.month, self.day.day, tzinfo=UTC)
        else:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
            self.day = moment.date()
            try:
                self.instant = (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)
            except OverflowError:
                # 0001-01-01T00:00:00+14:00 is a valid FHIR dateTime whose UTC instant is before year 1 (and
                # 9999-12-31T23:59:59-14:00 one after 9999): ordered first or last, its local day kept.
                self.instant = _EARLIEST if moment.year == 1 else _LATEST

    def __repr__(self) -> str:
        return f"When({self.text!r})"


def parse_when(value: Any) -> When | None:
    """A :class:`When` from a FHIR date/dateTime/instant string; None when absent; ValueError if malformed."""
    if not value:
        return None
    if not isinstance(value, str):
        raise ValueError(f"not a FHIR date: {value!r}")
    return When(value)


#: Where an Observation's date is read, in order of preference.
EFFECTIVE_FIELDS = ("effectiveDateTime", "effectivePeriod.start", "effectiveInstant", "issued")


def effective(resource: dict[str, Any], *fields: str) -> When | None:
    """The first present date among ``fields`` (``effectiveDateTime``, ``effectivePeriod.start`` ...)."""
    for field in fields:
        node = value_at(resource, field)
        if node:
            return parse_when(node)
    return None


def months_before(day: date, months: int) -> date:
    """The same day ``months`` calendar months earlier (clamped to the month's last day)."""
    year, month = divmod(day.year * 12 + day.month - 1 - months, 12)
    month += 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def lookback_start(as_of: date, value: float, unit: str) -> date:
    """The first day inside a look-back of ``value`` ``unit`` (UCUM: a, mo, wk, d) ending at ``as_of``, both ends
    included: 12 months ending on 31 Dec 2024 are 1 Jan to 31 Dec 2024 (as a measurement period is), so the same
    calendar day a period earlier is outside."""
    if unit in ("a", "yr", "year", "years"):
        return months_before(as_of, round(value * 12)) + timedelta(days=1)
    if unit in ("mo", "month", "months"):
        return months_before(as_of, round(value)) + timedelta(days=1)
    if unit in ("wk", "week", "weeks"):
        return as_of - timedelta(weeks=value) + timedelta(days=1)
    if unit in ("d", "day", "days"):
        return as_of - timedelta(days=value) + timedelta(days=1)
    raise ValueError(f"look-back unit {unit!r} not understood (use a, mo, wk or d)")


def describe_lookback(value: float, unit: str) -> str:
    """``12 mo`` -> ``the last 12 months``."""
    words = {"a": "year", "yr": "year", "mo": "month", "wk": "week", "d": "day"}
    word = words.get(unit, unit)
    amount = int(value) if float(value).is_integer() else value
    return f"the last {amount} {word}{'' if amount == 1 else 's'}" if amount != 1 else f"the last {word}"


def age_on(birth: date, day: date) -> int:
    """Completed years of age on ``day``."""
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))
