"""The sandbox's own reads of the upstream FHIR server (local HAPI) for its pickers and chart page."""

from __future__ import annotations

import contextlib
from datetime import date
from typing import Any

import requests

from app.careplan import present


class UpstreamError(Exception):
    """The upstream FHIR server could not be read."""


def _get(sandbox: Any, path: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
    try:
        response = sandbox.http.get(f"{sandbox.upstream}/{path}", params=params,
                                    headers={"Accept": "application/fhir+json"}, timeout=30)
        response.raise_for_status()
        return response.json()
    except (requests.RequestException, ValueError) as exc:
        raise UpstreamError(f"The FHIR server {sandbox.upstream} could not be read ({type(exc).__name__}).") from exc


def human_name(resource: dict[str, Any]) -> str:
    """A display name from a Patient or Practitioner (its id when it has none)."""
    return present.human_name(resource, default=str(resource.get("id", "?")))


def patients(sandbox: Any, limit: int = 1000) -> list[dict[str, Any]]:
    """Patients for the picker (up to ``limit``, following the server's pages): id, name, birth date, gender, age
    and main conditions (read from the server)."""
    bundle = _get(sandbox, "Patient", {"_count": 200, "_sort": "family",
                                       "_elements": "name,birthDate,gender,deceasedDateTime,deceasedBoolean"})
    found: list[dict[str, Any]] = []
    while True:
        found += [entry["resource"] for entry in bundle.get("entry", [])
                  if entry.get("resource", {}).get("resourceType") == "Patient"]
        following = next((link.get("url") for link in bundle.get("link", []) if link.get("relation") == "next"), None)
        if len(found) >= limit or not following or not following.startswith(sandbox.upstream):
            break
        bundle = _get(sandbox, following[len(sandbox.upstream):].lstrip("/"))
    found = found[:limit]
    conditions = main_conditions(sandbox)
    return [{"id": patient["id"], "name": human_name(patient), "birthDate": patient.get("birthDate", ""),
             "gender": patient.get("gender", ""), "age": _age(patient),
             "conditions": conditions.get(patient["id"], [])} for patient in found]


def main_conditions(sandbox: Any, limit: int = 2000) -> dict[str, list[str]]:
    """Per patient id, the labels of the active chronic conditions carepath's data requirements name
    (diabetes, hypertension, kidney disease...), recognised by their value sets; {} when unreadable."""
    from app.context import default_requirements

    wanted = [r for r in default_requirements() if r.type == "Condition" and not r.history]
    found: dict[str, list[str]] = {}
    params: dict[str, Any] | None = {"clinical-status": "active", "_elements": "subject,code", "_count": 1000}
    path, read = "Condition", 0
    try:
        while path and read < limit:
            page = _get(sandbox, path, params)
            for entry in page.get("entry", []):
                read += 1
                condition = entry.get("resource") or {}
                owner = ((condition.get("subject") or {}).get("reference") or "").split("/")[-1]
                for coding in (condition.get("code") or {}).get("coding") or []:
                    for requirement in wanted:
                        label = requirement.name
                        if requirement.matches(coding) and label not in found.setdefault(owner, []):
                            found[owner].append(label)
            following = next((link["url"] for link in page.get("link", []) if link.get("relation") == "next"), "")
            path = following[len(sandbox.upstream) + 1:] if following.startswith(sandbox.upstream + "/") else ""
            params = None
    except UpstreamError:
        return {}
    return found


def _age(patient: dict[str, Any]) -> int | None:
    """Whole years from the birth date to today (or to the date of death)."""
    try:
        born = date.fromisoformat(str(patient.get("birthDate", ""))[:10])
    except ValueError:
        return None
    until = date.today()
    if isinstance(patient.get("deceasedDateTime"), str):
        with contextlib.suppress(ValueError):
            until = date.fromisoformat(patient["deceasedDateTime"][:10])
    return until.year - born.year - ((until.month, until.day) < (born.month, born.day))


def practitioners(sandbox: Any, count: int = 50) -> list[dict[str, str]]:
    """Practitioners for the picker: id and name."""
    bundle = _get(sandbox, "Practitioner", {"_count": count, "_elements": "name"})
    return [
        {"id": entry["resource"]["id"], "name": human_name(entry["resource"])}
        for entry in bundle.get("entry", []) if entry.get("resource", {}).get("resourceType") == "Practitioner"
    ]


def patient_label(sandbox: Any, patient_id: str) -> str:
    """A patient's display name."""
    return human_name(_get(sandbox, f"Patient/{patient_id}"))


def chart(sandbox: Any, patient_id: str) -> dict[str, Any]:
    """What the simulated EHR chart shows: the patient and their active problems."""
    patient = _get(sandbox, f"Patient/{patient_id}")
    conditions = _get(sandbox, "Condition", {"patient": patient_id, "clinical-status": "active", "_count": 20})
    problems = sorted({
        ((entry["resource"].get("code") or {}).get("text")
         or ((entry["resource"].get("code") or {}).get("coding") or [{}])[0].get("display") or "?")
        for entry in conditions.get("entry", [])
    })
    return {"patient": patient, "name": human_name(patient), "problems": problems}


def latest_encounter(sandbox: Any, patient_id: str) -> str | None:
    """The id of the patient's most recent Encounter, for the launch context."""
    try:
        bundle = _get(sandbox, "Encounter", {"patient": patient_id, "_sort": "-date", "_count": 1,
                                             "_elements": "id"})
    except UpstreamError:
        return None
    entries = bundle.get("entry") or []
    return entries[0]["resource"]["id"] if entries else None
