"""carepath's on-disk cache of derived data (validation verdicts, resolved value sets): never the source of truth.

Each entry is keyed by the SHA-256 of what it was derived from (and of the code that derives it), so changed
content or code is derived again. Entries are plain JSON, written atomically; an entry that cannot be read is
derived again, never trusted. ``CAREPATH_CACHE_DIR`` names the folder (empty: no cache), else the user's cache
folder.
"""

from __future__ import annotations

import contextlib
import os
import stat
import threading
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO


def cache_dir(kind: str) -> Path | None:
    """The folder for one kind of entry (``r4-valid-8.3.0``, ``valuesets-...``), or None when caching is off."""
    configured = os.environ.get("CAREPATH_CACHE_DIR")
    if configured is not None and not configured.strip():
        return None
    base = Path(configured) if configured else Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / \
        "carepath"
    return base / kind


def replace_atomically(target: Path, write: Callable[[BinaryIO], object]) -> None:
    """Write ``target`` through a temporary file of this process and thread, renamed into place: a reader, a
    concurrent writer or an interrupted run never sees a half-written file under the final name. OSError as it
    comes."""
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        with temporary.open("wb") as out:
            write(out)
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)


def write_atomically(path: Path, data: bytes) -> None:
    """A cache entry, written as :func:`replace_atomically` does; failures are ignored (a cache)."""
    with contextlib.suppress(OSError):
        replace_atomically(path, lambda out: out.write(data))


def read_own(path: Path) -> bytes | None:
    """The bytes of a cache entry only this user could have written: a regular file owned by the current user that
    neither its group nor others may write (:func:`write_own` writes it so). None when missing, unreadable or
    anyone else's: an entry whose content is run as code (a pickle) must not come from another account sharing a
    ``CAREPATH_CACHE_DIR``."""
    try:
        with path.open("rb") as entry:
            status = os.fstat(entry.fileno())
            if not stat.S_ISREG(status.st_mode) or status.st_mode & (stat.S_IWGRP | stat.S_IWOTH) or \
                    (hasattr(os, "getuid") and status.st_uid != os.getuid()):
                return None
            return entry.read()
    except OSError:
        return None


def write_own(path: Path, data: bytes) -> None:
    """A cache entry readable and writable by the current user only, written as :func:`replace_atomically` does;
    failures are ignored (a cache)."""
    def write(out: BinaryIO) -> None:
        with contextlib.suppress(OSError, AttributeError):  # no fchmod on some platforms: read_own then refuses it
            os.fchmod(out.fileno(), 0o600)
        out.write(data)

    with contextlib.suppress(OSError):
        replace_atomically(path, write)


def prune(folder: Path, *, keep: int) -> None:
    """Remove all but the ``keep`` most recently written entries of a cache folder (failures ignored)."""
    with contextlib.suppress(OSError):
        entries = sorted((entry for entry in folder.iterdir() if not entry.name.startswith(".")),
                         key=lambda entry: entry.stat().st_mtime_ns, reverse=True)
        for entry in entries[keep:]:
            entry.unlink(missing_ok=True)
