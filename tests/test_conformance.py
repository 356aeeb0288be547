"""carepath conformance: populations -> categories, the plan compared with them, classification and its ratchet,
the report's escaping, and the command's exit codes, on a few cases of the shared eCQM deck."""

from __future__ import annotations

import json
import shutil
from datetime import date
from pathlib import Path

import pytest

from app.cli import main
from app.conformance import (
    FAILED,
    PASSED,
    ReviewError,
    load_review,
    render_html,
    run_changes,
    run_conformance,
    template,
    write_report,
)
from app.conformance.compare import compare
from app.conformance.deck import EXCEPTED, EXCLUDED, GAP, MET, OUTSIDE, Case, DeckError, category, read_deck
from app.conformance.review import MeasureMap, review_folder
from app.conformance.run import pack_digest
from app.engine import DEFAULT_PACK_DIR, load_pack_set
from app.engine.packs import pack_files

ROOT = Path(__file__).resolve().parent.parent
DECK = ROOT.parent / "shared" / "data" / "ecqm-2023"
needs_deck = pytest.mark.skipif(not (DECK / "expected.json").is_file(), reason="the shared eCQM deck is not here")

#: A care gap the plan answers (clinical ASCVD, no statin), the same patient written as a met measure (so the
#: plan's statin is a new action: a disagreement that holds whatever else the pack learns), and a case outside.
GAP_CASE, OUTSIDE_CASE = "DENOMPop1Pass-Age19HasEncMI", "IPPPop1Fail-NoASCVDHasEnc"
MET_COPY = "NUMERPass-SameRecordAsMet"
DISAGREEING = ("statin", MET_COPY, "met-new-action")
STATIN = MeasureMap(key="statin", measure="CMS347", title="Statin", actions=frozenset({"lipid.diabetes"}))


@pytest.fixture(scope="module")
def pack_set():
    return load_pack_set()


def make_deck(folder: Path, names: list[str], met_copy: str | None = None) -> Path:
    """A deck of some statin cases of the shared one (expected.json, meta.json, Bundles); ``met_copy`` adds
    the record of that case again, expected as met."""
    if not (DECK / "expected.json").is_file():
        pytest.skip("the shared eCQM deck is not here")
    expected = json.loads((DECK / "expected.json").read_text(encoding="utf-8"))["statin"]
    meta = json.loads((DECK / "meta.json").read_text(encoding="utf-8"))
    (folder / "statin").mkdir(parents=True)
    kept = {name: expected[name] for name in names}
    for name in names:
        shutil.copy(DECK / "statin" / f"{name}.json", folder / "statin" / f"{name}.json")
    if met_copy:
        kept[MET_COPY] = {**expected[met_copy], "numerator": 1, "caseDir": "met-copy", "dataIssues": []}
        shutil.copy(DECK / "statin" / f"{met_copy}.json", folder / "statin" / f"{MET_COPY}.json")
    dirs = {entry["caseDir"] for entry in kept.values()}
    meta["issues"] = [issue for issue in meta["issues"] if issue["case"] in dirs]
    (folder / "expected.json").write_text(json.dumps({"statin": kept}), encoding="utf-8")
    (folder / "meta.json").write_text(json.dumps(meta), encoding="utf-8")
    return folder


@pytest.fixture
def deck(tmp_path):
    return make_deck(tmp_path / "deck", [GAP_CASE, OUTSIDE_CASE], met_copy=GAP_CASE)


def review_dir(tmp_path: Path, entries: list[dict]) -> Path:
    """The bundled measures.json with the given classification entries."""
    folder = tmp_path / "review"
    folder.mkdir(exist_ok=True)
    shutil.copy(review_folder() / "measures.json", folder / "measures.json")
    (folder / "classification.json").write_text(json.dumps({"entries": entries}), encoding="utf-8")
    return folder


def entry(kind: str, **extra) -> dict:
    measure, case, finding = DISAGREEING
    return {"measure": measure, "case": case, "finding": finding, "class": kind, "reason": "reviewed", **extra}


# ---------------------------------------------------------------- populations -> category

@pytest.mark.parametrize(("counts", "expected"), [
    ({"initial-population": 1, "denominator": 1}, GAP),
    ({"initial-population": 1, "denominator": 1, "numerator": 1}, MET),
    ({"initial-population": 1, "denominator": 1, "denominator-exclusion": 1, "numerator": 1}, EXCLUDED),
    ({"initial-population": 1, "denominator": 1, "denominator-exception": 1}, EXCEPTED),
    ({"initial-population": 1, "denominator": 1, "denominator-exception": 1, "numerator": 1}, MET),
    ({"initial-population": 1, "denominator": 0}, OUTSIDE),
    ({"initial-population": 0, "denominator": 0}, OUTSIDE),
])
def test_category__follows_ecqm_population_order(counts, expected):
    assert category(counts) == expected


# ---------------------------------------------------------------- the plan against the category

def case_of(kind: str) -> Case:
    counts = {"initial-population": 1, "denominator": 1, "denominator-exclusion": int(kind == EXCLUDED),
              "denominator-exception": int(kind == EXCEPTED), "numerator": int(kind == MET)}
    if kind == OUTSIDE:
        counts = {"initial-population": 0, "denominator": 0}
    return Case(measure="statin", name=f"a-{kind}", path=Path("x.json"), as_of=date(2024, 12, 31), counts=counts)


def plan_with(*, due="2024-12-31", choice=False, facts=(), not_recommended=False, rule="lipid.diabetes") -> dict:
    activity = {"id": rule, "title": "Statin", "clinician_choice": choice, "timing": {"due": due},
                "rationale": {"text": "why", "facts_used": [{"key": key} for key in facts]}}
    plan = {"activities": [activity] if due else [], "not_recommended": []}
    if not_recommended:
        plan["not_recommended"].append({"rule_id": rule, "title": "Statin", "reason": "pregnancy"})
    return plan


@pytest.mark.parametrize(("kind", "plan", "agrees", "outcome"), [
    (GAP, plan_with(), True, "proposed"),
    (GAP, plan_with(choice=True), True, "offered-as-choice"),
    (GAP, plan_with(due=None), False, "care-gap-not-proposed"),
    (GAP, plan_with(due="2025-06-30"), False, "care-gap-not-proposed"),
    (GAP, plan_with(rule="lipid.diabetes.instead"), False, "care-gap-not-proposed"),
    (MET, plan_with(due=None), True, "no-new-action"),
    (MET, plan_with(due="2025-06-30"), True, "no-new-action"),
    (MET, plan_with(), False, "met-new-action"),
    (MET, plan_with(choice=True), False, "met-new-action"),
    (EXCLUDED, plan_with(), False, "exclusion-not-honoured"),
    (EXCLUDED, plan_with(choice=True), False, "exclusion-not-honoured"),
    (EXCLUDED, plan_with(choice=True, facts=["palliative_care"]), True, "clinician-choice-with-reason"),
    (EXCLUDED, plan_with(due=None, not_recommended=True), True, "not-recommended"),
    (EXCLUDED, plan_with(due=None), True, "not-proposed"),
    (EXCEPTED, plan_with(), False, "exception-not-honoured"),
    (EXCEPTED, plan_with(due=None), True, "not-proposed"),
    (OUTSIDE, plan_with(), None, "not-assessed"),
])
def test_compare__maps_each_population_to_the_plan(kind, plan, agrees, outcome):
    result = compare(case_of(kind), plan, STATIN, frozenset({"palliative_care"}))
    assert (result.agrees, result.outcome) == (agrees, outcome)
    assert result.finding == (outcome if agrees is False else None)


def test_compare__lists_the_plan_items_of_the_measure_only():
    plan = plan_with(not_recommended=True)
    plan["activities"].append({"id": "tobacco.ask", "timing": {"due": "2024-12-31"}, "rationale": {}})
    result = compare(case_of(GAP), plan, STATIN, frozenset())
    assert [(item["rule"], item["item"]) for item in result.plan_items] == [
        ("lipid.diabetes", "activity"), ("lipid.diabetes", "not-recommended")]


# ---------------------------------------------------------------- a few real cases, the plan's own road

@needs_deck
def test_run__judges_each_case_by_the_plan_of_carepath_plan(deck, pack_set, tmp_path, capsys):
    result = run_conformance(deck, pack_set, load_review(review_dir(tmp_path, [])))
    by_case = {case.case: case for case in result.cases}
    assert set(by_case) == {GAP_CASE, MET_COPY, OUTSIDE_CASE}
    assert (by_case[GAP_CASE].agrees, by_case[GAP_CASE].outcome) == (True, "proposed")
    assert by_case[MET_COPY].key == DISAGREEING
    assert by_case[OUTSIDE_CASE].agrees is None
    categories = result.summary()["measures"]["statin"]["categories"]
    assert (categories["care-gap"]["outcomes"], categories["met"]["outcomes"]) == (
        {"proposed": 1}, {"met-new-action": 1})
    assert (categories["outside"]["cases"], categories["outside"]["assessed"]) == (1, 0)
    # The same items as `carepath plan` on the same file and date.
    assert main(["plan", str(deck / "statin" / f"{GAP_CASE}.json"), "--as-of", "2024-12-31"]) == 0
    plan = json.loads(capsys.readouterr().out)
    statin_rules = load_review().measures["statin"].actions
    assert [a["id"] for a in plan["activities"] if a["id"] in statin_rules] == [
        item["rule"] for item in by_case[GAP_CASE].plan_items if item["item"] == "activity"] != []


@needs_deck
def test_run__names_the_decks_data_issues_and_plans_the_case_anyway(pack_set, tmp_path):
    name = "DENEXCEPPop1Fail-DischargedHomeForHospice"  # it references another patient's resources
    result = run_conformance(make_deck(tmp_path / "deck", [name]), pack_set, load_review(review_dir(tmp_path, [])))
    (case,) = result.cases
    assert case.outcome != "no-plan"
    assert any(issue.startswith("foreign-patient-reference") for issue in case.data_issues)


@needs_deck
@pytest.mark.parametrize(("entries", "strict", "status"), [
    ([], False, FAILED),                                       # unclassified
    ([entry("unreviewed")], False, FAILED),                    # a template entry nobody reviewed
    ([entry("defect", cause="ESRD not read")], False, PASSED),  # a known open defect: the ratchet holds
    ([entry("defect", cause="ESRD not read")], True, FAILED),  # strict: no defect left
    ([entry("deck-fault")], True, PASSED),
    ([entry("guideline-difference", citation={"guideline": "G", "year": "2018", "section": "4.2"})], True, PASSED),
])
def test_run__fails_on_unclassified_unreviewed_and_new_defects(deck, pack_set, tmp_path, entries, strict, status):
    result = run_conformance(deck, pack_set, load_review(review_dir(tmp_path, entries)), strict=strict)
    assert result.status == status
    assert [case.key for case in result.disagreements] == [DISAGREEING]


@needs_deck
def test_run__names_classified_entries_that_no_longer_occur(deck, pack_set, tmp_path):
    gone = {**entry("defect", cause="fixed since"), "case": GAP_CASE, "finding": "care-gap-not-proposed"}
    review = load_review(review_dir(tmp_path, [entry("defect", cause="ESRD not read"), gone]))
    result = run_conformance(deck, pack_set, review)
    assert [(e["case"], e["finding"]) for e in result.stale] == [(GAP_CASE, "care-gap-not-proposed")]
    assert result.status == PASSED
    assert run_conformance(deck, pack_set, review, strict=True).status == FAILED
    summary = result.summary()
    assert summary["knownDefects"] == 1 and summary["stale"] == 1
    assert summary["defectsByCause"] == [{"cause": "ESRD not read", "cases": 1,
                                          "measures": {"statin": [MET_COPY]}}]


@needs_deck
def test_template__lists_unclassified_as_unreviewed_which_fails(deck, pack_set, tmp_path):
    result = run_conformance(deck, pack_set, load_review(review_dir(tmp_path, [])))
    written = template(result)
    assert [(e["case"], e["class"]) for e in written["entries"]] == [(MET_COPY, "unreviewed")]
    again = run_conformance(deck, pack_set, load_review(review_dir(tmp_path, written["entries"])))
    assert again.status == FAILED and again.summary()["overall"]["unreviewed"] == 1


@needs_deck
def test_run__unreadable_or_patientless_cases_are_findings_not_crashes(deck, pack_set, tmp_path):
    (deck / "statin" / f"{MET_COPY}.json").write_text("{not json", encoding="utf-8")
    (deck / "statin" / f"{GAP_CASE}.json").write_text(
        json.dumps({"resourceType": "Bundle", "type": "collection", "entry": []}), encoding="utf-8")
    (deck / "statin" / f"{OUTSIDE_CASE}.json").unlink()
    result = run_conformance(deck, pack_set, load_review(review_dir(tmp_path, [])))
    outcomes = {case.case: (case.outcome, case.finding) for case in result.cases}
    assert outcomes == {MET_COPY: ("no-plan", "no-plan"), GAP_CASE: ("no-plan", "no-plan"),
                        OUTSIDE_CASE: ("no-plan", None)}  # outside the population: named, not judged
    assert result.status == FAILED


# ---------------------------------------------------------------- report and command

@needs_deck
def test_report__escapes_every_text(deck, pack_set, tmp_path):
    hostile = "<script>alert(1)</script>"
    review = load_review(review_dir(tmp_path, [entry("defect", cause=hostile, reason=hostile)]))
    result = run_conformance(deck, pack_set, review)
    result.cases[0].description = hostile
    paths = write_report(result, tmp_path / "out")
    page = paths["html"].read_text(encoding="utf-8")
    assert hostile not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert json.loads(paths["json"].read_text(encoding="utf-8"))["summary"]["knownDefects"] == 1
    assert "<script" not in render_html(result.to_dict()).replace("&lt;script", "")


@needs_deck
def test_cli__exit_codes_and_template(deck, tmp_path, capsys):
    out, template_file = tmp_path / "out", tmp_path / "template.json"
    args = ["conformance", str(deck), "--out", str(out), "--measures", "statin"]
    assert main([*args, "--review", str(review_dir(tmp_path, [])), "--write-template", str(template_file)]) == 1
    assert "statin" in capsys.readouterr().out and (out / "conformance.html").is_file()
    assert json.loads(template_file.read_text(encoding="utf-8"))["entries"][0]["class"] == "unreviewed"
    known = review_dir(tmp_path, [entry("defect", cause="ESRD not read")])
    assert main([*args, "--review", str(known)]) == 0
    assert main([*args, "--review", str(known), "--strict"]) == 1
    assert main([*args, "--review", str(review_dir(tmp_path, [entry("defect")]))]) == 2  # a defect needs its cause
    assert main(["conformance", str(tmp_path / "nowhere"), "--out", str(out)]) == 2
    assert "error" in capsys.readouterr().err


# ---------------------------------------------------------------- the review files

@pytest.mark.parametrize(("item", "problem"), [
    ({"class": "defect"}, "missing cause"),
    ({"class": "guideline-difference"}, "citation"),
    ({"class": "guideline-difference", "citation": {"guideline": "G", "year": "2018"}}, "citation"),
    ({"class": "fine"}, "is not one of"),
    ({"class": "deck-fault", "reason": ""}, "missing reason"),
])
def test_review__refuses_incomplete_classifications(tmp_path, item, problem):
    with pytest.raises(ReviewError, match=problem):
        load_review(review_dir(tmp_path, [{**entry("deck-fault"), **item}]))


def test_review__refuses_a_disagreement_classified_twice(tmp_path):
    with pytest.raises(ReviewError, match="classified twice"):
        load_review(review_dir(tmp_path, [entry("deck-fault"), entry("deck-fault")]))


def test_bundled_review__names_rules_the_pack_has(pack_set):
    review = load_review()
    rules = {rule.id for area in pack_set.areas for rule in area.rules}
    for measure in review.measures.values():
        assert measure.actions <= rules, measure.key
    assert set(review.measures) == {"statin", "bp", "kidney", "depression", "bmi"}


@needs_deck
def test_bundled_review__classifies_cases_the_deck_has():
    names = {(case.measure, case.name) for case in read_deck(DECK).cases}
    for key in load_review().entries:
        assert key[:2] in names, key


def test_pack__the_review_folder_is_not_part_of_the_pack():
    files = [path.relative_to(DEFAULT_PACK_DIR).as_posix() for path in pack_files(DEFAULT_PACK_DIR)]
    assert files and not any(name.startswith("conformance/") for name in files)
    assert (DEFAULT_PACK_DIR / "conformance" / "measures.json").is_file()


@needs_deck
def test_run_changes__names_cases_whose_verdict_moved(deck, pack_set, tmp_path):
    current = run_conformance(deck, pack_set, load_review(review_dir(tmp_path, []))).to_dict()
    known = run_conformance(deck, pack_set, load_review(review_dir(tmp_path, [entry("defect", cause="c")]))).to_dict()
    changes = run_changes(current, known)
    assert [(c["case"], c["current"]["class"], c["proposed"]["class"]) for c in changes["changed"]] == [
        (MET_COPY, "unclassified", "defect")]
    assert changes["knownDefects"] == {"current": 0, "proposed": 1}
    fixed = json.loads(json.dumps(known))
    for case in fixed["cases"]:
        if case["case"] == MET_COPY:
            case.update(agrees=True, finding=None, classification=None)
    assert [c["direction"] for c in run_changes(known, fixed)["changed"]] == ["better"]
    assert run_changes(known, known)["changed"] == []


def test_pack_digest__changes_with_any_pack_file_but_not_the_review(tmp_path):
    folder = tmp_path / "pack"
    shutil.copytree(DEFAULT_PACK_DIR, folder)
    before = pack_digest(folder)
    (folder / "conformance" / "classification.json").write_text('{"entries": []}', encoding="utf-8")
    assert pack_digest(folder) == before
    library = folder / "Library-primary-care-data.json"
    library.write_text(library.read_text(encoding="utf-8").replace("2025.1.0", "2025.1.1", 1), encoding="utf-8")
    assert pack_digest(folder) != before


def test_read_deck__names_what_it_cannot_use(tmp_path):
    folder = tmp_path / "deck"
    folder.mkdir()
    (folder / "expected.json").write_text(json.dumps({"statin": {
        "../../outside": {"asOf": "2024-12-31"}, "NoDate": {"initial-population": 1, "denominator": 1}},
        "bp": []}), encoding="utf-8")
    (folder / "meta.json").write_text("[]", encoding="utf-8")
    deck = read_deck(folder, ["statin", "bp", "kidney"])
    assert [case.name for case in deck.cases] == ["NoDate"] and deck.cases[0].as_of is None
    assert len(deck.problems) == 4  # kidney absent, bp without cases, a path for a name, a case without date
    with pytest.raises(DeckError):
        read_deck(tmp_path / "nowhere")
