#!/usr/bin/env bash
# A throwaway PostgreSQL cluster on a loopback port, for tests, benchmarks and local replicas.
#
#   scripts/postgres.sh start DIR [PORT]   initdb DIR (if new) and start it; prints the database URL
#   scripts/postgres.sh stop DIR           stop it (fast shutdown)
#   scripts/postgres.sh remove DIR         stop it and delete DIR
#
# Installs Debian's postgresql package when it is missing. As root, initdb and pg_ctl run as the
# `postgres` user (both refuse root). The URL names the role `batchgate` and the database `batchgate`.
set -euo pipefail

command=${1:?usage: scripts/postgres.sh start|stop|remove DIR [PORT]}
dir=${2:?usage: scripts/postgres.sh start|stop|remove DIR [PORT]}
port=${3:-55432}
# Absolute: the cluster commands run from /.
dir=$(realpath -m "$dir")

bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
if [ -z "$bin" ] || [ ! -x "$bin/initdb" ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2 && apt-get install -y -qq postgresql >/dev/null
    bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
fi

as_owner() {
    # From /: the postgres user may not be able to enter the current directory.
    if [ "$(id -u)" = 0 ]; then (cd / && runuser -u postgres -- "$@"); else "$@"; fi
}

case "$command" in
start)
    if [ ! -f "$dir/PG_VERSION" ]; then
        mkdir -p "$dir"
        if [ "$(id -u)" = 0 ]; then
            chown postgres: "$dir"
            # The postgres user must reach DIR (mktemp -d makes its directory private).
            chmod a+x "$(dirname "$dir")"
        fi
        as_owner "$bin/initdb" -D "$dir" -A trust -U postgres --no-sync -E UTF8 >"$dir.initdb.log" 2>&1 \
            || { cat "$dir.initdb.log" >&2; exit 1; }
        {
            echo "listen_addresses = '127.0.0.1'"
            echo "port = $port"
            echo "unix_socket_directories = ''"
            echo "max_connections = 300"
            echo "shared_buffers = 128MB"
        } >>"$dir/postgresql.conf"
    fi
    as_owner "$bin/pg_ctl" -D "$dir" -l "$dir/server.log" -w -t 60 start >/dev/null
    url_admin="postgres://postgres@127.0.0.1:$port/postgres"
    if ! psql "$url_admin" -qtAc "SELECT 1 FROM pg_roles WHERE rolname = 'batchgate'" | grep -q 1; then
        psql "$url_admin" -qc "CREATE ROLE batchgate LOGIN" >/dev/null
        psql "$url_admin" -qc "CREATE DATABASE batchgate OWNER batchgate" >/dev/null
    fi
    echo "postgres://batchgate@127.0.0.1:$port/batchgate?sslmode=disable"
    ;;
stop)
    [ -f "$dir/postmaster.pid" ] && as_owner "$bin/pg_ctl" -D "$dir" -m fast -w stop >/dev/null || true
    ;;
remove)
    [ -f "$dir/postmaster.pid" ] && as_owner "$bin/pg_ctl" -D "$dir" -m immediate -w stop >/dev/null || true
    rm -rf "$dir" "$dir.initdb.log"
    ;;
*)
    echo "usage: scripts/postgres.sh start|stop|remove DIR [PORT]" >&2
    exit 2
    ;;
esac
