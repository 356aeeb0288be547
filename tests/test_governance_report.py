"""``carepath governance report``: rule, threshold, text, value-set and citation changes between two pack
versions, each with its citation; the conformance of both (by the harness's own API); content hashes; the page."""

from __future__ import annotations

import json
import shutil
from datetime import date
from pathlib import Path

import pytest

from app.cli import main
from app.conformance.run import pack_digest
from app.engine import DEFAULT_PACK_DIR
from app.governance.changes import content_hashes, pack_changes
from app.governance.report import (
    build_report,
    latest_report,
    recorded_reports,
    render_html,
    reports_index,
    write_governance_report,
)
from tests.governance_data import ADDED_CODE, BP_FILE, NEW_VERSION, THRESHOLD, proposed_pack
from tests.test_conformance import GAP_CASE, OUTSIDE_CASE, make_deck

AS_OF = date(2024, 12, 31)


@pytest.fixture(scope="module")
def proposed(tmp_path_factory):
    return proposed_pack(tmp_path_factory.mktemp("governance") / "proposed")


def test_pack_changes__names_the_threshold_the_code_and_their_citations(proposed):
    changes = pack_changes(DEFAULT_PACK_DIR, proposed)

    rules = {rule["id"]: rule for rule in changes["rules"]}
    assert rules and all(rule["change"] == "changed" for rule in rules.values())
    moved = [rule for rule in rules.values()
             if any(THRESHOLD[0] in c["before"] and THRESHOLD[1] in c["after"] for c in rule["conditions"])]
    assert moved, "the changed threshold is listed as a condition change"
    assert all(rule["citations"] for rule in rules.values()), "every change lists its citation"
    assert any(c["label"] == "ACC-AHA-HTN-2017" for rule in moved for c in rule["citations"])
    assert changes["goals"] == []
    [value_set] = changes["valueSets"]
    assert value_set["codesAdded"] == [ADDED_CODE] and value_set["codesRemoved"] == []
    assert changes["counts"]["valueSets"] == {"added": 0, "removed": 0, "changed": 1}
    assert changes["versions"]["proposed"]["http://carepath.dev/fhir/Library/primary-care-data"] == "2025.2.0"


def test_pack_changes__an_added_and_a_removed_rule_a_text_and_a_citation(tmp_path):
    folder = tmp_path / "pack"
    shutil.copytree(DEFAULT_PACK_DIR, folder)
    path = folder / BP_FILE
    plan_definition = json.loads(path.read_text(encoding="utf-8"))
    area = plan_definition["action"][0]
    removed = area["action"].pop()
    first = area["action"][0]
    first["title"] = "<b>Measure</b> blood pressure"
    first["documentation"][0]["citation"] = "Section 4.1, another section"
    area["action"].append({**removed, "id": "htn.new-rule"})
    path.write_text(json.dumps(plan_definition), encoding="utf-8")

    rules = {rule["id"]: rule for rule in pack_changes(DEFAULT_PACK_DIR, folder)["rules"]}

    assert rules[removed["id"]]["change"] == "removed" and rules["htn.new-rule"]["change"] == "added"
    assert rules["htn.new-rule"]["citations"] and rules["htn.new-rule"]["conditions"]
    changed = rules[first["id"]]
    assert [t["after"] for t in changed["texts"]] == ["<b>Measure</b> blood pressure"]
    assert [c["after"] for c in changed["citationChanges"]] == ["Section 4.1, another section"]
    assert changed["citations"][0]["section"] == "Section 4.1, another section"
    assert changed["citationsBefore"][0]["section"] != "Section 4.1, another section"


def test_pack_changes__the_same_pack_changes_nothing():
    changes = pack_changes(DEFAULT_PACK_DIR, DEFAULT_PACK_DIR)
    assert not (changes["rules"] or changes["goals"] or changes["valueSets"] or changes["resources"])


def test_report__hashes_conformance_of_both_and_the_difference(proposed, tmp_path):
    deck = make_deck(tmp_path / "deck", [GAP_CASE, OUTSIDE_CASE])

    report = build_report(DEFAULT_PACK_DIR, proposed, AS_OF, deck=deck, out=tmp_path / "out")

    assert report["current"]["files"] == content_hashes(DEFAULT_PACK_DIR)
    assert report["proposed"]["packDigest"] == pack_digest(proposed) != report["current"]["packDigest"]
    changed = {file for file, digest in report["proposed"]["files"].items()
               if report["current"]["files"].get(file) != digest}
    assert BP_FILE in changed and any(file.startswith("valuesets/") for file in changed)
    conformance = report["conformance"]
    assert conformance["status"] == "passed" and conformance["knownDefects"] == 0
    assert conformance["overall"]["proposed"]["assessed"] == 1
    assert conformance["difference"]["changed"] == []
    assert conformance["packDigest"]["proposed"] == report["proposed"]["packDigest"]
    assert (tmp_path / "out" / "conformance" / "proposed" / "conformance.json").is_file()
    assert report["panel"] is None


def test_render_html__escapes_every_text_and_needs_nothing_online(proposed, tmp_path):
    report = build_report(DEFAULT_PACK_DIR, proposed, AS_OF)
    report["changes"]["rules"][0]["title"] = "<script>alert(1)</script>"
    page = render_html(report)
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "http://" not in page.split("<body>")[0] and "<link" not in page
    assert "Not run (no test deck given)" in page
    assert ADDED_CODE["code"] in page and "&gt;= 125" in page


def test_governance_report_command__writes_json_and_html(proposed, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CAREPATH_VAR_DIR", str(tmp_path / "var"))
    out = tmp_path / "out"
    status = main(["governance", "report", "--current", str(DEFAULT_PACK_DIR), "--proposed", str(proposed),
                   "--as-of", "2024-12-31", "--out", str(out)])
    assert status == 0
    written = json.loads((out / "governance.json").read_text(encoding="utf-8"))
    assert written["kind"] == "carepath-governance-report" and (out / "governance.html").is_file()
    assert "valueSets 0 added, 0 removed, 1 changed" in capsys.readouterr().out


def test_governance_report_command__records_each_report_newest_last(proposed, tmp_path, monkeypatch, capsys):
    """``VAR_DIR/governance/reports.json`` lists the reports written, newest last, with absolute paths (the app's
    working directory is not the command's); a report written again to the same place moves to the end."""
    var = tmp_path / "var"
    monkeypatch.setenv("CAREPATH_VAR_DIR", str(var))
    monkeypatch.chdir(tmp_path)
    other = shutil.copytree(DEFAULT_PACK_DIR, tmp_path / "other")

    def report(folder: str, out: str) -> None:
        assert main(["governance", "report", "--current", str(DEFAULT_PACK_DIR), "--proposed", folder,
                     "--as-of", "2024-12-31", "--out", out]) == 0

    assert latest_report(var) is None
    report(str(proposed), "first")
    report("other", "second")  # relative to the working directory
    assert [entry["report"] for entry in recorded_reports(var)] == \
        [str(tmp_path / "first" / "governance.json"), str(tmp_path / "second" / "governance.json")]
    latest = latest_report(var)
    assert latest["proposed"] == str(other) and latest["proposedDigest"] == pack_digest(other)
    assert latest["versions"] == ["2025.1.0"]
    assert f"recorded as the latest report (the draft preview's default): {reports_index(var)}" \
        in capsys.readouterr().out

    report(str(proposed), "first")

    assert [Path(entry["report"]).parent.name for entry in recorded_reports(var)] == ["second", "first"]
    assert latest_report(var)["proposed"] == str(proposed) and latest_report(var)["versions"] == [NEW_VERSION]


def test_governance_report_command__an_unwritable_index_is_a_warning_not_a_lost_report(proposed, tmp_path,
                                                                                        monkeypatch, capsys):
    var = tmp_path / "var"
    (var / "governance").mkdir(parents=True)
    (var / "governance" / "reports.json").mkdir()  # a folder where the index should be: it cannot be replaced
    monkeypatch.setenv("CAREPATH_VAR_DIR", str(var))
    assert main(["governance", "report", "--current", str(DEFAULT_PACK_DIR), "--proposed", str(proposed),
                 "--as-of", "2024-12-31", "--out", str(tmp_path / "out")]) == 0
    assert (tmp_path / "out" / "governance.json").is_file()
    assert "not recorded for the draft preview" in capsys.readouterr().err


def test_governance_report_command__a_broken_pack_is_refused(tmp_path, capsys):
    broken = tmp_path / "broken"
    shutil.copytree(DEFAULT_PACK_DIR, broken)
    (broken / BP_FILE).write_text("{", encoding="utf-8")
    status = main(["governance", "report", "--current", str(DEFAULT_PACK_DIR), "--proposed", str(broken),
                   "--as-of", "2024-12-31", "--out", str(tmp_path / "out")])
    assert status == 2 and "invalid guideline pack" in capsys.readouterr().err


def test_report__panel_impact_by_rule_via_cohort_diff(spark, proposed, tmp_path):
    from tests.conftest import SYNTHEA

    if not SYNTHEA.is_dir():
        pytest.skip("the shared Synthea sample is not here")
    report = build_report(DEFAULT_PACK_DIR, proposed, date(2021, 4, 1), ndjson=SYNTHEA, spark=lambda: spark,
                          out=tmp_path)
    panel = report["panel"]
    assert panel["patients"] == 25 and 0 < panel["patientsChanged"] < 25
    assert panel["byRule"] and all(c["patients"] > 0 for rule in panel["byRule"] for c in rule["changes"])
    assert (tmp_path / "cohort-diff" / "diff.ndjson").is_file()
    write_governance_report(report, tmp_path / "page")
    assert panel["byRule"][0]["id"] in (tmp_path / "page" / "governance.html").read_text(encoding="utf-8")
