"""Observations -> readings: status filter, dates, values in canonical units, bounds, BP components, genomics."""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from app.context import genomics
from app.context.bounds import implausible
from app.context.dates import EFFECTIVE_FIELDS, When, effective
from app.context.repair import readable
from app.context.requirements import Requirement
from app.context.resources import codings, problem, ref, value_field
from app.context.units import UNITS, UnitError, finite_number, read_as_note, to_canonical, ucum_code

USABLE_STATUSES = frozenset({"final", "amended", "corrected"})
LOINC = "http://loinc.org"
SBP_CODE, DBP_CODE = "8480-6", "8462-4"
#: The US Core Average Blood Pressure profile: a panel (96607-7) whose components are the mean systolic (96608-5)
#: and mean diastolic (96609-3) pressure of several readings.
BP_AVERAGE_KEY, BP_AVERAGE_CODE = "bp_average", "96607-7"
AVERAGE_SBP_CODE, AVERAGE_DBP_CODE = "96608-5", "96609-3"
#: An average of readings taken over 12 hours or more is ambulatory (or home) monitoring, not one office visit.
AMBULATORY_HOURS = 12
CODED_KEYS = frozenset({"smoking"})
GENOMIC_KEYS = frozenset(genomics.GENES)
#: Most recent values kept per measure for trend charts (the fetch asks the server for twice as many).
SERIES_LIMIT = 50


@dataclass
class Reading:
    """One usable value of one fact key."""

    key: str
    when: When
    ref: dict[str, Any]
    code: str
    value: float | None = None
    coded: dict[str, Any] | None = None
    unit: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def readings(observation: dict[str, Any], keys: dict[str, Requirement], as_of: date,
             quality: list[dict[str, Any]], *, fed: list[tuple[str, str]] | None = None,
             when: When | None = None) -> list[Reading]:
    """The readings one Observation gives the requested keys; problems go to ``quality``.

    ``fed`` (its :func:`keys_fed`) and ``when`` (its effective date) spare reading them again when the caller
    already has them.
    """
    if fed is None:
        fed = keys_fed(observation, keys)
    if not fed or observation.get("status") not in USABLE_STATUSES:
        return []  # not asked for, or preliminary / cancelled / entered-in-error / unknown: ignored
    if when is None:
        try:
            when = effective(observation, *EFFECTIVE_FIELDS)
        except ValueError as exc:
            quality.append(problem(observation, f"date not understood ({exc}): not used"))
            return []
    if when is None:
        quality.append(problem(observation, "no effective date: not used"))
        return []
    if when.day > as_of:
        return []  # after the evaluation date
    found: list[Reading] = []
    for key, code in fed:
        if key == "bp_panel":
            found += _bp_components(observation, keys, when, quality)
        elif key == BP_AVERAGE_KEY:
            found += _bp_average(observation, when, quality)
        elif key in GENOMIC_KEYS:
            found += _genomic(observation, key, code, when)
        elif key in CODED_KEYS:
            concept = observation.get("valueCodeableConcept")
            if concept:
                found.append(Reading(key, when, ref(observation), code, coded=_coded(concept)))
            else:
                quality.append(problem(observation, f"no coded value for {keys[key].name}: not used"))
        elif key not in UNITS:
            reading = _other_value(observation, key, code, when, keys[key].name, quality)
            if reading:
                found.append(reading)
        else:
            value = _quantity(observation, key, keys[key].name, quality)
            if value is not None:
                reading = Reading(key, when, ref(observation), code, value=value)
                comparator = (observation.get("valueQuantity") or {}).get("comparator")
                if comparator:
                    reading.extra["comparator"] = comparator  # e.g. eGFR ">90": the value is a bound
                found.append(reading)
    return found


Triage = tuple[float | None, When | None, list[tuple[str, str]] | None, set[str] | None]
Examined = tuple[list[Reading], list[dict[str, Any]]]


class ObservationReader:
    """What facts need from each Observation, worked out once per Observation for one evaluation (the keys
    asked for and the evaluation date).

    :meth:`triage` reads what decides whether a result is looked at (its date, its status, the keys it feeds);
    :meth:`examine` validates it and reads its values. Both remember their answer for the Observation object,
    so work done by :meth:`prepare` (the fetch calls it for each answer while the other requests are still in
    flight) is not done again when facts are built; facts are the same with or without it.
    """

    def __init__(self, keys: dict[str, Requirement], as_of: date) -> None:
        self.keys = keys
        self.as_of = as_of
        # id(observation) -> (observation, answer): the object is kept so that an id is never reused meanwhile
        self._triaged: dict[int, tuple[dict[str, Any], Triage]] = {}
        self._examined: dict[int, tuple[dict[str, Any], Examined]] = {}

    def serves(self, keys: dict[str, Requirement], as_of: date) -> bool:
        """True when this reader's answers hold for ``keys`` and ``as_of``."""
        return self.as_of == as_of and (self.keys is keys or self.keys == keys)

    def triage(self, observation: dict[str, Any]) -> Triage:
        """(UTC seconds for ordering, effective date, :func:`keys_fed`, the keys its readings can fill).

        A BP panel fills ``sbp`` and ``dbp`` (its components), not ``bp_panel``; a pharmacogenomic result fills
        the key of the gene it names, none when it names no gene asked for (the codes are shared by every gene).
        The date is None when absent or unreadable; the codes and keys are None when the code cannot be read
        (validation then says why).
        """
        memo = self._triaged.get(id(observation))
        if memo is not None and memo[0] is observation:
            return memo[1]
        try:
            when = effective(observation, *EFFECTIVE_FIELDS)
        except (ValueError, TypeError, AttributeError):
            when = None
        codes: list[tuple[str, str]] | None = None
        fed: set[str] | None = None
        try:
            codes = keys_fed(observation, self.keys)
            fed = {key for key, _code in codes}
            if "bp_panel" in fed:
                fed = (fed - {"bp_panel"}) | {"sbp", "dbp"}
        except (AttributeError, TypeError):
            codes = fed = None
        if fed and not fed.isdisjoint(GENOMIC_KEYS):
            # a gene that cannot be read leaves it examined for every gene key: validation says what is wrong
            with suppress(AttributeError, TypeError):
                fed = (fed - GENOMIC_KEYS) | ({genomics.gene_of(observation)} & fed)
        answer = (when.instant.timestamp() if when else None, when, codes, fed)
        self._triaged[id(observation)] = (observation, answer)
        return answer

    @staticmethod
    def asked(observation: dict[str, Any], fed: set[str] | None) -> bool:
        """False for a result facts never look at: an unusable status (preliminary, cancelled, entered-in-error...)
        or codes no key asks for. A result whose code cannot be read, or that has none, is looked at: it could be
        anything, and validation says what is wrong with it."""
        status = observation.get("status")
        if isinstance(status, str) and status not in USABLE_STATUSES:
            return False
        return fed is None or bool(fed) or not observation.get("code")

    def examine(self, observation: dict[str, Any]) -> Examined:
        """Its readings and its dataQuality entries: benign faults are repaired and listed, a result that cannot
        be read without guessing gives no reading and one entry (:func:`app.context.repair.readable`)."""
        memo = self._examined.get(id(observation))
        if memo is not None and memo[0] is observation:
            return memo[1]
        _instant, when, codes, _fed = self.triage(observation)
        used, faults = readable(observation)  # benign faults repaired (in a copy) and listed, the rest not used
        problems = [problem(observation, fault) for fault in faults]
        if used is None:
            answer: Examined = ([], problems)
        else:
            # A repaired copy's date is read from the copy (the date it was read as), its codes never change.
            answer = (readings(used, self.keys, self.as_of, problems, fed=codes,
                               when=when if used is observation else None), problems)
        self._examined[id(observation)] = (observation, answer)
        return answer

    def gather(self, observations: Iterable[dict[str, Any]]) -> Examined:
        """Readings per key from ``observations`` taken in the order given (newest first), at most
        ``SERIES_LIMIT`` per key, and the dataQuality entries of the results examined.

        A result is examined (validated, read) only when a key it can fill still has room, so a long history
        costs no more than the window kept; older results beyond it are neither used nor checked.
        """
        found: dict[str, list[Reading]] = {}
        full: set[str] = set()
        problems: list[dict[str, Any]] = []
        for observation in observations:
            _instant, when, _codes, fills = self.triage(observation)
            if (when is not None and when.day > self.as_of) or not self.asked(observation, fills):
                continue
            if fills and fills <= full:
                continue
            taken, trouble = self.examine(observation)
            problems += trouble
            for reading in taken:
                series = found.setdefault(reading.key, [])
                series.append(reading)
                if len(series) >= SERIES_LIMIT:
                    full.add(reading.key)
        return found, problems

    def prepare(self, observations: Iterable[dict[str, Any]]) -> None:
        """Examine what :meth:`gather` will want from one answer (sorted newest first, as the fetch asks): the
        fetch calls it while the other requests are still in flight."""
        self.gather(observations)


def _coded(concept: dict[str, Any]) -> dict[str, Any]:
    first = (codings(concept) or [{}])[0]
    return {"system": first.get("system"), "code": first.get("code"),
            "display": first.get("display") or concept.get("text")}


def _other_value(observation: dict[str, Any], key: str, code: str, when: When, name: str,
                 quality: list[dict[str, Any]]) -> Reading | None:
    """A key with no canonical unit: a coded, boolean or text result, or a quantity kept in its own unit."""
    if observation.get("valueCodeableConcept"):
        return Reading(key, when, ref(observation), code, coded=_coded(observation["valueCodeableConcept"]))
    if isinstance(observation.get("valueBoolean"), bool):
        return Reading(key, when, ref(observation), code, coded={"value": observation["valueBoolean"]})
    if isinstance(observation.get("valueString"), str):
        return Reading(key, when, ref(observation), code, coded={"text": observation["valueString"]})
    quantity = observation.get("valueQuantity") or {}
    raw = quantity.get("value", observation.get("valueInteger"))
    value = finite_number(raw)
    if value is not None:
        return Reading(key, when, ref(observation), code, value=value, unit=ucum_code(quantity))
    reason = next((c.get("code") for c in codings(observation.get("dataAbsentReason"))), None)
    quality.append(problem(observation, f"no value for {name}" + (f" ({reason})" if reason else "") + ": not used"))
    return None


def keys_fed(observation: dict[str, Any], keys: dict[str, Requirement]) -> list[tuple[str, str]]:
    """(key, "system|code") for every requested key one of the Observation's codes feeds."""
    index = _code_index(keys)
    fed: dict[str, str] = {}
    concept = observation.get("code")
    for coding in (concept or {}).get("coding") or ():
        for key in index.get((coding.get("system"), coding.get("code")), ()):
            fed.setdefault(key, f"{coding['system']}|{coding['code']}")
    return list(fed.items())


_INDEXES: dict[int, tuple[dict[str, Requirement], dict[tuple[str, str], list[str]]]] = {}


def _code_index(keys: dict[str, Requirement]) -> dict[tuple[str, str], list[str]]:
    """(system, code) -> the keys it feeds, built once per requirement dict (it is read for every result)."""
    cached = _INDEXES.get(id(keys))
    if cached is not None and cached[0] is keys:
        return cached[1]
    index: dict[tuple[str, str], list[str]] = {}
    for key, requirement in keys.items():
        for code in requirement.codes:
            index.setdefault(code, []).append(key)
    if len(_INDEXES) > 64:
        _INDEXES.clear()
    _INDEXES[id(keys)] = (keys, index)
    return index


def _quantity(node: dict[str, Any], key: str, name: str, quality: list[dict[str, Any]],
              owner: dict[str, Any] | None = None) -> float | None:
    owner = owner or node
    if "valueQuantity" in node:
        quantity = node["valueQuantity"] or {}
        raw, unit = quantity.get("value"), ucum_code(quantity)
    elif "valueInteger" in node and UNITS.get(key) and UNITS[key].unitless:
        raw, unit = node["valueInteger"], None
    else:
        other = value_field(node)
        if other:  # a result, but not a quantity (a boolean, a text such as ">60", a code): no number to read
            quality.append(problem(owner, f"{name} result is a {other}, not a quantity: not used as a value"))
            return None
        reason = (node.get("dataAbsentReason") or {}).get("text") or next(
            (c.get("code") for c in codings(node.get("dataAbsentReason"))), None)
        quality.append(problem(owner, f"no value for {name}" + (f" ({reason})" if reason else "") + ": not used"))
        return None
    if not isinstance(raw, int | float) or isinstance(raw, bool):
        quality.append(problem(owner, f"no numeric value for {name}: not used"))
        return None
    number = finite_number(raw)
    if number is None:
        quality.append(problem(owner, f"{name} value beyond any measurement (not a finite number): not used"))
        return None
    try:
        value = to_canonical(key, number, unit)
    except UnitError as exc:
        quality.append(problem(owner, f"{exc} for {name}: not used"))
        return None
    note = read_as_note(key, unit)
    if note:
        quality.append(problem(owner, f"{name}: {note}"))
    reason = implausible(key, value)
    if reason:
        shown = f"{raw:g} {unit or ''}".strip()
        entry = problem(owner, f"{name} {shown} {reason}")
        with suppress(ValueError, TypeError, AttributeError):
            when = effective(owner, *EFFECTIVE_FIELDS)
            # kept apart so that the plan can ask to verify and re-measure when this is the latest result
            entry.update(kind="implausible", key=key, date=when.day.isoformat() if when else None)
        quality.append(entry)
        return None
    return round(value, 2)


def _bp_components(panel: dict[str, Any], keys: dict[str, Requirement], when: When,
                   quality: list[dict[str, Any]]) -> list[Reading]:
    names = {code: (key, keys[key].name if key in keys else default)
             for code, key, default in ((SBP_CODE, "sbp", "systolic blood pressure"),
                                        (DBP_CODE, "dbp", "diastolic blood pressure"))}
    return [Reading(key, when, ref(panel), f"{LOINC}|{code}", value=value)
            for key, code, value in _pressures(panel, names, quality)]


#: The mean pressures of an average BP panel: LOINC code -> (key, name in a data-quality message).
_MEANS = {AVERAGE_SBP_CODE: ("sbp", "mean systolic blood pressure"),
          AVERAGE_DBP_CODE: ("dbp", "mean diastolic blood pressure")}


def _pressures(panel: dict[str, Any], names: dict[str, tuple[str, str]],
               quality: list[dict[str, Any]]) -> list[tuple[str, str, float]]:
    """(key, LOINC code, mmHg) of a BP panel's components whose LOINC code ``names`` lists; none at all when one of
    them is unusable (the whole reading is then suspect: neither value is used)."""
    found: list[tuple[str, str, float]] = []
    problems_before = len(quality)
    for component in panel.get("component") or []:
        for coding in codings(component.get("code")):
            if coding.get("system") != LOINC or coding.get("code") not in names:
                continue
            key, name = names[coding["code"]]
            value = _quantity(component, key, name, quality, owner=panel)
            if value is not None:
                found.append((key, coding["code"], value))
    return [] if len(quality) > problems_before else found


def _bp_average(panel: dict[str, Any], when: When, quality: list[dict[str, Any]]) -> list[Reading]:
    """One reading of an average BP (US Core Average Blood Pressure): the mean systolic as its value, the mean
    diastolic and whether it was measured out of the office in ``extra`` (self-measured: a performer that is the
    patient or a related person; ambulatory: readings over 12 hours or more). Either mean may be absent."""
    means = {key: value for key, _code, value in _pressures(panel, _MEANS, quality)}
    if not means:
        return []
    performers = [p.get("reference") for p in panel.get("performer") or [] if isinstance(p, dict)]
    if any(isinstance(r, str) and r.split("/")[-2:-1] in (["Patient"], ["RelatedPerson"]) for r in performers):
        setting = "self-measured"
    elif _hours(panel.get("effectivePeriod")) >= AMBULATORY_HOURS:
        setting = "ambulatory"
    else:
        setting = None
    reading = Reading(BP_AVERAGE_KEY, when, ref(panel), f"{LOINC}|{BP_AVERAGE_CODE}", value=means.get("sbp"),
                      extra={"dbp": means.get("dbp"), "setting": setting})
    return [reading]


def _hours(period: Any) -> float:
    """The length of an effectivePeriod in hours (0 when it cannot be read)."""
    if not isinstance(period, dict):
        return 0.0
    try:
        start, end = effective({"p": period}, "p.start"), effective({"p": period}, "p.end")
    except (ValueError, TypeError, AttributeError):
        return 0.0
    if start is None or end is None:
        return 0.0
    return (end.instant - start.instant).total_seconds() / 3600


def _genomic(observation: dict[str, Any], key: str, code: str, when: When) -> list[Reading]:
    if genomics.gene_of(observation) != key:
        return []
    coded, word = genomics.phenotype_of(observation)
    genotype = genomics.genotype_of(observation)
    if coded is None and genotype is None:
        return []
    extra = {"phenotype": word} if word else {}
    if genotype:
        extra["genotype"] = genotype
    return [Reading(key, when, ref(observation), code, coded=coded, extra=extra)]
