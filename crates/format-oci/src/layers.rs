//! Which plan entries go into the image, split into layers, and how a layer is written.
//!
//! Two layers, bottom to top:
//! 1. **config layer** (`Layer::Config` entries): documentation and other manifest files, the
//!    state directories owned by the image user, and for `scratch` images a minimal
//!    `/etc/passwd` + `/etc/group` naming that user (so runtimes set `HOME` from it and tools show
//!    a name instead of a bare uid). It changes rarely, so it sits below the app layer.
//! 2. **app layer** (`Layer::App`): the AgentHost payload. An application update changes only this
//!    layer; the base layers and the config layer keep their digests and stay cached.
//!
//! Left out on purpose, because nothing in a container reads them and they would mislead:
//! * the environment file (`service.env_file`): it holds site configuration and secrets, and an
//!   image must get those from the environment at run time, never baked in;
//! * systemd units, sysusers.d and tmpfiles.d snippets: no systemd runs in the container; the user
//!   is the image's `User` and the state directories are created in the layer directly.
//!
//! Directories that only existed to hold left-out files (`/etc/lucia`, `/usr/lib/systemd/system`)
//! are dropped with them.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use pkg_core::segment::{SegmentCache, SegmentPolicy};
use std::io::Write;

use pkg_core::compress::{Codec, Encoder};
use pkg_core::determinism::DIR_MODE;
use pkg_core::digest::HashingWriter;
use pkg_core::plan::{Entry, Layer, Owner, Plan};
use pkg_core::tar_stream::{ancestors, TarStream};

use crate::blobs::BlobStore;
use crate::spec::{layer_media_type, Descriptor};
use crate::OciError;

/// The numeric user the image runs as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ImageUser {
    pub uid: u64,
    pub gid: u64,
}

/// Parses `uid[:gid]`. Names cannot be used: a `scratch` image has no user database to resolve
/// them, and the state directories must be owned by the number the process runs as.
pub(crate) fn parse_user(s: &str) -> Result<Option<ImageUser>, OciError> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(None);
    }
    let bad = || {
        OciError::BadOption(format!(
            "oci user `{s}` must be numeric `uid:gid` (e.g. `1100:1100`)"
        ))
    };
    let (u, g) = match s.split_once(':') {
        Some((u, g)) => (u, g),
        None => (s, s),
    };
    let uid: u64 = u.parse().map_err(|_| bad())?;
    let gid: u64 = g.parse().map_err(|_| bad())?;
    if uid > u32::MAX as u64 || gid > u32::MAX as u64 {
        return Err(bad());
    }
    Ok(Some(ImageUser { uid, gid }))
}

fn numeric(o: &Owner) -> Owner {
    // Layers record numeric owners only: the names in the plan are the package's (`lucia`), which
    // no user database in the image may know.
    Owner {
        user: String::new(),
        group: String::new(),
        uid: o.uid,
        gid: o.gid,
    }
}

fn dir_entry(path: &str, mode: u32, owner: Owner) -> Entry {
    Entry {
        mode,
        owner,
        ..Entry::dir(path)
    }
}

/// Paths of plan files an image must not carry (see the module docs).
fn excluded_paths(plan: &Plan) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    if let Some(s) = &plan.service {
        if let Some(env) = &s.env_file {
            out.insert(env.path.clone());
        }
        out.insert(s.sysusers_path.clone());
        out.insert(s.tmpfiles_path.clone());
        for u in &s.units {
            out.insert(format!("{}/{}", s.unit_dir.trim_end_matches('/'), u.name));
        }
    }
    out
}

/// Removes excluded files and the directories that held nothing else.
fn filter(plan: &Plan) -> Vec<Entry> {
    let excluded = excluded_paths(plan);
    let kept: Vec<&Entry> = plan
        .entries
        .iter()
        .filter(|e| !excluded.contains(&e.path))
        .collect();
    let mut held_excluded = BTreeSet::new();
    for x in &excluded {
        if plan.entry(x).is_some() {
            for a in ancestors(x) {
                held_excluded.insert(a);
            }
        }
    }
    // A directory that held a left-out file survives only if something that surely stays (a file,
    // a link, or a directory that never held a left-out file) lies below it.
    let mut has_kept_child = BTreeSet::new();
    for e in kept
        .iter()
        .filter(|e| !e.is_dir() || !held_excluded.contains(&e.path))
    {
        for a in ancestors(&e.path) {
            has_kept_child.insert(a);
        }
    }
    kept.into_iter()
        .filter(|e| {
            !e.is_dir() || has_kept_child.contains(&e.path) || !held_excluded.contains(&e.path)
        })
        .cloned()
        .collect()
}

/// The entries of each layer, bottom first, each sorted with parents before children.
pub(crate) fn plan_layers(
    plan: &Plan,
    user: Option<ImageUser>,
    scratch: bool,
) -> Vec<(Layer, Vec<Entry>)> {
    let mut config: BTreeMap<String, Entry> = BTreeMap::new();
    let mut app: BTreeMap<String, Entry> = BTreeMap::new();
    for e in filter(plan) {
        let mut e = e;
        e.owner = numeric(&e.owner);
        match e.layer {
            Layer::App => app.insert(e.path.clone(), e),
            Layer::Config => config.insert(e.path.clone(), e),
        };
    }
    let run_as = user.map(|u| Owner {
        user: String::new(),
        group: String::new(),
        uid: u.uid,
        gid: u.gid,
    });
    if let Some(s) = &plan.service {
        for d in &s.dirs {
            let owner = match (&run_as, d.user.as_str()) {
                (_, "root") | (None, _) => Owner {
                    user: String::new(),
                    group: String::new(),
                    uid: 0,
                    gid: 0,
                },
                (Some(o), _) => o.clone(),
            };
            config.insert(d.path.clone(), dir_entry(&d.path, d.mode, owner));
        }
        if let (true, Some(u), Some(acct)) = (scratch, user, s.user.as_ref()) {
            if u.uid != 0 {
                let passwd = format!(
                    "root:x:0:0:root:/root:/sbin/nologin\n{}:x:{}:{}:{}:{}:/sbin/nologin\n",
                    acct.name,
                    u.uid,
                    u.gid,
                    acct.gecos.replace([':', '\n'], " "),
                    acct.home
                );
                let group = format!("root:x:0:\n{}:x:{}:\n", acct.group, u.gid);
                config.insert(
                    "/etc/passwd".into(),
                    Entry::inline_file("/etc/passwd", passwd),
                );
                config.insert("/etc/group".into(), Entry::inline_file("/etc/group", group));
            }
        }
    }
    let mut layers = Vec::new();
    for (kind, map) in [(Layer::Config, config), (Layer::App, app)] {
        let mut map = map;
        let missing: Vec<String> = map
            .keys()
            .flat_map(|p| ancestors(p))
            .filter(|a| !map.contains_key(a))
            .collect();
        for a in missing {
            let root = Owner {
                user: String::new(),
                group: String::new(),
                uid: 0,
                gid: 0,
            };
            map.entry(a.clone())
                .or_insert_with(|| dir_entry(&a, DIR_MODE, root));
        }
        let mut entries: Vec<Entry> = map.into_values().collect();
        entries.sort_by(|a, b| a.path.as_bytes().cmp(b.path.as_bytes()));
        if !entries.is_empty() {
            layers.push((kind, entries));
        }
    }
    layers
}

/// A written layer blob.
#[derive(Debug, Clone)]
pub(crate) struct WrittenLayer {
    pub descriptor: Descriptor,
    /// sha256 of the uncompressed tar.
    pub diff_id: String,
}

/// Streams entries as a deterministic tar through the codec into a blob, hashing the tar
/// (diff_id) and the compressed stream (digest) in the same pass.
pub(crate) fn write_layer(
    store: &BlobStore,
    entries: &[Entry],
    mtime: u64,
    (codec, policy): (Codec, SegmentPolicy),
    segments: Option<Arc<SegmentCache>>,
) -> Result<WrittenLayer, OciError> {
    let media_type = layer_media_type(codec).ok_or_else(|| {
        OciError::BadOption(format!(
            "OCI layers cannot use {codec}: choose gzip, zstd or none"
        ))
    })?;
    let blob = store.writer()?;
    let enc = Encoder::segmented(codec, blob, policy, segments)
        .map_err(|e| OciError::Write(format!("layer encoder: {e}")))?;
    let mut tar = TarStream::new(HashingWriter::new(enc), mtime);
    for e in entries {
        tar.append_entry("", e)
            .map_err(|e| OciError::Write(format!("layer: {e}")))?;
    }
    let hashing = tar
        .finish()
        .map_err(|e| OciError::Write(format!("layer: {e}")))?;
    let (enc, diff, _) = hashing.finish();
    let mut blob = enc
        .finish()
        .map_err(|e| OciError::Write(format!("layer: {e}")))?;
    blob.flush()
        .map_err(|e| OciError::Write(format!("layer: {e}")))?;
    let (digest, size) = store.commit(blob)?;
    Ok(WrittenLayer {
        descriptor: Descriptor {
            media_type: media_type.into(),
            digest,
            size,
            platform: None,
            annotations: Default::default(),
        },
        diff_id: format!("sha256:{}", hex::encode(diff)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use pkg_core::sample::lucia_like_plan;
    use pkg_core::Arch;

    #[test]
    fn env_file_units_and_sysusers_stay_out_and_state_dir_is_owned() {
        let plan = lucia_like_plan(Arch::Amd64);
        let layers = plan_layers(&plan, parse_user("1100:1100").unwrap(), true);
        let all: Vec<&Entry> = layers.iter().flat_map(|(_, e)| e).collect();
        let has = |p: &str| all.iter().any(|e| e.path == p);
        assert!(!has("/etc/lucia/lucia.env"));
        assert!(!has("/etc/lucia"));
        assert!(!has("/usr/lib/systemd/system/lucia.service"));
        assert!(!has("/usr/lib/systemd"));
        assert!(!has("/usr/lib/sysusers.d/lucia.conf"));
        assert!(has("/opt/lucia/lucia.AgentHost"));
        assert!(has("/etc/passwd"));
        let state = all.iter().find(|e| e.path == "/var/lib/lucia").unwrap();
        assert_eq!(
            (state.owner.uid, state.owner.gid, state.mode),
            (1100, 1100, 0o750)
        );
        assert!(has("/var") && has("/var/lib"));
        assert_eq!(layers.last().unwrap().0, Layer::App);
    }

    #[test]
    fn users_must_be_numeric() {
        assert_eq!(
            parse_user("1100:1200").unwrap(),
            Some(ImageUser {
                uid: 1100,
                gid: 1200
            })
        );
        assert_eq!(parse_user("7").unwrap(), Some(ImageUser { uid: 7, gid: 7 }));
        assert_eq!(parse_user("").unwrap(), None);
        assert!(parse_user("lucia").is_err());
        assert!(parse_user("1:x").is_err());
    }
}
