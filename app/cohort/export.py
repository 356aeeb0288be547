"""FHIR Bulk Data ``$export`` (Bulk Data Access IG 2.0): kick-off, status polling, download; resumable.

Every request goes through :class:`app.fhir.FhirClient` (timeouts, retries, typed errors carrying the
server's OperationOutcome). The FHIR base must be on carepath's allow-list (``SMART_ALLOWED_ISS``, checked by
the caller); the status URL and every file URL must lie on the same server or under a prefix the user allowed
explicitly (:func:`app.outbound.on_base`, after normalising dot segments), otherwise nothing is downloaded. A
redirect is followed only to the same base (each file's client is bound to the base its URL lies on).
``export-state.json`` in the output folder records the job and each finished file: a run interrupted at any
point resumes (polling the same job, skipping finished files) instead of starting over.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from app.cohort.decoder import UnreadableInput, decode_document
from app.cohort.errors import ExportFailed
from app.errors import FhirError, FhirStatusError, UnsafeUrl
from app.fhir.client import FhirClient, parse_retry_after
from app.outbound import on_base

STATE_FILE = "export-state.json"
NDJSON = "application/fhir+ndjson"
#: Seconds between polls when the server sends no Retry-After, and the bounds put on a Retry-After.
DEFAULT_POLL = 2.0
MIN_POLL = 0.5


@dataclass
class ExportOptions:
    """What to export and how patiently: level, types, since, and the polling limits."""

    level: str = "system"  # system | Patient | Group/<id>
    types: tuple[str, ...] = ()
    since: str | None = None
    max_poll: float = 120.0
    timeout: float = 3600.0
    allowed_file_prefixes: tuple[str, ...] = ()
    #: Most files a manifest may list (output and error together): ``COHORT_EXPORT_MAX_FILES``.
    max_files: int = 10_000
    #: Seconds a download may go without receiving a byte: ``COHORT_EXPORT_STALL_SECONDS``.
    stall: float = 60.0
    #: Bytes per second a download must average over each ``stall`` seconds (``COHORT_EXPORT_MIN_RATE``): a server
    #: dripping a byte now and then, never long enough silent to time out, is stopped too.
    min_rate: float = 1024.0


def bulk_export(client: FhirClient, out: str | Path, options: ExportOptions, *, progress: bool = True,
                token: Callable[[], str | None] | None = None, sleep: Callable[[float], None] = time.sleep,
                say: Callable[[str], None] = lambda text: None) -> dict[str, Any]:
    """Run (or resume) an export into ``out``; returns the state (manifest and files) once every file is there."""
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    state = _load_state(folder, client.base_url)
    if not state.get("status_url"):
        state = {"fhir_base": client.base_url, "status_url": _kick_off(client, options), "files": {}}
        _save_state(folder, state)
        say(f"export started: {state['status_url']}")
    else:
        say("resuming the export recorded in " + STATE_FILE)
    if "manifest" not in state:
        state["manifest"] = _poll(client, state["status_url"], options, sleep, say)
        _save_state(folder, state)
    manifest = state["manifest"]
    outputs = _outputs(manifest, "output") + _outputs(manifest, "error")
    clients = _file_clients(client, outputs, options, bool(manifest.get("requiresAccessToken")), token)
    _download_all(folder, state, outputs, clients, progress, options)
    return state


def _kick_off(client: FhirClient, options: ExportOptions) -> str:
    """Send the kick-off request; the status URL the server answers with (202 + Content-Location)."""
    path = "$export" if options.level == "system" else f"{options.level.strip('/')}/$export"
    params = [("_outputFormat", NDJSON)]
    if options.types:
        params.append(("_type", ",".join(options.types)))
    if options.since:
        params.append(("_since", options.since))
    try:
        response = client.request("GET", path, params=params,
                                  headers={"Accept": "application/fhir+json", "Prefer": "respond-async"})
    except FhirStatusError as exc:
        raise ExportFailed(f"the server refused the export: {exc.message}{_issues(exc.outcome)}",
                           url=exc.url) from exc
    location = response.headers.get("Content-Location")
    if response.status_code != 202 or not location:
        raise ExportFailed(f"the server answered the kick-off with {response.status_code} and no status URL "
                           "(a Bulk Data server answers 202 Accepted with Content-Location)")
    client.url_for(location)  # the status URL must be on the same server (UnsafeUrl otherwise)
    return location


def _poll(client: FhirClient, status_url: str, options: ExportOptions, sleep: Callable[[float], None],
          say: Callable[[str], None]) -> dict[str, Any]:
    """Poll the status URL until the manifest, honouring Retry-After (within MIN_POLL..max_poll seconds)."""
    deadline = time.monotonic() + options.timeout
    while True:
        try:
            response = client.request("GET", status_url, headers={"Accept": "application/json"})
        except FhirStatusError as exc:
            raise ExportFailed(f"the export job failed ({exc.status}){_issues(exc.outcome)}", url=exc.url) from exc
        if response.status_code == 200:
            return _manifest(response.content, options)
        if time.monotonic() >= deadline:
            raise ExportFailed(f"the export was not complete after {options.timeout:g} s; run the same command "
                               "again to resume it")
        wait = _retry_after(response.headers.get("Retry-After"))
        wait = min(max(wait if wait is not None else DEFAULT_POLL, MIN_POLL), options.max_poll)
        progress = response.headers.get("X-Progress")
        say(f"in progress{': ' + progress if progress else ''}; next poll in {wait:g} s")
        sleep(wait)


def _manifest(body: bytes, options: ExportOptions) -> dict[str, Any]:
    """The completed export's manifest, read by the cohort's decoder (depth- and size-bounded) and holding at most
    ``options.max_files`` files; :class:`ExportFailed` saying why otherwise."""
    try:
        manifest = decode_document(body)
    except UnreadableInput as exc:
        raise ExportFailed(f"the completed export's manifest cannot be read: {exc.message}") from exc
    if not isinstance(manifest.get("output"), list):
        raise ExportFailed("the completed export's manifest has no 'output' list")
    error = manifest.get("error")
    listed = len(manifest["output"]) + (len(error) if isinstance(error, list) else 0)
    if listed > options.max_files:
        raise ExportFailed(f"the manifest lists {listed} files, more than the {options.max_files} carepath downloads "
                           "(COHORT_EXPORT_MAX_FILES); export fewer types or patients at a time, or raise the setting")
    return manifest


def _outputs(manifest: dict[str, Any], section: str) -> list[dict[str, Any]]:
    """The manifest's files of one section with the local name each gets (``003.Observation.ndjson``)."""
    found = []
    for index, item in enumerate(manifest.get(section) or []):
        if not isinstance(item, dict) or not isinstance(item.get("url"), str):
            raise ExportFailed(f"the manifest's {section} entry {index} has no url")
        kind = "".join(ch for ch in str(item.get("type") or "Resource") if ch.isalnum()) or "Resource"
        prefix = "error/" if section == "error" else ""
        found.append({"url": item["url"], "type": kind, "file": f"{prefix}{index:03d}.{kind}.ndjson"})
    return found


def _file_clients(client: FhirClient, outputs: Iterable[dict[str, Any]], options: ExportOptions,
                  requires_token: bool, token: Callable[[], str | None] | None) -> dict[str, FhirClient]:
    """A client per file URL, bound to the FHIR server or the allowed prefix the URL lies on (its redirects
    stay there too), else UnsafeUrl before any download.

    The access token goes with a file request only when the manifest says ``requiresAccessToken``.
    """
    bases = [client.base_url, *[prefix.rstrip("/") for prefix in options.allowed_file_prefixes]]
    made: dict[str, FhirClient] = {}
    chosen: dict[str, FhirClient] = {}
    for item in outputs:
        base = next((b for b in bases if on_base(item["url"], b)), None)
        if base is None:
            raise UnsafeUrl(f"refused to download {item['type']} from outside the FHIR server and the allowed "
                            f"prefixes ({item['url'].split('?', 1)[0]}); allow it with --allow-files PREFIX",
                            url=item["url"].split("?", 1)[0])
        if base not in made:
            # the timeout bounds every wait for bytes: a download silent for longer than ``stall`` fails
            made[base] = FhirClient(base, token=token if requires_token else None, timeout=options.stall,
                                    retries=client.retries, backoff=client.backoff)
        chosen[item["url"]] = made[base]
    return chosen


def _download_all(folder: Path, state: dict[str, Any], outputs: list[dict[str, Any]],
                  clients: dict[str, FhirClient], progress: bool, options: ExportOptions) -> None:
    from tqdm import tqdm

    todo = [item for item in outputs if not _finished(folder, state, item)]
    with tqdm(total=len(outputs), initial=len(outputs) - len(todo), unit="file", disable=not progress,
              desc="downloading") as bar:
        for item in todo:
            size = _download(clients[item["url"]], item["url"], folder / item["file"], options)
            state["files"][item["url"]] = {"file": item["file"], "bytes": size, "type": item["type"]}
            _save_state(folder, state)
            bar.set_postfix_str(f"{item['file']} {size / 1e6:.1f} MB")
            bar.update(1)


def _finished(folder: Path, state: dict[str, Any], item: dict[str, Any]) -> bool:
    done = state["files"].get(item["url"])
    path = folder / item["file"]
    return bool(done) and path.is_file() and path.stat().st_size == done["bytes"]


def _download(client: FhirClient, url: str, target: Path, options: ExportOptions, *,
              clock: Callable[[], float] = time.monotonic) -> int:
    """Stream one file to ``target`` (through a .part file, renamed once complete); its size in bytes.

    Bounded twice: no byte for ``client.timeout`` seconds (the stall), and fewer than ``options.min_rate`` bytes a
    second over any ``options.stall`` seconds (a drip that never stalls long enough to time out)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".part")
    try:
        response = client.request("GET", url, headers={"Accept": NDJSON}, stream=True)
    except FhirError as exc:
        raise ExportFailed(f"downloading {target.name} failed: {exc.message}", url=exc.url) from exc
    size = 0
    window_start, window_bytes = clock(), 0
    try:
        with response, partial.open("wb") as out:
            for chunk in _chunks(response):
                out.write(chunk)
                size += len(chunk)
                window_bytes += len(chunk)
                elapsed = clock() - window_start
                if elapsed >= options.stall:
                    if window_bytes < options.min_rate * elapsed:
                        raise ExportFailed(
                            f"downloading {target.name} was too slow: {window_bytes} bytes in {elapsed:.0f} s, below "
                            f"{options.min_rate:g} bytes a second (COHORT_EXPORT_MIN_RATE); run the same command "
                            "again to resume: finished files are kept")
                    window_start, window_bytes = clock(), 0
    except requests.RequestException as exc:  # no byte within the timeout, or a connection cut mid-file
        raise ExportFailed(f"downloading {target.name} stopped after {size} bytes (no data for {client.timeout:g} s "
                           "or the connection was cut); run the same command again to resume: finished files are "
                           "kept") from exc
    partial.replace(target)
    return size


def _chunks(response: requests.Response, size: int = 1024 * 1024) -> Iterable[bytes]:
    """The body as it arrives: each piece as soon as the connection gives some (``read1``), decoded, so a slow
    sender is measured chunk by chunk instead of blocking until a whole megabyte came."""
    import urllib3

    raw = response.raw
    while True:
        try:
            chunk = raw.read1(size, decode_content=True)
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise requests.ConnectionError(exc) from exc
        if not chunk:
            return
        yield chunk


def _load_state(folder: Path, base: str) -> dict[str, Any]:
    path = folder / STATE_FILE
    if not path.is_file():
        return {}
    try:
        state = decode_document(path.read_bytes())  # it holds the manifest: the same bounds
    except UnreadableInput as exc:
        raise ExportFailed(f"{path} cannot be read ({exc.message}): use another folder") from exc
    if state.get("fhir_base") != base:
        raise ExportFailed(f"{path} records an export from {state.get('fhir_base')}, not {base}: use another "
                           "folder")
    state.setdefault("files", {})
    return state


def _save_state(folder: Path, state: dict[str, Any]) -> None:
    temporary = folder / (STATE_FILE + ".tmp")
    temporary.write_text(json.dumps(state, indent=2), encoding="utf-8")
    temporary.replace(folder / STATE_FILE)


def _retry_after(value: str | None) -> float | None:
    return parse_retry_after(value) if value else None


def _issues(outcome: dict[str, Any] | None) -> str:
    """': diagnostics; ...' from an OperationOutcome, or nothing."""
    texts = [str(issue.get("diagnostics") or (issue.get("details") or {}).get("text") or issue.get("code"))
             for issue in (outcome or {}).get("issue") or [] if isinstance(issue, dict)]
    return (": " + "; ".join(texts)) if texts else ""
