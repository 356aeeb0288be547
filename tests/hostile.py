"""Hostile FHIR JSON for property-based tests: sample bundles damaged the ways a server or a file may damage them.

A mutation walks from the Bundle to any element (mostly inside an entry's resource) and swaps its type, sets an
extreme number or date, wraps it in deep nesting, or slips invalid or deceptive Unicode into a string.
"""

from __future__ import annotations

import copy
import json
import re
from functools import cache
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fhir_fixtures"
SYNTHEA = ROOT.parent / "shared" / "data" / "synthea"

#: Resources kept of each type from a Synthea bundle: enough to reach every reader, small enough to be quick.
_PER_TYPE = 12

EXTREME_DATES = [
    "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "0001-01-01", "9999-12-31", "0001", "9999-12",
    "0001-01-01T00:00:00Z", "2020-02-30", "2021-13-01", "0000-01-01", "2020-01-01T24:00:00Z",
    "2020-06-01T10:00:00", "2020-06-01T10:00:00+99:00", "99999-01-01", "2020-1-1", "T", "-2020-01-01",
]
EXTREME_NUMBERS = [10**400, -(10**400), 2**63, -(2**63) - 1, 2**64, 1e308, -1e308, 5e-324, float("nan"),
                   float("inf"), float("-inf"), 0, -1, 1.5, 10**20]
NUMBER_STRINGS = ["NaN", "Infinity", "-Infinity", "1e999", "-1e999", "1" + "0" * 400, "0x10", "1_000", " 7 ", "-0"]
HOSTILE_TEXT = ["\ud800", "a\udfffb", "\u202eevil\u202c", "\u2067rtl\u2069", "\u200f", "\x00", "a\x00b",
                "\ufeff", "\U0001d54f" * 300, "", " ", "<script>x</script>"]
#: Elements carepath's readers use: dates, values, codes, references, names, and the Bundle's own structure.
READ_FIELDS = frozenset({
    "resourceType", "id", "meta", "versionId", "entry", "resource", "link", "fullUrl", "request", "url",
    "value", "valueQuantity", "valueInteger", "valueCodeableConcept", "valueString", "unit", "system", "code",
    "coding", "component", "status", "clinicalStatus", "verificationStatus", "subject", "patient", "reference",
    "effectiveDateTime", "effectivePeriod", "start", "issued", "birthDate", "gender", "onsetDateTime",
    "recordedDate", "abatementDateTime", "authoredOn", "performedDateTime", "performedPeriod", "period",
    "name", "family", "given", "text", "extension", "medicationCodeableConcept", "medicationReference",
    "dosageInstruction", "category", "criticality", "reaction", "hospitalization", "dischargeDisposition",
})
TYPE_SWAPS = [None, True, False, [], {}, [[]], [{}], {"": None}, "x", 0]


@cache
def _sample_bundles() -> tuple[str, ...]:
    """The sample bundles as JSON text: every fixture and a trimmed copy of each Synthea patient."""
    texts = [path.read_text(encoding="utf-8") for path in sorted(FIXTURES.glob("*.json"))]
    for path in sorted(SYNTHEA.glob("*.json")):
        bundle = json.loads(path.read_text(encoding="utf-8"))
        kept: dict[str, int] = {}
        entries = []
        for entry in bundle.get("entry", []):
            kind = entry.get("resource", {}).get("resourceType")
            if kept.get(kind, 0) < _PER_TYPE:
                kept[kind] = kept.get(kind, 0) + 1
                entries.append(entry)
        texts.append(json.dumps({**bundle, "entry": entries}))
    return tuple(texts)


def sample_bundle_count() -> int:
    """How many sample bundles the strategies draw from."""
    return len(_sample_bundles())


def sample_bundle(index: int) -> dict[str, Any]:
    """A fresh copy of one sample bundle."""
    return json.loads(_sample_bundles()[index])


def _nested(value: Any, depth: int, as_list: bool) -> Any:
    for _ in range(depth):
        value = [value] if as_list else {"extension": value}
    return value


_DATE_LIKE = re.compile(r"^\d{4}(-\d{2})?")
_KINDS = ("swap", "number", "number-string", "date", "text", "wrap", "nest")


@st.composite
def hostile_values(draw: st.DrawFn, current: Any) -> Any:
    """A replacement for ``current``: a type swap, an extreme number or date, deep nesting, hostile Unicode;
    what fits the element's own type is drawn more often (a number for a number, a date for a date...)."""
    if isinstance(current, bool) or current is None:
        likely = ("swap", "number-string")
    elif isinstance(current, int | float):
        likely = ("number", "number", "number-string")
    elif isinstance(current, str) and _DATE_LIKE.match(current):
        likely = ("date", "date", "text")
    elif isinstance(current, str):
        likely = ("text", "text", "number-string")
    else:
        likely = ("swap", "wrap", "nest")
    kind = draw(st.sampled_from(likely + _KINDS))
    if kind == "swap":
        return copy.deepcopy(draw(st.sampled_from(TYPE_SWAPS)))  # a fresh one: later mutations may change it
    if kind == "number":
        return draw(st.sampled_from(EXTREME_NUMBERS))
    if kind == "number-string":
        return draw(st.sampled_from(NUMBER_STRINGS))
    if kind == "date":
        return draw(st.sampled_from(EXTREME_DATES))
    if kind == "text":
        text = draw(st.sampled_from(HOSTILE_TEXT))
        if isinstance(current, str) and current and draw(st.booleans()):
            at = draw(st.integers(0, len(current)))
            return current[:at] + text + current[at:]
        return text
    if kind == "wrap":
        return draw(st.sampled_from([[current], {"value": current}, str(current)[:200], {"resourceType": current}]))
    return _nested(current, draw(st.sampled_from([40, 200, 300, 1100])), draw(st.booleans()))


@st.composite
def mutated_bundles(draw: st.DrawFn, max_mutations: int = 3) -> dict[str, Any]:
    """A sample bundle with 1 to ``max_mutations`` hostile changes, mostly inside its resources."""
    bundle = sample_bundle(draw(st.integers(0, sample_bundle_count() - 1)))
    for _ in range(draw(st.integers(1, max_mutations))):
        _mutate(draw, bundle)
    return bundle


def _mutate(draw: st.DrawFn, bundle: dict[str, Any]) -> None:
    """Change one element of ``bundle`` in place: any element of one entry (or, rarely, of the Bundle)."""
    root: Any = bundle
    entries = bundle.get("entry")
    if isinstance(entries, list) and entries and draw(st.integers(0, 9)) > 0:
        root = entries[draw(st.integers(0, len(entries) - 1))]
    places = _places(root)
    if draw(st.booleans()):  # half the time, an element the readers look at: where damage matters most
        places = [place for place in places if place[1] in READ_FIELDS] or places
    if not places:
        return
    holder, key = places[draw(st.integers(0, len(places) - 1))]
    if isinstance(holder, dict) and draw(st.integers(0, 7)) == 0:
        del holder[key]
        return
    holder[key] = draw(hostile_values(holder[key]))  # a fresh bundle: wrapping the element itself is safe


def _places(root: Any, *, limit: int = 3000, depth_limit: int = 30) -> list[tuple[Any, Any]]:
    """(container, key or index) of every element under ``root``, in document order, walked without
    recursion and not into what an earlier mutation nested deeply."""
    places: list[tuple[Any, Any]] = []
    stack = [(root, 0)]
    while stack and len(places) < limit:
        node, depth = stack.pop()
        keys = list(node) if isinstance(node, dict) else range(len(node)) if isinstance(node, list) else ()
        for key in reversed(keys):
            places.append((node, key))
            if depth < depth_limit and isinstance(node[key], dict | list):
                stack.append((node[key], depth + 1))
    return places


def to_json(value: Any) -> str:
    """JSON text of ``value`` at any depth (written without recursion), as a careless server would send it:
    lone surrogates as ``\\ud800`` escapes, infinities as ``1e999``, NaN as the non-JSON ``NaN``."""
    out: list[str] = []
    stack: list[Any] = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, _Token):
            out.append(item.text)
        elif isinstance(item, dict):
            stack.append(_Token("}"))
            for position, (key, child) in enumerate(reversed(list(item.items()))):
                stack += [child, _Token(json.dumps(str(key)) + ":")]
                if position < len(item) - 1:
                    stack.append(_Token(","))
            stack.append(_Token("{"))
        elif isinstance(item, list):
            stack.append(_Token("]"))
            for position, child in enumerate(reversed(item)):
                stack.append(child)
                if position < len(item) - 1:
                    stack.append(_Token(","))
            stack.append(_Token("["))
        elif isinstance(item, float) and item in (float("inf"), float("-inf")):
            out.append("1e999" if item > 0 else "-1e999")
        else:
            out.append(json.dumps(item))
    return "".join(out)


class _Token:
    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text
