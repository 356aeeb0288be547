"""The findings block: safety warnings apart from low-severity notices, gaps shown plainly, all escaped."""

from __future__ import annotations

from flask import render_template


def _render(app, warnings):
    plan = {"warnings": warnings, "gaps": [], "data_quality": []}
    with app.test_request_context("/"):
        return render_template("review/_findings.html", plan=plan, facts={}, charts=[], launch=None)


def test_findings__low_severity_is_a_notice_not_a_safety_warning(app):
    html = _render(app, [
        {"rule_id": "pack-effective-period", "severity": "low", "message": "plan date outside the pack period",
         "refs": []},
        {"rule_id": "statin.pregnancy", "severity": "high", "message": "statin contraindicated in pregnancy",
         "refs": []},
    ])
    safety, notices = html.split('id="notices-h"')
    assert "Safety warnings" in safety and "statin contraindicated in pregnancy" in safety
    assert "plan date outside the pack period" not in safety
    assert "plan date outside the pack period" in notices


def test_findings__only_notices_shows_no_safety_heading(app):
    html = _render(app, [{"rule_id": "x", "severity": "low", "message": "just so you know", "refs": []}])
    assert "Safety warnings" not in html and "Notices" in html


def test_findings__messages_are_escaped(app):
    html = _render(app, [{"rule_id": "x", "severity": "high", "message": "<script>alert(1)</script>", "refs": []}])
    assert "<script>" not in html and "&lt;script&gt;" in html
