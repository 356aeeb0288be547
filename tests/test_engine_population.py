"""Whom a rule is for: the engine applies no area or rule to a patient outside its population (age, sex,
pregnancy), whatever the rule's applicability expressions say, and the plan names what it left out and why."""

from __future__ import annotations

from datetime import date
from functools import cache

import pytest

from app.engine import DEFAULT_PACK_DIR, build_plan, load_pack_set
from app.engine.authoring import guideline, plan_definition, rule
from app.engine.packs import pack_set_from_resources, read_pack_folder
from app.engine.synthetic import make_facts

AS_OF = "2025-06-01"
TEST_GUIDELINE = guideline("TEST-2025", "A test guideline", "2025", "https://example.org/guideline")


@cache
def _pack():
    return load_pack_set(DEFAULT_PACK_DIR)  # the adult pack alone: its populations


@cache
def _test_pack():
    """The bundled pack's Library and activities with one test area whose rules apply to everyone by their
    FHIRPath ("true"): only their stated populations keep them from a patient."""
    area = plan_definition(
        "population-test", "Population test", description="Rules that always apply, but for their populations.",
        guidelines=[TEST_GUIDELINE], when="true", ages=(18, None),
        rules=[rule("test.ages-45-75", "For ages 45 to 75", when=["true"], activity="bp-recheck", inputs=["patient"],
                    cite=[("TEST-2025", "§1")], text="ages", ages=(45, 75)),
               rule("test.women", "For women", when=["true"], activity="bp-recheck", inputs=["patient"],
                    cite=[("TEST-2025", "§2")], text="women", sex="female"),
               rule("test.nonpregnant", "For nonpregnant adults", when=["true"], activity="bp-recheck",
                    inputs=["patient"], cite=[("TEST-2025", "§3")], text="nonpregnant", pregnancy="excluded",
                    alert=("high", "a warning this rule would raise")),
               rule("test.pregnant", "For pregnant people", when=["true"], activity="bp-recheck",
                    inputs=["patient"], cite=[("TEST-2025", "§4")], text="pregnant", pregnancy="only")])
    resources = [(where, resource) for where, resource in read_pack_folder(DEFAULT_PACK_DIR)
                 if resource["resourceType"] != "PlanDefinition"]
    return pack_set_from_resources([*resources, ("test-area.json", area)])


def _ids(plan) -> set[str]:
    return {item.id for item in [*plan.goals, *plan.activities]} | {w["rule_id"] for w in plan.warnings} \
        | {n["rule_id"] for n in plan.not_recommended}


def _left_out(plan) -> dict[str, dict]:
    return {item["rule_id"]: item for item in plan.population["left_out"]}


def _birth_date(years: int, days_more: int = 0) -> str:
    """The birth date of someone who is ``years`` old on AS_OF, plus ``days_more`` days younger."""
    day = date.fromisoformat(AS_OF)
    born = date(day.year - years, day.month, day.day)
    return date.fromordinal(born.toordinal() + days_more).isoformat()


# A stage 2 hypertensive with diabetes and CKD: every adult area has something to say.
ADULT_FINDINGS = {"bp": (150, 95), "conditions": ("hypertension", "diabetes"), "hba1c": 8.2, "egfr": 50,
                  "uacr": 60, "bmi": 33, "smoking": "current", "ldl": 130, "ascvd10y": 12.0}


def test_population__a_day_before_the_18th_birthday_only_the_adolescent_rules_apply():
    facts = make_facts(as_of=AS_OF, birth_date=_birth_date(18, days_more=1), **ADULT_FINDINGS)
    assert facts["patient"]["ageYears"] == 17
    plan = build_plan(facts, _pack(), AS_OF)
    assert not plan.goals and not plan.gaps
    # depression screening is for adolescents from 12 (USPSTF 2022, its own rule); nothing else applies at 17
    assert [activity.id for activity in plan.activities] == ["depression.screening-adolescent"]
    assert [c.guideline for c in plan.activities[0].rationale.citations] == [
        "USPSTF: Depression and Suicide Risk in Children and Adolescents: Screening"]
    assert {item.area_id for item in plan.activities} == {"depression"}
    assert not [w for w in plan.warnings if w["rule_id"] != "pack-effective-period"]
    # one area holds the patient: the plan says what carepath covers for a child; what the packs do not cover is
    # said by their Libraries (the pediatric pack's out-of-scope), and the primary-care pack alone says nothing more
    assert plan.population["statement"] == "carepath's pediatric guidance for this age covers: Depression"
    left = _left_out(plan)
    assert set(left) == {area.id for area in _pack().areas if area.id != "depression"} | {"depression.follow-up",
                                                                                           "depression.screening"}
    assert left["blood-pressure"]["reason"].startswith("for adults aged 18 and over (2017 ACC/AHA Guideline")
    assert "htn.medication-stage2" in {r["rule_id"] for r in left["blood-pressure"]["rules"]}
    assert left["blood-pressure"]["refs"] == facts["patient"]["refs"]
    # the adult PHQ-9 cut-off is not applied to an adolescent
    assert left["depression.follow-up"]["reason"].endswith("the patient is 17 years old")


def test_population__a_day_before_the_12th_birthday_nothing_applies_and_the_plan_says_why():
    facts = make_facts(as_of=AS_OF, birth_date=_birth_date(12, days_more=1), **ADULT_FINDINGS)
    assert facts["patient"]["ageYears"] == 11
    plan = build_plan(facts, _pack(), AS_OF)
    assert not plan.goals and not plan.activities and not plan.not_recommended and not plan.gaps
    assert plan.population["statement"] == (
        "carepath's guideline packs cover adults (18 and over), and from 12: Depression; none covers this age: the "
        "patient is 11 years old, so no guideline area was applied")
    assert set(_left_out(plan)) == {area.id for area in _pack().areas}


def test_population__on_the_18th_birthday_the_adult_packs_apply():
    facts = make_facts(as_of=AS_OF, birth_date=_birth_date(18), **ADULT_FINDINGS)
    assert facts["patient"]["ageYears"] == 18
    plan = build_plan(facts, _pack(), AS_OF)
    assert {"htn.medication-stage2", "htn.bp-goal", "t2d.hba1c-goal", "tobacco.counselling"} <= _ids(plan)
    assert plan.population["statement"] is None
    assert not [item for item in plan.population["left_out"] if item["kind"] == "area"]


def test_population__an_unknown_age_applies_no_adult_area():
    plan = build_plan(make_facts(as_of=AS_OF, age=None, **ADULT_FINDINGS), _pack(), AS_OF)
    assert not plan.goals and not plan.activities
    assert "age is not known (no date of birth on record)" in plan.population["statement"]


@pytest.mark.parametrize(("age", "applies"), [(44, False), (45, True), (75, True), (76, False)])
def test_population__a_rule_narrower_than_its_area_keeps_its_own_ages(age, applies):
    plan = build_plan(make_facts(as_of=AS_OF, age=age), _pack(), AS_OF)
    assert (plan.activity("screen.colorectal") is not None) is applies
    left = _left_out(plan)
    assert ("screen.colorectal" in left) is not applies
    if not applies:
        assert left["screen.colorectal"]["reason"].startswith("for adults aged 45 to 75 (USPSTF: Colorectal Cancer")
        assert left["screen.colorectal"]["reason"].endswith(f"the patient is {age} years old")


@pytest.mark.parametrize(("sex", "words"), [("male", "the patient's recorded sex is male"),
                                            ("unknown", "the patient's sex is not recorded")])
def test_population__sex_limited_rules_leave_out_other_sexes(sex, words):
    plan = build_plan(make_facts(as_of=AS_OF, age=50, sex=sex), _pack(), AS_OF)
    assert plan.activity("screen.breast") is None and plan.activity("screen.cervical") is None
    left = _left_out(plan)
    assert left["screen.breast"]["reason"].startswith("for women aged 40 to 74") and words in \
        left["screen.breast"]["reason"]
    assert plan.activity("screen.colorectal") is not None  # the area itself still applies


def test_population__sex_limited_rules_apply_to_the_stated_sex():
    plan = build_plan(make_facts(as_of=AS_OF, age=50, sex="female"), _pack(), AS_OF)
    assert plan.activity("screen.breast") is not None and plan.activity("screen.cervical") is not None
    assert "screen.breast" not in _left_out(plan)


def test_population__the_engine_gates_whatever_the_rules_fhirpath_says():
    plan = build_plan(make_facts(as_of=AS_OF, age=30, sex="male"), _test_pack(), AS_OF)
    assert plan.activity("test.ages-45-75") is None and plan.activity("test.women") is None
    assert {"test.ages-45-75", "test.women"} <= set(_left_out(plan))
    assert plan.activity("test.nonpregnant") is not None  # in its population: its "true" applies
    assert _left_out(plan)["test.ages-45-75"]["reason"] == ("for adults aged 45 to 75 (A test guideline, §1); "
                                                              "the patient is 30 years old")


def test_population__pregnancy_excluded_leaves_out_the_rule_and_its_warning():
    plan = build_plan(make_facts(as_of=AS_OF, age=30, conditions=("pregnancy",)), _test_pack(), AS_OF)
    assert "test.nonpregnant" not in _ids(plan)  # neither its activity nor its high-severity warning
    assert _left_out(plan)["test.nonpregnant"]["reason"].endswith("pregnancy is recorded")
    assert plan.activity("test.pregnant") is not None


def test_population__pregnancy_only_is_silent_for_a_patient_not_pregnant():
    plan = build_plan(make_facts(as_of=AS_OF, age=30), _test_pack(), AS_OF)
    assert plan.activity("test.pregnant") is None and "test.pregnant" not in _left_out(plan)
    assert {w["rule_id"] for w in plan.warnings} >= {"test.nonpregnant"}


def test_population__the_bundled_pregnancy_rules_apply_only_in_pregnancy():
    facts = make_facts(as_of=AS_OF, age=30, bp=(165, 112), conditions=("hypertension",))
    assert "htn.pregnancy-severe" not in _ids(build_plan(facts, _pack(), AS_OF))
    pregnant = make_facts(as_of=AS_OF, age=30, bp=(165, 112), conditions=("hypertension", "pregnancy"))
    assert "htn.pregnancy-severe" in _ids(build_plan(pregnant, _pack(), AS_OF))


def test_population__the_plan_round_trips_through_json():
    from app.engine.model import Plan

    plan = build_plan(make_facts(as_of=AS_OF, age=10), _pack(), AS_OF)
    again = Plan.from_dict(plan.to_dict())
    assert again.population == plan.population and again.population["statement"]


def test_population__what_the_packs_do_not_cover_is_read_from_their_libraries():
    import copy

    from app.engine.packs import PEDIATRIC_PACK_DIR
    from app.engine.parse import EXT

    pack_set = copy.deepcopy(load_pack_set(f"{PEDIATRIC_PACK_DIR}"))
    facts = make_facts(as_of=AS_OF, birth_date=_birth_date(9), bp=(100, 60))
    said = build_plan(facts, pack_set, AS_OF).population["statement"]
    assert said.endswith("; immunizations and developmental screening are not covered: follow the practice's "
                         "schedule for them")
    [extension] = [e for e in pack_set.library["extension"] if e["url"] == EXT + "out-of-scope"]
    extension["valueString"] = "vision and hearing screening are not covered"
    assert build_plan(facts, pack_set, AS_OF).population["statement"] == (
        said.split(";")[0] + "; vision and hearing screening are not covered")
    pack_set.library["extension"].remove(extension)
    assert build_plan(facts, pack_set, AS_OF).population["statement"] == said.split(";")[0]
