"""The compiled pack kept on disk: used again for the same files and code, loaded and checked again otherwise."""

from __future__ import annotations

import json
import os
import shutil
import stat
from datetime import date
from pathlib import Path

import pytest

from app.engine import packs
from app.engine.evaluate import build_plan
from app.engine.packs import PEDIATRIC_PACK_DIR, load_pack_set
from app.errors import PackError


@pytest.fixture
def pack_dir(tmp_path) -> Path:
    """A copy of the (small) pediatric pack."""
    folder = tmp_path / "pack"
    shutil.copytree(PEDIATRIC_PACK_DIR, folder)
    return folder


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("CAREPATH_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _entries(cache: Path) -> list[Path]:
    return sorted(cache.glob("packs-*/*.pickle"))


def _refuse_compiling(monkeypatch) -> None:
    def refuse(*_args, **_kwargs):
        raise AssertionError("compiled again")

    monkeypatch.setattr(packs, "pack_set_from_resources", refuse)


def _title(folder: Path) -> str:
    library = next(json.loads(f.read_text()) for f in packs.pack_files(folder)
                   if json.loads(f.read_text()).get("resourceType") == "Library")
    return library["title"]


def _library_file(folder: Path) -> Path:
    return next(f for f in packs.pack_files(folder) if json.loads(f.read_text()).get("resourceType") == "Library")


def test_pack_cache__the_same_files_are_not_compiled_again_and_give_the_same_pack(pack_dir, cache, monkeypatch):
    first = load_pack_set(pack_dir)
    assert len(_entries(cache)) == 1
    _refuse_compiling(monkeypatch)
    again = load_pack_set(pack_dir)
    assert again.packs == first.packs and again.folders == first.folders == [pack_dir]
    assert [rule.id for area in again.areas for rule in area.rules] == \
        [rule.id for area in first.areas for rule in area.rules]
    assert again.value_sets == first.value_sets
    facts = {"patient": {"id": "p", "gender": "female", "birthDate": "2015-03-01", "ageYears": 11}}
    as_of = date(2026, 12, 7)
    assert build_plan(facts, again, as_of).to_dict() == build_plan(facts, first, as_of).to_dict()


def test_pack_cache__an_edited_file_loads_and_checks_the_pack_again(pack_dir, cache):
    load_pack_set(pack_dir)
    library = _library_file(pack_dir)
    resource = json.loads(library.read_text())
    resource["title"] = "Edited title"
    library.write_text(json.dumps(resource))
    assert load_pack_set(pack_dir).library["title"] == "Edited title"
    assert len(_entries(cache)) == 1  # one entry per folder, replaced
    resource["status"] = 42  # not valid FHIR: refused, never taken from the kept entry
    library.write_text(json.dumps(resource))
    with pytest.raises(PackError, match="not valid FHIR R4 Library"):
        load_pack_set(pack_dir)


def test_pack_cache__a_damaged_entry_is_ignored_and_written_again(pack_dir, cache, monkeypatch):
    load_pack_set(pack_dir)
    [entry] = _entries(cache)
    digest, _, _pickle = entry.read_bytes().partition(b"\n")
    entry.write_bytes(digest + b"\nnot a pickle")
    assert load_pack_set(pack_dir).library["title"] == _title(pack_dir)
    _refuse_compiling(monkeypatch)
    assert load_pack_set(pack_dir).library["title"] == _title(pack_dir)  # the entry was written again


def test_pack_cache__an_entry_others_may_write_is_not_read(pack_dir, cache, monkeypatch):
    load_pack_set(pack_dir)
    [entry] = _entries(cache)
    assert stat.S_IMODE(entry.stat().st_mode) == 0o600
    os.chmod(entry, 0o620)  # group-writable: refused
    calls = []
    compile_pack = packs.pack_set_from_resources
    monkeypatch.setattr(packs, "pack_set_from_resources", lambda *a, **k: calls.append(1) or compile_pack(*a, **k))
    load_pack_set(pack_dir)
    assert calls == [1]


def test_pack_cache__an_empty_setting_keeps_nothing(pack_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("CAREPATH_CACHE_DIR", "")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    load_pack_set(pack_dir)
    assert not list(tmp_path.rglob("*.pickle"))


def test_pack_cache__a_server_expanding_value_sets_is_asked_each_time(pack_dir, cache):
    class Server:
        def expand(self, url, version):
            raise AssertionError("the pack bundles its value sets")

    load_pack_set(pack_dir, terminology=Server())
    assert _entries(cache) == []


def test_pack_cache__the_oldest_entries_go(cache, tmp_path):
    for index in range(packs._PACK_ENTRIES_KEPT + 3):
        shutil.copytree(PEDIATRIC_PACK_DIR, tmp_path / f"pack{index}")
        load_pack_set(tmp_path / f"pack{index}")
    assert len(_entries(cache)) == packs._PACK_ENTRIES_KEPT
