#!/bin/sh
# Installs s3rver (a Node.js S3 emulator, the comparison point of bench/s3_bench.sh)
# into third_party/node_modules with npm, pinned. A no-op once it is there.
set -eu
S3RVER_VERSION=3.7.1
cd "$(dirname "$0")/.."
if [ -f third_party/node_modules/s3rver/package.json ] &&
    grep -q "\"version\": \"$S3RVER_VERSION\"" third_party/node_modules/s3rver/package.json; then
    exit 0
fi
command -v npm >/dev/null 2>&1 || { echo "install-s3rver: npm is needed (apt-get install npm)" >&2; exit 1; }
mkdir -p third_party
npm install --prefix third_party --no-audit --no-fund --loglevel=error "s3rver@$S3RVER_VERSION"
