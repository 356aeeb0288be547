"""The pediatric pack's measures: the AAP 2017 BP table against an independent copy of the published tables, the
category rules of Table 3, and the CDC 2000 BMI-for-age reference (rcpchgrowth) against CDC's published values."""

from __future__ import annotations

import pytest

from app.context.pediatric import bmi_class, bmi_for_age, bp_category, bp_table, bp_thresholds, nearest_column

#: Flynn 2017 Table 4 (boys), as a second transcription prints it (UpToDate's copy, "Blood pressure levels for
#: males by age and height percentile"): age -> row -> (SBP at the 5th, 50th, 95th height percentile, DBP at the
#: same columns).
UPTODATE_BOYS = {
    1: {"p50": (85, 86, 88, 40, 41, 42), "p90": (98, 100, 101, 52, 53, 54), "p95": (102, 103, 105, 54, 55, 57),
        "p95plus12": (114, 115, 117, 66, 67, 69)},
    2: {"p50": (87, 89, 91, 43, 44, 46), "p90": (100, 102, 104, 55, 56, 58), "p95": (104, 106, 108, 57, 59, 61),
        "p95plus12": (116, 118, 120, 69, 71, 73)},
    3: {"p50": (88, 90, 92, 45, 47, 49), "p90": (101, 103, 105, 58, 59, 61), "p95": (106, 107, 109, 60, 62, 64),
        "p95plus12": (118, 119, 121, 72, 74, 76)},
    4: {"p50": (90, 92, 94, 48, 50, 52), "p90": (102, 105, 107, 60, 62, 64), "p95": (107, 108, 110, 63, 66, 68),
        "p95plus12": (119, 120, 122, 75, 78, 80)},
}


#: Flynn 2017 Table 5 (girls), as a second transcription prints it (the flynn2017 data of the R package pedbp,
#: transcribed from the publication): age -> row -> (SBP at the 5th, 50th, 95th height percentile, DBP at the same
#: columns). All 504 cells of ages 1 to 12 (50th, 90th and 95th rows, every column) were compared once; these rows
#: are kept as the test.
PEDBP_GIRLS = {
    1: {"p50": (84, 86, 88, 41, 43, 46), "p90": (98, 100, 102, 54, 56, 58),
        "p95": (101, 103, 105, 59, 60, 62)},
    3: {"p50": (88, 90, 93, 48, 50, 53), "p90": (102, 104, 107, 60, 62, 65),
        "p95": (106, 108, 110, 64, 66, 69)},
    6: {"p50": (92, 94, 97, 54, 56, 59), "p90": (105, 108, 111, 67, 69, 71),
        "p95": (109, 111, 114, 70, 72, 74)},
    9: {"p50": (95, 98, 101, 57, 60, 61), "p90": (108, 111, 114, 71, 73, 73),
        "p95": (112, 114, 118, 74, 75, 75)},
    12: {"p50": (102, 105, 108, 61, 62, 65), "p90": (114, 118, 122, 75, 75, 76),
        "p95": (118, 122, 126, 78, 78, 79)},
}


SECOND_TRANSCRIPTION = {"male": UPTODATE_BOYS, "female": PEDBP_GIRLS}


@pytest.mark.parametrize(("sex", "age"), [(sex, age) for sex, table in SECOND_TRANSCRIPTION.items()
                                          for age in sorted(table)])
def test_bp_table__matches_a_second_transcription_at_the_5th_50th_95th_height_columns(sex, age):
    for row, expected in SECOND_TRANSCRIPTION[sex][age].items():
        found = tuple(bp_thresholds(sex, age, column)[side][row] for side in ("sbp", "dbp")
                      for column in (5, 50, 95))
        assert found == expected, (sex, age, row)


def test_bp_table__every_95th_plus_12_row_is_the_95th_row_plus_12():
    for sex in ("male", "female"):
        for age, block in bp_table()["sexes"][sex].items():
            for side in ("sbp", "dbp"):
                assert [v + 12 for v in block[side]["p95"]] == block[side]["p95plus12"], (sex, age, side)


def test_bp_table__girls_cells_as_published_in_table_5():
    # Flynn 2017 Table 5: girls 6 years, 50th height percentile: 90th 108/69, 95th 111/72; 12 years, 95th height
    # percentile: 95th 126/79, 95th + 12 138/91.
    assert bp_thresholds("female", 6, 50)["sbp"]["p90"] == 108 and bp_thresholds("female", 6, 50)["dbp"]["p90"] == 69
    assert bp_thresholds("female", 12, 95)["sbp"]["p95"] == 126 and bp_thresholds("female", 12, 95)["dbp"]["p95"] == 79
    assert bp_thresholds("female", 12, 95)["sbp"]["p95plus12"] == 138


@pytest.mark.parametrize(("sbp", "dbp", "category"), [
    (100, 60, "normal"), (110, 60, "elevated"), (114, 60, "stage 1"), (126, 60, "stage 2"), (100, 75, "stage 1"),
    (100, 86, "stage 2")])
def test_bp_category__a_boy_of_8_at_the_50th_height_percentile(sbp, dbp, category):
    # Table 4, 8 years, 50th column: 90th 110/71, 95th 114/74, 95th + 12 126/86
    cuts = bp_thresholds("male", 8, 50)
    assert bp_category(sbp, dbp, 8, cuts) == category


def test_bp_category__the_adult_cut_offs_win_when_lower():
    # Table 4, 12 years, 95th column: 90th SBP 122 -> 120 is lower: 121 is elevated; 95th 128 -> 130 is not lower
    cuts = bp_thresholds("male", 12, 95)
    assert bp_category(121, 60, 12, cuts) == "elevated" and bp_category(129, 60, 12, cuts) == "stage 1"
    assert bp_category(100, 80, 12, cuts) == "stage 1"  # DBP 95th 79 -> stage 1 from 79; 80 is stage 1 either way


@pytest.mark.parametrize(("sbp", "dbp", "category"), [
    (119, 79, "normal"), (125, 70, "elevated"), (132, 70, "stage 1"), (118, 82, "stage 1"), (141, 70, "stage 2"),
    (110, 90, "stage 2")])
def test_bp_category__static_thresholds_from_13(sbp, dbp, category):
    assert bp_category(sbp, dbp, 14, None) == category


def test_nearest_column__the_height_percentile_picks_the_nearest_published_column():
    assert [nearest_column(p) for p in (1, 7.4, 14.4, 40, 62.5, 83, 99)] == [5, 5, 10, 50, 50, 90, 95]


@pytest.mark.parametrize(("sex", "months", "p5", "p50", "p85", "p95"), [
    # CDC bmiagerev.csv (Sex 1 male, 2 female; Agemos; P5, P50, P85, P95)
    ("male", 24.5, 14.71929257, 16.54777487, 18.11954923, 19.27889813),
    ("male", 60.5, 13.83854804, 15.41914163, 16.84075838, 17.93892524),
    ("male", 96.5, 13.79574779, 15.78231007, 17.95575444, 20.06792538),
    ("female", 180.5, 16.30973602, 19.9305662, 24.04502533, 28.12369169),
])
def test_bmi_for_age__matches_cdc_published_percentiles(sex, months, p5, p50, p85, p95):
    age = months / 12
    assert bmi_for_age(p50, sex, age)["percentile"] == pytest.approx(50, abs=0.2)
    assert bmi_for_age(p85, sex, age)["percentile"] == pytest.approx(85, abs=0.2)
    found = bmi_for_age(p95 + 0.5, sex, age)
    assert found["p95"] == pytest.approx(p95, abs=0.05) and found["p5"] == pytest.approx(p5, abs=0.05)
    assert found["class"] == "obesity"


def test_bmi_class__cdc_and_aap_2023_classes():
    assert [bmi_class(bmi, 14.0, 18.0, 20.0) for bmi in (13.9, 15, 18, 20, 23.9, 24)] == [
        "underweight", "healthy weight", "overweight", "obesity", "obesity", "severe obesity"]


def test_modified_z__cdcs_worked_example():
    """CDC's example of its modified z-score: a boy of 48.5 months, median BMI 15.62, BMI at z = -2 13.74, so the
    modified z-value is 0.94 and a BMI of 12 has a modified z-score of (12 - 15.62) / 0.94 = -3.85."""
    from app.context.pediatric import modified_z

    assert modified_z("bmi", 12.0, "male", 48.5 / 12) == pytest.approx(-3.85, abs=0.02)


@pytest.mark.parametrize(("measurement", "value", "age", "flagged"), [
    ("bmi", 12.0, 48.5 / 12, False),   # modified z -3.85: inside CDC's -4 to 8
    ("bmi", 11.0, 48.5 / 12, True),    # about -4.9: below -4
    ("height", 124.9, 7.5, False),     # the median
    ("height", 60.0, 7.5, True),       # far below -5
    ("weight", 24.3, 7.5, False),
    ("weight", 120.0, 7.5, True),      # far above 8
])
def test_implausible_growth__cdcs_biv_cut_points(measurement, value, age, flagged):
    from app.context.pediatric import implausible_growth

    reason = implausible_growth(measurement, value, "male", age, "2020-01-01")
    assert (reason is not None) is flagged
    if flagged:
        assert "biologically implausible for age and sex (CDC modified z-score" in reason
