"""Pharmacogenomic results as the HL7 Genomics Reporting IG (STU2/STU3) encodes them.

Two shapes are read:
- a *genotype* Observation (code LOINC 84413-4 "Genotype display name") whose component 48018-6 "Gene
  studied" names the gene (HGNC id) and whose value is the diplotype (e.g. ``CYP2C19 *2/*2``);
- a *therapeutic implication* Observation (code ``therapeutic-implication`` of the IG's tbd-codes, or LOINC
  53040-2 as the Observation code itself) whose component 53040-2 "Genetic variation's effect on drug
  metabolism" (or ``predicted-phenotype``) carries the phenotype, e.g. LOINC LA9657-3 "Poor metabolizer".

The phenotype is normalised to one word; a diplotype alone is kept as ``genotype`` and NOT translated into a
phenotype here (that translation is CPIC's allele-function table, which belongs to a pack, not to this layer).
"""

from __future__ import annotations

import re
from typing import Any

from app.context.resources import codings

GENES = {"cyp2c19": ("CYP2C19", "HGNC:2621"), "slco1b1": ("SLCO1B1", "HGNC:10959")}
GENE_STUDIED = "48018-6"
PHENOTYPE_CODES = {"53040-2", "predicted-phenotype", "79716-7"}

# CPIC standardized terms (Caudle KE et al., Genet Med 2017;19:215-223) and CPIC's SLCO1B1 function terms,
# in the order they are tried (longest phrase first so "likely poor" is not read as "poor").
_PHENOTYPES = [
    ("ultrarapid", "ultrarapid"), ("ultra-rapid", "ultrarapid"), ("likely intermediate", "likely_intermediate"),
    ("likely poor", "likely_poor"), ("possible decreased", "possible_decreased"), ("intermediate", "intermediate"),
    ("rapid", "rapid"), ("poor", "poor"), ("decreased", "decreased"), ("increased", "increased"),
    ("normal", "normal"), ("indeterminate", "indeterminate"),
]


def gene_of(observation: dict[str, Any]) -> str | None:
    """The fact key (``cyp2c19``/``slco1b1``) of the gene an Observation reports on, or None."""
    texts: list[str] = []
    for component in observation.get("component") or []:
        if any(c.get("code") == GENE_STUDIED for c in codings(component.get("code"))):
            concept = component.get("valueCodeableConcept") or {}
            texts += [str(c.get("code", "")) + " " + str(c.get("display", "")) for c in codings(concept)]
            texts.append(concept.get("text") or "")
    value = observation.get("valueCodeableConcept") or {}
    texts += [str(c.get("code", "")) + " " + str(c.get("display", "")) for c in codings(value)]
    texts += [value.get("text") or "", observation.get("valueString") or "",
              (observation.get("code") or {}).get("text") or ""]
    text = " ".join(texts).upper()
    for key, (symbol, hgnc) in GENES.items():
        # "2621" alone is an HGNC id too (the IG's examples write both forms)
        if symbol in text or hgnc in text or re.search(rf"(^|\s){hgnc.split(':')[1]}(\s|$)", text):
            return key
    return None


def phenotype_of(observation: dict[str, Any]) -> tuple[dict[str, Any] | None, str | None]:
    """The coded phenotype and its normalised word, from the Observation's value or its phenotype component."""
    concepts = []
    if any(c.get("code") in PHENOTYPE_CODES for c in codings(observation.get("code"))):
        concepts.append(observation.get("valueCodeableConcept"))
    for component in observation.get("component") or []:
        if any(c.get("code") in PHENOTYPE_CODES for c in codings(component.get("code"))):
            concepts.append(component.get("valueCodeableConcept"))
    for concept in concepts:
        if not concept:
            continue
        first = (codings(concept) or [{}])[0]
        text = " ".join([concept.get("text") or ""] + [c.get("display") or "" for c in codings(concept)]).lower()
        for phrase, word in _PHENOTYPES:
            if phrase in text:
                return _coded(first, concept), word
        return _coded(first, concept), "unknown"
    return None, None


def genotype_of(observation: dict[str, Any]) -> str | None:
    """The diplotype text of a genotype Observation (LOINC 84413-4), or None."""
    if not any(c.get("code") == "84413-4" for c in codings(observation.get("code"))):
        return None
    value = observation.get("valueCodeableConcept") or {}
    first = (codings(value) or [{}])[0]
    return value.get("text") or first.get("display") or first.get("code") or observation.get("valueString")


def _coded(coding: dict[str, Any], concept: dict[str, Any]) -> dict[str, Any]:
    return {"system": coding.get("system"), "code": coding.get("code"),
            "display": coding.get("display") or concept.get("text")}
