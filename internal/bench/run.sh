#!/usr/bin/env bash
# The storefront load benchmark (docs/benchmarks.md): a scratch PostgreSQL
# database, the server built and started on it, the bench catalogue of
# BENCH_PRODUCTS products, then Q1 (first 20 products by title with their
# variants) and Q2 (product by slug, rotating over all slugs) for
# BENCH_DURATION each with BENCH_CONNECTIONS connections, and pgbench running
# one raw SQL query that returns Q1's JSON, with the same clients and time.
#
#   internal/bench/run.sh
#
# Environment (all optional):
#   BENCH_DATABASE_URL  admin URL of PostgreSQL, with a database path; its role
#                       needs CREATEDB (postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable)
#   BENCH_PORT          the server's port (18080)
#   BENCH_DURATION      seconds per query (20)
#   BENCH_CONNECTIONS   connections / pgbench clients (32)
#   BENCH_PRODUCTS      products of the bench catalogue (1000)
#   BENCH_OUT           directory for the results (a new temporary directory)
#   BENCH_KEEP=1        keep the scratch database afterwards
#   BENCH_SERVER_ENV    extra environment for the server, e.g. "DB_MAX_OPEN_CONNS=40"
set -euo pipefail

cd "$(dirname "$0")/../.."
ADMIN_URL=${BENCH_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable}
PORT=${BENCH_PORT:-18080}
DURATION=${BENCH_DURATION:-20}
CONNS=${BENCH_CONNECTIONS:-32}
PRODUCTS=${BENCH_PRODUCTS:-1000}
OUT=${BENCH_OUT:-$(mktemp -d -t omnisphere-bench-XXXXXX)}
mkdir -p "$OUT"

for tool in psql pgbench go curl; do
  command -v "$tool" >/dev/null || { echo "run.sh: $tool is required" >&2; exit 1; }
done

# The scratch database's URL: ADMIN_URL with its database path replaced.
DB="omni_bench_$(date +%Y%m%d_%H%M%S)_$$"
base=${ADMIN_URL%%\?*}
query=${ADMIN_URL#"$base"}
case "$base" in
  postgres://*/*|postgresql://*/*) ;;
  *) echo "run.sh: BENCH_DATABASE_URL needs a database path (…:5432/postgres)" >&2; exit 1 ;;
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
go build -o "$OUT/bench" ./internal/bench

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
[ -n "$KEY" ] && [ -n "$MERCHANT" ] || { echo "run.sh: no storefront key in the seed output" >&2; exit 1; }
psql -q "$DB_URL" -c "VACUUM ANALYZE" >/dev/null

echo "== starting the server on :$PORT"
env "${server_env[@]}" "$OUT/omnisphere" --no-demo >"$OUT/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 100); do
  curl -fsS "http://127.0.0.1:$PORT/ready" >/dev/null 2>&1 && break
  kill -0 "$SERVER_PID" 2>/dev/null || { echo "run.sh: the server exited:" >&2; cat "$OUT/server.log" >&2; exit 1; }
  sleep 0.2
done
echo "server pid $SERVER_PID, RSS at rest $(ps -o rss= -p "$SERVER_PID" | tr -d ' ') KiB"

# The raw baseline: one SQL statement returning the same JSON document as Q1
# (the first 20 active, published products of the store by title, each with
# its variants by position and their available stock), run by pgbench as the
# database owner (no row-level security, no fence, no GraphQL).
cat >"$OUT/q1.sql" <<SQL
SELECT json_build_object('data', json_build_object('products', json_build_object('edges',
  COALESCE((SELECT json_agg(json_build_object('node', json_build_object(
      'id', p.id, 'title', p.title, 'slug', p.slug,
      'variants', COALESCE((SELECT json_agg(json_build_object(
          'id', v.id, 'sku', v.sku, 'price', v.price,
          'quantityAvailable', GREATEST(0, COALESCE((SELECT sum(i.quantity_on_hand - i.quantity_reserved)
                                                    FROM inventory i WHERE i.variant_id = v.id), 0)))
        ORDER BY v.position)
        FROM product_variants v WHERE v.product_id = p.id), '[]'::json)))
    ORDER BY p.title)
    FROM (SELECT id, title, slug FROM products
          WHERE merchant_id = '$MERCHANT' AND status = 'ACTIVE' AND published_at <= now()
          ORDER BY title LIMIT 20) p), '[]'::json))));
SQL
echo "== load: Q1 and Q2, $CONNS connections, ${DURATION}s each"
"$OUT/bench" -url "http://127.0.0.1:$PORT/graphql" -key "$KEY" -pid "$SERVER_PID" -pg "$DB_URL" \
  -c "$CONNS" -d "${DURATION}s" -products "$PRODUCTS" -clk-tck "$(getconf CLK_TCK)" -json "$OUT/results.json" \
  -compare-sql "$OUT/q1.sql" \
  | tee "$OUT/bench.txt"
echo "server RSS after the load $(ps -o rss= -p "$SERVER_PID" | tr -d ' ') KiB"
kill -TERM "$SERVER_PID"
wait "$SERVER_PID" 2>/dev/null || true
SERVER_PID=

echo "== pgbench: the raw query, $CONNS clients, ${DURATION}s"
pgbench -n -M prepared -c "$CONNS" -j "$(nproc)" -T "$DURATION" -f "$OUT/q1.sql" "$DB_URL" | tee "$OUT/pgbench.txt"

PG_TPS=$(sed -n 's/^tps = \([0-9.]*\).*/\1/p' "$OUT/pgbench.txt" | head -n1)
Q1_RPS=$(sed -n 's/^Q1: .*errors: \([0-9.]*\) req\/s.*/\1/p' "$OUT/bench.txt")
echo
echo "== summary"
cat "$OUT/bench.txt"
echo "pgbench raw Q1 query: $PG_TPS transactions/s"
if [ -n "$PG_TPS" ] && [ -n "$Q1_RPS" ]; then
  awk -v a="$Q1_RPS" -v b="$PG_TPS" 'BEGIN { printf "Q1 through OmniSphere = %.0f%% of the raw query (target >= 50%%)\n", 100*a/b }'
fi
echo "results in $OUT (results.json, bench.txt, pgbench.txt, server.log)"
