#!/usr/bin/env bash
# Creates per second and GET /v1/batches/{id} per second with one gateway replica and with three, on
# SQLite (one file) and on PostgreSQL (a throwaway cluster on loopback), all on this machine: the
# replicas, the database and wrk share its cores, so three replicas contend rather than scale. With three,
# one wrk per replica runs at the same time and their counts are added.
#
#   Benchmarks/replicas/run.sh [seconds] [connections per replica]      (defaults: 10 32)
#
# Creates go to the AirOps simulator, which holds every batch running (--hold 1h) and sends no webhooks;
# each create is stored (with its input) before its 201. GET reads one running batch. Release builds;
# loopback only; every process it starts is stopped on exit.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
source "$here/../lib/common.sh"
seconds="${1:-10}"
connections="${2:-32}"
sim_port=18601
first_port=18611
pg_port=18631

print_load start
start_process simulator "$bin/batchgate" simulate --vendors airops --port "$sim_port" --token bench-token --hold 1h --faults pause
wait_http "http://127.0.0.1:$sim_port/simulator/polls"
database_url=$(bash scripts/postgres.sh start "$work/postgres" "$pg_port")
trap 'bash scripts/postgres.sh remove "$work/postgres" >/dev/null 2>&1 || true; cleanup' EXIT
psql -q "$database_url" -c "CREATE SCHEMA one" -c "CREATE SCHEMA three"

cat >"$work/get.lua" <<'LUA'
wrk.headers["Authorization"] = "Bearer bench-key"
LUA

# run_case NAME STORE_YAML REPLICAS
run_case() {
    local name="$1" store="$2" replicas="$3" gateway_pids=() index port
    for index in $(seq 0 $((replicas - 1))); do
        port=$((first_port + index))
        cat >"$work/$name-$index.yaml" <<YAML
server: {listen: "127.0.0.1:$port", public_url: "http://127.0.0.1:$port", max_body_bytes: 1048576}
store: $store
auth:
  api_keys: [{tenant: bench, key: bench-key}]
providers:
  airops: {kind: olostep-airops, base_url: "http://127.0.0.1:$sim_port", token: bench-token, poll_interval: 15s}
routes:
  scrape: {kind: url_batch, targets: [{provider: airops}]}
YAML
        LOG_LEVEL=error start_process "$name-$index" "$bin/batchgate" serve --config "$work/$name-$index.yaml"
        gateway_pids+=("$last_pid")
    done
    for index in $(seq 0 $((replicas - 1))); do wait_http "http://127.0.0.1:$((first_port + index))/readyz" 60; done

    # Creates: one wrk per replica at once.
    local wrk_pids=()
    for index in $(seq 0 $((replicas - 1))); do
        wrk -t1 -c"$connections" -d"${seconds}s" --timeout 10s -s "$bench_lib/create.lua" "http://127.0.0.1:$((first_port + index))" \
            -- scrape urls 0 >"$work/$name-create-$index.txt" &
        wrk_pids+=($!)
    done
    wait "${wrk_pids[@]}"
    local creates
    creates=$(cat "$work/$name"-create-*.txt | awk -F= '/^creates_2xx=/ {ok+=$2} /^seconds=/ {if ($2 > s) s=$2} END {printf "%.0f", ok / s}')

    # GET of one running batch, through every replica at once.
    local id
    id="$(curl -fs -X POST "http://127.0.0.1:$first_port/v1/batches" -H 'Authorization: Bearer bench-key' \
        -H 'Content-Type: application/json' -d '{"route":"scrape","input":{"urls":["https://example.com/a"]}}' |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')"
    for _ in $(seq 1 100); do
        curl -fs "http://127.0.0.1:$first_port/v1/batches/$id" -H 'Authorization: Bearer bench-key' | grep -q '"running"' && break
        sleep 0.1
    done
    wrk_pids=()
    for index in $(seq 0 $((replicas - 1))); do
        wrk -t1 -c"$connections" -d"${seconds}s" -s "$work/get.lua" "http://127.0.0.1:$((first_port + index))/v1/batches/$id" \
            >"$work/$name-get-$index.txt" &
        wrk_pids+=($!)
    done
    wait "${wrk_pids[@]}"
    local gets
    gets=$(cat "$work/$name"-get-*.txt | awk '/^Requests\/sec:/ {r+=$2} END {printf "%.0f", r}')
    local non2xx
    non2xx=$(cat "$work/$name"-get-*.txt | awk '/Non-2xx/ {n+=$NF} END {print n+0}')
    printf '%-22s %8s creates/s %9s GET/s  (GET non-2xx: %s)\n' "$name" "$creates" "$gets" "$non2xx"
    for pid in "${gateway_pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${gateway_pids[@]}"; do
        for _ in $(seq 1 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    done
}

echo "each case: ${seconds} s of creates then ${seconds} s of GET, ${connections} connections per replica"
run_case sqlite-1-replica "{sqlite: \"$work/one.sqlite\"}" 1
run_case sqlite-3-replicas "{sqlite: \"$work/three.sqlite\"}" 3
run_case postgres-1-replica "{postgres: \"$database_url&options=-c%20search_path%3Done\", pool_size: 16}" 1
run_case postgres-3-replicas "{postgres: \"$database_url&options=-c%20search_path%3Dthree\", pool_size: 16}" 3
print_load end
