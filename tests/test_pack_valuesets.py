"""Value-set releases: truncated published expansions are never taken for the whole value set, and
``carepath pack valuesets`` moves a pack to a new release and says what changes (docs/packs.md, "Moving to a
new value-set release")."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import responses

from app.cli import main
from app.engine import DEFAULT_PACK_DIR, load_pack_set
from app.engine.pack_valuesets import plan_move, report_markdown, write_move
from app.errors import PackError
from app.fhir.client import FhirClient
from app.terminology.codes import ICD10CM, SNOMED
from app.terminology.releases import Release, codes, complete, with_compose
from app.terminology.resolve import resolve_value_sets
from app.terminology.server import TerminologyServer
from app.terminology.valuesets import from_resource, truncation
from tests.cohort_data import single_plan, write_ndjson
from tests.conftest import ROOT, SYNTHEA

SHARED = ROOT.parent / "shared" / "data"
VSAC = "http://cts.nlm.nih.gov/fhir/ValueSet/"
BASE = "http://carepath.dev/fhir"
EXT = f"{BASE}/StructureDefinition/"
TX = "http://tx.test/fhir"


def concept(code: str, system: str = SNOMED, display: str = "") -> dict[str, Any]:
    return {"system": system, "code": code, **({"display": display} if display else {})}


def value_set(oid: str, version: str, listed: list[str], *, total: int | None = None, title: str = "Thing",
              name: str | None = None, compose: dict[str, Any] | None = None) -> dict[str, Any]:
    """A published VSAC ValueSet whose expansion lists ``listed`` (SNOMED codes), declaring ``total`` codes."""
    resource = {"resourceType": "ValueSet", "id": oid, "url": VSAC + oid, "version": version, "title": title,
                "name": name or title.replace(" ", ""), "status": "active",
                "expansion": {"timestamp": "2025-06-20T00:00:00Z", "total": len(listed) if total is None else total,
                              "offset": 0, "contains": [concept(code) for code in listed]}}
    if compose is not None:
        resource["compose"] = compose
    return resource


def release(folder: Path, *resources: dict[str, Any]) -> Release:
    folder.mkdir(parents=True, exist_ok=True)
    for resource in resources:
        (folder / f"{resource['id']}.json").write_text(json.dumps(resource), encoding="utf-8")
    return Release(folder)


# --- truncated expansions ----------------------------------------------------------------------------------------

def test_truncation__a_first_page_is_named_a_whole_expansion_is_not():
    assert truncation(value_set("1.2", "1", ["1", "2"], total=5)) == (2, 5)
    assert truncation(value_set("1.2", "1", ["1", "2"])) is None
    page = value_set("1.2", "1", ["3"], total=3)
    page["expansion"]["offset"] = 2
    assert truncation(page) == (1, 3)
    # concepts without a system are still listed codes (NCQA sets carry some)
    whole = value_set("1.2", "1", ["1"], total=2)
    whole["expansion"]["contains"].append({"code": "0401"})
    assert truncation(whole) is None


def test_from_resource__a_truncated_expansion_is_marked_or_completed_by_its_enumerated_compose():
    page = value_set("1.2", "1", ["1", "2"], total=3)
    assert from_resource(page).truncated == (2, 3)
    defined = value_set("1.2", "1", ["1", "2"], total=3,
                        compose={"include": [{"system": SNOMED, "concept": [{"code": c} for c in "123"]}]})
    whole = from_resource(defined)
    assert whole.truncated is None and whole.members == {(SNOMED, "1"), (SNOMED, "2"), (SNOMED, "3")}


def test_resolve__a_bundled_truncated_expansion_is_refused_without_a_terminology_server():
    page = value_set("1.2", "7", ["1", "2"], total=5)
    with pytest.raises(PackError, match=r"1\.2\|7: pack/x\.json: its expansion lists 2 of 5 codes"):
        resolve_value_sets([VSAC + "1.2|7"], bundled=[("pack/x.json", page)])
    whole = value_set("1.2", "7", ["1", "2"])
    assert len(resolve_value_sets([VSAC + "1.2|7"], bundled=[("pack/x.json", whole)])[VSAC + "1.2|7"]) == 2


def _paged_server(codes_held: list[str], *, honour_offset: bool = True, page: int = 2) -> None:
    """A terminology server whose $expand answers at most ``page`` codes from the offset asked (or always the
    first page, echoing offset 0, when it does not honour the offset)."""
    def expand(request):
        offset = int(request.params.get("offset", 0)) if honour_offset else 0
        answer = {"resourceType": "ValueSet", "url": request.params["url"], "version": "7",
                  "expansion": {"total": len(codes_held), "offset": offset,
                                "contains": [concept(c) for c in codes_held[offset:offset + page]]}}
        return 200, {"Content-Type": "application/fhir+json"}, json.dumps(answer)

    responses.add_callback(responses.GET, f"{TX}/ValueSet/$expand", callback=expand)


@responses.activate
def test_resolve__the_terminology_server_expands_a_bundled_truncated_expansion_page_by_page():
    _paged_server(["1", "2", "3", "4", "5"])
    server = TerminologyServer(FhirClient(TX, retries=0))
    found = resolve_value_sets([VSAC + "1.2|7"], bundled=[("pack/x.json", value_set("1.2", "7", ["1", "2"], total=5))],
                               server=server)[VSAC + "1.2|7"]
    assert found.members == {(SNOMED, c) for c in "12345"} and found.source.startswith("terminology server")
    assert len(responses.calls) == 3


@responses.activate
def test_terminology_server__a_server_answering_another_page_than_asked_gives_no_expansion():
    _paged_server(["1", "2", "3"], honour_offset=False)
    with pytest.raises(PackError, match=r"answered offset 0 when asked for 2"):
        resolve_value_sets([VSAC + "1.2|7"], server=TerminologyServer(FhirClient(TX, retries=0)))


@responses.activate
def test_terminology_server__a_first_page_alone_is_an_incomplete_expansion():
    responses.get(f"{TX}/ValueSet/$expand", json=value_set("1.2", "7", ["1", "2"], total=5) | {"expansion": {
        "total": 5, "contains": [concept("1"), concept("2")]}})
    responses.get(f"{TX}/ValueSet/$expand", json={"resourceType": "ValueSet", "url": VSAC + "1.2", "version": "7",
                                                 "expansion": {"total": 5, "contains": []}})
    with pytest.raises(PackError, match=r"listed 2 of its 5 codes: an incomplete expansion"):
        resolve_value_sets([VSAC + "1.2|7"], server=TerminologyServer(FhirClient(TX, retries=0)))


def test_complete__from_the_enumerated_compose_for_certain(tmp_path):
    compose = {"include": [{"system": SNOMED, "concept": [{"code": c} for c in "1234"]}]}
    new = release(tmp_path / "new", value_set("1.2", "2", ["1", "2"], total=4, compose=compose))
    whole = complete(new.get(VSAC + "1.2"), new)
    assert set(codes(whole)) == {(SNOMED, c) for c in "1234"}
    assert from_resource(whole).missing == 0 and "enumerated compose" in from_resource(whole).completion
    assert truncation(whole) is None


def test_complete__a_grouper_from_the_value_sets_it_includes(tmp_path):
    grouper = value_set("1.9", "2", ["1", "2"], total=4, compose={"include": [
        {"valueSet": [VSAC + "1.3"]}, {"valueSet": [VSAC + "1.4"]}]})
    new = release(tmp_path / "new", grouper, value_set("1.3", "1", ["1", "2"]), value_set("1.4", "1", ["3", "4"]))
    whole = complete(new.get(VSAC + "1.9"), new)
    assert set(codes(whole)) == {(SNOMED, c) for c in "1234"} and from_resource(whole).missing == 0


def test_complete__the_union_with_the_previous_release_says_what_may_still_be_missing(tmp_path):
    new = release(tmp_path / "new", value_set("1.2", "2", ["1", "2", "3"], total=7))
    old = release(tmp_path / "old", value_set("1.2", "1", ["2", "4", "5"]))
    whole = complete(new.get(VSAC + "1.2"), new, [old])
    assert set(codes(whole)) == {(SNOMED, c) for c in "12345"}
    parsed = from_resource(whole)
    assert parsed.truncated is None and parsed.missing == 2  # 7 declared, 5 held
    assert "At least 2 codes" in parsed.completion and "At least 2 codes" in whole["description"]
    assert whole["expansion"]["total"] == 5 and "offset" not in whole["expansion"]
    # nothing earlier: the page stays what it is, and says so
    alone = from_resource(complete(new.get(VSAC + "1.2"), new))
    assert len(alone) == 3 and alone.missing == 4 and "no earlier release" in alone.completion


def test_complete__a_whole_expansion_is_left_as_distributed(tmp_path):
    resource = value_set("1.2", "2", ["1"])
    assert complete(resource, release(tmp_path / "new", resource)) is resource


def test_with_compose__enumerates_the_expansion_once_and_keeps_a_compose():
    resource = value_set("1.2", "2", ["1", "2"])
    assert with_compose(resource)["compose"] == {"include": [{"system": SNOMED, "concept": [{"code": "1"},
                                                                                            {"code": "2"}]}]}
    defined = {**resource, "compose": {"include": [{"valueSet": [VSAC + "9"]}]}}
    assert with_compose(defined) is defined


# --- the bundled pack ---------------------------------------------------------------------------------------------

def test_bundled_pack__no_bundled_expansion_is_a_truncated_page():
    for path in sorted((DEFAULT_PACK_DIR / "valuesets").glob("*.json")):
        assert truncation(json.loads(path.read_text(encoding="utf-8"))) is None, path.name


@pytest.mark.parametrize("oid", ["2.16.840.1.113883.3.526.3.378", "2.16.840.1.113883.3.464.1003.110.12.1082"])
def test_bundled_pack__a_truncated_2025_expansion_keeps_every_code_of_both_releases(oid):
    current = json.loads((SHARED / "valuesets-2025" / f"{oid}.json").read_text(encoding="utf-8"))
    assert truncation(current), "the 2025 file is no longer truncated: this test's premise is gone"
    earlier = Release(SHARED / "valuesets").get(VSAC + oid)
    bundled = json.loads((DEFAULT_PACK_DIR / "valuesets" / f"ValueSet-{oid}.json").read_text(encoding="utf-8"))
    assert set(codes(bundled)) == set(codes(current)) | set(codes(earlier))
    parsed = load_pack_set().value_sets[f"{VSAC}{oid}|{current['version']}"]
    assert parsed.missing == max(0, current["expansion"]["total"] - len(parsed)) and "2021" in parsed.completion


def test_moving_the_2021_pack_to_2025_gives_the_published_value_sets_of_the_bundled_pack(tmp_path):
    """One piece of code: the pack authored on the 2021 release alone, moved by ``pack valuesets --write``, names
    the published value sets by the same ``url|version`` and bundles the same codes as the pack authored on the
    2025 release (a set whose version and codes did not change is left as it was bundled)."""
    old_pack = tmp_path / "pack-2021"
    env = {**os.environ, "CAREPATH_AUTHORING_RELEASES": str(SHARED / "valuesets"), "PYTHONPATH": str(ROOT)}
    subprocess.run([sys.executable, "-m", "app.engine.authoring", str(old_pack)], check=True, env=env, cwd=ROOT,
                   capture_output=True)
    move = plan_move(old_pack, Release(SHARED / "valuesets", "2021 eCQM"), Release(SHARED / "valuesets-2025",
                                                                                   "2025 eCQM"))
    assert move.report["summary"]["updated"] > 0
    write_move(move, old_pack)

    def published(folder: Path) -> tuple[set[str], dict[str, Any]]:
        library = json.loads((folder / "Library-primary-care-data.json").read_text(encoding="utf-8"))
        canonicals = {f["valueSet"] for r in library["dataRequirement"] for f in r.get("codeFilter", [])
                      if not f["valueSet"].startswith(BASE)}
        files = {p.name: json.loads(p.read_text(encoding="utf-8")) for p in (folder / "valuesets").glob("*.json")}
        return canonicals, {name: (r["version"], set(codes(r))) for name, r in files.items()
                            if not r["url"].startswith(BASE)}

    assert published(old_pack) == published(DEFAULT_PACK_DIR)


# --- moving a pack -------------------------------------------------------------------------------------------------

def _own(name: str, codes_held: list[str], kind: str, sources: list[str]) -> dict[str, Any]:
    return {"resourceType": "ValueSet", "id": f"carepath-{name}", "url": f"{BASE}/ValueSet/{name}",
            "version": "1.0.0", "title": name, "status": "draft",
            "extension": [{"url": EXT + "valueset-kind", "valueCode": kind},
                          *({"url": EXT + "derived-from", "valueCanonical": s} for s in sources)],
            "expansion": {"total": len(codes_held), "contains": [concept(c) for c in codes_held]}}


def _requirement(key: str, canonical: str) -> dict[str, Any]:
    return {"type": "Condition", "extension": [{"url": EXT + "fact-key", "valueCode": key}],
            "codeFilter": [{"path": "code", "valueSet": canonical}]}


@pytest.fixture
def small_pack(tmp_path):
    """A pack naming: A (moves to a new version, renamed, codes added and removed), B (absent from the new
    release), C (truncated in the new release), D (derived from A), E (a supplement of B), and the releases."""
    old = release(tmp_path / "old", value_set("1.1", "2021", ["10", "11", "12"], title="Alpha"),
                  value_set("1.2", "2021", ["20"]), value_set("1.3", "2021", ["30", "31", "32"]))
    new = release(tmp_path / "new", value_set("1.1", "2025", ["11", "12", "13", "14"], title="Alpha Beta"),
                  value_set("1.3", "2025", ["30", "33"], total=5))
    pack = tmp_path / "pack"
    (pack / "valuesets").mkdir(parents=True)
    library = {"resourceType": "Library", "id": "lib", "url": f"{BASE}/Library/lib", "version": "1.0.0",
               "dataRequirement": [_requirement("alpha", VSAC + "1.1|2021"), _requirement("beta", VSAC + "1.2|2021"),
                                   _requirement("beta", f"{BASE}/ValueSet/e|1.0.0"),
                                   _requirement("gamma", VSAC + "1.3|2021"),
                                   _requirement("delta", f"{BASE}/ValueSet/d|1.0.0")]}
    (pack / "Library-lib.json").write_text(json.dumps(library), encoding="utf-8")
    for resource in (*(old.get(VSAC + oid) for oid in ("1.1", "1.2", "1.3")),
                     _own("d", ["10", "11"], "derived", [VSAC + "1.1|2021"]),
                     _own("e", ["13", "99"], "supplement", [VSAC + "1.1|2021"])):
        name = resource["url"].rsplit("/", 1)[1]
        (pack / "valuesets" / f"ValueSet-{name}.json").write_text(json.dumps(resource), encoding="utf-8")
    return pack, old, new


def _entry(report: dict[str, Any], oid: str) -> dict[str, Any]:
    return next(e for e in report["value_sets"] if e["url"] == VSAC + oid)


def test_plan_move__reports_each_value_set_and_writes_nothing(small_pack):
    pack, old, new = small_pack
    before = {p: p.read_bytes() for p in pack.rglob("*.json")}
    report = plan_move(pack, old, new).report
    assert {p: p.read_bytes() for p in pack.rglob("*.json")} == before

    alpha = _entry(report, "1.1")
    assert (alpha["status"], alpha["from_version"], alpha["to_version"]) == ("updated", "2021", "2025")
    assert [c["code"] for c in alpha["added"]] == ["13", "14"] and [c["code"] for c in alpha["removed"]] == ["10"]
    assert alpha["renamed"]["to"]["title"] == "Alpha Beta" and alpha["uses"] == ["Condition alpha"]
    beta = _entry(report, "1.2")
    assert (beta["status"], beta["to_version"], beta["added"], beta["removed"]) == ("kept", "2021", [], [])
    gamma = _entry(report, "1.3")
    assert [c["code"] for c in gamma["added"]] == ["33"] and gamma["removed"] == []  # 31, 32 kept by the union
    assert gamma["missing"] == 1 and "At least 1 codes" in gamma["completion"]
    assert {e["url"] for e in report["value_sets"]} == {VSAC + "1.1", VSAC + "1.2", VSAC + "1.3"}

    derived = {e["url"].rsplit("/", 1)[1]: e for e in report["derived"]}
    assert derived["d"]["sources"] == [{"from": VSAC + "1.1|2021", "to": VSAC + "1.1|2025", "added": 2,
                                        "removed": 1}]
    assert [c["code"] for c in derived["d"]["review"]["source_codes_added"]] == ["13", "14"]
    assert [c["code"] for c in derived["d"]["review"]["held_codes_the_source_dropped"]] == ["10"]
    assert [c["code"] for c in derived["e"]["review"]["codes_the_sources_now_list"]] == ["13"]
    # 10 leaves 'alpha' (no other set of the concept lists it); 'delta' keeps its derived codes
    assert report["concepts_losing_codes"] == [{"concept": "Condition alpha", "codes": [concept("10")]}]
    summary = report["summary"]
    assert (summary["updated"], summary["kept_at_old_version"], summary["renamed"], summary["completed"],
            summary["derived_to_review"]) == (2, 1, 1, 1, 2)


def test_plan_move__nothing_changes_when_the_release_is_the_same(small_pack):
    pack, old, _ = small_pack
    move = plan_move(pack, old, old)
    assert move.files == {} and move.report["derived"] == [] and move.report["concepts_losing_codes"] == []
    assert {e["status"] for e in move.report["value_sets"]} == {"unchanged"}


def test_pack_valuesets__write_rewrites_canonicals_and_bundled_files_and_reports(small_pack, tmp_path, capsys):
    pack, old, new = small_pack
    out = tmp_path / "out"
    assert main(["pack", "valuesets", str(pack), "--from", str(old.folder), "--to", str(new.folder), "--write",
                 "--out", str(out)]) == 0
    assert "pack rewritten" in capsys.readouterr().out
    library = json.loads((pack / "Library-lib.json").read_text(encoding="utf-8"))
    assert [r["codeFilter"][0]["valueSet"] for r in library["dataRequirement"]] == [
        VSAC + "1.1|2025", VSAC + "1.2|2021", f"{BASE}/ValueSet/e|1.0.0", VSAC + "1.3|2025", f"{BASE}/ValueSet/d|1.0.0"]
    alpha = json.loads((pack / "valuesets" / "ValueSet-1.1.json").read_text(encoding="utf-8"))
    assert alpha["version"] == "2025" and alpha["compose"]["include"][0]["concept"][0] == {"code": "11"}
    gamma = from_resource(json.loads((pack / "valuesets" / "ValueSet-1.3.json").read_text(encoding="utf-8")))
    assert gamma.truncated is None and gamma.members == {(SNOMED, c) for c in ("30", "31", "32", "33")}
    assert json.loads((pack / "valuesets" / "ValueSet-d.json").read_text(encoding="utf-8"))["expansion"][
        "contains"] == [concept("10"), concept("11")]  # the derivation is the author's: reported, not redone
    report = json.loads((out / "valuesets-report.json").read_text(encoding="utf-8"))
    assert report["written"] is True and report["summary"]["codes_added"] == 3
    text = (out / "valuesets-report.md").read_text(encoding="utf-8")
    assert "kept at 2021" in text and "To review: d (derived" in text and "Codes the pack stops recognising" in text
    # moved again: already there
    assert plan_move(pack, old, new).files == {}


def test_pack_valuesets__dry_run_prints_markdown_and_refuses_ndjson_without_a_date(small_pack, capsys):
    pack, old, new = small_pack
    assert main(["pack", "valuesets", str(pack), "--from", str(old.folder), "--to", str(new.folder)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("# Value sets of") and "dry run" in out
    assert main(["pack", "valuesets", str(pack), "--from", str(old.folder), "--to", str(new.folder),
                 "--ndjson", str(pack)]) == 2
    assert "--as-of" in capsys.readouterr().err


def test_pack_valuesets__a_missing_release_folder_is_an_error(small_pack, capsys):
    pack, old, _ = small_pack
    assert main(["pack", "valuesets", str(pack), "--from", str(old.folder), "--to", str(pack / "nope")]) == 2
    assert "no such value-set release folder" in capsys.readouterr().err


def test_report_markdown__escapes_table_cells_and_shortens_long_lists():
    entry = {"url": VSAC + "1.1", "title": "A | B", "uses": ["Condition a"], "from_version": "1", "to_version": "2",
             "status": "updated", "added": [concept(str(i), ICD10CM) for i in range(20)], "removed": [],
             "renamed": None, "completion": None, "missing": 0}
    report = {"library": "L|1", "pack": "p", "written": False, "from": {"release": "old"}, "to": {"release": "new"},
              "summary": {"published": 1, "updated": 1, "version_changed": 1, "unchanged": 0,
                          "kept_at_old_version": 0, "renamed": 0, "completed": 0, "codes_added": 20,
                          "codes_removed": 0, "derived_to_review": 0},
              "value_sets": [entry], "derived": [], "concepts_losing_codes": []}
    text = report_markdown(report, codes_shown=3)
    assert "| A \\| B `1.1` |" in text and "and 17 more" in text and "ICD-10-CM 2" in text


# --- the patients whose plan changes ----------------------------------------------------------------------------------

DIABETES = "2.16.840.1.113883.3.464.1003.103.12.1001"


def _diabetes_codes(bundle: Path, members: set[tuple[str, str]]) -> set[tuple[str, str]]:
    found = set()
    for entry in json.loads(bundle.read_text(encoding="utf-8")).get("entry", []):
        resource = entry.get("resource", {})
        if resource.get("resourceType") == "Condition":
            found |= {(c.get("system"), c.get("code")) for c in resource.get("code", {}).get("coding", [])} & members
    return found


def _essence(plan: dict[str, Any]) -> list[Any]:
    """Goals and activities without the pack version stamped in their rationale."""
    return [[{**item, "rationale": {k: v for k, v in item["rationale"].items() if k != "pack_version"}}
             for item in plan[section]] for section in ("goals", "activities")]


def test_pack_valuesets__ndjson_lists_exactly_the_patients_whose_plan_changes(spark, tmp_path):
    """A new release whose Diabetes value set no longer lists the diabetes codes of one patient: that patient's plan
    changes (found by the single-patient path with both packs), the others' do not."""
    pack = tmp_path / "pack"
    shutil.copytree(DEFAULT_PACK_DIR, pack)
    old = Release(SHARED / "valuesets")
    diabetes = old.get(VSAC + DIABETES)
    members = set(codes(diabetes))
    bundles = sorted(SYNTHEA.glob("*.json"))
    diabetic = next(b for b in bundles if _diabetes_codes(b, members))
    others = [b for b in bundles if not _diabetes_codes(b, members)][:2]
    dropped = _diabetes_codes(diabetic, members)
    kept = [c for c in diabetes["expansion"]["contains"] if (c["system"], c["code"]) not in dropped]
    changed = {**diabetes, "version": "20990101", "expansion": {**diabetes["expansion"], "total": len(kept),
                                                                "contains": kept}}
    new = release(tmp_path / "new", {**changed, "id": DIABETES})
    export = tmp_path / "export"
    write_ndjson([diabetic, *others], export)

    out = tmp_path / "out"
    assert main(["pack", "valuesets", str(pack), "--from", str(old.folder), "--to", str(new.folder), "--ndjson",
                 str(export), "--as-of", "2021-04-01", "--out", str(out), "--master", "local[1]"]) == 0

    as_of = date(2021, 4, 1)
    before, after = load_pack_set(pack), load_pack_set(out / "pack")
    expected = set()
    for bundle in (diabetic, *others):
        plans = [single_plan(bundle, pack_set, as_of) for pack_set in (before, after)]
        if _essence(plans[0]) != _essence(plans[1]):
            expected.add(plans[0]["patient_id"])
    assert len(expected) == 1, "dropping a patient's diabetes codes should change that patient's plan only"
    report = json.loads((out / "valuesets-report.json").read_text(encoding="utf-8"))
    assert {p["patient_id"] for p in report["patients"]["changed"]} == expected
    assert report["patients"]["patients"] == 3 and report["patients"]["patients_changed"] == 1
    assert _entry(report, DIABETES)["removed"] and not report["written"]
    assert next(iter(expected)) in (out / "valuesets-report.md").read_text(encoding="utf-8")
    # the pack itself is untouched by a dry run
    assert (pack / "Library-primary-care-data.json").read_bytes() == \
        (DEFAULT_PACK_DIR / "Library-primary-care-data.json").read_bytes()
