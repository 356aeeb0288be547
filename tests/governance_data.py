"""A proposed pack version for the governance tests: the bundled pack with one threshold changed and one code
added to a value set, under a new version."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from app.engine import DEFAULT_PACK_DIR

BP_FILE = "PlanDefinition-02-blood-pressure.json"
THRESHOLD = ("%facts.bp.sbp >= 130", "%facts.bp.sbp >= 125")
VALUE_SET_FILE = "valuesets/ValueSet-2.16.840.1.113883.3.464.1003.104.12.1011.json"
ADDED_CODE = {"system": "http://snomed.info/sct", "code": "762463000", "display": "Diastolic hypertension (disorder)"}
NEW_VERSION = "2025.2.0"


def proposed_pack(folder: Path) -> Path:
    """Copy the bundled pack to ``folder``, move the SBP threshold 130 -> 125, add a code to the essential
    hypertension value set, and give the PlanDefinitions and the Library version 2025.2.0."""
    shutil.copytree(DEFAULT_PACK_DIR, folder)
    bp = folder / BP_FILE
    text = bp.read_text(encoding="utf-8")
    assert THRESHOLD[0] in text, "the threshold to change is no longer in the pack"
    bp.write_text(text.replace(*THRESHOLD), encoding="utf-8")
    value_set_path = folder / VALUE_SET_FILE
    value_set = json.loads(value_set_path.read_text(encoding="utf-8"))
    value_set["compose"]["include"][0]["concept"].append({"code": ADDED_CODE["code"],
                                                          "display": ADDED_CODE["display"]})
    value_set["expansion"]["contains"].append(ADDED_CODE)
    value_set["expansion"]["total"] += 1
    value_set_path.write_text(json.dumps(value_set, indent=2), encoding="utf-8")
    for path in [*folder.glob("PlanDefinition-*.json"), *folder.glob("Library-*.json")]:
        resource = json.loads(path.read_text(encoding="utf-8"))
        resource["version"] = NEW_VERSION
        path.write_text(json.dumps(resource, indent=2, ensure_ascii=False), encoding="utf-8")
    return folder


def _bp_reading(number: int, day: str, systolic: int, diastolic: int) -> dict:
    def component(code: str, value: int) -> dict:
        return {"code": {"coding": [{"system": "http://loinc.org", "code": code}]},
                "valueQuantity": {"value": value, "unit": "mm[Hg]", "system": "http://unitsofmeasure.org",
                                  "code": "mm[Hg]"}}

    return {"resourceType": "Observation", "id": f"bp{number}", "status": "final",
            "subject": {"reference": "Patient/p1"},
            "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category",
                                      "code": "vital-signs"}]}],
            "code": {"coding": [{"system": "http://loinc.org", "code": "85354-9"}]}, "effectiveDateTime": day,
            "component": [component("8480-6", systolic), component("8462-4", diastolic)]}


def systolic_127_bundle() -> dict:
    """A woman of 54 whose office SBP averages 127.5 mmHg over two occasions: below the bundled pack's 130, at or
    above the proposed copy's 125, so the two versions plan differently for her."""
    return {"resourceType": "Bundle", "type": "collection", "entry": [
        {"resource": {"resourceType": "Patient", "id": "p1", "gender": "female", "birthDate": "1970-03-01",
                      "name": [{"family": "Preview", "given": ["Ada"]}]}},
        {"resource": _bp_reading(1, "2024-10-01", 127, 75)}, {"resource": _bp_reading(2, "2024-11-05", 128, 76)}]}
