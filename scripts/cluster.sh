#!/usr/bin/env bash
# Several gateway replicas on one PostgreSQL, on this machine: a throwaway PostgreSQL cluster, the
# built-in vendor simulators, and N replicas of `batchgate serve` (default 3) on loopback ports. Prints
# their URLs and runs until Ctrl-C, then stops everything and removes the cluster.
#
#   bash scripts/cluster.sh [REPLICAS]
#
# Environment: BATCHGATE_BUILD=release for a release build (default debug); CLUSTER_PORT for the
# first replica's port (default 8081); CLUSTER_DIR to keep the cluster's files there (default: a
# temporary directory, removed on exit). Any replica answers any request: put them behind any HTTP
# load balancer.
set -euo pipefail
cd "$(dirname "$0")/.."
replicas=${1:-3}
first_port=${CLUSTER_PORT:-8081}
configuration=${BATCHGATE_BUILD:-debug}

export DEBIAN_FRONTEND=noninteractive
if ! dpkg -s libcurl4-openssl-dev libyaml-dev libsqlite3-dev pkg-config curl >/dev/null 2>&1; then
    apt-get update -qq && apt-get install -y -qq libcurl4-openssl-dev libyaml-dev libsqlite3-dev pkg-config curl >/dev/null
fi
swift build -c "$configuration" --product batchgate >/dev/null
bin="$(swift build -c "$configuration" --show-bin-path)/batchgate"

dir=${CLUSTER_DIR:-$(mktemp -d)}
keep_dir=${CLUSTER_DIR:+1}
mkdir -p "$dir"
pids=()
cleanup() {
    trap - EXIT INT TERM
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for _ in $(seq 1 100); do
        alive=0
        for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
        [ "$alive" -eq 0 ] && break
        sleep 0.1
    done
    for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    if [ -z "$keep_dir" ]; then
        bash scripts/postgres.sh remove "$dir/postgres"
        rm -rf "$dir"
    else
        bash scripts/postgres.sh stop "$dir/postgres"
    fi
    echo "stopped"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# wait_http URL [SECONDS] [any]: until URL answers 2xx (or anything, with "any").
wait_http() {
    local deadline=$((SECONDS + ${2:-60})) fail=-f
    [ "${3:-}" = any ] && fail=
    until curl $fail -s -o /dev/null "$1"; do
        [ "$SECONDS" -ge "$deadline" ] && { echo "no answer from $1; logs in $dir" >&2; return 1; }
        sleep 0.2
    done
}

database_url=$(bash scripts/postgres.sh start "$dir/postgres" "${CLUSTER_PG_PORT:-55433}")
sim_port=$((first_port + 100))
"$bin" simulate --vendors airops,aitronos,tagger --port "$sim_port" --token sim-token >"$dir/simulators.log" 2>&1 &
pids+=($!)
for offset in 0 1 2; do wait_http "http://127.0.0.1:$((sim_port + offset))/" 30 any; done

for index in $(seq 0 $((replicas - 1))); do
    port=$((first_port + index))
    cat >"$dir/replica-$index.yaml" <<YAML
server: {listen: "127.0.0.1:$port", public_url: "http://127.0.0.1:$port"}
store: {postgres: "$database_url", pool_size: 10}
auth:
  api_keys: [{tenant: demo, key: demo-key}]
webhooks: {allow_insecure_loopback: true}
providers:
  airops: {kind: olostep-airops, base_url: "http://127.0.0.1:$sim_port", token: sim-token, poll_interval: 2s}
  aitronos: {kind: aitronos-scrape, base_url: "http://127.0.0.1:$((sim_port + 1))", api_key: sim-token, poll_interval: 2s}
  tagger: {kind: doc-tagging-ws, base_url: "http://127.0.0.1:$((sim_port + 2))", token: sim-token}
routes:
  scrape: {kind: url_batch, targets: [{provider: airops, weight: 50}, {provider: aitronos, weight: 50}], fallback: [aitronos]}
  tag-documents: {kind: document_tagging, targets: [{provider: tagger}]}
YAML
    "$bin" serve --config "$dir/replica-$index.yaml" >"$dir/replica-$index.log" 2>&1 &
    pids+=($!)
done
for index in $(seq 0 $((replicas - 1))); do wait_http "http://127.0.0.1:$((first_port + index))/readyz"; done

echo "PostgreSQL: $database_url"
for index in $(seq 0 $((replicas - 1))); do echo "replica $index: http://127.0.0.1:$((first_port + index))  (log: $dir/replica-$index.log)"; done
echo "API key: demo-key (tenant demo). Try:"
echo "  curl -s -H 'Authorization: Bearer demo-key' -H 'Content-Type: application/json' \\"
echo "       -d '{\"route\":\"scrape\",\"input\":{\"urls\":[\"https://example.com/a\"],\"schema\":{\"type\":\"object\"}}}' http://127.0.0.1:$first_port/v1/batches"
echo "Ctrl-C stops everything."
wait -n "${pids[@]}" || true
echo "a process exited; logs in $dir" >&2
