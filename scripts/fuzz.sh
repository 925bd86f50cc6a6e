#!/usr/bin/env bash
# Fuzzes one BatchGate decoder with libFuzzer (Fuzz/README.md).
#
#   scripts/fuzz.sh list                      the targets
#   scripts/fuzz.sh TARGET SECONDS [FLAGS...]  build the instrumented driver, fuzz TARGET for SECONDS
#
# The driver is built in release mode with -sanitize=fuzzer,address into .build-fuzz (its own SwiftPM
# scratch path, git-ignored). The run starts from Fuzz/corpus/TARGET with Fuzz/dict/TARGET.dict;
# inputs it finds go to .build-fuzz/fuzz/corpus/TARGET (copy the interesting ones into Fuzz/corpus by hand),
# crashing inputs to .build-fuzz/fuzz/artifacts/TARGET/. Extra FLAGS go to libFuzzer. Exits 1 when the run
# found a crash, a timeout or an out-of-memory input. Installs missing system packages on Debian.
set -euo pipefail
cd "$(dirname "$0")/.."

# target → the driver product that holds it (the decoder driver links no server code).
declare -A PRODUCT=(
    [airops]=batchgate-fuzz [aitronos]=batchgate-fuzz [tagger]=batchgate-fuzz [config]=batchgate-fuzz
    [create-request]=batchgate-fuzz-server [sse]=batchgate-fuzz-server
)
TARGETS="airops aitronos tagger config create-request sse"

usage() {
    echo "usage: $0 list | TARGET SECONDS [libFuzzer flags]" >&2
    exit 2
}

[[ $# -ge 1 ]] || usage
if [[ $1 == list ]]; then
    for target in $TARGETS; do echo "$target (${PRODUCT[$target]})"; done
    exit 0
fi
[[ $# -ge 2 ]] || usage
TARGET=$1
SECONDS_TO_RUN=$2
shift 2
[[ -n ${PRODUCT[$TARGET]:-} ]] || { echo "unknown target '$TARGET'; known: $TARGETS" >&2; exit 2; }
[[ $SECONDS_TO_RUN =~ ^[1-9][0-9]*$ ]] || { echo "SECONDS must be a positive whole number, got '$SECONDS_TO_RUN'" >&2; exit 2; }

# Tools: Swift with its clang runtime (libclang_rt.fuzzer) and lld; the gold linker fails on fuzzer builds.
if [[ -d /opt/swift/usr/bin ]]; then export PATH=/opt/swift/usr/bin:$PATH; fi
command -v swift >/dev/null || { echo "swift is not on PATH; install a Swift 6 toolchain (https://swift.org/install)" >&2; exit 1; }
export DEBIAN_FRONTEND=noninteractive
PACKAGES="libcurl4-openssl-dev libyaml-dev libsqlite3-dev pkg-config"
command -v ld.lld >/dev/null || PACKAGES="$PACKAGES lld"
if command -v dpkg >/dev/null && ! dpkg -s $PACKAGES >/dev/null 2>&1; then
    SUDO=""
    [[ $(id -u) -eq 0 ]] || SUDO=sudo
    $SUDO apt-get update -qq && $SUDO apt-get install -y -qq $PACKAGES >/dev/null
fi

SCRATCH=.build-fuzz
PRODUCT_NAME=${PRODUCT[$TARGET]}
BINARY="$SCRATCH/release/$PRODUCT_NAME"
# FUZZ_SKIP_BUILD=1 runs the driver already built (e.g. while another build holds the scratch path).
if [[ ${FUZZ_SKIP_BUILD:-0} == 1 && -x $BINARY ]]; then
    echo "== using the existing $BINARY"
else
    echo "== building $PRODUCT_NAME (release, -sanitize=fuzzer,address) in $SCRATCH"
    build_start=$(date +%s)
    mkdir -p "$SCRATCH"
    set +e
    nice -n 10 swift build -c release --scratch-path "$SCRATCH" \
        -Xswiftc -sanitize=fuzzer,address -Xswiftc -use-ld=lld -Xlinker --undefined=LLVMFuzzerRunDriver \
        --product "$PRODUCT_NAME" >"$SCRATCH/fuzz-build.log" 2>&1
    built=$?
    set -e
    tail -n 3 "$SCRATCH/fuzz-build.log"
    [[ $built -eq 0 ]] || { echo "the instrumented build failed; see $SCRATCH/fuzz-build.log" >&2; exit 1; }
    echo "== built in $(( $(date +%s) - build_start ))s"
fi

WORK="$SCRATCH/fuzz"
CORPUS="$WORK/corpus/$TARGET"
ARTIFACTS="$WORK/artifacts/$TARGET/"
LOG="$WORK/logs/$TARGET-$(date +%Y%m%d-%H%M%S).log"
mkdir -p "$CORPUS" "$ARTIFACTS" "$(dirname "$LOG")"
# Fork mode (one child at a time) keeps fuzzing past a crash, so one run finds more than one bug;
# FUZZ_STOP_ON_CRASH=1 stops at the first. Swift's own backtracer is off so libFuzzer and ASan report.
FLAGS=(-max_total_time="$SECONDS_TO_RUN" -print_final_stats=1 -timeout=10 -rss_limit_mb=2048 -detect_leaks=0
    -artifact_prefix="$ARTIFACTS")
[[ ${FUZZ_STOP_ON_CRASH:-0} == 1 ]] || FLAGS+=(-fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1)
[[ -f Fuzz/dict/$TARGET.dict ]] && FLAGS+=(-dict="Fuzz/dict/$TARGET.dict")
SEEDS=(Fuzz/corpus/"$TARGET")
[[ -d Fuzz/regressions/$TARGET ]] && SEEDS+=(Fuzz/regressions/"$TARGET")
export SWIFT_BACKTRACE=enable=no
# Swift runtime caches live until exit; LeakSanitizer would report them as leaks.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0}

echo "== fuzzing $TARGET for ${SECONDS_TO_RUN}s; log: $LOG"
set +e
nice -n 10 "$BINARY" "$TARGET" "${FLAGS[@]}" "$@" "$CORPUS" "${SEEDS[@]}" >"$LOG" 2>&1
status=$?
set -e

# The last status line: "#N: cov: C ft: F corp: … exec/s: R oom/timeout/crash: a/b/c …" in fork
# mode, "#N … cov: C ft: F … exec/s: R …" otherwise.
last=$(grep -E '^#[0-9]+' "$LOG" | tail -n 1)
execs=$(echo "$last" | sed -nE 's/^#([0-9]+).*/\1/p')
[[ -n $execs && $execs != 0 ]] || execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$LOG" | tail -n 1)
rate=$(echo "$last" | sed -nE 's/.*exec\/s: ([0-9]+).*/\1/p')
seconds=$(echo "$last" | sed -nE 's/.* time: ([0-9]+)s.*/\1/p')
# Fork mode reports the last job's rate: show the whole run's average instead.
[[ -z $seconds || $seconds -eq 0 || -z $execs ]] || rate=$(( execs / seconds ))
coverage=$(grep -oE 'cov: [0-9]+ ft: [0-9]+' "$LOG" | tail -n 1)
found=$(find "$ARTIFACTS" -type f -newer "$LOG" 2>/dev/null | sort || true)
echo "target:     $TARGET"
echo "executions: ${execs:-?} (${rate:-?} execs/s)"
echo "coverage:   ${coverage:-?}"
echo "status:     ${last:-?}"
echo "corpus:     $(find "$CORPUS" -type f | wc -l) inputs in $CORPUS"
if [[ $status -ne 0 || -n $found ]]; then
    echo "CRASH (libFuzzer exit $status); inputs:"
    for file in $found; do echo "  $file"; done
    grep -m 1 -A 24 -E 'ERROR: (libFuzzer|AddressSanitizer)|Fatal error' "$LOG" || tail -n 40 "$LOG"
    echo "reproduce: SWIFT_BACKTRACE=enable=no $BINARY $TARGET <input file>"
    exit 1
fi
echo "no crash"
