"""``carepath pack sign-off``: reviewers sign a governance report; enough of them make the version active.

Each sign-off is an audit entry (``signed-off``, hash-chained and keyed like every other) naming the reviewer,
the pack version, the content hash of the files the report was made for and the report's own hash. Sign-off
refuses a report whose conformance was not run or has a defect (failing or known), a report made for other
files, a version already active, a reviewer signing the same files twice, and an audit log whose chain is broken
(the count of reviewers is read from it). Once ``required`` distinct reviewers have signed the same files, the
PlanDefinitions and the Library are rewritten ``active`` with ``approvalDate``, ``lastReviewDate`` and the
reviewers (as ``reviewer`` and ``endorser``: they reviewed it and endorsed it for use at the site), a
``pack-activated`` entry records it, and with a FHIR base the pack is published (one transaction of PUTs) with a
Provenance naming the reviewers. Given the folder of the version in use (``retire``), which must hold the files the
report compared against (its ``current`` content hashes), activating the new version retires it: its
PlanDefinitions and Library are rewritten ``retired`` in the same step, named in the ``pack-activated`` entry and
published with the new version.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from app.audit import AuditLog
from app.conformance.run import pack_digest
from app.engine.packs import pack_files
from app.errors import CarepathError
from app.governance.changes import content_hashes
from app.governance.report import REPORT_KIND

SIGNED, ACTIVATED = "signed-off", "pack-activated"
#: The resources whose ``status`` is the pack version's lifecycle.
LIFECYCLE_TYPES = ("PlanDefinition", "Library")
REVIEWER_EXTENSION = "http://carepath.dev/fhir/StructureDefinition/reviewer-reference"
_REFERENCE_TYPES = ("Practitioner", "PractitionerRole")


class SignOffRefused(CarepathError):
    """A sign-off carepath will not record; the message says why."""

    title = "The sign-off was refused"


@dataclass
class SignOff:
    """What a sign-off did: who has signed, how many are needed, and whether the version became active."""

    version: str
    reviewers: list[str]
    required: int
    activated: bool = False
    published: list[str] = field(default_factory=list)
    retired: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        """What ``carepath pack sign-off`` prints."""
        lines = [f"sign-off of pack version {self.version} recorded: {len(self.reviewers)} of {self.required} "
                 f"reviewers ({', '.join(self.reviewers)})"]
        if self.activated:
            lines.append(f"pack version {self.version} is now active")
        lines += [f"retired: {canonical}" for canonical in self.retired]
        lines += [f"published: {where}" for where in self.published]
        return lines


def read_report(path: str | Path) -> dict[str, Any]:
    """A ``governance.json`` document; SignOffRefused when it is not one."""
    try:
        report = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise SignOffRefused(f"{path}: not a readable governance report ({exc})") from exc
    if not isinstance(report, dict) or report.get("kind") != REPORT_KIND:
        raise SignOffRefused(f"{path}: not a governance report (carepath governance report writes one)")
    return report


def sign_off(folder: str | Path, report: Mapping[str, Any], reviewer: str, audit: AuditLog, *, required: int = 2,
             on: date | None = None, fhir_base: str | None = None, config: Mapping[str, Any] | None = None,
             retire: str | Path | None = None) -> SignOff:
    """Record ``reviewer``'s sign-off of the proposed version in ``folder``; activate it once ``required``
    distinct reviewers have signed these files, retiring the active version in ``retire`` when given. Raises
    SignOffRefused, saying why, and records nothing then."""
    folder = Path(folder)
    reviewer = _reviewer(reviewer)
    _check_conformance(report)
    check_files(folder, report)
    resources = _lifecycle_resources(folder)
    version = _version(resources)
    if all(resource.get("status") == "active" for _path, resource in resources):
        raise SignOffRefused(f"pack version {version} is already active")
    if retire is not None:
        _check_retire(Path(retire), folder, resources, report)
    problem = audit.check().problem
    if problem:
        raise SignOffRefused(f"the audit log's chain is broken ({problem}): sign-offs cannot be counted from it")
    digest = report["proposed"]["packDigest"]
    signed = signers(audit, digest)
    if reviewer in signed:
        raise SignOffRefused(f"{reviewer} has already signed off these files of pack version {version}")
    canonicals = sorted(f"{r.get('url')}|{r.get('version')}" for _path, r in resources)
    audit.record(SIGNED, actor=reviewer, patient_id="", packs=canonicals,
                 detail={"decision": "approved", "packDigest": digest, "report": report_hash(report),
                         "required": required})
    outcome = SignOff(version, [*signed, reviewer], required)
    if len(outcome.reviewers) >= required:
        activate(folder, outcome.reviewers, on or datetime.now(UTC).date())
        outcome.activated = True
        if retire is not None:
            outcome.retired = retire_version(retire)
        audit.record(ACTIVATED, actor=reviewer, patient_id="", packs=canonicals,
                     detail={"reviewers": outcome.reviewers, "signedDigest": digest,
                             "activeDigest": pack_digest(folder), "retired": outcome.retired})
        if fhir_base:
            outcome.published = publish(folder, outcome.reviewers, fhir_base, config or {}, retired=retire)
    return outcome


def _check_retire(retire: Path, folder: Path, resources: list[tuple[Path, dict[str, Any]]],
                  report: Mapping[str, Any]) -> None:
    """``retire`` holds the active version of the same pack (its Library's url), another version than ``folder``,
    and exactly the files the report compared the proposed version with (its ``current`` content hashes)."""
    if not retire.is_dir():
        raise SignOffRefused(f"{retire}: no such pack folder to retire")
    if retire.resolve() == folder.resolve():
        raise SignOffRefused("the folder to retire is the folder being signed off")
    old = _lifecycle_resources(retire)
    library = _library(resources)
    old_library = _library(old)
    if old_library.get("url") != library.get("url"):
        raise SignOffRefused(f"{retire} is not a version of the same pack (its Library is "
                             f"{old_library.get('url')}, not {library.get('url')})")
    if old_library.get("version") == library.get("version"):
        raise SignOffRefused(f"{retire} holds the same pack version {library.get('version')}")
    not_active = sorted(f"{r.get('url')}|{r.get('version')} is {r.get('status')}" for _path, r in old
                        if r.get("status") != "active")
    if not_active:
        raise SignOffRefused(f"only an active version is retired, and in {retire}: " + "; ".join(not_active))
    check_files(retire, report, side="current")


def _library(resources: list[tuple[Path, dict[str, Any]]]) -> dict[str, Any]:
    return next((r for _path, r in resources if r.get("resourceType") == "Library"), {})


def retire_version(folder: str | Path) -> list[str]:
    """Rewrite a pack folder's PlanDefinitions and Library as ``retired``; returns their canonicals."""
    retired = []
    for path, resource in _lifecycle_resources(Path(folder)):
        resource["status"] = "retired"
        path.write_text(json.dumps(resource, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        retired.append(f"{resource.get('url')}|{resource.get('version')}")
    return sorted(retired)


def signers(audit: AuditLog, digest: str) -> list[str]:
    """The reviewers who signed off the files of ``digest``, in the order they signed."""
    found: list[str] = []
    for entry in audit.entries():
        if entry.event == SIGNED and entry.detail.get("packDigest") == digest and entry.actor not in found:
            found.append(entry.actor)
    return found


def report_hash(report: Mapping[str, Any]) -> str:
    """SHA-256 of the report's canonical JSON: which report a reviewer signed."""
    return hashlib.sha256(json.dumps(report, sort_keys=True, separators=(",", ":")).encode("utf-8")).hexdigest()


def _reviewer(reference: str) -> str:
    """``Practitioner/123`` (an absolute fhirUser URL keeps its last two parts)."""
    parts = reference.strip().rstrip("/").split("/")
    if len(parts) < 2 or parts[-2] not in _REFERENCE_TYPES or not parts[-1] or " " in reference.strip():
        raise SignOffRefused(f"the reviewer must be a Practitioner reference (Practitioner/123), not {reference!r}")
    return f"{parts[-2]}/{parts[-1]}"


def _check_conformance(report: Mapping[str, Any]) -> None:
    conformance = report.get("conformance")
    if not conformance:
        raise SignOffRefused("the report has no conformance result: make it with --deck")
    if conformance.get("status") == "not-applicable" and conformance.get("reason"):
        return  # the pack's reviewed measures.json says no published measure covers it (its hash is in the report)
    if conformance.get("status") != "passed" or conformance.get("failures"):
        raise SignOffRefused("the proposed version fails conformance: " + "; ".join(conformance.get("failures")
                                                                                    or ["see the report"]))
    if conformance.get("knownDefects"):
        raise SignOffRefused(f"the proposed version has {conformance['knownDefects']} known conformance defect(s): "
                             + "; ".join(row["cause"] for row in conformance.get("defectsByCause") or []))


def check_files(folder: str | Path, report: Mapping[str, Any], side: str = "proposed") -> None:
    """The folder's files are exactly those the report hashed for its ``side`` (``proposed``, or ``current``: the
    version it was compared with); SignOffRefused naming the files that differ otherwise."""
    if not Path(folder).is_dir():
        raise SignOffRefused(f"{folder}: no such pack folder")
    expected = (report.get(side) or {}).get("files") or {}
    found = content_hashes(folder)
    differ = sorted(name for name in expected.keys() | found.keys() if expected.get(name) != found.get(name))
    if not differ:
        return
    shown = ", ".join(differ[:5]) + (f" and {len(differ) - 5} more" if len(differ) > 5 else "")
    if side == "current":
        raise SignOffRefused(f"{folder} is not the version the report compared the proposed one with (content "
                             f"hashes differ: {shown}); make the report again with --current {folder}")
    raise SignOffRefused(f"the report was made for other files than {folder} holds (content hashes differ: "
                         f"{shown}); make the report again for these files")


def _lifecycle_resources(folder: Path) -> list[tuple[Path, dict[str, Any]]]:
    out = []
    for path in pack_files(folder):
        resource = json.loads(path.read_text(encoding="utf-8"))
        if resource.get("resourceType") in LIFECYCLE_TYPES:
            out.append((path, resource))
    return out


def _version(resources: list[tuple[Path, dict[str, Any]]]) -> str:
    """The pack version: its Library's."""
    versions = [str(r.get("version")) for _path, r in resources if r.get("resourceType") == "Library"]
    return versions[0] if versions else "?"


def activate(folder: str | Path, reviewers: list[str], on: date) -> None:
    """Rewrite the folder's PlanDefinitions and Library as ``active``, approved and reviewed on ``on`` by
    ``reviewers`` (``reviewer`` and ``endorser``: a ContactDetail each, its name the reference, with the reference
    in an extension: R4 ContactDetail has no reference)."""
    for path, resource in _lifecycle_resources(Path(folder)):
        people = [{"name": ref, "extension": [{"url": REVIEWER_EXTENSION, "valueReference": {"reference": ref}}]}
                  for ref in reviewers]
        resource.update({"status": "active", "approvalDate": on.isoformat(), "lastReviewDate": on.isoformat(),
                         "reviewer": people, "endorser": people})
        path.write_text(json.dumps(resource, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def provenance(folder: str | Path, reviewers: list[str]) -> dict[str, Any]:
    """A Provenance of the activation: its targets the PlanDefinitions and the Library, its agents the reviewers
    (``verifier``)."""
    targets = [{"reference": f"{r['resourceType']}/{r['id']}"} for _path, r in _lifecycle_resources(Path(folder))]
    return {
        "resourceType": "Provenance", "target": targets,
        "recorded": datetime.now(UTC).isoformat(timespec="seconds"),
        "activity": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-DocumentCompletion",
                                 "code": "LA", "display": "legally authenticated"}],
                     "text": "pack version signed off by the governance reviewers"},
        "agent": [{"type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/provenance-participant-type",
                                        "code": "verifier", "display": "Verifier"}]},
                   "who": {"reference": ref}} for ref in reviewers],
    }


def publish(folder: str | Path, reviewers: list[str], fhir_base: str, config: Mapping[str, Any], *,
            retired: str | Path | None = None) -> list[str]:
    """PUT the pack's resources (and the retired version's PlanDefinitions and Library whose ids the new version
    does not reuse: a reused id is replaced by the new version, the old one kept in its history) and POST the
    Provenance, in one transaction; returns where each went."""
    from app.fhir import FhirClient

    entries = []
    for path in pack_files(Path(folder)):
        resource = json.loads(path.read_text(encoding="utf-8"))
        entries.append({"resource": resource, "request": {"method": "PUT",
                                                          "url": f"{resource['resourceType']}/{resource['id']}"}})
    taken = {entry["request"]["url"] for entry in entries}
    for _path, resource in _lifecycle_resources(Path(retired)) if retired is not None else []:
        url = f"{resource['resourceType']}/{resource['id']}"
        if url not in taken:
            entries.append({"resource": resource, "request": {"method": "PUT", "url": url}})
    entries.append({"resource": provenance(folder, reviewers), "request": {"method": "POST", "url": "Provenance"}})
    answer = FhirClient.from_config({"FHIR_BASE_URL": fhir_base, **config}, base_url=fhir_base).transaction(
        {"resourceType": "Bundle", "type": "transaction", "entry": entries})
    locations = [str((entry.get("response") or {}).get("location") or "") for entry in answer.get("entry") or []]
    return [f"{len(entries) - 1} pack resources to {fhir_base}",
            *(f"Provenance naming the reviewers: {where}" for where in locations if where.startswith("Provenance"))]
