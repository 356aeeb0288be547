"""This visit, and later: the schedule every door shows (app/engine/schedule.py), checked on the 25 shared
Synthea patients at the usual test dates and on small plans built for one principle each."""

from __future__ import annotations

import json
from datetime import date
from functools import cache
from itertools import pairwise

import pytest

from app.context import facts_from_bundle
from app.engine import build_plan, load_pack_set
from app.engine.model import Activity, Citation, Plan, Rationale
from app.engine.rules import Duration, add_duration
from app.engine.schedule import (
    THIS_VISIT,
    reschedule,
    schedule_plan,
    scheduled_date,
    strength_text,
    visit_settings,
)
from tests.conftest import SYNTHEA

DATES = ("2020-06-01", "2021-04-01")
WINDOW = Duration(1, "mo")


@cache
def _pack():
    return load_pack_set()


@cache
def _synthea_plans() -> list[tuple[str, Plan]]:
    pack, found = _pack(), []
    for path in sorted(SYNTHEA.glob("*.json")):
        bundle = json.loads(path.read_text())
        for as_of in DATES:
            facts = facts_from_bundle(bundle, pack.requirements, as_of)
            found.append((f"{path.stem[:20]} @ {as_of}", build_plan(facts, pack, as_of)))
    return found


def _safety_ids(plan: Plan) -> set[str]:
    warned = {w["rule_id"] for w in plan.warnings if w.get("severity") in ("high", "moderate")}
    return {a.id for a in plan.activities if a.rationale.rule_id in warned}


def test_schedule__the_pack_sets_five_actions_a_visit():
    assert visit_settings(_pack().library) == (5, WINDOW)
    assert visit_settings({}) == (5, WINDOW)


def test_schedule__every_synthea_patient_has_a_visit_sized_plan():
    plans = _synthea_plans()
    assert len(plans) == 50
    assert any(len(plan.activities) > 5 for _, plan in plans)  # the split is exercised, not vacuous
    for label, plan in plans:
        schedule = plan.schedule
        this_visit, later = schedule["thisVisit"], schedule["later"]
        assert len(this_visit) <= 5, label
        assert _safety_ids(plan) <= set(this_visit), label
        ids = [a.id for a in plan.activities]
        assert sorted(this_visit + [item["id"] for item in later]) == sorted(ids), label  # each once
        for item in later:
            assert item["date"] >= plan.as_of and item["reason"], (label, item)
        for activity_id in this_visit:
            assert schedule["reasons"][activity_id], (label, activity_id)


def test_schedule__synthea_safety_actions_come_first_with_their_reason():
    seen = 0
    for label, plan in _synthea_plans():
        safety = _safety_ids(plan)
        if not safety:
            continue
        seen += 1
        first = plan.schedule["thisVisit"][:len(safety)]
        assert set(first) == safety, label
        assert all(plan.schedule["reasons"][i].startswith("safety:") for i in first), label
    assert seen >= 5


def test_schedule__synthea_labs_due_together_are_one_blood_draw():
    grouped = 0
    for label, plan in _synthea_plans():
        labs = {a.id for a in plan.activities if a.kind == "lab-order"}
        draws = plan.schedule["bloodDraws"]
        assert sorted(i for draw in draws for i in draw["ids"]) == sorted(labs), label
        dates = [date.fromisoformat(draw["date"]) for draw in draws]
        assert dates == sorted(set(dates)), label
        for earlier, later in pairwise(dates):
            assert later >= add_duration(earlier, WINDOW), (label, dates)  # never two draws within one window
        for draw in draws:
            for lab_id in draw["ids"]:
                assert scheduled_date(plan.schedule, lab_id, plan.as_of) == draw["date"], (label, lab_id)
            grouped += len(draw["ids"]) > 1
    assert grouped >= 5


def test_schedule__synthea_reasons_name_the_principle():
    reasons = [reason for _, plan in _synthea_plans()
               for reason in [*plan.schedule["reasons"].values(), *(i["reason"] for i in plan.schedule["later"])]]
    assert any(r.startswith("safety: high warning") for r in reasons)
    assert any(r.startswith("abnormal result now") for r in reasons)
    assert any(r.startswith("overdue since") for r in reasons)
    assert any(r.startswith("after the eGFR result") for r in reasons)
    assert any(r == "USPSTF grade B, can wait 3 months (this visit is full)" for r in reasons)
    assert any(r.startswith("not due until") for r in reasons)
    assert any("next blood draw" in r for r in reasons)


def test_schedule__synthea_results_come_before_the_actions_that_need_them():
    checked = 0
    for label, plan in _synthea_plans():
        for item in plan.schedule["later"]:
            if not item["reason"].startswith("after the"):
                continue
            needs = set(plan.activity(item["id"]).priority["needs"])
            labs = [a for a in plan.activities if a.kind == "lab-order" and needs & set(a.priority["provides"])
                    and a.timing["due"] <= plan.as_of]  # a test due now: the result on file is not fresh
            drawn = [scheduled_date(plan.schedule, lab.id, plan.as_of) for lab in labs]
            assert drawn and all(when < item["date"] for when in drawn), label
            checked += 1
    assert checked >= 3


def test_schedule__json_carries_it_and_reads_back():
    _, plan = next((label, plan) for label, plan in _synthea_plans() if plan.schedule["later"])
    data = plan.to_dict()
    assert set(data["schedule"]) >= {"thisVisit", "later"}
    assert set(data["schedule"]["later"][0]) == {"id", "date", "reason"}
    assert Plan.from_dict(json.loads(json.dumps(data))).schedule == plan.schedule


# -- one principle at a time --------------------------------------------------------------------------

AS_OF = "2025-06-01"


def _activity(activity_id: str, kind: str = "screening", *, strength: tuple[str, str] | None = None,
              due: str = AS_OF, rule_id: str | None = None, **priority) -> Activity:
    rationale = Rationale(rule_id=rule_id or activity_id, pack_url="p", pack_version="1",
                          citation=Citation("g", "2025", "s", "u"))
    return Activity(id=activity_id, area="A", kind=kind, code={}, description=activity_id, timing={"due": due},
                    goal_ids=[], rationale=rationale, title=activity_id,
                    priority={"strength": {"scale": strength[0], "grade": strength[1]} if strength else None,
                              "abnormal": False, "overdue": False, "overdue_since": None, "needs": [],
                              "provides": [], **priority})


def _plan(*activities: Activity, warnings: list | None = None) -> Plan:
    return Plan(as_of=AS_OF, patient_id="p1", packs=[], activities=list(activities), warnings=warnings or [])


def test_schedule__strength_orders_and_a_grade_b_can_wait_three_months():
    plan = _plan(_activity("b1", strength=("USPSTF", "B")), _activity("c", strength=("ADA", "E")),
                 _activity("a", strength=("USPSTF", "A")), _activity("none"), _activity("i", "counselling",
                                                                                        strength=("ACC/AHA", "I")),
                 _activity("b2", strength=("USPSTF", "B")))
    schedule = schedule_plan(plan, visit_size=3)
    assert schedule["thisVisit"] == ["a", "i", "b1"]  # strong first; an order before a conversation
    assert schedule["reasons"]["a"] == "USPSTF grade A, due now"
    later = {item["id"]: item for item in schedule["later"]}
    assert later["b2"] == {"id": "b2", "date": "2025-09-01",
                           "reason": "USPSTF grade B, can wait 3 months (this visit is full)"}
    assert later["c"]["date"] == later["none"]["date"] == "2025-12-01"
    assert later["none"]["reason"].startswith("strength not recorded")


def test_schedule__safety_is_never_deferred_even_past_the_visit_size():
    warnings = [{"rule_id": "s1", "severity": "moderate"}, {"rule_id": "s2", "severity": "high"},
                {"rule_id": "low", "severity": "low"}]
    plan = _plan(_activity("x", strength=("USPSTF", "A")), _activity("s1"), _activity("s2.instead", rule_id="s2"),
                 _activity("low"), warnings=warnings)
    schedule = schedule_plan(plan, visit_size=1)
    assert schedule["thisVisit"] == ["s2.instead", "s1"]  # high before moderate; a low warning is no safety
    assert schedule["reasons"]["s1"] == "safety: moderate warning, acted on first"


def test_schedule__abnormal_and_overdue_come_before_stronger_evidence():
    plan = _plan(_activity("a", strength=("USPSTF", "A")), _activity("abn", abnormal=True),
                 _activity("late", overdue_since="2024-01-05", strength=("USPSTF", "B")))
    schedule = schedule_plan(plan, visit_size=2)
    assert schedule["thisVisit"] == ["late", "abn"]  # both before grade A; among them, by strength
    assert schedule["reasons"]["late"] == "overdue since 5 Jan 2024; USPSTF grade B, due now"
    assert schedule["later"] == [{"id": "a", "date": "2025-07-01",
                                  "reason": "USPSTF grade A, can wait 1 month (this visit is full)"}]


def test_schedule__an_action_needing_a_result_comes_after_the_draw():
    plan = _plan(_activity("egfr-test", "lab-order", provides=["egfr"]),
                 _activity("sglt2", "medication", strength=("KDIGO", "1A"), needs=["egfr"]))
    schedule = schedule_plan(plan)
    assert schedule["thisVisit"] == ["egfr-test"]
    assert schedule["later"] == [{"id": "sglt2", "date": "2025-06-15",
                                  "reason": "after the eGFR result; KDIGO grade 1A"}]


def test_schedule__a_result_on_file_lets_the_action_go_ahead():
    plan = _plan(_activity("kidney-tests", "lab-order", due="2025-12-01", provides=["egfr"]),
                 _activity("sglt2", "medication", needs=["egfr"]))
    schedule = schedule_plan(plan)
    assert schedule["thisVisit"] == ["sglt2"]
    assert schedule["later"][0]["reason"] == "not due until 1 Dec 2025"


def test_schedule__labs_within_the_window_join_one_draw():
    plan = _plan(_activity("hba1c", "lab-order", abnormal=True), _activity("kidney", "lab-order", due="2025-06-20"),
                 _activity("hcv", "lab-order", due="2025-09-10"), _activity("lipids", "lab-order", due="2025-09-25"))
    schedule = schedule_plan(plan)
    assert set(schedule["thisVisit"]) == {"hba1c", "kidney"}
    assert "with today's blood draw (due 20 Jun 2025)" in schedule["reasons"]["kidney"]
    assert schedule["bloodDraws"] == [{"date": AS_OF, "ids": ["hba1c", "kidney"]},
                                      {"date": "2025-09-10", "ids": ["hcv", "lipids"]}]
    assert "drawn with the other tests on 10 Sep 2025" in schedule["later"][-1]["reason"]


def test_schedule__a_full_visit_sends_a_due_lab_to_the_next_draw():
    plan = _plan(_activity("x", strength=("USPSTF", "A")), _activity("lab", "lab-order", strength=("ADA", "E")))
    schedule = schedule_plan(plan, visit_size=1)
    assert schedule["later"] == [{"id": "lab", "date": "2025-07-01", "reason": "ADA level E; next blood draw, in "
                                                                               "1 month (this visit is full)"}]


def test_reschedule__moves_between_this_visit_and_later_and_changes_a_date():
    schedule = {"thisVisit": ["a", "b"], "reasons": {"a": "r", "b": "r"},
                "later": [{"id": "c", "date": "2025-09-01", "reason": "r"},
                          {"id": "d", "date": "2025-12-01", "reason": "r"}]}
    moved = reschedule(schedule, {"a": "2025-08-01", "c": THIS_VISIT, "d": "2025-10-15"}, AS_OF)
    assert moved["thisVisit"] == ["b", "c"]
    assert moved["reasons"]["c"] == "moved to this visit by the clinician"
    assert moved["later"] == [{"id": "a", "date": "2025-08-01", "reason": "moved to later by the clinician "
                                                                          "(1 Aug 2025)"},
                              {"id": "d", "date": "2025-10-15", "reason": "date changed by the clinician to "
                                                                          "15 Oct 2025"}]
    assert schedule["thisVisit"] == ["a", "b"]  # the plan's own schedule is left as it was
    with pytest.raises(ValueError):
        reschedule(schedule, {"c": "2025-05-01"}, AS_OF)


@pytest.mark.parametrize(("strength", "text"), [
    ({"scale": "USPSTF", "grade": "B"}, "USPSTF grade B"), ({"scale": "ACC/AHA", "grade": "IIa"}, "ACC/AHA class IIa"),
    ({"scale": "ADA", "grade": "A"}, "ADA level A"), ({"scale": "KDIGO", "grade": "1A"}, "KDIGO grade 1A"),
    (None, "strength not recorded"),
])
def test_schedule__strength_reads_as_the_guideline_words_it(strength, text):
    assert strength_text(strength) == text


def test_pack__a_strength_outside_its_scale_is_refused(tmp_path):
    from app.engine.authoring.__main__ import main
    from app.errors import PackError

    main([str(tmp_path)])
    path = tmp_path / "PlanDefinition-06-tobacco.json"
    text = path.read_text().replace('"valueCode": "USPSTF"', '"valueCode": "NICE"', 1)
    path.write_text(text)
    with pytest.raises(PackError, match="strength 'NICE'"):
        load_pack_set(tmp_path)


# -- every door shows the same schedule -----------------------------------------------------------------------

def _synthea_resources(name: str) -> list[dict]:
    path = next(SYNTHEA.glob(f"{name}*.json"))
    return [entry["resource"] for entry in json.loads(path.read_text())["entry"]]


def test_cohort__the_workload_forecast_counts_later_actions_in_their_scheduled_month():
    from app.cohort.plans import patient_result

    resources = _synthea_resources("Josue_Sipes")
    patient_id = next(r["id"] for r in resources if r["resourceType"] == "Patient")
    result = patient_result(patient_id, resources, _pack(), date(2021, 4, 1))
    plan = json.loads(result.plan_json)
    work = {key[1:]: count for key, count in result.counts.items() if key[0] == "work"}
    later = {item["id"]: item["date"] for item in plan["schedule"]["later"]}
    assert later["screen.colorectal"] == "2021-07-01" and later["t2d.cardiorenal-agent"] == "2021-04-15"
    assert work[("2021-07", "screenings")] >= 2  # colorectal and depression screening, deferred 3 months
    assert ("2021-04", "screenings") not in work  # nothing of theirs is counted this month
    # this visit's actions are the backlog the report spreads over capacity (due now); the cardiorenal agent,
    # scheduled after the eGFR result on 15 Apr, is this month's work
    backlog = sum(count for key, count in result.counts.items() if key[0] == "backlog")
    due_now = [a for a in plan["activities"] if a["id"] in plan["schedule"]["thisVisit"]
               and (a["timing"].get("due") or "") <= "2021-04-01"]
    assert backlog == len(due_now) > 0
    assert sum(count for (month, _kind), count in work.items() if month == "2021-04") == 1


def test_cds__an_area_card_lists_this_visits_actions_only():
    from app.cds.cards import cards_for_plan

    _, plan = next((label, plan) for label, plan in _synthea_plans() if label.startswith("Dirk_Kuhlman")
                   and label.endswith("2020-06-01"))
    data = plan.to_dict()
    cards, metas = cards_for_plan(data, launch_url="https://carepath.test/launch")
    listed = {rule for meta in metas for rule in meta.rule_ids}
    later_rules = {plan.activity(item["id"]).rationale.rule_id for item in data["schedule"]["later"]}
    assert cards and not listed & later_rules


def test_cli__text_and_explain_show_this_visit_and_later(capsys):
    from app.cli import main

    path = next(SYNTHEA.glob("Josue_Sipes*.json"))
    assert main(["plan", str(path), "--as-of", "2021-04-01", "--format", "text"]) == 0
    text = capsys.readouterr().out
    assert "VISIT    ckd.acute-kidney: safety: high warning, acted on first" in text
    assert "LATER    2021-04-15 t2d.cardiorenal-agent: after the eGFR result; ADA level A" in text
    assert main(["explain", str(path), "--as-of", "2021-04-01"]) == 0
    text = capsys.readouterr().out
    assert "THIS VISIT (5 of 5)" in text and "  - 15 Apr 2021: GLP-1 RA or SGLT2 inhibitor" in text
    assert main(["plan", str(path), "--as-of", "2021-04-01"]) == 0
    assert json.loads(capsys.readouterr().out)["schedule"]["later"][0]["id"] == "t2d.cardiorenal-agent"
