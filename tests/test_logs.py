"""Logs never carry tokens or patient names."""

from __future__ import annotations

import json
import logging

import pytest

from app.logs import JsonFormatter, TextFormatter, redact

JWT = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"


@pytest.mark.parametrize(
    ("value", "leaked"),
    [
        (f"Authorization: Bearer {JWT}", JWT),
        ("GET /callback?code=abc123secret&state=xyz789state", "abc123secret"),
        ("GET /callback?code=abc123secret&state=xyz789state", "xyz789state"),
        ({"access_token": "opaque-token-1", "scope": "patient/*.rs"}, "opaque-token-1"),
        ({"nested": [{"refresh_token": "rt-2"}]}, "rt-2"),
        ({"name": [{"family": "Mueller"}]}, "Mueller"),
    ],
)
def test_redact__masks_credentials_and_names(value, leaked):
    assert leaked not in json.dumps(redact(value))


@pytest.mark.parametrize("formatter", [JsonFormatter(), TextFormatter()])
def test_formatters__extra_fields_are_redacted(formatter):
    record = logging.makeLogRecord({"msg": "token exchange for %s", "args": (JWT,), "levelname": "INFO",
                                    "access_token": "opaque-1", "patient_id": "p-7"})
    line = formatter.format(record)
    assert JWT not in line and "opaque-1" not in line
    assert "p-7" in line


def test_configure__follows_a_replaced_stderr(monkeypatch, capsys):
    import io
    import sys

    from app.logs import configure

    configure("INFO", "json")
    replaced = io.StringIO()
    monkeypatch.setattr(sys, "stderr", replaced)
    logging.getLogger("carepath.test").info("written after stderr was replaced")
    assert "written after stderr was replaced" in replaced.getvalue()
