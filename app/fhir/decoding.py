"""Reading FHIR JSON that a server or a file sent, whatever it holds: one decoder for every way JSON comes in.

FHIR JSON is UTF-8 JSON (R4, JSON format page). orjson reads it in half the time of the standard library and
refuses what is not strictly that; a few of its refusals are still JSON carepath must read:

- a byte-order mark, or a server that declared another charset (the caller passes the decoded text);
- a number beyond a double's range (``1e999``, an integer above 1e308): read by the standard library, as an
  ``int`` of any size or ``float('inf')``; the readers of numbers check that a value is finite;
- a lone surrogate escape (``"\\ud800"``), which is not a character: each becomes U+FFFD, as a browser shows
  bytes it cannot decode, so that no later encoding (a page, the session store, a CLI's output) fails on it.

``NaN`` and ``Infinity`` are not JSON and are refused, as is a document nested deeper than :data:`MAX_DEPTH`
levels: no FHIR resource comes near it, and the code that walks resources (validation, repairs, the
source page) recurses.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import orjson

__all__ = ["MAX_DEPTH", "UnreadableJson", "load_file", "loads"]

#: Deepest nesting read (objects and arrays, the document itself being level 1).
MAX_DEPTH = 256

_BOM = "\ufeff"
_SURROGATE = re.compile("[\ud800-\udfff]")
_TOO_DEEP = f"JSON nested deeper than {MAX_DEPTH} levels"


class UnreadableJson(ValueError):
    """The text is not JSON carepath can read; the message says why, in words for people."""


def loads(data: bytes | str) -> Any:
    """The value of a JSON document, or :class:`UnreadableJson` saying why it cannot be read."""
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        if "depth limit" in str(exc):
            raise UnreadableJson(_TOO_DEEP) from None
        value = _lenient(data)
        if not _within_depth(value):
            raise UnreadableJson(_TOO_DEEP) from None
        return _without_surrogates(value)
    if not _within_depth(value):
        raise UnreadableJson(_TOO_DEEP)
    return value  # orjson never returns a lone surrogate


def load_file(path: Path) -> Any:
    """The JSON of a file, read as an answer from a server is: OSError, or :class:`UnreadableJson`."""
    return loads(path.read_bytes())


def _lenient(data: bytes | str) -> Any:
    """What the standard library reads where orjson refused (a byte-order mark, a number beyond a double, a
    lone surrogate escape), or :class:`UnreadableJson`."""
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
    except UnicodeDecodeError as exc:
        raise UnreadableJson(f"not UTF-8 text (byte {exc.start})") from None
    try:
        return json.loads(text.removeprefix(_BOM), parse_constant=_refuse_constant)
    except RecursionError:
        raise UnreadableJson(_TOO_DEEP) from None
    except json.JSONDecodeError as exc:
        raise UnreadableJson(f"not valid JSON ({exc.msg}: line {exc.lineno}, column {exc.colno})") from None
    except ValueError as exc:  # _refuse_constant, or an integer of more than 4300 digits
        raise UnreadableJson(f"not JSON carepath can read ({exc})") from None


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _within_depth(value: Any) -> bool:
    """True when no object or array in ``value`` lies deeper than MAX_DEPTH (walked without recursion: about
    1 ms for a 1 MB Bundle)."""
    stack = [(value, 1)]
    pop, push = stack.pop, stack.append
    while stack:
        node, depth = pop()
        if depth > MAX_DEPTH:
            return False
        if type(node) is dict:
            node = node.values()
        elif type(node) is not list:
            continue
        for child in node:
            if type(child) is dict or type(child) is list:
                push((child, depth + 1))
    return True


def _without_surrogates(value: Any) -> Any:
    """``value`` with every lone surrogate in its strings and keys replaced by U+FFFD, in place (walked
    without recursion)."""
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value)
    stack = [value] if isinstance(value, list | dict) else []
    while stack:
        node = stack.pop()
        for key in range(len(node)) if isinstance(node, list) else list(node):
            child = node[key]
            if isinstance(child, str):
                node[key] = _SURROGATE.sub("\ufffd", child)
            elif isinstance(child, list | dict):
                stack.append(child)
            if isinstance(key, str) and _SURROGATE.search(key):
                node[_SURROGATE.sub("\ufffd", key)] = node.pop(key)
    return value
