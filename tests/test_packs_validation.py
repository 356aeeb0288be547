"""Pack loading refuses broken packs with a message naming the file and the action id."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from app.engine import DEFAULT_PACK_DIR, load_pack_set
from app.engine.packs import pack_set_from_resources, read_pack_folder
from app.errors import PackError

T2D = "PlanDefinition-01-type-2-diabetes.json"


@pytest.fixture
def pack_dir(tmp_path) -> Path:
    target = tmp_path / "pack"
    shutil.copytree(DEFAULT_PACK_DIR, target)
    return target


def _edit(folder: Path, name: str, change) -> None:
    path = folder / name
    resource = json.loads(path.read_text())
    change(resource)
    path.write_text(json.dumps(resource))


def _rule(resource: dict, rule_id: str) -> dict:
    return next(a for a in resource["action"][0]["action"] if a["id"] == rule_id)


def _set_condition(resource):
    _rule(resource, "t2d.foot-exam")["condition"][0]["expression"]["expression"] = "%facts.a >="


def _drop_citations(resource):
    _rule(resource, "t2d.foot-exam")["documentation"] = []


def _unknown_label(resource):
    _rule(resource, "t2d.foot-exam")["documentation"][0]["label"] = "NOPE-2030"


def _unknown_activity(resource):
    _rule(resource, "t2d.foot-exam")["definitionCanonical"] = "http://carepath.dev/fhir/ActivityDefinition/x|1"


def _unknown_goal(resource):
    _rule(resource, "t2d.foot-exam")["goalId"] = ["t2d.no-such-goal"]


def _unknown_fact(resource):
    _rule(resource, "t2d.foot-exam")["input"][0]["extension"][0]["valueString"] = "measures.no_such_key"


def _bad_language(resource):
    _rule(resource, "t2d.foot-exam")["condition"][0]["expression"]["language"] = "text/cql"


def _bad_template(resource):
    _rule(resource, "t2d.foot-exam")["extension"][0]["valueString"] = "value {{%facts.a >=}}"


def _bad_interval(resource):
    schedule = next(e for e in _rule(resource, "t2d.foot-exam")["extension"] if e["url"].endswith("schedule-from"))
    schedule["extension"][-1]["valueDuration"] = {"value": -1, "code": "mo"}


@pytest.mark.parametrize(("change", "message"), [
    (_set_condition, "action 't2d.foot-exam': condition: FHIRPath '%facts.a >=' does not parse"),
    (_drop_citations, "action 't2d.foot-exam': no guideline citation"),
    (_unknown_label, "action 't2d.foot-exam': citation label 'NOPE-2030'"),
    (_unknown_activity, "action 't2d.foot-exam': ActivityDefinition 'http://carepath.dev/fhir/ActivityDefinition/x|1'"),
    (_unknown_goal, "action 't2d.foot-exam': goalId 't2d.no-such-goal'"),
    (_unknown_fact, "action 't2d.foot-exam': fact path 'measures.no_such_key' names a key the Library"),
    (_bad_language, "action 't2d.foot-exam': condition: language 'text/cql'"),
    (_bad_template, "action 't2d.foot-exam': rationale"),
    (_bad_interval, "action 't2d.foot-exam': schedule-from interval"),
])
def test_pack_check__names_file_and_action(pack_dir, change, message):
    _edit(pack_dir, T2D, change)
    with pytest.raises(PackError) as error:
        load_pack_set(pack_dir)
    assert T2D in error.value.message
    assert message in error.value.message


def test_pack_check__duplicate_action_id_across_files(pack_dir):
    _edit(pack_dir, "PlanDefinition-02-blood-pressure.json",
          lambda r: r["action"][0]["action"][0].update(id="t2d.foot-exam"))
    with pytest.raises(PackError, match=r"action 't2d\.foot-exam': id already used in"):
        load_pack_set(pack_dir)


@pytest.mark.parametrize(("field", "value", "message"), [
    ("status", "published", "status 'published' is not one of draft, active, retired"),
    ("effectivePeriod", None, "has no effectivePeriod.start"),
    ("version", "", "PlanDefinition has no version"),
])
def test_pack_check__plan_definition_metadata(pack_dir, field, value, message):
    _edit(pack_dir, T2D, lambda r: r.update({field: value}))
    with pytest.raises(PackError, match=message):
        load_pack_set(pack_dir)


def test_pack_check__unreadable_json_names_the_file(pack_dir):
    (pack_dir / "PlanDefinition-99-broken.json").write_text("{not json")
    with pytest.raises(PackError, match=r"PlanDefinition-99-broken\.json: not readable JSON"):
        load_pack_set(pack_dir)


def test_pack_check__library_is_required(pack_dir):
    (pack_dir / "Library-primary-care-data.json").unlink()
    with pytest.raises(PackError, match="expected exactly one Library, found 0"):
        load_pack_set(pack_dir)


def test_pack_check__library_requirement_needs_fact_key():
    library = json.loads((DEFAULT_PACK_DIR / "Library-primary-care-data.json").read_text())
    library["dataRequirement"][0]["extension"] = []
    with pytest.raises(PackError, match=r"dataRequirement\[0\] has no fact-key"):
        pack_set_from_resources([("lib.json", library)])


def test_pack_check__missing_folder():
    with pytest.raises(PackError, match="no such pack folder"):
        load_pack_set("/nonexistent/pack")


def test_pack_load__records_every_version():
    pack_set = load_pack_set()  # the primary-care pack (2025.1.0) and the pediatric pack (2026.1.0)
    assert {p["version"] for p in pack_set.packs} == {"2025.1.0", "2026.1.0"}
    assert len(pack_set.packs) == len(pack_set.areas) + 2  # one Library each


def test_pack_check__fhir_r4_structure_is_validated(pack_dir):
    _edit(pack_dir, T2D, lambda r: _rule(r, "t2d.foot-exam").update(relatedArtifact=[{"type": "citation"}]))
    with pytest.raises(PackError, match=r"not valid FHIR R4 PlanDefinition: action\.0\.action\.\d+\.relatedArtifact"):
        load_pack_set(pack_dir)


def test_pack_check__only_pack_resource_types(pack_dir):
    (pack_dir / "Patient-x.json").write_text(json.dumps({"resourceType": "Patient", "id": "x"}))
    with pytest.raises(PackError, match="'Patient' is not a pack resource"):
        load_pack_set(pack_dir)


# -- whom a PlanDefinition and a rule are for -------------------------------------------------------------------

def _no_use_context(resource):
    resource.pop("useContext")


def _age_in_months(resource):
    resource["useContext"][0]["valueRange"]["low"].update(unit="mo", code="mo")


def _bad_gender(resource):
    resource["useContext"].append({"code": {"system": "http://terminology.hl7.org/CodeSystem/usage-context-type",
                                            "code": "gender"},
                                   "valueCodeableConcept": {"coding": [{"system": "http://example.org", "code": "f"}]}})


def _rule_population(parts):
    def change(resource):
        _rule(resource, "t2d.foot-exam")["extension"].append(
            {"url": "http://carepath.dev/fhir/StructureDefinition/population", "extension": parts})
    return change


def _years(value):
    return {"value": value, "unit": "a", "system": "http://unitsofmeasure.org", "code": "a"}


@pytest.mark.parametrize(("change", "message"), [
    (_no_use_context, "PlanDefinition states no population: a useContext of usage-context-type 'age'"),
    (_age_in_months, "useContext age: low must be a non-negative number of years (UCUM 'a')"),
    (_bad_gender, "useContext gender: {'system': 'http://example.org', 'code': 'f'} is not an administrative-gender"),
    (_rule_population([{"url": "pregnancy", "valueCode": "sometimes"}]),
     "action 't2d.foot-exam': population part 'pregnancy' is not age"),
    (_rule_population([{"url": "age", "valueRange": {"low": _years(2), "high": _years(12)}}]),
     "action 't2d.foot-exam': population outside its area's: ages up to 12 lie below the area's 18"),
    (_rule_population([{"url": "age", "valueRange": {"low": _years(75), "high": _years(45)}}]),
     "action 't2d.foot-exam': population age: low 75 is above high 45"),
])
def test_pack_check__population_is_stated_and_well_formed(pack_dir, change, message):
    _edit(pack_dir, T2D, change)
    with pytest.raises(PackError) as error:
        load_pack_set(pack_dir)
    assert T2D in error.value.message and message in error.value.message


def test_pack_check_command__fails_a_plan_definition_that_states_no_population(pack_dir, capsys):
    from app.cli import main

    _edit(pack_dir, T2D, _no_use_context)
    assert main(["pack", "check", str(pack_dir)]) == 1
    assert "states no population" in capsys.readouterr().err


def test_pack_check__every_bundled_plan_definition_states_its_population():
    from app.engine.population import Population

    pack = load_pack_set()
    assert all(isinstance(area.population, Population) for area in pack.areas)
    # adults, but for depression screening, which USPSTF 2022 recommends from 12, and the pediatric pack's areas
    assert {area.id: area.population.age_low for area in pack.areas if area.population.age_low != 18} == \
        {"depression": 12, "pediatric-blood-pressure": 3, "pediatric-weight": 2, "pediatric-prevention": 6}
    rules = {rule.id: rule.population for area in pack.areas for rule in area.rules}
    assert rules["depression.follow-up"].age_low == 18  # the adult PHQ-9 cut-off
    # screening: adults (USPSTF 2023) and adolescents 12 to 17 (USPSTF 2022), each rule citing its own
    assert rules["depression.screening"].age_low == 18
    assert (rules["depression.screening-adolescent"].age_low, rules["depression.screening-adolescent"].age_high) == \
        (12, 17)
    assert (rules["screen.colorectal"].age_low, rules["screen.colorectal"].age_high) == (45, 75)
    assert rules["screen.breast"].sexes == ("female",) and rules["htn.pregnancy-severe"].pregnancy == "only"


def test_pack_load__a_resource_found_valid_is_not_validated_again_but_an_edited_one_is(tmp_path, monkeypatch):
    import fhir.resources.R4B as models

    from app.engine.packs import _r4_problems

    monkeypatch.setenv("CAREPATH_CACHE_DIR", str(tmp_path))
    [(where, library)] = [(w, r) for w, r in read_pack_folder(DEFAULT_PACK_DIR) if r["resourceType"] == "Library"]
    assert _r4_problems(where, library) == []
    assert len(list(tmp_path.rglob("*"))) == 2  # the cache folder and one entry

    def refuse(_name):
        raise AssertionError("validated again")

    monkeypatch.setattr(models, "get_fhir_model_class", refuse)
    assert _r4_problems(where, library) == []  # remembered by its content
    monkeypatch.undo()
    monkeypatch.setenv("CAREPATH_CACHE_DIR", str(tmp_path))
    edited = {**library, "status": 42}
    assert any("not valid FHIR R4 Library" in problem for problem in _r4_problems(where, edited))


def test_pack_load__an_empty_cache_setting_validates_every_time(tmp_path, monkeypatch):
    from app.engine.packs import _r4_cache

    monkeypatch.setenv("CAREPATH_CACHE_DIR", "")
    assert _r4_cache() is None
