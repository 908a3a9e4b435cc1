#!/usr/bin/env bash
# Installs what Sluice needs to build, test and benchmark, by Debian package name.
# Quick when everything is present: it only checks.
set -euo pipefail

apt_packages=(
    build-essential pkg-config clang libclang-rt-dev
    libnghttp2-dev libssl-dev libjansson-dev libsqlite3-dev zlib1g-dev libcmocka-dev
    libjq-dev libsnappy-dev tzdata
    awscli python3-boto3 python3-pytest python3-requests python3-h2
    default-jdk-headless libjackson2-dataformat-cbor
    nodejs npm
    chromium strace
)

missing=()
for p in "${apt_packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done
# node and npm may come from elsewhere on a developer's machine; that is enough.
if command -v node >/dev/null && command -v npm >/dev/null; then
    tmp=()
    for p in "${missing[@]}"; do
        [[ $p == nodejs || $p == npm ]] || tmp+=("$p")
    done
    missing=("${tmp[@]+"${tmp[@]}"}")
fi
# The console's browser test needs a chromium binary, from Debian or elsewhere.
if command -v chromium >/dev/null || command -v chromium-browser >/dev/null; then
    tmp=()
    for p in "${missing[@]+"${missing[@]}"}"; do
        [[ $p == chromium ]] || tmp+=("$p")
    done
    missing=("${tmp[@]+"${tmp[@]}"}")
fi

if [ ${#missing[@]} -gt 0 ]; then
    echo "install-deps: installing ${missing[*]}"
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -q
    $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# DuckDB's C library (not in Debian) from its pinned npm package, into third_party/duckdb/.
"$(dirname "$0")/install-duckdb.sh"
