"""Bulk Data through the sandbox's FHIR proxy: all a backend-services (``system/``) token may do.

A backend token may run FHIR Bulk Data exports and nothing else:

- kick off ``$export`` with GET at system level, ``Patient/$export`` or ``Group/<id>/$export``, for resource
  types its scopes grant (``_type``, and the types ``_typeFilter`` names; no ``_type`` needs ``system/*``);
- poll (GET) or cancel (DELETE) the status URL (HAPI's ``$export-poll-status?_jobId=``) of a job it started;
- read the output files (HAPI's ``Binary/<id>``) that its own jobs' manifests listed.

The proxy records which client started each job and which files each completed job listed; a job or a file is
never served to another client, app tokens included. Everything else is refused (403, OperationOutcome).
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from flask import Response

from sandbox.scopes import SYSTEM_LEVELS, Granted

__all__ = ["check", "is_export_file", "note"]

POLL = "$export-poll-status"
_KICK_OFF = re.compile(r"^(?:Patient/|Group/[A-Za-z0-9.-]{1,64}/)?\$export$")
_FILTERED_TYPE = re.compile(r"(?:^|,)\s*([A-Z][A-Za-z]+)\?")


def check(method: str, path: str, args: Any, token: Any, registry: Any) -> str | None:
    """Why the backend token may not do this request, or None when it may."""
    if _KICK_OFF.match(path):
        if method != "GET":
            return "Start an export with GET on this sandbox (a POST kick-off with Parameters is not supported)."
        return _types_refused(Granted(token.get_scope(), SYSTEM_LEVELS), args)
    if path == POLL and method in {"GET", "DELETE"}:
        return _not_owned(registry, "job", _values(args, "_jobId"), token.client_id, "export job")
    parts = path.split("/")
    if method == "GET" and len(parts) == 2 and parts[0] == "Binary":
        return _not_owned(registry, "file", [parts[1]], token.client_id, "file")
    return ("A backend-services token may only run Bulk Data exports on this sandbox: $export, the status URL of "
            "its own jobs and their files.")


def is_export_file(path: str, registry: Any) -> bool:
    """True when ``path`` reads an output file of an export started through the sandbox."""
    parts = path.split("/")
    return len(parts) >= 2 and parts[0] == "Binary" and registry.export_owner("file", parts[1]) is not None


def note(path: str, response: Response, client_id: str, registry: Any, fhir_base: str) -> None:
    """Record, as ``client_id``'s, the job a kick-off started and the files a completed job's manifest lists."""
    if _KICK_OFF.match(path) and response.status_code == 202:
        status_url = response.headers.get("Content-Location", "")
        for job in _values(dict(parse_qsl(urlsplit(status_url).query)), "_jobId"):
            registry.note_export("job", job, client_id)
    elif path == POLL and response.status_code == 200:
        try:
            manifest = json.loads(response.get_data())
        except ValueError:
            return
        prefix = f"{fhir_base}/Binary/"
        for item in (manifest.get("output") or []) + (manifest.get("error") or []):
            url = str(item.get("url") or "") if isinstance(item, dict) else ""
            if url.startswith(prefix) and "/" not in url[len(prefix):]:
                registry.note_export("file", url[len(prefix):], client_id)


def _types_refused(granted: Granted, args: Any) -> str | None:
    types = [name.strip() for value in _values(args, "_type") for name in value.split(",") if name.strip()]
    types += [match for value in _values(args, "_typeFilter") for match in _FILTERED_TYPE.findall(value)]
    if not types:
        if granted.permits("*", "rs"):
            return None
        return ("Name the resource types to export with _type: without it the export covers every type, and the "
                "access token does not grant system/*.rs.")
    return next((refused for name in dict.fromkeys(types) if (refused := granted.refusal(name, "rs"))), None)


def _not_owned(registry: Any, kind: str, keys: list[str], client_id: str, what: str) -> str | None:
    if len(keys) == 1 and registry.export_owner(kind, keys[0]) == client_id:
        return None
    return f"This {what} is not one of this client's exports."


def _values(args: Any, name: str) -> list[str]:
    """Every value of a query parameter (a werkzeug MultiDict, or a plain dict in tests)."""
    if hasattr(args, "getlist"):
        return [str(value) for value in args.getlist(name)]
    return [str(args[name])] if name in args else []
