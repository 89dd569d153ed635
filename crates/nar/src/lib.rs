//! Nix-compatible content hashing, written from the NAR format description and checked against
//! Nix itself (see `tests/nix.rs` in the workspace root).
//!
//! * [`dump_path`] streams the NAR serialization of a file, symlink or directory tree into any
//!   [`std::io::Write`] (a hasher, a file); file contents are streamed, never held in memory.
//! * [`nar_hash`] / [`nar_hash_and_size`] hash a path the way `nix-hash --type sha256` and
//!   `nix hash path` do; [`nar_hash_with_file_digests`] also returns every file's sha256 from
//!   the same single read (what a package plan needs).
//! * [`Tree`] describes a tree in memory (contents inline or streamed from a file) and serializes
//!   to exactly the NAR the same tree on disk would give.
//! * [`encoding`]: nix-base32, SRI (`sha256-<base64>`) and hex renderings.
//! * [`store_path`]: the `/nix/store/<hash>-<name>` path Nix gives a recursively (NAR) hashed
//!   fixed-output path, plus Nix's store name rules.
//! * [`narinfo`]: a binary cache's `.narinfo` text, the fingerprint Nix signs and the `CA:` value
//!   of such a path.
//!
//! Why our own code: the published `nix-compat` crate is an empty placeholder and the real one is
//! GPL-3.0 and not on crates.io; the format is small and fully pinned down by Nix's output.

mod dump;
pub mod encoding;
pub mod narinfo;
pub mod store_path;
mod tree;
mod wire;

use std::path::PathBuf;

pub use dump::{dump_path, nar_hash, nar_hash_and_size, nar_hash_with_file_digests, FileDigest};
pub use encoding::{nix32, sri_sha256};
pub use store_path::{compress_hash, store_path_for, validate_store_name};
pub use tree::{Contents, Tree};

/// The magic string every NAR starts with (itself NAR-string encoded).
pub const NAR_MAGIC: &str = "nix-archive-1";

/// Everything that can go wrong while serializing or naming.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write the NAR stream: {0}")]
    Write(#[source] std::io::Error),
    #[error(
        "{path} is a {kind}; a NAR can only hold regular files, symlinks and directories \
         (remove it or exclude it from the input)"
    )]
    UnsupportedFileType { path: PathBuf, kind: &'static str },
    #[error("{path} changed size while it was being hashed (expected {expected} bytes); hash it again once nothing writes to it")]
    FileChanged { path: PathBuf, expected: u64 },
    #[error("invalid entry name {name:?} in a NAR tree: {reason}")]
    InvalidEntryName { name: String, reason: &'static str },
    #[error("invalid store path name {name:?}: {reason}")]
    InvalidStoreName { name: String, reason: String },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
