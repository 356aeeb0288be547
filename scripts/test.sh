#!/usr/bin/env bash
# The whole test suite: lint, unit tests, and integration tests against a fresh in-memory local HAPI server,
# the sandbox EHR and Debian's chromium. A skipped integration test fails the run.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

bash scripts/install.sh --test

export HAPI_PORT="${CAREPATH_TEST_HAPI_PORT:-8091}"
export HAPI_DB=mem
export HAPI_PID_FILE="$ROOT/var/hapi-test/hapi.pid" HAPI_LOG_FILE="$ROOT/var/hapi-test/hapi.log"
started_hapi=0
cleanup() { [[ $started_hapi -eq 1 ]] && bash hapi/stop.sh || true; }
trap cleanup EXIT
if ! curl -fsS "http://127.0.0.1:$HAPI_PORT/fhir/metadata" >/dev/null 2>&1; then
  bash hapi/start.sh
  started_hapi=1
fi
export CAREPATH_TEST_HAPI_URL="http://127.0.0.1:$HAPI_PORT/fhir"
export CAREPATH_REQUIRE_INTEGRATION=1

echo "==> ruff"
.venv/bin/ruff check .
echo "==> hadolint Dockerfile deploy/nginx/Dockerfile"
.venv/bin/hadolint Dockerfile deploy/nginx/Dockerfile
echo "==> conformance (published eCQM test deck, docs/conformance.md)"
# Every case of the shared deck through the plan; fails on any disagreement classed defect or not classed at all,
# and on a reviewed entry that no longer occurs (--strict: no known defect is tolerated).
DECK="${CAREPATH_CONFORMANCE_DECK:-$ROOT/../shared/data/ecqm-2023}"
started_ms=$(date +%s%3N)
set +e
.venv/bin/carepath conformance "$DECK" --strict --out var/conformance
conformance_status=$?
set -e
elapsed_ms=$(( $(date +%s%3N) - started_ms ))
printf 'conformance: %d.%01d s, exit %d (report: var/conformance/conformance.html)\n' \
  $((elapsed_ms / 1000)) $((elapsed_ms % 1000 / 100)) "$conformance_status"

java -version >/dev/null 2>&1 || { echo "java not found: the HAPI server and the Spark cluster tests need it" >&2; exit 1; }
run_pytest() {
  set +e
  .venv/bin/pytest "$@"
  local result=$?
  set -e
  if [[ $result -eq 5 ]]; then
    echo "pytest collected no tests: failing" >&2
    result=1
  fi
  return $result
}
status=0
if [[ $# -gt 0 ]]; then
  echo "==> pytest $*"
  run_pytest --durations=25 "$@" || status=$?
else
  # The warm suite as two runs side by side: the unit tests on every core (pytest-xdist: each worker a process of
  # its own, no shared server), and beside them the tests that share the one HAPI server, the sandbox EHR and
  # chromium, one at a time (they mostly wait on those servers). The second run's output is shown after the first.
  workers="${CAREPATH_TEST_WORKERS:-$(nproc)}"
  mkdir -p var
  shared_log="var/test-integration.log"
  echo "==> pytest: integration and browser tests (HAPI, sandbox EHR, chromium), output in $shared_log"
  echo "==> pytest: unit tests ($workers workers), beside them"
  started_ms=$(date +%s%3N)
  ( run_pytest --durations=15 -m "(integration or browser) and not cluster" > "$shared_log" 2>&1 ) &
  shared_pid=$!
  run_pytest --durations=15 -q -n "$workers" -m "not integration and not browser and not cluster" || status=$?
  printf 'unit: %d s\n' $(( ($(date +%s%3N) - started_ms) / 1000 ))
  shared_status=0
  wait "$shared_pid" || shared_status=$?
  echo "==> pytest: integration and browser tests (the run beside the unit tests)"
  cat "$shared_log"
  printf 'unit, integration and browser side by side: %d s\n' $(( ($(date +%s%3N) - started_ms) / 1000 ))
  [[ $status -eq 0 ]] && status=$shared_status
  # The tests marked 'cluster' (tests/test_cohort_cluster.py) start a Spark standalone master and two workers from
  # the installed PySpark on the loopback, with the Java the HAPI server uses: a stage of their own, timed.
  echo "==> cluster: Spark standalone cluster tests"
  started_ms=$(date +%s%3N)
  cluster_status=0
  run_pytest -m cluster -q || cluster_status=$?
  elapsed_ms=$(( $(date +%s%3N) - started_ms ))
  printf 'cluster: %d.%01d s, exit %d\n' $((elapsed_ms / 1000)) $((elapsed_ms % 1000 / 100)) "$cluster_status"
  [[ $status -eq 0 ]] && status=$cluster_status
fi
if [[ $status -eq 0 && $conformance_status -ne 0 ]]; then
  echo "conformance failed (exit $conformance_status): see above and var/conformance/conformance.html" >&2
  exit 1
fi
exit $status
