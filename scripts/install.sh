#!/usr/bin/env bash
# Install everything carepath needs on a fresh machine: the Python venv with carepath and its dependencies,
# the local HAPI FHIR server build, and (with --test) Debian's chromium and redis-server for the test suite.
# Safe to run again: each step is skipped when already done.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
WITH_TEST=0
[[ "${1:-}" == "--test" ]] && WITH_TEST=1

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }

apt_install() {
  local missing=()
  for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
  [[ ${#missing[@]} -eq 0 ]] && return 0
  say "installing Debian packages: ${missing[*]}"
  local sudo=""
  [[ $(id -u) -ne 0 ]] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

command -v java >/dev/null || apt_install openjdk-17-jdk-headless
command -v mvn >/dev/null || apt_install maven
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
