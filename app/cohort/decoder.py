"""One decoder for every input of the cohort: ndjson lines, Bundle files, gzip, the Bulk Data manifest.

A cohort is thousands of files written by other systems; one bad line or file must cost that line or file, never
the run. Every document is read by carepath's own JSON decoder (:func:`app.fhir.decoding.loads`: depth-bounded,
strict), must be an object, and a FHIR resource must name its type with a string. Gzip is inflated here, in
Python, within two bounds (settings, so a site with larger exports can raise them):

- ``COHORT_MAX_DECOMPRESSED_BYTES``: a ``.gz`` file that would inflate beyond it (a gzip bomb) is not read at all;
  it is measured first by streaming it, so nothing of it is held in memory;
- ``COHORT_MAX_DOCUMENT_BYTES``: one ndjson line or one Bundle file larger than it is not parsed (a worker then
  never holds more than about that much text of one document).

What cannot be read raises :class:`UnreadableInput`, whose ``kind`` is what the report counts (a short phrase
without positions, so the same fault on many lines counts as one finding).
"""

from __future__ import annotations

import gzip
import io
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.errors import CarepathError
from app.fhir.decoding import MAX_DEPTH, UnreadableJson, loads

__all__ = ["InputLimits", "UnreadableInput", "decode_document", "decode_resource", "document_bytes",
           "ndjson_lines"]

_CHUNK = 1024 * 1024


class UnreadableInput(CarepathError):
    """One line or file of a cohort's input that cannot be read; ``kind`` says what is wrong, for the count."""

    title = "A cohort input cannot be read"

    def __init__(self, kind: str, *, detail: str = "") -> None:
        super().__init__(f"{kind}: {detail}" if detail else kind)
        self.kind = kind


@dataclass(frozen=True)
class InputLimits:
    """The bounds put on one input (see the module's docstring); defaults are those of ``app.config``."""

    decompressed: int = 4_000_000_000
    document: int = 256_000_000

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> InputLimits:
        """The limits named by ``COHORT_MAX_DECOMPRESSED_BYTES`` and ``COHORT_MAX_DOCUMENT_BYTES``."""
        return cls(decompressed=int(config.get("COHORT_MAX_DECOMPRESSED_BYTES", cls.decompressed)),
                   document=int(config.get("COHORT_MAX_DOCUMENT_BYTES", cls.document)))


def decode_document(data: bytes | str, limits: InputLimits = InputLimits()) -> dict[str, Any]:
    """A JSON object (a Bundle file, a manifest), or :class:`UnreadableInput`."""
    if len(data) > limits.document:
        raise UnreadableInput(f"larger than {limits.document} bytes")
    try:
        value = loads(data)
    except UnreadableJson as exc:
        reason = str(exc)
        kind = f"nested deeper than {MAX_DEPTH} levels" if "nested deeper" in reason else "not JSON"
        raise UnreadableInput(kind, detail=reason) from None
    if not isinstance(value, dict):
        raise UnreadableInput("not a JSON object")
    return value


def decode_resource(data: bytes | str, limits: InputLimits = InputLimits()) -> dict[str, Any]:
    """A FHIR resource (an object whose ``resourceType`` is a string), or :class:`UnreadableInput`."""
    resource = decode_document(data, limits)
    if not isinstance(resource.get("resourceType"), str):
        raise UnreadableInput("not a FHIR resource (resourceType is not a string)")
    return resource


def ndjson_lines(path: str, limits: InputLimits = InputLimits()) -> Iterator[str | UnreadableInput]:
    """The lines of an ndjson file (gzip when its name ends in .gz), streamed; a line that is too long or not
    UTF-8 comes as an :class:`UnreadableInput` in its place, so positions stay those of the file.

    A whole file that cannot be read (not gzip, inflating beyond the limit) raises :class:`UnreadableInput`
    before any line is given.
    """
    if path.endswith(".gz"):
        _check_gzip(path, limits.decompressed)
    with _open(path) as raw:
        while True:
            line = raw.readline(limits.document + 1)
            if not line:
                return
            if len(line) > limits.document and not line.endswith(b"\n"):
                while line and not line.endswith(b"\n"):  # skip the rest of the line, a chunk at a time
                    line = raw.readline(_CHUNK)
                yield UnreadableInput(f"lines larger than {limits.document} bytes")
                continue
            try:
                yield line.decode("utf-8").rstrip("\r\n")
            except UnicodeDecodeError:
                yield UnreadableInput("lines that are not UTF-8 text")


def document_bytes(path: str, limits: InputLimits = InputLimits()) -> bytes:
    """The bytes of a one-document file (a Bundle; gzip when its name ends in .gz), or :class:`UnreadableInput`."""
    if path.endswith(".gz"):
        _check_gzip(path, min(limits.decompressed, limits.document))
    elif Path(path).stat().st_size > limits.document:
        raise UnreadableInput(f"larger than {limits.document} bytes")
    with _open(path) as raw:
        return raw.read()


def _open(path: str) -> io.BufferedIOBase:
    try:
        return gzip.open(path, "rb") if path.endswith(".gz") else open(path, "rb")
    except OSError as exc:
        raise UnreadableInput("files that cannot be opened", detail=str(exc)) from None


def _check_gzip(path: str, cap: int) -> None:
    """:class:`UnreadableInput` when ``path`` is not gzip or inflates beyond ``cap`` bytes (measured by streaming,
    nothing kept)."""
    inflated = 0
    try:
        with gzip.open(path, "rb") as stream:
            while chunk := stream.read(_CHUNK):
                inflated += len(chunk)
                if inflated > cap:
                    raise UnreadableInput(f"gzip inflating beyond {cap} bytes (not read)")
    except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
        raise UnreadableInput("files named .gz that are not gzip", detail=str(exc) or type(exc).__name__) from None
    except OSError as exc:
        raise UnreadableInput("files that cannot be opened", detail=str(exc)) from None
