"""The Synthea children at every door: the offline plan (`carepath plan`), the draft CarePlan, the sidebar page,
CDS Hooks cards and a cohort patient. A child gets the pediatric pack's rules and a statement of what carepath
covers for the child's age; no adult rule ever reaches a child; the adults beside them keep their plans."""

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
from app.engine import DEFAULT_PACK_DIR, load_pack_set
from app.engine.packs import PEDIATRIC_PACK_DIR
from app.fhir.decoding import load_file
from tests.cds_helpers import FakeFhirServer
from tests.conftest import SYNTHEA

#: The plan dates the other tests use for the Synthea patients (tests/test_plan_texts.py, tests/test_cds_*).
DATES = ("2020-06-01", "2021-04-01", "2026-06-01")
STATEMENT = "carepath's pediatric guidance for this age covers: "
OUT_OF_SCOPE = "immunizations and developmental screening are not covered"
OPEN_FHIR = "https://open-fhir.example.org/fhir"
#: The one primary-care rule written for adolescents too: depression screening from 12 (USPSTF 2022), a rule of its
#: own that cites the recommendation for children and adolescents.
ADOLESCENT_RULES = {"depression.screening-adolescent"}


@cache
def _areas(folder) -> frozenset[str]:
    return frozenset(area.id for area in load_pack_set(folder).areas)


@cache
def _rules(folder) -> frozenset[str]:
    return frozenset(rule.id for area in load_pack_set(folder).areas for rule in area.rules)


def _adult_rule(rule_id: str) -> bool:
    """A rule of the primary-care pack other than adolescent depression screening."""
    return rule_id in _rules(DEFAULT_PACK_DIR) and rule_id not in ADOLESCENT_RULES


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


@pytest.mark.parametrize("as_of", DATES)
def test_plan__a_child_gets_pediatric_rules_no_adult_rule_and_the_scope_statement(as_of, capsys):
    for name in _children(as_of):
        plan, age = _plan(name, as_of, capsys), _age(name, as_of)
        if age < 2:  # younger than every area (weight from 2): nothing applies, and the plan says so
            assert plan["activities"] == [] and "kind" not in plan["population"], name
            assert "none covers this age: the patient is 1 year old" in plan["population"]["statement"]
            continue
        proposed = {activity["id"] for activity in plan["activities"]}
        assert proposed and all(rule.startswith("peds.") or rule in ADOLESCENT_RULES for rule in proposed), name
        assert not [item for item in [*plan["activities"], *plan["not_recommended"], *plan["warnings"]]
                    if _adult_rule(item.get("rule_id") or item.get("id"))], name
        assert plan["goals"] == [], name  # the pediatric pack sets no goal; the adult BP and HbA1c goals never
        assert {gap.get("rule_id") for gap in plan["gaps"]} <= {None} | set(_rules(PEDIATRIC_PACK_DIR)), name
        assert [w["rule_id"] for w in plan["warnings"] if not w["rule_id"].startswith("peds.")] in (
            [], ["pack-effective-period"]), name
        assert plan["population"]["kind"] == "scope", name
        assert plan["population"]["statement"].startswith(STATEMENT), name
        assert plan["population"]["statement"].endswith(OUT_OF_SCOPE + ": follow the practice's schedule for them")
        left = plan["population"]["left_out"]
        assert all(" old" in item["reason"] and "the patient is " in item["reason"] for item in left), name
        left_areas = {item["area_id"] for item in left if item["kind"] == "area"}
        if age < 12:  # every primary-care area is left out and named, depression too
            assert left_areas >= _areas(DEFAULT_PACK_DIR), name
        else:  # an adolescent: depression screening applies, every other adult area is left out and named
            assert left_areas >= _areas(DEFAULT_PACK_DIR) - {"depression"} and "depression" not in left_areas
            assert {"depression.follow-up", "depression.screening"} <= {item["rule_id"] for item in left}, name
        if age >= 3:
            assert "pediatric-blood-pressure" not in left_areas, name
        if age >= 2:
            assert "Weight (children and adolescents)" in plan["population"]["statement"], name


def test_plan__the_adults_are_inside_every_adult_areas_population():
    """Through the plan's own road (facts, then engine), once per adult: cheaper than a CLI run each."""
    as_of = "2021-04-01"
    children, pack_set = set(_children(as_of)), load_pack_set()
    for name, _patient in _patients():
        if name in children:
            continue
        resources = [entry["resource"] for entry in load_file(SYNTHEA / name)["entry"]]
        plan = plan_of(resources, pack_set, date.fromisoformat(as_of)).to_dict()
        assert plan["population"]["statement"] is None, name
        left_areas = {item["area_id"] for item in plan["population"]["left_out"] if item["kind"] == "area"}
        assert left_areas <= _areas(PEDIATRIC_PACK_DIR), name  # only the children's areas, named with the reason
        assert not [a for a in plan["activities"] if a["id"].startswith("peds.") and a["id"] != "peds.lipid.17-21"]


def test_plan__the_child_named_in_the_issue_gets_the_pediatric_bp_category_not_adult_staging(capsys):
    name = next(n for n in _children("2021-04-01") if n.startswith("Ardith_Welch"))
    plan = _plan(name, "2021-04-01", capsys)
    text = json.dumps(plan)
    assert "130/80" not in text and "alcohol" not in text  # the adult goal and lifestyle advice
    summary = next(s["text"] for s in plan["area_summaries"] if s["area_id"] == "pediatric-blood-pressure")
    assert "stage 2 (AAP 2017" in summary and "percentile for a height at the" in summary
    blood_pressure = next(item for item in plan["population"]["left_out"] if item["area_id"] == "blood-pressure")
    assert "High Blood Pressure in Adults" in blood_pressure["reason"] and "the patient is 6 years old" in \
        blood_pressure["reason"]
    assert "htn.lifestyle" in {rule["rule_id"] for rule in blood_pressure["rules"]}  # named as left out


def test_draft_careplan__a_childs_draft_holds_the_pediatric_activities_and_the_scope(capsys):
    name = next(n for n in _children("2021-04-01") if n.startswith("Ardith_Welch"))
    bundle = _plan(name, "2021-04-01", capsys, fmt="fhir")
    types = [entry["resource"]["resourceType"] for entry in bundle["entry"]]
    assert "Goal" not in types
    careplan = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "CarePlan")
    assert careplan.get("activity") and not careplan.get("goal")
    rules = {extension["valueString"] for activity in careplan["activity"] for extension in activity["extension"]
             if extension["url"].endswith("/rationale-item")}
    assert rules == {"peds.bp.stage2", "peds.tobacco.prevention"}
    assert "Scope for this age: carepath&#x27;s pediatric guidance" in careplan["text"]["div"] or \
        "Scope for this age: carepath's pediatric guidance" in careplan["text"]["div"]
    assert "130/80" not in json.dumps(bundle)


def test_cds_cards__a_child_gets_cards_from_pediatric_rules_only(capsys):
    for name in _children("2021-04-01"):
        plan = _plan(name, "2021-04-01", capsys)
        cards, _ = cards_for_plan(plan, launch_url="https://carepath.example/launch")
        assert cards, name
        areas = {json.loads(link["appContext"])["area"] for card in cards for link in card.get("links") or []
                 if link.get("appContext")}
        allowed = set(_areas(PEDIATRIC_PACK_DIR)) | ({"depression"} if _age(name, "2021-04-01") >= 12 else set())
        assert areas and areas <= allowed, (name, areas)
        assert "Adults" not in json.dumps(cards) and "130/80" not in json.dumps(cards), name


def test_cohort__a_child_counts_pediatric_items_and_no_adult_item(capsys):
    packs = load_pack_set()
    for name in _children("2021-04-01"):
        bundle = load_file(SYNTHEA / name)
        resources = [entry["resource"] for entry in bundle["entry"]]
        patient = next(r for r in resources if r["resourceType"] == "Patient")
        result = patient_result(patient["id"], resources, packs, date(2021, 4, 1))
        rules = {activity["rule"] for activity in result.activities}
        assert rules and not [rule for rule in rules if _adult_rule(rule)], name
        assert {activity["area"] for activity in result.activities} <= set(_areas(PEDIATRIC_PACK_DIR)) | {"depression"}
        assert not [key for key in result.counts if key[0] == "gap" and _adult_rule(key[3])], name
        assert all(key[1] == "pack-effective-period" or key[1].startswith("peds.")
                   for key in result.counts if key[0] == "warning"), name


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


def test_sidebar__a_childs_page_shows_the_pediatric_plan_and_the_scope(sidebar):
    app, mocked = sidebar
    name = next(n for n in _children("2021-04-01") if n.startswith("Ardith_Welch"))
    page = _page(app, mocked, [entry["resource"] for entry in load_file(SYNTHEA / name)["entry"]])
    assert 'id="population-statement"' in page and "Scope for this age" in page
    assert "carepath&#39;s pediatric guidance for this age covers" in page  # escaped like every text
    assert OUT_OF_SCOPE in page
    assert 'id="outside-population"' in page and "the patient is 6 years old" in page
    assert "stage 2 (AAP 2017" in page and "percentile for age and sex" in page  # BP category, BMI-for-age
    assert 'id="empty-plan"' not in page and 'id="goals"' not in page
    assert "130/80" not in page and "alcohol" not in page


def test_sidebar__an_adults_page_has_no_population_statement(sidebar):
    app, mocked = sidebar
    name = next(n for n, p in _patients() if n.startswith("Arla_Lang"))
    page = _page(app, mocked, [entry["resource"] for entry in load_file(SYNTHEA / name)["entry"]])
    assert 'id="population-statement"' not in page and "pediatric guidance" not in page
    assert 'id="outside-population"' in page and "Colorectal cancer screening" in page  # 82 y: past 75
    assert "Blood pressure (children and adolescents)" in page  # left out, named with the reason


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


def test_sidebar__a_childs_patient_copy_is_written_to_the_parent_or_guardian(sidebar):
    app, mocked = sidebar
    name = next(n for n in _children("2021-04-01") if n.startswith("Ardith_Welch"))
    resources = [entry["resource"] for entry in load_file(SYNTHEA / name)["entry"]]
    FakeFhirServer(OPEN_FHIR, resources).register(mocked)
    client = app.test_client()
    patient = next(r for r in resources if r["resourceType"] == "Patient")
    launched = client.get(f"https://localhost/launch?iss={OPEN_FHIR}&patient={patient['id']}")
    plan_url = "https://localhost" + launched.headers["Location"]
    assert client.get(plan_url).status_code == 200
    english = client.get(plan_url + "/patient").get_data(as_text=True)
    assert "Your child&#39;s care plan" in english and "the parent or guardian" in english
    assert "A talk with your child about never starting to smoke or vape." in english
    spanish = client.get(plan_url + "/patient?lang=es").get_data(as_text=True)
    assert "El plan de cuidado de su hijo o hija" in spanish and "como madre, padre o tutor" in spanish
