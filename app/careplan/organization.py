"""The organization carepath acts for: ``Provenance.agent.onBehalfOf`` on every Provenance it writes.

US Core 7.0.0 Provenance, invariant ``provenance-1``: "onBehalfOf SHALL be present when
Provenance.agent.who is a Practitioner or Device", and ``agent.onBehalfOf`` is a Reference(US Core
Organization). carepath's author agent is a Device and its clinicians are usually Practitioners, so the
organization comes from, in order:

1. the ``ORGANIZATION_REFERENCE`` setting (with ``ORGANIZATION_DISPLAY``), when set;
2. the ``organization`` of the launching user's PractitionerRole, when ``fhirUser`` is a PractitionerRole
   that the launch may read;
3. none: ``onBehalfOf`` is then left out rather than made up, and the Provenance does not meet
   ``provenance-1`` (a warning is logged). A deployment for US Core conformance sets the setting.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from app.errors import ConfigError, FhirError
from app.fhir import FhirClient

log = logging.getLogger(__name__)
#: ``Organization/123`` or an absolute ``https://ehr.example/fhir/Organization/123``.
_REFERENCE = re.compile(r"^(?:https?://\S+/)?Organization/[A-Za-z0-9\-.]{1,64}$")
_ROLE = re.compile(r"^(?:https?://\S+/)?PractitionerRole/([A-Za-z0-9\-.]{1,64})$")


def configured_organization(reference: str | None, display: str | None = None) -> dict[str, Any] | None:
    """The ``ORGANIZATION_REFERENCE`` setting as a FHIR Reference; None when empty, ConfigError when malformed."""
    reference = (reference or "").strip()
    if not reference:
        return None
    if not _REFERENCE.match(reference):
        raise ConfigError(f"CAREPATH_ORGANIZATION_REFERENCE must name an Organization, like 'Organization/123' "
                          f"(got {reference!r})")
    result: dict[str, Any] = {"reference": reference}
    if (display or "").strip():
        result["display"] = str(display).strip()
    return result


def organization_of_role(client: FhirClient, fhir_user: str | None) -> dict[str, Any] | None:
    """The ``organization`` of the PractitionerRole the user launched as, or None (not a role, unreadable)."""
    match = _ROLE.match((fhir_user or "").strip())
    if not match:
        return None
    try:
        role = client.read("PractitionerRole", match.group(1))
    except FhirError as exc:
        log.warning("could not read the launching PractitionerRole for its organization",
                    extra={"resource": f"PractitionerRole/{match.group(1)}", "error": type(exc).__name__})
        return None
    organization = role.get("organization") or {}
    reference = organization.get("reference", "")
    if not _REFERENCE.match(reference):
        return None
    return {key: organization[key] for key in ("reference", "display") if organization.get(key)}


def acting_organization(settings: Any, client: FhirClient | None = None,
                        fhir_user: str | None = None) -> dict[str, Any] | None:
    """The organization carepath acts for: the setting, else the launching PractitionerRole's, else None."""
    organization = configured_organization(settings.get("ORGANIZATION_REFERENCE"),
                                           settings.get("ORGANIZATION_DISPLAY"))
    if organization is None and client is not None:
        organization = organization_of_role(client, fhir_user)
    if organization is None:
        log.warning("no organization for Provenance.agent.onBehalfOf: set CAREPATH_ORGANIZATION_REFERENCE; "
                    "the Provenance written does not meet US Core provenance-1")
    return organization
