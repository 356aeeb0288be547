"""The ``carepath-care-gaps`` service (hook ``patient-view``) without Flask: discovery, and a request to cards.

The way from FHIR JSON to a plan is the sidebar's: the pack's data requirements give the searches
(:func:`app.context.fetch.plan`), the prefetch answers them or the EHR's FHIR server does
(:func:`app.context.fetch.complete_searches`), then :func:`app.context.facts_from_fetch` recognises codes by
value set (whatever the EHR filtered) and :func:`app.careplan.review.plan_from_facts` runs the engine.

Prefetch templates are those searches with ``{{context.patientId}}``: the Patient, then one search per fact key
for Observations (newest first, capped: the codes of every key would not fit in one URL) and one per resource
type for the others (several when a long code list is cut). Upper date bounds are left out: a template is run
on later days than the one it was written on.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from app.careplan.review import plan_from_facts
from app.context import facts_from_fetch
from app.context.fetch import FHIR_ID, Search, complete_searches, plan
from app.context.observations import ObservationReader
from app.context.requirements import merge
from app.errors import CarepathError, FhirError, FhirForbidden, FhirNotFound, FhirUnauthorized
from app.fhir import FhirClient
from app.fhir.capabilities import server_capabilities
from app.smart.discovery import allowed_bases, normalize_base

__all__ = ["HOOK", "PATIENT_TOKEN", "SERVICE_ID", "Answer", "CdsRequestError", "answer", "discovery"]

SERVICE_ID = "carepath-care-gaps"
HOOK = "patient-view"
PATIENT_TOKEN = "{{context.patientId}}"  # noqa: S105 - a CDS Hooks prefetch token, not a secret
_SENTINEL = "carepath-cds-patient-id"  # a FHIR id written into the templates, then replaced by the token
_USER = re.compile(r"^(Practitioner|PractitionerRole|Patient|RelatedPerson)/[A-Za-z0-9\-.]{1,64}$")


class CdsRequestError(CarepathError):
    """A CDS Hooks request carepath cannot answer; ``status`` is the HTTP status to send."""

    title = "The CDS Hooks request cannot be answered"
    status = 400

    def __init__(self, message: str, *, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class Answer:
    """What a service call produced: the plan and facts behind the cards, and how the data was read."""

    patient_id: str
    user: str | None
    plan: dict[str, Any]
    facts: dict[str, Any]
    prefetched: list[str] = field(default_factory=list)
    fetched: list[str] = field(default_factory=list)
    requests: int = 0


def discovery(pack_set: Any, as_of: date, page_count: int) -> dict[str, Any]:
    """The discovery document (``GET /cds-services``) for the packs' data requirements."""
    return {"services": [{
        "id": SERVICE_ID, "hook": HOOK, "title": "carepath care gaps",
        "description": "Care gaps and safety warnings from carepath's guideline packs (diabetes, blood pressure, "
                       "statins, kidney disease, screening...), one card per area, each linking to the plan in "
                       "carepath.",
        "prefetch": prefetch_templates(pack_set, as_of, page_count),
        "usageRequirements": "fhirAuthorization with patient-scoped read access when the prefetch is incomplete.",
    }]}


def prefetch_templates(pack_set: Any, as_of: date, page_count: int) -> dict[str, str]:
    """Prefetch key -> FHIR query with ``{{context.patientId}}``, in the order of the fetch plan."""
    searches = plan(_SENTINEL, pack_set.requirements, None, as_of, page_count, until=False)
    return {key: search.url.replace(_SENTINEL, PATIENT_TOKEN) for key, search in zip(_keys(searches), searches,
                                                                                      strict=True)}


def answer(body: Any, pack_set: Any, as_of: date, settings: Mapping[str, Any]) -> Answer:
    """The plan for a ``patient-view`` request: prefetch used when complete, the rest read from ``fhirServer``."""
    patient_id, user = _context(body)
    wanted = merge(pack_set.requirements)
    page_count = int(settings.get("FHIR_PAGE_COUNT", 200))
    templates = plan(patient_id, wanted, None, as_of, page_count, until=False)
    keys = _keys(templates)
    prefetch = body.get("prefetch") if isinstance(body.get("prefetch"), dict) else {}
    answered = {index: prefetch[key] for index, key in enumerate(keys)
                if _usable(prefetch.get(key), templates[index], patient_id)}
    missing = [keys[index] for index in range(len(keys)) if index not in answered]
    client = _fhir_client(body, settings, needed=bool(missing), missing=missing, patient_id=patient_id)
    reader = ObservationReader(wanted.measures(), as_of)
    try:
        caps = server_capabilities(client) if client is not None and missing else None
        searches = plan(patient_id, wanted, caps, as_of, page_count) if caps is not None else templates
        fetched = complete_searches(client, searches, answered, reader=reader, capabilities=caps)
    except (FhirUnauthorized, FhirForbidden, FhirNotFound) as exc:
        raise CdsRequestError("The EHR's FHIR server did not let carepath read the patient (fhirAuthorization "
                              f"refused or no such patient: {exc.title}).", status=412) from exc
    except FhirError as exc:
        raise CdsRequestError(f"The EHR's FHIR server failed while carepath read the patient: {exc.title}.",
                              status=502) from exc
    facts = facts_from_fetch(fetched, wanted, as_of, reader=reader)
    if not (facts.get("patient") or {}).get("id"):
        raise CdsRequestError("No Patient was found for context.patientId.", status=412)
    return Answer(patient_id, user, plan_from_facts(facts, pack_set, as_of, patient_id), facts,
                  prefetched=[keys[i] for i in sorted(answered)], fetched=missing, requests=fetched.requests)


def _context(body: Any) -> tuple[str, str | None]:
    if not isinstance(body, dict):
        raise CdsRequestError("The request body must be a CDS Hooks request (a JSON object).")
    if body.get("hook") != HOOK:
        raise CdsRequestError(f"This service answers the '{HOOK}' hook only.")
    if not isinstance(body.get("hookInstance"), str) or not body["hookInstance"]:
        raise CdsRequestError("hookInstance is required.")
    context = body.get("context")
    patient_id = context.get("patientId") if isinstance(context, dict) else None
    if not isinstance(patient_id, str) or not FHIR_ID.match(patient_id):
        raise CdsRequestError("context.patientId must be a FHIR id.")
    user = context.get("userId")
    return patient_id, user if isinstance(user, str) and _USER.match(user) else None


def _usable(value: Any, search: Search, patient_id: str) -> bool:
    """A prefetch answer carepath reads: the Patient itself, or a searchset Bundle (never an OperationOutcome)."""
    if not isinstance(value, dict):
        return False
    if search.resource_type == "Patient":
        return value.get("resourceType") == "Patient" and value.get("id") == patient_id
    return value.get("resourceType") == "Bundle" and value.get("type") in (None, "searchset", "collection")


def _fhir_client(body: dict[str, Any], settings: Mapping[str, Any], *, needed: bool, missing: list[str],
                 patient_id: str) -> FhirClient | None:
    """A client on ``fhirServer`` when it is allowed (``SMART_ALLOWED_ISS``) and authorised; None when nothing
    needs reading; :class:`CdsRequestError` (412) when data is missing and cannot be read."""
    server = body.get("fhirServer")
    auth = body.get("fhirAuthorization")
    allowed = set(allowed_bases(settings.get("SMART_ALLOWED_ISS")))
    open_servers = set(allowed_bases(settings.get("SMART_OPEN_SERVERS")))
    shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
    if not isinstance(server, str) or not server:
        if needed:
            raise CdsRequestError(f"The prefetch is incomplete ({shown}) and no fhirServer was given.", status=412)
        return None
    base = normalize_base(server)
    if base not in allowed:
        if needed:
            raise CdsRequestError(f"The prefetch is incomplete ({shown}) and fhirServer is not a FHIR server "
                                  "carepath may read (SMART_ALLOWED_ISS); it was not contacted.", status=412)
        return None
    token = auth.get("access_token") if isinstance(auth, dict) else None
    if isinstance(auth, dict) and auth.get("patient") not in (None, patient_id):
        raise CdsRequestError("fhirAuthorization.patient is not context.patientId.")
    if not isinstance(token, str) or not token:
        if base not in open_servers:
            if needed:
                raise CdsRequestError(f"The prefetch is incomplete ({shown}) and no fhirAuthorization was given.",
                                      status=412)
            return None
        token = None
    return FhirClient.from_config(settings, base_url=base, token=lambda: token)


def _keys(searches: list[Search]) -> list[str]:
    """Prefetch keys for the fetch plan's searches: ``patient``, ``observation-hba1c``, ``condition``,
    ``procedure-2``... (stable for a pack: they follow its data requirements)."""
    keys: list[str] = []
    for search in searches:
        base = search.resource_type.lower() + (f"-{'-'.join(search.keys)}" if search.keys else "")
        base = re.sub(r"[^a-z0-9-]", "-", base.lower())
        key, number = base, 1
        while key in keys:
            number += 1
            key = f"{base}-{number}"
        keys.append(key)
    return keys
