"""The fast pre-check never accepts what fhir.resources rejects, and accepts what servers really send."""

from __future__ import annotations

import copy
import json
import os
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
    from pydantic import TypeAdapter

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
    assert _accepted_and_valid(quick, library, values, "quick check") > 50  # it does take the ordinary values


# -- the tables kept on disk and the plain checks -------------------------------------------------------------------


@pytest.fixture
def fresh_tables(tmp_path, monkeypatch):
    """The pre-check and the repairs with nothing compiled or read yet, their tables kept under ``tmp_path``."""
    from app.context import repair

    def reset():
        precheck._stored_tables = None
        for table in (precheck._SHAPES, precheck._ADAPTER_INDEX, precheck._PRIMITIVES):
            table.clear()
        for column in (precheck._ANNOTATIONS, precheck._ADAPTERS, precheck._QUICK, precheck._PLAIN):
            column.clear()
        for cached in (precheck._resource_shape, precheck._tables_path, repair._fields, repair._scalar_or_complex):
            cached.cache_clear()

    monkeypatch.setenv("CAREPATH_CACHE_DIR", str(tmp_path / "cache"))
    reset()
    yield reset
    monkeypatch.undo()
    reset()


def _same_shape(kept, compiled) -> bool:
    def field(entry):
        kind, target, repeats, group = entry
        return (kind, precheck._ANNOTATIONS[target] if kind == precheck._PRIMITIVE else target, repeats, group)

    return {key: field(entry) for key, entry in kept.fields.items()} == \
        {key: field(entry) for key, entry in compiled.fields.items()} and \
        kept.required == compiled.required and kept.required_choices == compiled.required_choices


def test_precheck_tables__read_back_they_are_the_tables_the_models_give(corpus, fresh_tables, tmp_path):
    verdicts = [precheck.accepts(resource) for resource in corpus[:400]]
    [kept_file] = (tmp_path / "cache" / "precheck").glob("*.json")
    kept = json.loads(kept_file.read_text())
    assert len(kept["shapes"]) >= 10 and set(kept["resources"]) >= {"Patient", "Observation", "Condition"}
    fresh_tables()
    assert [precheck.accepts(resource) for resource in corpus[:400]] == verdicts
    for key, plain in kept["shapes"].items():
        read_back = precheck._from_stored(plain)
        compiled, _plain = precheck._compile_shape(precheck.model_at(key))
        for entry in read_back.fields.values():  # the kept names give the library's own annotations
            if entry[0] == precheck._PRIMITIVE and isinstance(precheck._ANNOTATIONS[entry[1]], str):
                precheck._ANNOTATIONS[entry[1]] = precheck._annotation_named(precheck._ANNOTATIONS[entry[1]])
        assert _same_shape(read_back, compiled), key


def test_precheck_tables__a_damaged_file_is_compiled_again(corpus, fresh_tables, tmp_path):
    precheck.accepts(corpus[0])
    [kept_file] = (tmp_path / "cache" / "precheck").glob("*.json")
    kept_file.write_text('{"resources": {"Patient": "os.system"}, "shapes": [], "plain": {}}')
    fresh_tables()
    assert precheck.accepts(corpus[0]) is True
    assert json.loads(kept_file.read_text())["shapes"]  # written again whole


def test_precheck_tables__an_empty_cache_setting_keeps_none(corpus, fresh_tables, tmp_path, monkeypatch):
    monkeypatch.setenv("CAREPATH_CACHE_DIR", "")
    fresh_tables()
    assert precheck.accepts(corpus[0]) is True
    assert not (tmp_path / "cache").exists()


def test_precheck_tables__a_kept_table_naming_something_else_is_not_sure(fresh_tables):
    precheck.keep_table("resources", "Patient", "os.path")
    assert precheck.accepts({"resourceType": "Patient", "id": "a"}) is False


def test_plan__with_the_tables_kept_a_run_imports_neither_pydantic_nor_the_models(tmp_path):
    import subprocess
    import sys

    from tests.conftest import ROOT

    script = ("import sys, json; from app.cli import main; main(['plan', '--as-of', '2026-12-07', "
              "'fhir_fixtures/clinical-pgx.json']); "
              "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in ('pydantic', 'fhir_core') "
              "or m.startswith('fhir.resources.R4B.'))), file=sys.stderr)")
    env = {**os.environ, "CAREPATH_CACHE_DIR": str(tmp_path / "cache"), "PYTHONPATH": str(ROOT)}
    runs = [subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True,
                           check=True) for _ in range(2)]
    assert runs[0].stdout == runs[1].stdout and json.loads(runs[1].stdout)["activities"]
    assert json.loads(runs[0].stderr.splitlines()[-1])  # the first run compiles the tables from the models
    assert json.loads(runs[1].stderr.splitlines()[-1]) == []


def _string_values() -> list:
    rng = random.Random(11)
    alphabet = ["a", "Z", "0", " ", "  ", "-", ".", "|", ":", "/", "\t", "\n", "\r", "\x0b", "\x0c", "\x1c", "\x1f",
                "\x00", "\x7f", "\x85", "\xa0", "\u2028", "\u3000", "\u180e", "é", "語", "\ud800", "\U0001f600", "_"]
    values = ["", " ", "a", " a", "a ", "a  b", "a b", "x" * 64, "x" * 65, "x" * 300, "urn:uuid:1-2", "http://x/y z",
              "\ud800", "a\ud800", True, False, 0, 1, 1.5, None, [], {}, b"a"]
    values += ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 6))) for _ in range(3000)]
    return values


def _number_values() -> list:
    rng = random.Random(13)
    return [0, 1, -1, 2**31 - 1, 2**31, -(2**31), -(2**31) - 1, 2**63, True, False, 1.0, 0.5, -0.0, 1e300, 1e-300,
            float("inf"), float("nan"), "1", "1.5", None,
            *(rng.randint(-(2**33), 2**33) for _ in range(300)), *(rng.uniform(-1e9, 1e9) for _ in range(300))]


@pytest.mark.parametrize("name", ["StringType", "MarkdownType", "CodeType", "IdType", "UriType", "CanonicalType",
                                  "BooleanType", "IntegerType", "PositiveIntType", "UnsignedIntType", "DecimalType",
                                  "DateType", "DateTimeType", "InstantType"])
def test_precheck__a_plain_check_never_accepts_what_the_library_rejects(name):
    from fhir.resources.R4B import fhirtypes
    from pydantic import TypeAdapter

    annotation = getattr(fhirtypes, name)
    check = precheck._plain_check(precheck._plain_spec(annotation))
    assert check is not None
    library = TypeAdapter(annotation)
    days = ["0001-01-01", "2020", "2020-02", "2020-13", "0000", "2019-02-29", "2020-02-29", "2020-06-01"]
    values = [*_string_values(), *_number_values(), *_date_times(), *days]
    assert _accepted_and_valid(check, library, values, f"plain check of {name}") >= 2  # it takes ordinary values


def _accepted_and_valid(check, library, values, what: str) -> int:
    """How many values ``check`` accepts; each one it accepts must be one the library accepts too."""
    from pydantic import ValidationError

    accepted = 0
    for value in values:
        if check(value):
            accepted += 1
            try:
                library.validate_python(value)
            except (ValidationError, ValueError, TypeError) as exc:
                pytest.fail(f"{what} accepted {value!r}, the library rejects it: {exc}")
    return accepted
