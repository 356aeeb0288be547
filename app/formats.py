"""How values read to a clinician: dates, units, medicine names, blood pressure, short summaries.

One formatter for each thing, shared by the engine's texts (rationales, warnings, reasons), the sidebar and the
CDS cards, so a value reads the same wherever it is shown. The data (facts, plan JSON, FHIR) keeps ISO dates,
UCUM codes and RxNorm names; only the text a person reads is formatted here. No Flask, no I/O.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, date, datetime
from typing import Any

from app.terminology import rxnorm

__all__ = ["ELLIPSIS", "human_date", "human_datetime", "human_unit", "human_value", "is_iso_date", "medicine_name",
           "mmhg", "shorten"]

ELLIPSIS = "…"
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
#: UCUM codes as a clinician writes them (the FHIR keeps the UCUM code).
_UNITS = {"mm[Hg]": "mmHg", "kg/m2": "kg/m²", "mL/min/{1.73_m2}": "mL/min/1.73 m²", "mL/min/1.73m2": "mL/min/1.73 m²",
          "mL/min/1.73_m2": "mL/min/1.73 m²", "[lb_av]": "lb", "[in_i]": "in", "/min": "/min", "{score}": "points",
          "{beats}/min": "/min", "mg/g{creat}": "mg/g", "a": "years", "mo": "months", "wk": "weeks", "d": "days"}
#: A strength as RxNorm writes it in a product name ("500 MG", "70 UNT/ML", "0.4 MG/ACTUAT"): what tells a product
#: name from an ingredient, a class or a condition.
_STRENGTH = re.compile(r"\b\d[\d.,]*\s*(?:MG|MCG|UNT|ML|MEQ|MMOL|ACTUAT)(?:/(?:ML|ACTUAT))?\b")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}(?:T[0-9:.]+(?:Z|[+-]\d{2}:\d{2})?)?$")


def human_date(value: Any) -> str:
    """``25 Jun 2019`` from a FHIR date or dateTime (``Jun 2019``, ``2019`` for partial dates); other text as is."""
    if isinstance(value, date | datetime):
        value = value.isoformat()
    text = str(value or "")
    match = re.match(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?", text)
    if not match:
        return text
    year, month, day = match.groups()
    if month and not 1 <= int(month) <= 12:
        return text
    if day:
        return f"{int(day)} {_MONTHS[int(month) - 1]} {year}"
    return f"{_MONTHS[int(month) - 1]} {year}" if month else year


def human_datetime(value: Any) -> str:
    """``2 Dec 2026, 01:24 UTC`` from a FHIR instant; a date alone as :func:`human_date`."""
    text = str(value or "")
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return human_date(text)
    if moment.tzinfo is None or "T" not in text:
        return human_date(text)
    try:
        moment = moment.astimezone(UTC)
    except (OverflowError, ValueError):
        return human_date(text)
    return f"{moment.day} {_MONTHS[moment.month - 1]} {moment.year}, {moment:%H:%M} UTC"


def is_iso_date(value: Any) -> bool:
    """True for a date (or a FHIR date or dateTime string) that :func:`human_date` should spell out."""
    return isinstance(value, date | datetime) or (isinstance(value, str) and bool(_ISO_DATE.match(value)))


def human_unit(unit: Any) -> str:
    """One spelling per unit: ``mmHg`` for ``mm[Hg]``, ``kg/m²`` for ``kg/m2``, annotations dropped."""
    text = str(unit or "").strip()
    if text in _UNITS:
        return _UNITS[text]
    return re.sub(r"\{[^}]*\}", "", text).replace("[", "").replace("]", "")


def human_value(value: Any, unit: Any = None) -> str:
    """``7.6 %``, ``178/111 mmHg``: a value with its unit as written."""
    if isinstance(value, float):
        value = f"{value:g}"
    shown = human_unit(unit)
    return f"{value} {shown}".strip() if shown else str(value if value is not None else "")


def mmhg(value: Any) -> str:
    """A blood pressure in whole mmHg, as it is measured and written: ``111`` for an average of 111.3.

    Cut, not rounded: the packs' thresholds are whole numbers, so the shown number meets a threshold exactly when
    the average does (an average of 139.6 reads 139 beside "below 140", never 140).
    """
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return str(value)
    return str(math.floor(value))


def medicine_name(name: Any) -> str:
    """A medicine as its ingredients (``metformin hydrochloride``) when ``name`` is an RxNorm product name with a
    strength (``24 HR Metformin hydrochloride 500 MG Extended Release Oral Tablet``); any other text as is."""
    text = str(name or "")
    strengths = _STRENGTH.findall(text)
    if not strengths:
        return text
    found = rxnorm.ingredients(text)
    if len(found) == 1 and len(strengths) == 1:  # one ingredient: its strength too (a statin's dose is its intensity)
        return f"{found[0]} {_strength(strengths[0])}"
    return " / ".join(found) if found else text


def _strength(text: str) -> str:
    """``40 MG`` -> ``40 mg``, ``100 UNT/ML`` -> ``100 units/mL``, as a clinician writes a strength."""
    words = {"MG": "mg", "MCG": "microgram", "UNT": "units", "ML": "mL", "MEQ": "mEq", "MMOL": "mmol",
             "ACTUAT": "actuation"}
    return re.sub(r"[A-Z]+", lambda match: words.get(match.group(0), match.group(0).lower()), text)


def shorten(text: str, limit: int) -> str:
    """``text`` within ``limit`` characters, cut at a word boundary with an ellipsis when it is longer."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[: limit - len(ELLIPSIS) + 1]
    cut = cut[: cut.rfind(" ")] if " " in cut else cut[: limit - len(ELLIPSIS)]
    return cut.rstrip(" ,;:.(-") + ELLIPSIS
