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

A command line run validates one patient and pays for the imports: pydantic, the library's types and the
models the tables are compiled from cost more than the walk. So the tables are kept on disk (plain JSON in
``CAREPATH_CACHE_DIR``, see "the tables kept on disk" below), and the common primitive types (string, code, id,
uri, boolean, integer, decimal, date, dateTime, instant) have a plain check that needs neither pydantic nor the
library: it says "valid" only where the library's validator certainly accepts, and anything else still goes to
the adapter, built when first needed. A run whose values are all plain never imports pydantic.

The pre-check answers only "valid" or "not sure": anything it does not fully understand, and anything it
finds wrong, goes to fhir.resources, which gives the verdict and the message. So it can never accept what
fhir.resources rejects, provided each rule above is at least as strict as the library's; a test compares
both on every resource of the sample data and on thousands of damaged copies.
"""

from __future__ import annotations

import contextlib
import datetime
import decimal
import re
import threading
import types
import typing
from collections.abc import Callable
from functools import cache
from typing import Any

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


# Per primitive type (an index): its annotation, or its name in fhir.resources.R4B.fhirtypes until it is needed;
# the library's adapter and quick check, built when first needed (None until then); and a plain check
# (:func:`_plain_check`) that needs neither pydantic nor the library, or None.
_ANNOTATIONS: list[Any] = []
_ADAPTERS: list[Any] = []
_QUICK: list[Callable[[Any], bool] | None] = []  # per adapter: a check that can only say "valid", or None
_PLAIN: list[Callable[[Any], bool] | None] = []
_ADAPTER_INDEX: dict[Any, int] = {}  # by the annotation's fhirtypes name, or by the annotation when it has none
# (adapter index, Python type, value) -> value accepted; bounded, cleared when full
_PRIMITIVES: dict[tuple[int, type, Any], bool] = {}
_PRIMITIVES_LIMIT = 200_000
_REMEMBERED_LENGTH = 200  # longer strings are checked each time
_lock = threading.Lock()
_tables_lock = threading.Lock()  # the kept tables (keep_table), taken inside _lock


def accepts(resource: dict[str, Any]) -> bool:
    """True only when fhir.resources (R4B models) would accept ``resource``; False means "not sure"."""
    resource_type = resource.get("resourceType")
    if not isinstance(resource_type, str):
        return False
    try:
        shape = _resource_shape(resource_type)
        return shape is not None and _element(resource, shape, skip="resourceType")
    except (RecursionError, ImportError, AttributeError):  # too deep; a kept table naming no model: not sure
        return False


@cache
def _resource_shape(resource_type: str) -> _Shape | None:
    key = kept_table("resources", resource_type)
    if not isinstance(key, str):
        from fhir.resources.R4B import get_fhir_model_class

        try:
            model = get_fhir_model_class(resource_type)
        except (KeyError, ValueError, ImportError):
            return None
        if getattr(model, "__resource_type__", None) != resource_type:
            return None
        key = model_key(model)
        keep_table("resources", resource_type, key)
    return _shape(key)


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
    plain = _PLAIN[index]
    if plain is not None and plain(value):
        verdict = True
    else:
        try:
            adapter, quick = _library_check(index)
        except Exception:  # the library's adapter could not be built: not sure, fhir.resources will say
            return False
        from pydantic import ValidationError

        try:
            if quick is None or not quick(value):
                adapter.validate_python(value)
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


#: What _shape compiled, by the model's import path (``fhir.resources.R4B.coding.Coding``), read by the walk.
_SHAPES: dict[str, _Shape] = {}
_models: dict[str, type] = {}  # the models imported so far, by the same path


def _shape(key: str) -> _Shape:
    shape = _SHAPES.get(key)
    if shape is None:
        stored = kept_table("shapes", key)
        shape = _from_stored(stored) if stored is not None else None
        if shape is None:
            shape, plain = _compile_shape(model_at(key))
            if plain is not None:
                keep_table("shapes", key, plain)
        _SHAPES[key] = shape
    return shape


def model_key(model: type) -> str:
    """The import path by which the tables name a fhir.resources model."""
    key = f"{model.__module__}.{model.__qualname__}"
    _models.setdefault(key, model)
    return key


def model_at(key: str) -> type:
    """The fhir.resources model a table names (ImportError for anything else)."""
    model = _models.get(key)
    if model is None:
        if not key.startswith("fhir.resources."):
            raise ImportError(f"not a fhir.resources model: {key}")
        from pydantic._internal._validators import import_string  # how fhir_core finds a field's model

        model = _models[key] = import_string(key)
    return model


# -- the tables kept on disk ---------------------------------------------------------------------------------------
#
# Compiling a table needs the fhir.resources model, and building the models (pydantic schemas for every element
# type a resource reaches) is most of a command line run's validation. A table depends only on the library's
# models and on this module, so the tables are kept as plain JSON (app.cache, CAREPATH_CACHE_DIR) under a name made
# of Python's version, of the library files that decide them (_library_sources) and of this module's source. A
# primitive field is kept as the name of its annotation in ``fhir.resources.R4B.fhirtypes`` and gets the library's
# own adapter for that annotation when a value needs it; a table that cannot be read whole is compiled from the
# models again. The file holds no patient data: field names, type names and the library's regexes only. Like the
# pack validation verdicts (app.engine.packs), the file is trusted as the user's own: whoever can write the user's
# cache folder can already change what the user runs.

#: The sections of the file: ``resources`` (resource type -> model path), ``shapes`` (model path -> this module's
#: table), ``plain`` (fhirtypes name -> :func:`_plain_spec`), and those of :mod:`app.context.repair` (``models``:
#: type name -> model path; ``repair``: its tables).
_SECTIONS = ("resources", "shapes", "plain", "models", "repair")
_stored_tables: dict[str, dict[str, Any]] | None = None


def _stored() -> dict[str, dict[str, Any]]:
    """The tables read from disk (once per process), by section; empty when there are none or they cannot be
    read."""
    global _stored_tables
    if _stored_tables is None:
        tables: dict[str, dict[str, Any]] = {section: {} for section in _SECTIONS}
        path = _tables_path()
        if path is not None:
            import orjson

            try:
                data = orjson.loads(path.read_bytes())
                if isinstance(data, dict) and all(isinstance(data.get(section), dict) for section in _SECTIONS) and \
                        all(isinstance(value, str) for section in ("resources", "models")
                            for value in data[section].values()):
                    tables = {section: data[section] for section in _SECTIONS}
            except (OSError, ValueError):
                pass
        _stored_tables = tables
    return _stored_tables


def kept_table(section: str, key: str) -> Any:
    """A table kept on disk (plain JSON data, to be checked by the reader), or None."""
    return _stored()[section].get(key)


def keep_table(section: str, key: str, plain: Any) -> None:
    """Add a table compiled by this process to the file (rewritten whole, atomically; a cache: failures ignored)."""
    stored = _stored()
    with _tables_lock:
        stored[section][key] = plain
        path = _tables_path()
        if path is None:
            return
        import orjson

        from app.cache import write_atomically

        write_atomically(path, orjson.dumps(stored, option=orjson.OPT_SORT_KEYS))


@cache
def _tables_path() -> Any:
    """The file of the tables, named by a digest of Python's version, of the library files that decide them
    (:func:`_library_sources`) and of this module; None when caching is off or any of them cannot be read."""
    import hashlib
    import sys

    from app.cache import cache_dir

    sources = _library_sources()
    folder = cache_dir("precheck") if sources else None
    if folder is None:
        return None
    digest = hashlib.sha256(sys.version.encode())
    try:
        for path in sources:
            digest.update(f"\0{path.name}\0".encode())
            digest.update(path.read_bytes())
        digest.update(__loader__.get_data(__file__))  # type: ignore[name-defined]
    except (OSError, AttributeError, TypeError, NameError):
        return None
    return folder / f"{digest.hexdigest()[:24]}.json"


def _library_sources() -> list[Any]:
    """The library files whose content decides the tables, found without importing them: pydantic's and
    pydantic-core's versions, fhir_core's types, constraints and model base, fhir.resources' version and R4B
    types. Empty when any is missing."""
    import importlib.util
    from pathlib import Path

    wanted = {"pydantic": ("version.py",), "pydantic_core": ("__init__.py",),
              "fhir_core": ("types.py", "constraints.py", "fhirabstractmodel.py"),
              "fhir": ("resources/__init__.py", "resources/R4B/fhirtypes.py", "resources/R4B/__init__.py")}
    found = []
    for package, files in wanted.items():
        try:
            spec = importlib.util.find_spec(package)
        except (ImportError, ValueError):
            return []
        locations = list(spec.submodule_search_locations or []) if spec else []
        for name in files:
            path = next((Path(place) / name for place in locations if (Path(place) / name).is_file()), None)
            if path is None:
                return []
            found.append(path)
    return found


def _from_stored(plain: Any) -> _Shape | None:
    """A table as kept on disk made a _Shape again (its primitives given the library's adapters), or None when it is
    not exactly what :func:`_compile_shape` writes."""
    try:
        fields: dict[str, _Field] = {}
        for key, (kind, target, repeats, group) in plain["fields"].items():
            if not isinstance(key, str) or not isinstance(target, str) or type(repeats) is not bool or \
                    not (group is None or isinstance(group, str)):
                return None
            if kind == _PRIMITIVE:
                index = _named_index(target)
                if index is None:
                    return None
                fields[key] = (_PRIMITIVE, index, repeats, group)
            elif kind == _COMPLEX and target.startswith("fhir.resources."):
                fields[key] = (_COMPLEX, target, repeats, group)
            else:
                return None
        required, choices = plain["required"], plain["choices"]
        if not all(isinstance(key, str) for key in [*required, *choices]):
            return None
        return _Shape(fields, tuple(required), frozenset(choices))
    except (KeyError, TypeError, ValueError):
        return None


def _annotation_named(name: str) -> Any:
    """The primitive annotation ``fhir.resources.R4B.fhirtypes`` names ``name`` (``CodeType``), or None."""
    from fhir.resources.R4B import fhirtypes

    if not name.endswith("Type") or name.startswith("_"):
        return None
    return getattr(fhirtypes, name, None)


@cache
def _annotation_names() -> dict[Any, str]:
    """annotation -> its name in ``fhir.resources.R4B.fhirtypes`` (the first name, sorted, that gives it back)."""
    from fhir.resources.R4B import fhirtypes

    names: dict[Any, str] = {}
    for name in sorted(dir(fhirtypes)):
        value = getattr(fhirtypes, name)
        if _annotation_named(name) is not None:
            with contextlib.suppress(TypeError):  # unhashable: not an annotation a field has
                names.setdefault(value, name)
    return names


def _compile_shape(model: type) -> tuple[_Shape, dict[str, Any] | None]:
    """The table of a model, and the same as plain data to keep on disk (None when a primitive annotation has no
    name in ``fhirtypes``: that table is compiled in each process)."""
    from fhir_core.types import FhirBase, FhirElementOrResourceBase

    fields: dict[str, _Field] = {}
    plain: dict[str, list[Any]] | None = {}
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
            field: _Field = (_COMPLEX, inner._model_klass, repeats, None)
            stored_as = inner._model_klass
        else:
            stored_as = _annotation_names().get(inner)
            if stored_as is None or _annotation_named(stored_as) != inner:
                plain, stored_as = None, None
            field = (_PRIMITIVE, _adapter(inner, stored_as), repeats, None)
        group = extra.get("one_of_many")
        if group:
            field = (*field[:3], group)
            if extra.get("one_of_many_required"):
                required_choices.add(group)
        if info.is_required() or extra.get("element_required"):
            required.append(key)
        fields[key] = field
        if plain is not None:
            plain[key] = [field[0], stored_as, repeats, field[3]]
    shape = _Shape(fields, tuple(required), frozenset(required_choices))
    if plain is None:
        return shape, None
    return shape, {"fields": plain, "required": required, "choices": sorted(required_choices)}


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


def _adapter(annotation: Any, name: str | None = None) -> int:
    """The index of a primitive type, by its annotation (and its name in ``fhirtypes`` when it has one)."""
    with _lock:
        index = _ADAPTER_INDEX.get(name or annotation)
        if index is None:
            plain = None
            if name is not None:
                spec = _plain_spec(annotation)
                keep_table("plain", name, spec)
                plain = _plain_check(spec)
            index = _new_index(annotation, plain, name or annotation)
    return index


def _named_index(name: str) -> int | None:
    """The index of the primitive type ``fhirtypes`` names ``name``, from the kept tables alone (no import of the
    library until a value needs its adapter); None for a name no table could have written."""
    if not isinstance(name, str) or not name.endswith("Type") or name.startswith("_"):
        return None
    with _lock:
        index = _ADAPTER_INDEX.get(name)
        if index is None:
            index = _new_index(name, _plain_check(kept_table("plain", name)), name)
    return index


def _new_index(annotation: Any, plain: Callable[[Any], bool] | None, key: Any) -> int:
    _ANNOTATIONS.append(annotation)
    _ADAPTERS.append(None)
    _QUICK.append(None)
    _PLAIN.append(plain)
    index = _ADAPTER_INDEX[key] = len(_ANNOTATIONS) - 1
    return index


def _library_check(index: int) -> tuple[Any, Callable[[Any], bool] | None]:
    """The library's adapter and quick check of a primitive type, built the first time a value needs them."""
    adapter = _ADAPTERS[index]
    if adapter is None:
        from fhir_core.fhirabstractmodel import FHIRAbstractModel
        from pydantic import TypeAdapter

        annotation = _ANNOTATIONS[index]
        if isinstance(annotation, str):
            annotation = _annotation_named(annotation)
            if annotation is None:
                raise LookupError(f"no primitive type {_ANNOTATIONS[index]!r} in fhirtypes")
        config = {key: value for key, value in FHIRAbstractModel.model_config.items()
                  if key not in ("extra", "validate_assignment", "populate_by_name")}
        quick = _quick_check(annotation)
        adapter = TypeAdapter(annotation, config=config or None)
        with _lock:
            _QUICK[index] = quick
            _ADAPTERS[index] = adapter
    return adapter, _QUICK[index]


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


# -- plain checks: no pydantic, no models ---------------------------------------------------------------------------
#
# Importing pydantic and the library's types is most of what a command line run pays for validation, and most
# primitive values are plain: a code, an id, a boolean, a dateTime with a zone. For the common primitive types a
# check written here says "valid" only for values the library's validator certainly accepts, and anything else
# goes to the library's adapter as before. What the check needs from the library (its regexes, its integer bounds,
# its id length) is read from the library when the tables are compiled (:func:`_plain_spec`) and kept with them.
# Each check is stricter than the library: a string the library would match with a regex is accepted only when
# every character is one both regex engines (pydantic's Rust one and Python's) read the same way.

_ID = re.compile(r"[A-Za-z0-9\-.]+")
_TEXT_CONTROLS = str.maketrans("", "", "\t\n\r")
_DATE_TIME = re.compile(r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.\d{1,6})?(?:Z|[+-]\d{2}:\d{2})")
_FULL_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
_ID_PATTERN = r"^[A-Za-z0-9\-.]+$"  # fhir_core's default (fhir_core.constraints.TYPES_ID_PATTERN)


def _plain_spec(annotation: Any) -> list[Any] | None:
    """What :func:`_plain_check` needs to check values of ``annotation`` without the library, read from the
    library now; None for types it does not check (and for any library setting that changes these rules)."""
    from fhir_core import constraints
    from fhir_core import types as fhir_types
    from fhir_core.fhirabstractmodel import FHIRAbstractModel

    if set(FHIRAbstractModel.model_config) - {"extra", "validate_assignment", "populate_by_name"}:
        return None  # a global model setting (str_strip_whitespace, strict...) changes what values are accepted
    if annotation is bool:
        return ["boolean"]
    if typing.get_origin(annotation) is not typing.Annotated:
        return None
    base, *metadata = typing.get_args(annotation)
    if len(metadata) != 1:
        return None
    meta, kind = metadata[0], type(metadata[0])
    if base is str and kind in (fhir_types.String, fhir_types.Markdown):
        return ["string"]
    if base is str and kind is fhir_types.Code:
        return ["code"]
    if base is str and kind in (fhir_types.Uri, fhir_types.Canonical) and meta.pattern.pattern == r"\S*":
        return ["uri"]
    if base is str and kind is fhir_types.Id and getattr(constraints, "TYPES_ID_PATTERN", None) == _ID_PATTERN:
        longest = getattr(constraints, "TYPES_ID_MAX_LENGTH", None)
        return ["id", min(64, longest) if isinstance(longest, int) else 64]
    if base is int and kind in (fhir_types.Integer, fhir_types.UnsignedInt, fhir_types.PositiveInt):
        return ["integer", meta.min_length, meta.max_length]
    if base is decimal.Decimal and kind is fhir_types.Decimal:
        return ["decimal", kind.pattern.pattern]
    if base is datetime.date and kind is fhir_types.Date:
        return ["date", kind.pattern.pattern]
    if base is datetime.datetime and kind in (fhir_types.DateTime, fhir_types.Instant):
        return ["dateTime", kind.pattern.pattern]
    return None


def _plain_check(spec: Any) -> Callable[[Any], bool] | None:
    """The check a spec of :func:`_plain_spec` describes (None for None or anything else)."""
    if not isinstance(spec, list) or not spec or not isinstance(spec[0], str):
        return None
    kind, arguments = spec[0], spec[1:]
    try:
        if kind == "boolean" and not arguments:
            return lambda value: type(value) is bool
        if kind == "string" and not arguments:
            return _plain_string
        if kind == "code" and not arguments:
            return _plain_code
        if kind == "uri" and not arguments:
            return _plain_uri
        if kind == "id" and len(arguments) == 1 and type(arguments[0]) is int:
            return _plain_id(arguments[0])
        if kind == "integer" and len(arguments) == 2 and all(type(bound) is int for bound in arguments):
            low, high = arguments
            return lambda value: type(value) is int and low <= value <= high
        if kind == "decimal" and len(arguments) == 1 and isinstance(arguments[0], str):
            return _quick_decimal(re.compile(arguments[0]))
        if kind == "date" and len(arguments) == 1 and isinstance(arguments[0], str):
            return _plain_date(re.compile(arguments[0]))
        if kind == "dateTime" and len(arguments) == 1 and isinstance(arguments[0], str):
            return _plain_date_time(re.compile(arguments[0]))
    except re.error:
        return None
    return None


def _plain_string(value: Any) -> bool:
    """string, markdown: the library's regex (``[ \\r\\n\\t\\S]+``) matches any text of printable characters, tabs
    and line breaks."""
    return type(value) is str and value != "" and value.translate(_TEXT_CONTROLS).isprintable()


def _plain_code(value: Any) -> bool:
    """code (``^[^\\s]+(\\s[^\\s]+)*$``): printable characters, words separated by single spaces."""
    return type(value) is str and value != "" and value.isprintable() and value[0] != " " and value[-1] != " " \
        and "  " not in value


def _plain_uri(value: Any) -> bool:
    """uri, canonical (``\\S*``): printable characters without a space."""
    return type(value) is str and value != "" and value.isprintable() and " " not in value


def _plain_id(longest: int) -> Callable[[Any], bool]:
    def check(value: Any) -> bool:
        return type(value) is str and 0 < len(value) <= longest and _ID.fullmatch(value) is not None

    return check


def _plain_date(pattern: re.Pattern[str]) -> Callable[[Any], bool]:
    """date: the library's regex, then :func:`_plain_day`."""
    def check(value: Any) -> bool:
        return type(value) is str and pattern.fullmatch(value) is not None and _plain_day(value)

    return check


def _plain_day(value: str) -> bool:
    """A value the library's date regex matched: a partial date (year, year and month; the regex allows months
    1 to 12 only) the library keeps as text; a full one must be a day of the calendar for pydantic's parser."""
    if len(value) < 10:
        return len(value) in (4, 7)
    parts = _FULL_DATE.fullmatch(value)
    if parts is None:
        return False
    try:
        datetime.date(int(parts[1]), int(parts[2]), int(parts[3]))
    except ValueError:
        return False
    return True


def _plain_date_time(pattern: re.Pattern[str]) -> Callable[[Any], bool]:
    """dateTime, instant: the library's regex, then a date as :func:`_plain_day` checks it (dateTime only: the
    instant regex requires a time), or a time and a zone that make a real moment (a day of the calendar, a time of
    day without a leap second, at most six fraction digits) pydantic's parser takes."""
    def check(value: Any) -> bool:
        if type(value) is not str or not pattern.fullmatch(value):
            return False
        if "T" not in value:
            return _plain_day(value)
        parts = _DATE_TIME.fullmatch(value)
        if parts is None:
            return False
        try:
            datetime.datetime(*(int(part) for part in parts.groups()))
        except ValueError:
            return False
        return True

    return check


def _quick_date_time(pattern: re.Pattern[str], leap_second: re.Pattern[str]) -> Callable[[Any], bool]:
    """dateTime / instant with a time: the library checks its regex (which requires a time zone with a time),
    sets leap seconds aside, then parses with pydantic's date-time validator; so does this, declining partial
    dates and leap seconds (the adapter handles those)."""
    from pydantic import TypeAdapter, ValidationError

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
