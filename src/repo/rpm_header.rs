//! What `repo dnf` needs from one .rpm: its header fields, dependencies, file list, changelog,
//! header byte range, sizes and checksum.
//!
//! The file is untrusted. It first goes through `format_rpm::inspect` (header sizes checked
//! against the file size before the `rpm` crate parses anything, the parser under
//! `catch_unwind`, header and payload digests checked, the payload decompressed with bounded
//! memory); a file that is not an rpm, or whose digests do not match, is bad input (exit 2).
//! Only then is the header parsed again with the `rpm` crate for the fields inspect does not
//! report (dependency flags, file types, byte offsets).

use std::fs;
use std::io::{BufReader, Read, Seek};
use std::path::Path;

use rpm::{DependencyFlags, FileFlags, FileType, IndexSignatureTag, IndexTag, PackageMetadata};
use sha2::{Digest, Sha256};

use crate::error::AppError;

/// One dependency (provides, requires, ...), with the version split as repodata writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dep {
    pub name: String,
    /// `EQ`, `LT`, `GT`, `LE`, `GE`; `None` without a version.
    pub flags: Option<&'static str>,
    pub epoch: Option<String>,
    pub ver: Option<String>,
    pub rel: Option<String>,
    /// Needed by the %pre/%post scriptlets (requires only).
    pub pre: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    File,
    Dir,
    Ghost,
}

#[derive(Debug, Clone)]
pub struct PkgFile {
    pub path: String,
    pub kind: FileKind,
}

#[derive(Debug, Clone)]
pub struct Change {
    pub author: String,
    pub date: u64,
    pub text: String,
}

/// Everything repodata says about one package.
#[derive(Debug, Clone)]
pub struct RpmInfo {
    pub name: String,
    pub epoch: u32,
    pub version: String,
    pub release: String,
    pub arch: String,
    pub summary: String,
    pub description: String,
    pub packager: String,
    pub url: String,
    pub license: String,
    pub vendor: String,
    pub group: String,
    pub buildhost: String,
    pub sourcerpm: String,
    /// BUILDTIME: for a lucia-pkg rpm, the source date.
    pub build_time: u64,
    pub header_start: u64,
    pub header_end: u64,
    pub size_package: u64,
    pub size_installed: u64,
    pub size_archive: u64,
    /// sha256 of the whole file (the package id).
    pub sha256: String,
    pub provides: Vec<Dep>,
    pub requires: Vec<Dep>,
    pub conflicts: Vec<Dep>,
    pub obsoletes: Vec<Dep>,
    pub suggests: Vec<Dep>,
    pub enhances: Vec<Dep>,
    pub recommends: Vec<Dep>,
    pub supplements: Vec<Dep>,
    pub files: Vec<PkgFile>,
    /// Oldest first.
    pub changelog: Vec<Change>,
}

impl RpmInfo {
    /// `name-[epoch:]version-release.arch`.
    pub fn nevra(&self) -> String {
        let epoch = if self.epoch > 0 {
            format!("{}:", self.epoch)
        } else {
            String::new()
        };
        format!(
            "{}-{epoch}{}-{}.{}",
            self.name, self.version, self.release, self.arch
        )
    }
}

/// Files yum and dnf expect in primary.xml (the rest are only in filelists.xml): what
/// dependencies on paths usually name.
pub fn is_primary_file(path: &str) -> bool {
    path.starts_with("/etc/") || path.contains("bin/") || path == "/usr/lib/sendmail"
}

/// `[epoch:]version[-release]` as repodata splits it; the epoch is `0` when not written.
fn split_evr(v: &str) -> (Option<String>, Option<String>, Option<String>) {
    if v.is_empty() {
        return (None, None, None);
    }
    let (epoch, rest) = match v.split_once(':') {
        Some((e, r)) if !e.is_empty() && e.bytes().all(|b| b.is_ascii_digit()) => (e, r),
        _ => ("0", v),
    };
    let (ver, rel) = match rest.rsplit_once('-') {
        Some((a, b)) => (a.to_string(), Some(b.to_string())),
        None => (rest.to_string(), None),
    };
    (Some(epoch.to_string()), Some(ver), rel)
}

fn sense(flags: DependencyFlags) -> Option<&'static str> {
    let l = flags.contains(DependencyFlags::LESS);
    let g = flags.contains(DependencyFlags::GREATER);
    let e = flags.contains(DependencyFlags::EQUAL);
    match (l, g, e) {
        (false, false, true) => Some("EQ"),
        (true, false, false) => Some("LT"),
        (false, true, false) => Some("GT"),
        (true, false, true) => Some("LE"),
        (false, true, true) => Some("GE"),
        _ => None,
    }
}

fn dep(d: &rpm::Dependency, pre: bool) -> Dep {
    let (epoch, ver, rel) = split_evr(&d.version);
    let flags = if ver.is_some() { sense(d.flags) } else { None };
    Dep {
        name: d.name.clone(),
        flags,
        epoch: flags.and(epoch),
        ver: flags.and(ver),
        rel: flags.and(rel),
        pre,
    }
}

/// Reads `path`; anything that is not an intact binary rpm is bad input (exit 2) naming it.
pub fn read(path: &Path) -> Result<RpmInfo, AppError> {
    let shown = path.display().to_string();
    let bad = |why: String| AppError::Input(format!("{shown}: {why}"));
    let report = format_rpm::inspect(path).map_err(|e| {
        let msg = e.to_string();
        match e {
            format_rpm::RpmError::Io { .. } => AppError::Input(msg),
            _ if msg.contains(&shown) => AppError::Input(format!(
                "{msg}; give .rpm files built by `lucia-pkg build` (or any rpm ≥ 4.14)"
            )),
            _ => bad(format!("not a readable rpm package: {msg}")),
        }
    })?;
    if !report.digests.ok {
        let d = &report.digests;
        return Err(bad(format!(
            "corrupted rpm: its digests do not match (header sha256: {}, payload sha256: {}, uncompressed payload: {}); rebuild the package or download it again",
            d.header_sha256, d.payload_sha256, d.payload_sha256_uncompressed
        )));
    }

    let io = |e: std::io::Error| AppError::Input(format!("reading {shown}: {e}"));
    let mut reader = BufReader::new(fs::File::open(path).map_err(io)?);
    let parsed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        PackageMetadata::parse(&mut reader)
    }));
    let meta = match parsed {
        Ok(Ok(m)) => m,
        Ok(Err(e)) => return Err(bad(format!("not a readable rpm package: {e}"))),
        Err(_) => {
            return Err(bad(
                "not a readable rpm package: the rpm parser rejected a malformed header".into(),
            ))
        }
    };
    let payload_at = reader.stream_position().map_err(io)?;
    let offsets = meta.get_package_segment_offsets();
    if offsets.payload != payload_at {
        return Err(bad(format!(
            "not a readable rpm package: its header ends at byte {payload_at}, not at {} as its sizes say",
            offsets.payload
        )));
    }
    if meta.is_source_package() {
        return Err(bad(
            "a source rpm: a DNF repository made by `repo dnf` holds binary packages only".into(),
        ));
    }

    // The whole file's size and sha256 (the package id).
    let mut f = reader.into_inner();
    f.rewind().map_err(io)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut size = 0u64;
    loop {
        let n = f.read(&mut buf).map_err(io)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
        size += n as u64;
    }

    let need = |what: &str, v: Result<&str, rpm::Error>| {
        v.map(str::to_string)
            .map_err(|e| bad(format!("not a readable rpm package: no {what} ({e})")))
    };
    let opt = |tag: IndexTag| {
        meta.header
            .get_entry_data_as_string(tag)
            .map(str::to_string)
            .unwrap_or_default()
    };
    let text = |v: Result<&str, rpm::Error>| v.map(str::to_string).unwrap_or_default();
    let sig_u64 = |tag: IndexSignatureTag| {
        meta.signature.get_entry_data_as_u64(tag).ok().or_else(|| {
            meta.signature
                .get_entry_data_as_u32(tag)
                .ok()
                .map(u64::from)
        })
    };
    let hdr_u64 = |tag: IndexTag| {
        meta.header
            .get_entry_data_as_u64(tag)
            .ok()
            .or_else(|| meta.header.get_entry_data_as_u32(tag).ok().map(u64::from))
    };
    let size_archive = sig_u64(IndexSignatureTag::RPMSIGTAG_LONGARCHIVESIZE)
        .or_else(|| sig_u64(IndexSignatureTag::RPMSIGTAG_PAYLOADSIZE))
        .or_else(|| hdr_u64(IndexTag::RPMTAG_LONGARCHIVESIZE))
        .or_else(|| hdr_u64(IndexTag::RPMTAG_ARCHIVESIZE))
        .unwrap_or(0);

    let deps = |what: &str, v: Result<Vec<rpm::Dependency>, rpm::Error>| {
        v.map_err(|e| bad(format!("not a readable rpm package: its {what} ({e})")))
    };
    let plain = |v: Vec<rpm::Dependency>| -> Vec<Dep> { v.iter().map(|d| dep(d, false)).collect() };
    let provides = plain(deps("provides", meta.get_provides())?);
    let files: Vec<PkgFile> = meta
        .get_file_entries()
        .map_err(|e| bad(format!("not a readable rpm package: its file list ({e})")))?
        .iter()
        .map(|fe| {
            let dir = fe.dirname();
            let path = if dir.ends_with('/') {
                format!("{dir}{}", fe.basename())
            } else {
                format!("{dir}/{}", fe.basename())
            };
            let kind = if fe.mode().file_type() == FileType::Dir {
                FileKind::Dir
            } else if fe.flags().contains(FileFlags::GHOST) {
                FileKind::Ghost
            } else {
                FileKind::File
            };
            PkgFile { path, kind }
        })
        .collect();
    let requires = requires(deps("requires", meta.get_requires())?, &provides, &files);
    let mut changelog: Vec<Change> = meta
        .get_changelog_entries()
        .map_err(|e| bad(format!("not a readable rpm package: its changelog ({e})")))?
        .into_iter()
        .map(|c| Change {
            author: c.name,
            date: c.timestamp,
            text: c.description,
        })
        .collect();
    changelog.reverse();

    Ok(RpmInfo {
        name: need("name", meta.get_name())?,
        epoch: meta.get_epoch().unwrap_or(0),
        version: need("version", meta.get_version())?,
        release: need("release", meta.get_release())?,
        arch: need("architecture", meta.get_arch())?,
        summary: text(meta.get_summary()),
        description: text(meta.get_description()),
        packager: text(meta.get_packager()),
        url: text(meta.get_url()),
        license: text(meta.get_license()),
        vendor: text(meta.get_vendor()),
        group: text(meta.get_group()),
        buildhost: text(meta.get_build_host()),
        sourcerpm: opt(IndexTag::RPMTAG_SOURCERPM),
        build_time: meta.get_build_time().unwrap_or(0),
        header_start: offsets.header,
        header_end: offsets.payload,
        size_package: size,
        size_installed: meta.get_installed_size().unwrap_or(0),
        size_archive,
        sha256: hex::encode(h.finalize()),
        provides,
        requires,
        conflicts: plain(deps("conflicts", meta.get_conflicts())?),
        obsoletes: plain(deps("obsoletes", meta.get_obsoletes())?),
        suggests: plain(deps("suggests", meta.get_suggests())?),
        enhances: plain(deps("enhances", meta.get_enhances())?),
        recommends: plain(deps("recommends", meta.get_recommends())?),
        supplements: plain(deps("supplements", meta.get_supplements())?),
        files,
        changelog,
    })
}

/// The requires repodata lists: not `rpmlib(...)` (rpm's own features), not what the package
/// provides itself or a primary file it contains, each (name, flags, version, pre) once.
fn requires(all: Vec<rpm::Dependency>, provides: &[Dep], files: &[PkgFile]) -> Vec<Dep> {
    let pre_bits =
        DependencyFlags::PREREQ | DependencyFlags::SCRIPT_PRE | DependencyFlags::SCRIPT_POST;
    let mut out: Vec<Dep> = Vec::new();
    for d in &all {
        if d.name.starts_with("rpmlib(")
            || provides.iter().any(|p| p.name == d.name)
            || (is_primary_file(&d.name) && files.iter().any(|f| f.path == d.name))
        {
            continue;
        }
        let r = dep(d, d.flags.intersects(pre_bits));
        if !out.contains(&r) {
            out.push(r);
        }
    }
    out
}

/// rpm's version comparison (`rpmvercmp`): alternating runs of digits (numeric) and letters
/// (lexical), `~` sorts before everything (even the end), `^` after the end but before anything
/// else; other characters only separate.
pub fn rpmvercmp(a: &str, b: &str) -> std::cmp::Ordering {
    use std::cmp::Ordering::*;
    if a == b {
        return Equal;
    }
    let (mut x, mut y) = (a.as_bytes(), b.as_bytes());
    let sep = |c: u8| !c.is_ascii_alphanumeric() && c != b'~' && c != b'^';
    loop {
        while x.first().is_some_and(|&c| sep(c)) {
            x = &x[1..];
        }
        while y.first().is_some_and(|&c| sep(c)) {
            y = &y[1..];
        }
        // Tilde: older than anything, the end included.
        match (x.first() == Some(&b'~'), y.first() == Some(&b'~')) {
            (true, true) => {
                x = &x[1..];
                y = &y[1..];
                continue;
            }
            (true, false) => return Less,
            (false, true) => return Greater,
            _ => {}
        }
        // Caret: newer than the end, older than anything else.
        match (x.first() == Some(&b'^'), y.first() == Some(&b'^')) {
            (true, true) => {
                x = &x[1..];
                y = &y[1..];
                continue;
            }
            (true, false) => return if y.is_empty() { Greater } else { Less },
            (false, true) => return if x.is_empty() { Less } else { Greater },
            _ => {}
        }
        match (x.is_empty(), y.is_empty()) {
            (true, true) => return Equal,
            (true, false) => return Less,
            (false, true) => return Greater,
            _ => {}
        }
        let numeric = x[0].is_ascii_digit();
        let run = |s: &[u8]| {
            s.iter()
                .take_while(|c| {
                    if numeric {
                        c.is_ascii_digit()
                    } else {
                        c.is_ascii_alphabetic()
                    }
                })
                .count()
        };
        let (nx, ny) = (run(x), run(y));
        if ny == 0 {
            // Different kinds: a number is newer than letters.
            return if numeric { Greater } else { Less };
        }
        let (sx, sy) = (&x[..nx], &y[..ny]);
        let ord = if numeric {
            let tx = &sx[sx.iter().take_while(|&&c| c == b'0').count()..];
            let ty = &sy[sy.iter().take_while(|&&c| c == b'0').count()..];
            tx.len().cmp(&ty.len()).then_with(|| tx.cmp(ty))
        } else {
            sx.cmp(sy)
        };
        if ord != Equal {
            return ord;
        }
        x = &x[nx..];
        y = &y[ny..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cmp::Ordering::*;

    #[test]
    fn rpm_version_order() {
        for (a, b, want) in [
            ("1.0", "1.0", Equal),
            ("1.0", "1.1", Less),
            ("1.10", "1.9", Greater),
            ("1.0~rc1", "1.0", Less),
            ("1.0~rc1", "1.0~rc2", Less),
            ("1.0^git1", "1.0", Greater),
            ("1.0^git1", "1.0.1", Less),
            ("1.0a", "1.0", Greater),
            ("1.0a", "1.0.1", Less),
            ("2.0", "2.0.0", Less),
            ("1.01", "1.1", Equal),
            ("a", "1", Less),
            ("1_0", "1.0", Equal),
        ] {
            assert_eq!(rpmvercmp(a, b), want, "{a} vs {b}");
            assert_eq!(rpmvercmp(b, a), want.reverse(), "{b} vs {a}");
        }
    }

    #[test]
    fn evr_split_and_flags() {
        assert_eq!(
            split_evr("1.0.0-1"),
            (Some("0".into()), Some("1.0.0".into()), Some("1".into()))
        );
        assert_eq!(
            split_evr("2:2.28"),
            (Some("2".into()), Some("2.28".into()), None)
        );
        assert_eq!(split_evr(""), (None, None, None));
        assert_eq!(sense(DependencyFlags::GE), Some("GE"));
        assert_eq!(sense(DependencyFlags::EQUAL), Some("EQ"));
        assert_eq!(sense(DependencyFlags::ANY), None);
    }

    #[test]
    fn requires_filtering() {
        let d = |name: &str, flags: DependencyFlags, v: &str| rpm::Dependency {
            name: name.into(),
            flags,
            version: v.into(),
        };
        let provides = vec![Dep {
            name: "config(x)".into(),
            flags: Some("EQ"),
            epoch: Some("0".into()),
            ver: Some("1".into()),
            rel: Some("1".into()),
            pre: false,
        }];
        let files = vec![PkgFile {
            path: "/usr/bin/x".into(),
            kind: FileKind::File,
        }];
        let out = requires(
            vec![
                d("rpmlib(FileDigests)", DependencyFlags::LE, "4.6.0-1"),
                d("config(x)", DependencyFlags::EQUAL, "1-1"),
                d("/usr/bin/x", DependencyFlags::ANY, ""),
                d("/bin/sh", DependencyFlags::SCRIPT_PRE, ""),
                d("/bin/sh", DependencyFlags::SCRIPT_POST, ""),
                d("/bin/sh", DependencyFlags::SCRIPT_PREUN, ""),
                d("glibc", DependencyFlags::GE, "2.28"),
            ],
            &provides,
            &files,
        );
        let names: Vec<(&str, bool)> = out.iter().map(|d| (d.name.as_str(), d.pre)).collect();
        assert_eq!(
            names,
            [("/bin/sh", true), ("/bin/sh", false), ("glibc", false)]
        );
        assert_eq!(out[2].flags, Some("GE"));
        assert_eq!(out[2].ver.as_deref(), Some("2.28"));
    }
}
