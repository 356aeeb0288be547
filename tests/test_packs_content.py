"""The bundled packs (primary care, pediatric): generated JSON is current, and every rule carries a full citation."""

from __future__ import annotations

import json

import pytest

from app.engine import DEFAULT_PACK_DIR, load_pack_set
from app.engine.authoring import pediatric
from app.engine.authoring.__main__ import render, resources
from app.engine.packs import PEDIATRIC_PACK_DIR, TABLES_FOLDER, pack_files

#: Each bundled pack folder with the function that writes it.
PACKS = [(DEFAULT_PACK_DIR, resources), (PEDIATRIC_PACK_DIR, pediatric.resources)]


@pytest.mark.parametrize(("folder", "sources"), PACKS, ids=lambda value: getattr(value, "name", ""))
def test_packs__committed_json_matches_the_sources(folder, sources):
    wanted = sources()
    generated = [*pack_files(folder), *(folder / TABLES_FOLDER).glob("*.json")]
    on_disk = {path.relative_to(folder).as_posix() for path in generated}
    assert on_disk == set(wanted), "run python -m app.engine.authoring"
    for name, resource in wanted.items():
        assert (folder / name).read_text(encoding="utf-8") == render(resource), name


@pytest.fixture(scope="module", params=[DEFAULT_PACK_DIR, PEDIATRIC_PACK_DIR], ids=["primary-care", "pediatric"])
def pack_set(request):
    return load_pack_set(request.param)


def test_packs__every_rule_and_goal_cites_guideline_year_and_section(pack_set):
    items = [item for area in pack_set.areas for item in [*area.rules, *area.goals]]
    assert len(items) > (40 if pack_set.library["id"] == "carepath-primary-care-data" else 10)
    for item in items:
        for citation in item.citations:
            assert citation.guideline and citation.year.isdigit() and citation.section and citation.url, item.id


def test_packs__every_activity_definition_is_used(pack_set):
    used = {rule.activity.url for area in pack_set.areas for rule in area.rules if rule.activity}
    used |= {check.instead.url for area in pack_set.areas for rule in area.rules
             for check in rule.exclusions + rule.contraindications if check.instead}
    defined = {template.url for template in pack_set.activity_definitions.values()}
    assert defined == used


def test_packs__library_names_value_sets_not_code_lists():
    library = json.loads((DEFAULT_PACK_DIR / "Library-primary-care-data.json").read_text())
    seen = set()
    for requirement in library["dataRequirement"]:
        key = (requirement["type"], requirement["extension"][0]["valueCode"])
        for code_filter in requirement["codeFilter"]:
            assert "code" not in code_filter and code_filter["valueSet"], key
        # an entry is its key, its flags and all its filters (which must all match): none is written twice
        flags = tuple(sorted(json.dumps(e, sort_keys=True) for e in requirement["extension"][2:]))
        entry = (key, flags, tuple((f["path"], f["valueSet"]) for f in requirement["codeFilter"]))
        assert entry not in seen, key
        seen.add(entry)


def test_packs__every_value_set_is_bundled_and_pack_defined_ones_say_why(pack_set):
    from app.terminology.resolve import library_value_sets

    named = library_value_sets(pack_set.library)
    assert set(named) == set(pack_set.value_sets)
    for canonical, value_set in pack_set.value_sets.items():
        assert len(value_set) > 0, canonical
        assert value_set.source.endswith(".json"), canonical  # bundled in valuesets/, not fetched
    for path in (pack_set.folders[0] / "valuesets").glob("ValueSet-*.json"):
        resource = json.loads(path.read_text())
        if resource["url"].startswith("http://carepath.dev/"):
            assert len(resource.get("description", "")) > 40, path.name
        else:  # a published value set: its expansion exactly as distributed
            from app.engine.authoring.valuesets import published

            assert resource["expansion"] == published(resource["url"])["expansion"], path.name


def test_packs__facts_contract_keys_are_declared():
    library = json.loads((DEFAULT_PACK_DIR / "Library-primary-care-data.json").read_text())
    keys = {r["extension"][0]["valueCode"] for r in library["dataRequirement"]}
    # docs/facts.md: keys with a fixed meaning that derived scores need
    assert {"sbp", "dbp", "bp_panel", "total_cholesterol", "hdl", "ldl", "hba1c", "egfr", "creatinine", "uacr",
            "bmi", "weight", "height", "smoking", "phq9", "diabetes", "ascvd", "antihypertensive", "cyp2c19",
            "slco1b1"} <= keys
