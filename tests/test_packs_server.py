"""Packs published to a FHIR server load back by canonical url|version, identical to the files."""

from __future__ import annotations

import json

import pytest
import responses

from app.cli import main
from app.engine import DEFAULT_PACK_DIR, build_plan, load_pack_set, load_pack_set_from_server
from app.engine.packs import PEDIATRIC_PACK_DIR, pack_files
from app.engine.synthetic import make_facts
from app.errors import PackError
from app.fhir import FhirClient

BASE = "http://fhir.test/fhir"
LIBRARY = "http://carepath.dev/fhir/Library/primary-care-data|2025.1.0"
T2D = "http://carepath.dev/fhir/PlanDefinition/type-2-diabetes|2025.1.0"


PEDIATRIC_LIBRARY = "http://carepath.dev/fhir/Library/pediatric-data|2026.1.0"
PEDIATRIC_BP = "http://carepath.dev/fhir/PlanDefinition/pediatric-blood-pressure|2026.1.0"
PEDIATRIC_PREVENTION = "http://carepath.dev/fhir/PlanDefinition/pediatric-prevention|2026.1.0"


def _resources(*folders) -> dict[tuple[str, str], dict]:
    out = {}
    for folder in folders or (DEFAULT_PACK_DIR,):
        for path in folder.glob("*.json"):
            resource = json.loads(path.read_text())
            out[(resource["resourceType"], resource["url"])] = resource
    return out


def _value_sets(*folders) -> dict[str, dict]:
    """url -> the pack's bundled ValueSet, as a terminology server's $expand answers it."""
    out = {}
    for folder in folders or (DEFAULT_PACK_DIR,):
        for path in (folder / "valuesets").glob("*.json"):
            resource = json.loads(path.read_text())
            out[resource["url"]] = resource
    return out


def _expand_answers(base: str = BASE, value_sets: dict[str, dict] | None = None) -> None:
    """ValueSet/$expand on the fake server answers with the bundled expansions, paged as a terminology server
    pages (``offset`` and ``count``: the codes from offset, at most count, with the expansion's total)."""
    value_sets = _value_sets() if value_sets is None else value_sets

    def expand(request):
        resource = value_sets.get(request.params["url"])
        if resource is None:
            return 404, {"Content-Type": "application/fhir+json"}, json.dumps({"resourceType": "OperationOutcome"})
        offset, count = int(request.params.get("offset", 0)), int(request.params.get("count", 1000))
        contains = resource["expansion"]["contains"]
        page = {**resource, "expansion": {**resource["expansion"], "total": len(contains), "offset": offset,
                                          "contains": contains[offset:offset + count]}}
        return 200, {"Content-Type": "application/fhir+json"}, json.dumps(page)

    responses.add_callback(responses.GET, f"{base}/ValueSet/$expand", callback=expand)


def _searchset(resources: list[dict]) -> dict:
    return {"resourceType": "Bundle", "type": "searchset", "total": len(resources),
            "entry": [{"resource": r, "search": {"mode": "match"}} for r in resources]}


def _publish(published: dict[tuple[str, str], dict], base: str = BASE) -> None:
    def answer(request):
        resource_type = request.path_url.split("?")[0].rsplit("/", 1)[1]
        url, version = request.params["url"], request.params.get("version")
        found = [r for (t, u), r in published.items() if t == resource_type and u == url and r["version"] == version]
        return 200, {"Content-Type": "application/fhir+json"}, json.dumps(_searchset(found))

    for resource_type in ("Library", "PlanDefinition", "ActivityDefinition"):
        responses.add_callback(responses.GET, f"{base}/{resource_type}", callback=answer)


@responses.activate
def test_load_from_server__by_url_and_version():
    _publish(_resources())
    _expand_answers()
    pack_set = load_pack_set_from_server(FhirClient(BASE, retries=0), [T2D], LIBRARY)
    assert [area.id for area in pack_set.areas] == ["type-2-diabetes"]
    searches = [call for call in responses.calls if "$expand" not in call.request.url]
    assert all("version=2025.1.0" in call.request.url for call in searches)
    # one expansion per value set (a value set whose expansion is longer than a page is read in several pages)
    expansions = {(call.request.params["url"], call.request.params.get("valueSetVersion"))
                  for call in responses.calls if "$expand" in call.request.url}
    assert len(expansions) == len(pack_set.value_sets) == len(load_pack_set(DEFAULT_PACK_DIR).value_sets)
    assert {c: len(vs) for c, vs in pack_set.value_sets.items()} == {
        c: len(vs) for c, vs in load_pack_set(DEFAULT_PACK_DIR).value_sets.items()}
    facts = make_facts(age=60, conditions=["diabetes"], hba1c=7.5)
    plan = build_plan(facts, pack_set, "2025-06-01")
    assert plan.packs[0] == {"url": T2D.split("|")[0], "version": "2025.1.0", "title": "Diabetes",
                             "status": "draft"}
    assert plan.activity("t2d.hba1c-test-not-at-goal")


@responses.activate
@pytest.mark.parametrize(("count", "message"), [(0, "found 0"), (2, "found 2")])
def test_load_from_server__missing_or_ambiguous_version_is_refused(count, message):
    library = _resources()[("Library", LIBRARY.split("|")[0])]
    responses.add(responses.GET, f"{BASE}/Library", json=_searchset([library] * count))
    with pytest.raises(PackError, match=f"Library\\?url={LIBRARY}: expected one published resource, {message}"):
        load_pack_set_from_server(FhirClient(BASE, retries=0), [T2D], LIBRARY)


@responses.activate
def test_load_from_server__server_error_is_a_pack_error():
    responses.add(responses.GET, f"{BASE}/Library", status=503)
    with pytest.raises(PackError, match="the FHIR server refused it"):
        load_pack_set_from_server(FhirClient(BASE, retries=0), [T2D], LIBRARY)


@pytest.mark.integration
def test_publish_then_load_from_hapi(hapi_url, capsys):
    assert main(["pack", "publish", "--fhir-base", hapi_url]) == 0
    files = len(pack_files(DEFAULT_PACK_DIR))  # the conformance review is not published
    assert f"published {files} resources" in capsys.readouterr().out
    # PACK_SOURCE=fhir reads one pack (one Library): the published primary-care pack
    canonicals = [f"{area.pack.url}|{area.pack.version}" for area in load_pack_set(DEFAULT_PACK_DIR).areas]
    from_server = load_pack_set_from_server(FhirClient(hapi_url, timeout=60), canonicals, LIBRARY)
    from_files = load_pack_set(DEFAULT_PACK_DIR)
    assert from_server.packs == from_files.packs
    # HAPI expanded every value set the Library names (ValueSet/$expand), to the same codes as the files.
    assert {c: vs.members for c, vs in from_server.value_sets.items()} == {
        c: vs.members for c, vs in from_files.value_sets.items()}
    assert all(vs.source.startswith("terminology server") for vs in from_server.value_sets.values())
    facts = make_facts(age=58, conditions=["diabetes", "ckd"], hba1c=7.4, egfr=50, uacr=45, bp=(142, 91))
    on_server, on_disk = build_plan(facts, from_server, "2025-06-01"), build_plan(facts, from_files, "2025-06-01")
    assert on_server.to_dict() == on_disk.to_dict()
    args = ["pack", "check", "--fhir-base", hapi_url, "--library", LIBRARY]
    for canonical in canonicals:
        args += ["--plan-definition", canonical]
    assert main(args) == 0
    assert capsys.readouterr().out.startswith("pack OK: 9 PlanDefinitions")


@pytest.mark.integration
def test_publish_both_packs_then_serve_them_from_hapi(hapi_url, capsys):
    """PACK_SOURCE=fhir with the primary-care and pediatric Libraries: the bundled packs, as the files give them."""
    from app.engine import load_configured_pack_set

    assert main(["pack", "publish", "--fhir-base", hapi_url]) == 0
    assert main(["pack", "publish", str(PEDIATRIC_PACK_DIR), "--fhir-base", hapi_url]) == 0
    capsys.readouterr()
    from_files = load_pack_set()  # both bundled packs
    canonicals = [f"{area.pack.url}|{area.pack.version}" for area in from_files.areas]
    config = {"PACK_SOURCE": "fhir", "PACK_CANONICALS": canonicals, "PACK_LIBRARY": f"{LIBRARY},{PEDIATRIC_LIBRARY}",
              "PACK_FHIR_BASE_URL": hapi_url, "FHIR_TIMEOUT": 60}
    from_server = load_configured_pack_set(config)
    assert from_server.packs_by_pack == from_files.packs_by_pack
    for facts in (make_facts(age=9, sex="male", bp=(128, 84)), make_facts(age=58, conditions=["diabetes"], hba1c=8.1)):
        assert build_plan(facts, from_server, "2025-06-01").to_dict() == \
            build_plan(facts, from_files, "2025-06-01").to_dict()


def test_configured__files_by_default():
    from app.engine import load_configured_pack_set

    assert load_configured_pack_set({}).packs == load_pack_set().packs
    assert load_configured_pack_set({"PACK_SOURCE": "files", "PACK_DIR": str(DEFAULT_PACK_DIR)}).packs


@pytest.mark.parametrize(("config", "message"), [
    ({"PACK_SOURCE": "ftp"}, "PACK_SOURCE must be 'files' or 'fhir'"),
    ({"PACK_SOURCE": "fhir", "PACK_LIBRARY": LIBRARY}, "needs PACK_CANONICALS"),
    ({"PACK_SOURCE": "fhir", "PACK_CANONICALS": [T2D]}, "needs PACK_CANONICALS"),
])
def test_configured__bad_settings_are_refused(config, message):
    from app.engine import load_configured_pack_set

    with pytest.raises(PackError, match=message):
        load_configured_pack_set(config)


@responses.activate
def test_configured__fhir_source_uses_the_pack_server():
    from app.engine import load_configured_pack_set

    published = _resources()

    def answer(request):
        resource_type = request.path_url.split("?")[0].rsplit("/", 1)[1]
        found = [r for (t, u), r in published.items() if t == resource_type and u == request.params["url"]]
        return 200, {"Content-Type": "application/fhir+json"}, json.dumps(_searchset(found))

    for resource_type in ("Library", "PlanDefinition", "ActivityDefinition"):
        responses.add_callback(responses.GET, f"http://packs.test/fhir/{resource_type}", callback=answer)
    _expand_answers("http://packs.test/fhir")
    config = {"PACK_SOURCE": "fhir", "PACK_CANONICALS": T2D, "PACK_LIBRARY": LIBRARY,
              "PACK_FHIR_BASE_URL": "http://packs.test/fhir", "FHIR_RETRIES": 0}
    assert [area.id for area in load_configured_pack_set(config).areas] == ["type-2-diabetes"]


@responses.activate
def test_load_from_server__two_packs_each_with_its_library_plan_as_the_files_do():
    _publish(_resources(DEFAULT_PACK_DIR, PEDIATRIC_PACK_DIR))
    _expand_answers(value_sets=_value_sets(DEFAULT_PACK_DIR, PEDIATRIC_PACK_DIR))
    pack_set = load_pack_set_from_server(FhirClient(BASE, retries=0), [T2D, PEDIATRIC_BP, PEDIATRIC_PREVENTION],
                                         f"{LIBRARY}, {PEDIATRIC_LIBRARY}")
    assert [area.id for area in pack_set.areas] == ["type-2-diabetes", "pediatric-blood-pressure",
                                                    "pediatric-prevention"]
    # each pack compiled on its own, with its own Library, as two folders are
    assert [packs[-1]["url"] for packs in pack_set.packs_by_pack] == [LIBRARY.split("|")[0],
                                                                     PEDIATRIC_LIBRARY.split("|")[0]]
    from_files = load_pack_set(f"{DEFAULT_PACK_DIR},{PEDIATRIC_PACK_DIR}")
    child = make_facts(age=9, sex="male", bp=(128, 84))
    on_server = build_plan(child, pack_set, "2025-06-01").to_dict()
    on_disk = build_plan(child, from_files, "2025-06-01").to_dict()
    from_disk = {a["id"]: a for a in on_disk["activities"]}
    assert {"peds.lipid.9-11", "peds.tobacco.prevention"} <= {a["id"] for a in on_server["activities"]}
    assert all(from_disk[a["id"]] == a for a in on_server["activities"])  # the same items, word for word


@responses.activate
def test_load_from_server__a_plan_definition_of_an_unnamed_library_is_refused():
    _publish(_resources(DEFAULT_PACK_DIR, PEDIATRIC_PACK_DIR))
    with pytest.raises(PackError, match=r"pediatric-blood-pressure.*is none of the Libraries named"):
        load_pack_set_from_server(FhirClient(BASE, retries=0), [T2D, PEDIATRIC_BP], LIBRARY)


@responses.activate
def test_load_from_server__a_library_no_plan_definition_uses_is_refused():
    _publish(_resources(DEFAULT_PACK_DIR, PEDIATRIC_PACK_DIR))
    with pytest.raises(PackError, match=r"pediatric-data.*none of the PlanDefinitions named uses it"):
        load_pack_set_from_server(FhirClient(BASE, retries=0), [T2D], [LIBRARY, PEDIATRIC_LIBRARY])
