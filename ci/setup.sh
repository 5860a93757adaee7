#!/usr/bin/env bash
# Installs what the tests need that cargo does not fetch. Idempotent; safe to run on every CI run.
# The Rust toolchain is checked here; system packages the tests need are installed below with apt-get
# (never by hand).
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

# PostgreSQL (gateway/tests/postgres.rs starts private servers from Debian's package: initdb + pg_ctl on a free
# loopback port, as the postgres user) and redis-server (private servers for Redis session storage). Only the
# packages: no system service is started or needed.
missing=()
if ! compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null; then missing+=(postgresql); fi
if ! command -v psql >/dev/null 2>&1; then missing+=(postgresql-client); fi
if ! command -v redis-server >/dev/null 2>&1; then missing+=(redis-server); fi
if ((${#missing[@]})); then
    echo "ci/setup.sh: installing ${missing[*]} from Debian" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
if ! id postgres >/dev/null 2>&1; then
    echo "ci/setup.sh: the postgres user is missing after installing postgresql" >&2
    exit 1
fi
