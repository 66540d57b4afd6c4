#!/usr/bin/env bash
# Files in chat, measured: the upload throughput of one 10 MB file (MB/s) and beckon's RSS
# during 20 concurrent uploads of 1 MB and of 10 MB files, per file store, with pass/miss
# (tests/bench/bench_files.py says what passes). Builds the release binary first.
#
#   tests/bench/files.sh [dir|redis ...]      (default: both stores)
#   BECKON_BENCH_BUILD=dir   build directory (default: build-release, ignored by git)
#
# The machine is shared: run it under the exclusive benchmark lock,
#   flock /tmp/beckon-bench.lock tests/bench/files.sh
set -uo pipefail
cd "$(dirname "$0")/../.."
case "${1:-}" in -h|--help) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;; esac
build=${BECKON_BENCH_BUILD:-build-release}
stores=("$@")
[ ${#stores[@]} -gt 0 ] || stores=(dir redis)
if [ ! -d "$build" ]; then
  meson setup "$build" --buildtype=release >/dev/null || { echo "files.sh: meson setup failed" >&2; exit 1; }
fi
ninja -C "$build" server/beckon >/dev/null || { echo "files.sh: the build failed" >&2; exit 1; }
redis_server=$(command -v redis-server) || { echo "files.sh: redis-server is missing" >&2; exit 1; }
rc=0
for store in "${stores[@]}"; do
  timeout 180 /usr/bin/python3 tests/bench/bench_files.py --beckon "$build/server/beckon" \
    --redis-server "$redis_server" --store "$store" || rc=1
done
exit $rc
