"""A real browser: the sandbox chart shows carepath's CDS Hooks cards above the sidebar, and a card's link
launches carepath in the sidebar straight onto that card's area of the plan."""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.browser]

PATIENT = "cp-clin-t2d-ckd"


def test_browser_cds__card_link_lands_on_its_area_of_the_plan(chromium, sandbox_ehr, carepath_servers,
                                                             sample_practitioner, assert_no_secret_logged):
    carepath = carepath_servers("public")
    sandbox_ehr.app_url = carepath.url
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    try:
        page.goto(f"{sandbox_ehr.base_url}/", wait_until="load")
        page.select_option("#patient", PATIENT)
        page.select_option("#practitioner", sample_practitioner)
        page.click("#open-chart")
        page.wait_for_selector("#chart-patient")
        card = page.locator("article.cds-card", has_text="(Diabetes)").first
        card.wait_for(timeout=30_000)
        assert page.locator("article.cds-card").count() <= 5
        assert card.locator(".cds-summary").inner_text().endswith(" (Diabetes)")
        frame = page.frame_locator("#carepath-frame")
        frame.locator("#allow").wait_for(timeout=30_000)  # the sidebar's own launch waits at the EHR's consent
        sidebar = page.locator("#carepath-frame").element_handle().content_frame()
        first_consent = sidebar.url
        card.locator("button.cds-open").click()
        # the card's launch replaces the sidebar's consent page: wait for it before consenting, so that the click
        # never lands on the page the card's launch is replacing
        sidebar.wait_for_url(lambda url: url != first_consent, timeout=30_000)
        frame.locator("#allow").click(timeout=30_000)  # the card's launch: consent, then carepath
        heading = frame.locator("li.action-focus #area-type-2-diabetes")  # the area's actions, first and marked
        heading.wait_for(timeout=60_000, state="attached")
        assert frame.locator("li.action").first.get_attribute("data-area") == "type-2-diabetes"
        top = heading.evaluate("element => element.getBoundingClientRect().top")
        height = heading.evaluate("element => element.ownerDocument.defaultView.innerHeight")
        assert 0 <= top < height, (top, height)  # scrolled to the card's area
        assert "area=type-2-diabetes" in heading.evaluate("element => element.ownerDocument.location.href")
    finally:
        context.close()
