#!/usr/bin/env bash
# ci/fuzz.sh [seconds-per-target]: fuzz the parsers a client or an operator feeds, each for a bounded time.
#
# Targets (gateway/src/proptests/): cookie (Cookie headers through the proxy pipeline and the session plugin),
# admin_form (the Admin API form decoder), normalize (the path normaliser), declarative (the kong.yml loader),
# admin_api (Admin API JSON/form bodies through the admin router).
#
# Engine: proptest, run in batches with fresh random seeds until the time budget is spent
# (GATEWAY_FUZZ_SECONDS), inputs from grammar-aware strategies and byte-level mutations of real inputs
# (issued cookies, the shipped kong.yml files, valid Admin bodies). Why not a coverage-guided fuzzer:
#   - cargo-fuzz (libFuzzer) needs a nightly toolchain; this project builds on stable only.
#   - AFL++ through afl.rs (`cargo afl`) builds AFL++ from source and adds the `afl` crate; its LLVM plugin
#     mode must match rustc's LLVM (22 here, Debian's afl++ is built on an older one), and the gateway's
#     targets reach crate-private test helpers. Possible later as a separate crate outside the workspace.
#   The same properties run with 256 cases in the normal suite (`cargo test -p gateway --lib proptests`).
#
# Each target runs alone in the test binary, under `timeout` (a hang: no end within the budget + a grace
# period) and `prlimit --as` (unbounded memory: an allocation fails and the process aborts). A failing case
# is printed shrunk. Exits non-zero if any target panicked, hung or ran out of memory; the last line says
# which targets ran clean for how long.
#
# Environment: FUZZ_MEM_MB (address-space cap per target, default 4096), FUZZ_GRACE (seconds, default 60),
# FUZZ_TARGETS (space-separated subset).
set -euo pipefail

cd "$(dirname "$0")/.."

SECONDS_PER_TARGET=${1:-60}
MEM_MB=${FUZZ_MEM_MB:-4096}
GRACE=${FUZZ_GRACE:-60}
TARGETS=${FUZZ_TARGETS:-"cookie admin_form normalize declarative admin_api"}

if ! [[ $SECONDS_PER_TARGET =~ ^[0-9]+$ ]] || ((SECONDS_PER_TARGET < 1)); then
  echo "usage: ci/fuzz.sh [seconds-per-target]" >&2
  exit 2
fi

# timeout (coreutils) and prlimit (util-linux): present on Debian, installed if missing.
if ! command -v timeout >/dev/null || ! command -v prlimit >/dev/null; then
  apt-get update -qq && apt-get install -y -qq coreutils util-linux >/dev/null
fi

echo "fuzz: building the gateway's test binary"
build_log=$(mktemp)
trap 'rm -f "$build_log"' EXIT
if ! cargo test -p gateway --lib --locked --no-run >"$build_log" 2>&1; then
  cat "$build_log" >&2
  exit 1
fi
binary=$(sed -n 's/.*Executable unittests src\/lib.rs (\(.*\))/\1/p' "$build_log" | tail -n 1)
if [[ -z $binary || ! -x $binary ]]; then
  cat "$build_log" >&2
  echo "fuzz: cannot find the gateway's unit-test binary" >&2
  exit 1
fi

failed=()
for target in $TARGETS; do
  echo "fuzz: $target for ${SECONDS_PER_TARGET}s (memory cap ${MEM_MB} MiB)"
  log=$(mktemp)
  set +e
  GATEWAY_FUZZ_SECONDS=$SECONDS_PER_TARGET RUST_BACKTRACE=1 \
    timeout --kill-after=10 $((SECONDS_PER_TARGET + GRACE)) \
    prlimit --as=$((MEM_MB * 1024 * 1024)) -- \
    "$binary" "proptests::$target::" --test-threads=1 --nocapture >"$log" 2>&1
  rc=$?
  set -e
  grep -E '^fuzz |^test proptests' "$log" || true
  if grep -q '^test result: ok. 0 passed' "$log"; then
    echo "fuzz: $target: no such target" >&2
    failed+=("$target (no test)")
  elif ((rc == 0)); then
    :
  elif ((rc == 124 || rc == 137)); then
    tail -n 20 "$log" >&2
    failed+=("$target (hang: no end within $((SECONDS_PER_TARGET + GRACE))s)")
  elif grep -q 'memory allocation of .* failed\|out of memory\|Cannot allocate memory' "$log"; then
    tail -n 20 "$log" >&2
    failed+=("$target (memory: over ${MEM_MB} MiB)")
  else
    grep -A 40 'panicked at' "$log" | head -n 60 >&2 || tail -n 40 "$log" >&2
    failed+=("$target (panic or failed property, exit $rc)")
  fi
  rm -f "$log"
done

if ((${#failed[@]} > 0)); then
  echo "fuzz: FAILED: ${failed[*]}"
  exit 1
fi
echo "fuzz: all targets ran clean for ${SECONDS_PER_TARGET}s each: ${TARGETS// /, }"
