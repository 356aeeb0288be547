"""Sending one write (a save or a decision) until carepath knows what the record holds.

The server's answer alone is not trusted: it may be lost (timeout, dropped connection, a 5xx from a gateway
after the server committed), or a retry may fail *because* its own first attempt committed (an ``If-Match`` on
a version the first attempt moved on). So after every attempt the record is read back and searched for the
request id the write stamped on the CarePlan (:mod:`app.careplan.marker`):

- found: the write committed (whatever the answer said);
- not found after a 2xx: the server kept someone else's data (a conditional create matched another draft);
- not found after an answer that may hide a commit (timeout, connection, 5xx, 429, unreadable 2xx): sent again,
  with the same request id; every write carepath sends is conditional or versioned, so a second copy of a write
  that did commit is refused or matches, never applied twice;
- not found after a refusal (412/409 from someone else's change, 422...): not committed.

If the read-back itself fails, the outcome is ``unknown`` and carepath says so; it never guesses.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from app.errors import (
    FhirError,
    FhirMalformedResponse,
    FhirServerError,
    FhirTooManyRequests,
    FhirTransportError,
)

log = logging.getLogger(__name__)
COMMITTED, NOT_COMMITTED, UNKNOWN = "committed", "not committed", "unknown"
#: Errors after which the write may or may not have been applied.
AMBIGUOUS = (FhirTransportError, FhirServerError, FhirTooManyRequests, FhirMalformedResponse)
MAX_WAIT = 5.0


class Journal(Protocol):
    """Where the intent and the outcome of a write are recorded (:class:`app.audit.Journal`)."""

    def intent(self, careplan_id: str | None = None, version: str | None = None) -> None:
        """Record that the write is about to be sent."""

    def outcome(self, result: str, careplan_id: str | None = None, version: str | None = None, *,
                read_back: bool = False) -> None:
        """Record what became of the write."""


@dataclass(frozen=True)
class Delivery:
    """What became of one write: committed, not committed or unknown, and how carepath knows."""

    result: str
    #: The CarePlan version this write produced (committed), when it could be read back.
    version: dict[str, Any] | None = None
    #: The last error the server (or the network) gave, when there was one.
    error: FhirError | None = None
    #: True when a read-back settled an answer that was missing or failed.
    read_back: bool = False
    attempts: int = 1

    @property
    def committed(self) -> bool:
        """True when the record holds this write."""
        return self.result == COMMITTED


def deliver(send: Callable[[], Any], find: Callable[[], dict[str, Any] | None], *, attempts: int = 3,
            backoff: float = 0.5, sleep: Callable[[float], None] = time.sleep) -> Delivery:
    """Send, read back, and send again while the outcome is ambiguous and not committed (``attempts`` at most)."""
    error: FhirError | None = None
    troubled = False
    for attempt in range(1, max(attempts, 1) + 1):
        try:
            send()
            error = None
        except FhirError as exc:
            error, troubled = exc, True
            log.warning("write not confirmed", extra={"attempt": attempt, "reason": type(exc).__name__})
        try:
            version = find()
        except FhirError as exc:
            log.warning("write read-back failed", extra={"attempt": attempt, "reason": type(exc).__name__})
            return Delivery(UNKNOWN, error=error or exc, read_back=True, attempts=attempt)
        if version is not None:
            return Delivery(COMMITTED, version=version, error=error, read_back=troubled, attempts=attempt)
        if error is None or not isinstance(error, AMBIGUOUS):
            return Delivery(NOT_COMMITTED, error=error, read_back=troubled, attempts=attempt)
        if attempt < attempts:
            sleep(min(backoff * 2 ** (attempt - 1), MAX_WAIT))
    return Delivery(NOT_COMMITTED, error=error, read_back=True, attempts=attempts)
