"""Value sets: a FHIR ValueSet's expansion as a membership test, with the structure of the code systems.

A code is a member of a value set when:
1. the expansion lists it (system and code compared as :mod:`app.terminology.codes` normalises them); or
2. the code system's structure makes it a subdivision of a listed code (ICD-10-CM ``E11.65`` is a kind of
   ``E11.6``: a newer or more specific code than the expansion's release lists); or
3. for medicines only, and only when the caller asks for it, the product's RxNorm name names an active
   moiety that single-ingredient members of the value set name (:mod:`app.terminology.rxnorm`): a product
   code newer than the expansion is still recognised by its ingredient.

An expansion that is one page of a larger one (``expansion.total`` above the codes it lists, or an ``offset``)
is never taken as the value set: its enumerated ``compose`` completes it when there is one; otherwise the
ValueSet is marked ``truncated`` and :func:`app.terminology.resolve.resolve_value_sets` refuses it (or has a
terminology server expand it). A published expansion carepath completed (:mod:`app.terminology.releases`)
says how in its ``expansion-completion`` extension, kept here as ``completion``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from app.terminology import rxnorm
from app.terminology.codes import RXNORM, ancestors, key_of

#: The extension on ``ValueSet.expansion`` in which carepath says how it completed a truncated published
#: expansion: ``text`` (valueString), ``declared`` (the codes the published expansion declared, valueInteger)
#: and ``missing`` (codes of it still known to be missing, valueInteger).
COMPLETION = "http://carepath.dev/fhir/StructureDefinition/expansion-completion"


@dataclass(frozen=True)
class ValueSet:
    """One value set, resolved: its identity, where its expansion came from, and its members."""

    url: str
    version: str
    title: str
    members: frozenset[tuple[str, str]]
    source: str = "pack"
    #: Active moieties of the single-ingredient RxNorm members (the medicine fallback).
    moieties: frozenset[str] = field(default_factory=frozenset)
    #: (codes listed, codes declared) when the expansion is one page of a larger one: not the whole value set.
    truncated: tuple[int, int] | None = None
    #: How carepath completed a truncated published expansion (empty when it did not).
    completion: str = ""
    #: Codes of the published expansion still known to be missing after that completion.
    missing: int = 0

    @property
    def canonical(self) -> str:
        """``url|version``."""
        return f"{self.url}|{self.version}" if self.version else self.url

    def __len__(self) -> int:
        return len(self.members)


def from_resource(resource: Mapping[str, Any], source: str = "pack") -> ValueSet:
    """A ValueSet resource with an expansion, or an enumerated compose (codes listed, no filters).

    Raises ValueError when neither gives the members (a compose with filters or other value sets needs a
    terminology server to expand it). A truncated expansion is completed by an enumerated compose, else the
    ValueSet returned says ``truncated``. An enumerated compose is the value set's definition: its codes are
    members even when the distributed expansion, made against an older code-system edition, leaves a newer one
    out (as a terminology server expanding the definition counts them).
    """
    if not isinstance(resource, Mapping) or resource.get("resourceType") != "ValueSet":
        raise ValueError("not a FHIR ValueSet")
    url = resource.get("url")
    if not isinstance(url, str) or not url:
        raise ValueError("a ValueSet without a url")
    expansion = resource.get("expansion")
    cut = truncation(resource)
    if isinstance(expansion, Mapping) and expansion.get("contains"):
        concepts = list(_contained(expansion.get("contains") or []))
        if enumerable(resource.get("compose")):
            concepts += _enumerated(resource.get("compose"), url)
            cut = None
    else:
        concepts = _enumerated(resource.get("compose"), url)
    keyed = [(key_of(c.get("system"), c.get("code")), c.get("display")) for c in concepts]
    members = frozenset(key for key, _display in keyed if key)
    # only single-ingredient members teach a moiety: a combination would make its partner a member of the class
    single = (rxnorm.moieties(display) for key, display in keyed if key and key[0] == RXNORM)
    moieties = frozenset(found[0] for found in single if len(found) == 1)
    completion = completion_parts(expansion)
    return ValueSet(url=url, version=str(resource.get("version") or ""),
                    title=str(resource.get("title") or resource.get("name") or url), members=members,
                    source=source, moieties=moieties, truncated=cut, completion=str(completion.get("text") or ""),
                    missing=int(completion.get("missing") or 0))


def from_resource_cached(resource: Mapping[str, Any], source: str = "pack") -> ValueSet:
    """:func:`from_resource`, remembered on disk (:mod:`app.cache`) by the SHA-256 of the resource's content and of
    the code that reads it: recognising tens of thousands of codes is most of a pack's load time, and a command
    line run pays it at every start. A cache entry that cannot be read is derived again."""
    import hashlib

    import orjson

    from app.cache import cache_dir, write_atomically

    code = _code_digest()
    folder = cache_dir(f"valuesets-{code}") if code else None
    if folder is None:
        return from_resource(resource, source)
    try:
        content = orjson.dumps(resource, option=orjson.OPT_SORT_KEYS)
    except TypeError:  # not plain JSON: no cache key
        return from_resource(resource, source)
    entry = folder / f"{hashlib.sha256(content).hexdigest()}.json"
    try:
        data = orjson.loads(entry.read_bytes())
        cut = data["truncated"]
        return ValueSet(url=data["url"], version=data["version"], title=data["title"],
                        members=frozenset((system, code) for system, code in data["members"]), source=source,
                        moieties=frozenset(data["moieties"]), truncated=(cut[0], cut[1]) if cut else None,
                        completion=data["completion"], missing=data["missing"])
    except (OSError, ValueError, KeyError, TypeError, IndexError):
        pass
    value_set = from_resource(resource, source)  # a ValueError here is the caller's to report
    write_atomically(entry, orjson.dumps({
        "url": value_set.url, "version": value_set.version, "title": value_set.title,
        "members": sorted(value_set.members), "moieties": sorted(value_set.moieties),
        "truncated": list(value_set.truncated) if value_set.truncated else None,
        "completion": value_set.completion, "missing": value_set.missing}))
    return value_set


@cache
def _code_digest() -> str:
    """A digest of the modules that decide membership: a change to them derives every value set again. Empty (no
    cache) when their source cannot be read, e.g. carepath's code shipped to a Spark executor as a zip."""
    import hashlib
    import sys

    from app.terminology import codes

    digest = hashlib.sha256()
    for module in (sys.modules[__name__], codes, rxnorm):
        try:
            digest.update(module.__loader__.get_data(module.__file__))  # type: ignore[union-attr]
        except (OSError, AttributeError, TypeError):
            return ""
    return digest.hexdigest()[:16]


def truncation(resource: Mapping[str, Any]) -> tuple[int, int] | None:
    """(distinct codes listed, codes declared) when a ValueSet's expansion is one page of a larger expansion
    (``total`` above the codes it lists, or a page after the first); None for a whole expansion."""
    expansion = resource.get("expansion") if isinstance(resource, Mapping) else None
    if not isinstance(expansion, Mapping):
        return None
    listed = len({(str(c.get("system")), str(c.get("code"))) for c in _contained(expansion.get("contains") or [])})
    total, offset = expansion.get("total"), expansion.get("offset")
    declared = total if isinstance(total, int) and not isinstance(total, bool) else None
    if declared is not None and declared > listed:
        return listed, declared
    if isinstance(offset, int) and not isinstance(offset, bool) and offset > 0:
        return listed, max(declared or 0, offset + listed)
    return None


def contained(resource: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The concepts a ValueSet's expansion lists (nested ``contains`` flattened)."""
    expansion = resource.get("expansion") if isinstance(resource, Mapping) else None
    return list(_contained(expansion.get("contains") or [])) if isinstance(expansion, Mapping) else []


def enumerable(compose: Any) -> bool:
    """Whether a compose lists its codes (no filter, whole system, other value set or exclusion)."""
    if not isinstance(compose, Mapping) or not compose.get("include") or compose.get("exclude"):
        return False
    return all(isinstance(include, Mapping) and include.get("concept") and not include.get("filter")
               and not include.get("valueSet") for include in compose["include"])


def enumerated(resource: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The concepts an enumerated compose lists, each with its system (raises ValueError for another compose)."""
    return _enumerated(resource.get("compose"), str(resource.get("url") or "ValueSet"))


def completion_parts(expansion: Any) -> dict[str, Any]:
    """The parts of the expansion-completion extension ({} when there is none)."""
    extensions = expansion.get("extension") or [] if isinstance(expansion, Mapping) else []
    for extension in extensions:
        if isinstance(extension, Mapping) and extension.get("url") == COMPLETION:
            return {part.get("url"): next((v for k, v in part.items() if k.startswith("value")), None)
                    for part in extension.get("extension") or [] if isinstance(part, Mapping)}
    return {}


def _contained(contains: Iterable[Any]) -> Iterator[Mapping[str, Any]]:
    for item in contains:
        if not isinstance(item, Mapping):
            continue
        if item.get("code") is not None:
            yield item
        yield from _contained(item.get("contains") or [])


def _enumerated(compose: Any, url: str) -> list[Mapping[str, Any]]:
    if not isinstance(compose, Mapping) or not compose.get("include"):
        raise ValueError(f"{url}: no expansion and no compose to expand")
    concepts: list[Mapping[str, Any]] = []
    for include in compose.get("include") or []:
        if include.get("filter") or include.get("valueSet") or not include.get("concept"):
            raise ValueError(f"{url}: the compose needs a terminology server to expand (filters or whole systems)")
        concepts += [{"system": include.get("system"), **concept} for concept in include["concept"]]
    if compose.get("exclude"):
        raise ValueError(f"{url}: the compose excludes codes; a terminology server must expand it")
    return concepts


class Concept:
    """The union of the value sets that define one clinical concept (a fact key), as one membership test."""

    def __init__(self, value_sets: Iterable[ValueSet], *, by_ingredient: bool = False) -> None:
        self.value_sets = tuple(value_sets)
        self.by_ingredient = by_ingredient
        self.members = frozenset().union(*(vs.members for vs in self.value_sets))
        self.moieties = frozenset().union(*(vs.moieties for vs in self.value_sets)) if by_ingredient else frozenset()

    def match(self, coding: Mapping[str, Any], name: str | None = None) -> str | None:
        """How a Coding belongs to the concept: ``"code"`` (listed), ``"subcode"`` (a subdivision of a listed
        code), ``"ingredient"`` (medicine fallback by RxNorm name), or None."""
        key = key_of(coding.get("system"), coding.get("code"))
        if key is not None:
            if key in self.members:
                return "code"
            system, code = key
            if any((system, parent) in self.members for parent in ancestors(system, code)):
                return "subcode"
        if self.moieties and key is not None and key[0] == RXNORM:
            # Only an RxNorm coding's name is a normalised name whose ingredients can be read.
            label = coding.get("display") or name
            if label and self.moieties.intersection(rxnorm.moieties(label)):
                return "ingredient"
        return None
