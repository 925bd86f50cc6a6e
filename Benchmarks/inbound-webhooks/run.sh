#!/usr/bin/env bash
# Inbound AirOps webhooks against a bare Hummingbird endpoint taking the same POST bodies, release
# builds, wrk, same run. Every webhook is a distinct event (see events.lua: six event types for each of
# many existing AirOps jobs; the gateway dedupes by batch and event type), so each one is stored durably
# before its 2xx. Afterwards the events the store holds are counted and compared with wrk's 2xx count.
#
#   Benchmarks/inbound-webhooks/run.sh [jobs] [connections] [bare seconds]      (defaults: 4000 64 10)
#
# The jobs (2 URLs each) are created first through the API and held running at the AirOps simulator
# (`--hold 1h`), whose own webhooks are paused (`--faults pause`) so it sends none; AirOps poll_interval
# 15s. The gateway run ends when every event was answered (at most 120 s).
# Loopback only; every process it starts is stopped on exit.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
source "$here/../lib/common.sh"
jobs="${1:-4000}"
connections="${2:-64}"
seconds="${3:-10}"
threads=2
sim_port=18301
gw_port=18302
bare_port=18300
store="$work/bench.sqlite"

print_load start
start_process bare "$bin/bare-endpoint" "$bare_port"
start_held_airops_gateway "$sim_port" "$gw_port" "$store"
wait_http "http://127.0.0.1:$bare_port/fixed"

# The jobs, created concurrently, then submitted to the simulator by the gateway.
per_thread=$(((jobs + threads - 1) / threads))
wrk_counted "$work/create.txt" "$threads" -t"$threads" -c32 -d300s -s "$bench_lib/create.lua" "http://127.0.0.1:$gw_port" -- scrape urls "$per_thread"
created=$(awk -F= '/^creates_2xx=/ {print $2}' "$work/create.txt")
submitted=0
for _ in $(seq 1 600); do
    submitted=$(store_query "$store" "SELECT count(*) FROM jobs WHERE json_extract(CAST(body AS TEXT), '\$.providerBatchID') IS NOT NULL")
    [ "$submitted" -ge "$created" ] && break
    sleep 0.2
done
store_query "$store" "SELECT id || ' ' || json_extract(b, '\$.inboundSecret') || ' ' || json_extract(b, '\$.providerBatchID') || ' ' ||
    json_extract(b, '\$.createdAt') FROM (SELECT id, CAST(body AS TEXT) AS b FROM jobs) WHERE json_extract(b, '\$.providerBatchID') IS NOT NULL" \
    >"$work/jobs.txt"
events_before=$(store_query "$store" "SELECT count(*) FROM provider_events")
echo "jobs: $created created, $submitted submitted to the AirOps simulator and running; $((submitted * 6)) distinct events to send"

# The bare endpoint: the same bodies, time-bound.
wrk -t"$threads" -c"$connections" -d"${seconds}s" --timeout 10s -s "$here/events.lua" "http://127.0.0.1:$bare_port" \
    -- "$work/jobs.txt" "$threads" bare >"$work/bare.txt"
# The gateway: every event once, until all are answered.
wrk_counted "$work/gateway.txt" "$threads" -t"$threads" -c"$connections" -d120s --timeout 10s -s "$here/events.lua" \
    "http://127.0.0.1:$gw_port" -- "$work/jobs.txt" "$threads" gateway
events_after=$(store_query "$store" "SELECT count(*) FROM provider_events")
distinct_after=$(store_query "$store" "SELECT count(DISTINCT job_id || ' ' || dedupe_key) FROM provider_events")
print_load end

python3 - "$work/bare.txt" "$work/gateway.txt" "$events_before" "$events_after" "$distinct_after" "$((submitted * 6))" "$connections" <<'PY'
import sys
def read(path):
    return {k: float(v) for k, v in (line.strip().split("=", 1) for line in open(path) if "=" in line and " " not in line.strip())}
bare, gw = read(sys.argv[1]), read(sys.argv[2])
before, after, distinct, sent, connections = (int(x) for x in sys.argv[3:8])
bare_rate = bare["events_2xx"] / bare["seconds"]
gw_rate = gw["events_2xx"] / gw["seconds"]
print(f"bare endpoint POST /fixed:        {bare_rate:9.0f} req/s     p50 {bare['p50_ms']:.2f} ms  p99 {bare['p99_ms']:.2f} ms  "
      f"({bare['events_2xx']:.0f} in {bare['seconds']:.1f} s, {connections} connections)")
print(f"gateway /v1/providers/airops/webhooks/{{token}}: {gw_rate:9.0f} events/s  p50 {gw['p50_ms']:.2f} ms  p99 {gw['p99_ms']:.2f} ms  "
      f"({gw['events_2xx']:.0f} in {gw['seconds']:.1f} s)")
print(f"gateway answers: {gw['events_2xx']:.0f} 2xx (applied {gw['applied']:.0f}, recorded {gw['recorded']:.0f}, duplicate {gw['duplicate']:.0f}), "
      f"{gw['events_other']:.0f} other, {gw['socket_errors']:.0f} socket errors; {sent} events to send")
stored = after - before
print(f"store: {stored} provider events stored during the run ({distinct} distinct job/event pairs in all); wrk counted {gw['events_2xx']:.0f} 2xx: "
      + ("match" if stored == int(gw["events_2xx"]) and gw["duplicate"] == 0 else "MISMATCH"))
print(f"inbound webhooks: {gw_rate:.0f} events/s = {gw_rate / bare_rate:.2f}x the bare endpoint (target >= 0.3x)")
PY
