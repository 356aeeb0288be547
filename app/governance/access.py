"""Who is a governance reviewer: a SMART launch's fhirUser on the allow-list (``GOVERNANCE_ALLOW``).

The allow-list holds FHIR references. A relative one (``Practitioner/123``) matches the fhirUser of a launch from
any FHIR server carepath accepts launches from (``SMART_ALLOWED_ISS``, the site's own EHRs); an absolute one
(``https://ehr.example.org/fhir/Practitioner/123``) only a launch from that server. Only a launch the EHR
authorized counts: an open-server launch names no verified user.
"""

from __future__ import annotations

import json
from typing import Any

REVIEWER_TYPES = ("Practitioner", "PractitionerRole")


def allow_list(setting: Any) -> list[str]:
    """``GOVERNANCE_ALLOW`` as a list of references (a JSON list, or a comma-separated string)."""
    if isinstance(setting, str):
        text = setting.strip()
        if text.startswith("["):
            setting = json.loads(text)
        else:
            return [item.strip().rstrip("/") for item in text.split(",") if item.strip()]
    return [str(item).strip().rstrip("/") for item in setting or [] if str(item).strip()]


def absolute_user(fhir_user: str, iss: str) -> str:
    """The fhirUser as an absolute URL (a relative one lies on the launch's server ``iss``)."""
    return fhir_user if "://" in fhir_user else f"{iss.rstrip('/')}/{fhir_user}"


def is_reviewer(fhir_user: str | None, iss: str, *, open_server: bool, allowed: list[str]) -> bool:
    """The launch's user is a Practitioner (or PractitionerRole) the allow-list names."""
    if open_server or not fhir_user:
        return False
    user = fhir_user.strip().rstrip("/")
    parts = user.split("/")
    if len(parts) < 2 or parts[-2] not in REVIEWER_TYPES or not parts[-1]:
        return False
    absolute = absolute_user(user, iss)
    for entry in allowed:
        if "://" in entry:
            if entry == absolute:
                return True
        elif "://" not in user and entry == user:
            return True
    return False
