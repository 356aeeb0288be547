"""Helpers of the patient copy pages (not a blueprint): the language asked for, whom the patient asks for, and
the printable page with a link to each of the pack's languages."""

from __future__ import annotations

from typing import Any

from flask import g, render_template, request, url_for

from app.careplan.patient_copy import PatientCopy, languages
from app.views.names import known_person_name


def copy_language(words: dict[str, dict[str, str]]) -> str:
    """The copy's language from ``?lang=``: one the pack has every word in, else English."""
    wanted = request.args.get("lang", "en")
    return wanted if wanted in languages(words) else "en"


def contact() -> str | None:
    """Whom the patient asks for: the clinician of this launch, by name, when the record names them."""
    user = g.launch.fhir_user or ""
    return known_person_name(user) if user.split("/")[0] in ("Practitioner", "PractitionerRole") else None


def render_copy(copy: PatientCopy, words: dict[str, dict[str, str]], endpoint: str, **values: Any) -> str:
    """The printable patient copy, with a link to each of the pack's languages."""
    links = [(lang, url_for(endpoint, launch_id=g.launch.launch_id, lang=lang, **values))
             for lang in languages(words)]
    return render_template("review/patient.html", launch=g.launch, copy=copy, languages=links)
