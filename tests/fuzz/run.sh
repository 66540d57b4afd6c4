#!/usr/bin/env bash
# Builds the libFuzzer targets with clang and runs each for a bounded time, printing TAP.
#
#   tests/fuzz/run.sh                  every target, 20 s each (about a minute on two cores)
#   tests/fuzz/run.sh 600              every target, 10 minutes each
#   tests/fuzz/run.sh 60 fuzz_rules    one target
#
# First the inputs in tests/fuzz/regressions/<target>/ are replayed (one TAP case each), then
# each target fuzzes, starting from tests/fuzz/corpus/<target>/, for SECONDS (one case each:
# "ok 5 - fuzz_proto: 20 s, 1234567 execs, cov 812, ft 2345, corpus 310, no crash").
# Exits non-zero when any case fails. Without clang's libFuzzer runtime it prints
# "1..0 # SKIP" and exits 0. docs/fuzzing.md has the details.
#
# Environment:
#   FUZZ_CC          compiler (default clang)
#   FUZZ_JOBS        targets fuzzed at the same time (default: number of CPUs)
#   FUZZ_BUILD_DIR   where binaries go; kept and reused when set (default: a temp dir)
#   FUZZ_CORPUS_DIR  keep the grown corpora here between runs (default: discarded)
#   FUZZ_OUT         where crash inputs and logs are kept (default: $FUZZ_BUILD_DIR/out, or
#                    /tmp/beckon-fuzz-out.XXXX when the build dir is temporary, removed
#                    again when every case passed)
#   FUZZ_ARGS        extra libFuzzer flags, e.g. "-only_ascii=1"
#   BK_FUZZ_LAX_UTF8 set to 1 to skip the UTF-8 properties of fuzz_proto and fuzz_rules
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
ROOT=$PWD
FUZZ=$ROOT/tests/fuzz

SECONDS_EACH=${1:-20}
shift || true
case $SECONDS_EACH in '' | *[!0-9]* | 0) echo "usage: $0 [SECONDS (>= 1)] [TARGET...]" >&2; exit 2 ;; esac
ALL_TARGETS=(fuzz_proto fuzz_rules fuzz_token fuzz_config fuzz_glob fuzz_profile fuzz_mail_text fuzz_replies fuzz_upload_meta fuzz_flow fuzz_mail_in)
if [ $# -gt 0 ]; then TARGETS=("$@"); else TARGETS=("${ALL_TARGETS[@]}"); fi

CC=${FUZZ_CC:-clang}
JOBS=${FUZZ_JOBS:-$(nproc 2>/dev/null || echo 2)}

sources_for() {
    case $1 in
        fuzz_proto) echo server/protocol/proto.c server/base/ids.c server/base/utf8.c server/transport/mail_text.c ;;
        fuzz_rules) echo server/rules/*.c server/base/utf8.c ;;
        fuzz_token) echo server/base/auth.c server/base/ids.c ;;
        fuzz_config) echo server/base/config.c ;;
        fuzz_glob) echo server/rules/glob.c ;;
        fuzz_profile) echo server/triggers/profile.c server/base/utf8.c ;;
        fuzz_mail_text) echo server/transport/mail_text.c server/base/utf8.c ;;
        fuzz_upload_meta) echo server/files/file_name.c server/files/file_link.c server/base/utf8.c server/base/ids.c ;;
        fuzz_flow) echo server/flows/flow.c server/base/utf8.c ;;
        fuzz_mail_in) echo server/mail/mail_parse.c server/mail/mail_html.c server/mail/mail_quote.c server/mail/mail_thread.c server/base/utf8.c server/base/ids.c ;;
        fuzz_replies) echo server/store/redis_reply.c server/store/redis_cluster.c server/base/log.c server/base/metrics.c server/base/map.c ;;
        *) return 1 ;;
    esac
}
for t in "${TARGETS[@]}"; do
    sources_for "$t" >/dev/null || { echo "unknown target: $t (one of ${ALL_TARGETS[*]})" >&2; exit 2; }
done

# ---- can we build fuzzers at all? --------------------------------------------------------
if ! command -v "$CC" >/dev/null 2>&1; then
    echo "1..0 # SKIP $CC not found (apt-get install clang)"
    exit 0
fi
if [ -n "${FUZZ_BUILD_DIR:-}" ]; then
    BUILD=$FUZZ_BUILD_DIR
    mkdir -p "$BUILD" || exit 1
    OUT=${FUZZ_OUT:-$BUILD/out}
else
    BUILD=$(mktemp -d /tmp/beckon-fuzz-build.XXXXXX) || exit 1
    OUT_IS_TEMP=
    [ -n "${FUZZ_OUT:-}" ] || OUT_IS_TEMP=1
    OUT=${FUZZ_OUT:-$(mktemp -d /tmp/beckon-fuzz-out.XXXXXX)}
    trap 'rm -rf "$BUILD"' EXIT
fi
mkdir -p "$OUT" || exit 1
BUILD=$(cd "$BUILD" && pwd)
OUT=$(cd "$OUT" && pwd)

printf 'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n) { (void)d; (void)n; return 0; }\n' \
    >"$BUILD/probe.c"
if ! "$CC" -fsanitize=fuzzer,address,undefined "$BUILD/probe.c" -o "$BUILD/probe" 2>"$BUILD/probe.log"; then
    echo "1..0 # SKIP $CC cannot build libFuzzer targets (Debian: apt-get install clang libclang-rt-14-dev)"
    sed 's/^/# /' "$BUILD/probe.log" | head -5
    exit 0
fi

# ---- build ---------------------------------------------------------------------------------
CFLAGS=(-g -O1 -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
        -std=gnu11 -D_GNU_SOURCE -DBK_VERSION='"fuzz"' -DBK_SOURCE_ROOT="\"$ROOT\""
        -Iinclude -Iserver -Wall -Wno-unused-function)
# shellcheck disable=SC2207
PKG_CFLAGS=($(pkg-config --cflags jansson libcrypto libuv gmime-3.0 2>/dev/null))
# shellcheck disable=SC2207
PKG_LIBS=($(pkg-config --libs jansson libcrypto gmime-3.0 2>/dev/null || echo -ljansson -lcrypto))

build_one() {  # target
    local t=$1 bin=$BUILD/$1
    # shellcheck disable=SC2046
    local srcs=($(sources_for "$t"))
    # Reuse a binary newer than everything it is built from (only matters with FUZZ_BUILD_DIR).
    if [ -x "$bin" ] && [ -z "$(find "$FUZZ/$t.c" "${srcs[@]}" server/*/*.h include \
            -newer "$bin" -print -quit 2>/dev/null)" ]; then
        return 0
    fi
    rm -f "$bin"  # never fuzz a stale binary when the build fails
    "$CC" "${CFLAGS[@]}" "${PKG_CFLAGS[@]}" "$FUZZ/$t.c" "${srcs[@]}" -o "$bin.tmp" \
        "${PKG_LIBS[@]}" -lcrypt -lm >"$BUILD/$t.build.log" 2>&1 && mv "$bin.tmp" "$bin"
}

pids=()
for t in "${TARGETS[@]}"; do
    build_one "$t" &
    pids+=("$!")
    if [ ${#pids[@]} -ge "$JOBS" ]; then wait "${pids[0]}"; pids=("${pids[@]:1}"); fi
done
for p in "${pids[@]}"; do wait "$p"; done

# ---- TAP helpers --------------------------------------------------------------------------
n=0
failed=0
ok() { n=$((n + 1)); echo "ok $n - $*"; }
not_ok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $*"; }
# TAP diagnostics; invalid UTF-8 (quoted from a failing input) is dropped for the TAP reader.
diag() { { iconv -f UTF-8 -t UTF-8 -c 2>/dev/null || true; } | sed 's/^/# /'; }

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}:allocator_may_return_null=0:abort_on_error=0
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-}:print_stacktrace=1:halt_on_error=1

# The interesting part of a crash log: the sanitizer's report and the input's location.
crash_summary() {  # log
    grep -aE '^==[0-9]+==ERROR|^SUMMARY|runtime error|^fuzz_[a-z]+: |^ +#[0-9]+ |deadly signal|Test unit written|ERROR: libFuzzer' "$1" \
        | grep -avE 'in (fuzzer::|__sanitizer|__asan|__ubsan|__libc_start|_start$|__interceptor)|LLVMFuzzerTestOneInput.*libFuzzer' \
        | head -40
}

built=()
for t in "${TARGETS[@]}"; do
    if [ -x "$BUILD/$t" ]; then
        built+=("$t")
    else
        not_ok "$t: build failed"
        diag <"$BUILD/$t.build.log" | head -30
    fi
done

# ---- replay regressions -------------------------------------------------------------------
# Each input once, in parallel (JOBS at a time); -timeout=5 makes a slow input (a DoS) fail too
# (normal inputs take milliseconds).
replays=()
for t in "${built[@]}"; do
    dir=$FUZZ/regressions/$t
    [ -d "$dir" ] || continue
    for input in "$dir"/*; do
        [ -f "$input" ] || continue
        case $(basename "$input") in README* | *.md | .gitkeep) continue ;; esac
        replays+=("$t:$input")
    done
done
declare -A REPLAY_RC
pids=()
keys=()
for r in "${replays[@]}"; do
    t=${r%%:*} input=${r#*:}
    ("$BUILD/$t" -timeout=5 -rss_limit_mb=2048 "$input" >"$OUT/$t.regression.$(basename "$input").log" 2>&1) &
    pids+=("$!")
    keys+=("$r")
    if [ ${#pids[@]} -ge "$JOBS" ]; then
        wait "${pids[0]}"; REPLAY_RC[${keys[0]}]=$?
        pids=("${pids[@]:1}"); keys=("${keys[@]:1}")
    fi
done
for i in "${!pids[@]}"; do wait "${pids[$i]}"; REPLAY_RC[${keys[$i]}]=$?; done
for r in "${replays[@]}"; do
    t=${r%%:*} input=${r#*:}
    if [ "${REPLAY_RC[$r]}" -eq 0 ]; then
        ok "$t: regression $(basename "$input") replayed"
    else
        not_ok "$t: regression $(basename "$input") fails (exit ${REPLAY_RC[$r]})"
        crash_summary "$OUT/$t.regression.$(basename "$input").log" | diag
    fi
done

# ---- fuzz -----------------------------------------------------------------------------------
fuzz_one() {  # target
    local t=$1 work
    if [ -n "${FUZZ_CORPUS_DIR:-}" ]; then
        work=$FUZZ_CORPUS_DIR/$t
    else
        work=$BUILD/corpus-$t
    fi
    mkdir -p "$work" "$OUT/$t"
    local dict=()
    [ -f "$FUZZ/dict/$t.dict" ] && dict=(-dict="$FUZZ/dict/$t.dict")
    # The grown corpus comes first so that new inputs go there, never into the seed directory.
    # shellcheck disable=SC2086
    timeout --kill-after=10 $((SECONDS_EACH + 120)) \
        "$BUILD/$t" -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$OUT/$t/" "${dict[@]}" ${FUZZ_ARGS:-} "$work" "$FUZZ/corpus/$t" \
        >"$OUT/$t.log" 2>&1
}

declare -A FUZZ_RC
pids=()
names=()
for t in "${built[@]}"; do
    fuzz_one "$t" &
    pids+=("$!")
    names+=("$t")
    if [ ${#pids[@]} -ge "$JOBS" ]; then
        wait "${pids[0]}"; FUZZ_RC[${names[0]}]=$?
        pids=("${pids[@]:1}"); names=("${names[@]:1}")
    fi
done
for i in "${!pids[@]}"; do wait "${pids[$i]}"; FUZZ_RC[${names[$i]}]=$?; done

for t in "${built[@]}"; do
    log=$OUT/$t.log
    rc=${FUZZ_RC[$t]}
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    [ -n "$execs" ] || execs=$(grep -oE '^#[0-9]+' "$log" | tail -1 | tr -d '#')
    cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -1 | cut -d' ' -f2)
    ft=$(grep -oE 'ft: [0-9]+' "$log" | tail -1 | cut -d' ' -f2)
    corp=$(grep -oE 'corp: [0-9]+' "$log" | tail -1 | cut -d' ' -f2)
    stats="${SECONDS_EACH} s, ${execs:-?} execs, cov ${cov:-?}, ft ${ft:-?}, corpus ${corp:-?}"
    if [ "$rc" -eq 0 ]; then
        ok "$t: $stats, no crash"
    else
        not_ok "$t: $stats, CRASH (exit $rc)"
        crash_summary "$log" | diag
        echo "# full log: $log"
        echo "# to keep the input as a regression: cp <Test unit above> tests/fuzz/regressions/$t/"
    fi
done

echo "1..$n"
if [ "$failed" -eq 0 ]; then
    [ -n "${OUT_IS_TEMP:-}" ] && rm -rf "$OUT"
    exit 0
fi
echo "# logs and crash inputs: $OUT"
exit 1
