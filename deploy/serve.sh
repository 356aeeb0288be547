#!/usr/bin/env bash
# carepath as it is deployed outside a container: gunicorn on a loopback port, behind nginx (deploy/nginx), so a slow
# or stalled client never holds a gunicorn thread. Runs in the foreground until either process ends or a signal.
#   deploy/serve.sh LISTEN STATE_DIR
#     LISTEN     what clients connect to, e.g. localhost:8000
#     STATE_DIR  a writable folder: gunicorn's logs, nginx's prefix (pid, temp files, error log)
# gunicorn listens on 127.0.0.1:CAREPATH_UPSTREAM_PORT (default: a free port) and nowhere else; its settings
# (workers, threads, log format) are the Dockerfile's.
set -euo pipefail
if [[ $# -ne 2 ]]; then
  echo "usage: $0 LISTEN STATE_DIR" >&2
  exit 2
fi
LISTEN="$1"
mkdir -p "$2/nginx"
STATE="$(cd "$2" && pwd)"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
GUNICORN="${GUNICORN:-$ROOT/.venv/bin/gunicorn}"
PORT="${CAREPATH_UPSTREAM_PORT:-$("$ROOT/.venv/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}"

pids=()
stop() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; }
trap stop EXIT INT TERM

(cd "$ROOT" && exec "$GUNICORN" --bind "127.0.0.1:$PORT" --workers 2 --threads 4 \
  --access-logfile "$STATE/access.log" --access-logformat '%(h)s %(m)s %(U)s %(s)s %(L)s' \
  --preload 'app.wsgi:app') >> "$STATE/carepath.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 120); do
  (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break
  kill -0 "${pids[0]}" 2>/dev/null || { echo "gunicorn did not start: see $STATE/carepath.log" >&2; exit 1; }
  sleep 0.25
done

bash "$ROOT/deploy/nginx/start.sh" "$LISTEN" "127.0.0.1:$PORT" "$STATE/nginx" &
pids+=($!)
set +e
wait -n "${pids[@]}"
status=$?
set -e
exit "$status"
