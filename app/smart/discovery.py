"""Which FHIR servers carepath trusts, and what their ``.well-known/smart-configuration`` says.

The allow-list is checked before any network call: an unknown ``iss`` never receives a request (no SSRF,
and no client secret or assertion is ever sent to a stranger's token endpoint). Base URLs are compared in the
normal form of :mod:`app.outbound`, and the discovery documents are fetched through :func:`app.outbound.follow`
(a redirect only to the same ``iss``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import requests

from app.errors import FhirError, UnsafeUrl
from app.outbound import get, normalize
from app.smart.errors import DiscoveryFailed, UnknownIssuer

__all__ = ["SmartConfiguration", "allowed_bases", "check_iss", "discover", "is_loopback", "normalize_base"]

_LOOPBACK = {"localhost", "127.0.0.1", "::1", "[::1]"}


def normalize_base(url: str) -> str:
    """A FHIR base URL in comparable form (:func:`app.outbound.normalize`: lower-case scheme and host, no default
    port, no dot segments), without its query and trailing slash; "" for a URL carepath would never contact."""
    try:
        return normalize(url.strip()).split("?", 1)[0].rstrip("/")
    except UnsafeUrl:
        return ""


def allowed_bases(urls: Iterable[str] | None) -> list[str]:
    """The usable entries of a list of base URLs (``SMART_ALLOWED_ISS``, ``SMART_OPEN_SERVERS``), normalized."""
    return [base for base in (normalize_base(str(url)) for url in urls or []) if base]


def check_iss(iss: str | None, allowed: Iterable[str]) -> str:
    """The normalized ``iss`` when it is on the allow-list; otherwise :class:`UnknownIssuer`."""
    if not iss:
        raise UnknownIssuer("The launch did not say which EHR (FHIR server) it comes from (no 'iss').")
    normalized = normalize_base(iss)
    if not normalized or normalized not in allowed_bases(allowed):
        shown = iss if len(iss) <= 120 else iss[:117] + "..."
        raise UnknownIssuer(
            f"The FHIR server {shown} is not on carepath's list of allowed EHRs, so carepath did not contact "
            "it. If this EHR should be allowed, ask your administrator to add it to SMART_ALLOWED_ISS."
        )
    return normalized


def is_loopback(url: str) -> bool:
    """True for http(s) URLs on this machine (where plain http is acceptable)."""
    return (urlsplit(url).hostname or "") in _LOOPBACK


@dataclass(frozen=True)
class SmartConfiguration:
    """The fields of a SMART configuration document carepath uses."""

    iss: str
    authorization_endpoint: str
    token_endpoint: str
    issuer: str | None = None
    jwks_uri: str | None = None
    revocation_endpoint: str | None = None
    capabilities: tuple[str, ...] = ()
    code_challenge_methods_supported: tuple[str, ...] = ()
    token_endpoint_auth_methods_supported: tuple[str, ...] = ()
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def parse(cls, iss: str, document: Any) -> SmartConfiguration:
        """Validate a discovery document; :class:`DiscoveryFailed` names what is wrong."""
        if not isinstance(document, dict):
            raise DiscoveryFailed(f"{iss}/.well-known/smart-configuration is not a JSON object.")
        for name in ("authorization_endpoint", "token_endpoint"):
            value = document.get(name)
            if not isinstance(value, str) or urlsplit(value).scheme not in {"http", "https"}:
                raise DiscoveryFailed(f"The EHR's SMART configuration has no usable {name}.")
            if urlsplit(value).scheme != "https" and not is_loopback(value):
                raise DiscoveryFailed(f"The EHR's {name} is not HTTPS; carepath refuses to send credentials "
                                      "over plain HTTP off this machine.")
        methods = _strings(document, "code_challenge_methods_supported")
        if methods and "S256" not in methods:
            raise DiscoveryFailed("The EHR does not support PKCE with S256, which SMART App Launch 2 requires; "
                                  "carepath never falls back to 'plain'.")
        return cls(
            iss=iss,
            authorization_endpoint=document["authorization_endpoint"],
            token_endpoint=document["token_endpoint"],
            issuer=document.get("issuer"),
            jwks_uri=document.get("jwks_uri"),
            revocation_endpoint=document.get("revocation_endpoint"),
            capabilities=_strings(document, "capabilities"),
            code_challenge_methods_supported=methods,
            token_endpoint_auth_methods_supported=_strings(document, "token_endpoint_auth_methods_supported"),
            raw=document,
        )


_cache: dict[str, tuple[float, SmartConfiguration]] = {}
_cache_lock = threading.Lock()


def discover(iss: str, *, session: requests.Session, timeout: float, ttl: float = 300) -> SmartConfiguration:
    """``{iss}/.well-known/smart-configuration``, cached ``ttl`` seconds. ``iss`` must be allow-listed."""
    now = time.monotonic()
    with _cache_lock:
        cached = _cache.get(iss)
    if cached and cached[0] > now:
        return cached[1]
    url = f"{iss}/.well-known/smart-configuration"
    try:
        response = get(session, url, [iss], timeout=timeout, outside="the EHR's FHIR server")
    except requests.Timeout as exc:
        raise DiscoveryFailed(f"The EHR did not answer {url} within {timeout:g} s.") from exc
    except requests.RequestException as exc:
        raise DiscoveryFailed(f"The EHR at {urlsplit(iss).netloc} cannot be reached.") from exc
    except FhirError as exc:
        raise DiscoveryFailed(f"carepath could not read {url}: {exc.message}.") from exc
    if response.status_code != 200:
        raise DiscoveryFailed(f"{url} answered {response.status_code}: the EHR does not publish a SMART "
                              "configuration there.")
    try:
        document = response.json()
    except ValueError as exc:
        raise DiscoveryFailed(f"{url} did not answer with JSON.") from exc
    configuration = SmartConfiguration.parse(iss, document)
    with _cache_lock:
        _cache[iss] = (now + ttl, configuration)
    return configuration


def forget(iss: str | None = None) -> None:
    """Drop cached discovery documents (all, or one server's)."""
    with _cache_lock:
        if iss is None:
            _cache.clear()
        else:
            _cache.pop(iss, None)


def _strings(document: dict[str, Any], name: str) -> tuple[str, ...]:
    """A discovery field that must be a list of strings; anything else is a clear refusal, never a crash."""
    value = document.get(name)
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise DiscoveryFailed(f"The EHR's discovery document is malformed: {name} must be a list of strings.")
    return tuple(value)
