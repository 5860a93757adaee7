#!/usr/bin/env bash
# Installs what the tests need that cargo does not fetch. Idempotent; safe to run on every CI run.
# Today the suite needs only the Rust toolchain (checked here); system packages go below when a
# test starts needing one (install them with apt-get, never by hand).
set -euo pipefail

if ! command -v cargo >/dev/null 2>&1; then
    echo "ci/setup.sh: cargo not found; install a Rust toolchain (rustup) first" >&2
    exit 1
fi

# python3 serves the "not Kong" JSON target in ci/test.sh (and runs the load benchmark's driver).
if ! command -v python3 >/dev/null 2>&1; then
    echo "ci/setup.sh: installing python3 from Debian" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3 >/dev/null
fi
