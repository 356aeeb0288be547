"""References as facts and plans keep them (``{"type", "id", "version"}``), without repeats, in linear time."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def unique_refs(refs: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The references in first-seen order, each once (a record with thousands of entries stays linear)."""
    seen: set[tuple[Any, Any, Any]] = set()
    found = []
    for ref in refs:
        identity = (ref.get("type"), ref.get("id"), ref.get("version"))
        if identity not in seen:
            seen.add(identity)
            found.append(ref)
    return found
