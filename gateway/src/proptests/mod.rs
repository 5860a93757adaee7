//! Property tests over the parsers that read what a client or an operator sends: session cookies (through
//! the proxy pipeline and the session plugin), Admin API form and JSON bodies, the path normaliser and the
//! declarative loader. Each property runs [`CASES`] random cases in the normal test suite; with
//! `GATEWAY_FUZZ_SECONDS=N` in the environment it keeps running fresh batches (new random seeds) for N
//! seconds, which is how `ci/fuzz.sh` fuzzes them on a stable toolchain (see the script for why not
//! cargo-fuzz or AFL++).
//!
//! Each property lives with the code it covers in spirit but in this one folder, because several cross
//! modules (a cookie goes through the proxy, the session plugin and `resty_session`). Failures report the
//! shrunk input; a found bug becomes an `#[ignore]`d regression test with a comment `fails: <reason>`.

mod admin_api;
mod admin_form;
mod cookie;
mod declarative;
mod normalize;

use std::fmt::Debug;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseResult, TestRunner};

/// Random cases per property in the normal suite.
pub const CASES: u32 = 256;

/// Environment variable: keep running batches of [`CASES`] for this many seconds.
pub const FUZZ_SECONDS: &str = "GATEWAY_FUZZ_SECONDS";

/// Runs `test` on values from `strategy`: [`CASES`] cases, or batches of them until the fuzzing deadline.
/// Panics with the shrunk failing input when a case fails or panics.
pub fn check<S>(name: &str, strategy: S, test: impl Fn(S::Value) -> TestCaseResult)
where
    S: Strategy,
    S::Value: Debug,
{
    let budget = std::env::var(FUZZ_SECONDS)
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .map(Duration::from_secs);
    let started = Instant::now();
    let mut cases = 0u64;
    loop {
        let config = Config {
            cases: CASES,
            failure_persistence: None,
            ..Config::default()
        };
        let mut runner = TestRunner::new(config);
        if let Err(err) = runner.run(&strategy, &test) {
            panic!("{name}: {err}");
        }
        cases += u64::from(CASES);
        match budget {
            Some(budget) if started.elapsed() < budget => {}
            _ => break,
        }
    }
    if budget.is_some() {
        eprintln!(
            "fuzz {name}: {cases} cases clean in {:.0?}",
            started.elapsed()
        );
    }
}

/// One edit of a byte string; positions are taken modulo the current length.
#[derive(Debug, Clone)]
pub enum Mutation {
    /// Replace one byte.
    Set(usize, u8),
    /// Flip one bit.
    Flip(usize, u8),
    /// Remove up to `n` bytes.
    Delete(usize, usize),
    /// Insert bytes.
    Insert(usize, Vec<u8>),
    /// Copy a slice of the input to another position.
    Duplicate(usize, usize, usize),
    /// Cut the input short.
    Truncate(usize),
}

/// Up to `max` random mutations.
pub fn mutations(max: usize) -> impl Strategy<Value = Vec<Mutation>> {
    let one = prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Set(i, b)),
        (any::<usize>(), 0u8..8).prop_map(|(i, bit)| Mutation::Flip(i, bit)),
        (any::<usize>(), 1usize..64).prop_map(|(i, n)| Mutation::Delete(i, n)),
        (any::<usize>(), prop::collection::vec(any::<u8>(), 1..16))
            .prop_map(|(i, b)| Mutation::Insert(i, b)),
        (any::<usize>(), 1usize..256, any::<usize>())
            .prop_map(|(from, n, to)| Mutation::Duplicate(from, n, to)),
        any::<usize>().prop_map(Mutation::Truncate),
    ];
    prop::collection::vec(one, 0..=max)
}

/// Applies `edits` to a copy of `base`.
pub fn mutate(base: &[u8], edits: &[Mutation]) -> Vec<u8> {
    let mut out = base.to_vec();
    for edit in edits {
        let at = |i: usize, len: usize| if len == 0 { 0 } else { i % len };
        match edit {
            Mutation::Set(i, b) if !out.is_empty() => {
                let i = at(*i, out.len());
                out[i] = *b;
            }
            Mutation::Flip(i, bit) if !out.is_empty() => {
                let i = at(*i, out.len());
                out[i] ^= 1 << bit;
            }
            Mutation::Delete(i, n) if !out.is_empty() => {
                let i = at(*i, out.len());
                let end = (i + n).min(out.len());
                out.drain(i..end);
            }
            Mutation::Insert(i, bytes) => {
                let i = at(*i, out.len() + 1);
                out.splice(i..i, bytes.iter().copied());
            }
            Mutation::Duplicate(from, n, to) if !out.is_empty() => {
                let from = at(*from, out.len());
                let end = (from + n).min(out.len());
                let piece = out[from..end].to_vec();
                let to = at(*to, out.len() + 1);
                out.splice(to..to, piece);
            }
            Mutation::Truncate(i) => {
                let i = at(*i, out.len() + 1);
                out.truncate(i);
            }
            _ => {}
        }
    }
    out
}

/// A current-thread runtime for properties that drive async code case by case.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}
