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
