"""The cohort's inputs: one decoder for ndjson lines, Bundle files and gzip; a bad line or file is counted under
its name, never fatal (the pure functions the Spark job and the single-process loop share)."""

from __future__ import annotations

import gzip
import json
from datetime import date

import pytest

from app.cohort.decoder import InputLimits, UnreadableInput, decode_document, decode_resource, ndjson_lines
from app.cohort.plans import _name, patient_result
from app.cohort.sources import local_groups, resources_in_order
from app.engine import load_pack_set

AS_OF = date(2025, 6, 1)
PATIENT = {"resourceType": "Patient", "id": "p1", "birthDate": "1960-01-01", "gender": "female",
           "name": [{"given": ["Ann"], "family": "Lee"}]}
SMOKER = {"resourceType": "Observation", "id": "o1", "status": "final", "subject": {"reference": "Patient/p1"},
          "code": {"coding": [{"system": "http://loinc.org", "code": "72166-2"}]}, "effectiveDateTime": "2025-01-01",
          "valueCodeableConcept": {"coding": [{"system": "http://snomed.info/sct", "code": "449868002"}]}}
DEEP = "[" * 100_000 + "]" * 100_000


@pytest.fixture(scope="module")
def pack_set():
    return load_pack_set()


def _ndjson(folder, name, lines, *, packed=False):
    text = "\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines) + "\n"
    path = folder / name
    path.write_bytes(gzip.compress(text.encode()) if packed else text.encode())
    return path


def _bundle(resources):
    return {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": r} for r in resources]}


def _plans(groups, pack_set):
    return {patient: patient_result(patient, resources_in_order(items), pack_set, AS_OF)
            for patient, items in groups.items()}


@pytest.mark.parametrize(("text", "kind"), [
    ('{"resourceType": ["Observation"]}', "not a FHIR resource (resourceType is not a string)"),
    ('{"resourceType": {"a": 1}}', "not a FHIR resource (resourceType is not a string)"),
    ('{"resourceType": null}', "not a FHIR resource (resourceType is not a string)"),
    ("[1, 2]", "not a JSON object"),
    ("{oops", "not JSON"),
    (DEEP, "nested deeper than 256 levels"),
])
def test_decode_resource__refuses_what_is_not_a_resource_with_a_kind_to_count(text, kind):
    with pytest.raises(UnreadableInput) as caught:
        decode_resource(text)
    assert caught.value.kind == kind


def test_decode_resource__reads_a_resource_and_bounds_its_size():
    assert decode_resource(json.dumps(PATIENT)) == PATIENT
    with pytest.raises(UnreadableInput, match="larger than 10 bytes"):
        decode_document(json.dumps(PATIENT), InputLimits(document=10))


_BAD_ENTRIES = [
    {"resourceType": ["Observation"], "subject": {"reference": "Patient/p1"}},
    {"resourceType": {"type": "Observation"}, "subject": {"reference": "Patient/p1"}},
    {"resourceType": None, "subject": {"reference": "Patient/p1"}},
]
#: Text lines that are not JSON (a Bundle file's entries are objects, so these are ndjson cases only).
_BAD_LINES = ["{not json", DEEP]


@pytest.mark.parametrize(("bad", "layout"), [
    *[(bad, layout) for bad in [*_BAD_ENTRIES, *_BAD_LINES] for layout in ("ndjson", "ndjson.gz")],
    *[(bad, "bundle") for bad in _BAD_ENTRIES],
])
def test_local_groups__a_bad_line_or_entry_is_counted_under_its_file_and_the_rest_is_planned(tmp_path, pack_set,
                                                                                            bad, layout):
    if layout == "bundle":
        (tmp_path / "patient.json").write_text(json.dumps(_bundle([PATIENT, bad, SMOKER])))
    else:
        _ndjson(tmp_path, f"Patient.{layout}", [PATIENT, bad, SMOKER], packed=layout.endswith("gz"))
    groups, problems = local_groups(tmp_path)
    assert sum(problems.values()) == 1
    (kind,) = problems
    assert kind.startswith(("Patient.ndjson", "patient.json: entries"))
    plans = _plans(groups, pack_set)
    assert plans["p1"].plan_json and plans["p1"].name == "Ann Lee"
    assert "smoking" not in {gap["key"] for gap in json.loads(plans["p1"].plan_json)["gaps"]}


@pytest.mark.parametrize("name", [
    "Ann", {"given": ["Ann"]}, [{"given": "Ann"}], [{"given": 5}], [{"given": [5, None]}], [{"family": ["Lee"]}],
    [{"text": 5}], None,
])
def test_patient_result__a_name_of_the_wrong_type_never_stops_the_run(pack_set, name):
    patient = {**PATIENT, "name": name}
    result = patient_result("p1", [patient, SMOKER], pack_set, AS_OF)
    assert result.patient_id == "p1" and result.name == ""
    assert result.plan_json or any(key[0] == "quality" for key in result.counts)


def test_name__reads_the_usable_parts_of_a_human_name():
    assert _name({"name": [{"given": ["Ann", 5, "Marie"], "family": "Lee"}]}) == "Ann Marie Lee"
    assert _name({"name": [{"use": "old", "text": "Old"}, {"use": "official", "given": ["New"]}]}) == "New"


def test_local_groups__a_gz_that_is_not_gzip_is_counted_by_name_and_the_others_are_read(tmp_path, pack_set):
    (tmp_path / "Observation.ndjson.gz").write_bytes(b"this is not gzip")
    (tmp_path / "other.json.gz").write_bytes(b"\x1f\x8b\x08\x00broken")
    _ndjson(tmp_path, "Patient.ndjson", [PATIENT])
    groups, problems = local_groups(tmp_path)
    assert problems == {"Observation.ndjson.gz: files named .gz that are not gzip": 1,
                        "other.json.gz: files named .gz that are not gzip": 1}
    assert _plans(groups, pack_set)["p1"].plan_json


def test_local_groups__a_gzip_bomb_is_not_inflated_beyond_the_setting(tmp_path, pack_set):
    limits = InputLimits(decompressed=1_000_000, document=1_000_000)
    bomb = gzip.compress(b"0" * 20_000_000)  # 20 MB of one line, about 20 KB compressed
    (tmp_path / "Observation.ndjson.gz").write_bytes(bomb)
    (tmp_path / "bundle.json.gz").write_bytes(bomb)
    _ndjson(tmp_path, "Patient.ndjson.gz", [PATIENT, SMOKER], packed=True)
    groups, problems = local_groups(tmp_path, limits)
    assert problems == {"Observation.ndjson.gz: gzip inflating beyond 1000000 bytes (not read)": 1,
                        "bundle.json.gz: gzip inflating beyond 1000000 bytes (not read)": 1}
    assert _plans(groups, pack_set)["p1"].plan_json


def test_ndjson_lines__a_line_longer_than_the_limit_is_skipped_and_the_next_read(tmp_path):
    path = _ndjson(tmp_path, "Observation.ndjson", ["x" * 5000, json.dumps(SMOKER)])
    lines = list(ndjson_lines(str(path), InputLimits(document=1000)))
    assert isinstance(lines[0], UnreadableInput) and lines[0].kind == "lines larger than 1000 bytes"
    assert lines[1:] == [json.dumps(SMOKER)]


def test_local_groups__a_good_gzip_export_is_read_like_plain_ndjson(tmp_path, pack_set):
    plain, packed = tmp_path / "plain", tmp_path / "packed"
    plain.mkdir()
    packed.mkdir()
    _ndjson(plain, "Patient.ndjson", [PATIENT, SMOKER])
    _ndjson(packed, "Patient.ndjson.gz", [PATIENT, SMOKER], packed=True)
    (plain_groups, plain_problems), (packed_groups, packed_problems) = local_groups(plain), local_groups(packed)
    assert plain_problems == packed_problems == {}
    assert _plans(plain_groups, pack_set)["p1"].plan_json == _plans(packed_groups, pack_set)["p1"].plan_json
