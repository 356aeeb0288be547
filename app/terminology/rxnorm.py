"""Ingredients read from RxNorm's normalised names: the fallback that links a product code no value set lists.

RxNorm names every clinical drug the same way (RxNorm Technical Documentation, "Normalized names"): the
ingredient (or precise ingredient, its salt after it), its strength, then the dose form, e.g.
``metoprolol succinate 50 MG Extended Release Oral Tablet``; a branded drug adds ``[Brand]``; a quantity
factor may come first (``24 HR``, ``10 ML``); combinations join components with `` / ``; packs wrap their
contents in ``{...} Pack``. The active moiety is the first word of each component's ingredient
(``metoprolol`` in ``metoprolol succinate``), which is what links a product to the class it belongs to.
"""

from __future__ import annotations

import re

_BRAND = re.compile(r"\[[^\]]*\]")
_PACK = re.compile(r"^\s*\{(.*)\}\s*pack\s*$", re.IGNORECASE | re.DOTALL)
_PACK_PART = re.compile(r"\(([^()]*)\)")
_NUMBER = re.compile(r"^[\d.,/]+$")
#: RxNorm's name for the placebo tablets of a pack: not an ingredient.
_PLACEBO = "inert ingredients"


def _first_letter_lower(token: str) -> bool:
    letter = next((c for c in token if c.isalpha()), "")
    return letter.islower()


def _capitalised(token: str) -> bool:
    """``Metformin``: letters only, a capital first, not all capitals (``HR``, ``ML`` are units)."""
    return token.isalpha() and token[0].isupper() and not token.isupper()


def _ingredient(component: str) -> str | None:
    """The ingredient phrase of one component: the words before its strength, after any quantity factor or
    qualitative distinction RxNorm puts first (``24 HR``, ``10 ML``, ``Modified``, ``1 MG Dose``, ``NDA020800``).

    RxNorm writes ingredients in lower case, so the phrase starts at the first word whose first letter is lower
    case (or at the capitalised word just before it: ``Metformin hydrochloride``); for data that capitalises
    ingredients (Synthea) it starts at the first word of letters only, not all capitals, that a strength follows
    (or the first such word when no strength is given).
    """
    tokens = component.replace(",", " ").split()
    start = next((i for i, t in enumerate(tokens) if _first_letter_lower(t)), None)
    # Data that capitalises only the first word of an ingredient ("Metformin hydrochloride", "Naproxen sodium"):
    # the lower-case salt is not where the ingredient starts.
    while start and _capitalised(tokens[start - 1]):
        start -= 1
    if start is None:
        words = [i for i, t in enumerate(tokens) if t.isalpha() and not t.isupper()]
        start = next((i for i in words if any(_NUMBER.match(later) for later in tokens[i + 1:])),
                     words[0] if words else None)
    if start is None:
        return None
    end = next((i for i in range(start + 1, len(tokens)) if _NUMBER.match(tokens[i])), len(tokens))
    phrase = " ".join(tokens[start:end]).strip().lower()
    return phrase or None


def ingredients(name: object) -> tuple[str, ...]:
    """The lower-case ingredient phrases a normalised RxNorm name contains, in order (empty when none can be
    read: no name, or a name that is not in RxNorm's form)."""
    if not isinstance(name, str) or not name.strip():
        return ()
    text = _BRAND.sub("", name).strip()
    pack = _PACK.match(text)
    groups = _PACK_PART.findall(pack.group(1)) if pack else [text]
    found: list[str] = []
    for group in groups or [text]:
        for component in group.split(" / "):
            phrase = _ingredient(component)
            if phrase and phrase != _PLACEBO and phrase not in found:
                found.append(phrase)
    return tuple(found)


def moieties(name: object) -> tuple[str, ...]:
    """The active moieties of a normalised name: the first word of each ingredient phrase."""
    return tuple(dict.fromkeys(phrase.split()[0] for phrase in ingredients(name)))
