#!/usr/bin/env bash
# Benchmarks, one command: builds the release binary, runs the rule-engine micro-benchmark
# (tests/bench/bench_rules, when that target exists) and the end-to-end triggers benchmark
# (tests/bench/bench_e2e.py: its own redis-server and beckon, 1 000 rules, ingest rate and
# invitation latency), prints both tables and records them in docs/benchmarks.md.
#
#   tests/bench/run.sh [--no-doc] [-- bench_e2e.py options...]
#
#   --no-doc   print only; leave docs/benchmarks.md alone
#   BECKON_BENCH_BUILD=dir   build directory (default: build-release, ignored by git)
#
# Installs nothing: it needs what `.ci/install-deps --test` installs (meson, ninja, gcc, the -dev
# packages, redis-server, python3-websockets for /usr/bin/python3) and says so when something is
# missing. Stops by itself within 2 minutes (each step has a time limit); every process it starts
# is stopped on exit, on failure and on Ctrl-C.
set -uo pipefail
cd "$(dirname "$0")/../.."

write_doc=1
e2e_args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --no-doc) write_doc=0 ;;
    --) shift; e2e_args=("$@"); break ;;
    -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "run.sh: unknown argument '$1' (try --help)" >&2; exit 2 ;;
  esac
  shift
done

BUILD=${BECKON_BENCH_BUILD:-build-release}
BUDGET=115            # seconds for the whole run; each step gets what is left of it
START=$SECONDS
STEP_PID=""
TMPD=$(mktemp -d /tmp/beckon-bench-run.XXXXXX)

left() { echo $((BUDGET - (SECONDS - START))); }

stop_step() {
  if [ -n "$STEP_PID" ] && kill -0 "$STEP_PID" 2>/dev/null; then
    kill -TERM "$STEP_PID" 2>/dev/null
    wait "$STEP_PID" 2>/dev/null
  fi
  STEP_PID=""
}
on_signal() { echo; echo "run.sh: interrupted; stopping" >&2; stop_step; exit 130; }
on_exit() { stop_step; rm -rf "$TMPD"; }
trap on_signal INT TERM HUP
trap on_exit EXIT

# Runs "$@" with a time limit, in the background so that a signal reaches the trap at once
# (`timeout` forwards the TERM to the step, which cleans up its own children).
step() {
  local limit=$1; shift
  if [ "$limit" -lt 5 ]; then
    echo "run.sh: out of time (2-minute budget) before: $*" >&2
    return 124
  fi
  timeout -k 5 "$limit" "$@" &
  STEP_PID=$!
  wait "$STEP_PID"
  local rc=$?
  STEP_PID=""
  [ $rc -eq 124 ] && echo "run.sh: '$1' stopped after its ${limit}s limit" >&2
  return $rc
}

missing=()
for tool in meson ninja cc redis-server; do
  command -v "$tool" >/dev/null || missing+=("$tool")
done
/usr/bin/python3 -c 'import websockets' 2>/dev/null || missing+=("python3-websockets (for /usr/bin/python3)")
if [ ${#missing[@]} -gt 0 ]; then
  echo "run.sh: missing: ${missing[*]}; run .ci/install-deps --test first" >&2
  exit 1
fi

# Release build (-O3, warnings still errors; tests/run.sh compiles the same build).
echo "== building $BUILD (release)"
if [ ! -f "$BUILD/build.ninja" ]; then
  step 60 meson setup "$BUILD" --buildtype=release >"$TMPD/setup.log" 2>&1 \
    || { cat "$TMPD/setup.log"; exit 1; }
else
  step 30 meson configure "$BUILD" -Dbuildtype=release >"$TMPD/setup.log" 2>&1 \
    || { cat "$TMPD/setup.log"; exit 1; }
fi
targets=(server/beckon)
have_rules_bench=0
all_targets=$(ninja -C "$BUILD" -t targets all 2>/dev/null)
if grep -q '^tests/bench/bench_rules:' <<<"$all_targets"; then
  targets+=(tests/bench/bench_rules)
  have_rules_bench=1
fi
step 70 ninja -C "$BUILD" "${targets[@]}" >"$TMPD/build.log" 2>&1 \
  || { tail -40 "$TMPD/build.log"; echo "run.sh: build failed" >&2; exit 1; }
echo "   built in $((SECONDS - START)) s"

# The end-to-end run needs about 25 s; bench_rules gets what is left before it (its 10 000-rule
# "no index" column alone takes ~20 s on a slow machine, so it is left out when time is short).
rules_out="$TMPD/bench_rules.txt"
rules_rc=0
if [ $have_rules_bench -eq 1 ]; then
  echo
  echo "== bench_rules: the rule engine alone"
  sizes=()
  [ "$(left)" -lt 90 ] && sizes=(10 100 1000) && echo "   (short of time: sizes ${sizes[*]})"
  step $(( $(left) - 45 )) "$BUILD/tests/bench/bench_rules" "${sizes[@]}" >"$rules_out" 2>&1
  rules_rc=$?
  cat "$rules_out"
else
  echo
  echo "== bench_rules: no such target in $BUILD (tests/bench/meson.build not there yet); skipped"
fi

echo
echo "== bench_e2e: triggers, end to end"
doc_args=()
if [ $write_doc -eq 1 ]; then
  doc_args=(--doc docs/benchmarks.md --command "tests/bench/run.sh${e2e_args:+ -- ${e2e_args[*]}}")
  [ $have_rules_bench -eq 1 ] && [ $rules_rc -eq 0 ] && doc_args+=(--rules-table "$rules_out")
fi
deadline=$(( $(left) - 3 ))
step $(( deadline + 3 )) /usr/bin/python3 tests/bench/bench_e2e.py --beckon "$BUILD/server/beckon" \
  --deadline "$deadline" "${doc_args[@]}" "${e2e_args[@]}"
e2e_rc=$?

echo
echo "run.sh: done in $((SECONDS - START)) s"
[ $e2e_rc -eq 0 ] && [ $rules_rc -eq 0 ]
