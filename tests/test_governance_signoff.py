"""``carepath pack sign-off``: the bundled pack and a copy with one changed threshold and one added value-set code
go report -> two sign-offs -> active, and the plan road (``load_configured_pack_set``, as the sidebar and CDS Hooks
load packs) takes the new version only after the second sign-off; the refusals; publishing with a Provenance."""

from __future__ import annotations

import json
import shutil
from datetime import date
from pathlib import Path

import pytest
import responses

from app import config as defaults
from app import create_app, pack_set
from app.audit import AuditLog
from app.cli import main
from app.engine import DEFAULT_PACK_DIR, load_configured_pack_set
from app.errors import PackError
from app.governance.lifecycle import check_lifecycle
from app.governance.report import build_report, write_governance_report
from app.governance.signoff import REVIEWER_EXTENSION, SignOffRefused, activate, read_report, sign_off, signers
from tests.governance_data import BP_FILE, NEW_VERSION, VALUE_SET_FILE, proposed_pack
from tests.test_conformance import GAP_CASE, OUTSIDE_CASE, make_deck

AS_OF = date(2024, 12, 31)
ALICE, BOB = "Practitioner/alice", "Practitioner/bob"
FHIR = "http://fhir.example.org/fhir"


@pytest.fixture(scope="module")
def deck(tmp_path_factory):
    return make_deck(tmp_path_factory.mktemp("deck") / "deck", [GAP_CASE, OUTSIDE_CASE])


@pytest.fixture(scope="module")
def reviewed(deck, tmp_path_factory):
    """The proposed copy and its governance report, written and read back as a reviewer gets it (made once: the
    report is for the files' content, wherever they are copied)."""
    folder = tmp_path_factory.mktemp("reviewed")
    proposed = proposed_pack(folder / "proposed")
    paths = write_governance_report(build_report(DEFAULT_PACK_DIR, proposed, AS_OF, deck=deck), folder / "out")
    return proposed, paths["json"]


@pytest.fixture
def proposed(reviewed, tmp_path):
    return Path(shutil.copytree(reviewed[0], tmp_path / "proposed"))


@pytest.fixture
def report(reviewed, tmp_path):
    (tmp_path / "out").mkdir()
    shutil.copy(reviewed[1], tmp_path / "out" / "governance.json")
    return read_report(reviewed[1])


@pytest.fixture
def audit(tmp_path):
    return AuditLog(tmp_path / "audit.sqlite3")


def _files_config(folder) -> dict:
    return {"PACK_SOURCE": "files", "PACK_DIR": str(folder), "PACK_ALLOW_DRAFT": defaults.PACK_ALLOW_DRAFT}


def test_sign_off__two_reviewers_make_the_version_active_and_the_plan_road_follows(proposed, report, audit,
                                                                                   tmp_path):
    app = create_app({"TESTING": True, "SECRET_KEY": "test", "VAR_DIR": str(tmp_path), "PACK_DIR": str(proposed)})
    with pytest.raises(PackError, match=f"primary-care-data\\|{NEW_VERSION} is draft"):
        load_configured_pack_set(_files_config(proposed))

    first = sign_off(proposed, report, ALICE, audit, required=2, on=date(2025, 7, 1))

    assert not first.activated and first.reviewers == [ALICE]
    with pytest.raises(PackError, match="not active"):
        pack_set(app)  # the sidebar's and CDS Hooks' packs: still the draft, refused

    second = sign_off(proposed, report, BOB, audit, required=2, on=date(2025, 7, 1))

    assert second.activated and second.reviewers == [ALICE, BOB]
    used = pack_set(app)
    assert {(p["version"], p["status"]) for p in used.packs} == {(NEW_VERSION, "active")}
    assert load_configured_pack_set(_files_config(proposed)).packs == used.packs
    bp = json.loads((proposed / BP_FILE).read_text(encoding="utf-8"))
    assert (bp["status"], bp["approvalDate"], bp["lastReviewDate"]) == ("active", "2025-07-01", "2025-07-01")
    assert [r["extension"][0]["valueReference"]["reference"] for r in bp["reviewer"]] == [ALICE, BOB]
    assert bp["reviewer"][0]["extension"][0]["url"] == REVIEWER_EXTENSION
    events = [(e.event, e.actor) for e in audit.entries()]
    assert events == [("signed-off", ALICE), ("signed-off", BOB), ("pack-activated", BOB)]
    assert audit.check().problem is None
    assert audit.entries()[0].detail["packDigest"] == report["proposed"]["packDigest"]
    assert signers(audit, report["proposed"]["packDigest"]) == [ALICE, BOB]


def test_sign_off__the_bundled_pack_is_a_named_draft_preview_by_default():
    pack_set = load_configured_pack_set({})
    assert {p["status"] for p in pack_set.packs} == {"draft"}
    libraries = [packs[-1] for packs in pack_set.packs_by_pack]  # primary care, then pediatric: each its Library
    assert [f"{library['url']}|{library['version']}" for library in libraries] == defaults.PACK_ALLOW_DRAFT, \
        "the default names the bundled packs' versions: a new bundled version needs its own decision"
    with pytest.raises(PackError, match="CAREPATH_PACK_ALLOW_DRAFT"):
        load_configured_pack_set({"PACK_ALLOW_DRAFT": []})
    # each pack is signed off on its own: naming the primary-care version does not let the pediatric draft in
    with pytest.raises(PackError, match=r"pediatric-weight\|2026\.1\.0 is draft"):
        load_configured_pack_set({"PACK_ALLOW_DRAFT": defaults.PACK_ALLOW_DRAFT[:1]})


@pytest.mark.parametrize(("status", "allow", "refused"), [
    ("active", [], False),
    ("draft", ["http://x/Library/lib|2"], False),
    ("draft", ["http://x/PlanDefinition/a|2", "http://x/Library/lib|2"], False),
    ("draft", ["http://x/Library/lib|1"], True),
    ("draft", "", True),
    ("retired", ["http://x/Library/lib|2"], True),
])
def test_check_lifecycle__active_or_a_named_draft(status, allow, refused):
    packs = [{"url": "http://x/PlanDefinition/a", "version": "2", "status": status},
             {"url": "http://x/Library/lib", "version": "2", "status": status}]
    if refused:
        with pytest.raises(PackError):
            check_lifecycle(packs, allow)
    else:
        check_lifecycle(packs, allow)


def test_check_lifecycle__a_library_names_only_plan_definitions_of_its_own_version():
    packs = [{"url": "http://x/PlanDefinition/a", "version": "3", "status": "draft"},
             {"url": "http://x/Library/lib", "version": "2", "status": "draft"}]
    with pytest.raises(PackError, match="PlanDefinition/a\\|3 is draft"):
        check_lifecycle(packs, ["http://x/Library/lib|2"])


def test_sign_off__refuses_a_reviewer_signing_twice(proposed, report, audit):
    sign_off(proposed, report, ALICE, audit, required=3)
    with pytest.raises(SignOffRefused, match="already signed"):
        sign_off(proposed, report, "http://ehr.example.org/fhir/Practitioner/alice", audit, required=3)
    assert len(audit.entries()) == 1


def test_sign_off__refuses_a_report_made_for_other_files(proposed, report, audit):
    path = proposed / BP_FILE
    path.write_text(path.read_text(encoding="utf-8").replace("%facts.bp.sbp >= 125", "%facts.bp.sbp >= 120"),
                    encoding="utf-8")
    with pytest.raises(SignOffRefused, match=f"content hashes differ: {BP_FILE}"):
        sign_off(proposed, report, ALICE, audit)
    assert audit.entries() == []


@pytest.mark.parametrize(("edit", "message"), [
    (lambda r: r.update(conformance=None), "no conformance result"),
    (lambda r: r["conformance"].update(knownDefects=1, defectsByCause=[{"cause": "statin timing"}]),
     "1 known conformance defect.*statin timing"),
    (lambda r: r["conformance"].update(status="failed", failures=["statin/x: met-new-action (unclassified)"]),
     "fails conformance: statin/x"),
])
def test_sign_off__refuses_a_report_whose_conformance_has_a_defect(proposed, report, audit, edit, message):
    edit(report)
    with pytest.raises(SignOffRefused, match=message):
        sign_off(proposed, report, ALICE, audit)
    assert audit.entries() == []


def test_sign_off__a_real_unclassified_disagreement_fails_the_report(proposed, audit, tmp_path):
    deck = make_deck(tmp_path / "deck-disagreeing", [GAP_CASE], met_copy=GAP_CASE)
    report = build_report(DEFAULT_PACK_DIR, proposed, AS_OF, deck=deck)
    assert report["conformance"]["status"] == "failed"
    with pytest.raises(SignOffRefused, match="fails conformance"):
        sign_off(proposed, report, ALICE, audit)


@pytest.mark.parametrize("reviewer", ["Dr Alice", "Patient/p1", "Practitioner/", "alice"])
def test_sign_off__the_reviewer_is_a_practitioner_reference(proposed, report, audit, reviewer):
    with pytest.raises(SignOffRefused, match="Practitioner reference"):
        sign_off(proposed, report, reviewer, audit)


def test_sign_off__an_active_version_is_not_signed_again(proposed, report, audit, tmp_path):
    sign_off(proposed, report, ALICE, audit, required=1)
    again = build_report(DEFAULT_PACK_DIR, proposed, AS_OF, deck=make_deck(tmp_path / "d2", [OUTSIDE_CASE]))
    with pytest.raises(SignOffRefused, match="already active"):
        sign_off(proposed, again, BOB, audit, required=1)


@responses.activate
def test_sign_off__publishes_the_active_pack_with_a_provenance_naming_the_reviewers(proposed, report, audit):
    responses.post(FHIR, json={"resourceType": "Bundle", "type": "transaction-response", "entry": [
        {"response": {"status": "201 Created", "location": "Provenance/77/_history/1"}}]})
    sign_off(proposed, report, ALICE, audit, required=2, fhir_base=FHIR)
    assert len(responses.calls) == 0, "nothing is published before the version is active"

    outcome = sign_off(proposed, report, BOB, audit, required=2, fhir_base=FHIR)

    [call] = responses.calls
    bundle = json.loads(call.request.body)
    puts = [e for e in bundle["entry"] if e["request"]["method"] == "PUT"]
    plan_definitions = [e["resource"] for e in puts if e["resource"]["resourceType"] == "PlanDefinition"]
    assert plan_definitions and all(r["status"] == "active" for r in plan_definitions)
    [provenance] = [e["resource"] for e in bundle["entry"] if e["request"]["method"] == "POST"]
    assert [a["who"]["reference"] for a in provenance["agent"]] == [ALICE, BOB]
    assert {"reference": "Library/carepath-primary-care-data"} in provenance["target"]
    assert any("Provenance/77" in line for line in outcome.lines())


def test_sign_off_command__exit_codes(proposed, report, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CAREPATH_GOVERNANCE_REVIEWERS", "2")
    path = tmp_path / "out" / "governance.json"
    db = str(tmp_path / "cli-audit.sqlite3")
    command = ["pack", "sign-off", str(proposed), "--report", str(path), "--db", db, "--date", "2025-07-01"]
    assert main([*command, "--reviewer", ALICE]) == 0
    assert "1 of 2 reviewers" in capsys.readouterr().out
    assert main([*command, "--reviewer", ALICE]) == 1
    assert "already signed" in capsys.readouterr().err
    assert main([*command, "--reviewer", BOB]) == 0
    assert "is now active" in capsys.readouterr().out
    assert main([*command[:4], str(tmp_path / "nothing.json"), *command[5:], "--reviewer", BOB]) == 1


@pytest.fixture(scope="module")
def replacing(deck, tmp_path_factory):
    """The version in use (the bundled pack, signed off earlier: active) and the report comparing the proposed
    copy with it, as a committee makes it when a new version is to replace the active one."""
    folder = tmp_path_factory.mktemp("replacing")
    in_use = Path(shutil.copytree(DEFAULT_PACK_DIR, folder / "in-use"))
    activate(in_use, ["Practitioner/carol", "Practitioner/dave"], date(2025, 1, 2))
    proposed = proposed_pack(folder / "proposed")
    paths = write_governance_report(build_report(in_use, proposed, AS_OF, deck=deck), folder / "out")
    return in_use, paths["json"]


@pytest.fixture
def in_use(replacing, tmp_path):
    """A copy of the version in use (the same files, so the same content hashes)."""
    return Path(shutil.copytree(replacing[0], tmp_path / "in-use"))


@pytest.fixture
def replacing_report(replacing, tmp_path):
    """The report made with ``--current`` the version in use, also at ``OUT/governance.json``."""
    (tmp_path / "out-replacing").mkdir()
    shutil.copy(replacing[1], tmp_path / "out-replacing" / "governance.json")
    return read_report(replacing[1])


def _statuses(folder: Path) -> set[str]:
    return {json.loads(path.read_text(encoding="utf-8"))["status"]
            for path in [*folder.glob("PlanDefinition-*.json"), *folder.glob("Library-*.json")]}


def test_sign_off__activating_a_version_retires_the_one_it_replaces(proposed, replacing_report, audit, in_use):
    report = replacing_report
    first = sign_off(proposed, report, ALICE, audit, required=2, retire=in_use, on=date(2025, 7, 1))
    assert not first.retired and _statuses(in_use) == {"active"}, "nothing is retired before the new one is active"

    second = sign_off(proposed, report, BOB, audit, required=2, retire=in_use, on=date(2025, 7, 1))

    assert second.activated and _statuses(in_use) == {"retired"} and _statuses(proposed) == {"active"}
    assert "http://carepath.dev/fhir/Library/primary-care-data|2025.1.0" in second.retired
    assert any(line.startswith("retired: ") for line in second.lines())
    [activated] = [entry for entry in audit.entries() if entry.event == "pack-activated"]
    assert activated.detail["retired"] == second.retired
    with pytest.raises(PackError, match="is retired"):
        load_configured_pack_set(_files_config(in_use))
    bp = json.loads((proposed / BP_FILE).read_text(encoding="utf-8"))
    assert [r["name"] for r in bp["endorser"]] == [ALICE, BOB] == [r["name"] for r in bp["reviewer"]]


@pytest.mark.parametrize("which, message", [
    ("proposed", "the folder being signed off"),
    ("draft", "only an active version is retired"),
    ("missing", "no such pack folder"),
])
def test_sign_off__refuses_to_retire_what_is_not_the_active_version(proposed, report, audit, tmp_path, which,
                                                                    message):
    folders = {"proposed": proposed, "missing": tmp_path / "nowhere",
               "draft": Path(shutil.copytree(DEFAULT_PACK_DIR, tmp_path / "draft"))}
    with pytest.raises(SignOffRefused, match=message):
        sign_off(proposed, report, ALICE, audit, required=1, retire=folders[which])
    assert audit.entries() == [] and _statuses(proposed) == {"draft"}


def test_sign_off__refuses_to_retire_another_pack(proposed, report, audit, in_use):
    library = in_use / "Library-primary-care-data.json"
    resource = json.loads(library.read_text(encoding="utf-8"))
    library.write_text(json.dumps({**resource, "url": "http://example.org/Library/other"}), encoding="utf-8")
    with pytest.raises(SignOffRefused, match="not a version of the same pack"):
        sign_off(proposed, report, ALICE, audit, required=1, retire=in_use)


@pytest.mark.parametrize("change", ["edited", "added", "removed"])
def test_sign_off__refuses_to_retire_a_folder_whose_files_are_not_those_the_report_compared(
        proposed, replacing_report, audit, in_use, change):
    """The folder to retire must hold the report's ``current`` files: one file edited, added or removed since the
    report was made is refused, naming it, and nothing is recorded or rewritten."""
    bp = in_use / BP_FILE
    if change == "edited":
        bp.write_text(bp.read_text(encoding="utf-8").replace("%facts.bp.sbp >= 130", "%facts.bp.sbp >= 120"),
                      encoding="utf-8")
    elif change == "added":
        shutil.copy(bp, in_use / "PlanDefinition-99-copy.json")
    else:
        (in_use / "valuesets" / VALUE_SET_FILE.split("/")[-1]).unlink()
    changed = {"edited": BP_FILE, "added": "PlanDefinition-99-copy.json", "removed": VALUE_SET_FILE}[change]
    with pytest.raises(SignOffRefused, match="is not the version the report compared") as refused:
        sign_off(proposed, replacing_report, ALICE, audit, required=1, retire=in_use)
    assert changed in refused.value.message and f"--current {in_use}" in refused.value.message
    assert audit.entries() == [] and _statuses(proposed) == {"draft"} and _statuses(in_use) == {"active"}


def test_sign_off__refuses_to_retire_with_a_report_made_against_another_version(proposed, report, audit, in_use):
    """The bundled pack's report (``--current`` the draft bundled folder) does not retire the active copy: its
    files (status, approval, reviewers) are not those the report compared."""
    with pytest.raises(SignOffRefused, match="is not the version the report compared"):
        sign_off(proposed, report, ALICE, audit, required=1, retire=in_use)
    assert audit.entries() == [] and _statuses(in_use) == {"active"}


def test_sign_off_command__the_activation_is_in_the_chain_and_audit_verify_passes(proposed, replacing_report, in_use,
                                                                                tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CAREPATH_GOVERNANCE_REVIEWERS", "2")
    monkeypatch.setenv("CAREPATH_AUDIT_CHECKPOINT_FILE", str(tmp_path / "checkpoints.jsonl"))
    db = str(tmp_path / "cli-audit.sqlite3")
    command = ["pack", "sign-off", str(proposed), "--report", str(tmp_path / "out-replacing" / "governance.json"),
               "--db", db, "--retire", str(in_use)]
    assert main([*command, "--reviewer", ALICE]) == 0
    assert main([*command, "--reviewer", BOB]) == 0
    assert "retired: http://carepath.dev/fhir/Library/primary-care-data|2025.1.0" in capsys.readouterr().out

    assert main(["audit", "verify", "--db", db]) == 0

    assert "3 entries, hash chain intact" in capsys.readouterr().out
    events = [entry.event for entry in AuditLog(db).entries()]
    assert events == ["signed-off", "signed-off", "pack-activated"]
    lines = (tmp_path / "checkpoints.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 3, "each entry, the activation included, has its signed checkpoint"


def test_check_lifecycle__two_packs_each_library_names_its_own_version():
    packs = [{"url": "http://x/PlanDefinition/adult", "version": "1", "status": "draft"},
             {"url": "http://x/PlanDefinition/child", "version": "2", "status": "draft"},
             {"url": "http://x/Library/adult-lib", "version": "1", "status": "draft"},
             {"url": "http://x/Library/child-lib", "version": "2", "status": "draft"}]
    assert len(check_lifecycle(packs, ["http://x/Library/adult-lib|1", "http://x/Library/child-lib|2"])) == 4
    with pytest.raises(PackError, match=r"PlanDefinition/child\|2 is draft") as refused:
        check_lifecycle(packs, ["http://x/Library/adult-lib|1"])
    assert "adult|1" not in refused.value.message


def test_check_lifecycle__the_bundled_packs_read_together_as_cohort_run_reads_them():
    from app.engine.packs import DEFAULT_PACK_DIRS, pack_set_from_resources, read_pack_folder

    joined = pack_set_from_resources(read_pack_folder(",".join(str(folder) for folder in DEFAULT_PACK_DIRS)))
    assert len(check_lifecycle(joined.packs, defaults.PACK_ALLOW_DRAFT)) == len(joined.packs)


def test_sign_off__a_pack_no_published_measure_covers_says_why_and_can_be_signed(deck, tmp_path):
    """The pediatric pack: its reviewed measures.json gives the reason no eCQM applies; the report records
    conformance as not applicable with that reason, and two reviewers make it active."""
    from app.engine.packs import PEDIATRIC_PACK_DIR

    proposed = Path(shutil.copytree(PEDIATRIC_PACK_DIR, tmp_path / "pediatric"))
    report = build_report(PEDIATRIC_PACK_DIR, proposed, AS_OF, deck=deck)
    assert report["conformance"]["status"] == "not-applicable"
    assert "CMS155" in report["conformance"]["reason"]
    paths = write_governance_report(report, tmp_path / "out")
    assert "Not applicable: no published eCQM" in Path(paths["html"]).read_text(encoding="utf-8")
    audit = AuditLog(tmp_path / "audit.sqlite3")
    sign_off(proposed, read_report(paths["json"]), ALICE, audit, required=2, on=date(2025, 7, 1))
    assert sign_off(proposed, read_report(paths["json"]), BOB, audit, required=2, on=date(2025, 7, 1)).activated


@pytest.mark.parametrize("data", [{"notApplicable": "", "measures": {}},
                                  {"notApplicable": "none", "measures": {"bmi": {"actions": ["x"]}}}])
def test_review__not_applicable_needs_a_reason_and_no_measures(tmp_path, data):
    from app.conformance.review import ReviewError, load_review

    (tmp_path / "measures.json").write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ReviewError, match="notApplicable"):
        load_review(tmp_path)
