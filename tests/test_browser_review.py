"""Headless chromium walks review -> edit -> save -> approve in the sandbox EHR's sidebar (cross-site iframe).

Everything is real: the sandbox EHR's launch and consent, carepath's engine and packs over the Synthea data
in local HAPI, the write through the sandbox's scope-checking FHIR proxy. Screenshots of the sidebar at
400 px wide land in ``var/screenshots/``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from app.careplan.model import TAG
from tests.careplan_sample import remove_carepath_plans

pytestmark = [pytest.mark.integration, pytest.mark.browser]
SCREENSHOTS = Path(__file__).resolve().parent.parent / "var" / "screenshots"


@pytest.fixture
def diabetic_patient(loaded_hapi) -> str:
    """A Synthea patient with type 2 diabetes, without carepath plans left by earlier runs."""
    conditions = loaded_hapi.search("Condition", {"code": "http://snomed.info/sct|44054006", "_count": 50})
    patient = sorted({c["subject"]["reference"].split("/")[-1] for c in conditions})[0]
    remove_carepath_plans(loaded_hapi, patient)
    return patient


def _sidebar_shot(page, name: str) -> Path:
    """Screenshot of the carepath iframe, set to exactly 400 px wide."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.eval_on_selector("#carepath-frame", "frame => { frame.style.width = '400px'; }")
    page.frame(name="carepath").evaluate("window.scrollTo(0, 0)")
    path = SCREENSHOTS / name
    page.locator("#carepath-frame").screenshot(path=str(path))
    return path


def test_browser__review_edit_save_approve_in_the_ehr_sidebar(chromium, sandbox_ehr, carepath_servers,
                                                              sample_practitioner, diabetic_patient, loaded_hapi,
                                                              assert_no_secret_logged):
    carepath = carepath_servers("public")
    sandbox_ehr.app_url = carepath.url
    context = chromium.new_context(viewport={"width": 1280, "height": 1000})
    page = context.new_page()
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    try:
        page.goto(f"{sandbox_ehr.base_url}/", wait_until="load")
        page.select_option("#patient", diabetic_patient)
        page.select_option("#practitioner", sample_practitioner)
        page.click("#open-chart")
        sidebar = page.frame_locator("#carepath-frame")
        sidebar.locator("#allow").click(timeout=30_000)
        sidebar.locator("#patient-name").wait_for(timeout=30_000)
        frame = page.frame(name="carepath")
        sidebar.locator("#open-plan").click()  # the clinician's way from the patient page to the plan
        sidebar.locator("#save").wait_for(timeout=60_000)
        # The EHR's smart_style_url colours, fetched server-side and served as carepath's own stylesheet: waited for
        # (the stylesheet may still be loading under load), and a failure if it never applies.
        frame.wait_for_function("getComputedStyle(document.documentElement).getPropertyValue('--accent').trim() "
                                "=== '#23395d'", timeout=30_000)

        # Review: open a goal's rationale, change its target within bounds, untick an activity, add a note.
        goal = sidebar.locator("li.goal").filter(has=sidebar.locator("input[type=number]")).first
        goal.locator("summary").click()
        assert goal.locator(".citation a").first.get_attribute("href").startswith("https://")
        target = goal.locator("input[type=number]")
        new_value = float(target.get_attribute("max"))
        target.fill(f"{new_value:g}")
        activities = sidebar.locator("li.activity input[type=checkbox]")
        assert activities.count() >= 2
        dropped = activities.last.get_attribute("value")
        activities.last.uncheck()
        sidebar.locator("#note").fill("Discussed the plan with the patient.")
        shot = _sidebar_shot(page, "review-400.png")
        assert shot.stat().st_size > 10_000

        sidebar.locator("#save").click()
        sidebar.locator("#saved").wait_for(timeout=60_000)
        sidebar.locator("#open-draft").click()

        # Approve: reject one more activity with a reason, confirm, approve.
        sidebar.locator("#approve").wait_for(timeout=30_000)
        assert sidebar.locator("#plan-status").inner_text() == "draft"
        first_reject = sidebar.locator("input[name=reject]").first
        rejected = first_reject.get_attribute("value")
        first_reject.check()
        reason = sidebar.locator(f'[id="reason-{rejected}"]')
        reason.fill("done last month elsewhere")
        sidebar.locator("#approve").click()
        assert "confirmation" in sidebar.locator("#decision-error").inner_text(timeout=30_000)
        assert reason.input_value() == "done last month elsewhere"  # kept after the refused submit
        sidebar.locator("#confirm").check()
        sidebar.locator("#approve").click()
        sidebar.locator("#plan-status", has_text="active").wait_for(timeout=60_000)
        _sidebar_shot(page, "approved-400.png")
    finally:
        context.close()

    careplans = loaded_hapi.search("CarePlan", {"subject": f"Patient/{diabetic_patient}", "status": "active",
                                                "_tag": f"{TAG['system']}|{TAG['code']}"})
    careplan = max(careplans, key=lambda c: c["meta"]["lastUpdated"])
    statuses = {_item(a): a["detail"]["status"] for a in careplan["activity"]}
    assert statuses[dropped] == "cancelled" and statuses[rejected] == "cancelled"
    assert careplan["note"][0]["text"] == "Discussed the plan with the patient."
    assert careplan["note"][0]["authorReference"]["reference"].endswith(f"Practitioner/{sample_practitioner}")
    goals = [loaded_hapi.read("Goal", ref["reference"].split("/")[-1]) for ref in careplan["goal"]]
    assert {g["lifecycleStatus"] for g in goals} == {"active"}
    assert new_value in [t["detailQuantity"]["value"] for g in goals for t in g.get("target", [])]
    external = [url for url in requested if not url.startswith(("http://127.0.0.1", "http://localhost"))]
    assert external == []
    assert_no_secret_logged()


def _item(activity: dict) -> str:
    return next(e["valueString"] for e in activity["extension"] if e["url"].endswith("/rationale-item"))
