//! A deterministic, streaming tar writer over plan entries, shared by the tarball, the deb
//! `data.tar`/`control.tar` and the OCI layers.
//!
//! Every header is a GNU header with the source date as mtime, the entry's explicit mode and its
//! numeric and named owner; names longer than the 100-byte field get a GNU `././@LongLink` record
//! (fixed mode 0644, owner 0, mtime 0, as GNU tar writes them), never a PAX header, so no
//! atime/ctime/PID can leak in. Sizes above 8 GiB use GNU base-256 numbers. File contents are
//! streamed from disk and their length is checked against the plan, so a payload file that changes
//! during a build fails it instead of producing a corrupt archive.
//!
//! The member-name handling is ours rather than `tar::Builder::append_data`'s because that API
//! strips a leading `./`, which dpkg-built archives carry and which we want to match.

use std::io::{self, Read, Write};

use crate::determinism::SYMLINK_MODE;
use crate::plan::{Content, Entry, EntryKind, Owner};
use crate::segment::{ContentId, Splice};

/// How a plan path becomes a member name.
#[derive(Debug, Clone)]
pub struct NameStyle {
    /// Prepended to every relative path, e.g. `./` (deb), `lucia-1.0.0/root/` (tarball), `` (OCI).
    pub prefix: String,
}

pub struct TarStream<W: Write> {
    inner: tar::Builder<W>,
    mtime: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum TarError {
    #[error("{path}: {source}")]
    Io { path: String, source: io::Error },
    #[error("{path}: size changed during the build (planned {planned} bytes, read {actual}); rebuild when the payload is stable")]
    SizeChanged {
        path: String,
        planned: u64,
        actual: u64,
    },
}

impl TarError {
    fn io(path: &str, source: io::Error) -> TarError {
        TarError::Io {
            path: path.to_string(),
            source,
        }
    }
}

impl From<TarError> for io::Error {
    fn from(e: TarError) -> io::Error {
        match e {
            TarError::Io { path, source } => {
                io::Error::new(source.kind(), format!("{path}: {source}"))
            }
            other => io::Error::other(other.to_string()),
        }
    }
}

fn long_name_header(kind: u8, len: usize) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    let name = b"././@LongLink";
    if let Some(gnu) = h.as_gnu_mut() {
        gnu.name[..name.len()].copy_from_slice(name);
    }
    // GNU tar's own mode for a ././@LongLink member (part of how GNU tar writes it).
    h.set_mode(0o644);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    h.set_size(len as u64 + 1);
    h.set_entry_type(tar::EntryType::new(kind));
    h.set_cksum();
    h
}

/// Writes `name` into a header's 100-byte name field, preceded by a LongLink record when needed.
fn set_name<W: Write>(
    b: &mut tar::Builder<W>,
    h: &mut tar::Header,
    name: &[u8],
    kind: u8,
) -> io::Result<()> {
    let field: &mut [u8; 100] = match kind {
        b'K' => &mut h.as_old_mut().linkname,
        _ => &mut h.as_old_mut().name,
    };
    field.fill(0);
    if name.len() <= 100 {
        field[..name.len()].copy_from_slice(name);
        return Ok(());
    }
    field.copy_from_slice(&name[..100]);
    let lh = long_name_header(kind, name.len());
    let mut data = name.to_vec();
    data.push(0);
    b.append(&lh, data.as_slice())
}

impl<W: Write + Splice> TarStream<W> {
    pub fn new(w: W, mtime: u64) -> Self {
        TarStream {
            inner: tar::Builder::new(w),
            mtime,
        }
    }

    fn header(
        &self,
        owner: &Owner,
        mode: u32,
        kind: tar::EntryType,
        size: u64,
    ) -> io::Result<tar::Header> {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(mode & 0o7777);
        h.set_uid(owner.uid);
        h.set_gid(owner.gid);
        h.set_username(&owner.user)?;
        h.set_groupname(&owner.group)?;
        h.set_mtime(self.mtime);
        h.set_size(size);
        Ok(h)
    }

    fn finish_header(&mut self, h: &mut tar::Header, name: &[u8]) -> io::Result<()> {
        set_name(&mut self.inner, h, name, b'L')?;
        h.set_cksum();
        Ok(())
    }

    /// Appends a directory member named exactly `name` (a trailing `/` is added).
    pub fn append_dir(&mut self, name: &str, mode: u32, owner: &Owner) -> io::Result<()> {
        let mut h = self.header(owner, mode, tar::EntryType::Directory, 0)?;
        let mut n = name.to_string();
        if !n.ends_with('/') {
            n.push('/');
        }
        self.finish_header(&mut h, n.as_bytes())?;
        self.inner.append(&h, io::empty())
    }

    /// Appends a regular file streamed from `data`, which must yield exactly `size` bytes. With
    /// the content's sha256, the file's bytes are marked for a segmenting encoder ([`Splice`]).
    pub fn append_file(
        &mut self,
        name: &str,
        mode: u32,
        owner: &Owner,
        size: u64,
        sha256: Option<&[u8; 32]>,
        data: impl Read,
    ) -> Result<(), TarError> {
        let mut h = self
            .header(owner, mode, tar::EntryType::Regular, size)
            .map_err(|e| TarError::io(name, e))?;
        self.finish_header(&mut h, name.as_bytes())
            .map_err(|e| TarError::io(name, e))?;
        let mut counted = CountingReader {
            inner: data.take(size),
            count: 0,
        };
        // Header, content and padding are written here rather than by `Builder::append` so
        // that the content alone sits between the splice marks.
        let w = self.inner.get_mut();
        let io = |e| TarError::io(name, e);
        w.write_all(h.as_bytes()).map_err(io)?;
        let id = sha256.map(|sha256| ContentId {
            sha256: *sha256,
            size,
        });
        if let Some(id) = &id {
            w.begin_file(id).map_err(io)?;
        }
        io::copy(&mut counted, w).map_err(io)?;
        if counted.count != size {
            return Err(TarError::SizeChanged {
                path: name.to_string(),
                planned: size,
                actual: counted.count,
            });
        }
        if id.is_some() {
            w.end_file().map_err(io)?;
        }
        let pad = ((512 - size % 512) % 512) as usize;
        w.write_all(&[0u8; 512][..pad]).map_err(io)?;
        Ok(())
    }

    /// Appends a small in-memory file.
    pub fn append_bytes(
        &mut self,
        name: &str,
        mode: u32,
        owner: &Owner,
        bytes: &[u8],
    ) -> io::Result<()> {
        self.append_file(name, mode, owner, bytes.len() as u64, None, bytes)
            .map_err(io::Error::from)
    }

    pub fn append_symlink(&mut self, name: &str, target: &str, owner: &Owner) -> io::Result<()> {
        let mut h = self.header(owner, SYMLINK_MODE, tar::EntryType::Symlink, 0)?;
        set_name(&mut self.inner, &mut h, target.as_bytes(), b'K')?;
        self.finish_header(&mut h, name.as_bytes())?;
        self.inner.append(&h, io::empty())
    }

    /// Appends one plan entry under `prefix` (e.g. `./`).
    pub fn append_entry(&mut self, prefix: &str, e: &Entry) -> Result<(), TarError> {
        let name = format!("{prefix}{}", e.rel_path());
        match &e.kind {
            EntryKind::Dir => self
                .append_dir(&name, e.mode, &e.owner)
                .map_err(|x| TarError::io(&e.path, x)),
            EntryKind::Symlink { target } => self
                .append_symlink(&name, target, &e.owner)
                .map_err(|x| TarError::io(&e.path, x)),
            EntryKind::File {
                content,
                size,
                sha256,
            } => {
                let r = content.open().map_err(|x| TarError::io(&e.path, x))?;
                self.append_file(&name, e.mode, &e.owner, *size, Some(sha256), r)
                    .map_err(|err| match err {
                        TarError::SizeChanged {
                            planned, actual, ..
                        } => TarError::SizeChanged {
                            path: source_name(content, &e.path),
                            planned,
                            actual,
                        },
                        other => other,
                    })
            }
        }
    }

    /// Writes the two zero blocks and returns the sink.
    pub fn finish(self) -> io::Result<W> {
        self.inner.into_inner()
    }
}

fn source_name(c: &Content, path: &str) -> String {
    match c {
        Content::Disk(p) => p.display().to_string(),
        Content::Inline(_) => path.to_string(),
    }
}

struct CountingReader<R> {
    inner: R,
    count: u64,
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count += n as u64;
        Ok(n)
    }
}

/// Lists every ancestor directory of `path` (absolute), outermost first, excluding `/`.
pub fn ancestors(path: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    for p in &parts[..parts.len().saturating_sub(1)] {
        cur.push('/');
        cur.push_str(p);
        out.push(cur.clone());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_are_deterministic_and_long_names_survive() {
        let long = format!("./{}/file", "d".repeat(150));
        let build = || {
            let mut t = TarStream::new(Vec::new(), 1_700_000_000);
            t.append_dir("./opt", 0o755, &Owner::root()).unwrap();
            t.append_bytes(&long, 0o640, &Owner::root(), b"hello")
                .unwrap();
            t.append_symlink("./opt/link", &"t".repeat(120), &Owner::root())
                .unwrap();
            t.finish().unwrap()
        };
        let a = build();
        assert_eq!(a, build());
        let mut ar = tar::Archive::new(a.as_slice());
        let names: Vec<(String, u64, u32)> = ar
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let h = e.header();
                (
                    String::from_utf8_lossy(&e.path_bytes()).into_owned(),
                    h.mtime().unwrap(),
                    h.mode().unwrap(),
                )
            })
            .collect();
        assert_eq!(names[0], ("./opt/".into(), 1_700_000_000, 0o755));
        assert_eq!(names[1], (long.clone(), 1_700_000_000, 0o640));
        assert_eq!(names[2].0, "./opt/link");
    }

    #[test]
    fn short_read_is_an_error() {
        let mut t = TarStream::new(Vec::new(), 0);
        let err = t
            .append_file("x", 0o644, &Owner::root(), 10, None, &b"abc"[..])
            .unwrap_err();
        assert!(matches!(
            err,
            TarError::SizeChanged {
                planned: 10,
                actual: 3,
                ..
            }
        ));
    }

    #[test]
    fn ancestors_of_a_path() {
        assert_eq!(
            ancestors("/opt/lucia/bin/x"),
            vec!["/opt", "/opt/lucia", "/opt/lucia/bin"]
        );
        assert!(ancestors("/x").is_empty());
    }
}
