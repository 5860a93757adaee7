//! The conformance harness's backends: the pieces the Gherkin scenarios run against besides the gateway under
//! test, and the demo that shows the documented flow by hand.
//!
//! * [`echo`]: an upstream that answers every request with a JSON description of what it received.
//! * [`fixture`]: the declarative configs under `fixtures/config/`, ready to load.
//!
//! Step definitions do **not** live here but in the `conformance` test target (`tests/conformance/`): the linker
//! drops step functions that sit in a library (cucumber-rs issues #271, #304, #347).

pub mod echo;
pub mod fixture;
pub mod idp;

pub use echo::EchoUpstream;
