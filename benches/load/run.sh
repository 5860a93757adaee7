#!/usr/bin/env bash
# Load benchmark entry point: installs what it needs, builds the release binaries, runs benches/load/bench.py.
#
#   benches/load/run.sh [--rounds 8] [--seconds 8] [--scenarios a,b,c] [--quick] [--full-scale] [--out DIR]
#
# The gateway (and nginx as the plain-proxy baseline) alone on CPU 1, wrk and the upstream nginx on CPU 0; paired,
# alternating rounds; results in DIR/results.md, DIR/plot.svg and DIR/results.json (default target/load-bench).
# `python3 benches/load/bench.py --help` lists the scenarios and options. Needs 2 CPUs or more; binds 127.0.0.1 only.
# Installs nginx-light and wrk from Debian when missing (root). The driver's own tests: python3 benches/load/tests.py
set -euo pipefail
cd "$(dirname "$0")/../.."

need=()
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || need+=(nginx-light)
command -v wrk >/dev/null || need+=(wrk)
command -v taskset >/dev/null || need+=(util-linux)
command -v python3 >/dev/null || need+=(python3)
if [ ${#need[@]} -gt 0 ]; then
    echo "installing ${need[*]}" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
if [ "$(nproc)" -lt 2 ]; then
    echo "the load benchmark pins the server under test and the load generator to different CPUs: needs 2" >&2
    exit 1
fi

# The release gateway; the demo binary only serves the identity provider of the OpenID Connect scenario; the
# floor binary is the bare hyper + tokio proxy of the floor scenario.
cargo build --release --locked -q -p gateway --bin gateway
cargo build --release --locked -q -p steps --bin demo
cargo build --release --locked -q -p benches --bin floor

BENCH_ENTRY=benches/load/run.sh exec python3 benches/load/bench.py "$@"
