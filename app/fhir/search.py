"""Reading many searches at once: batch Bundles when the server supports them, else a small pool of GETs.

A server runs the entries of one batch one after the other, so the searches are spread over up to
``MAX_PARALLEL`` batch Bundles sent at once: the server's cores work in parallel and the number of requests
still depends only on the number of searches, never on the patient's history.

Both return one :class:`Outcome` per URL, in order: the resource (usually a searchset Bundle) or the typed
error the server gave for that entry, so one refused search (403: scope not granted) does not hide the
others. Paging and a client-side sort complete what a server does not do itself.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_plus, urlsplit

from app.errors import FhirError, FhirMalformedResponse, status_error_class
from app.fhir.client import FhirClient, bundle_entries, next_link

#: Parallel GETs at once when the server has no batch: enough to hide latency, few enough to be polite.
MAX_PARALLEL = 4
#: Threads of the pool that sends batch Bundles, shared by every fetch of the process (several launches at once).
BATCH_THREADS = 4 * MAX_PARALLEL
_batch_pool: ThreadPoolExecutor | None = None
_batch_pool_lock = threading.Lock()


@dataclass
class Outcome:
    """What one GET of a batch (or of the parallel fallback) gave: a resource or a typed error."""

    url: str
    resource: dict[str, Any] | None = None
    error: FhirError | None = None


def batch_get(client: FhirClient, urls: list[str]) -> list[Outcome]:
    """Send every GET in one batch Bundle; each entry's answer becomes an :class:`Outcome`."""
    bundle = {"resourceType": "Bundle", "type": "batch",
              "entry": [{"request": {"method": "GET", "url": url}} for url in urls]}
    answer = client.transaction(bundle, idempotent=True)  # a batch of GETs changes nothing: safe to retry
    entries = answer.get("entry", [])
    if not isinstance(entries, list):
        raise FhirMalformedResponse("the batch answer's 'entry' is not a list")
    if len(entries) != len(urls):
        raise FhirMalformedResponse(f"the batch answer has {len(entries)} entries for {len(urls)} requests")
    return [_entry_outcome(url, entry) for url, entry in zip(urls, entries, strict=True)]


OnAnswer = Callable[[list[Outcome]], None]


def grouped_batch_get(client: FhirClient, urls: list[str], *, groups: int = MAX_PARALLEL,
                      on_answer: OnAnswer | None = None) -> list[Outcome]:
    """The GETs spread over up to ``groups`` batch Bundles sent at once; outcomes in the order of ``urls``.

    ``on_answer`` runs in the worker as soon as each batch is answered, while the others are still in flight.
    """
    groups = max(1, min(groups, len(urls)))

    def one(chunk: list[int]) -> list[Outcome]:
        answer = batch_get(client, [urls[i] for i in chunk])
        if on_answer:
            on_answer(answer)
        return answer

    if groups == 1:
        return one(list(range(len(urls))))
    chunks = [list(range(first, len(urls), groups)) for first in range(groups)]
    pool = _shared_batch_pool()
    # Each batch runs in a copy of the caller's context: its request time is counted for the caller's request.
    futures = [pool.submit(contextvars.copy_context().run, one, chunk) for chunk in chunks]
    wait(futures)  # every batch answered before an error is raised, as when each fetch had its own pool
    answers = [future.result() for future in futures]
    outcomes: list[Outcome | None] = [None] * len(urls)
    for chunk, answer in zip(chunks, answers, strict=True):
        for index, outcome in zip(chunk, answer, strict=True):
            outcomes[index] = outcome
    return [o for o in outcomes if o is not None]


def _shared_batch_pool() -> ThreadPoolExecutor:
    """The process's pool for batch Bundles, made on first use.

    Kept between fetches: starting the threads for every fetch delayed the last batch by a few milliseconds
    (each new thread is waited for before the next is started). A fetch still sends at most ``groups`` batches
    at once; ``BATCH_THREADS`` lets a few fetches (several launches) run at the same time.
    """
    global _batch_pool
    with _batch_pool_lock:
        if _batch_pool is None:
            _batch_pool = ThreadPoolExecutor(max_workers=BATCH_THREADS, thread_name_prefix="fhir-batch")
        return _batch_pool


def parallel_get(client: FhirClient, urls: list[str], *, max_workers: int = MAX_PARALLEL,
                 on_answer: OnAnswer | None = None) -> list[Outcome]:
    """GET every URL with at most ``max_workers`` requests in flight; errors are kept per URL."""
    def one(url: str) -> Outcome:
        try:
            outcome = Outcome(url, resource=client.get_json(url))
        except FhirError as error:
            outcome = Outcome(url, error=error)
        if on_answer:
            on_answer([outcome])
        return outcome

    if len(urls) <= 1:
        return [one(url) for url in urls]
    with ThreadPoolExecutor(max_workers=max(1, min(max_workers, len(urls))), thread_name_prefix="fhir") as pool:
        futures = [pool.submit(contextvars.copy_context().run, one, url) for url in urls]
        return [future.result() for future in futures]


def get_many(client: FhirClient, urls: list[str], *, batch: bool, parallel: int = MAX_PARALLEL,
             on_answer: OnAnswer | None = None) -> list[Outcome]:
    """:func:`grouped_batch_get` when ``batch`` else :func:`parallel_get`, ``parallel`` requests at most at once."""
    if batch:
        return grouped_batch_get(client, urls, groups=parallel, on_answer=on_answer)
    return parallel_get(client, urls, max_workers=parallel, on_answer=on_answer)


def pages_after(client: FhirClient, bundle: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The pages that follow ``bundle`` (its ``next`` links, on this server only)."""
    next_url = next_link(bundle)
    while next_url:
        page = client.get_json(client.url_for(next_url))
        if page.get("resourceType") != "Bundle":
            raise FhirMalformedResponse("a search page that is not a Bundle")
        bundle_entries(page)  # a page whose entries cannot be read is an error here, not an empty page later
        yield page
        next_url = next_link(page)


def honoured_params(bundle: dict[str, Any]) -> set[str]:
    """The search parameters the server says it used: the names in the Bundle's ``self`` link.

    FHIR R4 (search, 3.1.1.4) asks servers to echo in the self link the parameters they actually applied, so
    a ``_sort`` missing there was ignored.
    """
    links = bundle.get("link")
    for link in links if isinstance(links, list) else ():
        if isinstance(link, dict) and link.get("relation") == "self" and isinstance(link.get("url"), str):
            # only the names are decoded: the values (codes, URLs) can be long and are not needed here
            query = urlsplit(link["url"]).query
            return {unquote_plus(part.partition("=")[0]) for part in query.split("&") if part}
    return set()


def sort_resources(resources: list[dict[str, Any]], date_of: Callable[[dict[str, Any]], Any],
                   *, newest_first: bool = True) -> list[dict[str, Any]]:
    """Client-side ``_sort`` fallback: order by ``date_of(resource)``; resources without a date go last."""
    dated = [(date_of(r), r) for r in resources]
    with_date = sorted((pair for pair in dated if pair[0] is not None), key=lambda pair: pair[0],
                       reverse=newest_first)
    return [r for _, r in with_date] + [r for d, r in dated if d is None]


def _entry_outcome(url: str, entry: Any) -> Outcome:
    response = entry.get("response") if isinstance(entry, dict) else None
    if not isinstance(response, dict):
        return Outcome(url, error=FhirMalformedResponse(f"batch entry without a response for {_path(url)}"))
    status_text = str(response.get("status") or "")
    try:
        status = int(status_text.split()[0])
    except (IndexError, ValueError):
        return Outcome(url, error=FhirMalformedResponse(f"batch entry without a status for {_path(url)}"))
    resource = entry.get("resource")
    if 200 <= status < 300:
        if not isinstance(resource, dict):
            error = FhirMalformedResponse(f"batch entry {_path(url)} answered {status} without a body")
            return Outcome(url, error=error)
        return Outcome(url, resource=resource)
    is_outcome = isinstance(resource, dict) and resource.get("resourceType") == "OperationOutcome"
    outcome = response.get("outcome") if isinstance(response.get("outcome"), dict) else None
    outcome = outcome or (resource if is_outcome else None)
    error = status_error_class(status)(f"GET {_path(url)} answered {status_text} in a batch", status=status,
                                      outcome=outcome, url=_path(url), method="GET")
    return Outcome(url, error=error)


def _path(url: str) -> str:
    """The URL without its query (queries name patients and codes; they are not logged or shown)."""
    return url.split("?", 1)[0]
