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


# -- a FHIR server that answers from one (damaged) Bundle --------------------------------------------------------

BASE = "https://fhir.test/fhir"
CAPABILITIES = {
    "resourceType": "CapabilityStatement", "status": "active", "kind": "instance", "fhirVersion": "4.0.1",
    "format": ["json"], "rest": [{"mode": "server", "interaction": [{"code": "batch"}, {"code": "transaction"}],
                                  "resource": [{"type": name, "interaction": [{"code": "read"}, {"code": "search-type"},
                                                                               {"code": "create"}, {"code": "update"}]}
                                               for name in ("Patient", "Observation", "Condition", "CarePlan",
                                                            "Goal", "Provenance")]}],
}
#: Answers a server may send instead of the one asked for: a Bundle whose structure is wrong, JSON that is not
#: FHIR, text that is not JSON, an error page.
DAMAGED_ANSWERS: list[tuple[int, str]] = [
    (200, '{"resourceType": "Bundle", "type": "searchset", "entry": {"resource": {}}}'),
    (200, '{"resourceType": "Bundle", "type": "searchset", "entry": ["x", 5, null, {"resource": 7}]}'),
    (200, '{"resourceType": "Bundle", "type": "searchset", "link": "next", "entry": []}'),
    (200, '{"resourceType": "Bundle", "type": "searchset", "link": [5, {"relation": "next", "url": 5}]}'),
    (200, '{"resourceType": "Bundle", "type": "searchset", "link": [{"relation": "next", '
          '"url": "https://evil.test/fhir/Observation?page=2"}]}'),
    (200, '{"resourceType": "Bundle", "type": "searchset", "meta": "x", "entry": [{"resource": '
          '{"resourceType": "Observation", "id": "o", "meta": [1], "status": "final", "code": {"text": "x"}}}]}'),
    (200, '{"resourceType": ["Bundle"], "entry": []}'),
    (200, '{"resourceType": "Patient", "id": "p", "name": [{"family": "\\ud800", "given": ["\\u202eevil"]}]}'),
    (200, '{"resourceType": "Patient", "id": "p", "birthDate": "0001-01-01", "meta": {"lastUpdated": '
          '"0001-01-01T00:00:00+14:00"}}'),
    (200, '{"resourceType": "Bundle", "entry": [{"resource": {"resourceType": "Observation", "id": "o", '
          '"status": "final", "code": {"coding": [{"system": "http://loinc.org", "code": "4548-4"}]}, '
          '"effectiveDateTime": "0001-01-01T00:00:00+14:00", "valueQuantity": {"value": 1' + "0" * 400 + "}}}]}"),
    (200, "[" * 1100 + "]" * 1100),
    (200, '{"a":' * 300 + "1" + "}" * 300),
    (200, '{"resourceType": "Bundle", "total": 1e999, "entry": [{"resource": {"resourceType": "Patient", '
          '"id": "p", "multipleBirthInteger": ' + "9" * 400 + "}}]}"),
    (200, '{"resourceType": "Bundle", "entry": NaN}'),
    (200, ""), (200, "<html>oops</html>"), (200, "null"), (200, "[]"), (200, '"text"'),
    (500, "<html>Internal error</html>"), (404, '{"resourceType": "OperationOutcome", "issue": "x"}'),
    (400, '{"resourceType": "OperationOutcome", "issue": [5, {"diagnostics": ["x"], "details": "y"}]}'),
]


class BundleServer:
    """Plays a FHIR server over ``responses``: reads and searches answered from one Bundle's resources, batches
    answered entry by entry, and one chosen kind of request answered with a damaged answer instead."""

    def __init__(self, bundle: Any, patient_id: str, damaged: tuple[str, int, str] | None = None) -> None:
        entries = bundle.get("entry") if isinstance(bundle, dict) else None
        self.resources = [entry.get("resource") for entry in entries if isinstance(entry, dict)] \
            if isinstance(entries, list) else []
        self.patient_id = patient_id
        self.damaged = damaged  # (path prefix, status, body)

    def install(self, mock: Any) -> None:
        """Answer every request to BASE on the ``responses`` mock ``mock``."""
        pattern = re.compile(re.escape(BASE) + r"(/.*)?$")
        for method in ("GET", "POST", "PUT"):
            mock.add_callback(method, pattern, callback=self._callback)

    def _callback(self, request: Any) -> tuple[int, dict[str, str], str]:
        path = request.path_url.split("?", 1)[0][len("/fhir"):].strip("/")
        if request.method == "POST" and not path:
            return self._batch(request.body)
        status, body = self.answer(path)
        return status, {"Content-Type": "application/fhir+json"}, body

    def answer(self, path: str) -> tuple[int, str]:
        """(status, body) for a GET of ``path`` (relative to the base, without the query)."""
        if self.damaged and path.startswith(self.damaged[0]):
            return self.damaged[1], self.damaged[2]
        if path == "metadata":
            return 200, json.dumps(CAPABILITIES)
        parts = path.split("/")
        if len(parts) == 2:  # a read
            found = [r for r in self.resources if isinstance(r, dict) and r.get("resourceType") == parts[0]
                     and r.get("id") == parts[1]]
            if parts[0] == "Patient" and not found:  # the patient whose id was damaged: still the one read
                found = [r for r in self.resources if isinstance(r, dict) and "Patient" in str(r.get("resourceType"))]
            if not found:
                return 404, json.dumps({"resourceType": "OperationOutcome",
                                        "issue": [{"severity": "error", "code": "not-found"}]})
            return 200, to_json(found[0])
        matches = [r for r in self.resources if isinstance(r, dict) and r.get("resourceType") == parts[0]]
        return 200, to_json({"resourceType": "Bundle", "type": "searchset", "total": len(matches),
                             "entry": [{"resource": r} for r in matches]})

    def _batch(self, body: Any) -> tuple[int, dict[str, str], str]:
        if self.damaged and self.damaged[0] == "":
            return self.damaged[1], {"Content-Type": "application/fhir+json"}, self.damaged[2]
        request = json.loads(body)
        answers = []
        for entry in request.get("entry", []):
            status, text = self.answer(entry["request"]["url"].split("?", 1)[0])
            answers.append(f'{{"response": {{"status": "{status}"}}, "resource": {text}}}'
                           if _is_json(text) else f'{{"response": {{"status": "{status}"}}}}')
        return 200, {"Content-Type": "application/fhir+json"}, \
            '{"resourceType": "Bundle", "type": "batch-response", "entry": [' + ",".join(answers) + "]}"


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except (ValueError, RecursionError):
        return False
    return True


@st.composite
def damaged_answers(draw: st.DrawFn) -> tuple[str, int, str] | None:
    """None, or which requests (by path prefix; "" is the batch itself) get which damaged answer."""
    if draw(st.integers(0, 2)) == 0:
        return None
    target = draw(st.sampled_from(["", "metadata", "Patient", "Observation", "Condition", "MedicationRequest",
                                   "AllergyIntolerance", "CarePlan", "Goal"]))
    status, body = draw(st.sampled_from(DAMAGED_ANSWERS))
    return target, status, body
