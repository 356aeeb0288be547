"""A patient's plan under a draft pack version beside the active one, for a governance reviewer.

The drafts are the folders ``GOVERNANCE_PREVIEW_PACKS`` names (a pack folder, or a ``governance.json`` whose
proposed folder is meant); when it names none, the proposed folder of the latest report ``carepath governance
report`` recorded (``VAR_DIR/governance/reports.json``). A report stands for its proposed folder only while that
folder holds the files the report hashed (sign-off's own check); otherwise it is refused, and the page says so. Both
plans come from the same facts-to-plan road as the sidebar
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
from app.engine.packs import PackSet, load_pack_set, pack_files
from app.errors import PackError
from app.fhir.decoding import UnreadableJson, load_file

_CACHE: dict[tuple[str, str], PackSet] = {}
_LOCK = threading.Lock()
_CACHED_DRAFTS = 8


@dataclass(frozen=True)
class Draft:
    """A draft pack version a reviewer may preview: where it is, its pack set, its version."""

    folder: Path
    pack_set: PackSet
    #: The draft pack's own version (its Library's), whatever other packs are in use beside it.
    version: str = "?"


def preview_folders(setting: Any, var_dir: str | Path | None = None) -> tuple[list[tuple[Path, str]], list[str]]:
    """The draft folders to preview, each with where it was named, and, for each report refused, why.

    ``setting`` (``GOVERNANCE_PREVIEW_PACKS``) names pack folders or ``governance.json`` files (standing for their
    proposed folder); when it names none, the latest report recorded in ``var_dir`` is used. A report whose
    proposed folder no longer holds the files it hashed is refused."""
    from app.governance.report import latest_report
    from app.governance.signoff import SignOffRefused, check_files, read_report

    items = [setting] if isinstance(setting, str) and setting else list(setting or [])
    folders: list[tuple[Path, str]] = []
    problems: list[str] = []
    for item in items:
        path = Path(str(item))
        if path.suffix != ".json":
            folders.append((path, "CAREPATH_GOVERNANCE_PREVIEW_PACKS"))
            continue
        try:
            report = read_report(path)
            folder = Path(str((report.get("proposed") or {}).get("folder") or ""))
            check_files(folder, report)
        except SignOffRefused as exc:
            problems.append(f"Governance report {path} is not previewed: {exc.message}.")
            continue
        folders.append((folder, f"governance report {path} (CAREPATH_GOVERNANCE_PREVIEW_PACKS)"))
    latest = latest_report(var_dir) if not items and var_dir else None
    if latest is not None:
        where = f"{latest['report']} (recorded {latest.get('recorded') or '?'})"
        try:
            check_files(Path(latest["proposed"]), read_report(latest["report"]))
        except SignOffRefused as exc:
            problems.append(f"The latest governance report, {where}, is not previewed: {exc.message}.")
        else:
            folders.append((Path(latest["proposed"]), f"the latest governance report, {where}"))
    return folders, problems


def load_draft(folder: Path, beside: list[Path] | None = None) -> Draft:
    """The draft pack in ``folder``, loaded once per content (its digests); PackError when it cannot be used.

    ``beside``: the folders of the packs in use; the draft takes the place of the one it is a version of (the same
    Library url) and the others stay, so a reviewer sees only what the draft changes (a draft of the adult pack
    leaves a child's pediatric plan as it is)."""
    if not folder.is_dir():
        raise PackError(f"{folder}: no such pack folder (GOVERNANCE_PREVIEW_PACKS)")
    drafted, version = _identity(folder)
    others = [Path(other) for other in beside or [] if _identity(Path(other))[0] != drafted]
    folders = [folder, *others]
    key = tuple((str(each.resolve()), pack_digest(each)) for each in folders)
    with _LOCK:
        if key not in _CACHE:
            if len(_CACHE) >= _CACHED_DRAFTS:
                _CACHE.clear()
            _CACHE[key] = load_pack_set(folders if others else folder)
        return Draft(folder, _CACHE[key], version)


def _identity(folder: Path) -> tuple[str, str]:
    """(url, version) of the pack's Library, read from the first Library file (the value sets are not read); the
    folder itself when it has none."""
    for file in pack_files(folder):
        try:
            resource = load_file(file)
        except (OSError, UnreadableJson):
            continue  # an unreadable file is the pack load's to report
        if isinstance(resource, dict) and resource.get("resourceType") == "Library":
            return str(resource.get("url") or folder.resolve()), str(resource.get("version") or "?")
    return str(folder.resolve()), "?"


def plan_differences(active: Mapping[str, Any], draft: Mapping[str, Any], *, active_dir: str | Path | None,
                     active_set: PackSet, draft_dir: str | Path, draft_set: PackSet, as_of: date
                     ) -> dict[str, Any] | None:
    """What changes from the active plan to the draft's, by ``cohort diff``'s comparison; None when nothing."""
    from app.cohort.counting import load_counting
    from app.cohort.diff import plan_changes, with_care_gaps

    before = with_care_gaps(dict(active), load_counting(active_set, active_dir), as_of)
    after = with_care_gaps(dict(draft), load_counting(draft_set, draft_dir), as_of)
    return plan_changes(before, after)
