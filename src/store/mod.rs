//! The local content-addressed store of finished outputs (issue 6).
//!
//! Layout under the store root:
//!
//! ```text
//! <root>/<key>-<name>/          a finished entry: read-only, never modified after the rename
//! <root>/.meta/<key>-<name>     NAR hash and size of the entry (SRI), for `verify` and provenance
//! <root>/.tmp/<key>-<name>.<pid>.<n>/   an entry being written (removed if its writer died)
//! <root>/.locks/<key>-<name>.lock       per-entry writer lock; .locks/gc.lock store-wide
//! <root>/.roots/<id>            GC roots: which entries an out dir uses (see gc.rs)
//! <root>/.segments/<key>.seg    compressed segments of large payload files (`pkg_core::segment`)
//! ```
//!
//! Concurrency: every open `Store` holds a shared lock on `gc.lock` for its lifetime and `gc`
//! converts it to exclusive, so collection never runs while a build could be reading or linking
//! an entry. Writers of one entry serialize on its lock file; the second one finds the entry
//! finished and reports it as cached. Entries appear by an atomic rename, so a reader sees
//! either nothing or a complete, fsynced entry. Use one `Store` per process (a second handle in
//! the same process would make that process's own `gc` wait for itself).
//!
//! This module only depends on std, `nar`, `pkg_core::digest`, `pkg_core::segment`, `sha2`, `serde`/`serde_json`, `libc`
//! and `thiserror`;
//! tests/store.rs exercises its whole API through the library (`lucia_pkg::store`).

mod fsutil;
mod gc;
mod key;
mod link;
mod lock;
mod remote;
mod segment_remote;

// The out dir's temp naming, shared with src/output.rs.
pub use fsutil::{create_new_file, out_temp_name, OUT_TMP_MARK};
pub use gc::GcReport;
pub use key::{BuildKey, KeyBuilder};
pub use link::{LinkMethod, Linked, LinkedFile};
pub use remote::{FetchError, Remote, RemoteEntry, RemoteStats};

use lock::{Lock, Mode};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use pkg_core::segment::SegmentCache;

/// `.tmp/` dirs this process is writing; the SIGINT/SIGTERM handler removes them through
/// [`remove_in_progress`] (a SIGKILL's leftovers are removed by the next `Store::open`).
static IN_PROGRESS: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

fn track(path: &Path, busy: bool) {
    if let Ok(mut v) = IN_PROGRESS.lock() {
        v.retain(|p| p != path);
        if busy {
            v.push(path.to_path_buf());
        }
    }
}

static STOPPED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Removes the store temp dirs of this process's unfinished `put`s (for signal cleanup);
/// returns how many existed. No `put` starts after the first call.
pub fn remove_in_progress() -> usize {
    STOPPED.store(true, std::sync::atomic::Ordering::SeqCst);
    let paths: Vec<PathBuf> = IN_PROGRESS.lock().map(|v| v.clone()).unwrap_or_default();
    let mut found = 0;
    for p in paths {
        if fs::symlink_metadata(&p).is_ok() {
            found += 1;
            let _ = fsutil::remove_tree(&p);
        }
    }
    found
}

/// The error a `put` build closure returns; any writer error converts into it with `?`.
pub type BuildError = Box<dyn std::error::Error + Send + Sync>;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store I/O failed at {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("interrupted by a signal")]
    Interrupted,
    #[error("no store location: set LUCIA_PKG_STORE (or XDG_CACHE_HOME or HOME) to a writable directory")]
    NoDefaultRoot,
    #[error("invalid store entry name {name:?}: use 1-100 characters from A-Z a-z 0-9 . _ + ~ = - and do not start with '.'")]
    InvalidName { name: String },
    #[error("building store entry {entry} failed: {source}")]
    Build {
        entry: String,
        #[source]
        source: BuildError,
    },
    #[error("hashing store entry {entry} failed: {source}")]
    Hash {
        entry: String,
        #[source]
        source: nar::Error,
    },
    #[error("GC root {path} is unreadable ({reason}); delete it if its out dir is gone")]
    BadRoot { path: PathBuf, reason: String },
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

pub(crate) fn io_at(path: &Path) -> impl FnOnce(io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// A finished, read-only store entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    key: BuildKey,
    name: String,
    path: PathBuf,
}

impl Entry {
    pub fn key(&self) -> &BuildKey {
        &self.key
    }
    pub fn name(&self) -> &str {
        &self.name
    }
    /// The entry directory, `<root>/<key>-<name>`.
    pub fn path(&self) -> &Path {
        &self.path
    }
    /// `<key>-<name>`.
    pub fn id(&self) -> String {
        entry_id(&self.key, &self.name)
    }
}

/// Outcome of [`Store::put`].
#[derive(Clone, Debug)]
pub struct Put {
    pub entry: Entry,
    /// True when the entry already existed (no build ran).
    pub cached: bool,
    /// True when it came from the remote cache (verified by its NAR hash; `cached` is true too).
    pub pulled: bool,
    /// For a fresh entry: every file's sha256 and size, from the pass that NAR-hashed it (so the
    /// caller need not read the outputs again). `None` for a cached entry: see
    /// [`Store::verified_files`].
    pub files: Option<FileDigests>,
}

/// sha256 and size of every regular file of an entry, by path relative to the entry.
pub type FileDigests = std::collections::BTreeMap<PathBuf, ([u8; 32], u64)>;

fn relative_digests(root: &Path, files: Vec<nar::FileDigest>) -> FileDigests {
    files
        .into_iter()
        .filter_map(|f| {
            let rel = f.path.strip_prefix(root).ok()?.to_path_buf();
            Some((rel, (f.sha256, f.size)))
        })
        .collect()
}

fn entry_id(key: &BuildKey, name: &str) -> String {
    format!("{key}-{name}")
}

/// Entry names end up in file names; keep them short, portable and unambiguous.
pub fn validate_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 100
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._+~=-".contains(c));
    if ok {
        Ok(())
    } else {
        Err(StoreError::InvalidName {
            name: name.to_string(),
        })
    }
}

/// The store location when none is given: `$LUCIA_PKG_STORE`, else
/// `$XDG_CACHE_HOME/lucia-pkg/store`, else `$HOME/.cache/lucia-pkg/store`.
pub fn default_root() -> Result<PathBuf> {
    let var = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    if let Some(p) = var("LUCIA_PKG_STORE") {
        return Ok(p);
    }
    if let Some(p) = var("XDG_CACHE_HOME").filter(|p| p.is_absolute()) {
        return Ok(p.join("lucia-pkg/store"));
    }
    var("HOME")
        .map(|h| h.join(".cache/lucia-pkg/store"))
        .ok_or(StoreError::NoDefaultRoot)
}

/// An open store (see the module docs for layout and locking).
pub struct Store {
    root: PathBuf,
    gc_lock: Lock,
    /// A shared cache behind this one ([`Store::attach_remote`]).
    remote: Option<Arc<remote::Attached>>,
    /// Compressed segments of large payload files (`<root>/.segments`, `pkg_core::segment`).
    segments: Arc<SegmentCache>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("root", &self.root)
            .field("remote", &self.remote.as_ref().map(|r| r.name()))
            .finish()
    }
}

impl Store {
    /// Opens (creating if needed) the store at `root`, and removes temp dirs left by killed
    /// writers (only those whose entry lock nobody holds).
    pub fn open(root: &Path) -> Result<Store> {
        for sub in [".tmp", ".locks", ".roots", ".meta"] {
            let p = root.join(sub);
            fs::create_dir_all(&p).map_err(io_at(&p))?;
        }
        let root = fs::canonicalize(root).map_err(io_at(root))?;
        let gc_path = root.join(".locks/gc.lock");
        let gc_lock = Lock::acquire(&gc_path, Mode::Shared).map_err(io_at(&gc_path))?;
        let segments_dir = root.join(".segments");
        let segments = SegmentCache::open(&segments_dir).map_err(io_at(&segments_dir))?;
        let store = Store {
            root,
            gc_lock,
            remote: None,
            segments: Arc::new(segments),
        };
        store.clean_stale_temps(false)?;
        Ok(store)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The segment cache writers reuse compressed file contents from.
    pub fn segments(&self) -> Arc<SegmentCache> {
        Arc::clone(&self.segments)
    }

    /// Puts a shared cache behind this store: [`Store::put`] looks entries up there before
    /// building them (using one only when its NAR hash matches the remote's record) and
    /// publishes what it builds (or finds locally and the remote lacks). A failing remote is
    /// switched off with a warning ([`Store::remote_warnings`]); the build goes on locally.
    ///
    /// The segment cache gets the same remote: missing segments are pulled from it and new
    /// ones published to it (`store/segment_remote.rs`).
    pub fn attach_remote(&mut self, remote: Box<dyn Remote>) {
        let attached = Arc::new(remote::Attached::new(remote));
        self.segments
            .attach_remote(Box::new(segment_remote::SegmentsOverRemote {
                remote: Arc::clone(&attached),
                staging: self.segments.dir().to_path_buf(),
            }));
        self.remote = Some(attached);
    }

    /// What the remote did so far, when one is attached.
    pub fn remote_stats(&self) -> Option<RemoteStats> {
        self.remote.as_ref().map(|r| r.stats())
    }

    /// The remote's warnings so far (a failure that switched it off, refused entries).
    pub fn remote_warnings(&self) -> Vec<String> {
        self.remote
            .as_ref()
            .map(|r| r.warnings())
            .unwrap_or_default()
    }

    fn publish_if_missing(&self, entry: &Entry) {
        if let (Some(r), Some(hash)) = (&self.remote, self.nar_hash(entry)) {
            r.publish(&entry.id(), entry.path(), &hash, false);
        }
    }

    fn entry_path(&self, id: &str) -> PathBuf {
        self.root.join(id)
    }

    fn lock_path(&self, id: &str) -> PathBuf {
        self.root.join(".locks").join(format!("{id}.lock"))
    }

    fn meta_path(&self, id: &str) -> PathBuf {
        self.root.join(".meta").join(id)
    }

    /// The finished entry for `key`/`name`, if any. Never blocks.
    pub fn get(&self, key: &BuildKey, name: &str) -> Option<Entry> {
        validate_name(name).ok()?;
        let id = entry_id(key, name);
        let path = self.entry_path(&id);
        path.is_dir().then(|| Entry {
            key: key.clone(),
            name: name.to_string(),
            path,
        })
    }

    /// Returns the entry for `key`/`name`, running `build` to create it if it does not exist.
    ///
    /// `build` receives an empty directory and writes the output files into it. Afterwards every
    /// file is fsynced and made read-only, the entry's NAR hash is recorded, and the directory is
    /// renamed into place atomically. A concurrent `put` of the same entry waits for this one and
    /// then returns `cached: true`. If `build` fails, nothing is left behind.
    pub fn put<F>(&self, key: &BuildKey, name: &str, build: F) -> Result<Put>
    where
        F: FnOnce(&Path) -> std::result::Result<(), BuildError>,
    {
        validate_name(name)?;
        if let Some(entry) = self.get(key, name) {
            self.publish_if_missing(&entry);
            return Ok(Put {
                entry,
                cached: true,
                pulled: false,
                files: None,
            });
        }
        let id = entry_id(key, name);
        let lock_path = self.lock_path(&id);
        let _lock = Lock::acquire(&lock_path, Mode::Exclusive).map_err(io_at(&lock_path))?;
        if let Some(entry) = self.get(key, name) {
            self.publish_if_missing(&entry);
            return Ok(Put {
                entry,
                cached: true,
                pulled: false,
                files: None,
            });
        }
        let tmp = self.root.join(".tmp").join(fsutil::unique_name(&id));
        if STOPPED.load(std::sync::atomic::Ordering::SeqCst) {
            // The signal thread is removing this process's temp dirs: start no new one.
            return Err(StoreError::Interrupted);
        }
        track(&tmp, true);
        fs::create_dir(&tmp).map_err(io_at(&tmp))?;
        let result = self.finish_put(&id, &tmp, build);
        if result.is_err() {
            let _ = fsutil::remove_tree(&tmp);
        }
        track(&tmp, false);
        let (files, pulled) = result?;
        Ok(Put {
            entry: Entry {
                key: key.clone(),
                name: name.to_string(),
                path: self.entry_path(&id),
            },
            cached: pulled,
            pulled,
            files: Some(files),
        })
    }

    /// Seals the entry written into `tmp` and NAR-hashes it (the same pass gives every file's
    /// sha256).
    fn seal_and_hash(&self, id: &str, tmp: &Path) -> Result<([u8; 32], u64, FileDigests)> {
        fsutil::sync_and_seal_below(tmp).map_err(io_at(tmp))?;
        fsutil::fsync_dir(tmp).map_err(io_at(tmp))?;
        let (hash, size, files) =
            nar::nar_hash_with_file_digests(tmp).map_err(|source| StoreError::Hash {
                entry: id.to_string(),
                source,
            })?;
        Ok((hash, size, relative_digests(tmp, files)))
    }

    /// The entry from the remote cache into `tmp`, when the remote has it and its NAR hash is
    /// the one the remote recorded; otherwise `tmp` is left empty.
    fn pull(&self, id: &str, tmp: &Path) -> Result<Option<([u8; 32], u64, FileDigests)>> {
        let Some(r) = &self.remote else {
            return Ok(None);
        };
        let got = match r.fetch(id, tmp) {
            Some(rec) => match self.seal_and_hash(id, tmp) {
                Ok((hash, size, files)) if nar::sri_sha256(&hash) == rec.nar_hash => {
                    r.verified();
                    Some((hash, size, files))
                }
                Ok((hash, _, _)) => {
                    let why = format!(
                        "its NAR hash is {}, the remote recorded {}",
                        nar::sri_sha256(&hash),
                        rec.nar_hash
                    );
                    r.reject(id, &why);
                    None
                }
                Err(e) => {
                    r.reject(id, &e.to_string());
                    None
                }
            },
            None => None,
        };
        if got.is_none() {
            // Whatever a failed or refused fetch left goes before the local build.
            fsutil::remove_tree(tmp).map_err(io_at(tmp))?;
            fs::create_dir(tmp).map_err(io_at(tmp))?;
        }
        Ok(got)
    }

    /// Fills `tmp` from the remote or by `build`, records the NAR hash and renames the entry
    /// into place; publishes a locally built entry to the remote. Returns the file digests and
    /// whether the entry was pulled.
    fn finish_put<F>(&self, id: &str, tmp: &Path, build: F) -> Result<(FileDigests, bool)>
    where
        F: FnOnce(&Path) -> std::result::Result<(), BuildError>,
    {
        let pulled = self.pull(id, tmp)?;
        let from_remote = pulled.is_some();
        let (hash, size, files) = match pulled {
            Some(done) => done,
            None => {
                build(tmp).map_err(|source| StoreError::Build {
                    entry: id.to_string(),
                    source,
                })?;
                self.seal_and_hash(id, tmp)?
            }
        };
        let meta = self.meta_path(id);
        let text = format!("nar-hash {}\nnar-size {size}\n", nar::sri_sha256(&hash));
        fsutil::write_atomic(&meta, text.as_bytes()).map_err(io_at(&meta))?;
        let dest = self.entry_path(id);
        // Renaming a directory to a new parent needs it writable; seal it once in place.
        fs::rename(tmp, &dest).map_err(io_at(&dest))?;
        fsutil::seal_dir(&dest).map_err(io_at(&dest))?;
        fsutil::fsync_dir(&self.root).map_err(io_at(&self.root))?;
        if let (Some(r), false) = (&self.remote, from_remote) {
            r.publish(id, &dest, &nar::sri_sha256(&hash), true);
        }
        Ok((files, from_remote))
    }

    /// The recorded NAR hash (SRI `sha256-…`) of an entry, if its metadata is present.
    pub fn nar_hash(&self, entry: &Entry) -> Option<String> {
        let text = fs::read_to_string(self.meta_path(&entry.id())).ok()?;
        text.lines()
            .find_map(|l| l.strip_prefix("nar-hash "))
            .map(str::to_string)
    }

    /// Re-hashes an entry and compares it with the hash recorded when it was written; false
    /// means someone modified it (e.g. through a hard link in an out dir) and it should be
    /// removed with [`Store::remove`] and rebuilt.
    pub fn verify(&self, entry: &Entry) -> Result<bool> {
        Ok(self.verified_files(entry)?.is_some())
    }

    /// [`Store::verify`] and, when the entry is intact, every file's sha256 and size from the
    /// same read (`None` when it was modified).
    pub fn verified_files(&self, entry: &Entry) -> Result<Option<FileDigests>> {
        let (actual, _, files) =
            nar::nar_hash_with_file_digests(entry.path()).map_err(|source| StoreError::Hash {
                entry: entry.id(),
                source,
            })?;
        let intact = self.nar_hash(entry).as_deref() == Some(nar::sri_sha256(&actual).as_str());
        Ok(intact.then(|| relative_digests(entry.path(), files)))
    }

    /// Deletes one entry (e.g. after a failed [`Store::verify`]), under its writer lock.
    pub fn remove(&self, entry: &Entry) -> Result<()> {
        let id = entry.id();
        let lock_path = self.lock_path(&id);
        let _lock = Lock::acquire(&lock_path, Mode::Exclusive).map_err(io_at(&lock_path))?;
        fsutil::remove_tree(entry.path()).map_err(io_at(entry.path()))?;
        let meta = self.meta_path(&id);
        fs::remove_file(&meta)
            .or_else(ignore_missing)
            .map_err(io_at(&meta))
    }

    /// All finished entries, sorted by id.
    pub fn entries(&self) -> Result<Vec<Entry>> {
        let mut out = Vec::new();
        for e in fs::read_dir(&self.root).map_err(io_at(&self.root))? {
            let e = e.map_err(io_at(&self.root))?;
            let Some(id) = e.file_name().to_str().map(str::to_string) else {
                continue;
            };
            if let Some(entry) = self.parse_entry_id(&id) {
                out.push(entry);
            }
        }
        out.sort_by_key(|e| e.id());
        Ok(out)
    }

    fn parse_entry_id(&self, id: &str) -> Option<Entry> {
        let (key, name) = (id.get(..32)?, id.get(33..)?);
        if id.as_bytes().get(32) != Some(&b'-') {
            return None;
        }
        let key = BuildKey::parse(key)?;
        validate_name(name).ok()?;
        let path = self.entry_path(id);
        path.is_dir().then(|| Entry {
            key,
            name: name.to_string(),
            path,
        })
    }

    /// Removes temp dirs of dead writers. With `all` (under the exclusive gc lock, when no
    /// writer can be running) every temp dir goes.
    fn clean_stale_temps(&self, all: bool) -> Result<usize> {
        let tmp_root = self.root.join(".tmp");
        let mut removed = 0;
        for e in fs::read_dir(&tmp_root).map_err(io_at(&tmp_root))? {
            let e = e.map_err(io_at(&tmp_root))?;
            let name = e.file_name().to_string_lossy().into_owned();
            // `<id>.<pid>.<n>`: the id is everything before the last two dots.
            let id = name.rsplitn(3, '.').nth(2).unwrap_or(&name).to_string();
            let lock_path = self.lock_path(&id);
            let held = if all {
                None
            } else {
                match Lock::try_acquire(&lock_path, Mode::Exclusive) {
                    Ok(Some(l)) => Some(l),
                    Ok(None) => continue, // a live writer owns it
                    Err(e) => return Err(io_at(&lock_path)(e)),
                }
            };
            fsutil::remove_tree(&e.path()).map_err(io_at(&e.path()))?;
            drop(held);
            removed += 1;
        }
        Ok(removed)
    }
}

fn ignore_missing(e: io::Error) -> io::Result<()> {
    if e.kind() == io::ErrorKind::NotFound {
        Ok(())
    } else {
        Err(e)
    }
}
