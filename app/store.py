"""Server-side store for launches and tokens: SQLite by default, Redis when several app instances run.

Tokens never leave the server: the browser only holds a signed cookie with a random browser id, and pages
name a launch by an opaque id that is useless without that cookie. The store keeps JSON documents by
namespace and key, each with a time to live::

    store.put("launch", launch_id, {...}, ttl=3600)    # create or replace
    store.get("launch", launch_id)                     # the document, or None when absent or expired
    store.take("pending", state)                       # get and delete atomically (single-use values)
    store.add("lock", launch_id, {}, ttl=30)           # create only if absent -> True/False (locks)
    store.delete("lock", launch_id)

Keys are stored hashed (a ``state`` or launch id is not readable from the database file) and values are
encrypted with a key derived from ``SECRET_KEY`` (Fernet), so a copied database file or Redis dump holds
no usable token. Changing ``SECRET_KEY`` makes existing entries unreadable: they count as absent.
"""

from __future__ import annotations

import base64
import hashlib
import json
import sqlite3
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from cryptography.fernet import Fernet, InvalidToken
from flask import Flask, current_app

from app.errors import ConfigError

__all__ = ["RedisStore", "SqliteStore", "Store", "get_store", "open_store"]

_EXTENSION = "carepath_store"


class Store:
    """A namespaced, expiring, encrypted key-value store; subclasses provide the ``_raw_*`` primitives."""

    def __init__(self, secret_key: str) -> None:
        digest = hashlib.sha256(b"carepath-store:" + secret_key.encode()).digest()
        self._fernet = Fernet(base64.urlsafe_b64encode(digest))

    # -- public interface -----------------------------------------------------------------------

    def put(self, namespace: str, key: str, value: Mapping[str, Any], ttl: float) -> None:
        """Create or replace ``value`` under ``namespace``/``key`` for ``ttl`` seconds."""
        self._raw_put(self._key(namespace, key), self._seal(value), ttl)

    def get(self, namespace: str, key: str) -> dict[str, Any] | None:
        """The value, or None when absent, expired or unreadable."""
        return self._open(self._raw_get(self._key(namespace, key)))

    def take(self, namespace: str, key: str) -> dict[str, Any] | None:
        """Get and delete in one atomic step: of two concurrent callers, only one receives the value."""
        return self._open(self._raw_take(self._key(namespace, key)))

    def add(self, namespace: str, key: str, value: Mapping[str, Any], ttl: float) -> bool:
        """Store ``value`` only if nothing (unexpired) is there yet; True when it was stored."""
        return self._raw_add(self._key(namespace, key), self._seal(value), ttl)

    def delete(self, namespace: str, key: str) -> None:
        """Remove the entry if present."""
        self._raw_delete(self._key(namespace, key))

    def close(self) -> None:
        """Release connections."""

    # -- helpers ----------------------------------------------------------------------------------

    @staticmethod
    def _key(namespace: str, key: str) -> str:
        return f"{namespace}:{hashlib.sha256(key.encode()).hexdigest()}"

    def _seal(self, value: Mapping[str, Any]) -> bytes:
        return self._fernet.encrypt(json.dumps(value, separators=(",", ":")).encode())

    def _open(self, blob: bytes | None) -> dict[str, Any] | None:
        if blob is None:
            return None
        try:
            return json.loads(self._fernet.decrypt(blob))
        except InvalidToken:
            return None

    # -- primitives -------------------------------------------------------------------------------

    def _raw_put(self, key: str, blob: bytes, ttl: float) -> None:
        raise NotImplementedError

    def _raw_get(self, key: str) -> bytes | None:
        raise NotImplementedError

    def _raw_take(self, key: str) -> bytes | None:
        raise NotImplementedError

    def _raw_add(self, key: str, blob: bytes, ttl: float) -> bool:
        raise NotImplementedError

    def _raw_delete(self, key: str) -> None:
        raise NotImplementedError


class SqliteStore(Store):
    """The embedded default: one SQLite file, safe across threads and across processes on one machine."""

    def __init__(self, path: str | Path, secret_key: str) -> None:
        super().__init__(secret_key)
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, timeout=10, isolation_level=None, check_same_thread=False)
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value BLOB NOT NULL, expires REAL NOT NULL)"
            )

    def _raw_put(self, key: str, blob: bytes, ttl: float) -> None:
        now = time.time()
        with self._lock:
            self._db.execute("DELETE FROM kv WHERE expires < ?", (now,))
            self._db.execute("INSERT OR REPLACE INTO kv (key, value, expires) VALUES (?, ?, ?)",
                             (key, blob, now + ttl))

    def _raw_get(self, key: str) -> bytes | None:
        with self._lock:
            row = self._db.execute("SELECT value FROM kv WHERE key = ? AND expires >= ?",
                                   (key, time.time())).fetchone()
        return row[0] if row else None

    def _raw_take(self, key: str) -> bytes | None:
        with self._lock:
            # DELETE ... RETURNING is one statement: atomic across processes too.
            row = self._db.execute("DELETE FROM kv WHERE key = ? RETURNING value, expires", (key,)).fetchone()
        return row[0] if row and row[1] >= time.time() else None

    def _raw_add(self, key: str, blob: bytes, ttl: float) -> bool:
        now = time.time()
        with self._lock:
            self._db.execute("DELETE FROM kv WHERE key = ? AND expires < ?", (key, now))
            cursor = self._db.execute("INSERT OR IGNORE INTO kv (key, value, expires) VALUES (?, ?, ?)",
                                      (key, blob, now + ttl))
        return cursor.rowcount == 1

    def _raw_delete(self, key: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM kv WHERE key = ?", (key,))

    def close(self) -> None:
        """Close the database connection."""
        with self._lock:
            self._db.close()


class RedisStore(Store):
    """Shared by several app instances: every primitive is a single atomic Redis command."""

    def __init__(self, redis_client: Any, secret_key: str, *, prefix: str = "carepath") -> None:
        super().__init__(secret_key)
        self._redis = redis_client
        self._prefix = prefix

    @classmethod
    def from_url(cls, url: str, secret_key: str) -> RedisStore:
        """Connect to ``redis://`` or ``rediss://`` ``url``."""
        try:
            import redis
        except ImportError as exc:
            raise ConfigError("STORE_URL names Redis but the 'redis' package is not installed "
                              "(pip install 'carepath[redis]')") from exc
        return cls(redis.Redis.from_url(url), secret_key)

    def _name(self, key: str) -> str:
        return f"{self._prefix}:{key}"

    def _raw_put(self, key: str, blob: bytes, ttl: float) -> None:
        self._redis.set(self._name(key), blob, px=max(1, int(ttl * 1000)))

    def _raw_get(self, key: str) -> bytes | None:
        return self._redis.get(self._name(key))

    def _raw_take(self, key: str) -> bytes | None:
        return self._redis.getdel(self._name(key))

    def _raw_add(self, key: str, blob: bytes, ttl: float) -> bool:
        return bool(self._redis.set(self._name(key), blob, px=max(1, int(ttl * 1000)), nx=True))

    def _raw_delete(self, key: str) -> None:
        self._redis.delete(self._name(key))

    def close(self) -> None:
        """Close the Redis connection pool."""
        self._redis.close()


def open_store(config: Mapping[str, Any]) -> Store:
    """The store named by ``STORE_URL``: empty = SQLite in ``VAR_DIR``, ``sqlite:///path`` or ``redis://``."""
    url = str(config.get("STORE_URL") or "")
    secret = str(config["SECRET_KEY"])
    scheme = urlsplit(url).scheme
    if not url:
        return SqliteStore(Path(config["VAR_DIR"]) / "carepath-store.sqlite3", secret)
    if scheme == "sqlite":
        path = url[len("sqlite:///"):] if url.startswith("sqlite:///") else ""
        if not path:
            raise ConfigError(f"STORE_URL {url!r}: write sqlite:///relative/path or sqlite:////absolute/path")
        return SqliteStore(path, secret)
    if scheme in {"redis", "rediss", "unix"}:
        return RedisStore.from_url(url, secret)
    raise ConfigError(f"STORE_URL must be empty, sqlite:///... or redis://..., not {scheme or url!r}")


def init_app(app: Flask) -> None:
    """Open the app's store once (lazily re-opened per process by :func:`get_store`)."""
    app.extensions[_EXTENSION] = open_store(app.config)


def get_store(app: Flask | None = None) -> Store:
    """The store of ``app`` (default: the current app), opened on first use."""
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    store = app.extensions.get(_EXTENSION)
    if store is None:
        store = app.extensions[_EXTENSION] = open_store(app.config)
    return store
