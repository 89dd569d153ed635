//! A tree described in memory (e.g. a build plan's entries) that serializes to exactly the NAR
//! the same tree would give on disk, so a plan can be hashed without materializing it.

use crate::wire::{self, ContentsError, Streamed};
use crate::{Error, Result, NAR_MAGIC};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Write};
use std::path::PathBuf;

/// Where a regular file's bytes come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Contents {
    /// Small generated content.
    Bytes(Vec<u8>),
    /// Streamed from this file when serializing (symlinks to it are followed).
    File(PathBuf),
}

/// One NAR node. Directory entries are keyed by raw name bytes; a `BTreeMap` over bytes sorts
/// exactly as Nix does (unsigned bytewise).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tree {
    Regular {
        executable: bool,
        contents: Contents,
    },
    Symlink {
        target: Vec<u8>,
    },
    Directory(BTreeMap<Vec<u8>, Tree>),
}

impl Default for Tree {
    fn default() -> Self {
        Tree::Directory(BTreeMap::new())
    }
}

impl Tree {
    /// An empty directory.
    pub fn dir() -> Tree {
        Tree::default()
    }

    /// A regular file with inline contents.
    pub fn bytes(contents: impl Into<Vec<u8>>, executable: bool) -> Tree {
        Tree::Regular {
            executable,
            contents: Contents::Bytes(contents.into()),
        }
    }

    /// A regular file whose contents are streamed from `source` at serialization time.
    pub fn file(source: impl Into<PathBuf>, executable: bool) -> Tree {
        Tree::Regular {
            executable,
            contents: Contents::File(source.into()),
        }
    }

    /// A symlink; the target is stored verbatim and never resolved.
    pub fn symlink(target: impl Into<Vec<u8>>) -> Tree {
        Tree::Symlink {
            target: target.into(),
        }
    }

    /// Inserts `node` at a `/`-separated relative path, creating missing parent directories.
    /// Replaces an existing node at that path. Components must be non-empty, not `.`/`..` and
    /// free of NUL bytes, as Nix requires of NAR entry names.
    pub fn insert(&mut self, path: &[u8], node: Tree) -> Result<()> {
        let parts: Vec<&[u8]> = path
            .split(|b| *b == b'/')
            .filter(|p| !p.is_empty())
            .collect();
        let Some((last, parents)) = parts.split_last() else {
            return Err(invalid(path, "the path names no entry"));
        };
        let mut cur = self;
        for part in parents {
            check_name(part)?;
            let Tree::Directory(map) = cur else {
                return Err(invalid(path, "a parent of it is not a directory"));
            };
            cur = map.entry(part.to_vec()).or_default();
        }
        check_name(last)?;
        match cur {
            Tree::Directory(map) => {
                map.insert(last.to_vec(), node);
                Ok(())
            }
            _ => Err(invalid(path, "its parent is not a directory")),
        }
    }

    /// Writes the complete NAR (magic included) into `w`.
    pub fn dump<W: Write + ?Sized>(&self, w: &mut W) -> Result<()> {
        wire::token(w, NAR_MAGIC.as_bytes()).map_err(Error::Write)?;
        self.node(w)
    }

    /// NAR sha256 of the tree, as [`crate::nar_hash`] gives for the same tree on disk.
    pub fn nar_hash(&self) -> Result<[u8; 32]> {
        self.nar_hash_and_size().map(|(h, _)| h)
    }

    /// NAR sha256 and NAR length in bytes.
    pub fn nar_hash_and_size(&self) -> Result<([u8; 32], u64)> {
        let mut sink = crate::dump::HashCount::default();
        self.dump(&mut sink)?;
        Ok(sink.finish())
    }

    fn node<W: Write + ?Sized>(&self, w: &mut W) -> Result<()> {
        let put = |w: &mut W, list: &[&[u8]]| wire::tokens(w, list).map_err(Error::Write);
        put(w, &[b"("])?;
        match self {
            Tree::Symlink { target } => put(w, &[b"type", b"symlink", b"target", target])?,
            Tree::Directory(map) => {
                put(w, &[b"type", b"directory"])?;
                for (name, child) in map {
                    put(w, &[b"entry", b"(", b"name", name, b"node"])?;
                    child.node(w)?;
                    put(w, &[b")"])?;
                }
            }
            Tree::Regular {
                executable,
                contents,
            } => {
                put(w, &[b"type", b"regular"])?;
                if *executable {
                    put(w, &[b"executable", b""])?;
                }
                put(w, &[b"contents"])?;
                match contents {
                    Contents::Bytes(b) => wire::token(w, b).map_err(Error::Write)?,
                    Contents::File(p) => stream_file(p, w)?,
                }
            }
        }
        put(w, &[b")"])
    }
}

fn stream_file<W: Write + ?Sized>(path: &PathBuf, w: &mut W) -> Result<()> {
    let io = |source: io::Error| Error::Io {
        path: path.clone(),
        source,
    };
    let mut f = File::open(path).map_err(io)?;
    let md = f.metadata().map_err(io)?;
    if !md.is_file() {
        return Err(Error::UnsupportedFileType {
            path: path.clone(),
            kind: "non-regular file used as file contents",
        });
    }
    match wire::contents(w, md.len(), &mut f) {
        Ok(Streamed::Complete) => Ok(()),
        Ok(Streamed::LengthMismatch) => Err(Error::FileChanged {
            path: path.clone(),
            expected: md.len(),
        }),
        Err(ContentsError::Read(e)) => Err(io(e)),
        Err(ContentsError::Write(e)) => Err(Error::Write(e)),
    }
}

fn invalid(name: &[u8], reason: &'static str) -> Error {
    Error::InvalidEntryName {
        name: String::from_utf8_lossy(name).into_owned(),
        reason,
    }
}

fn check_name(name: &[u8]) -> Result<()> {
    if name == b"." || name == b".." {
        return Err(invalid(name, "'.' and '..' cannot be entry names"));
    }
    if name.contains(&0) {
        return Err(invalid(name, "entry names cannot contain NUL bytes"));
    }
    Ok(())
}
