//! Serializing a path on disk: the node at the path itself (a symlink is not followed), with
//! directory entries in bytewise name order, the owner-executable bit as Nix's `executable`
//! flag, symlink targets verbatim, and file contents streamed.

use crate::wire::{self, ContentsError, Streamed};
use crate::{Error, Result, NAR_MAGIC};
use sha2::{Digest, Sha256};
use std::ffi::OsString;
use std::fs::{self, File};
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Writes the complete NAR of `path` (magic included) into `w`.
pub fn dump_path<W: Write + ?Sized>(path: &Path, w: &mut W) -> Result<()> {
    wire::token(w, NAR_MAGIC.as_bytes()).map_err(Error::Write)?;
    node(path, w, &mut None)
}

/// One regular file met while hashing a tree: its path (as walked, i.e. `root.join(rel)`), its
/// length and the sha256 of its contents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileDigest {
    pub path: PathBuf,
    pub size: u64,
    pub sha256: [u8; 32],
}

/// The NAR sha256 and size of `path` plus the sha256 of every regular file in it, from a single
/// read of each file: the contents feed the NAR hash and the file's own hash together. Files are
/// listed in NAR order (bytewise by path).
pub fn nar_hash_with_file_digests(path: &Path) -> Result<([u8; 32], u64, Vec<FileDigest>)> {
    let mut sink = HashCount::default();
    let mut files = Some(Vec::new());
    wire::token(&mut sink, NAR_MAGIC.as_bytes()).map_err(Error::Write)?;
    node(path, &mut sink, &mut files)?;
    let (h, n) = sink.finish();
    Ok((h, n, files.unwrap_or_default()))
}

/// A reader that hashes what passes through it.
struct HashingReader<R> {
    inner: R,
    h: Sha256,
}

impl<R: io::Read> io::Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.h.update(&buf[..n]);
        Ok(n)
    }
}

/// The sha256 of the NAR of `path`: what `nix-hash --type sha256 PATH` prints (in hex / base32)
/// and `nix hash path PATH` prints in SRI form (see [`crate::sri_sha256`]).
pub fn nar_hash(path: &Path) -> Result<[u8; 32]> {
    nar_hash_and_size(path).map(|(h, _)| h)
}

/// The NAR sha256 and the NAR's length in bytes (Nix's `narSize`).
pub fn nar_hash_and_size(path: &Path) -> Result<([u8; 32], u64)> {
    let mut sink = HashCount::default();
    dump_path(path, &mut sink)?;
    Ok(sink.finish())
}

/// A `Write` sink that sha256-hashes and counts the NAR stream.
#[derive(Default)]
pub(crate) struct HashCount {
    h: Sha256,
    n: u64,
}

impl HashCount {
    pub(crate) fn finish(self) -> ([u8; 32], u64) {
        (self.h.finalize().into(), self.n)
    }
}

impl Write for HashCount {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.h.update(buf);
        self.n += buf.len() as u64;
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// `files`: when `Some`, every regular file's digest is appended (see
/// [`nar_hash_with_file_digests`]).
fn node<W: Write + ?Sized>(
    path: &Path,
    w: &mut W,
    files: &mut Option<Vec<FileDigest>>,
) -> Result<()> {
    let md = fs::symlink_metadata(path).map_err(io_err(path))?;
    let ft = md.file_type();
    let put = |w: &mut W, list: &[&[u8]]| wire::tokens(w, list).map_err(Error::Write);
    put(w, &[b"("])?;
    if ft.is_symlink() {
        let target = fs::read_link(path).map_err(io_err(path))?;
        put(
            w,
            &[
                b"type",
                b"symlink",
                b"target",
                target.as_os_str().as_bytes(),
            ],
        )?;
    } else if ft.is_dir() {
        put(w, &[b"type", b"directory"])?;
        let mut names = fs::read_dir(path)
            .and_then(|rd| {
                rd.map(|e| e.map(|e| e.file_name()))
                    .collect::<io::Result<Vec<OsString>>>()
            })
            .map_err(io_err(path))?;
        // Nix orders entries by std::string comparison, i.e. unsigned bytewise.
        names.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
        for name in names {
            put(w, &[b"entry", b"(", b"name", name.as_bytes(), b"node"])?;
            node(&path.join(&name), w, files)?;
            put(w, &[b")"])?;
        }
    } else if ft.is_file() {
        put(w, &[b"type", b"regular"])?;
        // Nix looks at the owner's execute bit only.
        if md.permissions().mode() & 0o100 != 0 {
            put(w, &[b"executable", b""])?;
        }
        put(w, &[b"contents"])?;
        let mut f = HashingReader {
            inner: File::open(path).map_err(io_err(path))?,
            h: Sha256::new(),
        };
        match wire::contents(w, md.len(), &mut f) {
            Ok(Streamed::Complete) => {
                if let Some(list) = files {
                    list.push(FileDigest {
                        path: path.to_path_buf(),
                        size: md.len(),
                        sha256: f.h.finalize().into(),
                    });
                }
            }
            Ok(Streamed::LengthMismatch) => {
                return Err(Error::FileChanged {
                    path: path.to_path_buf(),
                    expected: md.len(),
                })
            }
            Err(ContentsError::Read(e)) => return Err(io_err(path)(e)),
            Err(ContentsError::Write(e)) => return Err(Error::Write(e)),
        }
    } else {
        let kind = if ft.is_fifo() {
            "named pipe (FIFO)"
        } else if ft.is_socket() {
            "socket"
        } else if ft.is_block_device() {
            "block device"
        } else if ft.is_char_device() {
            "character device"
        } else {
            "special file"
        };
        return Err(Error::UnsupportedFileType {
            path: path.to_path_buf(),
            kind,
        });
    }
    put(w, &[b")"])
}
