"""``/governance`` and the draft preview: only a reviewer on ``GOVERNANCE_ALLOW``, signed in through a SMART launch,
opens them; the page shows exactly ``carepath monitor``'s numbers for the same audit log, a broken chain, and no
patient identifier or token; the MeasureReport endpoint; the preview shows ``cohort diff``'s differences."""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
from datetime import date
from html.parser import HTMLParser
from pathlib import Path

import pytest
import responses

from app import create_app
from app.audit import AuditLog
from app.careplan.review import plan_from_facts
from app.cli import main
from app.context import facts_from_bundle
from app.engine import DEFAULT_PACK_DIR
from app.governance.access import allow_list, is_reviewer
from app.governance.measure import measure_report
from app.governance.preview import preview_folders
from app.governance.report import build_report, write_governance_report
from app.views import governance as governance_views
from app.views.governance import REFUSED_TITLE
from tests.governance_data import BP_FILE, proposed_pack, systolic_127_bundle
from tests.test_governance_monitor import MEASURE, PATIENTS, audit, pack  # noqa: F401 - fixtures

BASE = "http://fhir.example.org/fhir"
TOKEN = "access-token-never-shown"
ALICE = "Practitioner/alice"


@pytest.fixture
def governance_app(tmp_path, audit, pack):  # noqa: F811 - the fixtures imported above
    return create_app({"TESTING": True, "SECRET_KEY": "test", "VAR_DIR": str(tmp_path / "var"),
                       "AUDIT_DB": str(audit.path), "PACK_DIR": str(pack), "SMART_ALLOWED_ISS": [BASE],
                       "SMART_OPEN_SERVERS": [BASE], "GOVERNANCE_ALLOW": [ALICE], "REVIEW_AS_OF": "2024-12-31"})


def _launched(app, fhir_user: str | None, *, open_server: bool = False):
    """A browser with a launch of ``fhir_user`` for patient p1, as the EHR's authorization leaves it stored."""
    client = app.test_client()
    with responses.RequestsMock(assert_all_requests_are_fired=False):
        launched = client.get(f"https://localhost/launch?iss={BASE}&patient=p1")
    launch_id = launched.headers["Location"].split("/p/")[1].split("/")[0]
    smart = app.extensions["carepath_smart"]
    smart.store.put("launch", launch_id, {**smart.load(launch_id), "fhir_user": fhir_user, "open_server": open_server,
                                          "access_token": TOKEN, "expires_at": None}, ttl=600)
    return client, launch_id


class _Rows(HTMLParser):
    """The text of each cell of the table ``id=rules``, row by row."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self._in_table = self._in_cell = False

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self._in_table = dict(attrs).get("id") == "rules"
        elif self._in_table and tag == "tr":
            self.rows.append([])
        elif self._in_table and tag == "td":
            self._in_cell = True
            self.rows[-1].append("")

    def handle_endtag(self, tag):
        if tag == "table":
            self._in_table = False
        elif tag == "td":
            self._in_cell = False

    def handle_data(self, data):
        if self._in_table and self._in_cell:
            self.rows[-1][-1] += data.strip()


def test_governance_page__a_reviewer_sees_exactly_the_monitors_numbers(governance_app, audit, pack, capsys):  # noqa: F811
    client, _launch_id = _launched(governance_app, ALICE)

    response = client.get("https://localhost/governance")

    page = response.get_data(as_text=True)
    assert response.status_code == 200, page
    assert main(["monitor", "--db", str(audit.path), "--packs", str(pack)]) == 0
    document = json.loads(capsys.readouterr().out)
    parser = _Rows()
    parser.feed(page)
    shown = [(cells[0], cells[1], *map(int, (cells[2], cells[3], cells[4], cells[6], cells[7])))
             for cells in parser.rows if cells]
    expected = [(row["rule"], row["packVersion"], row["proposed"], row["accepted"], row["rejected"],
                 row["cdsAccepted"], row["overridden"]) for row in document["rules"]]
    assert shown == expected and len(shown) == 3
    assert 'id="chain-intact"' in page and f"For review: {MEASURE}" in page
    assert "Patient declined: 2" in page
    assert not any(patient in page for patient in PATIENTS) and TOKEN not in page
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]


def test_governance_page__over_time_by_month(governance_app, audit):  # noqa: F811
    client, _launch_id = _launched(governance_app, ALICE)
    month = audit.entries()[0].at[:7]
    page = client.get("https://localhost/governance").get_data(as_text=True)
    assert 'id="months"' in page and f"<td>{month}</td>" in page


@pytest.mark.parametrize("fhir_user, open_server", [
    ("Practitioner/bob", False),      # signed in, not on the allow-list
    ("Patient/alice", False),         # not a practitioner, whatever the id
    (None, False),                    # the EHR named no user
    (ALICE, True),                    # an open-server launch: nobody signed in
])
@pytest.mark.parametrize("path", ["/governance", "/governance/MeasureReport"])
def test_governance_page__anyone_else_is_refused(governance_app, fhir_user, open_server, path):
    client, _launch_id = _launched(governance_app, fhir_user, open_server=open_server)
    response = client.get(f"https://localhost{path}")
    page = response.get_data(as_text=True)
    assert response.status_code == 403 and REFUSED_TITLE in page and "CAREPATH_GOVERNANCE_ALLOW" in page
    assert MEASURE not in page


def test_governance_page__without_any_launch_is_refused(governance_app):
    response = governance_app.test_client().get("https://localhost/governance")
    assert response.status_code == 403


def test_governance_page__an_ended_launch_does_not_open_it(governance_app):
    client, launch_id = _launched(governance_app, ALICE)
    governance_app.extensions["carepath_smart"].end(launch_id)
    assert client.get("https://localhost/governance").status_code == 403


def test_governance_page__a_broken_chain_is_shown_and_output_is_escaped(governance_app, audit):  # noqa: F811
    audit.record("generated", actor=ALICE, patient_id="p-three", packs=["x|1"],
                 detail={"rules": ["<script>alert(1)</script>"]})
    connection = sqlite3.connect(audit.path)
    connection.execute("DROP TRIGGER audit_no_update")
    connection.execute("UPDATE audit SET detail = ? WHERE seq = 1", (json.dumps({"rules": [MEASURE] * 5}),))
    connection.commit()
    connection.close()
    client, _launch_id = _launched(governance_app, ALICE)

    page = client.get("https://localhost/governance").get_data(as_text=True)

    assert 'id="chain-broken"' in page and "entry 1" in page
    assert "<script>alert(1)" not in page and "&lt;script&gt;alert(1)" in page


def _check_r4_measure_report(resource: dict) -> None:
    """The elements R4 requires of a MeasureReport (1..1) and of its groups' populations, with their value sets."""
    assert resource["resourceType"] == "MeasureReport"
    assert resource["status"] in ("complete", "pending", "error")
    assert resource["type"] in ("individual", "subject-list", "summary", "data-collection")
    assert isinstance(resource["measure"], str) and resource["measure"].startswith("http")
    assert date.fromisoformat(resource["period"]["start"][:10]) <= date.fromisoformat(resource["period"]["end"][:10])
    assert "subject" not in resource
    for group in resource["group"]:
        assert group["code"]["coding"][0]["code"]
        for population in group["population"]:
            assert population["code"]["coding"][0]["system"] and isinstance(population["count"], int)
        if "measureScore" in group:
            assert 0 <= group["measureScore"]["value"] <= 1


def test_measure_report__one_group_per_rule_with_the_monitors_populations(governance_app, audit, pack,  # noqa: F811
                                                                         capsys):
    assert main(["monitor", "--db", str(audit.path), "--packs", str(pack), "--format", "measurereport"]) == 0
    report = json.loads(capsys.readouterr().out)

    _check_r4_measure_report(report)
    assert (report["status"], report["type"]) == ("complete", "summary")
    groups = {group["code"]["coding"][0]["code"]: group for group in report["group"]}
    counts = {p["code"]["coding"][0]["code"]: p["count"] for p in groups[MEASURE]["population"]}
    assert counts == {"proposed": 2, "accepted": 1, "rejected": 1, "cds-accepted": 1, "overridden": 2}
    assert groups[MEASURE]["measureScore"]["value"] == 0.4
    assert {"url": "http://carepath.dev/fhir/StructureDefinition/flagged-for-review", "valueBoolean": True} \
        in groups[MEASURE]["extension"]
    assert not any(patient in json.dumps(report) for patient in PATIENTS)

    client, _launch_id = _launched(governance_app, ALICE)
    response = client.get("https://localhost/governance/MeasureReport")
    served = response.get_json(force=True)
    assert response.mimetype == "application/fhir+json"
    assert [g["population"] for g in served["group"]] == [g["population"] for g in report["group"]]


def test_measure_report__a_broken_chain_is_an_error_report():
    document = {"chain": {"intact": False, "problem": "entry 3 was altered", "entries": 5}, "since": None,
                "period": {"start": None, "end": None}, "rules": []}
    report = measure_report(document)
    _check_r4_measure_report(report)
    assert report["status"] == "error" and "entry 3 was altered" in report["extension"][0]["valueString"]


@pytest.mark.parametrize("fhir_user, iss, allowed, expected", [
    ("Practitioner/alice", BASE, ["Practitioner/alice"], True),
    ("Practitioner/alice", BASE, [f"{BASE}/Practitioner/alice"], True),
    ("Practitioner/alice", "http://other.example.org/fhir", [f"{BASE}/Practitioner/alice"], False),
    ("http://other.example.org/fhir/Practitioner/alice", BASE, ["Practitioner/alice"], False),
    ("PractitionerRole/r1", BASE, ["PractitionerRole/r1"], True),
    ("Patient/alice", BASE, ["Patient/alice"], False),
    ("Practitioner/alicia", BASE, ["Practitioner/alice"], False),
    ("Practitioner/alice", BASE, [], False),
])
def test_is_reviewer__relative_and_absolute_references(fhir_user, iss, allowed, expected):
    assert is_reviewer(fhir_user, iss, open_server=False, allowed=allowed) is expected


def test_allow_list__json_or_comma_separated():
    assert allow_list('["Practitioner/a", "Practitioner/b"]') == allow_list("Practitioner/a, Practitioner/b/") \
        == ["Practitioner/a", "Practitioner/b"]
    assert allow_list(None) == []


@pytest.fixture
def preview_app(governance_app, tmp_path, monkeypatch):
    """The app with the proposed copy (SBP 130 -> 125) named for preview; the patient's facts come from a Bundle
    (read with each pack's own requirements, as the FHIR fetch would) instead of a FHIR server."""
    proposed = proposed_pack(tmp_path / "proposed")
    governance_app.config["GOVERNANCE_PREVIEW_PACKS"] = [str(proposed)]
    bundle = systolic_127_bundle()

    def plan_for_patient(client, patient_id, packs, as_of):
        facts = facts_from_bundle(bundle, packs.requirements, as_of)
        return plan_from_facts(facts, packs, as_of, patient_id), facts

    monkeypatch.setattr(governance_views, "plan_for_patient", plan_for_patient)
    return governance_app


@responses.activate
def test_preview__a_reviewer_sees_the_draft_beside_the_active_plan_and_the_differences(preview_app, audit):  # noqa: F811
    responses.get(f"{BASE}/Patient/p1", json=systolic_127_bundle()["entry"][0]["resource"])
    client, launch_id = _launched(preview_app, ALICE)

    response = client.get(f"https://localhost/p/{launch_id}/governance/preview")

    page = response.get_data(as_text=True)
    assert response.status_code == 200, page
    assert "Draft version 2025.2.0" in page and "In use, version 2025.1.0" in page
    assert "htn.confirm-out-of-office" in page and 'class="change-added"' in page
    assert "Preview" in page and TOKEN not in page
    [previewed] = [entry for entry in audit.entries() if entry.event == "previewed"]
    assert previewed.actor == ALICE and previewed.patient_id == "p1"
    assert any(canonical.endswith("|2025.2.0") for canonical in previewed.packs)
    assert audit.check().problem is None


def test_preview__a_non_reviewer_is_refused_and_nothing_is_read(preview_app):
    client, launch_id = _launched(preview_app, "Practitioner/bob")
    with responses.RequestsMock():  # any FHIR request would fail the test
        response = client.get(f"https://localhost/p/{launch_id}/governance/preview")
    assert response.status_code == 403 and REFUSED_TITLE in response.get_data(as_text=True)


def test_preview_folders__a_governance_report_stands_for_its_proposed_folder(tmp_path):
    proposed = proposed_pack(tmp_path / "next")
    paths = write_governance_report(build_report(DEFAULT_PACK_DIR, proposed, date(2024, 12, 31)), tmp_path / "out")

    folders, problems = preview_folders([str(paths["json"]), "/packs/other"], tmp_path / "var")

    assert [folder for folder, _source in folders] == [proposed, Path("/packs/other")] and problems == []
    (proposed / BP_FILE).write_text((proposed / BP_FILE).read_text(encoding="utf-8") + " ", encoding="utf-8")
    folders, problems = preview_folders([str(paths["json"])], tmp_path / "var")
    assert folders == [] and BP_FILE in problems[0] and "content hashes differ" in problems[0]


def _record(var: Path, current: Path, proposed: Path, out: Path, monkeypatch) -> None:
    """``carepath governance report`` as the committee runs it, recording into the app's VAR_DIR."""
    monkeypatch.setenv("CAREPATH_VAR_DIR", str(var))
    assert main(["governance", "report", "--current", str(current), "--proposed", str(proposed),
                 "--as-of", "2024-12-31", "--out", str(out)]) == 0


@pytest.fixture
def latest_app(preview_app, tmp_path, monkeypatch):
    """No draft named in GOVERNANCE_PREVIEW_PACKS; two reports recorded, the latest for the proposed copy."""
    preview_app.config["GOVERNANCE_PREVIEW_PACKS"] = []
    var = Path(preview_app.config["VAR_DIR"])
    older = Path(shutil.copytree(DEFAULT_PACK_DIR, tmp_path / "older"))
    _record(var, DEFAULT_PACK_DIR, older, tmp_path / "report-older", monkeypatch)
    _record(var, DEFAULT_PACK_DIR, tmp_path / "proposed", tmp_path / "report-latest", monkeypatch)
    return preview_app


@responses.activate
def test_preview__without_a_named_draft_the_latest_governance_report_is_previewed(latest_app, tmp_path):
    responses.get(f"{BASE}/Patient/p1", json=systolic_127_bundle()["entry"][0]["resource"])
    client, launch_id = _launched(latest_app, ALICE)

    page = client.get(f"https://localhost/p/{launch_id}/governance/preview").get_data(as_text=True)

    assert 'id="draft-1"' in page and 'id="draft-2"' not in page, "only the latest report, not every one"
    assert "Draft version 2025.2.0" in page and "htn.confirm-out-of-office" in page
    assert "the latest governance report" in page and str(tmp_path / "report-latest" / "governance.json") in page
    assert 'class="error"' not in page
    monitor = client.get("https://localhost/governance").get_data(as_text=True)
    assert 'id="preview-link"' in monitor


@pytest.mark.parametrize("change", ["edited", "removed"])
@responses.activate
def test_preview__the_latest_report_is_refused_once_its_proposed_folder_changed(latest_app, tmp_path, change):
    proposed = tmp_path / "proposed"
    if change == "edited":
        text = (proposed / BP_FILE).read_text(encoding="utf-8")
        (proposed / BP_FILE).write_text(text.replace("%facts.bp.sbp >= 125", "%facts.bp.sbp >= 120"),
                                        encoding="utf-8")
    else:
        shutil.rmtree(proposed)
    responses.get(f"{BASE}/Patient/p1", json=systolic_127_bundle()["entry"][0]["resource"])
    client, launch_id = _launched(latest_app, ALICE)

    response = client.get(f"https://localhost/p/{launch_id}/governance/preview")

    page = response.get_data(as_text=True)
    assert response.status_code == 200 and "Draft version" not in page and 'id="no-drafts"' not in page
    [problem] = re.findall(r'<p class="error" role="alert">([^<]*)</p>', page)
    assert "The latest governance report" in problem and "is not previewed" in problem
    assert (f"content hashes differ: {BP_FILE}" if change == "edited" else "no such pack folder") in problem


def test_preview__no_report_recorded_and_none_named_says_so(preview_app):
    preview_app.config["GOVERNANCE_PREVIEW_PACKS"] = []
    client, launch_id = _launched(preview_app, ALICE)
    assert 'id="preview-link"' not in client.get("https://localhost/governance").get_data(as_text=True)
    with responses.RequestsMock() as server:
        server.get(f"{BASE}/Patient/p1", json={"resourceType": "Patient", "id": "p1"})
        page = client.get(f"https://localhost/p/{launch_id}/governance/preview").get_data(as_text=True)
    assert 'id="no-drafts"' in page and "has recorded no report" in page and "Draft version" not in page


def test_audit_log__accepts_a_preview_entry(tmp_path):
    log = AuditLog(tmp_path / "audit.sqlite3")
    log.record("previewed", actor=ALICE, patient_id="p1", packs=["x|1"])
    assert [entry.event for entry in log.entries()] == ["previewed"]


@responses.activate
def test_preview__with_every_bundled_pack_in_use_the_draft_replaces_only_its_own_pack(preview_app, audit):  # noqa: F811
    """The default setting (PACK_DIR empty: the primary-care and pediatric packs): a draft of the adult pack is shown
    beside both packs in use, takes the adult pack's place only, and the differences are the draft's own."""
    preview_app.config["PACK_DIR"] = ""
    preview_app.extensions.pop("carepath_packs", None)
    responses.get(f"{BASE}/Patient/p1", json=systolic_127_bundle()["entry"][0]["resource"])
    client, launch_id = _launched(preview_app, ALICE)

    response = client.get(f"https://localhost/p/{launch_id}/governance/preview")

    page = response.get_data(as_text=True)
    assert response.status_code == 200, page
    assert "Draft version 2025.2.0" in page and "In use, version 2025.1.0, 2026.1.0" in page
    assert "htn.confirm-out-of-office" in page and 'class="change-added"' in page
    assert "peds." not in page.split('id="draft-1"', 1)[1].split("change-added", 1)[0]  # no pediatric item removed
