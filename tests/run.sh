#!/usr/bin/env bash
# The test command: installs what is missing, builds, runs every test once normally and once
# more under AddressSanitizer + UndefinedBehaviorSanitizer, and ends with "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."

.ci/install-deps --test || { echo "0 passed, 1 failed"; exit 1; }

run_suite() {  # build dir, meson options...
  local dir=$1; shift
  if [ ! -f "$dir/build.ninja" ]; then
    meson setup "$dir" "$@" >/dev/null || return 1
  fi
  ninja -C "$dir" >/dev/null || { ninja -C "$dir" | tail -30; return 1; }
  meson test -C "$dir" --print-errorlogs --num-processes 2 "${MESON_TEST_ARGS[@]}"
  return 0
}

MESON_TEST_ARGS=()
build_failed=0
# An -O3 build warns about things -O2 does not see; with -Werror it must compile too.
if [ ! -f build-release/build.ninja ]; then
  meson setup build-release --buildtype=release >/dev/null || build_failed=$((build_failed + 1))
fi
ninja -C build-release >/dev/null || { ninja -C build-release | tail -30; build_failed=$((build_failed + 1)); }
run_suite build || build_failed=$((build_failed + 1))
# Leaks are errors too; halt_on_error keeps a sanitizer report from scrolling past unseen.
export ASAN_OPTIONS=detect_leaks=1:halt_on_error=1:abort_on_error=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
run_suite build-asan -Dsanitize=true -Db_lundef=false || build_failed=$((build_failed + 1))

/usr/bin/python3 tests/count.py build/meson-logs/testlog.json build-asan/meson-logs/testlog.json \
  --extra-failures "$build_failed"
