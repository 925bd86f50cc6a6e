#!/usr/bin/env bash
# Many jobs active at once across the three simulated vendors, then GET /v1/batches/{id} under that load.
#
#   Benchmarks/active-jobs/run.sh [jobs] [poll interval] [observe seconds] [GET seconds] [connections] [vendors]
#                                                    (defaults: 10000 10s 60 10 64 airops,aitronos,tagger)
#
# Phase 1 (active jobs): the jobs spread evenly over the vendors (by default a third each on AirOps,
# Aitronos and the document tagger; the count is rounded up so every vendor and wrk thread gets the
# same share), 2 URLs or documents each, created concurrently through the API and kept running by the simulators (`--hold 1h`;
# the tagger spends 30 min per document). AirOps and Aitronos jobs are polled every `poll interval` (the
# same for both); tagger jobs are observed over one WebSocket each. With every job active, prints the
# gateway's RSS, then watches the polls for `observe seconds` at the vendor side (each simulator records
# when every batch was polled): per polled job, the gap between consecutive polls divided by the poll
# interval, p50/p99/max and how many polls were seen, plus jobs overdue or not polled at all.
# Phase 2 (GET under load): while those jobs stay active and polled, wrk asks GET /v1/batches/{id} with
# auth, then a bare Hummingbird endpoint answering a body of the same bytes, `GET seconds` each; prints
# both, the ratio, and how late polls came meanwhile.
# Release builds; loopback only; every process it starts is stopped on exit.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
source "$here/../lib/common.sh"
jobs="${1:-10000}"
interval="${2:-10s}"
observe="${3:-60}"
get_seconds="${4:-10}"
connections="${5:-64}"
IFS=, read -r -a vendors <<<"${6:-airops,aitronos,tagger}"
threads=2
airops_port=18401
aitronos_port=18402
tagger_port=18403
gw_port=18404
bare_port=18400
store="$work/bench.sqlite"
interval_ms=$(python3 -c 'import sys; v=sys.argv[1]; print(int(float(v[:-2])) if v.endswith("ms") else int(float(v[:-1]) * {"s": 1000, "m": 60000}[v[-1]]))' "$interval")

print_load start
# One simulator process per vendor, so each one's CPU shows apart from the gateway's.
start_process airops "$bin/batchgate" simulate --vendors airops --port "$airops_port" --token bench-token --hold 1h
airops_sim=$last_pid
start_process aitronos "$bin/batchgate" simulate --vendors aitronos --port "$aitronos_port" --token bench-token --hold 1h
aitronos_sim=$last_pid
start_process tagger "$bin/batchgate" simulate --vendors tagger --port "$tagger_port" --token bench-token --tagger-document-interval 30m
tagger_sim=$last_pid
gateway_config "$work/providers.yaml" "$gw_port" "$store" \
    "  airops: {kind: olostep-airops, base_url: \"http://127.0.0.1:$airops_port\", token: bench-token, poll_interval: $interval}
  aitronos: {kind: aitronos-scrape, base_url: \"http://127.0.0.1:$aitronos_port\", api_key: bench-token, poll_interval: $interval, default_schema: {type: object}}
  tagger: {kind: doc-tagging-ws, base_url: \"http://127.0.0.1:$tagger_port\", token: bench-token, keepalive_interval: 30s}" \
    "  scrape-airops: {kind: url_batch, targets: [{provider: airops}]}
  scrape-aitronos: {kind: url_batch, targets: [{provider: aitronos}]}
  tag: {kind: document_tagging, targets: [{provider: tagger}]}"
LOG_LEVEL=error start_process gateway "$bin/batchgate" serve --config "$work/providers.yaml"
gateway=$last_pid
wait_http "http://127.0.0.1:$gw_port/readyz"
for port in "$airops_port" "$aitronos_port" "$tagger_port"; do wait_http "http://127.0.0.1:$port/simulator/polls"; done
idle_rss=$(rss_mb "$gateway")

# Phase 1: create a third of the jobs per vendor, concurrently.
per_thread=$(((jobs + ${#vendors[@]} * threads - 1) / (${#vendors[@]} * threads)))
started=$(date +%s.%N)
polled=()
counts=""
tagger_jobs=0
for vendor in "${vendors[@]}"; do
    case "$vendor" in
    airops | aitronos)
        route="scrape-$vendor"
        kind=urls
        polled+=("$vendor")
        ;;
    tagger)
        route=tag
        kind=documents
        ;;
    *) echo "unknown vendor $vendor (airops, aitronos, tagger)" >&2 && exit 2 ;;
    esac
    wrk_counted "$work/create-$vendor.txt" "$threads" -t"$threads" -c32 -d600s -s "$bench_lib/create.lua" \
        "http://127.0.0.1:$gw_port" -- "$route" "$kind" "$per_thread"
    count=$(awk -F= '/^creates_2xx=/ {print $2}' "$work/create-$vendor.txt")
    counts="$counts $vendor $count"
    [ "$vendor" = tagger ] && tagger_jobs=$count
done
created=$(cat "$work"/create-*.txt | awk -F= '/^creates_2xx=/ {n += $2} END {print n}')
create_seconds=$(python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.1f}')" "$started" "$(date +%s.%N)")

# Every job submitted, and every tagger job observed over its own socket.
sockets=0
submitted=0
for _ in $(seq 1 1200); do
    submitted=$(store_query "$store" "SELECT count(*) FROM jobs WHERE json_extract(CAST(body AS TEXT), '\$.providerBatchID') IS NOT NULL")
    sockets=$(ss -Htn state established "( dport = :$tagger_port )" | wc -l)
    [ "$submitted" -ge "$created" ] && [ "$sockets" -ge "$tagger_jobs" ] && break
    sleep 0.5
done
all_active=$(python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.1f}')" "$started" "$(date +%s.%N)")
echo "jobs: $created created in $create_seconds s ($jobs asked; by vendor:$counts); $submitted submitted upstream and $sockets connections open to the tagger (a WebSocket per tagger job, plus pooled HTTP) $all_active s after the first create"

# Let every polled job have its first poll, then watch.
sleep $(((interval_ms + 999) / 1000 + 2))
store_query "$store" "SELECT provider || ' ' || json_extract(CAST(body AS TEXT), '\$.providerBatchID') FROM jobs
    WHERE provider IN ('airops', 'aitronos') AND lifecycle IN ('pending', 'running')" >"$work/polled-jobs.txt"
window_start=$(date +%s%3N)
cpu_start="$(cpu_seconds "$gateway") $(cpu_seconds "$airops_sim") $(cpu_seconds "$aitronos_sim") $(cpu_seconds "$tagger_sim")"
sleep "$((observe / 2))"
rss=$(rss_mb "$gateway")
threads_now=$(awk '/Threads/ {print $2}' "/proc/$gateway/status")
sleep "$((observe - observe / 2))"
window_end=$(date +%s%3N)
cpu_end="$(cpu_seconds "$gateway") $(cpu_seconds "$airops_sim") $(cpu_seconds "$aitronos_sim") $(cpu_seconds "$tagger_sim")"
active=$(store_query "$store" "SELECT lifecycle || ' ' || count(*) FROM jobs GROUP BY lifecycle" | tr '\n' ' ')
echo "stored jobs by lifecycle after ${observe} s: $active"
echo "gateway RSS: $idle_rss MB idle, $rss MB with $created jobs active and $sockets tagger sockets open ($threads_now threads)"
# shellcheck disable=SC2086
python3 - "$observe" $cpu_start $cpu_end <<'PY'
import sys
seconds, values = float(sys.argv[1]), [float(v) for v in sys.argv[2:]]
used = [100 * (end - start) / seconds for start, end in zip(values[:4], values[4:])]
print(f"CPU while watching (100 % = one core of 2): gateway {used[0]:.0f} %; simulators: AirOps {used[1]:.0f} %, Aitronos {used[2]:.0f} %, "
      f"tagger {used[3]:.0f} %")
PY
echo "poll interval: $interval (AirOps and Aitronos, jittered +-10 % by the gateway); watched for $observe s"
sources=()
for vendor in "${polled[@]}"; do
    if [ "$vendor" = airops ]; then sources+=("airops=http://127.0.0.1:$airops_port"); else sources+=("aitronos=http://127.0.0.1:$aitronos_port"); fi
done
lateness() { # from to label output
    if [ "${#sources[@]}" -eq 0 ]; then echo "RESULT max=nan late=0 polls=0" >"$4"; return; fi
    python3 "$here/lateness.py" "$work/polled-jobs.txt" "$interval_ms" "$1" "$2" "$3" "${sources[@]}" | tee "$4"
}
lateness "$window_start" "$window_end" "while idle:" "$work/lateness-idle.txt"
tagger_polls=$(curl -fs "http://127.0.0.1:$tagger_port/simulator/polls" | python3 -c 'import json,sys; print(json.load(sys.stdin)["requests"])')
echo "tagger status polls (only made while a job has no socket): $tagger_polls"

# Phase 2: GET one running job (AirOps when there is one), against a bare endpoint answering the same bytes.
id=$(store_query "$store" "SELECT id FROM jobs WHERE lifecycle = 'running' ORDER BY provider = 'airops' DESC LIMIT 1")
curl -fs "http://127.0.0.1:$gw_port/v1/batches/$id" -H 'Authorization: Bearer bench-key' -o "$work/batch.json"
start_process bare "$bin/bare-endpoint" "$bare_port" "$work/batch.json"
wait_http "http://127.0.0.1:$bare_port/fixed"
bare_bytes=$(curl -fs "http://127.0.0.1:$bare_port/fixed" | wc -c)
get_bytes=$(curl -fs "http://127.0.0.1:$gw_port/v1/batches/$id" -H 'Authorization: Bearer bench-key' | wc -c)
measure() { # output url [header]
    if [ $# -gt 2 ]; then wrk -t2 -c"$connections" -d"${get_seconds}s" --latency -H "$3" "$2" >"$1"; else wrk -t2 -c"$connections" -d"${get_seconds}s" --latency "$2" >"$1"; fi
}
measure "$work/get-bare.txt" "http://127.0.0.1:$bare_port/fixed"
get_start=$(date +%s%3N)
measure "$work/get-gateway.txt" "http://127.0.0.1:$gw_port/v1/batches/$id" 'Authorization: Bearer bench-key'
get_end=$(date +%s%3N)
get_rss=$(rss_mb "$gateway")
lateness "$get_start" "$get_end" "during GET:" "$work/lateness-get.txt"
still_active=$(store_query "$store" "SELECT count(*) FROM jobs WHERE lifecycle IN ('pending', 'running')")
echo "jobs still active after the GET phase: $still_active; gateway RSS then: $get_rss MB; peak: $(awk '/VmHWM/ {printf "%.0f", $2 / 1024}' "/proc/$gateway/status") MB"
print_load end

wrk_figures() { awk '/Requests\/sec/ {rps = $2} $1 == "99%" {p99 = $2} $1 == "50%" {p50 = $2} /Non-2xx/ {bad = $NF} END {print rps, p50, p99, bad + 0}' "$1"; }
read -r bare_rps bare_p50 bare_p99 bare_bad <<<"$(wrk_figures "$work/get-bare.txt")"
read -r get_rps get_p50 get_p99 get_bad <<<"$(wrk_figures "$work/get-gateway.txt")"
idle_max=$(awk -F'[ =]' '/^RESULT/ {print $3}' "$work/lateness-idle.txt")
idle_late=$(awk -F'[ =]' '/^RESULT/ {print $5}' "$work/lateness-idle.txt")
python3 - "$bare_rps" "$bare_p50" "$bare_p99" "$get_rps" "$get_p50" "$get_p99" "$(to_ms "$bare_p99")" "$(to_ms "$get_p99")" \
    "$bare_bytes" "$get_bytes" "$get_bad" "$rss" "$created" "$idle_max" "$idle_late" "$connections" "$interval" <<'PY'
import sys
a = sys.argv[1:]
bare_rps, get_rps = float(a[0]), float(a[3])
print(f"bare endpoint GET /fixed ({a[8]} bytes):            {bare_rps:9.0f} req/s  p50 {a[1]}  p99 {a[2]}")
print(f"GET /v1/batches/{{id}} with auth ({a[9]} bytes):     {get_rps:9.0f} req/s  p50 {a[4]}  p99 {a[5]}  non-2xx {a[10]}")
print(f"(both with {a[15]} connections, while {a[12]} jobs stay active and polled)")
polls = (f"max lateness {float(a[13]):.2f}x, {a[14]} jobs late" if a[13] != "nan" else "none polled (no AirOps or Aitronos jobs)")
print(f"active jobs: RSS {a[11]} MB with {a[12]} jobs active (target <= 300 MB); polls while idle: {polls} "
      f"(poll interval {a[16]}; target: every job polled within 1.5x its interval)")
print(f"GET under load: {get_rps:.0f} req/s = {get_rps / bare_rps:.2f}x the bare endpoint (target >= 0.8x); p99 ratio {float(a[7]) / float(a[6]):.2f}")
PY
