"""Headless chromium opens a child's chart in the sandbox EHR: carepath's sidebar shows the pediatric plan (the
AAP 2017 BP category with its percentiles, the BMI-for-age percentile, the scope for the child's age) and no adult
rule, in a 400 x 860 px sidebar.

Everything is real: the sandbox EHR's launch and consent, carepath's engine and both bundled packs over the Synthea
data in local HAPI. The plan date is 2021-04-01 (``REVIEW_AS_OF``), when the child's BP, height and BMI are recent.
"""

from __future__ import annotations

import pytest

from tests.careplan_sample import remove_carepath_plans
from tests.test_browser_review import SIDEBAR, _assert_fits, _sidebar_shot

pytestmark = [pytest.mark.integration, pytest.mark.browser]
#: Ardith Welch, 6 years old on the plan date (born 2014-11-09, female): BP 124.7/80.5 mm Hg at 109 cm on 2020-10-25.
ARDITH = "0c2a34a4-d948-4917-98b8-f44a77e459d8"
AS_OF = "2021-04-01"
#: Texts only the adult rules write (the adult BP goal and lifestyle advice, the adult guideline's title).
ADULT_WORDS = ("130/80", "alcohol", "High Blood Pressure in Adults", "Nonpharmacological BP-lowering")


@pytest.fixture
def child(loaded_hapi) -> str:
    """Ardith Welch's id on the local HAPI server, without carepath plans left by earlier runs."""
    assert loaded_hapi.read("Patient", ARDITH)["birthDate"] == "2014-11-09"
    remove_carepath_plans(loaded_hapi, ARDITH)
    return ARDITH


def test_browser__a_childs_sidebar_shows_the_pediatric_bp_category_and_bmi_percentile(
        chromium, sandbox_ehr, carepath_servers, sample_practitioner, child, assert_no_secret_logged):
    carepath = carepath_servers("public")
    sandbox_ehr.app_url = carepath.url
    before = carepath.app.config.get("REVIEW_AS_OF")
    carepath.app.config["REVIEW_AS_OF"] = AS_OF
    context = chromium.new_context(viewport={"width": 1280, "height": 1000})
    page = context.new_page()
    try:
        page.goto(f"{sandbox_ehr.base_url}/", wait_until="load")
        page.select_option("#patient", child)
        page.select_option("#practitioner", sample_practitioner)
        page.click("#open-chart")
        sidebar = page.frame_locator("#carepath-frame")
        sidebar.locator("#allow").click(timeout=30_000)
        sidebar.locator("#actions").wait_for(timeout=60_000)
        page.eval_on_selector("#carepath-frame", f"frame => {{ frame.style.width = '{SIDEBAR['width']}px'; "
                                                 f"frame.style.height = '{SIDEBAR['height']}px'; }}")
        frame = page.frame(name="carepath")

        # The scope for the child's age, on the first screen.
        statement = sidebar.locator("#population-statement").inner_text()
        assert statement.startswith("Scope for this age:") and "pediatric guidance for this age covers" in statement
        assert "immunizations and developmental screening are not covered" in statement

        # The proposed actions are the pediatric rules: the stage 2 BP referral first (its safety warning), then
        # tobacco prevention.
        actions = sidebar.locator("li.action")
        titles = [actions.nth(i).inner_text() for i in range(actions.count())]
        assert titles and "Stage 2 hypertension range: repeat and refer within 1 week" in titles[0]
        assert any("prevent tobacco use" in title for title in titles)

        # The assessment by area: the AAP 2017 category with the percentiles and the BMI-for-age percentile.
        sidebar.locator("details").evaluate_all("all => all.forEach(d => { d.open = true; })")
        text = frame.evaluate("document.body.innerText")
        assert "stage 2 (AAP 2017, AAP 2017 Table 5 (girls), age 5" in text
        assert "percentile for a height at the" in text and "table column 10th" in text
        assert "th percentile for age and sex" in text and "overweight" in text
        assert "BMI-for-age (CDC 2000)" in text  # the percentile trend chart
        # her BP trend against the AAP 2017 stage 1 threshold (95th percentile for age, sex and height) of each reading
        assert "Blood pressure for age, sex and height (AAP 2017)" in text
        assert sidebar.locator("#chart-bp-for-age polyline.reference").count() == 2
        assert sidebar.locator("#chart-bp").count() == 0

        # No adult rule, goal or wording anywhere on the page (the left-out list names the adult areas by title).
        assert sidebar.locator("#goals").count() == 0  # the pediatric pack sets no goal
        proposed = " ".join(titles)
        assert not [word for word in ADULT_WORDS if word in proposed]
        assert "130/80" not in text and "alcohol" not in text
        _assert_fits(page, "a child's plan with every section open")
        _sidebar_shot(page, "pediatric-plan-400x860.png")
    finally:
        carepath.app.config["REVIEW_AS_OF"] = before
        context.close()
