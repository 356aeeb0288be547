"""Resolving the value sets a pack's Library names: bundled with the pack first, else a terminology server."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from app.errors import FhirError, PackError
from app.terminology.server import TerminologyServer
from app.terminology.valuesets import ValueSet, from_resource_cached


def library_value_sets(library: Mapping[str, Any]) -> list[str]:
    """The value set canonicals a Library's data requirements name, in order, once each."""
    found: list[str] = []
    for requirement in library.get("dataRequirement") or []:
        for code_filter in requirement.get("codeFilter") or [] if isinstance(requirement, Mapping) else []:
            canonical = code_filter.get("valueSet") if isinstance(code_filter, Mapping) else None
            if isinstance(canonical, str) and canonical and canonical not in found:
                found.append(canonical)
    return found


def resolve_value_sets(canonicals: Iterable[str], bundled: Iterable[tuple[str, Mapping[str, Any]]] = (),
                       server: TerminologyServer | None = None) -> dict[str, ValueSet]:
    """canonical -> ValueSet for every canonical (``url`` or ``url|version``).

    ``bundled`` are (origin, ValueSet resource) pairs from the pack; a canonical they do not hold is expanded by
    ``server``. A bundled expansion that is one page of a larger one is never used as the value set: ``server``
    expands it, or it is refused. Raises PackError naming every value set that could not be resolved, and why.
    """
    by_canonical: dict[str, tuple[str, Mapping[str, Any]]] = {}
    for origin, resource in bundled:
        url, version = resource.get("url"), resource.get("version")
        if isinstance(url, str):
            by_canonical.setdefault(url, (origin, resource))
            if version:
                by_canonical[f"{url}|{version}"] = (origin, resource)
    resolved: dict[str, ValueSet] = {}
    problems: list[str] = []
    for canonical in canonicals:
        url, _, version = canonical.partition("|")
        local = by_canonical.get(canonical) if version else by_canonical.get(url)
        if local is not None:
            found = _bundled(canonical, *local, server, problems)
            if found is not None:
                resolved[canonical] = found
            continue
        if server is None:
            problems.append(f"value set {canonical}: not bundled with the pack (valuesets/) and no terminology "
                            "server is configured (CAREPATH_TERMINOLOGY_URL)")
            continue
        try:
            resolved[canonical] = server.expand(url, version or None)
        except FhirError as exc:
            problems.append(f"value set {canonical}: the terminology server could not expand it ({exc.message})")
    if problems:
        raise PackError("\n".join(problems))
    return resolved


def _bundled(canonical: str, origin: str, resource: Mapping[str, Any], server: TerminologyServer | None,
             problems: list[str]) -> ValueSet | None:
    """A bundled ValueSet, resolved. One known to lack codes (a truncated page, or a completion that still misses
    some) is expanded whole by the terminology server when there is one; a truncated page the server cannot
    expand is refused (None, the problem named)."""
    try:
        value_set = from_resource_cached(resource, source=origin)
    except ValueError as exc:
        problems.append(f"value set {canonical}: {origin}: {exc}")
        return None
    if server is not None and (value_set.truncated or value_set.missing):
        try:
            return server.expand(value_set.url, value_set.version or None)
        except FhirError:
            pass  # the bundled expansion, if it is whole enough, below
    if value_set.truncated is None:
        return value_set
    listed, declared = value_set.truncated
    problems.append(f"value set {canonical}: {origin}: its expansion lists {listed} of {declared} codes (one page of "
                    "a larger expansion), not the whole value set; bundle the whole expansion (carepath pack "
                    "valuesets completes it) or set CAREPATH_TERMINOLOGY_URL to expand it")
    return None
