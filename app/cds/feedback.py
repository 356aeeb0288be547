"""Card feedback (CDS Hooks 2.0): which card was accepted or overridden, and why, into the audit log.

A card's uuid is remembered in the app's store when it is sent (namespace ``cds-card``, ``CDS_CARD_TTL``) with
the patient, the area, the rules and the pack versions behind it, so that the feedback, which names only the
card, is recorded with what the clinician saw. The audit row keeps codes and ids only: the override reason's
code and display, never the free-text ``userComment`` (it may hold anything, names included).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from app.audit import UNKNOWN_ACTOR, AuditLog
from app.cds.cards import CardMeta
from app.cds.service import CdsRequestError
from app.store import Store

__all__ = ["record_feedback", "remember_cards"]

_OUTCOMES = {"accepted": "cds-accepted", "overridden": "cds-overridden"}
_MAX_ENTRIES = 50


def remember_cards(store: Store, metas: Iterable[CardMeta], *, patient_id: str, user: str | None, client: str,
                   ttl: float) -> None:
    """Keep what each sent card's feedback is recorded with."""
    for meta in metas:
        store.put("cds-card", meta.uuid, {"patient_id": patient_id, "user": user, "client": client,
                                          "area": meta.area_id, "rules": list(meta.rule_ids),
                                          "packs": list(meta.packs)}, ttl=ttl)


def record_feedback(body: Any, store: Store, audit: AuditLog) -> tuple[int, int]:
    """Append one audit entry per known card of a feedback request; returns (recorded, unknown cards)."""
    entries = body.get("feedback") if isinstance(body, dict) else None
    if not isinstance(entries, list) or not entries or len(entries) > _MAX_ENTRIES:
        raise CdsRequestError(f"A feedback request holds a 'feedback' list of 1 to {_MAX_ENTRIES} entries.")
    checked = [_checked(entry) for entry in entries]
    recorded = unknown = 0
    for card_id, outcome, reason in checked:
        card = store.get("cds-card", card_id)
        if card is None:
            unknown += 1
            continue
        detail: dict[str, Any] = {"card": card_id, "area": card.get("area"), "rules": card.get("rules") or [],
                                  "client": card.get("client")}
        if reason:
            detail["overrideReason"] = reason
        audit.record(_OUTCOMES[outcome], actor=card.get("user") or UNKNOWN_ACTOR, patient_id=card["patient_id"],
                     packs=card.get("packs") or [], detail=detail)
        recorded += 1
    return recorded, unknown


def _checked(entry: Any) -> tuple[str, str, dict[str, str] | None]:
    """(card uuid, outcome, override reason as {code, system, display}) of one feedback entry."""
    if not isinstance(entry, dict):
        raise CdsRequestError("Each feedback entry must be a JSON object.")
    card, outcome = entry.get("card"), entry.get("outcome")
    if not isinstance(card, str) or not 0 < len(card) <= 64:
        raise CdsRequestError("Each feedback entry names its card (the card's uuid).")
    if outcome not in _OUTCOMES:
        raise CdsRequestError("A feedback outcome is 'accepted' or 'overridden'.")
    reason = None
    coding = (entry.get("overrideReason") or {}).get("reason") if isinstance(entry.get("overrideReason"), dict) \
        else None
    if outcome == "overridden" and isinstance(coding, dict):
        reason = {key: str(coding[key])[:200] for key in ("code", "system", "display")
                  if isinstance(coding.get(key), str)}
    return card, str(outcome), reason or None
