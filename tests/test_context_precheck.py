"""The fast pre-check never accepts what fhir.resources rejects, and accepts what servers really send."""

from __future__ import annotations

import copy
import json
import random
from collections import Counter

import pytest

from app.context import precheck
from app.context.resources import USED_TYPES, from_bundle, validate, validate_fully
from tests.conftest import FIXTURES, SYNTHEA


def _corpus() -> list[dict]:
    found = []
    for path in sorted(SYNTHEA.glob("*.json")) + sorted(FIXTURES.glob("*.json")):
        bundle = json.loads(path.read_text())
        if bundle.get("resourceType") != "Bundle":
            continue
        found.extend(r for r in from_bundle(bundle) if r.get("resourceType") in USED_TYPES)
    return found


@pytest.fixture(scope="module")
def corpus():
    return _corpus()


def test_precheck__accepts_only_what_fhir_resources_accepts_on_the_sample_data(corpus):
    accepted = Counter()
    for resource in corpus:
        if precheck.accepts(resource):
            accepted[resource["resourceType"]] += 1
            assert validate_fully(resource) is None, resource
    # It must also be worth having: the Synthea and fixture resources are plain JSON it fully understands.
    assert sum(accepted.values()) >= 0.99 * len(corpus)
    assert set(accepted) == USED_TYPES


def _paths(node, prefix=()):
    """Every (container, key) pair in a JSON tree."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield node, key
            yield from _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield node, index
            yield from _paths(value, (*prefix, index))


_ODD_VALUES = [None, "", " ", "x y", " lead", "trail ", 0, 1, -1, 1.5, True, False, [], {}, [None], [{}], {"x": 1},
               "2020-02-30", "2020-13-01", "2020-01-01T10:00:00", "2020-01-01T24:00:00Z", "2020-01-01T10:00Z",
               "2020", "2020-01", "2020-01-01T10:00:00+15:00", "1e3", "01", "NaN", "a" * 300, "Patient/",
               "urn:uuid:x", "http://x y", "\u00e9", "\t", "final", "2020-01-01T10:00:00.123456789Z",
               2**40, -(2**40), 1e308, "true", "1.50", ["a"], [1], [[]]]
_ODD_KEYS = ["unknown", "_status", "resource_type", "resourceType", "fhir_comments", "status__ext", "valueString",
             "valueQuantity", "effectivePeriod", "extension", "id", "coding", "system", "value", "unit", "class",
             "class_fhir", "reference", "display"]


def _damage(resource: dict, rng: random.Random) -> dict:
    damaged = copy.deepcopy(resource)
    for _ in range(rng.choice((1, 1, 1, 2, 3))):
        spots = list(_paths(damaged))
        if not spots:
            break
        container, key = rng.choice(spots)
        action = rng.random()
        if action < 0.45:
            container[key] = copy.deepcopy(rng.choice(_ODD_VALUES))
        elif action < 0.65 and isinstance(container, dict):
            del container[key]
        elif action < 0.9:
            target = container[key] if isinstance(container[key], dict) else container
            if isinstance(target, dict):
                target[rng.choice(_ODD_KEYS)] = copy.deepcopy(rng.choice([*_ODD_VALUES, "x", {"text": "x"}]))
        elif isinstance(container[key], str):
            text = container[key]
            container[key] = text[: rng.randrange(len(text) + 1)]
    return damaged


def test_precheck__never_accepts_a_damaged_resource_fhir_resources_rejects(corpus):
    rng = random.Random(20261128)
    samples = rng.sample(corpus, 400) + [r for r in corpus if r["id"].startswith("cp-")]
    rejected = agreed_valid = 0
    for index in range(6000):
        damaged = _damage(samples[index % len(samples)], rng)
        if not isinstance(damaged.get("resourceType"), str) or damaged["resourceType"] not in USED_TYPES:
            continue  # never validated: usable() keeps only the types facts read
        verdict = validate_fully(damaged)
        if precheck.accepts(damaged):
            assert verdict is None, (verdict, damaged)
            agreed_valid += 1
        elif verdict is not None:
            rejected += 1
    # The damage is real: most copies are invalid, and valid ones are still recognised.
    assert rejected > 2500
    assert agreed_valid > 500


def testvalidate_fully__the_precheck_does_not_change_any_verdict_or_message(corpus):
    for resource in corpus[:500]:
        assert validate(resource) == validate_fully(resource)
    bad = {**corpus[0], "meta": {"versionId": 1}}
    assert precheck.accepts(bad) is False
    assert "meta.versionId" in validate(bad)


def test_validate__a_malformed_primitive_extension_is_named_not_raised():
    # fhir.resources ends in AttributeError inside the library for this one
    resource = {"resourceType": "Observation", "status": "final", "_status": True, "code": {"text": "x"}}
    assert validate_fully(resource).startswith("failed FHIR R4 validation")


@pytest.mark.parametrize("resource", [
    {"resourceType": "Observation", "status": "final"},  # code missing
    {"resourceType": "Observation", "code": {"text": "x"}},  # status missing
    {"resourceType": "Observation", "status": "final", "code": {"text": "x"}, "valueString": "a",
     "valueBoolean": True},  # two types for value[x]
    {"resourceType": "Observation", "status": "final", "code": {"text": "x"}, "_status": {"id": "a"}},
    {"resourceType": "Observation", "status": "final", "code": {"text": "x"},
     "contained": [{"resourceType": "Patient"}]},
    {"resourceType": "MedicationRequest", "status": "active", "intent": "order",
     "subject": {"reference": "Patient/a"}},  # medication[x] is required
    {"resourceType": "Nonsense", "id": "a"},
    {"resourceType": 3},
])
def test_precheck__leaves_what_it_does_not_handle_to_fhir_resources(resource):
    assert precheck.accepts(resource) is False


def test_precheck__long_free_text_is_checked_but_not_kept_in_memory():
    precheck.forget()
    note = "x" * 5000
    resource = {"resourceType": "Observation", "status": "final", "code": {"text": "a"}, "note": [{"text": note}]}
    assert precheck.accepts(resource) is True
    assert not any(key[2] == note for key in precheck._PRIMITIVES)
    assert any(key[2] == "final" for key in precheck._PRIMITIVES)


def test_prepare__compiles_the_tables_of_every_type_facts_read():
    from app.context import resources

    precheck._resource_shape.cache_clear()
    resources.prepare()
    assert precheck._resource_shape.cache_info().currsize == len(USED_TYPES)
    assert precheck.accepts({"resourceType": "Condition", "subject": {"reference": "Patient/a"}}) is True


def _date_times() -> list[str]:
    """dateTime and instant strings, valid and broken in every part the library checks."""
    days = ["2020-06-01", "2021-02-29", "2024-02-29", "2020-13-01", "2020-00-10", "2020-04-31", "0000-01-01",
            "0001-01-01", "9999-12-31", "20-06-01", "2020-6-01"]
    times = ["T10:00:00", "T23:59:59", "T24:00:00", "T10:60:00", "T23:59:60", "T10:00", "T1:00:00", ""]
    fractions = ["", ".1", ".123456", ".1234567", ".123456789012", "."]
    zones = ["Z", "+00:00", "-05:00", "+14:00", "+14:01", "-13:59", "+0500", "+24:00", "z", ""]
    values = [day + time + fraction + zone for day in days for time in times for fraction in fractions
              for zone in zones]
    return [*values, "2020", "2020-06", "", " 2020-06-01T10:00:00Z", "2020-06-01T10:00:00Z\n", "2020-06-01 10:00:00Z"]


@pytest.mark.parametrize(("model", "field"), [("Observation", "effectiveDateTime"), ("Observation", "issued"),
                                              ("Quantity", "value")])
def test_precheck__a_quick_check_never_accepts_what_the_library_rejects(model, field):
    import math
    import typing

    from fhir.resources.R4B import get_fhir_model_class
    from pydantic import TypeAdapter, ValidationError

    annotation = typing.get_args(get_fhir_model_class(model).model_fields[field].annotation)[0]
    quick = precheck._quick_check(annotation)
    library = TypeAdapter(annotation)
    if field == "value":
        rng = random.Random(7)
        values = [0, 1, -1, 10**30, 10**5000, 0.1, -0.0, 1e-7, 1e22, 1.5e300, math.inf, -math.inf, math.nan, True,
                  False, "1.5", None, *(rng.uniform(-1e6, 1e6) for _ in range(300)), *(rng.randint(-10**9, 10**9)
                                                                                       for _ in range(100))]
    else:
        values = [*_date_times(), 20200601, None]
    accepted = 0
    for value in values:
        if quick(value):
            accepted += 1
            try:
                library.validate_python(value)
            except (ValidationError, ValueError) as exc:
                pytest.fail(f"quick check accepted {value!r}, the library rejects it: {exc}")
    assert accepted > 50  # the quick path does take the ordinary values
