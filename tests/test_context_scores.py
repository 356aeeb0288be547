"""Derived scores against the worked examples published with each equation."""

from __future__ import annotations

import pytest

from app.context.scores import bmi, ckd_epi_2021, pce_risk, pce_sum

# Goff DC Jr et al. 2013 ACC/AHA Guideline on the Assessment of Cardiovascular Risk (Circulation
# 2014;129(suppl 2):S49-S73), Table A: one profile for every sex/race group - 55 years, total cholesterol
# 213 mg/dL, HDL-C 50 mg/dL, untreated systolic BP 120 mm Hg, non-smoker, no diabetes - with each group's
# "Individual Sum" and predicted 10-year risk. The paper rounds ln values (ln 55 = 4.01), hence the
# tolerances: 0.02 on the sum, 0.1 percentage point on the risk.
WORKED_EXAMPLE = {"age": 55, "total_cholesterol": 213, "hdl": 50, "sbp": 120, "treated": False,
                  "smoker": False, "diabetes": False}


@pytest.mark.parametrize(("sex", "race", "individual_sum", "risk"), [
    ("female", "white", -29.67, 2.1),
    ("female", "black", 86.16, 3.0),
    ("male", "white", 60.69, 5.3),
    ("male", "black", 18.97, 6.1),
])
def test_pce__matches_the_goff_2013_worked_example(sex, race, individual_sum, risk):
    assert pce_sum(sex=sex, race=race, **WORKED_EXAMPLE) == pytest.approx(individual_sum, abs=0.02)
    assert pce_risk(sex=sex, race=race, **WORKED_EXAMPLE) == pytest.approx(risk, abs=0.1)


@pytest.mark.parametrize("race", ["other", "unknown", "white"])
def test_pce__uses_the_white_equations_for_races_other_than_black(race):
    assert pce_risk(sex="male", race=race, **WORKED_EXAMPLE) == pytest.approx(
        pce_risk(sex="male", race="white", **WORKED_EXAMPLE))


@pytest.mark.parametrize(("changed", "direction"), [
    ({"smoker": True}, 1), ({"diabetes": True}, 1), ({"sbp": 160}, 1), ({"hdl": 70}, -1), ({"age": 65}, 1),
])
def test_pce__risk_moves_the_way_each_factor_says(changed, direction):
    base = pce_risk(sex="female", race="white", **WORKED_EXAMPLE)
    moved = pce_risk(sex="female", race="white", **{**WORKED_EXAMPLE, **changed})
    assert (moved - base) * direction > 0


@pytest.mark.parametrize("age", [39, 80])
def test_pce__refuses_ages_outside_40_to_79(age):
    with pytest.raises(ValueError, match="outside 40-79"):
        pce_risk(sex="male", race="white", **{**WORKED_EXAMPLE, "age": age})


def test_pce__refuses_a_sex_it_has_no_equation_for():
    with pytest.raises(ValueError, match="female or male"):
        pce_risk(sex="unknown", race="white", **WORKED_EXAMPLE)


# CKD-EPI 2021 (Inker LA et al., N Engl J Med 2021;385:1737-1749; the equation as the NKF publishes it).
# No worked example with patient values is printed with the paper; these cases are the equation evaluated by
# hand: at Scr = kappa both spline terms are 1, leaving 142 x 0.9938^age (x 1.012 for women).
@pytest.mark.parametrize(("creatinine", "age", "sex", "expected"), [
    (0.7, 50, "female", 142 * 0.9938**50 * 1.012),
    (0.9, 50, "male", 142 * 0.9938**50),
    (1.0, 50, "female", 142 * (1.0 / 0.7) ** -1.200 * 0.9938**50 * 1.012),
    (1.2, 60, "male", 142 * (1.2 / 0.9) ** -1.200 * 0.9938**60),
    (0.5, 40, "female", 142 * (0.5 / 0.7) ** -0.241 * 0.9938**40 * 1.012),
    (0.6, 30, "male", 142 * (0.6 / 0.9) ** -0.302 * 0.9938**30),
])
def test_ckd_epi_2021__follows_the_published_equation(creatinine, age, sex, expected):
    assert ckd_epi_2021(creatinine_mg_dl=creatinine, age=age, sex=sex) == pytest.approx(expected, rel=1e-9)


# Worked examples published by others, each given to the whole number (no example is printed with the paper):
# a 55-year-old woman with Scr 0.9 mg/dL, "about 76" (creatinineclearancecalculator.net, CKD-EPI 2021 page,
# reviewed June 2026; its intermediate terms are rounded, so within 1), and a 55-year-old man with Scr 1.2 mg/dL,
# 71, as the NKF's kidney.org calculator answers (the 2009 equation would give 68 for him).
@pytest.mark.parametrize(("creatinine", "age", "sex", "published", "within"), [
    (0.9, 55, "female", 76, 1.0),
    (1.2, 55, "male", 71, 0.5),
])
def test_ckd_epi_2021__matches_worked_examples_published_by_others(creatinine, age, sex, published, within):
    assert ckd_epi_2021(creatinine_mg_dl=creatinine, age=age, sex=sex) == pytest.approx(published, abs=within)


@pytest.mark.parametrize(("low", "high", "sex"), [(0.9, 1.0, "male"), (1.0, 2.0, "female"), (0.5, 0.6, "female")])
def test_ckd_epi_2021__falls_as_creatinine_rises(low, high, sex):
    assert ckd_epi_2021(creatinine_mg_dl=high, age=50, sex=sex) < ckd_epi_2021(creatinine_mg_dl=low, age=50, sex=sex)


def test_ckd_epi_2021__is_for_adults_only():
    with pytest.raises(ValueError, match="adults"):
        ckd_epi_2021(creatinine_mg_dl=0.5, age=12, sex="female")


def test_bmi__is_weight_over_height_squared():
    assert bmi(weight_kg=81.65, height_cm=177.8) == pytest.approx(25.83, abs=0.01)


def _egfr_bundle(egfr: tuple[float, str] | None, creatinine: float | None, day: str = "2021-01-10") -> dict:
    def obs(i, code, value, unit):
        return {"resource": {"resourceType": "Observation", "id": i, "status": "final",
                             "subject": {"reference": "Patient/p"},
                             "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
                             "effectiveDateTime": day, "valueQuantity": {
                                 "value": value, "unit": unit, "system": "http://unitsofmeasure.org", "code": unit}}}
    entries = [{"resource": {"resourceType": "Patient", "id": "p", "gender": "male", "birthDate": "1950-01-01"}}]
    if egfr:
        entries.append(obs("egfr", "33914-3", *egfr))
    if creatinine:
        entries.append(obs("creat", "2160-0", creatinine, "mg/dL"))
    return {"resourceType": "Bundle", "type": "collection", "entry": entries}


def test_egfr__reported_in_ml_per_min_is_used_with_a_note():
    from app.context import default_requirements, facts_from_bundle

    facts = facts_from_bundle(_egfr_bundle((37.2, "mL/min"), None), default_requirements(), "2021-04-01")
    assert facts["scores"]["egfr"]["value"] == 37.2 and facts["scores"]["egfr"]["method"] == "reported"
    assert any("unit 'mL/min' read as mL/min/1.73m2" in q["problem"] for q in facts["dataQuality"])
    assert not any(m["key"] == "egfr" for m in facts["missing"])


@pytest.mark.parametrize(("creatinine", "conflict"), [(3.5, True), (1.0, False)])
def test_egfr__reported_and_computed_of_the_same_day_in_other_kdigo_categories_is_shown(creatinine, conflict):
    from app.context import default_requirements, facts_from_bundle

    facts = facts_from_bundle(_egfr_bundle((75, "mL/min/{1.73_m2}"), creatinine), default_requirements(),
                              "2021-04-01")
    egfr = facts["scores"]["egfr"]
    assert egfr["value"] == 75 and egfr["method"] == "reported"  # the laboratory's value is preferred
    assert ("conflict" in egfr) is conflict
    found = [q["problem"] for q in facts["dataQuality"] if "disagree" in q["problem"]]
    assert bool(found) is conflict
    if conflict:
        assert found[0].startswith("reported eGFR 75 (G2) and eGFR 17.9 (G4) computed from the same day's")


@pytest.mark.parametrize(("value", "category"), [(90, "G1"), (89.9, "G2"), (60, "G2"), (45, "G3a"), (44.9, "G3b"),
                                                 (30, "G3b"), (15, "G4"), (14.9, "G5")])
def test_gfr_category__kdigo_2024_boundaries(value, category):
    from app.context.derived import gfr_category

    assert gfr_category(value) == category


def test_egfr__older_than_its_look_back_feeds_no_score():
    from app.context import default_requirements, facts_from_bundle

    facts = facts_from_bundle(_egfr_bundle((25, "mL/min/{1.73_m2}"), 3.5, day="2019-01-10"), default_requirements(),
                              "2021-04-01")
    assert "egfr" not in facts["scores"]  # never stages CKD or drives a referral from 2019 results
    assert facts["measures"]["egfr"]["withinLookback"] is False  # still shown, with its date
    assert {m["key"]: m["message"] for m in facts["missing"]}["scores.egfr"] == \
        "no recent eGFR or creatinine: eGFR not computed"


@pytest.mark.parametrize(("values", "conflict"), [((7.2, 8.4), True), ((7.2, 7.2), False)])
def test_same_day__two_results_that_disagree_are_shown_and_the_latest_used(values, conflict):
    from app.context import default_requirements, facts_from_bundle

    def obs(i, value, moment):
        return {"resource": {"resourceType": "Observation", "id": i, "status": "final",
                             "subject": {"reference": "Patient/p"},
                             "code": {"coding": [{"system": "http://loinc.org", "code": "4548-4"}]},
                             "effectiveDateTime": moment, "valueQuantity": {
                                 "value": value, "unit": "%", "system": "http://unitsofmeasure.org", "code": "%"}}}
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [
        {"resource": {"resourceType": "Patient", "id": "p", "gender": "male", "birthDate": "1950-01-01"}},
        obs("morning", values[0], "2021-01-10T08:00:00Z"), obs("afternoon", values[1], "2021-01-10T15:00:00Z")]}
    facts = facts_from_bundle(bundle, default_requirements(), "2021-04-01")
    assert facts["measures"]["hba1c"]["value"] == values[1]
    found = [q for q in facts["dataQuality"] if "disagree" in q["problem"]]
    assert bool(found) is conflict
    if conflict:
        assert found[0]["problem"] == ("HbA1c: 2 results on 2021-01-10 disagree (7.2, 8.4 %); the latest (8.4) is "
                                       "used; please verify")
        assert found[0]["ref"]["id"] == "afternoon"


@pytest.mark.parametrize(("values", "expected"), [
    ([("2020-01-01", 55), ("2020-06-01", 50)], ("2020-01-01", 152)),
    ([("2020-01-01", 55), ("2020-03-01", 70), ("2020-06-01", 50)], ("2020-06-01", 0)),
    ([("2020-01-01", 55), ("2020-06-01", 65)], None),
    ([], None),
])
def test_abnormal_run__the_run_of_abnormal_results_ending_with_the_latest(values, expected):
    from app.context.derived import abnormal_run

    series = [{"date": day, "value": value} for day, value in values]
    assert abnormal_run(series, lambda value: value < 60) == expected


def _egfr_series_bundle(values: list[tuple[str, float]]) -> dict:
    entries = [{"resource": {"resourceType": "Patient", "id": "p", "gender": "male", "birthDate": "1950-01-01"}}]
    for index, (day, value) in enumerate(values):
        entries.append({"resource": {
            "resourceType": "Observation", "id": f"egfr-{index}", "status": "final",
            "subject": {"reference": "Patient/p"}, "code": {"coding": [{"system": "http://loinc.org",
                                                                        "code": "33914-3"}]},
            "effectiveDateTime": day, "valueQuantity": {"value": value, "unit": "mL/min/{1.73_m2}",
                                                        "system": "http://unitsofmeasure.org",
                                                        "code": "mL/min/{1.73_m2}"}}})
    return {"resourceType": "Bundle", "type": "collection", "entry": entries}


@pytest.mark.parametrize(("values", "chronic"), [
    ([("2020-09-01", 52), ("2021-02-01", 48)], True),   # 153 days below 60: CKD by KDIGO's definition
    ([("2021-01-01", 52), ("2021-02-01", 48)], False),  # 31 days: not yet
])
def test_chronicity__low_egfr_for_more_than_3_months_is_ckd_by_results(values, chronic):
    from app.context import default_requirements, facts_from_bundle

    facts = facts_from_bundle(_egfr_series_bundle(values), default_requirements(), "2021-04-01")
    assert facts["scores"]["egfr"]["lowSince"] == values[0][0]
    assert ("ckd_by_results" in facts["conditions"]) is chronic
    if chronic:
        assert facts["conditions"]["ckd_by_results"]["display"] == "eGFR below 60 since 2020-09-01 (153 days)"
