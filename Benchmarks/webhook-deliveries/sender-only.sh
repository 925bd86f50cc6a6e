#!/usr/bin/env bash
# Signed webhook deliveries through WebhookSender and CurlHTTPClient to a loopback Hummingbird
# receiver; prints deliveries/s and attempt latency percentiles.
#
#   Benchmarks/webhook-deliveries/run.sh [deliveries] [concurrency]     (defaults: 2000 64)
#
# Loopback only, bounded in count and time (the test stops itself after 5 minutes).
set -euo pipefail
cd "$(dirname "$0")/../.."

deliveries="${1:-2000}"
concurrency="${2:-64}"

# `swift test` builds what it needs (a release build needs testable imports enabled, which it does).
status=0
output="$(BATCHGATE_WEBHOOK_BENCH=1 BENCH_DELIVERIES="$deliveries" BENCH_CONCURRENCY="$concurrency" \
    swift test -c "${CONFIGURATION:-debug}" --enable-testable-imports --filter 'WebhookDeliveryBenchmark' 2>&1)" || status=$?
grep -E '^webhook-deliveries:' <<<"$output" || true
if [ "$status" -ne 0 ]; then
    grep -E '✘|error:' <<<"$output" >&2 || true
    exit "$status"
fi
