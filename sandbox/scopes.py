"""The SMART scope grammar of the sandbox, read by its authorization server and its FHIR proxy.

SMART App Launch 2.x resource scopes, ``<level>/<Type or *>.<permissions>``: levels ``patient``, ``user`` and
``system``; permissions as v2 letters (``c r u d s``) or v1 words (``read``, ``write``, ``*``). The sandbox
reads them with its own code, not carepath's (``app.smart.scopes``), so that it checks the app independently.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

__all__ = ["APP_LEVELS", "SYSTEM_LEVELS", "Granted", "narrow", "without_system"]

SCOPE = re.compile(r"^(patient|user|system)/(\*|[A-Za-z]+)\.(\*|read|write|[cruds]+)(\?.*)?$")
V1 = {"read": "rs", "write": "cud", "*": "cruds"}
#: The levels an app token (authorization code) is checked against, and those of a backend token.
APP_LEVELS = ("patient", "user")
SYSTEM_LEVELS = ("system",)


def _permissions(text: str) -> set[str]:
    return set(V1.get(text, text))


class Granted:
    """The resource permissions a token's scope grants at the given levels (v1 and v2 syntax)."""

    def __init__(self, scope: str, levels: Iterable[str] = APP_LEVELS) -> None:
        self.scopes = scope.split()
        self.level = next(iter(levels))  # the level named in refusals ("needs a scope like patient/...")
        self.permissions: dict[str, set[str]] = {}
        for item in self.scopes:
            match = SCOPE.match(item)
            if match and match[1] in levels:
                self.permissions.setdefault(match[2], set()).update(_permissions(match[3]))

    def permits(self, resource_type: str, permission: str) -> bool:
        """True when every permission letter of ``permission`` (c r u d s) is granted on ``resource_type``."""
        held = self.permissions.get(resource_type, set()) | self.permissions.get("*", set())
        return set(permission) <= held

    def refusal(self, resource_type: str, permission: str) -> str | None:
        """Why ``permission`` on ``resource_type`` is not granted, naming the scope it needs; None when it is."""
        if self.permits(resource_type, permission):
            return None
        words = " and ".join(_WORDS.get(letter, letter) for letter in permission)
        return (f"The access token does not grant {words} on {resource_type} "
                f"(needs a scope like {self.level}/{resource_type}.{permission}).")


_WORDS = {"c": "create", "r": "read", "u": "update", "d": "delete", "s": "search"}


def narrow(requested: str | None, allowed: str) -> str:
    """The ``system/`` scopes of ``requested`` a backend client registered for ``allowed`` may be granted.

    Each requested scope is cut down to what a registered scope covers (type and permissions), so
    ``system/*.rs`` asked by a client registered for ``system/Patient.rs`` gives ``system/Patient.rs``;
    what no registered scope covers is left out. Nothing but ``system/`` scopes is ever granted, and no
    granular (``?query``) scope: the sandbox does not filter exports by query.
    """
    registered = [match for match in map(SCOPE.match, allowed.split())
                  if match and match[1] == "system" and not match[4]]
    granted: dict[str, None] = {}
    for item in (requested or "").split():
        asked = SCOPE.match(item)
        if not asked or asked[1] != "system" or asked[4]:
            continue
        for match in registered:
            resource_type = asked[2] if match[2] == "*" else match[2] if asked[2] in ("*", match[2]) else None
            common = _permissions(asked[3]) & _permissions(match[3])
            if resource_type and common:
                same = common == _permissions(asked[3])
                letters = asked[3] if same else "".join(letter for letter in "cruds" if letter in common)
                granted.setdefault(f"system/{resource_type}.{letters}", None)
    return " ".join(granted)


def without_system(scope: str | None) -> str:
    """``scope`` without its ``system/`` scopes: an app (a user's launch) is never granted system access."""
    return " ".join(item for item in (scope or "").split() if not item.startswith("system/"))
