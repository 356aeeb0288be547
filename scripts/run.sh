#!/usr/bin/env bash
# Install what is needed and run carepath on its embedded default: the local HAPI FHIR server with the
# sample patients, the sandbox EHR, and carepath itself. Ctrl-C stops what this script started.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

bash scripts/install.sh

export HAPI_PORT="${HAPI_PORT:-8090}"
FHIR="http://127.0.0.1:$HAPI_PORT/fhir"
APP_PORT="${CAREPATH_PORT:-8000}"
EHR_PORT="${SANDBOX_PORT:-8001}"
mkdir -p var
# The sample patients' records end in 2019-2021: the demo evaluates plans as of a date that fits them.
export CAREPATH_REVIEW_AS_OF="${CAREPATH_REVIEW_AS_OF-2021-04-01}"

pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  bash hapi/stop.sh || true
}
trap cleanup EXIT INT TERM

bash hapi/start.sh
echo "==> loading the sample patients into $FHIR (idempotent)"
.venv/bin/carepath load --fhir-base "$FHIR" || echo "some bundles failed to load: see above" >&2

echo "==> starting the sandbox EHR on http://127.0.0.1:$EHR_PORT"
SANDBOX_FHIR_UPSTREAM="$FHIR" SANDBOX_PORT="$EHR_PORT" SANDBOX_APP_URL="http://localhost:$APP_PORT" \
  .venv/bin/python -m sandbox > var/sandbox.log 2>&1 &
pids+=($!)

echo "==> starting carepath on http://localhost:$APP_PORT (gunicorn behind nginx, deploy/serve.sh)"
bash deploy/serve.sh "localhost:$APP_PORT" var > var/serve.log 2>&1 &
pids+=($!)

for _ in $(seq 1 60); do
  curl -fsS "http://localhost:$APP_PORT/health" >/dev/null 2>&1 && break
  sleep 0.5
done

cat <<MSG

  carepath is running.

    Open the sandbox EHR:   http://127.0.0.1:$EHR_PORT/
    (pick a patient and a practitioner, then open carepath in the EHR sidebar)

    carepath itself:        http://localhost:$APP_PORT/   (health: /health)
    local HAPI FHIR server: $FHIR
    plans are evaluated as of ${CAREPATH_REVIEW_AS_OF:-today} (CAREPATH_REVIEW_AS_OF; empty = today)

  Logs in var/. Press Ctrl-C to stop.
MSG
wait "${pids[@]}"
