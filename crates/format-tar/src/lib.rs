//! The release tarball: `<name>-<version>/` holding the installed tree under `root/`, a `MANIFEST`
//! of every entry with its declared mode and owner, and an `install.sh` that applies it — for
//! systems that take neither deb nor rpm.

pub mod inspect;
mod install_script;

use std::io::{self, Write};
use std::sync::Arc;

use pkg_core::compress::Encoder;
use pkg_core::determinism::{DIR_MODE, EXEC_MODE, FILE_MODE};
use pkg_core::plan::{EntryKind, Owner, Plan};
use pkg_core::render::{ManifestLine, RenderError};
use pkg_core::segment::SegmentCache;
use pkg_core::tar_stream::{TarError, TarStream};

pub use inspect::{inspect, TarReport};

#[derive(Debug, thiserror::Error)]
pub enum TarballError {
    #[error(transparent)]
    Entry(#[from] TarError),
    #[error("writing the tarball: {0}")]
    Io(#[from] io::Error),
    /// A plan value MANIFEST or install.sh cannot hold unchanged (fix the manifest or payload).
    #[error(transparent)]
    Render(#[from] RenderError),
}

/// `lucia-1.0.0-linux-amd64.tar.gz`
pub fn file_name(plan: &Plan) -> String {
    let ext = plan.formats.tar.compression.extension();
    let dot = if ext.is_empty() { "" } else { "." };
    format!(
        "{}-{}-linux-{}.tar{dot}{ext}",
        plan.meta.name,
        plan.meta.version.upstream,
        plan.arch.as_str()
    )
}

/// The top directory inside the tarball.
pub fn top_dir(plan: &Plan) -> String {
    format!("{}-{}", plan.meta.name, plan.meta.version.upstream)
}

/// What was written.
#[derive(Debug, Clone)]
pub struct TarSummary {
    pub entries: usize,
}

/// One line per entry, tab-separated: kind, mode, user, group, path[, symlink target].
/// Kinds: `D` shared directory, `d` owned directory, `f` file, `c` config file, `l` symlink.
/// Each line is rendered by `pkg_core::render::ManifestLine`, which documents the encoding and
/// refuses (rather than escapes) a field holding a tab, a newline or another control character.
pub fn manifest_listing(plan: &Plan) -> Result<String, RenderError> {
    let mut s = String::new();
    for e in &plan.entries {
        let (kind, target) = match &e.kind {
            EntryKind::Dir if e.owned => ('d', None),
            EntryKind::Dir => ('D', None),
            EntryKind::File { .. } if e.config => ('c', None),
            EntryKind::File { .. } => ('f', None),
            EntryKind::Symlink { target } => ('l', Some(target.as_str())),
        };
        s.push_str(
            &ManifestLine {
                kind,
                mode: e.mode,
                user: &e.owner.user,
                group: &e.owner.group,
                path: &e.path,
                target,
            }
            .render()?,
        );
    }
    Ok(s)
}

/// Everything [`write_tarball`] would refuse in `plan` before reading any payload file: the
/// MANIFEST lines and install.sh. Cheap; `lucia-pkg check` runs it.
pub fn validate(plan: &Plan) -> Result<(), TarballError> {
    manifest_listing(plan)?;
    install_script::render(plan)?;
    Ok(())
}

/// Streams the tarball for `plan` into `out`. The MANIFEST and install.sh are rendered before
/// anything is written, so a value they cannot hold leaves `out` untouched.
pub fn write_tarball<W: Write>(plan: &Plan, out: W) -> Result<TarSummary, TarballError> {
    write_tarball_with(plan, out, None)
}

/// [`write_tarball`] reusing and storing the compressed segments of large payload files in
/// `segments` (the bytes are the same with or without it; see `pkg_core::segment`).
pub fn write_tarball_with<W: Write>(
    plan: &Plan,
    out: W,
    segments: Option<Arc<SegmentCache>>,
) -> Result<TarSummary, TarballError> {
    let readme = install_script::readme(plan);
    let listing = manifest_listing(plan)?;
    let script = install_script::render(plan)?;
    let top = top_dir(plan);
    let enc = Encoder::segmented(
        plan.formats.tar.compression,
        out,
        plan.formats.tar.segments,
        segments,
    )?;
    let mut t = TarStream::new(enc, plan.source_date);
    let root = Owner::root();
    t.append_dir(&top, DIR_MODE, &root)?;
    t.append_bytes(
        &format!("{top}/MANIFEST"),
        FILE_MODE,
        &root,
        listing.as_bytes(),
    )?;
    t.append_bytes(
        &format!("{top}/README"),
        FILE_MODE,
        &root,
        readme.as_bytes(),
    )?;
    t.append_bytes(
        &format!("{top}/install.sh"),
        EXEC_MODE,
        &root,
        script.as_bytes(),
    )?;
    t.append_dir(&format!("{top}/root"), DIR_MODE, &root)?;
    let prefix = format!("{top}/root/");
    for e in &plan.entries {
        t.append_entry(&prefix, e)?;
    }
    let enc = t.finish()?;
    let mut out = enc.finish()?;
    out.flush()?;
    Ok(TarSummary {
        entries: plan.entries.len() + 5,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use pkg_core::sample::lucia_like_plan;
    use pkg_core::Arch;

    #[test]
    fn deterministic_and_named() {
        let plan = lucia_like_plan(Arch::Amd64);
        assert_eq!(file_name(&plan), "lucia-1.0.0-linux-amd64.tar.gz");
        let mut a = Vec::new();
        write_tarball(&plan, &mut a).unwrap();
        let mut b = Vec::new();
        write_tarball(&plan, &mut b).unwrap();
        assert_eq!(a, b);
        let listing = manifest_listing(&plan).unwrap();
        assert!(
            listing.contains("c\t0640\troot\tlucia\t/etc/lucia/lucia.env\n"),
            "{listing}"
        );
        assert!(listing.contains("D\t0755\troot\troot\t/usr\n"));
    }

    /// A field MANIFEST cannot hold unambiguously, or an account install.sh cannot create
    /// safely, fails the tarball before a byte is written.
    #[test]
    fn unrenderable_values_are_refused_before_writing() {
        let mut plan = lucia_like_plan(Arch::Amd64);
        plan.entries[1].owner.user = "root\nf\t0755\troot\troot\t/etc/passwd".into();
        let mut out = Vec::new();
        assert!(matches!(
            write_tarball(&plan, &mut out),
            Err(TarballError::Render(_))
        ));
        assert!(out.is_empty());

        let mut plan = lucia_like_plan(Arch::Amd64);
        let svc = plan.service.as_mut().unwrap();
        svc.dirs[0].path = "/var/lib/lucia\nd /etc 0777 root root -".into();
        svc.user.as_mut().unwrap().shell = "/bin/sh -i".into();
        assert!(install_script::render(&plan).is_err());
        let mut out = Vec::new();
        assert!(write_tarball(&plan, &mut out).is_err());
        assert!(out.is_empty());
    }

    #[test]
    fn install_script_parses() {
        let plan = lucia_like_plan(Arch::Arm64);
        let script = install_script::render(&plan).unwrap();
        let out = std::process::Command::new("sh")
            .arg("-n")
            .arg("-c")
            .arg(&script)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
