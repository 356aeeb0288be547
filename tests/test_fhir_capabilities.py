"""CapabilityStatement reading, cached per server."""

from __future__ import annotations

import pytest
import responses

from app.fhir import FhirClient
from app.fhir.capabilities import forget, parse, server_capabilities

BASE = "https://fhir.example.org/r4"


def statement(*, system=("transaction",), observation_params=("patient", "code", "date", "status"),
              careplan=("read", "search-type", "create", "update")):
    return {"resourceType": "CapabilityStatement", "fhirVersion": "4.0.1", "software": {"name": "Test FHIR"},
            "rest": [{"mode": "server", "interaction": [{"code": c} for c in system],
                      "searchParam": [{"name": "_id", "type": "token"}],
                      "resource": [
                          {"type": "Observation", "interaction": [{"code": "read"}, {"code": "search-type"}],
                           "searchParam": [{"name": n, "type": "token"} for n in observation_params],
                           "searchInclude": ["Observation:patient"]},
                          {"type": "CarePlan", "interaction": [{"code": c} for c in careplan]},
                          {"type": "Goal", "interaction": [{"code": "read"}, {"code": "create"}]},
                      ]}]}


@pytest.fixture(autouse=True)
def _fresh_cache():
    forget()
    yield
    forget()


def test_parse__reads_interactions_params_and_includes():
    caps = parse(statement(system=("batch", "transaction")))
    assert caps.batch and caps.transaction and caps.fhir_version == "4.0.1"
    assert caps.supports_search("Observation", "code") and caps.supports_search("Observation", "_id")
    assert not caps.supports_search("Observation", "value-quantity")
    assert not caps.supports_sort("Observation")
    assert caps.includes["Observation"] == frozenset({"Observation:patient"})
    assert caps.can_write("CarePlan") and not caps.can_write("Goal")


@pytest.mark.parametrize(("system", "batch", "transaction"), [
    ((), False, False), (("batch",), True, False), (("transaction",), False, True),
])
def test_parse__batch_and_transaction_flags(system, batch, transaction):
    caps = parse(statement(system=system))
    assert (caps.batch, caps.transaction) == (batch, transaction)


def test_parse__an_empty_statement_supports_nothing():
    caps = parse({"resourceType": "CapabilityStatement"})
    assert not caps.batch and not caps.can_write("CarePlan") and not caps.supports_search("Observation", "code")


@responses.activate
def test_server_capabilities__read_once_per_server():
    responses.get(f"{BASE}/metadata", json=statement())
    responses.get("https://other.example.org/fhir/metadata", json=statement(system=("batch",)))
    client = FhirClient(BASE)
    assert server_capabilities(client) is server_capabilities(FhirClient(BASE))
    assert server_capabilities(FhirClient("https://other.example.org/fhir")).batch
    assert len(responses.calls) == 2


@responses.activate
def test_server_capabilities__refresh_reads_again():
    responses.get(f"{BASE}/metadata", json=statement(system=()))
    responses.get(f"{BASE}/metadata", json=statement(system=("batch",)))
    client = FhirClient(BASE)
    assert not server_capabilities(client).batch
    assert server_capabilities(client, refresh=True).batch
