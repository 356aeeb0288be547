#!/usr/bin/env bash
# Stop the local HAPI FHIR server started by hapi/start.sh: SIGTERM, wait, then SIGKILL.
#
# Env (optional): HAPI_PID_FILE (default <repo>/var/hapi/hapi.pid), HAPI_STOP_TIMEOUT (default 30 s).
# Not running is not an error.
set -euo pipefail

HAPI_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HAPI_DIR/.." && pwd)"
PID_FILE="${HAPI_PID_FILE:-$ROOT/var/hapi/hapi.pid}"
TIMEOUT="${HAPI_STOP_TIMEOUT:-30}"

say() { echo "==> hapi: $*"; }

if [[ ! -f $PID_FILE ]]; then
  say "not running (no $PID_FILE)"
  exit 0
fi
pid="$(cat "$PID_FILE" 2>/dev/null || true)"
if [[ ! $pid =~ ^[0-9]+$ ]] || ! kill -0 "$pid" 2>/dev/null; then
  say "not running (stale pid file removed)"
  rm -f "$PID_FILE"
  exit 0
fi
# Only stop what start.sh started: the pid must be our java -jar carepath-hapi.jar
if [[ -r /proc/$pid/cmdline ]] && ! tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q 'carepath-hapi.jar'; then
  say "pid $pid from $PID_FILE is not the HAPI server; removing the stale pid file"
  rm -f "$PID_FILE"
  exit 0
fi

say "stopping (pid $pid)"
kill -TERM "$pid" 2>/dev/null || true
for ((i = 0; i < TIMEOUT * 2; i++)); do
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.5
done
if kill -0 "$pid" 2>/dev/null; then
  say "still running after ${TIMEOUT}s; sending SIGKILL"
  kill -KILL "$pid" 2>/dev/null || true
  for ((i = 0; i < 20; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.25
  done
fi
rm -f "$PID_FILE"
say "stopped"
