"""A real browser (Debian's chromium, headless) launches carepath inside the sandbox EHR's sidebar iframe.

The EHR is served on 127.0.0.1 and carepath on localhost: two different sites, as with every real EHR,
so the launch only works if carepath's session cookie survives in a cross-site iframe
(``SameSite=None; Secure; Partitioned``).
"""

from __future__ import annotations

import pytest

from app.careplan.present import human_name

pytestmark = [pytest.mark.integration, pytest.mark.browser]


def test_browser__ehr_sidebar_launch_lands_on_the_plan(chromium, sandbox_ehr, carepath_servers, sample_patients,
                                                       sample_practitioner, loaded_hapi, assert_no_secret_logged):
    carepath = carepath_servers("public")
    sandbox_ehr.app_url = carepath.url  # the EHR frames this carepath (localhost: another site)
    patient = sample_patients[1]
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    try:
        page.goto(f"{sandbox_ehr.base_url}/", wait_until="load")
        page.select_option("#patient", patient["id"])
        page.select_option("#practitioner", sample_practitioner)
        page.click("#open-chart")
        page.wait_for_selector("#chart-patient")
        assert carepath.url.startswith("http://localhost:")
        assert sandbox_ehr.base_url.startswith("http://127.0.0.1:")
        frame = page.frame_locator("#carepath-frame")
        frame.locator("#allow").click(timeout=30_000)  # the EHR's consent page, inside the sidebar
        name = frame.locator("#patient-name")
        name.wait_for(timeout=30_000)
        assert patient["family"] in name.inner_text()
        # The plan itself, with no page of carepath's own in between; the user named, not numbered.
        frame.locator("#actions").wait_for(timeout=30_000)
        user = human_name(loaded_hapi.read("Practitioner", sample_practitioner))
        assert frame.locator("#fhir-user").inner_text() == user and sample_practitioner not in user
        cookies = [c for c in context.cookies() if c["name"] == "carepath_session"]
        assert cookies and cookies[0]["secure"] and cookies[0]["httpOnly"] and cookies[0]["sameSite"] == "None"
    finally:
        context.close()
