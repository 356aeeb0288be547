"""The cohort report fits a phone's screen: from 360 px wide nothing is wider than the viewport."""

from __future__ import annotations

from datetime import date

import pytest

from app.cohort.report import write_report
from app.cohort.run import CohortSummary

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("width", [360, 420, 1280])
def test_browser__cohort_report_is_never_wider_than_the_screen(chromium, tmp_path, width):
    long_title = "Screening mammography every 2 years for women aged 40 to 74 (a long rule title) " * 2
    counts = {("patients",): 466, ("patients with open gaps",): 300, ("open gaps",): 900,
              ("eligible", "screen.breast-with-a-long-identifier"): 120,
              ("gap", "preventive-screening", "Preventive screening", "screen.breast-with-a-long-identifier",
               long_title): 80, ("backlog", "screenings"): 80, ("work", "2021-05", "counselling"): 1234}
    counts.update({("work", f"2021-{m:02d}", kind): 1234 for m in range(4, 13)
                   for kind in ("labs", "screenings", "exams", "referrals", "visits", "counselling")})
    counts[("warning", "pack-effective-period", "low", "x" * 300)] = 466
    counts[("found", "warning", "pack-effective-period", "low")] = 466
    summary = CohortSummary(as_of=date(2021, 4, 1), counts=counts, input_problems={}, packs=[], out=tmp_path,
                            files={"plans": "plans.ndjson", "activities": "a.parquet", "outreach": "outreach.csv"},
                            capacity={"screenings": 20})
    write_report(summary, tmp_path / "report.html")
    context = chromium.new_context(viewport={"width": width, "height": 800})
    page = context.new_page()
    page.goto((tmp_path / "report.html").as_uri())
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    wider = page.evaluate("[...document.querySelectorAll('table')].filter(t => t.scrollWidth > t.parentElement"
                          ".clientWidth + 1).length")
    assert wider == 0
    context.close()
