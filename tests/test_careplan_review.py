"""Review-page helpers without Flask: grouping by area, edits from the form."""

from __future__ import annotations

import pytest
from werkzeug.datastructures import MultiDict

from app.careplan import PlanEditError
from app.careplan.review import areas, edits_from_form
from tests.careplan_sample import sample_plan

DOCTOR = "Practitioner/dr1"


def test_areas__groups_goals_activities_and_not_recommended():
    plan = sample_plan()
    plan["activities"].append({**plan["activities"][1], "id": "a-walk", "area": "Lifestyle", "area_id": "lifestyle"})
    plan["not_recommended"].append({"rule_id": "zz.other", "title": "x", "reason": "y"})
    grouped = areas(plan)
    assert [(a.id, a.title, len(a.goals), len(a.activities), len(a.not_recommended)) for a in grouped] == [
        ("t2d", "Type 2 diabetes", 2, 2, 1), ("lifestyle", "Lifestyle", 0, 1, 0),
        ("other-considerations", "Other considerations", 0, 0, 1)]
    assert grouped[0].goals[0]["bounds"] == {"low": 6.5, "high": 8.0, "unit": "%"}
    assert grouped[0].goals[1]["bounds"] is None


def test_areas__an_item_without_area_id_is_grouped_by_its_title():
    plan = sample_plan()
    plan["activities"].append({**plan["activities"][1], "id": "a-walk", "area": "Lifestyle", "area_id": None})
    assert [a.id for a in areas(plan)] == ["t2d", "lifestyle"]


def test_areas__uses_the_engines_area_titles_in_order():
    plan = sample_plan()
    plan["area_summaries"] = [{"area": "Blood pressure", "area_id": "bp", "text": "no reading"},
                              {"area": "Type 2 diabetes", "area_id": "t2d", "text": "HbA1c above goal"}]
    (area,) = areas(plan)  # an area with nothing to show is left out
    assert (area.id, area.summary, len(area.goals)) == ("t2d", "HbA1c above goal", 2)


def test_edits_from_form__unticked_changed_target_and_note():
    form = MultiDict([("keep", "a-hba1c"), ("target-g-hba1c", "7.5"), ("note", "  diet first  ")])
    edits = edits_from_form(sample_plan(), form, DOCTOR)
    assert edits.deselected == frozenset({"a-dsmes"}) and edits.goal_targets == {"g-hba1c": 7.5}
    assert edits.note == "diet first" and edits.author == DOCTOR


def test_edits_from_form__unchanged_target_is_not_an_edit():
    form = MultiDict([("keep", "a-hba1c"), ("keep", "a-dsmes"), ("target-g-hba1c", "7")])
    assert edits_from_form(sample_plan(), form, DOCTOR).empty


@pytest.mark.parametrize(("field", "value", "message"), [
    ("target-g-hba1c", "seven", "must be a number"),
    ("note", "x" * 2001, "limited to 2000"),
])
def test_edits_from_form__refuses_bad_input(field, value, message):
    with pytest.raises(PlanEditError, match=message):
        edits_from_form(sample_plan(), MultiDict([(field, value)]), DOCTOR)
