#!/usr/bin/env bash
# Build the local HAPI FHIR JPA server jar (hapi/target/carepath-hapi.jar).
#
# Skips the build when the jar is newer than pom.xml and every source file. Tries Maven offline
# first (everything already in ~/.m2) and falls back to an online build (Maven Central).
#
# Env: HAPI_FORCE_BUILD=1 rebuilds anyway. MVN (default: mvn) picks the Maven command.
set -euo pipefail

HAPI_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
JAR="$HAPI_DIR/target/carepath-hapi.jar"
MVN="${MVN:-mvn}"

say() { echo "==> hapi: $*"; }

jar_is_fresh() {
  [[ -f $JAR ]] || return 1
  [[ $HAPI_DIR/pom.xml -nt $JAR ]] && return 1
  # any source or resource newer than the jar?
  [[ -z $(find "$HAPI_DIR/src" -type f -newer "$JAR" -print -quit) ]]
}

if [[ ${HAPI_FORCE_BUILD:-0} != 1 ]] && jar_is_fresh; then
  say "jar up to date: $JAR"
  exit 0
fi

if ! command -v "$MVN" >/dev/null 2>&1; then
  echo "hapi/build.sh: Maven ('$MVN') not found; install maven and a Java 17 JDK" >&2
  exit 1
fi
if ! command -v java >/dev/null 2>&1; then
  echo "hapi/build.sh: java not found; install a Java 17 JDK" >&2
  exit 1
fi

LOG="$(mktemp "${TMPDIR:-/tmp}/carepath-hapi-build.XXXXXX.log")"
trap 'rm -f "$LOG"' EXIT
start=$SECONDS
cd "$HAPI_DIR"

say "building with Maven offline (dependencies from ~/.m2)"
if "$MVN" -B -q -o package -DskipTests >"$LOG" 2>&1; then
  :
else
  say "offline build not possible; building online (the first build downloads ~360 MB from Maven Central)"
  # -q keeps the CI log short; -ntp drops the per-artifact download lines if -q is ever removed
  if ! "$MVN" -B -q -ntp package -DskipTests >"$LOG" 2>&1; then
    echo "hapi/build.sh: Maven build failed; last lines of its output:" >&2
    tail -n 60 "$LOG" >&2
    exit 1
  fi
fi

if [[ ! -f $JAR ]]; then
  echo "hapi/build.sh: Maven finished but $JAR is missing" >&2
  tail -n 60 "$LOG" >&2
  exit 1
fi
touch "$JAR"
say "built in $((SECONDS - start))s: $JAR"
