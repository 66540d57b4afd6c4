#!/usr/bin/env bash
# The run command: installs what is missing, builds, creates the demo agent, and runs Beckon
# with its private Redis and the demo shop. Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."

.ci/install-deps
[ -f build/build.ninja ] || meson setup build >/dev/null
ninja -C build server/beckon >/dev/null

port=${BECKON_PORT:-8080}
data=${BECKON_DATA_DIR:-beckon-data}
beckon=(build/server/beckon --port "$port" --data-dir "$data" --web-root "$PWD"
        --rules-file examples/rules.json)

if ! "${beckon[@]}" agent list 2>/dev/null | cut -f1 | grep -qx demo; then
  echo "demo-password" | "${beckon[@]}" agent add demo admin >/dev/null
fi

cat <<TEXT

  Beckon is starting on port $port.

  Demo shop (visitor):  http://localhost:$port/demo/
  Agent panel:          http://localhost:$port/agent/    log in as demo / demo-password
  Rules (REST):         http://localhost:$port/api/rules (Bearer token from /api/login, same login)

  Stay on the pricing page for a while: the sample rules in examples/rules.json invite you.
  Health:               http://localhost:$port/healthz

  Data (secret, private Redis with AOF) is kept in $data/. Stop with Ctrl-C.

TEXT
exec "${beckon[@]}"
