"""Server-rendered SVG trend charts: the plan's target drawn in, never an invented one, text escaped."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from app.careplan.charts import charts_for, nice_ticks, unseen_results
from tests.careplan_sample import sample_plan

SVG = "{http://www.w3.org/2000/svg}"


def _facts(**measures):
    return {"measures": {key: {"unit": unit, "series": [{"date": d, "value": v} for d, v in points]}
                         for key, (unit, points) in measures.items()}}


def test_charts__hba1c_with_the_goal_target_line():
    facts = _facts(hba1c=("%", [("2019-07-01", 7.9), ("2020-01-15", 8.1)]))
    (chart,) = charts_for(facts, sample_plan())
    assert chart.key == "hba1c" and chart.targets == [("<", 7.0, "target < 7 %")]
    root = ET.fromstring(str(chart.svg))  # noqa: S314 - our own output
    assert root.get("role") == "img" and root.get("aria-labelledby") == "chart-hba1c-title chart-hba1c-desc"
    assert len(root.findall(f"{SVG}line[@class='target']")) == 1
    assert len(root.findall(f"{SVG}circle[@class='series series-0']")) == 2
    assert "latest 8.1 % on 15 Jan 2020" in root.find(f"{SVG}title").text
    # The text alternative lists every value and the target; the latest value is printed beside its point.
    assert root.find(f"{SVG}desc").text == "Values HbA1c: 7.9 on 1 Jul 2019, 8.1 on 15 Jan 2020. Target: target < 7 %."
    assert [t.text for t in root.findall(f"{SVG}text[@class='latest-value']")] == ["8.1"]
    # Dates on the x axis, the unit on the y axis, and a legend naming the target.
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert {"Jul 2019", "Jan 2020", "%", "date", "target < 7 %"} <= set(texts)


def test_charts__target_zone_is_drawn_behind_the_points():
    facts = _facts(hba1c=("%", [("2019-07-01", 6.5), ("2020-01-15", 8.1)]))
    root = ET.fromstring(str(charts_for(facts, sample_plan())[0].svg))  # noqa: S314 - our own output
    order = [element.get("class") for element in root]
    assert order.index("target-zone") < order.index("series series-0")
    zone = root.find(f"{SVG}rect[@class='target-zone']")
    line = root.find(f"{SVG}line[@class='target']")
    # "< 7 %": the zone runs from the target line down to the axis.
    assert float(zone.get("y")) == pytest.approx(float(line.get("y1")), abs=0.1)


def test_charts__blood_pressure_has_two_series_and_two_targets():
    facts = _facts(sbp=("mm[Hg]", [("2019-01-10", 142), ("2020-01-15", 135)]),
                   dbp=("mm[Hg]", [("2019-01-10", 91), ("2020-01-15", 84)]))
    (chart,) = charts_for(facts, sample_plan())
    assert list(chart.series) == ["systolic", "diastolic"]
    assert [value for _c, value, _l in chart.targets] == [130.0, 80.0]
    root = ET.fromstring(str(chart.svg))  # noqa: S314 - our own output
    assert len(root.findall(f"{SVG}polyline")) == 2
    legend = [t.text for t in root.findall(f"{SVG}text[@class='legend']")]
    assert legend[:2] == ["systolic", "diastolic"]
    assert chart.latest_text == "latest 135/84 mmHg on 15 Jan 2020"


@pytest.mark.parametrize("key", ["ldl", "egfr", "bmi"])
def test_charts__no_goal_in_the_plan_means_no_target_line(key):
    (chart,) = charts_for(_facts(**{key: ("x", [("2020-01-15", 42.0)])}), sample_plan())
    assert chart.targets == [] and "class=\"target\"" not in str(chart.svg)


def test_charts__single_latest_value_without_series_and_nothing_for_absent_measures():
    facts = {"measures": {"bmi": {"value": 31.2, "unit": "kg/m2", "date": "2020-02-01"}, "ldl": {}}}
    charts = charts_for(facts, {"goals": []})
    assert [c.key for c in charts] == ["bmi"] and charts[0].series == {"BMI": [("2020-02-01", 31.2)]}
    assert charts_for({}, {}) == []


def test_charts__escapes_units_and_has_no_inline_style_or_script():
    facts = _facts(hba1c=("<script>%", [("2020-01-15", 8.1)]))
    svg = str(charts_for(facts, {"goals": []})[0].svg)
    assert "<script>" not in svg and "&lt;script&gt;" in svg and "style=" not in svg


@pytest.mark.parametrize(("low", "high", "ticks"), [
    (6.5, 8.3, [6.5, 7.0, 7.5, 8.0]), (70, 205, [100, 150, 200]), (0.5, 0.51, [0.5, 0.505, 0.51]), (3, 3, [3]),
])
def test_charts__value_axis_ticks_are_round_numbers_inside_the_range(low, high, ticks):
    assert nice_ticks(low, high) == ticks


UNSEEN = "could not see Observation: the fhir server sent data carepath cannot read"


@pytest.mark.parametrize(("notes", "expected"), [
    ([{"type": "Observation", "message": UNSEEN}], UNSEEN),
    ([{"type": "MedicationRequest", "message": "could not see MedicationRequest: scope not granted"}], None),
    ([], None),
])
def test_charts__results_that_could_not_be_read_are_named(notes, expected):
    assert unseen_results({"fetch": {"notes": notes}}) == expected
    assert unseen_results({}) is None


@pytest.mark.parametrize("unseen", [UNSEEN, None])
def test_charts__the_trends_say_they_are_incomplete_rather_than_disappear(app, unseen):
    with app.test_request_context():
        from flask import render_template

        page = render_template("review/_charts.html", charts=[], trends_unseen=unseen)
    assert ("Trends incomplete: carepath " + UNSEEN in page) is bool(unseen)
    assert ("id=\"trends\"" in page) is bool(unseen)
