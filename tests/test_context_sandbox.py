"""The patient context through the sandbox EHR's FHIR proxy, which enforces the token's SMART scopes."""

from __future__ import annotations

import secrets

import pytest

from app.context import assemble, default_requirements
from app.errors import FhirForbidden
from app.fhir import FhirClient

pytestmark = pytest.mark.integration

AS_OF = "2020-06-01"
EVERY_TYPE = ["Patient", "Observation", "Condition", "MedicationRequest", "Medication", "AllergyIntolerance",
              "Procedure"]


def token_for(sandbox, patient: str, types: list[str]) -> str:
    """A patient-scoped access token issued by the sandbox for ``types`` (read and search)."""
    from sandbox.models import LaunchContext, Token

    token = Token(client_id="carepath-context-tests", access_token=secrets.token_urlsafe(32),
                  scope=" ".join(f"patient/{t}.rs" for t in types), expires_in=600,
                  context=LaunchContext(patient=patient, fhir_user=None))
    sandbox.registry.save_token(token)
    return token.access_token


def test_assemble__every_scope_granted_reads_everything_in_batches(sandbox_ehr):
    access = token_for(sandbox_ehr, "cp-ctx-units", EVERY_TYPE)
    facts = assemble(FhirClient(sandbox_ehr.fhir_base, token=lambda: access), "cp-ctx-units",
                     default_requirements(), AS_OF)
    assert facts["fetch"]["mode"] == "batch" and facts["fetch"]["notes"] == []
    assert facts["measures"]["hba1c"]["value"] == 7.0


def test_assemble__a_scope_not_granted_is_named_and_the_rest_is_read(sandbox_ehr):
    access = token_for(sandbox_ehr, "cp-ctx-filters", [t for t in EVERY_TYPE if t != "MedicationRequest"])
    facts = assemble(FhirClient(sandbox_ehr.fhir_base, token=lambda: access), "cp-ctx-filters",
                     default_requirements(), AS_OF)
    assert facts["fetch"]["notes"] == [
        {"type": "MedicationRequest", "message": "could not see MedicationRequest: scope not granted"}]
    missing = {m["key"]: m["message"] for m in facts["missing"]}
    assert missing["medications"] == "could not see MedicationRequest: scope not granted"
    assert missing["statin"] == "statin unknown: could not see MedicationRequest: scope not granted"
    assert facts["medications"] == {}
    assert facts["measures"]["hba1c"]["value"] == 7.4 and "diabetes" in facts["conditions"]


def test_assemble__another_patients_data_is_refused_by_the_proxy(sandbox_ehr):
    access = token_for(sandbox_ehr, "cp-ctx-units", EVERY_TYPE)
    # Without the patient there is no plan: an error, never facts (or a plan) for "patient (unknown)".
    with pytest.raises(FhirForbidden):
        assemble(FhirClient(sandbox_ehr.fhir_base, token=lambda: access), "cp-ctx-filters",
                 default_requirements(), AS_OF)
