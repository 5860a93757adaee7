#!/usr/bin/env bash
# The whole test suite, as the README documents it and as .ci/run calls it:
# unit tests of every crate, the criterion benches in test mode (each runs once),
# and the Gherkin conformance suite against the in-process reference gateway.
set -euo pipefail
cd "$(dirname "$0")/.."

bash ci/setup.sh

cargo test --workspace --all-targets --locked "$@"
