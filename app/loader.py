"""Load FHIR Bundles (the sample patients, ``fhir_fixtures/``) into any FHIR server, idempotently.

Synthea's transaction bundles POST every entry, so loading them twice would duplicate every patient. The
loader rewrites each entry to ``PUT Type/id`` with the id the bundle already gives (its ``urn:uuid:``), so a
second load updates the same resources in place. Each bundle is one transaction: all of it or none of it.
A bundle that fails is reported with the server's OperationOutcome and the others still load.
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.errors import FhirError, FhirStatusError
from app.fhir import FhirClient
from app.fhir.client import bundle_entries
from app.fhir.decoding import load_file

log = logging.getLogger(__name__)

_UUID_PREFIX = "urn:uuid:"


@dataclass
class BundleFailure:
    """One bundle that did not load, with what the server (or the parser) said."""

    path: str
    message: str
    issues: list[str] = field(default_factory=list)


@dataclass
class LoadReport:
    """What a load did: bundles loaded, resources written, failures, seconds taken."""

    loaded: list[str] = field(default_factory=list)
    resources: int = 0
    failures: list[BundleFailure] = field(default_factory=list)
    seconds: float = 0.0

    def summary(self) -> str:
        """One line for a terminal."""
        return (f"loaded {len(self.loaded)} bundle(s), {self.resources} resource(s) in {self.seconds:.1f} s; "
                f"{len(self.failures)} failed")


def bundle_files(paths: Iterable[Path | str]) -> list[Path]:
    """The ``*.json`` files named or contained (not recursively) in ``paths``, in name order."""
    files: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            files.extend(sorted(p for p in path.glob("*.json") if p.is_file()))
        elif path.exists():
            files.append(path)
        else:
            raise FileNotFoundError(f"no such file or folder: {path}")
    return files


def as_idempotent_transaction(bundle: dict[str, Any]) -> dict[str, Any]:
    """A transaction Bundle that writes every entry with ``PUT Type/id``, keeping ``urn:uuid:`` references."""
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        found = bundle.get("resourceType") if isinstance(bundle, dict) else bundle
        raise ValueError(f"not a FHIR Bundle (resourceType {_shown(found)})")
    if bundle.get("type") not in {"transaction", "batch", "collection", "searchset"}:
        raise ValueError(f"Bundle type {_shown(bundle.get('type'))} cannot be loaded")
    entries = bundle.get("entry", [])
    if not isinstance(entries, list):
        raise ValueError("Bundle.entry is not a list")
    result = {"resourceType": "Bundle", "type": "transaction", "entry": []}
    for index, entry in enumerate(entries):
        resource = copy.deepcopy(entry.get("resource")) if isinstance(entry, dict) else None
        if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str):
            raise ValueError(f"entry {index} has no resource")
        full_url = entry.get("fullUrl") if isinstance(entry.get("fullUrl"), str) else ""
        resource_id = resource.get("id")
        if not resource_id and full_url.startswith(_UUID_PREFIX):
            resource_id = full_url[len(_UUID_PREFIX):]
        if not isinstance(resource_id, str) or not resource_id:
            raise ValueError(f"entry {index} ({resource['resourceType']}) has no id or urn:uuid fullUrl")
        resource["id"] = resource_id
        resource_type = resource["resourceType"]
        new_entry = {"resource": resource, "request": {"method": "PUT", "url": f"{resource_type}/{resource_id}"}}
        new_entry["fullUrl"] = full_url if full_url.startswith(_UUID_PREFIX) else f"{resource_type}/{resource_id}"
        result["entry"].append(new_entry)
    return result


def load_bundle(client: FhirClient, path: Path) -> int:
    """Load one bundle file as one transaction; returns the number of resources written."""
    transaction = as_idempotent_transaction(load_file(path))  # UnreadableJson is a ValueError, reported as one
    response = client.transaction(transaction, idempotent=True)
    return len(bundle_entries(response))


def _shown(value: Any) -> str:
    """A value for a message: short, whatever it is."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def load_paths(client: FhirClient, paths: Iterable[Path | str], *, progress: bool = True) -> LoadReport:
    """Load every bundle under ``paths``; failures are collected, never raised."""
    from tqdm import tqdm

    report = LoadReport()
    started = time.perf_counter()
    files = bundle_files(paths)
    bar = tqdm(files, unit="bundle", disable=not progress, desc="loading")
    for path in bar:
        bar.set_postfix_str(path.name[:40])
        try:
            report.resources += load_bundle(client, path)
        except FhirStatusError as exc:
            report.failures.append(BundleFailure(str(path), exc.message, exc.issues))
        except (FhirError, ValueError, OSError) as exc:
            report.failures.append(BundleFailure(str(path), getattr(exc, "message", None) or str(exc)))
        else:
            report.loaded.append(str(path))
    report.seconds = time.perf_counter() - started
    log.info("load finished", extra={"bundles": len(report.loaded), "failed": len(report.failures),
                                     "resources": report.resources, "seconds": round(report.seconds, 1)})
    return report
