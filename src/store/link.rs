//! Placing an entry's files into an out dir: hard links (no copy, instant) with a streamed copy
//! as fallback when the out dir is on another filesystem or links are refused. Every top-level
//! item appears atomically: it is assembled under a temporary name in the out dir and renamed
//! over the old one, so a reader of the out dir never sees a half-written artifact.

use super::{fsutil, io_at, Entry, Result, Store};
use std::fs;
use std::io;
use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LinkMethod {
    Hardlink,
    Copy,
}

/// One regular file placed in the out dir, with what identifies it there (for GC roots).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LinkedFile {
    /// Path relative to the out dir.
    pub path: PathBuf,
    pub method: LinkMethod,
    pub ino: u64,
    pub size: u64,
    pub mtime_ns: i128,
}

/// What [`Store::link_into`] placed; pass it to [`Store::add_root`].
#[derive(Clone, Debug)]
pub struct Linked {
    pub entry: Entry,
    pub out_dir: PathBuf,
    /// Top-level names placed in the out dir.
    pub top_level: Vec<PathBuf>,
    pub files: Vec<LinkedFile>,
}

pub(super) fn mtime_ns(md: &fs::Metadata) -> i128 {
    i128::from(md.mtime()) * 1_000_000_000 + i128::from(md.mtime_nsec())
}

impl Store {
    /// Hard-links (or copies) every top-level item of `entry` into `out_dir` (created if
    /// missing), replacing items of the same name atomically.
    pub fn link_into(&self, entry: &Entry, out_dir: &Path) -> Result<Linked> {
        fs::create_dir_all(out_dir).map_err(io_at(out_dir))?;
        let out_dir = fs::canonicalize(out_dir).map_err(io_at(out_dir))?;
        let mut names: Vec<_> = fs::read_dir(entry.path())
            .and_then(|rd| {
                rd.map(|e| e.map(|e| e.file_name()))
                    .collect::<io::Result<Vec<_>>>()
            })
            .map_err(io_at(entry.path()))?;
        names.sort();
        let mut files = Vec::new();
        for name in &names {
            let src = entry.path().join(name);
            let tmp = out_dir.join(fsutil::out_temp_name(&name.to_string_lossy()));
            // Tracked so that an interrupted build removes it (see `remove_in_progress`).
            super::track(&tmp, true);
            let placed = place(&src, &tmp, Path::new(name), &mut files)
                .and_then(|()| replace(&tmp, &out_dir.join(name)));
            if placed.is_err() {
                let _ = fsutil::remove_tree(&tmp);
            }
            super::track(&tmp, false);
            if let Err(e) = placed {
                return Err(io_at(&out_dir.join(name))(e));
            }
        }
        fs::File::open(&out_dir)
            .and_then(|d| d.sync_all())
            .map_err(io_at(&out_dir))?;
        Ok(Linked {
            entry: entry.clone(),
            out_dir,
            top_level: names.into_iter().map(PathBuf::from).collect(),
            files,
        })
    }
}

/// Recreates `src` at `dst`; regular files are linked or copied and recorded under `rel`.
fn place(src: &Path, dst: &Path, rel: &Path, files: &mut Vec<LinkedFile>) -> io::Result<()> {
    let md = fs::symlink_metadata(src)?;
    if md.is_dir() {
        fs::create_dir(dst)?;
        let mut names: Vec<_> = fs::read_dir(src)?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<io::Result<_>>()?;
        names.sort();
        for n in names {
            place(&src.join(&n), &dst.join(&n), &rel.join(&n), files)?;
        }
        // Out-dir directories are the user's: writable, unlike the sealed store copies.
        fs::set_permissions(dst, fs::Permissions::from_mode(0o755))
    } else if md.file_type().is_symlink() {
        symlink(fs::read_link(src)?, dst)
    } else {
        let method = match fs::hard_link(src, dst) {
            Ok(()) => LinkMethod::Hardlink,
            // EXDEV: another filesystem; EPERM/EACCES: protected_hardlinks or a foreign owner.
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::EXDEV | libc::EPERM | libc::EACCES)
                ) =>
            {
                copy_file(src, dst, &md)?;
                LinkMethod::Copy
            }
            Err(e) => return Err(e),
        };
        let out = fs::metadata(dst)?;
        files.push(LinkedFile {
            path: rel.to_path_buf(),
            method,
            ino: out.ino(),
            size: out.len(),
            mtime_ns: mtime_ns(&out),
        });
        Ok(())
    }
}

fn copy_file(src: &Path, dst: &Path, md: &fs::Metadata) -> io::Result<()> {
    let mut from = fs::File::open(src)?;
    // Never through a link someone planted at the destination.
    let mut to = fsutil::create_new_file(dst)?;
    io::copy(&mut from, &mut to)?;
    to.sync_all()?;
    to.set_permissions(fs::Permissions::from_mode(md.permissions().mode() & 0o555))
}

/// Moves `tmp` to `dest`. A file replaces a file (or a symlink) atomically with rename(2); a
/// directory cannot be renamed over a non-empty one, nor over a non-directory, so the old one
/// is first moved aside and removed after.
fn replace(tmp: &Path, dest: &Path) -> io::Result<()> {
    // rename(2) of a hard link onto another link of the same inode succeeds without doing
    // anything, which would leave the temp name behind: the destination is already right.
    if let (Ok(a), Ok(b)) = (fs::symlink_metadata(tmp), fs::symlink_metadata(dest)) {
        use std::os::unix::fs::MetadataExt;
        if a.is_file() && b.is_file() && a.dev() == b.dev() && a.ino() == b.ino() {
            return fs::remove_file(tmp);
        }
    }
    let tmp_is_dir = fs::symlink_metadata(tmp).is_ok_and(|m| m.is_dir());
    match fs::symlink_metadata(dest) {
        // rename(2) cannot put a directory over a file or a symlink either: that goes aside
        // too (the link itself, never what it points at).
        Ok(md) if md.is_dir() || tmp_is_dir => {
            let parent = dest.parent().unwrap_or(Path::new("."));
            let stem = dest
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let aside: PathBuf = parent.join(fsutil::out_temp_name(&format!("{stem}.old")));
            fs::rename(dest, &aside)?;
            fs::rename(tmp, dest)?;
            fsutil::remove_tree(&aside)
        }
        _ => fs::rename(tmp, dest),
    }
}
