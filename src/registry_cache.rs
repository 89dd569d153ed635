//! The store's shared cache in an OCI registry (`build --cache REF`, `LUCIA_PKG_CACHE`): every
//! store entry is one artifact manifest at a tag derived from its key
//! ([`registry_push::TreeCache`] holds the format), so runners that push images to a registry
//! share their work through it with the same credentials as `push`.
//!
//! A pulled entry is used only when it names the entry asked for and its NAR hash equals the
//! hash recorded at publication ([`crate::store`] checks both); blobs are checked against their
//! digests while they stream in. Anyone who can push to the cache repository can therefore
//! place entries there, exactly as they could place images: give the cache its own repository
//! with the same access rules as the release images.

use std::collections::BTreeMap;
use std::path::Path;

use registry_push::{PushError, TreeCache};
use sha2::{Digest, Sha256};

use crate::error::AppError;
use crate::store::{FetchError, Remote, RemoteEntry};

/// The manifest annotation naming the store entry (`<key>-<name>`).
pub const ANN_ENTRY: &str = "dev.lucia-pkg.store.entry";
/// The manifest annotation with the entry's NAR hash (SRI).
pub const ANN_NAR_HASH: &str = "dev.lucia-pkg.store.nar-hash";

/// The environment variable that sets the cache when `--cache` is not given.
pub const ENV: &str = "LUCIA_PKG_CACHE";

/// The tag of entry `<key>-<name>`: the key (nix32, tag-safe), a dot and 16 hex digits of the
/// name's sha256 (names may hold `+ ~ =`, which tags cannot).
pub fn tag_for(id: &str) -> String {
    let (key, name) = id.split_once('-').unwrap_or((id, ""));
    let h = hex::encode(Sha256::digest(name.as_bytes()));
    format!("{key}.{}", &h[..16])
}

pub struct RegistryCache {
    cache: TreeCache,
}

/// The cache reference to use: `--cache`, else `$LUCIA_PKG_CACHE` (empty means none).
pub fn reference(flag: Option<&str>) -> Option<String> {
    flag.map(str::to_string)
        .or_else(|| std::env::var(ENV).ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

impl RegistryCache {
    /// Connects to the cache. A malformed reference or credential setting is bad input (exit
    /// 2); an unreachable or refusing registry is `Ok(Err(warning))`: the build goes on
    /// without the cache.
    pub fn connect(reference: &str) -> Result<Result<RegistryCache, String>, AppError> {
        match TreeCache::connect(reference, false) {
            Ok(cache) => Ok(Ok(RegistryCache { cache })),
            Err(e) if e.exit_code() == 2 => Err(AppError::Input(format!("--cache: {e}"))),
            Err(e) => Ok(Err(format!(
                "cache {reference}: {e}; continuing without it, building locally"
            ))),
        }
    }
}

fn refused_or_unavailable(e: PushError) -> FetchError {
    match e {
        PushError::Unusable { .. } => FetchError::Refused(e.to_string()),
        e => FetchError::Unavailable(e.to_string()),
    }
}

impl Remote for RegistryCache {
    fn name(&self) -> String {
        self.cache.name().to_string()
    }

    fn fetch(&self, id: &str, into: &Path) -> Result<Option<RemoteEntry>, FetchError> {
        let Some(ann) = self
            .cache
            .fetch(&tag_for(id), into)
            .map_err(refused_or_unavailable)?
        else {
            return Ok(None);
        };
        match (ann.get(ANN_ENTRY), ann.get(ANN_NAR_HASH)) {
            (Some(entry), Some(hash)) => Ok(Some(RemoteEntry {
                id: entry.clone(),
                nar_hash: hash.clone(),
            })),
            _ => Err(FetchError::Refused(format!(
                "its manifest lacks the {ANN_ENTRY} and {ANN_NAR_HASH} annotations"
            ))),
        }
    }

    fn contains(&self, id: &str) -> Result<bool, String> {
        self.cache.contains(&tag_for(id)).map_err(|e| e.to_string())
    }

    fn publish(&self, id: &str, dir: &Path, nar_hash: &str) -> Result<(), String> {
        let mut ann = BTreeMap::new();
        ann.insert(ANN_ENTRY.to_string(), id.to_string());
        ann.insert(ANN_NAR_HASH.to_string(), nar_hash.to_string());
        self.cache
            .publish(&tag_for(id), dir, &ann)
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_valid_and_distinct() {
        let key = "0123456789abcdfghijklmnpqrsvwxyz";
        let a = tag_for(&format!("{key}-lucia_1.0.0-1_amd64.deb"));
        let b = tag_for(&format!("{key}-lucia_1.0.0+b1-1_amd64.deb"));
        assert_ne!(a, b);
        for t in [&a, &b] {
            assert!(registry_push::valid_tag(t), "{t}");
            assert!(t.starts_with(key), "{t}");
        }
    }
}
