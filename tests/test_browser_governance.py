"""Headless chromium opens the committee's pages: the static governance report, the static monitor page, and
``/governance`` with the draft preview inside the sandbox EHR's sidebar frame, for a reviewer on
``GOVERNANCE_ALLOW``; a practitioner who is not on it gets the 403 page. Screenshots land in ``var/screenshots/``.

Everything is real: the sandbox EHR's launch and consent, carepath over the Synthea data in local HAPI, the audit
log the launches write (each plan shown is a ``generated`` entry the monitor counts).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from app.audit import checkpoint_path, configured_path
from app.cli import main
from app.engine import DEFAULT_PACK_DIR
from app.governance.report import build_report, write_governance_report
from app.views.governance import REFUSED_TITLE
from tests.governance_data import NEW_VERSION, proposed_pack
from tests.test_browser_review import _open_chart as open_sidebar

pytestmark = [pytest.mark.integration, pytest.mark.browser]
SCREENSHOTS = Path(__file__).resolve().parent.parent / "var" / "screenshots"
FULL = {"width": 1280, "height": 900}


@pytest.fixture
def practitioners(loaded_hapi) -> tuple[str, str]:
    """Two named Practitioners of the sample data: the reviewer and someone else."""
    page = next(loaded_hapi.search_pages("Practitioner", {"_count": 200, "_sort": "_id"}))
    named = [entry["resource"]["id"] for entry in page.get("entry", []) if entry["resource"].get("name")]
    assert len(named) >= 2, "the local HAPI server holds fewer than two named Practitioners"
    return named[0], named[1]


@pytest.fixture
def reviewer_app(carepath_servers, practitioners, tmp_path):
    """The served carepath with the first practitioner on the allow-list and a proposed version to preview."""
    carepath = carepath_servers("public")
    proposed = proposed_pack(tmp_path / "proposed")
    saved = {key: carepath.app.config.get(key) for key in ("GOVERNANCE_ALLOW", "GOVERNANCE_PREVIEW_PACKS")}
    carepath.app.config.update(GOVERNANCE_ALLOW=[f"Practitioner/{practitioners[0]}"],
                               GOVERNANCE_PREVIEW_PACKS=[str(proposed)])
    yield carepath, proposed
    carepath.app.config.update(saved)


def _open_chart(page, sandbox_ehr, patient: str, practitioner: str):
    """Open the chart in the sandbox EHR as ``practitioner`` and allow carepath (the review walk's steps), then widen
    the sidebar frame for the committee's tables; returns the carepath frame."""
    open_sidebar(page, sandbox_ehr, patient, practitioner)
    page.eval_on_selector("#carepath-frame", f"frame => {{ frame.style.width = '{FULL['width'] - 40}px'; "
                                             f"frame.style.height = '{FULL['height'] - 100}px'; }}")
    return page.frame(name="carepath")


def _shot(page, name: str, *, frame: bool = False) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / name
    (page.locator("#carepath-frame") if frame else page).screenshot(path=str(path), **({} if frame else
                                                                                         {"full_page": True}))
    return path


def test_browser__report_monitor_and_governance_pages_for_a_reviewer_and_refused_to_others(
        chromium, sandbox_ehr, reviewer_app, practitioners, sample_patients, tmp_path, monkeypatch):
    carepath, proposed = reviewer_app
    sandbox_ehr.app_url = carepath.url
    reviewer, other = practitioners
    patient = sample_patients[0]["id"]

    # The static governance report of the proposed version, as the committee receives it.
    report = write_governance_report(build_report(DEFAULT_PACK_DIR, proposed, date(2024, 12, 31)), tmp_path / "out")
    context = chromium.new_context(viewport=FULL)
    page = context.new_page()
    page.goto(report["html"].as_uri())
    assert NEW_VERSION in page.content()
    _shot(page, "governance-report.png")

    # /governance and the preview, in the EHR's frame (the session cookie lives there), as the reviewer.
    frame = _open_chart(page, sandbox_ehr, patient, reviewer)
    plan_url = frame.url
    launch_id = plan_url.split("/p/")[1].split("/")[0]
    frame.goto(f"{carepath.url}/governance")
    frame.locator("#rules").wait_for(timeout=30_000)
    assert frame.locator("#chain-intact").count() == 1, "the audit chain of a fresh log is intact"
    assert frame.locator("#rules tr").count() > 1, "the plan just shown is counted"
    assert patient not in frame.content()
    _shot(page, "governance-page.png", frame=True)
    frame.goto(f"{carepath.url}/p/{launch_id}/governance/preview")
    frame.locator("#draft-1").wait_for(timeout=60_000)
    assert f"Draft version {NEW_VERSION}" in frame.content()
    _shot(page, "governance-preview.png", frame=True)
    context.close()

    # The static monitor page of the same audit log.
    monkeypatch.setenv("CAREPATH_AUDIT_CHECKPOINT_FILE", str(checkpoint_path(carepath.app.config)))
    monitor_html = tmp_path / "monitor.html"
    assert main(["monitor", "--db", str(configured_path(None, carepath.app.config)), "--format", "html",
                 "--out", str(monitor_html)]) == 0
    context = chromium.new_context(viewport=FULL)
    page = context.new_page()
    page.goto(monitor_html.as_uri())
    assert page.locator("#chain-intact").count() == 1 and page.locator("#rules tr").count() > 1
    _shot(page, "governance-monitor.png")
    context.close()

    # Another practitioner, signed in the same way: refused, on /governance and on the preview.
    context = chromium.new_context(viewport=FULL)
    page = context.new_page()
    frame = _open_chart(page, sandbox_ehr, patient, other)
    launch_id = frame.url.split("/p/")[1].split("/")[0]
    for path in ("/governance", f"/p/{launch_id}/governance/preview"):
        response = frame.goto(f"{carepath.url}{path}")
        assert response.status == 403 and REFUSED_TITLE in frame.content()
    _shot(page, "governance-refused.png", frame=True)
    context.close()
