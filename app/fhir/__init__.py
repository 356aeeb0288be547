"""FHIR access: one client, typed errors, paging that stays on the server."""

from app.fhir.client import FhirClient, next_link

__all__ = ["FhirClient", "next_link"]
