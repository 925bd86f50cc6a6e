#!/usr/bin/env bash
# The chaos run: three gateway replicas on one PostgreSQL, 1,000 batches over the three simulated
# vendors with vendor faults on, replicas SIGKILLed (five times, each restarted) and one SIGSTOPped past
# its lease, then every batch checked. Loopback only; bounded in time (about 30 min at most). Prints a
# table and exits 1 if any line is not met.
#
#   bash scripts/chaos.sh [BATCHES]
#
# Environment: BATCHGATE_BUILD=release for a release build (default debug), CHAOS_SEED to repeat a run's
# random choices, CHAOS_PORT for the first replica's port (default 18081; the simulators take +100..+102,
# the webhook receiver +200, PostgreSQL +300).
set -euo pipefail
cd "$(dirname "$0")/.."
batches=${1:-1000}
configuration=${BATCHGATE_BUILD:-debug}
port=${CHAOS_PORT:-18081}

export DEBIAN_FRONTEND=noninteractive
if ! dpkg -s libcurl4-openssl-dev libyaml-dev libsqlite3-dev pkg-config python3 >/dev/null 2>&1; then
    apt-get update -qq && apt-get install -y -qq libcurl4-openssl-dev libyaml-dev libsqlite3-dev pkg-config python3 >/dev/null
fi
swift build -c "$configuration" --product batchgate >/dev/null 2>&1 || swift build -c "$configuration" --product batchgate
swift build -c "$configuration" --product webhook-receiver >/dev/null 2>&1 || swift build -c "$configuration" --product webhook-receiver
work=$(mktemp -d)
# The run uses copies, so a build during it cannot swap the binary a restarted replica runs.
mkdir "$work/bin"
cp "$(swift build -c "$configuration" --show-bin-path)"/{batchgate,webhook-receiver} "$work/bin/"
bin="$work/bin"
cleanup() {
    bash scripts/postgres.sh remove "$work/postgres" || true
    if [ "${CHAOS_KEEP:-}" = 1 ]; then echo "logs kept in $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
database_url=$(bash scripts/postgres.sh start "$work/postgres" $((port + 300)))
CHAOS_PORT=$port timeout 1800 python3 scripts/chaos.py "$bin" "$database_url" "$work" "$batches"
