//! `lucia-pkg repo dnf`: a DNF/YUM repository (repodata, as createrepo_c lays it out) as a static
//! directory.
//!
//! ```text
//! REPO/Packages/<first letter of the name>/<name>-<version>-<release>.<arch>.rpm
//! REPO/repodata/repomd.xml              the index: revision and one <data> per metadata file
//! REPO/repodata/repomd.xml.asc          detached armored OpenPGP signature (when signed)
//! REPO/repodata/<sha256>-primary.xml.gz     (or .xml.zst with --compression zstd)
//! REPO/repodata/<sha256>-filelists.xml.gz
//! REPO/repodata/<sha256>-other.xml.gz
//! REPO/repo-key.asc                     the public key (when signed)
//! ```
//!
//! `Packages/` only grows: packages already there are kept and the metadata is rebuilt from all of
//! them, so the repodata is a function of the set of packages, the compression, the key and the
//! date (see [`super`]). Metadata files are named by their sha256, so a client that read the
//! previous repomd.xml still finds the files it names while the new ones are written; files no
//! longer named are removed at the end.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use pkg_core::compress::{compress_bytes, Codec};
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::apt::PUBLIC_KEY_FILE;
use super::rpm_header::{self, is_primary_file, rpmvercmp, Dep, FileKind, RpmInfo};
use super::sign::RepoKey;
use super::xml;
use super::{copy_file, make_dirs, repo_date, write_file};
use crate::error::AppError;

/// Where the packages live, relative to the repository root.
pub const POOL: &str = "Packages";
/// Where the metadata lives.
pub const REPODATA: &str = "repodata";

/// How the metadata files are compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    /// What every yum and dnf reads (EL7's yum cannot read zstd).
    Gzip,
    /// Smaller; dnf on EL8+/Fedora reads it.
    Zstd,
}

impl Compression {
    pub fn parse(s: &str) -> Result<Compression, AppError> {
        match s {
            "gzip" => Ok(Compression::Gzip),
            "zstd" => Ok(Compression::Zstd),
            _ => Err(AppError::Input(format!(
                "--compression `{}`: use gzip (readable by every yum and dnf) or zstd (dnf on EL8+/Fedora)",
                s.escape_debug()
            ))),
        }
    }
    fn codec(self) -> Codec {
        match self {
            Compression::Gzip => Codec::Gzip(9),
            Compression::Zstd => Codec::Zstd(19),
        }
    }
    fn extension(self) -> &'static str {
        match self {
            Compression::Gzip => "gz",
            Compression::Zstd => "zst",
        }
    }
}

pub struct DnfOptions {
    pub out: PathBuf,
    pub compression: Compression,
    pub key: Option<RepoKey>,
    pub inputs: Vec<PathBuf>,
}

#[derive(Debug, Serialize)]
pub struct PackageRow {
    pub name: String,
    pub epoch: u32,
    pub version: String,
    pub release: String,
    pub arch: String,
    /// Relative to the repository root.
    pub filename: String,
    pub sha256: String,
    /// Added by this run (false: it was already under Packages/).
    pub added: bool,
}

#[derive(Debug, Serialize)]
pub struct MetadataRow {
    /// `primary`, `filelists`, `other`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Relative to the repository root.
    pub location: String,
    pub size: u64,
    pub sha256: String,
    pub open_size: u64,
    pub open_sha256: String,
}

#[derive(Debug, Serialize)]
pub struct DnfReport {
    pub dir: String,
    /// repomd `revision` and every `timestamp` (seconds since 1970).
    pub revision: u64,
    /// The same, as RFC 3339 UTC.
    pub date: String,
    pub compression: Compression,
    /// Fingerprint of the signing (sub)key, when signed.
    pub signed_by: Option<String>,
    pub packages: Vec<PackageRow>,
    pub metadata: Vec<MetadataRow>,
}

/// One package of the repository.
struct Pkg {
    info: RpmInfo,
    /// The file read (an input, or the pool file).
    path: PathBuf,
    /// `Packages/...`, relative to the repository root.
    filename: String,
    added: bool,
}

type Key = (String, u32, String, String, String);

impl Pkg {
    fn key(&self) -> Key {
        let i = &self.info;
        (
            i.name.clone(),
            i.epoch,
            i.version.clone(),
            i.release.clone(),
            i.arch.clone(),
        )
    }
}

fn word_ok(s: &str, extra: &[u8]) -> bool {
    !s.is_empty()
        && s.len() <= 200
        && !s.starts_with(['.', '-'])
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || extra.contains(&b))
}

/// Name, version, release and architecture must make a plain file name and URL path.
fn check_nevra(path: &Path, i: &RpmInfo) -> Result<(), AppError> {
    for (what, v, extra) in [
        ("Name", &i.name, &b"._+-"[..]),
        ("Version", &i.version, &b"._+~^"[..]),
        ("Release", &i.release, &b"._+~^"[..]),
        ("Arch", &i.arch, &b"_"[..]),
    ] {
        if !word_ok(v, extra) {
            return Err(AppError::Input(format!(
                "{}: {what} `{}` cannot be part of a repository file name (use letters, digits and {})",
                path.display(),
                v.escape_debug(),
                extra.iter().map(|&b| format!("`{}`", b as char)).collect::<Vec<_>>().join(" ")
            )));
        }
    }
    Ok(())
}

/// The pool path of a new package: `Packages/<first letter, lower case>/<N>-<V>-<R>.<A>.rpm`.
fn pool_path(i: &RpmInfo) -> String {
    let first = i
        .name
        .chars()
        .next()
        .map(|c| c.to_ascii_lowercase())
        .unwrap_or('_');
    format!(
        "{POOL}/{first}/{}-{}-{}.{}.rpm",
        i.name, i.version, i.release, i.arch
    )
}

/// A relative path that goes into `<location href>` unencoded.
fn href_ok(rel: &str) -> bool {
    rel.bytes()
        .all(|b| b.is_ascii_graphic() && !matches!(b, b'%' | b'#' | b'?' | b'"' | b'\\'))
        && !rel
            .split('/')
            .any(|c| c == ".." || c == "." || c.is_empty())
}

/// The packages already under `Packages/`.
fn read_pool(root: &Path) -> Result<Vec<Pkg>, AppError> {
    let mut out = Vec::new();
    for (path, rel) in super::pool_files(root, POOL, ".rpm")? {
        if !href_ok(&rel) {
            return Err(AppError::Input(format!(
                "{}: repository file names must not contain spaces, control characters or `%#?\"\\`; rename or remove it",
                path.display()
            )));
        }
        let info = rpm_header::read(&path)?;
        check_nevra(&path, &info)?;
        out.push(Pkg {
            info,
            path,
            filename: rel,
            added: false,
        });
    }
    Ok(out)
}

/// Builds or extends the repository.
pub fn run(opts: &DnfOptions) -> Result<DnfReport, AppError> {
    if opts.out.exists() && !opts.out.is_dir() {
        return Err(AppError::Input(format!(
            "{}: not a directory",
            opts.out.display()
        )));
    }

    // The set: the pool, then the inputs (an identical file is already there; a different file
    // with the same name, epoch, version, release and architecture is refused).
    let mut set: BTreeMap<Key, Pkg> = BTreeMap::new();
    for p in read_pool(&opts.out)? {
        if let Some(prev) = set.get(&p.key()) {
            return Err(AppError::Input(format!(
                "{} holds two packages {}: {} and {}; remove one",
                POOL,
                p.info.nevra(),
                prev.path.display(),
                p.path.display()
            )));
        }
        set.insert(p.key(), p);
    }
    let inputs = super::input_files(
        &opts.inputs,
        "an .rpm",
        |n| n.ends_with(".rpm") && !n.ends_with(".src.rpm"),
        "; build them with `lucia-pkg build -f rpm`",
    )?;
    let mut taken: BTreeMap<String, Key> = set
        .values()
        .map(|p| (p.filename.clone(), p.key()))
        .collect();
    for path in &inputs {
        let info = rpm_header::read(path)?;
        check_nevra(path, &info)?;
        let filename = pool_path(&info);
        let p = Pkg {
            info,
            path: path.clone(),
            filename,
            added: true,
        };
        match set.get(&p.key()) {
            Some(prev) if prev.info.sha256 == p.info.sha256 => continue,
            Some(prev) => {
                return Err(AppError::Input(format!(
                    "two different packages {}: {} and {} (same name, epoch, version, release and architecture, different content); bump the release or remove one",
                    p.info.nevra(),
                    prev.path.display(),
                    p.path.display()
                )))
            }
            None => {}
        }
        if taken.contains_key(&p.filename) || opts.out.join(&p.filename).exists() {
            return Err(AppError::Input(format!(
                "{} is in the way of {} (it holds another package, maybe with another epoch); move it out of {POOL}/",
                opts.out.join(&p.filename).display(),
                p.info.nevra()
            )));
        }
        taken.insert(p.filename.clone(), p.key());
        set.insert(p.key(), p);
    }
    if set.is_empty() {
        return Err(AppError::Input(
            "no packages to put in the repository".into(),
        ));
    }

    let date = repo_date(set.values().map(|p| p.info.build_time).max().unwrap_or(0))?;
    let mut pkgs: Vec<Pkg> = set.into_values().collect();
    pkgs.sort_by(|a, b| {
        let (x, y) = (&a.info, &b.info);
        x.name
            .cmp(&y.name)
            .then(x.epoch.cmp(&y.epoch))
            .then_with(|| rpmvercmp(&x.version, &y.version))
            .then_with(|| rpmvercmp(&x.release, &y.release))
            .then_with(|| x.version.cmp(&y.version))
            .then_with(|| x.release.cmp(&y.release))
            .then_with(|| x.arch.cmp(&y.arch))
    });

    // The metadata, then repomd.xml naming each file by its sha256.
    let mut datas = Vec::new();
    for (kind, text) in [
        ("primary", primary_xml(&pkgs)?),
        ("filelists", filelists_xml(&pkgs)?),
        ("other", other_xml(&pkgs)?),
    ] {
        let packed =
            compress_bytes(opts.compression.codec(), text.as_bytes()).map_err(AppError::build)?;
        let sha = hex::encode(Sha256::digest(&packed));
        datas.push((
            MetadataRow {
                kind: kind.to_string(),
                location: format!(
                    "{REPODATA}/{sha}-{kind}.xml.{}",
                    opts.compression.extension()
                ),
                size: packed.len() as u64,
                sha256: sha,
                open_size: text.len() as u64,
                open_sha256: hex::encode(Sha256::digest(text.as_bytes())),
            },
            packed,
        ));
    }
    let repomd = repomd_xml(date, datas.iter().map(|(m, _)| m));

    // Signed before anything is written: a key that cannot sign changes nothing.
    let signed = match &opts.key {
        Some(key) => Some((
            key.detached(repomd.as_bytes(), key.signature_time(date))?,
            key.public_armored()?,
        )),
        None => None,
    };

    // Packages first, then the metadata files, then repomd.xml and its signature: a client that
    // reads the new repomd.xml finds everything it names.
    make_dirs(&opts.out)?;
    for p in pkgs.iter().filter(|p| p.added) {
        copy_file(&p.path, &opts.out.join(&p.filename))?;
    }
    let repodata = opts.out.join(REPODATA);
    for (m, bytes) in &datas {
        let target = opts.out.join(&m.location);
        if !target.exists() {
            write_file(&target, bytes)?;
        }
    }
    let asc = repodata.join("repomd.xml.asc");
    let key_file = opts.out.join(PUBLIC_KEY_FILE);
    match &signed {
        Some((sig, public)) => {
            write_file(&asc, sig)?;
            write_file(&repodata.join("repomd.xml"), repomd.as_bytes())?;
            write_file(&key_file, public)?;
        }
        None => {
            write_file(&repodata.join("repomd.xml"), repomd.as_bytes())?;
            for stale in [&asc, &key_file] {
                if stale.exists() {
                    fs::remove_file(stale).map_err(|e| {
                        AppError::Build(format!("removing {}: {e}", stale.display()))
                    })?;
                }
            }
        }
    }
    remove_unnamed(&repodata, datas.iter().map(|(m, _)| m.location.as_str()))?;

    Ok(DnfReport {
        dir: opts.out.display().to_string(),
        revision: date,
        date: pkg_core::determinism::rfc3339(date),
        compression: opts.compression,
        signed_by: opts.key.as_ref().map(RepoKey::fingerprint),
        packages: pkgs
            .iter()
            .map(|p| PackageRow {
                name: p.info.name.clone(),
                epoch: p.info.epoch,
                version: p.info.version.clone(),
                release: p.info.release.clone(),
                arch: p.info.arch.clone(),
                filename: p.filename.clone(),
                sha256: p.info.sha256.clone(),
                added: p.added,
            })
            .collect(),
        metadata: datas.into_iter().map(|(m, _)| m).collect(),
    })
}

/// Removes the metadata files (`<64 hex>-<type>.xml.*`) of earlier runs that repomd.xml no
/// longer names; anything else in repodata/ is left alone.
fn remove_unnamed<'a>(
    repodata: &Path,
    keep: impl Iterator<Item = &'a str>,
) -> Result<(), AppError> {
    let keep: BTreeSet<String> = keep
        .filter_map(|l| l.rsplit('/').next().map(str::to_string))
        .collect();
    let entries = fs::read_dir(repodata)
        .map_err(|e| AppError::Build(format!("{}: {e}", repodata.display())))?;
    for e in entries {
        let e = e.map_err(|e| AppError::Build(format!("{}: {e}", repodata.display())))?;
        let name = e.file_name().to_string_lossy().into_owned();
        let hashed = name.len() > 65
            && name.as_bytes()[64] == b'-'
            && name[..64].bytes().all(|b| b.is_ascii_hexdigit());
        if hashed && name.contains(".xml") && !keep.contains(&name) {
            fs::remove_file(e.path()).map_err(|err| {
                AppError::Build(format!("removing {}: {err}", e.path().display()))
            })?;
        }
    }
    Ok(())
}

const XML_HEAD: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";

/// Escapes a value of package `p`, naming the package and field when it cannot.
fn esc<'a>(p: &Pkg, what: &str, s: &'a str) -> Result<std::borrow::Cow<'a, str>, AppError> {
    xml::field(what, s).map_err(|why| AppError::Input(format!("{}: {why}", p.path.display())))
}

fn version_tag(p: &Pkg) -> Result<String, AppError> {
    let i = &p.info;
    Ok(format!(
        "<version epoch=\"{}\" ver=\"{}\" rel=\"{}\"/>",
        i.epoch,
        esc(p, "Version", &i.version)?,
        esc(p, "Release", &i.release)?
    ))
}

fn deps_xml(p: &Pkg, out: &mut String, tag: &str, deps: &[Dep]) -> Result<(), AppError> {
    if deps.is_empty() {
        return Ok(());
    }
    let _ = writeln!(out, "    <rpm:{tag}>");
    for d in deps {
        let _ = write!(
            out,
            "      <rpm:entry name=\"{}\"",
            esc(p, &format!("a {tag} entry"), &d.name)?
        );
        if let Some(f) = d.flags {
            let _ = write!(out, " flags=\"{f}\"");
        }
        for (attr, v) in [("epoch", &d.epoch), ("ver", &d.ver), ("rel", &d.rel)] {
            if let Some(v) = v {
                let _ = write!(
                    out,
                    " {attr}=\"{}\"",
                    esc(p, &format!("a {tag} version"), v)?
                );
            }
        }
        if d.pre {
            out.push_str(" pre=\"1\"");
        }
        out.push_str("/>\n");
    }
    let _ = writeln!(out, "    </rpm:{tag}>");
    Ok(())
}

fn file_xml(
    p: &Pkg,
    out: &mut String,
    indent: &str,
    path: &str,
    kind: FileKind,
) -> Result<(), AppError> {
    let typ = match kind {
        FileKind::File => "",
        FileKind::Dir => " type=\"dir\"",
        FileKind::Ghost => " type=\"ghost\"",
    };
    let _ = writeln!(
        out,
        "{indent}<file{typ}>{}</file>",
        esc(p, "a file name", path)?
    );
    Ok(())
}

fn primary_xml(pkgs: &[Pkg]) -> Result<String, AppError> {
    let mut out = String::from(XML_HEAD);
    let _ = writeln!(
        out,
        "<metadata xmlns=\"http://linux.duke.edu/metadata/common\" xmlns:rpm=\"http://linux.duke.edu/metadata/rpm\" packages=\"{}\">",
        pkgs.len()
    );
    for p in pkgs {
        let i = &p.info;
        let _ = writeln!(out, "<package type=\"rpm\">");
        let _ = writeln!(out, "  <name>{}</name>", esc(p, "Name", &i.name)?);
        let _ = writeln!(out, "  <arch>{}</arch>", esc(p, "Arch", &i.arch)?);
        let _ = writeln!(out, "  {}", version_tag(p)?);
        let _ = writeln!(
            out,
            "  <checksum type=\"sha256\" pkgid=\"YES\">{}</checksum>",
            i.sha256
        );
        for (tag, what, v) in [
            ("summary", "Summary", &i.summary),
            ("description", "Description", &i.description),
            ("packager", "Packager", &i.packager),
            ("url", "URL", &i.url),
        ] {
            let _ = writeln!(out, "  <{tag}>{}</{tag}>", esc(p, what, v)?);
        }
        // `file`: the package's own date (its build time, for lucia-pkg the source date), never
        // the pool file's mtime, which would change on every copy.
        let _ = writeln!(
            out,
            "  <time file=\"{}\" build=\"{}\"/>",
            i.build_time, i.build_time
        );
        let _ = writeln!(
            out,
            "  <size package=\"{}\" installed=\"{}\" archive=\"{}\"/>",
            i.size_package, i.size_installed, i.size_archive
        );
        let _ = writeln!(
            out,
            "  <location href=\"{}\"/>",
            esc(p, "its location", &p.filename)?
        );
        out.push_str("  <format>\n");
        for (tag, what, v) in [
            ("license", "License", &i.license),
            ("vendor", "Vendor", &i.vendor),
            ("group", "Group", &i.group),
            ("buildhost", "BuildHost", &i.buildhost),
            ("sourcerpm", "SourceRPM", &i.sourcerpm),
        ] {
            let _ = writeln!(out, "    <rpm:{tag}>{}</rpm:{tag}>", esc(p, what, v)?);
        }
        let _ = writeln!(
            out,
            "    <rpm:header-range start=\"{}\" end=\"{}\"/>",
            i.header_start, i.header_end
        );
        for (tag, deps) in [
            ("provides", &i.provides),
            ("requires", &i.requires),
            ("conflicts", &i.conflicts),
            ("obsoletes", &i.obsoletes),
            ("suggests", &i.suggests),
            ("enhances", &i.enhances),
            ("recommends", &i.recommends),
            ("supplements", &i.supplements),
        ] {
            deps_xml(p, &mut out, tag, deps)?;
        }
        for f in i.files.iter().filter(|f| is_primary_file(&f.path)) {
            file_xml(p, &mut out, "    ", &f.path, f.kind)?;
        }
        out.push_str("  </format>\n</package>\n");
    }
    out.push_str("</metadata>\n");
    Ok(out)
}

/// The opening `<package>` line of filelists.xml and other.xml.
fn package_open(p: &Pkg) -> Result<String, AppError> {
    let i = &p.info;
    Ok(format!(
        "<package pkgid=\"{}\" name=\"{}\" arch=\"{}\">\n  {}\n",
        i.sha256,
        esc(p, "Name", &i.name)?,
        esc(p, "Arch", &i.arch)?,
        version_tag(p)?
    ))
}

fn filelists_xml(pkgs: &[Pkg]) -> Result<String, AppError> {
    let mut out = String::from(XML_HEAD);
    let _ = writeln!(
        out,
        "<filelists xmlns=\"http://linux.duke.edu/metadata/filelists\" packages=\"{}\">",
        pkgs.len()
    );
    for p in pkgs {
        out.push_str(&package_open(p)?);
        for f in &p.info.files {
            file_xml(p, &mut out, "  ", &f.path, f.kind)?;
        }
        out.push_str("</package>\n");
    }
    out.push_str("</filelists>\n");
    Ok(out)
}

fn other_xml(pkgs: &[Pkg]) -> Result<String, AppError> {
    let mut out = String::from(XML_HEAD);
    let _ = writeln!(
        out,
        "<otherdata xmlns=\"http://linux.duke.edu/metadata/other\" packages=\"{}\">",
        pkgs.len()
    );
    for p in pkgs {
        out.push_str(&package_open(p)?);
        for c in &p.info.changelog {
            let _ = writeln!(
                out,
                "  <changelog author=\"{}\" date=\"{}\">{}</changelog>",
                esc(p, "a changelog author", &c.author)?,
                c.date,
                esc(p, "a changelog entry", &c.text)?
            );
        }
        out.push_str("</package>\n");
    }
    out.push_str("</otherdata>\n");
    Ok(out)
}

fn repomd_xml<'a>(date: u64, datas: impl Iterator<Item = &'a MetadataRow>) -> String {
    let mut out = String::from(XML_HEAD);
    out.push_str("<repomd xmlns=\"http://linux.duke.edu/metadata/repo\" xmlns:rpm=\"http://linux.duke.edu/metadata/rpm\">\n");
    let _ = writeln!(out, "  <revision>{date}</revision>");
    for m in datas {
        let _ = write!(
            out,
            "  <data type=\"{}\">\n    <checksum type=\"sha256\">{}</checksum>\n    <open-checksum type=\"sha256\">{}</open-checksum>\n    <location href=\"{}\"/>\n    <timestamp>{date}</timestamp>\n    <size>{}</size>\n    <open-size>{}</open-size>\n  </data>\n",
            m.kind, m.sha256, m.open_sha256, m.location, m.size, m.open_size
        );
    }
    out.push_str("</repomd>\n");
    out
}

/// `lucia-pkg repo dnf`: runs [`run`] and prints what it did (text or `--json`).
pub fn command(args: crate::cli::DnfArgs, json: bool) -> Result<(), AppError> {
    let compression = Compression::parse(&args.compression)?;
    let key = super::sign::load(args.key.as_deref())?;
    if key.is_none() && !json {
        eprintln!(
            "warning: no --key (or {}): the repository is unsigned; dnf accepts it only with repo_gpgcheck=0",
            super::sign::KEY_ENV
        );
    }
    let report = run(&DnfOptions {
        out: args.out,
        compression,
        key,
        inputs: args.inputs,
    })?;
    let mut o = std::io::stdout().lock();
    if json {
        let text = serde_json::to_string_pretty(&report).map_err(AppError::build)?;
        let _ = writeln!(o, "{text}");
        return Ok(());
    }
    for p in &report.packages {
        let evr = if p.epoch > 0 {
            format!("{}:{}-{}", p.epoch, p.version, p.release)
        } else {
            format!("{}-{}", p.version, p.release)
        };
        let _ = writeln!(
            o,
            "{} {:<30} {:<20} {:<8} {}",
            if p.added { "+" } else { " " },
            p.name,
            evr,
            p.arch,
            p.filename
        );
    }
    let added = report.packages.iter().filter(|p| p.added).count();
    let _ = writeln!(
        o,
        "{}: {} package(s), {added} added, revision {} ({}), {} metadata, {}",
        report.dir,
        report.packages.len(),
        report.revision,
        report.date,
        match report.compression {
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
        },
        match &report.signed_by {
            Some(f) => format!("repomd.xml signed by {f}"),
            None => "unsigned".to_string(),
        }
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::repo::rpm_header::{Change, PkgFile};

    fn pkg(description: &str) -> Pkg {
        let dep = |name: &str| Dep {
            name: name.into(),
            flags: None,
            epoch: None,
            ver: None,
            rel: None,
            pre: false,
        };
        Pkg {
            info: RpmInfo {
                name: "x".into(),
                epoch: 2,
                version: "1.0".into(),
                release: "1".into(),
                arch: "noarch".into(),
                summary: "a & b".into(),
                description: description.into(),
                packager: String::new(),
                url: String::new(),
                license: "MIT".into(),
                vendor: String::new(),
                group: String::new(),
                buildhost: String::new(),
                sourcerpm: String::new(),
                build_time: 5,
                header_start: 1,
                header_end: 2,
                size_package: 3,
                size_installed: 4,
                size_archive: 0,
                sha256: "00".repeat(32),
                provides: vec![dep("x")],
                requires: vec![Dep {
                    pre: true,
                    ..dep("/bin/sh")
                }],
                conflicts: vec![],
                obsoletes: vec![],
                suggests: vec![],
                enhances: vec![],
                recommends: vec![],
                supplements: vec![],
                files: vec![
                    PkgFile {
                        path: "/etc/x".into(),
                        kind: FileKind::Dir,
                    },
                    PkgFile {
                        path: "/etc/x/state".into(),
                        kind: FileKind::Ghost,
                    },
                    PkgFile {
                        path: "/opt/x/doc".into(),
                        kind: FileKind::File,
                    },
                ],
                changelog: vec![Change {
                    author: "A <a@example.org>".into(),
                    date: 7,
                    text: "- fix".into(),
                }],
            },
            path: PathBuf::from("in/x.rpm"),
            filename: "Packages/x/x-1.0-1.noarch.rpm".into(),
            added: true,
        }
    }

    #[test]
    fn xml_of_one_package() {
        let p = [pkg("line 1\nline <2>")];
        let primary = primary_xml(&p).unwrap();
        for want in [
            "<version epoch=\"2\" ver=\"1.0\" rel=\"1\"/>",
            "<summary>a &amp; b</summary>",
            "<description>line 1\nline &lt;2&gt;</description>",
            "<time file=\"5\" build=\"5\"/>",
            "<rpm:entry name=\"/bin/sh\" pre=\"1\"/>",
            "    <file type=\"dir\">/etc/x</file>\n    <file type=\"ghost\">/etc/x/state</file>\n  </format>",
        ] {
            assert!(primary.contains(want), "no {want:?} in\n{primary}");
        }
        assert!(!primary.contains("/opt/x/doc"), "only primary files");
        let filelists = filelists_xml(&p).unwrap();
        assert!(
            filelists.contains("  <file>/opt/x/doc</file>\n"),
            "{filelists}"
        );
        let other = other_xml(&p).unwrap();
        assert!(
            other.contains(
                "<changelog author=\"A &lt;a@example.org&gt;\" date=\"7\">- fix</changelog>"
            ),
            "{other}"
        );
    }

    #[test]
    fn control_characters_are_refused_naming_the_package() {
        let e = primary_xml(&[pkg("bell \u{7}")]).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        let msg = e.render(false);
        assert!(
            msg.contains("in/x.rpm") && msg.contains("Description") && msg.contains("U+0007"),
            "{msg}"
        );
    }
}
