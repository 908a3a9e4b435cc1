#!/usr/bin/env bash
# Installs DuckDB's C library for Sluice into third_party/duckdb/ (outside git).
#
# DuckDB is not packaged by Debian 12. Its official build of the C library, libduckdb.so
# (with the parquet, json and icu extensions built in), ships inside the npm registry
# package @duckdb/node-bindings-linux-x64. This script fetches one pinned version of that
# package with `npm pack`, refuses it unless its sha256 is the one written below, and
# unpacks libduckdb.so. When the library of the pinned version is already in place it
# only checks and returns, so `make` can call it every time.
#
# Elsewhere (another architecture, no npm) the same library comes from DuckDB's release
# archive (libduckdb-linux-*.zip); put libduckdb.so in third_party/duckdb/ by hand and
# write the pinned version into third_party/duckdb/VERSION.
set -euo pipefail

NPM_PACKAGE=@duckdb/node-bindings-linux-x64
NPM_VERSION=1.5.6-r.1 # DuckDB v1.5.6
TARBALL_SHA256=1b9f82478539bb9a1d1df44bd103121a12ae52142c07158dc52b97d2ec1d69ff

root="$(cd "$(dirname "$0")/.." && pwd)"
dest="$root/third_party/duckdb"

installed() {
    [ -f "$dest/libduckdb.so" ] && [ "$(cat "$dest/VERSION" 2>/dev/null)" = "$NPM_VERSION" ]
}
installed && exit 0

# `make -j` may start us twice (the deps target and the library's own rule): the second
# waits for the first and then finds the library in place.
mkdir -p "$dest"
exec 9>"$dest/.install.lock"
flock 9
installed && exit 0

if [ "$(uname -s)-$(uname -m)" != "Linux-x86_64" ]; then
    echo "install-duckdb: $NPM_PACKAGE is for Linux x86-64; put libduckdb.so from DuckDB's" \
        "release archive in $dest by hand" >&2
    exit 1
fi
command -v npm >/dev/null || { echo "install-duckdb: npm is needed (Debian: apt-get install npm)" >&2; exit 1; }

echo "install-duckdb: fetching $NPM_PACKAGE@$NPM_VERSION"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "$NPM_PACKAGE@$NPM_VERSION" >/dev/null)
tarball=("$work"/*.tgz)
if [ ${#tarball[@]} -ne 1 ] || [ ! -f "${tarball[0]}" ]; then
    echo "install-duckdb: npm pack produced no tarball" >&2
    exit 1
fi
got="$(sha256sum "${tarball[0]}" | cut -d' ' -f1)"
if [ "$got" != "$TARBALL_SHA256" ]; then
    echo "install-duckdb: sha256 mismatch for $NPM_PACKAGE@$NPM_VERSION:" \
        "expected $TARBALL_SHA256, got $got" >&2
    exit 1
fi
tar -xzf "${tarball[0]}" -C "$work" package/libduckdb.so package/LICENSE

# Replace atomically: a build running beside us sees the old library or the new one.
install -m 0644 "$work/package/libduckdb.so" "$dest/.libduckdb.so.tmp"
install -m 0644 "$work/package/LICENSE" "$dest/LICENSE"
mv -f "$dest/.libduckdb.so.tmp" "$dest/libduckdb.so"
echo "$NPM_VERSION" >"$dest/VERSION"
echo "install-duckdb: installed DuckDB ($NPM_VERSION) in $dest"
