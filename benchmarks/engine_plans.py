"""Plans per second per core: the engine over the 25 Synthea patients, facts precomputed.

    .venv/bin/python benchmarks/engine_plans.py [--seconds 5] [--as-of 2020-06-01]

Facts are derived once per patient (context layer, offline, from the bundles); then ``build_plan`` runs in
one process (one core) round-robin over the 25 facts dicts for the given time. Prints wall-clock and CPU
figures, latency percentiles, the pack load time, and the same measurement with fhirpathpy evaluating
every expression (no fast path), so the effect of the fast FHIRPath subset is visible. Target: >= 2,000
plans/second/core.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.context import facts_from_bundle  # noqa: E402
from app.engine import build_plan, load_pack_set  # noqa: E402

SYNTHEA = ROOT.parent / "shared" / "data" / "synthea"
TARGET = 2000


def measure(facts_list: list[dict], pack_set, as_of: str, seconds: float) -> dict[str, float]:
    """Run build_plan round-robin for ``seconds``; plans/s (wall and CPU) and per-plan latency."""
    for facts in facts_list:  # warm-up
        build_plan(facts, pack_set, as_of)
    latencies: list[float] = []
    plans = 0
    wall_start, cpu_start = time.perf_counter(), time.process_time()
    while time.perf_counter() - wall_start < seconds:
        for facts in facts_list:
            started = time.perf_counter()
            build_plan(facts, pack_set, as_of)
            latencies.append(time.perf_counter() - started)
        plans += len(facts_list)
    wall, cpu = time.perf_counter() - wall_start, time.process_time() - cpu_start
    latencies.sort()
    return {"plans": plans, "wall_s": wall, "cpu_s": cpu, "per_wall_s": plans / wall, "per_cpu_s": plans / cpu,
            "median_us": statistics.median(latencies) * 1e6,
            "p95_us": latencies[int(len(latencies) * 0.95)] * 1e6, "max_us": latencies[-1] * 1e6}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--as-of", default="2020-06-01")
    args = parser.parse_args()

    started = time.perf_counter()
    pack_set = load_pack_set()
    load_ms = (time.perf_counter() - started) * 1e3
    requirements = pack_set.requirements
    bundles = sorted(SYNTHEA.glob("*.json"))
    started = time.perf_counter()
    facts_list = [facts_from_bundle(json.loads(p.read_text()), requirements, args.as_of) for p in bundles]
    facts_s = time.perf_counter() - started
    sizes = [(len(build_plan(f, pack_set, args.as_of).activities)) for f in facts_list]

    print(f"patients: {len(facts_list)} Synthea bundles, evaluation date {args.as_of}")
    print(f"pack load + check: {load_ms:.0f} ms ({len(pack_set.areas)} PlanDefinitions, "
          f"{sum(len(a.rules) for a in pack_set.areas)} rules)")
    print(f"facts precomputed once: {facts_s:.2f} s (not counted below)")
    print(f"activities per plan: mean {statistics.mean(sizes):.1f}, max {max(sizes)}")
    fast = measure(facts_list, pack_set, args.as_of, args.seconds)
    print(f"engine (fast FHIRPath subset, fhirpathpy fallback): {fast['per_wall_s']:,.0f} plans/s wall, "
          f"{fast['per_cpu_s']:,.0f} plans/CPU-second (one core); median {fast['median_us']:.0f} us, "
          f"p95 {fast['p95_us']:.0f} us, max {fast['max_us']:.0f} us over {fast['plans']:,} plans")
    reference = load_pack_set(use_fast_path=False)
    slow = measure(facts_list, reference, args.as_of, max(1.0, args.seconds / 2))
    print(f"engine (fhirpathpy for every expression):        {slow['per_wall_s']:,.0f} plans/s wall, "
          f"{slow['per_cpu_s']:,.0f} plans/CPU-second; median {slow['median_us']:.0f} us, p95 {slow['p95_us']:.0f} us")
    verdict = "meets" if fast["per_cpu_s"] >= TARGET else "MISSES"
    print(f"target >= {TARGET:,} plans/second/core: {verdict} ({fast['per_cpu_s']:,.0f} per CPU-second)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
