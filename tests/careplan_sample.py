"""A hand-built Plan dict in the engine's ``Plan.to_dict()`` shape, for the care-plan tests.

The thresholds below are copied as data for tests of the FHIR mapping only; the engine's packs own the
clinical rules and their citations.
"""

from __future__ import annotations

import copy
from typing import Any

PACK_URL = "http://carepath.dev/fhir/PlanDefinition/diabetes"
ORIGIN_TAG = "http://carepath.dev/fhir/CodeSystem/origin|carepath"


def remove_carepath_plans(client: Any, patient_id: str) -> None:
    """Delete the CarePlans, Goals and Provenance carepath wrote for a patient (left by earlier test runs).

    Same data gives the same plan identifier, so a plan decided by an earlier run against a long-lived HAPI
    would be found again instead of a new draft. Synthea's own CarePlans and Goals are not touched.
    """
    careplans = client.search("CarePlan", {"subject": f"Patient/{patient_id}", "_tag": ORIGIN_TAG})
    for careplan in careplans:
        for provenance in client.search("Provenance", {"target": f"CarePlan/{careplan['id']}"}):
            client.request("DELETE", f"Provenance/{provenance['id']}")
    # A newer plan may reference an older one (CarePlan.replaces): the newest go first.
    for careplan in sorted(careplans, key=lambda plan: plan.get("meta", {}).get("lastUpdated", ""), reverse=True):
        client.request("DELETE", f"CarePlan/{careplan['id']}")
    for goal in client.search("Goal", {"subject": f"Patient/{patient_id}", "_tag": ORIGIN_TAG}):
        client.request("DELETE", f"Goal/{goal['id']}")


def sample_plan(patient_id: str = "p1", *, condition_id: str = "c1", hba1c_id: str = "o1",
                hba1c_version: str = "1", pack_version: str = "2025.1") -> dict[str, Any]:
    """A diabetes plan: an HbA1c goal, a BP goal, an HbA1c order and an education activity."""
    hba1c_ref = {"type": "Observation", "id": hba1c_id, "version": hba1c_version}
    condition_ref = {"type": "Condition", "id": condition_id, "version": "1"}
    citation = {"guideline": "ADA Standards of Care in Diabetes", "year": 2025,
                "section": "6.5 <Glycemic goals>", "url": "https://diabetesjournals.org/care/issue/48/Supplement_1"}

    def rationale(rule_id: str, text: str) -> dict[str, Any]:
        return {"rule_id": rule_id, "pack_url": PACK_URL, "pack_version": pack_version, "citation": citation,
                "facts_used": [{"key": "hba1c", "label": "HbA1c", "value": 8.1, "unit": "%",
                                "date": "2020-01-15", "refs": [hba1c_ref]}],
                "refs": [condition_ref], "text": text}

    return copy.deepcopy({
        "as_of": "2020-06-01",
        "patient_id": patient_id,
        "packs": [{"url": PACK_URL, "version": pack_version, "title": "Type 2 diabetes"}],
        "goals": [
            {"id": "g-hba1c", "area": "Type 2 diabetes", "area_id": "t2d", "description": "HbA1c below 7 %",
             "measure": {"system": "http://loinc.org", "code": "4548-4", "display": "Hemoglobin A1c"},
             "target": {"comparator": "<", "value": 7.0, "unit": "%"}, "due": "2020-12-01",
             "addresses": [{"key": "diabetes", "display": "Type 2 diabetes", "refs": [condition_ref]}],
             "editable_range": {"low": {"value": 6.5, "unit": "%"}, "high": {"value": 8.0, "unit": "%"}},
             "rationale": rationale("dm.hba1c-goal", "HbA1c 8.1 % is above the usual goal")},
            {"id": "g-bp", "area": "Type 2 diabetes", "area_id": "t2d",
             "description": "Blood pressure below 130/80 mmHg",
             "measure": {"system": "http://loinc.org", "code": "85354-9", "display": "Blood pressure panel"},
             "targets": [
                 {"measure": {"system": "http://loinc.org", "code": "8480-6", "display": "Systolic"},
                  "comparator": "<", "value": 130, "unit": "mmHg"},
                 {"measure": {"system": "http://loinc.org", "code": "8462-4", "display": "Diastolic"},
                  "comparator": "<", "value": 80, "unit": "mmHg"}],
             "due": "2020-12-01",
             "addresses": [{"key": "diabetes", "display": "Type 2 diabetes", "refs": [condition_ref]}],
             "rationale": rationale("dm.bp-goal", "BP goal for people with diabetes")},
        ],
        "activities": [
            {"id": "a-hba1c", "area": "Type 2 diabetes", "area_id": "t2d", "kind": "lab-order",
             "code": {"system": "http://loinc.org", "code": "4548-4", "display": "Hemoglobin A1c"},
             "description": "Repeat HbA1c every 3 months while above goal",
             "timing": {"due": "2020-09-01", "repeat": {"frequency": 1, "period": 3, "period_unit": "month"}},
             "goal_ids": ["g-hba1c"], "rationale": rationale("dm.hba1c-interval", "not at goal: quarterly"),
             "clinician_choice": False},
            {"id": "a-dsmes", "area": "Type 2 diabetes", "area_id": "t2d", "kind": "education",
             "code": {"system": "http://snomed.info/sct", "code": "385804009", "display": "Diabetic care"},
             "description": "Diabetes self-management education & support",
             "timing": {"due": "2020-07-01"}, "goal_ids": ["g-hba1c"],
             "rationale": rationale("dm.dsmes", "DSMES for all"), "clinician_choice": True},
        ],
        "gaps": [{"key": "uacr", "message": "no UACR in the last 12 months"}],
        "not_recommended": [{"rule_id": "dm.statin", "title": "Statin", "reason": "active atorvastatin",
                             "citation": citation, "refs": []}],
        "warnings": [],
        "data_quality": [],
    })
