"""The findings blocks: safety warnings at the top, low-severity notices and data quality collapsed with a count,
all escaped."""

from __future__ import annotations

from flask import render_template


def _render(app, warnings, data_quality=()):
    plan = {"warnings": warnings, "gaps": [], "data_quality": list(data_quality)}
    with app.test_request_context("/"):
        safety = render_template("review/_safety.html", plan=plan, facts={}, launch=None)
        rest = render_template("review/_findings.html", plan=plan, facts={}, gaps=[], launch=None)
    return safety, rest


def test_findings__low_severity_is_a_collapsed_notice_not_a_safety_warning(app):
    safety, rest = _render(app, [
        {"rule_id": "pack-effective-period", "severity": "low", "message": "plan date outside the pack period",
         "refs": []},
        {"rule_id": "statin.pregnancy", "severity": "high", "message": "statin contraindicated in pregnancy",
         "refs": []},
    ], data_quality=[{"problem": "eGFR unit read as mL/min/1.73m2"}])
    assert "Safety warnings" in safety and "statin contraindicated in pregnancy" in safety
    assert "plan date outside the pack period" not in safety
    assert "plan date outside the pack period" in rest and "statin contraindicated" not in rest
    # Collapsed (a <details> without "open"), with the count of what is inside.
    assert '<details class="findings notices" id="notices">' in rest and "(2)" in rest


def test_findings__only_notices_shows_no_safety_heading(app):
    safety, rest = _render(app, [{"rule_id": "x", "severity": "low", "message": "just so you know", "refs": []}])
    assert "Safety warnings" not in safety and "Notices" in rest


def test_findings__messages_are_escaped(app):
    safety, _ = _render(app, [{"rule_id": "x", "severity": "high", "message": "<script>alert(1)</script>",
                               "refs": []}])
    assert "<script>" not in safety and "&lt;script&gt;" in safety
