"""After launches, refreshes and refusals, the logs written during the run hold no code, token or secret."""

from __future__ import annotations

import json
import logging

import pytest

pytestmark = pytest.mark.integration


def test_logs__hold_no_token_after_launches_refreshes_and_refusals(carepath_servers, browser, sample_patients,
                                                                   sandbox_ehr, captured_logs):
    carepath = carepath_servers("confidential-symmetric")
    for simulate, decision in (("expired_token", "allow"), ("", "deny"), ("invalid_client", "allow"), ("", "allow")):
        browser.launch(carepath, sample_patients[0]["id"], simulate=simulate, decision=decision)
    asymmetric = carepath_servers("asymmetric-ES384")
    browser.launch(asymmetric, sample_patients[1]["id"])
    for handler in logging.getLogger().handlers:
        handler.flush()
    text = captured_logs.read_text(encoding="utf-8")
    records = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    messages = {record["message"] for record in records}
    assert {"smart authorize", "smart launch", "smart refresh", "launch refused"} <= messages  # capture works
    assert any("/callback?code=" in record["message"] for record in records)  # callback URLs were logged ...
    issued = list(sandbox_ehr.registry.issued)
    assert len(issued) >= 8
    leaked = [secret[:6] for secret in issued if secret in text]  # ... but never a code or token
    assert leaked == []
    assert "test-secret-symmetric" not in text
    assert "PRIVATE KEY" not in text
