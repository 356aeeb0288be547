"""End-of-life and exclusion evidence read from the real local HAPI server: for each ``fhir_fixtures/evidence-*``
patient, the facts fetched over FHIR (DeviceRequest, orders not to do something, coded answers...) equal the facts
from the file, and the evidence reaches its fact."""

from __future__ import annotations

import pytest

from app.context import assemble, facts_from_bundle
from app.engine import load_pack_set
from tests.conftest import FIXTURES
from tests.test_context_evidence import AS_OF, FIXTURE_FACTS
from tests.test_context_hapi import bundle_and_patient, without_versions

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def requirements():
    return load_pack_set().requirements


@pytest.mark.parametrize(("name", "path"), sorted(FIXTURE_FACTS.items()))
def test_assemble__evidence_facts_via_hapi_equal_the_bundle_facts(loaded_hapi, requirements, name, path):
    bundle, patient_id = bundle_and_patient(FIXTURES / f"evidence-{name}.json")
    via_server = assemble(loaded_hapi, patient_id, requirements, AS_OF)
    assert via_server["fetch"]["notes"] == []
    assert without_versions(via_server) == without_versions(facts_from_bundle(bundle, requirements, AS_OF))
    section, key = path.split(".")
    found = via_server[section][key]
    assert (found[0] if isinstance(found, list) else found)["refs"][0]["version"]  # allergies are lists
