#!/usr/bin/env bash
# Start the local HAPI FHIR JPA server (R4) in the background and wait until it answers.
#
# Env (all optional):
#   HAPI_HOST           address to bind and to probe           (default 127.0.0.1)
#   HAPI_PORT           HTTP port                              (default 8090)
#   HAPI_DB             "mem" = in-memory H2, else a directory (default <repo>/var/hapi/db;
#                       a relative path is taken from the repo root)
#   HAPI_START_TIMEOUT  seconds to wait for /fhir/metadata     (default 300)
#   HAPI_JAVA_OPTS      JVM options                            (default -Xms256m -Xmx2g ...)
#   HAPI_LOG_FILE       server log                             (default <repo>/var/hapi/hapi.log)
#   HAPI_PID_FILE       pid file                               (default <repo>/var/hapi/hapi.pid)
set -euo pipefail

HAPI_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HAPI_DIR/.." && pwd)"
JAR="$HAPI_DIR/target/carepath-hapi.jar"

HOST="${HAPI_HOST:-127.0.0.1}"
PORT="${HAPI_PORT:-8090}"
DB="${HAPI_DB:-var/hapi/db}"
TIMEOUT="${HAPI_START_TIMEOUT:-300}"
LOG_FILE="${HAPI_LOG_FILE:-$ROOT/var/hapi/hapi.log}"
PID_FILE="${HAPI_PID_FILE:-$ROOT/var/hapi/hapi.pid}"
JAVA_OPTS="${HAPI_JAVA_OPTS:--Xms256m -Xmx2g -XX:+UseG1GC -XX:+ExitOnOutOfMemoryError}"

# Probe with the bound address; a wildcard bind is probed on loopback.
PROBE_HOST="$HOST"
[[ $PROBE_HOST == 0.0.0.0 || $PROBE_HOST == "::" ]] && PROBE_HOST=127.0.0.1
[[ $PROBE_HOST == *:* ]] && PROBE_HOST="[$PROBE_HOST]"
BASE="http://$PROBE_HOST:$PORT/fhir"

say() { echo "==> hapi: $*"; }
answers() { [[ $(curl -s -o /dev/null -m 5 -w '%{http_code}' "$BASE/metadata" 2>/dev/null || true) == 200 ]]; }

if answers; then
  say "a FHIR server already answers at $BASE; not starting another one"
  echo "$BASE"
  exit 0
fi

if [[ -f $PID_FILE ]]; then
  old="$(cat "$PID_FILE" 2>/dev/null || true)"
  if [[ -n $old ]] && kill -0 "$old" 2>/dev/null; then
    echo "hapi/start.sh: HAPI (pid $old, $PID_FILE) is running but $BASE/metadata does not answer;" \
      "run hapi/stop.sh first (log: $LOG_FILE)" >&2
    exit 1
  fi
  rm -f "$PID_FILE"
fi

bash "$HAPI_DIR/build.sh"

if [[ $DB != mem ]]; then
  [[ $DB == /* ]] || DB="$ROOT/$DB"
  mkdir -p "$DB"
  DB="$(cd "$DB" && pwd)"
fi
mkdir -p "$(dirname "$LOG_FILE")" "$(dirname "$PID_FILE")"

say "starting on $BASE (database: $([[ $DB == mem ]] && echo in-memory || echo "$DB"), log: $LOG_FILE)"
start=$SECONDS
# shellcheck disable=SC2086  # JAVA_OPTS is a list of options
(
  cd "$ROOT"
  HAPI_HOST="$HOST" HAPI_PORT="$PORT" HAPI_DB="$DB" \
    exec nohup java $JAVA_OPTS -jar "$JAR" </dev/null >"$LOG_FILE" 2>&1
) &
pid=$!
echo "$pid" >"$PID_FILE"

while true; do
  if answers; then
    say "up in $((SECONDS - start))s (pid $pid): $BASE"
    echo "$BASE"
    exit 0
  fi
  if ! kill -0 "$pid" 2>/dev/null; then
    echo "hapi/start.sh: the HAPI server exited during startup; last lines of $LOG_FILE:" >&2
    tail -n 40 "$LOG_FILE" >&2 || true
    rm -f "$PID_FILE"
    exit 1
  fi
  if ((SECONDS - start >= TIMEOUT)); then
    echo "hapi/start.sh: no answer from $BASE/metadata after ${TIMEOUT}s; last lines of $LOG_FILE:" >&2
    tail -n 40 "$LOG_FILE" >&2 || true
    echo "hapi/start.sh: the server (pid $pid) is left running; hapi/stop.sh stops it" >&2
    exit 1
  fi
  sleep 1
done
