"""Audit checkpoints on a FHIR server: the signed chain head as an ``AuditEvent``, and read back for verifying.

A copy of each checkpoint (:func:`app.audit.checkpoint`) out of reach of whoever holds the host carepath runs on:
``carepath audit checkpoint`` writes one (run it from cron), ``carepath audit verify`` reads them all back and
holds the log against them like the checkpoint file's lines. The server is ``AUDIT_CHECKPOINT_FHIR_BASE_URL``:
read without authorization when it is in ``SMART_OPEN_SERVERS``, otherwise with a SMART Backend Services token.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from app.fhir import FhirClient

SYSTEM = "http://carepath.dev/fhir/CodeSystem/audit"
TAG = {"system": SYSTEM, "code": "checkpoint"}
DETAIL = "carepath-audit-checkpoint"


def audit_event(point: Mapping[str, Any]) -> dict[str, Any]:
    """The checkpoint as an R4 AuditEvent (the signed JSON kept whole in ``entity.detail``)."""
    text = json.dumps(dict(point), sort_keys=True, separators=(",", ":"))
    return {
        "resourceType": "AuditEvent",
        "meta": {"tag": [TAG]},
        "type": {"system": "http://dicom.nema.org/resources/ontology/DCM", "code": "110100",
                 "display": "Application Activity"},
        "subtype": [{**TAG, "display": "audit log checkpoint"}],
        "action": "E",
        "recorded": point["at"],
        "outcome": "0",
        "agent": [{"who": {"display": "carepath"}, "requestor": False}],
        "source": {"observer": {"display": "carepath"}},
        "entity": [{"what": {"identifier": {"system": f"{SYSTEM}/key", "value": str(point["key"])}},
                    "detail": [{"type": DETAIL, "valueString": text}]}],
    }


def write_audit_event(config: Mapping[str, Any], base: str, point: Mapping[str, Any]) -> str:
    """POST the checkpoint as an AuditEvent; returns where the server put it."""
    response = _client(config, base).create(audit_event(point))
    return response.headers.get("Location") or response.headers.get("Content-Location") or "an AuditEvent"


def fhir_checkpoints(config: Mapping[str, Any], base: str) -> list[tuple[str, str]]:
    """(``AuditEvent/<id>``, checkpoint JSON) of every checkpoint AuditEvent on the server."""
    found = []
    for event in _client(config, base).search("AuditEvent", [("_tag", f"{SYSTEM}|checkpoint")]):
        for entity in event.get("entity") or []:
            for detail in (entity.get("detail") or []) if isinstance(entity, Mapping) else []:
                if isinstance(detail, Mapping) and detail.get("type") == DETAIL:
                    found.append((f"AuditEvent/{event.get('id')}", str(detail.get("valueString") or "")))
    return found


def _client(config: Mapping[str, Any], base: str) -> FhirClient:
    from app.smart.discovery import allowed_bases, normalize_base

    token = refresh = None
    if normalize_base(base) not in allowed_bases(config.get("SMART_OPEN_SERVERS")):
        from app.cohort.auth import BackendServicesToken

        v1 = config.get("SMART_SCOPE_VERSION") == "v1"
        settings = {key[len("SMART_"):]: value for key, value in config.items() if key.startswith("SMART_")}
        provider = BackendServicesToken(base, settings, scope="system/AuditEvent.read system/AuditEvent.write"
                                        if v1 else "system/AuditEvent.crs")
        token, refresh = provider.token, provider.refresh
    return FhirClient.from_config(config, base, token=token, on_unauthorized=refresh)
