#!/usr/bin/env bash
# Runs the demo: built-in vendor simulators and a gateway on a temporary SQLite file, one batch per
# provider, shown live. Installs the system libraries it needs on a fresh Debian machine.
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive
if ! dpkg -s libcurl4-openssl-dev libyaml-dev libsqlite3-dev pkg-config >/dev/null 2>&1; then
    apt-get update -qq && apt-get install -y -qq libcurl4-openssl-dev libyaml-dev libsqlite3-dev pkg-config >/dev/null
fi
swift run batchgate demo "$@"
