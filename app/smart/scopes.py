"""SMART scopes: what carepath asks for (v2 by default, v1 by configuration) and what it was granted.

SMART App Launch 2.x, "Scopes for requesting clinical data": v2 scopes name permissions as letters
(``c`` create, ``r`` read, ``u`` update, ``d`` delete, ``s`` search: ``patient/Observation.rs``); v1 scopes
use ``read``/``write``/``*``. Servers may grant less than was asked, so the app decides what it can do from
the *granted* scope in the token response, never from its request.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["GrantedScopes", "requested_scope"]

_RESOURCE_SCOPE = re.compile(
    r"^(?P<context>patient|user|system)/(?P<type>\*|[A-Z][A-Za-z]+)\.(?P<perms>\*|read|write|[cruds]+)"
    r"(?P<query>\?.*)?$"
)
_V1_PERMISSIONS = {"read": frozenset("rs"), "write": frozenset("cud"), "*": frozenset("cruds")}


def requested_scope(settings: Mapping[str, Any], *, standalone: bool) -> str:
    """The space-separated scope for the authorize request, from the ``SMART_*`` settings namespace."""
    scopes = ["openid", "fhirUser", "launch/patient" if standalone else "launch"]
    scopes.append("offline_access" if settings.get("OFFLINE_ACCESS") else "online_access")
    read_types = list(settings.get("READ_TYPES") or [])
    write_types = list(settings.get("WRITE_TYPES") or [])
    user_types = list(settings.get("USER_READ_TYPES") or [])
    if str(settings.get("SCOPE_VERSION", "v2")).lower() == "v1":
        scopes.append("patient/*.read")
        scopes += [f"patient/{name}.write" for name in write_types]
        scopes += [f"user/{name}.read" for name in user_types]
    else:
        for name in _unique(read_types + write_types):
            perms = ("c" if name in write_types else "") + ("rs" if name in read_types else "") + (
                "u" if name in write_types else "")
            scopes.append(f"patient/{name}.{_ordered(perms)}")
        scopes += [f"user/{name}.rs" for name in user_types]
    scopes += str(settings.get("EXTRA_SCOPES") or "").split()
    return " ".join(_unique(scopes))


class GrantedScopes:
    """The scopes a token response granted, with helpers to ask what they allow.

    ``patient/`` and ``user/`` resource scopes both count (the user's own access is the outer bound on a
    server). A granular v2 scope (``patient/Observation.rs?category=laboratory``) counts as granting the
    type: carepath only asks what it needs and the server filters the rest.
    """

    def __init__(self, scope: str | Iterable[str] | None) -> None:
        items = scope.split() if isinstance(scope, str) else list(scope or [])
        self.scopes: tuple[str, ...] = tuple(_unique(items))
        self._permissions: dict[str, set[str]] = {}
        for item in self.scopes:
            match = _RESOURCE_SCOPE.match(item)
            if not match or match["context"] == "system":
                continue
            perms = _V1_PERMISSIONS.get(match["perms"], frozenset(match["perms"]))
            self._permissions.setdefault(match["type"], set()).update(perms)

    def __contains__(self, scope: str) -> bool:
        return scope in self.scopes

    def __str__(self) -> str:
        return " ".join(self.scopes)

    def permits(self, resource_type: str, permission: str) -> bool:
        """True when ``permission`` (one of ``c r u d s``) is granted on ``resource_type``."""
        return permission in self._permissions.get(resource_type, set()) | self._permissions.get("*", set())

    def can_read(self, resource_type: str) -> bool:
        """Reading or searching ``resource_type`` was granted."""
        return self.permits(resource_type, "r") or self.permits(resource_type, "s")

    def can_write(self, resource_type: str) -> bool:
        """Creating and updating ``resource_type`` were both granted (what drafting and approving need)."""
        return self.permits(resource_type, "c") and self.permits(resource_type, "u")

    def unreadable(self, resource_types: Iterable[str]) -> list[str]:
        """The types in ``resource_types`` that may not be read."""
        return [name for name in resource_types if not self.can_read(name)]

    def unwritable(self, resource_types: Iterable[str]) -> list[str]:
        """The types in ``resource_types`` that may not be written."""
        return [name for name in resource_types if not self.can_write(name)]


def _ordered(perms: str) -> str:
    return "".join(letter for letter in "cruds" if letter in perms)


def _unique(items: Iterable[str]) -> list[str]:
    seen: dict[str, None] = {}
    for item in items:
        if item:
            seen.setdefault(item, None)
    return list(seen)
