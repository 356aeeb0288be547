"""Headless chromium walks launch -> plan -> edit -> save -> approve -> relaunch in the sandbox EHR's sidebar
(a cross-site iframe of 400 x 860 px, as a clinician sees it).

Everything is real: the sandbox EHR's launch and consent, carepath's engine and packs over the Synthea data
in local HAPI, the write through the sandbox's scope-checking FHIR proxy. Screenshots of the sidebar land in
``var/screenshots/``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from app.careplan.model import TAG, goal_key
from app.careplan.review import identifier_of
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


SIDEBAR = {"width": 400, "height": 860}
#: Elements wider than the sidebar (right edge past the viewport), as "tag.class" names; [] when none.
OVERFLOW = """() => {
  const width = document.documentElement.clientWidth;
  const wide = [...document.querySelectorAll('body *')].filter(element => {
    const box = element.getBoundingClientRect();
    return box.width > 0 && (box.right > width + 0.5 || box.left < -0.5);
  });
  return [document.documentElement.scrollWidth - width,
          wide.slice(0, 8).map(element => element.tagName.toLowerCase() + '.' + element.className)];
}"""


#: True when the element is on the first screen of the page as it is scrolled now.
IN_VIEW = """selector => { const box = document.querySelector(selector).getBoundingClientRect();
                           return box.top >= 0 && box.bottom <= window.innerHeight; }"""


def _sidebar(page, size=SIDEBAR) -> None:
    """Size the carepath iframe like an EHR sidebar."""
    page.eval_on_selector("#carepath-frame", f"frame => {{ frame.style.width = '{size['width']}px'; "
                                             f"frame.style.height = '{size['height']}px'; }}")


def _sidebar_shot(page, name: str) -> Path:
    """Screenshot of the carepath iframe as it is, scrolled to the top."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.frame(name="carepath").evaluate("window.scrollTo(0, 0)")
    path = SCREENSHOTS / name
    page.locator("#carepath-frame").screenshot(path=str(path))
    return path


def _assert_fits(page, where: str) -> None:
    """Nothing on the page is wider than the sidebar (no horizontal scrolling, no element past its edge)."""
    extra, wide = page.frame(name="carepath").evaluate(OVERFLOW)
    assert extra <= 0 and wide == [], f"{where}: {extra}px of horizontal overflow, elements {wide}"


def _open_chart(page, sandbox_ehr, patient: str, practitioner: str):
    """Open the patient's chart in the sandbox EHR and allow carepath on the EHR's consent page."""
    page.goto(f"{sandbox_ehr.base_url}/", wait_until="load")
    page.select_option("#patient", patient)
    page.select_option("#practitioner", practitioner)
    page.click("#open-chart")
    sidebar = page.frame_locator("#carepath-frame")
    sidebar.locator("#allow").click(timeout=30_000)
    sidebar.locator("#actions").wait_for(timeout=60_000)  # the launch lands on the plan itself
    _sidebar(page)
    return sidebar


def test_browser__launch_edit_save_approve_relaunch_in_a_400px_sidebar(chromium, sandbox_ehr, carepath_servers,
                                                                        sample_practitioner, diabetic_patient,
                                                                        loaded_hapi, assert_no_secret_logged):
    carepath = carepath_servers("public")
    sandbox_ehr.app_url = carepath.url
    context = chromium.new_context(viewport={"width": 1280, "height": 1000})
    page = context.new_page()
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    try:
        sidebar = _open_chart(page, sandbox_ehr, diabetic_patient, sample_practitioner)
        frame = page.frame(name="carepath")
        # The EHR's smart_style_url colours, fetched server-side and served as carepath's own stylesheet: waited for
        # (the stylesheet may still be loading under load), and a failure if it never applies.
        frame.wait_for_function("getComputedStyle(document.documentElement).getPropertyValue('--accent').trim() "
                                "=== '#23395d'", timeout=30_000)

        # Actions first: the first proposed action and the Save button are on the first screen, unscrolled.
        first = sidebar.locator("li.action").first
        assert first.bounding_box()["y"] + first.bounding_box()["height"] <= page.locator(
            "#carepath-frame").bounding_box()["y"] + SIDEBAR["height"]
        assert frame.evaluate(IN_VIEW, "#save")
        assert frame.evaluate("window.scrollY") == 0
        _sidebar_shot(page, "plan-400x860.png")
        _assert_fits(page, "plan")

        # An open rationale (values used, record links, citation) still fits, at 400 and at 320 px.
        first.locator("summary").click()
        assert first.locator(".citation a").first.get_attribute("href").startswith("https://")
        assert first.locator("a.source").count() >= 1 and "/" not in first.locator("a.source").first.inner_text()
        sidebar.locator("details").evaluate_all("all => all.forEach(d => { d.open = true; })")
        _assert_fits(page, "plan with every section open")
        _sidebar(page, {"width": 320, "height": 860})
        _assert_fits(page, "plan at 320 px")
        _sidebar_shot(page, "plan-open-320.png")
        _sidebar(page)

        # Review: change a goal's target within bounds, untick an activity, add a note, save.
        goal = sidebar.locator("li.goal").filter(has=sidebar.locator("input[type=number]")).first
        goal_id = goal.get_attribute("id").removeprefix("goal-")
        target = goal.locator("input[type=number]")
        new_value = float(target.get_attribute("max"))
        target.fill(f"{new_value:g}")
        activities = sidebar.locator("li.action input[type=checkbox]")
        assert activities.count() >= 2
        dropped = activities.last.get_attribute("value")
        activities.last.uncheck()
        sidebar.locator("#note").fill("Discussed the plan with the patient.")
        sidebar.locator("#save").click()
        sidebar.locator("#saved").wait_for(timeout=60_000)
        assert len(sidebar.locator(".notice[role=status]").all()) == 1  # one notice says it, not two
        status = sidebar.locator("#resumed").inner_text()
        assert "Draft in the record, last saved" in status and "UTC" in status and "CarePlan/" not in status
        edited = sidebar.locator(f'[id="goal-{goal_id}"] .goal-line').inner_text()
        assert f"{new_value:g}" in edited

        # The saved FHIR: the Goal's description and target both say the edited value.
        saved = _latest_plan(loaded_hapi, diabetic_patient, "draft")
        saved_goal = _goal_of(loaded_hapi, saved, goal_id)
        assert saved_goal["target"][0]["detailQuantity"]["value"] == new_value
        assert f"{new_value:g}" in saved_goal["description"]["text"]

        # Approve: the page shows the edited goal and names people, not ids; reject one activity; approve.
        sidebar.locator("#open-draft").click()
        sidebar.locator("#approve").wait_for(timeout=30_000)
        _assert_fits(page, "approve page")
        assert page.frame(name="carepath").evaluate(IN_VIEW, "#approve")  # Approve reachable without scrolling
        _sidebar_shot(page, "approve-400x860.png")
        assert sidebar.locator("#plan-status").inner_text() == "draft"
        assert saved_goal["description"]["text"] in sidebar.locator("#goals-h + ul").inner_text()
        meta = sidebar.locator("#plan-meta").inner_text()
        assert "Draft saved" in meta and "Practitioner/" not in meta and "CarePlan/" not in meta
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
        _sidebar_shot(page, "approved-400x860.png")

        # Relaunch: the approved plan, with the edited target, is what the plan page shows.
        sidebar = _open_chart(page, sandbox_ehr, diabetic_patient, sample_practitioner)
        sidebar.locator("#decided").wait_for(timeout=30_000)
        assert f"{new_value:g}" in sidebar.locator(f'[id="goal-{goal_id}"] .goal-line').inner_text()
        _sidebar_shot(page, "relaunch-400x860.png")
    finally:
        context.close()

    careplan = _latest_plan(loaded_hapi, diabetic_patient, "active")
    statuses = {_item(a): a["detail"]["status"] for a in careplan["activity"]}
    assert statuses[dropped] == "cancelled" and statuses[rejected] == "cancelled"
    assert careplan["note"][0]["text"] == "Discussed the plan with the patient."
    assert careplan["note"][0]["authorReference"]["reference"].endswith(f"Practitioner/{sample_practitioner}")
    goals = [loaded_hapi.read("Goal", ref["reference"].split("/")[-1]) for ref in careplan["goal"]]
    assert {g["lifecycleStatus"] for g in goals} == {"accepted"}
    approved_goal = _goal_of(loaded_hapi, careplan, goal_id)
    assert approved_goal["target"][0]["detailQuantity"]["value"] == new_value
    assert f"{new_value:g}" in approved_goal["description"]["text"]
    external = [url for url in requested if not url.startswith(("http://127.0.0.1", "http://localhost"))]
    assert external == []
    assert_no_secret_logged()


def _latest_plan(hapi, patient: str, status: str) -> dict:
    careplans = hapi.search("CarePlan", {"subject": f"Patient/{patient}", "status": status,
                                         "_tag": f"{TAG['system']}|{TAG['code']}"})
    return max(careplans, key=lambda c: c["meta"]["lastUpdated"])


def _goal_of(hapi, careplan: dict, goal_id: str) -> dict:
    """The saved Goal for the plan's goal ``goal_id`` (by its deterministic identifier)."""
    key = goal_key(identifier_of(careplan), goal_id)
    goals = [hapi.read("Goal", ref["reference"].split("/")[-1]) for ref in careplan["goal"]]
    return next(g for g in goals if any(i.get("value") == key for i in g.get("identifier", [])))


def _item(activity: dict) -> str:
    return next(e["valueString"] for e in activity["extension"] if e["url"].endswith("/rationale-item"))
