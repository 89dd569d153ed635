//! Fuzzes the oci reader behind `lucia-pkg inspect`: arbitrary bytes must give a report or
//! an error within the reader limits, never a panic, a hang or unbounded memory; the text
//! report must be terminal-safe. The body is
//! `lucia_pkg::fuzz_inspect` (src/fuzz_inspect.rs), shared with the corpus replay in
//! tests/hostile_inputs.rs.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| lucia_pkg::fuzz_inspect::inspect_oci(data));
