#!/usr/bin/env bash
# Runs the whole test suite. Installs the system libraries it needs on a fresh Debian machine.
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive
# PostgreSQL for the second store back end, Chromium for the operator page's browser test.
packages="libcurl4-openssl-dev libyaml-dev libsqlite3-dev pkg-config python3 python3-venv postgresql chromium chromium-driver fonts-dejavu-core"
# shellcheck disable=SC2086
if ! dpkg -s $packages >/dev/null 2>&1; then
    # shellcheck disable=SC2086
    apt-get update -qq && apt-get install -y -qq $packages >/dev/null
fi
if [ "${1:-}" != "--skip-build" ]; then
    swift build --build-tests
fi
# The store's contract tests and the replica tests also run on PostgreSQL: a throwaway cluster on a
# loopback port (Debian's postgresql package, installed when missing), removed afterwards.
if [ -z "${BATCHGATE_TEST_POSTGRES_URL:-}" ]; then
    pg_dir="$(mktemp -d)/postgres"
    trap 'bash scripts/postgres.sh remove "$pg_dir"; rm -rf "$(dirname "$pg_dir")"' EXIT
    # A free loopback port, unless one is given.
    pg_port="${BATCHGATE_TEST_POSTGRES_PORT:-$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}"
    BATCHGATE_TEST_POSTGRES_URL="$(bash scripts/postgres.sh start "$pg_dir" "$pg_port")"
    export BATCHGATE_TEST_POSTGRES_URL
fi
# The OpenAPI test validates real answers with PyPI's openapi-core, and the operator page's browser test
# drives Chromium with PyPI's Selenium: both from a virtual environment of their own.
if [ -z "${BATCHGATE_OPENAPI_PYTHON:-}" ] || [ -z "${BATCHGATE_UI_PYTHON:-}" ]; then
    venv=".build/test-venv"
    if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import openapi_core, selenium" 2>/dev/null; then
        python3 -m venv "$venv"
        "$venv/bin/pip" install -q --disable-pip-version-check "openapi-core>=0.19,<0.24" "selenium>=4.20,<5"
    fi
    export BATCHGATE_OPENAPI_PYTHON="${BATCHGATE_OPENAPI_PYTHON:-$PWD/$venv/bin/python}"
    export BATCHGATE_UI_PYTHON="${BATCHGATE_UI_PYTHON:-$PWD/$venv/bin/python}"
fi
# The end-to-end tests start the gateway binary; they find it beside the test bundle.
swift test --skip-build --parallel --num-workers 2
