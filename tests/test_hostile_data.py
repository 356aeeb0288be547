"""Hostile FHIR data: whatever a server or a file sends, carepath answers with a plan, a clear message or a clear
page, never an exception, a traceback or a 500.

Property-based (hypothesis, a fixed derandomized profile so every run draws the same examples): the sample bundles
(``fhir_fixtures/`` and the Synthea patients) damaged by ``tests/hostile.py`` — types swapped at any level,
extreme numbers and dates, deep nesting, lone surrogates, bidi overrides, NUL — go through the facts and the plan,
through the ``carepath`` command, and through a launched app whose FHIR server (``responses``) answers from them.
The cases the issue reported are pinned as examples of their own.
"""

from __future__ import annotations

import contextlib
import functools
import io
import json
import logging
import re
from datetime import date
from unittest import mock

import pytest
import responses
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app import create_app
from app.cli import main
from app.context import facts_from_bundle
from app.context.fetch import _servers_without_batch
from app.engine.evaluate import build_plan
from app.engine.explain import explain, plan_text
from app.engine.packs import load_pack_set
from app.fhir import capabilities
from app.fhir.decoding import MAX_DEPTH, UnreadableJson, loads
from tests.hostile import (
    BASE,
    DAMAGED_ANSWERS,
    BundleServer,
    damaged_answers,
    mutated_bundles,
    sample_bundle,
    to_json,
)

AS_OF = date(2021, 4, 1)
#: Deterministic and quick: the same examples every run, no example database, no deadline on slow machines.
HOSTILE = settings(derandomize=True, database=None, deadline=None, max_examples=100, print_blob=True,
                   suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                          HealthCheck.function_scoped_fixture])
#: What facts_from_bundle may refuse a whole Bundle for (its own structure, not a resource's).
BUNDLE_REFUSALS = ("not a FHIR Bundle", "Bundle.entry is not a list")


@functools.cache
def _packs():
    return load_pack_set(None)


def _observation(**changes) -> dict:
    observation = {"resourceType": "Observation", "id": "a1c", "status": "final",
                   "code": {"coding": [{"system": "http://loinc.org", "code": "4548-4"}]},
                   "subject": {"reference": "Patient/p"}, "effectiveDateTime": "2021-01-05",
                   "valueQuantity": {"value": 8.2, "unit": "%", "system": "http://unitsofmeasure.org", "code": "%"}}
    observation.update(changes)
    return observation


def _bundle(*resources, patient: dict | None = None) -> dict:
    patient = patient or {"resourceType": "Patient", "id": "p", "gender": "female", "birthDate": "1960-02-01",
                          "name": [{"family": "Hostile", "given": ["Ada"]}]}
    return {"resourceType": "Bundle", "type": "collection",
            "entry": [{"resource": resource} for resource in (patient, *resources)]}


#: The answers the issue reported (HTTP 500s and CLI tracebacks), as Bundles.
REPORTED = {
    "date +14:00 in year 1": _bundle(_observation(effectiveDateTime="0001-01-01T00:00:00+14:00")),
    "date -14:00 in year 9999": _bundle(_observation(effectiveDateTime="9999-12-31T23:59:59-14:00")),
    "lone surrogate in a name": _bundle(patient={"resourceType": "Patient", "id": "p", "birthDate": "1960-02-01",
                                                 "name": [{"family": "Ho\ud800stile", "given": ["\udfff"]}]}),
    "nested deeper than 1000": _bundle(_observation(extension=functools.reduce(lambda v, _: [v], range(1100), []))),
    "resourceType as a list": _bundle(_observation(resourceType=["Observation"])),
    "entry not objects": {"resourceType": "Bundle", "type": "collection", "entry": ["x", 5, None, [1]]},
    "entry an object": {"resourceType": "Bundle", "type": "collection", "entry": {"resource": {}}},
    "link not objects": {**_bundle(_observation()), "link": ["next", 5]},
    "meta not an object": _bundle(_observation(meta="v1")),
    "integer above 1e308": _bundle(_observation(valueQuantity={"value": 10**400, "unit": "%"})),
    "number beyond a double": _bundle(_observation(valueQuantity={"value": float("inf"), "unit": "%"})),
    "NaN": _bundle(_observation(valueQuantity={"value": float("nan"), "unit": "%"})),
    "bidi override and NUL in a name": _bundle(patient={"resourceType": "Patient", "id": "p",
                                                        "name": [{"text": "\u202eAda\x00 Hostile"}]}),
}


def _facts_and_plan(bundle) -> tuple[dict, dict] | None:
    """Facts and plan of ``bundle`` sent as JSON text, as a server or a file sends it; None when the text or the
    Bundle itself is refused, with one of the clear messages that say why."""
    try:
        decoded = loads(to_json(bundle))
    except UnreadableJson as refusal:
        assert str(refusal)
        return None
    try:
        facts = facts_from_bundle(decoded, _packs().requirements, AS_OF)
    except ValueError as refusal:
        assert str(refusal).startswith(BUNDLE_REFUSALS)
        return None
    plan = build_plan(facts, _packs(), AS_OF)
    # What the CLI and the pages print of them must be printable: valid JSON, no lone surrogate.
    json.dumps(facts, allow_nan=False).encode("utf-8")
    json.dumps(plan.to_dict(), allow_nan=False, ensure_ascii=False).encode("utf-8")
    (explain(plan) + plan_text(plan)).encode("utf-8")
    return facts, plan.to_dict()


# -- facts and plan ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(REPORTED))
def test_facts_and_plan__reported_hostile_data_is_read_or_refused_clearly(name):
    _facts_and_plan(REPORTED[name])


def test_facts__a_date_whose_utc_instant_leaves_year_one_keeps_its_day():
    facts, _plan = _facts_and_plan(REPORTED["date +14:00 in year 1"])
    assert facts["measures"]["hba1c"]["date"] == "0001-01-01"
    assert facts["measures"]["hba1c"]["withinLookback"] is False


def test_facts__a_value_beyond_any_measurement_is_named_and_not_used():
    facts, _plan = _facts_and_plan(REPORTED["integer above 1e308"])
    assert "hba1c" not in facts["measures"]
    assert any(q["ref"]["id"] == "a1c" and "not a finite number" in q["problem"] for q in facts["dataQuality"])


def test_facts__a_lone_surrogate_becomes_a_replacement_character_and_the_patient_is_still_read():
    decoded = loads(to_json(REPORTED["lone surrogate in a name"]))
    assert decoded["entry"][0]["resource"]["name"][0] == {"family": "Ho\ufffdstile", "given": ["\ufffd"]}
    facts, _plan = _facts_and_plan(REPORTED["lone surrogate in a name"])
    assert facts["patient"]["id"] == "p"


def test_facts__a_resource_whose_type_is_not_a_string_is_named_and_the_rest_used():
    facts, _plan = _facts_and_plan(REPORTED["resourceType as a list"])
    assert facts["patient"]["id"] == "p"
    assert {"ref": {"type": None, "id": "a1c", "version": None},
            "problem": "resourceType is an array, not the name of a type: not used"} in facts["dataQuality"]


def test_decoding__deep_nesting_is_refused_with_a_clear_message():
    with pytest.raises(UnreadableJson, match=f"nested deeper than {MAX_DEPTH} levels"):
        loads(to_json(REPORTED["nested deeper than 1000"]))
    assert loads("[" * MAX_DEPTH + "]" * MAX_DEPTH)  # as deep as allowed: read


@pytest.mark.parametrize(("text", "message"), [
    ('{"a": NaN}', "NaN is not a JSON number"), ('{"a": -Infinity}', "-Infinity is not a JSON number"),
    ("{oops", "not valid JSON"), (b"\xff\xfe{}", "not UTF-8"),
])
def test_decoding__what_is_not_json_is_refused_with_a_clear_message(text, message):
    with pytest.raises(UnreadableJson, match=message):
        loads(text)


def test_decoding__numbers_beyond_a_double_and_a_byte_order_mark_are_read():
    assert loads('{"a": 1e999, "b": ' + "9" * 400 + "}") == {"a": float("inf"), "b": int("9" * 400)}
    assert loads("\ufeff{}".encode()) == {}


@HOSTILE
@given(mutated_bundles())
def test_facts_and_plan__damaged_sample_bundles_never_raise(bundle):
    _facts_and_plan(bundle)


# -- the carepath command ---------------------------------------------------------------------------------

COMMANDS = [["plan"], ["plan", "--format", "text"], ["plan", "--format", "fhir"], ["explain"], ["facts"]]


def _run_cli(tmp_path, bundle, command) -> tuple[int, str, str]:
    path = tmp_path / "hostile.json"
    path.write_text(to_json(bundle), encoding="utf-8")
    out, err = io.StringIO(), io.StringIO()
    with mock.patch("app.engine.cli.load_pack_set", lambda folder: _packs()), \
            contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([command[0], str(path), "--as-of", AS_OF.isoformat(), *command[1:]])
    return code, out.getvalue(), err.getvalue()


def _assert_clean_exit(code: int, out: str, err: str) -> None:
    """The CLI's convention: 0 with an answer, or 2 with one message on stderr (input it cannot use)."""
    assert code in (0, 2), err
    assert "Traceback" not in err
    (out + err).encode("utf-8")  # printable whatever the terminal's UTF-8 encoder
    if code == 2:
        assert err.startswith(("error: ", "carepath facts: ")) and err.strip()
    else:
        assert out.strip()


@pytest.mark.parametrize("name", sorted(REPORTED))
def test_cli__reported_hostile_files_get_an_answer_or_a_clean_message(tmp_path, name):
    for command in COMMANDS:
        _assert_clean_exit(*_run_cli(tmp_path, REPORTED[name], command))


def test_cli__a_file_nested_too_deeply_names_the_problem(tmp_path):
    code, _out, err = _run_cli(tmp_path, REPORTED["nested deeper than 1000"], ["plan"])
    assert code == 2 and f"JSON nested deeper than {MAX_DEPTH} levels" in err


@settings(HOSTILE, max_examples=50)
@given(mutated_bundles(), st.sampled_from(COMMANDS))
def test_cli__damaged_sample_bundles_get_an_answer_or_a_clean_message(tmp_path, bundle, command):
    _assert_clean_exit(*_run_cli(tmp_path, bundle, command))


# -- the app, launched against a FHIR server that answers hostile data -----------------------------------------

PAGES = ("", "plan", "plan/print", "plan/bundle.json")


@pytest.fixture
def hostile_app(tmp_path):
    """The app with an open FHIR server at BASE (played by ``responses``) and the bundled packs."""
    app = create_app({"TESTING": True, "SECRET_KEY": "test", "VAR_DIR": str(tmp_path), "SMART_ALLOWED_ISS": [BASE],
                      "SMART_OPEN_SERVERS": [BASE], "REVIEW_AS_OF": AS_OF.isoformat(), "FHIR_RETRIES": 0})
    app.extensions["carepath_packs"] = _packs()
    return app


def _visit(app, bundle, damaged) -> dict[str, int]:
    """Launch on the server BundleServer plays, open every page; returns the status of each."""
    capabilities.forget()
    _servers_without_batch.clear()
    patient_id = next((entry["resource"]["id"] for entry in bundle.get("entry") or []
                       if isinstance(entry, dict) and isinstance(entry.get("resource"), dict)
                       and entry["resource"].get("resourceType") == "Patient"
                       and isinstance(entry["resource"].get("id"), str)), "p") \
        if isinstance(bundle.get("entry"), list) else "p"
    client = app.test_client()
    statuses = {}
    with responses.RequestsMock(assert_all_requests_are_fired=False) as server:
        BundleServer(bundle, patient_id, damaged).install(server)
        launched = client.get(f"https://localhost/launch?iss={BASE}&patient={patient_id}")
        statuses["launch"] = launched.status_code
        if launched.status_code != 302:
            return statuses
        launch_id = launched.headers["Location"].split("/p/")[1].split("/")[0]
        for page in (*PAGES, f"source/Patient/{patient_id}"):
            answer = client.get(f"https://localhost/p/{launch_id}/{page}")
            statuses[page] = answer.status_code
            if answer.status_code == 502:  # the FHIR server's answer could not be used: a page that says so
                assert "FHIR server" in answer.get_data(as_text=True)
    return statuses


def _assert_answered(statuses: dict[str, int]) -> None:
    """2xx, a redirect or 4xx; 502 only for the page naming a FHIR server whose answer cannot be used."""
    assert all(status < 500 or status == 502 for status in statuses.values()), statuses


#: Each damaged answer is sent for the Patient read, for the batch as a whole, and for one other request in turn.
_OTHER_TARGETS = ["Observation", "Condition", "CarePlan", "metadata", "Goal", "AllergyIntolerance", "MedicationRequest"]
_DAMAGE_CASES = [(target, index) for index in range(len(DAMAGED_ANSWERS))
                 for target in ("Patient", "", _OTHER_TARGETS[index % len(_OTHER_TARGETS)])]


@pytest.mark.parametrize(("target", "answer"), _DAMAGE_CASES)
def test_app__damaged_answers_give_a_page_never_a_500(hostile_app, caplog, target, answer):
    caplog.set_level(logging.CRITICAL)
    statuses = _visit(hostile_app, sample_bundle(0), (target, *DAMAGED_ANSWERS[answer]))
    _assert_answered(statuses)


@pytest.mark.parametrize("name", sorted(REPORTED))
def test_app__reported_hostile_records_give_a_page_never_a_500(hostile_app, name):
    bundle = REPORTED[name] if name != "nested deeper than 1000" else _bundle(_observation(
        extension=functools.reduce(lambda v, _: [v], range(1100), [])))
    statuses = _visit(hostile_app, bundle, None)
    _assert_answered(statuses)
    if name in ("lone surrogate in a name", "date +14:00 in year 1", "integer above 1e308"):
        assert statuses["plan"] == 200  # the rest of the record is still used


@settings(HOSTILE, max_examples=25)
@given(mutated_bundles(), damaged_answers())
def test_app__damaged_sample_records_give_a_page_never_a_500(hostile_app, bundle, damaged):
    logging.disable(logging.CRITICAL)
    try:
        _assert_answered(_visit(hostile_app, bundle, damaged))
    finally:
        logging.disable(logging.NOTSET)


@pytest.mark.parametrize("patient", ["a b", "x\n", "../Observation", "p" * 65, "p%00", "\u202ep"])
def test_launch__a_patient_id_that_is_not_a_fhir_id_is_refused(hostile_app, patient):
    with responses.RequestsMock(assert_all_requests_are_fired=False):
        answer = hostile_app.test_client().get("https://localhost/launch", query_string={"iss": BASE,
                                                                                       "patient": patient})
    assert answer.status_code == 400
    assert re.search(r"valid \S*patient\S* id", answer.get_data(as_text=True))
