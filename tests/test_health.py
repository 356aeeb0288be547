"""``/health`` says whether the app is up and its FHIR server reachable."""

from __future__ import annotations

import pytest
import responses

from app import create_app
from app.errors import ConfigError


@responses.activate
def test_health__fhir_reachable(app, client):
    responses.get(f"{app.config['FHIR_BASE_URL']}/metadata",
                  json={"resourceType": "CapabilityStatement", "fhirVersion": "4.0.1",
                        "software": {"name": "HAPI FHIR Server"}})
    body = client.get("/health").get_json()
    assert body == {"status": "ok", "fhir": {"base_url": app.config["FHIR_BASE_URL"], "reachable": True,
                                             "fhirVersion": "4.0.1", "software": "HAPI FHIR Server"}}


@responses.activate
def test_health__fhir_down_is_degraded_not_an_error(app, client):
    responses.get(f"{app.config['FHIR_BASE_URL']}/metadata", status=503, body="down")
    response = client.get("/health")
    assert response.status_code == 200
    assert response.get_json()["status"] == "degraded"
    assert response.get_json()["fhir"]["reachable"] is False


@pytest.mark.integration
def test_health__real_hapi(hapi_url, tmp_path):
    app = create_app({"TESTING": True, "FHIR_BASE_URL": hapi_url, "VAR_DIR": str(tmp_path)})
    body = app.test_client().get("/health").get_json()
    assert body["fhir"]["reachable"] is True
    assert body["fhir"]["fhirVersion"] == "4.0.1"


def test_create_app__production_refuses_the_development_secret(monkeypatch):
    monkeypatch.setenv("CAREPATH_ENV", "production")
    with pytest.raises(ConfigError, match="CAREPATH_SECRET_KEY"):
        create_app()
