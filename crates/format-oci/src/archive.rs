//! The `oci-archive` form of a layout: a deterministic tar of `oci-layout`, `index.json` and the
//! blobs, in that order (blobs sorted by digest), so `podman load`, `skopeo copy oci-archive:…`
//! and `docker load` (containerd image store) read the same index digest the layout has.

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::Path;

use pkg_core::determinism::{parse_utc_date, DIR_MODE, FILE_MODE};
use pkg_core::digest::HashingWriter;
use pkg_core::plan::Owner;
use pkg_core::tar_stream::TarStream;

use crate::source::Source;
use crate::spec::{valid_digest, Index};
use crate::OciError;

/// What [`write_archive`] wrote.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ArchiveSummary {
    /// Digest of the image index `index.json` points at (same as the layout's).
    pub index_digest: String,
    pub size: u64,
    /// sha256 of the archive file itself (hex).
    pub sha256: String,
}

/// The members' mtime: the image's `created` date, so the archive carries no build-time clock.
fn archive_mtime(src: &Source, top: &Index) -> u64 {
    top.manifests
        .first()
        .and_then(|d| src.json_blob::<Index>(d).ok())
        .and_then(|(idx, _)| {
            idx.annotations
                .get("org.opencontainers.image.created")
                .cloned()
        })
        .and_then(|c| parse_utc_date(&c))
        .unwrap_or(0)
}

/// Streams the layout at `layout_dir` as an oci-archive tar into `out`.
pub fn write_archive(layout_dir: &Path, out: impl Write) -> Result<ArchiveSummary, OciError> {
    let src = Source::open(layout_dir)?;
    if !layout_dir.is_dir() {
        return Err(OciError::invalid(
            layout_dir,
            "write_archive needs a layout directory",
        ));
    }
    src.check_layout_version()?;
    let top = src.index_json()?;
    let index_digest = top
        .manifests
        .first()
        .map(|d| d.digest.clone())
        .ok_or_else(|| OciError::invalid(layout_dir, "index.json lists no image"))?;
    let mtime = archive_mtime(&src, &top);
    let blob_dir = layout_dir.join("blobs").join("sha256");
    let mut blobs: Vec<String> = fs::read_dir(&blob_dir)
        .map_err(|e| OciError::io(&blob_dir, e))?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| valid_digest(&format!("sha256:{n}")).is_some())
        .collect();
    blobs.sort();

    let root = Owner::root();
    let wr = |e: std::io::Error| OciError::Write(format!("oci-archive: {e}"));
    let mut tar = TarStream::new(HashingWriter::new(BufWriter::new(out)), mtime);
    for name in ["oci-layout", "index.json"] {
        let p = layout_dir.join(name);
        let f = File::open(&p).map_err(|e| OciError::io(&p, e))?;
        let size = f.metadata().map_err(|e| OciError::io(&p, e))?.len();
        tar.append_file(name, FILE_MODE, &root, size, None, f)
            .map_err(|e| OciError::Write(e.to_string()))?;
    }
    tar.append_dir("blobs", DIR_MODE, &root).map_err(wr)?;
    tar.append_dir("blobs/sha256", DIR_MODE, &root)
        .map_err(wr)?;
    for hex in &blobs {
        let p = blob_dir.join(hex);
        let f = File::open(&p).map_err(|e| OciError::io(&p, e))?;
        let meta = f.metadata().map_err(|e| OciError::io(&p, e))?;
        if !meta.is_file() {
            continue;
        }
        tar.append_file(
            &format!("blobs/sha256/{hex}"),
            FILE_MODE,
            &root,
            meta.len(),
            None,
            f,
        )
        .map_err(|e| OciError::Write(e.to_string()))?;
    }
    let hashing = tar.finish().map_err(wr)?;
    let (mut buf, sha, size) = hashing.finish();
    buf.flush().map_err(wr)?;
    Ok(ArchiveSummary {
        index_digest,
        size,
        sha256: hex::encode(sha),
    })
}

/// Writes the archive to `path` atomically (temp file in the same directory, then rename).
pub fn write_archive_file(layout_dir: &Path, path: &Path) -> Result<ArchiveSummary, OciError> {
    let parent = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let tmp = tempfile::Builder::new()
        .prefix(".oci-archive-")
        .tempfile_in(parent)
        .map_err(|e| OciError::io(parent, e))?;
    let summary = write_archive(layout_dir, tmp.as_file())?;
    tmp.as_file()
        .sync_all()
        .map_err(|e| OciError::io(path, e))?;
    let f = tmp.persist(path).map_err(|e| OciError::io(path, e.error))?;
    use std::os::unix::fs::PermissionsExt;
    f.set_permissions(fs::Permissions::from_mode(FILE_MODE))
        .map_err(|e| OciError::io(path, e))?;
    Ok(summary)
}
