#!/usr/bin/env bash
# Installs what the tests need that cargo does not fetch. Idempotent; safe to run on every CI run.
# Today the suite needs only the Rust toolchain (checked here); system packages go below when a
# test starts needing one (install them with apt-get, never by hand).
set -euo pipefail

if ! command -v cargo >/dev/null 2>&1; then
    echo "ci/setup.sh: cargo not found; install a Rust toolchain (rustup) first" >&2
    exit 1
fi
