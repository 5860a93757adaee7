#!/usr/bin/env bash
# ci/soak.sh [--debug] [seconds]: a bounded soak of the gateway on loopback (default 180 s).
#
# Builds the gateway (release; `--debug` or SOAK_DEBUG=1 uses a debug build, cheaper while developing) and the
# driver `benches/src/bin/soak.rs`, which starts an upstream on 127.0.0.1:0 and the gateway on free loopback
# ports with fixtures/config/key-auth-session.yaml pointed at that upstream and
# `--nginx-http-client-header-timeout 2s`, then runs side by side until the time is up:
#   - login clients: key -> 200 + cookie, 3 x cookie -> 200, logout -> 200, old cookie -> 403, no key -> 403;
#   - slow clients: half a request header, then silence; the gateway must close them after 2 s;
#   - Admin API writers: create a consumer and a key, use the key (200), delete the consumer, key -> 403.
# Every 10 s it prints requests, unexpected outcomes and the gateway's RSS (VmRSS). It fails when any
# outcome was unexpected, no slow client was closed, or the RSS grew more than 20 % from the first sample after
# the warm-up (half the run: RSS climbs for about a minute while the allocator and pools reach their working
# size) to the last. The last line is `soak: PASS` or `soak: FAIL`.
#
# Environment: SOAK_CLIENTS (4), SOAK_SLOW (4), SOAK_WRITERS (2), SOAK_MAX_GROWTH_PERCENT (20),
# SOAK_WARMUP (seconds; default half the run).
# Not part of ci/test.sh (it takes minutes); run it by hand or on a schedule.
set -euo pipefail

cd "$(dirname "$0")/.."

profile=release
seconds=180
for arg in "$@"; do
  case $arg in
    --debug) profile=debug ;;
    *[!0-9]* | '')
      echo "usage: ci/soak.sh [--debug] [seconds]" >&2
      exit 2
      ;;
    *) seconds=$arg ;;
  esac
done
if [[ ${SOAK_DEBUG:-} == 1 ]]; then
  profile=debug
fi

target_dir=${CARGO_TARGET_DIR:-target}
if [[ $profile == release ]]; then
  cargo build --release --locked -p gateway --bin gateway
else
  cargo build --locked -p gateway --bin gateway
fi
# The driver only generates load: a debug build is enough and saves a release build of its crate.
cargo build --locked -p benches --bin soak

exec "$target_dir/debug/soak" \
  --gateway "$target_dir/$profile/gateway" \
  --config fixtures/config/key-auth-session.yaml \
  --seconds "$seconds" \
  --clients "${SOAK_CLIENTS:-4}" \
  --slow "${SOAK_SLOW:-4}" \
  --writers "${SOAK_WRITERS:-2}" \
  --max-growth-percent "${SOAK_MAX_GROWTH_PERCENT:-20}" \
  --warmup "${SOAK_WARMUP:-$((seconds / 2))}"
