#!/usr/bin/env bash
# Scale benchmark, one command: builds beckon (release) and the C load generator
# (tests/bench/loadgen), starts its own redis-server (unix socket, AOF everysec) and beckon
# (pinned to CPU 0; the generator and Redis on CPU 1), runs the scenarios, prints one table
# with targets and pass/miss, and records it in docs/benchmarks-scale.md.
#
#   tests/bench/scale.sh [--quick] [--doc | --no-doc] [--keep]
#
#   --quick    ≈15 s of load: 1 000 idle connections, chat at 1 000 msg/s for 3 s, a two-rung
#              ladder (1k, 3k msg/s, 1 s each), a short slow consumer, a 1 000-client reconnect
#              storm. Prints only, unless --doc.
#   (default)  full: idle 1k/5k/10k/19k, chat at 1k/5k/10k msg/s for 10 s each (with Redis CPU
#              per message as a row of its own), the chat ladder (5k, 10k, … 30k msg/s, 5 s a
#              rung, stopping after the first rung that misses p99 ≤ 50 ms or loses an ack or a
#              delivery; one row gives the highest rate that passed), slow consumer, 10 000-client
#              reconnect storm, then nodes: 2 and 4 beckons on the same Redis (visitors and agents
#              spread round robin) at 5 000 msg/s for 5 s each, with the bus messages each node
#              receives per chat message (each node's beckon_bus_messages_received_total in GET
#              /metrics), and before the nodes, page views (1 000 visitors, 1 000 trigger rules,
#              2 000 and 5 000 page views/s for 5 s each, with Redis CPU per page view). Writes
#              docs/benchmarks-scale.md unless --no-doc. Afterwards it prints Redis' busiest
#              commands (INFO commandstats).
#   --keep     keep the temp dir (logs of redis and beckon)
#   BECKON_SCALE_BUILD=dir   build directory (default: build-scale, ignored by git)
#   BECKON_SCALE_SCENARIOS="chat slow"   run only these (default: slow idle chat ladder storm,
#                    and pageviews and nodes in full mode; slow first, while the heap is fresh, so its RSS shows;
#                    nodes, also called twonode, always last: the other beckons start only then).
#                    With --doc (or in full mode) only these scenarios' rows of the doc's table
#                    are rewritten; the other rows and the text stay, and a line says so.
#   BECKON_SCALE_NODES=2,4   the node counts of the nodes scenario (at most 8)
#   BECKON_SCALE_NICE=-10   autogroup nice of the processes it starts (0: leave priorities)
#   BECKON_SCALE_LOADGEN_ARGS="--rates 5000"   more options for beckon-loadgen (--help)
#
# Bounded: the whole run stops within 6 minutes (full) or 90 s (quick); every process it
# starts is stopped on exit, on failure and on Ctrl-C.
set -uo pipefail
cd "$(dirname "$0")/../.."

mode=full
doc=""
keep=0
for arg in "$@"; do
  case "$arg" in
    --quick) mode=quick ;;
    --full) mode=full ;;
    --doc) doc=1 ;;
    --no-doc) doc=0 ;;
    --keep) keep=1 ;;
    -h|--help) awk 'NR > 1 && !/^#/ { exit } NR > 1' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "scale.sh: unknown argument '$arg' (try --help)" >&2; exit 2 ;;
  esac
done
[ -z "$doc" ] && { [ $mode = full ] && doc=1 || doc=0; }
# beckon reads BECKON_* variables as settings: keep ours out of its environment.
SCALE_BUILD=${BECKON_SCALE_BUILD:-build-scale}
SCALE_SCENARIOS=${BECKON_SCALE_SCENARIOS:-}
SCALE_LOADGEN_ARGS=${BECKON_SCALE_LOADGEN_ARGS:-}
SCALE_NICE=${BECKON_SCALE_NICE:--10}
NODES=${BECKON_SCALE_NODES:-2,4}
unset BECKON_SCALE_BUILD BECKON_SCALE_SCENARIOS BECKON_SCALE_LOADGEN_ARGS BECKON_SCALE_NICE BECKON_SCALE_NODES
command_line="tests/bench/scale.sh${*:+ $*}"

BUILD=$SCALE_BUILD
if [ $mode = quick ]; then BUDGET=90; else BUDGET=360; fi
START=$SECONDS
TMPD=$(mktemp -d /tmp/beckon-scale.XXXXXX)
PIDS=()

left() { echo $((BUDGET - (SECONDS - START))); }
stop_all() {
  local p
  for p in "${PIDS[@]}"; do
    kill -CONT "$p" 2>/dev/null
    kill -TERM "$p" 2>/dev/null
  done
  for p in "${PIDS[@]}"; do
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null
    wait "$p" 2>/dev/null
  done
  PIDS=()
}
on_exit() {
  stop_all
  if [ $keep -eq 1 ]; then echo "scale.sh: kept $TMPD"; else rm -rf "$TMPD"; fi
}
trap 'echo; echo "scale.sh: interrupted; stopping" >&2; exit 130' INT TERM HUP
trap on_exit EXIT

missing=()
for tool in meson ninja cc pkg-config redis-server redis-cli curl taskset timeout; do
  command -v "$tool" >/dev/null || missing+=("$tool")
done
pkg-config --exists libuv libcrypto || missing+=("libuv1-dev/libssl-dev")
if [ ${#missing[@]} -gt 0 ]; then
  echo "scale.sh: missing: ${missing[*]}" >&2
  exit 1
fi

# ---- build ------------------------------------------------------------------------------
echo "== building $BUILD (release) and the load generator"
if [ ! -f "$BUILD/build.ninja" ]; then
  timeout 60 meson setup "$BUILD" --buildtype=release -Dwerror=false >"$TMPD/setup.log" 2>&1 \
    || { tail -30 "$TMPD/setup.log"; exit 1; }
else
  timeout 30 meson configure "$BUILD" -Dbuildtype=release -Dwerror=false >"$TMPD/setup.log" 2>&1 \
    || { tail -30 "$TMPD/setup.log"; exit 1; }
fi
targets=(server/beckon)
LOADGEN="$BUILD/tests/bench/loadgen/beckon-loadgen"
have_target=0
if ninja -C "$BUILD" -t targets all 2>/dev/null | grep -q '^tests/bench/loadgen/beckon-loadgen:'; then
  targets+=(tests/bench/loadgen/beckon-loadgen)
  have_target=1
fi
timeout 120 ninja -C "$BUILD" "${targets[@]}" >"$TMPD/build.log" 2>&1 \
  || { tail -40 "$TMPD/build.log"; echo "scale.sh: build failed" >&2; exit 1; }
if [ $have_target -eq 0 ]; then
  # tests/bench/loadgen/meson.build is not wired into the build yet: compile it directly.
  LOADGEN="$BUILD/scale-loadgen/beckon-loadgen"
  mkdir -p "$(dirname "$LOADGEN")"
  # shellcheck disable=SC2046
  timeout 60 cc -std=c11 -D_GNU_SOURCE -O2 -Wall -Wextra -o "$LOADGEN" tests/bench/loadgen/loadgen.c \
    tests/bench/loadgen/ws.c $(pkg-config --cflags --libs libuv libcrypto) >"$TMPD/cc.log" 2>&1 \
    || { cat "$TMPD/cc.log"; echo "scale.sh: load generator build failed" >&2; exit 1; }
fi
BECKON="$BUILD/server/beckon"
echo "   built in $((SECONDS - START)) s"

# ---- machine, limits, pinning -------------------------------------------------------------
ulimit -n "$(ulimit -Hn)" 2>/dev/null
NOFILE=$(ulimit -n)
NCPU=$(nproc)
if [ "$NCPU" -ge 2 ]; then BECKON_CPU=0; OTHER_CPU=1; else BECKON_CPU=0; OTHER_CPU=0; fi
CPU_MODEL=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
MEM=$(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)

SCENARIOS=$SCALE_SCENARIOS
if [ $mode = quick ]; then
  [ -z "$SCENARIOS" ] && SCENARIOS="slow idle chat ladder storm"
  IDLE=1000; RATES=1000; CHAT_SECS=3; CONVS=100; AGENTS=10; STORM=1000; SLOW_SECS=2
  LADDER=1000,3000; LADDER_SECS=1; NODES_RATE=1000; NODES_SECS=2
  PV_VISITORS=100; PV_RULES=100; PV_RATES=500; PV_SECS=1
else
  [ -z "$SCENARIOS" ] && SCENARIOS="slow idle chat ladder storm pageviews nodes"
  IDLE=1000,5000,10000,19000; RATES=1000,5000,10000; CHAT_SECS=10; CONVS=1000; AGENTS=50; STORM=10000
  SLOW_SECS=5; LADDER=5000,10000,15000,20000,25000,30000; LADDER_SECS=5; NODES_RATE=5000; NODES_SECS=5
  PV_VISITORS=1000; PV_RULES=1000; PV_RATES=2000,5000; PV_SECS=5
fi
# The nodes scenario runs after the others, in a run of the generator of its own: its other
# beckons start only then, so that no other scenario shares beckon's CPU with them.
NODES_SCENARIO=""
grep -qwE 'nodes|twonode' <<<"$SCENARIOS" && NODES_SCENARIO=1
SCENARIOS=$(tr ' ' '\n' <<<"$SCENARIOS" | grep -vxE 'nodes|twonode|' | tr '\n' ' ')
SCENARIOS=${SCENARIOS% }
NODES_MAX=$(tr ',' '\n' <<<"$NODES" | sort -n | tail -1)
if ! [[ "$NODES" =~ ^[1-8](,[1-8])*$ ]]; then
  echo "scale.sh: BECKON_SCALE_NODES='$NODES': node counts 1-8, separated by commas" >&2
  exit 2
fi
if [ "$NOFILE" -lt 19500 ] && [ $mode = full ]; then
  echo "scale.sh: RLIMIT_NOFILE hard limit is $NOFILE: the 19 000-connection step will fail" >&2
fi

# The machine is shared. With autogroup scheduling (kernel.sched_autogroup_enabled=1) plain
# nice does nothing against other sessions, so redis, beckon and the generator each get a session
# of their own (setsid) whose autogroup is set to nice -10 (BECKON_SCALE_NICE=0: leave priorities).
NICE=$SCALE_NICE
PRIO="default priority"
prioritize() {  # PID
  [ "$NICE" = 0 ] && return 0
  local mine theirs
  mine=$(cut -d' ' -f1 /proc/$$/autogroup 2>/dev/null)
  theirs=$(cut -d' ' -f1 "/proc/$1/autogroup" 2>/dev/null)
  # Only a session of its own (never this shell's: that would raise everything it starts).
  if [ -n "$theirs" ] && [ "$theirs" != "$mine" ] && [ -w "/proc/$1/autogroup" ] && echo "$NICE" >"/proc/$1/autogroup" 2>/dev/null; then
    PRIO="autogroup nice $NICE (each in a session of its own)"
  elif renice -n "$NICE" -p "$1" >/dev/null 2>&1; then
    PRIO="nice $NICE"
  fi
}

# ---- redis and beckon ---------------------------------------------------------------------
SOCK="$TMPD/redis.sock"
setsid taskset -c $OTHER_CPU redis-server --port 0 --unixsocket "$SOCK" --unixsocketperm 700 --save "" \
  --appendonly yes --appendfsync everysec --dir "$TMPD" --daemonize no >"$TMPD/redis.log" 2>&1 &
REDIS_PID=$!
PIDS+=("$REDIS_PID")
for _ in $(seq 100); do
  [ "$(redis-cli -s "$SOCK" ping 2>/dev/null)" = PONG ] && break
  sleep 0.05
done
[ "$(redis-cli -s "$SOCK" ping 2>/dev/null)" = PONG ] || { cat "$TMPD/redis.log"; echo "scale.sh: redis did not start" >&2; exit 1; }
prioritize "$REDIS_PID"  # now surely past setsid

REDIS_URL="unix://$SOCK"
DATA="$TMPD/beckon-data"
mkdir -p "$DATA"
echo "== creating $AGENTS agents (+ bench-slow, and bench-marketer who saves the page-view scenario's rules)"
names=(bench-slow bench-marketer)
for i in $(seq "$AGENTS"); do names+=("bench-a$i"); done
for name in "${names[@]}"; do
  role=agent
  [ "$name" = bench-marketer ] && role=marketer
  printf 'bench-password\n' | timeout 20 "$BECKON" --redis "$REDIS_URL" --data-dir "$DATA" agent add "$name" "$role" \
    >>"$TMPD/agents.log" 2>&1 || { tail "$TMPD/agents.log"; echo "scale.sh: agent add failed" >&2; exit 1; }
done

# Limits meant for browsers, lifted for the benchmark (where this beckon has them): every client
# comes from 127.0.0.x, and the chat scenario sends more per socket than a person types.
extra=()
help=$("$BECKON" --help 2>&1)
grep -q -- '--max-connections-per-ip' <<<"$help" && extra+=(--max-connections-per-ip 1000000)
grep -q -- '--rate-messages-per-second' <<<"$help" && extra+=(--rate-messages-per-second 100000)
grep -q -- '--rate-burst' <<<"$help" && extra+=(--rate-burst 100000)
# Starts one beckon on the shared Redis, pinned to beckon's CPU, and waits for /healthz; sets
# NODE_PORT and NODE_PID. Nodes are stopped before redis (first in PIDS).
NODE_PIDS=()
start_node() {  # LOG
  NODE_PORT=$("$LOADGEN" free-port)
  setsid taskset -c $BECKON_CPU "$BECKON" --redis "$REDIS_URL" --data-dir "$DATA" --port "$NODE_PORT" --bind 127.0.0.1 \
    --web-root . --log-level warn "${extra[@]}" >"$1" 2>&1 &
  NODE_PID=$!
  PIDS=("$NODE_PID" "${PIDS[@]}")
  NODE_PIDS+=("$NODE_PID")
  for _ in $(seq 100); do
    curl -fs "http://127.0.0.1:$NODE_PORT/healthz" >/dev/null 2>&1 && break
    kill -0 "$NODE_PID" 2>/dev/null || break
    sleep 0.05
  done
  curl -fs "http://127.0.0.1:$NODE_PORT/healthz" >/dev/null 2>&1 || { tail -20 "$1"; echo "scale.sh: beckon ($1) did not start" >&2; exit 1; }
  prioritize "$NODE_PID"
}
start_node "$TMPD/beckon.log"
PORT=$NODE_PORT
BECKON_PID=$NODE_PID

# ---- the scenarios ------------------------------------------------------------------------
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
echo "== load: mode $mode; beckon pid $BECKON_PID on CPU $BECKON_CPU, redis and the generator on CPU $OTHER_CPU"
ROWS="$TMPD/rows.md"
LG_ARGS=(--port "$PORT" --beckon-pid "$BECKON_PID" --redis-pid "$REDIS_PID" --cpu "$OTHER_CPU"
         --idle "$IDLE" --conversations "$CONVS" --agents "$AGENTS" --rates "$RATES" --chat-secs "$CHAT_SECS"
         --storm "$STORM" --slow-secs "$SLOW_SECS" --ladder "$LADDER" --ladder-secs "$LADDER_SECS"
         --nodes "$NODES" --nodes-rate "$NODES_RATE" --nodes-secs "$NODES_SECS"
         --pv-visitors "$PV_VISITORS" --pv-rules "$PV_RULES" --pv-rates "$PV_RATES" --pv-secs "$PV_SECS"
         --redis-socket "$SOCK")
: >"$ROWS"
lg_rc=0
run_loadgen() {  # SCENARIO... (rows appended to $ROWS)
  local limit=$(( $(left) - 10 )) rc
  [ $limit -lt 20 ] && limit=20
  # shellcheck disable=SC2086
  timeout -k 5 "$limit" "$LOADGEN" --nice "$NICE" "${LG_ARGS[@]}" --beckon-log "$TMPD/beckon.log" "${NODE_ARGS[@]}" \
    $SCALE_LOADGEN_ARGS "$@" >>"$ROWS" 2> >(tee -a "$TMPD/loadgen.log" >&2) &
  LG_PID=$!
  PIDS=("$LG_PID" "${PIDS[@]}")
  wait $LG_PID
  rc=$?
  PIDS=("${PIDS[@]:1}")
  [ $rc -ne 0 ] && { echo "scale.sh: the load generator exited with $rc" >&2; lg_rc=$rc; }
}
NODE_ARGS=()
# shellcheck disable=SC2086
[ -n "$SCENARIOS" ] && run_loadgen $SCENARIOS
if [ -n "$NODES_SCENARIO" ] && [ $lg_rc -eq 0 ]; then
  if [ "$(left)" -lt 40 ]; then
    echo "scale.sh: $(left) s left of the budget: the nodes scenario is skipped" >&2
    echo "| 4 on $NODES nodes | setup | skipped: the run's time budget was spent | | **miss** |" >>"$ROWS"
  else
    echo "== nodes: starting $((NODES_MAX - 1)) more beckon(s) on CPU $BECKON_CPU, the same Redis"
    for k in $(seq 2 "$NODES_MAX"); do
      start_node "$TMPD/beckon$k.log"
      NODE_ARGS+=(--node "$NODE_PORT:$NODE_PID")
    done
    run_loadgen nodes
  fi
fi
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
alive=yes
for p in "${NODE_PIDS[@]}"; do kill -0 "$p" 2>/dev/null || alive=no; done
BECKON_WARN=$(cat "$TMPD"/beckon*.log 2>/dev/null | grep -c . || true)
# Where Redis spent its time over the whole run (every scenario, set-up included).
REDIS_TOP=$(timeout 5 redis-cli -s "$SOCK" INFO commandstats 2>/dev/null | tr -d '\r' |
  sed -n 's/^cmdstat_\([^:]*\):calls=\([0-9]*\),usec=\([0-9]*\),usec_per_call=\([0-9.]*\).*/\3 \1 \2 \4/p' |
  sort -rn | head -8 | awk '{ printf "%s`%s` %.2f s (%d calls, %.1f µs each)", (NR > 1 ? "; " : ""), $2, $1 / 1e6, $3, $4 }')
stop_all

table=$(printf '| scenario | measure | value | target | result |\n|---|---|---|---|---|\n'; cat "$ROWS")
echo
echo "$table"
echo
echo "beckon alive at the end: $alive; its log has $BECKON_WARN lines (warnings and errors only)"
[ -n "$REDIS_TOP" ] && echo "redis time by command over the whole run (INFO commandstats): $REDIS_TOP"
misses=$(grep -c '\*\*miss\*\*' "$ROWS" || true)
echo "scale.sh: done in $((SECONDS - START)) s; $misses target(s) missed"

if [ "$doc" = 1 ]; then
  out=docs/benchmarks-scale.md
  notes=""
  # Everything from "## Analysis" on is written by hand: keep it.
  [ -f "$out" ] && notes=$(sed -n '/^## Analysis/,$p' "$out")
  if [ -n "$SCALE_SCENARIOS" ] && [ ! -s "$ROWS" ]; then
    echo "scale.sh: no rows; $out left as it was"
    doc=done
  elif [ -n "$SCALE_SCENARIOS" ] && [ -f "$out" ] && grep -q '^| scenario |' "$out"; then
    # Only some scenarios ran: replace their rows (by the number that starts each row's
    # scenario), keep every other row and line, and say which rows are newer.
    keys=$(cut -d'|' -f2 "$ROWS" | awk '{ print $1 }' | sort -u | tr '\n' ' ')
    stamp="Partial update: the rows of scenario(s) ${keys% } rewritten by \`$command_line\` on $(date -u '+%Y-%m-%d %H:%M UTC') (commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet 2>/dev/null || echo ', with uncommitted changes')); load average $LOAD_BEFORE / $LOAD_AFTER. The machine and the other rows are those of the run above."
    awk -v keys="$keys" -v rows="$ROWS" -v stamp="$stamp" '
      function key_of(line,   f, w) { split(line, f, "|"); split(f[2], w, " "); return w[1] }
      function flush_new(   k) { for (k in fresh) if (!(k in done)) { printf "%s", fresh[k]; done[k] = 1 } }
      BEGIN {
        n = split(keys, list, " "); for (i = 1; i <= n; i++) want[list[i]] = 1
        while ((getline line < rows) > 0) fresh[key_of(line)] = fresh[key_of(line)] line "\n"
      }
      /^\| scenario \|/ && !stamped { print stamp; print ""; stamped = 1 }
      /^\| [0-9]/ { in_table = 1; k = key_of($0)
                    if (k in want) { if (!(k in done)) { printf "%s", fresh[k]; done[k] = 1 }; next } }
      in_table && !/^\|/ { flush_new(); in_table = 0 }
      { print }
    ' "$out" >"$out.tmp" && mv "$out.tmp" "$out"
    echo "scale.sh: rewrote the rows of scenario(s) ${keys% } in $out"
    doc=done
  fi
  [ "$doc" = done ] || { {
    echo "# Scale benchmarks"
    echo
    echo "Written by \`$command_line\` on $(date -u '+%Y-%m-%d %H:%M UTC') (commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet 2>/dev/null || echo ', with uncommitted changes')). Do not edit the"
    echo "table by hand; run the script again. The section \"Analysis\" below is kept across runs."
    echo
    echo "Machine: $NCPU CPUs ($CPU_MODEL), $MEM memory, Linux $(uname -r); RLIMIT_NOFILE $NOFILE."
    echo "beckon (release build) pinned to CPU $BECKON_CPU; redis-server (unix socket, AOF \`everysec\`) and the"
    echo "load generator (one process, one libuv loop) pinned to CPU $OTHER_CPU. Priority of all three: $PRIO"
    echo "(the machine is shared with other work: see the load average below and the \"other processes\""
    echo "figure of each chat row). Load average before / after: $LOAD_BEFORE / $LOAD_AFTER. beckon flags:"
    echo "\`${extra[*]:-none}\` (limits meant for browsers; all clients come from 127.0.0.1–127.0.0.100)."
    echo
    echo "How each figure is taken (tests/bench/loadgen/loadgen.c):"
    echo
    echo "- **1 idle**: visitors connect (at most 1 000 handshakes in flight) and say \`hello\`; counts are"
    echo "  cumulative. RSS is VmRSS of beckon from /proc/PID/status, 1 s after the last \`welcome\`,"
    echo "  minus the RSS before the first connection, divided by the connections; split into anonymous"
    echo "  memory (RssAnon: the heap) and file pages (RssFile: code run for the first time). Kernel memory: growth"
    echo "  of the \`TCP\` and \`sock_inode_cache\` slabs (/proc/slabinfo) over both ends of each loopback"
    echo "  connection; the socket buffers (/proc/net/sockstat \`mem\`) are given as a total."
    echo "- **2 chat**: $CONVS conversations (each visitor opens one, one of $AGENTS agents accepts it; at"
    echo "  most 20 are being opened at once: before 3fa2825 beckon announced every queue change to"
    echo "  everyone waiting, see Analysis);"
    echo "  visitors send \`message\` round robin at the total rate for ${CHAT_SECS} s; the text carries the send"
    echo "  time in ns; latency is taken when the agent receives the push. Every \`ack\` means stored in"
    echo "  Redis. CPU per message: utime+stime (/proc/PID/stat) of beckon over the window divided by the"
    echo "  messages delivered (schedstat, in ns, alongside). Each message costs beckon one Redis script"
    echo "  (EVALSHA), an \`ack\` and two pushes (the agent's, and the echo to the sender's own socket)."
    echo "  \"Waiting for a CPU\" is the run-queue delay from /proc/PID/schedstat: time the process was"
    echo "  ready to run while other work held the CPU. Redis CPU per message has a row of its own:"
    echo "  utime+stime of redis-server (all its threads, schedstat) over the window divided by the"
    echo "  messages delivered."
    echo "- **7 chat ladder**: as 2 (same set-up), at $(sed 's/,/, /g' <<<"$LADDER") msg/s for ${LADDER_SECS} s each; a"
    echo "  rung passes when every message was acked and delivered (within 5 s after the window) and"
    echo "  p99 ≤ 50 ms; the climb stops after the first rung that misses. The last row gives the"
    echo "  highest rate that passed."
    echo "- **5 slow consumer**: one visitor (SO_RCVBUF 4 KiB) stops reading; its agent sends 8 000-byte"
    echo "  messages at 400/s; beckon's RSS is sampled every 100 ms; the drop is seen in beckon's log"
    echo "  (\"client is not reading … dropping it\") or when its descriptor count falls; then the visitor"
    echo "  reads again to see how the connection ends. It runs first, while beckon's heap is fresh."
    echo "- **6 reconnect storm**: $STORM visitors, each with a conversation (opened and closed by the"
    echo "  visitor during setup, 20 at a time, so that no queue builds up), drop at once and reconnect"
    echo "  with their token (\`hello\`), then \`resume\` from 0 (at most 1 000 handshakes in flight); the"
    echo "  time runs from the first close until the last \`history\`."
    nodes_min=$(tr ',' '\n' <<<"$NODES" | sort -n | head -1)
    echo "- **4 on $(sed 's/,/, /g' <<<"$NODES") nodes**: the chat of 2 at $NODES_RATE msg/s for ${NODES_SECS} s, with its $CONVS visitors and"
    echo "  $AGENTS agents spread round robin over N beckons on the same Redis, all on beckon's CPU, as a load"
    echo "  balancer would (visitor i talks to agent ⌊i/N⌋ mod $AGENTS, so that one conversation in N has both"
    echo "  on one node), for each N. The other beckons start after every other scenario, so that none of"
    echo "  those shares beckon's CPU with them; at fewer nodes than started, the rest are up with no"
    echo "  sockets. CPU per message is the sum over the N nodes. The bus: each node counts the bus"
    echo "  messages it receives (\`beckon_bus_messages_received_total\` in its GET /metrics, read by the"
    echo "  generator just before and after the window); a node's figure is its difference divided by the"
    echo "  chat messages delivered, given as mean, min and max over the N nodes and as the sum over them."
    echo "  What the sockets need: a chat message concerns at most two nodes, its visitor's (for the"
    echo "  visitor's other tabs) and its agent's, so the sum over the nodes should stay ≤ 2 per chat"
    echo "  message whatever N (+0.05 for the nodes' own messages: heartbeats, queue announcements), and"
    echo "  the mean per node fall like 2/N, as a node's share of the sockets does. Each node count's row"
    echo "  is judged on the sum from 3 nodes on (with 2, a bus that sends every node everything stays"
    echo "  within it too); the last row passes"
    echo "  when the mean per node at $NODES_MAX nodes is ≤ $(awk -v lo="$nodes_min" -v hi="$NODES_MAX" 'BEGIN { printf "%.1f", 1.2 * lo / hi }') × that at $nodes_min ($nodes_min/$NODES_MAX, with 20 % slack) and"
    echo "  the sum is ≤ 2 at both: a bus that sends every node every message gives 1.00 per node and a"
    echo "  sum of N, and misses. A beckon without the counter gives \"not counted\"."
    echo "- **8 pageviews**: a marketer saves $PV_RULES trigger rules through \`PUT /api/rules/ID\` (URL globs on"
    echo "  product sections, exact pages, campaigns, returning visitors, some only within opening hours,"
    echo "  a few sitewide; each with a time-on-page or visit threshold, so the engine judges candidates on"
    echo "  every page view and few invite); $PV_VISITORS visitors say \`hello\` with a page; then they send"
    echo "  \`page_view\` round robin at $(sed 's/,/ and /g' <<<"$PV_RATES") page views/s for ${PV_SECS} s each. Each"
    echo "  is one \`track\` script in Redis (visit, event stream, live list, \`visitor_update\` to the"
    echo "  agents, the visitor's profile back) and one evaluation of the rules on the node. The latency"
    echo "  runs from the send to the \`ok\` (its \`req\` carries the send time). Redis CPU per page view:"
    echo "  schedstat of redis-server over the window divided by the page views answered \`ok\`; its"
    echo "  target is half of what it was before this row existed. The rules are deleted afterwards."
    echo
    echo "$table"
    echo
    [ -n "$REDIS_TOP" ] && { echo "Redis time by command over the whole run (INFO commandstats, every scenario and set-up; the"; echo "top 8 by time; a script's time includes that of the commands it calls, which are counted too):"; echo "$REDIS_TOP."; echo; }
    if [ -n "$notes" ]; then echo "$notes"; else echo "## Analysis"; echo; echo "(none yet)"; fi
  } >"$out.tmp" && mv "$out.tmp" "$out" && echo "scale.sh: wrote $out"; }
fi
[ $lg_rc -eq 0 ] && [ "$alive" = yes ]
