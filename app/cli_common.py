"""What every ``carepath`` subcommand shares: reading a Bundle file, parsing a date, failing clearly."""

from __future__ import annotations

import argparse
import re
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


def settings() -> Any:
    """carepath's settings as the app sees them (a flask.Config): defaults, then ``CAREPATH_*`` variables."""
    from flask import Config

    from app import config as default_config

    config = Config(str(Path(__file__).resolve().parents[1]))
    config.from_object(default_config)
    config.from_prefixed_env("CAREPATH")
    return config


def iso_date(text: str) -> date:
    """argparse type for ``YYYY-MM-DD``."""
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from exc


#: Characters a terminal acts on instead of showing: C0 and C1 controls (escape sequences start with ESC or CSI),
#: DEL, and the bidirectional overrides that make text read other than it is.
_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def terminal_text(text: str) -> str:
    """``text`` as it may reach a terminal: control characters (a server's escape sequences) left out."""
    return _CONTROLS.sub("", text)


def fail(prefix: str, message: str) -> int:
    """Print ``message`` (control characters left out: it may quote a server) to stderr; exit status 2 (input
    carepath cannot use)."""
    print(terminal_text(f"{prefix}: {message}"), file=sys.stderr)
    return 2
