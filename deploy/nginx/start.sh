#!/usr/bin/env bash
# Start nginx (Debian's package) as carepath's buffering reverse proxy, in the foreground.
#   deploy/nginx/start.sh LISTEN UPSTREAM PREFIX
#     LISTEN    what nginx listens on, e.g. 127.0.0.1:8000 or 8000
#     UPSTREAM  gunicorn's address, e.g. unix:/srv/var/gunicorn.sock or 127.0.0.1:8002
#     PREFIX    a writable folder for nginx's pid, error log, temp files and rendered config
# The rendered config is PREFIX/nginx.conf; `nginx -t` checks it before nginx starts.
set -euo pipefail
if [[ $# -ne 3 ]]; then
  echo "usage: $0 LISTEN UPSTREAM PREFIX" >&2
  exit 2
fi
LISTEN="$1" UPSTREAM="$2" PREFIX="$3"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
NGINX="$(command -v nginx || echo /usr/sbin/nginx)"
if [[ ! -x "$NGINX" ]]; then
  echo "nginx is not installed (Debian package nginx; scripts/install.sh installs it)" >&2
  exit 1
fi
mkdir -p "$PREFIX"
PREFIX="$(cd "$PREFIX" && pwd)"
for value in "$LISTEN" "$UPSTREAM" "$PREFIX"; do
  if [[ "$value" == *[[:space:]\;\{\}\|]* ]]; then
    echo "refusing a listen address, upstream or prefix with spaces, ';', '{', '}' or '|': $value" >&2
    exit 2
  fi
done
sed -e "s|@LISTEN@|$LISTEN|g" -e "s|@UPSTREAM@|$UPSTREAM|g" -e "s|@PREFIX@|$PREFIX|g" \
  "$HERE/carepath.conf.template" > "$PREFIX/nginx.conf"
"$NGINX" -t -q -c "$PREFIX/nginx.conf" -p "$PREFIX" -g 'daemon off;'
exec "$NGINX" -c "$PREFIX/nginx.conf" -p "$PREFIX" -g 'daemon off;'
