"""Where carepath may send a request: the one URL check and the one redirect rule of every outbound call.

Every outbound request (SMART discovery, token and keys; FHIR reads, searches and their pages; a CDS
``fhirServer``; Bulk Data status, manifest and files; terminology) goes to a URL :func:`check` accepted on an
allowed base, and is sent without requests' automatic redirects. :func:`follow` follows a redirect itself only
when its target passes the same check, :data:`MAX_REDIRECTS` hops at most; anything else is refused before a
byte goes to the target.

URLs are compared in normal form (RFC 3986 section 6): lower-case scheme and host, no default port,
percent-encoded unreserved characters decoded (``%2e%2e`` is ``..``), dot segments removed (section 5.2.4), no
fragment; the normal form is also what is sent. What parsers disagree on is refused rather than guessed: user
information (``http://allowed@evil/``), backslashes, spaces and control characters before the query, a
malformed percent-encoding, an encoded slash or backslash, a dot segment left after one decoding
(``%252e%252e``) or hidden behind a path parameter (``..;``), a host other than ASCII letters, digits, dots and
hyphens or a bracketed IPv6 address, a port that is not a number. Hosts are compared as written:
``2130706433`` is not ``127.0.0.1`` and ``host.`` is not ``host``.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from urllib.parse import unquote, urljoin, urlsplit

import requests

from app.errors import FhirTransportError, UnsafeUrl

__all__ = ["MAX_REDIRECTS", "check", "follow", "get", "normalize", "on_base", "origin"]

#: Redirects carepath follows for one request (each one checked) before it gives up.
MAX_REDIRECTS = 5
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
#: Only a read is sent again to a redirect's target: a write or a credential goes to the URL carepath chose.
_FOLLOWED_METHODS = frozenset({"GET", "HEAD"})

_DEFAULT_PORTS = {"http": 80, "https": 443}
_UNRESERVED = frozenset(string.ascii_letters + string.digits + "-._~")
_ESCAPE = re.compile(r"%([0-9A-Fa-f]{2})")
_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")
_HOST = re.compile(r"[a-z0-9.-]+\Z")
_IPV6 = re.compile(r"[0-9a-f:.]+\Z")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class _Url:
    scheme: str
    host: str  # lower case; an IPv6 address in brackets
    port: int | None  # None for the scheme's default port
    path: str
    query: str

    def __str__(self) -> str:
        port = f":{self.port}" if self.port is not None else ""
        query = f"?{self.query}" if self.query else ""
        return f"{self.scheme}://{self.host}{port}{self.path}{query}"


def normalize(url: str) -> str:
    """``url`` in normal form (see the module docstring); :class:`UnsafeUrl` naming what is wrong with it."""
    return str(_parse(url))


def origin(url: str) -> str:
    """``scheme://host[:port]`` of ``url`` in normal form; :class:`UnsafeUrl` when it cannot be used."""
    parsed = _parse(url)
    return str(_Url(parsed.scheme, parsed.host, parsed.port, "", ""))


def on_base(url: str, base: str) -> bool:
    """True when absolute ``url`` lies on ``base``: same scheme, host and port, and a path equal to or under the
    base's path, both in normal form. Any URL the check refuses is not on any base."""
    try:
        target, root = _parse(url), _parse(base)
    except UnsafeUrl:
        return False
    base_path = root.path.rstrip("/")
    return (target.scheme, target.host, target.port) == (root.scheme, root.host, root.port) and (
        target.path.rstrip("/") == base_path or target.path.startswith(base_path + "/"))


def check(url: str, bases: Iterable[str], *, what: str = "a link",
          outside: str = "the servers carepath may use") -> str:
    """``url`` in normal form when it lies on one of ``bases``; :class:`UnsafeUrl` (nothing sent) otherwise."""
    shown = _shown(url)
    try:
        normal = normalize(url)
    except UnsafeUrl as exc:
        raise UnsafeUrl(f"refused {what} outside {outside} ({shown}): {exc.message}", url=shown) from None
    if not any(on_base(normal, base) for base in bases):
        raise UnsafeUrl(f"refused {what} outside {outside} ({shown})", url=shown)
    return normal


def follow(send: Callable[[str], requests.Response], url: str, bases: Iterable[str], *, method: str = "GET",
           outside: str = "the servers carepath may use",
           max_redirects: int = MAX_REDIRECTS) -> requests.Response:
    """The answer to ``url`` (which :func:`check` accepted), sent by ``send`` without automatic redirects.

    A redirect of a GET or HEAD is followed when its target passes :func:`check` on the same ``bases``;
    a target elsewhere is :class:`UnsafeUrl` and receives nothing. A redirect of any other method, or more than
    ``max_redirects`` of them, is :class:`app.errors.FhirTransportError`.
    """
    bases = list(bases)
    for _ in range(max_redirects + 1):
        response = send(url)
        location = response.headers.get("Location") if response.status_code in REDIRECT_STATUSES else None
        if not location:
            return response
        response.close()
        if method.upper() not in _FOLLOWED_METHODS:
            raise FhirTransportError(
                f"{_shown(url)} answered {method.upper()} with a redirect ({response.status_code}); carepath "
                "sends a write or a credential only to the address it chose, so it was not sent again",
                url=_shown(url), method=method.upper())
        what = f"a redirect from {_shown(url)}"
        if _CONTROL.search(location):
            raise UnsafeUrl(f"refused {what} outside {outside}: its target holds control characters",
                            url=_shown(url))
        url = check(urljoin(url, location), bases, what=what, outside=outside)
    raise FhirTransportError(f"more than {max_redirects} redirects, the last to {_shown(url)}: carepath stopped "
                             "following them", url=_shown(url), method=method.upper())


def get(session: requests.Session, url: str, bases: Iterable[str], *, timeout: float,
        outside: str = "the servers carepath may use",
        headers: dict[str, str] | None = None) -> requests.Response:
    """GET ``url`` (a JSON document by default) when it lies on one of ``bases``, through :func:`follow`; the
    answer as it came (any status); :class:`UnsafeUrl` or :class:`app.errors.FhirTransportError` when the URL or
    a redirect is refused, requests' own errors when the server cannot be reached."""
    bases = list(bases)
    sent = headers or {"Accept": "application/json"}
    return follow(lambda target: session.get(target, headers=sent, timeout=timeout, allow_redirects=False),
                  check(url, bases, what="a request", outside=outside), bases, outside=outside)


def _parse(url: str) -> _Url:
    before_query = url.split("?", 1)[0].split("#", 1)[0]
    if _CONTROL.search(url):
        raise UnsafeUrl("it holds control characters")
    if "\\" in before_query or " " in before_query:
        raise UnsafeUrl("it holds a backslash or a space")
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        raise UnsafeUrl("it is not an http or https URL")
    if "@" in parts.netloc:
        raise UnsafeUrl("it names a user before its host")
    try:
        port = parts.port
    except ValueError:
        raise UnsafeUrl("its port is not a number") from None
    host = (parts.hostname or "").lower()
    if parts.netloc.startswith("["):
        if not _IPV6.match(host):
            raise UnsafeUrl("its host is not an IPv6 address")
        host = f"[{host}]"
    elif not _HOST.match(host):
        raise UnsafeUrl("its host is not a plain host name or address")
    return _Url(scheme, host, None if port == _DEFAULT_PORTS[scheme] else port, _normal_path(parts.path),
                parts.query)


def _normal_path(path: str) -> str:
    if _BAD_ESCAPE.search(path):
        raise UnsafeUrl("its path holds a malformed percent-encoding")
    decoded = _ESCAPE.sub(lambda m: chr(int(m[1], 16)) if chr(int(m[1], 16)) in _UNRESERVED
                          else f"%{m[1].upper()}", path)
    for segment in decoded.split("/"):
        plain = unquote(unquote(segment))
        if "/" in plain or "\\" in plain:
            raise UnsafeUrl("its path holds an encoded slash or backslash")
        if plain.split(";", 1)[0] in (".", "..") and segment not in (".", ".."):
            raise UnsafeUrl("its path holds a disguised dot segment")
    return remove_dot_segments(decoded)


def remove_dot_segments(path: str) -> str:
    """RFC 3986 section 5.2.4: ``/fhir/../secret/./x`` is ``/secret/x``."""
    output: list[str] = []
    rest = path
    while rest:
        if rest.startswith("../"):
            rest = rest[3:]
        elif rest.startswith("./") or rest.startswith("/./"):
            rest = rest[2:]
        elif rest == "/.":
            rest = "/"
        elif rest.startswith("/../") or rest == "/..":
            rest = "/" + rest[4:]
            if output:
                output.pop()
        elif rest in (".", ".."):
            rest = ""
        else:
            end = rest.find("/", 1)
            segment = rest if end == -1 else rest[:end]
            output.append(segment)
            rest = rest[len(segment):]
    return "".join(output)


def _shown(url: str) -> str:
    """The URL without its query (queries may carry identifiers or names) and at most 120 characters."""
    shown = url.split("?", 1)[0].split("#", 1)[0]
    return shown if len(shown) <= 120 else shown[:117] + "..."
