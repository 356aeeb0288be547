"""End to end on the local HAPI server: ``cohort export`` ($export), ``cohort run`` on Spark, the report in chromium."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from app.cli import main
from app.cohort.run import run_cohort
from app.engine import load_pack_set
from tests.cohort_data import single_plan
from tests.conftest import SYNTHEA

pytestmark = [pytest.mark.integration, pytest.mark.browser]
SCREENSHOTS = Path(__file__).resolve().parent.parent / "var" / "screenshots"
AS_OF = date(2021, 4, 1)


def _without_versions(value):
    """Plans read from a server name resource versions (meta.versionId) that a file does not have."""
    if isinstance(value, dict):
        return {k: _without_versions(v) for k, v in value.items() if not (k == "version" and "type" in value)}
    if isinstance(value, list):
        return [_without_versions(v) for v in value]
    return value


def test_cohort__export_from_hapi_run_on_spark_and_read_the_report(loaded_hapi, hapi_url, spark, chromium,
                                                                   tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CAREPATH_SMART_ALLOWED_ISS", json.dumps([hapi_url]))
    monkeypatch.setenv("CAREPATH_SMART_OPEN_SERVERS", json.dumps([hapi_url]))
    export = tmp_path / "export"
    assert main(["cohort", "export", "--fhir-base", hapi_url, "--out", str(export), "--max-poll", "1",
                 "--timeout", "300", "--quiet"]) == 0
    assert "exported" in capsys.readouterr().out
    assert list(export.glob("*.Observation.ndjson")) and list(export.glob("*.Patient.ndjson"))

    out = tmp_path / "cohort"
    summary = run_cohort(spark, export, AS_OF, out, partitions=2)
    plans = {p["patient_id"]: p for p in map(json.loads, (out / "plans.ndjson").read_text().splitlines())}
    pack_set = load_pack_set()
    for bundle in sorted(SYNTHEA.glob("*.json")):  # each Synthea patient: the same plan as from its file
        expected = single_plan(bundle, pack_set, AS_OF)
        assert _without_versions(plans[expected["patient_id"]]) == _without_versions(expected), bundle.name
    assert summary.patients == len(plans) >= 25

    page = chromium.new_page(viewport={"width": 1200, "height": 900})
    page.goto((out / "report.html").as_uri())
    assert page.locator("h1").inner_text().startswith(f"Care gaps and workload: a panel of {len(plans)} patients")
    assert page.locator("#workload svg.chart rect").count() > 0
    assert page.locator("#gaps table").count() > 0
    outreach = page.locator('a[href="outreach.csv"]')
    assert outreach.is_visible() and (out / "outreach.csv").is_file()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "cohort-report.png"), full_page=True)
    page.close()
