"""The Synthea children get no adult guideline at any door: the offline plan (`carepath plan`), the draft
CarePlan, the sidebar page, CDS Hooks cards and a cohort patient; the adults beside them keep their plans."""

from __future__ import annotations

import json
from datetime import date
from functools import cache

import pytest
import responses

from app import create_app
from app.cds.cards import cards_for_plan
from app.cli import main
from app.cohort.plans import patient_result, plan_of
from app.context.dates import age_on
from app.engine import load_pack_set
from app.fhir.decoding import load_file
from tests.cds_helpers import FakeFhirServer
from tests.conftest import SYNTHEA

#: The plan dates the other tests use for the Synthea patients (tests/test_plan_texts.py, tests/test_cds_*).
DATES = ("2020-06-01", "2021-04-01", "2026-06-01")
STATEMENT = "carepath's guideline packs cover adults"
OPEN_FHIR = "https://open-fhir.example.org/fhir"


@cache
def _patients() -> list[tuple[str, dict]]:
    """(file name, Patient) of every Synthea sample patient."""
    out = []
    for path in sorted(SYNTHEA.glob("*.json")):
        bundle = load_file(path)
        out.append((path.name, next(e["resource"] for e in bundle["entry"]
                                    if e["resource"]["resourceType"] == "Patient")))
    return out


def _children(as_of: str) -> list[str]:
    day = date.fromisoformat(as_of)
    return [name for name, patient in _patients() if age_on(date.fromisoformat(patient["birthDate"]), day) < 18]


def _plan(name: str, as_of: str, capsys, fmt: str = "json") -> dict:
    assert main(["plan", str(SYNTHEA / name), "--as-of", as_of, "--format", fmt]) == 0
    return json.loads(capsys.readouterr().out)


def test_synthea__the_shared_sample_holds_four_children_at_each_plan_date():
    # Ardith Welch (6 y on 2021-04-01), Noel Reynolds (2), Jorge Brekke (8), Maximina Hauck (12).
    assert all(len(_children(as_of)) == 4 for as_of in DATES)
    assert any(name.startswith("Ardith_Welch") for name in _children("2021-04-01"))


def _age(name: str, as_of: str) -> int:
    patient = dict(_patients())[name]
    return age_on(date.fromisoformat(patient["birthDate"]), date.fromisoformat(as_of))


#: What the packs hold for patients under 18: depression screening from 12 (USPSTF 2022), nothing else.
ADOLESCENT_RULES = {"depression.screening"}


@pytest.mark.parametrize("as_of", DATES)
def test_plan__a_child_gets_no_adult_rule_and_a_plan_that_says_why(as_of, capsys):
    areas = {area.id for area in load_pack_set().areas}
    for name in _children(as_of):
        plan, age = _plan(name, as_of, capsys), _age(name, as_of)
        assert plan["goals"] == [] and plan["gaps"] == [], name
        assert {activity["id"] for activity in plan["activities"]} <= ADOLESCENT_RULES, name
        assert {entry["rule_id"] for entry in plan["not_recommended"]} <= ADOLESCENT_RULES, name
        assert [w["rule_id"] for w in plan["warnings"]] in ([], ["pack-effective-period"]), name
        left = plan["population"]["left_out"]
        assert all(" old" in item["reason"] and "the patient is " in item["reason"] and item["rules"]
                   for item in left if item["kind"] == "area")
        if age < 12:
            assert plan["activities"] == [] and plan["area_summaries"] == [], name
            assert plan["population"]["statement"].startswith(STATEMENT) and "no pediatric guidance" in \
                plan["population"]["statement"]
            assert {item["area_id"] for item in left} == areas and {item["kind"] for item in left} == {"area"}
        else:  # an adolescent: depression screening applies, every adult area is left out and named
            assert plan["population"]["statement"] is None, name
            assert {item["area_id"] for item in left if item["kind"] == "area"} == areas - {"depression"}, name
            assert "depression.follow-up" in {item["rule_id"] for item in left}, name


def test_plan__the_adults_are_inside_every_areas_population():
    """Through the plan's own road (facts, then engine), once per adult: cheaper than a CLI run each."""
    as_of = "2021-04-01"
    children, pack_set = set(_children(as_of)), load_pack_set()
    for name, _patient in _patients():
        if name in children:
            continue
        resources = [entry["resource"] for entry in load_file(SYNTHEA / name)["entry"]]
        plan = plan_of(resources, pack_set, date.fromisoformat(as_of)).to_dict()
        assert plan["population"]["statement"] is None, name
        assert not [item for item in plan["population"]["left_out"] if item["kind"] == "area"], name


def test_plan__the_child_named_in_the_issue_no_longer_gets_adult_bp_staging(capsys):
    name = next(n for n in _children("2021-04-01") if n.startswith("Ardith_Welch"))
    plan = _plan(name, "2021-04-01", capsys)
    text = json.dumps(plan)
    assert "130/80" not in text and "alcohol" not in text  # the adult goal and lifestyle advice
    blood_pressure = next(item for item in plan["population"]["left_out"] if item["area_id"] == "blood-pressure")
    assert "High Blood Pressure in Adults" in blood_pressure["reason"] and "the patient is 6 years old" in \
        blood_pressure["reason"]
    assert "htn.lifestyle" in {rule["rule_id"] for rule in blood_pressure["rules"]}  # named as left out


def test_draft_careplan__a_childs_draft_proposes_nothing_and_says_why(capsys):
    name = next(n for n in _children("2021-04-01") if n.startswith("Ardith_Welch"))
    bundle = _plan(name, "2021-04-01", capsys, fmt="fhir")
    types = [entry["resource"]["resourceType"] for entry in bundle["entry"]]
    assert "Goal" not in types
    careplan = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "CarePlan")
    assert not careplan.get("activity") and not careplan.get("goal")
    assert "no pediatric guidance" in careplan["text"]["div"]


def test_cds_cards__a_child_gets_no_card_from_an_adult_rule(capsys):
    for name in _children("2021-04-01"):
        plan = _plan(name, "2021-04-01", capsys)
        cards, _ = cards_for_plan(plan, launch_url="https://carepath.example/launch")
        if _age(name, "2021-04-01") < 12:
            assert cards == [], name
        else:  # the adolescent's card can only be depression screening
            assert all("depression" in json.dumps(card).lower() for card in cards), name


def test_cohort__a_child_counts_no_adult_item(capsys):
    packs = load_pack_set()
    for name in _children("2021-04-01"):
        bundle = load_file(SYNTHEA / name)
        resources = [entry["resource"] for entry in bundle["entry"]]
        patient = next(r for r in resources if r["resourceType"] == "Patient")
        result = patient_result(patient["id"], resources, packs, date(2021, 4, 1))
        assert {activity["rule"] for activity in result.activities} <= ADOLESCENT_RULES, name
        if _age(name, "2021-04-01") < 12:
            assert result.activities == [] and result.open_gaps == []
            counted = {key[0] for key in result.counts}
            assert counted <= {"patients", "quality", "warning", "found"}, counted
        assert {key[3] for key in result.counts if key[0] == "gap"} <= ADOLESCENT_RULES
        assert all(key[1] == "pack-effective-period" for key in result.counts if key[0] == "warning")


@pytest.fixture
def sidebar(tmp_path):
    """The app reading an open FHIR server that ``responses`` plays from a Synthea bundle."""
    from app.fhir.capabilities import forget

    forget()
    app = create_app({"TESTING": True, "SECRET_KEY": "test", "VAR_DIR": str(tmp_path), "REVIEW_AS_OF": "2021-04-01",
                      "SMART_ALLOWED_ISS": [OPEN_FHIR], "SMART_OPEN_SERVERS": [OPEN_FHIR], "FHIR_RETRIES": 0})
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        yield app, mocked


def _page(app, mocked, resources) -> str:
    FakeFhirServer(OPEN_FHIR, resources).register(mocked)
    patient = next(r for r in resources if r["resourceType"] == "Patient")
    client = app.test_client()
    launched = client.get(f"https://localhost/launch?iss={OPEN_FHIR}&patient={patient['id']}")
    assert launched.status_code == 302, launched.get_data(as_text=True)
    response = client.get("https://localhost" + launched.headers["Location"])
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_data(as_text=True)


def test_sidebar__a_childs_page_states_the_population_and_proposes_nothing(sidebar):
    app, mocked = sidebar
    name = next(n for n in _children("2021-04-01") if n.startswith("Ardith_Welch"))
    page = _page(app, mocked, [entry["resource"] for entry in load_file(SYNTHEA / name)["entry"]])
    assert 'id="population-statement"' in page and "no pediatric guidance for this age yet" in page
    assert "carepath&#39;s guideline packs cover adults" in page  # escaped like every text
    assert 'id="outside-population"' in page and "the patient is 6 years old" in page
    assert 'id="empty-plan"' in page and 'name="keep"' not in page and 'id="goals"' not in page
    assert "130/80" not in page and "alcohol" not in page


def test_sidebar__an_adults_page_has_no_population_statement(sidebar):
    app, mocked = sidebar
    name = next(n for n, p in _patients() if n.startswith("Arla_Lang"))
    page = _page(app, mocked, [entry["resource"] for entry in load_file(SYNTHEA / name)["entry"]])
    assert 'id="population-statement"' not in page and "no pediatric guidance" not in page
    assert 'id="outside-population"' in page and "Colorectal cancer screening" in page  # 82 y: past 75


def test_population_partial__statement_and_reasons_are_escaped(app):
    from flask import render_template

    plan = {"population": {"statement": "<script>alert(1)</script>", "left_out": [
        {"rule_id": "x", "kind": "area", "title": "<b>Area</b>", "reason": "for <i>adults</i>",
         "rules": [{"rule_id": "x.y", "title": "<img src=x>"}], "citation": None}]}}
    with app.test_request_context("/"):
        page = render_template("review/_population.html", plan=plan, launch=None)
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "<b>" not in page and "<img" not in page and "&lt;img src=x&gt;" in page
    assert '<details class="findings outside-population" id="outside-population">' in page and "(1)" in page
