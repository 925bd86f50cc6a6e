#!/usr/bin/env bash
# N document-tagging jobs observed at once by one gateway: each running job holds one WebSocket to the
# tagger simulator. Prints the gateway's RSS and thread count with every socket open, then waits for
# every job to complete and checks each has all its rows.
#
#   Benchmarks/tagger-observers/run.sh [jobs] [documents per job] [ms per document]   (defaults: 500 20 1000)
#
# Release builds; loopback only; every process it starts is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/../.."
jobs="${1:-500}"
documents="${2:-20}"
interval_ms="${3:-1000}"
configuration="${CONFIGURATION:-release}"

swift build -c "$configuration" --product batchgate >/dev/null
bin="$(swift build -c "$configuration" --show-bin-path)"

work="$(mktemp -d)"
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

sim_port=18191
gw_port=18192
"$bin/batchgate" simulate --vendors tagger --port "$sim_port" --token bench-token \
    --tagger-document-interval "${interval_ms}ms" >/dev/null & pids+=($!)
cat >"$work/providers.yaml" <<YAML
server: {listen: "127.0.0.1:$gw_port", public_url: "http://127.0.0.1:$gw_port"}
store: {sqlite: "$work/bench.sqlite"}
auth:
  api_keys: [{tenant: bench, key: bench-key}]
providers:
  tagger: {kind: doc-tagging-ws, base_url: "http://127.0.0.1:$sim_port", token: bench-token, keepalive_interval: 30s}
routes:
  tag: {kind: document_tagging, targets: [{provider: tagger}]}
YAML
LOG_LEVEL=error "$bin/batchgate" serve --config "$work/providers.yaml" >/dev/null & gateway=$!; pids+=($gateway)

for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$gw_port/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
idle_rss=$(awk '/VmRSS/ {print $2}' "/proc/$gateway/status")

python3 - "$jobs" "$documents" >"$work/body.json" <<'PY'
import json, sys
docs = [{"title": f"Doc {i}", "file_path": f"s3://bench/{i}.pdf", "file_source_type": "s3"} for i in range(int(sys.argv[2]))]
print(json.dumps({"route": "tag", "input": {"documents": docs}}))
PY
start=$(date +%s.%N)
seq 1 "$jobs" | xargs -P 16 -I{} curl -fs -o /dev/null -X POST "http://127.0.0.1:$gw_port/v1/batches" \
    -H 'Authorization: Bearer bench-key' -H 'Content-Type: application/json' --data-binary @"$work/body.json"
created=$(date +%s.%N)

# Every job observed: one established connection per job from the gateway to the simulator.
sockets=0
for _ in $(seq 1 600); do
    sockets=$(ss -Htn state established "( dport = :$sim_port )" | wc -l)
    [ "$sockets" -ge "$jobs" ] && break
    sleep 0.1
done
observed=$(date +%s.%N)
rss=$(awk '/VmRSS/ {print $2}' "/proc/$gateway/status")
threads=$(awk '/Threads/ {print $2}' "/proc/$gateway/status")
printf 'jobs %d x %d documents, one document every %d ms\n' "$jobs" "$documents" "$interval_ms"
printf 'created all in %.1f s; %d connections open to the tagger (a WebSocket per job, plus pooled HTTP) %.1f s later\n' "$(echo "$created - $start" | bc)" "$sockets" "$(echo "$observed - $created" | bc)"
printf 'gateway RSS: %d MB idle, %d MB with %d connections open (target <= 200 MB for 1,000 sockets)\n' $((idle_rss / 1024)) $((rss / 1024)) "$sockets"
printf 'gateway threads: %d\n' "$threads"

# Every job ends completed with all its rows.
python3 - "$gw_port" "$jobs" "$documents" <<'PY'
import json, sys, time, urllib.request
port, jobs, documents = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
def get(path):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers={"Authorization": "Bearer bench-key"})
    return json.load(urllib.request.urlopen(req, timeout=10))
deadline = time.time() + 600
ids, after = [], None
while True:
    page = get("/v1/batches?limit=100" + (f"&after={after}" if after else ""))
    ids += [b["id"] for b in page["data"]]
    if not page["has_more"]: break
    after = page["next_after"]
while time.time() < deadline:
    pending = [i for i in ids if get(f"/v1/batches/{i}")["lifecycle_status"] not in ("completed", "failed", "cancelled", "expired")]
    if not pending: break
    time.sleep(1)
states = {}
incomplete = 0
for i in ids:
    b = get(f"/v1/batches/{i}")
    states[b["lifecycle_status"]] = states.get(b["lifecycle_status"], 0) + 1
    if len(get(f"/v1/batches/{i}/results?limit=1000")["data"]) != documents: incomplete += 1
print(f"finished: {states}; jobs missing rows: {incomplete}")
PY
echo "peak gateway RSS: $(( $(awk '/VmHWM/ {print $2}' "/proc/$gateway/status") / 1024 )) MB"
