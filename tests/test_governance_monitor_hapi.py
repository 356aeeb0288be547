"""``carepath monitor`` counts exactly the decisions clinicians made, end to end (issue 25's second check).

carepath (Flask test client, open-server launches on the local HAPI server holding the Synthea patients) shows
the plan of three patients, saves each with one activity deselected, approves each with one activity rejected with a
reason (the same rule for all three: the rule rejected most), answers a CDS Hooks ``patient-view`` call for one of
them and takes the EHR's feedback (one card accepted, one overridden with a coded reason). Then ``carepath monitor
--db <that audit log> --format json`` must count exactly those decisions per rule and pack version, and a review
threshold set in the pack (on its Library) must flag the rule rejected most.

Nothing is written down in advance: the patients are the first Synthea patients (by file name) whose plans share
an activity, and every expected count is derived from what the test did with the plans the pages showed (which
rules each plan held, which the test deselected, rejected, and which rules each card the test answered was for).
"""

from __future__ import annotations

import json
import re
import shutil
from collections import defaultdict
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from app import create_app, pack_set
from app.audit import checkpoint_path, configured_path
from app.careplan.review import plan_for_patient, proposed_rules
from app.cli import main
from app.engine import DEFAULT_PACK_DIR
from app.governance.monitor import NOT_SELECTED, REJECTED_WITH_REASON, THRESHOLD_URL
from tests.careplan_sample import remove_carepath_plans
from tests.cds_helpers import hook_request
from tests.conftest import SYNTHEA

pytestmark = pytest.mark.integration
PATIENTS = 3
THRESHOLD = 0.5
REASON = "done at the cardiology clinic last month"
COMMENT = "free text the EHR sent: comment-7f3a"


def _version(canonicals: list[str]) -> str:
    """The pack version a monitor row is for: the versions an audit entry names, as the monitor groups them."""
    return ",".join(sorted({canonical.partition("|")[2] for canonical in canonicals if "|" in canonical})) or "unknown"


def _hidden(page: str, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', page)
    assert found, f"no hidden field {name} on the page"
    return found.group(1)


class Expected:
    """The counts the monitor must show, per (rule, pack version), kept as the test acts."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, str], dict[str, Any]] = defaultdict(lambda: {
            "proposed": 0, "accepted": 0, "rejected": 0, "cdsAccepted": 0, "overridden": 0,
            "rejectionReasons": defaultdict(int), "overrideReasons": defaultdict(int)})

    def add(self, rule: str, version: str, field: str, reason: tuple[str, str] | None = None) -> None:
        row = self.rows[(rule, version)]
        row[field] += 1
        if reason:
            row[reason[0]][reason[1]] += 1

    def rate(self, key: tuple[str, str]) -> float | None:
        row = self.rows[key]
        decisions = row["accepted"] + row["rejected"] + row["cdsAccepted"] + row["overridden"]
        return round((row["rejected"] + row["overridden"]) / decisions, 4) if decisions else None

    def as_monitor_rows(self) -> dict[tuple[str, str], dict[str, Any]]:
        return {key: {**row, "rejectionReasons": dict(row["rejectionReasons"]),
                      "overrideReasons": dict(row["overrideReasons"]), "rate": self.rate(key)}
                for key, row in self.rows.items()}


@pytest.fixture
def monitor_app(hapi_url, loaded_hapi, tmp_path):
    """carepath on the local HAPI server (an open server: the launch names the patient), CDS Hooks without client
    JWTs (the feedback, not the EHR's signature, is under test here), its audit log in a fresh var dir."""
    return create_app({"TESTING": True, "SECRET_KEY": "test", "VAR_DIR": str(tmp_path / "var"),
                       "SMART_ALLOWED_ISS": [hapi_url], "SMART_OPEN_SERVERS": [hapi_url],
                       "REVIEW_AS_OF": date.today().isoformat(), "CDS_REQUIRE_JWT": False})


@pytest.fixture
def threshold_pack(monitor_app, tmp_path):
    """The app's pack with a review threshold on its Library (for the whole pack)."""
    folder = Path(shutil.copytree(monitor_app.config.get("PACK_DIR") or DEFAULT_PACK_DIR, tmp_path / "pack"))
    [path] = folder.glob("Library-*.json")
    library = json.loads(path.read_text(encoding="utf-8"))
    library.setdefault("extension", []).append({"url": THRESHOLD_URL, "valueDecimal": THRESHOLD})
    path.write_text(json.dumps(library), encoding="utf-8")
    return folder


@pytest.fixture
def touched(loaded_hapi):
    """The patients whose record the test writes to: carepath's plans for them are removed afterwards (other tests
    open the same Synthea patients and expect no plan of ours in the record)."""
    patients: list[str] = []
    yield patients
    for patient in patients:
        remove_carepath_plans(loaded_hapi, patient)


def _choose_patients(app, hapi) -> tuple[list[tuple[str, dict]], str]:
    """The first Synthea patients (by file name) with at least three activities whose plans share one: their ids
    and plans as the sidebar builds them, and the shared activity to reject (the first in id order)."""
    as_of = date.fromisoformat(app.config["REVIEW_AS_OF"])
    with app.app_context():
        packs = pack_set(app)
    chosen: list[tuple[str, dict]] = []
    shared: set[str] = set()
    for path in sorted(SYNTHEA.glob("*.json")):
        bundle = json.loads(path.read_text(encoding="utf-8"))
        patient = next(e["resource"]["id"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient")
        plan, _facts = plan_for_patient(hapi, patient, packs, as_of)
        activities = {activity["id"] for activity in plan["activities"]}
        if len(activities) < 3 or (chosen and not shared & activities):
            continue
        chosen.append((patient, plan))
        shared = activities if len(chosen) == 1 else shared & activities
        if len(chosen) == PATIENTS:
            return chosen, sorted(shared)[0]
    pytest.fail(f"fewer than {PATIENTS} Synthea patients with plans sharing an activity")


def _launch(app, hapi_url: str, patient: str, practitioner: str):
    client = app.test_client()
    response = client.get(f"https://localhost/launch?iss={hapi_url}&patient={patient}")
    assert "/p/" in response.headers.get("Location", ""), response.get_data(as_text=True)[:500]
    launch_id = response.headers["Location"].split("/p/")[1].split("/")[0]
    smart = app.extensions["carepath_smart"]
    smart.store.put("launch", launch_id, {**smart.load(launch_id), "fhir_user": f"Practitioner/{practitioner}"},
                    ttl=600)
    return client, launch_id


def _card_rules(plan: dict, area: str) -> tuple[list[str], str]:
    """The rules of an area's CDS card and their pack version: the area's activities due at this visit (the
    plan's schedule, or due by the plan date without one), as the card lists them."""
    this_visit = (plan.get("schedule") or {}).get("thisVisit")
    items = [a for a in plan["activities"] if a.get("area_id") == area
             and (a["id"] in this_visit if this_visit is not None
                  else str((a.get("timing") or {}).get("due") or plan["as_of"]) <= str(plan["as_of"]))]
    versions = [f"{r['pack_url']}|{r['pack_version']}" for r in (item.get("rationale") or {} for item in items)
                if r.get("pack_url") and r.get("pack_version")]
    return [item["id"] for item in items], _version(versions or [f"{p['url']}|{p['version']}" for p in plan["packs"]])


def test_monitor__counts_exactly_the_sidebar_and_cds_decisions_made_on_shared_patients(
        monitor_app, threshold_pack, loaded_hapi, hapi_url, sample_practitioner, touched, monkeypatch, capsys):
    app, expected = monitor_app, Expected()
    chosen, rejected_rule = _choose_patients(app, loaded_hapi)
    deselected_before: list[str] = []

    for patient, plan in chosen:
        remove_carepath_plans(loaded_hapi, patient)  # a draft left by an earlier run would be resumed
        touched.append(patient)
        plan_version = _version([f"{p['url']}|{p['version']}" for p in plan["packs"]])
        client, launch_id = _launch(app, hapi_url, patient, sample_practitioner)
        base = f"https://localhost/p/{launch_id}/plan"

        # The plan shown: every rule of it proposed once.
        page = client.get(base).get_data(as_text=True)
        shown = re.findall(r'name="keep" value="([^"]+)"', page)
        activities = [activity["id"] for activity in plan["activities"]]
        assert sorted(shown) == sorted(activities), "the page shows the plan the test derives its counts from"
        for rule in proposed_rules(plan):
            expected.add(rule, plan_version, "proposed")

        # Saved with one activity left unticked: not the one rejected later, one not unticked before if any.
        candidates = [rule for rule in activities if rule != rejected_rule]
        deselected = next((rule for rule in candidates if rule not in deselected_before), candidates[0])
        deselected_before.append(deselected)
        form = {name: _hidden(page, name) for name in ("csrf_token", "plan_key", "request_id")}
        based_on = re.search(r'name="based_on" value="([^"]*)"', page)
        form.update({"based_on": based_on.group(1)} if based_on and based_on.group(1) else {})
        saved = client.post(base, data={**form, "keep": [rule for rule in activities if rule != deselected]})
        assert saved.status_code == 303 and "saved=" in saved.headers["Location"], saved.get_data(as_text=True)[:800]
        expected.add(deselected, plan_version, "rejected", ("rejectionReasons", NOT_SELECTED))
        careplan_id = parse_qs(urlsplit(saved.headers["Location"]).query)["saved"][0]

        # Approved with the shared activity rejected, with a reason; every other open item accepted.
        url = f"https://localhost/p/{launch_id}/careplans/{careplan_id}"
        screen = client.get(url).get_data(as_text=True)
        open_items = re.findall(r'name="reject" value="([^"]+)"', screen)
        assert sorted(open_items) == sorted(rule for rule in activities if rule != deselected)
        decided = client.post(f"{url}/decision", data={
            "csrf_token": _hidden(screen, "csrf_token"), "version": _hidden(screen, "version"),
            "request_id": _hidden(screen, "request_id"), "action": "approve", "confirm": "yes",
            "reject": [rejected_rule], f"reason-{rejected_rule}": REASON})
        assert decided.status_code == 303 and "done=1" in decided.headers["Location"], \
            decided.get_data(as_text=True)[:800]
        careplan = loaded_hapi.read("CarePlan", careplan_id)
        assert careplan["status"] == "active"
        approval_version = _version(careplan.get("instantiatesCanonical") or [])
        for rule in open_items:
            if rule == rejected_rule:
                expected.add(rule, approval_version, "rejected", ("rejectionReasons", REJECTED_WITH_REASON))
            else:
                expected.add(rule, approval_version, "accepted")

    # CDS Hooks for one patient with two area cards (the first whose cards include the rejected rule, else the
    # first): the card holding the rejected rule (if any) overridden with its first coded reason, another accepted.
    client = app.test_client()
    answers = []
    for patient, plan in chosen:
        answer = client.post("/cds-services/carepath-care-gaps",
                             json=hook_request(patient, fhirServer=hapi_url, prefetch={}))
        assert answer.status_code == 200, answer.get_json()
        cards = [card for card in answer.get_json()["cards"] if card["indicator"] == "info" and card.get("links")]
        area_of = {card["uuid"]: json.loads(card["links"][0]["appContext"])["area"] for card in cards}
        rules_of = {uuid: _card_rules(plan, area) for uuid, area in area_of.items()}
        if len(cards) >= 2:
            answers.append((cards, area_of, rules_of))
    assert answers, "no chosen patient has two CDS cards for areas with actions due"
    cards, area_of, rules_of = next((answer for answer in answers if any(
        rejected_rule in rules for rules, _version_ in answer[2].values())), answers[0])
    overridden = next((card for card in cards if rejected_rule in rules_of[card["uuid"]][0]), cards[0])
    accepted = next(card for card in cards if card is not overridden)
    reason = overridden["overrideReasons"][0]
    feedback = client.post("/cds-services/carepath-care-gaps/feedback", json={"feedback": [
        {"card": accepted["uuid"], "outcome": "accepted"},
        {"card": overridden["uuid"], "outcome": "overridden",
         "overrideReason": {"reason": reason, "userComment": COMMENT}}]})
    assert feedback.status_code == 200 and feedback.get_json() == {"recorded": 2, "unknown": 0}
    for card, field in ((accepted, "cdsAccepted"), (overridden, "overridden")):
        rules, version = rules_of[card["uuid"]]
        assert rules, f"the card for {area_of[card['uuid']]} names no activity of the plan"
        for rule in rules:
            expected.add(rule, version, field, ("overrideReasons", reason.get("display") or reason["code"])
                         if field == "overridden" else None)

    # The monitor, from the audit log those requests wrote (its checkpoints the app's own).
    monkeypatch.setenv("CAREPATH_AUDIT_CHECKPOINT_FILE", str(checkpoint_path(app.config)))
    status = main(["monitor", "--db", str(configured_path(None, app.config)), "--format", "json",
                   "--packs", str(threshold_pack)])
    document = json.loads(capsys.readouterr().out)

    assert status == 0 and document["chain"]["intact"], document["chain"]
    want = expected.as_monitor_rows()
    got = {(row["rule"], row["packVersion"]): {key: row[key] for key in (
        "proposed", "accepted", "rejected", "cdsAccepted", "overridden", "rejectionReasons", "overrideReasons",
        "rate")} for row in document["rules"]}
    assert got == want
    most_rejected = max(want, key=lambda key: want[key]["rejected"])
    assert most_rejected[0] == rejected_rule and want[most_rejected]["rejected"] >= PATIENTS
    assert document["threshold"] == THRESHOLD
    flagged = [rule for (rule, _version_), row in sorted(want.items())
               if row["rate"] is not None and row["rate"] > THRESHOLD]
    assert document["flagged"] == flagged and rejected_rule in flagged
    assert any(row["rejected"] and not row["flagged"] for row in document["rules"]), \
        "a rule rejected now and then, but mostly accepted, stays below the threshold"
    text = json.dumps(document)
    assert not any(patient in text for patient, _plan in chosen) and REASON not in text
    assert COMMENT not in text  # the override's free-text comment never reaches the audit log
