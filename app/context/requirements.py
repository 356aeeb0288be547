"""Data requirements: what a guideline pack needs, read from its Library's ``dataRequirement`` (docs/facts.md)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from app.errors import PackError
from app.terminology.codes import key_of
from app.terminology.valuesets import Concept, ValueSet

FACT_KEY_URL = "http://carepath.dev/fhir/StructureDefinition/fact-key"
FACT_LABEL_URL = "http://carepath.dev/fhir/StructureDefinition/fact-label"
#: A Condition key for which resolved or inactive conditions count too (a history of colorectal cancer).
FACT_HISTORY_URL = "http://carepath.dev/fhir/StructureDefinition/fact-history"
#: An Observation key that records that something was done (a dated event in ``procedures``), not a value.
FACT_EVENT_URL = "http://carepath.dev/fhir/StructureDefinition/fact-event"
#: An Observation event key that counts only a result (a value of any type, or components), never a record of a
#: test without one (no value, or a dataAbsentReason): a laboratory test that was resulted.
FACT_RESULTED_URL = "http://carepath.dev/fhir/StructureDefinition/fact-resulted"
#: A medicine or allergy key whose product codes are also recognised by ingredient (RxNorm name fallback).
MATCH_INGREDIENT_URL = "http://carepath.dev/fhir/StructureDefinition/match-ingredient"
#: A Condition key that is lifelong (diabetes): a record both active and abated (FHIR con-4 forbids it) keeps it
#: active, and the plan asks to verify the record.
FACT_LIFELONG_URL = "http://carepath.dev/fhir/StructureDefinition/fact-lifelong"
#: A MedicationRequest key for which an order completed within the given duration (``valueDuration``) counts as
#: recent therapy, shown as completed (CMS347 counts a statin ordered in the period whatever its status).
FACT_COMPLETED_URL = "http://carepath.dev/fhir/StructureDefinition/fact-completed-within"
#: A request key read from records *not* to do it (``doNotPerform``): they feed ``not_done``, never the key itself.
FACT_NOT_DONE_URL = "http://carepath.dev/fhir/StructureDefinition/fact-not-done"
#: ``left`` or ``right``: the entry recognises one side of a paired organ; the key is fed when both sides are
#: recorded (two unilateral mastectomies are a bilateral one).
FACT_SIDE_URL = "http://carepath.dev/fhir/StructureDefinition/fact-side"
#: A medicine key whose active order is evidence of a condition (a dementia medicine of advanced illness): the
#: condition key it names (``valueCode``) is fed when no Condition does.
FACT_IMPLIES_URL = "http://carepath.dev/fhir/StructureDefinition/fact-implies"
TYPES = ("Observation", "Condition", "MedicationRequest", "AllergyIntolerance", "Procedure", "Encounter",
         "DiagnosticReport", "ServiceRequest", "DeviceRequest", "Device", "AdverseEvent")
#: The resource types a not-done key reads: orders not to do something (doNotPerform) and Observations recorded as
#: not done (QI-Core notDone).
NOT_DONE_TYPES = ("MedicationRequest", "ServiceRequest", "DeviceRequest", "Observation")
#: The element a code filter reads when the Library names none (``code`` for the other types). An AdverseEvent is
#: read by its ``event`` (QI-Core records the substance that caused an adverse reaction there).
DEFAULT_PATHS = {"MedicationRequest": "medication", "Encounter": "type", "Device": "type", "AdverseEvent": "event"}
#: Code filter paths carepath can read, per type (the default path only, for the types not listed). A path may
#: hold a list (``Encounter.type``, ``reasonCode``, ``bodySite``): every element is read. ``value`` is an
#: Observation's coded answer (``valueCodeableConcept``); ``Encounter.class`` is a Coding, read as its concept;
#: ``conclusionCode`` a DiagnosticReport's coded conclusion (a pathology report's histology).
PATHS = {
    "Encounter": ("type", "class", "hospitalization.dischargeDisposition", "reasonCode"),
    "Observation": ("code", "value"),
    "DiagnosticReport": ("code", "conclusionCode"),
    "Condition": ("code", "bodySite"),
    "Procedure": ("code", "bodySite", "reasonCode"),
    "ServiceRequest": ("code", "reasonCode"),
    "MedicationRequest": ("medication", "reasonCode"),
}
SIDES = ("left", "right")
DEFAULT_LIBRARY = Path(__file__).with_name("library.json")


@dataclass(frozen=True)
class Criterion:
    """A Library entry with code filters on several elements, all of which must match (FHIR DataRequirement:
    several codeFilters are combined with AND): an Observation's code and its coded answer, a procedure and the
    body site it names. ``side`` is set for an entry that recognises one side of a paired organ."""

    filters: tuple[tuple[str, Concept], ...]
    side: str | None = None


@dataclass(frozen=True)
class Requirement:
    """One fact key: the resource type it comes from, the concepts (value sets, codes) that feed it per element
    path, and its look-back. ``concepts`` are alternatives (any one matching path feeds the key); ``criteria``
    are entries whose filters must all match."""

    key: str
    type: str
    codes: tuple[tuple[str, str], ...]
    label: str = ""
    lookback: tuple[float, str] | None = None
    value_sets: tuple[str, ...] = ()
    #: (element path, Concept) for every path the key is read from.
    concepts: tuple[tuple[str, Concept], ...] = field(default=(), compare=False)
    history: bool = False
    event: bool = False
    criteria: tuple[Criterion, ...] = field(default=(), compare=False)
    lifelong: bool = False
    not_done: bool = False
    implies: str | None = None
    #: MedicationRequest keys: how recent a completed order must be to count (None: active orders only).
    completed: tuple[float, str] | None = None
    #: Observation event keys: only a result counts (FACT_RESULTED_URL).
    resulted: bool = False

    @property
    def name(self) -> str:
        """What to call the key in a sentence (its label, else the key)."""
        return self.label or self.key

    def matches(self, coding: dict[str, Any], name: str | None = None, path: str | None = None) -> str | None:
        """How a Coding (read at ``path``, default the type's code element) feeds this key: ``code``,
        ``subcode``, ``ingredient`` (see :class:`app.terminology.Concept`), or None."""
        wanted = path or DEFAULT_PATHS.get(self.type, "code")
        for concept_path, concept in self.concepts:
            if concept_path == wanted:
                found = concept.match(coding, name)
                if found:
                    return found
        return None

    def code_matches(self, coding: dict[str, Any]) -> bool:
        """True when a coding of the type's code element could feed the key (alone or as part of a criterion):
        the quick test before a resource is read in full."""
        default = DEFAULT_PATHS.get(self.type, "code")
        if self.matches(coding, None, default):
            return True
        return any(path == default and concept.match(coding)
                   for criterion in self.criteria for path, concept in criterion.filters)


def requirements_from_library(library: dict[str, Any], value_sets: Mapping[str, ValueSet] | None = None,
                              ) -> list[Requirement]:
    """The requirements a pack's Library declares, each value set it names resolved from ``value_sets``
    (canonical ``url|version`` or ``url`` -> ValueSet); raises PackError naming the faulty entry."""
    if not isinstance(library, dict) or library.get("resourceType") != "Library":
        raise PackError("a data-requirements Library is expected (resourceType Library)")
    where = f"Library {library.get('url') or library.get('id') or '?'}"
    found = []
    for index, requirement in enumerate(library.get("dataRequirement") or []):
        found.append(_requirement(requirement, f"{where} dataRequirement[{index}]", value_sets or {}))
    return found


class RequirementSet:
    """Requirements merged per resource type and key (``statin`` may name a medication class and an allergy
    class: they land in different sections of the facts)."""

    def __init__(self, requirements: Iterable[Requirement] = ()) -> None:
        self._by_type: dict[str, dict[str, Requirement]] = {}
        self._measures: dict[str, Requirement] | None = None
        for requirement in requirements:
            self._add(requirement)

    def _add(self, requirement: Requirement) -> None:
        self._measures = None
        kind = f"{requirement.type}:not-done" if requirement.not_done else requirement.type
        keys = self._by_type.setdefault(kind, {})
        known = keys.get(requirement.key)
        if known is None:
            keys[requirement.key] = requirement
            return
        present = set(known.codes)
        codes = known.codes + tuple(c for c in requirement.codes if c not in present)
        lookbacks = [lb for lb in (known.lookback, requirement.lookback) if lb]
        lookback = min(lookbacks, key=lookback_days) if lookbacks else None
        keys[requirement.key] = Requirement(
            requirement.key, known.type, codes, known.label or requirement.label, lookback,
            tuple(dict.fromkeys(known.value_sets + requirement.value_sets)),
            _merge_concepts(known.concepts + requirement.concepts),
            known.history or requirement.history, known.event or requirement.event,
            known.criteria + requirement.criteria, known.lifelong or requirement.lifelong, known.not_done,
            known.implies or requirement.implies, known.completed or requirement.completed,
            known.resulted and requirement.resulted)

    def of(self, resource_type: str) -> dict[str, Requirement]:
        """The requirements of one resource type, by key (those read from records not to do it excepted)."""
        return self._by_type.get(resource_type, {})

    def not_done(self, resource_type: str) -> dict[str, Requirement]:
        """The keys of one request type read from records *not* to do it (``not_done``), by key."""
        return self._by_type.get(f"{resource_type}:not-done", {})

    def measures(self) -> dict[str, Requirement]:
        """The Observation keys that are values (``measures``, ``bp``), not events (one dict per set: readers and
        code indexes are kept per dict)."""
        if self._measures is None:
            self._measures = {key: r for key, r in self._by_type.get("Observation", {}).items() if not r.event}
        return self._measures

    def events(self) -> dict[str, dict[str, Requirement]]:
        """Per resource type, the keys that are dated events (``procedures``): every Procedure, Encounter and
        DiagnosticReport key, and the Observation keys marked as events."""
        found = {}
        for resource_type, keys in self._by_type.items():
            if resource_type.endswith(":not-done"):
                continue
            chosen = {key: r for key, r in keys.items() if r.event}
            if chosen:
                found[resource_type] = chosen
        return found

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


def _requirement(entry: dict[str, Any], where: str, value_sets: Mapping[str, ValueSet]) -> Requirement:
    resource_type = entry.get("type")
    if resource_type not in TYPES:
        raise PackError(f"{where}: type {resource_type!r} is not one of {', '.join(TYPES)}")
    extensions = {ext.get("url"): ext for ext in entry.get("extension") or []}
    key = (extensions.get(FACT_KEY_URL) or {}).get("valueCode")
    if not key:
        raise PackError(f"{where}: the fact-key extension ({FACT_KEY_URL}) is missing")
    label = (extensions.get(FACT_LABEL_URL) or {}).get("valueString") or ""
    flags = {url: (extensions.get(url) or {}).get("valueBoolean") is True
             for url in (MATCH_INGREDIENT_URL, FACT_EVENT_URL, FACT_HISTORY_URL, FACT_LIFELONG_URL, FACT_NOT_DONE_URL,
                         FACT_RESULTED_URL)}
    by_ingredient = flags[MATCH_INGREDIENT_URL]
    if by_ingredient and resource_type not in ("MedicationRequest", "AllergyIntolerance", "AdverseEvent"):
        raise PackError(f"{where} ({key}): match-ingredient is for MedicationRequest, AllergyIntolerance and "
                        "AdverseEvent keys")
    if flags[FACT_NOT_DONE_URL] and resource_type not in NOT_DONE_TYPES:
        raise PackError(f"{where} ({key}): fact-not-done is for {', '.join(NOT_DONE_TYPES)}")
    side = (extensions.get(FACT_SIDE_URL) or {}).get("valueCode")
    if side is not None and (side not in SIDES or resource_type not in ("Condition", "Procedure")):
        raise PackError(f"{where} ({key}): fact-side is left or right, on a Condition or Procedure key")
    implies = (extensions.get(FACT_IMPLIES_URL) or {}).get("valueCode")
    if implies is not None and resource_type not in ("MedicationRequest", "Procedure"):
        raise PackError(f"{where} ({key}): fact-implies is for MedicationRequest and Procedure keys")
    event = resource_type in ("Procedure", "Encounter", "DiagnosticReport", "ServiceRequest", "DeviceRequest") or (
        flags[FACT_EVENT_URL])
    concepts: list[tuple[str, Concept]] = []
    codes: list[tuple[str, str]] = []
    canonicals: list[str] = []
    default_path = DEFAULT_PATHS.get(resource_type, "code")
    for code_filter in entry.get("codeFilter") or []:
        path = code_filter.get("path") or default_path
        if resource_type == "MedicationRequest" and path in ("code", "medicationCodeableConcept"):
            path = "medication"  # the same element, as the earlier Libraries named it
        if path not in PATHS.get(resource_type, (default_path,)):
            raise PackError(f"{where} ({key}): codeFilter path {path!r} is not read for {resource_type}")
        found = _filter_value_sets(code_filter, f"{where} ({key})", label or key, value_sets, canonicals)
        concepts += [(path, Concept(found, by_ingredient=by_ingredient))]
        if path == default_path:  # what a server is searched by (``code``) and results are indexed by
            codes += [code for value_set in found for code in sorted(value_set.members)]
    if not concepts or not any(len(concept.members) for _path, concept in concepts):
        raise PackError(f"{where} ({key}): no codes in codeFilter (a value set or codes)")
    paths = {path for path, _concept in concepts}
    if "value" in paths and not event:
        raise PackError(f"{where} ({key}): an Observation's coded answer (path value) is read for event keys "
                        "(fact-event) only")
    if default_path not in paths and (side is not None or "value" in paths or len(paths) > 1):
        raise PackError(f"{where} ({key}): an answer, a side or codeFilters on several elements need a codeFilter "
                        f"on {default_path!r}")
    criteria: tuple[Criterion, ...] = ()
    if side is not None or len(paths) > 1:
        criteria, concepts = (Criterion(tuple(concepts), side),), []
    if flags[FACT_RESULTED_URL] and not (resource_type == "Observation" and event):
        raise PackError(f"{where} ({key}): fact-resulted is for Observation event keys (fact-event)")
    completed = extensions.get(FACT_COMPLETED_URL)
    if completed is not None and resource_type != "MedicationRequest":
        raise PackError(f"{where} ({key}): fact-completed-within is for MedicationRequest keys")
    return Requirement(key, resource_type, tuple(dict.fromkeys(codes)), label, _lookback(entry, where, key),
                       tuple(canonicals), _merge_concepts(tuple(concepts)), flags[FACT_HISTORY_URL], event,
                       criteria, flags[FACT_LIFELONG_URL], flags[FACT_NOT_DONE_URL], implies,
                       _duration(completed.get("valueDuration"), where, key) if completed is not None else None,
                       flags[FACT_RESULTED_URL])


def _filter_value_sets(code_filter: dict[str, Any], where: str, title: str, value_sets: Mapping[str, ValueSet],
                       canonicals: list[str]) -> list[ValueSet]:
    """The value set a codeFilter names (resolved) and its listed codes (as a ValueSet of their own)."""
    found: list[ValueSet] = []
    if code_filter.get("valueSet"):
        canonical = code_filter["valueSet"]
        value_set = value_sets.get(canonical) or value_sets.get(canonical.partition("|")[0])
        if value_set is None:
            raise PackError(f"{where}: value set {canonical} is not resolved (not in the pack's valuesets/ folder "
                            "and no terminology server expanded it)")
        found.append(value_set)
        canonicals.append(canonical)
    listed = []
    for coding in code_filter.get("code") or []:
        normalised = key_of(coding.get("system"), coding.get("code"))
        if normalised is None:
            raise PackError(f"{where}: every code needs a system and a code")
        listed.append(normalised)
    if listed:
        found.append(ValueSet(url=f"{where}#{code_filter.get('path') or ''}", version="", title=title,
                              members=frozenset(listed), source="listed codes"))
    return found


def _lookback(entry: dict[str, Any], where: str, key: str) -> tuple[float, str] | None:
    lookback = None
    for date_filter in entry.get("dateFilter") or []:
        duration = date_filter.get("valueDuration")
        if duration:
            lookback = _duration(duration, where, key)
    return lookback


def _duration(duration: Any, where: str, key: str) -> tuple[float, str]:
    """(value, unit) of a UCUM Duration in a/mo/wk/d, or a PackError."""
    duration = duration if isinstance(duration, dict) else {}
    unit = duration.get("code") or duration.get("unit")
    if unit not in ("a", "mo", "wk", "d") or not isinstance(duration.get("value"), int | float):
        raise PackError(f"{where} ({key}): a valueDuration needs a value and a unit a/mo/wk/d")
    return float(duration["value"]), unit


def _merge_concepts(concepts: tuple[tuple[str, Concept], ...]) -> tuple[tuple[str, Concept], ...]:
    """One Concept per path, uniting the value sets (and the ingredient fallback) of every entry for it."""
    by_path: dict[str, list[Concept]] = {}
    for path, concept in concepts:
        by_path.setdefault(path, []).append(concept)
    merged = []
    for path, found in by_path.items():
        value_sets = {vs.canonical: vs for concept in found for vs in concept.value_sets}
        merged.append((path, Concept(value_sets.values(), by_ingredient=any(c.by_ingredient for c in found))))
    return tuple(merged)


def lookback_days(lookback: tuple[float, str]) -> float:
    value, unit = lookback
    return value * {"a": 365.25, "mo": 30.44, "wk": 7, "d": 1}[unit]
