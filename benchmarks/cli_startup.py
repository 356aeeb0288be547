"""CPU time of one `carepath plan` run (start-up, pack load, one plan), and of loading the pack alone.

    .venv/bin/python benchmarks/cli_startup.py [--runs 5] [--fixture fhir_fixtures/clinical-pgx.json]

Each run is a fresh process (what a script or the conformance harness pays per call); the figure is the child's
user + system CPU seconds, which other load on the machine changes less than wall-clock time.

The steps run with the cache of derived data (``CAREPATH_CACHE_DIR``, :mod:`app.cache`) as a user's second and
later runs find it: one run before the timed ones fills it. The last step is a first run: each of its runs gets an
empty cache folder of its own, so it loads and checks the packs and compiles the validation tables.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _child_cpu(command: list[str], env: dict[str, str] | None = None) -> tuple[float, float]:
    """(CPU seconds, wall seconds) of one child process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(command, cwd=ROOT, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), wall


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--fixture", default="fhir_fixtures/clinical-pgx.json")
    args = parser.parse_args()
    python = sys.executable
    commands = {
        "python start-up only": [python, "-c", "pass"],
        "import app.cli": [python, "-c", "import app.cli"],
        "load the bundled pack": [python, "-c", "from app.engine import load_pack_set; load_pack_set()"],
        "carepath plan (one patient)": [python, "-m", "app.cli", "plan", args.fixture, "--as-of", "2025-06-01",
                                        "--format", "json"],
    }
    plan = commands["carepath plan (one patient)"]
    subprocess.run(plan, cwd=ROOT, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fills the cache
    print(f"{'step':36} {'CPU s (median)':>15} {'wall s (median)':>16}  over {args.runs} runs")
    for name, command in commands.items():
        _report(name, [_child_cpu(command) for _ in range(args.runs)])
    figures = []
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory(prefix="carepath-cache-") as empty:
            figures.append(_child_cpu(plan, {**os.environ, "CAREPATH_CACHE_DIR": empty}))
    _report("carepath plan, empty cache", figures)
    return 0


def _report(name: str, figures: list[tuple[float, float]]) -> None:
    cpu = statistics.median(f[0] for f in figures)
    wall = statistics.median(f[1] for f in figures)
    print(f"{name:36} {cpu:15.2f} {wall:16.2f}")


if __name__ == "__main__":
    raise SystemExit(main())
