"""The local HAPI FHIR server for integration tests.

``make test`` starts HAPI (in-memory H2) and exports ``CAREPATH_TEST_HAPI_URL``. Without it, integration
tests are skipped locally; with ``CAREPATH_REQUIRE_INTEGRATION=1`` (always set by ``make test`` and CI) a
single skipped integration test fails the run.
"""

from __future__ import annotations

import os

import pytest

from app.fhir import FhirClient

_skipped_integration: list[str] = []


@pytest.fixture(scope="session")
def hapi_url() -> str:
    """Base URL of the running local HAPI server."""
    url = os.environ.get("CAREPATH_TEST_HAPI_URL")
    if not url:
        pytest.skip("local HAPI FHIR server not running (make test starts it)")
    return url.rstrip("/")


@pytest.fixture(scope="session")
def hapi(hapi_url) -> FhirClient:
    """A FHIR client on the local HAPI server."""
    return FhirClient(hapi_url, timeout=60)


@pytest.fixture(scope="session")
def loaded_hapi(hapi) -> FhirClient:
    """The local HAPI server holding the 25 Synthea patients and the project's fhir_fixtures."""
    from app.loader import load_paths
    from tests.conftest import FIXTURES, SYNTHEA

    report = load_paths(hapi, [SYNTHEA, FIXTURES], progress=False)
    assert not report.failures, report.failures
    return hapi


def pytest_runtest_logreport(report):
    if report.skipped and "integration" in report.keywords:
        _skipped_integration.append(report.nodeid)


def pytest_sessionfinish(session, exitstatus):
    if _skipped_integration and os.environ.get("CAREPATH_REQUIRE_INTEGRATION") == "1":
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter):
    if _skipped_integration and os.environ.get("CAREPATH_REQUIRE_INTEGRATION") == "1":
        terminalreporter.section("integration tests skipped: failing the run")
        for nodeid in _skipped_integration:
            terminalreporter.write_line(f"SKIPPED but required: {nodeid}")
