#!/usr/bin/env bash
# Fuzzes a running Skyhook against its own OpenAPI document with schemathesis: a short,
# bounded run that fails on any 5xx answer (check `not_a_server_error`). Starts
# `target/debug/skyhook serve --dev` on a temporary directory and a random port.
# Needs `cargo build` and interop/setup.sh first. Usage: interop/schemathesis.sh [extra args]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

BIN=${SKYHOOK_BIN:-${CARGO_TARGET_DIR:-target}/debug/skyhook}
ST=interop/.venv/bin/schemathesis
[ -x "$BIN" ] || { echo "no $BIN: run cargo build first" >&2; exit 1; }
[ -x "$ST" ] || { echo "no $ST: run interop/setup.sh first" >&2; exit 1; }

DIR=$(mktemp -d)
TOKEN="sk_schemathesis_$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"
SERVER_PID=
cleanup() {
    if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
    rm -rf "$DIR"
}
trap cleanup EXIT

"$BIN" serve --dev --listen 127.0.0.1:0 --database-url "sqlite://$DIR/skyhook.db" \
    --admin-token "$TOKEN" >"$DIR/stdout" 2>"$DIR/server.log" &
SERVER_PID=$!
URL=
for _ in $(seq 1 100); do
    URL=$(sed -n 's/^Skyhook listening on //p' "$DIR/stdout" | head -1)
    [ -n "$URL" ] && break
    kill -0 "$SERVER_PID" 2>/dev/null || { cat "$DIR/server.log" >&2; echo "skyhook exited" >&2; exit 1; }
    sleep 0.1
done
[ -n "$URL" ] || { echo "skyhook did not start" >&2; exit 1; }
echo "schemathesis against $URL"

# The listen route is a long-lived stream: not something to fuzz.
status=0
"$ST" run "$URL/api/v1/openapi.json" \
    --url "$URL" \
    --checks not_a_server_error \
    --header "Authorization: Bearer $TOKEN" \
    --max-examples "${SCHEMATHESIS_MAX_EXAMPLES:-20}" \
    --exclude-path-regex '/listen$' \
    --request-timeout 10 \
    --seed 1 \
    --no-color \
    "$@" || status=$?
if [ "$status" -ne 0 ]; then
    echo "== server log (last 50 lines)" >&2
    tail -50 "$DIR/server.log" >&2
fi
exit "$status"
