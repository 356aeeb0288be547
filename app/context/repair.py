"""Liberal reading of benign faults: a resource that breaks FHIR R4's rules in a way whose clinical meaning is
still unambiguous is used, read as what it plainly says, and each fault is listed under ``dataQuality``.

Benign faults, and how they are read:

- a ``dateTime`` with a time but no time zone (R4 requires one): the local date it names, the time dropped, so
  that no zone has to be guessed (``2019-03-01T10:00:00`` -> ``2019-03-01``);
- an ``instant`` without a time zone (or without a time): left out, since an instant cannot hold a date alone
  (``issued``, ``meta.lastUpdated``: bookkeeping, never the date a result is read by when another is present);
- a ``decimal`` or ``integer`` sent as a JSON string of a number (``"7.1"``): that number;
- a ``boolean`` sent as the string ``"true"`` or ``"false"``: that boolean;
- a narrative (``text``) without a ``div``, or not a valid narrative: left out (narratives are never read).

Numbers and booleans sent as strings pass fhir.resources' (lax) validation, but the facts only read JSON numbers
and booleans, so they are looked for on every resource, valid or not. The other faults are found from the
validation errors. A repaired copy is used only when it then passes full validation; a resource with any other
fault is not used at all, and its validation error says why. The input is never changed: a repair copies the
containers on the way to what it changes and shares everything else.
"""

from __future__ import annotations

import math
import re
import types
import typing
from datetime import datetime
from functools import cache
from typing import Any

from app.context import precheck, resources

Path = tuple[str | int, ...]
#: A repair: where, the new value (or ``_REMOVE``), and the sentence for dataQuality.
Fix = tuple[Path, Any, str]

_ROUNDS = 3  # a repair can uncover another error (pydantic stops inside a broken element): look again, a few times
_REMOVE = object()

# What a field holds, as far as repairs care.
_OTHER, _COMPLEX, _RESOURCE, _DECIMAL, _INTEGER, _BOOLEAN, _DATETIME, _INSTANT = range(8)

# A date and a time without a zone; the date is group 1. Checked again by datetime.fromisoformat, which knows
# month lengths, so "2019-02-30T10:00:00" is never read as a date.
_ZONELESS_TIME = re.compile(r"(\d{4}-\d{2}-\d{2})T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?")
_ZONELESS_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
_INTEGER_TEXT = re.compile(r"-?(?:0|[1-9][0-9]*)")


def readable(resource: dict[str, Any]) -> tuple[dict[str, Any] | None, list[str]]:
    """The resource to use and its dataQuality sentences: the original when valid, a repaired copy when its only
    faults are benign, or None (and the validation error) when it cannot be read without guessing."""
    error = resources.validate(resource)
    candidate, notes = _retyped(resource)
    if error is None:
        if not notes:
            return resource, []
        # Replacing a string by the number it spells cannot break a resource the library accepted; checked anyway,
        # and if it ever did, the original is used as before.
        return (candidate, notes) if resources.validate_fully(candidate) is None else (resource, [])
    # Never resources.validate on a copy: its remembered verdicts are per server version, i.e. the original's.
    reason = error
    for attempt in range(_ROUNDS + 1):
        errors = _errors(candidate)
        if errors is None:  # not a pydantic error: nothing to locate, the library's message says what is wrong
            reason = resources.validate_fully(candidate) or error
            break
        if not errors:
            return candidate, notes  # valid by resources.validate_fully's own check (its errors are needed here)
        fixes = [_fix(candidate, fault) for fault in errors]
        unreadable = [fault for fault, fix in zip(errors, fixes, strict=True) if fix is None]
        if unreadable or attempt == _ROUNDS:
            # Named after a fault that cannot be read (the first error may be a benign one, or pydantic may only
            # have reached this one once a benign fault was repaired), in resources.validate_fully's words.
            reason = _sentence((unreadable or errors)[0], len(errors))
            break
        candidate = _apply(candidate, [fix for fix in fixes if fix is not None], notes)
    return None, [f"{reason.rstrip('.')}: not used"]  # "... spec regex.: not used" reads badly


def _sentence(error: dict[str, Any], count: int) -> str:
    """A validation error as resources.validate_fully words it."""
    where = ".".join(str(part) for part in error.get("loc", ()) if part != "__root__") or "resource"
    more = f" (and {count - 1} more)" if count > 1 else ""
    return f"failed FHIR R4 validation at {where}: {error.get('msg', 'invalid')}{more}"


def _errors(resource: dict[str, Any]) -> list[dict[str, Any]] | None:
    """The validation errors of ``resource`` (empty when valid), or None when the library fails otherwise."""
    from pydantic import ValidationError  # here: a run whose resources all pass the pre-check never imports it

    try:
        resources._model(resource["resourceType"])(**resource)
    except ValidationError as exc:
        return list(exc.errors(include_url=False))
    except (ValueError, TypeError, AttributeError, KeyError):
        return None  # the malformed shapes resources.validate_fully reports without a location
    return []


def _fix(resource: dict[str, Any], error: dict[str, Any]) -> Fix | None:
    """The repair of one validation error, or None when it is not a benign fault."""
    steps = _steps(resource, error.get("loc") or ())
    narrative = _narrative_model()
    for path, kind, model in steps:
        if kind == _COMPLEX and model == narrative:
            loc = error.get("loc") or ()
            if loc and loc[-1] == "div" and "missing" in str(error.get("type")):
                return path, _REMOVE, f"{_dotted(path)}.div missing: narrative ignored"
            return path, _REMOVE, f"{_dotted(path)} is not a valid narrative ({error.get('msg')}): narrative ignored"
    if not steps:
        return None
    path, kind, _model = steps[-1]
    value = _at(resource, path)
    if kind == _DATETIME and isinstance(value, str):
        day = _zoneless_day(value, with_time=True)
        if day is not None:
            return path, day, f"{_dotted(path)} '{value}' has no time zone: read as the local date {day}"
    if (kind == _INSTANT and isinstance(value, str) and not isinstance(path[-1], int)
            and (_zoneless_day(value, with_time=True) or _zoneless_day(value, with_time=False))):
        return path, _REMOVE, f"{_dotted(path)} '{value}' has no time zone: ignored"
    return None


def _zoneless_day(value: str, *, with_time: bool) -> str | None:
    """The date of a real date-time without a zone (or, without ``with_time``, of a bare date), else None."""
    if with_time:
        match = _ZONELESS_TIME.fullmatch(value)
        day = match.group(1) if match else None
    else:
        day = value if _ZONELESS_DAY.fullmatch(value) else None
    if day is None:
        return None
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return None  # 2019-02-30, 25:00: not a moment anyone recorded, so no date is read from it
    return day


def _apply(resource: dict[str, Any], fixes: list[Fix], notes: list[str]) -> dict[str, Any]:
    """``resource`` with ``fixes`` applied (a copy), their sentences added to ``notes``."""
    done: list[Path] = []
    for path, value, note in sorted(fixes, key=lambda fix: len(fix[0])):
        if any(path[:len(earlier)] == earlier for earlier in done):
            continue  # the same element, or one inside what an earlier fix removed
        resource = _replaced(resource, path, value)
        done.append(path)
        notes.append(note)
    return resource


def _replaced(node: Any, path: Path, value: Any) -> Any:
    """A copy of ``node`` with the element at ``path`` set to ``value`` or removed (``_REMOVE``): only the
    containers on the way are copied, and a dict emptied by a removal goes too (``meta`` without ``lastUpdated``)."""
    head, rest = path[0], path[1:]
    copy: Any = list(node) if isinstance(node, list) else dict(node)
    if rest:
        copy[head] = _replaced(node[head], rest, value)
        if value is _REMOVE and isinstance(copy, dict) and copy[head] == {}:
            del copy[head]
    elif value is _REMOVE:
        del copy[head]
    else:
        copy[head] = value
    return copy


def _at(node: Any, path: Path) -> Any:
    for part in path:
        node = node[part]
    return node


def _dotted(path: Path) -> str:
    """``("component", 0, "valueQuantity", "value")`` -> ``component[0].valueQuantity.value``."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


def _steps(resource: dict[str, Any], loc: tuple[Any, ...]) -> list[tuple[Path, int, Any]]:
    """The elements an error's ``loc`` passes through that the resource has: (path, kind, model) each.

    ``loc`` names fields by their JSON names and list items by index, mixed with pydantic's own segments
    (``root``, ``__root__``, validator names) and with the name of a missing field: those are skipped, since
    they are not in the data.
    """
    node: Any = resource
    model = _resource_model(resource.get("resourceType"))
    kind = _RESOURCE
    path: list[str | int] = []
    steps: list[tuple[Path, int, Any]] = []
    for part in loc:
        if isinstance(part, int) and isinstance(node, list) and 0 <= part < len(node):
            node = node[part]  # an item of a repeating element: same kind, same model
        elif isinstance(part, str) and isinstance(node, dict) and part in node and model is not None:
            kind, model = _fields(model).get(part, (_OTHER, None))
            node = node[part]
        else:
            continue
        path.append(part)
        if kind == _RESOURCE and isinstance(node, dict):
            model = _resource_model(node.get("resourceType"))  # a contained resource: its own type's fields
        steps.append((tuple(path), kind, model))
    return steps


def _retyped(resource: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """``resource`` with numbers and booleans sent as strings made JSON numbers and booleans (a copy when any
    is), and a sentence for each."""
    model = _resource_model(resource.get("resourceType"))
    notes: list[str] = []
    if model is None or not _suspect(resource, model):
        return resource, notes
    return _retyped_element(resource, model, (), notes), notes


def _suspect(node: dict[str, Any], model: Any) -> bool:
    """True when ``node`` has a string where a number or a boolean belongs, at any depth.

    Every resource is looked at, and almost none has such a string: this look builds no paths and copies
    nothing (about 6 us a resource, a third of the full walk); :func:`_retyped_element` then does the work where
    it is needed.
    """
    table = _scalar_or_complex(model)
    for key, value in node.items():
        entry = table.get(key)
        if entry is None:
            continue
        kind, target = entry
        if kind in (_COMPLEX, _RESOURCE):
            for item in value if type(value) is list else (value,):
                if type(item) is dict:
                    inner = target if kind == _COMPLEX else _resource_model(item.get("resourceType"))
                    if inner is not None and _suspect(item, inner):
                        return True
        elif type(value) is str or (type(value) is list and any(type(item) is str for item in value)):
            return True
    return False


def _retyped_element(node: dict[str, Any], model: Any, path: Path, notes: list[str]) -> dict[str, Any]:
    table = _fields(model)
    copy: dict[str, Any] | None = None
    for key, value in node.items():
        entry = table.get(key)
        if entry is None or value is None or entry[0] == _OTHER:
            continue
        new = _retyped_value(value, entry[0], entry[1], (*path, key), notes)
        if new is not value:
            if copy is None:
                copy = dict(node)
            copy[key] = new
    return node if copy is None else copy


def _retyped_value(value: Any, kind: int, model: Any, path: Path, notes: list[str]) -> Any:
    if isinstance(value, list):
        items = [_retyped_value(item, kind, model, (*path, index), notes) for index, item in enumerate(value)]
        return value if all(new is old for new, old in zip(items, value, strict=True)) else items
    if isinstance(value, dict):
        if kind == _RESOURCE:
            model = _resource_model(value.get("resourceType"))
        return _retyped_element(value, model, path, notes) if kind in (_COMPLEX, _RESOURCE) and model else value
    if not isinstance(value, str):
        return value
    number: int | float | bool | None = None
    if kind == _DECIMAL and _decimal_pattern().fullmatch(value):
        number = int(value) if _INTEGER_TEXT.fullmatch(value) else float(value)
        if isinstance(number, float) and not math.isfinite(number):
            return value  # "1e999": no number a JSON parser would give
    elif kind == _INTEGER and _INTEGER_TEXT.fullmatch(value):
        number = int(value)
    elif kind == _BOOLEAN and value in ("true", "false"):
        # Only FHIR's own spellings: "yes", "1" and the like stay as sent (the facts do not read them as booleans).
        notes.append(f"{_dotted(path)} '{value}' sent as a string: read as {value}")
        return value == "true"
    if number is None:
        return value
    notes.append(f"{_dotted(path)} '{value}' sent as a string: read as the number {number}")
    return number


@cache
def _fields(key: str) -> dict[str, tuple[int, str | None]]:
    """JSON name -> (kind, model path of a complex element or None) for the elements of the fhir.resources model
    at ``key`` (:func:`app.context.precheck.model_key`). Kept on disk with the pre-check's tables, so that a run
    does not build the models only to read their fields."""
    plain = precheck.kept_table("repair", key)
    if isinstance(plain, dict):
        table = {name: (entry[0], entry[1]) for name, entry in plain.items()
                 if isinstance(name, str) and isinstance(entry, list) and len(entry) == 2 and entry[0] in _KINDS
                 and (entry[1] is None or (isinstance(entry[1], str) and entry[1].startswith("fhir.resources.")))}
        if len(table) == len(plain):
            return table
    table = _compile_fields(precheck.model_at(key))
    precheck.keep_table("repair", key, {name: list(entry) for name, entry in table.items()})
    return table


_KINDS = frozenset(range(8))


def _compile_fields(model: Any) -> dict[str, tuple[int, str | None]]:
    from fhir_core import types as fhir_types
    from fhir_core.types import FhirBase, FhirElementOrResourceBase

    table: dict[str, tuple[int, str | None]] = {}
    for name, info in model.model_fields.items():
        extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
        key = info.alias or name
        if not extra.get("element_property") or key.startswith("_"):
            continue  # fhir_comments and the ``_field`` extensions of primitives: never repaired
        inner, metadata = _unwrap(info.annotation)
        kind, target = _OTHER, None
        if isinstance(inner, type) and issubclass(inner, FhirBase):
            if issubclass(inner, FhirElementOrResourceBase):
                kind = _RESOURCE  # contained resources: the model comes from each one's resourceType
            else:
                kind, target = _COMPLEX, inner._model_klass
        elif inner is bool:
            kind = _BOOLEAN
        for meta in metadata:
            if type(meta) is fhir_types.DateTime:
                kind = _DATETIME
            elif type(meta) is fhir_types.Instant:
                kind = _INSTANT
            elif type(meta) is fhir_types.Decimal:
                kind = _DECIMAL
            elif isinstance(meta, fhir_types.Integer):  # integer, positiveInt, unsignedInt (not integer64)
                kind = _INTEGER
        table[key] = (kind, target)
    return table


@cache
def _scalar_or_complex(model: str) -> dict[str, tuple[int, str | None]]:
    """The entries of :func:`_fields` :func:`_suspect` looks at: numbers, booleans and elements that hold some."""
    return {key: entry for key, entry in _fields(model).items()
            if entry[0] in (_COMPLEX, _RESOURCE, _DECIMAL, _INTEGER, _BOOLEAN)}


def _unwrap(annotation: Any) -> tuple[Any, tuple[Any, ...]]:
    """The element type of a field annotation (Optional and List removed) and its ``Annotated`` metadata."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        return _unwrap(args[0]) if len(args) == 1 else (None, ())
    if origin is list:
        return _unwrap(typing.get_args(annotation)[0])
    if origin is typing.Annotated:
        base, *metadata = typing.get_args(annotation)
        return base, tuple(metadata)
    return annotation, ()


def _resource_model(resource_type: Any) -> str | None:
    """The model path (:func:`app.context.precheck.model_key`) of a type name, or None."""
    if not isinstance(resource_type, str):
        return None
    key = precheck.kept_table("models", resource_type)
    if isinstance(key, str):
        return key
    try:
        key = precheck.model_key(resources._model(resource_type))
    except (KeyError, ValueError, ImportError, AttributeError):
        return None  # not a FHIR R4B type: nothing is repaired, validation says what is wrong
    precheck.keep_table("models", resource_type, key)
    return key


@cache
def _narrative_model() -> str:
    return precheck.model_key(resources._model("Narrative"))


@cache
def _decimal_pattern() -> re.Pattern[str]:
    from fhir_core import types as fhir_types

    return fhir_types.Decimal.pattern  # the library's own rule for a decimal, so no number it rejects is made
