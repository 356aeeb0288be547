"""CDS Hooks 2.0: carepath's care gaps as cards in the EHR's own workflow (hook ``patient-view``).

A framework-free core (:mod:`app.cds.auth` the CDS client's JWT, :mod:`app.cds.service` discovery and the way
from a request to a plan, :mod:`app.cds.cards` a plan as cards, :mod:`app.cds.feedback` card outcomes into the
audit log) and a thin blueprint (:mod:`app.cds.views`). The plan is built by the sidebar's own path: the same
searches, facts and engine, never a copy of them.
"""

from app.cds.cards import cards_for_plan
from app.cds.service import HOOK, SERVICE_ID, answer, discovery

__all__ = ["HOOK", "SERVICE_ID", "answer", "cards_for_plan", "discovery"]
