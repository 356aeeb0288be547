"""The value sets the pack's Library names: published VSAC value sets copied from ``../shared/data/valuesets``,
and the few the pack defines itself, each saying why no published one fits.

Three kinds of pack-defined value set:
- ``own``: a concept no 2021 eCQM value set covers (vital signs of the FHIR vital-signs profile, eGFR,
  pharmacogenomic results, single ingredients a rule names);
- ``derived``: the members of a published value set selected by a stated rule (CKD from "Kidney Failure"
  without its acute kidney failure codes; ACE inhibitors and ARBs split from "ACE Inhibitor or ARB Ingredient"
  by their WHO INN stems -pril and -sartan; insulins, sulfonylureas and metformin from "Hypoglycemics" by
  ingredient);
- ``supplement``: codes carepath recognised before this pack used value sets (``recognition_baseline.json``)
  that the 2021 expansions of the chosen value sets lack (later VSAC releases or other value sets list them):
  kept so that no code a rule depended on is lost.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from app.engine.authoring import BASE, VERSION
from app.terminology import rxnorm
from app.terminology.codes import ICD10CM, LOINC, RXNORM, SNOMED

DATA = Path(__file__).resolve().parents[4] / "shared" / "data"
#: The published releases the pack draws on, current first: a value set the 2025 eCQM release holds is taken
#: at its 2025 version; one the 2025 release does not carry (its measures left that release) stays at its 2021
#: version, named by ``url|version`` so that nobody mistakes it for current.
RELEASES = (DATA / "valuesets-2025", DATA / "valuesets")
SHARED = RELEASES[-1]
BASELINE = Path(__file__).with_name("recognition_baseline.json")
VSAC = "http://cts.nlm.nih.gov/fhir/ValueSet/"
NCQA = "https://www.ncqa.org/fhir/valueset/"


@cache
def _published_index() -> dict[str, Path]:
    """url -> the file of the newest release that holds the value set, unless that file's expansion is cut short
    (the 2025 files stop at 1000 codes: "Advanced Illness" 1082 lists 1000 of 1973, "Pregnancy" 378 1000 of
    1986) and an older release holds it whole: then the whole one (no code a rule depended on is lost)."""
    index: dict[str, Path] = {}
    cut: set[str] = set()
    for release in RELEASES:
        for path in sorted(release.glob("*.json")):
            resource = json.loads(path.read_text(encoding="utf-8"))
            url, whole = resource["url"], _whole(resource)
            if url not in index or (url in cut and whole):
                index[url] = path
                cut.discard(url)
                if not whole:
                    cut.add(url)
    return index


def _whole(resource: dict[str, Any]) -> bool:
    """False when an expansion says it holds more codes (``total``) than it lists."""
    expansion = resource.get("expansion") or {}
    total = expansion.get("total")
    return not isinstance(total, int) or total <= len(expansion.get("contains") or [])


@cache
def published(url: str) -> dict[str, Any]:
    """A published ValueSet as distributed (``url`` = its canonical)."""
    path = _published_index().get(url)
    if path is None:
        raise KeyError(f"{url}: not among the published value sets in {', '.join(map(str, RELEASES))}")
    return json.loads(path.read_text(encoding="utf-8"))


def vsac(oid: str) -> str:
    """The canonical of a VSAC value set by OID."""
    return VSAC + oid


def members(url: str) -> list[dict[str, Any]]:
    """The expansion's concepts of a published value set."""
    return list(published(url)["expansion"]["contains"])


def own(name: str, title: str, why: str, concepts: list[tuple[str, str, str]]) -> dict[str, Any]:
    """A ValueSet the pack defines: (system, code, display) concepts, enumerated in compose and expansion."""
    concepts = sorted(set(concepts))
    name = name.replace("_", "-")  # FHIR ids and this pack's urls: letters, digits, '-' and '.'
    by_system: dict[str, list[dict[str, str]]] = {}
    for system, code, display in concepts:
        by_system.setdefault(system, []).append({"code": code, **({"display": display} if display else {})})
    return {
        "resourceType": "ValueSet", "id": f"carepath-{name}", "url": f"{BASE}/ValueSet/{name}", "version": VERSION,
        "name": name.replace("-", "_"), "title": title, "status": "draft", "publisher": "carepath clinical content",
        "description": why,
        "compose": {"include": [{"system": system, "concept": found} for system, found in by_system.items()]},
        "expansion": {"timestamp": "2025-06-01T00:00:00Z", "total": len(concepts),
                      "contains": [{"system": s, "code": c, **({"display": d} if d else {})} for s, c, d in concepts]},
    }


def derived(name: str, title: str, source: str, rule: str, keep: Any) -> dict[str, Any]:
    """A ValueSet of the members of published ``source`` that ``keep(concept)`` selects, saying the rule."""
    chosen = [(c["system"], c["code"], c.get("display", "")) for c in members(source) if keep(c)]
    return own(name, title, f"Derived from the published value set {source} ({published(source)['title']}): "
                            f"{rule}.", chosen)


def by_moiety(*names: str) -> Any:
    """A ``keep`` rule: RxNorm members whose ingredients include one of ``names`` (active moieties)."""
    wanted = set(names)
    return lambda concept: bool(wanted.intersection(rxnorm.moieties(concept.get("display"))))


@cache
def baseline() -> dict[tuple[str, str], list[tuple[str, str]]]:
    """(resource type, fact key) -> [(system, code)] that carepath recognised before value sets."""
    found: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for resource_type, key, system, code in json.loads(BASELINE.read_text(encoding="utf-8")):
        found.setdefault((resource_type, key), []).append((system, code))
    return found


def supplement(resource_type: str, key: str, label: str, chosen: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The baseline codes of a key that none of the ``chosen`` value sets' expansions hold (None if none)."""
    from app.terminology.valuesets import Concept, from_resource

    concept = Concept([from_resource(vs) for vs in chosen])
    lost = [(system, code, "") for system, code in baseline().get((resource_type, key), [])
            if not concept.match({"system": system, "code": code})]
    if not lost:
        return None
    titles = "; ".join(f"{vs['title']} ({vs['url']})" for vs in chosen)
    return own(f"{key}-{resource_type.lower()}-supplement", f"{label}: codes carepath recognised before value sets",
               f"Codes carepath's earlier code list for '{key}' ({resource_type}) held that the 2021 expansion of "
               f"the value sets chosen ({titles or 'none'}) lacks: later VSAC releases or sibling value sets list "
               "them. Kept so that no code a rule depended on is lost.", lost)


__all__ = ["ICD10CM", "LOINC", "NCQA", "RXNORM", "SNOMED", "by_moiety", "derived", "members", "own", "published",
           "supplement", "vsac"]
