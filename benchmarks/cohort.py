"""Population mode: patients per second on Spark (local[1], local[2]) and in a plain single-process loop.

    .venv/bin/python benchmarks/cohort.py [--sizes 1000,10000,50000] [--cores 1,2] [--no-loop] [--no-pin]
                                          [--as-of 2021-04-01]

For each size, ``carepath cohort generate`` makes the panel once (``var/bench-cohort/N``, kept for later runs).
Each measurement runs in a fresh process (a new JVM for each Spark master) and prints one JSON line: wall
seconds of the job (Spark start excluded, printed apart), patients per second, and the peak resident memory
of the driver (the Python driver and, for Spark, the driver JVM; in local mode that JVM also hosts the
executor's shuffle and cache). The loop reads each chunk folder, groups its resources in memory and plans
the patients one by one with the same ``patient_result``; it relies on the generator writing whole patients
per chunk (a plain loop over an arbitrary export would have to hold the whole export in memory).

"N cores" means the job is given N CPUs: each measurement process (the Python driver, the JVM it starts and
the Python workers, which inherit it) is pinned to N CPUs with ``sched_setaffinity`` and Spark runs
``local[N]``; the loop is pinned to one CPU. With ``--no-pin`` only Spark's ``local[N]`` limits the job, and on a
machine with more CPUs the JVM's own threads (reading, shuffle, garbage collection) still run beside the
tasks. ``cpu_ms_per_patient`` is the CPU time of the whole process tree per planned patient; for Spark it
excludes the session's start (the JVM's launch), whose CPU seconds are printed apart (``spark_start_cpu_s``).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "var" / "bench-cohort"


def _peak_kb(pid: int) -> int:
    """VmHWM (peak resident set) of a process, in kB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def _tree_cpu(root: int) -> float:
    """CPU seconds used by a process and its descendants (the live ones, and those they reaped)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue  # the process ended meanwhile
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    total, pending = 0.0, [root]
    while pending:
        pid = pending.pop()
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += sum(int(value) for value in fields[11:15]) / os.sysconf("SC_CLK_TCK")  # utime stime cutime cstime
        pending += children.get(pid, [])
    return total


def _load() -> str:
    return " ".join(f"{value:.1f}" for value in os.getloadavg())


def measure_spark(source: Path, cores: int, as_of: date, out: Path) -> dict:
    """One cohort run on ``local[cores]``."""
    from app.cohort.run import run_cohort
    from app.cohort.spark import spark_session

    started, cpu_at_start = time.perf_counter(), _tree_cpu(os.getpid())
    spark = spark_session(f"local[{cores}]", config={"spark.driver.memory": "2g"})
    startup = time.perf_counter() - started
    load_before = _load()
    cpu_before = _tree_cpu(os.getpid())
    summary = run_cohort(spark, source, as_of, out)
    cpu = _tree_cpu(os.getpid()) - cpu_before
    jvm = spark.sparkContext._gateway.proc.pid
    result = {"mode": f"spark local[{cores}]", "cpus": len(os.sched_getaffinity(0)), "patients": summary.patients,
              "seconds": round(summary.seconds, 1), "patients_per_s": round(summary.patients / summary.seconds, 1),
              "cpu_ms_per_patient": round(1000 * cpu / max(1, summary.patients), 1), "spark_start_s": round(startup, 1),
              "spark_start_cpu_s": round(cpu_before - cpu_at_start, 1),
              "driver_python_peak_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
              "driver_jvm_peak_mb": round(_peak_kb(jvm) / 1024), "load": f"{load_before} -> {_load()}"}
    spark.stop()
    return result


def measure_loop(source: Path, as_of: date, out: Path) -> dict:
    """The same plans in one process, chunk by chunk."""
    from app.cohort.plans import patient_result
    from app.cohort.sources import local_groups, resources_in_order
    from app.engine import load_pack_set

    load_before = _load()
    cpu_before = _tree_cpu(os.getpid())
    started = time.perf_counter()
    pack_set = load_pack_set()
    patients = 0
    out.mkdir(parents=True, exist_ok=True)
    with (out / "plans.ndjson").open("w", encoding="utf-8") as plans:
        for chunk in sorted(p for p in source.iterdir() if p.is_dir()):
            groups, _ = local_groups(chunk)
            for patient_id, items in groups.items():
                result = patient_result(patient_id, resources_in_order(items), pack_set, as_of)
                if result.plan_json:
                    plans.write(result.plan_json + "\n")
                    patients += 1
    seconds = time.perf_counter() - started
    cpu = _tree_cpu(os.getpid()) - cpu_before
    return {"mode": "loop", "cpus": len(os.sched_getaffinity(0)), "patients": patients, "seconds": round(seconds, 1),
            "patients_per_s": round(patients / seconds, 1),
            "cpu_ms_per_patient": round(1000 * cpu / max(1, patients), 1),
            "driver_python_peak_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
            "load": f"{load_before} -> {_load()}"}


def main() -> None:
    """Generate the panels, then measure each size and mode in its own process."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="1000,10000,50000")
    parser.add_argument("--cores", default="1,2")
    parser.add_argument("--no-loop", action="store_true")
    parser.add_argument("--no-pin", action="store_true", help="do not pin each run to as many CPUs as its cores")
    parser.add_argument("--as-of", default="2021-04-01")
    parser.add_argument("--one", choices=("spark", "loop"), help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--core-count", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args()
    as_of = date.fromisoformat(args.as_of)
    if args.one:
        if not args.no_pin:  # before the JVM starts: it and the Python workers inherit the CPU set
            cpus = sorted(os.sched_getaffinity(0))
            os.sched_setaffinity(0, cpus[:args.core_count if args.one == "spark" else 1])
        source, out = DATA / str(args.n), DATA / f"out-{args.one}-{args.core_count}-{args.n}"
        result = (measure_spark(source, args.core_count, as_of, out) if args.one == "spark"
                  else measure_loop(source, as_of, out))
        print(json.dumps({"n": args.n, **result}), flush=True)
        return
    for n in (int(size) for size in args.sizes.split(",")):
        source = DATA / str(n)
        if not (source / ".complete").exists():
            from app.cohort.generate import generate

            generate(ROOT.parent / "shared" / "data" / "synthea", source, n, progress=False)
            (source / ".complete").touch()
        runs = [["--one", "spark", "--core-count", cores] for cores in args.cores.split(",")]
        if not args.no_loop:
            runs.append(["--one", "loop"])
        for run in runs:
            run += ["--no-pin"] if args.no_pin else []
            subprocess.run([sys.executable, __file__, "--n", str(n), "--as-of", args.as_of, *run], check=True,
                           stderr=subprocess.DEVNULL)


if __name__ == "__main__":
    main()
