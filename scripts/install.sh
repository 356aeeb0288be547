#!/usr/bin/env bash
# Install everything carepath needs on a fresh machine: the Python venv with carepath and its dependencies,
# the local HAPI FHIR server build, Debian's nginx (the proxy in front of gunicorn), and (with --test) Debian's
# chromium and redis-server for the test suite.
# Safe to run again: each step is skipped when already done.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
WITH_TEST=0
[[ "${1:-}" == "--test" ]] && WITH_TEST=1

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }

# Seconds to wait for the dpkg/apt lock that another apt, dpkg or unattended-upgrades holds, and between tries.
APT_LOCK_WAIT="${APT_LOCK_WAIT:-300}"
APT_LOCK_POLL="${APT_LOCK_POLL:-5}"

as_root() {
  if [[ $(id -u) -eq 0 ]]; then
    "$@"
  elif command -v sudo >/dev/null; then
    sudo "$@"
  else
    echo "installing Debian packages needs root: run this as root, or install sudo" >&2
    return 1
  fi
}

apt_get() {
  # apt-get that waits while another apt or dpkg holds its lock instead of failing at once: DPkg::Lock::Timeout
  # where apt knows it (apt >= 1.9.11, the dpkg lock), and a retry loop on apt's lock messages for the rest
  # (apt-get update's lists lock, older apt).
  local deadline=$((SECONDS + APT_LOCK_WAIT)) output status
  while true; do
    status=0
    output=$(as_root env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout="$APT_LOCK_WAIT" "$@" 2>&1) \
      || status=$?
    if [[ $status -eq 0 ]]; then
      [[ -n $output ]] && printf '%s\n' "$output"
      return 0
    fi
    if grep -qiE "could not get lock|unable to (acquire|lock)|is another process using it" <<<"$output" \
        && ((SECONDS < deadline)); then
      say "another apt or dpkg process holds the package lock: waiting (up to ${APT_LOCK_WAIT} s)"
      sleep "$APT_LOCK_POLL"
      continue
    fi
    printf '%s\n' "$output" >&2
    return "$status"
  done
}

apt_install() {
  local missing=()
  for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
  [[ ${#missing[@]} -eq 0 ]] && return 0
  say "installing Debian packages: ${missing[*]}"
  apt_get update -qq
  apt_get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

main() {
  command -v java >/dev/null || apt_install openjdk-17-jdk-headless
  command -v mvn >/dev/null || apt_install maven
  # nginx: the buffering reverse proxy `make run` puts in front of gunicorn (deploy/nginx), tested by the suite.
  apt_install nginx
  if [[ $WITH_TEST -eq 1 ]]; then
    apt_install chromium chromium-driver redis-server
  fi

  PY="${PYTHON:-python3}"
  if [[ ! -x .venv/bin/python ]]; then
    say "creating the Python virtual environment (.venv)"
    "$PY" -m venv .venv
  fi
  STAMP=.venv/.carepath-installed
  EXTRAS="test"
  if [[ ! -f $STAMP || pyproject.toml -nt $STAMP || $(cat "$STAMP") != "$EXTRAS" ]]; then
    say "installing carepath and its Python dependencies"
    .venv/bin/python -m pip install -q --upgrade pip
    .venv/bin/python -m pip install -q -e ".[$EXTRAS]"
    echo "$EXTRAS" > "$STAMP"
  fi

  say "building the local HAPI FHIR server"
  bash hapi/build.sh
}

# Sourced (the tests do), only the functions are defined.
if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  main "$@"
fi
