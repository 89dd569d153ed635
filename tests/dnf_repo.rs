//! `lucia-pkg repo dnf` (issue 15): a DNF/YUM repository built from rpms lucia-pkg made.
//!
//! - the repository is a pure function of its packages and options: runs with the inputs in
//!   another order, another time zone, locale, umask and out dir give the same files (sha256 of
//!   every file compared), and a repository grown in two runs equals the one made in one;
//! - repomd.xml names each metadata file by its sha256 with the checksum and size of the
//!   compressed file, the open-checksum and open-size of the XML, `timestamp` and `revision` =
//!   the source date; primary.xml holds each pool file's sha256, size and location;
//! - the metadata equals what createrepo_c 0.17 writes for the same Packages/ directory, except
//!   `time file` (createrepo_c takes the file's mtime; we take the package's build date);
//! - repomd.xml.asc verifies with gpgv and the exported public key, fails once repomd.xml is
//!   tampered with, and is the same bytes when made twice;
//! - a file that is not an rpm, a corrupted rpm, and a different rpm with the same NEVRA are
//!   refused with exit 2 naming them, and nothing is written;
//! - real dnf (Debian 12's dnf 4.14) with repo_gpgcheck=1 and gpgcheck=1 installs a
//!   dependency-free package lucia-pkg built into an empty install root, lists the example
//!   service package (packaging/lucia.toml) with its NEVRA, refuses the repository signed by
//!   another key or with a tampered repomd.xml, reads zstd metadata, and reads a createrepo_c
//!   repository of the same packages the same way.
//!
//! gpgcheck=1 needs signed rpms. lucia-pkg signs them only when built with `--features sign`
//! (`rpm.signing-key`); the default test binary is not, so the sample package is then signed with
//! `rpmsign --addsign` (rpm's own signer, same key) before it goes into the repository. Only if
//! rpmsign is missing too does the install run with gpgcheck=0 (repo_gpgcheck=1 still checks
//! repomd.xml.asc), and the test says so.
//!
//! Tools: gpg/gpgv, createrepo_c, dnf (and root for `dnf --installroot`); each part skips
//! without them unless `LUCIA_E2E_REQUIRED=1`.

use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use sha2::{Digest, Sha256};

mod common;
use common::*;

const MANIFEST: &str = r#"[package]
name = "hw"
version = "1.0.0"
summary = "dnf repository probe <&>"
license = "MIT"
maintainer = "Probe <probe@example.org>"
source-date-epoch = 1700000000
arches = ["amd64"]
formats = ["rpm"]

[[package.changelog]]
version = "1.0.0-1"
date = "2023-11-14"
author = "Probe <probe@example.org>"
changes = ["First \"release\" & more."]

[payload]
install-dir = "/opt/hw"
entrypoint = "run"

[payload.amd64]
path = "payload"

[rpm]
compression = "gzip:1"
"#;

/// The repository date of packages built at the manifest's source date.
const DATE: u64 = 1_700_000_000;

/// A temp dir with a small dependency-free project and the rpms built from it.
struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path();
        fs::create_dir_all(p.join("payload")).unwrap();
        fs::write(p.join("payload/run"), "#!/bin/sh\necho hw\n").unwrap();
        fs::set_permissions(p.join("payload/run"), fs::Permissions::from_mode(0o755)).unwrap();
        fs::write(p.join("hw.toml"), MANIFEST).unwrap();
        Fixture { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn command(&self, args: &[&str], env: &[(&str, &str)]) -> Command {
        let mut c = Command::new(bin());
        c.args(args)
            .current_dir(self.path())
            .env_remove("SOURCE_DATE_EPOCH")
            .env_remove("LUCIA_PKG_REPO_KEY")
            .env("LUCIA_PKG_STORE", self.path().join(".store"))
            .stdin(Stdio::null());
        for (k, v) in env {
            c.env(k, v);
        }
        c
    }

    fn run(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        self.command(args, env).output().unwrap()
    }

    fn ok(&self, args: &[&str], env: &[(&str, &str)]) -> String {
        let o = self.run(args, env);
        assert!(
            o.status.success(),
            "lucia-pkg {args:?} failed:\n{}",
            text(&o)
        );
        text(&o)
    }

    /// Builds version `version` into `out/` and returns the rpm's path.
    fn rpm(&self, version: &str, out: &str) -> PathBuf {
        self.ok(
            &[
                "build",
                "-q",
                "-m",
                "hw.toml",
                "-o",
                out,
                "--set",
                &format!("package.version={version}"),
            ],
            &[],
        );
        self.path().join(format!("{out}/hw-{version}-1.x86_64.rpm"))
    }
}

/// Every file under `dir`, by relative path, with its sha256.
fn tree(dir: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for e in walk(dir) {
        let rel = e.strip_prefix(dir).unwrap().to_string_lossy().into_owned();
        out.insert(rel, hex::encode(Sha256::digest(fs::read(&e).unwrap())));
    }
    out
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out.sort();
    out
}

fn assert_same_tree(a: &Path, b: &Path) {
    assert_eq!(
        tree(a),
        tree(b),
        "{} and {} differ",
        a.display(),
        b.display()
    );
}

fn gunzip(b: &[u8]) -> String {
    let mut out = String::new();
    flate2::read::GzDecoder::new(b)
        .read_to_string(&mut out)
        .unwrap();
    out
}

/// The text between `<tag ...>` and `</tag>` of each occurrence (enough for repomd.xml).
fn elements<'a>(xml: &'a str, tag: &str) -> Vec<&'a str> {
    let open = format!("<{tag}");
    let close = format!("</{tag}>");
    let mut out = Vec::new();
    let mut rest = xml;
    while let Some(i) = rest.find(&open) {
        let after = &rest[i..];
        let Some(gt) = after.find('>') else { break };
        let Some(end) = after.find(&close) else { break };
        out.push(&after[gt + 1..end]);
        rest = &after[end + close.len()..];
    }
    out
}

fn attr<'a>(xml: &'a str, name: &str) -> &'a str {
    let key = format!("{name}=\"");
    let i = xml
        .find(&key)
        .unwrap_or_else(|| panic!("no {name} in {xml}"))
        + key.len();
    let n = xml[i..].find('"').unwrap();
    &xml[i..i + n]
}

/// repomd.xml's `<data>` entries: type → (location, checksum, open-checksum, size, open-size,
/// timestamp), checked against the files.
fn check_repomd(repo: &Path, date: u64) -> BTreeMap<String, String> {
    let repomd = fs::read_to_string(repo.join("repodata/repomd.xml")).unwrap();
    assert!(
        repomd.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<repomd "),
        "{repomd}"
    );
    assert_eq!(elements(&repomd, "revision"), [date.to_string()]);
    let mut xml = BTreeMap::new();
    for data in repomd.split("<data type=\"").skip(1) {
        let kind = &data[..data.find('"').unwrap()];
        let location = attr(data, "href");
        let bytes = fs::read(repo.join(location)).unwrap();
        let sha = hex::encode(Sha256::digest(&bytes));
        assert_eq!(elements(data, "checksum"), [sha.as_str()], "{kind}");
        assert_eq!(
            location,
            format!("repodata/{sha}-{kind}.xml.gz"),
            "{kind}: unique name"
        );
        assert_eq!(elements(data, "size"), [bytes.len().to_string()], "{kind}");
        assert_eq!(elements(data, "timestamp"), [date.to_string()], "{kind}");
        let open = gunzip(&bytes);
        assert_eq!(
            elements(data, "open-checksum"),
            [hex::encode(Sha256::digest(open.as_bytes()))],
            "{kind}"
        );
        assert_eq!(elements(data, "open-size"), [open.len().to_string()]);
        xml.insert(kind.to_string(), open);
    }
    assert_eq!(
        xml.keys().collect::<Vec<_>>(),
        ["filelists", "other", "primary"]
    );
    // Nothing but what repomd.xml names (and its signature).
    let listed = fs::read_dir(repo.join("repodata")).unwrap().count();
    let sig = usize::from(repo.join("repodata/repomd.xml.asc").exists());
    assert_eq!(listed, 4 + sig, "stale files in repodata/");
    xml
}

#[test]
fn repository_is_deterministic_and_indexes_every_package() {
    let f = Fixture::new();
    let v1 = f.rpm("1.0.0", "out1");
    let v2 = f.rpm("1.1.0", "out2");
    let (v1s, v2s) = (v1.to_str().unwrap(), v2.to_str().unwrap());
    f.ok(
        &["repo", "dnf", "--out", "a", v2s, v1s],
        &[("TZ", "UTC"), ("LC_ALL", "C")],
    );
    // Another order (one input as an out dir), time zone, locale, umask and out dir.
    f.ok(
        &["repo", "dnf", "--out", "elsewhere/b", "out1", v2s],
        &[
            ("TZ", "Pacific/Kiritimati"),
            ("LC_ALL", "de_DE.UTF-8"),
            ("LANG", "de_DE.UTF-8"),
        ],
    );
    let (a, b) = (f.path().join("a"), f.path().join("elsewhere/b"));
    assert_same_tree(&a, &b);
    let o = Command::new("sh")
        .arg("-c")
        .arg("umask 077; exec \"$0\" \"$@\"")
        .arg(bin())
        .args(["repo", "dnf", "--out", "c", "out2", "out1"])
        .current_dir(f.path())
        .env_remove("SOURCE_DATE_EPOCH")
        .env_remove("LUCIA_PKG_REPO_KEY")
        .env("TZ", "Asia/Kolkata")
        .env("LC_ALL", "C.UTF-8")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("unsigned"),
        "an unsigned run says so: {}",
        text(&o)
    );
    assert_same_tree(&a, &f.path().join("c"));
    // Modes are fixed whatever the umask: a web server can read everything.
    let c = f.path().join("c");
    for (p, mode) in [
        ("repodata/repomd.xml", 0o644),
        ("repodata", 0o755),
        ("Packages/h/hw-1.0.0-1.x86_64.rpm", 0o644),
        ("Packages/h", 0o755),
    ] {
        let m = fs::metadata(c.join(p)).unwrap().permissions().mode() & 0o777;
        assert_eq!(m, mode, "{p}");
    }

    // The pool: the files as built.
    for (rpm, v) in [(&v1, "1.0.0"), (&v2, "1.1.0")] {
        let pooled = a.join(format!("Packages/h/hw-{v}-1.x86_64.rpm"));
        assert_eq!(fs::read(&pooled).unwrap(), fs::read(rpm).unwrap());
    }

    let xml = check_repomd(&a, DATE);
    let primary = &xml["primary"];
    assert!(primary.contains(" packages=\"2\">"), "{primary}");
    let packages = elements(primary, "package");
    assert_eq!(packages.len(), 2);
    for (p, v) in packages.iter().zip(["1.0.0", "1.1.0"]) {
        let file = format!("Packages/h/hw-{v}-1.x86_64.rpm");
        let bytes = fs::read(a.join(&file)).unwrap();
        assert!(p.contains("<name>hw</name>\n  <arch>x86_64</arch>"), "{p}");
        assert!(
            p.contains(&format!("<version epoch=\"0\" ver=\"{v}\" rel=\"1\"/>")),
            "{p}"
        );
        assert!(
            p.contains(&format!(
                "<checksum type=\"sha256\" pkgid=\"YES\">{}</checksum>",
                hex::encode(Sha256::digest(&bytes))
            )),
            "{p}"
        );
        assert!(p.contains(&format!("<location href=\"{file}\"/>")), "{p}");
        assert!(p.contains(&format!("package=\"{}\"", bytes.len())), "{p}");
        assert!(
            p.contains(&format!("<time file=\"{DATE}\" build=\"{DATE}\"/>")),
            "{p}"
        );
        // Escaped once, as XML wants it.
        assert!(
            p.contains("<summary>dnf repository probe &lt;&amp;&gt;</summary>"),
            "{p}"
        );
        let range = p.find("<rpm:header-range").unwrap();
        let (start, end): (usize, usize) = (
            attr(&p[range..], "start").parse().unwrap(),
            attr(&p[range..], "end").parse().unwrap(),
        );
        // The header starts with its magic and ends where the payload (gzip) starts.
        assert_eq!(&bytes[start..start + 3], [0x8e, 0xad, 0xe8]);
        assert_eq!(&bytes[end..end + 2], [0x1f, 0x8b]);
        assert!(p.contains("<rpm:entry name=\"hw\" flags=\"EQ\""), "{p}");
        assert!(
            !p.contains("rpmlib("),
            "rpmlib() requires are not listed: {p}"
        );
    }
    let filelists = &xml["filelists"];
    assert!(
        filelists.contains("  <file type=\"dir\">/opt/hw</file>\n  <file>/opt/hw/run</file>\n"),
        "{filelists}"
    );
    let other = &xml["other"];
    assert!(
        other.contains(
            "author=\"Probe &lt;probe@example.org&gt; - 1.0.0-1\" date=\"1699920000\">- First &quot;release&quot; &amp; more.</changelog>"
        ),
        "{other}"
    );

    // SOURCE_DATE_EPOCH sets the revision; --compression zstd names .xml.zst files.
    f.ok(
        &["repo", "dnf", "--out", "z", "--compression", "zstd", v1s],
        &[("SOURCE_DATE_EPOCH", "1767225600")],
    );
    let repomd = fs::read_to_string(f.path().join("z/repodata/repomd.xml")).unwrap();
    assert!(
        repomd.contains("<revision>1767225600</revision>"),
        "{repomd}"
    );
    assert!(
        repomd.contains("<timestamp>1767225600</timestamp>"),
        "{repomd}"
    );
    assert_eq!(
        repomd.matches("-primary.xml.zst\"/>").count(),
        1,
        "{repomd}"
    );
    if have("zstd") {
        let loc = attr(repomd.split("type=\"primary\"").nth(1).unwrap(), "href");
        let o = Command::new("zstd")
            .args(["-dc"])
            .arg(f.path().join("z").join(loc))
            .output()
            .unwrap();
        assert!(o.status.success());
        assert!(String::from_utf8_lossy(&o.stdout).contains("<name>hw</name>"));
    }
}

#[test]
fn adding_packages_keeps_the_older_ones() {
    let f = Fixture::new();
    let v1 = f.rpm("1.0.0", "out1");
    let v2 = f.rpm("1.1.0", "out2");
    let (v1s, v2s) = (v1.to_str().unwrap(), v2.to_str().unwrap());
    f.ok(&["repo", "dnf", "--out", "grown", v1s], &[]);
    let first = check_repomd(&f.path().join("grown"), DATE);
    assert!(first["primary"].contains(" packages=\"1\">"));
    let out = f.ok(&["repo", "dnf", "--out", "grown", v2s], &[]);
    assert!(out.contains("+ hw"), "{out}");
    let second = check_repomd(&f.path().join("grown"), DATE);
    assert!(second["primary"].contains(" packages=\"2\">"));
    // Adding a package that is already there changes nothing.
    let before = tree(&f.path().join("grown"));
    f.ok(&["repo", "dnf", "--out", "grown", v1s], &[]);
    assert_eq!(before, tree(&f.path().join("grown")));
    // Grown in steps == made at once: a function of the set of packages.
    f.ok(&["repo", "dnf", "--out", "at-once", v1s, v2s], &[]);
    assert_same_tree(&f.path().join("grown"), &f.path().join("at-once"));
    // --json reports what is there and what was added.
    let o = f.run(&["repo", "dnf", "--json", "--out", "grown", v2s], &[]);
    assert!(o.status.success(), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["packages"].as_array().unwrap().len(), 2);
    assert_eq!(v["packages"][0]["version"], "1.0.0");
    assert_eq!(v["packages"][1]["added"], false);
    assert_eq!(v["revision"], DATE);
    assert_eq!(v["compression"], "gzip");
    assert_eq!(v["signed_by"], serde_json::Value::Null);
    assert_eq!(v["metadata"].as_array().unwrap().len(), 3);
}

#[test]
fn bad_inputs_are_refused_with_exit_2() {
    let f = Fixture::new();
    let v1 = f.rpm("1.0.0", "out1");
    let v1s = v1.to_str().unwrap();
    let refused = |args: &[&str], needle: &str| {
        let o = f.run(args, &[]);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", text(&o));
        assert!(text(&o).contains(needle), "{args:?}: {}", text(&o));
        text(&o)
    };

    // Not an rpm.
    fs::write(f.path().join("junk.rpm"), "not an rpm\n").unwrap();
    refused(&["repo", "dnf", "--out", "r", v1s, "junk.rpm"], "junk.rpm");
    assert!(!f.path().join("r").exists(), "nothing written");

    // Corrupted: one byte of the payload, one of the header (copies without a SHA256SUMS).
    fs::create_dir_all(f.path().join("bad")).unwrap();
    let good = fs::read(&v1).unwrap();
    for (name, at) in [("payload.rpm", good.len() - 40), ("header.rpm", 5000)] {
        let mut bytes = good.clone();
        bytes[at] ^= 0x55;
        fs::write(f.path().join("bad").join(name), bytes).unwrap();
        let t = refused(
            &["repo", "dnf", "--out", "r", v1s, &format!("bad/{name}")],
            &format!("bad/{name}"),
        );
        assert!(
            t.contains("digest") || t.contains("not a readable rpm"),
            "{name}: {t}"
        );
        assert!(!f.path().join("r").exists(), "nothing written");
    }
    // The same corruption inside an out dir.
    let tampered = f.rpm("1.0.0", "tampered");
    let mut bytes = fs::read(&tampered).unwrap();
    let n = bytes.len();
    bytes[n - 40] ^= 0x55;
    // A new file renamed over it: the out dir's file is a hard link into the store.
    let tmp = f.path().join("tampered/.new");
    fs::write(&tmp, bytes).unwrap();
    fs::rename(&tmp, &tampered).unwrap();
    refused(
        &["repo", "dnf", "--out", "r", "tampered"],
        "hw-1.0.0-1.x86_64.rpm",
    );

    // A different package with the same NEVRA.
    fs::write(f.path().join("payload/extra.txt"), "changed\n").unwrap();
    let other = f.rpm("1.0.0", "other");
    assert_ne!(fs::read(&v1).unwrap(), fs::read(&other).unwrap());
    let t = refused(
        &["repo", "dnf", "--out", "r", v1s, other.to_str().unwrap()],
        "hw-1.0.0-1.x86_64",
    );
    assert!(t.contains("other/hw-1.0.0-1.x86_64.rpm"), "{t}");
    assert!(!f.path().join("r").exists(), "nothing written");
    // ... also against the pool of an existing repository, which stays as it was.
    f.ok(&["repo", "dnf", "--out", "r", v1s], &[]);
    let before = tree(&f.path().join("r"));
    refused(
        &["repo", "dnf", "--out", "r", other.to_str().unwrap()],
        "Packages/h/hw-1.0.0-1.x86_64.rpm",
    );
    assert_eq!(
        before,
        tree(&f.path().join("r")),
        "a refused run changes nothing"
    );

    // A missing input, a directory without rpms, an unknown compression, a key that is not one.
    refused(&["repo", "dnf", "--out", "s", "missing.rpm"], "missing.rpm");
    fs::create_dir_all(f.path().join("empty")).unwrap();
    refused(&["repo", "dnf", "--out", "s", "empty"], "no .rpm files");
    let o = f.run(
        &["repo", "dnf", "--out", "s", "--compression", "xz", v1s],
        &[],
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    refused(
        &["repo", "dnf", "--out", "s", "--key", "hw.toml", v1s],
        "hw.toml",
    );
    assert!(!f.path().join("s").exists(), "nothing written");
}

/// A temp GNUPGHOME with one passphrase-less Ed25519 signing key.
struct GpgKey {
    home: tempfile::TempDir,
}

impl GpgKey {
    fn new(uid: &str) -> GpgKey {
        let home = tempfile::tempdir().unwrap();
        fs::set_permissions(home.path(), fs::Permissions::from_mode(0o700)).unwrap();
        let k = GpgKey { home };
        let o = k.gpg(&[
            "--batch",
            "--passphrase",
            "",
            "--quick-gen-key",
            uid,
            "ed25519",
            "sign",
            "never",
        ]);
        assert!(o.status.success(), "gpg --quick-gen-key: {}", text(&o));
        let o = k.gpg(&["--batch", "--armor", "--export-secret-keys"]);
        assert!(o.status.success(), "{}", text(&o));
        fs::write(k.home.path().join("secret.asc"), &o.stdout).unwrap();
        let o = k.gpg(&["--batch", "--armor", "--export"]);
        fs::write(k.home.path().join("public.asc"), &o.stdout).unwrap();
        let o = k.gpg(&["--batch", "--export"]);
        fs::write(k.home.path().join("public.gpg"), &o.stdout).unwrap();
        k
    }

    fn gpg(&self, args: &[&str]) -> Output {
        Command::new("gpg")
            .env("GNUPGHOME", self.home.path())
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    fn file(&self, name: &str) -> PathBuf {
        self.home.path().join(name)
    }

    fn gpgv(&self, keyring: &Path, files: &[&Path]) -> Output {
        Command::new("gpgv")
            .arg("--keyring")
            .arg(keyring)
            .args(files)
            .output()
            .unwrap()
    }
}

impl Drop for GpgKey {
    /// Stops the gpg-agent gpg started for this GNUPGHOME.
    fn drop(&mut self) {
        let _ = Command::new("gpgconf")
            .env("GNUPGHOME", self.home.path())
            .args(["--kill", "gpg-agent"])
            .output();
    }
}

/// Whether `tools` are there; without them: SKIP, or fail under `LUCIA_E2E_REQUIRED=1`.
fn tools(tools: &[&str], root: bool) -> bool {
    let missing: Vec<&str> = tools.iter().copied().filter(|t| !have(t)).collect();
    if missing.is_empty() && (!root || is_root()) {
        return true;
    }
    let why = if missing.is_empty() {
        "not root (dnf --installroot needs it)".to_string()
    } else {
        format!(
            "{} not installed (apt-get install dnf createrepo-c gnupg)",
            missing.join(", ")
        )
    };
    assert!(!e2e_required(), "LUCIA_E2E_REQUIRED=1: {why}");
    eprintln!("SKIP: {why}");
    false
}

#[test]
fn signed_repository_verifies_with_gpgv() {
    if !tools(&["gpg", "gpgv"], false) {
        return;
    }
    let f = Fixture::new();
    let v1 = f.rpm("1.0.0", "out1");
    let v1s = v1.to_str().unwrap();
    let key = GpgKey::new("DNF Test <dnf@example.org>");
    let ks = key.file("secret.asc");
    let out = f.ok(
        &[
            "repo",
            "dnf",
            "--out",
            "a",
            "--key",
            ks.to_str().unwrap(),
            v1s,
        ],
        &[],
    );
    assert!(out.contains("signed by"), "{out}");
    // The key from the environment (the armored key itself): the same bytes.
    let armored = fs::read_to_string(&ks).unwrap();
    f.ok(
        &["repo", "dnf", "--out", "b", "out1"],
        &[("LUCIA_PKG_REPO_KEY", &armored), ("TZ", "Asia/Kolkata")],
    );
    let (a, b) = (f.path().join("a"), f.path().join("b"));
    assert_same_tree(&a, &b);
    check_repomd(&a, DATE);

    let (repomd, asc) = (
        a.join("repodata/repomd.xml"),
        a.join("repodata/repomd.xml.asc"),
    );
    assert!(fs::read_to_string(&asc)
        .unwrap()
        .starts_with("-----BEGIN PGP SIGNATURE-----\n"));
    let o = key.gpgv(&key.file("public.gpg"), &[&asc, &repomd]);
    assert!(o.status.success(), "gpgv repomd.xml.asc: {}", text(&o));
    // The exported public key (repo-key.asc) is the key clients install.
    let dearmored = key.file("exported.gpg");
    let o = key.gpg(&[
        "--batch",
        "--yes",
        "-o",
        dearmored.to_str().unwrap(),
        "--dearmor",
        a.join("repo-key.asc").to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let o = key.gpgv(&dearmored, &[&asc, &repomd]);
    assert!(o.status.success(), "gpgv with repo-key.asc: {}", text(&o));
    // Tampered, or checked against another key: fails.
    let other = GpgKey::new("Other <other@example.org>");
    let o = other.gpgv(&other.file("public.gpg"), &[&asc, &repomd]);
    assert!(!o.status.success(), "verified with a foreign key");
    let t = fs::read_to_string(&repomd)
        .unwrap()
        .replace("<revision>", "<revision>1");
    fs::write(&repomd, t).unwrap();
    let o = key.gpgv(&key.file("public.gpg"), &[&asc, &repomd]);
    assert!(!o.status.success(), "tampered repomd.xml verified");

    // Unsigned again: the stale signature and public key go.
    f.ok(&["repo", "dnf", "--out", "b", v1s], &[]);
    assert!(!b.join("repodata/repomd.xml.asc").exists());
    assert!(!b.join("repo-key.asc").exists());
}

/// Replaces the `time file` of each package (createrepo_c: the file's mtime), drops the final
/// line break createrepo_c leaves out, and reads `&quot;`/`&apos;` as the quotes they stand for
/// (libxml2 writes them literally in text, we escape them everywhere: the same XML).
fn normalized(xml: &str) -> String {
    let xml = xml.replace("&quot;", "\"").replace("&apos;", "'");
    let mut out = String::new();
    for line in xml.trim_end().lines() {
        match line.find("<time file=\"") {
            Some(i) => {
                let rest = &line[i + 12..];
                let end = rest.find('"').unwrap();
                out.push_str(&format!("{}<time file=\"T{}\n", &line[..i], &rest[end..]));
            }
            None => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    out
}

#[test]
fn metadata_matches_createrepo_c() {
    if !tools(&["createrepo_c"], false) {
        return;
    }
    let f = Fixture::new();
    let v1 = f.rpm("1.0.0", "out1");
    let v2 = f.rpm("1.1.0", "out2");
    let lucia = example_rpms(f.path());
    f.ok(
        &[
            "repo",
            "dnf",
            "--out",
            "ours",
            v1.to_str().unwrap(),
            v2.to_str().unwrap(),
            lucia.to_str().unwrap(),
        ],
        &[],
    );
    let theirs = f.path().join("theirs");
    copy_tree(&f.path().join("ours/Packages"), &theirs.join("Packages"));
    let o = Command::new("createrepo_c")
        .args(["--no-database", "--simple-md-filenames"])
        .arg(&theirs)
        .output()
        .unwrap();
    assert!(o.status.success(), "createrepo_c: {}", text(&o));
    // The example package is newer: its build date is the repository date.
    let ours = check_repomd(&f.path().join("ours"), 1_793_491_200);
    for kind in ["primary", "filelists", "other"] {
        let mut gz = Vec::new();
        fs::File::open(theirs.join(format!("repodata/{kind}.xml.gz")))
            .unwrap()
            .read_to_end(&mut gz)
            .unwrap();
        assert_eq!(
            normalized(&ours[kind]),
            normalized(&gunzip(&gz)),
            "{kind}.xml differs from createrepo_c's"
        );
    }
}

fn copy_tree(from: &Path, to: &Path) {
    for e in walk(from) {
        let t = to.join(e.strip_prefix(from).unwrap());
        fs::create_dir_all(t.parent().unwrap()).unwrap();
        fs::copy(&e, &t).unwrap();
    }
}

/// Builds the example service package (packaging/lucia.toml, both arches) into `dir/lucia-out`.
fn example_rpms(dir: &Path) -> PathBuf {
    demo_payload();
    let out = dir.join("lucia-out");
    let o = Command::new(bin())
        .args(["build", "-q", "-f", "rpm", "-m"])
        .arg(repo().join("packaging/lucia.toml"))
        .arg("-o")
        .arg(&out)
        .env_remove("SOURCE_DATE_EPOCH")
        .env("LUCIA_PKG_STORE", dir.join(".store"))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "building packaging/lucia.toml: {}",
        text(&o)
    );
    out
}

/// `dnf` against the repository at `repo` only, in the empty install root `root`, with its own
/// cache; `gpgkey` is the key repo_gpgcheck and gpgcheck trust.
fn dnf(root: &Path, repo: &Path, gpgkey: &Path, gpgcheck: bool, args: &[&str]) -> Output {
    let cache = root.with_extension("cache");
    Command::new("dnf")
        .arg(format!("--installroot={}", root.display()))
        .args([
            "--releasever=1",
            "--noplugins",
            "--setopt=reposdir=/nonexistent",
        ])
        .arg(format!("--setopt=cachedir={}", cache.display()))
        .arg(format!("--repofrompath=local,file://{}", repo.display()))
        .args(["--repo=local", "--setopt=local.repo_gpgcheck=1"])
        .arg(format!("--setopt=local.gpgcheck={}", u8::from(gpgcheck)))
        .arg(format!("--setopt=local.gpgkey=file://{}", gpgkey.display()))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// The sample package, signed for gpgcheck=1: by lucia-pkg itself when built with the `sign`
/// feature, else by `rpmsign --addsign` with the same key. `None`: cannot sign (gpgcheck=0).
fn signed_sample(f: &Fixture, key: &GpgKey) -> Option<PathBuf> {
    let manifest = fs::read_to_string(f.path().join("hw.toml")).unwrap();
    let with_key = format!(
        "{manifest}signing-key = \"{}\"\n",
        key.file("secret.asc").display()
    );
    fs::write(f.path().join("signed.toml"), with_key).unwrap();
    let o = f.run(&["build", "-q", "-m", "signed.toml", "-o", "signed"], &[]);
    let rpm = f.path().join("signed/hw-1.0.0-1.x86_64.rpm");
    if o.status.success() {
        eprintln!("the sample rpm is signed by lucia-pkg (rpm.signing-key, feature `sign`)");
        return Some(rpm);
    }
    assert!(
        text(&o).contains("without the `sign` feature"),
        "signing with lucia-pkg failed: {}",
        text(&o)
    );
    if !have("rpmsign") {
        assert!(!e2e_required(), "LUCIA_E2E_REQUIRED=1: rpmsign is missing");
        eprintln!("NOTE: no `sign` feature and no rpmsign: installing with gpgcheck=0 (repo_gpgcheck=1 still checks repomd.xml.asc)");
        return None;
    }
    // A copy: rpmsign may sign in place, and the out dir's file is a hard link into the store.
    let built = f.rpm("1.0.0", "signed");
    let unsigned = f.path().join("rpmsigned/hw-1.0.0-1.x86_64.rpm");
    fs::create_dir_all(unsigned.parent().unwrap()).unwrap();
    fs::copy(&built, &unsigned).unwrap();
    let o = Command::new("rpmsign")
        .arg("--addsign")
        .arg("--define")
        .arg("_gpg_name dnf@example.org")
        .arg("--define")
        .arg(format!("_gpg_path {}", key.home.path().display()))
        .arg("--define")
        .arg("__gpg /usr/bin/gpg")
        .arg(&unsigned)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(o.status.success(), "rpmsign --addsign: {}", text(&o));
    eprintln!("the sample rpm is signed by rpmsign --addsign (no `sign` feature in this build)");
    Some(unsigned)
}

#[test]
fn dnf_installs_from_the_repository() {
    if !tools(&["dnf", "gpg", "createrepo_c"], true) {
        return;
    }
    let f = Fixture::new();
    let key = GpgKey::new("DNF Test <dnf@example.org>");
    let sample = signed_sample(&f, &key);
    let gpgcheck = sample.is_some();
    let sample = match sample {
        Some(p) => p,
        None => f.rpm("1.0.0", "out1"),
    };
    let lucia = example_rpms(f.path());
    let ks = key.file("secret.asc");
    f.ok(
        &[
            "repo",
            "dnf",
            "--out",
            "repo",
            "--key",
            ks.to_str().unwrap(),
            sample.to_str().unwrap(),
            lucia.to_str().unwrap(),
        ],
        &[],
    );
    let repo = f.path().join("repo");
    let public = repo.join("repo-key.asc");

    // Install the dependency-free sample into an empty root: repomd.xml.asc and (gpgcheck) the
    // package signature verified against the repository key.
    let root = f.path().join("root");
    let o = dnf(&root, &repo, &public, gpgcheck, &["-y", "install", "hw"]);
    assert!(o.status.success(), "dnf install hw: {}", text(&o));
    assert_eq!(
        fs::read_to_string(root.join("opt/hw/run")).unwrap(),
        "#!/bin/sh\necho hw\n"
    );
    if gpgcheck {
        assert!(
            text(&o).contains("Importing GPG key"),
            "the key was imported: {}",
            text(&o)
        );
    }

    // Every package, with its NEVRA (the service package's dependencies cannot resolve in an
    // empty root, so it is listed, not installed).
    let nevras = |root: &Path, repo: &Path| {
        let o = dnf(
            root,
            repo,
            &public,
            gpgcheck,
            &[
                "-y",
                "repoquery",
                "--qf",
                "%{name}-%{epoch}:%{version}-%{release}.%{arch}",
            ],
        );
        assert!(o.status.success(), "dnf repoquery: {}", text(&o));
        let mut v: Vec<String> = String::from_utf8_lossy(&o.stdout)
            .lines()
            .filter(|l| l.contains(':'))
            .map(str::to_string)
            .collect();
        v.sort();
        v
    };
    let want = [
        "hw-0:1.0.0-1.x86_64",
        "lucia-0:1.0.0-1.aarch64",
        "lucia-0:1.0.0-1.x86_64",
    ];
    assert_eq!(nevras(&f.path().join("q1"), &repo), want);

    // zstd metadata reads the same.
    f.ok(
        &[
            "repo",
            "dnf",
            "--out",
            "zrepo",
            "--compression",
            "zstd",
            "--key",
            ks.to_str().unwrap(),
            sample.to_str().unwrap(),
            lucia.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(nevras(&f.path().join("q2"), &f.path().join("zrepo")), want);

    // createrepo_c's repository of the same Packages/ reads the same (unsigned metadata: checked
    // with repo_gpgcheck=0 by editing nothing but the option).
    let theirs = f.path().join("theirs");
    copy_tree(&repo.join("Packages"), &theirs.join("Packages"));
    let o = Command::new("createrepo_c").arg(&theirs).output().unwrap();
    assert!(o.status.success(), "createrepo_c: {}", text(&o));
    let o = Command::new("dnf")
        .arg(format!("--installroot={}", f.path().join("q3").display()))
        .args([
            "--releasever=1",
            "--noplugins",
            "--setopt=reposdir=/nonexistent",
        ])
        .arg(format!(
            "--setopt=cachedir={}",
            f.path().join("q3.cache").display()
        ))
        .arg(format!("--repofrompath=local,file://{}", theirs.display()))
        .args(["--repo=local", "--setopt=local.repo_gpgcheck=0"])
        .args([
            "repoquery",
            "--qf",
            "%{name}-%{epoch}:%{version}-%{release}.%{arch}",
        ])
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "dnf repoquery (createrepo_c): {}",
        text(&o)
    );
    let mut theirs_list: Vec<String> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter(|l| l.contains(':'))
        .map(str::to_string)
        .collect();
    theirs_list.sort();
    assert_eq!(theirs_list, want);

    // Another key: repo_gpgcheck refuses the metadata, nothing is installed.
    let other = GpgKey::new("Other <other@example.org>");
    let root = f.path().join("root-wrong-key");
    let o = dnf(
        &root,
        &repo,
        &other.file("public.asc"),
        gpgcheck,
        &["-y", "install", "hw"],
    );
    assert!(
        !o.status.success(),
        "installed with a foreign key: {}",
        text(&o)
    );
    assert!(
        text(&o).contains("GPG signature verification error"),
        "{}",
        text(&o)
    );
    assert!(!root.join("opt/hw/run").exists());

    // A tampered repomd.xml: refused too.
    let tampered = f.path().join("tampered");
    copy_tree(&repo, &tampered);
    let repomd = tampered.join("repodata/repomd.xml");
    let t = fs::read_to_string(&repomd)
        .unwrap()
        .replace("<revision>", "<revision>9");
    fs::write(&repomd, t).unwrap();
    let root = f.path().join("root-tampered");
    let o = dnf(
        &root,
        &tampered,
        &public,
        gpgcheck,
        &["-y", "install", "hw"],
    );
    assert!(
        !o.status.success(),
        "installed from a tampered repository: {}",
        text(&o)
    );
    assert!(!root.join("opt/hw/run").exists());

    // gpgcheck=1 checks the package too: the unsigned build of the same package is refused.
    if gpgcheck {
        let unsigned = f.rpm("1.0.0", "unsigned");
        f.ok(
            &[
                "repo",
                "dnf",
                "--out",
                "unsigned-repo",
                "--key",
                ks.to_str().unwrap(),
                unsigned.to_str().unwrap(),
            ],
            &[],
        );
        let root = f.path().join("root-unsigned");
        let o = dnf(
            &root,
            &f.path().join("unsigned-repo"),
            &public,
            true,
            &["-y", "install", "hw"],
        );
        assert!(
            !o.status.success(),
            "gpgcheck=1 installed an unsigned rpm: {}",
            text(&o)
        );
        assert!(!root.join("opt/hw/run").exists());
    }
}
