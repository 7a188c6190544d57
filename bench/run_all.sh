#!/usr/bin/env bash
# The issue-10 figures in one go, on a quiet machine: prepare a PostgreSQL database, serve
# it with WORKERS workers (PostgreSQL + Redis), then capacity with the pgbench ceiling, the
# floor (a do-nothing app with the purchase's shape, four ways), latency at half of the
# capacity, and the two stampedes. Every result is a JSON file in
# OUT. The soak (10 min) is separate: `bench/run_all.sh soak` after a capacity run.
#
#   WORKERS=2 SHOPPERS=64 DURATION=30 OUT=/tmp/tillpoint-bench bench/run_all.sh
set -euo pipefail
cd "$(dirname "$0")/.."

WORKERS="${WORKERS:-2}"
SHOPPERS="${SHOPPERS:-64}"
DURATION="${DURATION:-30}"
PORT="${PORT:-8000}"
OUT="${OUT:-/tmp/tillpoint-bench}"
DB="${BENCH_DB:-tillpoint_bench}"
export TILLPOINT_DATABASE_URL="postgresql+asyncpg://postgres@127.0.0.1:5432/${DB}"
export TILLPOINT_REDIS_URL="${BENCH_REDIS_URL:-redis://127.0.0.1:6379/0}"
# Every simulated shopper comes from 127.0.0.1 and pays with the same test card: raise the
# per-IP and per-card limits (the limiter still runs on every request).
export TILLPOINT_RATE_LIMIT_GLOBAL="100000000/minute"
export TILLPOINT_RATE_LIMIT_CHECKOUT="100000000/minute"
export TILLPOINT_RATE_LIMIT_CREATE_INTENT="100000000/minute"
export TILLPOINT_RATE_LIMIT_PER_ADDRESS="100000000/minute"
export TILLPOINT_PAYMENT_MAX_ATTEMPTS_PER_CARD=100000000
export TILLPOINT_LOG_LEVEL="${TILLPOINT_LOG_LEVEL:-WARNING}"
BIN=.venv/bin
URL="http://127.0.0.1:${PORT}"
mkdir -p "$OUT"

server_pid=""
start_server() {
  "$BIN/tillpoint" bench prepare --database-url "$TILLPOINT_DATABASE_URL" --fresh >"$OUT/prepare.json"
  redis-cli -u "$TILLPOINT_REDIS_URL" flushdb >/dev/null
  "$BIN/tillpoint" serve --workers "$WORKERS" --port "$PORT" >"$OUT/server.log" 2>&1 &
  server_pid=$!
  for _ in $(seq 1 100); do
    curl -fsS "$URL/healthz" >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  echo "server did not start; see $OUT/server.log" >&2
  exit 1
}
stop_server() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null || true
  server_pid=""
}
trap stop_server EXIT
failed=0
checked() { # run a benchmark; one whose own checks fail is reported and the rest still run
  "$@" || { echo "   checks failed (exit $?): see its JSON" >&2; failed=1; }
}
rate_of() { # half of the measured capacity, from a load report
  "$BIN/python" -c 'import json,sys; print(round(json.load(open(sys.argv[1]))["flows_per_s"] / 2, 2))' "$1"
}

if [ "${1:-}" = "soak" ]; then
  start_server
  rate="${RATE:-$(rate_of "$OUT/capacity.json")}"
  "$BIN/tillpoint" bench soak --url "$URL" --rate "$rate" --shoppers "$SHOPPERS" \
    --server-pid "$server_pid" --output "$OUT/soak.json" --quiet
  exit 0
fi

echo "== capacity: $SHOPPERS shoppers, ${DURATION}s, $WORKERS workers, pgbench ceiling"
start_server
checked "$BIN/tillpoint" bench --url "$URL" --shoppers "$SHOPPERS" --duration "$DURATION" --warmup 5 \
  --server-pid "$server_pid" --ceiling --output "$OUT/capacity.json" --quiet >/dev/null
stop_server

echo "== floor: the purchase's requests and statements against a do-nothing app, same load"
for shape_driver in http:asyncpg purchase:asyncpg purchase:sqlalchemy purchase:session; do
  shape="${shape_driver%%:*}" driver="${shape_driver##*:}"
  "$BIN/tillpoint" bench floor --port "$((PORT + 1))" --workers "$WORKERS" --shape "$shape" \
    --driver "$driver" --database-url "$TILLPOINT_DATABASE_URL" >"$OUT/floor_server.log" 2>&1 &
  floor_pid=$!
  checked "$BIN/tillpoint" bench --flow floor --url "http://127.0.0.1:$((PORT + 1))" \
    --shoppers "$SHOPPERS" --duration "$DURATION" --warmup 5 --no-verify \
    --server-pid "$floor_pid" --output "$OUT/floor_${shape}_${driver}.json" --quiet >/dev/null
  kill "$floor_pid" && wait "$floor_pid" 2>/dev/null || true
done

rate="$(rate_of "$OUT/capacity.json")"
echo "== latency at half load: $rate checkouts/s"
start_server
checked "$BIN/tillpoint" bench --url "$URL" --shoppers "$SHOPPERS" --duration "$DURATION" --warmup 5 \
  --rate "$rate" --server-pid "$server_pid" --output "$OUT/half.json" --quiet >/dev/null
stop_server

echo "== stampede: 1000 shoppers, 100 units"
start_server
checked "$BIN/tillpoint" bench stampede --url "$URL" --shoppers 1000 --units 100 \
  --output "$OUT/stampede.json" --quiet >/dev/null
echo "== stampede with a 10-use coupon"
checked "$BIN/tillpoint" bench stampede --url "$URL" --shoppers 1000 --units 100 --coupon-limit 10 \
  --output "$OUT/stampede_coupon.json" --quiet >/dev/null
stop_server
echo "results in $OUT"
exit "$failed"
