"""Headless chromium in the sandbox EHR's 400 px sidebar: move an action from this visit to later and one from
later to this visit, change a date, save; the patient copy in English and Spanish shows it; then back again, and
the saved CarePlan carries the schedule in ``activity.detail.scheduledTiming`` (local HAPI with the Synthea data,
as in test_browser_review.py)."""

from __future__ import annotations

import pytest

from tests.test_browser_review import (  # noqa: F401 (diabetic_patient: the fixture, shared)
    _assert_fits,
    _item,
    _latest_plan,
    _open_chart,
    _sidebar_shot,
    diabetic_patient,
)

pytestmark = [pytest.mark.integration, pytest.mark.browser]
VISIT_SCHEDULE_URL = "http://carepath.dev/fhir/StructureDefinition/visit-schedule"


def _placement(activity: dict) -> tuple[str, str]:
    """(this-visit | later, the scheduled date) of a saved CarePlan activity."""
    schedule = next(ext for ext in activity["extension"] if ext["url"] == VISIT_SCHEDULE_URL)
    placement = next(part["valueCode"] for part in schedule["extension"] if part["url"] == "placement")
    return placement, activity["detail"]["scheduledTiming"]["event"][0]


def test_browser__move_an_action_to_later_and_back_and_the_careplan_carries_the_schedule(
        chromium, sandbox_ehr, carepath_servers, sample_practitioner, diabetic_patient, loaded_hapi):  # noqa: F811
    carepath = carepath_servers("public")
    sandbox_ehr.app_url = carepath.url
    context = chromium.new_context(viewport={"width": 1280, "height": 1000})
    page = context.new_page()
    try:
        sidebar = _open_chart(page, sandbox_ehr, diabetic_patient, sample_practitioner)
        this_visit = sidebar.locator("#this-visit > li.action:not(.action-safety)")
        later = sidebar.locator("#later > li.action")
        assert sidebar.locator("#this-visit > li.action").count() <= 5 and later.count() >= 1
        assert sidebar.locator("#this-visit .place").first.inner_text()  # each place says why
        _assert_fits(page, "plan with the schedule")
        _sidebar_shot(page, "schedule-400x860.png")

        deferred = this_visit.last.get_attribute("id").removeprefix("activity-")
        brought = later.first.get_attribute("id").removeprefix("activity-")
        sidebar.locator(f'[id="when-{deferred}"]').select_option("later")
        sidebar.locator(f'[id="date-{deferred}"]').fill("2031-02-03")
        sidebar.locator(f'[id="when-{brought}"]').select_option("this-visit")
        sidebar.locator("#save").click()
        sidebar.locator("#saved").wait_for(timeout=60_000)
        saved = {_item(a): a for a in _latest_plan(loaded_hapi, diabetic_patient, "draft")["activity"]}
        assert _placement(saved[deferred]) == ("later", "2031-02-03")
        assert _placement(saved[brought])[0] == "this-visit"
        # The resumed draft shows the clinician's choices in the form.
        assert sidebar.locator(f'[id="when-{deferred}"]').input_value() == "later"
        assert sidebar.locator(f'[id="date-{deferred}"]').input_value() == "2031-02-03"

        # The patient copy of the saved draft, in English then Spanish: the moved action under its new date.
        plan_url = page.frame(name="carepath").url
        sidebar.locator("#patient-copy").click()
        sidebar.locator("#copy-later").wait_for(timeout=30_000)
        assert "February 3, 2031" in sidebar.locator("#copy-later").inner_text()
        assert sidebar.locator("#copy-draft").count() == 1  # not approved yet: the copy says so
        _assert_fits(page, "patient copy")
        _sidebar_shot(page, "patient-copy-400x860.png")
        sidebar.locator('a[lang="es"]').click()
        sidebar.locator('article[lang="es"]').wait_for(timeout=30_000)
        assert "3 de febrero de 2031" in sidebar.locator("#copy-later").inner_text()
        assert "Su plan de cuidado" in sidebar.locator("#patient-copy h2").inner_text()
        page.frame(name="carepath").goto(plan_url)  # back to the plan page (a frame has no history of its own)
        sidebar.locator("#actions").wait_for(timeout=30_000)

        # And back: the deferred action returns to this visit; the saved draft says so.
        sidebar.locator(f'[id="when-{deferred}"]').select_option("this-visit")
        sidebar.locator("#save").click()
        sidebar.locator("#saved").wait_for(timeout=60_000)
        saved = {_item(a): a for a in _latest_plan(loaded_hapi, diabetic_patient, "draft")["activity"]}
        assert _placement(saved[deferred])[0] == "this-visit"
    finally:
        context.close()
