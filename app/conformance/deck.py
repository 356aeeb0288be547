"""A published eCQM test deck: its cases, their expected populations, and the category each maps to.

A deck is a folder laid out as ``../shared/data/ecqm-2023``: ``expected.json`` (per measure and case, the
population counts of the case's MeasureReport, the measurement period, ``asOf``, title, description and the
case's known data issues), ``meta.json`` (the measures and the issues found in the deck), and one collection
Bundle per case in ``<measure>/<case>.json``. Reading a deck never runs a plan: ``app.conformance.run`` does.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from app.fhir.decoding import UnreadableJson, load_file

#: The MeasureReport population codes, in the order a measure applies them.
POPULATIONS = ("initial-population", "denominator", "denominator-exclusion", "denominator-exception", "numerator")

#: What a case's populations mean for a care plan (``docs/conformance.md``).
GAP, MET, EXCLUDED, EXCEPTED, OUTSIDE = "care-gap", "met", "denominator-exclusion", "denominator-exception", "outside"
CATEGORIES = (GAP, MET, EXCLUDED, EXCEPTED, OUTSIDE)


class DeckError(ValueError):
    """A deck folder carepath cannot read at all (no ``expected.json``, or not the expected shape)."""


@dataclass(frozen=True)
class Case:
    """One test case of one measure, as the deck's ``expected.json`` describes it."""

    measure: str
    name: str
    path: Path
    as_of: date | None
    counts: dict[str, int]
    title: str = ""
    description: str = ""
    data_issues: tuple[str, ...] = ()

    @property
    def category(self) -> str:
        """The case's category for a care plan, from its population counts."""
        return category(self.counts)


@dataclass
class Deck:
    """The cases of a deck (filtered by measure), with what could not be read named in ``problems``."""

    folder: Path
    cases: list[Case] = field(default_factory=list)
    measures: dict[str, dict[str, Any]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    source: dict[str, Any] = field(default_factory=dict)
    #: (measure, case name) -> the deck's own notes on the case's data (``meta.json`` issues).
    issues: dict[tuple[str, str], list[str]] = field(default_factory=dict)


def category(counts: dict[str, int]) -> str:
    """Exclusion before numerator before exception, as eCQM population logic applies them.

    Outside the initial population, or in it but not in the denominator, the measure makes no claim.
    """
    if not counts.get("initial-population") or not counts.get("denominator"):
        return OUTSIDE
    if counts.get("denominator-exclusion"):
        return EXCLUDED
    if counts.get("numerator"):
        return MET
    if counts.get("denominator-exception"):
        return EXCEPTED
    return GAP


def read_deck(folder: str | Path, measures: Iterable[str] | None = None) -> Deck:
    """The deck's cases, sorted by measure and name; ``measures`` keeps only those measures."""
    folder = Path(folder)
    expected = _json(folder / "expected.json")
    if not isinstance(expected, dict):
        raise DeckError(f"{folder / 'expected.json'}: not an object of measures")
    meta = _json(folder / "meta.json") if (folder / "meta.json").is_file() else {}
    meta = meta if isinstance(meta, dict) else {}
    wanted = set(measures) if measures else None
    deck = Deck(folder, measures={}, source=_source(meta), issues=_issues(expected, meta))
    if wanted:
        deck.problems += [f"measure {name!r} is not in this deck" for name in sorted(wanted - set(expected))]
    for measure in sorted(expected):
        if wanted is not None and measure not in wanted:
            continue
        deck.measures[measure] = dict((meta.get("measures") or {}).get(measure) or {})
        cases = expected[measure]
        if not isinstance(cases, dict):
            deck.problems.append(f"{measure}: expected.json holds no cases")
            continue
        for name in sorted(cases):
            if Path(name).name != name or name.startswith("."):
                deck.problems.append(f"{measure}/{name!r}: not a case file name, skipped")
                continue
            deck.cases.append(_case(folder, measure, name, cases[name], deck.problems))
    return deck


def _case(folder: Path, measure: str, name: str, entry: Any, problems: list[str]) -> Case:
    """One case; a malformed entry still gives a case (with no date), so it is reported, never dropped."""
    entry = entry if isinstance(entry, dict) else {}
    as_of = None
    try:
        as_of = date.fromisoformat(str(entry.get("asOf") or (entry.get("measurementPeriod") or {}).get("end")))
    except ValueError:
        problems.append(f"{measure}/{name}: no readable asOf date")
    counts = {population: _count(entry.get(population)) for population in POPULATIONS}
    return Case(measure=measure, name=name, path=folder / measure / f"{name}.json", as_of=as_of, counts=counts,
                title=str(entry.get("title") or ""), description=str(entry.get("description") or ""),
                data_issues=tuple(str(issue) for issue in entry.get("dataIssues") or []))


def _issues(expected: dict[str, Any], meta: dict[str, Any]) -> dict[tuple[str, str], list[str]]:
    """(measure, case name) -> the deck's notes on that case's data (``meta.json`` names cases by folder)."""
    by_dir = {(measure, str(entry.get("caseDir"))): name for measure, cases in expected.items()
              if isinstance(cases, dict) for name, entry in cases.items() if isinstance(entry, dict)}
    out: dict[tuple[str, str], list[str]] = {}
    for issue in meta.get("issues") or []:
        if not isinstance(issue, dict):
            continue
        measure, case = str(issue.get("measure")), str(issue.get("case"))
        name = by_dir.get((measure, case), case)
        out.setdefault((measure, name), []).append(f"{issue.get('kind')}: {issue.get('detail')}")
    return out


def _source(meta: dict[str, Any]) -> dict[str, Any]:
    """Where the deck comes from (repository and commit), as its ``meta.json`` says."""
    return {key: meta[key] for key in ("repository", "commit", "commitDate") if key in meta}


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def _json(path: Path) -> Any:
    try:
        return load_file(path)
    except (OSError, UnreadableJson) as exc:
        raise DeckError(f"{path}: cannot be read ({exc})") from exc
