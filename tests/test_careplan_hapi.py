"""Round trips of drafts against the local HAPI FHIR server: write, validate, retry, 412, regenerate."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import pytest

from app.careplan import Edits, draft_bundle, now_instant
from app.careplan.approval import Decision, PlanChanged, decide
from app.careplan.writer import find_open_draft, save_draft
from app.errors import FhirStatusError
from app.fhir import FhirClient
from tests.careplan_sample import sample_plan
from tests.test_careplan_us_core import (
    check_us_core_careplan,
    check_us_core_goal,
    check_us_core_provenance,
)

pytestmark = pytest.mark.integration


@dataclass
class Record:
    patient: str
    doctor: str
    condition: str
    hba1c: str
    hba1c_version: str
    organization: dict

    def plan(self) -> dict:
        return sample_plan(self.patient, condition_id=self.condition, hba1c_id=self.hba1c,
                           hba1c_version=self.hba1c_version)


def _hba1c(patient: str, id_: str, value: float) -> dict:
    return {"resourceType": "Observation", "id": id_, "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "4548-4"}]},
            "subject": {"reference": f"Patient/{patient}"}, "effectiveDateTime": "2020-01-15",
            "valueQuantity": {"value": value, "unit": "%", "system": "http://unitsofmeasure.org", "code": "%"}}


@pytest.fixture
def record(hapi: FhirClient) -> Record:
    """A fresh patient with a diabetes Condition, an HbA1c and a practitioner, under unique ids."""
    key = f"cpt-{uuid.uuid4().hex[:10]}"
    hapi.update({"resourceType": "Patient", "id": key, "gender": "female", "birthDate": "1960-01-01"})
    hapi.update({"resourceType": "Practitioner", "id": f"{key}-dr", "active": True})
    hapi.update({"resourceType": "Organization", "id": f"{key}-org", "active": True, "name": "Test clinic"})
    hapi.update({"resourceType": "Condition", "id": f"{key}-dm", "subject": {"reference": f"Patient/{key}"},
                 "code": {"coding": [{"system": "http://snomed.info/sct", "code": "44054006"}]},
                 "clinicalStatus": {"coding": [{
                     "system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}]}})
    observation = hapi.update(_hba1c(key, f"{key}-a1c", 8.1)).json()
    return Record(key, f"Practitioner/{key}-dr", f"{key}-dm", f"{key}-a1c", observation["meta"]["versionId"],
                  {"reference": f"Organization/{key}-org", "display": "Test clinic"})


def _errors(hapi: FhirClient, resource: dict) -> list[str]:
    outcome = hapi.request("POST", f"{resource['resourceType']}/$validate", json=resource, idempotent=True).json()
    return [issue.get("diagnostics", "") for issue in outcome.get("issue", [])
            if issue.get("severity") in ("error", "fatal")]


def _count(hapi: FhirClient, resource_type: str, params: dict) -> int:
    return len(hapi.search(resource_type, params))


def test_save_draft__written_read_back_and_valid(hapi, record):
    edits = Edits(deselected=frozenset({"a-dsmes"}), goal_targets={"g-hba1c": 7.5}, note="diet first",
                  author=record.doctor)
    result = save_draft(hapi, draft_bundle(record.plan(), edits, organization=record.organization))
    careplan = result.careplan
    assert result.created and careplan["status"] == "draft" and careplan["intent"] == "plan"
    assert [a["detail"]["status"] for a in careplan["activity"]] == ["not-started", "cancelled"]
    goals = [hapi.read("Goal", ref["reference"].split("/")[-1]) for ref in careplan["goal"]]
    provenance = hapi.search("Provenance", {"target": f"CarePlan/{careplan['id']}"})
    assert [g["lifecycleStatus"] for g in goals] == ["proposed", "proposed"]
    assert goals[0]["target"][0]["detailQuantity"]["value"] == 7.5
    assert len(provenance) == 1
    rationale = next(e for e in careplan["activity"][0]["extension"] if e["url"].endswith("/rationale"))
    sources = {part["valueString"] for part in rationale["extension"] if part["url"] == "source"}
    assert f"Observation/{record.hba1c}/_history/{record.hba1c_version}" in sources  # exact version kept
    for resource in [careplan, *goals, *provenance]:
        assert _errors(hapi, resource) == [], resource["resourceType"]
    # Read back from the server, the US Core checks still hold (references resolved, onBehalfOf kept).
    check_us_core_careplan(careplan)
    for goal in goals:
        check_us_core_goal(goal)
    check_us_core_provenance(provenance[0])
    assert {agent["onBehalfOf"]["reference"] for agent in provenance[0]["agent"]} == {record.organization["reference"]}


@pytest.mark.parametrize("transaction", [True, False])
def test_save_draft__double_submit_leaves_one_draft(hapi, record, transaction):
    bundle = draft_bundle(record.plan())
    first = save_draft(hapi, bundle, transaction=transaction)
    second = save_draft(hapi, draft_bundle(record.plan()), transaction=transaction)
    assert first.created and not second.created
    assert second.careplan["id"] == first.careplan["id"] and second.version == first.version
    assert _count(hapi, "CarePlan", {"subject": f"Patient/{record.patient}"}) == 1
    assert _count(hapi, "Goal", {"subject": f"Patient/{record.patient}"}) == 2
    assert _count(hapi, "Provenance", {"target": f"CarePlan/{first.careplan['id']}"}) == 1


@pytest.mark.parametrize("transaction", [True, False])
def test_save_draft__a_failed_write_leaves_nothing_behind(hapi, record, transaction):
    edits = Edits(note="mine", author=f"Practitioner/{record.patient}-nobody")  # no such Practitioner: refused
    with pytest.raises(FhirStatusError):
        save_draft(hapi, draft_bundle(record.plan(), edits), transaction=transaction)
    assert _count(hapi, "CarePlan", {"subject": f"Patient/{record.patient}"}) == 0
    assert _count(hapi, "Goal", {"subject": f"Patient/{record.patient}"}) == 0


def test_find_open_draft__relaunch_resumes_the_saved_draft(hapi, record):
    saved = save_draft(hapi, draft_bundle(record.plan()))
    found = find_open_draft(hapi, record.patient)
    assert found is not None and found.careplan["id"] == saved.careplan["id"] and len(found.goals) == 2


def test_regenerate__new_data_replaces_and_revokes_the_old_draft(hapi, record):
    old = save_draft(hapi, draft_bundle(record.plan()))
    newer = hapi.update(_hba1c(record.patient, record.hba1c, 8.4)).json()
    record.hba1c_version = newer["meta"]["versionId"]
    new = save_draft(hapi, draft_bundle(record.plan(), replaces=find_open_draft(hapi, record.patient)))
    assert new.created and new.careplan["replaces"] == [{"reference": f"CarePlan/{old.careplan['id']}"}]
    assert hapi.read("CarePlan", old.careplan["id"])["status"] == "revoked"
    old_goals = [hapi.read("Goal", ref["reference"].split("/")[-1]) for ref in old.careplan["goal"]]
    assert {goal["lifecycleStatus"] for goal in old_goals} == {"cancelled"}
    assert find_open_draft(hapi, record.patient).careplan["id"] == new.careplan["id"]


def test_decide__concurrent_update_gives_412_and_nothing_is_lost(hapi, record):
    saved = save_draft(hapi, draft_bundle(record.plan()))
    someone_else = {**saved.careplan, "note": [{"text": "called the patient"}]}
    hapi.update(someone_else, if_match=saved.version)
    decision = Decision(record.doctor, rejected={"a-dsmes": "already attended DSMES"})
    with pytest.raises(PlanChanged) as raised:
        decide(hapi, saved.careplan["id"], saved.version, decision, now=now_instant())
    assert raised.value.changes == ["notes were added or removed"]
    current = hapi.read("CarePlan", saved.careplan["id"])
    assert current["status"] == "draft" and current["note"] == [{"text": "called the patient"}]
    # The clinician's decision is intact and applies to the version they now see.
    approved = decide(hapi, saved.careplan["id"], current["meta"]["versionId"], decision, now=now_instant(),
                      organization=record.organization)
    assert approved["status"] == "active"
    assert [a["detail"]["status"] for a in approved["activity"]] == ["not-started", "cancelled"]
    assert approved["activity"][1]["detail"]["statusReason"] == {"text": "already attended DSMES"}
    assert [n["text"] for n in approved["note"]] == ["called the patient", "Plan approved"]
    goals = [hapi.read("Goal", ref["reference"].split("/")[-1]) for ref in approved["goal"]]
    assert {g["lifecycleStatus"] for g in goals} == {"accepted"}
    verifications = [p for p in hapi.search("Provenance", {"target": f"CarePlan/{saved.careplan['id']}"})
                     if p["agent"][0]["type"]["coding"][0]["code"] == "verifier"]
    assert [p["agent"][0]["who"]["reference"] for p in verifications] == [record.doctor]
    assert verifications[0]["agent"][0]["onBehalfOf"]["reference"] == record.organization["reference"]
    check_us_core_careplan(approved)
    check_us_core_provenance(verifications[0])
    for resource in [approved, *verifications]:
        assert _errors(hapi, resource) == [], resource["resourceType"]


def test_decide__reject_whole_plan_revokes_with_reason(hapi, record):
    saved = save_draft(hapi, draft_bundle(record.plan()))
    rejected = decide(hapi, saved.careplan["id"], saved.version,
                      Decision(record.doctor, reject_plan_reason="patient moving to another practice"),
                      now=now_instant())
    assert rejected["status"] == "revoked"
    assert rejected["note"][-1]["text"] == "Plan rejected: patient moving to another practice"
    goals = [hapi.read("Goal", ref["reference"].split("/")[-1]) for ref in rejected["goal"]]
    assert {g["lifecycleStatus"] for g in goals} == {"rejected"}
    assert find_open_draft(hapi, record.patient) is None
