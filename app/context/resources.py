"""Parsing patient resources: FHIR R4 validation, references (type/id/version), and patient scoping.

Resources are validated with fhir.resources' R4B models (FHIR 4.3), which match R4 for every type read here
(Patient, Observation, Condition, MedicationRequest, Medication, AllergyIntolerance, Procedure, Encounter,
DiagnosticReport, ServiceRequest, DeviceRequest, Device). A resource with only benign format faults is repaired and used
(``app/context/repair.py``); one that cannot be read without guessing is skipped. Both are reported under
``dataQuality``; neither stops the facts.
"""

from __future__ import annotations

import gc
import logging
import threading
from collections.abc import Collection
from functools import cache
from typing import Any

from app.context import precheck

USED_TYPES = frozenset({"Patient", "Observation", "Condition", "MedicationRequest", "Medication",
                        "AllergyIntolerance", "Procedure", "Encounter", "DiagnosticReport", "ServiceRequest",
                        "DeviceRequest", "Device", "AdverseEvent"})


def ref(resource: dict[str, Any]) -> dict[str, Any]:
    """The reference facts keep to a resource: type, id and version (None when the source has none, or has
    something other than a string there: a damaged resource is still named as far as it can be)."""
    return {"type": _text(resource.get("resourceType")), "id": _text(resource.get("id")),
            "version": _text(value_at(resource, "meta.versionId"))}


def resource_type(resource: Any) -> str | None:
    """The ``resourceType`` of a resource, or None when it is not an object or its type is not a string."""
    kind = resource.get("resourceType") if isinstance(resource, dict) else None
    return kind if isinstance(kind, str) else None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def problem(resource: dict[str, Any], text: str) -> dict[str, Any]:
    """A ``dataQuality`` entry."""
    return {"ref": ref(resource), "problem": text}


@cache
def _model(resource_type: str) -> Any:
    from fhir.resources.R4B import get_fhir_model_class

    return get_fhir_model_class(resource_type)


# Validation results per server version: a version (id + versionId + lastUpdated) never changes on a FHIR
# server, so a relaunch or a regenerated plan does not validate the same resources again. Resources without
# both meta fields (files, some servers) are always validated.
_VERDICTS: dict[tuple[str, str, str, str], str | None] = {}
_VERDICTS_LIMIT = 50_000
_verdicts_lock = threading.Lock()


def validate(resource: dict[str, Any]) -> str | None:
    """None when ``resource`` is valid FHIR R4 (R4B model), else a short sentence saying what is wrong."""
    meta = resource.get("meta")
    identity = None
    if isinstance(meta, dict) and isinstance(meta.get("versionId"), str) and isinstance(meta.get("lastUpdated"), str):
        identity = (str(resource.get("resourceType")), str(resource.get("id")), meta["versionId"], meta["lastUpdated"])
        if identity in _VERDICTS:
            return _VERDICTS[identity]
    verdict = _verdict(resource)
    if identity is not None:
        with _verdicts_lock:
            if len(_VERDICTS) >= _VERDICTS_LIMIT:
                _VERDICTS.clear()
            _VERDICTS[identity] = verdict
    return verdict


def prepare(*, freeze: bool = False) -> None:
    """Import the models and compile the pre-check's tables for every type facts read (about 0.3 s, once per
    process), so that the first launch after a start does not pay for it. Never raises.

    With ``freeze``, everything the process holds by then (modules, models, compiled tables) is moved out of
    the garbage collector's reach (:func:`gc.freeze`): those objects live as long as the process, and without
    it every full collection walks them again, which cost a long-history assembly about 20 ms of CPU.
    """
    try:
        for type_name in sorted(USED_TYPES):
            _model(type_name)
            precheck.accepts({"resourceType": type_name, "id": "prepare"})
        precheck.accepts({"resourceType": "Observation", "status": "final", "code": {"text": "prepare"},
                          "effectiveDateTime": "2000-01-01T00:00:00Z", "valueQuantity": {"value": 1}})
    except Exception:  # a warm-up only: validation itself reports any real problem when it runs
        logging.getLogger(__name__).exception("preparing validation failed")
    if freeze:
        gc.collect()
        gc.freeze()


def forget_validations() -> None:
    """Drop the remembered validation results, the pre-check's included (benchmarks measure cold runs so)."""
    with _verdicts_lock:
        _VERDICTS.clear()
    precheck.forget()


def _verdict(resource: dict[str, Any]) -> str | None:
    # The pre-check only ever says "valid" when fhir.resources would; everything else gets the library's verdict.
    return None if precheck.accepts(resource) else validate_fully(resource)


def validate_fully(resource: dict[str, Any]) -> str | None:
    """The verdict of fhir.resources itself, without the pre-check or the remembered results."""
    from pydantic import ValidationError  # here: a run whose resources all pass the pre-check never imports it

    try:
        # The model's own __init__, which model_validate reaches through a second pass of pydantic's validator
        # (fhir.resources models have a custom __init__): the same checks and errors, about 6% less CPU.
        _model(resource["resourceType"])(**resource)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first.get("loc", ()) if part != "__root__") or "resource"
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        return f"failed FHIR R4 validation at {where}: {first.get('msg', 'invalid')}{more}"
    except (ValueError, TypeError, AttributeError, KeyError) as exc:
        # fhir.resources raises these for some malformed input (a primitive's ``_field`` extension that is not an
        # object ends in AttributeError inside the library): still a malformed resource, never a crash.
        return f"failed FHIR R4 validation: {type(exc).__name__}: {exc}"[:300]
    return None


def usable(resources: list[dict[str, Any]], *, defer: Collection[str] = ()) -> tuple[
        list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """The resources of the types facts use that can be read, the dataQuality entries of their faults, and
    (deduplicated, not yet validated) the resources of the ``defer`` types, validated later only if used.

    A resource whose only faults are benign (a dateTime without a zone, a number sent as a string...) is kept as a
    repaired copy, each fault listed (:func:`app.context.repair.readable`); any other is dropped and listed."""
    # Imported here: repair builds on this module's validation.
    from app.context.repair import readable

    kept, problems, deferred = [], [], []
    seen: set[tuple[str, str]] = set()
    for resource in resources:
        kind = resource_type(resource)
        if kind not in USED_TYPES:
            if isinstance(resource, dict) and kind is None:
                problems.append(problem(resource, f"resourceType is {_shown_type(resource.get('resourceType'))}, not "
                                                  "the name of a type: not used"))
            continue
        identity = (resource["resourceType"], str(_text(resource.get("id"))))
        if resource.get("id") and identity in seen:
            continue  # the same resource twice (a page overlap, an _include): keep the first
        seen.add(identity)
        if resource["resourceType"] in defer:
            deferred.append(resource)
            continue
        used, faults = readable(resource)
        problems += [problem(resource, fault) for fault in faults]
        if used is not None:
            kept.append(used)
    return kept, problems, deferred


def from_bundle(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    """The resources of any Bundle, ids filled in for transaction entries (``urn:uuid:`` or ``PUT Type/id``).

    The id given is the one carepath's loader uses when it uploads the same Bundle, so facts computed from a
    file and from the server name the same resources. Searchset Bundles nested in a batch response are
    flattened. A reference to another entry's ``urn:uuid:`` full URL (the patient, a Medication) is read as
    that entry's ``Type/id`` when the two differ, as a server resolving the Bundle would.
    """
    if resource_type(bundle) != "Bundle":
        raise ValueError("not a FHIR Bundle (resourceType must be Bundle)")
    found: list[dict[str, Any]] = []
    aliases: dict[str, str] = {}
    # Nested Bundles are flattened in place with a stack, not by recursion: their depth is the sender's choice.
    stack = [iter(_entries(bundle))]
    while stack:
        entry = next(stack[-1], _DONE)
        if entry is _DONE:
            stack.pop()
            continue
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(resource, dict):
            continue
        if resource.get("resourceType") == "Bundle":
            nested = resource.get("entry")
            stack.append(iter(nested if isinstance(nested, list) else ()))
            continue
        if not resource.get("id"):
            resource = {**resource, "id": _entry_id(entry)}
        full_url = entry.get("fullUrl")
        if isinstance(full_url, str) and full_url.startswith("urn:uuid:") and isinstance(resource["id"], str) \
                and resource["id"] and full_url[len("urn:uuid:"):] != resource["id"]:
            aliases[full_url] = f"{resource_type(resource)}/{resource['id']}"
        found.append(resource)
    return [_resolved(resource, aliases) for resource in found] if aliases else found


_DONE = object()


def _entries(bundle: dict[str, Any]) -> list[Any]:
    """A Bundle's entries; ValueError when ``entry`` is there but not a list."""
    entries = bundle.get("entry")
    if entries is not None and not isinstance(entries, list):
        raise ValueError(f"Bundle.entry is not a list (a {_json_type(entries)})")
    return entries or []


def _shown_type(value: Any) -> str:
    """``missing``, ``a number``, ``an array``...: what a JSON value is, for a sentence."""
    if value is None:
        return "missing"
    name = _json_type(value)
    return f"{'an' if name[0] in 'aeiou' else 'a'} {name}"


def _json_type(value: Any) -> str:
    """The JSON name of a value's type, for messages."""
    names = {dict: "object", list: "array", str: "string", bool: "boolean", int: "number", float: "number"}
    return "null" if value is None else names.get(type(value), type(value).__name__)


_REFERENCE_FIELDS = ("subject", "patient", "medicationReference")


def _resolved(resource: dict[str, Any], aliases: dict[str, str]) -> dict[str, Any]:
    """``resource`` with its patient and medication references to aliased full URLs rewritten (a copy)."""
    changed = {}
    for field in _REFERENCE_FIELDS:
        holder = resource.get(field)
        reference = holder.get("reference") if isinstance(holder, dict) else None
        target = aliases.get(reference) if isinstance(reference, str) else None
        if target:
            changed[field] = {**holder, "reference": target}
    return {**resource, **changed} if changed else resource


def _entry_id(entry: dict[str, Any]) -> str | None:
    url = _text(value_at(entry, "request.url")) or ""
    if value_at(entry, "request.method") == "PUT" and "/" in url and "?" not in url:
        return url.rsplit("/", 1)[1]
    full_url = _text(entry.get("fullUrl")) or ""
    if full_url.startswith("urn:uuid:"):
        return full_url[len("urn:uuid:"):]
    if "/" in full_url:
        return full_url.rstrip("/").rsplit("/", 1)[1]
    return None


def subject_id(resource: dict[str, Any]) -> str | None:
    """The patient id a clinical resource points to (``subject`` or ``patient``), or None."""
    return reference_id(resource.get("subject") or resource.get("patient"), "Patient")


def reference_id(holder: Any, resource_type: str) -> str | None:
    """The id a Reference points to when it names ``resource_type`` (``Patient/x``, an absolute URL of it) or a
    ``urn:uuid:x`` of a Bundle; None for anything else."""
    reference = holder.get("reference") if isinstance(holder, dict) else None
    if not isinstance(reference, str):
        return None
    if reference.startswith("urn:uuid:"):
        return reference[len("urn:uuid:"):]
    if f"{resource_type}/" in reference:
        return reference.split(f"{resource_type}/", 1)[1].split("/", 1)[0]
    return None


def value_at(resource: Any, path: str) -> Any:
    """The element at a dotted ``path`` (``period.start``), or None where any step is missing or not an object."""
    node = resource
    for part in path.split(".") if "." in path else (path,):  # most paths are top-level: no split
        node = node.get(part) if isinstance(node, dict) else None
    return node


def codings(concept: Any) -> list[dict[str, Any]]:
    """The codings of a CodeableConcept (empty when absent or not a list; only the codings that are objects)."""
    found = concept.get("coding") if isinstance(concept, dict) else None
    return [coding for coding in found if isinstance(coding, dict)] if isinstance(found, list) else []


def value_field(node: Any) -> str | None:
    """The name of the ``value[x]`` an Observation (or one of its components) holds, of any type, or None when it
    holds none (absent, or empty)."""
    if not isinstance(node, dict):
        return None
    return next((key for key, value in node.items() if key.startswith("value") and value not in (None, "", {}, [])),
                None)
