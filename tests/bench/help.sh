#!/usr/bin/env bash
# Help articles on a node, measured (tests/bench/bench_help_node.py): the rebuild from the bus's
# announcement to the new index in use, the node's RSS growth, and visitors' search round trips,
# for 1 000 and 10 000 articles; and the index alone (bench_help: build, memory, search p99).
# Builds the release binary first.
#
#   tests/bench/help.sh
#   BECKON_BENCH_BUILD=dir   build directory (default: build-release, ignored by git)
#
# The machine is shared: run it under the exclusive benchmark lock,
#   flock /tmp/beckon-bench.lock tests/bench/help.sh
set -uo pipefail
cd "$(dirname "$0")/../.."
case "${1:-}" in -h|--help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;; esac
build=${BECKON_BENCH_BUILD:-build-release}
if [ ! -d "$build" ]; then
  meson setup "$build" --buildtype=release >/dev/null || { echo "help.sh: meson setup failed" >&2; exit 1; }
fi
ninja -C "$build" server/beckon tests/bench/bench_help >/dev/null || { echo "help.sh: the build failed" >&2; exit 1; }
"$build/tests/bench/bench_help" || exit 1
echo
timeout 600 /usr/bin/python3 tests/bench/bench_help_node.py --beckon "$build/server/beckon" "$@"
