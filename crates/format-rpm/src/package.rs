//! Assembling the package: header, dependencies, files, scriptlets, optional signature.

use std::collections::HashMap;
use std::io::Write;
use std::os::unix::fs::MetadataExt;

use pkg_core::compress::Codec;
use pkg_core::digest::HashingWriter;
use pkg_core::{Content, Entry, EntryKind, Plan};
use rpm::{
    BuildConfig, CompressionWithLevel, Dependency, FileOptions, PackageBuilder, Scriptlet,
    Timestamp,
};

use crate::{deps, file_name, scriptlets, sign, RpmError, RpmSummary, BUILD_HOST};

fn compression(codec: Codec) -> CompressionWithLevel {
    match codec {
        Codec::None => CompressionWithLevel::None,
        Codec::Gzip(l) => CompressionWithLevel::Gzip(l),
        // The rpm crate compresses the payload itself, single-threaded: `validate` refuses
        // xz-mt, whose bytes it could not give.
        Codec::Xz(l) | Codec::XzMt(l) => CompressionWithLevel::Xz(l),
        Codec::Zstd(l) => CompressionWithLevel::Zstd(l),
    }
}

/// Reads the source date the way the header needs it, refusing values the crate would replace by
/// the current time.
pub(crate) fn checked_source_date(plan: &Plan) -> Result<Timestamp, RpmError> {
    check_source_date(plan.source_date).map(Timestamp)
}

/// The rule of [`checked_source_date`] on its own, so that a build can refuse a source date the
/// rpm writer would refuse before any format is written: at most `u32::MAX` and not in the future.
pub fn check_source_date(date: u64) -> Result<u32, RpmError> {
    let t = u32::try_from(date).map_err(|_| RpmError::SourceDateTooLarge { date })?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(u64::MAX);
    if date > now {
        return Err(RpmError::SourceDateInFuture { date });
    }
    Ok(t)
}

/// Disk files that are hard links of a file listed earlier. The crate would turn such pairs into
/// an rpm hardlink set (detected by device and inode), so the package would depend on how the
/// payload directory happens to be laid out on this machine; these are passed as contents
/// instead, which breaks the link.
fn hardlinked_duplicates(plan: &Plan) -> Result<std::collections::HashSet<String>, RpmError> {
    let mut seen: HashMap<(u64, u64), &str> = HashMap::new();
    let mut dups = std::collections::HashSet::new();
    for e in &plan.entries {
        if let EntryKind::File {
            content: Content::Disk(src),
            ..
        } = &e.kind
        {
            let md = std::fs::metadata(src).map_err(|source| RpmError::Io {
                path: src.display().to_string(),
                source,
            })?;
            if md.nlink() > 1 {
                if let std::collections::hash_map::Entry::Vacant(v) =
                    seen.entry((md.dev(), md.ino()))
                {
                    v.insert(&e.path);
                } else {
                    dups.insert(e.path.clone());
                }
            }
        }
    }
    Ok(dups)
}

/// How the builder gets the bytes of files that live on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DiskFiles {
    /// `with_file`: the crate streams the file (the compressed payload ends up in memory).
    Crate,
    /// Read into memory (hard-linked duplicates, see [`hardlinked_duplicates`]).
    Read,
    /// An empty placeholder: the payload is written separately by [`crate::stream`], which
    /// patches sizes and digests into the header afterwards.
    Placeholder,
}

/// Entries the rpm lists: files, symlinks and the directories the package owns.
pub(crate) fn listed(e: &Entry) -> bool {
    // Shared parents (/usr, /etc, /opt…) belong to the filesystem package; claiming them would
    // make rpm -e try to remove them and conflict with other packages' modes.
    !matches!(e.kind, EntryKind::Dir) || e.owned
}

/// The installed size rpm-rs computes (RPMTAG_SIZE): file sizes plus symlink target lengths of
/// the listed entries (hard links are not reproduced, see [`hardlinked_duplicates`]).
pub(crate) fn installed_size(plan: &Plan) -> u64 {
    plan.entries
        .iter()
        .filter(|e| listed(e))
        .map(|e| match &e.kind {
            EntryKind::File { size, .. } => *size,
            EntryKind::Symlink { target } => target.len() as u64,
            EntryKind::Dir => 0,
        })
        .fold(0u64, u64::saturating_add)
}

/// rpm-rs switches to rpm's large-file layout (LONGSIZE, LONGFILESIZES, stripped cpio,
/// `rpmlib(LargeFiles)`) when the installed size exceeds `u32::MAX`; so does the streaming
/// writer, to stay byte-identical with it.
pub(crate) fn uses_large_files(plan: &Plan) -> bool {
    installed_size(plan) > u64::from(u32::MAX)
}

/// rpm-rs reads sysusers.d files to generate user()/group() provides, so they must keep their
/// real content even in placeholder mode (they are tiny).
pub(crate) fn needs_real_content(e: &Entry) -> bool {
    e.path.starts_with("/usr/lib/sysusers.d/") && e.path.ends_with(".conf")
}

fn add_entry(
    b: &mut PackageBuilder,
    e: &Entry,
    mtime: Timestamp,
    disk: DiskFiles,
) -> Result<bool, RpmError> {
    let ctx = || format!("adding {} to the rpm", e.path);
    let perms = (e.mode & 0o7777) as u16;
    match &e.kind {
        EntryKind::Dir => {
            if !listed(e) {
                return Ok(false);
            }
            let o = FileOptions::dir(&e.path)
                .permissions(perms)
                .user(&e.owner.user)
                .group(&e.owner.group)
                .modified_at(mtime);
            b.with_dir_entry(o).map_err(RpmError::rpm(ctx()))?;
        }
        EntryKind::Symlink { target } => {
            let o = FileOptions::symlink(&e.path, target)
                .user(&e.owner.user)
                .group(&e.owner.group)
                .modified_at(mtime);
            b.with_symlink(o).map_err(RpmError::rpm(ctx()))?;
        }
        EntryKind::File { content, .. } => {
            let mut o = FileOptions::new(&e.path)
                .permissions(perms)
                .user(&e.owner.user)
                .group(&e.owner.group)
                .modified_at(mtime);
            if e.config {
                o = o.config().noreplace();
            } else if e.path.starts_with("/usr/share/doc/") {
                o = o.doc();
            }
            match content {
                // Streamed by the crate at build time (hashed, then copied into the compressor).
                Content::Disk(_) if disk == DiskFiles::Placeholder && !needs_real_content(e) => {
                    b.with_file_contents(Vec::new(), o)
                        .map_err(RpmError::rpm(ctx()))?;
                }
                Content::Disk(src) if disk == DiskFiles::Crate => {
                    b.with_file(src, o).map_err(RpmError::rpm(format!(
                        "{} (from {})",
                        ctx(),
                        src.display()
                    )))?;
                }
                Content::Disk(src) => {
                    let bytes = std::fs::read(src).map_err(|source| RpmError::Io {
                        path: src.display().to_string(),
                        source,
                    })?;
                    b.with_file_contents(bytes, o)
                        .map_err(RpmError::rpm(ctx()))?;
                }
                Content::Inline(bytes) => {
                    b.with_file_contents(bytes.as_slice(), o)
                        .map_err(RpmError::rpm(ctx()))?;
                }
            }
        }
    }
    Ok(true)
}

/// Refuses header strings with control characters (a newline in Vendor, Packager, URL… breaks
/// every tool that prints or re-parses the header, and `rpm --queryformat` output). The check is
/// the one every package header uses, `pkg_core::render::header_field`.
pub(crate) fn check_header_fields(plan: &Plan) -> Result<(), RpmError> {
    use pkg_core::render::{header_field, header_text};
    const T: &str = "the rpm header";
    let meta = &plan.meta;
    let opts = &plan.formats.rpm;
    for (what, v) in [
        ("Name", Some(&meta.name)),
        ("Version", Some(&meta.version.pkg)),
        ("Release", Some(&meta.version.release)),
        ("License", Some(&meta.license)),
        ("Summary", Some(&meta.summary)),
        (
            "Packager",
            opts.packager.as_ref().or(Some(&meta.maintainer)),
        ),
        ("URL", meta.homepage.as_ref()),
        ("VCS", meta.source_url.as_ref()),
        ("Vendor", meta.vendor.as_ref()),
        ("Group", opts.group.as_ref()),
    ] {
        if let Some(v) = v {
            header_field(T, what, v)?;
        }
    }
    header_text(T, "Description", &meta.description)?;
    for c in &meta.changelog {
        header_field(T, "changelog author", &c.author)?;
        header_field(T, "changelog version", &c.version)?;
        for l in &c.changes {
            header_field(T, "changelog change", l)?;
        }
    }
    Ok(())
}

fn changelog_author_line(author: &str, version: &str) -> String {
    format!("{author} - {version}")
}

/// Builds the package with the crate, unsigned. With [`DiskFiles::Crate`] the result is complete
/// (payload in memory); with [`DiskFiles::Placeholder`] it is the skeleton [`crate::stream`]
/// completes.
pub(crate) fn build_unsigned(
    plan: &Plan,
    disk: DiskFiles,
) -> Result<(rpm::Package, usize), RpmError> {
    let mtime = checked_source_date(plan)?;
    check_header_fields(plan)?;
    let meta = &plan.meta;
    let opts = &plan.formats.rpm;

    let config = BuildConfig::v4()
        .compression(compression(opts.compression))
        .source_date(mtime);
    let mut b = PackageBuilder::new(
        &meta.name,
        &meta.version.pkg,
        &meta.license,
        plan.arch.rpm(),
        &meta.summary,
    );
    b.using_config(config)
        .release(&meta.version.release)
        .description(&meta.description)
        .packager(opts.packager.as_deref().unwrap_or(&meta.maintainer))
        .build_host(BUILD_HOST);
    if let Some(epoch) = meta.version.epoch {
        b.epoch(epoch);
    }
    if let Some(url) = &meta.homepage {
        b.url(url);
    }
    if let Some(vcs) = &meta.source_url {
        b.vcs(vcs);
    }
    if let Some(vendor) = &meta.vendor {
        b.vendor(vendor);
    }
    if let Some(group) = &opts.group {
        b.group(group);
    }

    for c in &meta.changelog {
        let text: String = c.changes.iter().map(|l| format!("- {l}\n")).collect();
        let ts =
            u32::try_from(c.date).map_err(|_| RpmError::SourceDateTooLarge { date: c.date })?;
        b.add_changelog_entry(
            changelog_author_line(&c.author, &c.version),
            text.trim_end(),
            Timestamp(ts),
        );
    }

    for d in deps::parse_all("requires", &opts.requires)? {
        b.requires(d);
    }
    // Shared-library requirements the plan derived from the ELF files, as rpmbuild writes them.
    for d in deps::auto_requires(&opts.shlib_requires)? {
        b.requires(d);
    }
    for d in deps::parse_all("recommends", &opts.recommends)? {
        b.recommends(d);
    }
    for d in deps::parse_all("provides", &meta.provides)? {
        b.provides(d);
    }
    for d in deps::parse_all("conflicts", &meta.conflicts)? {
        b.conflicts(d);
    }
    // Debian's Replaces (take over another package's files/name) is rpm's Obsoletes.
    for d in deps::parse_all("replaces", &meta.replaces)? {
        b.obsoletes(d);
    }

    if let Some(intent) = &plan.service {
        if intent.user.is_some() {
            // The fallback path of %pre; systemd-sysusers is used first when present.
            b.requires(Dependency::script_pre("/usr/sbin/useradd"));
            b.requires(Dependency::script_pre("/usr/sbin/groupadd"));
            b.requires(Dependency::script_pre("/usr/bin/getent"));
        }
        if !intent.units.is_empty() {
            // Fedora's %systemd_requires: order systemd before our scriptlets in a transaction.
            b.requires(Dependency::script_post("systemd"));
            b.requires(Dependency::script_preun("systemd"));
            b.requires(Dependency::script_postun("systemd"));
        }
    }

    let s = scriptlets::generate(plan.service.as_ref())?;
    let sh = |body: &str| Scriptlet::new(body).prog(vec!["/bin/sh"]);
    if let Some(x) = &s.pre {
        b.pre_install_script(sh(x));
    }
    if let Some(x) = &s.post {
        b.post_install_script(sh(x));
    }
    if let Some(x) = &s.preun {
        b.pre_uninstall_script(sh(x));
    }
    if let Some(x) = &s.postun {
        b.post_uninstall_script(sh(x));
    }

    if disk == DiskFiles::Placeholder && uses_large_files(plan) {
        // The crate adds this itself when it sees the real sizes; the placeholders hide them.
        // Added here (the crate sorts requires afterwards) the header matches the crate's.
        b.requires(Dependency::rpmlib("LargeFiles", "4.12.0-1"));
    }

    let dups = match disk {
        DiskFiles::Crate => hardlinked_duplicates(plan)?,
        _ => Default::default(),
    };
    let mut count = 0;
    for e in &plan.entries {
        let mode = if dups.contains(&e.path) {
            DiskFiles::Read
        } else {
            disk
        };
        if add_entry(&mut b, e, mtime, mode)? {
            count += 1;
        }
    }

    let pkg = b.build().map_err(RpmError::rpm("building the rpm"))?;
    Ok((pkg, count))
}

/// The crate hashed every file while building; a payload file edited between planning and now
/// would give this rpm different bytes than the other formats of the same build.
fn check_digests_match_plan(plan: &Plan, pkg: &rpm::Package) -> Result<(), RpmError> {
    let entries = pkg
        .metadata
        .get_file_entries()
        .map_err(RpmError::rpm("reading back the file list"))?;
    for fe in entries {
        let path = fe.path().to_string_lossy().into_owned();
        let (Some(digest), Some(e)) = (fe.digest(), plan.entry(&path)) else {
            continue;
        };
        if let EntryKind::File { sha256, .. } = &e.kind {
            if digest.as_hex() != hex_lower(sha256) {
                return Err(RpmError::PayloadChanged { path });
            }
        }
    }
    Ok(())
}

pub(crate) fn hex_lower(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Builds the plan's rpm entirely with the `rpm` crate (compressed payload held in memory) and
/// writes it to `out`. [`crate::write_rpm`] produces the same header and the same uncompressed
/// payload with bounded memory and better compression; this path is kept as the reference the
/// tests compare it with.
#[doc(hidden)]
pub fn write_rpm_in_memory<W: Write>(plan: &Plan, out: W) -> Result<RpmSummary, RpmError> {
    let (mut pkg, files) = build_unsigned(plan, DiskFiles::Crate)?;
    check_digests_match_plan(plan, &pkg)?;
    if let Some(key) = &plan.formats.rpm.signing_key {
        sign::sign(&mut pkg, key, checked_source_date(plan)?)?;
    }
    let mut w = HashingWriter::new(out);
    pkg.write(&mut w)
        .map_err(RpmError::rpm("writing the rpm"))?;
    w.flush().map_err(|source| RpmError::Io {
        path: file_name(plan),
        source,
    })?;
    let (_, sha, size) = w.finish();
    Ok(summary(plan, files, sha, size))
}

pub(crate) fn summary(plan: &Plan, files: usize, sha: [u8; 32], size: u64) -> RpmSummary {
    RpmSummary {
        file_name: file_name(plan),
        size,
        sha256: hex_lower(&sha),
        compression: plan.formats.rpm.compression.to_string(),
        files,
        signed: plan.formats.rpm.signing_key.is_some(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pkg_core::sample::lucia_like_plan;
    use pkg_core::Arch;

    #[test]
    fn header_fields_with_control_characters_are_refused() {
        let set: [fn(&mut Plan); 4] = [
            |p| p.meta.vendor = Some("Lucia\nPackager: evil".into()),
            |p| p.meta.homepage = Some("https://x\r".into()),
            |p| p.formats.rpm.group = Some("a\tb".into()),
            |p| p.meta.changelog[0].changes.push("x\n- injected".into()),
        ];
        for f in set {
            let mut plan = lucia_like_plan(Arch::Amd64);
            f(&mut plan);
            assert!(matches!(
                check_header_fields(&plan),
                Err(RpmError::Render(_))
            ));
        }
        assert!(check_header_fields(&lucia_like_plan(Arch::Amd64)).is_ok());
    }
}
