#!/usr/bin/env bash
# The webhook sender alone: signed deliveries through WebhookSender and CurlHTTPClient from an in-memory
# outbox to a loopback Hummingbird receiver (no store, no job changes); prints deliveries/s and attempt
# latency percentiles. The end-to-end figure is run.sh beside it.
#
#   Benchmarks/webhook-deliveries/sender-only.sh [deliveries] [concurrency]     (defaults: 2000 64)
#   CONFIGURATION=release ... builds the tests in release (a long build); debug by default.
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
