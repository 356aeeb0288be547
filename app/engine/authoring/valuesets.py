"""The value sets the pack's Library names: published VSAC value sets copied from the eCQM releases in
``../shared/data`` (2025 first, 2021 for what 2025 lacks), and the few the pack defines itself, each saying why
no published one fits.

Three kinds of pack-defined value set:
- ``own``: a concept no published eCQM value set covers (vital signs of the FHIR vital-signs profile, eGFR,
  pharmacogenomic results, single ingredients a rule names);
- ``derived``: the members of a published value set selected by a stated rule (CKD from "Kidney Failure"
  without its acute kidney failure codes; ACE inhibitors and ARBs split from "ACE Inhibitor or ARB Ingredient"
  by their WHO INN stems -pril and -sartan; insulins, sulfonylureas and metformin from "Hypoglycemics" by
  ingredient);
- ``supplement``: codes carepath recognised before this pack used value sets (``recognition_baseline.json``)
  that the expansions of the chosen value sets lack (other VSAC releases or other value sets list them):
  kept so that no code a rule depended on is lost.

Each records its kind and the published value sets it derives from (extensions ``valueset-kind`` and
``derived-from``), which ``carepath pack valuesets`` reads when the pack moves to a new release.
"""

from __future__ import annotations

import json
import os
from functools import cache
from pathlib import Path
from typing import Any

from app.engine.authoring import BASE, VERSION
from app.terminology import rxnorm
from app.terminology.codes import ICD10CM, LOINC, RXNORM, SNOMED
from app.terminology.releases import Release, complete
from app.terminology.releases import canonical_of as canonical

DATA = Path(__file__).resolve().parents[4] / "shared" / "data"
#: The published releases the pack draws on, current first: a value set the 2025 eCQM release holds is taken
#: at its 2025 version; one the 2025 release does not carry (its measures left that release) stays at its 2021
#: version, named by ``url|version`` so that nobody mistakes it for current. ``CAREPATH_AUTHORING_RELEASES``
#: (folders joined by ``os.pathsep``, current first) writes the pack from other releases, e.g. the 2021 one alone
#: for old data. A truncated expansion is completed by :func:`app.terminology.releases.complete` from the
#: releases after it (docs/packs.md, "Moving to a new value-set release").
RELEASES = tuple(Release(Path(folder), label) for folder, label in (
    [(folder, None) for folder in os.environ["CAREPATH_AUTHORING_RELEASES"].split(os.pathsep)]
    if os.environ.get("CAREPATH_AUTHORING_RELEASES") else
    [(DATA / "valuesets-2025", "2025 eCQM"), (DATA / "valuesets", "2021 eCQM")]))
BASELINE = Path(__file__).with_name("recognition_baseline.json")
VSAC = "http://cts.nlm.nih.gov/fhir/ValueSet/"
NCQA = "https://www.ncqa.org/fhir/valueset/"
#: Extensions on the pack's own ValueSets: their kind (own | derived | supplement) and the published value sets
#: (``url|version``) they derive from, so that ``carepath pack valuesets`` can say which to review when those move.
KIND = f"{BASE}/StructureDefinition/valueset-kind"
DERIVED_FROM = f"{BASE}/StructureDefinition/derived-from"


@cache
def published(url: str) -> dict[str, Any]:
    """A published ValueSet (``url`` = its canonical) from the first release that holds it, its expansion made
    whole when that release distributes a truncated one."""
    for index, release in enumerate(RELEASES):
        found = release.get(url)
        if found is not None:
            return complete(found, release, RELEASES[index + 1:])
    raise KeyError(f"{url}: not among the published value sets in {', '.join(str(r.folder) for r in RELEASES)}")


def vsac(oid: str) -> str:
    """The canonical of a VSAC value set by OID."""
    return VSAC + oid


def members(url: str) -> list[dict[str, Any]]:
    """The expansion's concepts of a published value set."""
    return list(published(url)["expansion"]["contains"])


def own(name: str, title: str, why: str, concepts: list[tuple[str, str, str]], *, kind: str = "own",
        sources: tuple[str, ...] = ()) -> dict[str, Any]:
    """A ValueSet the pack defines: (system, code, display) concepts, enumerated in compose and expansion;
    ``kind`` and ``sources`` (published canonicals it derives from) are recorded as extensions."""
    concepts = sorted(set(concepts))
    name = name.replace("_", "-")  # FHIR ids and this pack's urls: letters, digits, '-' and '.'
    by_system: dict[str, list[dict[str, str]]] = {}
    for system, code, display in concepts:
        by_system.setdefault(system, []).append({"code": code, **({"display": display} if display else {})})
    return {
        "resourceType": "ValueSet", "id": f"carepath-{name}",
        "extension": [{"url": KIND, "valueCode": kind}, *({"url": DERIVED_FROM, "valueCanonical": source}
                                                          for source in sources)],
        "url": f"{BASE}/ValueSet/{name}", "version": VERSION, "name": name.replace("-", "_"), "title": title,
        "status": "draft", "publisher": "carepath clinical content",
        "description": why,
        "compose": {"include": [{"system": system, "concept": found} for system, found in by_system.items()]},
        "expansion": {"timestamp": "2025-06-01T00:00:00Z", "total": len(concepts),
                      "contains": [{"system": s, "code": c, **({"display": d} if d else {})} for s, c, d in concepts]},
    }


def derived(name: str, title: str, source: str, rule: str, keep: Any) -> dict[str, Any]:
    """A ValueSet of the members of published ``source`` that ``keep(concept)`` selects, saying the rule."""
    chosen = [(c["system"], c["code"], c.get("display", "")) for c in members(source) if keep(c)]
    origin = published(source)
    return own(name, title, f"Derived from the published value set {canonical(origin)} ({origin['title']}): "
                            f"{rule}.", chosen, kind="derived", sources=(canonical(origin),))


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
    titles = "; ".join(f"{vs['title']} ({canonical(vs)})" for vs in chosen)
    return own(f"{key}-{resource_type.lower()}-supplement", f"{label}: codes carepath recognised before value sets",
               f"Codes carepath's earlier code list for '{key}' ({resource_type}) held that the expansions of the "
               f"value sets chosen ({titles or 'none'}) lack: other releases or sibling value sets list them. Kept "
               "so that no code a rule depended on is lost.", lost, kind="supplement",
               sources=tuple(canonical(vs) for vs in chosen if not vs["url"].startswith(BASE)))


__all__ = ["ICD10CM", "LOINC", "NCQA", "RXNORM", "SNOMED", "by_moiety", "canonical", "derived", "members", "own",
           "published", "supplement", "vsac"]
