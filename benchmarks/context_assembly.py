"""Benchmark: patient-context assembly against a local HAPI server, for a short and a long history.

Loads (once, idempotently) the 25 Synthea patients, a patient with 10,000 Observations over 200 codes and a
patient with 100 Observations, then prints for each patient:
- carepath's context assembly (fetch + facts): FHIR requests, wall time (median of --runs), peak Python memory;
  "cold" runs forget the validation results remembered per resource version first (a first launch), "warm"
  runs keep them (a relaunch or a regenerated plan for the same patient);
- carepath's own CPU seconds per assembly (cold and warm), which other processes' load does not inflate;
- the same HTTP requests made bare (recorded from the assembly, replayed with plain ``requests``, bodies read
  but not parsed): HAPI's own time for them;
- a naive fetch that pages through all of the patient's Observations (``_count`` = --page-count).

    .venv/bin/python benchmarks/context_assembly.py --fhir-base http://127.0.0.1:8091/fhir
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import threading
import time
import tracemalloc
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.context import assemble, default_requirements  # noqa: E402
from app.context.resources import forget_validations, prepare  # noqa: E402
from app.fhir import FhirClient  # noqa: E402
from app.fhir.client import next_link  # noqa: E402
from app.fhir.search import MAX_PARALLEL  # noqa: E402
from app.loader import load_paths  # noqa: E402

SYNTHEA = ROOT.parent / "shared" / "data" / "synthea"
AS_OF = date(2021, 1, 1)
LOINC = "http://loinc.org"
BENCH_CODES = "http://carepath.dev/fhir/CodeSystem/benchmark"
# value ranges (canonical units) for the codes the requirement set reads; other codes get a plain number
RANGES = {"4548-4": (5.0, 10.0, "%"), "2093-3": (150, 260, "mg/dL"), "2085-9": (35, 80, "mg/dL"),
          "18262-6": (70, 190, "mg/dL"), "13457-7": (70, 190, "mg/dL"), "33914-3": (30, 110, "mL/min/{1.73_m2}"),
          "62238-1": (30, 110, "mL/min/{1.73_m2}"), "98979-8": (30, 110, "mL/min/{1.73_m2}"),
          "2160-0": (0.6, 2.0, "mg/dL"), "38483-4": (0.6, 2.0, "mg/dL"), "9318-7": (5, 300, "mg/g"),
          "14959-1": (5, 300, "mg/g"), "2339-0": (70, 250, "mg/dL"), "2345-7": (70, 250, "mg/dL"),
          "39156-5": (20, 40, "kg/m2"), "29463-7": (50, 120, "kg"), "8302-2": (150, 195, "cm"),
          "44261-6": (0, 27, "{score}"), "8480-6": (100, 170, "mm[Hg]"), "8462-4": (60, 100, "mm[Hg]")}


class RecordingSession(requests.Session):
    """A requests session that remembers every request it sends (to replay them bare)."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[tuple[str, str, dict | None]] = []
        self._lock = threading.Lock()

    def request(self, method, url, *args, **kwargs):  # type: ignore[override]
        with self._lock:
            self.sent.append((method, url, {"params": kwargs.get("params"), "json": kwargs.get("json")}))
        return super().request(method, url, *args, **kwargs)


def observation_codes(count: int) -> list[tuple[str, str]]:
    """The requirement set's LOINC codes first, then benchmark-only codes up to ``count``."""
    wanted = []
    for requirement in default_requirements():
        if requirement.type == "Observation":
            wanted += [c for c in requirement.codes if c[0] == LOINC and c not in wanted]
    wanted += [(BENCH_CODES, f"bench-{i}") for i in range(count - len(wanted))]
    return wanted[:count]


def observation(patient: str, index: int, code: tuple[str, str], when: date, rng: random.Random) -> dict:
    system, value_code = code
    resource = {"resourceType": "Observation", "id": f"{patient}-obs-{index}", "status": "final",
                "code": {"coding": [{"system": system, "code": value_code}]},
                "subject": {"reference": f"Patient/{patient}"}, "effectiveDateTime": f"{when.isoformat()}T09:00:00Z"}
    if value_code in ("85354-9", "55284-4"):
        resource["component"] = [
            {"code": {"coding": [{"system": LOINC, "code": c}]},
             "valueQuantity": {"value": rng.randint(lo, hi), "unit": "mmHg", "system": "http://unitsofmeasure.org",
                               "code": "mm[Hg]"}} for c, lo, hi in (("8480-6", 100, 170), ("8462-4", 60, 100))]
    elif value_code == "72166-2":
        resource["valueCodeableConcept"] = {"coding": [{"system": "http://snomed.info/sct", "code": "8517006"}]}
    elif value_code in ("84413-4", "53040-2"):
        resource["valueString"] = "not tested"
    else:
        low, high, unit = RANGES.get(value_code, (1, 100, "1"))
        resource["valueQuantity"] = {"value": round(rng.uniform(low, high), 1), "unit": unit,
                                     "system": "http://unitsofmeasure.org", "code": unit}
    return resource


def ensure_patient(client: FhirClient, patient: str, total: int, codes: int) -> None:
    """Create the patient and its Observations unless the server already holds them all."""
    counted = client.get_json("Observation", params={"patient": patient, "_summary": "count"}).get("total", 0)
    if counted >= total:
        return
    rng = random.Random(patient)
    chosen = observation_codes(codes)
    start = date(2000, 1, 1)
    resources = [{"resourceType": "Patient", "id": patient, "gender": "male", "birthDate": "1960-05-05"}]
    resources += [observation(patient, i, chosen[i % len(chosen)], start + timedelta(days=(i * 7919) % 7300), rng)
                  for i in range(total)]
    print(f"loading {patient}: {total} Observations over {len(chosen)} codes ...", flush=True)
    for first in range(0, len(resources), 500):
        chunk = resources[first:first + 500]
        client.transaction({"resourceType": "Bundle", "type": "transaction", "entry": [
            {"resource": r, "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"}} for r in chunk]})


def timed_assembly(base: str, patient: str, *, cold: bool = True) -> tuple[float, int, RecordingSession, float]:
    if cold:
        forget_validations()
    session = RecordingSession()
    client = FhirClient(base, timeout=120, session=session)
    started, cpu = time.perf_counter(), time.process_time()
    facts = assemble(client, patient, default_requirements(), AS_OF)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    assert facts["patient"]["id"] == patient
    return elapsed, facts["fetch"]["requests"], session, cpu


def peak_memory(base: str, patient: str) -> float:
    forget_validations()
    client = FhirClient(base, timeout=120)
    tracemalloc.start()
    assemble(client, patient, default_requirements(), AS_OF)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / 1e6


def bare_replay(sent: list[tuple[str, str, dict | None]]) -> float:
    """The recorded requests again with plain requests, as many at once as carepath sends them (MAX_PARALLEL):
    HAPI's time plus transfer, no parsing, no facts."""
    def one(request: tuple[str, str, dict | None]) -> None:
        method, url, extra = request
        headers = {"Accept": "application/fhir+json"}
        if extra and extra.get("json") is not None:
            headers["Content-Type"] = "application/fhir+json"
        response = requests.request(method, url, params=(extra or {}).get("params"),
                                    json=(extra or {}).get("json"), headers=headers, timeout=120)
        response.raise_for_status()
        _ = response.content

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=MAX_PARALLEL) as pool:
        list(pool.map(one, sent))
    return time.perf_counter() - started


def naive_fetch(base: str, patient: str, page_count: int) -> tuple[float, int, int]:
    """Every Observation of the patient, page after page: seconds, requests, resources."""
    session = requests.Session()
    started = time.perf_counter()
    response = session.get(f"{base}/Observation", params={"patient": patient, "_count": page_count},
                           headers={"Accept": "application/fhir+json"}, timeout=300)
    pages, resources = 1, 0
    while True:
        response.raise_for_status()
        bundle = response.json()
        resources += len(bundle.get("entry", []))
        link = next_link(bundle)
        if not link:
            break
        response = session.get(link, headers={"Accept": "application/fhir+json"}, timeout=300)
        pages += 1
    return time.perf_counter() - started, pages, resources


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--fhir-base", default="http://127.0.0.1:8090/fhir")
    parser.add_argument("--runs", type=int, default=5, help="timed runs per patient (median shown)")
    parser.add_argument("--page-count", type=int, default=200, help="_count of the naive fetch")
    parser.add_argument("--skip-synthea", action="store_true", help="do not (re)load the 25 Synthea patients")
    args = parser.parse_args()
    base = args.fhir_base.rstrip("/")
    loader = FhirClient(base, timeout=600)
    if not args.skip_synthea:
        print(load_paths(loader, [SYNTHEA], progress=False).summary(), flush=True)
    ensure_patient(loader, "cp-bench-100", 100, 50)
    ensure_patient(loader, "cp-bench-10k", 10_000, 200)

    prepare(freeze=True)  # what a carepath process does once after start (app.create_app)
    print(f"\ncontext assembly as of {AS_OF}, median of {args.runs} runs after one warm-up; server {base}")
    header = (f"{'patient':<14}{'obs':>7}{'requests':>10}{'cold s':>9}{'warm s':>9}{'bare s':>9}{'cold/bare':>11}"
              f"{'warm/bare':>11}{'cpu cold':>10}{'cpu warm':>10}{'peak MB':>9}{'naive req':>11}{'naive s':>9}")
    print(header)
    print("-" * len(header))
    for patient, total in (("cp-bench-100", 100), ("cp-bench-10k", 10_000)):
        timed_assembly(base, patient)  # warm-up: CapabilityStatement cached, HAPI and Python warmed
        recorded = timed_assembly(base, patient)[2].sent  # what every assembly of the patient sends, replayed bare
        assert not any(url.endswith("/metadata") for _method, url, _extra in recorded)
        cold, warm, bare, cpu_cold, cpu_warm, counts = [], [], [], [], [], set()
        rng = random.Random(2026)
        for _ in range(args.runs):
            # The three measures of a run are interleaved, so that load from other processes hits them alike, and
            # in a random order: HAPI finishes some work after it answers, and whichever measure always came
            # next would always pay for it.
            order = ["cold", "warm", "bare"]
            rng.shuffle(order)
            for measure in order:
                if measure == "bare":
                    bare.append(bare_replay(recorded))
                    continue
                elapsed, count, _session, cpu = timed_assembly(base, patient, cold=measure == "cold")
                (cold if measure == "cold" else warm).append(elapsed)
                (cpu_cold if measure == "cold" else cpu_warm).append(cpu)
                counts.add(count)
        memory = peak_memory(base, patient)
        naive_s, naive_requests, naive_resources = naive_fetch(base, patient, args.page_count)
        assert naive_resources == total, (naive_resources, total)
        c, w, b = statistics.median(cold), statistics.median(warm), statistics.median(bare)
        # Ratios are paired run by run (each assembly with the bare replay of the same run), then the median
        # taken: load from other processes drifts over a run of minutes, and pairing cancels most of it.
        cold_ratio = statistics.median(x / y for x, y in zip(cold, bare, strict=True))
        warm_ratio = statistics.median(x / y for x, y in zip(warm, bare, strict=True))
        print(f"{patient:<14}{total:>7}{'/'.join(map(str, sorted(counts))):>10}{c:>9.3f}{w:>9.3f}{b:>9.3f}"
              f"{cold_ratio:>11.2f}{warm_ratio:>11.2f}{statistics.median(cpu_cold):>10.3f}"
              f"{statistics.median(cpu_warm):>10.3f}"
              f"{memory:>9.1f}{naive_requests:>11}{naive_s:>9.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
