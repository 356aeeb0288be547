"""Shared fixtures. Feature fixtures live in ``tests/plugins/*.py`` and are loaded here."""

from __future__ import annotations

from pathlib import Path

import pytest

from app import create_app

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fhir_fixtures"
SYNTHEA = ROOT.parent / "shared" / "data" / "synthea"

pytest_plugins = sorted(
    f"tests.plugins.{path.stem}" for path in (Path(__file__).parent / "plugins").glob("*.py")
    if path.stem != "__init__"
)


@pytest.fixture
def app(tmp_path):
    """The app with test settings and its state in a temporary folder."""
    return create_app({"TESTING": True, "SECRET_KEY": "test", "VAR_DIR": str(tmp_path), "LOG_FORMAT": "json"})


@pytest.fixture
def client(app):
    """A Flask test client over HTTPS, so the Secure session cookie is sent back."""
    return app.test_client()
