"""Saves and decisions through a fault-injecting proxy: the page says what the record holds, nothing twice.

Each trial runs carepath (Flask test client, open-server launch) against the local HAPI server through
``tests/plugins/faultproxy.py`` and arms one fault on the write (the transaction POST): a 5xx, a timeout or a
dropped connection, before HAPI sees the request or after it committed. Then, once every request in flight has
landed, it compares what the page said with what HAPI holds and what the audit log recorded:

- no duplicate CarePlan (one per plan identifier) and no second Provenance for one write;
- "Saved" / "Decision recorded" only when the record holds exactly what was submitted (no false "saved");
- "Nothing was saved" / "not recorded" only when the record does not hold it (no false "not saved");
- a single fault never loses the clinician's edits (the write is retried and settled by reading back);
- every committed write has an intent row and a committed outcome row in the audit log.

Three variants per fault mode: a new plan, an edit of a saved draft, and a new plan replacing an older draft
(its If-Match revoke used to fail on a retry after the first attempt committed); each saves, then decides.
6 modes x 3 variants x (save + decision) = 36 faulted writes, plus 4 with the fault on every attempt.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

import pytest

from app import create_app
from app.audit import audit_log
from app.careplan import plan_key
from tests.careplan_sample import ORIGIN_TAG, sample_plan
from tests.plugins.faultproxy import MODES

pytestmark = pytest.mark.integration
TIMEOUT = 0.75  # carepath's FHIR timeout here; the proxy's delays are longer


@dataclass
class Trial:
    """One patient, the app, a browser-like client with its launch, all through the proxy."""

    patient: str
    client: object
    launch_id: str

    @property
    def doctor(self) -> str:
        return f"Practitioner/{self.patient}-dr"


@pytest.fixture
def faulty_app(fault_proxy, tmp_path, monkeypatch):
    """carepath allowing the proxy as an open server, with short timeouts and the sample plan."""
    fault_proxy.delay = TIMEOUT + 0.3
    app = create_app({"TESTING": True, "SECRET_KEY": "test", "VAR_DIR": str(tmp_path),
                      "SMART_ALLOWED_ISS": [fault_proxy.url], "SMART_OPEN_SERVERS": [fault_proxy.url],
                      "FHIR_TIMEOUT": TIMEOUT, "FHIR_BACKOFF": 0.05, "FHIR_RETRIES": 2})
    from app.views import review

    def plan_for_patient(client, patient_id, packs, as_of):
        version = client.read("Observation", f"{patient_id}-a1c")["meta"]["versionId"]
        return sample_plan(patient_id, condition_id=f"{patient_id}-dm", hba1c_id=f"{patient_id}-a1c",
                           hba1c_version=version), {"measures": {}, "missing": [], "dataQuality": []}

    monkeypatch.setattr(review, "plan_for_patient", plan_for_patient)
    monkeypatch.setattr(review, "_pack_set", lambda: None)
    return app


def _new_trial(app, hapi, proxy) -> Trial:
    key = f"ft-{uuid.uuid4().hex[:10]}"
    hapi.update({"resourceType": "Patient", "id": key, "name": [{"family": "Faulttest"}]})
    hapi.update({"resourceType": "Practitioner", "id": f"{key}-dr", "active": True})
    hapi.update({"resourceType": "Condition", "id": f"{key}-dm", "subject": {"reference": f"Patient/{key}"},
                 "code": {"coding": [{"system": "http://snomed.info/sct", "code": "44054006"}]}})
    _set_hba1c(hapi, key, 8.1)
    client = app.test_client()
    response = client.get(f"https://localhost/launch?iss={proxy.url}&patient={key}")
    launch_id = response.headers["Location"].split("/p/")[1].split("/")[0]
    smart = app.extensions["carepath_smart"]
    smart.store.put("launch", launch_id, {**smart.load(launch_id), "fhir_user": f"Practitioner/{key}-dr"}, ttl=600)
    return Trial(key, client, launch_id)


def _set_hba1c(hapi, patient: str, value: float) -> None:
    hapi.update({"resourceType": "Observation", "id": f"{patient}-a1c", "status": "final",
                 "code": {"coding": [{"system": "http://loinc.org", "code": "4548-4"}]},
                 "subject": {"reference": f"Patient/{patient}"}, "effectiveDateTime": "2020-01-15",
                 "valueQuantity": {"value": value, "unit": "%"}})


def _hidden(page: str, name: str) -> str | None:
    found = re.search(rf'name="{name}" value="([^"]*)"', page)
    return found.group(1) if found else None


def _save_form(page: str, *, keep: list[str], target: str, note: str) -> dict:
    form = {name: _hidden(page, name) for name in ("csrf_token", "plan_key", "request_id", "based_on")}
    return {**{k: v for k, v in form.items() if v}, "keep": keep, "target-g-hba1c": target, "note": note}


def _drafts(hapi, trial: Trial) -> list[dict]:
    return hapi.search("CarePlan", {"subject": f"Patient/{trial.patient}", "_tag": ORIGIN_TAG})


def _goal_target(hapi, careplan: dict) -> float:
    goals = [hapi.read("Goal", ref["reference"].split("/")[1]) for ref in careplan["goal"]]
    (hba1c,) = [g for g in goals if g["target"][0]["measure"]["coding"][0]["code"] == "4548-4"]
    return hba1c["target"][0]["detailQuantity"]["value"]


def _holds(hapi, careplan: dict, *, keep: list[str], target: float, note: str) -> bool:
    """True when the record's draft holds exactly what was submitted."""
    statuses = {a["extension"][0]["valueString"]: a["detail"]["status"] for a in careplan["activity"]}
    wanted = {item: "not-started" if item in keep else "cancelled" for item in ("a-hba1c", "a-dsmes")}
    notes = [n["text"] for n in careplan.get("note", [])]
    return statuses == wanted and _goal_target(hapi, careplan) == target and notes.count(note) == 1


def _outcomes(app, trial: Trial, event: str) -> list:
    with app.app_context():
        return [e for e in audit_log().entries(trial.patient) if e.event == event and e.phase == "outcome"]


def _committed_audited(app, trial: Trial, event: str, careplan_id: str) -> bool:
    with app.app_context():
        rows = [e for e in audit_log().entries(trial.patient) if e.event == event]
    intents = {e.detail["request"] for e in rows if e.phase == "intent"}
    return any(e.result == "committed" and e.careplan_id == careplan_id and e.detail["request"] in intents
               for e in rows if e.phase == "outcome")


def _prepare(variant: str, trial: Trial, hapi, proxy) -> str:
    """The review page the faulted save is submitted from, after the variant's clean earlier save."""
    base = f"https://localhost/p/{trial.launch_id}/plan"
    page = trial.client.get(base).get_data(as_text=True)
    if variant in ("edit", "replace"):
        first = trial.client.post(base, data=_save_form(page, keep=["a-hba1c", "a-dsmes"], target="7.0", note=""))
        assert first.status_code == 303
        if variant == "replace":
            _set_hba1c(hapi, trial.patient, 8.4)  # new data: the plan changes, the old draft is replaced
        page = trial.client.get(base).get_data(as_text=True)
    return page


def _assert_injected(proxy, mode: str) -> None:
    """The armed fault hit the write: for the '-after' modes HAPI committed that attempt; a delayed one landed late
    (then HAPI refused it, or matched the retry's draft, because the retry had committed first)."""
    hit = [seen for seen in proxy.seen if seen.fault == mode]
    assert hit, f"the {mode} fault was never injected"
    if mode.endswith("-after"):
        assert hit[0].forwarded and hit[0].upstream_status == 200, hit[0]
    else:
        assert hit[0].forwarded is (mode == "delay-before"), hit[0]
    proxy.seen.clear()


def _faulted_save(app, hapi, proxy, variant: str, mode: str, times: int = 1) -> tuple[Trial, bool]:
    """Save under a fault; check the page against the record. Returns the trial and whether it said saved."""
    trial = _new_trial(app, hapi, proxy)
    page = _prepare(variant, trial, hapi, proxy)
    note = f"note {uuid.uuid4().hex[:8]} <b>"
    proxy.arm(mode, times=times)
    response = trial.client.post(f"https://localhost/p/{trial.launch_id}/plan",
                                 data=_save_form(page, keep=["a-hba1c"], target="7.5", note=note))
    proxy.disarm()
    proxy.settle()  # a delayed request lands before the record is checked
    _assert_injected(proxy, mode)
    body = response.get_data(as_text=True)
    said_saved = response.status_code == 303 and "saved=" in response.headers["Location"]
    said_not_saved = 'id="not-saved"' in body
    assert said_saved or said_not_saved, (response.status_code, body[:3000])
    plan = sample_plan(trial.patient, condition_id=f"{trial.patient}-dm", hba1c_id=f"{trial.patient}-a1c",
                       hba1c_version=hapi.read("Observation", f"{trial.patient}-a1c")["meta"]["versionId"])
    drafts = _drafts(hapi, trial)
    same = [c for c in drafts if c["identifier"][0]["value"] == plan_key(plan)]
    assert len(same) <= 1, "duplicate CarePlan"
    assert len(drafts) == {"new": len(same), "edit": 1, "replace": 1 + len(same)}[variant]
    holds = bool(same) and _holds(hapi, same[0], keep=["a-hba1c"], target=7.5, note=note)
    assert said_saved == holds, f"the page said {'saved' if said_saved else 'not saved'}, the record disagrees"
    if said_not_saved:
        assert "</textarea>" in body and note.replace("<", "&lt;").replace(">", "&gt;") + "</textarea>" in body
    if holds:
        careplan = same[0]
        assert _committed_audited(app, trial, "saved", careplan["id"])
        provenances = hapi.search("Provenance", {"target": f"CarePlan/{careplan['id']}"})
        assert len(provenances) == (2 if variant == "edit" else 1), "a write was applied twice"
        if variant == "replace":
            (old,) = [c for c in drafts if c["id"] != careplan["id"]]
            assert old["status"] == "revoked"
    return trial, said_saved


def _faulted_decision(app, hapi, proxy, trial: Trial, mode: str, action: str, times: int = 1) -> bool:
    """Approve or reject the trial's draft under a fault; check the page against the record."""
    plan = sample_plan(trial.patient, condition_id=f"{trial.patient}-dm", hba1c_id=f"{trial.patient}-a1c",
                       hba1c_version=hapi.read("Observation", f"{trial.patient}-a1c")["meta"]["versionId"])
    careplan = next(c for c in _drafts(hapi, trial) if c["identifier"][0]["value"] == plan_key(plan))
    url = f"https://localhost/p/{trial.launch_id}/careplans/{careplan['id']}"
    screen = trial.client.get(url).get_data(as_text=True)
    form = {"csrf_token": _hidden(screen, "csrf_token"), "version": _hidden(screen, "version"),
            "request_id": _hidden(screen, "request_id"), "action": action, "confirm": "yes",
            "plan_reason": "patient moved away" if action == "reject" else "",
            "reject": ["a-hba1c"], "reason-a-hba1c": "done last week"}
    proxy.arm(mode, times=times)
    response = trial.client.post(f"{url}/decision", data=form)
    proxy.disarm()
    proxy.settle()
    _assert_injected(proxy, mode)
    said_done = response.status_code == 303 and "done=1" in response.headers["Location"]
    body = response.get_data(as_text=True)
    assert said_done or 'id="decision-not-recorded"' in body, (response.status_code, body[:3000])
    after = hapi.read("CarePlan", careplan["id"])
    verifiers = [p for p in hapi.search("Provenance", {"target": f"CarePlan/{careplan['id']}"})
                 if p["agent"][0]["type"]["coding"][0]["code"] == "verifier"]
    decided = after["status"] == ("active" if action == "approve" else "revoked")
    assert len(verifiers) == (1 if decided else 0), "a decision was applied twice (or half)"
    assert said_done == decided, f"the page said {'done' if said_done else 'not done'}, the record disagrees"
    if decided:
        assert _committed_audited(app, trial, "approved" if action == "approve" else "rejected", careplan["id"])
    else:
        assert after["status"] == "draft" and 'value="done last week"' in body
    return said_done


@pytest.mark.parametrize("mode", MODES)
def test_faulted_writes__the_page_says_what_the_record_holds(faulty_app, hapi, fault_proxy, mode):
    for variant, action in (("new", "approve"), ("edit", "approve"), ("replace", "reject")):
        trial, saved = _faulted_save(faulty_app, hapi, fault_proxy, variant, mode)
        assert saved, f"{variant}: one {mode} fault lost the clinician's save"
        assert _faulted_decision(faulty_app, hapi, fault_proxy, trial, mode, action), f"{variant}: decision lost"


@pytest.mark.parametrize("mode", ["5xx-before", "drop-before"])
def test_faulted_writes__a_server_that_keeps_failing_is_reported_as_not_saved(faulty_app, hapi, fault_proxy, mode):
    trial, saved = _faulted_save(faulty_app, hapi, fault_proxy, "new", mode, times=10)
    assert not saved
    assert [e.result for e in _outcomes(faulty_app, trial, "saved")] == ["not committed"]
    # The same page saves once the server is back: the clinician's entries were kept.
    page = trial.client.get(f"https://localhost/p/{trial.launch_id}/plan").get_data(as_text=True)
    assert trial.client.post(f"https://localhost/p/{trial.launch_id}/plan", data=_save_form(
        page, keep=["a-hba1c"], target="7.5", note="again")).status_code == 303
    assert not _faulted_decision(faulty_app, hapi, fault_proxy, trial, mode, "approve", times=10)
    assert [e.result for e in _outcomes(faulty_app, trial, "approved")] == ["not committed"]


# -- the two interleavings of the hardening campaign ------------------------------------------------------------

def _someone_else_edits(hapi, trial: Trial) -> None:
    """Another clinician's save of the trial's draft, straight to the record: a new version with their note."""
    (careplan,) = _drafts(hapi, trial)
    careplan = {**careplan, "note": [*careplan.get("note", []), {"text": "edited by a colleague"}]}
    careplan["extension"] = [e for e in careplan.get("extension", []) if "request" not in e.get("url", "")]
    hapi.update(careplan)


def test_interleaving__a_commit_whose_answer_is_lost_then_someone_saves_before_the_read_back(
        faulty_app, hapi, fault_proxy):
    """A's save commits, its answer is lost (502), B saves before A reads back: A is never told 'not sent', and
    the audit records A's commit, not a conflict."""
    trial = _new_trial(faulty_app, hapi, fault_proxy)
    page = _prepare("edit", trial, hapi, fault_proxy)
    fault_proxy.arm("5xx-after", after_forward=lambda: _someone_else_edits(hapi, trial))
    response = trial.client.post(f"https://localhost/p/{trial.launch_id}/plan",
                                 data=_save_form(page, keep=["a-hba1c"], target="7.5", note="A's note"))
    fault_proxy.disarm()
    fault_proxy.settle()
    _assert_injected(fault_proxy, "5xx-after")
    body = response.get_data(as_text=True)
    assert 'id="save-conflict"' not in body and 'id="not-saved"' not in body and "was not sent" not in body
    assert (response.status_code == 303 and "saved=" in response.headers["Location"]) or 'id="save-differs"' in body
    (careplan,) = _drafts(hapi, trial)
    assert [n["text"] for n in careplan["note"]].count("edited by a colleague") == 1  # B's version is current
    assert _committed_audited(faulty_app, trial, "saved", careplan["id"])
    assert all(e.result != "conflict" for e in _outcomes(faulty_app, trial, "saved"))


def _careplan_read(method: str, path: str) -> bool:
    return method == "GET" and "/CarePlan" in path


def test_interleaving__a_read_back_that_fails_after_a_commit_is_unconfirmed_then_reconciled(
        faulty_app, hapi, fault_proxy):
    """The save commits, its answer is lost and every read-back fails: carepath's 'could not confirm, nothing will
    be repeated' notice (never a generic error page); the next page load settles the outcome in the audit chain."""
    trial = _new_trial(faulty_app, hapi, fault_proxy)
    page = _prepare("new", trial, hapi, fault_proxy)
    # every CarePlan read after the commit fails (those before it, the save's own checks, pass)
    fault_proxy.arm("5xx-after", after_forward=lambda: fault_proxy.arm("5xx-before", times=50, match=_careplan_read))
    response = trial.client.post(f"https://localhost/p/{trial.launch_id}/plan",
                                 data=_save_form(page, keep=["a-hba1c"], target="7.5", note="unconfirmed"))
    fault_proxy.disarm()
    fault_proxy.settle()
    body = response.get_data(as_text=True)
    assert response.status_code != 500
    assert 'id="save-unknown"' in body or 'id="unconfirmed-next"' in body, body[:2000]
    assert "could not confirm" in body
    assert [e.result for e in _outcomes(faulty_app, trial, "saved")] == ["unknown"]
    (careplan,) = _drafts(hapi, trial)  # it did commit, once
    # The server answers again: the next page load reconciles the unknown outcome against the record.
    assert trial.client.get(f"https://localhost/p/{trial.launch_id}/plan").status_code == 200
    with faulty_app.app_context():
        settled = [e for e in audit_log().entries(trial.patient) if e.event == "saved" and e.phase == "reconciled"]
    assert [(e.result, e.careplan_id) for e in settled] == [("committed", careplan["id"])]
    with faulty_app.app_context():
        assert audit_log().verify()[2] is None  # the chain, settled entry included, is intact
