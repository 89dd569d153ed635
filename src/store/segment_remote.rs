//! The shared cache behind the segment cache (`pkg_core::segment`): a segment travels through
//! the same remote as store entries, as a one-file entry `<segment key>-segment` holding
//! `unit.seg`, so a CI runner without a local store still compresses each large file once.
//! What comes back is trusted for nothing: the segment cache decompresses it and checks the
//! file's sha256 before using it (and tells the remote when it refuses one).

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use pkg_core::segment::SegmentRemote;

use super::remote::Attached;

/// The one file of a segment entry.
const FILE: &str = "unit.seg";

pub(crate) struct SegmentsOverRemote {
    pub(crate) remote: Arc<Attached>,
    /// Where to stage entries: a directory of the segment cache (gc and the stale-temp sweep
    /// leave directories there alone).
    pub(crate) staging: PathBuf,
}

fn id(key: &str) -> String {
    format!("{key}-segment")
}

impl SegmentsOverRemote {
    fn stage(&self) -> Option<tempfile::TempDir> {
        tempfile::Builder::new()
            .prefix(".remote-")
            .tempdir_in(&self.staging)
            .ok()
    }
}

impl SegmentRemote for SegmentsOverRemote {
    fn fetch(&self, key: &str, into: &mut File) -> bool {
        let Some(dir) = self.stage() else {
            return false;
        };
        if self.remote.fetch(&id(key), dir.path()).is_none() {
            return false;
        }
        match File::open(dir.path().join(FILE)) {
            Ok(mut f) => io::copy(&mut f, into).is_ok(),
            Err(_) => {
                self.remote.reject(&id(key), "the entry holds no unit.seg");
                false
            }
        }
    }

    fn refused(&self, key: &str, why: &str) {
        self.remote.reject(&id(key), why);
    }

    fn publish(&self, key: &str, path: &Path) {
        let Some(dir) = self.stage() else {
            return;
        };
        let file = dir.path().join(FILE);
        if fs::hard_link(path, &file)
            .or_else(|_| fs::copy(path, &file).map(|_| ()))
            .is_err()
        {
            return;
        }
        if let Ok((hash, _, _)) = nar::nar_hash_with_file_digests(dir.path()) {
            self.remote
                .publish(&id(key), dir.path(), &nar::sri_sha256(&hash), false);
        }
    }
}
