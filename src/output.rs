//! The out directory: artifacts appear atomically under their final names (written to a hidden
//! temp name in the same directory, synced, then renamed), never half-written; `SHA256SUMS` and
//! `build-info.json` describe what a build made. Temp files left by a killed build are removed by
//! the next one.

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use pkg_core::digest::HashingWriter;
use serde::Serialize;

/// One file in the out dir, with its digest.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct FileRecord {
    /// Path relative to the out dir.
    pub name: String,
    pub size: u64,
    pub sha256: String,
}

const TMP_MARK: &str = ".lucia-tmp-";

/// Name of a temp sibling that identifies the writing process.
pub fn temp_sibling(final_path: &Path) -> PathBuf {
    let name = final_path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    final_path.with_file_name(format!(".{name}{TMP_MARK}{}", std::process::id()))
}

fn pid_alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// Creates the out dir and removes temp files of builds that are no longer running.
pub fn prepare_out_dir(dir: &Path) -> io::Result<()> {
    fs::create_dir_all(dir)?;
    for e in fs::read_dir(dir)? {
        let e = e?;
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(pos) = name.find(TMP_MARK) else {
            continue;
        };
        let digits: String = name[pos + TMP_MARK.len()..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        let Ok(pid) = digits.parse::<u32>() else {
            continue;
        };
        if pid != std::process::id() && !pid_alive(pid) {
            let p = e.path();
            if p.is_dir() {
                fs::remove_dir_all(&p)?
            } else {
                fs::remove_file(&p)?
            }
        }
    }
    Ok(())
}

/// Removes a temp path when dropped unless it was committed.
pub struct TempGuard {
    path: Option<PathBuf>,
}

impl TempGuard {
    pub fn new(path: PathBuf) -> Self {
        crate::signals::register(path.clone());
        TempGuard { path: Some(path) }
    }
    pub fn disarm(&mut self) {
        if let Some(p) = self.path.take() {
            crate::signals::unregister(&p);
        }
    }
}

impl Drop for TempGuard {
    fn drop(&mut self) {
        if let Some(p) = self.path.take() {
            crate::signals::unregister(&p);
            if p.is_dir() {
                let _ = fs::remove_dir_all(&p);
            } else {
                let _ = fs::remove_file(&p);
            }
        }
    }
}

/// Writes `final_path` atomically through `write`, returning its size and sha256.
pub fn write_atomic<E>(
    final_path: &Path,
    write: impl FnOnce(&mut dyn Write) -> Result<(), E>,
) -> Result<(u64, String), E>
where
    E: From<io::Error>,
{
    let tmp = temp_sibling(final_path);
    let mut guard = TempGuard::new(tmp.clone());
    let file = File::create(&tmp)?;
    let mut hw = HashingWriter::new(BufWriter::with_capacity(1 << 20, file));
    write(&mut hw)?;
    let (buf, sha, size) = hw.finish();
    let file = buf.into_inner().map_err(|e| e.into_error())?;
    file.sync_all()?;
    drop(file);
    fs::rename(&tmp, final_path)?;
    guard.disarm();
    Ok((size, hex::encode(sha)))
}

/// Atomically replaces directory `final_dir` with one filled by `fill` (for the OCI layout).
pub fn write_dir_atomic<E>(
    final_dir: &Path,
    fill: impl FnOnce(&Path) -> Result<(), E>,
) -> Result<(), E>
where
    E: From<io::Error>,
{
    let tmp = temp_sibling(final_dir);
    if tmp.exists() {
        fs::remove_dir_all(&tmp)?;
    }
    fs::create_dir_all(&tmp)?;
    let mut guard = TempGuard::new(tmp.clone());
    fill(&tmp)?;
    if final_dir.exists() {
        let old = final_dir.with_file_name(format!(
            ".{}{TMP_MARK}{}-old",
            final_dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            std::process::id()
        ));
        fs::rename(final_dir, &old)?;
        fs::rename(&tmp, final_dir)?;
        let _ = fs::remove_dir_all(&old);
    } else {
        fs::rename(&tmp, final_dir)?;
    }
    guard.disarm();
    Ok(())
}

/// Hashes every regular file below `dir` (sorted), as records relative to `out`.
pub fn records_for_dir(out: &Path, dir: &Path) -> io::Result<Vec<FileRecord>> {
    let mut v = Vec::new();
    for e in walkdir::WalkDir::new(dir).sort_by(|a, b| a.file_name().cmp(b.file_name())) {
        let e = e.map_err(io::Error::other)?;
        if e.file_type().is_file() {
            let (sha, size) = pkg_core::digest::sha256_file(e.path())?;
            let rel = e.path().strip_prefix(out).map_err(io::Error::other)?;
            v.push(FileRecord {
                name: rel.to_string_lossy().into_owned(),
                size,
                sha256: hex::encode(sha),
            });
        }
    }
    Ok(v)
}

/// `SHA256SUMS` in the format `sha256sum -c` reads (two spaces, sorted by name).
pub fn sha256sums(records: &[FileRecord]) -> String {
    let mut sorted: Vec<&FileRecord> = records.iter().collect();
    sorted.sort_by(|a, b| a.name.cmp(&b.name));
    sorted
        .iter()
        .map(|r| format!("{}  {}\n", r.sha256, r.name))
        .collect()
}

/// Writes small text atomically.
pub fn write_text_atomic(path: &Path, text: &str) -> io::Result<(u64, String)> {
    write_atomic(path, |w| w.write_all(text.as_bytes()))
}
