"""Cohort input: folders of Bulk Data ndjson or of Bundles, and which patient each resource belongs to.

Pure functions over text and dicts, used alike by the Spark job and by the single-process loop. Only the
resource types the context layer reads (:data:`app.context.resources.USED_TYPES`) are kept: facts drop every
other type anyway (Claims and ExplanationOfBenefits are half of a Synthea record), so dropping them first
changes no fact and keeps them out of the shuffle.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from app.cohort.decoder import (
    InputLimits,
    UnreadableInput,
    decode_document,
    decode_resource,
    document_bytes,
    ndjson_lines,
)
from app.context.resources import USED_TYPES, from_bundle, reference_id, subject_id

DEFAULT_LIMITS = InputLimits()
#: Lines already decoded within the limits once are read again without them.
_UNBOUNDED = InputLimits(decompressed=2**63, document=2**63)
#: File names read as ndjson (one resource per line) and as one JSON document (a Bundle) each.
NDJSON_SUFFIXES = (".ndjson", ".ndjson.gz", ".jsonl")
BUNDLE_SUFFIXES = (".json", ".json.gz")
#: Sort key of one resource: (source kind, file, partition, position). Within a patient the resources are
#: put back in input order, so the facts see them as ``carepath plan`` sees the same file.
Order = tuple[int, str, int, int]
#: What the grouping emits per resource: the patient's id and (order, the resource as text or as a dict).
Keyed = tuple[str, tuple[Order, "str | dict[str, Any]"]]


def input_files(folder: str | Path) -> tuple[list[str], list[str]]:
    """The ndjson files and the Bundle files under ``folder`` (recursive, sorted), as absolute paths."""
    root = Path(folder)
    if not root.is_dir():
        raise FileNotFoundError(f"{folder}: no such folder")
    ndjson, bundles = [], []
    for path in sorted(p for p in root.rglob("*") if p.is_file() and not p.name.startswith((".", "_"))):
        name = path.name.lower()
        if name.endswith(NDJSON_SUFFIXES):
            ndjson.append(str(path.resolve()))
        elif name.endswith(BUNDLE_SUFFIXES) and not name.endswith("manifest.json"):
            bundles.append(str(path.resolve()))
    return ndjson, bundles


def patient_of(resource: dict[str, Any]) -> str | None:
    """The id of the patient a resource belongs to: its own id for a Patient, else its patient reference."""
    if resource.get("resourceType") == "Patient":
        return resource.get("id") if isinstance(resource.get("id"), str) else None
    # subject or patient, as the facts read it; a Coverage names its beneficiary
    return subject_id(resource) or reference_id(resource.get("beneficiary"), "Patient") or None


def medication_id(reference: Any) -> str | None:
    """The Medication id a ``medicationReference`` points to (``Medication/x`` or ``urn:uuid:x``)."""
    return reference_id(reference, "Medication")


def key_lines(partition: int, lines: Iterable[str | UnreadableInput], counts: Any = None, *, file: str = "",
              limits: InputLimits = DEFAULT_LIMITS) -> Iterator[Keyed]:
    """(patient, (order, line)) for each line of an ndjson partition that a patient's facts can use.

    Medications are keyed by the join in :func:`medication_sides`; blank lines are skipped; a line that cannot
    be read (:mod:`app.cohort.decoder`) and a resource without a patient are counted in ``counts`` (a
    :class:`Counts` or a Spark accumulator of one) under a kind that names ``file``, never fatal.
    """
    for position, line in enumerate(lines):
        if isinstance(line, UnreadableInput):
            _add(counts, _named(file, line.kind))
            continue
        if not line.strip():
            continue
        try:
            resource = decode_resource(line, limits)
        except UnreadableInput as exc:
            _add(counts, _named(file, f"lines {exc.kind}"))
            continue
        resource_type = resource["resourceType"]
        if resource_type not in USED_TYPES or resource_type == "Medication":
            continue
        owner = patient_of(resource)
        if owner is None:
            _add(counts, f"{resource_type} without a patient reference")
            continue
        yield owner, ((0, file, partition, position), line)


#: The text a line must contain to be read by :func:`medication_sides` (the Spark job tests it in the JVM,
#: so the bulk of the lines never reaches Python twice).
MEDICATION_MARKERS = ('"Medication"', '"medicationReference"')


def medication_sides(numbered: Iterable[tuple[int, str | UnreadableInput]], *,
                     limits: InputLimits = DEFAULT_LIMITS) -> Iterator[tuple[str, tuple[str, Any]]]:
    """The two sides of the Medication join, by Medication id: ('Medication', (order, line)) and ('prescribed',
    patient).

    ``numbered`` gives each line with a number, unique and increasing within a file. Medications come after the
    patient's own resources (source kind 2 of :data:`Order`), by that number. Lines without a marker are skipped
    unparsed; lines that cannot be read are skipped (:func:`key_lines` counts them).
    """
    for number, line in numbered:
        if isinstance(line, UnreadableInput) or not any(marker in line for marker in MEDICATION_MARKERS):
            continue
        try:
            resource = decode_resource(line, limits)
        except UnreadableInput:
            continue
        if resource["resourceType"] == "Medication" and isinstance(resource.get("id"), str):
            yield resource["id"], ("Medication", ((2, "", 0, number), line))
        elif resource["resourceType"] == "MedicationRequest":
            target, owner = medication_id(resource.get("medicationReference")), patient_of(resource)
            if target and owner:
                yield target, ("prescribed", owner)


def line_number(file: int, position: int) -> int:
    """A number following input order: the file's index in the high bits (as Spark's
    ``monotonically_increasing_id`` puts the partition's)."""
    return (file << 33) + position


def key_bundle(path: str, counts: Any = None, *, limits: InputLimits = DEFAULT_LIMITS) -> Iterator[Keyed]:
    """(patient, (order, resource)) for each resource of a Bundle file; what names no patient goes to the
    Bundle's first Patient, as ``carepath plan`` reads the same file. A file that cannot be read is counted under
    its name, never fatal."""
    try:
        resources = from_bundle(decode_document(document_bytes(path, limits), limits))
    except UnreadableInput as exc:
        _add(counts, _named(path, exc.kind))
        return
    except ValueError:
        _add(counts, _named(path, "not a FHIR Bundle"))
        return
    first = next((r["id"] for r in resources if r.get("resourceType") == "Patient" and isinstance(r.get("id"), str)),
                 None)
    for position, resource in enumerate(resources):
        resource_type = resource.get("resourceType")
        if not isinstance(resource_type, str):
            _add(counts, _named(path, "entries that are not a FHIR resource (resourceType is not a string)"))
            continue
        if resource_type not in USED_TYPES:
            continue
        owner = patient_of(resource) or first
        if owner is None:
            _add(counts, f"{resource_type} without a patient reference")
            continue
        yield owner, ((1, path, 0, position), resource)


def file_lines(path: str, counts: Any = None, *, limits: InputLimits = DEFAULT_LIMITS
               ) -> Iterator[str | UnreadableInput]:
    """The lines of an ndjson file, streamed (gzip when its name ends in .gz, within the limits); a file that
    cannot be read gives no line and is counted under its name, never fatal."""
    try:
        yield from ndjson_lines(path, limits)
    except UnreadableInput as exc:
        _add(counts, _named(path, exc.kind))
    except (OSError, EOFError, zlib.error) as exc:  # a file that changed or broke while it was read
        _add(counts, _named(path, f"files that could not be read to the end ({type(exc).__name__})"))


def resources_in_order(items: Iterable[tuple[Order, str | dict[str, Any]]]) -> list[dict[str, Any]]:
    """One patient's resources, parsed (lines were decoded once already, by the same decoder) and back in input
    order."""
    return [decode_resource(item, _UNBOUNDED) if isinstance(item, str) else item
            for _, item in sorted(items, key=lambda x: x[0])]


def local_groups(source: str | Path, limits: InputLimits = DEFAULT_LIMITS) -> tuple[dict[str, list[Any]], Counts]:
    """The same groups in one process, in memory (the plain loop the benchmark compares with Spark)."""
    groups: dict[str, list[Any]] = {}
    problems = Counts()
    ndjson, bundles = input_files(source)
    medications: dict[str, list[Any]] = {}
    prescribed: dict[str, set[str]] = {}
    for index, path in enumerate(ndjson):
        for patient, item in key_lines(0, file_lines(path, problems, limits=limits), problems, file=path,
                                       limits=limits):
            groups.setdefault(patient, []).append(item)
        numbered = ((line_number(index, position), line)
                    for position, line in enumerate(file_lines(path, limits=limits)))
        for medication, (side, value) in medication_sides(numbered, limits=limits):
            if side == "Medication":
                medications.setdefault(medication, []).append(value)
            else:
                prescribed.setdefault(medication, set()).add(value)
    for medication, patients in prescribed.items():
        for patient in patients:
            groups.setdefault(patient, []).extend(medications.get(medication, []))
    for path in bundles:
        for patient, item in key_bundle(path, problems, limits=limits):
            groups.setdefault(patient, []).append(item)
    return groups, problems


class Counts(dict):
    """Numbers by kind (input problems; a report's counts): ``add({kind: n})``, as a Spark accumulator of
    :class:`CountsParam` takes it."""

    def add(self, more: dict[Any, int]) -> None:
        """Count the numbers in ``more`` too."""
        for kind, number in more.items():
            self[kind] = self.get(kind, 0) + number


def _named(path: str, kind: str) -> str:
    """A count's kind naming the file it was found in ("Observation.ndjson: lines not JSON")."""
    return f"{Path(path).name}: {kind}" if path else kind


def _add(counts: Any, kind: str) -> None:
    if counts is not None:
        counts.add({kind: 1})
