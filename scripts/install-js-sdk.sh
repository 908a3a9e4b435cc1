#!/usr/bin/env bash
# Installs what the end-to-end tests run under node into tests/e2e/js/node_modules
# (outside git): the AWS SDK for JavaScript v3 clients (tests/e2e/test_js_sdk.py) and
# hyparquet, the Parquet reader that checks Firehose's objects with a reader other than
# DuckDB (tests/e2e/test_firehose_convert.py).
#
# The versions are pinned, with their integrity hashes, by tests/e2e/js/package-lock.json;
# `npm ci` installs exactly that tree from the npm registry. When the installed tree is
# the one the lock file describes this script only checks and returns, so make test can
# call it every time.
set -euo pipefail

dir="$(cd "$(dirname "$0")/.." && pwd)/tests/e2e/js"

installed() {
    [ -f "$dir/node_modules/.package-lock.json" ] &&
        [ "$dir/node_modules/.package-lock.json" -nt "$dir/package-lock.json" ] &&
        [ -d "$dir/node_modules/@aws-sdk/client-kinesis" ] &&
        [ -d "$dir/node_modules/hyparquet" ]
}
installed && exit 0

command -v npm >/dev/null || { echo "install-js-sdk: npm is needed (Debian: apt-get install npm)" >&2; exit 1; }
mkdir -p "$dir/node_modules"
exec 9>"$dir/node_modules/.install.lock"
flock 9
installed && exit 0

echo "install-js-sdk: installing the pinned AWS SDK for JavaScript v3 clients in $dir"
(cd "$dir" && npm ci --no-audit --no-fund --silent)
touch "$dir/node_modules/.package-lock.json"
