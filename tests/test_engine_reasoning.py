"""Clinical reasoning over whole plans: no BP goal or BP treatment without a diagnosis, every severe or acute value
a warning with an action due now, history older than its rule's look-back treated as absent, surveillance after
polyps never given the average-risk interval, and texts without "unknown" or adult staging in pregnancy. Checked on
the 25 shared Synthea patients at the two dates the other plan tests use, and on targeted facts."""

from __future__ import annotations

import json
import re
from functools import cache

import pytest

from app.context import facts_from_bundle
from app.engine import build_plan, load_pack_set
from app.engine.cases import AS_OF
from app.engine.synthetic import make_facts
from tests.conftest import SYNTHEA

DATES = ("2020-06-01", "2021-04-01")
#: A value placeholder rendered empty ("10-year ASCVD risk unknown %"): the text must say what is absent instead.
UNKNOWN_VALUE = re.compile(r"unknown\s*(?:%|mmHg|mg/|mL/|kg/)|risk unknown")
BP_TREATMENT = {"htn.medication-stage1", "htn.medication-stage2", "htn.treatment-review", "htn.recheck-after-start",
                "htn.recheck-stage1-low-risk"}


@cache
def _pack():
    return load_pack_set()


@cache
def _population() -> list[tuple[str, dict, dict]]:
    """(label, facts, plan as JSON) for every shared Synthea patient at both dates."""
    found = []
    for path in sorted(SYNTHEA.glob("*.json")):
        bundle = json.loads(path.read_text())
        for as_of in DATES:
            facts = facts_from_bundle(bundle, _pack().requirements, as_of)
            found.append((f"{path.stem[:24]} @ {as_of}", facts, build_plan(facts, _pack(), as_of).to_dict()))
    return found


def _diagnosed(facts: dict) -> bool:
    """Hypertension by the guideline's diagnostic rule, read from the facts independently of the pack."""
    bp, conditions = facts.get("bp") or {}, facts["conditions"]
    by_readings = (bp.get("occasions") or 0) >= 2 and (bp.get("sbp", 0) >= 130 or bp.get("dbp", 0) >= 80)
    treated = (facts.get("treatment", {}).get("hypertension") or {}).get("status") == "treated"
    return "hypertension" in conditions or by_readings or treated


def _ids(plan: dict) -> set[str]:
    return {item["id"] for item in plan["goals"] + plan["activities"]}


def _warned(plan: dict) -> set[str]:
    return {warning["rule_id"] for warning in plan["warnings"]}


def test_population__the_checks_below_meet_both_kinds_of_patient():
    # the population holds both diagnosed and undiagnosed patients with raised readings, severe values and AKI:
    # without them the checks below would pass vacuously
    population = _population()
    assert any(_diagnosed(f) for _l, f, _p in population)
    assert any(not _diagnosed(f) and (f["bp"] or {}).get("sbp", 0) >= 130 for _l, f, _p in population)
    assert any((f["bp"].get("latest") or {}).get("sbp", 0) >= 180 for _l, f, _p in population if f["bp"])
    assert any("acute_kidney_by_results" in f["conditions"] for _l, f, _p in population)


def test_population__no_bp_goal_or_bp_treatment_without_a_diagnosis():
    wrong = [f"{label}: {sorted(_ids(plan) & (BP_TREATMENT | {'htn.bp-goal', 't2d.bp-goal'}))}"
             for label, facts, plan in _population()
             if not _diagnosed(facts) and _ids(plan) & (BP_TREATMENT | {"htn.bp-goal", "t2d.bp-goal"})]
    assert not wrong, "\n".join(wrong)


def test_population__every_severe_or_acute_value_is_a_warning_with_an_action_due_now():
    missing = []
    for label, facts, plan in _population():
        latest = (facts.get("bp") or {}).get("latest") or {}
        pregnant = "pregnancy" in facts["conditions"]
        due = {a["id"]: a["timing"]["due"] for a in plan["activities"]}
        expected = []
        if latest and (latest.get("sbp", 0) >= 180 or latest.get("dbp", 0) >= 120):
            expected.append("htn.pregnancy-severe" if pregnant else "htn.severe")
        if "acute_kidney_by_results" in facts["conditions"]:
            expected.append("ckd.acute-kidney")
        if (facts["scores"].get("egfr") or {}).get("conflict"):
            expected.append("ckd.egfr-conflict")
        for rule_id in expected:
            if rule_id not in _warned(plan) or due.get(rule_id) != facts["asOf"]:
                missing.append(f"{label}: {rule_id}")
        if "acute_kidney_by_results" in facts["conditions"] and {"ckd.confirm", "ckd.monitoring"} & _ids(plan):
            missing.append(f"{label}: chronic kidney rule during acute kidney injury or disease")
    assert not missing, "\n".join(missing)


def test_population__stale_smoking_status_asks_again_and_texts_have_no_unknown():
    wrong = []
    for label, facts, plan in _population():
        smoking = facts["smoking"]
        if (facts["patient"]["ageYears"] or 0) >= 18 and smoking.get("withinLookback") is False \
                and "tobacco.ask" not in _ids(plan):
            wrong.append(f"{label}: smoking status of {smoking['date']} silenced tobacco.ask")
        for item in plan["goals"] + plan["activities"]:
            if UNKNOWN_VALUE.search(item["rationale"]["text"]):
                wrong.append(f"{label}: {item['id']}: {item['rationale']['text'][:80]}")
    assert not wrong, "\n".join(wrong)


def test_population__polyps_are_never_given_the_average_risk_interval():
    wrong = [label for label, facts, plan in _population()
             if ("colorectal_polyp" in facts["conditions"] or "polypectomy" in facts["procedures"])
             and "screen.colorectal" in _ids(plan)]
    assert not wrong, "\n".join(wrong)


def _plan(**facts):
    return build_plan(make_facts(as_of=AS_OF, **facts), _pack(), AS_OF)


def _summary(plan, area_id: str) -> str:
    return next((s["text"] for s in plan.area_summaries if s["area_id"] == area_id), "")


@pytest.mark.parametrize(("facts", "staged"), [
    ({"bp": (150, 95), "conditions": ("pregnancy",), "sex": "female", "age": 30}, False),
    ({"bp": (150, 95, 1), "age": 50}, False),  # a single occasion is not classified
    ({"bp": (150, 95), "age": 50}, True),
])
def test_bp_summary__adult_stages_only_outside_pregnancy_and_from_2_occasions(facts, staged):
    text = _summary(_plan(**facts), "blood-pressure")
    assert text
    assert ("Stage 2" in text) is staged
    assert ("ACOG" in text) is ("pregnancy" in facts.get("conditions", ()))


@pytest.mark.parametrize(("ascvd10y", "shown"), [(None, "10-year ASCVD risk not computed"), (12.0, "12.0 %")])
def test_bp_stage1_text__names_an_absent_risk_without_unknown(ascvd10y, shown):
    plan = _plan(age=55, bp=(134, 84), conditions=("hypertension", "diabetes"), hba1c=7.0, ascvd10y=ascvd10y)
    text = next(a.rationale.text for a in plan.activities if a.id == "htn.medication-stage1")
    assert shown in text and "unknown" not in text


@pytest.mark.parametrize("conflict", [True, False])
def test_egfr_conflict__is_a_warning_with_a_repeat_due_now(conflict):
    facts = make_facts(as_of=AS_OF, age=60, egfr=73, uacr=10, creatinine=3.05)
    if conflict:
        facts["scores"]["egfr"]["conflict"] = {
            "value": 19.8, "method": "CKD-EPI 2021 (race-free)", "refs": [],
            "message": "reported eGFR 73 (G2) and eGFR 19.8 (G4) computed from the same day's creatinine disagree"}
    plan = build_plan(facts, _pack(), AS_OF)
    repeat = [a for a in plan.activities if a.id == "ckd.egfr-conflict"]
    assert bool(repeat) is conflict
    assert ("ckd.egfr-conflict" in {w["rule_id"] for w in plan.warnings}) is conflict
    if conflict:
        assert repeat[0].timing["due"] == AS_OF and "G4" in repeat[0].rationale.text
