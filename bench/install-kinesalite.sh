#!/bin/sh
# Installs kinesalite (a Node.js Kinesis emulator, the comparison point of bench/run.sh)
# into third_party/node_modules with npm, pinned. A no-op once it is there.
set -eu
KINESALITE_VERSION=3.3.3
cd "$(dirname "$0")/.."
if [ -f third_party/node_modules/kinesalite/cli.js ] &&
    grep -q "\"version\": \"$KINESALITE_VERSION\"" third_party/node_modules/kinesalite/package.json; then
    exit 0
fi
command -v npm >/dev/null 2>&1 || { echo "install-kinesalite: npm is needed (apt-get install npm)" >&2; exit 1; }
mkdir -p third_party
npm install --prefix third_party --no-audit --no-fund --loglevel=error "kinesalite@$KINESALITE_VERSION"
