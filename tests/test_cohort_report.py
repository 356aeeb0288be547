"""The cohort report and its forecast, from aggregates (no Spark): what counts as a care gap, out of whom, the
backlog apart, findings grouped and never garbled, and every number on the page equal to what plans.ndjson says."""

from __future__ import annotations

import json
import re
import shutil
from collections import Counter
from datetime import date
from html import unescape

import pytest

from app.cohort.counting import Counting, eligible_rules, load_counting
from app.cohort.plans import patient_result, plan_counts
from app.cohort.report import TOP_GROUPS, TOP_TEXTS, report_data, write_report
from app.cohort.run import CohortSummary, _csv_line
from app.cohort.workload import forecast_months, occurrences, parse_capacity, spread_backlog
from app.context.resources import from_bundle
from app.engine import DEFAULT_PACK_DIR, load_pack_set
from app.engine.packs import PEDIATRIC_PACK_DIR
from app.errors import PackError
from tests.conftest import SYNTHEA

AS_OF = date(2021, 4, 1)
FILES = {"plans": "plans.ndjson", "activities": "activities.parquet", "outreach": "outreach.csv"}


@pytest.fixture(scope="module")
def pack_set():
    return load_pack_set()


@pytest.fixture(scope="module")
def counting(pack_set):
    return load_counting(pack_set)


def test_occurrences__due_date_then_repeats_within_twelve_months():
    quarterly = {"due": "2021-04-01", "repeat": {"frequency": 1, "period": 3, "period_unit": "mo"}}
    assert occurrences(quarterly, AS_OF) == [date(2021, 4, 1), date(2021, 7, 1), date(2021, 10, 1), date(2022, 1, 1)]
    assert occurrences({"due": "2021-07-10", "repeat": {"frequency": 1, "period": 1, "period_unit": "a"}}, AS_OF) \
        == [date(2021, 7, 10)]
    assert occurrences({"due": "2022-04-01"}, AS_OF) == []  # beyond the horizon
    assert occurrences({"due": "2020-01-01"}, AS_OF) == [AS_OF]  # overdue: on the plan date (kept as backlog)
    assert forecast_months(AS_OF)[0] == "2021-04" and forecast_months(AS_OF)[-1] == "2022-03"


def test_parse_capacity__kind_and_number_a_month():
    assert parse_capacity(["labs=40/month", "visits = 120", "exams=8/mo"]) == {"labs": 40, "visits": 120, "exams": 8}


@pytest.mark.parametrize("text", ["labs", "labs=many", "labs=4/week", "=4"])
def test_parse_capacity__malformed_entry_is_named(text):
    with pytest.raises(ValueError, match="kind=N/month"):
        parse_capacity([text])


def test_parse_capacity__unknown_kind_lists_the_kinds(counting):
    with pytest.raises(ValueError, match="labs, screenings, exams"):
        parse_capacity(["lab=4"], counting.work_kinds)


def test_spread_backlog__after_each_months_new_work_within_capacity():
    assert spread_backlog([2, 8, 12, 0], 15, 10) == ([8, 2, 0, 5], 0)
    assert spread_backlog([0, 0, 0], 40, 10) == ([10, 10, 10], 10)
    assert spread_backlog([1, 2], 7, None) == ([0, 0], 7)  # no capacity given: nothing scheduled


def test_load_counting__the_packs_reviewed_mapping(counting):
    kinds = counting.kinds
    recheck = kinds["htn.recheck-elevated"]  # a BP recheck is a visit, not a care gap
    assert (recheck.category, recheck.work, recheck.care_gap) == ("follow-up", "visits", False)
    assert (kinds["t2d.retinal-exam"].work, kinds["t2d.retinal-exam"].care_gap) == ("exams", True)
    assert (kinds["htn.lifestyle"].work, kinds["htn.lifestyle"].care_gap) == ("counselling", False)
    assert kinds["screen.cervical"].care_gap and kinds["t2d.hba1c-test-due"].care_gap
    assert "activity-kinds.json" in counting.source
    assert {row["name"] for row in counting.mapping} == {
        t.url.rsplit("/", 1)[1] for t in load_pack_set().activity_definitions.values()}


def test_load_counting__both_packs_mappings_merged(counting):
    kinds = counting.kinds
    assert (kinds["peds.bp.stage1"].category, kinds["peds.bp.stage1"].care_gap) == ("follow-up", False)
    assert (kinds["peds.bp.stage2"].work, kinds["peds.bp.stage2"].care_gap) == ("referrals", True)
    assert (kinds["peds.lipid.9-11"].work, kinds["peds.anxiety.screening"].work) == ("labs", "screenings")
    assert kinds["peds.tobacco.prevention"].care_gap is False
    assert "primary-care/cohort/activity-kinds.json" in counting.source
    assert "pediatric/cohort/activity-kinds.json" in counting.source and "by their activity-kind" not in \
        counting.source


def _two_mappings(tmp_path):
    for name, folder in (("primary-care", DEFAULT_PACK_DIR), ("pediatric", PEDIATRIC_PACK_DIR)):
        shutil.copytree(folder / "cohort", tmp_path / name / "cohort")
    return [tmp_path / "primary-care", tmp_path / "pediatric"]


def test_load_counting__an_activity_mapped_differently_by_two_packs_is_refused(pack_set, tmp_path):
    folders = _two_mappings(tmp_path)
    path = folders[1] / "cohort" / "activity-kinds.json"
    mapping = json.loads(path.read_text(encoding="utf-8"))
    mapping["activities"]["bp-recheck"] = {"category": "screening", "work": "visits"}  # primary care: follow-up
    path.write_text(json.dumps(mapping), encoding="utf-8")
    with pytest.raises(PackError, match="'bp-recheck' is mapped differently"):
        load_counting(pack_set, folders)
    mapping["activities"]["bp-recheck"] = {"category": "follow-up", "work": "visits"}  # the same: accepted
    path.write_text(json.dumps(mapping), encoding="utf-8")
    assert load_counting(pack_set, folders).kinds["htn.recheck-elevated"].category == "follow-up"


def test_load_counting__a_category_two_packs_define_differently_is_refused(pack_set, tmp_path):
    folders = _two_mappings(tmp_path)
    path = folders[1] / "cohort" / "activity-kinds.json"
    mapping = json.loads(path.read_text(encoding="utf-8"))
    mapping["categories"]["follow-up"]["care_gap"] = True
    path.write_text(json.dumps(mapping), encoding="utf-8")
    with pytest.raises(PackError, match="category 'follow-up' is defined differently"):
        load_counting(pack_set, ",".join(str(folder) for folder in folders))


def test_load_counting__an_activity_no_pack_lists_is_named(pack_set, tmp_path):
    folders = _two_mappings(tmp_path)
    path = folders[1] / "cohort" / "activity-kinds.json"
    mapping = json.loads(path.read_text(encoding="utf-8"))
    del mapping["activities"]["peds-bp-referral"]
    path.write_text(json.dumps(mapping), encoding="utf-8")
    with pytest.raises(PackError, match="ActivityDefinition 'peds-bp-referral' is not listed"):
        load_counting(pack_set, folders)


def test_load_counting__an_unlisted_activity_is_named_with_the_file(pack_set, tmp_path):
    shutil.copytree(DEFAULT_PACK_DIR / "cohort", tmp_path / "cohort")
    path = tmp_path / "cohort" / "activity-kinds.json"
    mapping = json.loads(path.read_text(encoding="utf-8"))
    del mapping["activities"]["retinal-exam"]
    mapping["activities"]["foot-exam"]["work"] = "podiatry"
    path.write_text(json.dumps(mapping), encoding="utf-8")
    with pytest.raises(PackError) as caught:
        load_counting(pack_set, tmp_path)
    assert f"{path}: ActivityDefinition 'retinal-exam' is not listed" in caught.value.message
    assert "'foot-exam': category 'exam' or work 'podiatry'" in caught.value.message


def test_load_counting__a_pack_without_mapping_counts_by_activity_kind(pack_set, tmp_path):
    counting = load_counting(pack_set, tmp_path)
    assert "no reviewed mapping" in counting.source
    assert counting.kinds["htn.lifestyle"].care_gap is False and counting.kinds["screen.cervical"].care_gap


@pytest.mark.parametrize(("text", "grouped"), [
    ("HbA1c 9.34 % on 2021-03-02", "HbA1c 9-9.5 % on (date)"),
    ("reported eGFR 79.08 (G2) and eGFR 56.3 (G3a) disagree", "reported eGFR 75-80 (G2) and eGFR 55-60 (G3a) disagree"),
    ("eGFR 45 mL/min/1.73m2 (2021-02-18), G3b", "eGFR 45 mL/min/1.73m2 (date), G3b"),
    ("2 results disagree (176.23, 291.21 mg/dL)", "2 results disagree (170-180, 290-300 mg/dL)"),
    ("outside Diabetes 2025.1.0 (KDIGO 2012 §2.5)", "outside Diabetes 2025.1.0 (KDIGO 2012 §2.5)"),
    ("creatinine 0.87 mg/dL", "creatinine 0.8-0.9 mg/dL"),
])
def test_finding_text__values_bucketed_names_kept(counting, text, grouped):
    assert counting.finding_text(text) == grouped


def test_finding_text__pack_thresholds_kept_and_nothing_cut(counting):
    warning = "HbA1c 3.01 % with insulin: below 6.5 %, a value this low " + "is a hypoglycaemia risk; " * 10
    grouped = counting.finding_text(warning, pack_text=True)
    assert grouped.startswith("HbA1c 3-3.5 % with insulin: below 6.5 %") and len(grouped) > 200


def _activity(rule_id: str, activity_id: str, due: str, kind: str = "screening") -> dict:
    return {"id": activity_id, "area": "Area", "area_id": "area", "kind": kind, "title": activity_id,
            "description": "", "timing": {"due": due}, "rationale": {"rule_id": rule_id}}


def _plan(activities: list[dict], not_recommended: list[dict] = (), warnings: list[dict] = ()) -> dict:
    return {"activities": activities, "not_recommended": list(not_recommended), "warnings": list(warnings),
            "gaps": [], "data_quality": [], "goals": [], "population": {"statement": None, "left_out": []}}


def test_plan_counts__lifestyle_counts_apart_and_done_is_eligible_not_a_gap(counting):
    plan = _plan([_activity("screen.cervical", "screen.cervical", "2021-04-01"),
                  _activity("htn.lifestyle", "htn.lifestyle", "2021-04-01", "lifestyle"),
                  _activity("t2d.retinal-exam", "t2d.retinal-exam", "2021-09-01")],
                 not_recommended=[{"rule_id": "screen.colorectal", "reason": "colonoscopy on 2019-01-01 ..."}])
    counts = plan_counts(plan, AS_OF, counting)
    assert eligible_rules(plan) == {"screen.cervical", "htn.lifestyle", "t2d.retinal-exam", "screen.colorectal"}
    assert counts[("open gaps",)] == 1 and counts[("due apart",)] == 1
    assert ("gap", "area", "Area", "screen.cervical", "screen.cervical") in counts
    assert ("apart", "lifestyle", "Area", "htn.lifestyle", "htn.lifestyle") in counts
    assert counts[("backlog", "screenings")] == 1 and counts[("backlog", "counselling")] == 1
    assert counts[("work", "2021-09", "exams")] == 1  # future work, by its kind: a retinal exam is an exam


def _summary(counts: dict, tmp_path, **extra) -> CohortSummary:
    return CohortSummary(as_of=AS_OF, counts=counts, input_problems={}, packs=[{"title": "Pack", "version": "1"}],
                         out=tmp_path, files=FILES, **extra)


def test_report_data__warnings_by_severity_then_count(counting, tmp_path):
    counts: Counter = Counter({("patients",): 10})
    for rule_id, severity, patients in [("pack-effective-period", "low", 10), ("a.moderate", "moderate", 2),
                                        ("b.moderate", "moderate", 5), ("c.high", "high", 1)]:
        counts[("warning", rule_id, severity, "text")] = patients
        counts[("found", "warning", rule_id, severity)] = patients
    data = report_data(_summary(dict(counts), tmp_path, counting=counting))
    assert [g["about"] for g in data["warnings"]["shown"]] == ["c.high", "b.moderate", "a.moderate",
                                                               "pack-effective-period"]


def test_write_report__escapes_every_text_and_draws_the_forecast(tmp_path):
    hostile = '<script>alert("x")</script>'
    counts = {("patients",): 4, ("patients with open gaps",): 2, ("open gaps",): 3, ("eligible", "rule.one"): 3,
              ("gap", "area-1", f"Area {hostile}", "rule.one", f"Title {hostile}"): 2,
              ("work", "2021-04", "labs"): 3, ("work", "2021-07", "visits"): 1, ("backlog", "labs"): 5,
              ("quality", "Observation", "", f"finding {hostile}"): 1, ("found", "quality", "Observation", ""): 1}
    summary = CohortSummary(as_of=AS_OF, counts=counts, input_problems={hostile: 1},
                            packs=[{"title": hostile, "version": "1"}], out=tmp_path, files=FILES,
                            capacity={"labs": 4})
    write_report(summary, tmp_path / "report.html")
    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "<script" not in html and "&lt;script&gt;" in html
    assert "66.7 %" in html  # 2 of the rule's 3 eligible patients, not of the 4 in the panel
    assert html.count('<rect class="s0"') == 1  # labs, in April
    assert html.count('<rect class="s4"') == 1  # visits, in July
    assert html.count('<rect class="s6"') == 2  # the backlog of 5 labs: 1 in April (3 new), 4 in May


def test_csv_line__formula_cells_are_neutralised():
    assert _csv_line(["p1", "=HYPERLINK(\"x\")", "+1", "Ann, B"]) == "p1,\"'=HYPERLINK(\"\"x\"\")\",'+1,\"Ann, B\"\n"


# -- every number on the page, against plans.ndjson ------------------------------------------------------------

def _expected(plans: list[dict], counting: Counting, capacity: dict[str, int]) -> dict[str, int]:
    """Each number the page may show, recomputed from the plans alone (not from the run's aggregates)."""
    months = forecast_months(AS_OF)
    found: Counter = Counter()
    for plan in plans:
        found["patients"] += 1
        for rule_id in {a["rationale"]["rule_id"] for a in plan["activities"]} | \
                {n["rule_id"] for n in plan["not_recommended"]}:
            found[f"eligible|{rule_id}"] += 1
        gap_keys, apart_keys = set(), set()
        for activity in plan["activities"]:
            kind = counting.kind_of(activity)
            title, rule_id = activity["title"] or activity["description"], activity["rationale"]["rule_id"]
            # an action the visit schedule puts later counts in its month, not in the backlog
            later = next((item["date"] for item in (plan.get("schedule") or {}).get("later") or []
                          if item["id"] == activity["id"] and item["date"] > AS_OF.isoformat()), None)
            dates = occurrences({**activity["timing"], **({"due": later} if later else {})}, AS_OF)
            if activity["timing"]["due"] <= AS_OF.isoformat():
                found["open gaps" if kind.care_gap else "due apart"] += 1
                (gap_keys if kind.care_gap else apart_keys).add((rule_id, title, activity["area"]))
                if not later:
                    found[f"backlog|{kind.work}"] += 1
                    found["backlog"] += 1
                    dates = dates[1:]
            for day in dates:
                if day.strftime("%Y-%m") in months:
                    found[f"work|{day.strftime('%Y-%m')}|{kind.work}"] += 1
                    found["work"] += 1
        for rule_id, title, area in gap_keys:
            found[f"gap|{rule_id}|{title}"] += 1
            found[f"area|{area}"] += 1
        for rule_id, title, _ in apart_keys:
            found[f"apart|{rule_id}|{title}"] += 1
        found["patients with open gaps"] += bool(gap_keys)
        found["patients with due apart"] += bool(apart_keys)
        for section, items, text, severity in (("warning", plan["warnings"], "message", "severity"),
                                               ("missing", plan["gaps"], "message", None),
                                               ("quality", plan["data_quality"], "problem", None)):
            groups, texts = set(), set()
            for item in items:
                if section == "quality":
                    group = (item.get("ref") or {}).get("type") or "resource"
                elif section == "missing":
                    group = item.get("rule_id") or item["key"]
                else:
                    group = item["rule_id"]
                level = item.get(severity, "") if severity else ""
                groups.add(f"found|{section}|{group}|{level}")
                texts.add(f"{section}|{group}|{level}|"
                          f"{counting.finding_text(item[text], pack_text=section == 'warning')}")
            found.update(groups | texts)
        for goal in plan["goals"]:
            found[f"goal|{goal['rationale']['rule_id']}|{goal['description']}"] += 1
    for kind in counting.work_kinds:  # the backlog worked off, month by month, after each month's new work
        left = found[f"backlog|{kind}"]
        for month in months:
            room = max(0, capacity[kind] - found[f"work|{month}|{kind}"]) if kind in capacity else 0
            done = min(left, room)
            left -= done
            found[f"cleared|{kind}"] += done
            found[f"cleared|{month}"] += done
            found[f"total|{month}"] += done + found[f"work|{month}|{kind}"]
            found[f"over|{kind}"] += kind in capacity and found[f"work|{month}|{kind}"] > capacity[kind]
        found[f"left|{kind}"] = left
        if kind in capacity:
            found[f"capacity|{kind}"] = capacity[kind]
    groups: dict[str, list[tuple[int, str]]] = {}  # the texts and groups past those shown are summed
    for key, number in list(found.items()):
        if key.split("|")[0] in ("warning", "missing", "quality"):
            section, about, level, text = key.split("|", 3)
            groups.setdefault(f"{section}|{about}|{level}", []).append((number, text))
    for group, texts in groups.items():
        found[f"more|{group}"] = sum(n for n, _ in sorted(texts, key=lambda t: (-t[0], t[1]))[TOP_TEXTS:])
    for section in ("warning", "missing", "quality"):
        ranked = sorted(((("high", "moderate", "low", "").index(key.split("|")[3]), -n, key.split("|")[2])
                         for key, n in found.items() if key.startswith(f"found|{section}|")))
        found[f"more|{section}"] = sum(-n for _, n, _ in ranked[TOP_GROUPS:])
    return found


def test_report__every_number_on_the_page_is_what_plans_ndjson_says(pack_set, counting, tmp_path):
    counts: Counter = Counter()
    lines = []
    for path in sorted(SYNTHEA.glob("*.json")):
        resources = from_bundle(json.loads(path.read_text(encoding="utf-8")))
        patient_id = next(r["id"] for r in resources if r["resourceType"] == "Patient")
        result = patient_result(patient_id, resources, pack_set, AS_OF, counting)
        counts.update(result.counts)  # what Spark's reduceByKey does
        lines.append(result.plan_json)
    (tmp_path / "plans.ndjson").write_text("\n".join(lines) + "\n", encoding="utf-8")
    capacity = {"labs": 10, "screenings": 5, "visits": 12}
    write_report(_summary(dict(counts), tmp_path, counting=counting, capacity=capacity), tmp_path / "report.html")
    html = (tmp_path / "report.html").read_text(encoding="utf-8")

    plans = [json.loads(line) for line in (tmp_path / "plans.ndjson").read_text(encoding="utf-8").splitlines()]
    expected = _expected(plans, counting, capacity)
    shown = [(unescape(key), int(value)) for key, value in re.findall(r'<span data-n="([^"]*)">(\d+)</span>', html)]
    assert len(shown) > 150
    for key, value in shown:
        assert value == expected[key], key
    for part, whole, text in re.findall(r'<span data-part="([^"]*)" data-whole="([^"]*)">([^<]*)</span>', html):
        numerator, denominator = expected[unescape(part)], expected[unescape(whole)]
        assert text == (f"{100 * numerator / denominator:.1f} %" if denominator else "-"), part
        assert numerator <= denominator, part
    # no number on the page escapes the check: every numeric cell and tile holds a checked number, or a rate
    for cell in re.findall(r'<td class="num">(.*?)</td>|<span class="n">(.*?)</span>', html, flags=re.S):
        content = "".join(cell).strip()
        assert content.startswith(("<span data-n=", "<span data-part=", '<span class="note">not given')), content
    assert sum(v for k, v in shown if k.startswith("gap|")) <= expected["open gaps"]


def test_pack_set_from_resources__two_folders_read_together_are_two_packs_joined(pack_set):
    from app.engine.packs import pack_set_from_resources, read_pack_folder

    resources = read_pack_folder(f"{DEFAULT_PACK_DIR},{PEDIATRIC_PACK_DIR}")  # as cohort run --pack A,B reads them
    joined = pack_set_from_resources(resources)
    assert joined.packs == pack_set.packs and len(joined.packs_by_pack) == 2
    assert joined.folders == [DEFAULT_PACK_DIR, PEDIATRIC_PACK_DIR]
    counting = load_counting(joined)  # the folders it came from: both reviewed mappings
    assert "pediatric/cohort/activity-kinds.json" in counting.source
    assert counting.kinds["peds.bp.stage2"].work == "referrals"
