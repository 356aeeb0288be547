"""A patient carepath cannot read gives an error page, never a plan for "patient (unknown)" (issue: clinical safety)."""

from __future__ import annotations

import uuid

import pytest

from app import create_app


@pytest.mark.integration
def test_review__a_patient_the_server_does_not_have_is_an_error_page_not_an_empty_plan(hapi_url, tmp_path):
    app = create_app({"TESTING": True, "SECRET_KEY": "test", "VAR_DIR": str(tmp_path),
                      "SMART_ALLOWED_ISS": [hapi_url], "SMART_OPEN_SERVERS": [hapi_url],
                      "REVIEW_AS_OF": "2021-04-01"})
    client = app.test_client()
    missing = f"rv-missing-{uuid.uuid4().hex[:8]}"
    response = client.get(f"https://localhost/launch?iss={hapi_url}&patient={missing}")
    assert response.status_code == 302
    plan_page = response.headers["Location"]
    assert plan_page.endswith("/plan")  # a launch lands on the plan
    assert client.get("https://localhost" + plan_page.removesuffix("plan")).headers["Location"] == plan_page
    response = client.get("https://localhost" + plan_page)
    page = response.get_data(as_text=True)
    assert response.status_code == 404
    assert "The record was not found on the FHIR server" in page
    assert "Proposed actions" not in page and "(unknown)" not in page
