#!/usr/bin/env bash
# GET /v1/batches/{id} with auth against a bare Hummingbird endpoint answering a body of the same bytes
# (the batch object, saved from the gateway first), both in release builds, measured with wrk on loopback
# in the same run. Prints requests/s, p50/p99, both body sizes and the ratios. The same comparison while
# 10,000 jobs are active and polled is the second phase of Benchmarks/active-jobs/run.sh.
#
#   Benchmarks/get-batch/run.sh [seconds] [connections]      (defaults: 10 64)
#
# With BENCH_TRACE_SAMPLING set (0.01 for 1 %), the gateway runs with tracing on at that sampling rate,
# exporting OTLP/HTTP to the bare endpoint's POST /fixed (which reads and drops each export).
#
# Loopback only; every process it starts is stopped on exit.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
source "$here/../lib/common.sh"
seconds="${1:-10}"
connections="${2:-64}"
sim_port=18091
gw_port=18092
bare_port=18090

print_load start
start_process simulator "$bin/batchgate" simulate --vendors airops --port "$sim_port" --token bench-token --hold 1h
telemetry=""
if [ -n "${BENCH_TRACE_SAMPLING:-}" ]; then
    telemetry="telemetry: {traces_endpoint: \"http://127.0.0.1:$bare_port/fixed\", sampling: $BENCH_TRACE_SAMPLING}"
    echo "tracing on: sampling $BENCH_TRACE_SAMPLING, exported to the bare endpoint"
fi
gateway_config "$work/providers.yaml" "$gw_port" "$work/bench.sqlite" \
    "  airops: {kind: olostep-airops, base_url: \"http://127.0.0.1:$sim_port\", token: bench-token, poll_interval: 15s}" \
    "  scrape: {kind: url_batch, targets: [{provider: airops}]}" "$telemetry"
LOG_LEVEL=warning start_process gateway "$bin/batchgate" serve --config "$work/providers.yaml"
wait_http "http://127.0.0.1:$gw_port/readyz"
id="$(curl -fs -X POST "http://127.0.0.1:$gw_port/v1/batches" -H 'Authorization: Bearer bench-key' \
    -H 'Content-Type: application/json' -d '{"route":"scrape","input":{"urls":["https://example.com/a","https://example.com/b"]}}' |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')"
# Wait until the job runs at the vendor, so the body measured is a running job's.
for _ in $(seq 1 100); do
    curl -fs "http://127.0.0.1:$gw_port/v1/batches/$id" -H 'Authorization: Bearer bench-key' -o "$work/batch.json"
    grep -q '"lifecycle_status":"running"' "$work/batch.json" && break
    sleep 0.1
done
start_process bare "$bin/bare-endpoint" "$bare_port" "$work/batch.json"
wait_http "http://127.0.0.1:$bare_port/fixed"
bare_bytes=$(curl -fs "http://127.0.0.1:$bare_port/fixed" | wc -c)
get_bytes=$(curl -fs "http://127.0.0.1:$gw_port/v1/batches/$id" -H 'Authorization: Bearer bench-key' | wc -c)

measure() { # url [header]
    local out
    if [ $# -gt 1 ]; then out="$(wrk -t2 -c"$connections" -d"${seconds}s" --latency -H "$2" "$1")"; else out="$(wrk -t2 -c"$connections" -d"${seconds}s" --latency "$1")"; fi
    awk '/Requests\/sec/ {rps = $2} $1 == "50%" {p50 = $2} $1 == "99%" {p99 = $2} /Non-2xx/ {bad = $NF} END {print rps, p50, p99, bad + 0}' <<<"$out"
}
read -r bare_rps bare_p50 bare_p99 _ <<<"$(measure "http://127.0.0.1:$bare_port/fixed")"
read -r get_rps get_p50 get_p99 get_bad <<<"$(measure "http://127.0.0.1:$gw_port/v1/batches/$id" 'Authorization: Bearer bench-key')"
print_load end
python3 - "$bare_rps" "$bare_p50" "$bare_p99" "$get_rps" "$get_p50" "$get_p99" "$(to_ms "$bare_p99")" "$(to_ms "$get_p99")" \
    "$bare_bytes" "$get_bytes" "$get_bad" "$connections" <<'PY'
import sys
a = sys.argv[1:]
bare_rps, get_rps, bare_ms, get_ms = float(a[0]), float(a[3]), float(a[6]), float(a[7])
print(f"bare endpoint GET /fixed ({a[8]} bytes):         {bare_rps:9.0f} req/s  p50 {a[1]}  p99 {a[2]}")
print(f"GET /v1/batches/{{id}} with auth ({a[9]} bytes):  {get_rps:9.0f} req/s  p50 {a[4]}  p99 {a[5]}  non-2xx {a[10]}  ({a[11]} connections)")
print(f"GET /v1/batches/{{id}}: {get_rps / bare_rps:.2f}x the bare endpoint's req/s (target >= 0.8x); p99 ratio {get_ms / bare_ms:.2f}")
PY
