"""Liberal reading of benign faults: resources whose clinical meaning is unambiguous despite a validation fault are
used (as a repaired copy) and the fault listed; the others are dropped and the reason listed."""

from __future__ import annotations

import copy
import json

import pytest

from app.context.facts import facts_from_resources
from app.context.repair import readable
from app.context.requirements import default_requirements
from app.context.resources import from_bundle, usable, validate_fully
from tests.conftest import SYNTHEA

AS_OF = "2020-06-01"
PATIENT = {"resourceType": "Patient", "id": "p", "gender": "female", "birthDate": "1960-01-01"}
A1C_CODE = {"coding": [{"system": "http://loinc.org", "code": "4548-4"}]}
COLONOSCOPY_CODE = {"coding": [{"system": "http://snomed.info/sct", "code": "73761001", "display": "Colonoscopy"}]}


def _procedure(**fields) -> dict:
    return {"resourceType": "Procedure", "id": "proc", "status": "completed", "code": COLONOSCOPY_CODE,
            "subject": {"reference": "Patient/p"}, **fields}


def _observation(**fields) -> dict:
    return {"resourceType": "Observation", "id": "obs", "status": "final", "code": A1C_CODE,
            "subject": {"reference": "Patient/p"}, **fields}


def _condition(**fields) -> dict:
    return {"resourceType": "Condition", "id": "cond", "subject": {"reference": "Patient/p"},
            "code": {"coding": [{"system": "http://snomed.info/sct", "code": "44054006"}]}, **fields}


def _get(node, *path):
    for part in path:
        node = node[part]
    return node


# (resource, where the repaired value is, the value read, the dataQuality sentences)
BENIGN = [
    pytest.param(_procedure(performedDateTime="2019-03-01T10:00:00"), ("performedDateTime",), "2019-03-01",
                 ["performedDateTime '2019-03-01T10:00:00' has no time zone: read as the local date 2019-03-01"],
                 id="zoneless-dateTime"),
    pytest.param(_observation(effectivePeriod={"start": "2019-03-01T23:30"}), ("effectivePeriod", "start"),
                 "2019-03-01", ["effectivePeriod.start '2019-03-01T23:30' has no time zone: read as the local date "
                                "2019-03-01"], id="zoneless-period-start-without-seconds"),
    pytest.param(_observation(valueQuantity={"value": "7.1", "unit": "%"}), ("valueQuantity", "value"), 7.1,
                 ["valueQuantity.value '7.1' sent as a string: read as the number 7.1"], id="decimal-string"),
    pytest.param(_observation(valueInteger="120"), ("valueInteger",), 120,
                 ["valueInteger '120' sent as a string: read as the number 120"], id="integer-string"),
    pytest.param(_observation(component=[{"code": {"text": "a"}, "valueQuantity": {"value": 80}},
                                         {"code": {"text": "b"}, "valueQuantity": {"value": "120"}}]),
                 ("component", 1, "valueQuantity", "value"), 120,
                 ["component[1].valueQuantity.value '120' sent as a string: read as the number 120"],
                 id="string-in-a-repeating-element"),
    pytest.param({**PATIENT, "deceasedBoolean": "false"}, ("deceasedBoolean",), False,
                 ["deceasedBoolean 'false' sent as a string: read as false"], id="boolean-string"),
    pytest.param(_condition(text={"status": "generated"}), ("text",), None,
                 ["text.div missing: narrative ignored"], id="narrative-without-div"),
    pytest.param(_observation(issued="2019-03-01T10:00:00", effectiveDateTime="2019-03-01"), ("issued",), None,
                 ["issued '2019-03-01T10:00:00' has no time zone: ignored"], id="zoneless-instant"),
    pytest.param(_observation(meta={"lastUpdated": "2019-03-01T10:00:00"}), ("meta",), None,
                 ["meta.lastUpdated '2019-03-01T10:00:00' has no time zone: ignored"], id="zoneless-lastUpdated"),
    pytest.param(_observation(effectiveDateTime="2019-03-01T10:00:00", valueQuantity={"value": "7.1"},
                              text={"status": "generated"}), ("effectiveDateTime",), "2019-03-01",
                 ["valueQuantity.value '7.1' sent as a string: read as the number 7.1",
                  "effectiveDateTime '2019-03-01T10:00:00' has no time zone: read as the local date 2019-03-01",
                  "text.div missing: narrative ignored"], id="several-faults"),
    pytest.param(_observation(contained=[{"resourceType": "Medication", "id": "m", "text": {"status": "generated"}}]),
                 ("contained", 0, "text"), None, ["contained[0].text.div missing: narrative ignored"],
                 id="contained-resource"),
]


@pytest.mark.parametrize(("resource", "path", "value", "notes"), BENIGN)
def test_usable__benign_faults_are_read_and_listed(resource, path, value, notes):
    before = copy.deepcopy(resource)
    kept, problems, deferred = usable([resource])
    assert resource == before  # never changed in place
    [used] = kept
    assert used is not resource and validate_fully(used) is None
    if value is None:
        with pytest.raises((KeyError, IndexError)):
            _get(used, *path)
    else:
        assert _get(used, *path) == value
    ref = {"type": resource["resourceType"], "id": resource["id"], "version": None}
    assert sorted(problems, key=str) == sorted(({"ref": ref, "problem": note} for note in notes), key=str)
    assert deferred == []


def test_readable__copies_only_the_branches_it_changes():
    original = _observation(effectiveDateTime="2019-03-01T10:00:00", valueQuantity={"value": "7.1", "unit": "%"},
                            category=[{"text": "laboratory"}])
    used, _notes = readable(original)
    assert used["valueQuantity"] is not original["valueQuantity"]
    assert used["code"] is original["code"] and used["category"] is original["category"]
    assert original["valueQuantity"]["value"] == "7.1" and original["effectiveDateTime"] == "2019-03-01T10:00:00"


@pytest.mark.parametrize("resource", [
    pytest.param(_observation(effectiveDateTime="2019-03-01T10:00:00-05:00", valueQuantity={"value": 7.1}),
                 id="valid"),
    pytest.param(_observation(valueBoolean="yes"), id="boolean-not-spelled-by-fhir-is-left-as-before"),
])
def test_readable__a_resource_without_benign_faults_is_used_as_is(resource):
    assert readable(resource) == (resource, [])
    assert readable(resource)[0] is resource


# (resource, how its dataQuality sentence starts)
UNREADABLE = [
    pytest.param(_observation(code=5), "failed FHIR R4 validation at code", id="code-a-number"),
    pytest.param(_observation(valueQuantity={"value": "seven"}), "failed FHIR R4 validation at valueQuantity.value",
                 id="value-not-a-number"),
    pytest.param(_observation(valueInteger="7.5"), "failed FHIR R4 validation at valueInteger",
                 id="integer-with-a-fraction"),
    pytest.param(_procedure(performedDateTime="2019-02-30T10:00:00"),
                 "failed FHIR R4 validation at performedDateTime", id="zoneless-but-no-such-day"),
    pytest.param(_procedure(performedDateTime="2019-03-01T10:00:00", status=None),
                 "failed FHIR R4 validation at status", id="benign-and-unreadable-names-the-unreadable-one"),
    pytest.param(_condition(onsetDateTime="2020-13-45", text={"status": "generated"}),
                 "failed FHIR R4 validation at onsetDateTime", id="unreadable-date-beside-a-benign-fault"),
]


@pytest.mark.parametrize(("resource", "start"), UNREADABLE)
def test_usable__what_cannot_be_read_without_guessing_is_dropped_and_named(resource, start):
    before = copy.deepcopy(resource)
    kept, problems, _deferred = usable([resource])
    assert resource == before
    assert kept == []
    [entry] = problems
    assert entry["ref"]["id"] == resource["id"]
    assert entry["problem"].startswith(start) and entry["problem"].endswith(": not used")


def test_facts__benign_faults_through_the_facts():
    procedure = _procedure(performedDateTime="2019-03-01T10:00:00")
    observation = _observation(effectiveDateTime="2020-01-15T08:00:00", valueQuantity={
        "value": "7.1", "unit": "%", "system": "http://unitsofmeasure.org", "code": "%"})
    broken = _observation(id="obs-broken", effectiveDateTime="2020-02-01", valueQuantity={"value": "seven"})
    resources = [PATIENT, procedure, observation, broken]
    before = copy.deepcopy(resources)
    facts = facts_from_resources(resources, default_requirements(), AS_OF)
    assert resources == before
    assert facts["procedures"]["colonoscopy"]["date"] == "2019-03-01"
    hba1c = facts["measures"]["hba1c"]
    assert (hba1c["value"], hba1c["date"], hba1c["refs"][0]["id"]) == (7.1, "2020-01-15", "obs")
    quality = {(q["ref"]["id"], q["problem"]) for q in facts["dataQuality"]}
    assert ("proc", "performedDateTime '2019-03-01T10:00:00' has no time zone: read as the local date "
                    "2019-03-01") in quality
    assert ("obs", "valueQuantity.value '7.1' sent as a string: read as the number 7.1") in quality
    assert ("obs", "effectiveDateTime '2020-01-15T08:00:00' has no time zone: read as the local date "
                   "2020-01-15") in quality
    [dropped] = [problem for ref, problem in quality if ref == "obs-broken"]
    assert dropped.startswith("failed FHIR R4 validation at valueQuantity.value") and dropped.endswith(": not used")


def _synthea_observations() -> list[dict]:
    paths = sorted(SYNTHEA.glob("*.json"))
    if not paths:
        pytest.skip("no Synthea sample data")
    resources = from_bundle(json.loads(paths[0].read_text()))
    return [r for r in resources if r["resourceType"] == "Observation" and "valueQuantity" in r
            and isinstance(r.get("effectiveDateTime"), str) and "T" in r["effectiveDateTime"]]


def test_readable__damaged_synthea_results_read_as_the_originals_say():
    observations = _synthea_observations()
    assert observations
    for original in observations:
        damaged = {**original, "effectiveDateTime": original["effectiveDateTime"][:19],
                   "valueQuantity": {**original["valueQuantity"], "value": str(original["valueQuantity"]["value"])}}
        before = copy.deepcopy(damaged)
        used, notes = readable(damaged)
        assert damaged == before
        assert used is not None and validate_fully(used) is None, notes
        assert used["effectiveDateTime"] == original["effectiveDateTime"][:10]
        assert used["valueQuantity"]["value"] == pytest.approx(original["valueQuantity"]["value"])
        assert len(notes) == 2
