//! `lucia-pkg repo apt`: an APT repository (Debian "flat pool + dists" layout) as a static
//! directory.
//!
//! ```text
//! REPO/pool/<component>/<prefix>/<source>/<name>_<version>_<arch>.deb
//! REPO/dists/<suite>/<component>/binary-<arch>/Packages{,.gz,.xz}
//! REPO/dists/<suite>/<component>/binary-<arch>/by-hash/SHA256/<sha256>
//! REPO/dists/<suite>/{Release,InRelease,Release.gpg}
//! REPO/repo-key.asc                (the public key, when signed)
//! ```
//!
//! The pool only grows: packages already there are kept and the indexes are rebuilt from the
//! whole pool, so the indexes and the Release are a function of the set of packages (see
//! [`super`] for the date). `dists/<suite>` is rebuilt in a temp directory and swapped in.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use md5::Md5;
use pkg_core::compress::{compress_bytes, Codec};
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::sign::RepoKey;
use super::{check_line, check_path_word, copy_file, make_dirs, repo_date, write_file};
use crate::error::AppError;

/// The architectures every repository lists (the ones lucia-pkg builds), so that apt on either
/// finds an index even before a package for it is added.
pub const BASE_ARCHES: &[&str] = &["amd64", "arm64"];

/// Name of the exported public key at the repository root.
pub const PUBLIC_KEY_FILE: &str = "repo-key.asc";

pub struct AptOptions {
    pub out: PathBuf,
    pub suite: String,
    pub component: String,
    pub origin: String,
    pub label: Option<String>,
    pub key: Option<RepoKey>,
    pub inputs: Vec<PathBuf>,
}

#[derive(Debug, Serialize)]
pub struct PackageRow {
    pub name: String,
    pub version: String,
    pub arch: String,
    pub component: String,
    /// Relative to the repository root.
    pub filename: String,
    pub sha256: String,
    /// Added by this run (false: it was already in the pool).
    pub added: bool,
}

#[derive(Debug, Serialize)]
pub struct AptReport {
    pub dir: String,
    pub suite: String,
    pub components: Vec<String>,
    pub architectures: Vec<String>,
    /// Release `Date:` (RFC 2822, UTC).
    pub date: String,
    pub date_epoch: u64,
    /// Fingerprint of the signing (sub)key, when signed.
    pub signed_by: Option<String>,
    pub packages: Vec<PackageRow>,
    /// Files under dists/<suite> listed in the Release.
    pub index_files: Vec<String>,
}

/// One .deb: its control stanza and where it lives.
#[derive(Debug, Clone)]
struct Deb {
    name: String,
    version: String,
    arch: String,
    /// Control fields in file order (values as `inspect` reports them: continuation lines
    /// joined with `\n`, leading space kept).
    fields: Vec<(String, String)>,
    size: u64,
    md5: String,
    sha256: String,
    /// Newest ar member mtime: the package's build date.
    built: u64,
    /// The file read (an input, or the pool file).
    path: PathBuf,
    component: String,
    /// `pool/...`, relative to the repository root.
    filename: String,
    added: bool,
}

impl Deb {
    fn key(&self) -> (String, String, String) {
        (self.name.clone(), self.version.clone(), self.arch.clone())
    }
    fn id(&self) -> String {
        format!("{} {} ({})", self.name, self.version, self.arch)
    }
}

fn valid_name(s: &str) -> bool {
    s.len() >= 2
        && s.len() <= 200
        && s.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
        && s.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'+' | b'-')
        })
}

fn valid_version(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 200
        && s.bytes().next().is_some_and(|b| b.is_ascii_digit())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'+' | b'~' | b':' | b'-'))
}

fn valid_arch(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 50
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// Reads a .deb; anything that is not a valid package is bad input (exit 2) naming the file.
fn read_deb(path: &Path, component: &str, filename: Option<String>) -> Result<Deb, AppError> {
    let bad = |why: String| AppError::Input(format!("{}: {why}", path.display()));
    let report = format_deb::inspect(path).map_err(|e| {
        let msg = e.to_string();
        if msg.contains(&path.display().to_string()) {
            AppError::Input(msg)
        } else {
            bad(format!("not a valid .deb: {msg}"))
        }
    })?;
    let field = |n: &str| report.field(n).map(str::trim).unwrap_or("").to_string();
    let (name, version, arch) = (field("Package"), field("Version"), field("Architecture"));
    if !valid_name(&name) {
        return Err(bad(format!(
            "not a valid .deb: Package `{}` is not a Debian package name",
            name.escape_debug()
        )));
    }
    if !valid_version(&version) {
        return Err(bad(format!(
            "not a valid .deb: Version `{}` is not a Debian version",
            version.escape_debug()
        )));
    }
    if !valid_arch(&arch) {
        return Err(bad(format!(
            "not a valid .deb: Architecture `{}` is not a Debian architecture",
            arch.escape_debug()
        )));
    }
    let source = match report.field("Source") {
        Some(s) => s.split_whitespace().next().unwrap_or("").to_string(),
        None => name.clone(),
    };
    if !valid_name(&source) {
        return Err(bad(format!(
            "not a valid .deb: Source `{}` is not a Debian package name",
            source.escape_debug()
        )));
    }
    let fields = report
        .control
        .iter()
        .map(|f| (f.name.clone(), f.value.clone()))
        .collect();
    let built = report.members.iter().map(|m| m.mtime).max().unwrap_or(0);
    let (md5, sha256, size) = hash_file(path)?;
    let filename = match filename {
        Some(f) => f,
        None => {
            let prefix = if source.starts_with("lib") && source.len() > 3 {
                &source[..4]
            } else {
                &source[..1]
            };
            let file_version = version.split_once(':').map_or(version.as_str(), |(_, v)| v);
            format!("pool/{component}/{prefix}/{source}/{name}_{file_version}_{arch}.deb")
        }
    };
    Ok(Deb {
        name,
        version,
        arch,
        fields,
        size,
        md5,
        sha256,
        built,
        path: path.to_path_buf(),
        component: component.to_string(),
        filename,
        added: false,
    })
}

fn hash_file(path: &Path) -> Result<(String, String, u64), AppError> {
    let fail = |e: std::io::Error| AppError::Build(format!("reading {}: {e}", path.display()));
    let mut f = fs::File::open(path).map_err(fail)?;
    let (mut md5, mut sha) = (Md5::new(), Sha256::new());
    let mut buf = vec![0u8; 1 << 16];
    let mut size = 0u64;
    loop {
        let n = f.read(&mut buf).map_err(fail)?;
        if n == 0 {
            break;
        }
        md5.update(&buf[..n]);
        sha.update(&buf[..n]);
        size += n as u64;
    }
    Ok((
        hex::encode(md5.finalize()),
        hex::encode(sha.finalize()),
        size,
    ))
}

/// dpkg's version comparison (epoch, upstream, revision; `~` sorts before everything).
pub fn compare_versions(a: &str, b: &str) -> Ordering {
    fn split(v: &str) -> (u64, &str, &str) {
        let (epoch, rest) = match v.split_once(':') {
            Some((e, r)) => (e.parse().unwrap_or(0), r),
            None => (0, v),
        };
        match rest.rsplit_once('-') {
            Some((u, r)) => (epoch, u, r),
            None => (epoch, rest, ""),
        }
    }
    let (ea, ua, ra) = split(a);
    let (eb, ub, rb) = split(b);
    ea.cmp(&eb)
        .then_with(|| verrevcmp(ua.as_bytes(), ub.as_bytes()))
        .then_with(|| verrevcmp(ra.as_bytes(), rb.as_bytes()))
}

fn verrevcmp(a: &[u8], b: &[u8]) -> Ordering {
    fn order(c: Option<&u8>) -> i32 {
        match c {
            None => 0,
            Some(c) if c.is_ascii_digit() => 0,
            Some(c) if c.is_ascii_alphabetic() => *c as i32,
            Some(b'~') => -1,
            Some(c) => *c as i32 + 256,
        }
    }
    let digit = |s: &[u8], i: usize| s.get(i).is_some_and(u8::is_ascii_digit);
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        while (i < a.len() && !digit(a, i)) || (j < b.len() && !digit(b, j)) {
            let (ac, bc) = (order(a.get(i)), order(b.get(j)));
            if ac != bc {
                return ac.cmp(&bc);
            }
            i += 1;
            j += 1;
        }
        while a.get(i) == Some(&b'0') {
            i += 1;
        }
        while b.get(j) == Some(&b'0') {
            j += 1;
        }
        let mut first_diff = Ordering::Equal;
        while digit(a, i) && digit(b, j) {
            if first_diff == Ordering::Equal {
                first_diff = a[i].cmp(&b[j]);
            }
            i += 1;
            j += 1;
        }
        if digit(a, i) {
            return Ordering::Greater;
        }
        if digit(b, j) {
            return Ordering::Less;
        }
        if first_diff != Ordering::Equal {
            return first_diff;
        }
    }
    Ordering::Equal
}

/// The packages already in the pool, with their component (the pool's first level).
fn read_pool(root: &Path) -> Result<Vec<Deb>, AppError> {
    let mut out = Vec::new();
    for (path, rel) in super::pool_files(root, "pool", ".deb")? {
        let component = rel.split('/').nth(1).unwrap_or("").to_string();
        if check_path_word("component", &component).is_err() || rel.split('/').count() < 3 {
            return Err(AppError::Input(format!(
                "{}: a .deb outside pool/<component>/; move or remove it",
                path.display()
            )));
        }
        if rel.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(AppError::Input(format!(
                "{}: pool file names must not contain spaces or control characters",
                path.display()
            )));
        }
        out.push(read_deb(&path, &component, Some(rel))?);
    }
    Ok(out)
}

/// One Packages stanza: the control fields, then Filename, Size, MD5sum and SHA256.
fn stanza(d: &Deb) -> String {
    const OURS: &[&str] = &["filename", "size", "md5sum", "sha1", "sha256", "sha512"];
    let mut s = String::new();
    for (k, v) in &d.fields {
        if OURS.contains(&k.to_ascii_lowercase().as_str()) {
            continue;
        }
        s.push_str(k);
        s.push(':');
        if !v.starts_with('\n') {
            s.push(' ');
        }
        s.push_str(v);
        s.push('\n');
    }
    s.push_str(&format!(
        "Filename: {}\nSize: {}\nMD5sum: {}\nSHA256: {}\n",
        d.filename, d.size, d.md5, d.sha256
    ));
    s
}

/// Builds or extends the repository.
pub fn run(opts: &AptOptions) -> Result<AptReport, AppError> {
    check_path_word("--suite", &opts.suite)?;
    check_path_word("--component", &opts.component)?;
    check_line("--origin", &opts.origin)?;
    let label = opts.label.clone().unwrap_or_else(|| opts.origin.clone());
    check_line("--label", &label)?;
    if opts.out.exists() && !opts.out.is_dir() {
        return Err(AppError::Input(format!(
            "{}: not a directory",
            opts.out.display()
        )));
    }
    // One suite per repository directory: the pool is shared, so a second suite would index
    // every package of the first.
    let dists = opts.out.join("dists");
    if dists.is_dir() {
        let entries = fs::read_dir(&dists)
            .map_err(|e| AppError::Input(format!("{}: {e}", dists.display())))?;
        let mut others = Vec::new();
        for e in entries {
            let e = e.map_err(|e| AppError::Input(format!("{}: {e}", dists.display())))?;
            let n = e.file_name().to_string_lossy().into_owned();
            if n != opts.suite && !n.starts_with('.') {
                others.push(n);
            }
        }
        if !others.is_empty() {
            others.sort();
            return Err(AppError::Input(format!(
                "{} already holds suite {}: one repository directory holds one suite (they share the pool); use another --out for suite {}",
                opts.out.display(),
                others.join(", "),
                opts.suite
            )));
        }
    }

    // The set: the pool, then the inputs (an identical file is already there; a different file
    // with the same name, version and architecture is refused).
    let mut set: BTreeMap<(String, String, String), Deb> = BTreeMap::new();
    for d in read_pool(&opts.out)? {
        if let Some(prev) = set.get(&d.key()) {
            return Err(AppError::Input(format!(
                "the pool holds two packages {}: {} and {}; remove one",
                d.id(),
                prev.path.display(),
                d.path.display()
            )));
        }
        set.insert(d.key(), d);
    }
    let inputs = super::input_files(&opts.inputs, "a .deb", |n| n.ends_with(".deb"), "")?;
    for p in &inputs {
        let mut d = read_deb(p, &opts.component, None)?;
        match set.get(&d.key()) {
            Some(prev) if prev.sha256 == d.sha256 => continue,
            Some(prev) => {
                return Err(AppError::Input(format!(
                    "two different packages {}: {} and {} (same name, version and architecture, different content); bump the version or remove one",
                    d.id(),
                    prev.path.display(),
                    d.path.display()
                )))
            }
            None => {}
        }
        let target = opts.out.join(&d.filename);
        if target.exists() {
            return Err(AppError::Input(format!(
                "{} is in the way of {} (it is not that package); move it out of the pool",
                target.display(),
                d.id()
            )));
        }
        d.added = true;
        set.insert(d.key(), d);
    }
    if set.is_empty() {
        return Err(AppError::Input(
            "no packages to put in the repository".into(),
        ));
    }

    let date = repo_date(set.values().map(|d| d.built).max().unwrap_or(0))?;
    let mut debs: Vec<Deb> = set.into_values().collect();
    debs.sort_by(|a, b| {
        a.name
            .cmp(&b.name)
            .then_with(|| compare_versions(&a.version, &b.version))
            .then_with(|| a.version.cmp(&b.version))
            .then_with(|| a.arch.cmp(&b.arch))
    });
    let mut arches: BTreeSet<String> = BASE_ARCHES.iter().map(|a| a.to_string()).collect();
    arches.extend(
        debs.iter()
            .filter(|d| d.arch != "all")
            .map(|d| d.arch.clone()),
    );
    let mut components: BTreeSet<String> = debs.iter().map(|d| d.component.clone()).collect();
    components.insert(opts.component.clone());

    // The indexes, by path under dists/<suite>.
    let mut files: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    for c in &components {
        for a in &arches {
            let text: String = debs
                .iter()
                .filter(|d| &d.component == c && (&d.arch == a || d.arch == "all"))
                .map(stanza)
                .collect::<Vec<_>>()
                .join("\n");
            let dir = format!("{c}/binary-{a}");
            let gz = compress_bytes(Codec::Gzip(9), text.as_bytes()).map_err(AppError::build)?;
            let xz = compress_bytes(Codec::Xz(6), text.as_bytes()).map_err(AppError::build)?;
            files.insert(format!("{dir}/Packages"), text.into_bytes());
            files.insert(format!("{dir}/Packages.gz"), gz);
            files.insert(format!("{dir}/Packages.xz"), xz);
        }
    }
    let date_text = pkg_core::determinism::rfc2822(date).replace(" +0000", " UTC");
    let mut release = format!(
        "Origin: {}\nLabel: {label}\nSuite: {suite}\nCodename: {suite}\nDate: {date_text}\nArchitectures: {}\nComponents: {}\nAcquire-By-Hash: yes\n",
        opts.origin,
        arches.iter().cloned().collect::<Vec<_>>().join(" "),
        components.iter().cloned().collect::<Vec<_>>().join(" "),
        suite = opts.suite,
    );
    let width = files
        .values()
        .map(|b| b.len())
        .max()
        .unwrap_or(0)
        .to_string()
        .len();
    release.push_str("MD5Sum:\n");
    for (p, b) in &files {
        release.push_str(&format!(
            " {} {:>width$} {p}\n",
            hex::encode(Md5::digest(b)),
            b.len()
        ));
    }
    release.push_str("SHA256:\n");
    for (p, b) in &files {
        release.push_str(&format!(
            " {} {:>width$} {p}\n",
            hex::encode(Sha256::digest(b)),
            b.len()
        ));
    }

    // Signed before anything is written: a key that cannot sign (wrong passphrase) changes
    // nothing.
    let signed = match &opts.key {
        Some(key) => {
            let t = key.signature_time(date);
            Some((
                key.clearsign(&release, t)?,
                key.detached(release.as_bytes(), t)?,
                key.public_armored()?,
            ))
        }
        None => None,
    };

    // Pool first (new packages), then the indexes, then the Release: a client that reads the
    // new Release finds everything it lists.
    for d in debs.iter().filter(|d| d.added) {
        copy_file(&d.path, &opts.out.join(&d.filename))?;
    }
    make_dirs(&dists)?;
    let tmp = tempfile::Builder::new()
        .prefix(".tmp-")
        .tempdir_in(&dists)
        .map_err(|e| AppError::Build(format!("{}: {e}", dists.display())))?;
    for (p, b) in &files {
        write_file(&tmp.path().join(p), b)?;
        if let Some((dir, _)) = p.rsplit_once('/') {
            let h = hex::encode(Sha256::digest(b));
            write_file(&tmp.path().join(format!("{dir}/by-hash/SHA256/{h}")), b)?;
        }
    }
    write_file(&tmp.path().join("Release"), release.as_bytes())?;
    let key_file = opts.out.join(PUBLIC_KEY_FILE);
    if let Some((inrelease, detached, public)) = &signed {
        write_file(&tmp.path().join("InRelease"), inrelease)?;
        write_file(&tmp.path().join("Release.gpg"), detached)?;
        write_file(&key_file, public)?;
    } else if key_file.exists() {
        fs::remove_file(&key_file)
            .map_err(|e| AppError::Build(format!("removing {}: {e}", key_file.display())))?;
    }
    swap_in(tmp, &dists.join(&opts.suite))?;

    Ok(AptReport {
        dir: opts.out.display().to_string(),
        suite: opts.suite.clone(),
        components: components.into_iter().collect(),
        architectures: arches.into_iter().collect(),
        date: date_text,
        date_epoch: date,
        signed_by: opts.key.as_ref().map(RepoKey::fingerprint),
        packages: debs
            .iter()
            .map(|d| PackageRow {
                name: d.name.clone(),
                version: d.version.clone(),
                arch: d.arch.clone(),
                component: d.component.clone(),
                filename: d.filename.clone(),
                sha256: d.sha256.clone(),
                added: d.added,
            })
            .collect(),
        index_files: files.into_keys().collect(),
    })
}

/// Replaces `dest` by the finished temp directory: the old one is renamed aside, then removed.
fn swap_in(tmp: tempfile::TempDir, dest: &Path) -> Result<(), AppError> {
    use std::os::unix::fs::PermissionsExt;
    let fail = |e: std::io::Error| AppError::Build(format!("replacing {}: {e}", dest.display()));
    fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o755)).map_err(fail)?;
    let parent = dest.parent().unwrap_or(Path::new("."));
    let old = if dest.exists() {
        let aside = tempfile::Builder::new()
            .prefix(".old-")
            .tempdir_in(parent)
            .map_err(fail)?;
        let target = aside.path().join("suite");
        fs::rename(dest, &target).map_err(fail)?;
        Some(aside)
    } else {
        None
    };
    let path = tmp.keep();
    fs::rename(&path, dest).map_err(fail)?;
    drop(old); // removes the previous indexes
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::compare_versions;
    use std::cmp::Ordering::*;

    #[test]
    fn dpkg_version_order() {
        for (a, b, want) in [
            ("1.0.0-1", "1.1.0-1", Less),
            ("1.10-1", "1.9-1", Greater),
            ("1.0~rc1-1", "1.0-1", Less),
            ("1:0.1-1", "2.0-1", Greater),
            ("1.0-1", "1.0-1", Equal),
            ("1.0-2", "1.0-10", Less),
            ("1.0a", "1.0+", Less),
            ("1.0", "1.0-0", Equal),
            ("2.0", "2.0.0", Less),
        ] {
            assert_eq!(compare_versions(a, b), want, "{a} vs {b}");
        }
    }
}
