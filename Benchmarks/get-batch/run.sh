#!/usr/bin/env bash
# GET /v1/batches/{id} with auth against a bare Hummingbird endpoint returning a fixed body, both in
# release builds, measured with wrk on loopback in the same run. Prints requests/s, p99 and the ratios.
#
#   Benchmarks/get-batch/run.sh [seconds] [connections]      (defaults: 10 64)
#
# Loopback only; every process it starts is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds="${1:-10}"
connections="${2:-64}"
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }

swift build -c release --product batchgate >/dev/null
swift build -c release --product bare-endpoint >/dev/null
bin="$(swift build -c release --show-bin-path)"

work="$(mktemp -d)"
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

"$bin/bare-endpoint" 18090 & pids+=($!)
"$bin/batchgate" simulate --vendors airops --port 18091 --token bench-token >/dev/null & pids+=($!)
cat >"$work/providers.yaml" <<YAML
server: {listen: "127.0.0.1:18092", public_url: "http://127.0.0.1:18092"}
store: {sqlite: "$work/bench.sqlite"}
auth:
  api_keys: [{tenant: bench, key: bench-key}]
providers:
  airops: {kind: olostep-airops, base_url: "http://127.0.0.1:18091", token: bench-token, poll_interval: 15s}
routes:
  scrape: {kind: url_batch, targets: [{provider: airops}]}
YAML
LOG_LEVEL=warning "$bin/batchgate" serve --config "$work/providers.yaml" >/dev/null & pids+=($!)

for _ in $(seq 1 100); do
    curl -fs http://127.0.0.1:18092/readyz >/dev/null 2>&1 && curl -fs http://127.0.0.1:18090/fixed >/dev/null 2>&1 && break
    sleep 0.1
done
id="$(curl -fs -X POST http://127.0.0.1:18092/v1/batches -H 'Authorization: Bearer bench-key' \
    -H 'Content-Type: application/json' -d '{"route":"scrape","input":{"urls":["https://example.com/a","https://example.com/b"]}}' \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')"

measure() { # url [header]
    local out
    if [ $# -gt 1 ]; then out="$(wrk -t2 -c"$connections" -d"${seconds}s" --latency -H "$2" "$1")"; else out="$(wrk -t2 -c"$connections" -d"${seconds}s" --latency "$1")"; fi
    local rps p99
    rps="$(awk '/Requests\/sec/ {print $2}' <<<"$out")"
    p99="$(awk '$1 == "99%" {print $2}' <<<"$out")"
    echo "$rps $p99"
}
to_ms() { python3 -c 'import sys; v=sys.argv[1]; print(float(v[:-2])/1000 if v.endswith("us") else float(v[:-2]) if v.endswith("ms") else float(v[:-1])*1000)' "$1"; }

read -r bare_rps bare_p99 <<<"$(measure http://127.0.0.1:18090/fixed)"
read -r get_rps get_p99 <<<"$(measure "http://127.0.0.1:18092/v1/batches/$id" 'Authorization: Bearer bench-key')"
python3 - "$bare_rps" "$bare_p99" "$get_rps" "$get_p99" "$(to_ms "$bare_p99")" "$(to_ms "$get_p99")" <<'PY'
import sys
bare_rps, bare_p99, get_rps, get_p99, bare_ms, get_ms = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], float(sys.argv[5]), float(sys.argv[6])
print(f"bare endpoint:          {float(bare_rps):10.0f} req/s  p99 {bare_p99}")
print(f"GET /v1/batches/{{id}}:   {float(get_rps):10.0f} req/s  p99 {get_p99}")
print(f"ratio req/s: {float(get_rps)/float(bare_rps):.2f} (target >= 0.6)   ratio p99: {get_ms/bare_ms:.2f} (target <= 2)")
PY
