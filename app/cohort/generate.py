"""``carepath cohort generate``: N synthetic patients made from the shared Synthea bundles, as Bulk Data ndjson.

Patient i is a copy of Synthea bundle ``i mod 25`` in which every id is new (a UUID derived from the seed,
i and the old id; every reference to it, ``urn:uuid:`` or ``Type/id``, follows) and every date is moved by
the same number of days (between -365 and +365, drawn from the seed and i), so that the copies of one record
are different patients with different due dates. Nothing else changes: codes and values stay Synthea's.

The files are written like a Bulk Data export restricted to the types carepath reads (what ``cohort export``
asks for): ``chunk-0000/Observation.ndjson.gz`` ... with whole patients per chunk folder, gzip-compressed
(Spark reads one .gz file as one partition, so chunks also set the read parallelism).
"""

from __future__ import annotations

import gzip
import random
import re
import uuid
from datetime import date, timedelta
from pathlib import Path
from typing import IO

import orjson

from app.context.resources import USED_TYPES, from_bundle

_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_DATE = re.compile(r'(?<=")(\d{4}-\d{2}-\d{2})')
NAMESPACE = uuid.UUID("6f1d9a64-7c1e-4c7e-9c55-3c0a0f6b2d11")


def templates(folder: str | Path) -> list[list[str]]:
    """Each Synthea bundle's resources of the types carepath reads, as JSON text (ids filled in)."""
    found = []
    for path in sorted(Path(folder).glob("*.json")):
        resources = from_bundle(orjson.loads(path.read_bytes()))
        found.append([orjson.dumps(r).decode() for r in resources if r.get("resourceType") in USED_TYPES])
    if not found:
        raise FileNotFoundError(f"{folder}: no Synthea bundle (*.json)")
    return found


def synthetic_patient(template: list[str], index: int, seed: int) -> list[str]:
    """Patient ``index``: the template's resources with new ids and dates shifted (JSON text, one per resource)."""
    chance = random.Random(f"{seed}-{index}")  # noqa: S311 - test data, not security
    shift = timedelta(days=chance.randint(-365, 365))
    ids: dict[str, str] = {}
    dates: dict[str, str] = {}

    def new_id(match: re.Match[str]) -> str:
        old = match.group(0)
        if old not in ids:
            ids[old] = str(uuid.uuid5(NAMESPACE, f"{seed}/{index}/{old}"))
        return ids[old]

    def new_date(match: re.Match[str]) -> str:
        old = match.group(1)
        if old not in dates:
            try:
                dates[old] = (date.fromisoformat(old) + shift).isoformat()
            except ValueError:  # not a calendar date (e.g. 2019-02-30 in a text): left as it is
                dates[old] = old
        return dates[old]

    return [_DATE.sub(new_date, _UUID.sub(new_id, text)) for text in template]


def generate(source: str | Path, out: str | Path, count: int, *, seed: int = 17, per_chunk: int = 1000,
             progress: bool = True) -> int:
    """Write ``count`` synthetic patients under ``out``; returns the number of resources written."""
    from tqdm import tqdm

    records = templates(source)
    root = Path(out)
    written = 0
    handles: dict[str, IO[bytes]] = {}
    try:
        for index in tqdm(range(count), unit="patient", disable=not progress, desc="generating"):
            if index % per_chunk == 0:
                _close(handles)
                folder = root / f"chunk-{index // per_chunk:04d}"
                folder.mkdir(parents=True, exist_ok=True)
            for text in synthetic_patient(records[index % len(records)], index, seed):
                resource_type = text.split('"resourceType":"', 1)[1].split('"', 1)[0]
                if resource_type not in handles:
                    handles[resource_type] = gzip.open(  # noqa: SIM115 - one per type, closed per chunk
                        folder / f"{resource_type}.ndjson.gz", "wb", compresslevel=1)
                handles[resource_type].write(text.encode() + b"\n")
                written += 1
    finally:
        _close(handles)
    return written


def _close(handles: dict[str, IO[bytes]]) -> None:
    for handle in handles.values():
        handle.close()
    handles.clear()
