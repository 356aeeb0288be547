"""A FHIR terminology server's ``ValueSet/$expand``, cached per value set version (in memory and on disk)."""

from __future__ import annotations

import hashlib
import json
import threading
from pathlib import Path
from typing import Any

from app.errors import FhirError, FhirStatusError
from app.terminology.valuesets import ValueSet, from_resource

#: Codes asked per $expand page (HAPI refuses an in-memory expansion larger than the count); a server that pages
#: (its expansion.total larger than the page, e.g. VSAC's 1000) is read page by page (offset). A server that
#: answers another page than the one asked, or stops before its total, gives no expansion: a page is never
#: taken for the whole value set.
PAGE = 10000


class TerminologyServer:
    """Expands value sets on one FHIR server (``CAREPATH_TERMINOLOGY_URL``) through carepath's FHIR client."""

    def __init__(self, client: Any, cache_dir: str | Path | None = None) -> None:
        self.client = client
        self.cache_dir = Path(cache_dir) if cache_dir else None
        self._memory: dict[str, ValueSet] = {}
        self._lock = threading.Lock()

    def expand(self, url: str, version: str | None = None) -> ValueSet:
        """The value set's expansion; raises FhirError when the server cannot expand it."""
        canonical = f"{url}|{version}" if version else url
        with self._lock:
            if canonical in self._memory:
                return self._memory[canonical]
        resource = self._cached(canonical) if version else None
        source = f"terminology server {self.client.base_url}"
        fetched = resource is None
        if fetched:
            try:
                resource = self._fetch(url, version)
            except FhirStatusError as exc:
                # A server may refuse to expand a large value set in memory (HAPI: more than its maximum
                # expansion size before its scheduled pre-expansion); the ValueSet it holds may carry its
                # expansion or an enumerated compose.
                resource = self._stored(url, version)
                if resource is None:
                    raise exc
                source += " (its stored ValueSet)"
        try:
            value_set = from_resource(resource, source=source)
        except ValueError as exc:
            raise FhirError(f"ValueSet/$expand for {canonical} gave no usable expansion ({exc})") from exc
        if value_set.truncated:
            listed, declared = value_set.truncated
            raise FhirError(f"ValueSet/$expand for {canonical} listed {listed} of its {declared} codes: "
                            "an incomplete expansion")
        if fetched and (version or resource.get("version")):
            self._store(f"{url}|{version or resource['version']}", resource)
        with self._lock:
            self._memory[canonical] = value_set
        return value_set

    def _fetch(self, url: str, version: str | None) -> dict[str, Any]:
        contains: list[dict[str, Any]] = []
        offset, first = 0, None
        while True:
            params = [("url", url), ("offset", str(offset)), ("count", str(PAGE))]
            if version:
                params.append(("valueSetVersion", version))
            page = self.client.get_json("ValueSet/$expand", params)
            if not isinstance(page, dict) or page.get("resourceType") != "ValueSet":
                raise FhirError(f"ValueSet/$expand for {url} did not answer a ValueSet")
            first = first or page
            expansion = page.get("expansion") or {}
            answered = expansion.get("offset")
            if offset and answered is not None and answered != offset:
                raise FhirError(f"ValueSet/$expand for {url} answered offset {answered} when asked for {offset}: "
                                "the server does not page, and its first page is not the whole value set")
            found = expansion.get("contains") or []
            contains += found
            total = expansion.get("total")
            offset += len(found)
            if not found or not isinstance(total, int) or offset >= total:
                break
        expansion = {k: v for k, v in (first.get("expansion") or {}).items() if k not in ("offset", "parameter")}
        expansion["contains"] = contains
        return {**first, "expansion": expansion}

    def _stored(self, url: str, version: str | None) -> dict[str, Any] | None:
        """The ValueSet resource the server holds for the canonical (one match), or None."""
        params = {"url": url, **({"version": version} if version else {})}
        try:
            found = [r for r in self.client.search("ValueSet", params) if r.get("resourceType") == "ValueSet"]
        except FhirError:
            return None
        return found[0] if len(found) == 1 else None

    def _path(self, canonical: str) -> Path | None:
        if self.cache_dir is None:
            return None
        return self.cache_dir / f"{hashlib.sha256(canonical.encode()).hexdigest()[:32]}.json"

    def _cached(self, canonical: str) -> dict[str, Any] | None:
        path = self._path(canonical)
        if path is None or not path.is_file():
            return None
        try:
            resource = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return resource if isinstance(resource, dict) else None

    def _store(self, canonical: str, resource: dict[str, Any]) -> None:
        path = self._path(canonical)
        if path is None:
            return
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            temporary = path.with_suffix(".tmp")
            temporary.write_text(json.dumps(resource), encoding="utf-8")
            temporary.replace(path)
        except OSError:
            pass  # a cache only: the next load asks the server again
