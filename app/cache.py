"""carepath's on-disk cache of derived data (validation verdicts, resolved value sets): never the source of truth.

Each entry is keyed by the SHA-256 of what it was derived from (and of the code that derives it), so changed
content or code is derived again. Entries are plain JSON, written atomically; an entry that cannot be read is
derived again, never trusted. ``CAREPATH_CACHE_DIR`` names the folder (empty: no cache), else the user's cache
folder.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def cache_dir(kind: str) -> Path | None:
    """The folder for one kind of entry (``r4-valid-8.3.0``, ``valuesets-...``), or None when caching is off."""
    configured = os.environ.get("CAREPATH_CACHE_DIR")
    if configured is not None and not configured.strip():
        return None
    base = Path(configured) if configured else Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / \
        "carepath"
    return base / kind


def write_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that a reader sees the whole entry or none; failures are ignored (a cache)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, delete=False, prefix=".tmp-") as handle:
            handle.write(data)
        os.replace(handle.name, path)
    except OSError:
        pass
