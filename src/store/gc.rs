//! GC roots and garbage collection.
//!
//! `add_root` records, per out dir, which entries were linked there and the identity (inode,
//! size, mtime) of every file placed. At `gc` time an entry is alive while at least one root
//! still has one of its files unchanged in its out dir; a root whose out dir is gone, or whose
//! files were all deleted or replaced, is dead and removed. Everything not alive is deleted.
//!
//! Root files live in `<root>/.roots/<id>`, `id` = nix-base32 of the folded sha256 of the
//! canonical out dir path, so rebuilding into the same out dir updates the same root.

use super::link::{mtime_ns, Linked, LinkedFile};
use super::lock::{Lock, Mode};
use super::{fsutil, io_at, Result, Store, StoreError};
use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

#[derive(serde::Serialize, serde::Deserialize)]
struct RootFile {
    version: u32,
    /// The out dir's path bytes in hex (paths need not be UTF-8).
    out_dir_hex: String,
    /// The same path for human readers.
    out_dir: String,
    /// Entry id → files placed in the out dir.
    entries: BTreeMap<String, Vec<LinkedFile>>,
}

/// What a collection did (or, with `dry_run`, would do).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct GcReport {
    /// Entry ids deleted.
    pub removed: Vec<String>,
    /// Entry ids kept because a live root refers to them.
    pub kept: Vec<String>,
    /// Apparent size of the deleted entries' files (space is only freed once no out dir still
    /// hard-links them).
    pub freed_bytes: u64,
    /// Out dirs whose roots were dead and were dropped.
    pub dead_roots: Vec<PathBuf>,
    pub live_roots: usize,
    /// Temp dirs of interrupted builds removed.
    pub temp_dirs_removed: usize,
    /// Segment cache files removed (all of them: see [`Store::gc`]); their bytes are in
    /// `freed_bytes`.
    pub segments_removed: usize,
}

fn root_id(out_dir: &Path) -> String {
    let digest = pkg_core::digest::sha256(out_dir.as_os_str().as_bytes());
    nar::nix32(&nar::compress_hash::<20>(&digest))
}

fn file_unchanged(out_dir: &Path, f: &LinkedFile) -> bool {
    fs::symlink_metadata(out_dir.join(&f.path)).is_ok_and(|md| {
        md.is_file() && md.ino() == f.ino && md.len() == f.size && mtime_ns(&md) == f.mtime_ns
    })
}

impl Store {
    fn read_root(&self, path: &Path) -> Result<RootFile> {
        let bad = |reason: String| StoreError::BadRoot {
            path: path.to_path_buf(),
            reason,
        };
        let text = fs::read(path).map_err(io_at(path))?;
        let root: RootFile = serde_json::from_slice(&text).map_err(|e| bad(e.to_string()))?;
        if root.version != 1 {
            return Err(bad(format!("unknown version {}", root.version)));
        }
        Ok(root)
    }

    /// Records that `out_dir` uses the entries in `linked` (from [`Store::link_into`] into
    /// that out dir). Earlier entries of the same root stay recorded while their files are
    /// still unchanged there and were not replaced by this call.
    pub fn add_root(&self, out_dir: &Path, linked: &[Linked]) -> Result<()> {
        let out_dir = fs::canonicalize(out_dir).map_err(io_at(out_dir))?;
        let id = root_id(&out_dir);
        let lock_path = self.root().join(".locks").join(format!("root-{id}.lock"));
        let _lock = Lock::acquire(&lock_path, Mode::Exclusive).map_err(io_at(&lock_path))?;
        let path = self.root().join(".roots").join(&id);
        let mut entries: BTreeMap<String, Vec<LinkedFile>> = BTreeMap::new();
        let new_paths: BTreeSet<&Path> = linked
            .iter()
            .flat_map(|l| l.files.iter().map(|f| f.path.as_path()))
            .collect();
        if path.exists() {
            // An unreadable old root is replaced: this call knows the out dir's current state.
            if let Ok(old) = self.read_root(&path) {
                for (entry, files) in old.entries {
                    let replaced = files.iter().any(|f| new_paths.contains(f.path.as_path()));
                    if !replaced && files.iter().any(|f| file_unchanged(&out_dir, f)) {
                        entries.insert(entry, files);
                    }
                }
            }
        }
        for l in linked {
            entries
                .entry(l.entry.id())
                .or_default()
                .extend(l.files.iter().cloned());
        }
        let root = RootFile {
            version: 1,
            out_dir_hex: hex::encode(out_dir.as_os_str().as_bytes()),
            out_dir: out_dir.to_string_lossy().into_owned(),
            entries,
        };
        let text = serde_json::to_vec_pretty(&root).map_err(|e| StoreError::BadRoot {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        fsutil::write_atomic(&path, &text).map_err(io_at(&path))
    }

    /// The ids of the entries `out_dir`'s root keeps alive (those with a file still unchanged
    /// there), sorted; `None` when no build recorded a root for that out dir.
    pub fn live_entries_of(&self, out_dir: &Path) -> Result<Option<Vec<String>>> {
        let out_dir = fs::canonicalize(out_dir).map_err(io_at(out_dir))?;
        let path = self.root().join(".roots").join(root_id(&out_dir));
        if !path.exists() {
            return Ok(None);
        }
        let root = self.read_root(&path)?;
        Ok(Some(
            root.entries
                .into_iter()
                .filter(|(_, files)| files.iter().any(|f| file_unchanged(&out_dir, f)))
                .map(|(id, _)| id)
                .collect(),
        ))
    }

    /// Deletes every entry no live root refers to, dead roots, temp dirs of interrupted builds,
    /// and the whole segment cache (`.segments/`: nothing records which entries a segment
    /// served, and every segment is rebuilt on demand by the next build that needs it). Waits
    /// until no other process has the store open. With `dry_run` nothing is
    /// deleted and the report says what would be.
    pub fn gc(&self, dry_run: bool) -> Result<GcReport> {
        let gc_path = self.root().join(".locks/gc.lock");
        self.gc_lock
            .convert(Mode::Exclusive)
            .map_err(io_at(&gc_path))?;
        let result = self.collect(dry_run);
        let back = self.gc_lock.convert(Mode::Shared).map_err(io_at(&gc_path));
        let report = result?;
        back?;
        Ok(report)
    }

    fn collect(&self, dry_run: bool) -> Result<GcReport> {
        let mut report = GcReport::default();
        let mut live: BTreeSet<String> = BTreeSet::new();
        let roots_dir = self.root().join(".roots");
        let mut root_files: Vec<PathBuf> = fs::read_dir(&roots_dir)
            .map_err(io_at(&roots_dir))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                !p.file_name()
                    .is_some_and(|n| n.as_bytes().starts_with(b"."))
            })
            .collect();
        root_files.sort();
        for path in root_files {
            let root = self.read_root(&path)?;
            let out_bytes = hex::decode(&root.out_dir_hex).map_err(|e| StoreError::BadRoot {
                path: path.clone(),
                reason: e.to_string(),
            })?;
            let out_dir = PathBuf::from(OsStr::from_bytes(&out_bytes));
            let alive: Vec<&String> = root
                .entries
                .iter()
                .filter(|(_, files)| files.iter().any(|f| file_unchanged(&out_dir, f)))
                .map(|(id, _)| id)
                .collect();
            if alive.is_empty() {
                report.dead_roots.push(out_dir);
                if !dry_run {
                    fs::remove_file(&path).map_err(io_at(&path))?;
                }
            } else {
                report.live_roots += 1;
                live.extend(alive.into_iter().cloned());
            }
        }
        for entry in self.entries()? {
            let id = entry.id();
            if live.contains(&id) {
                report.kept.push(id);
                continue;
            }
            report.freed_bytes += fsutil::tree_size(entry.path());
            if !dry_run {
                fsutil::remove_tree(entry.path()).map_err(io_at(entry.path()))?;
                for p in [
                    self.root().join(".meta").join(&id),
                    self.root().join(".locks").join(format!("{id}.lock")),
                ] {
                    fs::remove_file(&p)
                        .or_else(super::ignore_missing)
                        .map_err(io_at(&p))?;
                }
            }
            report.removed.push(id);
        }
        let segments = self.root().join(".segments");
        if let Ok(dir) = fs::read_dir(&segments) {
            for e in dir.flatten() {
                let p = e.path();
                let Ok(meta) = fs::symlink_metadata(&p) else {
                    continue;
                };
                if !meta.is_file() {
                    continue;
                }
                report.freed_bytes += meta.len();
                report.segments_removed += 1;
                if !dry_run {
                    fs::remove_file(&p)
                        .or_else(super::ignore_missing)
                        .map_err(io_at(&p))?;
                }
            }
        }
        if !dry_run {
            report.temp_dirs_removed = self.clean_stale_temps(true)?;
        }
        Ok(report)
    }
}
