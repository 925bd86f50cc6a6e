#!/usr/bin/env bash
# Runs the whole test suite. Installs the system libraries it needs on a fresh Debian machine.
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive
if ! dpkg -s libcurl4-openssl-dev libyaml-dev libsqlite3-dev pkg-config >/dev/null 2>&1; then
    apt-get update -qq && apt-get install -y -qq libcurl4-openssl-dev libyaml-dev libsqlite3-dev pkg-config >/dev/null
fi
if [ "${1:-}" != "--skip-build" ]; then
    swift build --build-tests
fi
# The end-to-end tests start the gateway binary; they find it beside the test bundle.
swift test --skip-build --parallel --num-workers 2
