#!/usr/bin/env bash
# POST /v1/batches per second: wrk with a distinct body per request (create.lua) at a few connection
# counts, each for the same time, to find the ceiling; prints creates/s and latency at each, then checks
# that the store holds every job wrk saw created (2xx).
#
#   Benchmarks/creates/run.sh [seconds] [connection counts]      (defaults: 10 "8 32 128 512")
#
# Each create stores a pending job (and its input) before its 201; the gateway then submits it to the
# AirOps simulator, which holds every batch running (`--hold 1h`) and sends no webhooks (`--faults
# pause`), so the background work is the submit and the first poll (poll_interval 15s). Between runs the
# script waits until every job created so far was submitted. Jobs accumulate across runs, as in a store
# that is in use. wrk stops on time with up to <connections> creates in flight, which the gateway may
# still store: the store may hold up to that many more jobs than wrk counted, never fewer.
# Release builds; loopback only; every process it starts is stopped on exit.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
source "$here/../lib/common.sh"
seconds="${1:-10}"
read -r -a connection_counts <<<"${2:-8 32 128 512}"
threads=2
sim_port=18501
gw_port=18502
store="$work/bench.sqlite"

print_load start
start_held_airops_gateway "$sim_port" "$gw_port" "$store"

best=0
best_connections=0
summary=()
for connections in "${connection_counts[@]}"; do
    before=$(store_query "$store" "SELECT count(*) FROM jobs")
    wrk -t"$threads" -c"$connections" -d"${seconds}s" --timeout 10s -s "$bench_lib/create.lua" "http://127.0.0.1:$gw_port" \
        -- scrape urls 0 >"$work/create-$connections.txt"
    after=$(store_query "$store" "SELECT count(*) FROM jobs")
    read -r ok other secs p50 p99 max errors <<<"$(awk -F= '/^creates_2xx=/ {ok=$2} /^creates_other=/ {other=$2} /^seconds=/ {s=$2}
        /^p50_ms=/ {p50=$2} /^p99_ms=/ {p99=$2} /^max_ms=/ {max=$2} /^socket_errors=/ {e=$2} END {print ok, other, s, p50, p99, max, e}' "$work/create-$connections.txt")"
    rate=$(python3 -c "import sys; print(f'{int(sys.argv[1]) / float(sys.argv[2]):.0f}')" "$ok" "$secs")
    stored=$((after - before))
    if [ "$stored" -ge "$ok" ] && [ "$stored" -le $((ok + connections)) ]; then check="ok"; else check="MISMATCH"; fi
    line="$(printf '%4d connections: %6d creates/s  p50 %7.2f ms  p99 %7.2f ms  max %7.2f ms  (%d created in %.1f s, %d non-2xx, %d socket errors; store +%d jobs: %s)' \
        "$connections" "$rate" "$p50" "$p99" "$max" "$ok" "$secs" "$other" "$errors" "$stored" "$check")"
    echo "$line"
    summary+=("$line")
    if [ "$rate" -gt "$best" ]; then best=$rate; best_connections=$connections; fi
    # Let the gateway submit what it took before the next run.
    for _ in $(seq 1 600); do
        [ "$(store_query "$store" "SELECT count(*) FROM jobs WHERE json_extract(CAST(body AS TEXT), '\$.providerBatchID') IS NULL")" -eq 0 ] && break
        sleep 0.2
    done
done
total=$(store_query "$store" "SELECT count(*) FROM jobs")
echo "store: $total jobs in all, $(store_query "$store" "SELECT count(*) FROM job_inputs") inputs, $(store_query "$store" \
    "SELECT count(*) FROM jobs WHERE json_extract(CAST(body AS TEXT), '\$.providerBatchID') IS NOT NULL") submitted to the simulator"
print_load end
echo "creates: ceiling $best creates/s at $best_connections connections (of ${connection_counts[*]}; each ${seconds} s) (no target set: this finds the ceiling)"
