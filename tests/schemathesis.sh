#!/usr/bin/env bash
# The API against its document: starts the local runner (sandbox vendors, a fresh data
# directory, a free port), connects, configures and maps all four providers the way the README
# does, then runs schemathesis with every check and every phase (examples, coverage, fuzzing,
# stateful) with an admin token. Any failure fails the script. Installs schemathesis (exact
# version) into a cached venv. SCHEMATHESIS_EXAMPLES bounds the examples per operation.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="${XDG_CACHE_HOME:-$HOME/.cache}/msp-integrations"
venv="$cache/venv-schemathesis"
version="4.32.5"
examples="${SCHEMATHESIS_EXAMPLES:-10}"

if ! "$venv/bin/schemathesis" --version 2>/dev/null | grep -q "$version"; then
  echo "==> installing schemathesis $version into $venv"
  mkdir -p "$cache"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$version"
fi

cd "$root"
cargo build --quiet -p local
data="$(mktemp -d -t schemathesis-runner.XXXXXX)"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')"
log="$data/runner.log"
LOCAL_PORT="$port" LOCAL_DATA_DIR="$data/store" LOCAL_SCHEDULE_SECS=0 \
  "${CARGO_TARGET_DIR:-$root/target}/debug/local" --sandbox >"$log" 2>&1 &
runner=$!
stop() {
  kill "$runner" 2>/dev/null || true
  wait "$runner" 2>/dev/null || true
  rm -rf "$data"
}
trap stop EXIT INT TERM

B="http://127.0.0.1:$port"
for _ in $(seq 1 200); do
  if curl -sf "$B/sandbox" >/dev/null 2>&1; then break; fi
  if ! kill -0 "$runner" 2>/dev/null; then echo "the runner failed to start:"; cat "$log"; exit 1; fi
  sleep 0.1
done
token="$(sed -n 's/^ *export TOKEN=//p' "$log")"
H="Authorization: Bearer $token"
J='Content-Type: application/json'
call() { # method path [body]: fails the script unless the answer is 2xx or 3xx
  local out
  out="$(curl -s -o /dev/null -w '%{http_code}' -X "$1" "$B$2" -H "$H" -H "$J" ${3:+-d "$3"})"
  case "$out" in 2*|3*) ;; *) echo "seeding: $1 $2 answered $out"; exit 1 ;; esac
}

echo "==> seeding the runner on $B: every provider connected, configured and mapped"
sandbox="$(curl -s "$B/sandbox")"
field() { python3 -c 'import json,sys; d=json.loads(sys.argv[1]); print(json.dumps({k: d[sys.argv[2]][k] for k in sys.argv[3:]}))' "$sandbox" "$@"; }
call POST /v1/integrations/autotask/connect "$(field autotask username secret)"
owner="$(curl -s "$B/v1/integrations/autotask/options/resources" -H "$H" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["items"][0]["id"])')"
call PUT /v1/integrations/autotask/configuration \
  '{"sync_seat_quantity":true,"ticket_type":5,"sla":1,"priority":1,"queue":29683482,"status":1,"opportunity_owner":'"$owner"',"opportunity_stage":29682770}'
call PUT /v1/plans/backup '{"name":"Backup per seat"}'
call PUT /v1/integrations/autotask/plan-mappings/backup '{"service_id":1001}'
call PUT /v1/organizations/acme '{"name":"Acme Dental","plan_id":"backup","seats":25}'
call PUT /v1/integrations/autotask/org-mappings/acme '{"company_id":1004,"contract_id":1005,"contract_service_id":1006}'
call POST /v1/integrations/halopsa/connect "$(field halopsa site_url client_id client_secret)"
call PUT /v1/integrations/halopsa/configuration '{"sync_seat_quantity":true,"ticket_type_id":3,"sla_id":2,"priority_id":1}'
call PUT /v1/organizations/acme-halo '{"name":"Acme Corporation","seats":12}'
call PUT /v1/integrations/halopsa/org-mappings/acme-halo '{"customer_id":101,"licence_id":105}'
consent="$(curl -s -X POST "$B/v1/integrations/ninjaone/connect" -H "$H" -H "$J" -d "$(field ninjaone region client_id client_secret)" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["authorize_url"])')"
curl -s -o /dev/null -L "$consent"
call PUT /v1/organizations/acme-ninja '{"name":"ACME Dental, Inc.","seats":3}'
call POST /v1/integrations/ninjaone/org-mappings/auto-match '{}'
call POST /v1/integrations/connectwise/connect "$(field connectwise site company_id public_key private_key)"
call PUT /v1/integrations/connectwise/configuration \
  '{"sync_seat_quantity":true,"board_id":1,"status_id":1,"type_id":101,"priority_id":3,"source_id":6}'
call PUT /v1/plans/backup-cw '{"name":"Managed Backup (ConnectWise)"}'
call PUT /v1/integrations/connectwise/plan-mappings/backup-cw '{"product_id":1001}'
call PUT /v1/organizations/acme-cw '{"name":"Acme Corporation","plan_id":"backup-cw","seats":12}'
call PUT /v1/integrations/connectwise/org-mappings/acme-cw '{"company_id":1004,"agreement_id":1008,"addition_id":1012}'
run() { # provider body: starts a sync and prints the run's id
  curl -s -X POST "$B/v1/integrations/$1/sync" -H "$H" -H "$J" -d "$2" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])'
}
AUTOTASK_RUN="$(run autotask '{"kinds":["seats","customers","contacts","locations","assets","tickets","opportunities","agreements"]}')"
HALOPSA_RUN="$(run halopsa '{"kinds":["seats"]}')"
NINJAONE_RUN="$(run ninjaone '{"kinds":["assets"]}')"
CONNECTWISE_RUN="$(run connectwise '{"kinds":["seats"]}')"
export AUTOTASK_RUN HALOPSA_RUN NINJAONE_RUN CONNECTWISE_RUN

echo "==> schemathesis: every check, every phase, $examples examples per operation"
"$venv/bin/schemathesis" --config-file "$root/tests/schemathesis.toml" run "$root/infra/openapi.yaml" \
  --url "$B" -H "$H" --checks all --phases examples,coverage,fuzzing,stateful \
  --max-examples "$examples" --seed "${SCHEMATHESIS_SEED:-20261206}" --workers 1 \
  --report-dir "$data/report" --no-color
echo "==> the API answers as its document says"
