"""A patient's plan under a draft pack version beside the active one, for a governance reviewer.

The drafts are the folders ``GOVERNANCE_PREVIEW_PACKS`` names (a pack folder, or a ``governance.json`` whose
proposed folder is meant). Both plans come from the same facts-to-plan road as the sidebar
(:func:`app.careplan.review.plan_from_facts`), and the differences are ``cohort diff``'s own
(:func:`app.cohort.diff.plan_changes`, with each pack's care gaps marked by :func:`app.cohort.diff.with_care_gaps`),
so a reviewer sees for one patient exactly what the governance report counts for the panel.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from app.conformance.run import pack_digest
from app.engine.packs import PackSet, load_pack_set
from app.errors import PackError

_CACHE: dict[tuple[str, str], PackSet] = {}
_LOCK = threading.Lock()
_CACHED_DRAFTS = 8


@dataclass(frozen=True)
class Draft:
    """A draft pack version a reviewer may preview: where it is, its pack set, its version."""

    folder: Path
    pack_set: PackSet

    @property
    def version(self) -> str:
        return str(self.pack_set.library.get("version") or "?")


def preview_folders(setting: Any) -> list[Path]:
    """``GOVERNANCE_PREVIEW_PACKS`` as pack folders (a ``governance.json`` stands for its proposed folder)."""
    from app.governance.signoff import read_report

    items = [setting] if isinstance(setting, str) and setting else list(setting or [])
    folders = []
    for item in items:
        path = Path(str(item))
        if path.suffix == ".json":
            path = Path(str((read_report(path).get("proposed") or {}).get("folder") or ""))
        folders.append(path)
    return folders


def load_draft(folder: Path) -> Draft:
    """The draft pack in ``folder``, loaded once per content (its digest); PackError when it cannot be used."""
    if not folder.is_dir():
        raise PackError(f"{folder}: no such pack folder (GOVERNANCE_PREVIEW_PACKS)")
    key = (str(folder.resolve()), pack_digest(folder))
    with _LOCK:
        if key not in _CACHE:
            if len(_CACHE) >= _CACHED_DRAFTS:
                _CACHE.clear()
            _CACHE[key] = load_pack_set(folder)
        return Draft(folder, _CACHE[key])


def plan_differences(active: Mapping[str, Any], draft: Mapping[str, Any], *, active_dir: str | Path | None,
                     active_set: PackSet, draft_dir: str | Path, draft_set: PackSet, as_of: date
                     ) -> dict[str, Any] | None:
    """What changes from the active plan to the draft's, by ``cohort diff``'s comparison; None when nothing."""
    from app.cohort.counting import load_counting
    from app.cohort.diff import plan_changes, with_care_gaps

    before = with_care_gaps(dict(active), load_counting(active_set, active_dir), as_of)
    after = with_care_gaps(dict(draft), load_counting(draft_set, draft_dir), as_of)
    return plan_changes(before, after)
