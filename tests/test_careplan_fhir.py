"""The draft bundle: FHIR R4 shape (checked with fhir.resources R4B models), determinism, rationale, edits."""

from __future__ import annotations

import json

import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.careplan import CarePlan
from fhir.resources.R4B.goal import Goal
from fhir.resources.R4B.provenance import Provenance

from app.careplan import Edits, PlanEditError, Replacement, draft_bundle, plan_key
from app.careplan.model import CAREPLAN_ID_SYSTEM, CLINICIAN_EDIT_URL, RATIONALE_URL, TAG
from tests.careplan_sample import PACK_URL, sample_plan

MODELS = {"CarePlan": CarePlan, "Goal": Goal, "Provenance": Provenance}
CAREPATH = {"type": "Device", "identifier": {"system": "http://carepath.dev/fhir/device", "value": "carepath"},
            "display": "carepath 0.1.0"}
NOW = "2020-06-01T10:00:00Z"
DOCTOR = "Practitioner/dr1"


def _resources(bundle, resource_type):
    return [entry["resource"] for entry in bundle["entry"] if entry["resource"]["resourceType"] == resource_type]


def _careplan(bundle):
    return _resources(bundle, "CarePlan")[0]


def test_draft_bundle__validates_as_r4_models():
    bundle = draft_bundle(sample_plan(), Edits(deselected=frozenset({"a-dsmes"}), goal_targets={"g-hba1c": 7.5},
                                               note="diet first", author=DOCTOR), now=NOW)
    Bundle.model_validate(bundle)
    for entry in bundle["entry"]:
        MODELS[entry["resource"]["resourceType"]].model_validate(entry["resource"])
    assert [e["resource"]["resourceType"] for e in bundle["entry"]] == ["Goal", "Goal", "CarePlan", "Provenance"]


def test_draft_bundle__every_create_is_conditional():
    bundle = draft_bundle(sample_plan(), now=NOW)
    for entry in bundle["entry"]:
        assert entry["fullUrl"].startswith("urn:uuid:")
        assert entry["request"]["method"] == "POST"
        assert entry["request"]["ifNoneExist"]
    careplan_entry = next(e for e in bundle["entry"] if e["resource"]["resourceType"] == "CarePlan")
    value = careplan_entry["resource"]["identifier"][0]["value"]
    assert careplan_entry["request"]["ifNoneExist"] == f"identifier={CAREPLAN_ID_SYSTEM}|{value}"


def test_draft_bundle__same_input_same_bytes_apart_from_timestamps():
    first = json.dumps(draft_bundle(sample_plan(), now=NOW), sort_keys=True)
    second = json.dumps(draft_bundle(sample_plan(), now="2021-01-01T00:00:00Z"), sort_keys=True)
    assert first == second.replace("2021-01-01T00:00:00Z", NOW)


@pytest.mark.parametrize("change", [
    {"patient_id": "p2"},
    {"hba1c_version": "2"},
    {"hba1c_id": "o7"},
    {"pack_version": "2025.2"},
])
def test_plan_key__changes_with_patient_pack_or_input_version(change):
    patient = change.pop("patient_id", "p1")
    assert plan_key(sample_plan(patient, **change)) != plan_key(sample_plan())


def test_plan_key__ignores_the_evaluation_date():
    later = sample_plan()
    later["as_of"] = "2020-07-01"
    assert plan_key(later) == plan_key(sample_plan())


def test_careplan__draft_plan_with_us_core_category_and_references():
    bundle = draft_bundle(sample_plan(), now=NOW)
    careplan = _careplan(bundle)
    goal_urls = [e["fullUrl"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Goal"]
    assert (careplan["status"], careplan["intent"]) == ("draft", "plan")
    assert careplan["category"][0]["coding"][0]["code"] == "assess-plan"
    assert careplan["subject"] == {"reference": "Patient/p1"}
    assert careplan["period"] == {"start": "2020-06-01"} and careplan["created"] == NOW
    assert careplan["instantiatesCanonical"] == [f"{PACK_URL}|2025.1"]
    assert careplan["addresses"] == [{"reference": "Condition/c1"}]
    assert careplan["supportingInfo"] == [{"reference": "Observation/o1"}]
    assert [g["reference"] for g in careplan["goal"]] == goal_urls
    assert TAG in careplan["meta"]["tag"]
    assert careplan["author"] == CAREPATH  # logical: a SMART app is not granted writing Device


def test_careplan__activity_detail_carries_code_timing_goal_reason_and_rationale():
    bundle = draft_bundle(sample_plan(), now=NOW)
    activity = _careplan(bundle)["activity"][0]
    detail = activity["detail"]
    assert detail["status"] == "not-started" and detail["kind"] == "ServiceRequest"
    assert detail["code"]["coding"][0]["code"] == "4548-4"
    assert detail["scheduledTiming"] == {"event": ["2020-09-01"],
                                         "repeat": {"frequency": 1, "period": 3, "periodUnit": "mo"}}
    assert {r["reference"] for r in detail["reasonReference"]} == {"Condition/c1", "Observation/o1"}
    assert detail["goal"] == [{"reference": bundle["entry"][0]["fullUrl"]}]
    rationale = next(ext for ext in activity["extension"] if ext["url"] == RATIONALE_URL)
    parts = {part["url"]: next(v for k, v in part.items() if k.startswith("value")) for part in rationale["extension"]}
    assert parts["ruleId"] == "dm.hba1c-interval"
    assert parts["pack"] == f"{PACK_URL}|2025.1"
    assert parts["citation"] == "ADA Standards of Care in Diabetes 2025, 6.5 <Glycemic goals>"
    assert parts["fact"] == "HbA1c 8.1 % (2020-01-15)"
    sources = [part["valueString"] for part in rationale["extension"] if part["url"] == "source"]
    assert sources == ["Condition/c1/_history/1", "Observation/o1/_history/1"]


def test_goal__proposed_with_ucum_targets_and_addresses():
    goals = _resources(draft_bundle(sample_plan(), now=NOW), "Goal")
    hba1c, bp = goals
    assert hba1c["lifecycleStatus"] == "proposed"
    assert hba1c["target"] == [{"measure": {"coding": [{"system": "http://loinc.org", "code": "4548-4",
                                                        "display": "Hemoglobin A1c"}], "text": "Hemoglobin A1c"},
                                "detailQuantity": {"value": 7.0, "comparator": "<", "unit": "%",
                                                   "system": "http://unitsofmeasure.org", "code": "%"},
                                "dueDate": "2020-12-01"}]
    assert [t["detailQuantity"]["code"] for t in bp["target"]] == ["mm[Hg]", "mm[Hg]"]
    assert [t["measure"]["coding"][0]["code"] for t in bp["target"]] == ["8480-6", "8462-4"]
    assert hba1c["addresses"] == [{"reference": "Condition/c1", "display": "Type 2 diabetes"}]


def test_provenance__device_author_versioned_sources_and_citations():
    bundle = draft_bundle(sample_plan(), now=NOW)
    provenance = _resources(bundle, "Provenance")[0]
    assert provenance["agent"][0]["who"] == CAREPATH
    assert [e["what"]["reference"] for e in provenance["entity"]] == [
        "Condition/c1/_history/1", "Observation/o1/_history/1"]
    assert "https://diabetesjournals.org/care/issue/48/Supplement_1" in provenance["policy"]
    assert len(provenance["target"]) == 3 and provenance["recorded"] == NOW


def test_careplan__instantiates_plan_definitions_not_the_data_library():
    plan = sample_plan()
    plan["packs"].append({"url": "http://carepath.dev/fhir/Library/primary-care-data", "version": "1"})
    careplan = _careplan(draft_bundle(plan, now=NOW))
    assert careplan["instantiatesCanonical"] == [f"{PACK_URL}|2025.1"]
    assert plan_key(plan) != plan_key(sample_plan())  # the Library version still counts


def test_narrative__escapes_every_value():
    plan = sample_plan()
    plan["activities"][0]["description"] = "<script>alert(1)</script>"
    div = _careplan(draft_bundle(plan, Edits(note="a & b", author=DOCTOR), now=NOW))["text"]["div"]
    assert "<script>" not in div and "&lt;script&gt;" in div and "a &amp; b" in div
    assert div.startswith('<div xmlns="http://www.w3.org/1999/xhtml">')


def test_edits__recorded_as_the_clinicians():
    edits = Edits(deselected=frozenset({"a-dsmes"}), goal_targets={"g-hba1c": 7.5}, note="diet first",
                  author=DOCTOR)
    bundle = draft_bundle(sample_plan(), edits, now=NOW)
    careplan = _careplan(bundle)
    dsmes = careplan["activity"][1]
    assert dsmes["detail"]["status"] == "cancelled" and dsmes["detail"]["statusReason"]["text"]
    assert any(ext["url"] == CLINICIAN_EDIT_URL for ext in dsmes["extension"])
    assert careplan["note"] == [{"text": "diet first", "time": NOW, "authorReference": {"reference": DOCTOR}}]
    assert {"reference": DOCTOR} in careplan["contributor"]
    goal = _resources(bundle, "Goal")[0]
    assert goal["target"][0]["detailQuantity"]["value"] == 7.5
    assert any(ext["url"] == CLINICIAN_EDIT_URL for ext in goal["extension"])
    provenance = _resources(bundle, "Provenance")[0]
    assert provenance["agent"][1]["who"] == {"reference": DOCTOR}


@pytest.mark.parametrize(("edits", "message"), [
    (Edits(goal_targets={"g-hba1c": 6.4}, author=DOCTOR), "between 6.5 and 8 %"),
    (Edits(goal_targets={"g-hba1c": 8.01}, author=DOCTOR), "between 6.5 and 8 %"),
    (Edits(goal_targets={"g-bp": 120}, author=DOCTOR), "not editable"),
    (Edits(goal_targets={"g-nope": 7}, author=DOCTOR), "unknown goal"),
    (Edits(deselected=frozenset({"a-nope"}), author=DOCTOR), "unknown activity"),
    (Edits(note="hello"), "need the clinician"),
])
def test_edits__refused_outside_the_plan(edits, message):
    with pytest.raises(PlanEditError, match=message):
        draft_bundle(sample_plan(), edits, now=NOW)


@pytest.mark.parametrize("value", [6.5, 8.0])
@pytest.mark.parametrize("bounds", [{"low": 6.5, "high": 8.0, "unit": "%"},
                                    {"low": {"value": 6.5, "unit": "%"}, "high": {"value": 8.0, "unit": "%"}}])
def test_edits__target_at_the_bounds_is_accepted(value, bounds):
    plan = sample_plan()
    plan["goals"][0]["editable_range"] = bounds
    bundle = draft_bundle(plan, Edits(goal_targets={"g-hba1c": value}, author=DOCTOR), now=NOW)
    assert _resources(bundle, "Goal")[0]["target"][0]["detailQuantity"]["value"] == value


def test_replaces__revokes_the_old_draft_with_if_match():
    old_careplan = {"resourceType": "CarePlan", "id": "41", "meta": {"versionId": "3"}, "status": "draft",
                    "identifier": [{"system": CAREPLAN_ID_SYSTEM, "value": "older"}]}
    old_goal = {"resourceType": "Goal", "id": "42", "meta": {"versionId": "1"}, "lifecycleStatus": "proposed"}
    bundle = draft_bundle(sample_plan(), now=NOW, replaces=Replacement(old_careplan, (old_goal,)))
    assert _careplan(bundle)["replaces"] == [{"reference": "CarePlan/41"}]
    puts = [e for e in bundle["entry"] if e["request"]["method"] == "PUT"]
    assert [(p["request"]["url"], p["request"]["ifMatch"], p["resource"].get("status") or
             p["resource"]["lifecycleStatus"]) for p in puts] == [
        ("CarePlan/41", 'W/"3"', "revoked"), ("Goal/42", 'W/"1"', "cancelled")]


def test_replaces__same_inputs_resume_instead_of_revoking():
    same = {"resourceType": "CarePlan", "id": "41", "meta": {"versionId": "1"}, "status": "draft",
            "identifier": [{"system": CAREPLAN_ID_SYSTEM, "value": plan_key(sample_plan())}]}
    bundle = draft_bundle(sample_plan(), now=NOW, replaces=Replacement(same))
    assert "replaces" not in _careplan(bundle)
    assert all(e["request"]["method"] == "POST" for e in bundle["entry"])


@pytest.mark.parametrize(("citation", "text"), [
    ({"guideline": "ADA Standards of Care", "year": 2025, "section": "6.5"}, "ADA Standards of Care 2025, 6.5"),
    ({"guideline": "ADA Standards of Care in Diabetes—2025", "year": "2025", "section": "Section 6"},
     "ADA Standards of Care in Diabetes—2025, Section 6"),
    ({"guideline": "USPSTF", "year": "2022"}, "USPSTF 2022"),
    ({}, "uncited"),
])
def test_citation_text__guideline_year_section_without_repeating_the_year(citation, text):
    from app.careplan.narrative import citation_text

    assert citation_text(citation) == text
