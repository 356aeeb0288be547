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
from app.errors import FhirNotFound
from app.fhir import FhirClient

WRITE_REQUEST_URL = f"{BASE}/StructureDefinition/write-request"
_REQUEST_ID = re.compile(r"^[0-9a-f]{32}$")
#: Versions read back (newest first) when looking for a write (a draft sees few writes).
HISTORY_COUNT = 50
_FHIR_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
_LOCATION = re.compile(r"(?:^|/)CarePlan/([A-Za-z0-9\-.]{1,64})/_history/([A-Za-z0-9\-.]{1,64})/?$")


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
                      current: Mapping[str, Any] | None = None, *, since: str | None = None,
                      written: str | None = None) -> dict[str, Any] | None:
    """The version of the CarePlan this request produced, read directly, or None when the record holds none.

    The current version is looked at first; then ``written`` (the version id the write's answer named), by a vread;
    then each version after ``since`` (the version the write started from; None: from the first), newest first,
    by a vread each. Never through ``CarePlan/<id>/_history``: HAPI caches a history's count for about a minute, so
    a version written meanwhile can be missing from it (a committed save was once reported as someone else's).
    """
    current = current if current is not None else client.read("CarePlan", careplan_id)
    if request_of(current) == request_id:
        return dict(current)
    latest = str((current.get("meta") or {}).get("versionId") or "")
    if written and written != latest:
        version = _vread(client, careplan_id, written)
        if version is not None and request_of(version) == request_id:
            return version
    earlier = _earlier_versions(latest, since)
    if earlier is None:  # version ids that are not numbers: the history is all there is to list them
        return _from_history(client, careplan_id, request_id)
    for version_id in earlier:
        if version_id == written:
            continue
        version = _vread(client, careplan_id, version_id)
        if version is not None and request_of(version) == request_id:
            return version
    return None


def answered_version(location: str | None) -> tuple[str, str] | None:
    """(CarePlan id, version id) from a write's answer (``CarePlan/30/_history/2``, relative or absolute)."""
    match = _LOCATION.search(location or "")
    return (match.group(1), match.group(2)) if match else None


def _earlier_versions(latest: str, since: str | None) -> list[str] | None:
    """The version ids after ``since`` and before ``latest``, newest first (at most HISTORY_COUNT); None when the
    server's version ids are not numbers."""
    if not latest.isdigit() or (since is not None and not str(since).isdigit()):
        return None
    floor = max(int(since or 0), int(latest) - 1 - HISTORY_COUNT)
    return [str(number) for number in range(int(latest) - 1, floor, -1)]


def _vread(client: FhirClient, careplan_id: str, version_id: str) -> dict[str, Any] | None:
    """One version of the CarePlan, or None when the server no longer has it (404, 410)."""
    if not (_FHIR_ID.match(careplan_id) and _FHIR_ID.match(version_id)):
        return None
    try:
        return client.get_json(f"CarePlan/{careplan_id}/_history/{version_id}")
    except FhirNotFound:
        return None


def _from_history(client: FhirClient, careplan_id: str, request_id: str) -> dict[str, Any] | None:
    """The version holding the request id, listed by the history (servers whose version ids are not numbers)."""
    history = client.get_json(f"CarePlan/{careplan_id}/_history", params={"_count": HISTORY_COUNT})
    for entry in history.get("entry") or []:
        version = entry.get("resource") if isinstance(entry, Mapping) else None
        if isinstance(version, Mapping) and request_of(version) == request_id:
            return dict(version)
    return None
