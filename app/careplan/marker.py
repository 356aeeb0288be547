"""The request id each write stamps on the CarePlan, so a read-back tells "my write committed" from another's.

Every save and every approval or rejection carries a fresh request id (made when the page is rendered, kept in
the form, so a double click or a resubmission carries the same one). The CarePlan that write produces holds it
in the extension ``http://carepath.dev/fhir/StructureDefinition/write-request`` (``id``, ``author``, ``time``).
A CarePlan is part of every transaction carepath sends and transactions are all-or-nothing, so a version of
the CarePlan holding the id proves that the whole write committed; the next write replaces the extension.

Why an extension on the resource rather than a ``meta.tag``: servers merge tags across versions (HAPI does), so
a tag cannot say which version a write produced; an extension is versioned with the resource body.
"""

from __future__ import annotations

import copy
import re
import uuid
from collections.abc import Mapping
from typing import Any

from app.careplan.model import BASE
from app.fhir import FhirClient

WRITE_REQUEST_URL = f"{BASE}/StructureDefinition/write-request"
_REQUEST_ID = re.compile(r"^[0-9a-f]{32}$")
#: History versions read back when looking for a write (a draft sees few writes).
HISTORY_COUNT = 50


def new_request_id() -> str:
    """A fresh request id (128 random bits, hex)."""
    return uuid.uuid4().hex


def valid_request_id(value: str | None) -> bool:
    """True when ``value`` looks like an id :func:`new_request_id` makes."""
    return bool(value and _REQUEST_ID.match(value))


def mark(resource: Mapping[str, Any], request_id: str, *, author: str | None, now: str) -> dict[str, Any]:
    """A copy of ``resource`` stamped with this write's request id (any earlier stamp replaced)."""
    marked = copy.deepcopy(dict(resource))
    parts: list[dict[str, Any]] = [{"url": "id", "valueString": request_id}, {"url": "time", "valueInstant": now}]
    if author:
        parts.append({"url": "author", "valueReference": {"reference": author}})
    others = [ext for ext in marked.get("extension", []) if ext.get("url") != WRITE_REQUEST_URL]
    marked["extension"] = [*others, {"url": WRITE_REQUEST_URL, "extension": parts}]
    return marked


def stamp(resource: Mapping[str, Any]) -> dict[str, Any]:
    """``{"id", "time", "author"}`` of the write that produced this version (empty when none is stamped)."""
    for ext in resource.get("extension") or []:
        if isinstance(ext, Mapping) and ext.get("url") == WRITE_REQUEST_URL:
            found: dict[str, Any] = {}
            for part in ext.get("extension") or []:
                if not isinstance(part, Mapping):
                    continue
                value = part.get("valueString") or part.get("valueInstant") or (
                    (part.get("valueReference") or {}).get("reference"))
                found[str(part.get("url"))] = value
            return found
    return {}


def request_of(resource: Mapping[str, Any]) -> str | None:
    """The request id stamped on this version of a resource, if any."""
    return stamp(resource).get("id")


def committed_version(client: FhirClient, careplan_id: str, request_id: str,
                      current: Mapping[str, Any] | None = None) -> dict[str, Any] | None:
    """The version of the CarePlan this request produced (the current one, else one in its history), or None."""
    current = current if current is not None else client.read("CarePlan", careplan_id)
    if request_of(current) == request_id:
        return dict(current)
    history = client.get_json(f"CarePlan/{careplan_id}/_history", params={"_count": HISTORY_COUNT})
    for entry in history.get("entry") or []:
        version = entry.get("resource") if isinstance(entry, Mapping) else None
        if isinstance(version, Mapping) and request_of(version) == request_id:
            return dict(version)
    return None
