"""FHIR access: one client, typed errors, paging that stays on the server.

``FhirClient`` and ``next_link`` are imported on first use, so that the modules of this package that need no
HTTP (the decoder that every door shares) do not pay for ``requests`` (the command line's start-up).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from app.fhir.client import FhirClient, next_link

__all__ = ["FhirClient", "next_link"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from app.fhir import client

        return getattr(client, name)
    raise AttributeError(f"module 'app.fhir' has no attribute {name!r}")
