//! Fuzzes the oci reader behind `lucia-pkg inspect`: arbitrary bytes must give a report or
//! an error within the reader limits, never a panic, a hang or unbounded memory; the text
//! report must be terminal-safe. The body lives in ../src/inspect.rs, shared with the corpus
//! replay in tests/hostile_inputs.rs.
#![no_main]

#[path = "../src/inspect.rs"]
mod inspect;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| inspect::inspect_oci(data));
