#!/usr/bin/env bash
# The checkout load benchmark (issue 6; docs/benchmarks.md, "Checkout"): a
# scratch PostgreSQL database, the server built and started on it, the bench
# catalogue of BENCH_PRODUCTS products (stock 100 per variant in the default
# warehouse, the flat shipping method standard-shipping, a published
# storefront), then BENCH_CONNECTIONS guest shoppers each running
# cartCreate → cartBuyerIdentityUpdate → cartShippingMethodUpdate →
# checkoutComplete (MANUAL) in a loop for BENCH_DURATION seconds, and an SQL
# check that nothing was oversold.
#
#   internal/bench/checkout.sh
#
# Environment (all optional):
#   BENCH_DATABASE_URL  admin URL of PostgreSQL, with a database path; its role
#                       needs CREATEDB (postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable)
#   BENCH_PORT          the server's port (18090)
#   BENCH_DURATION      measured seconds (20)
#   BENCH_WARMUP        warm-up seconds (3)
#   BENCH_CONNECTIONS   concurrent shoppers (32)
#   BENCH_PRODUCTS      products of the bench catalogue (1000)
#   BENCH_OUT           directory for the results (a new temporary directory)
#   BENCH_KEEP=1        keep the scratch database afterwards
#   BENCH_SERVER_ENV    extra environment for the server, e.g. "DB_MAX_OPEN_CONNS=40"
set -euo pipefail

cd "$(dirname "$0")/../.."
ADMIN_URL=${BENCH_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable}
PORT=${BENCH_PORT:-18090}
DURATION=${BENCH_DURATION:-20}
WARMUP=${BENCH_WARMUP:-3}
CONNS=${BENCH_CONNECTIONS:-32}
PRODUCTS=${BENCH_PRODUCTS:-1000}
OUT=${BENCH_OUT:-$(mktemp -d -t omnisphere-checkout-XXXXXX)}
mkdir -p "$OUT"

for tool in psql go curl; do
  command -v "$tool" >/dev/null || { echo "checkout.sh: $tool is required" >&2; exit 1; }
done

# The scratch database's URL: ADMIN_URL with its database path replaced.
DB="omni_checkout_$(date +%Y%m%d_%H%M%S)_$$"
base=${ADMIN_URL%%\?*}
query=${ADMIN_URL#"$base"}
case "$base" in
  postgres://*/*|postgresql://*/*) ;;
  *) echo "checkout.sh: BENCH_DATABASE_URL needs a database path (…:5432/postgres)" >&2; exit 1 ;;
esac
DB_URL="${base%/*}/$DB$query"

SERVER_PID=
cleanup() {
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  if [ "${BENCH_KEEP:-}" != 1 ]; then
    psql -q "$ADMIN_URL" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
  else
    echo "kept the scratch database: $DB_URL"
  fi
}
trap cleanup EXIT

echo "== building into $OUT"
go build -o "$OUT/omnisphere" .
go build -o "$OUT/checkout" ./internal/bench/checkout

echo "== scratch database $DB"
psql -q -v ON_ERROR_STOP=1 "$ADMIN_URL" -c "CREATE DATABASE $DB"

server_env=(
  "DATABASE_URL=$DB_URL"
  "JWT_SECRET=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
  "LOG_LEVEL=warn"
  "AUTO_MIGRATE=true"
  "PORT=$PORT"
  "DATA_DIR=$OUT/data"
  # One caller sends everything: the cost rate limit would throttle it.
  "RATE_LIMIT_BUCKET=1000000000"
  "RATE_LIMIT_RESTORE_RATE=1000000000"
)
# shellcheck disable=SC2206
[ -n "${BENCH_SERVER_ENV:-}" ] && server_env+=(${BENCH_SERVER_ENV})

echo "== migrating and seeding the bench catalogue ($PRODUCTS products)"
env "${server_env[@]}" "$OUT/omnisphere" seed bench --products "$PRODUCTS" | tee "$OUT/seed.txt"
KEY=$(sed -n 's/^storefront key: //p' "$OUT/seed.txt")
MERCHANT=$(sed -n 's/^merchant id: //p' "$OUT/seed.txt")
[ -n "$KEY" ] && [ -n "$MERCHANT" ] || { echo "checkout.sh: no storefront key in the seed output" >&2; exit 1; }
psql -q "$DB_URL" -c "VACUUM ANALYZE" >/dev/null
# What the flow needs of the catalogue: published storefront, stock, shipping.
psql -At -v ON_ERROR_STOP=1 "$DB_URL" -c "
  SELECT 'storefront published: ' || bool_and(published) FROM storefront_configs WHERE merchant_id = '$MERCHANT';
  SELECT 'inventory rows: ' || count(*) || ', units on hand: ' || sum(quantity_on_hand) || ', reserved: ' || sum(quantity_reserved)
    FROM inventory WHERE merchant_id = '$MERCHANT';
  SELECT 'shipping methods: ' || string_agg(code || ' (' || price || ', ' || countries::text || ')', ', ')
    FROM shipping_methods WHERE merchant_id = '$MERCHANT' AND active;" | tee -a "$OUT/seed.txt"

echo "== starting the server on :$PORT"
env "${server_env[@]}" "$OUT/omnisphere" --no-demo >"$OUT/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 100); do
  curl -fsS "http://127.0.0.1:$PORT/ready" >/dev/null 2>&1 && break
  kill -0 "$SERVER_PID" 2>/dev/null || { echo "checkout.sh: the server exited:" >&2; cat "$OUT/server.log" >&2; exit 1; }
  sleep 0.2
done
echo "server pid $SERVER_PID, RSS at rest $(ps -o rss= -p "$SERVER_PID" | tr -d ' ') KiB"
echo "load before the run: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) cores)"

echo "== load: $CONNS guest shoppers, ${WARMUP}s warm-up, ${DURATION}s measured"
status=0
"$OUT/checkout" -url "http://127.0.0.1:$PORT/graphql" -key "$KEY" -merchant "$MERCHANT" -pid "$SERVER_PID" -pg "$DB_URL" \
  -c "$CONNS" -d "${DURATION}s" -warmup "${WARMUP}s" -products "$PRODUCTS" -clk-tck "$(getconf CLK_TCK)" \
  -json "$OUT/results.json" | tee "$OUT/bench.txt" || status=$?
echo "server RSS after the load $(ps -o rss= -p "$SERVER_PID" | tr -d ' ') KiB"
if grep -qE 'level=(ERROR|WARN)' "$OUT/server.log"; then
  echo "server log: $(grep -cE 'level=(ERROR|WARN)' "$OUT/server.log") warnings or errors, the first:"
  grep -m3 -E 'level=(ERROR|WARN)' "$OUT/server.log" | cut -c1-400
fi
echo "results in $OUT (results.json, bench.txt, seed.txt, server.log)"
exit "$status"
