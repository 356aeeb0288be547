"""The one FHIR client of carepath.

Every HTTP call to a FHIR server goes through :meth:`FhirClient.request`, which sets timeouts, retries
idempotent requests, refreshes the token once on a 401 and turns every non-2xx answer into a typed error
from :mod:`app.errors` carrying the server's OperationOutcome. Every URL it sends to passes
:func:`app.outbound.check` on the client's base, and a redirect is followed only by :func:`app.outbound.follow`
(a read, to a target on the same base), never by requests itself.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import requests

from app import timing
from app.errors import (
    FhirMalformedResponse,
    FhirStatusError,
    FhirTimeout,
    FhirUnauthorized,
    FhirUnavailable,
    status_error_class,
)
from app.fhir.decoding import UnreadableJson, loads
from app.outbound import check, follow

log = logging.getLogger(__name__)

FHIR_JSON = "application/fhir+json"
RETRY_STATUSES = frozenset({429, 502, 503, 504})
_OUTSIDE = "the FHIR server carepath was opened with"

TokenProvider = Callable[[], str | None]
RefreshHook = Callable[[], bool]


class FhirClient:
    """A FHIR R4 REST client bound to one base URL.

    ``token`` returns the current access token (or None on an open server); ``on_unauthorized`` is called
    once when the server answers 401 and returns True when it obtained a fresh token.
    """

    def __init__(
        self,
        base_url: str,
        *,
        token: TokenProvider | None = None,
        on_unauthorized: RefreshHook | None = None,
        timeout: float = 15.0,
        retries: int = 3,
        backoff: float = 0.5,
        max_retry_wait: float = 30.0,
        page_count: int = 200,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._token = token
        self._on_unauthorized = on_unauthorized
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.max_retry_wait = max_retry_wait
        self.page_count = page_count
        self.session = _settled(session or requests.Session(), self.base_url)
        self._sleep = sleep
        #: How many HTTP requests this client sent (benchmarks and tests read it).
        self.request_count = 0
        self._count_lock = threading.Lock()  # the context layer sends GETs from a small thread pool

    @classmethod
    def from_config(cls, config: Mapping[str, Any], base_url: str | None = None, **kwargs: Any) -> FhirClient:
        """Build a client from the app's ``FHIR_*`` settings."""
        settings: dict[str, Any] = {
            "timeout": float(config.get("FHIR_TIMEOUT", 15)),
            "retries": int(config.get("FHIR_RETRIES", 3)),
            "backoff": float(config.get("FHIR_BACKOFF", 0.5)),
            "page_count": int(config.get("FHIR_PAGE_COUNT", 200)),
        }
        settings.update(kwargs)
        return cls(base_url or config["FHIR_BASE_URL"], **settings)

    # -- URLs -------------------------------------------------------------------------------------

    def url_for(self, path_or_url: str) -> str:
        """An absolute URL on this server, in normal form (:func:`app.outbound.check`); a URL elsewhere, or one
        that leaves the base through dot segments, raises :class:`app.errors.UnsafeUrl`."""
        absolute = bool(urlsplit(path_or_url).scheme) or path_or_url.startswith("//")
        # A path without a scheme is relative to the base, even when its query holds a URL (code=http://loinc.org|..)
        url = path_or_url if absolute else f"{self.base_url}/{path_or_url.lstrip('/')}"
        return check(url, [self.base_url], outside=_OUTSIDE)

    # -- the one request function ------------------------------------------------------------------

    def request(
        self,
        method: str,
        path_or_url: str,
        *,
        params: Mapping[str, Any] | list[tuple[str, Any]] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool | None = None,
        stream: bool = False,
    ) -> requests.Response:
        """Send one request and return the 2xx response, or raise a typed :class:`FhirError`.

        With ``stream`` the body of a 2xx answer is left unread, for the caller to read in pieces (Bulk Data
        files); the caller closes the response.
        """
        method = method.upper()
        url = self.url_for(path_or_url)
        sent_url = _with_params(url, params)
        sent_headers = {"Accept": FHIR_JSON}
        if json is not None:
            sent_headers["Content-Type"] = FHIR_JSON
        sent_headers.update(headers or {})
        if idempotent is None:
            idempotent = _is_idempotent(method, sent_headers)
        refreshed = False
        attempt = 0
        while True:
            token = self._token() if self._token else None
            if token:
                sent_headers["Authorization"] = f"Bearer {token}"
            started = time.perf_counter()
            try:
                with self._count_lock:
                    self.request_count += 1
                response = follow(
                    lambda target: self.session.request(method, target, json=json, headers=sent_headers,
                                                        timeout=self.timeout, stream=stream, allow_redirects=False),
                    sent_url, [self.base_url], method=method, outside=_OUTSIDE)
            except requests.Timeout as exc:
                error: Exception = FhirTimeout(
                    f"the FHIR server did not answer within {self.timeout:g} s",
                    url=_loggable(url), method=method,
                )
                error.__cause__ = exc
            except requests.ConnectionError as exc:
                error = FhirUnavailable(
                    f"the FHIR server at {urlsplit(url).netloc} cannot be reached",
                    url=_loggable(url), method=method,
                )
                error.__cause__ = exc
            else:
                elapsed_ms = (time.perf_counter() - started) * 1000
                timing.add("fhir", elapsed_ms)
                log.info(
                    "fhir request",
                    extra={"method": method, "path": _loggable(url), "status": response.status_code,
                           "ms": round(elapsed_ms, 1)},
                )
                if 200 <= response.status_code < 300:
                    return response  # a 3xx that was not followed is an error like any other non-2xx answer
                error = _status_error(response, method, url)
                if isinstance(error, FhirUnauthorized) and not refreshed and self._on_unauthorized:
                    refreshed = True
                    if self._on_unauthorized():
                        continue
                if response.status_code not in RETRY_STATUSES:
                    raise error
            if not idempotent or attempt >= self.retries:
                raise error
            wait = self._retry_wait(error, attempt)
            log.warning("fhir retry", extra={"method": method, "path": _loggable(url), "wait_s": wait,
                                             "attempt": attempt + 1, "reason": type(error).__name__})
            self._sleep(wait)
            attempt += 1

    def _retry_wait(self, error: Exception, attempt: int) -> float:
        retry_after = getattr(error, "headers", {}).get("Retry-After") if isinstance(error, FhirStatusError) else None
        if retry_after:
            seconds = parse_retry_after(retry_after)
            if seconds is not None:
                return min(seconds, self.max_retry_wait)
        return min(self.backoff * (2**attempt), self.max_retry_wait)

    # -- conveniences over request() -----------------------------------------------------------------

    def get_json(self, path_or_url: str, params: Mapping[str, Any] | list[tuple[str, Any]] | None = None,
                 **kwargs: Any) -> dict[str, Any]:
        """GET and parse a FHIR JSON resource."""
        return self._json(self.request("GET", path_or_url, params=params, **kwargs))

    def read(self, resource_type: str, resource_id: str) -> dict[str, Any]:
        """Read one resource by type and id."""
        return self.get_json(f"{resource_type}/{resource_id}")

    def search_pages(self, resource_type: str, params: Mapping[str, Any] | list[tuple[str, Any]] | None = None,
                     ) -> Iterator[dict[str, Any]]:
        """Yield each searchset Bundle page, following ``next`` links on this server only; each page holds only
        the entries whose resource has a readable shape (:func:`well_formed`)."""
        query = list(params.items()) if isinstance(params, Mapping) else list(params or [])
        if not any(key == "_count" for key, _ in query):
            query.append(("_count", self.page_count))
        bundle = self.get_json(resource_type, params=query)
        while True:
            _expect_type(bundle, "Bundle")
            yield well_formed(bundle)
            next_url = next_link(bundle)
            if not next_url:
                return
            bundle = self.get_json(self.url_for(next_url))

    def search(self, resource_type: str, params: Mapping[str, Any] | list[tuple[str, Any]] | None = None,
               ) -> list[dict[str, Any]]:
        """All resources of a search, every page, matches and includes alike."""
        return [resource for page in self.search_pages(resource_type, params) for resource in bundle_resources(page)]

    def create(self, resource: dict[str, Any], *, if_none_exist: str | None = None) -> requests.Response:
        """POST a resource; with ``if_none_exist`` a conditional create, safe to retry."""
        headers = {"If-None-Exist": if_none_exist} if if_none_exist else {}
        headers["Prefer"] = "return=representation"
        return self.request("POST", resource["resourceType"], json=resource, headers=headers)

    def update(self, resource: dict[str, Any], *, if_match: str | None = None) -> requests.Response:
        """PUT a resource by its id; with ``if_match`` (an ETag or a version id) a versioned update."""
        headers = {"Prefer": "return=representation"}
        if if_match:
            headers["If-Match"] = if_match if if_match.startswith("W/") else f'W/"{if_match}"'
        return self.request("PUT", f"{resource['resourceType']}/{resource['id']}", json=resource, headers=headers)

    def transaction(self, bundle: dict[str, Any], *, idempotent: bool = False) -> dict[str, Any]:
        """POST a transaction or batch Bundle to the base URL; returns the response Bundle."""
        response = self.request("POST", self.base_url, json=bundle, idempotent=idempotent)
        result = self._json(response)
        _expect_type(result, "Bundle")
        return result

    def capabilities(self) -> dict[str, Any]:
        """The server's CapabilityStatement (``GET /metadata``)."""
        statement = self.get_json("metadata")
        _expect_type(statement, "CapabilityStatement")
        return statement

    @staticmethod
    def _json(response: requests.Response) -> dict[str, Any]:
        body = decoded(response)
        if not isinstance(body, dict) or not isinstance(body.get("resourceType"), str):
            raise FhirMalformedResponse(
                "the FHIR server answered with JSON that is not a FHIR resource", url=_loggable(response.url)
            )
        return body


def decoded(response: requests.Response) -> Any:
    """The JSON of a FHIR answer (:func:`app.fhir.decoding.loads`), or :class:`FhirMalformedResponse` saying why
    it cannot be read."""
    try:
        try:
            return loads(response.content)
        except UnreadableJson:
            # FHIR JSON is UTF-8 (R4, JSON format page); a server that declares another charset is read in it.
            if (response.encoding or "utf-8").lower().replace("_", "-") in ("utf-8", "utf8"):
                raise
            return loads(response.text)
    except UnreadableJson as exc:
        raise FhirMalformedResponse(
            f"the FHIR server answered {response.status_code} with a body carepath cannot read: {exc}",
            url=_loggable(response.url), method=response.request.method if response.request else None,
        ) from exc


def _with_params(url: str, params: Mapping[str, Any] | list[tuple[str, Any]] | None) -> str:
    """``url`` with ``params`` encoded into its query as requests would: a redirect's target is a whole URL, so
    the first request is one too."""
    if not params:
        return url
    prepared = requests.PreparedRequest()
    prepared.prepare_url(url, params)
    return prepared.url or url


def _settled(session: requests.Session, base_url: str) -> requests.Session:
    """``session`` with its proxy and CA-bundle settings read from the environment once, now.

    With ``trust_env`` requests reads the whole environment again for every request (about a millisecond of
    CPU each time); every request of a client goes to the one server, so once is enough. ``~/.netrc`` is not
    read: it could replace the bearer token carepath sends.
    """
    if session.trust_env:
        for scheme, proxy in requests.utils.get_environ_proxies(base_url).items():
            session.proxies.setdefault(scheme, proxy)
        bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
        if bundle and session.verify is True:
            session.verify = bundle
        session.trust_env = False
    return session


def next_link(bundle: Mapping[str, Any]) -> str | None:
    """The ``next`` link of a Bundle, if any; :class:`FhirMalformedResponse` when ``link`` is not a list (the
    pages that follow could not be found, and a search must not look complete when it is not)."""
    links = bundle.get("link")
    if links is not None and not isinstance(links, list):
        raise FhirMalformedResponse("a Bundle whose 'link' is not a list: its next page cannot be found")
    for link in links or ():
        if isinstance(link, dict) and link.get("relation") == "next" and isinstance(link.get("url"), str) \
                and link["url"]:
            return link["url"]
    return None


def bundle_entries(bundle: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The entries of a Bundle that are objects (others hold nothing to read); :class:`FhirMalformedResponse`
    when ``entry`` is there but not a list."""
    entries = bundle.get("entry")
    if entries is None:
        return []
    if not isinstance(entries, list):
        raise FhirMalformedResponse("a Bundle whose 'entry' is not a list")
    return [entry for entry in entries if isinstance(entry, dict)]


def well_formed(bundle: dict[str, Any]) -> dict[str, Any]:
    """``bundle`` with only the entries that hold a resource of a readable shape: an object with a string
    ``resourceType``, an ``id`` that is a string (if any) and a ``meta`` (if any) that is an object whose
    ``versionId`` and ``lastUpdated`` (if any) are strings. Any other entry is left out and logged: it could not
    be referenced, updated with If-Match or ordered by date. A copy only when one is left out."""
    sent = bundle.get("entry")
    kept = [entry for entry in bundle_entries(bundle) if _well_formed(entry.get("resource"))]
    if sent is None or len(kept) == len(sent):
        return bundle
    log.warning("fhir search entries left out", extra={"left_out": len(sent) - len(kept)})
    return {**bundle, "entry": kept}


def _well_formed(resource: Any) -> bool:
    if not isinstance(resource, dict):
        return False
    if not isinstance(resource.get("resourceType"), str) or not isinstance(resource.get("id", ""), str):
        return False
    meta = resource.get("meta", {})
    return isinstance(meta, dict) and all(isinstance(meta.get(key, ""), str) for key in ("versionId", "lastUpdated"))


def bundle_resources(bundle: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The resources of a Bundle's entries that are objects (see :func:`bundle_entries`)."""
    return [entry["resource"] for entry in bundle_entries(bundle) if isinstance(entry.get("resource"), dict)]


def _expect_type(resource: Mapping[str, Any], resource_type: str) -> None:
    if resource.get("resourceType") != resource_type:
        raise FhirMalformedResponse(
            f"expected a {resource_type} from the FHIR server, got {resource.get('resourceType')!r}"
        )


def _is_idempotent(method: str, headers: Mapping[str, str]) -> bool:
    if method in {"GET", "HEAD", "OPTIONS"}:
        return True
    if method == "POST":
        return "If-None-Exist" in headers
    if method == "PUT":
        return "If-Match" in headers
    return False


def _status_error(response: requests.Response, method: str, url: str) -> FhirStatusError:
    outcome = None
    try:
        body = decoded(response)
    except FhirMalformedResponse:
        body = None
    if isinstance(body, dict) and body.get("resourceType") == "OperationOutcome":
        outcome = body
    error_class = status_error_class(response.status_code)
    error = error_class(
        f"{method} {_loggable(url)} answered {response.status_code} {response.reason or ''}".strip(),
        status=response.status_code, outcome=outcome, url=_loggable(url), method=method,
        headers=dict(response.headers),
    )
    return error


def parse_retry_after(value: str) -> float | None:
    """Seconds a Retry-After header asks to wait (delta-seconds or an HTTP date), or None when unreadable."""
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _loggable(url: str) -> str:
    """The URL without its query string: queries may carry identifiers or names, never logged."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}" if parts.scheme else parts.path
