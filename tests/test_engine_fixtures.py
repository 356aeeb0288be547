"""The clinical FHIR fixtures give their expected plans: offline from the Bundle, and through local HAPI."""

from __future__ import annotations

import json

import pytest

from app.context import assemble, facts_from_bundle
from app.engine import build_plan, load_pack_set
from app.engine.cases import FIXTURE_CASES, RECOGNITION_CASES, FixtureCase
from tests.conftest import FIXTURES


@pytest.fixture(scope="module")
def pack_set():
    return load_pack_set()


def _check(plan, case: FixtureCase) -> None:
    items = {item.id for item in plan.activities} | {goal.id for goal in plan.goals}
    assert set(case.has) <= items, f"missing {set(case.has) - items}"
    assert not set(case.lacks) & items, f"unexpected {set(case.lacks) & items}"
    assert set(case.not_recommended) <= {item["rule_id"] for item in plan.not_recommended}
    assert set(case.warnings) <= {item["rule_id"] for item in plan.warnings}
    for item in [*plan.goals, *plan.activities]:
        assert item.rationale.citation.year and item.rationale.text


def _ids(plan) -> dict[str, list[str]]:
    return {"goals": [g.id for g in plan.goals], "activities": [a.id for a in plan.activities],
            "not_recommended": [n["rule_id"] for n in plan.not_recommended],
            "warnings": [w["rule_id"] for w in plan.warnings]}


def test_fixtures__are_idempotent_transactions_with_cp_ids():
    for path in sorted(FIXTURES.glob("clinical-*.json")):
        bundle = json.loads(path.read_text())
        assert bundle["type"] == "transaction"
        for entry in bundle["entry"]:
            resource = entry["resource"]
            assert entry["request"] == {"method": "PUT", "url": f"{resource['resourceType']}/{resource['id']}"}
            assert resource["id"].startswith("cp-")
    assert {case.file for case in FIXTURE_CASES} == {p.name for p in FIXTURES.glob("clinical-*.json")}
    assert {case.file for case in RECOGNITION_CASES} == {p.name for p in FIXTURES.glob("recognition-*.json")}


ALL_CASES = FIXTURE_CASES + RECOGNITION_CASES


@pytest.mark.parametrize("case", ALL_CASES, ids=[case.file for case in ALL_CASES])
def test_fixture__plan_from_bundle(pack_set, case: FixtureCase):
    bundle = json.loads((FIXTURES / case.file).read_text())
    facts = facts_from_bundle(bundle, pack_set.requirements, case.as_of)
    _check(build_plan(facts, pack_set, case.as_of), case)


@pytest.mark.integration
@pytest.mark.parametrize("case", ALL_CASES, ids=[case.file for case in ALL_CASES])
def test_fixture__plan_through_hapi_matches_offline(loaded_hapi, pack_set, case: FixtureCase):
    requirements = pack_set.requirements
    facts = assemble(loaded_hapi, case.patient_id, requirements, case.as_of)
    plan = build_plan(facts, pack_set, case.as_of)
    _check(plan, case)
    offline = facts_from_bundle(json.loads((FIXTURES / case.file).read_text()), requirements, case.as_of)
    assert _ids(plan) == _ids(build_plan(offline, pack_set, case.as_of))
    # The server's searches (value-set codes, or broader) lose nothing the offline reading recognises:
    # subcodes, products matched by ingredient, encounter dispositions, reports.
    for section in ("conditions", "medications", "allergies", "procedures", "measures"):
        assert set(facts[section]) == set(offline[section]), section
    refs = [ref for activity in plan.activities for ref in activity.rationale.refs]
    assert all(ref["version"] for ref in refs), "the server gives every source resource a version"
