#!/bin/sh
# Installs the pinned Parquet reader the e2e tests use to read Firehose's Parquet objects
# with a reader other than DuckDB. node_modules stays outside git.
set -eu
cd "$(dirname "$0")"
[ -d node_modules/hyparquet ] || npm install --no-audit --no-fund --no-save hyparquet@1.31.5 >/dev/null
