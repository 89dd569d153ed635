//! Filesystem helpers for the store: durable writes (fsync), sealing a finished entry
//! read-only, removing read-only trees, and unique temporary names.

use std::fs::{self, File};
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// A name no other thread or live process will pick: `<stem>.<pid>.<counter>`.
pub fn unique_name(stem: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    format!(
        "{stem}.{}.{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

pub fn fsync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Fsyncs every regular file and directory below `root` (children before parents), then makes
/// everything read-only: files keep their execute bits (0444/0555), directories become 0555.
/// `root` itself is left writable so it can still be renamed into place; seal it afterwards
/// with [`seal_dir`].
pub fn sync_and_seal_below(root: &Path) -> io::Result<()> {
    for entry in fs::read_dir(root)? {
        let entry = entry?;
        let path = entry.path();
        let ft = entry.file_type()?;
        if ft.is_dir() {
            sync_and_seal_below(&path)?;
            fsync_dir(&path)?;
            seal_dir(&path)?;
        } else if ft.is_file() {
            File::open(&path)?.sync_all()?;
            let mode = entry.metadata()?.permissions().mode();
            let sealed = if mode & 0o100 != 0 { 0o555 } else { 0o444 };
            fs::set_permissions(&path, fs::Permissions::from_mode(sealed))?;
        } else if !ft.is_symlink() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "{} is neither a file, a directory nor a symlink",
                    path.display()
                ),
            ));
        }
    }
    Ok(())
}

pub fn seal_dir(dir: &Path) -> io::Result<()> {
    fs::set_permissions(dir, fs::Permissions::from_mode(0o555))
}

/// Removes a tree even when its directories were sealed read-only.
pub fn remove_tree(path: &Path) -> io::Result<()> {
    let md = match fs::symlink_metadata(path) {
        Ok(md) => md,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    if md.is_dir() {
        unseal_dirs(path)?;
        fs::remove_dir_all(path)
    } else {
        fs::remove_file(path)
    }
}

fn unseal_dirs(dir: &Path) -> io::Result<()> {
    fs::set_permissions(dir, fs::Permissions::from_mode(0o755))?;
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            unseal_dirs(&entry.path())?;
        }
    }
    Ok(())
}

/// Total apparent size of the regular files below `path`.
pub fn tree_size(path: &Path) -> u64 {
    let Ok(md) = fs::symlink_metadata(path) else {
        return 0;
    };
    if md.is_dir() {
        fs::read_dir(path)
            .map(|rd| rd.flatten().map(|e| tree_size(&e.path())).sum())
            .unwrap_or(0)
    } else if md.is_file() {
        md.len()
    } else {
        0
    }
}

/// Writes `contents` to `path` atomically (temp file in the same directory, fsync, rename).
pub fn write_atomic(path: &Path, contents: &[u8]) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let stem = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp: PathBuf = dir.join(format!(".{}", unique_name(&stem)));
    let result = (|| {
        fs::write(&tmp, contents)?;
        File::open(&tmp)?.sync_all()?;
        fs::rename(&tmp, path)?;
        fsync_dir(dir)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}
