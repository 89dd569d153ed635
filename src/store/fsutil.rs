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

/// 64 unpredictable bits (SipHash of a counter under the process's random std keys).
fn random_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.write_u32(std::process::id());
    h.finish()
}

/// Marks temp names in an out dir; the pid after it lets the next build remove what a killed
/// one left.
pub const OUT_TMP_MARK: &str = ".lucia-tmp-";

/// A temp name for `stem` in a directory other users may be able to write (an out dir):
/// `.<stem>.lucia-tmp-<pid>-<random>`. Nobody can predict it, so nobody can plant a symlink
/// there ahead of time; create it with `create_new`/`mkdir`, which never follow one anyway.
pub fn out_temp_name(stem: &str) -> String {
    format!(
        ".{stem}{OUT_TMP_MARK}{}-{:016x}",
        std::process::id(),
        random_u64()
    )
}

/// Creates `path` as a new file: fails if anything (even a dangling symlink) is there, never
/// follows a link.
pub fn create_new_file(path: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
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
    let tmp: PathBuf = dir.join(out_temp_name(&stem));
    let result = (|| {
        let mut f = create_new_file(&tmp)?;
        io::Write::write_all(&mut f, contents)?;
        f.sync_all()?;
        drop(f);
        fs::rename(&tmp, path)?;
        fsync_dir(dir)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}
