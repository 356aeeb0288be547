"""The Plan: complete rationale on every item, JSON round trip, determinism, purity."""

from __future__ import annotations

import json
import re
from datetime import date
from pathlib import Path

import pytest

from app.engine import Plan, add_duration, build_plan, load_pack_set
from app.engine.packs import pack_set_from_resources
from app.engine.rules import Duration
from app.engine.synthetic import make_facts

ENGINE = Path(__file__).resolve().parent.parent / "app" / "engine"
COMPLEX = dict(age=58, sex="female", hba1c=7.4, bp=(142, 91), ldl=130, ascvd10y=8.4, conditions=["diabetes", "ckd"],
               egfr=50, uacr=45, medications={"statin": "atorvastatin 40 MG Oral Tablet"}, smoking="current",
               bmi=31.2, procedures={"colonoscopy": 2000})


@pytest.fixture(scope="module")
def pack_set():
    return load_pack_set()


@pytest.fixture(scope="module")
def plan(pack_set) -> Plan:
    return build_plan(make_facts(as_of="2025-06-01", **COMPLEX), pack_set, "2025-06-01")


def test_plan__round_trips_through_json(plan):
    data = json.loads(json.dumps(plan.to_dict()))
    assert Plan.from_dict(data).to_dict() == data
    assert data["goals"][0]["target"] == data["goals"][0]["targets"][0]


def test_plan__is_deterministic(pack_set, plan):
    again = build_plan(make_facts(as_of="2025-06-01", **COMPLEX), pack_set, date(2025, 6, 1))
    assert again.to_dict() == plan.to_dict()


def test_plan__every_item_has_a_complete_rationale(plan):
    assert plan.goals and plan.activities
    for item in [*plan.goals, *plan.activities]:
        why = item.rationale
        assert why.rule_id and why.pack_url.startswith("http://carepath.dev/") and why.pack_version == "2025.1.0"
        assert why.citation.guideline and why.citation.year and why.citation.section and why.citation.url
        assert why.text and "{{" not in why.text
    hba1c = plan.activity("t2d.hba1c-test-not-at-goal").rationale
    assert hba1c.facts_used[0].value == 7.4 and hba1c.facts_used[0].unit == "%"
    assert {"type": "Observation", "id": "cp-hba1c", "version": "1"} in hba1c.refs


def test_plan__goal_editable_range_is_cited(plan):
    goal = plan.goal("t2d.hba1c-goal")
    assert goal.editable_range["low"] == 6.5 and goal.editable_range["high"] == 8.0
    assert goal.editable_range["unit"] == "%" and "Section 6" in goal.editable_range["citation"]
    assert goal.target == {"measure": {"system": "http://loinc.org", "code": "4548-4",
                                       "display": "Hemoglobin A1c/Hemoglobin.total in Blood"},
                           "comparator": "<", "value": 7.0, "unit": "%"}
    assert [t["value"] for t in plan.goal("htn.bp-goal").targets] == [130, 80]


def test_plan__computed_values_appear_in_the_text(plan):
    assert "10-year ASCVD risk 8.4 % (PCE 2013)" in " ".join(s["text"] for s in plan.area_summaries)


def test_plan__records_pack_versions(pack_set, plan):
    assert plan.packs == pack_set.packs
    versions = {p["url"].rsplit("/", 1)[1]: p["version"] for p in plan.packs}
    assert versions["type-2-diabetes"] == versions["primary-care-data"] == "2025.1.0"
    assert versions["pediatric-weight"] == versions["pediatric-data"] == "2026.1.0"


def test_plan__not_recommended_says_why(plan):
    reasons = {item["rule_id"]: item["reason"] for item in plan.not_recommended}
    assert reasons["lipid.diabetes"].startswith("statin not started: atorvastatin 40 mg prescription")
    assert reasons["screen.colorectal"] == "Colonoscopy on 10 Dec 2019 is within 10 years (next due 10 Dec 2029)"


def test_plan__gaps_only_for_areas_that_apply(pack_set):
    healthy = build_plan(make_facts(age=30, sex="male"), pack_set, "2025-06-01")
    assert "hba1c" not in {gap["key"] for gap in healthy.gaps}
    diabetic = build_plan(make_facts(age=30, sex="male", conditions=["diabetes"]), pack_set, "2025-06-01")
    assert "hba1c" in {gap["key"] for gap in diabetic.gaps}


def test_plan__copies_data_quality(pack_set):
    facts = make_facts()
    facts["dataQuality"] = [{"ref": {"type": "Observation", "id": "o9", "version": "1"}, "problem": "unit 'foo'"}]
    assert build_plan(facts, pack_set, "2025-06-01").data_quality == facts["dataQuality"]


def test_plan__evaluation_date_is_an_argument(pack_set):
    facts = make_facts(age=50, conditions=["diabetes"], hba1c=(6.5, 100), as_of="2025-06-01")
    early = build_plan(facts, pack_set, "2025-06-01").activity("t2d.hba1c-test-at-goal")
    assert early.timing["due"] == "2025-08-21"
    late = build_plan(facts, pack_set, "2026-01-01").activity("t2d.hba1c-test-at-goal")
    assert late.timing["due"] == "2026-01-01"


@pytest.mark.parametrize("as_of", ["", "yesterday", None])
def test_plan__invalid_date_is_refused(pack_set, as_of):
    with pytest.raises(ValueError, match="as_of"):
        build_plan(make_facts(), pack_set, as_of)


def test_plan__pack_outside_its_effective_period_warns():
    from app.engine.packs import DEFAULT_PACK_DIR, pack_files
    resources = [(p.name, json.loads(p.read_text())) for p in pack_files(DEFAULT_PACK_DIR)]
    for _, resource in resources:
        if resource["resourceType"] == "PlanDefinition":
            resource["effectivePeriod"]["end"] = "2025-12-31"
    plan = build_plan(make_facts(), pack_set_from_resources(resources), "2026-02-01")
    assert any("outside the effective period" in w["message"] for w in plan.warnings)


@pytest.mark.parametrize(("start", "value", "unit", "expected"), [
    ("2025-01-31", 1, "mo", "2025-02-28"), ("2024-02-29", 1, "a", "2025-02-28"), ("2025-06-01", 10, "a", "2035-06-01"),
    ("2025-12-15", 3, "mo", "2026-03-15"), ("2025-06-01", 2, "wk", "2025-06-15"), ("2025-06-01", 30, "d", "2025-07-01"),
])
def test_add_duration__calendar_arithmetic(start, value, unit, expected):
    assert add_duration(date.fromisoformat(start), Duration(value, unit)).isoformat() == expected


@pytest.mark.parametrize(("path", "value"), [
    (("measures", "hba1c", "value"), "seven"),
    (("measures", "ldl", "recentValue"), "high"),  # what the lipid rules compare
])
def test_plan__unexpected_fact_values_become_warnings_not_crashes(pack_set, path, value):
    facts = make_facts(as_of="2025-06-01", **COMPLEX)
    node = facts
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    plan = build_plan(facts, pack_set, "2025-06-01")
    failed = [w for w in plan.warnings if "could not be evaluated" in w["message"]]
    assert failed and all(w["severity"] == "moderate" for w in failed)
    assert plan.activities, "the rules that could be evaluated still give their items"


def test_plan__an_unreadable_age_applies_no_area_and_says_so(pack_set):
    facts = make_facts(as_of="2025-06-01", **COMPLEX)
    facts["patient"]["ageYears"] = "fifty"
    plan = build_plan(facts, pack_set, "2025-06-01")
    assert not plan.goals and not plan.activities and not plan.not_recommended
    assert "could not be read" in plan.population["statement"]
    assert {entry["area_id"] for entry in plan.population["left_out"]} == {area.id for area in pack_set.areas}


def test_plan__does_not_modify_the_facts(pack_set):
    import copy

    facts = make_facts(as_of="2025-06-01", **COMPLEX)
    before = copy.deepcopy(facts)
    build_plan(facts, pack_set, "2025-06-01")
    assert facts == before


def test_engine__is_pure():
    for path in ENGINE.rglob("*.py"):
        source = path.read_text()
        assert not re.search(r"^\s*(import|from) (flask|requests|httpx)", source, re.M), path
        assert "date.today" not in source and "datetime.now" not in source and "time.time" not in source, path


@pytest.mark.parametrize(("conditions", "said"), [(("frailty",), True), (("advanced_illness",), True), ((), False)])
def test_plan__frailty_or_advanced_illness_makes_colorectal_screening_the_clinicians_decision(pack_set, conditions,
                                                                                              said):
    plan = build_plan(make_facts(age=70, conditions=conditions), pack_set, "2025-06-01")
    screening = plan.activity("screen.colorectal")
    assert screening.clinician_choice
    assert ("ACP 2023 guidance advises stopping screening" in screening.rationale.text) is said
    cited = {c.guideline for c in screening.rationale.citations}
    assert any("American College of Physicians" in g for g in cited)


def _hba1c_bundle(*results: tuple[str, float, str]) -> dict:
    entries = [{"resource": {"resourceType": "Patient", "id": "p", "gender": "female", "birthDate": "1960-01-01"}},
               {"resource": {"resourceType": "Condition", "id": "dm", "subject": {"reference": "Patient/p"},
                             "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "E11.9"}]}}}]
    for rid, value, day in results:
        entries.append({"resource": {
            "resourceType": "Observation", "id": rid, "status": "final", "subject": {"reference": "Patient/p"},
            "code": {"coding": [{"system": "http://loinc.org", "code": "4548-4"}]}, "effectiveDateTime": day,
            "valueQuantity": {"value": value, "unit": "%", "system": "http://unitsofmeasure.org", "code": "%"}}})
    return {"resourceType": "Bundle", "type": "collection", "entry": entries}


def test_plan__latest_result_implausible_asks_to_verify_and_measure_again(pack_set):
    from app.context import facts_from_bundle

    bundle = _hba1c_bundle(("a1c-old", 7.2, "2025-03-01"), ("a1c-typo", 72.0, "2025-05-20"))
    facts = facts_from_bundle(bundle, pack_set.requirements, "2025-06-01")
    assert facts["measures"]["hba1c"]["value"] == 7.2  # the implausible one is used for nothing
    plan = build_plan(facts, pack_set, "2025-06-01")
    [warning] = [w for w in plan.warnings if w["rule_id"] == "data-implausible"]
    assert warning["refs"] == [{"type": "Observation", "id": "a1c-typo", "version": None}]
    assert "HbA1c 72 % implausible, please verify" in warning["message"]
    assert "measure again; the plan uses the earlier result of 2025-03-01" in warning["message"]


def test_plan__an_implausible_result_followed_by_a_plausible_one_needs_no_warning(pack_set):
    from app.context import facts_from_bundle

    bundle = _hba1c_bundle(("a1c-typo", 72.0, "2025-03-01"), ("a1c-new", 7.2, "2025-05-20"))
    plan = build_plan(facts_from_bundle(bundle, pack_set.requirements, "2025-06-01"), pack_set, "2025-06-01")
    assert not [w for w in plan.warnings if w["rule_id"] == "data-implausible"]


def test_plan__a_recent_frailty_finding_observation_also_makes_screening_the_clinicians_decision(pack_set):
    plan = build_plan(make_facts(age=70, procedures={"frailty_finding": 60}), pack_set, "2025-06-01")
    assert "ACP 2023 guidance advises stopping screening" in plan.activity("screen.colorectal").rationale.text
    old = build_plan(make_facts(age=70, procedures={"frailty_finding": 800}), pack_set, "2025-06-01")
    assert "ACP 2023 guidance advises stopping screening" not in old.activity("screen.colorectal").rationale.text


@pytest.mark.parametrize(("values", "has", "lacks"), [
    ([("2020-09-01", 52), ("2021-02-01", 48)], "ckd.monitoring", "ckd.confirm"),
    ([("2021-01-01", 52), ("2021-02-01", 48)], "ckd.confirm", "ckd.monitoring"),
])
def test_plan__ckd_needs_more_than_3_months_of_low_egfr_worded_from_the_dates(pack_set, values, has, lacks):
    from app.context import facts_from_bundle
    from app.formats import human_date
    from tests.test_context_scores import _egfr_series_bundle

    facts = facts_from_bundle(_egfr_series_bundle(values), pack_set.requirements, "2021-04-01")
    plan = build_plan(facts, pack_set, "2021-04-01")
    ids = {a.id for a in plan.activities}
    assert has in ids and lacks not in ids
    assert human_date(values[0][0]) in plan.activity(has).rationale.text  # since when, from the record


def test_unique_refs__first_seen_order_each_once():
    from app.refs import unique_refs

    a, b = {"type": "Condition", "id": "1", "version": None}, {"type": "Condition", "id": "2", "version": "3"}
    assert unique_refs([a, b, dict(a), b, {"type": "Condition", "id": "2", "version": None}]) == [
        a, b, {"type": "Condition", "id": "2", "version": None}]


@pytest.mark.parametrize(("unreadable", "asked"), [(True, False), (False, True)])
def test_plan__a_fact_that_could_not_be_read_is_neither_proposed_nor_ruled_out(pack_set, unreadable, asked):
    facts = make_facts(as_of="2025-06-01", age=50, smoking=None)
    message = "smoking status unknown: could not see Observation: the fhir server sent data carepath cannot read"
    facts["missing"] = [m for m in facts["missing"] if m["key"] != "smoking"]
    facts["missing"].append({"key": "smoking", "message": message, **({"unreadable": True} if unreadable else {})})
    plan = build_plan(facts, pack_set, "2025-06-01")
    assert (plan.activity("tobacco.ask") is not None) is asked
    notices = [w for w in plan.warnings if w["rule_id"] == "tobacco.ask"]
    assert bool(notices) is unreadable
    if unreadable:
        assert notices[0]["severity"] == "low" and "neither proposed nor ruled out" in notices[0]["message"]
        assert {"key": "smoking", "message": message} in plan.gaps  # the plan says what it could not see
        assert not any(item["rule_id"] == "tobacco.ask" for item in plan.not_recommended)
