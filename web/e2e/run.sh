#!/usr/bin/env bash
# The browser test (issue 9): installs playwright-core from the committed
# lockfile, builds the server and runs e2e.mjs against it in Debian's
# Chromium. .ci/run calls it; it also runs on its own:
#   bash web/e2e/run.sh          (screenshots in web/e2e/output)
set -euo pipefail
cd "$(dirname "$0")"

CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
if [ ! -x "$CHROMIUM" ]; then
  echo "Chromium is missing: install Debian's package (apt-get install -y chromium) or set CHROMIUM" >&2
  exit 1
fi
export CHROMIUM

npm ci --no-audit --no-fund --loglevel=error

bin="$(mktemp -d)/omnisphere"
(cd ../.. && go build -o "$bin" .)
trap 'rm -rf "$(dirname "$bin")"' EXIT

OMNISPHERE_BIN="$bin" E2E_OUT="${E2E_OUT:-$PWD/output}" node e2e.mjs
