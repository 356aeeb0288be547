"""The server-side store: SQLite (default) and Redis behave the same, values are encrypted at rest."""

from __future__ import annotations

import threading
import time

import pytest

from app.errors import ConfigError
from app.store import RedisStore, SqliteStore, open_store


@pytest.fixture(params=["sqlite", pytest.param("redis", marks=pytest.mark.integration)])
def store(request, tmp_path):
    if request.param == "sqlite":
        made = SqliteStore(tmp_path / "store.sqlite3", "secret-one")
    else:
        made = RedisStore(request.getfixturevalue("redis_client"), "secret-one")
    yield made
    made.close()


def test_store__put_then_get_returns_the_value(store):
    store.put("launch", "abc", {"patient": "p1", "n": 2}, ttl=60)
    assert store.get("launch", "abc") == {"patient": "p1", "n": 2}
    assert store.get("launch", "other") is None
    assert store.get("pending", "abc") is None  # namespaces are separate


def test_store__entries_expire(store):
    store.put("pending", "s", {"x": 1}, ttl=0.05)
    time.sleep(0.12)
    assert store.get("pending", "s") is None
    assert store.take("pending", "s") is None


def test_store__take_is_single_use(store):
    store.put("pending", "state", {"v": 1}, ttl=60)
    assert store.take("pending", "state") == {"v": 1}
    assert store.take("pending", "state") is None
    assert store.get("pending", "state") is None


def test_store__take_gives_the_value_to_one_of_many_concurrent_callers(store):
    store.put("pending", "race", {"v": 1}, ttl=60)
    results: list[object] = []
    barrier = threading.Barrier(8)

    def taker():
        barrier.wait()
        results.append(store.take("pending", "race"))

    threads = [threading.Thread(target=taker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [r for r in results if r is not None] == [{"v": 1}]


def test_store__add_only_creates_when_absent(store):
    assert store.add("lock", "l1", {}, ttl=60) is True
    assert store.add("lock", "l1", {}, ttl=60) is False
    store.delete("lock", "l1")
    assert store.add("lock", "l1", {}, ttl=60) is True


def test_store__add_succeeds_after_expiry(store):
    assert store.add("lock", "l2", {}, ttl=0.05) is True
    time.sleep(0.12)
    assert store.add("lock", "l2", {}, ttl=60) is True


def test_store__another_secret_key_cannot_read_entries(tmp_path):
    SqliteStore(tmp_path / "s.db", "secret-one").put("launch", "k", {"access_token": "tok"}, ttl=60)
    assert SqliteStore(tmp_path / "s.db", "secret-two").get("launch", "k") is None


def test_store__sqlite_file_holds_neither_keys_nor_values_in_clear(tmp_path):
    path = tmp_path / "s.db"
    store = SqliteStore(path, "secret-one")
    store.put("launch", "launch-id-123", {"access_token": "very-secret-access-token"}, ttl=60)
    store.close()
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir())
    assert b"very-secret-access-token" not in raw
    assert b"launch-id-123" not in raw


@pytest.mark.integration
def test_store__redis_holds_neither_keys_nor_values_in_clear(redis_client):
    server = redis_client
    RedisStore(server, "secret-one").put("launch", "launch-id-123", {"access_token": "tok-xyz"}, ttl=60)
    (name,) = server.keys("*")
    assert b"launch-id-123" not in name
    assert b"tok-xyz" not in server.get(name)


def test_store__two_instances_share_one_sqlite_file(tmp_path):
    first, second = SqliteStore(tmp_path / "s.db", "k"), SqliteStore(tmp_path / "s.db", "k")
    first.put("launch", "a", {"v": 1}, ttl=60)
    assert second.take("launch", "a") == {"v": 1}
    assert first.get("launch", "a") is None


@pytest.mark.parametrize(("url", "kind"), [
    ("", SqliteStore),
    ("sqlite:///{tmp}/x.db", SqliteStore),
])
def test_open_store__picks_the_backend(tmp_path, url, kind):
    store = open_store({"STORE_URL": url.format(tmp=tmp_path), "SECRET_KEY": "k", "VAR_DIR": str(tmp_path)})
    assert isinstance(store, kind)
    store.close()


@pytest.mark.integration
def test_open_store__redis_url_gives_a_working_redis_store(tmp_path, redis_url, redis_client):
    store = open_store({"STORE_URL": redis_url, "SECRET_KEY": "k", "VAR_DIR": str(tmp_path)})
    assert isinstance(store, RedisStore)
    store.put("launch", "a", {"v": 1}, ttl=60)
    other = open_store({"STORE_URL": redis_url, "SECRET_KEY": "k", "VAR_DIR": str(tmp_path)})
    assert other.take("launch", "a") == {"v": 1}  # two app instances share one Redis
    assert store.get("launch", "a") is None
    store.close()
    other.close()


@pytest.mark.parametrize("url", ["mysql://db/x", "sqlite://", "file:///tmp/x"])
def test_open_store__refuses_unknown_urls(tmp_path, url):
    with pytest.raises(ConfigError, match="STORE_URL"):
        open_store({"STORE_URL": url, "SECRET_KEY": "k", "VAR_DIR": str(tmp_path)})
