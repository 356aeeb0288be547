"""The patient context: fetch what a guideline pack needs and turn it into facts (docs/facts.md)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import TYPE_CHECKING, Any

from app.context.facts import facts_from_resources
from app.context.observations import ObservationReader
from app.context.requirements import (
    Requirement,
    RequirementSet,
    default_requirements,
    merge,
    requirements_from_library,
)
from app.context.resources import from_bundle

if TYPE_CHECKING:  # fetching (and its HTTP client) is imported on first use: a Bundle file needs none of it
    from app.context.fetch import FetchResult, fetch_resources
    from app.fhir.client import FhirClient

#: What the plan calls a score it could not compute because results could not be read.
SCORE_NAMES = {"ascvd10y": "10-year ASCVD risk", "egfr": "eGFR", "bmi": "BMI"}

__all__ = [
    "FetchResult",
    "Requirement",
    "RequirementSet",
    "assemble",
    "default_requirements",
    "facts_from_bundle",
    "facts_from_fetch",
    "facts_from_resources",
    "fetch_resources",
    "requirements_from_library",
]


def facts_from_bundle(bundle: dict[str, Any], requirements: Iterable[Requirement], as_of: date | str) -> dict[str, Any]:
    """Facts from any Bundle: a Synthea transaction, a searchset, a batch response, a collection export."""
    return facts_from_resources(from_bundle(bundle), requirements, as_of)


def assemble(client: FhirClient, patient_id: str, requirements: Iterable[Requirement],
             as_of: date | str) -> dict[str, Any]:
    """Fetch the patient's data and return its facts, with what could not be read named in ``missing``."""
    as_of = date.fromisoformat(as_of) if isinstance(as_of, str) else as_of
    wanted = merge(requirements)
    reader = ObservationReader(wanted.measures(), as_of)  # reads each answer as it arrives
    from app.context.fetch import fetch_resources

    fetched = fetch_resources(client, patient_id, wanted, as_of=as_of, reader=reader)
    return facts_from_fetch(fetched, wanted, as_of, reader=reader)


def facts_from_fetch(fetched: FetchResult, requirements: Iterable[Requirement], as_of: date | str, *,
                     reader: ObservationReader | None = None) -> dict[str, Any]:
    """Facts from resources already fetched (by :func:`assemble`, or a CDS Hooks prefetch completed by
    :func:`app.context.fetch.complete_searches`), with what could not be read named in ``missing``.

    The one way from FHIR JSON to facts: recognition by value set happens here, whatever the server filtered.
    """
    as_of = date.fromisoformat(as_of) if isinstance(as_of, str) else as_of
    wanted = merge(requirements)
    facts = facts_from_resources(fetched.resources, wanted, as_of, reader=reader)
    blind = [r for r in wanted if r.type in fetched.unreadable]
    # "unreadable": the engine neither proposes nor rules out what depends on these keys (docs/facts.md)
    unseen = [{"key": r.key, "message": f"{r.name} unknown: {fetched.unreadable[r.type]}", "unreadable": True}
              for r in blind]
    for resource_type, key in (("MedicationRequest", "medications"), ("AllergyIntolerance", "allergies")):
        if resource_type in fetched.unreadable:
            unseen.append({"key": key, "message": fetched.unreadable[resource_type], "unreadable": True})
    blind_keys = {r.key for r in blind}
    if "Observation" in fetched.unreadable:
        # every score is computed from results (or reported as one): one that "cannot be computed" is unknown
        for entry in facts["missing"]:
            if entry["key"].startswith("scores.") and entry["key"] not in blind_keys:
                name = entry["key"].removeprefix("scores.")
                unseen.append({"key": entry["key"], "message": f"{SCORE_NAMES.get(name, name)} unknown: "
                                                              f"{fetched.unreadable['Observation']}",
                               "unreadable": True})
                blind_keys.add(entry["key"])
    facts["missing"] = unseen + [m for m in facts["missing"] if m["key"] not in blind_keys]
    facts["fetch"] = {"mode": fetched.mode, "requests": fetched.requests, "notes": fetched.notes}
    return facts


def __getattr__(name: str) -> Any:
    if name in ("FetchResult", "fetch_resources"):
        from app.context import fetch

        return getattr(fetch, name)
    raise AttributeError(f"module 'app.context' has no attribute {name!r}")
