"""What a FHIR server can do, read once per server from its CapabilityStatement and cached.

carepath asks: batch/transaction support, the search parameters of each type (``code``, ``date``,
``status``, ``_sort``, ``_include``), and whether CarePlan/Goal can be created and updated. A server that
does not say is taken at its word: the context layer then falls back (parallel GETs, client-side sort).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

from app.fhir.client import FhirClient

#: How long a server's CapabilityStatement is trusted before it is read again (seconds).
CACHE_SECONDS = 3600.0
_cache: dict[str, tuple[float, Capabilities]] = {}
_lock = threading.Lock()


@dataclass(frozen=True)
class Capabilities:
    """The parts of a CapabilityStatement carepath acts on."""

    fhir_version: str | None = None
    software: str | None = None
    system_interactions: frozenset[str] = frozenset()
    interactions: dict[str, frozenset[str]] = field(default_factory=dict)
    search_params: dict[str, frozenset[str]] = field(default_factory=dict)
    includes: dict[str, frozenset[str]] = field(default_factory=dict)
    common_params: frozenset[str] = frozenset()

    @property
    def batch(self) -> bool:
        """The server accepts batch Bundles."""
        return "batch" in self.system_interactions

    @property
    def transaction(self) -> bool:
        """The server accepts transaction Bundles."""
        return "transaction" in self.system_interactions

    def supports_search(self, resource_type: str, param: str) -> bool:
        """The server declares ``param`` for searches on ``resource_type`` (or for all types)."""
        return param in self.search_params.get(resource_type, frozenset()) or param in self.common_params

    def supports_sort(self, resource_type: str) -> bool:
        """The server declares ``_sort`` (R4 has no dedicated flag: it is read from the declared parameters)."""
        return self.supports_search(resource_type, "_sort")

    def can(self, resource_type: str, interaction: str) -> bool:
        """The server declares ``interaction`` (read, search-type, create, update...) on ``resource_type``."""
        return interaction in self.interactions.get(resource_type, frozenset())

    def can_write(self, resource_type: str) -> bool:
        """The server declares both create and update on ``resource_type``."""
        return self.can(resource_type, "create") and self.can(resource_type, "update")


def parse(statement: dict[str, Any]) -> Capabilities:
    """The :class:`Capabilities` of a CapabilityStatement (its ``rest`` entry in server mode)."""
    rest = next((r for r in statement.get("rest") or [] if r.get("mode") == "server"), None) or {}
    interactions, params, includes = {}, {}, {}
    for resource in rest.get("resource") or []:
        kind = resource.get("type")
        if not kind:
            continue
        interactions[kind] = frozenset(i.get("code") for i in resource.get("interaction") or [] if i.get("code"))
        params[kind] = frozenset(p.get("name") for p in resource.get("searchParam") or [] if p.get("name"))
        includes[kind] = frozenset(resource.get("searchInclude") or [])
    return Capabilities(
        fhir_version=statement.get("fhirVersion"),
        software=(statement.get("software") or {}).get("name"),
        system_interactions=frozenset(i.get("code") for i in rest.get("interaction") or [] if i.get("code")),
        interactions=interactions, search_params=params, includes=includes,
        common_params=frozenset(p.get("name") for p in rest.get("searchParam") or [] if p.get("name")),
    )


def server_capabilities(client: FhirClient, *, refresh: bool = False) -> Capabilities:
    """The server's capabilities, read once per base URL and kept for ``CACHE_SECONDS``."""
    now = time.monotonic()
    with _lock:
        cached = _cache.get(client.base_url)
    if cached and not refresh and now - cached[0] < CACHE_SECONDS:
        return cached[1]
    capabilities = parse(client.capabilities())
    with _lock:
        _cache[client.base_url] = (now, capabilities)
    return capabilities


def forget(base_url: str | None = None) -> None:
    """Drop the cached capabilities of one server (or of all)."""
    with _lock:
        if base_url is None:
            _cache.clear()
        else:
            _cache.pop(base_url.rstrip("/"), None)
