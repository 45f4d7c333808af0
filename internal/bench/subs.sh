#!/usr/bin/env bash
# The subscription fan-out benchmark (docs/benchmarks.md): two server
# processes on one scratch PostgreSQL database and one Redis, SUBS_N
# WebSocket subscribers of inventoryAlerts spread over both, SUBS_RATE
# low-stock events per second caused through the admin API for SUBS_DURATION.
#
#   internal/bench/subs.sh
#
# Environment (all optional):
#   BENCH_DATABASE_URL  admin URL of PostgreSQL with a database path (postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable)
#   BENCH_REDIS_URL     Redis for both servers (redis://127.0.0.1:6379/14)
#   SUBS_N              subscribers (1000)
#   SUBS_RATE           events per second (10)
#   SUBS_DURATION       measured time (20s)
#   SUBS_BIN_DIR        a directory with prebuilt omnisphere and subs binaries (default: build them)
#   SUBS_SERVER_ENV     extra environment of the servers, e.g. "GOMAXPROCS=1 GOGC=200"
#   SUBS_NICE           run the servers and the generator at this nice level (e.g. -5, as root), so that
#                       other work on a shared machine does not take their CPU; PostgreSQL and Redis keep theirs
#
# The machine is shared: the load average is printed before and after, and
# the generator reports how busy the whole machine was.
set -euo pipefail
cd "$(dirname "$0")/../.."
ADMIN_URL=${BENCH_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable}
REDIS=${BENCH_REDIS_URL:-redis://127.0.0.1:6379/14}
OUT=$(mktemp -d -t omnisphere-subs-XXXXXX)
DB="omni_subs_$(date +%Y%m%d_%H%M%S)_$$"
base=${ADMIN_URL%%\?*}
query=${ADMIN_URL#"$base"}
DB_URL="${base%/*}/$DB$query"
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  psql -q "$ADMIN_URL" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
}
trap cleanup EXIT
if [ -n "${SUBS_BIN_DIR:-}" ]; then
  cp "$SUBS_BIN_DIR/omnisphere" "$SUBS_BIN_DIR/subs" "$OUT/"
else
  go build -o "$OUT/omnisphere" .
  go build -o "$OUT/subs" ./internal/bench/subs
fi
psql -q -v ON_ERROR_STOP=1 "$ADMIN_URL" -c "CREATE DATABASE $DB"
SECRET=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
common=("DATABASE_URL=$DB_URL" "REDIS_URL=$REDIS" "JWT_SECRET=$SECRET" "LOG_LEVEL=warn"
  "SUBSCRIPTIONS_PER_MERCHANT=0" "RATE_LIMIT_BUCKET=1000000000" "RATE_LIMIT_RESTORE_RATE=1000000000" "BCRYPT_COST=10")
env "${common[@]}" "$OUT/omnisphere" migrate >/dev/null
for port in 18081 18082; do
  # shellcheck disable=SC2086 # SUBS_SERVER_ENV is a list of words
  nice -n "${SUBS_NICE:-0}" env "${common[@]}" ${SUBS_SERVER_ENV:-} PORT=$port AUTO_MIGRATE=false DATA_DIR="$OUT/data$port" "$OUT/omnisphere" --no-demo >"$OUT/server$port.log" 2>&1 &
  PIDS+=($!)
done
for port in 18081 18082; do
  for _ in $(seq 1 100); do curl -fsS "http://127.0.0.1:$port/ready" >/dev/null 2>&1 && break; sleep 0.2; done
done
rest=$(( $(ps -o rss= -p "${PIDS[0]}") + $(ps -o rss= -p "${PIDS[1]}") ))
echo "servers: ${PIDS[*]}, RSS at rest $rest KiB; $(uptime)"
nice -n "${SUBS_NICE:-0}" "$OUT/subs" -urls http://127.0.0.1:18081,http://127.0.0.1:18082 -n "${SUBS_N:-1000}" -rate "${SUBS_RATE:-10}" \
  -d "${SUBS_DURATION:-20s}" -pids "${PIDS[0]},${PIDS[1]}" -rss-rest "$rest" -clk-tck "$(getconf CLK_TCK)"
echo "after: $(uptime)"
