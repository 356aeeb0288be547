#!/usr/bin/env bash
# Smoke-check a running local HAPI server (hapi/start.sh): capability statement, client ids,
# conditional create/update, If-Match, transaction + search, paging, _include, batch, $validate.
# Usage: bash hapi/smoke.sh [BASE_URL]   (default http://127.0.0.1:${HAPI_PORT:-8090}/fhir)
# Writes test resources (Patient/smoke-*, identifier system urn:carepath:smoke).
set -euo pipefail

BASE="${1:-http://${HAPI_HOST:-127.0.0.1}:${HAPI_PORT:-8090}/fhir}"
CT='Content-Type: application/fhir+json'
TMP="$(mktemp -d "${TMPDIR:-/tmp}/hapi-smoke.XXXXXX")"
trap 'rm -rf "$TMP"' EXIT
fails=0
passes=0

check() { # check NAME EXPECTED ACTUAL
  if [[ $2 == "$3" ]]; then
    passes=$((passes + 1)); echo "ok    $1"
  else
    fails=$((fails + 1)); echo "FAIL  $1: expected $2, got $3"
  fi
}
code() { curl -s -o "$TMP/body" -w '%{http_code}' "$@"; }
py() { python3 -c "import json,sys; b=json.load(open('$TMP/body')); $1"; }

check "metadata 200" 200 "$(code "$BASE/metadata")"
check "fhirVersion" 4.0.1 "$(py 'print(b["fhirVersion"])')"
for t in CarePlan Goal Provenance PlanDefinition Observation; do
  check "$t create/update/search" yes "$(py "r=[x for x in b['rest'][0]['resource'] if x['type']=='$t'][0]; i={x['code'] for x in r['interaction']}; print('yes' if {'create','update','search-type'}<=i and r.get('searchParam') else 'no')")"
done

id="smoke-$RANDOM$RANDOM"
check "PUT client-assigned id" 201 "$(code -X PUT -H "$CT" "$BASE/Patient/$id" \
  -d "{\"resourceType\":\"Patient\",\"id\":\"$id\",\"name\":[{\"family\":\"Smoke\"}]}")"
check "If-Match wrong version -> 412" 412 "$(code -X PUT -H "$CT" -H 'If-Match: W/"99"' "$BASE/Patient/$id" \
  -d "{\"resourceType\":\"Patient\",\"id\":\"$id\",\"name\":[{\"family\":\"Changed\"}]}")"
check "If-Match right version -> 200" 200 "$(code -X PUT -H "$CT" -H 'If-Match: W/"1"' "$BASE/Patient/$id" \
  -d "{\"resourceType\":\"Patient\",\"id\":\"$id\",\"name\":[{\"family\":\"Changed\"}]}")"

ident="urn:carepath:smoke|$id"
pat="{\"resourceType\":\"Patient\",\"identifier\":[{\"system\":\"urn:carepath:smoke\",\"value\":\"$id\"}]}"
check "conditional create (new) -> 201" 201 "$(code -X POST -H "$CT" -H "If-None-Exist: identifier=$ident" "$BASE/Patient" -d "$pat")"
check "conditional create (exists) -> 200" 200 "$(code -X POST -H "$CT" -H "If-None-Exist: identifier=$ident" "$BASE/Patient" -d "$pat")"
check "conditional update -> 200" 200 "$(code -X PUT -H "$CT" "$BASE/Patient?identifier=$ident" -d "$pat")"

tx='{"resourceType":"Bundle","type":"transaction","entry":[
 {"fullUrl":"urn:uuid:0b7d1c7e-0000-4000-8000-000000000001","resource":{"resourceType":"Patient","name":[{"family":"Tx"}]},"request":{"method":"POST","url":"Patient"}},
 {"fullUrl":"urn:uuid:0b7d1c7e-0000-4000-8000-000000000002","resource":{"resourceType":"Observation","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"4548-4"}]},"subject":{"reference":"urn:uuid:0b7d1c7e-0000-4000-8000-000000000001"},"effectiveDateTime":"2024-01-01","valueQuantity":{"value":7.1,"unit":"%"}},"request":{"method":"POST","url":"Observation"}},
 {"fullUrl":"urn:uuid:0b7d1c7e-0000-4000-8000-000000000003","resource":{"resourceType":"Observation","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"4548-4"}]},"subject":{"reference":"urn:uuid:0b7d1c7e-0000-4000-8000-000000000001"},"effectiveDateTime":"2024-06-01","valueQuantity":{"value":6.8,"unit":"%"}},"request":{"method":"POST","url":"Observation"}}]}'
check "transaction with urn:uuid" 200 "$(code -X POST -H "$CT" "$BASE" -d "$tx")"
pid="$(py 'print(b["entry"][0]["response"]["location"].split("/")[1])')"
check "search Observation?patient&code" 2 "$(code "$BASE/Observation?patient=$pid&code=http://loinc.org|4548-4" >/dev/null; py 'print(len(b.get("entry",[])))')"
check "_sort=-date" 2024-06-01 "$(code "$BASE/Observation?patient=$pid&_sort=-date" >/dev/null; py 'print(b["entry"][0]["resource"]["effectiveDateTime"])')"
code "$BASE/Observation?patient=$pid&_count=1" >/dev/null
check "_count=1 has a next link" yes "$(py 'print("yes" if any(l["relation"]=="next" for l in b.get("link",[])) else "no")')"
next="$(py 'print([l["url"] for l in b["link"] if l["relation"]=="next"][0])')"
check "next page answers" 1 "$(code "$next" >/dev/null; py 'print(len(b.get("entry",[])))')"
check "_include=Observation:subject" Patient "$(code "$BASE/Observation?patient=$pid&_include=Observation:subject" >/dev/null; py 'print(",".join(sorted({e["resource"]["resourceType"] for e in b["entry"] if e["search"]["mode"]=="include"})))')"

batch="{\"resourceType\":\"Bundle\",\"type\":\"batch\",\"entry\":[{\"request\":{\"method\":\"GET\",\"url\":\"Patient/$id\"}},{\"request\":{\"method\":\"GET\",\"url\":\"Patient/smoke-does-not-exist\"}}]}"
check "batch" "200 OK,404 Not Found" "$(code -X POST -H "$CT" "$BASE" -d "$batch" >/dev/null; py 'print(",".join(e["response"]["status"] for e in b["entry"]))')"

valid='{"resourceType":"CarePlan","status":"active","intent":"plan","subject":{"reference":"Patient/'"$id"'"}}'
invalid='{"resourceType":"CarePlan","subject":{"reference":"Patient/'"$id"'"}}'
check "\$validate valid CarePlan: no errors" 0 "$(code -X POST -H "$CT" "$BASE/CarePlan/\$validate" -d "$valid" >/dev/null; py 'print(sum(i["severity"] in ("error","fatal") for i in b["issue"]))')"
check "\$validate invalid CarePlan: errors" yes "$(code -X POST -H "$CT" "$BASE/CarePlan/\$validate" -d "$invalid" >/dev/null; py 'print("yes" if sum(i["severity"] in ("error","fatal") for i in b["issue"]) >= 2 else "no")')"

echo "$passes passed, $fails failed"
[[ $fails -eq 0 ]]
