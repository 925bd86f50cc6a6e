# Shared by the Benchmarks/*/run.sh scripts (sourced, not run): release builds, a temporary directory
# and the processes started in it (all stopped and removed on exit), readiness waits, the machine load,
# and reading the gateway's SQLite store.
#
# After sourcing: $bin (release binaries), $work (temporary directory), start_process, wait_http,
# print_load, rss_mb, store_query, to_ms.

cd "$(dirname "${BASH_SOURCE[0]}")/../.."
bench_lib="$PWD/Benchmarks/lib"
# The wrk scripts load their shared thread functions from here (wrk-threads.lua).
export BENCH_LIB="$bench_lib"
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
command -v curl >/dev/null || { apt-get update -qq && apt-get install -y -qq curl >/dev/null; }

# build_release PRODUCT: a release build, quiet unless it fails.
build_release() {
    local output
    output="$(swift build -c release --product "$1" 2>&1)" || { echo "$output" >&2; return 1; }
}
build_release batchgate
build_release bare-endpoint
bin="$(swift build -c release --show-bin-path)"

work="$(mktemp -d)"
pids=()
cleanup() {
    local pid
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    # A gateway drains gracefully; give every process up to 20 s, then stop it for good.
    for _ in $(seq 1 200); do
        local alive=0
        for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
        [ "$alive" -eq 0 ] && break
        sleep 0.1
    done
    for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# start_process NAME COMMAND...: runs COMMAND in the background, output in $work/NAME.log; sets $last_pid.
start_process() {
    local name="$1"
    shift
    "$@" >"$work/$name.log" 2>&1 &
    last_pid=$!
    pids+=("$last_pid")
}

# wait_http URL [seconds]: until URL answers 2xx, at most that long (default 30 s); fails otherwise.
wait_http() {
    local deadline=$((SECONDS + ${2:-30}))
    until curl -fs -o /dev/null "$1"; do
        if [ "$SECONDS" -ge "$deadline" ]; then
            echo "no answer from $1" >&2
            tail -n 20 "$work"/*.log >&2 || true
            return 1
        fi
        sleep 0.1
    done
}

print_load() { echo "load ($1): $(cat /proc/loadavg)"; }

# rss_mb PID: resident set size in MB.
rss_mb() { awk '/VmRSS/ {printf "%.0f", $2 / 1024}' "/proc/$1/status"; }

# store_query FILE SQL: one query on a gateway store (read-only, alongside the running gateway).
store_query() { sqlite3 -readonly -batch -noheader -cmd '.timeout 10000' "$1" "$2"; }

# to_ms VALUE: wrk's 1.23ms / 456.00us / 1.20s as milliseconds.
to_ms() {
    python3 -c 'import sys; v=sys.argv[1]; print(float(v[:-2])/1000 if v.endswith("us") else float(v[:-2]) if v.endswith("ms") else float(v[:-1])*1000)' "$1"
}

# gateway_config FILE PORT STORE PROVIDERS ROUTES [EXTRA]: a providers.yaml with one tenant `bench`
# (key `bench-key`); PROVIDERS and ROUTES are YAML mapping lines, indented by two spaces.
# start_held_airops_gateway SIM_PORT GW_PORT STORE: an AirOps simulator that holds every batch running
# (`--hold 1h`) and sends no webhooks (`--faults pause`), and a gateway on STORE routing `scrape` to it
# (poll_interval 15s); returns when the gateway is ready.
start_held_airops_gateway() {
    start_process simulator "$bin/batchgate" simulate --vendors airops --port "$1" --token bench-token --hold 1h --faults pause
    gateway_config "$work/providers.yaml" "$2" "$3" \
        "  airops: {kind: olostep-airops, base_url: \"http://127.0.0.1:$1\", token: bench-token, poll_interval: 15s}" \
        "  scrape: {kind: url_batch, targets: [{provider: airops}]}"
    LOG_LEVEL=error start_process gateway "$bin/batchgate" serve --config "$work/providers.yaml"
    wait_http "http://127.0.0.1:$2/readyz"
}

gateway_config() {
    cat >"$1" <<YAML
server: {listen: "127.0.0.1:$2", public_url: "http://127.0.0.1:$2", max_body_bytes: 1048576}
store: {sqlite: "$3"}
auth:
  api_keys: [{tenant: bench, key: bench-key}]
${6:-}
providers:
$4
routes:
$5
YAML
}

# wrk_counted OUT THREADS WRK-ARGS...: wrk with a script whose threads stop after their share of requests
# (create.lua, events.lua: each writes a file under $BENCH_DONE_DIR when its share is answered). wrk
# itself sleeps for its whole -d, so it is interrupted once every thread is done (checked every 50 ms):
# its duration is then the time the work took, a little more at most. Output in OUT.
wrk_counted() {
    local out="$1" threads="$2" done_dir wrk_pid
    shift 2
    done_dir="$(mktemp -d -p "$work")"
    BENCH_DONE_DIR="$done_dir" wrk "$@" >"$out" &
    wrk_pid=$!
    pids+=("$wrk_pid")
    while kill -0 "$wrk_pid" 2>/dev/null && [ "$(find "$done_dir" -type f | wc -l)" -lt "$threads" ]; do sleep 0.05; done
    kill -INT "$wrk_pid" 2>/dev/null || true
    wait "$wrk_pid" || true
}

# cpu_seconds PID: CPU time (user + system) the process has used so far, in seconds.
cpu_seconds() { awk -v hz="$(getconf CLK_TCK)" '{printf "%.2f", ($14 + $15) / hz}' "/proc/$1/stat"; }
