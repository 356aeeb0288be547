"""What every ``carepath`` subcommand shares: reading a Bundle file, parsing a date, failing clearly."""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path
from typing import Any

from app.fhir.decoding import UnreadableJson, load_file


class BundleFileError(ValueError):
    """A Bundle file that cannot be read or is not JSON; the message says which and why."""


def read_bundle(path: Path) -> dict[str, Any]:
    """The JSON of a Bundle file, or :class:`BundleFileError` naming the file and the problem."""
    try:
        return load_file(path)
    except OSError as exc:
        raise BundleFileError(f"cannot read {path}: {exc.strerror or exc}") from exc
    except UnreadableJson as exc:
        raise BundleFileError(f"{path} is not JSON carepath can read: {exc}") from exc



def iso_date(text: str) -> date:
    """argparse type for ``YYYY-MM-DD``."""
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from exc


def fail(prefix: str, message: str) -> int:
    """Print ``message`` to stderr and return exit status 2 (input carepath cannot use)."""
    print(f"{prefix}: {message}", file=sys.stderr)
    return 2
