"""Who is calling: the CDS client's signed JWT (CDS Hooks 2.0, "Trusting CDS Clients"). No Flask in here.

Every request carries ``Authorization: Bearer <JWT>`` signed by the CDS client (the EHR) with a key of its
published key set. carepath trusts the clients listed in ``CDS_CLIENTS`` (``iss`` and ``jwks_url``, optionally
more ``jku`` URLs); the checks, in order, all before any work is done:

1. a compact JWS with ``alg`` ES384 or RS384 (the algorithms CDS Hooks 2.0 names; never ``none`` or HMAC);
2. ``iss`` is a listed client; the key set is read from its ``jwks_url``, or from the header's ``jku`` only
   when the entry lists that exact URL (so carepath fetches keys from configured URLs only, never from a URL
   a caller chose); an entry may instead pin its key set (``jwks`` inline or ``jwks_file``), which then
   verifies every JWT of that client whatever ``jku`` it names, with nothing fetched;
3. the signature, with the key named by ``kid`` (a ``kid`` not in the cached set refreshes it once a minute
   at most);
4. ``aud`` is this service's URL, ``exp`` is in the future and at most 5 minutes ahead, ``iat`` is present,
   ``nbf`` (when present) is not in the future;
5. ``jti`` is new: it is kept in the app's store (SQLite or Redis) until the token expires, so a replay is
   refused even by another app instance.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import requests
from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from app.errors import CarepathError, ConfigError, FhirError
from app.outbound import get
from app.smart.discovery import normalize_base
from app.store import Store

__all__ = ["ALGORITHMS", "CdsClient", "CdsUnauthorized", "ClientVerifier", "KeySets", "clients_from_config"]

log = logging.getLogger(__name__)

ALGORITHMS = ["ES384", "RS384"]
#: The longest life a CDS client's JWT may have (CDS Hooks 2.0: ``exp`` no more than 5 minutes ahead).
MAX_LIFETIME = 300
LEEWAY = 30
#: A key set is fetched again for an unknown ``kid`` at most this often (seconds).
REFRESH_INTERVAL = 60


class CdsUnauthorized(CarepathError):
    """A CDS Hooks request whose JWT is missing or fails a check (HTTP 401, nothing done)."""

    title = "The CDS client could not be authenticated"


@dataclass(frozen=True)
class CdsClient:
    """A trusted CDS client: its ``iss`` and the key-set URLs carepath may read its keys from, or its key set
    pinned in the configuration (``jwks``: inline, or read from ``jwks_file``), which verifies its JWTs whatever
    ``jku`` they name and is never fetched (an offline or mirrored deployment)."""

    iss: str
    jwks_url: str
    jku: tuple[str, ...] = ()
    pinned: KeySet | None = None

    def key_set_url(self, jku: str | None) -> str:
        """Where to read the keys: ``jwks_url``, or ``jku`` when this entry lists it; refused otherwise."""
        if jku is None:
            return self.jwks_url
        if jku in (self.jwks_url, *self.jku):
            return jku
        raise CdsUnauthorized("The JWT names a key set (jku) that is not registered for this CDS client.")


def clients_from_config(value: Any) -> list[CdsClient]:
    """``CDS_CLIENTS`` parsed; :class:`ConfigError` names a malformed entry."""
    if isinstance(value, str):
        try:
            value = json.loads(value) if value.strip() else []
        except ValueError as exc:
            raise ConfigError("CDS_CLIENTS must be a JSON list of {\"iss\", \"jwks_url\"} objects") from exc
    if not isinstance(value, list):
        raise ConfigError("CDS_CLIENTS must be a JSON list of {\"iss\", \"jwks_url\"} objects")
    clients = []
    for index, entry in enumerate(value):
        if not isinstance(entry, Mapping) or not (isinstance(entry.get("iss"), str) and entry.get("iss")):
            raise ConfigError(f"CDS_CLIENTS[{index}] needs the string 'iss'")
        pinned = _pinned(entry, index)
        if pinned is None and not (isinstance(entry.get("jwks_url"), str) and entry.get("jwks_url")):
            raise ConfigError(f"CDS_CLIENTS[{index}] needs the string 'jwks_url', or its key set pinned "
                              "('jwks' inline or 'jwks_file')")
        extra = entry.get("jku") or []
        if not isinstance(extra, list) or not all(isinstance(url, str) for url in extra):
            raise ConfigError(f"CDS_CLIENTS[{index}].jku must be a list of URLs")
        clients.append(CdsClient(entry["iss"], entry.get("jwks_url") or "", tuple(extra), pinned))
    return clients


def _pinned(entry: Mapping[str, Any], index: int) -> KeySet | None:
    """The key set an entry pins (``jwks`` inline, or ``jwks_file``), or None; :class:`ConfigError` when it cannot
    be read as a JWK Set of public keys."""
    if entry.get("jwks") is None and entry.get("jwks_file") is None:
        return None
    if entry.get("jwks") is not None and entry.get("jwks_file") is not None:
        raise ConfigError(f"CDS_CLIENTS[{index}] pins its key set twice: give 'jwks' or 'jwks_file', not both")
    data = entry.get("jwks")
    if entry.get("jwks_file") is not None:
        try:
            with open(str(entry["jwks_file"]), encoding="utf-8") as handle:
                data = json.load(handle)
        except (OSError, ValueError) as exc:
            raise ConfigError(f"CDS_CLIENTS[{index}].jwks_file could not be read as JSON: {exc}") from exc
    if not isinstance(data, Mapping) or not isinstance(data.get("keys"), list) or not data["keys"]:
        raise ConfigError(f"CDS_CLIENTS[{index}]: a pinned key set must be a JWK Set with at least one key")
    if any(isinstance(key, Mapping) and key.get("d") is not None for key in data["keys"]):
        raise ConfigError(f"CDS_CLIENTS[{index}]: a pinned key set must hold public keys only (a 'd' was found)")
    try:
        return KeySet.import_key_set(dict(data))
    except (JoseError, ValueError, TypeError, KeyError) as exc:
        raise ConfigError(f"CDS_CLIENTS[{index}]: the pinned key set is not a JWK Set: {exc}") from exc


class KeySets:
    """CDS clients' key sets, fetched from configured URLs only and cached for ``ttl`` seconds."""

    def __init__(self, *, ttl: float = 300, timeout: float = 10, http: requests.Session | None = None) -> None:
        self.ttl, self.timeout = ttl, timeout
        self.http = http or requests.Session()
        self._cache: dict[str, tuple[float, KeySet]] = {}
        self._lock = threading.Lock()

    def get(self, url: str, *, kid: str | None = None) -> KeySet:
        """The key set at ``url``; fetched again when stale, or when ``kid`` is not in it (once a minute)."""
        now = time.monotonic()
        with self._lock:
            cached = self._cache.get(url)
        if cached is not None:
            fetched_at, key_set = cached
            fresh = now - fetched_at < self.ttl
            known = kid is None or any(key.kid == kid for key in key_set.keys)
            if fresh and (known or now - fetched_at < REFRESH_INTERVAL):
                return key_set
        key_set = self._fetch(url)
        with self._lock:
            self._cache[url] = (now, key_set)
        return key_set

    def _fetch(self, url: str) -> KeySet:
        try:
            response = get(self.http, url, [url], timeout=self.timeout, outside="the CDS client's key set URL")
            response.raise_for_status()
            key_set = KeySet.import_key_set(response.json())
        except (requests.RequestException, ValueError, TypeError, KeyError, JoseError, FhirError) as exc:
            log.warning("cds key set unreadable", extra={"url": url, "error_type": type(exc).__name__})
            raise CdsUnauthorized("carepath could not read the CDS client's key set, so the JWT cannot be "
                                  "verified; no work was done.") from exc
        return key_set


def _issuer(iss: str) -> str:
    """A CDS client's ``iss`` in comparable form: a URL normalized like a FHIR base, any other name as written."""
    return normalize_base(iss) if "://" in iss else iss.strip()


class ClientVerifier:
    """Checks a CDS client's JWT for one service URL (see the module docstring for the checks)."""

    def __init__(self, clients: Iterable[CdsClient], store: Store, key_sets: KeySets) -> None:
        self.clients = {_issuer(client.iss): client for client in clients if _issuer(client.iss)}
        self.store = store
        self.key_sets = key_sets

    def verify(self, authorization: str | None, audience: str) -> dict[str, Any]:
        """The verified claims of the ``Authorization`` header's JWT; :class:`CdsUnauthorized` otherwise."""
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise CdsUnauthorized("A CDS Hooks request must carry the CDS client's JWT (Authorization: Bearer).")
        token = token.strip()
        header, claims = _unverified(token)
        if header.get("alg") not in ALGORITHMS:
            raise CdsUnauthorized(f"The JWT must be signed with {' or '.join(ALGORITHMS)}.")
        issuer = _issuer(str(claims.get("iss") or ""))
        client = self.clients.get(issuer) if issuer else None
        if client is None:
            raise CdsUnauthorized("The JWT's issuer is not a CDS client carepath trusts (CDS_CLIENTS).")
        jku = header.get("jku")
        if jku is not None and not isinstance(jku, str):
            raise CdsUnauthorized("The JWT's jku is not a URL.")
        kid = header.get("kid") if isinstance(header.get("kid"), str) else None
        # a pinned key set verifies whatever jku the JWT names; nothing is fetched
        key_set = client.pinned if client.pinned is not None else self.key_sets.get(client.key_set_url(jku), kid=kid)
        if kid is not None and not any(key.kid == kid for key in key_set.keys):
            raise CdsUnauthorized("The JWT is signed with a key (kid) the CDS client does not publish.")
        try:
            verified = jwt.decode(token, key_set, algorithms=ALGORITHMS).claims
        except (JoseError, ValueError, TypeError) as exc:
            raise CdsUnauthorized("The JWT's signature does not verify with the CDS client's keys.") from exc
        _check_claims(verified, audience)
        ttl = max(1.0, float(verified["exp"]) - time.time() + LEEWAY)
        if not self.store.add("cds-jti", f"{client.iss}|{verified['jti']}", {}, ttl=ttl):
            raise CdsUnauthorized("This JWT was used already (jti replayed).")
        return dict(verified)


def _unverified(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The header and claims before the signature is checked (to find the client and its key)."""
    try:
        compact = jws.extract_compact(token.encode())
        claims = json.loads(compact.payload)
    except (JoseError, ValueError, TypeError) as exc:
        raise CdsUnauthorized("The Authorization header does not hold a signed JWT.") from exc
    if not isinstance(claims, dict):
        raise CdsUnauthorized("The JWT's claims are not a JSON object.")
    return dict(compact.headers()), claims


def _check_claims(claims: Mapping[str, Any], audience: str) -> None:
    now = time.time()
    aud = claims.get("aud")
    audiences = aud if isinstance(aud, list) else [aud]
    if audience not in audiences:
        raise CdsUnauthorized("The JWT's audience (aud) is not this CDS service's URL.")
    exp, iat = claims.get("exp"), claims.get("iat")
    if not isinstance(exp, int | float) or isinstance(exp, bool) or exp < now - LEEWAY:
        raise CdsUnauthorized("The JWT has expired (or has no exp).")
    if exp > now + MAX_LIFETIME + LEEWAY:
        raise CdsUnauthorized("The JWT's exp is more than 5 minutes ahead.")
    if not isinstance(iat, int | float) or isinstance(iat, bool) or iat > now + LEEWAY:
        raise CdsUnauthorized("The JWT has no valid iat.")
    nbf = claims.get("nbf")
    if nbf is not None and (not isinstance(nbf, int | float) or isinstance(nbf, bool) or nbf > now + LEEWAY):
        raise CdsUnauthorized("The JWT is not valid yet (nbf).")
    if not isinstance(claims.get("jti"), str) or not claims["jti"] or len(claims["jti"]) > 256:
        raise CdsUnauthorized("The JWT has no jti.")
