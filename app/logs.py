"""Structured logging that never writes a token or a patient's name.

Records are JSON lines by default. Values under sensitive keys are replaced, and anything that looks like
a bearer token or a JWT is masked wherever it appears, so a mistake elsewhere cannot leak a credential.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any

SENSITIVE_KEYS = frozenset({
    "access_token", "refresh_token", "id_token", "token", "authorization", "client_secret", "code",
    "code_verifier", "password", "secret", "assertion", "client_assertion", "name", "given", "family",
    "patient_name", "birthdate", "address", "telecom", "nonce", "state",
})
_TOKEN_PATTERNS = [
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+"),
    re.compile(r"eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*"),  # a JWT
    re.compile(
        r"(?i)((?:access_token|refresh_token|id_token|code|client_secret|code_verifier|state|nonce|launch)=)"
        r"[^&\s\"']+"
    ),
]
_STANDARD_ATTRS = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


def redact(value: Any) -> Any:
    """``value`` with credentials masked, recursively for dicts and lists."""
    if isinstance(value, str):
        for pattern in _TOKEN_PATTERNS:
            value = pattern.sub(lambda m: (m.group(1) if m.groups() else "") + "[redacted]", value)
        return value
    if isinstance(value, dict):
        return {k: "[redacted]" if str(k).lower() in SENSITIVE_KEYS else redact(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    return value


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and the record's extra fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRS and not key.startswith("_"):
                entry[key] = "[redacted]" if key.lower() in SENSITIVE_KEYS else redact(value)
        if record.exc_info:
            entry["exception"] = redact(self.formatException(record.exc_info))
        return json.dumps(entry, default=str)


class TextFormatter(logging.Formatter):
    """Readable lines for a terminal, redacted like the JSON ones."""

    def format(self, record: logging.LogRecord) -> str:
        extras = {k: v for k, v in vars(record).items() if k not in _STANDARD_ATTRS and not k.startswith("_")}
        line = f"{record.levelname:<7} {record.name}: {record.getMessage()}"
        if extras:
            line += " " + " ".join(f"{k}={v}" for k, v in redact(extras).items())
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return redact(line)


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at the time of each record, not the one seen at start-up
    (test runners and servers replace it)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self):  # type: ignore[override]
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:
        pass


def configure(level: str = "INFO", fmt: str = "json") -> None:
    """Install carepath's formatter on the root logger (idempotent)."""
    root = logging.getLogger()
    handler = next((h for h in root.handlers if getattr(h, "_carepath", False)), None)
    if handler is None:
        handler = _StderrHandler()
        handler._carepath = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root.setLevel(level.upper())
    # werkzeug logs full request lines, query strings included: keep it but redacted through our handler.
    logging.getLogger("urllib3").setLevel(logging.WARNING)
