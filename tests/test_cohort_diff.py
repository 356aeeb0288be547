"""``cohort diff`` names exactly the patients whose plan changes when one threshold of the pack changes.

The expected patients are found without Spark, by the single-patient path (``facts_from_bundle`` then
``build_plan``) run with each pack, comparing everything a clinician sees apart from the pack version items carry.
"""

from __future__ import annotations

import json
import re
import shutil
from datetime import date

import pytest

from app.cohort.diff import plan_changes, run_diff, summary_text
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
    """What a clinician sees, without the pack version stamped in the rationales (both packs mark the same care
    gaps, so equal activities mean equal care gaps)."""
    versionless = [[{**item, "rationale": {k: v for k, v in item["rationale"].items() if k != "pack_version"}}
                    for item in plan[section]] for section in ("goals", "activities")]
    versions = {pack["version"] for pack in plan["packs"]}
    warnings = [{**w, "message": re.sub("|".join(map(re.escape, versions)), "", w["message"])}
                for w in plan["warnings"]]
    return [*versionless, warnings, *(plan[section] for section in ("gaps", "not_recommended")),
            plan["population"]["left_out"]]


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
    assert summary["sections"]["activities"]["patients"] <= len(expected)
    assert "compared: goals, activities, care gaps, warnings" in summary_text(summary)
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


WARNING = {"rule_id": "ckd.metformin-review", "severity": "moderate", "message": "metformin with eGFR 37.2",
           "area": "Chronic kidney disease", "area_id": "ckd", "refs": []}


def _plan(**sections) -> dict:
    plan = {"goals": [], "activities": [], "warnings": [], "gaps": [], "not_recommended": [],
            "population": {"statement": None, "left_out": []}}
    return {**plan, **sections}


def test_plan_changes__a_warning_added_is_a_change():
    assert plan_changes(_plan(), _plan(warnings=[WARNING])) == {"warnings": {
        "added": [{"id": "ckd.metformin-review", "title": "moderate warning", "text": "metformin with eGFR 37.2"}],
        "removed": [], "changed": []}}


def test_plan_changes__a_warning_of_another_severity_and_a_second_one_of_the_same_rule():
    after = [{**WARNING, "severity": "high"}, {**WARNING, "message": "another"}]
    changes = plan_changes(_plan(warnings=[WARNING]), _plan(warnings=after))["warnings"]
    assert changes["changed"] == [{"id": "ckd.metformin-review", "title": "high warning",
                                   "text": "metformin with eGFR 37.2", "fields": ["severity"]}]
    assert [item["text"] for item in changes["added"]] == ["another"]


def test_plan_changes__not_recommended_reason_data_gaps_and_left_out_rules():
    reason = {"rule_id": "screen.colorectal", "title": "Colorectal cancer screening", "reason": "colonoscopy 2019"}
    before = _plan(not_recommended=[reason], gaps=[{"key": "bmi", "message": "no BMI"}])
    left_out = {"rule_id": "screen.breast", "kind": "rule", "title": "Mammography", "reason": "for women 40 to 74"}
    after = _plan(not_recommended=[{**reason, "reason": "FIT 2020"}],
                  population={"statement": None, "left_out": [left_out]})
    changes = plan_changes(before, after)
    assert changes["not_recommended"]["changed"] == [{"id": "screen.colorectal", "title": "Colorectal cancer screening",
                                                      "text": "FIT 2020", "fields": ["reason"]}]
    assert changes["gaps"]["removed"] == [{"id": "bmi", "title": "data not found", "text": "no BMI"}]
    assert changes["left_out"]["added"] == [{"id": "screen.breast", "title": "Mammography",
                                             "text": "for women 40 to 74"}]


def test_plan_changes__the_visit_schedule_an_action_put_off_or_brought_forward():
    activities = [{"id": "screen.breast", "title": "Mammography"}, {"id": "tobacco.ask", "title": "Ask about tobacco"}]
    before = _plan(activities=activities, schedule={
        "visitSize": 1, "thisVisit": ["tobacco.ask"], "reasons": {"tobacco.ask": "USPSTF grade A, due now"},
        "later": [{"id": "screen.breast", "date": "2021-07-01", "reason": "can wait 3 months (this visit is full)"}]})
    after = _plan(activities=activities, schedule={
        "visitSize": 2, "thisVisit": ["tobacco.ask", "screen.breast"],
        "reasons": {"tobacco.ask": "USPSTF grade A, due now", "screen.breast": "USPSTF grade B, due now"}, "later": []})
    changes = plan_changes(before, after)
    assert changes["schedule"] == {"added": [], "removed": [], "changed": [
        {"id": "screen.breast", "title": "Mammography", "text": "this visit: USPSTF grade B, due now",
         "fields": ["reason", "when"]}]}
    assert plan_changes(before, before) is None


def test_with_care_gaps__due_clinical_actions_only():
    from app.cohort.counting import load_counting
    from app.cohort.diff import with_care_gaps

    counting = load_counting(load_pack_set())
    activities = [{"id": "screen.cervical", "kind": "screening", "title": "Cervical", "timing": {"due": "2021-04-01"}},
                  {"id": "htn.lifestyle", "kind": "lifestyle", "title": "Lifestyle", "timing": {"due": "2021-01-01"}},
                  {"id": "t2d.retinal-exam", "kind": "screening", "title": "Eye", "timing": {"due": "2021-09-01"}}]
    plan = with_care_gaps(_plan(activities=activities), counting, AS_OF)
    assert plan["care_gaps"] == [{"id": "screen.cervical", "title": "Cervical", "due": "2021-04-01"}]
    assert plan_changes(plan, {**plan, "care_gaps": []})["care_gaps"]["removed"] == [
        {"id": "screen.cervical", "title": "Cervical"}]


def test_summary_text__says_what_it_compared_and_counts_per_kind():
    summary = {"as_of": "2021-04-01", "pack_a": [{"version": "1"}], "pack_b": [{"version": "2"}],
               "patients": 466, "patients_changed": 55,
               "compared": ["goals", "activities", "care gaps", "warnings", "data not found",
                            "not-recommended items and their reasons", "rules left out by population"],
               "sections": {"warnings": {"patients": 55, "added": 55, "removed": 0, "changed": 0},
                            "goals": {"patients": 0, "added": 0, "removed": 0, "changed": 0}},
               "changes": [{"section": "warnings", "change": "added", "id": "ckd.metformin-review",
                            "title": "moderate warning", "patients": 55}]}
    lines = summary_text(summary).splitlines()
    assert lines[0].startswith("55 of 466 patients' plans change (pack 1 -> 2, as of 2021-04-01; compared: goals, ")
    assert lines[1] == "  warnings: 55 patients (55 added, 0 removed, 0 changed)"
    assert "goals:" not in summary_text(summary).split("\n", 1)[1]


def test_plan_changes__a_pack_version_named_in_a_warning_is_no_change():
    notice = {"rule_id": "pack-effective-period", "severity": "low", "message": "outside Diabetes 2025.1.0 (open)"}
    before = _plan(packs=[{"version": "2025.1.0"}], warnings=[notice])
    after = _plan(packs=[{"version": "2025.2.0"}], warnings=[{**notice, "message": "outside Diabetes 2025.2.0 (open)"}])
    assert plan_changes(before, after) is None
