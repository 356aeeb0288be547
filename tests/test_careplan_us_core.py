"""What carepath writes, element by element, against the US Core 7.0.0 profiles it must meet.

HAPI's ``$validate`` here knows base R4 only (tests/test_careplan_hapi.py), so the US Core rules are checked
here, each check naming the profile element or invariant it enforces:

- US Core CarePlan Profile 7.0.0 (http://hl7.org/fhir/us/core/StructureDefinition/us-core-careplan)
- US Core Goal Profile 7.0.0 (http://hl7.org/fhir/us/core/StructureDefinition/us-core-goal)
- US Core Provenance Profile 7.0.0 (http://hl7.org/fhir/us/core/StructureDefinition/us-core-provenance)

The resources checked are the real ones: the draft Bundle built from a plan, the CarePlan, Goals and
Provenance an approval sends, and those a rejection sends.
"""

from __future__ import annotations

import copy
import json
import re
from typing import Any

import pytest
import responses

from app import create_app
from app.careplan import Edits, draft_bundle
from app.careplan.approval import Decision, decide
from app.careplan.export import fhir_json
from app.careplan.marker import mark
from app.careplan.organization import acting_organization, configured_organization, organization_of_role
from app.cli import main
from app.errors import ConfigError
from app.fhir import FhirClient
from tests.careplan_sample import sample_plan
from tests.conftest import SYNTHEA

BASE = "http://fhir.test/r4"
NOW = "2020-06-01T10:00:00Z"
ORGANIZATION = {"reference": "Organization/clinic-1", "display": "Riverside Family Medicine"}
CLINICIAN = "Practitioner/dr1"
DIABETIC = "Dirk_Kuhlman_1e503533-b8c2-42cb-a6d5-bbd7d70d07ad.json"

#: Code lists of the required bindings the profiles keep from base R4.
NARRATIVE_STATUS = {"generated", "extensions", "additional", "empty"}  # us-core-narrative-status
REQUEST_STATUS = {"draft", "active", "on-hold", "revoked", "completed", "entered-in-error", "unknown"}
CAREPLAN_INTENT = {"proposal", "plan", "order", "option"}
GOAL_STATUS = {"proposed", "planned", "accepted", "active", "on-hold", "completed", "cancelled",
               "entered-in-error", "rejected"}
ASSESS_PLAN = {"system": "http://hl7.org/fhir/us/core/CodeSystem/careplan-category", "code": "assess-plan"}
PARTICIPANT = "http://terminology.hl7.org/CodeSystem/provenance-participant-type"
US_CORE_PARTICIPANT = "http://hl7.org/fhir/us/core/CodeSystem/us-core-provenance-participant-type"
DATE = re.compile(r"^\d{4}(-\d{2}(-\d{2})?)?$")
INSTANT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
PATIENT_REFERENCE = re.compile(r"^Patient/[A-Za-z0-9\-.]{1,64}$")


# -- the checks, one function per profile ------------------------------------------------------------------

def check_us_core_careplan(careplan: dict[str, Any]) -> None:
    """US Core CarePlan Profile 7.0.0: the mandatory elements and the AssessPlan slice."""
    # CarePlan.text 1..1 MS, CarePlan.text.status 1..1 (required binding: us-core-narrative-status),
    # CarePlan.text.div 1..1 (base Narrative: an XHTML div).
    assert careplan["text"]["status"] in NARRATIVE_STATUS
    assert careplan["text"]["div"].startswith('<div xmlns="http://www.w3.org/1999/xhtml"')
    # CarePlan.status 1..1 MS, required binding request-status.
    assert careplan["status"] in REQUEST_STATUS
    # CarePlan.intent 1..1 MS, required binding care-plan-intent.
    assert careplan["intent"] in CAREPLAN_INTENT
    # CarePlan.category 1..* MS, sliced by pattern; CarePlan.category:AssessPlan 1..1 with the pattern
    # {system careplan-category, code assess-plan}.
    assess_plan = [category for category in careplan["category"]
                   if any(ASSESS_PLAN.items() <= coding.items() for coding in category.get("coding", []))]
    assert len(assess_plan) == 1
    # CarePlan.subject 1..1 MS, Reference(US Core Patient).
    assert PATIENT_REFERENCE.match(careplan["subject"]["reference"])
    # Base R4: a Coding names its system and code, or the concept is text only.
    for activity in careplan.get("activity", []):
        for coding in activity.get("detail", {}).get("code", {}).get("coding", []):
            assert coding.get("system") and coding.get("code"), coding


def check_us_core_goal(goal: dict[str, Any]) -> None:
    """US Core Goal Profile 7.0.0: the mandatory elements, and the must-support dates in the right type."""
    # Goal.lifecycleStatus 1..1 MS, required binding goal-status.
    assert goal["lifecycleStatus"] in GOAL_STATUS
    # Goal.description 1..1 MS (extensible binding us-core-goal-description: text when no code fits).
    assert goal["description"].get("text") or goal["description"].get("coding")
    # Goal.subject 1..1 MS, must-support type Reference(US Core Patient).
    assert PATIENT_REFERENCE.match(goal["subject"]["reference"])
    # Goal.start[x] MS, must-support type date.
    assert DATE.match(goal["startDate"])
    assert "startCodeableConcept" not in goal
    # Goal.target MS; Goal.target.due[x] MS, must-support type date.
    assert goal["target"]
    for target in goal["target"]:
        assert DATE.match(target["dueDate"])
        assert "dueDuration" not in target
        # Base R4 gol-1: Goal.target.measure is required if Goal.target.detail[x] is populated.
        if any(key.startswith("detail") for key in target):
            assert target.get("measure")


def check_us_core_provenance(provenance: dict[str, Any]) -> None:
    """US Core Provenance Profile 7.0.0: target, recorded, the agent slices and ``provenance-1``."""
    # Provenance.target 1..* MS; Provenance.target.reference MS.
    assert provenance["target"] and all(target.get("reference") for target in provenance["target"])
    # Provenance.recorded 1..1 MS, an instant.
    assert INSTANT.match(provenance["recorded"])
    # Provenance.agent 1..* MS.
    assert provenance["agent"]
    for agent in provenance["agent"]:
        # Provenance.agent.type MS, extensible binding us-core-provenance-participant-type (the codes of
        # provenance-participant-type and the US Core transmitter code).
        codings = agent["type"]["coding"]
        assert codings and all(c["system"] in (PARTICIPANT, US_CORE_PARTICIPANT) and c["code"] for c in codings)
        # Provenance.agent.who 1..1 MS.
        assert agent["who"].get("reference") or agent["who"].get("identifier")
        # provenance-1: onBehalfOf SHALL be present when Provenance.agent.who is a Practitioner or Device.
        if _type_of(agent["who"]) in ("Practitioner", "Device"):
            assert "onBehalfOf" in agent, f"provenance-1: {agent['who']} has no onBehalfOf"
        # Provenance.agent.onBehalfOf MS, Reference(US Core Organization).
        if "onBehalfOf" in agent:
            assert _type_of(agent["onBehalfOf"]) == "Organization"


def author_agents(provenance: dict[str, Any]) -> list[dict[str, Any]]:
    """Provenance.agent:ProvenanceAuthor: type with the pattern {provenance-participant-type, author}."""
    return [agent for agent in provenance["agent"]
            if any(c.get("system") == PARTICIPANT and c.get("code") == "author" for c in agent["type"]["coding"])]


def _type_of(reference: dict[str, Any]) -> str | None:
    if reference.get("reference"):
        return reference["reference"].split("/_history")[0].rstrip("/").split("/")[-2]
    return reference.get("type")


def _resources(bundle: dict[str, Any], resource_type: str) -> list[dict[str, Any]]:
    return [entry["resource"] for entry in bundle["entry"] if entry["resource"]["resourceType"] == resource_type]


def _plan_with_a_named_only_activity() -> dict[str, Any]:
    """The sample plan plus an activity whose pack concept has a name but no code (as some packs have)."""
    plan = sample_plan()
    plan["activities"].append({
        "id": "a-lifestyle", "area": "Type 2 diabetes", "area_id": "t2d", "kind": "education",
        "code": {"display": "Heart-healthy lifestyle"}, "description": "Heart-healthy eating and activity",
        "goal_ids": ["g-hba1c"], "clinician_choice": True})
    return plan


# -- the draft Bundle --------------------------------------------------------------------------------------

@pytest.fixture
def draft():
    edits = Edits(deselected=frozenset({"a-dsmes"}), note="discussed with patient", author=CLINICIAN)
    return draft_bundle(_plan_with_a_named_only_activity(), edits, now=NOW, organization=ORGANIZATION)


def test_draft_careplan__meets_us_core_careplan(draft):
    (careplan,) = _resources(draft, "CarePlan")
    check_us_core_careplan(careplan)
    assert careplan["status"] == "draft" and careplan["intent"] == "plan"


def test_draft_careplan__a_concept_without_code_is_text_not_an_empty_coding(draft):
    (careplan,) = _resources(draft, "CarePlan")
    lifestyle = next(a for a in careplan["activity"] if a["detail"]["description"].startswith("Heart-healthy"))
    assert lifestyle["detail"]["code"] == {"text": "Heart-healthy lifestyle"}


def test_draft_goals__meet_us_core_goal(draft):
    goals = _resources(draft, "Goal")
    assert len(goals) == 2
    for goal in goals:
        check_us_core_goal(goal)
        assert goal["lifecycleStatus"] == "proposed"


def test_draft_provenance__meets_us_core_provenance(draft):
    (provenance,) = _resources(draft, "Provenance")
    check_us_core_provenance(provenance)
    # Provenance.target: the CarePlan and every Goal of the draft (bundle-local urn:uuid, resolved on save).
    written = {entry["fullUrl"] for entry in draft["entry"] if entry["resource"]["resourceType"] != "Provenance"}
    assert {target["reference"] for target in provenance["target"]} == written


def test_draft_provenance__carepath_is_the_author_device_on_behalf_of_the_organization(draft):
    (provenance,) = _resources(draft, "Provenance")
    (author,) = author_agents(provenance)  # Provenance.agent:ProvenanceAuthor
    assert _type_of(author["who"]) == "Device"
    assert author["onBehalfOf"] == ORGANIZATION  # provenance-1 for a Device agent


def test_draft_provenance__the_editing_clinician_acts_on_behalf_of_the_organization(draft):
    (provenance,) = _resources(draft, "Provenance")
    (enterer,) = [agent for agent in provenance["agent"] if agent["type"]["coding"][0]["code"] == "enterer"]
    assert enterer["who"] == {"reference": CLINICIAN}
    assert enterer["onBehalfOf"] == ORGANIZATION  # provenance-1 for a Practitioner agent


def test_draft_provenance__without_an_organization_none_is_made_up():
    """No organization known: onBehalfOf is left out (not invented), so provenance-1 is not met."""
    (provenance,) = _resources(draft_bundle(sample_plan(), now=NOW), "Provenance")
    assert all("onBehalfOf" not in agent for agent in provenance["agent"])
    with pytest.raises(AssertionError, match="provenance-1"):
        check_us_core_provenance(provenance)


def test_draft_bundle__claims_no_profile_that_cannot_be_checked_here(draft):
    """meta.profile is left out: HAPI's $validate rejects an unknown US Core profile with an error."""
    assert all("profile" not in entry["resource"].get("meta", {}) for entry in draft["entry"])


def test_fhir_json__the_dry_run_carries_the_organization():
    bundle = json.loads(fhir_json(sample_plan(), now=NOW, organization=ORGANIZATION))
    (provenance,) = _resources(bundle, "Provenance")
    check_us_core_provenance(provenance)


# -- approval and rejection ---------------------------------------------------------------------------------

def _saved(bundle: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The draft's CarePlan and Goals as the server would hold them: ids given, urn references resolved."""
    ids = {}
    goals = []
    for number, entry in enumerate(e for e in bundle["entry"] if e["resource"]["resourceType"] == "Goal"):
        goal = {**copy.deepcopy(entry["resource"]), "id": f"g{number}"}
        goal["meta"] = {**goal["meta"], "versionId": "1"}
        ids[entry["fullUrl"]] = f"Goal/g{number}"
        goals.append(goal)
    (careplan,) = copy.deepcopy(_resources(bundle, "CarePlan"))
    careplan = json.loads(json.dumps(careplan), object_hook=lambda d: {
        k: ids.get(v, v) if isinstance(v, str) else v for k, v in d.items()})
    careplan.update(id="30", meta={**careplan["meta"], "versionId": "1"})
    return careplan, goals


REQUEST_ID = "5" * 32


def _decide(decision: Decision, organization: dict[str, Any] | None) -> list[dict[str, Any]]:
    careplan, goals = _saved(draft_bundle(_plan_with_a_named_only_activity(), now=NOW,
                                          organization=organization))
    fhir = FhirClient(BASE, retries=0, sleep=lambda _s: None)
    with responses.RequestsMock() as mock:
        mock.get(f"{BASE}/CarePlan/30/_history/1", json=careplan)
        for goal in goals:
            mock.get(f"{BASE}/Goal/{goal['id']}", json=goal)
        mock.post(BASE, json={"resourceType": "Bundle", "type": "transaction-response", "entry": []})
        mock.get(f"{BASE}/CarePlan/30", json=mark(careplan, REQUEST_ID, author=CLINICIAN, now=NOW))
        decide(fhir, "30", "1", decision, now="2020-06-02T09:00:00Z", organization=organization,
               request_id=REQUEST_ID)
        sent = next(call for call in mock.calls if call.request.method == "POST")
    return [entry["resource"] for entry in json.loads(sent.request.body)["entry"]]


@pytest.mark.parametrize(("decision", "careplan_status", "goal_status"), [
    (Decision(CLINICIAN, rejected={"a-dsmes": "patient declined"}), "active", "accepted"),
    (Decision(CLINICIAN, reject_plan_reason="wrong patient context"), "revoked", "rejected"),
])
def test_decide__what_approval_and_rejection_send_meets_us_core(decision, careplan_status, goal_status):
    sent = _decide(decision, ORGANIZATION)
    (careplan,) = [r for r in sent if r["resourceType"] == "CarePlan"]
    goals = [r for r in sent if r["resourceType"] == "Goal"]
    (provenance,) = [r for r in sent if r["resourceType"] == "Provenance"]
    check_us_core_careplan(careplan)
    assert careplan["status"] == careplan_status
    for goal in goals:
        check_us_core_goal(goal)
        assert goal["lifecycleStatus"] == goal_status
    check_us_core_provenance(provenance)
    (verifier,) = provenance["agent"]
    assert verifier["type"]["coding"][0] == {"system": PARTICIPANT, "code": "verifier", "display": "Verifier"}
    assert verifier["who"] == {"reference": CLINICIAN}
    assert verifier["onBehalfOf"] == ORGANIZATION  # provenance-1 for the Practitioner verifier
    assert {t["reference"] for t in provenance["target"]} == {"CarePlan/30", *(f"Goal/{g['id']}" for g in goals)}


def test_decide__without_an_organization_the_verifier_has_no_made_up_one():
    sent = _decide(Decision(CLINICIAN), None)
    (provenance,) = [r for r in sent if r["resourceType"] == "Provenance"]
    assert "onBehalfOf" not in provenance["agent"][0]


# -- where the organization comes from ------------------------------------------------------------------------

def test_configured_organization__reference_and_display():
    assert configured_organization(" Organization/clinic-1 ", "Riverside Family Medicine") == ORGANIZATION
    assert configured_organization("https://ehr.test/fhir/Organization/9") == {
        "reference": "https://ehr.test/fhir/Organization/9"}
    assert configured_organization("") is None


@pytest.mark.parametrize("reference", ["Practitioner/dr1", "clinic-1", "Organization/", "Organization/a b"])
def test_create_app__refuses_an_organization_setting_that_names_no_organization(reference):
    with pytest.raises(ConfigError, match="ORGANIZATION_REFERENCE"):
        create_app({"TESTING": True, "ORGANIZATION_REFERENCE": reference})


@responses.activate
def test_acting_organization__the_setting_wins_and_reads_nothing():
    fhir = FhirClient(BASE, retries=0, sleep=lambda _s: None)
    settings = {"ORGANIZATION_REFERENCE": "Organization/clinic-1", "ORGANIZATION_DISPLAY": "Riverside Family Medicine"}
    assert acting_organization(settings, fhir, "PractitionerRole/r1") == ORGANIZATION
    assert len(responses.calls) == 0


@responses.activate
def test_acting_organization__else_the_launching_practitioner_roles_organization():
    responses.get(f"{BASE}/PractitionerRole/r1", json={
        "resourceType": "PractitionerRole", "id": "r1", "practitioner": {"reference": "Practitioner/dr1"},
        "organization": {"reference": "Organization/clinic-2", "display": "Hillside Clinic"}})
    fhir = FhirClient(BASE, retries=0, sleep=lambda _s: None)
    assert acting_organization({"ORGANIZATION_REFERENCE": ""}, fhir, f"{BASE}/PractitionerRole/r1") == {
        "reference": "Organization/clinic-2", "display": "Hillside Clinic"}


@responses.activate
@pytest.mark.parametrize(("fhir_user", "status"), [("PractitionerRole/r1", 403), ("PractitionerRole/r1", 404),
                                                    (CLINICIAN, None), (None, None)])
def test_organization_of_role__none_when_not_a_readable_role(fhir_user, status):
    if status:
        responses.get(f"{BASE}/PractitionerRole/r1", status=status,
                      json={"resourceType": "OperationOutcome", "issue": []})
    fhir = FhirClient(BASE, retries=0, sleep=lambda _s: None)
    assert organization_of_role(fhir, fhir_user) is None
    assert len(responses.calls) == (1 if status else 0)


def test_cli_plan_fhir__the_dry_run_reads_the_organization_setting(monkeypatch, capsys):
    monkeypatch.setenv("CAREPATH_ORGANIZATION_REFERENCE", ORGANIZATION["reference"])
    monkeypatch.setenv("CAREPATH_ORGANIZATION_DISPLAY", ORGANIZATION["display"])
    assert main(["plan", str(SYNTHEA / DIABETIC), "--as-of", "2020-06-01", "--format", "fhir"]) == 0
    bundle = json.loads(capsys.readouterr().out)
    (careplan,) = _resources(bundle, "CarePlan")
    check_us_core_careplan(careplan)
    for goal in _resources(bundle, "Goal"):
        check_us_core_goal(goal)
    (provenance,) = _resources(bundle, "Provenance")
    check_us_core_provenance(provenance)
    assert {agent["onBehalfOf"]["reference"] for agent in provenance["agent"]} == {ORGANIZATION["reference"]}
