"""Test inputs for the cohort: the Synthea bundles as Bulk Data ndjson, and the single-patient plans."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

from app.context import facts_from_bundle
from app.context.resources import from_bundle
from app.engine import PackSet, build_plan


def write_ndjson(bundles: list[Path], folder: Path) -> None:
    """The bundles' resources as one ndjson file per type, as a Bulk Data export lays them out."""
    folder.mkdir(parents=True, exist_ok=True)
    by_type: dict[str, list[str]] = {}
    for path in bundles:
        for resource in from_bundle(json.loads(path.read_text(encoding="utf-8"))):
            by_type.setdefault(resource["resourceType"], []).append(json.dumps(resource))
    for resource_type, lines in by_type.items():
        (folder / f"{resource_type}.ndjson").write_text("\n".join(lines) + "\n", encoding="utf-8")


def single_plan(bundle: Path | dict[str, Any], pack_set: PackSet, as_of: date) -> dict[str, Any]:
    """The plan of one Bundle (a file or its JSON) by the path of ``carepath plan`` (facts_from_bundle, then
    build_plan)."""
    if isinstance(bundle, Path):
        bundle = json.loads(bundle.read_text(encoding="utf-8"))
    facts = facts_from_bundle(bundle, pack_set.requirements, as_of)
    return json.loads(json.dumps(build_plan(facts, pack_set, as_of).to_dict()))


def with_medication_resources(bundle: dict[str, Any]) -> dict[str, Any]:
    """The Bundle with each prescribed medication moved into a Medication resource that the MedicationRequest
    references, as EHR exports write them. A Medication's id is named by its code, so patients prescribed the
    same drug share one Medication."""
    entries, medications = [], {}
    for resource in from_bundle(bundle):
        concept = resource.get("medicationCodeableConcept")
        if resource.get("resourceType") == "MedicationRequest" and concept:
            coding = (concept.get("coding") or [{}])[0]
            medication_id = f"med-{coding.get('code', 'x')}"
            medications[medication_id] = {"resourceType": "Medication", "id": medication_id, "code": concept}
            resource = {key: value for key, value in resource.items() if key != "medicationCodeableConcept"}
            resource["medicationReference"] = {"reference": f"Medication/{medication_id}"}
        entries.append(resource)
    entries += medications.values()
    return {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": r} for r in entries]}
