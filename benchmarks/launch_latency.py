"""Benchmark: a clinician's launch, save and approval in a real browser, on the demo's whole stack.

Starts what ``make run`` starts, on ports of its own: the local HAPI server (in memory, the 25 Synthea patients
loaded; or ``--fhir-base`` for one already running and loaded), the sandbox EHR, and carepath under gunicorn
(2 workers, 4 threads, ``--preload app.wsgi:app``). Then drives Debian's chromium with Playwright, as a clinician
in the EHR's sidebar:

- **first launch after a start**: carepath started, /health answering, then one launch at once;
- **launch**: from the click on the EHR's consent page ("Allow", the EHR's own page, not counted) to the plan
  rendered in the sidebar (the ``load`` event of the plan page), for each of the 25 patients, ``--rounds`` times;
- **save** (click to "Saved" shown, read back from the record) and **approve** (click to "active" shown), once
  per patient;
- **concurrency**: ``--clinicians`` browser contexts (all in this machine's chromium) opening charts at the same
  time for ``--seconds``, each reading a plan ``--think`` seconds before the next chart; then again back to back
  (the stack saturated): p95, launches per minute, and the CPU each part of the stack used per launch; then the
  same clinicians over plain HTTP (the same requests, no browser on this machine);
- **what each step costs**: the carepath requests' Server-Timing (FHIR, facts, engine, record lookups,
  rendering) and the browser's own timing of each request of a launch.

    .venv/bin/python benchmarks/launch_latency.py                 # starts everything (about 4 minutes)
    .venv/bin/python benchmarks/launch_latency.py --fhir-base http://127.0.0.1:8090/fhir --rounds 3
"""

from __future__ import annotations

import argparse
import asyncio
import html
import http.cookiejar
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from playwright.async_api import async_playwright  # noqa: E402

SYNTHEA = ROOT.parent / "shared" / "data" / "synthea"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]
SIDEBAR = {"width": 1280, "height": 900}
SYNTHEA_ID = "https://github.com/synthetichealth/synthea"


def main() -> None:
    """Start the stack, measure, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fhir-base", help="a local HAPI already holding the Synthea patients (default: start one)")
    parser.add_argument("--hapi-port", type=int, default=8212)
    parser.add_argument("--app-port", type=int, default=8210)
    parser.add_argument("--ehr-port", type=int, default=8211)
    parser.add_argument("--rounds", type=int, default=2, help="launches per patient for the launch figures")
    parser.add_argument("--clinicians", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=60.0, help="duration of each concurrency run")
    parser.add_argument("--think", type=float, default=5.0,
                        help="seconds each clinician reads a plan before opening the next chart (a second run uses 0: "
                             "back to back, the stack saturated)")
    parser.add_argument("--cds", choices=("full", "off"), default="full",
                        help="the EHR's CDS Hooks call when a chart opens, in the concurrency run (default: full, as "
                             "the demo; off: the sidebar alone)")
    parser.add_argument("--json", help="also write the raw figures to this file")
    args = parser.parse_args()

    stack = Stack(args)
    try:
        stack.start_fhir()
        patients, practitioner = stack.patients()
        stack.start_sandbox()
        results = asyncio.run(measure(stack, patients, practitioner, args))
    finally:
        stack.stop()
    report(results, args)


class Stack:
    """The processes of the demo, on the benchmark's own ports."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.fhir = args.fhir_base or f"http://127.0.0.1:{args.hapi_port}/fhir"
        self.app_url = f"http://localhost:{args.app_port}"
        self.ehr_url = f"http://127.0.0.1:{args.ehr_port}"
        self.var = Path(tempfile.mkdtemp(prefix="carepath-bench-"))
        self.processes: list[subprocess.Popen] = []
        self.carepath: subprocess.Popen | None = None
        self.hapi_env: dict[str, str] | None = None

    def start_fhir(self) -> None:
        if self.args.fhir_base:
            return
        self.hapi_env = {**os.environ, "HAPI_PORT": str(self.args.hapi_port), "HAPI_DB": "mem",
                         "HAPI_PID_FILE": str(self.var / "hapi.pid"), "HAPI_LOG_FILE": str(self.var / "hapi.log")}
        subprocess.run(["bash", "hapi/start.sh"], cwd=ROOT, env=self.hapi_env, check=True)
        print("loading the Synthea patients into the benchmark's HAPI...", flush=True)
        subprocess.run([str(Path(sys.executable).with_name("carepath")), "load", "--fhir-base", self.fhir, "--quiet",
                        str(SYNTHEA)],
                       cwd=ROOT, check=True)

    def patients(self) -> tuple[list[str], str]:
        ids = []  # the server's ids of the Synthea patients (the bundles create them: the server names them)
        for path in sorted(SYNTHEA.glob("*.json")):
            bundle = json.loads(path.read_text())
            patient = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient")
            synthea = next(i["value"] for i in patient["identifier"] if i.get("system") == SYNTHEA_ID)
            match = requests.get(f"{self.fhir}/Patient", params={"identifier": f"{SYNTHEA_ID}|{synthea}"},
                                 timeout=30).json()
            ids.append(match["entry"][0]["resource"]["id"])
        found = requests.get(f"{self.fhir}/Practitioner", params={"_count": 1}, timeout=30).json()
        return ids, found["entry"][0]["resource"]["id"]

    def start_sandbox(self) -> None:
        env = {**os.environ, "SANDBOX_PORT": str(self.args.ehr_port), "SANDBOX_FHIR_UPSTREAM": self.fhir,
               "SANDBOX_APP_URL": self.app_url, "SANDBOX_LOG_LEVEL": "WARNING"}
        self.processes.append(subprocess.Popen([sys.executable, "-m", "sandbox"], cwd=ROOT, env=env,
                                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        _wait(f"{self.ehr_url}/fhir/.well-known/smart-configuration")

    def start_carepath(self) -> float:
        """Start carepath; returns the seconds until /health answered."""
        env = {**os.environ,
               "CAREPATH_SMART_ALLOWED_ISS": json.dumps([f"{self.ehr_url}/fhir"]),
               "CAREPATH_SMART_STANDALONE_SERVERS": "[]",
               "CAREPATH_SMART_REDIRECT_URI": f"{self.app_url}/callback",
               "CAREPATH_FRAME_ANCESTORS": f"'self' {self.ehr_url}",
               "CAREPATH_CDS_CLIENTS": json.dumps([{"iss": self.ehr_url, "jwks_url": f"{self.ehr_url}/cds/jwks"}]),
               "CAREPATH_VAR_DIR": str(self.var / "carepath"), "CAREPATH_REVIEW_AS_OF": "2021-04-01",
               "CAREPATH_LOG_LEVEL": "WARNING"}
        started = time.perf_counter()
        self.carepath = subprocess.Popen(
            [str(Path(sys.executable).with_name("gunicorn")), "--bind", f"localhost:{self.args.app_port}",
             "--workers", "2", "--threads", "4", "--preload", "app.wsgi:app"],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        _wait(f"{self.app_url}/health")
        return time.perf_counter() - started

    def stop(self) -> None:
        if self.carepath:
            os.killpg(self.carepath.pid, signal.SIGTERM)
            self.carepath.wait(timeout=30)
        for process in self.processes:
            process.terminate()
            process.wait(timeout=30)
        if self.hapi_env:
            subprocess.run(["bash", "hapi/stop.sh"], cwd=ROOT, env=self.hapi_env, check=False)


def _wait(url: str, seconds: float = 300) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if requests.get(url, timeout=5).ok:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise SystemExit(f"{url} did not answer in {seconds:.0f} s")


class Clinician:
    """One browser context in the EHR, as a clinician: opens a chart, allows carepath, reads the plan."""

    def __init__(self, browser, stack: Stack, practitioner: str) -> None:
        self.browser, self.stack, self.practitioner = browser, stack, practitioner

    async def launch(self, patient: str, steps: dict[str, list[float]] | None = None, cds: str = "full"):
        """Open the chart and allow carepath: (seconds from "Allow" to the plan rendered, page, context)."""
        context = await self.browser.new_context(viewport=SIDEBAR)
        page = await context.new_page()
        timed: list = []
        page.on("requestfinished", lambda request: timed.append(request))
        # The EHR's picker form, as its JSON twin (the picker lists the first 100 patients only).
        chart = await asyncio.to_thread(requests.post, f"{self.stack.ehr_url}/api/launch", timeout=60,
                                        json={"patient": patient, "practitioner": self.practitioner,
                                              "cds_prefetch": cds})
        await page.goto(chart.json()["ehr_url"], wait_until="load")
        frame = page.frame_locator("#carepath-frame")
        allow = frame.locator("#allow")
        await allow.wait_for(timeout=60_000)
        timed.clear()
        started = time.perf_counter()
        async with page.expect_event("framenavigated", predicate=lambda f: f.name == "carepath"
                                     and f.url.split("?")[0].endswith("/plan"), timeout=60_000):
            await allow.click()
        await frame.locator("#actions").wait_for(timeout=60_000)
        await page.frame(name="carepath").wait_for_load_state("load")
        elapsed = time.perf_counter() - started
        if steps is not None:
            await _collect_steps(timed, steps)
        return elapsed, page, context


async def _collect_steps(finished: list, steps: dict[str, list[float]]) -> None:
    """Per request of the launch: the browser's time to its last byte, and carepath's Server-Timing steps."""
    for request in finished:
        path = re.sub(r"/p/[^/]+/", "/p/<launch>/", request.url.split("?")[0])
        path = re.sub(r"^https?://[^/]+", "", path)
        timing = request.timing
        if timing.get("responseEnd", -1) > 0 and timing.get("startTime"):
            steps[f"browser {request.method} {path}"].append(timing["responseEnd"])
        response = await request.response()
        server = response.headers.get("server-timing") if response else None
        for part in (server or "").split(","):
            name, _, duration = part.strip().partition(";dur=")
            if duration:
                steps[f"carepath {path}: {name}"].append(float(duration))


async def measure(stack: Stack, patients: list[str], practitioner: str, args: argparse.Namespace) -> dict:
    """Run every measurement; returns the raw figures."""
    results: dict = {"patients": len(patients)}
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        clinician = Clinician(browser, stack, practitioner)

        results["start_seconds"] = stack.start_carepath()
        first, page, context = await clinician.launch(patients[0])
        await context.close()
        results["first_launch"] = first
        print(f"first launch after a start: {first:.2f} s", flush=True)

        launches, saves, approves, approve_pages = [], [], [], []
        steps: dict[str, list[float]] = defaultdict(list)
        for round_number in range(args.rounds):
            for patient in patients:
                elapsed, page, context = await clinician.launch(patient, steps if round_number == 0 else None)
                launches.append(elapsed)
                frame = page.frame_locator("#carepath-frame")
                if round_number == 0 and await frame.locator("#save").count():
                    saves.append(await _timed(frame.locator("#save").click(),
                                              frame.locator("#saved").wait_for(timeout=60_000)))
                    approve_pages.append(await _timed(frame.locator("#open-draft").click(),
                                                      frame.locator("#approve").wait_for(timeout=60_000)))
                    await frame.locator("#confirm").check()
                    approves.append(await _timed(frame.locator("#approve").click(), frame.locator(
                        "#plan-status", has_text="active").wait_for(timeout=60_000)))
                await context.close()
            print(f"round {round_number + 1}: {len(patients)} launches", flush=True)
        results.update(launches=launches, saves=saves, approves=approves, approve_pages=approve_pages,
                       steps={name: values for name, values in steps.items()})

        for think in (args.think, 0.0):
            done: list[float] = []
            deadline = time.perf_counter() + args.seconds
            run_steps: dict[str, list[float]] = defaultdict(list)

            async def clinician_loop(offset: int, think: float = think, done: list[float] = done,
                                     deadline: float = deadline, run_steps: dict = run_steps) -> None:
                index = offset
                await asyncio.sleep(think * offset / args.clinicians)  # clinicians do not all start at once
                while time.perf_counter() < deadline:
                    elapsed, _page, context = await clinician.launch(patients[index % len(patients)], run_steps,
                                                                     cds=args.cds)
                    await asyncio.sleep(think)  # reading the plan
                    await context.close()
                    done.append(elapsed)
                    index += args.clinicians

            started, cpu_before = time.perf_counter(), cpu_seconds()
            await asyncio.gather(*(clinician_loop(i) for i in range(args.clinicians)))
            cpu_after = cpu_seconds()
            results.setdefault("concurrency", []).append({
                "think": think, "launches": done, "seconds": time.perf_counter() - started, "steps": run_steps,
                "cpu": {name: cpu_after.get(name, 0) - cpu_before.get(name, 0) for name in cpu_after}})
        await browser.close()
    results["concurrency"].append(await asyncio.to_thread(http_concurrency, stack, patients, practitioner, args))
    return results


_return_ok_secure = http.cookiejar.DefaultCookiePolicy.return_ok_secure


def _return_ok_secure_on_loopback(self, cookie, request) -> bool:  # type: ignore[no-untyped-def]
    """Send Secure cookies to http://localhost and http://127.0.0.1, as browsers do (secure contexts). requests
    copies its jar with the default policy on every redirect, so the policy itself is patched (this process)."""
    if (urlsplit(request.get_full_url()).hostname or "") in ("localhost", "127.0.0.1"):
        return True
    return _return_ok_secure(self, cookie, request)


def http_launch(stack: Stack, patient: str, practitioner: str, cds: str) -> float:
    """A launch over plain HTTP, without a browser: the EHR's chart, carepath's launch, the EHR's consent (not
    timed), then from "Allow" to the plan page and its stylesheets read; returns those seconds."""
    http.cookiejar.DefaultCookiePolicy.return_ok_secure = _return_ok_secure_on_loopback  # type: ignore[method-assign]
    session = requests.Session()
    launch = session.post(f"{stack.ehr_url}/api/launch", timeout=120,
                          json={"patient": patient, "practitioner": practitioner, "cds_prefetch": cds}).json()
    session.get(launch["ehr_url"], timeout=120)  # the chart (and the EHR's CDS Hooks call)
    consent = session.get(launch["launch_url"], timeout=120)
    fields = {html.unescape(name): html.unescape(value) for name, value in
              re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', consent.text)}
    action = html.unescape(re.search(r'<form method="post" action="([^"]*)"', consent.text).group(1))
    started = time.perf_counter()
    plan = session.post(urljoin(consent.url, action), data={**fields, "decision": "allow"}, timeout=120)
    if not plan.url.split("?")[0].endswith("/plan") or 'id="actions"' not in plan.text:
        raise SystemExit(f"the launch did not reach the plan: {plan.url} {plan.status_code}")
    for sheet in re.findall(r'<link rel="stylesheet" href="([^"]+)"', plan.text):
        session.get(urljoin(plan.url, html.unescape(sheet)), timeout=120)
    return time.perf_counter() - started


def http_concurrency(stack: Stack, patients: list[str], practitioner: str, args: argparse.Namespace) -> dict:
    """``--clinicians`` threads launching over HTTP with ``--think`` seconds between launches."""
    done: list[float] = []
    deadline = time.perf_counter() + args.seconds

    def clinician(offset: int) -> None:
        time.sleep(args.think * offset / args.clinicians)
        index = offset
        while time.perf_counter() < deadline:
            done.append(http_launch(stack, patients[index % len(patients)], practitioner, args.cds))
            time.sleep(args.think)
            index += args.clinicians

    started, cpu_before = time.perf_counter(), cpu_seconds()
    with ThreadPoolExecutor(max_workers=args.clinicians) as pool:
        list(pool.map(clinician, range(args.clinicians)))
    cpu_after = cpu_seconds()
    return {"think": args.think, "launches": done, "seconds": time.perf_counter() - started, "steps": {},
            "cpu": {name: cpu_after.get(name, 0) - cpu_before.get(name, 0) for name in cpu_after}, "http": True}


def cpu_seconds() -> dict[str, float]:
    """CPU seconds used so far by each part of the stack, from /proc (processes alive now)."""
    tick = os.sysconf("SC_CLK_TCK")
    used: dict[str, float] = defaultdict(float)
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        part = ("chromium" if "chrom" in command else "HAPI (java)" if "carepath-hapi" in command
                else "carepath (gunicorn)" if "gunicorn" in command else "sandbox EHR" if "-m sandbox" in command
                else "this script" if "launch_latency" in command else None)
        if part:
            used[part] += (int(fields[11]) + int(fields[12])) / tick
    return used


async def _timed(action, until) -> float:
    started = time.perf_counter()
    await action
    await until
    return time.perf_counter() - started


def _quantiles(values: list[float]) -> str:
    if not values:
        return "no values"
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return (f"p50 {statistics.median(ordered):.2f} s, p95 {p95:.2f} s (min {ordered[0]:.2f}, max {ordered[-1]:.2f}, "
            f"n={len(ordered)})")


def report(results: dict, args: argparse.Namespace) -> None:
    """Print the figures (and write them as JSON when asked)."""
    print()
    print(f"load average at the end: {os.getloadavg()[0]:.1f} (2 cores)")
    print(f"carepath start (gunicorn, --preload warm-up) to /health: {results['start_seconds']:.2f} s")
    print(f"first launch after the start:  {results['first_launch']:.2f} s   (target <= 2.0 s)")
    print(f"launch, Allow -> plan rendered: {_quantiles(results['launches'])}   (target p50 <= 1.0, p95 <= 2.0)")
    print(f"save, click -> Saved shown:     {_quantiles(results['saves'])}   (target p50 <= 1.0)")
    print(f"open the approval page:         {_quantiles(results['approve_pages'])}")
    print(f"approve, click -> active shown: {_quantiles(results['approves'])}   (target p50 <= 1.0)")
    for run in results["concurrency"]:
        minutes = run["seconds"] / 60
        pause = f"each reading a plan {run['think']:g} s before the next" if run["think"] else "back to back"
        how = "over HTTP, no browser" if run.get("http") else "in chromium on this machine"
        print(f"{args.clinicians} clinicians at once {how}, {pause} (EHR's CDS call {args.cds}): "
              f"{_quantiles(run['launches'])}   (target p95 <= 2.5), {len(run['launches']) / minutes:.0f} "
              "launches per minute")
        launches = max(len(run["launches"]), 1)
        print("  CPU per launch: " + ", ".join(f"{name} {seconds / launches:.2f} s" for name, seconds in sorted(
            run["cpu"].items(), key=lambda item: -item[1])))
        if run["steps"]:
            print("  steps (median / max ms): " + "; ".join(
                f"{name} {statistics.median(values):.0f} / {max(values):.0f}" for name, values in sorted(
                    run["steps"].items(), key=lambda item: -statistics.median(item[1]))[:6]))
    print("\nwhat a launch costs (median ms over the first round; browser = request start to last byte):")
    for name, values in sorted(results["steps"].items(), key=lambda item: -statistics.median(item[1])):
        if len(values) >= len(results["launches"]) // (2 * max(args.rounds, 1)):
            print(f"  {statistics.median(values):8.1f}  {name}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
