//! Scanning a payload directory into plan entries: every check that protects the installed system
//! happens here, before any writer runs, and each refusal names the offending file.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use pkg_core::determinism::{DIR_MODE, EXEC_MODE, FILE_MODE, SYMLINK_MODE};
use pkg_core::plan::{Content, Entry, EntryKind, Layer, Owner};
use pkg_core::Arch;
use rayon::prelude::*;

use super::{elf, PlanError};

/// File digests computed earlier in the same build, by path as walked (`root.join(rel)`): the
/// NAR hashing pass reads every payload file once and hashes it for the plan at the same time.
/// A file missing from the map (or whose size differs) is hashed here.
pub type KnownDigests = std::collections::HashMap<PathBuf, ([u8; 32], u64)>;

/// A payload node before hashing.
enum Node {
    Dir,
    File { path: PathBuf, mode: u32, len: u64 },
    Symlink { target: String },
}

/// Walks `root` and returns plan entries installed under `install_dir`.
pub fn scan(
    root: &Path,
    install_dir: &str,
    arch: Arch,
    allow_special: &[String],
    known: &KnownDigests,
) -> Result<Vec<Entry>, PlanError> {
    let meta = fs::metadata(root).map_err(|e| {
        PlanError::new(root, format!("payload directory cannot be read: {e}"))
            .help("build the payload first (scripts/build-demo-payload.sh for the example) or fix [payload.<arch>] path")
    })?;
    if !meta.is_dir() {
        return Err(PlanError::new(root, "payload path is not a directory")
            .help("point [payload.<arch>] path at the publish output directory"));
    }
    let mut nodes: BTreeMap<String, Node> = BTreeMap::new();
    for item in walkdir::WalkDir::new(root).follow_links(false).min_depth(1) {
        let item = item.map_err(|e| {
            let p = e
                .path()
                .map(Path::to_path_buf)
                .unwrap_or_else(|| root.to_path_buf());
            PlanError::new(&p, format!("cannot read payload entry: {e}"))
                .help("check the file's permissions")
        })?;
        let path = item.path();
        let rel = path
            .strip_prefix(root)
            .map_err(|_| PlanError::new(path, "entry outside the payload root"))?;
        let rel_str = rel.to_str().ok_or_else(|| {
            PlanError::new(path, "file name is not valid UTF-8")
                .help("rename the file: package databases and manifests need UTF-8 paths")
        })?;
        if rel_str.chars().any(|c| c.is_control()) {
            return Err(PlanError::new(
                path,
                "file name contains a control character (newline, tab…)",
            )
            .help("rename the file"));
        }
        let md = fs::symlink_metadata(path)
            .map_err(|e| PlanError::new(path, format!("cannot stat: {e}")))?;
        let ft = md.file_type();
        let perm = md.permissions().mode() & 0o7777;
        let node = if ft.is_dir() {
            Node::Dir
        } else if ft.is_symlink() {
            let target = fs::read_link(path)
                .map_err(|e| PlanError::new(path, format!("cannot read symlink: {e}")))?;
            let target_str = target
                .to_str()
                .ok_or_else(|| PlanError::new(path, "symlink target is not valid UTF-8"))?
                .to_string();
            // The target lands in package databases, the tarball's MANIFEST and install.sh's `ln`.
            if target_str.is_empty() || target_str.chars().any(|c| c.is_control()) {
                return Err(PlanError::new(
                    path,
                    format!(
                        "symlink target `{}` is empty or contains a control character (newline, tab…)",
                        target_str.escape_debug()
                    ),
                )
                .help("point the link at a plain path"));
            }
            Node::Symlink { target: target_str }
        } else if ft.is_file() {
            let special = perm & 0o6000 != 0 || perm & 0o002 != 0;
            if special && !allow_special.iter().any(|a| a == rel_str) {
                let what = if perm & 0o6000 != 0 {
                    "setuid/setgid"
                } else {
                    "world-writable"
                };
                return Err(PlanError::new(path, format!("{what} file (mode {perm:04o})"))
                    .help(format!("fix the mode, or allow it explicitly: [payload] allow-special-modes = [\"{rel_str}\"]")));
            }
            Node::File {
                path: path.to_path_buf(),
                mode: perm,
                len: md.len(),
            }
        } else {
            let kind = if ft.is_fifo() {
                "a fifo"
            } else if ft.is_socket() {
                "a socket"
            } else if ft.is_block_device() || ft.is_char_device() {
                "a device file"
            } else {
                "an unsupported file type"
            };
            return Err(PlanError::new(path, format!("payload contains {kind}")).help("packages carry regular files, directories and symlinks only: remove it from the payload"));
        };
        nodes.insert(rel_str.to_string(), node);
    }
    check_symlinks(root, install_dir, &nodes)?;

    // Hash the files not hashed yet in this build, in parallel.
    let files: Vec<(&String, &PathBuf, u32, u64)> = nodes
        .iter()
        .filter_map(|(rel, n)| match n {
            Node::File { path, mode, len } => Some((rel, path, *mode, *len)),
            _ => None,
        })
        .collect();
    let hashed: Vec<Result<(String, Entry), PlanError>> = files
        .par_iter()
        .map(|(rel, path, mode, len)| {
            if let Some(machine) = elf::elf_machine(path).map_err(|e| PlanError::new(path, format!("cannot read: {e}")))? {
                if Arch::from_elf_machine(machine) != Some(arch) {
                    return Err(PlanError::new(path, format!(
                        "ELF binary for {} in the {arch} payload",
                        Arch::describe_elf_machine(machine)
                    ))
                    .help(format!("the {arch} package needs {} binaries: rebuild the payload for {} (e.g. dotnet publish -r {}) or fix [payload.{arch}] path", Arch::describe_elf_machine(arch.elf_machine()), arch.rust_triple(), arch.dotnet_rid())));
                }
            }
            let (sha256, size) = match known.get(*path) {
                Some(&(sha, size)) if size == *len => (sha, size),
                _ => pkg_core::digest::sha256_file(path).map_err(|e| PlanError::new(path, format!("cannot read: {e}")).help("check the file's permissions"))?,
            };
            // The executable bit is part of the content (as in a NAR); everything else is normalized.
            let base = if mode & 0o111 != 0 { EXEC_MODE } else { FILE_MODE };
            let keep_special = mode & 0o6000 | if mode & 0o002 != 0 { 0o002 } else { 0 };
            Ok(((*rel).clone(), Entry {
                path: join(install_dir, rel),
                kind: EntryKind::File { content: Content::Disk((*path).clone()), size, sha256 },
                mode: base | keep_special,
                owner: Owner::root(),
                config: false,
                owned: true,
                layer: Layer::App,
            }))
        })
        .collect();
    let mut by_rel: BTreeMap<String, Entry> = BTreeMap::new();
    for h in hashed {
        let (rel, e) = h?;
        by_rel.insert(rel, e);
    }
    let mut out = Vec::with_capacity(nodes.len());
    for (rel, node) in &nodes {
        match node {
            Node::Dir => out.push(Entry {
                path: join(install_dir, rel),
                kind: EntryKind::Dir,
                mode: DIR_MODE,
                owner: Owner::root(),
                config: false,
                owned: true,
                layer: Layer::App,
            }),
            Node::Symlink { target } => out.push(Entry {
                path: join(install_dir, rel),
                kind: EntryKind::Symlink {
                    target: target.clone(),
                },
                mode: SYMLINK_MODE,
                owner: Owner::root(),
                config: false,
                owned: true,
                layer: Layer::App,
            }),
            Node::File { .. } => {
                if let Some(e) = by_rel.remove(rel) {
                    out.push(e);
                }
            }
        }
    }
    Ok(out)
}

fn join(dir: &str, rel: &str) -> String {
    format!("{}/{}", dir.trim_end_matches('/'), rel)
}

/// Normalizes `base/target` lexically; `None` when it climbs above the payload root.
fn resolve_within(link_rel: &str, target: &str, install_dir: &str) -> Option<String> {
    let mut parts: Vec<&str> = Vec::new();
    let tpath = Path::new(target);
    if tpath.is_absolute() {
        // Absolute targets are only allowed inside the install dir.
        let inside = tpath.strip_prefix(install_dir).ok()?;
        for c in inside.components() {
            match c {
                Component::Normal(s) => parts.push(s.to_str()?),
                Component::ParentDir => {
                    parts.pop()?;
                }
                _ => {}
            }
        }
        return Some(parts.join("/"));
    }
    parts.extend(link_rel.split('/'));
    parts.pop(); // the link itself
    for c in tpath.components() {
        match c {
            Component::Normal(s) => parts.push(s.to_str()?),
            Component::ParentDir => {
                parts.pop()?;
            }
            Component::CurDir => {}
            _ => return None,
        }
    }
    Some(parts.join("/"))
}

fn check_symlinks(
    root: &Path,
    install_dir: &str,
    nodes: &BTreeMap<String, Node>,
) -> Result<(), PlanError> {
    for (rel, node) in nodes {
        let Node::Symlink { target } = node else {
            continue;
        };
        let link = root.join(rel);
        // Follow the chain inside the payload to detect escapes and loops.
        let mut cur_rel = rel.clone();
        let mut cur_target = target.clone();
        for hop in 0.. {
            if hop > 40 {
                return Err(PlanError::new(&link, "symlink loop")
                    .help("break the cycle of symlinks in the payload"));
            }
            let Some(resolved) = resolve_within(&cur_rel, &cur_target, install_dir) else {
                return Err(PlanError::new(&link, format!("symlink escapes the payload: `{rel}` -> `{target}`"))
                    .help(format!("make the link point inside the payload (relative, or absolute under {install_dir}), or ship the target in the payload")));
            };
            match nodes.get(&resolved) {
                Some(Node::Symlink { target }) => {
                    cur_rel = resolved;
                    cur_target = target.clone();
                }
                // Dangling links inside the payload are allowed (like `ln -s` of an optional file).
                _ => break,
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_relative_and_absolute_targets() {
        assert_eq!(resolve_within("a/b", "c", "/opt/x").as_deref(), Some("a/c"));
        assert_eq!(
            resolve_within("a/b", "../c", "/opt/x").as_deref(),
            Some("c")
        );
        assert_eq!(resolve_within("a/b", "../../c", "/opt/x"), None);
        assert_eq!(
            resolve_within("b", "/opt/x/lib/y", "/opt/x").as_deref(),
            Some("lib/y")
        );
        assert_eq!(resolve_within("b", "/etc/passwd", "/opt/x"), None);
    }
}
