"""Cards from a plan (unit), feedback records, the appContext a card link carries back, the audit log upgrade."""

from __future__ import annotations

import json
import re
import sqlite3
from functools import cache

import pytest

from app.audit import AuditLog
from app.cds.cards import MAX_CARDS, SUMMARY_LIMIT, _md, _summary, cards_for_plan
from app.cds.feedback import record_feedback, remember_cards
from app.cds.service import CdsRequestError
from app.formats import ELLIPSIS
from app.smart.launch import app_context_area
from app.store import SqliteStore
from tests.cds_helpers import bundle_resources
from tests.conftest import SYNTHEA


def _plan(name: str, as_of: str = "2026-06-01") -> dict:
    from app.context import facts_from_resources
    from app.engine import build_plan, load_pack_set

    packs = load_pack_set()
    return build_plan(facts_from_resources(bundle_resources(name), packs.requirements, as_of), packs, as_of).to_dict()


def test_cds_cards__one_card_per_area_with_what_is_for_this_visit(tmp_path):
    plan = _plan("clinical-t2d-ckd.json")
    cards, metas = cards_for_plan(plan, launch_url="https://carepath.example/launch")
    assert 1 <= len(cards) <= MAX_CARDS and len(metas) == len(cards)
    diabetes = next(card for card in cards if card["summary"].endswith(" (Diabetes)"))
    this_visit = plan["schedule"]["thisVisit"]
    due = [a for a in plan["activities"] if a["area_id"] == "type-2-diabetes" and a["id"] in this_visit]
    assert due[0]["title"] in diabetes["summary"]
    for item in due:  # the plan's own words, escaped for Markdown
        assert _md(item["title"]) in diabetes["detail"]
    later = [a for a in plan["activities"] if a["area_id"] == "type-2-diabetes" and a["id"] not in this_visit]
    assert later and not any(_md(item["title"]) in diabetes["detail"] for item in later)  # on the schedule's day
    meta = next(m for m in metas if m.uuid == diabetes["uuid"])
    assert meta.area_id == "type-2-diabetes" and any("|2025.1.0" in pack for pack in meta.packs)


def test_cds_cards__summary_fits_140_characters_and_counts_the_rest():
    text = _summary(["a" * 60, "b" * 60, "c" * 60, "d" * 60], " (Diabetes)")
    assert len(text) <= SUMMARY_LIMIT and text.startswith("a" * 60) and text.endswith("; +3 more (Diabetes)")
    assert len(_summary(["x" * 300])) == SUMMARY_LIMIT
    cut = _summary(["Review for de-intensification " * 6], " (Diabetes)")
    assert len(cut) <= SUMMARY_LIMIT and cut.endswith(" de-intensification Review… (Diabetes)")


def test_cds_cards__record_text_cannot_become_markdown():
    assert _md("[click](javascript:alert(1)) *x* <b>") == r"\[click\]\(javascript:alert\(1\)\) \*x\* \<b\>"


def test_cds_cards__no_plan_items_no_card():
    plan = {"as_of": "2026-06-01", "packs": [], "goals": [], "activities": [], "warnings": [
        {"rule_id": "pack-effective-period", "severity": "low", "message": "outside", "refs": []}]}
    assert cards_for_plan(plan, launch_url="x") == ([], [])


@pytest.mark.parametrize(("value", "area"), [
    ('{"area":"type-2-diabetes"}', "type-2-diabetes"),
    ('{"area":"Type-2"}', None), ('{"area":"a","x":1}', None), ('["area"]', None), ("not json", None),
    ('{"area":"' + "a" * 65 + '"}', None), ('{"area":"a"}' + " " * 1100, None), (None, None), ({"area": "a"}, None),
    ('{"area":"../x"}', None),
])
def test_cds_app_context__only_an_area_id_is_taken(value, area):
    assert app_context_area(value) == area


def test_cds_feedback__recorded_with_the_cards_area_and_packs_never_the_comment(tmp_path):
    store, audit = SqliteStore(tmp_path / "s.sqlite3", "k"), AuditLog(tmp_path / "audit.sqlite3")
    plan = _plan("clinical-t2d-ckd.json")
    cards, metas = cards_for_plan(plan, launch_url="x")
    remember_cards(store, metas, patient_id="cp-clin-t2d-ckd", user="Practitioner/7", client="ehr", ttl=60)
    reason = cards[0]["overrideReasons"][0]
    recorded = record_feedback({"feedback": [
        {"card": cards[0]["uuid"], "outcome": "overridden",
         "overrideReason": {"reason": reason, "userComment": "Mrs Smith said no"}},
        {"card": cards[-1]["uuid"], "outcome": "accepted"},
        {"card": "unknown-card", "outcome": "accepted"}]}, store, audit)
    assert recorded == (2, 1)
    entries = audit.entries("cp-clin-t2d-ckd")
    assert [e.event for e in entries] == ["cds-overridden", "cds-accepted"]
    assert entries[0].detail["overrideReason"]["code"] == reason["code"] and entries[0].actor == "Practitioner/7"
    assert "Mrs Smith" not in json.dumps([e.detail for e in entries])
    assert audit.verify() == (2, 0, None)


@pytest.mark.parametrize("body", [None, {}, {"feedback": []}, {"feedback": [{"card": "x", "outcome": "maybe"}]},
                                  {"feedback": [{"outcome": "accepted"}]}])
def test_cds_feedback__malformed_is_refused(tmp_path, body):
    with pytest.raises(CdsRequestError):
        record_feedback(body, SqliteStore(tmp_path / "s.sqlite3", "k"), AuditLog(tmp_path / "a.sqlite3"))


def test_audit__a_log_with_the_earlier_event_list_is_upgraded_in_place(tmp_path):
    path = tmp_path / "audit.sqlite3"
    connection = sqlite3.connect(path, isolation_level=None)
    connection.executescript("""
        CREATE TABLE audit (seq INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL,
            event TEXT NOT NULL CHECK (event IN ('generated', 'saved', 'approved', 'rejected', 'conflict')),
            actor TEXT NOT NULL, patient_id TEXT NOT NULL, careplan_id TEXT, careplan_version TEXT,
            packs TEXT NOT NULL, hash TEXT);""")
    connection.close()
    from app.audit import entry_hash

    digest = entry_hash(None, (1, "2026-01-01T00:00:00+00:00", "saved", "Practitioner/1", "p1", None, None, "[]"))
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("INSERT INTO audit VALUES (1, '2026-01-01T00:00:00+00:00', 'saved', 'Practitioner/1', 'p1', "
                       "NULL, NULL, '[]', ?)", (digest,))
    connection.close()
    log = AuditLog(path)
    log.record("cds-accepted", actor="Practitioner/1", patient_id="p1", packs=["u|1"], detail={"card": "c"})
    assert [e.event for e in log.entries()] == ["saved", "cds-accepted"]
    assert log.verify() == (2, 0, None)
    connection = sqlite3.connect(path, isolation_level=None)
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        connection.execute("DELETE FROM audit WHERE seq = 1")
    connection.close()


# -- Cards for the shared Synthea patients: written for the card, in the sidebar's formats -----------------------

#: What a clinician should never read on a card or a warning: ISO dates, UCUM codes, RxNorm product strings.
RAW_FORMATS = re.compile(r"\d{4}-\d{2}-\d{2}|mm\[Hg\]|mL/min/1\.73m2|mL/min/\{1\.73_m2\}| MG/ML| UNT/ML| MG Oral"
                         r"| MG Extended| MedicationRequest")
DOUBLED = re.compile(r"\b(\w+) \1\b", re.IGNORECASE)


@cache
def _synthea_cards() -> list[tuple[str, dict, list[dict]]]:
    """(label, plan, cards) for every shared Synthea patient at the two plan dates the other tests use."""
    from app.context import facts_from_bundle
    from app.engine import build_plan, load_pack_set

    packs = load_pack_set()
    found = []
    for path in sorted(SYNTHEA.glob("*.json")):
        bundle = json.loads(path.read_text())
        for as_of in ("2020-06-01", "2021-04-01"):
            plan = build_plan(facts_from_bundle(bundle, packs.requirements, as_of), packs, as_of).to_dict()
            found.append((f"{path.stem[:20]} @ {as_of}", plan, cards_for_plan(plan, launch_url="x")[0]))
    return found


def _ends_on_a_word(summary: str, sources: list[str]) -> bool:
    """A summary cut with an ellipsis stops where a word of its source text stops."""
    if not summary.endswith(ELLIPSIS):
        return True
    kept = summary.removesuffix(ELLIPSIS)
    return any(source.startswith(kept) and not source[len(kept)].isalnum()
               for source in sources if len(source) > len(kept))


def test_cds_cards__synthea_summaries_fit_and_end_on_a_whole_word():
    assert len(_synthea_cards()) == 50
    wrong = []
    for label, plan, cards in _synthea_cards():
        titles = [str(a.get("title")) for a in plan["activities"]]
        sources = [str(w.get(k)) for w in plan["warnings"] for k in ("summary", "message") if w.get(k)]
        sources += [f"{s['area']}: {t}" for s in plan.get("area_summaries") or [] for t in titles if s.get("area")]
        for card in cards:
            if len(card["summary"]) > SUMMARY_LIMIT or not _ends_on_a_word(card["summary"], sources):
                wrong.append(f"{label}: {card['summary']}")
    assert not wrong, "\n".join(wrong[:20])


def test_cds_cards__synthea_warning_cards_say_what_to_do_first():
    warned = 0
    for label, plan, cards in _synthea_cards():
        for warning in plan["warnings"]:
            if warning["severity"] == "low":
                continue
            warned += 1
            assert warning.get("summary"), f"{label}: {warning['rule_id']} has no card summary"
            assert any(card["summary"] == warning["summary"] for card in cards), label
            assert warning["summary"].split()[0] in ACTION_VERBS, f"{label}: {warning['summary']}"
    assert warned >= 20  # hypoglycaemia, severe BP, acute kidney disease, eGFR conflicts, metformin, statins


ACTION_VERBS = {"Verify", "Evaluate", "Repeat", "Review", "Check", "Stop", "Refer", "Urgent", "Set", "Assess",
                "Consider", "Avoid", "Weigh", "Do"}


def test_cds_cards__synthea_cards_and_warnings_use_the_sidebars_formats():
    wrong = []
    for label, plan, cards in _synthea_cards():
        texts = [card[k] for card in cards for k in ("summary", "detail")]
        texts += [w.get(k) or "" for w in plan["warnings"] for k in ("message", "summary")]
        texts += [item["rationale"]["text"] for item in [*plan["goals"], *plan["activities"]]]
        texts += [n.get("reason") or "" for n in plan["not_recommended"]]
        for text in texts:
            found = RAW_FORMATS.search(text) or DOUBLED.search(text)
            if found:
                wrong.append(f"{label}: {found[0]!r} in {text[:160]!r}")
    assert not wrong, "\n".join(wrong[:20])


def test_cds_cards__a_warning_without_a_summary_is_cut_at_a_word():
    plan = {"as_of": "2026-06-01", "packs": [], "goals": [], "activities": [], "warnings": [
        {"rule_id": "x", "severity": "high", "refs": [],
         "message": "HbA1c 3.03 % on 12 Mar 2021 with insulin human isophane / regular insulin human: below 6.5 %, "
                    "a value this low on insulin or a sulfonylurea is a hypoglycaemia risk"}]}
    summary = cards_for_plan(plan, launch_url="x")[0][0]["summary"]
    assert len(summary) <= SUMMARY_LIMIT and summary.endswith(" sulfonylurea…")


def test_pack__every_warning_a_card_shows_has_a_summary():
    """A high or moderate alert, contraindication or exclusion becomes a card: the pack says what to do first."""
    from app.engine import load_pack_set

    missing = []
    for area in load_pack_set().areas:
        for rule in area.rules:
            if rule.alert is not None and rule.alert[0] != "low" and rule.alert_summary is None:
                missing.append(f"{rule.id}: alert")
            missing += [f"{rule.id}: {check.reason.text[:60]}" for check in [*rule.exclusions, *rule.contraindications]
                        if check.severity in ("high", "moderate") and check.summary is None]
    assert not missing, "\n".join(missing)
