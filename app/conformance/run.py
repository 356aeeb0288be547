"""Run a deck through carepath's plan and judge every case against the pack's reviewed conformance data.

Each case goes the road of ``carepath plan``: the Bundle's resources -> ``facts_from_resources`` ->
``build_plan`` (``app.cohort.plans.plan_of``, the function the cohort and the CLI share), as of the case's
``asOf``. Nothing clinical is computed here.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.cohort.plans import plan_of
from app.conformance.compare import CaseResult, compare, no_plan
from app.conformance.deck import CATEGORIES, Case, read_deck
from app.conformance.review import DECK_FAULT, DEFECT, GUIDELINE_DIFFERENCE, UNREVIEWED, Review
from app.context.resources import from_bundle
from app.engine import PackSet
from app.engine.packs import pack_files
from app.errors import CarepathError
from app.fhir.decoding import UnreadableJson, load_file

#: Exit statuses: every disagreement accounted for; a disagreement that fails the run; input unusable.
PASSED, FAILED, UNUSABLE = 0, 1, 2
UNCLASSIFIED = "unclassified"


@dataclass
class ConformanceResult:
    """Every case's result with its classification, the agreement per measure and population, and the verdict."""

    deck: dict[str, Any]
    packs: list[dict[str, Any]]
    review_files: dict[str, str]
    cases: list[CaseResult]
    classes: dict[tuple[str, str, str], str]
    review: Review
    strict: bool = False
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0
    #: SHA-256 over the pack folder's FHIR files (path and content), when the pack came from a folder.
    pack_digest: str | None = None

    @property
    def disagreements(self) -> list[CaseResult]:
        """Cases where the plan and the measure disagree."""
        return [case for case in self.cases if case.agrees is False]

    def class_of(self, case: CaseResult) -> str:
        """The reviewed class of a disagreement, or ``unclassified``."""
        return self.classes.get(case.key, UNCLASSIFIED)

    @property
    def stale(self) -> list[dict[str, Any]]:
        """Classified disagreements that no longer occur (a fixed defect, a changed plan): remove them."""
        seen = {case.key for case in self.disagreements}
        return [entry.to_dict() for key, entry in sorted(self.review.entries.items()) if key not in seen]

    @property
    def failures(self) -> list[str]:
        """Why the run fails: unclassified or unreviewed disagreements, defects not on the known list
        (with ``strict``: every defect and every stale entry), and input problems."""
        reasons = list(self.problems)
        for case in self.disagreements:
            kind = self.class_of(case)
            if kind in (UNCLASSIFIED, UNREVIEWED) or (self.strict and kind == DEFECT):
                reasons.append(f"{case.measure}/{case.case}: {case.finding} ({kind})")
        if self.strict:
            reasons += [f"{e['measure']}/{e['case']}: {e['finding']} is classified but no longer occurs"
                        for e in self.stale]
        return reasons

    @property
    def status(self) -> int:
        """The exit status of ``carepath conformance``."""
        return FAILED if self.failures else PASSED

    def summary(self) -> dict[str, Any]:
        """Per measure and category (and overall): cases, agreements, and disagreements by class."""
        measures: dict[str, Any] = {}
        for case in self.cases:
            row = measures.setdefault(case.measure, {"categories": {c: _empty() for c in CATEGORIES}})
            _add(row["categories"][case.category], case, self)
        for row in measures.values():
            row["total"] = _total(row["categories"].values())
        overall = _total(row["total"] for row in measures.values())
        return {"measures": measures, "overall": overall, "knownDefects": overall["defect"],
                "defectsByCause": self.defects_by_cause(), "failures": len(self.failures), "stale": len(self.stale)}

    def defects_by_cause(self) -> list[dict[str, Any]]:
        """The known open defects grouped by their reviewed cause, most cases first, with the cases per measure."""
        causes: dict[str, dict[str, list[str]]] = {}
        for case in self.disagreements:
            entry = self.review.entries.get(case.key)
            if entry is not None and entry.kind == DEFECT:
                causes.setdefault(entry.cause, {}).setdefault(case.measure, []).append(case.case)
        rows = [{"cause": cause, "cases": sum(len(names) for names in by_measure.values()), "measures": by_measure}
                for cause, by_measure in causes.items()]
        return sorted(rows, key=lambda row: (-row["cases"], row["cause"]))

    def to_dict(self) -> dict[str, Any]:
        """``conformance.json``."""
        cases = []
        for case in self.cases:
            data = case.to_dict()
            if case.agrees is False:
                entry = self.review.entries.get(case.key)
                data["classification"] = entry.to_dict() if entry else {"class": UNCLASSIFIED}
            cases.append(data)
        return {"deck": self.deck, "packs": self.packs, "packDigest": self.pack_digest,
                "review": self.review_files, "strict": self.strict,
                "status": "passed" if self.status == PASSED else "failed", "summary": self.summary(),
                "failures": self.failures, "stale": self.stale, "problems": self.problems,
                "seconds": round(self.seconds, 2), "cases": cases}


def run_conformance(deck_dir: str | Path, pack_set: PackSet, review: Review, *,
                    measures: Iterable[str] | None = None, strict: bool = False,
                    pack_dir: str | Path | None = None) -> ConformanceResult:
    """Plan every case of the deck (``measures`` keeps some) and judge it; raises ``DeckError`` on a deck
    carepath cannot read at all. A case that cannot be planned is a ``no-plan`` disagreement, never a crash."""
    started = time.perf_counter()
    deck = read_deck(deck_dir, measures)
    problems = list(deck.problems)
    unmapped = sorted({case.measure for case in deck.cases} - set(review.measures))
    problems += [f"measure {name!r} has no entry in {review.files.get('measures')}: its cases are not judged"
                 for name in unmapped]
    results = []
    for case in deck.cases:
        if case.measure in review.measures:
            result = judge(case, pack_set, review)
            result.data_issues += [i for i in deck.issues.get((case.measure, case.name), [])
                                   if i not in result.data_issues]
            results.append(result)
    classes = {key: entry.kind for key, entry in review.entries.items()}
    return ConformanceResult(
        deck={"folder": str(deck.folder), "source": deck.source, "measures": deck.measures, "cases": len(results)},
        packs=pack_set.packs, review_files=_hashes(review.files), cases=results, classes=classes, review=review,
        strict=strict, problems=problems, seconds=time.perf_counter() - started,
        pack_digest=pack_digest(pack_dir) if pack_dir else None)


def judge(case: Case, pack_set: PackSet, review: Review) -> CaseResult:
    """One case through the plan's road, then compared with the measure's populations."""
    if case.as_of is None:
        return no_plan(case, "the deck gives this case no date")
    try:
        bundle = load_file(case.path)
    except (OSError, UnreadableJson) as exc:
        return no_plan(case, f"{case.path.name}: cannot be read ({exc})")
    try:
        plan = plan_of(from_bundle(bundle), pack_set, case.as_of)
    except (ValueError, CarepathError) as exc:
        return no_plan(case, f"no plan: {exc}")
    if plan is None:
        return no_plan(case, "no Patient carepath can read in the case's Bundle")
    return compare(case, plan.to_dict(), review.measures[case.measure], review.evidence_keys)


def template(result: ConformanceResult) -> dict[str, Any]:
    """The classification file a reviewer starts from: the entries still matching, then every unclassified
    disagreement as ``unreviewed`` (which fails the run until a reviewer sets its class and reason)."""
    still = {case.key for case in result.disagreements}
    entries = [entry.to_dict() for key, entry in sorted(result.review.entries.items()) if key in still]
    for case in result.disagreements:
        if case.key not in result.review.entries:
            entries.append({"measure": case.measure, "case": case.case, "finding": case.finding,
                            "class": UNREVIEWED, "reason": "",
                            "caseDescription": case.description, "planSays": case.note,
                            "planItems": [f"{i['rule']} ({i['item']}): {i['text']}" for i in case.plan_items]})
    return {"description": "Reviewed classification of each disagreement between the plan and the deck "
                           "(docs/conformance.md). class: defect (with its cause) | guideline-difference (with the "
                           "citation that justifies the plan) | deck-fault (what is wrong in the case).",
            "entries": entries}


_COUNTS = ("cases", "assessed", "agree", DEFECT, GUIDELINE_DIFFERENCE, DECK_FAULT, UNREVIEWED, UNCLASSIFIED)


def _empty() -> dict[str, Any]:
    """A summary row: counts, and ``outcomes`` (how the plan agreed or not: e.g. an exclusion ``not-proposed``
    at all, which may only mean the plan would not have proposed it anyway, versus ``not-recommended``)."""
    return {**dict.fromkeys(_COUNTS, 0), "outcomes": {}}


def _add(row: dict[str, Any], case: CaseResult, result: ConformanceResult) -> None:
    row["outcomes"][case.outcome] = row["outcomes"].get(case.outcome, 0) + 1
    row["cases"] += 1
    if case.agrees is not None:
        row["assessed"] += 1
    if case.agrees:
        row["agree"] += 1
    elif case.agrees is False:
        row[result.class_of(case)] += 1


def _total(rows: Iterable[dict[str, Any]]) -> dict[str, Any]:
    total = _empty()
    for row in rows:
        for key in _COUNTS:
            total[key] += row[key]
        for outcome, number in row["outcomes"].items():
            total["outcomes"][outcome] = total["outcomes"].get(outcome, 0) + number
    total["agreement"] = round(total["agree"] / total["assessed"], 4) if total["assessed"] else None
    accounted = total["agree"] + total[GUIDELINE_DIFFERENCE] + total[DECK_FAULT]
    total["agreementWithReviewedDifferences"] = round(accounted / total["assessed"], 4) if total["assessed"] else None
    return total


def pack_digest(folder: str | Path) -> str:
    """SHA-256 over a pack folder's FHIR files (relative path and bytes, sorted): which pack a run judged."""
    folder = Path(folder)
    digest = hashlib.sha256()
    for file in pack_files(folder):
        digest.update(file.relative_to(folder).as_posix().encode() + b"\0" + file.read_bytes() + b"\0")
    return digest.hexdigest()


def _hashes(files: dict[str, str]) -> dict[str, Any]:
    """Each review file with its SHA-256, so a report names exactly what it was judged against."""
    out: dict[str, Any] = {}
    for name, path in files.items():
        file = Path(path)
        out[name] = {"path": path, "sha256": hashlib.sha256(file.read_bytes()).hexdigest() if file.exists() else None}
    return out
