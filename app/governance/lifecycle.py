"""Which pack versions may build plans: active ones, and drafts a setting names for preview.

A pack version's lifecycle is the ``status`` of its PlanDefinitions and Library (draft -> active -> retired, FHIR's
publication status). The sidebar, CDS Hooks and ``cohort run`` load packs through :func:`check_lifecycle`: a
resource that is not ``active`` is refused unless ``PACK_ALLOW_DRAFT`` names it (its own ``url|version``) or
names its pack version (the Library's ``url|version``, for resources of that same version). A retired version
is never used.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from app.errors import PackError

log = logging.getLogger(__name__)
ACTIVE, DRAFT = "active", "draft"


def allowed_drafts(setting: Any) -> set[str]:
    """``PACK_ALLOW_DRAFT`` as a set of canonicals (a JSON list, or a comma-separated string)."""
    if isinstance(setting, str):
        return {item.strip() for item in setting.split(",") if item.strip()}
    return {str(item) for item in setting or []}


def check_lifecycle(packs: Iterable[dict[str, Any]], allow_draft: Any) -> list[str]:
    """Raise PackError unless every pack resource (``PackSet.packs``: url, version, status; each pack's Library
    after its PlanDefinitions) is active or a draft ``allow_draft`` names, itself or by its pack's Library (of the
    same version: with several packs, each Library names its own version); returns the drafts used (each logged
    as a preview)."""
    packs = list(packs)
    allowed = allowed_drafts(allow_draft)
    libraries = [pack for pack in packs if "/Library/" in str(pack.get("url") or "")] or packs[-1:]
    named_versions = {library.get("version") for library in libraries
                      if f"{library.get('url')}|{library.get('version')}" in allowed}
    drafts, refused = [], []
    for pack in packs:
        canonical = f"{pack.get('url')}|{pack.get('version')}"
        status = pack.get("status") or "unknown"
        if status == ACTIVE:
            continue
        named = canonical in allowed or pack.get("version") in named_versions
        if status == DRAFT and named:
            drafts.append(canonical)
        else:
            refused.append(f"{canonical} is {status}")
    if refused:
        raise PackError("pack versions that are not active (signed off with carepath pack sign-off) are not used: "
                        + "; ".join(refused) + ". To preview a draft, name it in CAREPATH_PACK_ALLOW_DRAFT.")
    if drafts:
        log.warning("draft pack version used for preview", extra={"packs": drafts})
    return drafts
