//! A second level behind the local store, shared by several machines (issue 16): before an entry
//! is built it is looked up there, after it is built it is published there.
//!
//! The store trusts a remote for nothing: a fetched entry is NAR-hashed and compared with the
//! hash the remote recorded for it, and must name the very entry that was asked for; anything
//! else is discarded and the entry built locally. A remote that fails (down, refusing, slow) is
//! switched off for the rest of the run with one warning: the build goes on with local work.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

/// What a remote cache says about an entry it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteEntry {
    /// The `<key>-<name>` the remote filed it under.
    pub id: String,
    /// Its NAR hash (SRI `sha256-…`) as recorded when it was published.
    pub nar_hash: String,
}

/// Why a fetch gave no entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchError {
    /// The remote answered, but what it holds for this entry is unusable (a blob whose digest
    /// does not match, a malformed record): this entry is built locally, the remote stays on.
    Refused(String),
    /// The remote could not be asked (down, refusing, too slow): it is switched off.
    Unavailable(String),
}

/// A remote store: implemented over an OCI registry in `src/registry_cache.rs`.
pub trait Remote: Send + Sync {
    /// Where it is, for messages.
    fn name(&self) -> String;
    /// Writes entry `id` into the empty directory `into`; `Ok(None)` when the remote lacks it.
    fn fetch(&self, id: &str, into: &Path) -> Result<Option<RemoteEntry>, FetchError>;
    /// Whether the remote holds entry `id`.
    fn contains(&self, id: &str) -> Result<bool, String>;
    /// Publishes the finished entry at `dir` as `id` with its NAR hash.
    fn publish(&self, id: &str, dir: &Path, nar_hash: &str) -> Result<(), String>;
}

/// What the remote did during a run (for the build report and the tests).
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RemoteStats {
    /// Entries taken from the remote (verified).
    pub pulled: usize,
    /// Entries sent to it.
    pub published: usize,
    /// Fetched entries refused (wrong hash or wrong entry) and built locally instead.
    pub rejected: usize,
}

/// A remote with the run's bookkeeping: switched off after its first failure.
pub(crate) struct Attached {
    remote: Box<dyn Remote>,
    off: AtomicBool,
    pulled: AtomicUsize,
    published: AtomicUsize,
    rejected: AtomicUsize,
    warnings: Mutex<Vec<String>>,
}

impl Attached {
    pub(crate) fn new(remote: Box<dyn Remote>) -> Attached {
        Attached {
            remote,
            off: AtomicBool::new(false),
            pulled: AtomicUsize::new(0),
            published: AtomicUsize::new(0),
            rejected: AtomicUsize::new(0),
            warnings: Mutex::new(Vec::new()),
        }
    }

    fn warn(&self, text: String) {
        if let Ok(mut w) = self.warnings.lock() {
            w.push(text);
        }
    }

    /// Records a failure and switches the remote off (one warning for the first failure).
    fn fail(&self, what: &str, e: String) {
        if !self.off.swap(true, Ordering::SeqCst) {
            self.warn(format!(
                "cache {}: {what} failed ({e}); continuing without it, building locally",
                self.remote.name()
            ));
        }
    }

    fn on(&self) -> bool {
        !self.off.load(Ordering::SeqCst)
    }

    /// Fetches `id` into the empty directory `into`: the remote's record of it when it holds
    /// that very entry, `None` when it lacks it, failed, or filed something else there (then the
    /// caller empties `into` and builds). The caller checks the NAR hash and calls
    /// [`Attached::verified`] or [`Attached::reject`].
    pub(crate) fn fetch(&self, id: &str, into: &Path) -> Option<RemoteEntry> {
        if !self.on() {
            return None;
        }
        match self.remote.fetch(id, into) {
            Ok(None) => None,
            Ok(Some(rec)) if rec.id == id => Some(rec),
            Ok(Some(rec)) => {
                self.reject(id, &format!("it is filed as {}", rec.id));
                None
            }
            Err(FetchError::Refused(e)) => {
                self.reject(id, &e);
                None
            }
            Err(FetchError::Unavailable(e)) => {
                self.fail(&format!("fetching {id}"), e);
                None
            }
        }
    }

    /// A fetched entry matched its recorded NAR hash and is used.
    pub(crate) fn verified(&self) {
        self.pulled.fetch_add(1, Ordering::SeqCst);
    }

    /// A fetched entry is refused (the remote stays on for the other entries).
    pub(crate) fn reject(&self, id: &str, why: &str) {
        self.rejected.fetch_add(1, Ordering::SeqCst);
        self.warn(format!(
            "cache {}: entry {id} rejected ({why}); building it locally",
            self.remote.name()
        ));
    }

    /// Publishes a finished entry unless the remote has it already.
    pub(crate) fn publish(&self, id: &str, dir: &Path, nar_hash: &str, known_missing: bool) {
        if !self.on() {
            return;
        }
        if !known_missing {
            match self.remote.contains(id) {
                Ok(true) => return,
                Ok(false) => {}
                Err(e) => return self.fail(&format!("looking up {id}"), e),
            }
        }
        match self.remote.publish(id, dir, nar_hash) {
            Ok(()) => {
                self.published.fetch_add(1, Ordering::SeqCst);
            }
            Err(e) => self.fail(&format!("publishing {id}"), e),
        }
    }

    pub(crate) fn stats(&self) -> RemoteStats {
        RemoteStats {
            pulled: self.pulled.load(Ordering::SeqCst),
            published: self.published.load(Ordering::SeqCst),
            rejected: self.rejected.load(Ordering::SeqCst),
        }
    }

    pub(crate) fn warnings(&self) -> Vec<String> {
        self.warnings.lock().map(|w| w.clone()).unwrap_or_default()
    }

    pub(crate) fn name(&self) -> String {
        self.remote.name()
    }
}
