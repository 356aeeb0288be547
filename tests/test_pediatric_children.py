"""The four children of the shared Synthea sample, planned as the cohort job plans them (``plan_of``: facts, then
the engine) as of 2021-04-01 and 2026-12-07: each plan holds the AAP 2017 BP category with its percentiles where a
BP and a height are recorded, the CDC BMI-for-age percentile where a BMI (or a weight and height of the same day)
is recent, the screenings for the child's age, and no adult rule."""

from __future__ import annotations

import re
from datetime import date
from functools import cache

import pytest

from app.cohort.plans import plan_of
from app.context.facts import facts_from_resources
from app.engine import DEFAULT_PACK_DIR, load_pack_set
from app.fhir.decoding import load_file
from tests.conftest import SYNTHEA

#: name -> (file prefix, sex, birth date), found by birthDate among the 25 shared patients.
CHILDREN = {"Ardith": ("Ardith_Welch", "female", "2014-11-09"), "Jorge": ("Jorge_Brekke", "male", "2012-11-11"),
            "Maximina": ("Maximina_Hauck", "female", "2009-03-01"), "Noel": ("Noel_Reynolds", "male", "2019-01-24")}
#: The one primary-care rule written for adolescents (USPSTF 2022 depression screening, 12 to 17).
ADOLESCENT = "depression.screening-adolescent"


@cache
def _pack_set():
    return load_pack_set()


@cache
def _resources(name: str) -> list[dict]:
    [path] = SYNTHEA.glob(f"{CHILDREN[name][0]}_*.json")
    return [entry["resource"] for entry in load_file(path)["entry"]]


@cache
def _plan(name: str, as_of: str) -> dict:
    plan = plan_of(_resources(name), _pack_set(), date.fromisoformat(as_of))
    assert plan is not None
    return plan.to_dict()


@cache
def _scores(name: str, as_of: str) -> dict:
    return facts_from_resources(_resources(name), _pack_set().requirements, as_of)["scores"]


def _proposed(name: str, as_of: str) -> set[str]:
    return {activity["id"] for activity in _plan(name, as_of)["activities"]}


def _summary(name: str, as_of: str, area: str) -> str:
    return next(s["text"] for s in _plan(name, as_of)["area_summaries"] if s["area_id"] == area)


def test_children__found_by_birth_date_with_the_ages_the_issue_names():
    for name, (_prefix, sex, born) in CHILDREN.items():
        patient = next(r for r in _resources(name) if r["resourceType"] == "Patient")
        assert (patient["gender"], patient["birthDate"]) == (sex, born)
    ages = {name: _scores_age(name) for name in CHILDREN}
    assert ages == {"Ardith": 6, "Jorge": 8, "Maximina": 12, "Noel": 2}


def _scores_age(name: str) -> int:
    return facts_from_resources(_resources(name), _pack_set().requirements, "2021-04-01")["patient"]["ageYears"]


@pytest.mark.parametrize("as_of", ["2021-04-01", "2026-12-07"])
@pytest.mark.parametrize("name", list(CHILDREN))
def test_children__no_adult_rule_in_any_part_of_the_plan(name, as_of):
    adult = {rule.id for area in load_pack_set(DEFAULT_PACK_DIR).areas for rule in area.rules} - {ADOLESCENT}
    plan = _plan(name, as_of)
    used = {a["id"] for a in plan["activities"]} | {g["id"] for g in plan["goals"]}
    used |= {item["rule_id"] for item in [*plan["not_recommended"], *plan["warnings"]]}
    assert not used & adult, used & adult
    assert plan["goals"] == []
    # no adult wording anywhere in what the plan proposes or finds (the left-out list names the adult guidelines)
    shown = " ".join([*(a["rationale"]["text"] for a in plan["activities"]),
                      *(c["guideline"] + " " + c["section"] for a in plan["activities"]
                        for c in a["rationale"]["citations"]),
                      *(s["text"] for s in plan["area_summaries"]), *(w["message"] for w in plan["warnings"]),
                      *(a["title"] for a in plan["activities"]), plan["population"]["statement"] or ""])
    assert not re.search(r"\badults?\b|alcohol|130/80", shown, re.IGNORECASE), shown


# -- 2021-04-01: what each child's record supports ----------------------------------------------------------------

def test_ardith__6y_stage_2_by_the_girls_table_at_her_height_percentile():
    bp = _scores("Ardith", "2021-04-01")["bp_pediatric"]
    # 124.7/80.5 mm Hg on 2020-10-25 (age 5), 109.1 cm: the 14th height percentile, Table 5's 10th column
    assert (round(bp["sbp"]), round(bp["dbp"]), bp["ageAtMeasure"], bp["heightColumn"]) == (125, 80, 5, 10)
    assert 10 < bp["heightPercentile"] < 20 and bp["category"] == "stage 2"
    assert bp["thresholds"]["sbp"]["p95plus12"] <= bp["sbp"]  # the systolic is at the 95th + 12 mm Hg or above
    assert _proposed("Ardith", "2021-04-01") == {"peds.bp.stage2", "peds.tobacco.prevention"}
    assert "peds.bp.stage2" in {w["rule_id"] for w in _plan("Ardith", "2021-04-01")["warnings"]}
    assert "stage 2 (AAP 2017, AAP 2017 Table 5 (girls), age 5, height column 10th" in _summary(
        "Ardith", "2021-04-01", "pediatric-blood-pressure")


def test_ardith__bmi_for_age_between_the_85th_and_95th_percentiles_is_overweight():
    bmi = _scores("Ardith", "2021-04-01")["bmi_for_age"]
    # CDC 2000 girls at 6 years: 85th percentile about 17.1, 95th about 18.8 kg/m2 (CDC growth chart, BMI-for-age)
    assert bmi["bmi"] == pytest.approx(17.4, abs=0.1) and 85 <= bmi["percentile"] < 95
    assert bmi["class"] == "overweight"
    assert "peds.weight.behavioral-intervention" not in _proposed("Ardith", "2021-04-01")  # below the 95th
    assert "th percentile for age and sex" in _summary("Ardith", "2021-04-01", "pediatric-weight")


def test_jorge__8y_stage_1_by_the_diastolic_and_anxiety_screening():
    bp = _scores("Jorge", "2021-04-01")["bp_pediatric"]
    assert (round(bp["sbp"]), round(bp["dbp"]), bp["ageAtMeasure"], bp["heightColumn"]) == (113, 82, 7, 75)
    assert bp["category"] == "stage 1" and bp["dbpPercentile"] == "95th or more"
    # his only recent BMI is implausible (below): weight and height are measured again
    assert _proposed("Jorge", "2021-04-01") == {"peds.bp.stage1", "peds.anxiety.screening", "peds.tobacco.prevention",
                                                "peds.weight.measure"}


def test_jorge__a_bmi_outside_cdcs_plausible_range_is_not_used_and_is_said():
    # 11.1 kg/m2 at 7.8 years: CDC modified z-score -4.1, below the -4 cut point of CDC's SAS program
    assert "bmi_for_age" not in _scores("Jorge", "2021-04-01")
    gaps = [gap["message"] for gap in _plan("Jorge", "2021-04-01")["gaps"]]
    assert any(message.startswith("BMI 11.1 kg/m² (2020-08-16) is biologically implausible for age and sex (CDC "
                                  "modified z-score -4.1, outside -4 to 8): verify it") for message in gaps), gaps


def test_maximina__12y_table_category_depression_and_anxiety_screening():
    bp = _scores("Maximina", "2021-04-01")["bp_pediatric"]
    # 12 is the last age of the percentile tables (AAP 2017 Table 3: static thresholds from 13)
    assert (round(bp["sbp"]), round(bp["dbp"]), bp["ageAtMeasure"], bp["heightColumn"]) == (127, 80, 12, 75)
    assert bp["category"] == "stage 1" and "Table 5 (girls), age 12" in bp["method"]
    assert _proposed("Maximina", "2021-04-01") == {ADOLESCENT, "peds.bp.stage1", "peds.anxiety.screening",
                                                   "peds.tobacco.prevention"}
    assert _scores("Maximina", "2021-04-01")["bmi_for_age"]["class"] == "underweight"
    # 12: past the 9-11 lipid window, before the 17-21 one
    left = {item["rule_id"] for item in _plan("Maximina", "2021-04-01")["population"]["left_out"]}
    assert {"peds.lipid.9-11", "peds.lipid.17-21"} <= left


def test_noel__2y_weight_and_height_asked_for_bp_not_yet():
    scores = _scores("Noel", "2021-04-01")
    # his last BMI (2021-01-01) was taken at 1.9 years: the CDC BMI-for-age reference starts at 2, so none is read
    assert "bmi_for_age" not in scores and scores["bmi"]["date"] == "2021-01-01"
    assert _proposed("Noel", "2021-04-01") == {"peds.weight.measure"}
    assert "2 years or older" in _plan("Noel", "2021-04-01")["activities"][0]["rationale"]["text"]
    # a BP is recorded (age 1), but AAP 2017 measures BP from 3: the area does not apply, nothing is shown
    assert not [s for s in _plan("Noel", "2021-04-01")["area_summaries"] if s["area_id"] == "pediatric-blood-pressure"]
    left = {item["rule_id"] for item in _plan("Noel", "2021-04-01")["population"]["left_out"]}
    assert {"pediatric-blood-pressure", "pediatric-prevention"} <= left  # BP from 3, prevention from 6


# -- 2026-12-07: nothing recent, so each child is asked to be measured and screened for the new age --------------

@pytest.mark.parametrize(("name", "expected"), [
    ("Ardith", {"peds.bp.measure", "peds.weight.measure", ADOLESCENT, "peds.anxiety.screening",
                "peds.tobacco.prevention"}),  # 12
    ("Jorge", {"peds.bp.measure", "peds.weight.measure", ADOLESCENT, "peds.anxiety.screening",
               "peds.tobacco.prevention"}),  # 14
    ("Maximina", {"peds.bp.measure", "peds.weight.measure", ADOLESCENT, "peds.anxiety.screening",
                  "peds.tobacco.prevention", "peds.lipid.17-21"}),  # 17: the second lipid window
    ("Noel", {"peds.bp.measure", "peds.weight.measure", "peds.tobacco.prevention"}),  # 7
])
def test_children__six_years_later_every_measurement_and_screening_is_due(name, expected):
    assert _proposed(name, "2026-12-07") == expected
    scores = _scores(name, "2026-12-07")
    assert "bp_pediatric" not in scores and "bmi_for_age" not in scores  # no fresh data: nothing is categorised


def test_text_format__a_childs_area_summaries_carry_the_percentiles(capsys):
    from app.cli import main

    [path] = SYNTHEA.glob("Ardith_Welch_*.json")
    assert main(["plan", str(path), "--as-of", "2021-04-01", "--format", "text"]) == 0
    lines = capsys.readouterr().out.splitlines()
    weight = next(line for line in lines if line.startswith("SUMMARY  pediatric-weight: "))
    assert re.search(r"BMI 17\.\d kg/m2 on 25 Oct 2020: \d\d\.\dth percentile for age and sex \(z 1\.\d+\), "
                     r"overweight", weight), weight
    pressure = next(line for line in lines if line.startswith("SUMMARY  pediatric-blood-pressure: "))
    assert "percentile for a height at the" in pressure and ": stage 2 (AAP 2017" in pressure
    assert lines.index(pressure) < next(i for i, line in enumerate(lines) if line.startswith("ACTIVITY"))


def test_charts__a_child_has_a_bmi_for_age_percentile_trend_an_adult_none():
    from app.careplan.charts import charts_for

    facts = facts_from_resources(_resources("Ardith"), _pack_set().requirements, "2021-04-01")
    trend = facts["scores"]["bmi_for_age_trend"]["series"]
    assert trend[-1]["date"] == "2020-10-25" and trend[-1]["value"] == facts["scores"]["bmi_for_age"]["percentile"]
    assert all(point["date"] >= "2016-11-09" for point in trend)  # from her 2nd birthday: the reference starts at 2
    chart = next(chart for chart in charts_for(facts, _plan("Ardith", "2021-04-01")) if chart.key == "bmi-for-age")
    assert chart.unit == "percentile" and chart.targets == []  # the pack sets no goal: no line is drawn
    assert f"latest {trend[-1]['value']:g} percentile on 25 Oct 2020" == chart.latest_text
    assert "BMI-for-age (CDC 2000) (percentile)" in str(chart.svg)
    [adult_file] = SYNTHEA.glob("Arla_Lang_*.json")
    adult = facts_from_resources([e["resource"] for e in load_file(adult_file)["entry"]], _pack_set().requirements,
                                 "2021-04-01")
    assert "bmi_for_age_trend" not in adult["scores"]
    assert "bmi-for-age" not in {chart.key for chart in charts_for(adult, {})}


def test_charts__a_childs_bp_is_drawn_against_the_aap_2017_stage_1_threshold_of_each_reading():
    from app.careplan.charts import charts_for
    from app.context.pediatric import bp_thresholds

    facts = facts_from_resources(_resources("Ardith"), _pack_set().requirements, "2021-04-01")
    trend = facts["scores"]["bp_pediatric_trend"]["series"]
    latest = facts["scores"]["bp_pediatric"]
    assert trend[-1]["date"] == latest["date"] == "2020-10-25"
    cuts = bp_thresholds("female", latest["ageAtMeasure"], latest["heightColumn"])
    # Table 3's "whichever is lower": the 95th percentile of her age and height column, or 130/80 mm Hg
    assert trend[-1]["stage1"] == {"sbp": min(cuts["sbp"]["p95"], 130), "dbp": min(cuts["dbp"]["p95"], 80)}
    keys = [chart.key for chart in charts_for(facts, _plan("Ardith", "2021-04-01"))]
    assert "bp-for-age" in keys and "bp" not in keys  # a child's BP is not drawn as an adult's
    chart = next(chart for chart in charts_for(facts, _plan("Ardith", "2021-04-01")) if chart.key == "bp-for-age")
    assert chart.references["systolic stage 1 from"][-1] == ("2020-10-25", float(trend[-1]["stage1"]["sbp"]))
    assert len(chart.references["diastolic stage 1 from"]) == len([p for p in trend if "stage1" in p])
    svg = str(chart.svg)
    assert 'class="reference"' in svg
    assert (f"systolic {trend[-1]['sbp']:g} mm Hg on 25 Oct 2020: {trend[-1]['sbpPercentile']} percentile, "
            f"{trend[-1]['category']}") in svg.replace("mmHg", "mm Hg")
    # every reading from 1 year of age is read (her readings from 3 years), each with its own age's thresholds
    assert [p["ageAtMeasure"] for p in trend] == sorted(p["ageAtMeasure"] for p in trend)
    assert len({p["stage1"]["sbp"] for p in trend}) > 1


def test_bp_trend__a_reading_without_a_height_within_a_year_is_shown_without_a_percentile():
    from app.context.pediatric import bp_trend

    facts = {"measures": {"sbp": {"series": [{"date": "2020-01-05", "value": 100}, {"date": "2020-01-05", "value": 104},
                                             {"date": "2021-02-01", "value": 135}]},
                          "dbp": {"series": [{"date": "2020-01-05", "value": 60}, {"date": "2020-01-05", "value": 62},
                                             {"date": "2021-02-01", "value": 70}]},
                          "height": {"series": [{"date": "2018-01-01", "value": 120.0, "ref": {}}]}}}
    series = bp_trend(facts, "male", date(2007, 6, 1))["series"]
    assert series[0]["sbp"] == 102 and series[0]["dbp"] == 61  # the day's mean
    assert "no height measured within a year" in series[0]["note"] and "stage1" not in series[0]
    # 13 years old on 2021-02-01: Table 3's static thresholds, no height needed
    assert series[1]["category"] == "stage 1" and series[1]["stage1"] == {"sbp": 130, "dbp": 80}
    assert bp_trend({"measures": {}}, "male", date(2007, 6, 1)) is None
    # from 18, adult thresholds apply: no point
    assert bp_trend(facts, "male", date(2000, 1, 1)) is None
