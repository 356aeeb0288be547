"""What the clinician is told after a save or a decision, as plain sentences (rendered by review/_outcome.html).

Each notice says what the record holds, as read back: "saved" only when it holds what was submitted, "nothing
was saved" only when a read-back shows it does not, and "could not confirm; nothing will be sent again" when carepath
could not read (the reconciler, :mod:`app.careplan.reconcile`, settles it later).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from app.careplan.approval import DecisionNotRecorded
from app.careplan.present import human_datetime
from app.careplan.saving import CONFLICT, DECIDED, DIFFERS, NOT_SAVED, SaveOutcome
from app.errors import FhirError

RETRY_IS_SAFE = "saving again is safe: a save that did reach the record is recognised and never written twice"
#: Said whenever carepath could not find out what became of a write.
NOT_REPEATED = ("Nothing will be sent again on its own: carepath checks the record the next time this plan is "
                "opened and records in the audit log what it finds.")


@dataclass(frozen=True)
class Notice:
    """One outcome message: an element id, a style (``ok``, ``warn``, ``error``), sentences and a list."""

    kind: str
    style: str
    text: str
    items: list[str] = field(default_factory=list)
    after: str = ""


def save_notice(outcome: SaveOutcome, who: str | None = None) -> Notice:
    """The message for a save that did not simply succeed; ``who`` names the author of a conflicting version."""
    careplan = outcome.careplan or {}
    if outcome.status == DIFFERS:
        return Notice("save-differs", "warn", "Your save was recorded, but the record, read back, "
                      "differs from what you submitted:", outcome.differences,
                      "Your entries are kept below; check them and save again to record them.")
    if outcome.status == CONFLICT:
        _author, at = outcome.written_by
        return Notice("save-conflict", "error", f"{who or 'Someone'} saved this draft on {clock(at)} "
                      "after your page was opened, so your save was not sent. Where the saved draft differs from "
                      "your entries:", outcome.differences or ["nothing: it holds what you entered"],
                      "Your entries are kept below; review them and save again.")
    if outcome.status == DECIDED:
        return Notice("save-decided", "error", f"This plan is already {careplan.get('status')} in the record: "
                      "nothing was saved.")
    if outcome.status == NOT_SAVED:
        checked = " The record, read back after the error, does not hold your changes." if outcome.read_back else ""
        return Notice("not-saved", "error", f"Nothing was saved: {reason(outcome.error)}.{checked}",
                      after=f"Your entries are kept below; {RETRY_IS_SAFE}.")
    if outcome.committed:
        return Notice("save-unverified", "warn", "Your save was recorded, but carepath could not read "
                      f"it back to compare it with your entries: {reason(outcome.error)}.",
                      after="Open the draft to check it.")
    return Notice("save-unknown", "error", "carepath could not confirm whether your save was recorded: "
                  f"{reason(outcome.error)}, and reading the record back failed too. {NOT_REPEATED}",
                  after=f"Your entries are kept below; {RETRY_IS_SAFE}.")


def decision_notice(error: DecisionNotRecorded) -> Notice:
    """The message for a decision the record does not hold (or that carepath could not check)."""
    kind = "decision-unknown" if error.unknown else "decision-not-recorded"
    return Notice(kind, "error", error.message)


def reason(error: FhirError | None) -> str:
    """The error in a clause: its title and the server's own words, when it gave any."""
    if error is None:
        return "the FHIR server kept another version"
    issues = "; ".join(getattr(error, "issues", []) or [])
    return f"{error.title.rstrip('.').lower()} ({issues or error.message})"


def clock(instant: str | None) -> str:
    """``1 Jun 2020, 10:02 UTC`` from a FHIR instant (``an unknown time`` when there is none)."""
    return human_datetime(instant) if instant else "an unknown time"
