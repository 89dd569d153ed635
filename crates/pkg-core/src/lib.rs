//! The heart every format writer shares.
//!
//! A format writer (tar, deb, rpm, OCI) consumes a [`plan::Plan`] and nothing else. Everything the
//! writers have in common is defined here exactly once, so that the formats cannot disagree:
//!
//! * [`arch`]: the one tested table of architecture names (deb, rpm, OCI, .NET, Nix, ELF, Rust).
//! * [`version`]: how an upstream version maps onto deb and rpm version strings.
//! * [`determinism`]: the source date, ownership and mode rules.
//! * [`tar_stream`]: a streaming, deterministic tar writer over plan entries (used by tar, deb, OCI).
//! * [`compress`]: the codecs with fixed settings, streaming, independent of the core count.
//! * [`digest`]: sha256/md5 helpers that hash while data streams through.
//! * [`lifecycle`]: the service intent (user, dirs, units, policies) and the shell snippets that
//!   both the deb maintainer scripts and the rpm scriptlets are assembled from.
//! * [`render`]: the one quoting/rendering layer for shell words, sysusers.d/tmpfiles.d lines,
//!   package header fields and MANIFEST lines; it refuses values that would change their structure.

pub mod arch;
pub mod compress;
pub mod determinism;
pub mod digest;
pub mod lifecycle;
pub mod limits;
pub mod plan;
pub mod render;
pub mod sample;
pub mod segment;
pub mod tar_stream;
pub mod version;
pub mod xz_container;

pub use arch::Arch;
pub use plan::{Content, Entry, EntryKind, Owner, Plan};
