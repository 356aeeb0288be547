"""The reviewed data of a pack's conformance: which plan items are each measure's action, and the class of each
known disagreement. Both live in the pack (``<pack>/conformance/measures.json`` and ``classification.json``),
are reviewed like the rest of the pack, and are checked here: an error names the file and the entry.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.engine.packs import DEFAULT_PACK_DIR, REVIEW_FOLDER
from app.fhir.decoding import UnreadableJson, load_file

DEFECT, GUIDELINE_DIFFERENCE, DECK_FAULT, UNREVIEWED = "defect", "guideline-difference", "deck-fault", "unreviewed"
CLASSES = (DEFECT, GUIDELINE_DIFFERENCE, DECK_FAULT, UNREVIEWED)
#: What each class must carry besides measure, case, finding and reason.
_REQUIRED = {DEFECT: ("cause",), GUIDELINE_DIFFERENCE: ("citation",), DECK_FAULT: (), UNREVIEWED: ()}
_CITATION = ("guideline", "year", "section")


class ReviewError(ValueError):
    """A review file that is missing, unreadable or malformed; the message names the file and the entry."""


@dataclass(frozen=True)
class MeasureMap:
    """One measure: the plan rules whose activities are the measure's action, and why."""

    key: str
    measure: str
    title: str
    actions: frozenset[str]
    why: str = ""
    url: str = ""


@dataclass(frozen=True)
class Classification:
    """A reviewed disagreement: (measure, case, finding) -> class, reason, and the cause or citation."""

    measure: str
    case: str
    finding: str
    kind: str
    reason: str
    cause: str = ""
    citation: dict[str, str] = field(default_factory=dict)

    @property
    def key(self) -> tuple[str, str, str]:
        """What a disagreement is matched on."""
        return (self.measure, self.case, self.finding)

    def to_dict(self) -> dict[str, Any]:
        """The entry as it is written in ``classification.json``."""
        out: dict[str, Any] = {"measure": self.measure, "case": self.case, "finding": self.finding,
                               "class": self.kind, "reason": self.reason}
        if self.cause:
            out["cause"] = self.cause
        if self.citation:
            out["citation"] = dict(self.citation)
        return out


@dataclass
class Review:
    """A pack's conformance review: the measure maps, the evidence keys, and the classified disagreements."""

    measures: dict[str, MeasureMap]
    evidence_keys: frozenset[str]
    entries: dict[tuple[str, str, str], Classification]
    files: dict[str, str] = field(default_factory=dict)
    #: Why no published eCQM applies to the pack (``measures.json`` ``notApplicable``, reviewed like the maps):
    #: then ``measures`` is empty and a deck has nothing to judge the pack by.
    not_applicable: str = ""


def review_folder(pack_dir: str | Path | None = None) -> Path:
    """Where a pack keeps its conformance review (``<pack>/conformance``)."""
    return Path(pack_dir or DEFAULT_PACK_DIR) / REVIEW_FOLDER


def load_review(folder: str | Path | None = None) -> Review:
    """Read and check ``measures.json`` and ``classification.json`` (default: the bundled pack's)."""
    folder = Path(folder) if folder else review_folder()
    measures_file, classification_file = folder / "measures.json", folder / "classification.json"
    measures_data = _read(measures_file)
    problems: list[str] = []
    not_applicable = measures_data.get("notApplicable")
    if not_applicable is not None and (not isinstance(not_applicable, str) or not not_applicable.strip()
                                       or measures_data.get("measures")):
        problems.append(f"{measures_file}: 'notApplicable' must be the reason no measure applies, with no measures")
        not_applicable = None
    measures = {} if not_applicable else _measures(measures_file, measures_data, problems)
    evidence = measures_data.get("exclusionEvidence", {}).get("factKeys", [])
    if not isinstance(evidence, list) or not all(isinstance(key, str) for key in evidence):
        problems.append(f"{measures_file}: exclusionEvidence.factKeys must be a list of fact keys")
        evidence = []
    entries = _entries(classification_file, _read(classification_file) if classification_file.exists() else {},
                       problems)
    if problems:
        raise ReviewError("\n".join(problems))
    return Review(measures=measures, evidence_keys=frozenset(evidence), entries=entries,
                  files={"measures": str(measures_file), "classification": str(classification_file)},
                  not_applicable=str(not_applicable or ""))


def _measures(where: Path, data: dict[str, Any], problems: list[str]) -> dict[str, MeasureMap]:
    out: dict[str, MeasureMap] = {}
    for key, entry in (data.get("measures") or {}).items():
        if not isinstance(entry, dict):
            problems.append(f"{where}: measure {key!r} is not an object")
            continue
        actions = entry.get("actions")
        if not isinstance(actions, list) or not actions or not all(isinstance(a, str) for a in actions):
            problems.append(f"{where}: measure {key!r}: 'actions' must list the plan rule ids of its action")
            continue
        out[key] = MeasureMap(key=key, measure=str(entry.get("measure", "")), title=str(entry.get("title", "")),
                              actions=frozenset(actions), why=str(entry.get("why", "")),
                              url=str(entry.get("url", "")))
    if not out:
        problems.append(f"{where}: no measures")
    return out


def _entries(where: Path, data: dict[str, Any], problems: list[str]) -> dict[tuple[str, str, str], Classification]:
    out: dict[tuple[str, str, str], Classification] = {}
    raw = data.get("entries", [])
    if not isinstance(raw, list):
        problems.append(f"{where}: 'entries' must be a list")
        return out
    for index, item in enumerate(raw):
        entry = _entry(f"{where}: entry {index}", item, problems)
        if entry is None:
            continue
        if entry.key in out:
            problems.append(f"{where}: entry {index}: {'/'.join(entry.key)} is classified twice")
        out[entry.key] = entry
    return out


def _entry(label: str, item: Any, problems: list[str]) -> Classification | None:
    """One classification, or None with the problems named (every field a reviewer must fill is checked)."""
    if not isinstance(item, dict):
        problems.append(f"{label}: not an object")
        return None
    kind = item.get("class")
    needed = ("measure", "case", "finding") + (() if kind == UNREVIEWED else ("reason",))
    missing = [name for name in needed if not isinstance(item.get(name), str) or not item[name].strip()]
    if kind not in CLASSES:
        problems.append(f"{label}: class {kind!r} is not one of {', '.join(CLASSES)}")
        return None
    missing += [name for name in _REQUIRED[kind] if not item.get(name)]
    citation = item.get("citation") or {}
    if kind == GUIDELINE_DIFFERENCE and (not isinstance(citation, dict)
                                         or not all(str(citation.get(part, "")).strip() for part in _CITATION)):
        missing.append("citation (guideline, year, section)")
    if missing:
        problems.append(f"{label} ({item.get('measure')}/{item.get('case')}): missing {', '.join(missing)}")
        return None
    return Classification(measure=item["measure"], case=item["case"], finding=item["finding"], kind=kind,
                          reason=str(item.get("reason") or ""), cause=str(item.get("cause") or ""),
                          citation={k: str(v) for k, v in citation.items()} if isinstance(citation, dict) else {})


def _read(path: Path) -> dict[str, Any]:
    try:
        data = load_file(path)
    except OSError as exc:
        raise ReviewError(f"{path}: cannot be read ({exc.strerror or exc})") from exc
    except UnreadableJson as exc:
        raise ReviewError(f"{path}: not JSON carepath can read ({exc})") from exc
    if not isinstance(data, dict):
        raise ReviewError(f"{path}: not a JSON object")
    return data
