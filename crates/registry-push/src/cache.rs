//! A directory tree stored in a registry as an OCI artifact, for sharing a build cache between
//! machines through a registry they already push images to.
//!
//! One image manifest per tree, at a tag the caller chooses (a cache key):
//!
//! * `artifactType` [`MT_TREE`]; the config is the empty descriptor (image spec 1.1);
//! * one layer per regular file, in path order: media type [`MT_FILE`], the file's sha256 as its
//!   digest (so identical files are one blob in the registry, uploaded once), annotations
//!   `org.opencontainers.image.title` = the path relative to the tree and [`ANN_MODE`] =
//!   `0644`/`0755`;
//! * manifest annotations: the caller's (e.g. the entry's id and NAR hash) plus [`ANN_DIRS`]
//!   (every directory, so empty ones come back) and [`ANN_SYMLINKS`] (link → target), as JSON.
//!
//! Reading back is bounded and defensive, since the registry may hold anything: the manifest is
//! at most 4 MiB; every path must be relative, normal and unique, no component a symlink of the
//! tree; each blob is streamed to its file with at most the declared size and its sha256 checked;
//! symlinks are created last, so nothing is ever written through one. The caller still checks
//! the whole tree against its own content hash (the store does, by NAR hash) before using it.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};
use std::sync::Mutex;

use format_oci::spec::{Descriptor, MT_MANIFEST};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::attach::{get_manifest, ANN_TITLE, MT_EMPTY};
use crate::client::{error_text, read_small, Client, Req, DEFAULT_TIMEOUT};
use crate::push::{blob_exists, exists, put_manifest, upload};
use crate::reference::{parse, valid_tag};
use crate::PushError;

/// The manifest's `artifactType`.
pub const MT_TREE: &str = "application/vnd.lucia-pkg.tree.v1";
/// Each file layer's media type.
pub const MT_FILE: &str = "application/vnd.lucia-pkg.file.v1";
/// A file layer's permission bits (`0644` or `0755`).
pub const ANN_MODE: &str = "dev.lucia-pkg.mode";
/// The tree's directories (JSON array of relative paths).
pub const ANN_DIRS: &str = "dev.lucia-pkg.dirs";
/// The tree's symbolic links (JSON object: path → target).
pub const ANN_SYMLINKS: &str = "dev.lucia-pkg.symlinks";
/// Most files one tree may have.
const MAX_FILES: usize = 100_000;

/// What [`TreeCache::publish`] sent.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Published {
    pub blobs_uploaded: usize,
    pub blobs_skipped: usize,
    pub bytes_uploaded: u64,
}

/// A connection to one registry repository holding trees by tag.
pub struct TreeCache {
    client: Mutex<Client>,
    name: String,
}

/// One entry of a tree on disk.
enum Node {
    Dir,
    File { path: PathBuf, executable: bool },
    Symlink(String),
}

fn io_err(what: impl std::fmt::Display, e: io::Error) -> PushError {
    PushError::Source(format!("{what}: {e}"))
}

/// Every entry below `root` by relative path (`/`-separated), sorted.
fn walk(root: &Path) -> Result<BTreeMap<String, Node>, PushError> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in fs::read_dir(&dir).map_err(|e| io_err(dir.display(), e))? {
            let e = e.map_err(|e| io_err(dir.display(), e))?;
            let path = e.path();
            let rel = path
                .strip_prefix(root)
                .ok()
                .and_then(Path::to_str)
                .ok_or_else(|| PushError::Source(format!("{}: not a UTF-8 path", path.display())))?
                .to_string();
            let md = fs::symlink_metadata(&path).map_err(|e| io_err(path.display(), e))?;
            let ft = md.file_type();
            let node = if ft.is_dir() {
                stack.push(path.clone());
                Node::Dir
            } else if ft.is_file() {
                Node::File {
                    executable: md.permissions().mode() & 0o111 != 0,
                    path,
                }
            } else if ft.is_symlink() {
                let t = fs::read_link(&path).map_err(|e| io_err(path.display(), e))?;
                let t = t.to_str().ok_or_else(|| {
                    PushError::Source(format!("{}: link target is not UTF-8", path.display()))
                })?;
                Node::Symlink(t.to_string())
            } else {
                return Err(PushError::Source(format!(
                    "{}: neither a file, a directory nor a symlink",
                    path.display()
                )));
            };
            out.insert(rel, node);
        }
    }
    Ok(out)
}

fn sha256_file(path: &Path) -> Result<(String, u64), PushError> {
    let mut f = fs::File::open(path).map_err(|e| io_err(path.display(), e))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut size = 0u64;
    loop {
        let n = f.read(&mut buf).map_err(|e| io_err(path.display(), e))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
        size += n as u64;
    }
    Ok((format!("sha256:{}", hex::encode(h.finalize())), size))
}

/// A relative path from the registry, checked: `/`-separated normal components only.
fn safe_rel(p: &str) -> Option<PathBuf> {
    if p.is_empty() || p.len() > 4096 || p.contains('\0') || p.contains('\\') {
        return None;
    }
    let path = PathBuf::from(p);
    let ok = path.components().all(|c| matches!(c, Component::Normal(_)))
        && path.components().count() == p.split('/').count();
    ok.then_some(path)
}

/// A JSON value of the registry's manifest as `T` (absent: `T`'s default), or why it is not one.
fn field<T: serde::de::DeserializeOwned + Default>(
    v: Option<&Value>,
    tag: &str,
    what: &str,
) -> Result<T, PushError> {
    v.cloned()
        .map(serde_json::from_value)
        .transpose()
        .map_err(|e| bad(tag, format!("{what}: {e}")))
        .map(Option::unwrap_or_default)
}

fn bad(tag: &str, why: impl std::fmt::Display) -> PushError {
    PushError::Unusable {
        what: format!("cache entry `{tag}`"),
        why: why.to_string(),
    }
}

impl TreeCache {
    /// Connects to `reference` (`REGISTRY[:PORT]/REPOSITORY`, no tag: the tags are the cache
    /// keys) with the credentials `push` would use for that registry.
    pub fn connect(reference: &str, insecure_http: bool) -> Result<TreeCache, PushError> {
        let dest = parse(reference)?;
        if dest.tag.is_some() {
            return Err(PushError::BadReference(format!(
                "`{reference}`: a cache reference names a repository, not a tag (the cache keys are the tags): give REGISTRY[:PORT]/REPOSITORY"
            )));
        }
        let timeout = crate::timeout_from_env()?.unwrap_or(DEFAULT_TIMEOUT);
        let creds = crate::credentials_from_env_or_docker_config(&dest.registry)?;
        let client = Client::connect(
            &dest,
            creds.map(|(user, password)| crate::Credentials { user, password }),
            insecure_http,
            timeout,
        )?;
        Ok(TreeCache {
            client: Mutex::new(client),
            name: format!("{}/{}", dest.registry, dest.repository),
        })
    }

    /// `REGISTRY/REPOSITORY`.
    pub fn name(&self) -> &str {
        &self.name
    }

    fn client(&self) -> Result<std::sync::MutexGuard<'_, Client>, PushError> {
        self.client
            .lock()
            .map_err(|_| PushError::Config("the registry client was poisoned by a panic".into()))
    }

    fn check_tag(tag: &str) -> Result<(), PushError> {
        if valid_tag(tag) {
            Ok(())
        } else {
            Err(PushError::BadTag(format!("`{tag}` is not a valid tag")))
        }
    }

    /// Whether the registry has a tree at `tag`.
    pub fn contains(&self, tag: &str) -> Result<bool, PushError> {
        Self::check_tag(tag)?;
        exists(
            &mut *self.client()?,
            &format!("manifests/{tag}"),
            Some(MT_MANIFEST),
        )
    }

    /// Publishes the tree at `root` under `tag` with the extra manifest `annotations`: the files
    /// the registry lacks, then the manifest.
    pub fn publish(
        &self,
        tag: &str,
        root: &Path,
        annotations: &BTreeMap<String, String>,
    ) -> Result<Published, PushError> {
        Self::check_tag(tag)?;
        let nodes = walk(root)?;
        let mut layers = Vec::new();
        let mut dirs = Vec::new();
        let mut links = BTreeMap::new();
        let mut report = Published::default();
        let mut client = self.client()?;
        for (rel, node) in &nodes {
            match node {
                Node::Dir => dirs.push(rel.clone()),
                Node::Symlink(t) => {
                    links.insert(rel.clone(), t.clone());
                }
                Node::File { path, executable } => {
                    let (digest, size) = sha256_file(path)?;
                    let mut ann = BTreeMap::new();
                    ann.insert(ANN_TITLE.to_string(), rel.clone());
                    let mode = if *executable { "0755" } else { "0644" };
                    ann.insert(ANN_MODE.to_string(), mode.to_string());
                    let d = Descriptor {
                        media_type: MT_FILE.into(),
                        digest,
                        size,
                        platform: None,
                        annotations: ann,
                    };
                    if blob_exists(&mut client, &d)? {
                        report.blobs_skipped += 1;
                    } else {
                        // Not hashed again here: the registry checks the upload against
                        // `?digest=` and refuses a file that changed meanwhile.
                        let p = path.clone();
                        let open = move || -> Result<(Box<dyn Read>, u64), PushError> {
                            let f = fs::File::open(&p).map_err(|e| io_err(p.display(), e))?;
                            Ok((Box::new(f), size))
                        };
                        upload(&mut client, &d, &open)?;
                        report.blobs_uploaded += 1;
                        report.bytes_uploaded += size;
                    }
                    layers.push(d);
                }
            }
        }
        let empty = empty_config(&mut client)?;
        let mut ann: BTreeMap<String, String> = annotations.clone();
        ann.insert(ANN_DIRS.into(), json!(dirs).to_string());
        ann.insert(ANN_SYMLINKS.into(), json!(links).to_string());
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": MT_MANIFEST,
            "artifactType": MT_TREE,
            "config": empty,
            "layers": layers,
            "annotations": ann,
        });
        let bytes = serde_json::to_vec(&manifest).map_err(|e| PushError::Source(e.to_string()))?;
        let d = Descriptor {
            media_type: MT_MANIFEST.into(),
            digest: format!("sha256:{}", hex::encode(Sha256::digest(&bytes))),
            size: bytes.len() as u64,
            platform: None,
            annotations: BTreeMap::new(),
        };
        put_manifest(&mut client, &d, &bytes, tag)?;
        Ok(report)
    }

    /// Writes the tree at `tag` into the empty directory `into` and returns its manifest
    /// annotations; `None` when the registry has no tree there. On an error `into` may hold part
    /// of the tree: the caller discards it.
    pub fn fetch(
        &self,
        tag: &str,
        into: &Path,
    ) -> Result<Option<BTreeMap<String, String>>, PushError> {
        Self::check_tag(tag)?;
        let mut client = self.client()?;
        let Some(m) = get_manifest(&mut client, tag, MT_MANIFEST)? else {
            return Ok(None);
        };
        if m.get("artifactType").and_then(Value::as_str) != Some(MT_TREE) {
            return Err(bad(tag, format!("its artifactType is not {MT_TREE}")));
        }
        let annotations: BTreeMap<String, String> =
            field(m.get("annotations"), tag, "annotations")?;
        let layers: Vec<Descriptor> = field(m.get("layers"), tag, "layers")?;
        if layers.len() > MAX_FILES {
            return Err(bad(tag, format!("more than {MAX_FILES} files")));
        }
        let parsed = |key: &str| -> Result<Option<Value>, PushError> {
            annotations
                .get(key)
                .map(|s| serde_json::from_str(s))
                .transpose()
                .map_err(|e| bad(tag, format!("{key}: {e}")))
        };
        let dirs: Vec<String> = field(parsed(ANN_DIRS)?.as_ref(), tag, ANN_DIRS)?;
        let links: BTreeMap<String, String> =
            field(parsed(ANN_SYMLINKS)?.as_ref(), tag, ANN_SYMLINKS)?;
        let mut seen = BTreeSet::new();
        let mut checked = |p: &str| -> Result<PathBuf, PushError> {
            let rel = safe_rel(p).ok_or_else(|| bad(tag, format!("unsafe path `{p}`")))?;
            if !seen.insert(rel.clone()) {
                return Err(bad(tag, format!("`{p}` appears twice")));
            }
            Ok(rel)
        };
        // Directories first (parents before children, as sorted paths are), then files: none
        // of them can pass through a symlink, which only exists after the last file.
        let mut dir_paths: Vec<PathBuf> =
            dirs.iter().map(|d| checked(d)).collect::<Result<_, _>>()?;
        dir_paths.sort();
        for d in &dir_paths {
            let p = into.join(d);
            fs::create_dir(&p).map_err(|e| io_err(p.display(), e))?;
        }
        for l in &layers {
            let title = l
                .annotations
                .get(ANN_TITLE)
                .map(String::as_str)
                .unwrap_or("");
            let rel = checked(title)?;
            if l.media_type != MT_FILE {
                return Err(bad(tag, format!("layer `{title}` is a {}", l.media_type)));
            }
            let mode = match l.annotations.get(ANN_MODE).map(String::as_str) {
                Some("0755") => 0o755,
                Some("0644") => 0o644,
                other => return Err(bad(tag, format!("layer `{title}` has mode {other:?}"))),
            };
            let path = into.join(&rel);
            fetch_blob(&mut client, l, &path)?;
            fs::set_permissions(&path, fs::Permissions::from_mode(mode))
                .map_err(|e| io_err(path.display(), e))?;
        }
        for (link, target) in &links {
            let rel = checked(link)?;
            if target.is_empty() || target.len() > 4096 || target.contains('\0') {
                return Err(bad(tag, format!("symlink `{link}` has a bad target")));
            }
            let path = into.join(&rel);
            std::os::unix::fs::symlink(target, &path).map_err(|e| io_err(path.display(), e))?;
        }
        Ok(Some(annotations))
    }
}

/// The empty config blob (`{}`), uploaded once per repository.
fn empty_config(client: &mut Client) -> Result<Descriptor, PushError> {
    let bytes: &[u8] = b"{}";
    let d = Descriptor {
        media_type: MT_EMPTY.into(),
        digest: format!("sha256:{}", hex::encode(Sha256::digest(bytes))),
        size: 2,
        platform: None,
        annotations: BTreeMap::new(),
    };
    if !blob_exists(client, &d)? {
        let open = || -> Result<(Box<dyn Read>, u64), PushError> {
            Ok((Box::new(io::Cursor::new(bytes.to_vec())), 2))
        };
        upload(client, &d, &open)?;
    }
    Ok(d)
}

/// Streams blob `d` into a new file at `path`: at most `d.size` bytes are read, and the size and
/// sha256 must match the descriptor.
fn fetch_blob(client: &mut Client, d: &Descriptor, path: &Path) -> Result<(), PushError> {
    let what = format!("fetching blob {}", d.digest);
    let url = client.url(&format!("blobs/{}", d.digest));
    let mut resp = client.send(&Req {
        method: "GET",
        url,
        headers: vec![],
        body: None,
        response_len: d.size,
    })?;
    if resp.status().as_u16() != 200 {
        return Err(PushError::Http {
            what,
            status: resp.status().as_u16(),
            message: error_text(&read_small(&mut resp)),
        });
    }
    let mut out = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| io_err(path.display(), e))?;
    let mut reader = resp
        .body_mut()
        .with_config()
        .limit(d.size.saturating_add(1))
        .reader();
    let mut h = Sha256::new();
    let mut n = 0u64;
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let k = reader.read(&mut buf).map_err(|e| PushError::Transport {
            what: what.clone(),
            message: e.to_string(),
        })?;
        if k == 0 {
            break;
        }
        n += k as u64;
        if n > d.size {
            return Err(PushError::Unusable {
                what,
                why: "the blob is larger than its descriptor says".into(),
            });
        }
        h.update(&buf[..k]);
        out.write_all(&buf[..k])
            .map_err(|e| io_err(path.display(), e))?;
    }
    let got = format!("sha256:{}", hex::encode(h.finalize()));
    if n != d.size || got != d.digest {
        return Err(PushError::Unusable {
            what,
            why: format!("the registry served {n} bytes with digest {got}: corrupted or tampered"),
        });
    }
    out.sync_all().map_err(|e| io_err(path.display(), e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_paths_must_be_plain_relative_paths() {
        for ok in ["a", "a/b", "deb/x_1.0_amd64.deb", "blobs/sha256/ab"] {
            assert!(safe_rel(ok).is_some(), "{ok}");
        }
        for bad in [
            "",
            "/etc/passwd",
            "../x",
            "a/../../x",
            "a//b",
            "./a",
            "a/./b",
            "a/",
            "a\\b",
            "a\0b",
        ] {
            assert!(safe_rel(bad).is_none(), "{bad:?}");
        }
    }
}
