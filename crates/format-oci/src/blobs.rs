//! The content-addressed blob directory of a layout being written.
//!
//! A blob is streamed into a temporary file inside `blobs/sha256/` while it is hashed, then
//! renamed to its digest, so a blob is never held in memory and a crash never leaves a file whose
//! name lies about its content. Writing the same content twice (the same layer for two arches, the
//! same base layer) stores it once.

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use pkg_core::determinism::FILE_MODE;
use pkg_core::digest::HashingWriter;
use tempfile::NamedTempFile;

use crate::spec::{canonical_json, Descriptor};
use crate::OciError;

pub(crate) struct BlobStore {
    dir: PathBuf,
}

/// A blob being written; [`BlobWriter::commit`] names it by its digest.
pub(crate) struct BlobWriter {
    inner: HashingWriter<BufWriter<NamedTempFile>>,
}

impl Write for BlobWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.inner.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl BlobStore {
    /// Uses (creating) `<layout>/blobs/sha256`.
    pub fn create(layout: &Path) -> Result<BlobStore, OciError> {
        let dir = layout.join("blobs").join("sha256");
        fs::create_dir_all(&dir).map_err(|e| OciError::io(&dir, e))?;
        Ok(BlobStore { dir })
    }

    pub fn path_of(&self, digest_hex: &str) -> PathBuf {
        self.dir.join(digest_hex)
    }

    pub fn writer(&self) -> Result<BlobWriter, OciError> {
        let tmp = tempfile::Builder::new()
            .prefix(".partial-")
            .tempfile_in(&self.dir)
            .map_err(|e| OciError::io(&self.dir, e))?;
        Ok(BlobWriter {
            inner: HashingWriter::new(BufWriter::new(tmp)),
        })
    }

    /// Moves a finished blob to `blobs/sha256/<hex>`; returns (`sha256:<hex>`, size).
    pub fn commit(&self, w: BlobWriter) -> Result<(String, u64), OciError> {
        let (buf, sha, size) = w.inner.finish();
        let tmp = buf
            .into_inner()
            .map_err(|e| OciError::io(&self.dir, e.into_error()))?;
        let hex = hex::encode(sha);
        let dest = self.path_of(&hex);
        if dest.exists() {
            // Same digest, same bytes: keep the existing copy (the temp file is removed on drop).
            return Ok((format!("sha256:{hex}"), size));
        }
        tmp.as_file()
            .sync_all()
            .map_err(|e| OciError::io(&dest, e))?;
        let file = tmp
            .persist(&dest)
            .map_err(|e| OciError::io(&dest, e.error))?;
        set_blob_mode(&file, &dest)?;
        Ok((format!("sha256:{hex}"), size))
    }

    /// Stores a small generated document as canonical JSON and describes it.
    pub fn put_json<T: serde::Serialize>(
        &self,
        media_type: &str,
        doc: &T,
    ) -> Result<Descriptor, OciError> {
        let bytes = canonical_json(doc).map_err(|e| OciError::Json {
            what: media_type.to_string(),
            source: e,
        })?;
        let mut w = self.writer()?;
        w.write_all(&bytes)
            .map_err(|e| OciError::io(&self.dir, e))?;
        let (digest, size) = self.commit(w)?;
        Ok(Descriptor {
            media_type: media_type.to_string(),
            digest,
            size,
            platform: None,
            annotations: Default::default(),
        })
    }
}

/// Temp files are created 0600; blobs are world-readable like every other artifact (umask-free).
fn set_blob_mode(f: &File, path: &Path) -> Result<(), OciError> {
    use std::os::unix::fs::PermissionsExt;
    f.set_permissions(fs::Permissions::from_mode(FILE_MODE))
        .map_err(|e| OciError::io(path, e))
}
