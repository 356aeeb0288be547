"""Data requirements: what a guideline pack needs, read from its Library's ``dataRequirement`` (docs/facts.md)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from app.errors import PackError

FACT_KEY_URL = "http://carepath.dev/fhir/StructureDefinition/fact-key"
FACT_LABEL_URL = "http://carepath.dev/fhir/StructureDefinition/fact-label"
TYPES = ("Observation", "Condition", "MedicationRequest", "AllergyIntolerance", "Procedure")
DEFAULT_LIBRARY = Path(__file__).with_name("library.json")


@dataclass(frozen=True)
class Requirement:
    """One fact key: the resource type it comes from, the codes that feed it and its look-back."""

    key: str
    type: str
    codes: tuple[tuple[str, str], ...]
    label: str = ""
    lookback: tuple[float, str] | None = None

    @property
    def name(self) -> str:
        """What to call the key in a sentence (its label, else the key)."""
        return self.label or self.key

    def matches(self, coding: dict[str, Any]) -> bool:
        """True when a Coding carries one of this requirement's codes (same system and code)."""
        return (coding.get("system"), coding.get("code")) in self.codes


def requirements_from_library(library: dict[str, Any]) -> list[Requirement]:
    """The requirements a pack's Library declares; raises PackError naming the faulty entry."""
    if not isinstance(library, dict) or library.get("resourceType") != "Library":
        raise PackError("a data-requirements Library is expected (resourceType Library)")
    where = f"Library {library.get('url') or library.get('id') or '?'}"
    found = []
    for index, requirement in enumerate(library.get("dataRequirement") or []):
        found.append(_requirement(requirement, f"{where} dataRequirement[{index}]"))
    return found


class RequirementSet:
    """Requirements merged per resource type and key (``statin`` may name a medication class and an allergy
    class: they land in different sections of the facts)."""

    def __init__(self, requirements: Iterable[Requirement] = ()) -> None:
        self._by_type: dict[str, dict[str, Requirement]] = {}
        for requirement in requirements:
            self._add(requirement)

    def _add(self, requirement: Requirement) -> None:
        keys = self._by_type.setdefault(requirement.type, {})
        known = keys.get(requirement.key)
        if known is None:
            keys[requirement.key] = requirement
            return
        codes = known.codes + tuple(c for c in requirement.codes if c not in known.codes)
        lookbacks = [lb for lb in (known.lookback, requirement.lookback) if lb]
        lookback = min(lookbacks, key=_lookback_days) if lookbacks else None
        keys[requirement.key] = Requirement(requirement.key, known.type, codes, known.label or requirement.label,
                                            lookback)

    def of(self, resource_type: str) -> dict[str, Requirement]:
        """The requirements of one resource type, by key."""
        return self._by_type.get(resource_type, {})

    def __iter__(self) -> Iterator[Requirement]:
        for keys in self._by_type.values():
            yield from keys.values()

    def __len__(self) -> int:
        return sum(len(keys) for keys in self._by_type.values())


def merge(requirements: Iterable[Requirement] | RequirementSet) -> RequirementSet:
    """One requirement per type and key: codes united; the shortest look-back kept (the strictest "recent")."""
    return requirements if isinstance(requirements, RequirementSet) else RequirementSet(requirements)


def default_requirements() -> list[Requirement]:
    """carepath's own requirement set (``app/context/library.json``), used when no pack is available."""
    return list(_default_requirements())


@cache
def _default_requirements() -> tuple[Requirement, ...]:
    return tuple(requirements_from_library(json.loads(DEFAULT_LIBRARY.read_text())))


def _requirement(entry: dict[str, Any], where: str) -> Requirement:
    resource_type = entry.get("type")
    if resource_type not in TYPES:
        raise PackError(f"{where}: type {resource_type!r} is not one of {', '.join(TYPES)}")
    extensions = {ext.get("url"): ext for ext in entry.get("extension") or []}
    key = (extensions.get(FACT_KEY_URL) or {}).get("valueCode")
    if not key:
        raise PackError(f"{where}: the fact-key extension ({FACT_KEY_URL}) is missing")
    label = (extensions.get(FACT_LABEL_URL) or {}).get("valueString") or ""
    codes: list[tuple[str, str]] = []
    for code_filter in entry.get("codeFilter") or []:
        if code_filter.get("valueSet"):
            raise PackError(f"{where} ({key}): codeFilter.valueSet is not supported; list the codes")
        for coding in code_filter.get("code") or []:
            if not coding.get("system") or not coding.get("code"):
                raise PackError(f"{where} ({key}): every code needs a system and a code")
            codes.append((coding["system"], coding["code"]))
    if not codes:
        raise PackError(f"{where} ({key}): no codes in codeFilter")
    lookback = None
    for date_filter in entry.get("dateFilter") or []:
        duration = date_filter.get("valueDuration")
        if duration:
            unit = duration.get("code") or duration.get("unit")
            if unit not in ("a", "mo", "wk", "d") or not isinstance(duration.get("value"), int | float):
                raise PackError(f"{where} ({key}): dateFilter.valueDuration needs a value and a unit a/mo/wk/d")
            lookback = (float(duration["value"]), unit)
    return Requirement(key, resource_type, tuple(dict.fromkeys(codes)), label, lookback)


def _lookback_days(lookback: tuple[float, str]) -> float:
    value, unit = lookback
    return value * {"a": 365.25, "mo": 30.44, "wk": 7, "d": 1}[unit]
