"""Every clinical case of app/engine/cases.py through the engine: positive, negative, boundary, safety."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.engine import build_plan, load_pack_set
from app.engine.cases import AS_OF, CASES, Case, table
from app.engine.synthetic import make_facts

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def pack_set():
    return load_pack_set()


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_engine_case__expected_plan(pack_set, case: Case):
    plan = build_plan(make_facts(as_of=AS_OF, **case.facts), pack_set, AS_OF)
    items = {item.id for item in plan.activities} | {goal.id for goal in plan.goals}
    assert set(case.has) <= items, f"missing {set(case.has) - items}"
    assert not set(case.lacks) & items, f"unexpected {set(case.lacks) & items}"
    assert set(case.not_recommended) <= {item["rule_id"] for item in plan.not_recommended}
    assert set(case.warnings) <= {item["rule_id"] for item in plan.warnings}
    assert not set(case.no_warnings) & {item["rule_id"] for item in plan.warnings}
    assert set(case.gaps) <= {gap["key"] for gap in plan.gaps}
    assert set(case.outside) <= {item["rule_id"] for item in plan.population["left_out"]}
    for activity_id, due in case.due.items():
        assert plan.activity(activity_id).timing["due"] == due
    flagged = {item.id: item.clinician_choice for item in [*plan.activities, *plan.goals]}
    assert all(flagged.get(item_id) is True for item_id in case.choice), \
        f"not the clinician's choice: {[i for i in case.choice if flagged.get(i) is not True]}"
    assert all(flagged.get(item_id) is False for item_id in case.not_choice), \
        f"missing or flagged: {[i for i in case.not_choice if flagged.get(i) is not False]}"


def test_engine_cases__docs_table_is_current():
    assert (ROOT / "docs" / "cases.md").read_text(encoding="utf-8") == table(), \
        "docs/cases.md is stale: run python -m app.engine.cases > docs/cases.md"
