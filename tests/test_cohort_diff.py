"""``cohort diff`` names exactly the patients whose plan changes when one threshold of the pack changes.

The expected patients are found without Spark, by the single-patient path (``facts_from_bundle`` then
``build_plan``) run with each pack, comparing goals and activities apart from the pack version they carry.
"""

from __future__ import annotations

import json
import shutil
from datetime import date

import pytest

from app.cohort.diff import plan_changes, run_diff
from app.engine import DEFAULT_PACK_DIR, load_pack_set
from tests.cohort_data import single_plan
from tests.conftest import SYNTHEA

AS_OF = date(2021, 4, 1)
BP_FILE = "PlanDefinition-02-blood-pressure.json"


@pytest.fixture(scope="module")
def pack_b(tmp_path_factory):
    """The bundled pack with the blood-pressure area's SBP applicability threshold moved (130 -> 125 mmHg)."""
    folder = tmp_path_factory.mktemp("pack") / "primary-care-b"
    shutil.copytree(DEFAULT_PACK_DIR, folder)
    path = folder / BP_FILE
    plan_definition = json.loads(path.read_text(encoding="utf-8"))
    text = json.dumps(plan_definition).replace("%facts.bp.sbp >= 130", "%facts.bp.sbp >= 125")
    changed = json.loads(text)
    assert changed != plan_definition, "the threshold to change is no longer in the pack"
    changed["version"] = "2025.2.0"
    path.write_text(json.dumps(changed, indent=2), encoding="utf-8")
    return folder


def _essence(plan: dict) -> list:
    """Goals and activities without the pack version stamped in their rationale."""
    return [[{**item, "rationale": {k: v for k, v in item["rationale"].items() if k != "pack_version"}}
             for item in plan[section]] for section in ("goals", "activities")]


def test_cohort_diff__names_exactly_the_patients_whose_plan_changes(spark, pack_b, tmp_path):
    packs = load_pack_set(DEFAULT_PACK_DIR), load_pack_set(pack_b)
    expected = set()
    for bundle in sorted(SYNTHEA.glob("*.json")):
        before, after = (single_plan(bundle, pack_set, AS_OF) for pack_set in packs)
        if _essence(before) != _essence(after):
            expected.add(before["patient_id"])
    assert 0 < len(expected) < 25, "the changed threshold should change some plans, not all"

    summary = run_diff(spark, SYNTHEA, AS_OF, DEFAULT_PACK_DIR, pack_b, tmp_path, partitions=2)

    changed = [json.loads(line) for line in (tmp_path / "diff.ndjson").read_text(encoding="utf-8").splitlines()]
    assert {item["patient_id"] for item in changed} == expected
    assert summary["patients"] == 25 and summary["patients_changed"] == len(expected)
    assert sum(c["patients"] for c in summary["changes"]) >= len(expected)
    assert json.loads((tmp_path / "diff-summary.json").read_text(encoding="utf-8")) == summary


def test_plan_changes__added_removed_changed_and_version_only():
    activity = {"id": "a1", "title": "HbA1c test", "timing": {"due": "2021-04-01"},
                "rationale": {"rule_id": "a1", "pack_version": "1"}}
    goal = {"id": "g1", "description": "HbA1c below 7 %", "rationale": {"rule_id": "g1", "pack_version": "1"}}
    before = {"goals": [goal], "activities": [activity]}
    bumped = {"goals": [{**goal, "rationale": {"rule_id": "g1", "pack_version": "2"}}], "activities": [activity]}
    assert plan_changes(before, bumped) is None
    later = {**activity, "timing": {"due": "2021-05-01"}}
    after = {"goals": [], "activities": [later, {**activity, "id": "a2", "title": "Foot exam"}]}
    assert plan_changes(before, after) == {
        "goals": {"added": [], "removed": [{"id": "g1", "title": "HbA1c below 7 %"}], "changed": []},
        "activities": {"added": [{"id": "a2", "title": "Foot exam"}], "removed": [],
                       "changed": [{"id": "a1", "title": "HbA1c test", "fields": ["timing"]}]},
    }
