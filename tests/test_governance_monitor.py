"""``carepath monitor``: decisions in the sidebar (generated, deselected at save, accepted and rejected at
approval) and CDS Hooks feedback, counted per rule and pack version from the verified audit log; a rule above
the pack's review threshold is flagged; a broken chain is shown; no patient identifier is in the output."""

from __future__ import annotations

import json
import shutil
import sqlite3

import pytest

from app.audit import AuditLog, Journal
from app.careplan.approval import Decision, decided_items
from app.careplan.review import proposed_rules
from app.cds.cards import OVERRIDE_REASONS, CardMeta
from app.cds.feedback import record_feedback, remember_cards
from app.cli import main
from app.engine import DEFAULT_PACK_DIR
from app.governance.monitor import NOT_SELECTED, REJECTED_WITH_REASON, THRESHOLD_URL, monitor, render_html
from app.store import SqliteStore

PACKS = ("http://carepath.dev/fhir/PlanDefinition/blood-pressure|2025.1.0",
         "http://carepath.dev/fhir/Library/primary-care-data|2025.1.0")
MEASURE, LIFESTYLE, GOAL = "htn.measure-bp", "htn.lifestyle", "htn.bp-goal"
PATIENTS = ("p-one", "p-two")
ITEM_URL = "http://carepath.dev/fhir/StructureDefinition/rationale-item"


@pytest.fixture
def pack(tmp_path):
    """The bundled pack with a review threshold of 0.5 on the Library."""
    folder = tmp_path / "pack"
    shutil.copytree(DEFAULT_PACK_DIR, folder)
    path = folder / "Library-primary-care-data.json"
    library = json.loads(path.read_text(encoding="utf-8"))
    library.setdefault("extension", []).append({"url": THRESHOLD_URL, "valueDecimal": 0.5})
    path.write_text(json.dumps(library), encoding="utf-8")
    return folder


def _careplan(*rules: str) -> dict:
    return {"activity": [{"extension": [{"url": ITEM_URL, "valueString": rule}], "detail": {"status": "not-started"}}
                         for rule in rules]}


@pytest.fixture
def audit(tmp_path):
    """Two patients' plans, each proposed; one save deselecting the lifestyle advice; two approvals, one
    rejecting the BP measurement with a reason; CDS feedback: one card accepted, two overridden."""
    log = AuditLog(tmp_path / "audit.sqlite3")
    plan = {"activities": [{"id": MEASURE}, {"id": LIFESTYLE}], "goals": [{"id": GOAL}]}
    for patient in PATIENTS:
        log.record("generated", actor="Practitioner/a", patient_id=patient, packs=PACKS,
                   detail={"rules": proposed_rules(plan)})
    saved = Journal(log, "saved", "Practitioner/a", PATIENTS[0], PACKS, "r1", items={"deselectedRules": [LIFESTYLE]})
    saved.intent()
    saved.outcome("committed")
    for patient, decision, request in (
            (PATIENTS[0], Decision("Practitioner/a", rejected={MEASURE: "done at home"}), "r2"),
            (PATIENTS[1], Decision("Practitioner/a"), "r3")):
        journal = Journal(log, "approved", "Practitioner/a", patient, PACKS, request,
                          items=decided_items(_careplan(MEASURE, LIFESTYLE), decision))
        journal.intent()
        journal.outcome("committed")
    failed = Journal(log, "approved", "Practitioner/a", PATIENTS[1], PACKS, "r4",
                     items=decided_items(_careplan(MEASURE), Decision("Practitioner/a", rejected={MEASURE: ""})))
    failed.intent()
    failed.outcome("not committed")  # never reached the record: not counted
    store = SqliteStore(tmp_path / "store.sqlite3", "test")
    remember_cards(store, [CardMeta(uuid=f"card-{i}", area_id="blood-pressure", rule_ids=(MEASURE,), packs=PACKS)
                           for i in range(3)], patient_id=PATIENTS[0], user="Practitioner/a", client="ehr", ttl=60)
    declined = {"reason": OVERRIDE_REASONS[1]}
    record_feedback({"feedback": [{"card": "card-0", "outcome": "accepted"},
                                  {"card": "card-1", "outcome": "overridden", "overrideReason": declined},
                                  {"card": "card-2", "outcome": "overridden", "overrideReason": declined}]},
                    store, log)
    return log


def test_monitor__counts_exactly_the_decisions_per_rule_and_flags_above_threshold(audit, pack):
    document = monitor(audit, pack_dir=pack)

    assert document["chain"]["intact"] and document["threshold"] == 0.5
    rows = {(row["rule"], row["packVersion"]): row for row in document["rules"]}
    measure = rows[(MEASURE, "2025.1.0")]
    assert (measure["proposed"], measure["accepted"], measure["rejected"]) == (2, 1, 1)
    assert measure["rejectionReasons"] == {REJECTED_WITH_REASON: 1}
    assert (measure["cdsAccepted"], measure["overridden"]) == (1, 2)
    assert measure["overrideReasons"] == {"Patient declined": 2}
    assert measure["rate"] == 0.6 and measure["flagged"]
    lifestyle = rows[(LIFESTYLE, "2025.1.0")]
    assert (lifestyle["proposed"], lifestyle["accepted"], lifestyle["rejected"]) == (2, 2, 1)
    assert lifestyle["rejectionReasons"] == {NOT_SELECTED: 1} and not lifestyle["flagged"]
    assert rows[(GOAL, "2025.1.0")]["proposed"] == 2
    assert document["flagged"] == [MEASURE]
    text = json.dumps(document) + render_html(document)
    assert not any(patient in text for patient in PATIENTS)


def test_monitor__without_a_threshold_in_the_pack_nothing_is_flagged(audit):
    document = monitor(audit, pack_dir=DEFAULT_PACK_DIR)
    assert document["threshold"] is None and document["flagged"] == []


def test_monitor__a_broken_chain_is_shown(audit, pack, tmp_path, capsys):
    connection = sqlite3.connect(audit.path)
    connection.execute("DROP TRIGGER audit_no_update")
    connection.execute("UPDATE audit SET detail = ? WHERE seq = 1", (json.dumps({"rules": [MEASURE] * 5}),))
    connection.commit()
    connection.close()
    document = monitor(audit, pack_dir=pack)
    assert not document["chain"]["intact"] and "entry 1" in document["chain"]["problem"]
    assert "Audit chain BROKEN" in render_html(document)
    out = tmp_path / "monitor.html"
    status = main(["monitor", "--db", str(audit.path), "--format", "html", "--packs", str(pack), "--out", str(out)])
    assert status == 1 and "BROKEN" in capsys.readouterr().err and "BROKEN" in out.read_text(encoding="utf-8")


def test_monitor_command__json_since_a_date(audit, pack, capsys):
    assert main(["monitor", "--db", str(audit.path), "--packs", str(pack), "--since", "2000-01-01"]) == 0
    assert json.loads(capsys.readouterr().out)["flagged"] == [MEASURE]
    assert main(["monitor", "--db", str(audit.path), "--packs", str(pack), "--since", "2999-01-01"]) == 0
    assert json.loads(capsys.readouterr().out)["rules"] == []


def test_decided_items__rejecting_the_whole_plan_rejects_each_open_item_with_its_reason():
    items = decided_items(_careplan(MEASURE, LIFESTYLE), Decision("Practitioner/a", reject_plan_reason="wrong patient"))
    assert items == {"acceptedRules": [], "rejectedRules": [LIFESTYLE, MEASURE],
                     "rejectedWithReason": [LIFESTYLE, MEASURE]}
