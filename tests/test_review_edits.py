"""An edited goal target is the same everywhere (the pieces; the walk over HAPI is in test_review_views.py)."""

from __future__ import annotations

import pytest

from app.careplan.model import edited_description, saved_targets, with_saved_targets
from tests.careplan_sample import sample_plan


@pytest.mark.parametrize(("description", "original", "value", "expected"), [
    ("HbA1c below 7 %", 7.0, 8.0, "HbA1c below 8 %"),
    ("HbA1c below 7.0 %", 7.0, 7.5, "HbA1c below 7.5 %"),
    ("Keep HbA1c under control", 7.0, 8.0, "Keep HbA1c under control (target changed to 8 %)"),
    ("Age 70: HbA1c below 7 %", 7.0, 8.0, "Age 70: HbA1c below 8 %"),
])
def test_edited_description__never_contradicts_the_target(description, original, value, expected):
    assert edited_description(description, original, value, "%") == expected


def test_with_saved_targets__shows_what_was_saved():
    plan = sample_plan()
    shown = with_saved_targets(plan, {"g-hba1c": 8.0})
    goal = next(g for g in shown["goals"] if g["id"] == "g-hba1c")
    assert (goal["description"], goal["target"]["value"]) == ("HbA1c below 8 %", 8.0)
    assert next(g for g in plan["goals"] if g["id"] == "g-hba1c")["target"]["value"] == 7.0  # not changed


def test_saved_targets__reads_the_goal_of_this_plan_only():
    from app.careplan.model import GOAL_ID_SYSTEM, goal_key

    plan = sample_plan()
    goals = [{"resourceType": "Goal", "identifier": [{"system": GOAL_ID_SYSTEM, "value": goal_key("k", "g-hba1c")}],
              "target": [{"detailQuantity": {"value": 8.0}}]},
             {"resourceType": "Goal", "identifier": [{"system": GOAL_ID_SYSTEM, "value": goal_key("other", "g-bp")}],
              "target": [{"detailQuantity": {"value": 140}}]}]
    assert saved_targets(plan, "k", goals) == {"g-hba1c": 8.0}
