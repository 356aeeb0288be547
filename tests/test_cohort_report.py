"""The cohort report and its forecast, from aggregates (no Spark): texts escaped, months and kinds right."""

from __future__ import annotations

from datetime import date

from app.cohort.report import write_report
from app.cohort.run import CohortSummary, _csv_line
from app.cohort.workload import forecast_months, occurrences, workload_of

AS_OF = date(2021, 4, 1)


def test_occurrences__due_date_then_repeats_within_twelve_months():
    quarterly = {"due": "2021-04-01", "repeat": {"frequency": 1, "period": 3, "period_unit": "mo"}}
    assert occurrences(quarterly, AS_OF) == [date(2021, 4, 1), date(2021, 7, 1), date(2021, 10, 1), date(2022, 1, 1)]
    assert occurrences({"due": "2021-07-10", "repeat": {"frequency": 1, "period": 1, "period_unit": "a"}}, AS_OF) \
        == [date(2021, 7, 10)]
    assert occurrences({"due": "2022-04-01"}, AS_OF) == []  # beyond the horizon
    assert occurrences({"due": "2020-01-01"}, AS_OF) == [AS_OF]  # overdue counts now
    assert forecast_months(AS_OF)[0] == "2021-04" and forecast_months(AS_OF)[-1] == "2022-03"


def test_workload_of__follows_the_activity_kind():
    assert [workload_of(k) for k in ("lab-order", "screening", "referral", "medication", "counselling")] == \
        ["labs", "screenings", "referrals", "visits", "visits"]


def test_write_report__escapes_every_text_and_draws_the_forecast(tmp_path):
    hostile = '<script>alert("x")</script>'
    counts = {("patients",): 4, ("patients with open gaps",): 2, ("open gaps",): 3,
              ("gap", "area-1", f"Area {hostile}", "rule.one", f"Title {hostile}"): 2,
              ("work", "2021-04", "labs"): 3, ("work", "2021-07", "visits"): 1,
              ("quality", "Observation", f"finding {hostile}"): 1}
    summary = CohortSummary(as_of=AS_OF, counts=counts, input_problems={hostile: 1},
                            packs=[{"title": hostile, "version": "1"}], out=tmp_path,
                            files={"plans": "plans.ndjson", "activities": "activities.parquet",
                                   "outreach": "outreach.csv"})
    write_report(summary, tmp_path / "report.html")
    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "<script" not in html and "&lt;script&gt;" in html
    assert "50.0 %" in html  # 2 of 4 patients have the gap
    assert html.count('<rect class="s0"') == 1 and html.count('<rect class="s3"') == 1


def test_csv_line__formula_cells_are_neutralised():
    assert _csv_line(["p1", "=HYPERLINK(\"x\")", "+1", "Ann, B"]) == "p1,\"'=HYPERLINK(\"\"x\"\")\",'+1,\"Ann, B\"\n"
