//! lucia-pkg: one manifest → reproducible deb, rpm, tar.gz and multi-arch OCI release artifacts.
//!
//! Flow: `manifest` (TOML → validated Spec) → `plan` (payload scan → per-arch Plan) →
//! `formats` (one writer crate per format) → `output` (atomic files, SHA256SUMS, build-info.json).
//!
//! The library holds every stage; `src/main.rs` is the command line around it. The modules the
//! binary, the integration tests (tests/store.rs, tests/hostile_inputs.rs) and the fuzz targets
//! (fuzz/fuzz_targets/) call are public; the rest is internal to the pipeline.

mod after;
pub mod build;
pub mod cli;
mod deploy;
pub mod error;
pub mod formats;
#[doc(hidden)]
pub mod fuzz_inspect;
pub mod image_sign;
pub mod init;
pub mod manifest;
pub mod nix_cache;
mod output;
mod payload_builder;
mod plan;
pub mod progress;
pub mod provenance;
pub mod registry_cache;
pub mod repo;
mod sbom;
mod schedule;
pub mod signals;
mod signing_key;
pub mod store;
pub mod sums_sign;
pub mod verify;
pub mod verify_release;
