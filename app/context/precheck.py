"""A fast, conservative pre-check in front of fhir.resources validation.

Building a fhir.resources model costs about 0.1 ms per Observation, most of it in the library's Python
validators that run once per nested element. For the plain JSON shapes servers send, the same verdict can
be reached by walking the dict against tables compiled once from the very same models:

- every key must be a field of the element's model under its JSON name (an unknown key, a ``_field``
  primitive extension, ``fhir_comments``, a contained resource: not handled here);
- a complex element is a non-empty dict, a repeating one a non-empty list of them, checked the same way;
- a primitive value is checked by a pydantic ``TypeAdapter`` built from the field's own annotation, so its
  regex, length and date rules are the library's, not a copy (verdicts are remembered per value: codes,
  systems, units and references repeat across a patient's record);
- required elements are present, and a choice (``value[x]``, ``effective[x]``) has at most one type.

Three primitive types have validators written in Python in the library (``dateTime``, ``instant``,
``decimal``: about 5 us a value, and every result has its own date and value). For them a quick check runs the
library's own steps with the library's own parts (its regex, its leap-second rule, pydantic's date-time parser)
and can only say "valid"; anything else still goes to the adapter.

The pre-check answers only "valid" or "not sure": anything it does not fully understand, and anything it
finds wrong, goes to fhir.resources, which gives the verdict and the message. So it can never accept what
fhir.resources rejects, provided each rule above is at least as strict as the library's; a test compares
both on every resource of the sample data and on thousands of damaged copies.
"""

from __future__ import annotations

import datetime
import re
import threading
import types
import typing
from collections.abc import Callable
from functools import cache
from typing import Any

from pydantic import TypeAdapter, ValidationError

_NONE = type(None)
_PRIMITIVE, _COMPLEX = 0, 1
# A field: (kind, adapter index or model class, repeats, choice group or None)
_Field = tuple[int, Any, bool, str | None]


class _Shape:
    __slots__ = ("fields", "required", "required_choices")

    def __init__(self, fields: dict[str, _Field], required: tuple[str, ...], required_choices: frozenset[str]) -> None:
        self.fields = fields
        self.required = required
        self.required_choices = required_choices


_ADAPTERS: list[TypeAdapter] = []
_QUICK: list[Callable[[Any], bool] | None] = []  # per adapter: a check that can only say "valid", or None
_ADAPTER_INDEX: dict[Any, int] = {}
# (adapter index, Python type, value) -> value accepted; bounded, cleared when full
_PRIMITIVES: dict[tuple[int, type, Any], bool] = {}
_PRIMITIVES_LIMIT = 200_000
_REMEMBERED_LENGTH = 200  # longer strings are checked each time
_lock = threading.Lock()


def accepts(resource: dict[str, Any]) -> bool:
    """True only when fhir.resources (R4B models) would accept ``resource``; False means "not sure"."""
    resource_type = resource.get("resourceType")
    if not isinstance(resource_type, str):
        return False
    shape = _resource_shape(resource_type)
    if shape is None:
        return False
    try:
        return _element(resource, shape, skip="resourceType")
    except RecursionError:
        return False


@cache
def _resource_shape(resource_type: str) -> _Shape | None:
    from fhir.resources.R4B import get_fhir_model_class

    try:
        model = get_fhir_model_class(resource_type)
    except (KeyError, ValueError, ImportError):
        return None
    if getattr(model, "__resource_type__", None) != resource_type:
        return None
    return _shape(model)


def _element(data: Any, shape: _Shape, skip: str | None = None) -> bool:
    if type(data) is not dict or not data:
        return False
    fields = shape.fields
    known = _PRIMITIVES
    shapes = _SHAPES
    chosen: set[str] | None = None
    for key, value in data.items():
        field = fields.get(key)
        if field is None or value is None:
            if key == skip:
                continue
            return False
        kind, target, repeats, group = field
        if group is not None:
            if chosen is None:
                chosen = {group}
            elif group in chosen:
                return False  # two types for one choice element
            else:
                chosen.add(group)
        if repeats:
            if type(value) is not list or not value:
                return False
            items = value
        elif kind == _PRIMITIVE:  # the common case, checked here without a loop
            kind_of = type(value)
            if kind_of is not str and kind_of is not float and kind_of is not int and kind_of is not bool:
                return False  # a list or an object where a primitive belongs
            verdict = known.get((target, kind_of, value))
            if verdict is None:
                verdict = _primitive(target, value)
            if not verdict:
                return False
            continue
        else:
            items = (value,)
        if kind == _PRIMITIVE:
            for item in items:
                kind_of = type(item)
                if kind_of is not str and kind_of is not float and kind_of is not int and kind_of is not bool:
                    return False
                verdict = known.get((target, kind_of, item))
                if verdict is None:
                    verdict = _primitive(target, item)
                if not verdict:
                    return False
        else:
            inner = shapes.get(target) or _shape(target)
            for item in items:
                if not _element(item, inner):
                    return False
    for key in shape.required:
        if key not in data:
            return False
    return not shape.required_choices or (chosen is not None and chosen.issuperset(shape.required_choices))


def forget() -> None:
    """Drop the remembered primitive verdicts (the compiled tables stay: they depend on the library only)."""
    with _lock:
        _PRIMITIVES.clear()


def _primitive(index: int, value: Any) -> bool:
    """Check a primitive value not seen before (``_element`` looks in ``_PRIMITIVES`` first) and remember it."""
    quick = _QUICK[index]
    try:
        if quick is None or not quick(value):
            _ADAPTERS[index].validate_python(value)
        verdict = True
    except (ValidationError, ValueError, TypeError):
        verdict = False
    except Exception:  # whatever else the library raises: not sure, fhir.resources will say
        return False
    if type(value) is str and len(value) > _REMEMBERED_LENGTH:
        return verdict  # long free text (notes, narratives) is rarely repeated: not kept in memory
    with _lock:
        if len(_PRIMITIVES) >= _PRIMITIVES_LIMIT:
            _PRIMITIVES.clear()
        _PRIMITIVES[(index, type(value), value)] = verdict
    return verdict


_SHAPES: dict[type, _Shape] = {}  # what _shape compiled, read directly by the walk


def _shape(model: type) -> _Shape:
    shape = _SHAPES.get(model)
    if shape is None:
        shape = _SHAPES[model] = _compile_shape(model)
    return shape


def _compile_shape(model: type) -> _Shape:
    from fhir_core.types import FhirBase, FhirElementOrResourceBase

    fields: dict[str, _Field] = {}
    required: list[str] = []
    required_choices: set[str] = set()
    for name, info in model.model_fields.items():
        key = info.alias or name
        extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
        if not extra.get("element_property") or key.startswith("_"):
            continue  # fhir_comments and the _field extensions of primitives: left to fhir.resources
        inner, repeats = _unwrap(info.annotation)
        if inner is None:
            continue
        if isinstance(inner, type) and issubclass(inner, FhirBase):
            if issubclass(inner, FhirElementOrResourceBase):
                continue  # contained resources and abstract Element/Resource slots: left to fhir.resources
            field: _Field = (_COMPLEX, inner.get_model_klass(), repeats, None)
        else:
            field = (_PRIMITIVE, _adapter(inner), repeats, None)
        group = extra.get("one_of_many")
        if group:
            field = (*field[:3], group)
            if extra.get("one_of_many_required"):
                required_choices.add(group)
        if info.is_required() or extra.get("element_required"):
            required.append(key)
        fields[key] = field
    return _Shape(fields, tuple(required), frozenset(required_choices))


def _unwrap(annotation: Any) -> tuple[Any, bool]:
    """The element type of a field annotation and whether it repeats; (None, False) for shapes not handled."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [arg for arg in typing.get_args(annotation) if arg is not _NONE]
        if len(args) != 1:
            return None, False
        return _unwrap(args[0])
    if origin in (list, typing.List):  # noqa: UP006 - the models spell it both ways
        (item,) = typing.get_args(annotation)
        inner, repeats = _unwrap(item)
        return (None, False) if repeats else (inner, True)
    return annotation, False


def _adapter(annotation: Any) -> int:
    with _lock:
        index = _ADAPTER_INDEX.get(annotation)
        if index is None:
            from fhir_core.fhirabstractmodel import FHIRAbstractModel

            config = {key: value for key, value in FHIRAbstractModel.model_config.items()
                      if key not in ("extra", "validate_assignment", "populate_by_name")}
            _ADAPTERS.append(TypeAdapter(annotation, config=config or None))
            _QUICK.append(_quick_check(annotation))
            index = _ADAPTER_INDEX[annotation] = len(_ADAPTERS) - 1
    return index


def _quick_check(annotation: Any) -> Callable[[Any], bool] | None:
    """A check that says True only where the library's validator would accept, for the primitive types whose
    validator is Python code; None for the others (their adapter is fast already)."""
    from fhir_core import types as fhir_types

    if typing.get_origin(annotation) is not typing.Annotated:
        return None
    for meta in typing.get_args(annotation)[1:]:
        if type(meta) in (fhir_types.DateTime, fhir_types.Instant):
            return _quick_date_time(type(meta).pattern, fhir_types.FHIR_LEAP_SECOND)
        if type(meta) is fhir_types.Decimal:
            return _quick_decimal(fhir_types.Decimal.pattern)
    return None


def _quick_date_time(pattern: re.Pattern[str], leap_second: re.Pattern[str]) -> Callable[[Any], bool]:
    """dateTime / instant with a time: the library checks its regex (which requires a time zone with a time),
    sets leap seconds aside, then parses with pydantic's date-time validator; so does this, declining partial
    dates and leap seconds (the adapter handles those)."""
    parse = TypeAdapter(datetime.datetime).validate_python

    def check(value: Any) -> bool:
        if type(value) is not str or "T" not in value or not pattern.fullmatch(value) or leap_second.fullmatch(value):
            return False
        try:
            parse(value)
        except (ValidationError, ValueError):
            return False
        return True

    return check


def _quick_decimal(pattern: re.Pattern[str]) -> Callable[[Any], bool]:
    """decimal from a JSON number: the library's only check is its regex on ``str(value)``."""
    def check(value: Any) -> bool:
        if type(value) is not float and type(value) is not int:
            return False
        try:
            return pattern.fullmatch(str(value)) is not None
        except ValueError:  # an integer too long to print
            return False

    return check
