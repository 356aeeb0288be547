"""Benchmark: carepath's CDS Hooks service (``carepath-care-gaps``) over HTTP, for the 25 Synthea patients.

Serves carepath (werkzeug, threaded) and the sandbox EHR in front of a local HAPI server, as the tests do, then
times, from the CDS client's side (signed JWT, JSON request, answer read):

- **complete prefetch**: every discovery template answered beforehand by the sandbox (not timed), so carepath
  reads nothing (the request body carries all the data: JSON parsing, facts, plan, cards);
- **fhirAuthorization**: no prefetch, carepath reads everything from the sandbox's FHIR proxy (token and scope
  checks) in front of HAPI.

One untimed warm-up call per patient and mode; then ``--rounds`` rounds over the 25 patients. Prints p50, p95,
min and max of all calls, and the p50 of each round (the spread).

    .venv/bin/python benchmarks/cds_hooks.py --fhir-base http://127.0.0.1:8091/fhir [--rounds 3] [--skip-load]
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import requests
from werkzeug.serving import make_server

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app import create_app  # noqa: E402
from app.fhir import FhirClient  # noqa: E402
from app.loader import load_paths  # noqa: E402
from sandbox import create_sandbox  # noqa: E402
from sandbox.models import LaunchContext  # noqa: E402

SYNTHEA = ROOT.parent / "shared" / "data" / "synthea"


class Served:
    """A WSGI app on 127.0.0.1 (or ``host_name``) in a thread."""

    def __init__(self, host_name: str = "127.0.0.1") -> None:
        self.app = None
        self._server = make_server("127.0.0.1", 0, lambda env, start: self.app(env, start), threaded=True)
        self.url = f"http://{host_name}:{self._server.server_port}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self._server.shutdown()


def patient_ids() -> list[str]:
    """The Patient id of each Synthea bundle."""
    ids = []
    for path in sorted(SYNTHEA.glob("*.json")):
        bundle = json.loads(path.read_text())
        ids += [e["resource"]["id"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient"]
    return ids


def percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered) + 0.5) - 1))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--fhir-base", default="http://127.0.0.1:8091/fhir")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--as-of", default="2021-04-01", help="plan date (the Synthea records end around 2021)")
    parser.add_argument("--skip-load", action="store_true", help="the patients are on the server already")
    args = parser.parse_args()
    logging.disable(logging.INFO)
    if not args.skip_load:
        report = load_paths(FhirClient(args.fhir_base, timeout=120), [SYNTHEA], progress=False)
        if report.failures:
            print("load failed:", report.failures, file=sys.stderr)
            return 1
    sandbox_served, carepath_served = Served("127.0.0.1"), Served("localhost")
    sandbox_app = create_sandbox({"FHIR_UPSTREAM": args.fhir_base, "BASE_URL": sandbox_served.url,
                                  "APP_URL": carepath_served.url, "CLIENTS": []})
    sandbox_served.app = sandbox_app
    sandbox = sandbox_app.extensions["sandbox"]
    with tempfile.TemporaryDirectory() as var:
        carepath_served.app = create_app({
            "SECRET_KEY": "benchmark", "VAR_DIR": var, "REVIEW_AS_OF": args.as_of, "LOG_LEVEL": "WARNING",
            "SMART_ALLOWED_ISS": [sandbox.fhir_base], "SMART_OPEN_SERVERS": [],
            "CDS_CLIENTS": [{"iss": sandbox.base_url, "jwks_url": sandbox.cds.jwks_url}]})
        try:
            run(sandbox, carepath_served.url, patient_ids(), args.rounds)
        finally:
            sandbox_served.stop()
            carepath_served.stop()
    return 0


def run(sandbox, carepath_url: str, patients: list[str], rounds: int) -> None:
    service = sandbox.cds._service()
    url = f"{carepath_url}/cds-services/{service['id']}"
    http = requests.Session()
    prefetch = {}
    for patient in patients:
        context = sandbox.registry.add_launch(LaunchContext(patient=patient, fhir_user=None))
        prefetch[patient] = (context, sandbox.cds._prefetch(service["prefetch"], context))
    sizes = [len(json.dumps(p)) for _, p in prefetch.values()]
    print(f"{len(patients)} patients, {len(service['prefetch'])} prefetch templates, prefetch JSON "
          f"{statistics.median(sizes) / 1024:.0f} KB median, {max(sizes) / 1024:.0f} KB max")

    def call(patient: str, mode: str) -> float:
        context, data = prefetch[patient]
        body = {"hook": "patient-view", "hookInstance": str(uuid.uuid4()), "context": {"patientId": patient},
                "fhirServer": sandbox.fhir_base}
        if mode == "prefetch":
            body["prefetch"] = data
        else:
            body["fhirAuthorization"] = sandbox.cds._authorization(context)
        payload = json.dumps(body)
        headers = {"Authorization": f"Bearer {sandbox.cds.signed_jwt(url)}", "Content-Type": "application/json"}
        started = time.perf_counter()
        response = http.post(url, data=payload, headers=headers, timeout=60)
        response.json()
        elapsed = time.perf_counter() - started
        if response.status_code != 200:
            raise SystemExit(f"{mode} {patient}: {response.status_code} {response.text[:300]}")
        return elapsed

    for mode, target in (("prefetch", "p50 <= 150 ms, p95 <= 300 ms"), ("fhirAuthorization", "p50 <= 1.0 s")):
        for patient in patients:
            call(patient, mode)  # warm-up: packs, validation tables, HAPI caches
        times, round_p50 = [], []
        for _ in range(rounds):
            this_round = [call(patient, mode) for patient in patients]
            times += this_round
            round_p50.append(statistics.median(this_round))
        print(f"{mode:18s} n={len(times)}  p50 {statistics.median(times) * 1000:6.0f} ms  "
              f"p95 {percentile(times, 0.95) * 1000:6.0f} ms  min {min(times) * 1000:5.0f} ms  "
              f"max {max(times) * 1000:6.0f} ms  round p50s "
              + ", ".join(f"{value * 1000:.0f}" for value in round_p50) + f" ms   (target {target})")


if __name__ == "__main__":
    sys.exit(main())
