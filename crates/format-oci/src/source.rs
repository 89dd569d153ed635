//! Reading an OCI image layout that may be untrusted: a directory or an `oci-archive` tar.
//!
//! Used for base images, `inspect` and `push`. The rules: a digest is validated before it becomes a
//! path (`sha256:` + 64 lowercase hex, so `blobs/sha256/<hex>` cannot escape); archive members
//! with absolute or `..` names are refused outright; JSON documents are read with a size cap and
//! must match their descriptor's size and digest; blobs are streamed, never loaded whole.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::{Component, Path, PathBuf};

use pkg_core::limits;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

use crate::spec::{valid_digest, Descriptor, Index};
use crate::OciError;

/// Largest JSON document (index, manifest, config) we read. Real ones are a few KiB; Docker caps
/// manifests at 4 MiB.
pub const MAX_JSON: u64 = 4 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceKind {
    Layout,
    Archive,
}

/// A stored blob or member, streaming, with its size.
pub type BlobStream = (Box<dyn Read>, u64);

/// An opened layout: a directory, or an archive whose member offsets were indexed once.
pub struct Source {
    path: PathBuf,
    kind: SourceKind,
    /// Archive only: member name → (data offset, size).
    members: BTreeMap<String, (u64, u64)>,
}

/// Normalizes an archive member name, refusing anything that could leave the layout.
fn member_name(raw: &[u8]) -> Result<Option<String>, String> {
    let s = std::str::from_utf8(raw).map_err(|_| "a member name is not UTF-8".to_string())?;
    let p = Path::new(s);
    let mut parts = Vec::new();
    for c in p.components() {
        match c {
            Component::Normal(x) => parts.push(x.to_string_lossy().into_owned()),
            Component::CurDir => {}
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => {
                return Err(format!(
                    "member `{}` has an absolute or `..` path",
                    limits::escape(s)
                ));
            }
        }
    }
    Ok((!parts.is_empty()).then(|| parts.join("/")))
}

impl Source {
    pub fn open(path: &Path) -> Result<Source, OciError> {
        let meta = std::fs::metadata(path).map_err(|e| OciError::io(path, e))?;
        if meta.is_dir() {
            if !path.join("index.json").is_file() {
                return Err(OciError::invalid(
                    path,
                    "not an OCI image layout: no index.json",
                ));
            }
            return Ok(Source {
                path: path.to_path_buf(),
                kind: SourceKind::Layout,
                members: BTreeMap::new(),
            });
        }
        let f = File::open(path).map_err(|e| OciError::io(path, e))?;
        let mut members = BTreeMap::new();
        // Bounded like every reader of untrusted archives (pkg_core::limits): entry count, long
        // names and PAX headers; member contents are skipped, never read here.
        limits::walk_tar(BufReader::new(f), |item, entry| {
            let Some(name) = member_name(item.path.as_bytes())? else {
                return Ok(());
            };
            if item.kind.is_symlink() || item.kind.is_hard_link() {
                return Err(format!(
                    "member `{}` is a link; layouts hold plain files",
                    limits::escape(&name)
                ));
            }
            if item.kind.is_file() {
                members.insert(name, (entry.raw_file_position(), item.size));
            }
            Ok(())
        })
        .map_err(|m| OciError::invalid(path, format!("not a readable oci-archive: {m}")))?;
        if !members.contains_key("index.json") {
            return Err(OciError::invalid(
                path,
                "not an oci-archive: no index.json member",
            ));
        }
        Ok(Source {
            path: path.to_path_buf(),
            kind: SourceKind::Archive,
            members,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
    pub fn kind(&self) -> SourceKind {
        self.kind
    }

    /// Opens a member (`index.json`, `blobs/sha256/<hex>`) for streaming; returns it and its size.
    fn open_member(&self, name: &str) -> Result<Option<BlobStream>, OciError> {
        match self.kind {
            SourceKind::Layout => {
                let p = self.path.join(name);
                // Checked before opening: opening a FIFO planted as a blob would block forever.
                match std::fs::metadata(&p) {
                    Ok(m) if !m.is_file() => {
                        return Err(OciError::invalid(&p, "not a regular file"))
                    }
                    Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
                    _ => {}
                }
                let f = match File::open(&p) {
                    Ok(f) => f,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
                    Err(e) => return Err(OciError::io(&p, e)),
                };
                let meta = f.metadata().map_err(|e| OciError::io(&p, e))?;
                if !meta.is_file() {
                    return Err(OciError::invalid(&p, "not a regular file"));
                }
                Ok(Some((Box::new(BufReader::new(f)), meta.len())))
            }
            SourceKind::Archive => {
                let Some(&(off, size)) = self.members.get(name) else {
                    return Ok(None);
                };
                let mut f = File::open(&self.path).map_err(|e| OciError::io(&self.path, e))?;
                f.seek(SeekFrom::Start(off))
                    .map_err(|e| OciError::io(&self.path, e))?;
                Ok(Some((Box::new(BufReader::new(f).take(size)), size)))
            }
        }
    }

    fn read_capped(&self, name: &str) -> Result<Vec<u8>, OciError> {
        let (r, size) = self
            .open_member(name)?
            .ok_or_else(|| OciError::invalid(&self.path, format!("`{name}` is missing")))?;
        if size > MAX_JSON {
            return Err(OciError::invalid(
                &self.path,
                format!("`{name}` is {size} bytes; refusing JSON over {MAX_JSON}"),
            ));
        }
        let mut buf = Vec::with_capacity(size as usize);
        r.take(MAX_JSON)
            .read_to_end(&mut buf)
            .map_err(|e| OciError::io(&self.path, e))?;
        Ok(buf)
    }

    /// `index.json`, parsed.
    pub fn index_json(&self) -> Result<Index, OciError> {
        let bytes = self.read_capped("index.json")?;
        serde_json::from_slice(&bytes)
            .map_err(|e| OciError::invalid(&self.path, format!("index.json: {e}")))
    }

    /// Whether `oci-layout` is present and says version 1.x.
    pub fn check_layout_version(&self) -> Result<(), OciError> {
        let bytes = self.read_capped("oci-layout")?;
        let v: serde_json::Value = serde_json::from_slice(&bytes)
            .map_err(|e| OciError::invalid(&self.path, format!("oci-layout: {e}")))?;
        match v.get("imageLayoutVersion").and_then(|x| x.as_str()) {
            Some(s) if s.starts_with("1.") => Ok(()),
            other => Err(OciError::invalid(
                &self.path,
                format!("unsupported imageLayoutVersion {other:?}"),
            )),
        }
    }

    /// Whether the layout holds the blob.
    pub fn has_blob(&self, digest: &str) -> bool {
        let Some(hex) = valid_digest(digest) else {
            return false;
        };
        let name = format!("blobs/sha256/{hex}");
        match self.kind {
            SourceKind::Layout => self.path.join(&name).is_file(),
            SourceKind::Archive => self.members.contains_key(&name),
        }
    }

    /// Streams a blob; the reader yields exactly the stored bytes (callers verify the digest with
    /// [`VerifyingReader`] or [`Source::verify_blob`]).
    pub fn blob(&self, digest: &str) -> Result<BlobStream, OciError> {
        let hex = valid_digest(digest).ok_or_else(|| {
            OciError::invalid(
                &self.path,
                format!("unsupported or malformed digest `{digest}`"),
            )
        })?;
        self.open_member(&format!("blobs/sha256/{hex}"))?
            .ok_or_else(|| OciError::invalid(&self.path, format!("blob {digest} is missing")))
    }

    /// Reads a JSON blob a descriptor points at, checking size cap, size and digest.
    pub fn json_blob<T: DeserializeOwned>(
        &self,
        desc: &Descriptor,
    ) -> Result<(T, Vec<u8>), OciError> {
        let bytes = self.raw_json_blob(&desc.digest, Some(desc.size))?;
        let v = serde_json::from_slice(&bytes).map_err(|e| {
            OciError::invalid(
                &self.path,
                format!("{} ({}): {e}", desc.digest, desc.media_type),
            )
        })?;
        Ok((v, bytes))
    }

    /// The bytes of a JSON blob by digest, verified.
    pub fn raw_json_blob(
        &self,
        digest: &str,
        expected_size: Option<u64>,
    ) -> Result<Vec<u8>, OciError> {
        let (r, size) = self.blob(digest)?;
        if size > MAX_JSON {
            return Err(OciError::invalid(
                &self.path,
                format!("{digest} is {size} bytes; refusing JSON over {MAX_JSON}"),
            ));
        }
        if let Some(exp) = expected_size {
            if exp != size {
                return Err(OciError::invalid(
                    &self.path,
                    format!("{digest}: descriptor says {exp} bytes, blob has {size}"),
                ));
            }
        }
        let mut buf = Vec::with_capacity(size as usize);
        r.take(MAX_JSON)
            .read_to_end(&mut buf)
            .map_err(|e| OciError::io(&self.path, e))?;
        let got = format!("sha256:{}", pkg_core::digest::sha256_hex(&buf));
        if got != digest {
            return Err(OciError::DigestMismatch {
                what: self.path.display().to_string(),
                expected: digest.into(),
                actual: got,
            });
        }
        Ok(buf)
    }

    /// Streams a blob through sha256 and checks digest and size.
    pub fn verify_blob(&self, desc: &Descriptor) -> Result<(), OciError> {
        let (r, size) = self.blob(&desc.digest)?;
        if size != desc.size {
            return Err(OciError::invalid(
                &self.path,
                format!(
                    "{}: descriptor says {} bytes, blob has {size}",
                    desc.digest, desc.size
                ),
            ));
        }
        let mut v = VerifyingReader::new(r, &desc.digest);
        io::copy(&mut v, &mut io::sink()).map_err(|e| OciError::io(&self.path, e))?;
        v.check(&self.path.display().to_string())
    }
}

/// Hashes what is read through it; [`VerifyingReader::check`] compares with the expected digest.
pub struct VerifyingReader<R: Read> {
    inner: R,
    hasher: Sha256,
    expected: String,
}

impl<R: Read> VerifyingReader<R> {
    pub fn new(inner: R, expected: &str) -> Self {
        VerifyingReader {
            inner,
            hasher: Sha256::new(),
            expected: expected.to_string(),
        }
    }
    pub fn check(self, what: &str) -> Result<(), OciError> {
        let got = format!("sha256:{}", hex::encode(self.hasher.finalize()));
        if got == self.expected {
            Ok(())
        } else {
            Err(OciError::DigestMismatch {
                what: what.to_string(),
                expected: self.expected,
                actual: got,
            })
        }
    }
}

impl<R: Read> Read for VerifyingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_names_are_normalized_or_refused() {
        assert_eq!(
            member_name(b"./blobs/sha256/ab").unwrap().as_deref(),
            Some("blobs/sha256/ab")
        );
        assert_eq!(
            member_name(b"index.json").unwrap().as_deref(),
            Some("index.json")
        );
        assert_eq!(member_name(b"./").unwrap(), None);
        assert!(member_name(b"../etc/passwd").is_err());
        assert!(member_name(b"blobs/../../x").is_err());
        assert!(member_name(b"/index.json").is_err());
    }
}
