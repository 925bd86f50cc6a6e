#!/usr/bin/env bash
# Client webhook deliveries end to end: from each job's state change in the gateway to the client
# receiver's 2xx. Prints deliveries/s = delivered / (last receipt - first state change) and the latency
# from each job's state change to its receipt (p50/p99/max), with what the store says about each delivery.
#
#   Benchmarks/webhook-deliveries/run.sh [jobs] [lead seconds]      (defaults: 5000 25)
#
# One AirOps simulator whose batches all finish at the same moment (`--finish-at`, `lead seconds` after
# it starts), a gateway (AirOps poll_interval 15s; loopback webhooks allowed) and a loopback receiver
# (webhook-receiver: checks every Standard Webhooks signature itself, answers 204, records arrival
# times). The jobs (2 URLs each) are created concurrently before that moment, each subscribed to the
# default events (the terminal ones) with the receiver's URL and a secret, so each job makes exactly one
# delivery, `batch.completed`. When the batches finish the simulator sends its webhooks (scraping,
# analysis and enrichment events, then `completed`), the gateway confirms the completion with a poll,
# commits it with its outbox row, and sends the delivery. The state change time is the outbox row's
# `created_at` (written in the same transaction as the change to `completed`).
# The sender alone, without store or jobs: sender-only.sh.
# Release builds; loopback only; every process it starts is stopped on exit.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
source "$here/../lib/common.sh"
build_release webhook-receiver
jobs="${1:-5000}"
lead="${2:-25}"
threads=2
sim_port=18601
gw_port=18602
receiver_port=18603
store="$work/bench.sqlite"
secret="whsec_$(head -c 32 /dev/urandom | base64)"

print_load start
start_process receiver "$bin/webhook-receiver" "$receiver_port" "$secret"
finish_at=$(($(date +%s%3N) + lead * 1000))
start_process simulator "$bin/batchgate" simulate --vendors airops --port "$sim_port" --token bench-token --finish-at "$finish_at"
gateway_config "$work/providers.yaml" "$gw_port" "$store" \
    "  airops: {kind: olostep-airops, base_url: \"http://127.0.0.1:$sim_port\", token: bench-token, poll_interval: 15s}" \
    "  scrape: {kind: url_batch, targets: [{provider: airops}]}" \
    "webhooks: {max_attempts: 8, initial_backoff: 1s, max_backoff: 1m, timeout: 10s, allow_insecure_loopback: true}"
LOG_LEVEL=error start_process gateway "$bin/batchgate" serve --config "$work/providers.yaml"
gateway=$last_pid
wait_http "http://127.0.0.1:$gw_port/readyz"
wait_http "http://127.0.0.1:$receiver_port/stats"

per_thread=$(((jobs + threads - 1) / threads))
wrk_counted "$work/create.txt" "$threads" -t"$threads" -c32 -d"${lead}s" -s "$bench_lib/create.lua" "http://127.0.0.1:$gw_port" \
    -- scrape urls "$per_thread" "http://127.0.0.1:$receiver_port/hook" "$secret"
created=$(awk -F= '/^creates_2xx=/ {print $2}' "$work/create.txt")
now=$(date +%s%3N)
echo "jobs: $created created, each with a client webhook; the simulator finishes them all $(((finish_at - now) / 1000)) s after the last create"
if [ "$now" -gt "$finish_at" ]; then echo "warning: creating took longer than the lead; later jobs finished as they were created" >&2; fi

# Every job delivered (or a bounded wait).
deadline=$((SECONDS + lead + 180))
verified=0
while [ "$SECONDS" -lt "$deadline" ]; do
    verified=$(curl -fs "http://127.0.0.1:$receiver_port/stats" | sed -E 's/verified=([0-9]+).*/\1/')
    [ "$verified" -ge "$created" ] && break
    sleep 0.5
done
rss=$(rss_mb "$gateway")
curl -fs "http://127.0.0.1:$receiver_port/receipts" >"$work/receipts.txt"
stats=$(curl -fs "http://127.0.0.1:$receiver_port/stats")
store_query "$store" "SELECT d.job_id, d.event_type, d.created_at, d.status, d.attempt, coalesce(min(a.tried_at), 0),
    coalesce(json_extract(CAST(j.body AS TEXT), '\$.state.completedAt'), 0)
    FROM webhook_deliveries d LEFT JOIN webhook_attempts a ON a.delivery_id = d.id JOIN jobs j ON j.id = d.job_id GROUP BY d.id" |
    tr '|' ' ' >"$work/deliveries.txt"
store_query "$store" "SELECT lifecycle, count(*) FROM jobs GROUP BY lifecycle" | tr '|' ' ' | tr '\n' ' ' >"$work/lifecycles.txt"
print_load end

python3 - "$work/receipts.txt" "$work/deliveries.txt" "$created" "$stats" "$(cat "$work/lifecycles.txt")" "$rss" <<'PY'
import sys
receipts_file, deliveries_file, created, stats, lifecycles, rss = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5], sys.argv[6]
receipts = {}
for line in open(receipts_file):
    at, batch, kind = line.split()[:3]
    if kind == "batch.completed":
        receipts[batch] = int(at)
changes, states, attempts, tried, completed = {}, {}, {}, {}, {}
for line in open(deliveries_file):
    job, kind, at, status, attempt, first_try, completed_at = line.split()
    if kind == "batch.completed":
        changes[job] = int(at)
        tried[job] = int(first_try)
        completed[job] = int(completed_at)
        states[status] = states.get(status, 0) + 1
        attempts[int(attempt)] = attempts.get(int(attempt), 0) + 1
def pct(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))] if ordered else float("nan")
latencies = [receipts[j] - changes[j] for j in receipts if j in changes]
unknown = [j for j in receipts if j not in changes]
print(f"jobs by lifecycle in the store: {lifecycles.strip()}")
print(f"store: {len(changes)} batch.completed deliveries queued; by status {states}; by attempt number {attempts}")
print(f"receiver: {stats.strip()}; {len(receipts)} batch.completed received, {len(unknown)} for jobs the store has no delivery of")
if not latencies:
    print("webhook deliveries end to end: nothing delivered (target >= 5000/s)")
    sys.exit(0)
first_change, last_change = min(changes.values()), max(changes.values())
first_receipt, last_receipt = min(receipts.values()), max(receipts.values())
span = max(1, last_receipt - first_change) / 1000
change_span = max(1, last_change - first_change) / 1000
print(f"state changes: {len(changes)} over {change_span:.2f} s ({len(changes) / change_span:.0f}/s): how fast the gateway completed the jobs")
print(f"receipts: {len(receipts)} from {(first_receipt - first_change) / 1000:.2f} s to {(last_receipt - first_change) / 1000:.2f} s after the first state change")
print(f"latency from state change to receipt: p50 {pct(latencies, 0.5)} ms  p99 {pct(latencies, 0.99)} ms  max {max(latencies)} ms")
waits = [tried[j] - changes[j] for j in receipts if tried.get(j)]
sends = [receipts[j] - tried[j] for j in receipts if tried.get(j)]
print(f"  of which state change to first attempt (outbox wait): p50 {pct(waits, 0.5)} ms  p99 {pct(waits, 0.99)} ms; "
      f"attempt start to receipt: p50 {pct(sends, 0.5)} ms  p99 {pct(sends, 0.99)} ms")
skew = [changes[j] - completed[j] for j in changes if completed.get(j)]
print(f"  outbox row created_at minus the job's completed_at: p50 {pct(skew, 0.5)} ms  max {max(skew, default=0)} ms")
print(f"gateway RSS at the end: {rss} MB")
rate = len(latencies) / span
print(f"webhook deliveries end to end: {rate:.0f}/s ({len(latencies)} delivered of {created} jobs in {span:.2f} s from the first state change "
      f"to the last receipt) (target >= 5000/s)")
PY
