"""Published value-set releases (a folder of VSAC ValueSets, e.g. one eCQM release) and the safe reading of
their expansions: what the pack authoring (:mod:`app.engine.authoring.valuesets`) and ``carepath pack valuesets``
(:mod:`app.engine.pack_valuesets`) both use.

A release may distribute an expansion that is only its first page (``expansion.total`` above the codes it lists:
VSAC pages at 1000 codes). :func:`complete` never passes such a page off as the value set. In order, it takes:
1. the enumerated ``compose`` (the value set's definition: every code it lists is a member);
2. the value sets its ``compose`` includes (a grouper), each completed the same way, from the same release;
3. else the union of the page with the expansion of the same url in the previous release(s): every code carepath
   recognised before stays recognised. Codes of the new expansion beyond its first page that the previous
   release lacks cannot be known from the files: the shortfall known for certain (declared minus held) is
   recorded.
What was done is said in the ValueSet's ``description`` and in the ``expansion-completion`` extension of its
expansion (:data:`app.terminology.valuesets.COMPLETION`), which ``carepath pack check`` shows.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from functools import cached_property
from pathlib import Path
from typing import Any

from app.terminology.codes import key_of
from app.terminology.valuesets import COMPLETION, contained, enumerable, enumerated, truncation


class Release:
    """One folder of published ValueSet files, read by canonical url (one resource per url)."""

    def __init__(self, folder: str | Path, label: str | None = None) -> None:
        self.folder = Path(folder)
        self.label = label or self.folder.name

    @cached_property
    def by_url(self) -> dict[str, dict[str, Any]]:
        """url -> ValueSet resource (the first file in name order when a url repeats)."""
        if not self.folder.is_dir():
            raise FileNotFoundError(f"{self.folder}: no such value-set release folder")
        found: dict[str, dict[str, Any]] = {}
        for path in sorted(self.folder.glob("*.json")):
            resource = json.loads(path.read_text(encoding="utf-8"))
            if isinstance(resource, dict) and resource.get("resourceType") == "ValueSet" and resource.get("url"):
                found.setdefault(resource["url"], resource)
        return found

    def get(self, url: str) -> dict[str, Any] | None:
        """The release's ValueSet of that url, as distributed (None when the release does not carry it)."""
        return self.by_url.get(url)


def canonical_of(resource: Mapping[str, Any]) -> str:
    """``url|version`` of a resource (``url`` when it has no version)."""
    return f"{resource['url']}|{resource['version']}" if resource.get("version") else str(resource["url"])


def codes(resource: Mapping[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    """(system, code) as carepath compares them -> the concept, for every code a ValueSet's expansion lists (or,
    without an expansion, its enumerated compose)."""
    concepts = contained(resource) or (enumerated(resource) if enumerable(resource.get("compose")) else [])
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for concept in concepts:
        key = key_of(concept.get("system"), concept.get("code"))
        if key is not None and key not in found:
            found[key] = {"system": concept.get("system"), "code": concept.get("code"),
                          **({"display": concept["display"]} if concept.get("display") else {})}
    return found


def complete(resource: dict[str, Any], release: Release, previous: Iterable[Release] = ()) -> dict[str, Any]:
    """The ValueSet with a whole expansion when ``release`` distributes a truncated one (the resource as it is
    otherwise); module docstring: the order of the sources, and what is recorded."""
    cut = truncation(resource)
    if cut is None:
        return resource
    listed, declared = cut
    concepts = list(contained(resource))
    how, certain = _from_definition(resource, release, previous)
    if how:
        concepts += [c for part in how[1] for c in part]
        source = how[0]
    else:
        older = [(earlier, earlier.get(resource["url"])) for earlier in previous]
        older = [(earlier, complete(found, earlier)) for earlier, found in older if found is not None]
        concepts += [concept for _, found in older for concept in contained(found)]
        source = "nothing else (no earlier release holds this value set)"
        if older:
            source = "the expansion of the same value set in " + ", ".join(
                f"the {earlier.label} release (version {found.get('version') or '?'})" for earlier, found in older)
    merged = _unique(concepts)
    missing = 0 if certain else max(0, declared - len(merged))
    text = (f"The {release.label} release distributes {listed} of this expansion's {declared} codes (its first page). "
            f"carepath completed it from {source}: {len(merged)} codes.")
    if not certain:
        text += (f" At least {missing} codes of the {release.label} expansion are still missing." if missing else
                 f" Codes of the {release.label} expansion beyond its first page that the earlier release lacks "
                 "cannot be known from these files.")
    expansion = {k: v for k, v in resource["expansion"].items() if k not in ("offset", "parameter", "contains")}
    expansion.update({"total": len(merged), "extension": [_completion(text, declared, missing)], "contains": merged})
    description = " ".join(filter(None, [resource.get("description"), text]))
    return {**resource, "description": description, "expansion": expansion}


def with_compose(resource: dict[str, Any]) -> dict[str, Any]:
    """A published value set distributed with its expansion only, given the enumerated compose that expansion
    implies, so that a terminology server it is published to can expand it too (unchanged when it has one)."""
    if "compose" in resource:
        return resource
    by_system: dict[str, list[dict[str, str]]] = {}
    for concept in contained(resource):
        if concept.get("system") and concept.get("code"):
            by_system.setdefault(concept["system"], []).append(
                {"code": concept["code"], **({"display": concept["display"]} if concept.get("display") else {})})
    return {**resource, "compose": {"include": [{"system": system, "concept": found}
                                                for system, found in by_system.items()]}}


def _from_definition(resource: dict[str, Any], release: Release,
                     previous: Iterable[Release]) -> tuple[tuple[str, list[list[dict[str, Any]]]] | None, bool]:
    """((what, [concept lists]), complete for certain) from the value set's own compose, or (None, False)."""
    compose = resource.get("compose")
    if enumerable(compose):
        return ("its enumerated compose (its definition)", [list(enumerated(resource))]), True
    includes = [include for include in (compose or {}).get("include") or [] if isinstance(include, Mapping)]
    if includes and all(include.get("valueSet") and not include.get("concept") and not include.get("filter")
                        for include in includes) and not (compose or {}).get("exclude"):
        urls = [url for include in includes for url in include["valueSet"]]
        parts = [release.get(url.partition("|")[0]) for url in urls]
        if all(part is not None for part in parts):
            whole = [complete(part, release, previous) for part in parts]
            certain = all(truncation(part) is None or enumerable(part.get("compose")) for part in parts)
            return (f"the value sets its compose includes ({', '.join(urls)})", [contained(w) for w in whole]), certain
    return None, False


def _unique(concepts: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for concept in concepts:
        key = key_of(concept.get("system"), concept.get("code"))
        if key is not None and key not in found:
            found[key] = {k: concept[k] for k in ("system", "version", "code", "display") if concept.get(k)}
    return list(found.values())


def _completion(text: str, declared: int, missing: int) -> dict[str, Any]:
    return {"url": COMPLETION, "extension": [{"url": "text", "valueString": text},
                                             {"url": "declared", "valueInteger": declared},
                                             {"url": "missing", "valueInteger": missing}]}
