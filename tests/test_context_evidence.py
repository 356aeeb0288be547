"""End-of-life and exclusion evidence wherever the record keeps it, through the pack's published value sets.

One test per path, positive and negative: every element of a list-valued path (Encounter.type, reasonCode,
bodySite), an Observation's code with its coded answer and its status, orders (ServiceRequest, DeviceRequest:
status, intent, doNotPerform and its extensions) and orders not to do something (``not_done``), Devices,
medicines that imply a condition, kidney failure, a mastectomy recorded side by side, periods overlapping the
look-back, and a lifelong condition recorded as both active and ended (FHIR con-4). Then each
``fhir_fixtures/evidence-*.json`` patient through facts and plan, the fetch plan, a refused type and the scopes.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import responses

from app import config
from app.context import assemble, facts_from_bundle, facts_from_resources, requirements_from_library
from app.context.clinical import concepts_at
from app.context.fetch import plan
from app.engine import build_plan, load_pack_set
from app.errors import PackError
from app.smart.scopes import GrantedScopes, requested_scope
from sandbox.scopes import Granted
from tests.conftest import FIXTURES
from tests.test_context_fetch import BASE, FakeServer, client  # noqa: F401 (the FHIR client fixture)

AS_OF = "2025-01-03"
SCT, LOINC, ICD, CPT, RX = ("http://snomed.info/sct", "http://loinc.org", "http://hl7.org/fhir/sid/icd-10-cm",
                            "http://www.ama-assn.org/go/cpt", "http://www.nlm.nih.gov/research/umls/rxnorm")
ACTIVE = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}]}
RESOLVED = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "resolved"}]}
REFUTED = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-ver-status", "code": "refuted"}]}
YES = {"coding": [{"system": SCT, "code": "373066001", "display": "Yes (qualifier value)"}]}
NO = {"coding": [{"system": SCT, "code": "373067005", "display": "No (qualifier value)"}]}
R5_DO_NOT_PERFORM = "http://hl7.org/fhir/5.0/StructureDefinition/extension-DeviceRequest.doNotPerform"
R4_DO_NOT_PERFORM = "http://hl7.org/fhir/StructureDefinition/request-doNotPerform"


@pytest.fixture(scope="module")
def pack():
    return load_pack_set()


def cc(system: str, code: str, display: str = "") -> dict[str, Any]:
    return {"coding": [{"system": system, "code": code, **({"display": display} if display else {})}]}


def facts_of(pack, *resources: dict[str, Any], as_of: str = AS_OF) -> dict[str, Any]:
    """Facts of a 74-year-old woman with ``resources`` (ids filled in), through the pack's Library."""
    patient = {"resourceType": "Patient", "id": "p1", "gender": "female", "birthDate": "1950-06-01"}
    found = [patient]
    for index, resource in enumerate(resources):
        field = "patient" if resource["resourceType"] in ("AllergyIntolerance", "Device") else "subject"
        found.append({"id": f"r{index}", field: {"reference": "Patient/p1"}, **resource})
    return facts_from_resources(found, pack.requirements, as_of)


def encounter(*types: dict[str, Any], status: str = "finished", start: str = "2024-06-01T09:00:00Z",
              end: str | None = "2024-06-01T10:00:00Z", **more: Any) -> dict[str, Any]:
    period = {"start": start, **({"end": end} if end else {})}
    return {"resourceType": "Encounter", "status": status, "type": list(types), "period": period,
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"}, **more}


def observation(code: dict[str, Any], value: dict[str, Any] | None = None, status: str = "final",
                **when: Any) -> dict[str, Any]:
    return {"resourceType": "Observation", "status": status, "code": code,
            **(when or {"effectiveDateTime": "2024-06-01"}), **({"valueCodeableConcept": value} if value else {})}


def condition(code: dict[str, Any], onset: str = "2023-01-01", **more: Any) -> dict[str, Any]:
    return {"resourceType": "Condition", "clinicalStatus": ACTIVE, "code": code, "onsetDateTime": onset, **more}


def request(resource_type: str, code: dict[str, Any], status: str = "active", intent: str = "order",
            **more: Any) -> dict[str, Any]:
    field = {"MedicationRequest": "medicationCodeableConcept", "DeviceRequest": "codeCodeableConcept"}.get(
        resource_type, "code")
    return {"resourceType": resource_type, "status": status, "intent": intent, field: code,
            "authoredOn": "2024-06-01", **more}


HOSPICE_ADMISSION = cc(SCT, "183921001", "Admission to hospice for respite")
CHECK_UP = cc(SCT, "185349003", "Encounter for check up")
HOSPICE_CARE = cc(SCT, "385763009", "Hospice care (regime/therapy)")
WHEELCHAIR = cc(SCT, "183240000", "Self-propelled wheelchair")
ROSUVASTATIN = cc(RX, "2167565", "rosuvastatin 20 MG Oral Capsule")
CONTRAINDICATED = cc(SCT, "183932001", "Procedure contraindicated (situation)")


# --- every element of a list-valued path ----------------------------------------------------------------------


def test_concepts_at__reads_every_element_of_a_list_and_a_choice_by_its_codeable_concept():
    resource = {"type": [CHECK_UP, HOSPICE_ADMISSION], "valueCodeableConcept": YES,
                "hospitalization": {"dischargeDisposition": HOSPICE_CARE}}
    assert concepts_at(resource, "type") == [CHECK_UP, HOSPICE_ADMISSION]
    assert concepts_at(resource, "value") == [YES]
    assert concepts_at(resource, "hospitalization.dischargeDisposition") == [HOSPICE_CARE]
    assert concepts_at(resource, "reasonCode") == [] and concepts_at({"type": "text"}, "type") == []


def test_encounter_type__a_hospice_type_second_in_the_list_counts(pack):
    found = facts_of(pack, encounter(CHECK_UP, HOSPICE_ADMISSION))["procedures"]
    assert found["palliative_or_hospice_care"]["code"] == "183921001"
    assert found["palliative_or_hospice_care"]["source"] == "Encounter"


def test_encounter_type__other_types_or_a_cancelled_encounter_do_not_count(pack):
    assert "palliative_or_hospice_care" not in facts_of(pack, encounter(CHECK_UP))["procedures"]
    cancelled = encounter(CHECK_UP, HOSPICE_ADMISSION, status="cancelled")
    assert "palliative_or_hospice_care" not in facts_of(pack, cancelled)["procedures"]


def test_encounter_reason__a_palliative_care_reason_among_others_counts(pack):
    visit = encounter(CHECK_UP, reasonCode=[cc(ICD, "R53.83"), cc(ICD, "Z51.5", "Encounter for palliative care")])
    assert facts_of(pack, visit)["procedures"]["palliative_or_hospice_care"]["code"] == "Z51.5"
    other = encounter(CHECK_UP, reasonCode=[cc(ICD, "R53.83", "Other fatigue")])
    assert "palliative_or_hospice_care" not in facts_of(pack, other)["procedures"]


# --- an Observation's code and coded answer, and its status ---------------------------------------------------

MDS = cc(LOINC, "45755-6", "Hospice care [Minimum Data Set]")
FACIT_PAL = cc(LOINC, "71007-9", "FACIT-Pal")
EQUIPMENT = cc(LOINC, "98181-1", "Medical equipment used")


@pytest.mark.parametrize("status", ["final", "amended", "corrected"])
def test_observation_answer__hospice_assessment_answered_yes_counts_with_its_answer(pack, status):
    entry = facts_of(pack, observation(MDS, YES, status))["procedures"]["palliative_or_hospice_care"]
    assert entry["code"] == "45755-6" and entry["answer"]["code"] == "373066001" and entry["withinLookback"]


@pytest.mark.parametrize(("value", "status"), [(NO, "final"), (None, "final"), (YES, "preliminary"),
                                               (YES, "entered-in-error"), (YES, "cancelled")])
def test_observation_answer__another_answer_none_or_a_status_not_final_does_not_count(pack, value, status):
    assert "palliative_or_hospice_care" not in facts_of(pack, observation(MDS, value, status))["procedures"]


def test_observation__a_palliative_questionnaire_counts_whatever_its_answer(pack):
    assert facts_of(pack, observation(FACIT_PAL))["procedures"]["palliative_or_hospice_care"]["code"] == "71007-9"
    assert "palliative_or_hospice_care" not in facts_of(pack, observation(FACIT_PAL, status="preliminary"))[
        "procedures"]


def test_observation_answer__equipment_used_is_frailty_only_with_a_frailty_device(pack):
    used = facts_of(pack, observation(EQUIPMENT, cc(SCT, "262177002", "Static oxygen cylinder")))
    assert used["procedures"]["frailty_finding"]["answer"]["code"] == "262177002"
    other = facts_of(pack, observation(EQUIPMENT, cc(SCT, "46181006", "Hearing aid")))
    assert "frailty_finding" not in other["procedures"]


def test_housing_status__the_latest_answer_is_the_status(pack):
    housing = cc(LOINC, "71802-3", "Housing status")
    nursing_home = observation(housing, cc(SCT, "160734000", "Lives in a nursing home"), effectiveDateTime="2024-02-01")
    own_home = observation(housing, cc(SCT, "160943002", "Lives in own home"), effectiveDateTime="2024-09-01")
    assert facts_of(pack, nursing_home)["measures"]["housing_status"]["valueCode"]["code"] == "160734000"
    assert facts_of(pack, nursing_home, own_home)["measures"]["housing_status"]["valueCode"]["code"] == "160943002"


def _library(*requirements: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "Library", "url": "http://example.org/Library/t", "dataRequirement": list(requirements)}


def _entry(resource_type: str, key: str, filters: list[tuple[str, str, str]], **flags: Any) -> dict[str, Any]:
    extension = [{"url": "http://carepath.dev/fhir/StructureDefinition/fact-key", "valueCode": key}]
    for name, value in flags.items():
        kind = "valueCode" if isinstance(value, str) else "valueBoolean"
        extension.append({"url": f"http://carepath.dev/fhir/StructureDefinition/{name}", kind: value})
    return {"type": resource_type, "extension": extension, "codeFilter": [
        {"path": path, "code": [{"system": system, "code": code}]} for path, system, code in filters]}


def test_library__a_coded_answer_is_read_for_event_keys_only_and_with_a_code_filter():
    housing = [("code", LOINC, "71802-3"), ("value", SCT, "160734000")]
    [requirement] = requirements_from_library(_library(_entry("Observation", "nursing_home", housing,
                                                              **{"fact-event": True})))
    assert requirement.event and len(requirement.criteria) == 1 and not requirement.concepts
    assert requirement.codes == (("http://loinc.org", "71802-3"),)  # the answer is no search code
    with pytest.raises(PackError, match="coded answer"):
        requirements_from_library(_library(_entry("Observation", "nursing_home", housing)))
    with pytest.raises(PackError, match="need a codeFilter on 'code'"):
        requirements_from_library(_library(_entry("Observation", "x", [("value", SCT, "160734000")] * 2,
                                                  **{"fact-event": True})))
    with pytest.raises(PackError, match="fact-not-done"):
        requirements_from_library(_library(_entry("Condition", "x", [("code", SCT, "1")], **{"fact-not-done": True})))


def test_library__an_answer_filter_from_the_library_feeds_the_key_only_with_that_answer():
    housing = [("code", LOINC, "71802-3"), ("value", SCT, "160734000")]
    requirements = requirements_from_library(_library(_entry("Observation", "nursing_home", housing,
                                                             **{"fact-event": True})))
    home = observation(cc(LOINC, "71802-3"), cc(SCT, "160734000", "Lives in a nursing home"))
    own = observation(cc(LOINC, "71802-3"), cc(SCT, "160943002", "Lives in own home"))
    patient = {"resourceType": "Patient", "id": "p1", "birthDate": "1950-01-01"}
    assert "nursing_home" in facts_from_resources([patient, {"id": "o", **home}], requirements, AS_OF)["procedures"]
    assert "nursing_home" not in facts_from_resources([patient, {"id": "o", **own}], requirements, AS_OF)[
        "procedures"]


# --- orders: status, intent, doNotPerform ----------------------------------------------------------------------


@pytest.mark.parametrize("status", ["active", "completed"])
def test_service_request__an_order_for_hospice_counts(pack, status):
    entry = facts_of(pack, request("ServiceRequest", HOSPICE_CARE, status))["procedures"]["palliative_or_hospice_care"]
    assert entry["source"] == "ServiceRequest" and entry["date"] == "2024-06-01"


@pytest.mark.parametrize(("status", "intent", "more"), [
    ("draft", "order", {}), ("revoked", "order", {}), ("entered-in-error", "order", {}), ("on-hold", "order", {}),
    ("active", "proposal", {}), ("active", "plan", {}), ("active", "order", {"doNotPerform": True})])
def test_service_request__a_draft_revoked_proposed_or_do_not_perform_request_does_not_count(pack, status, intent,
                                                                                            more):
    facts = facts_of(pack, request("ServiceRequest", HOSPICE_CARE, status, intent, **more))
    assert "palliative_or_hospice_care" not in facts["procedures"]


@pytest.mark.parametrize("status", ["active", "completed"])
def test_device_request__a_frailty_device_order_counts(pack, status):
    entry = facts_of(pack, request("DeviceRequest", WHEELCHAIR, status))["procedures"]["frailty_finding"]
    assert entry["source"] == "DeviceRequest" and entry["code"] == "183240000"


@pytest.mark.parametrize("more", [
    {"modifierExtension": [{"url": R5_DO_NOT_PERFORM, "valueBoolean": True}]},
    {"modifierExtension": [{"url": R4_DO_NOT_PERFORM, "valueBoolean": True}]},
    {"extension": [{"url": R4_DO_NOT_PERFORM, "valueBoolean": True}]},
    {"status": "draft"}, {"status": "revoked"}, {"status": "entered-in-error"}, {"intent": "proposal"}])
def test_device_request__not_to_perform_a_draft_or_a_proposal_does_not_count(pack, more):
    facts = facts_of(pack, {**request("DeviceRequest", WHEELCHAIR), **more})
    assert "frailty_finding" not in facts["procedures"]


def test_device_request__a_do_not_perform_extension_set_to_false_still_counts(pack):
    order = {**request("DeviceRequest", WHEELCHAIR), "modifierExtension": [{"url": R5_DO_NOT_PERFORM,
                                                                            "valueBoolean": False}]}
    assert "frailty_finding" in facts_of(pack, order)["procedures"]


# --- orders not to do something: not_done ---------------------------------------------------------------------


@pytest.mark.parametrize("status", ["completed", "active", "on-hold"])
def test_not_done__an_order_not_to_prescribe_a_statin_is_not_done_with_its_reason_never_a_statin(pack, status):
    refusal = request("MedicationRequest", ROSUVASTATIN, status, doNotPerform=True, reasonCode=[CONTRAINDICATED])
    facts = facts_of(pack, refusal)
    assert facts["not_done"]["statin"] == {
        "display": "rosuvastatin 20 MG Oral Capsule", "date": "2024-06-01", "refs": [
            {"type": "MedicationRequest", "id": "r0", "version": None}],
        "reasons": [{"code": "183932001", "system": SCT, "display": "Procedure contraindicated (situation)"}]}
    assert "statin" not in facts["medications"] and "statin" not in facts["prescribed"]


@pytest.mark.parametrize("more", [{"status": "cancelled"}, {"status": "entered-in-error"}, {"status": "draft"},
                                  {"status": "stopped"}, {"intent": "proposal"}, {"doNotPerform": False}])
def test_not_done__a_withdrawn_erroneous_or_positive_order_is_no_refusal(pack, more):
    facts = facts_of(pack, {**request("MedicationRequest", ROSUVASTATIN, "completed", doNotPerform=True), **more})
    assert "statin" not in facts["not_done"]


def test_not_done__a_service_request_not_to_start_a_statin_with_qicore_reason(pack):
    reason = {"url": "http://hl7.org/fhir/us/qicore/StructureDefinition/qicore-doNotPerformReason",
              "valueCodeableConcept": CONTRAINDICATED}
    facts = facts_of(pack, request("ServiceRequest", ROSUVASTATIN, doNotPerform=True, extension=[reason]))
    assert facts["not_done"]["statin"]["reasons"][0]["code"] == "183932001"
    assert "statin" not in facts["procedures"]


def test_not_done__the_latest_refusal_is_kept(pack):
    older = request("MedicationRequest", ROSUVASTATIN, "completed", doNotPerform=True, authoredOn="2022-01-01")
    newer = request("MedicationRequest", ROSUVASTATIN, "completed", doNotPerform=True)
    assert facts_of(pack, older, newer)["not_done"]["statin"]["date"] == "2024-06-01"


def test_medication__a_statin_order_counts_a_proposal_does_not(pack):
    assert "statin" in facts_of(pack, request("MedicationRequest", ROSUVASTATIN))["medications"]
    proposed = facts_of(pack, request("MedicationRequest", ROSUVASTATIN, intent="proposal"))
    assert "statin" not in proposed["medications"] and "statin" not in proposed["not_done"]


# --- devices, medicines that imply a condition -----------------------------------------------------------------


def test_device__an_active_frailty_device_is_frailty_an_inactive_one_is_not(pack):
    device = {"resourceType": "Device", "status": "active", "type": WHEELCHAIR}
    assert facts_of(pack, device)["conditions"]["frailty"]["source"] == "Device"
    assert "frailty" not in facts_of(pack, {**device, "status": "inactive"})["conditions"]


def test_implied__a_dementia_medicine_is_evidence_of_advanced_illness(pack):
    facts = facts_of(pack, request("MedicationRequest", cc(RX, "312836", "rivastigmine 6 MG Oral Capsule")))
    assert facts["medications"]["dementia_medication"][0]["code"] == "312836"
    entry = facts["conditions"]["advanced_illness"]
    assert entry["source"] == "MedicationRequest" and entry["impliedBy"] == "dementia_medication"


def test_implied__a_stopped_dementia_medicine_implies_nothing_and_a_diagnosis_comes_first(pack):
    stopped = request("MedicationRequest", cc(RX, "312836", "rivastigmine 6 MG Oral Capsule"), "stopped")
    assert "advanced_illness" not in facts_of(pack, stopped)["conditions"]
    both = facts_of(pack, request("MedicationRequest", cc(RX, "312836", "rivastigmine 6 MG Oral Capsule")),
                    condition(cc(ICD, "G30.9", "Alzheimer's disease, unspecified")))
    assert both["conditions"]["advanced_illness"]["refs"][0]["type"] == "Condition"


# --- kidney failure ------------------------------------------------------------------------------------------

HEMODIALYSIS = cc(SCT, "302497006", "Hemodialysis")


@pytest.mark.parametrize("resource", [
    {"resourceType": "Procedure", "status": "completed", "code": HEMODIALYSIS, "performedDateTime": "2024-05-01"},
    encounter(cc(CPT, "90999", "Unlisted dialysis procedure")),
    encounter(cc(CPT, "90960", "ESRD related services monthly")),
    request("ServiceRequest", HEMODIALYSIS)])
def test_dialysis__a_procedure_encounter_or_order_counts(pack, resource):
    assert "dialysis" in facts_of(pack, resource)["procedures"]


def test_dialysis__a_procedure_not_done_or_another_code_does_not_count(pack):
    stopped = {"resourceType": "Procedure", "status": "not-done", "code": HEMODIALYSIS,
               "performedDateTime": "2024-05-01"}
    assert "dialysis" not in facts_of(pack, stopped)["procedures"]
    assert "dialysis" not in facts_of(pack, encounter(CHECK_UP))["procedures"]


def test_kidney_transplant__recipient_condition_and_procedure(pack):
    facts = facts_of(pack, condition(cc(ICD, "Z94.0", "Kidney transplant status")),
                     {"resourceType": "Procedure", "status": "completed", "performedDateTime": "2019-03-30",
                      "code": cc(SCT, "711411006", "Allotransplantation of kidney from beating heart cadaver")})
    assert facts["conditions"]["kidney_transplant"]["code"] == "Z94.0"
    assert facts["procedures"]["kidney_transplant"]["date"] == "2019-03-30"
    refuted = facts_of(pack, condition(cc(ICD, "Z94.0"), verificationStatus=REFUTED))
    assert "kidney_transplant" not in refuted["conditions"]


def test_esrd__end_stage_and_stage_5_count_stage_4_does_not(pack):
    assert "esrd" in facts_of(pack, condition(cc(ICD, "N18.6", "End stage renal disease")))["conditions"]
    assert "esrd" in facts_of(pack, condition(cc(ICD, "N18.5", "Chronic kidney disease, stage 5")))["conditions"]
    stage4 = facts_of(pack, condition(cc(ICD, "N18.4", "Chronic kidney disease, stage 4")))["conditions"]
    assert "esrd" not in stage4 and "ckd" in stage4


# --- statin exceptions ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("key", "code"), [
    ("liver_disease", cc(ICD, "K74.60", "Unspecified cirrhosis of liver")),
    ("liver_disease", cc(ICD, "B18.1", "Chronic viral hepatitis B without delta-agent")),
    ("breastfeeding", cc(SCT, "866041003", "Mother currently breastfeeding"))])
def test_statin_exceptions__active_counts_resolved_does_not(pack, key, code):
    assert key in facts_of(pack, condition(code))["conditions"]
    resolved = condition(code, clinicalStatus=RESOLVED, abatementDateTime="2024-01-01")
    assert key not in facts_of(pack, resolved)["conditions"]


@pytest.mark.parametrize(("key", "code"), [
    ("statin_muscle_symptoms", cc(ICD, "G72.0", "Drug-induced myopathy")),
    ("rhabdomyolysis", cc(SCT, "240131006", "Rhabdomyolysis"))])
def test_statin_exceptions__active_and_past_episodes_both_count(pack, key, code):
    """A past episode of muscle symptoms or rhabdomyolysis still counts (2018 ACC/AHA §5: reassess before a statin
    is started again), shown as history; a refuted one does not."""
    assert facts_of(pack, condition(code))["conditions"][key]["status"] == "active"
    resolved = condition(code, clinicalStatus=RESOLVED, abatementDateTime="2024-01-01")
    assert facts_of(pack, resolved)["conditions"][key]["status"] == "history"
    refuted = condition(code, verificationStatus=REFUTED)
    assert key not in facts_of(pack, refuted)["conditions"]


@pytest.mark.parametrize(("key", "code"), [
    ("statin_muscle_symptoms", cc(SCT, "16462851000119106", "Myalgia caused by statin")),
    ("rhabdomyolysis", cc(SCT, "23697004", "Crush syndrome"))])
def test_statin_exceptions__a_current_episode_stops_the_start_a_past_one_leaves_it_to_the_clinician(pack, key, code):
    """From FHIR to plan: an active episode gives 'assess before a statin' and no start; the same episode resolved
    gives the statin as the clinician's choice, naming it (2018 AHA/ACC §5, recommendations 2 to 4)."""
    old_mi = condition(cc(ICD, "I25.2", "Old myocardial infarction"), "2019-03-01")
    current = build_plan(facts_of(pack, old_mi, condition(code)), pack, AS_OF)
    assert current.activity("lipid.secondary-prevention") is None
    assert current.activity("lipid.secondary-prevention.instead").title == "Assess muscle symptoms before a statin"
    past = condition(code, clinicalStatus=RESOLVED, abatementDateTime="2024-01-01")
    statin = build_plan(facts_of(pack, old_mi, past), pack, AS_OF).activity("lipid.secondary-prevention")
    assert statin.clinician_choice and "recorded in the past" in statin.rationale.text
    assert any(ref["id"] == "r1" for ref in statin.rationale.refs)  # the episode's Condition is cited


# --- a mastectomy recorded side by side ------------------------------------------------------------------------

LEFT_BY_SITE = {"resourceType": "Procedure", "status": "completed", "performedDateTime": "2016-02-11",
                "code": cc(SCT, "172043006", "Simple mastectomy"),
                "bodySite": [cc(SCT, "80248007", "Left breast structure")]}
RIGHT_BY_CODE = condition(cc(ICD, "Z90.11", "Acquired absence of right breast and nipple"), "2020-05-06")


def test_mastectomy__left_and_right_records_make_a_bilateral_mastectomy(pack):
    entry = facts_of(pack, LEFT_BY_SITE, RIGHT_BY_CODE)["conditions"]["bilateral_mastectomy"]
    assert entry["matchedBy"] == "laterality" and entry["onset"] == "2020-05-06"
    assert {r["type"] for r in entry["refs"]} == {"Procedure", "Condition"}


def test_mastectomy__right_by_body_site_too_and_the_qualifier_code(pack):
    right = {**LEFT_BY_SITE, "bodySite": [cc(SCT, "24028007", "Right (qualifier value)")]}
    assert "bilateral_mastectomy" in facts_of(pack, LEFT_BY_SITE, right)["conditions"]


@pytest.mark.parametrize("others", [
    [LEFT_BY_SITE], [RIGHT_BY_CODE], [LEFT_BY_SITE, {**LEFT_BY_SITE, "performedDateTime": "2018-01-01"}],
    [{**LEFT_BY_SITE, "bodySite": [CHECK_UP]}, RIGHT_BY_CODE],
    [{**LEFT_BY_SITE, "status": "not-done"}, RIGHT_BY_CODE],
    [LEFT_BY_SITE, {**RIGHT_BY_CODE, "verificationStatus": REFUTED}]])
def test_mastectomy__one_side_no_side_or_an_unusable_record_is_not_bilateral(pack, others):
    assert "bilateral_mastectomy" not in facts_of(pack, *others)["conditions"]


# --- dates: a period that overlaps the look-back ----------------------------------------------------------------


def test_period__an_encounter_that_began_before_the_look_back_and_ended_in_it_counts(pack):
    stay = encounter(HOSPICE_ADMISSION, start="2023-12-20T00:00:00Z", end="2024-01-05T00:00:00Z")
    entry = facts_of(pack, stay)["procedures"]["palliative_or_hospice_care"]
    assert entry["date"] == "2023-12-20" and entry["end"] == "2024-01-05" and entry["withinLookback"]


def test_period__one_that_ended_before_the_look_back_does_not(pack):
    stay = encounter(HOSPICE_ADMISSION, start="2023-11-20T00:00:00Z", end="2023-12-05T00:00:00Z")
    assert facts_of(pack, stay)["procedures"]["palliative_or_hospice_care"]["withinLookback"] is False


def test_period__an_encounter_still_in_progress_overlaps_the_evaluation_date(pack):
    stay = encounter(HOSPICE_ADMISSION, status="in-progress", start="2022-03-01T00:00:00Z", end=None)
    entry = facts_of(pack, stay)["procedures"]["palliative_or_hospice_care"]
    assert entry["ongoing"] and entry["withinLookback"] and entry["daysAgo"] == 0
    finished = encounter(HOSPICE_ADMISSION, start="2022-03-01T00:00:00Z", end=None)
    assert facts_of(pack, finished)["procedures"]["palliative_or_hospice_care"]["withinLookback"] is False


HOME_HOSPICE = cc(SCT, "428361000124107", "Discharge to home for hospice care (procedure)")


def test_discharge__to_hospice_counts_once_the_stay_has_ended(pack):
    stay = encounter(CHECK_UP, start="2024-12-20T00:00:00Z", end="2025-01-02T00:00:00Z",
                     hospitalization={"dischargeDisposition": HOME_HOSPICE})
    assert facts_of(pack, stay)["procedures"]["palliative_or_hospice_care"]["end"] == "2025-01-02"


@pytest.mark.parametrize(("end", "status"), [("2025-01-05T00:00:00Z", "finished"), (None, "in-progress")])
def test_discharge__to_hospice_after_the_evaluation_date_or_not_yet_does_not_count(pack, end, status):
    stay = encounter(CHECK_UP, start="2024-12-20T00:00:00Z", end=end, status=status,
                     hospitalization={"dischargeDisposition": HOME_HOSPICE})
    assert "palliative_or_hospice_care" not in facts_of(pack, stay)["procedures"]


def test_period__a_past_condition_that_ended_within_its_look_back_counts(pack):
    hypo = cc(ICD, "E16.2", "Hypoglycemia, unspecified")
    recent = condition(hypo, "2023-06-01", clinicalStatus=RESOLVED, abatementDateTime="2024-03-01")
    assert facts_of(pack, recent)["conditions"]["hypoglycemia"]["status"] == "history"
    old = condition(hypo, "2023-06-01", clinicalStatus=RESOLVED, abatementDateTime="2023-07-01")
    assert "hypoglycemia" not in facts_of(pack, old)["conditions"]


# --- contradictory records (FHIR con-4) ----------------------------------------------------------------------

TYPE1 = cc(SCT, "46635009", "Diabetes mellitus type 1")


def test_contradiction__a_lifelong_condition_active_with_a_past_abatement_stays_active_and_asks_to_verify(pack):
    facts = facts_of(pack, condition(TYPE1, "1995-06-01", abatementDateTime="2020-01-01"))
    assert facts["conditions"]["type1_diabetes"]["status"] == "active"
    assert "verify" in facts["conditions"]["type1_diabetes"]["conflict"]
    [quality] = facts["dataQuality"]
    assert quality["kind"] == "contradiction" and quality["date"] == "2020-01-01" and "con-4" in quality["problem"]
    plan = build_plan(facts, pack, AS_OF)
    [warning] = [w for w in plan.warnings if w["rule_id"] == "data-contradiction"]
    assert warning["severity"] == "moderate" and warning["refs"] == [quality["ref"]]


def test_contradiction__a_condition_that_is_not_lifelong_is_read_as_ended_without_a_warning(pack):
    facts = facts_of(pack, condition(cc(ICD, "I10", "Essential hypertension"), abatementDateTime="2024-01-01"))
    assert "hypertension" not in facts["conditions"]
    assert facts["dataQuality"][0]["problem"].endswith("read as ended")
    assert not [w for w in build_plan(facts, pack, AS_OF).warnings if w["rule_id"] == "data-contradiction"]


def test_contradiction__an_abatement_after_the_evaluation_date_is_no_contradiction(pack):
    facts = facts_of(pack, condition(TYPE1, "1995-06-01", abatementDateTime="2026-01-01"))
    assert "conflict" not in facts["conditions"]["type1_diabetes"] and not facts["dataQuality"]


# --- the fixtures, through facts and plan ---------------------------------------------------------------------

CANCER_SCREENING = {"screen.colorectal", "screen.breast", "screen.cervical", "screen.lung"}
FIXTURE_FACTS = {
    "hospice-encounter-type": "procedures.palliative_or_hospice_care",
    "hospice-reason": "procedures.palliative_or_hospice_care",
    "hospice-assessment": "procedures.palliative_or_hospice_care",
    "palliative-questionnaire": "procedures.palliative_or_hospice_care",
    "hospice-order": "procedures.palliative_or_hospice_care",
    "frailty-device-order": "procedures.frailty_finding",
    "frailty-equipment": "procedures.frailty_finding",
    "dementia-medication": "conditions.advanced_illness",
    "dialysis": "procedures.dialysis",
    "kidney-transplant": "procedures.kidney_transplant",
    "esrd": "conditions.esrd",
    "mastectomy-sides": "conditions.bilateral_mastectomy",
    "statin-not-done": "not_done.statin",
    "statin-exceptions": "conditions.statin_muscle_symptoms",
    "diabetes-contradiction": "conditions.type1_diabetes",
    "statin-adverse-event": "allergies.statin",
}


def _fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / f"evidence-{name}.json").read_text())


def _without_evidence(bundle: dict[str, Any]) -> dict[str, Any]:
    return {**bundle, "entry": [e for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient"]}


def test_fixtures__one_per_evidence_kind_all_checked():
    assert {p.name for p in FIXTURES.glob("evidence-*.json")} == {f"evidence-{n}.json" for n in FIXTURE_FACTS}


@pytest.mark.parametrize(("name", "path"), sorted(FIXTURE_FACTS.items()))
def test_fixture__evidence_reaches_its_fact_and_goes_without_it(pack, name, path):
    section, key = path.split(".")
    bundle = _fixture(name)
    facts = facts_from_bundle(bundle, pack.requirements, AS_OF)
    assert key in facts[section], f"{name}: {key} not in {sorted(facts[section])}"
    found = facts[section][key]
    for entry in found if isinstance(found, list) else [found]:  # allergies are lists
        assert entry["refs"] and all(r["id"].startswith(f"ev-{name}") for r in entry["refs"])
    assert key not in facts_from_bundle(_without_evidence(bundle), pack.requirements, AS_OF)[section]
    build_plan(facts, pack, AS_OF)  # the plan is built from it


@pytest.mark.parametrize("name", ["hospice-encounter-type", "hospice-reason", "hospice-assessment",
                                  "palliative-questionnaire", "hospice-order"])
def test_fixture__hospice_or_palliative_care_proposes_no_cancer_screening(pack, name):
    """Cancer screening is proposed to the same patient without the evidence, and not with it."""
    bundle = _fixture(name)
    with_care = build_plan(facts_from_bundle(bundle, pack.requirements, AS_OF), pack, AS_OF)
    without = build_plan(facts_from_bundle(_without_evidence(bundle), pack.requirements, AS_OF), pack, AS_OF)
    screening = {a.id for a in without.activities} & CANCER_SCREENING
    assert screening, f"{name}: the patient is of cancer screening age without the evidence"
    assert not screening & {a.id for a in with_care.activities}


def test_fixture__the_contradiction_is_a_plan_warning(pack):
    facts = facts_from_bundle(_fixture("diabetes-contradiction"), pack.requirements, AS_OF)
    assert [w for w in build_plan(facts, pack, AS_OF).warnings if w["rule_id"] == "data-contradiction"]


# --- fetching: the search plan, a refused type, the scope -------------------------------------------------------


def test_fetch_plan__device_requests_and_orders_not_to_do_are_searched(pack):
    searches = plan("p1", pack.requirements)
    urls = [s.url for s in searches]
    assert any(u.startswith("DeviceRequest?patient=p1&status=active,completed,on-hold") for u in urls)
    assert all("status=active,completed,on-hold" in u for u in urls if u.startswith("ServiceRequest?"))
    refusals = [u for u in urls if u.startswith("MedicationRequest?") and "status=completed,on-hold" in u]
    assert refusals and "2167565" in "".join(refusals)


def test_fetch_plan__without_device_keys_no_device_request_search():
    requirements = requirements_from_library(_library(_entry("Condition", "x", [("code", SCT, "1")])))
    assert not [s for s in plan("p1", requirements) if s.resource_type == "DeviceRequest"]


def test_fetch__a_server_refusing_device_requests_names_it_and_the_rest_is_read(pack, client):  # noqa: F811
    bundle = _fixture("frailty-device-order")
    resources = [e["resource"] for e in bundle["entry"]]
    resources.append({**request("MedicationRequest", ROSUVASTATIN, "completed", doNotPerform=True),
                      "id": "refusal", "subject": {"reference": "Patient/ev-frailty-device-order"}})
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        FakeServer(resources, forbidden={"DeviceRequest"}).install(mock)
        facts = assemble(client, "ev-frailty-device-order", pack.requirements, AS_OF)
    assert {"type": "DeviceRequest", "message": "could not see DeviceRequest: scope not granted"} in facts[
        "fetch"]["notes"]
    missing = {m["key"]: m["message"] for m in facts["missing"]}
    assert missing["frailty_finding"] == "Frailty finding unknown: could not see DeviceRequest: scope not granted"
    assert "frailty_finding" not in facts["procedures"] and facts["not_done"]["statin"]["date"] == "2024-06-01"
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        FakeServer(resources).install(mock)
        allowed = assemble(client, "ev-frailty-device-order", pack.requirements, AS_OF)
    assert allowed["procedures"]["frailty_finding"]["source"] == "DeviceRequest" and not allowed["fetch"]["notes"]


def test_scopes__device_requests_are_asked_for_and_the_sandbox_grants_them():
    settings = {name[len("SMART_"):]: getattr(config, name) for name in dir(config) if name.startswith("SMART_")}
    scope = requested_scope(settings, standalone=False)
    assert "patient/DeviceRequest.rs" in scope.split()
    assert GrantedScopes(scope).can_read("DeviceRequest") and Granted(scope).permits("DeviceRequest", "rs")
    assert not Granted(scope.replace("patient/DeviceRequest.rs", "")).permits("DeviceRequest", "rs")


# --- the engine: pack rules read the new sections ----------------------------------------------------------------


def test_engine__not_done_and_device_order_keys_are_declared_fact_paths(pack):
    from app.engine import parse

    problems: list[str] = []
    labels = parse.library_labels("Library", pack.library, problems)
    assert not problems
    assert labels["NotDone:statin"] == "Statin not to be prescribed"
    assert labels["Procedure:frailty_finding"] == "Frailty finding" and "NotDone:frailty_finding" not in labels
    reader = parse._Reader("PlanDefinition", {}, {}, labels, problems, use_fast_path=False)
    assert reader.fact("a", "not_done.statin").label == "Statin not to be prescribed"
    assert reader.fact("a", "not_done.ace_inhibitor") is None and problems  # not declared


def test_engine__an_adverse_event_key_is_declared_where_the_facts_put_it(pack):
    from app.engine import parse

    problems: list[str] = []
    adverse_only = {**pack.library, "dataRequirement": [
        r for r in pack.library["dataRequirement"]
        if r["type"] == "AdverseEvent" or r["extension"][0]["valueCode"] != "statin"]}
    labels = parse.library_labels("Library", adverse_only, problems)
    assert not problems and labels["AllergyIntolerance:statin"] == "Statin allergy or intolerance"
    assert "AdverseEvent:statin" not in labels


def test_engine__a_rule_reads_not_done_from_the_facts(pack):
    from app.engine.rules import compile_checked

    problems: list[str] = []
    expression = compile_checked("%facts.not_done.statin.reasons.exists()", "test", problems)
    refusal = request("MedicationRequest", ROSUVASTATIN, "completed", doNotPerform=True, reasonCode=[CONTRAINDICATED])
    assert expression({"facts": facts_of(pack, refusal)}) == [True]
    assert expression({"facts": facts_of(pack, request("MedicationRequest", ROSUVASTATIN))}) in ([False], [])


# --- a period with a start and no end is ongoing (FHIR R4 Period) ------------------------------------------------

PALLIATIVE_CARE = cc(SCT, "103735009", "Palliative care (regime/therapy)")


def test_period__a_procedure_with_no_end_is_ongoing_and_counts_in_the_look_back(pack):
    started_long_ago = {"resourceType": "Procedure", "status": "completed", "code": PALLIATIVE_CARE,
                        "performedPeriod": {"start": "2022-01-10T08:00:00Z"}}
    entry = facts_of(pack, started_long_ago)["procedures"]["palliative_or_hospice_care"]
    assert entry["ongoing"] is True and entry["withinLookback"] is True and entry["daysAgo"] == 0


def test_period__a_procedure_that_ended_before_the_look_back_does_not_count(pack):
    ended = {"resourceType": "Procedure", "status": "completed", "code": PALLIATIVE_CARE,
             "performedPeriod": {"start": "2022-01-10T08:00:00Z", "end": "2022-03-01T08:00:00Z"}}
    entry = facts_of(pack, ended)["procedures"]["palliative_or_hospice_care"]
    assert "ongoing" not in entry and entry["withinLookback"] is False


# --- a recorded 10-year ASCVD risk, and depression screening assessments ------------------------------------------

RISK = cc(LOINC, "79423-0", "Cardiovascular disease 10Y risk [Likelihood] ACC-AHA Pooled Cohort by Goff 2013")


def test_ascvd_risk__a_recorded_estimate_stands_in_when_the_equations_cannot_be_computed(pack):
    recorded = {**observation(RISK, effectiveDateTime="2024-11-02"), "valueQuantity": {"value": 21.0, "unit": "%"}}
    score = facts_of(pack, recorded)["scores"]["ascvd10y"]
    assert score["value"] == 21.0 and score["basis"] == "recorded on 2 Nov 2024"
    assert score["refs"][0]["type"] == "Observation"


def test_ascvd_risk__an_old_recorded_estimate_does_not(pack):
    old = {**observation(RISK, effectiveDateTime="2022-11-02"), "valueQuantity": {"value": 21.0, "unit": "%"}}
    found = facts_of(pack, old)
    assert "ascvd10y" not in found["scores"]
    assert any(m["key"] == "scores.ascvd10y" for m in found["missing"])


@pytest.mark.parametrize("code", ["73832-8", "73831-0"])
def test_depression_screening__an_assessment_observation_is_a_screening_done(pack, code):
    screening = {**observation(cc(LOINC, code), cc(SCT, "428171000124102", "Depression screening negative"),
                               effectiveDateTime="2024-10-01")}
    entry = facts_of(pack, screening)["procedures"]["depression_screening"]
    assert entry["date"] == "2024-10-01" and entry["source"] == "Observation"


def test_not_done__a_reason_is_read_as_the_patients_a_medical_one_or_neither(pack):
    simvastatin = cc(RX, "314231", "simvastatin 10 MG Oral Tablet")
    declined = request("MedicationRequest", simvastatin, status="completed", doNotPerform=True,
                       reasonCode=[cc(SCT, "182890002", "Patient requests alternative treatment")])
    medical = request("MedicationRequest", simvastatin, status="completed", doNotPerform=True,
                      reasonCode=[cc(SCT, "183932001", "Procedure contraindicated")])
    # SNOMED CT 105480006 (Refusal of treatment by patient) is in neither published value set
    unrecognised = request("MedicationRequest", simvastatin, status="completed", doNotPerform=True,
                           reasonCode=[cc(SCT, "105480006", "Refusal of treatment by patient")])
    assert set(facts_of(pack, declined)["not_done"]) == {"statin", "statin_declined"}
    assert set(facts_of(pack, medical)["not_done"]) == {"statin", "statin_medical_reason"}
    assert set(facts_of(pack, unrecognised)["not_done"]) == {"statin"}
    assert "statin" not in facts_of(pack, medical)["medications"]  # an order not to give it is never the therapy


def test_medications__a_statin_order_completed_within_12_months_is_recent_therapy(pack):
    rosuvastatin = cc(RX, "859747", "rosuvastatin calcium 20 MG Oral Tablet")
    completed = request("MedicationRequest", rosuvastatin, status="completed", authoredOn="2024-11-01")
    [entry] = facts_of(pack, completed)["medications"]["statin"]
    assert entry["status"] == "completed" and "confirm the patient still takes it" in entry["note"]
    # older than 12 months, or a medicine whose key does not count completed orders: not therapy
    assert "statin" not in facts_of(pack, {**completed, "authoredOn": "2023-10-01"})["medications"]
    lisinopril = request("MedicationRequest", cc(RX, "314076", "lisinopril 10 MG Oral Tablet"), status="completed",
                         authoredOn="2024-11-01")
    assert "antihypertensive" not in facts_of(pack, lisinopril)["medications"]
    # an active order of the same class is the therapy: the completed one is not listed beside it
    active = request("MedicationRequest", rosuvastatin, status="active", authoredOn="2024-06-01", id="active-1")
    assert [e.get("status") for e in facts_of(pack, completed, active)["medications"]["statin"]] == [None]


def test_medications__a_statin_order_is_also_read_by_its_products_intensity(pack):
    def intensities(code, display):
        meds = facts_of(pack, request("MedicationRequest", cc(RX, code, display), status="active"))["medications"]
        return {key for key in meds if key.startswith("statin_")}
    assert intensities("617311", "atorvastatin 40 MG Oral Tablet") == {"statin_high_intensity"}
    assert intensities("617310", "atorvastatin 20 MG Oral Tablet") == {"statin_moderate_intensity"}
    assert intensities("314231", "simvastatin 10 MG Oral Tablet") == {"statin_low_intensity"}
    # a suspension's intensity is its dose: the published sets list it as low and moderate
    assert intensities("1790679", "simvastatin 4 MG/ML Oral Suspension") == {"statin_low_intensity",
                                                                           "statin_moderate_intensity"}
    # recognised by ingredient only (no product): a statin of unknown intensity
    assert intensities("36567", "simvastatin") == set()


# --- revascularization is clinical ASCVD; an allergy not yet begun; a BMI recorded as not done --------------------

def test_revascularization__a_bypass_procedure_makes_clinical_ascvd_when_no_condition_says_so(pack):
    cabg = {"resourceType": "Procedure", "status": "completed", "performedDateTime": "2023-01-16",
            "code": cc(CPT, "33510", "Coronary artery bypass, vein only; single coronary venous graft")}
    ascvd = facts_of(pack, cabg)["conditions"]["ascvd"]
    assert ascvd["impliedBy"] == "arterial_revascularization" and ascvd["source"] == "Procedure"
    assert ascvd["onset"] == "2023-01-16"
    assert "ascvd" not in facts_of(pack, {**cabg, "status": "not-done"})["conditions"]


def test_allergy__one_that_begins_after_the_evaluation_date_is_not_yet_known(pack):
    rosuvastatin = cc(RX, "301542", "rosuvastatin")
    allergy = {"resourceType": "AllergyIntolerance", "code": rosuvastatin, "onsetDateTime": "2024-12-01"}
    assert "statin" in facts_of(pack, allergy)["allergies"]
    assert "statin" not in facts_of(pack, {**allergy, "onsetDateTime": "2025-02-01"})["allergies"]


BMI = cc(LOINC, "39156-5", "Body mass index (BMI) [Ratio]")
NOT_DONE_REASON = "http://hl7.org/fhir/us/qicore/StructureDefinition/qicore-notDoneReason"


def test_not_done__a_bmi_recorded_as_not_done_with_its_reason(pack):
    not_done = {**observation(BMI, status="cancelled", effectiveDateTime="2024-06-15"),
                "extension": [{"url": NOT_DONE_REASON, "valueCodeableConcept": cc(SCT, "183932001",
                                                                                  "Procedure contraindicated")}]}
    found = facts_of(pack, not_done)
    assert found["not_done"]["bmi"]["date"] == "2024-06-15"
    assert found["not_done"]["bmi"]["reasons"][0]["code"] == "183932001"
    assert "bmi" not in found["measures"]
    measured = {**observation(BMI, effectiveDateTime="2024-06-15"), "valueQuantity": {"value": 31.0,
                                                                                     "unit": "kg/m2"}}
    assert "bmi" not in facts_of(pack, measured)["not_done"]


def test_not_done__a_depression_screening_recorded_as_not_done_and_a_follow_up_not_to_be_done(pack):
    screening = {**observation(cc(LOINC, "73832-8"), status="cancelled", effectiveDateTime="2024-06-15"),
                 "extension": [{"url": NOT_DONE_REASON, "valueCodeableConcept": cc(SCT, "720834000",
                                                                                  "Depression screening declined")}]}
    found = facts_of(pack, screening)
    assert found["not_done"]["depression_screening"]["reasons"][0]["code"] == "720834000"
    assert "depression_screening" not in found["procedures"]
    follow_up = request("ServiceRequest", cc(SCT, "386291006", "Exercise class"), status="completed",
                        doNotPerform=True, authoredOn="2024-06-15",
                        reasonCode=[cc(SCT, "183932001", "Procedure contraindicated")])
    assert "weight_intervention" in facts_of(pack, follow_up)["not_done"]
    assert "weight_intervention" not in facts_of(pack, {**follow_up, "doNotPerform": False})["not_done"]


# --- an adverse reaction to a statin recorded as an AdverseEvent ---------------------------------------------------

STATIN_INGREDIENT = cc(RX, "301542", "rosuvastatin")


def adverse_event(**more: Any) -> dict[str, Any]:
    return {"resourceType": "AdverseEvent", "actuality": "actual", "event": STATIN_INGREDIENT,
            "subject": {"reference": "Patient/p1"}, "recordedDate": "2024-06-01", **more}


def test_adverse_event__an_actual_reaction_to_a_statin_is_an_intolerance_of_the_class(pack):
    [entry] = facts_of(pack, adverse_event())["allergies"]["statin"]
    assert entry["source"] == "AdverseEvent" and entry["code"] == "301542" and entry["date"] == "2024-06-01"


@pytest.mark.parametrize("more", [{"actuality": "potential"}, {"recordedDate": "2025-02-01"}])
def test_adverse_event__a_potential_or_later_one_is_not(pack, more):
    assert "statin" not in facts_of(pack, adverse_event(**more))["allergies"]


def test_adverse_event__searched_whole_by_subject_and_asked_as_a_scope(pack):
    searches = [s for s in plan("p1", pack.requirements) if s.resource_type == "AdverseEvent"]
    assert len(searches) == 1 and searches[0].url.startswith("AdverseEvent?subject=Patient/p1")
    settings = {name[len("SMART_"):]: getattr(config, name) for name in dir(config) if name.startswith("SMART_")}
    assert "patient/AdverseEvent.rs" in requested_scope(settings, standalone=False).split()


def _bp_panel(systolic: float, diastolic: float, day: str, encounter_id: str | None = None) -> dict[str, Any]:
    def component(code: str, value: float) -> dict[str, Any]:
        return {"code": cc(LOINC, code), "valueQuantity": {"value": value, "unit": "mmHg",
                                                           "system": "http://unitsofmeasure.org", "code": "mm[Hg]"}}
    return {"resourceType": "Observation", "status": "final", "code": cc(LOINC, "85354-9", "Blood pressure panel"),
            "effectiveDateTime": day, "component": [component("8480-6", systolic), component("8462-4", diastolic)],
            **({"encounter": {"reference": f"Encounter/{encounter_id}"}} if encounter_id else {})}


@pytest.mark.parametrize("setting", [
    {"class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "EMER"}},
    {"class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "IMP"}},
    {"type": [cc(SCT, "4525004", "Emergency department patient visit")]},
])
def test_bp__a_reading_taken_in_emergency_or_inpatient_care_is_not_an_office_reading(pack, setting):
    acute = {**encounter(), **setting}
    facts = facts_of(pack, acute, _bp_panel(139, 89, "2024-12-01", "r0"), _bp_panel(150, 95, "2024-10-01"))
    assert facts["bp"]["acuteCare"]["date"] == "2024-12-01" and facts["bp"]["occasions"] == 1
    assert (facts["bp"]["sbp"], facts["bp"]["dbp"]) == (150, 95)  # the office reading alone is averaged
    assert facts["bp"]["latest"]["date"] == "2024-12-01"  # a severe value there would still warn


def test_bp__a_reading_of_an_office_visit_counts(pack):
    office = encounter(CHECK_UP)  # class AMB
    facts = facts_of(pack, office, _bp_panel(139, 89, "2024-12-01", "r0"), _bp_panel(150, 95, "2024-10-01"))
    assert "acuteCare" not in facts["bp"] and facts["bp"]["occasions"] == 2


def test_bp__emergency_readings_alone_leave_no_office_bp(pack):
    acute = {**encounter(), "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "EMER"}}
    facts = facts_of(pack, acute, _bp_panel(139, 89, "2024-12-01", "r0"))
    assert "sbp" not in facts["bp"] and facts["bp"]["acuteCare"]["readings"] == 1


@pytest.mark.parametrize(("answer", "in_care"), [(cc(SCT, "160734000", "Lives in a nursing home"), True),
                                                 (cc(SCT, "160903007", "Lives alone"), False)])
def test_housing_status__the_latest_answer_is_read(pack, answer, in_care):
    housing = observation(cc(LOINC, "71802-3", "Housing status"), answer, effectiveDateTime="2024-12-01")
    entry = facts_of(pack, housing)["measures"]["housing_status"]
    assert (entry["valueCode"]["code"] == "160734000") is in_care
