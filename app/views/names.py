"""People's names for the pages: ``Dr. Ada Smith`` instead of ``Practitioner/99111a26``.

Names are read over FHIR once and kept per server for a while (they rarely change); a name that cannot be read
falls back to the kind of person ("a practitioner"), never to the id.
"""

from __future__ import annotations

import re
import time
from datetime import date
from typing import Any

from flask import Flask, current_app, g

from app.careplan import present
from app.errors import FhirError

PEOPLE = ("Practitioner", "PractitionerRole", "Patient", "RelatedPerson", "Person")
_REFERENCE = re.compile(r"^(?:.*/)?(" + "|".join(PEOPLE) + r")/([A-Za-z0-9\-.]{1,64})$")
_TTL = 600.0
_CACHE_LIMIT = 2000
_FALLBACK = {"Practitioner": "a practitioner", "PractitionerRole": "a practitioner", "Patient": "the patient",
             "RelatedPerson": "a related person", "Person": "a person"}


def person_name(reference: Any) -> str:
    """The display name of the person a reference (``Practitioner/1`` or an absolute URL of it) points to."""
    match = _REFERENCE.match(str(reference or "").split("/_history")[0])
    if not match:
        return "someone" if not reference else "another system"
    resource_type, resource_id = match.groups()
    launch = getattr(g, "launch", None)
    if launch is None or not launch.can_read(resource_type):
        return _FALLBACK[resource_type]
    cache: dict[tuple[str, str], tuple[float, str]] = current_app.extensions.setdefault("carepath_names", {})
    key = (launch.iss, f"{resource_type}/{resource_id}")
    hit = cache.get(key)
    if hit and hit[0] > time.monotonic():
        return hit[1]
    try:
        resource = launch.fhir.read(resource_type, resource_id)
    except FhirError:
        return _FALLBACK[resource_type]
    if resource_type == "PractitionerRole":
        name = person_name((resource.get("practitioner") or {}).get("reference"))
    else:
        name = present.human_name(resource, default=_FALLBACK[resource_type])
    if len(cache) >= _CACHE_LIMIT:
        cache.clear()
    cache[key] = (time.monotonic() + _TTL, name)
    return name


def who(text: Any) -> str:
    """A name for an author as the record gives it: a reference becomes the person's name, a display stays."""
    value = str(text or "")
    return person_name(value) if _REFERENCE.match(value.split("/_history")[0]) else present.clean_text(value)


def init_app(app: Flask) -> None:
    """Make the presentation helpers available to every template."""
    app.jinja_env.filters.update(
        who=who,
        human_date=present.human_date, human_datetime=present.human_datetime, human_unit=present.human_unit,
        human_value=present.human_value, clean_text=present.clean_text, fact_line=present.fact_line,
        record_kind=present.record_kind)
    app.jinja_env.filters["age"] = lambda birth_date: present.age_on(birth_date, date.today())
    app.jinja_env.globals.update(person_name=person_name)


def known_person_name(reference: Any) -> str | None:
    """The person's name when the record gives one; None where :func:`person_name` would say "a practitioner"."""
    name = person_name(reference)
    return None if name in _FALLBACK.values() or name in ("someone", "another system") else name
