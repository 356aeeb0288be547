"""Fetching what the requirements name: a fixed set of searches, so the request count does not grow with
the patient's history.

A few batch Bundles sent at once (or, without batch, the same GETs from a small pool) hold: the Patient;
one Observation search per fact key (its codes, usable statuses only, newest first, capped at twice the
series kept); every Condition; active MedicationRequests with their Medications; every AllergyIntolerance
(safety needs all of them); completed Procedures, final DiagnosticReports and ServiceRequests with the value
sets' codes (cut into several searches where the list is long); every DeviceRequest; completed MedicationRequests
of the not-done keys' codes (orders not to give a medicine); Encounters within the look-back of the Encounter keys. A
search the server cannot sort is paged to the end, sorted here and cut to the same cap. A search the server
refuses (403: scope not granted) is named in the notes instead of failing the whole context.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any
from urllib.parse import urlencode

from app.context import resources as context_resources
from app.context.dates import EFFECTIVE_FIELDS, effective, lookback_start
from app.context.observations import SERIES_LIMIT, ObservationReader
from app.context.requirements import Requirement, merge
from app.context.resources import USED_TYPES, validate
from app.errors import FhirError, FhirForbidden, FhirMalformedResponse, FhirStatusError
from app.fhir.capabilities import Capabilities, server_capabilities
from app.fhir.client import FhirClient, bundle_resources, next_link
from app.fhir.search import Outcome, get_many, honoured_params, pages_after, sort_resources

FHIR_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}\Z")  # \Z: "$" would let a trailing newline through
OBSERVATION_STATUSES = "final,amended,corrected"
#: Request statuses read: an order that counts (active, completed) or an order not to do something that still
#: stands (also on hold); drafts, revoked and entered-in-error ones never count.
REQUEST_STATUSES = "active,completed,on-hold"
#: Newest results read per fact key: twice the series kept, so that unusable values do not shorten it.
SEARCH_CAP = 2 * SERIES_LIMIT
#: Characters of ``code`` values per search (a GET's URL stays within the 8 KB most servers take).
CODE_PARAM_LIMIT = 4000
#: Answers to a batch that send carepath to parallel GETs: the server has no batch endpoint (remembered for the
#: server), or refused this batch as a whole (a proxy refusing a batch whose entries need a scope the token
#: lacks: the GETs one by one then say which type could not be read).
_NO_BATCH_STATUSES = frozenset({404, 405, 501})
_BATCH_REFUSED_STATUSES = frozenset({400, 403, 422})
_servers_without_batch: set[str] = set()
_lock = threading.Lock()


class NotAnswered(FhirError):
    """A search neither prefetched (CDS Hooks) nor fetchable: no FHIR server was given to ask."""

    title = "Not prefetched, and no FHIR server to ask"


@dataclass
class Search:
    """One GET of the fetch plan: what it is for, its URL, and whether its first page is enough."""

    resource_type: str
    url: str
    capped: bool = False
    keys: tuple[str, ...] = ()


@dataclass
class FetchResult:
    """The resources read, what could not be read and why, and what it cost."""

    resources: list[dict[str, Any]] = field(default_factory=list)
    notes: list[dict[str, str]] = field(default_factory=list)
    unreadable: dict[str, str] = field(default_factory=dict)
    requests: int = 0
    mode: str = "batch"


def plan(patient_id: str, requirements: Iterable[Requirement], capabilities: Capabilities | None = None,
         as_of: date | None = None, page_count: int = 200, *, until: bool = True) -> list[Search]:
    """The searches that fetch one patient's data for ``requirements`` (no network).

    ``until=False`` leaves out the upper date bounds (a CDS Hooks prefetch template: it is run on later days
    than the one it was written on, and a stale lower bound only brings more data, which facts filter).
    """
    if not FHIR_ID.match(patient_id or ""):
        raise ValueError("a FHIR patient id is 1-64 letters, digits, '-' or '.'")
    wanted = merge(requirements)
    caps = capabilities or Capabilities()
    searches = [Search("Patient", f"Patient/{patient_id}")]
    by_codes: dict[tuple[tuple[str, str], ...], list[str]] = {}
    for key, requirement in wanted.of("Observation").items():
        by_codes.setdefault(requirement.codes, []).append(key)
    for fed, chunk in ((fed, chunk) for codes, fed in by_codes.items() for chunk in _chunks(codes)):
        params = _params(caps, "Observation", patient_id, chunk, status=OBSERVATION_STATUSES)
        if _declares(caps, "Observation", "date") and as_of is not None and until:
            # a day of margin: the server reads dates in its own zone; facts apply the exact day
            params.append(("date", f"le{(as_of + timedelta(days=1)).isoformat()}"))
        params += [("_sort", "-date"), ("_count", str(SEARCH_CAP))]
        searches.append(Search("Observation", _url("Observation", params), capped=True, keys=tuple(fed)))
    # Observations recorded as not done (QI-Core notDone, status cancelled) for the not-done keys; those recorded
    # with another status come with the measure searches above
    codes = tuple(dict.fromkeys(c for r in wanted.not_done("Observation").values() for c in r.codes))
    for chunk in _chunks(codes):
        params = _params(caps, "Observation", patient_id, chunk, status="cancelled")
        searches.append(Search("Observation", _url("Observation", [*params, ("_count", str(page_count))])))
    # Conditions and Devices whole: a patient has few; a code search would miss subcodes newer than the value
    # sets (an ICD-10-CM subdivision of a listed code is recognised here, by the code system's structure), and
    # device types are not always searchable.
    for resource_type in ("Condition", "Device"):
        if wanted.of(resource_type):
            params = _params(caps, resource_type, patient_id, ())
            searches.append(Search(resource_type, _url(resource_type, [*params, ("_count", str(page_count))])))
    if wanted.of("DeviceRequest") or wanted.not_done("DeviceRequest"):
        # whole, like Devices (a patient has few; a device code is not always searchable); on hold for the orders
        # not to do something (not_done)
        params = _params(caps, "DeviceRequest", patient_id, (), status=REQUEST_STATUSES)
        searches.append(Search("DeviceRequest", _url("DeviceRequest", [*params, ("_count", str(page_count))])))
    for resource_type, status in (("Procedure", "completed"), ("DiagnosticReport", "final,amended,corrected,appended"),
                                  ("ServiceRequest", REQUEST_STATUSES)):
        keys = [*wanted.of(resource_type).values(), *wanted.not_done(resource_type).values()]
        codes = tuple(dict.fromkeys(c for r in keys for c in r.codes))
        for chunk in _chunks(codes):
            params = _params(caps, resource_type, patient_id, chunk, status=status)
            searches.append(Search(resource_type, _url(resource_type, [*params, ("_count", str(page_count))])))
    if wanted.of("Encounter"):
        # Encounters by date, not code: a hospice discharge disposition is not a search parameter.
        params = _params(caps, "Encounter", patient_id, ())
        if as_of is not None and _declares(caps, "Encounter", "date"):
            since = min(lookback_start(as_of, *(r.lookback or (12, "mo"))) for r in wanted.of("Encounter").values())
            params.append(("date", f"ge{since.isoformat()}"))
            if until:
                params.append(("date", f"le{(as_of + timedelta(days=1)).isoformat()}"))
        searches.append(Search("Encounter", _url("Encounter", [*params, ("_count", str(page_count))])))
    # Active medication requests are few whatever the history; fetched whole so that a medicationReference
    # (which a code search does not see) is classified too.
    params = _params(caps, "MedicationRequest", patient_id, (), status="active")
    params += [("_include", "MedicationRequest:medication"), ("_count", str(page_count))]
    searches.append(Search("MedicationRequest", _url("MedicationRequest", params)))
    # Orders not to give a medicine (not_done) are often recorded as completed: those of the not-done keys' codes.
    # Completed orders also count as recent therapy for the keys that say so (Requirement.completed).
    recent = [r for r in wanted.of("MedicationRequest").values() if r.completed]
    codes = tuple(dict.fromkeys(c for r in [*wanted.not_done("MedicationRequest").values(), *recent] for c in r.codes))
    for chunk in _chunks(codes):
        params = _params(caps, "MedicationRequest", patient_id, chunk, status="completed,on-hold")
        searches.append(Search("MedicationRequest", _url("MedicationRequest", [*params, ("_count", str(page_count))])))
    params = [*_params(caps, "AllergyIntolerance", patient_id, ()), ("_count", str(page_count))]
    searches.append(Search("AllergyIntolerance", _url("AllergyIntolerance", params)))
    if wanted.of("AdverseEvent"):
        # whole, like allergies: a patient has few, and the substance is not a search parameter
        params = [("subject", f"Patient/{patient_id}"), ("_count", str(page_count))]
        searches.append(Search("AdverseEvent", _url("AdverseEvent", params)))
    return searches


def fetch_resources(client: FhirClient, patient_id: str, requirements: Iterable[Requirement], *,
                    as_of: date | None = None, reader: ObservationReader | None = None) -> FetchResult:
    """Read one patient's data for ``requirements``: a batch when the server has one, else parallel GETs.

    ``reader`` (for the same keys and date as the facts to come) reads each answer's Observations as it
    arrives.
    """
    started = client.request_count
    caps = server_capabilities(client)
    result = complete_searches(client, plan(patient_id, requirements, caps, as_of, client.page_count), {},
                               reader=reader, capabilities=caps)
    result.requests = client.request_count - started
    return result


def complete_searches(client: FhirClient | None, searches: list[Search], answered: Mapping[int, dict[str, Any]],
                      *, reader: ObservationReader | None = None,
                      capabilities: Capabilities | None = None) -> FetchResult:
    """The resources of ``searches``: those ``answered`` already (index -> resource or searchset Bundle, e.g. a
    CDS Hooks prefetch) are read as given, the others are fetched from ``client`` (None: no server to ask,
    they are named unreadable)."""
    result = FetchResult(mode="prefetch" if answered else "batch")
    started = client.request_count if client is not None else 0
    missing = [index for index in range(len(searches)) if index not in answered]
    outcomes = {index: Outcome(searches[index].url, resource=dict(resource)) for index, resource in answered.items()}
    read_ahead = _read_ahead(reader)
    read_ahead(list(outcomes.values()))
    if missing and client is not None:
        caps = capabilities or server_capabilities(client)
        mode, fetched = _get_searches(client, caps, [searches[index].url for index in missing], read_ahead)
        result.mode = mode if not answered else f"prefetch+{mode}"
        outcomes.update(zip(missing, fetched, strict=True))
    for index, search in enumerate(searches):
        if index in outcomes:
            _collect(client, search, outcomes[index], result)
        else:
            _unreadable(result, search.resource_type, NotAnswered("not prefetched and no FHIR server to ask"))
    result.requests = (client.request_count - started) if client is not None else 0
    return result


def _get_searches(client: FhirClient, caps: Capabilities, urls: list[str],
                  read_ahead: Callable[[list[Outcome]], None]) -> tuple[str, list[Outcome]]:
    """("batch" or "parallel", one outcome per URL)."""
    use_batch = (caps.batch or caps.transaction) and client.base_url not in _servers_without_batch
    if use_batch:
        try:
            return "batch", get_many(client, urls, batch=True, on_answer=read_ahead)
        except FhirStatusError as error:
            if error.status in _NO_BATCH_STATUSES:
                with _lock:
                    _servers_without_batch.add(client.base_url)
            elif error.status not in _BATCH_REFUSED_STATUSES:
                raise
    return "parallel", get_many(client, urls, batch=False, on_answer=read_ahead)


def _read_ahead(reader: ObservationReader | None) -> Callable[[list[Outcome]], None]:
    """What to do with each answer while the other requests are still in flight: validate its resources and,
    with a ``reader``, read its Observations as facts will (:meth:`ObservationReader.gather`).

    Facts then find the verdicts remembered per server version and the Observations already read.
    """
    def read(outcomes: list[Outcome]) -> None:
        for outcome in outcomes:
            resource = outcome.resource
            if not isinstance(resource, dict):
                continue
            entries = resource.get("entry") if resource.get("resourceType") == "Bundle" else [{"resource": resource}]
            found = [e["resource"] for e in entries if isinstance(e, dict) and isinstance(e.get("resource"), dict)] \
                if isinstance(entries, list) else []
            observations = [r for r in found if r.get("resourceType") == "Observation"]
            if reader is not None and observations:
                reader.prepare(observations)
                found = [r for r in found if r.get("resourceType") != "Observation"]
            for other in found[:SERIES_LIMIT]:
                if context_resources.resource_type(other) in USED_TYPES:
                    validate(other)
    return read


def _collect(client: FhirClient | None, search: Search, outcome: Outcome, result: FetchResult) -> None:
    if outcome.error is not None:
        if search.resource_type == "Patient":
            raise outcome.error  # no plan without the patient: never an empty plan for "patient (unknown)"
        _unreadable(result, search.resource_type, outcome.error)
        return
    resource = outcome.resource or {}
    if "?" not in search.url:  # a read (the Patient): the resource itself
        if resource.get("resourceType") != search.resource_type:
            raise FhirMalformedResponse(f"expected a {search.resource_type} from the FHIR server, got "
                                        f"{str(resource.get('resourceType'))[:64]!r}")
        result.resources.append(resource)
        return
    if resource.get("resourceType") != "Bundle":
        # an answer that is not a searchset says nothing about what the record holds: never "none of that type"
        _unreadable(result, search.resource_type, FhirMalformedResponse("a search answered without a Bundle"))
        return
    try:
        found = bundle_resources(resource)
    except FhirError as error:
        _unreadable(result, search.resource_type, error)
        return
    pages = [resource]
    # A capped search is complete on its first page only when the server applied _sort (it says so in
    # the self link); otherwise every page is read, sorted here and cut to the same cap.
    sorted_by_server = "_sort" in honoured_params(resource)
    if (not search.capped or not sorted_by_server) and next_link(resource):
        try:
            if client is None:
                raise NotAnswered("a prefetched search has more pages and there is no FHIR server to ask")
            pages += list(pages_after(client, resource))
        except FhirError as error:
            _unreadable(result, search.resource_type, error, partial=True)
    found += [item for page in pages[1:] for item in bundle_resources(page)]
    if search.capped and not sorted_by_server:
        found = sort_resources(found, _instant)[:SEARCH_CAP]
    result.resources += found


def _instant(resource: dict[str, Any]) -> float | None:
    """When a result was taken (UTC seconds), for the client-side sort; None when it has no readable date."""
    try:
        when = effective(resource, *EFFECTIVE_FIELDS)
    except (ValueError, TypeError, AttributeError):
        return None
    return when.instant.timestamp() if when else None


def unreadable_message(resource_type: str, error: FhirError, *, partial: bool = False) -> str:
    """What a reader is told about a search that failed: "could not see Goal: scope not granted"."""
    if isinstance(error, FhirForbidden):
        reason = "scope not granted"
    elif isinstance(error, FhirStatusError):
        reason = f"{error.title.lower()} ({error.status})"
    else:
        reason = error.title.lower()
    return f"could {'only partly ' if partial else 'not '}see {resource_type}: {reason}"


def _unreadable(result: FetchResult, resource_type: str, error: FhirError, *, partial: bool = False) -> None:
    message = unreadable_message(resource_type, error, partial=partial)
    if resource_type not in result.unreadable:
        result.unreadable[resource_type] = message
        result.notes.append({"type": resource_type, "message": message})


def _declares(caps: Capabilities, resource_type: str, param: str) -> bool:
    """True when the server lists ``param`` for the type, or lists nothing for it (then we try)."""
    declared = caps.search_params.get(resource_type)
    return not declared or param in declared or param in caps.common_params


def _params(caps: Capabilities, resource_type: str, patient_id: str, codes: tuple[tuple[str, str], ...],
            *, status: str | None = None) -> list[tuple[str, str]]:
    if _declares(caps, resource_type, "patient"):
        params = [("patient", patient_id)]
    else:
        params = [("subject", f"Patient/{patient_id}")]
    if codes and _declares(caps, resource_type, "code"):
        params.append(("code", ",".join(f"{system}|{code}" for system, code in codes)))
    if status and _declares(caps, resource_type, "status"):
        params.append(("status", status))
    return params


def _chunks(codes: tuple[tuple[str, str], ...]) -> list[tuple[tuple[str, str], ...]]:
    """The codes cut so that no search URL outgrows what servers accept (about 4 KB of codes each); the number
    of searches depends on the pack, never on the patient's history."""
    chunks: list[tuple[tuple[str, str], ...]] = []
    current: list[tuple[str, str]] = []
    size = 0
    for system, code in codes:
        length = len(system) + len(code) + 2
        if current and size + length > CODE_PARAM_LIMIT:
            chunks.append(tuple(current))
            current, size = [], 0
        current.append((system, code))
        size += length
    if current:
        chunks.append(tuple(current))
    return chunks


def _url(resource_type: str, params: list[tuple[str, str]]) -> str:
    return f"{resource_type}?{urlencode(params, safe=':/|,')}"
