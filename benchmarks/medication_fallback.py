"""Medicines by ingredient: how well the RxNorm-name fallback of ``app.terminology`` recognises class members.

    .venv/bin/python benchmarks/medication_fallback.py

A ``Concept(..., by_ingredient=True)`` recognises a medicine product that its value sets do not list when the
product's RxNorm normalised name names an active moiety that single-ingredient members name
(``app/terminology/rxnorm.py``). This script measures that fallback alone, offline, in a few seconds, for seven
medicine-class value sets of the 2021 VSAC snapshot in ``../shared/data/valuesets``:

- universe: every RxNorm code (with its display) that occurs in any of the 624 value sets;
- per class value set, each code of the universe is classified by the fallback only (its moieties intersect
  the value set's moieties; exact code membership ignored) and compared with real membership: true positives,
  false negatives (members the fallback misses, up to 5 shown) and false positives (non-members it claims, up
  to 10 shown, to judge by eye: a real class member absent from the 2021 expansion, or an error);
- leave-one-out recall: each member is removed from the value set, and the fallback must still recognise it
  from the moieties the other members name;
- the Synthea sample: every distinct RxNorm coding of a MedicationRequest in ``../shared/data/synthea``, and
  how ``Concept.match`` recognises it per class ("code", "ingredient" or not at all).

Ends with a summary table.
"""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.terminology import rxnorm  # noqa: E402
from app.terminology.codes import RXNORM, key_of  # noqa: E402
from app.terminology.valuesets import Concept, ValueSet, from_resource  # noqa: E402

DATA = ROOT.parent / "shared" / "data"
VALUESETS = DATA / "valuesets"
SYNTHEA = DATA / "synthea"
VSAC = "http://cts.nlm.nih.gov/fhir/ValueSet/"

#: (short label, OID) of the medicine-class value sets measured.
CLASSES = [
    ("Statin", "2.16.840.1.113762.1.4.1110.19"),          # Statin Grouper
    ("Antihypertensive", "2.16.840.1.113883.3.526.1577"),  # Pharmacologic Therapy for Hypertension
    ("ACEi/ARB/ARNI", "2.16.840.1.113883.3.526.3.1139"),  # ACE Inhibitor or ARB or ARNI
    ("Hypoglycemic", "2.16.840.1.113762.1.4.1179.3"),     # Hypoglycemics
    ("Anticoagulant", "2.16.840.1.113883.3.117.1.7.1.200"),  # Anticoagulant Therapy
    ("Antithrombotic", "2.16.840.1.113762.1.4.1110.62"),  # Antithrombotic Therapy
    ("Statin allergen", "2.16.840.1.113762.1.4.1110.42"),  # Statin Allergen
]
MARK = {"code": "code", "subcode": "subcode", "ingredient": "INGR", None: "-"}


def concepts_of(resource: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    """Every concept a ValueSet file lists: its expansion (nested ``contains`` too), else its enumerated compose."""
    def walk(items: list[Any]) -> Iterator[Mapping[str, Any]]:
        for item in items:
            if isinstance(item, Mapping):
                if item.get("code") is not None:
                    yield item
                yield from walk(item.get("contains") or [])

    expansion = resource.get("expansion") or {}
    if expansion.get("contains"):
        yield from walk(expansion["contains"])
        return
    for include in (resource.get("compose") or {}).get("include") or []:
        for concept in include.get("concept") or []:
            yield {"system": include.get("system"), **concept}


def load_value_sets() -> tuple[dict[str, tuple[ValueSet, dict[str, Any]]], dict[str, str]]:
    """url -> (ValueSet, resource) for the 624 files, and the RxNorm universe code -> display (first seen)."""
    by_url: dict[str, tuple[ValueSet, dict[str, Any]]] = {}
    universe: dict[str, str] = {}
    for path in sorted(VALUESETS.glob("*.json")):
        resource = json.loads(path.read_text(encoding="utf-8"))
        value_set = from_resource(resource, source=path.name)
        by_url.setdefault(value_set.url, (value_set, resource))
        for concept in concepts_of(resource):
            key = key_of(concept.get("system"), concept.get("code"))
            if key and key[0] == RXNORM and concept.get("display"):
                universe.setdefault(key[1], concept["display"])
    return by_url, universe


def synthea_codings() -> tuple[int, dict[str, tuple[str, int]]]:
    """Number of MedicationRequests, and RxNorm code -> (display, requests naming it)."""
    requests_seen = 0
    found: dict[str, tuple[str, int]] = {}
    for path in sorted(SYNTHEA.glob("*.json")):
        bundle = json.loads(path.read_text(encoding="utf-8"))
        for entry in bundle.get("entry") or []:
            resource = entry.get("resource") or {}
            if resource.get("resourceType") != "MedicationRequest":
                continue
            requests_seen += 1
            for coding in (resource.get("medicationCodeableConcept") or {}).get("coding") or []:
                key = key_of(coding.get("system"), coding.get("code"))
                if key and key[0] == RXNORM:
                    display, count = found.get(key[1], (coding.get("display") or "", 0))
                    found[key[1]] = (display, count + 1)
    return requests_seen, found


def examples(codes: list[str], universe: Mapping[str, str], limit: int,
             listed_in: Mapping[str, list[str]] | None = None) -> list[str]:
    """Up to ``limit`` codes with their displays (and, for non-members, the first value sets that list them)."""
    lines = []
    for code in sorted(codes, key=lambda c: universe[c])[:limit]:
        where = f"  (in: {'; '.join(listed_in[code][:2])})" if listed_in else ""
        lines.append(f"      {code:>9}  {universe[code]}{where}")
    return lines


def is_ingredient_concept(display: str) -> bool:
    """An ingredient (IN/PIN) rather than a product: the whole name is the ingredient phrase (``simvastatin``)."""
    return rxnorm.ingredients(display) == (display.strip().lower(),)


def measure(label: str, value_set: ValueSet, universe: Mapping[str, str],
            moieties_of: Mapping[str, tuple[str, ...]], listed_in: Mapping[str, list[str]]) -> dict[str, Any]:
    """Fallback-only classification of the universe against membership, and leave-one-out recall."""
    concept = Concept([value_set], by_ingredient=True)
    members = sorted(code for system, code in value_set.members if system == RXNORM)
    member_set = set(members)
    claimed = {code for code, found in moieties_of.items() if concept.moieties.intersection(found)}
    true_pos = sorted(member_set & claimed)
    false_neg = sorted(member_set - claimed)
    false_pos = sorted(claimed - member_set)

    # Leave-one-out: the moieties of the single-ingredient members, counted per code, so that removing one member
    # removes its moiety only when no other single-ingredient member names it.
    single = {code: moieties_of[code][0] for code in members if len(moieties_of.get(code, ())) == 1}
    counts = Counter(single.values())
    if set(counts) != set(concept.moieties):  # the same rule as from_resource, or the figure is meaningless
        raise SystemExit(f"{label}: moieties recomputed {sorted(counts)} differ from {sorted(concept.moieties)}")
    loo_missed = []
    for code in members:
        left = {moiety for moiety, n in counts.items() if n - (single.get(code) == moiety) > 0}
        if not left.intersection(moieties_of.get(code, ())):
            loo_missed.append(code)

    print(f"\n{label}: {value_set.title} ({value_set.url.removeprefix(VSAC)}, version {value_set.version})")
    print(f"  RxNorm members {len(members)}; moieties learnt from single-ingredient members: {len(concept.moieties)}")
    ingredient_fp = [code for code in false_pos if is_ingredient_concept(universe[code])]
    product_fp = [code for code in false_pos if code not in set(ingredient_fp)]
    bare = ", ".join(sorted(universe[code] for code in ingredient_fp)[:3])
    print(f"  fallback true positives {len(true_pos)}, false negatives {len(false_neg)}, "
          f"false positives {len(false_pos)}: {len(product_fp)} products, {len(ingredient_fp)} bare ingredient "
          f"concepts{f' ({bare}, ...)' if bare else ''} (universe {len(universe)} codes)")
    if false_neg:
        print("    false negatives (members the fallback misses):")
        print("\n".join(examples(false_neg, universe, 5)))
    if product_fp:
        print(f"    false positives, products (non-members the fallback claims; {min(10, len(product_fp))} of "
              f"{len(product_fp)}, with the value sets that do list them):")
        print("\n".join(examples(product_fp, universe, 10, listed_in)))
    print(f"  leave-one-out recall {len(members) - len(loo_missed)}/{len(members)}")
    if loo_missed:
        print("    missed once left out:")
        print("\n".join(examples(loo_missed, universe, 5)))
    return {"members": len(members), "tp": len(true_pos), "fn": len(false_neg), "fp": len(false_pos),
            "fp_products": len(product_fp), "loo": len(members) - len(loo_missed), "concept": concept}


def main() -> int:
    started = time.perf_counter()
    by_url, universe = load_value_sets()
    moieties_of = {code: rxnorm.moieties(display) for code, display in universe.items()}
    unreadable = sum(1 for found in moieties_of.values() if not found)
    print(f"{len(by_url)} value sets (distinct urls) from {VALUESETS}; RxNorm universe: {len(universe)} codes "
          f"({unreadable} whose display yields no moiety)")

    listed_in: dict[str, list[str]] = {}
    for value_set, _resource in by_url.values():
        for system, code in value_set.members:
            if system == RXNORM:
                listed_in.setdefault(code, []).append(value_set.title)
    results: dict[str, dict[str, Any]] = {}
    for label, oid in CLASSES:
        value_set, _resource = by_url[VSAC + oid]
        results[label] = measure(label, value_set, universe, moieties_of, listed_in)

    requests_seen, codings = synthea_codings()
    print(f"\nSynthea: {requests_seen} MedicationRequests, {len(codings)} distinct RxNorm codes "
          f"(code = listed, INGR = by ingredient only, - = not recognised)")
    labels = [label for label, _ in CLASSES]
    print("  " + " | ".join(["code", "requests", *labels, "display"]))
    synthea_counts: dict[str, Counter] = {label: Counter() for label in labels}
    quiet = []
    for code, (display, count) in sorted(codings.items(), key=lambda item: (-item[1][1], item[0])):
        coding = {"system": RXNORM, "code": code, "display": display}
        marks = []
        for label in labels:
            how = results[label]["concept"].match(coding)
            synthea_counts[label][how] += 1
            marks.append(MARK[how])
        if any(mark != "-" for mark in marks):
            print("  " + " | ".join([code, str(count), *marks, display]))
        else:
            quiet.append(f"{display} ({code}, {count})")
    print(f"  in none of these classes, by code or by ingredient ({len(quiet)} codes; display (code, requests)):")
    for start in range(0, len(quiet), 3):
        print("    " + "; ".join(quiet[start:start + 3]))

    print("\nSummary (fallback alone over the universe; Synthea with Concept.match, by_ingredient=True)")
    print("| class | members | TP | FN | FP (products) | recall | precision | leave-one-out | Synthea codes by code "
          "| by ingredient |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for label in labels:
        r = results[label]
        recall = r["tp"] / r["members"] if r["members"] else 0.0
        precision = r["tp"] / (r["tp"] + r["fp"]) if r["tp"] + r["fp"] else 0.0
        loo = r["loo"] / r["members"] if r["members"] else 0.0
        print(f"| {label} | {r['members']} | {r['tp']} | {r['fn']} | {r['fp']} ({r['fp_products']}) | {recall:.1%} | "
              f"{precision:.1%} | {r['loo']}/{r['members']} ({loo:.1%}) | {synthea_counts[label]['code']} | "
              f"{synthea_counts[label]['ingredient']} |")
    print(f"\n{time.perf_counter() - started:.2f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
