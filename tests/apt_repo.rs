//! `lucia-pkg repo apt` (issue 15): an APT repository built from debs lucia-pkg made.
//!
//! - the repository is a pure function of its packages and options: two runs with the inputs in
//!   another order, another time zone and another out dir are byte-identical, and a repository
//!   grown in two runs equals the one made in one;
//! - the Packages indexes hold every package's control fields plus Filename/Size/MD5sum/SHA256
//!   of the pool file, sorted by name and version; the Release lists every index with its size
//!   and hashes; by-hash copies exist;
//! - InRelease and Release.gpg verify with gpgv and the exported public key (Ed25519, RSA and
//!   ECDSA P-256 keys generated with gpg in a temp GNUPGHOME), fail once the Release is tampered
//!   with, and are the same bytes when made twice; a passphrase-protected key signs with
//!   LUCIA_PKG_SIGNING_PASSPHRASE and, without it, the run fails before writing anything;
//! - a file that is not a deb, and a different deb with the same name/version/arch, are refused
//!   with exit 2 naming them.
//!
//! The signing tests need gpg/gpgv: they skip without them unless `LUCIA_E2E_REQUIRED=1`.

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
summary = "apt repository probe"
license = "MIT"
maintainer = "Probe <probe@example.org>"
source-date-epoch = 1700000000
arches = ["amd64"]
formats = ["deb"]

[payload]
install-dir = "/opt/hw"
entrypoint = "run"

[payload.amd64]
path = "payload"

[deb]
compression = "gzip:1"
"#;

/// `Date:` of a repository of packages built at the manifest's source date.
const DATE: &str = "Tue, 14 Nov 2023 22:13:20 UTC";

/// A temp dir with a small project and the debs built from it.
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

    fn run(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
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
        c.output().unwrap()
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

    /// Builds version `version` into `out/` and returns the deb's path.
    fn deb(&self, version: &str, out: &str) -> PathBuf {
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
        self.path().join(format!("{out}/hw_{version}-1_amd64.deb"))
    }
}

/// Every file under `dir`, by relative path, with its bytes.
fn tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, d: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for e in fs::read_dir(d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
                out.insert(rel, fs::read(&p).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

fn assert_same_tree(a: &Path, b: &Path) {
    let (ta, tb) = (tree(a), tree(b));
    assert_eq!(
        ta.keys().collect::<Vec<_>>(),
        tb.keys().collect::<Vec<_>>(),
        "{} and {} list different files",
        a.display(),
        b.display()
    );
    for (k, v) in &ta {
        assert!(
            v == &tb[k],
            "{k} differs between {} and {}",
            a.display(),
            b.display()
        );
    }
}

fn gunzip(b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(b)
        .read_to_end(&mut out)
        .unwrap();
    out
}

/// The stanzas of a Packages file as field maps.
fn stanzas(text: &str) -> Vec<BTreeMap<String, String>> {
    text.split("\n\n")
        .filter(|s| !s.trim().is_empty())
        .map(|s| {
            s.lines()
                .filter(|l| !l.starts_with(' '))
                .filter_map(|l| l.split_once(": "))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        })
        .collect()
}

#[test]
fn repository_is_deterministic_and_indexes_every_package() {
    let f = Fixture::new();
    let v1 = f.deb("1.0.0", "out1");
    let v2 = f.deb("1.1.0", "out2");
    let (v1s, v2s) = (v1.to_str().unwrap(), v2.to_str().unwrap());
    f.ok(
        &["repo", "apt", "-q", "--out", "a", v2s, v1s],
        &[("TZ", "UTC")],
    );
    // Another order (one input as a directory), time zone, umask-independent modes, out dir.
    f.ok(
        &["repo", "apt", "--out", "elsewhere/b", "out1", v2s],
        &[("TZ", "Pacific/Kiritimati"), ("LANG", "de_DE.UTF-8")],
    );
    let (a, b) = (f.path().join("a"), f.path().join("elsewhere/b"));
    assert_same_tree(&a, &b);

    // Modes are fixed whatever the umask: a web server can read everything.
    let meta = fs::metadata(a.join("dists/stable/Release")).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o644);
    let meta = fs::metadata(a.join("dists/stable")).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o755);

    // The pool.
    for (deb, v) in [(&v1, "1.0.0-1"), (&v2, "1.1.0-1")] {
        let pooled = a.join(format!("pool/main/h/hw/hw_{v}_amd64.deb"));
        assert_eq!(fs::read(&pooled).unwrap(), fs::read(deb).unwrap());
    }

    // Packages: control fields, then the pool file's name, size and hashes; sorted by version.
    let dir = a.join("dists/stable/main/binary-amd64");
    let packages = fs::read_to_string(dir.join("Packages")).unwrap();
    let st = stanzas(&packages);
    assert_eq!(st.len(), 2, "{packages}");
    assert_eq!(st[0]["Version"], "1.0.0-1");
    assert_eq!(st[1]["Version"], "1.1.0-1");
    for s in &st {
        assert_eq!(s["Package"], "hw");
        assert_eq!(s["Architecture"], "amd64");
        assert_eq!(s["Maintainer"], "Probe <probe@example.org>");
        let file = fs::read(a.join(&s["Filename"])).unwrap();
        assert_eq!(s["Size"], file.len().to_string());
        assert_eq!(s["SHA256"], hex::encode(Sha256::digest(&file)));
        assert_eq!(s["MD5sum"].len(), 32);
    }
    assert!(packages.starts_with("Package: hw\n"), "{packages}");
    assert_eq!(
        gunzip(&fs::read(dir.join("Packages.gz")).unwrap()),
        packages.as_bytes()
    );
    let xz = Command::new("xz")
        .args(["-dc"])
        .arg(dir.join("Packages.xz"))
        .output();
    if let Ok(xz) = xz {
        assert_eq!(xz.stdout, packages.as_bytes());
    }
    // arm64 is always indexed (empty here): apt on arm64 finds an index.
    assert_eq!(
        fs::read(a.join("dists/stable/main/binary-arm64/Packages")).unwrap(),
        b""
    );

    // Release: fields, and every index with its size and hashes; by-hash copies.
    let release = fs::read_to_string(a.join("dists/stable/Release")).unwrap();
    for line in [
        "Origin: lucia-pkg\n",
        "Label: lucia-pkg\n",
        "Suite: stable\n",
        "Codename: stable\n",
        &format!("Date: {DATE}\n"),
        "Architectures: amd64 arm64\n",
        "Components: main\n",
        "Acquire-By-Hash: yes\n",
    ] {
        assert!(release.contains(line), "no {line:?} in\n{release}");
    }
    let sha_section = release.split("SHA256:\n").nth(1).unwrap();
    let mut listed = 0;
    for l in sha_section.lines() {
        let parts: Vec<&str> = l.split_whitespace().collect();
        assert_eq!(parts.len(), 3, "{l}");
        let bytes = fs::read(a.join("dists/stable").join(parts[2])).unwrap();
        assert_eq!(parts[0], hex::encode(Sha256::digest(&bytes)), "{l}");
        assert_eq!(parts[1], bytes.len().to_string(), "{l}");
        let idx_dir = Path::new(parts[2]).parent().unwrap();
        let by_hash = a
            .join("dists/stable")
            .join(idx_dir)
            .join("by-hash/SHA256")
            .join(parts[0]);
        assert_eq!(fs::read(by_hash).unwrap(), bytes, "{l}");
        listed += 1;
    }
    assert_eq!(listed, 6, "{release}");
    assert!(release.contains("MD5Sum:\n"));
    // Unsigned without a key.
    assert!(!a.join("dists/stable/InRelease").exists());

    // SOURCE_DATE_EPOCH sets the Date; --origin/--label/--suite/--component are written.
    f.ok(
        &[
            "repo",
            "apt",
            "--out",
            "c",
            "--suite",
            "bookworm",
            "--component",
            "contrib",
            "--origin",
            "Example Corp",
            "--label",
            "Example",
            v1s,
        ],
        &[("SOURCE_DATE_EPOCH", "1767225600")],
    );
    let release = fs::read_to_string(f.path().join("c/dists/bookworm/Release")).unwrap();
    assert!(
        release.contains("Date: Thu, 01 Jan 2026 00:00:00 UTC\n"),
        "{release}"
    );
    assert!(
        release.contains("Origin: Example Corp\nLabel: Example\n"),
        "{release}"
    );
    assert!(release.contains("Components: contrib\n"), "{release}");
    assert!(f
        .path()
        .join("c/pool/contrib/h/hw/hw_1.0.0-1_amd64.deb")
        .is_file());
}

#[test]
fn adding_packages_keeps_the_older_ones() {
    let f = Fixture::new();
    let v1 = f.deb("1.0.0", "out1");
    let v2 = f.deb("1.1.0", "out2");
    let (v1s, v2s) = (v1.to_str().unwrap(), v2.to_str().unwrap());
    f.ok(&["repo", "apt", "--out", "grown", v1s], &[]);
    let packages = |r: &str| {
        fs::read_to_string(
            f.path()
                .join(r)
                .join("dists/stable/main/binary-amd64/Packages"),
        )
        .unwrap()
    };
    assert_eq!(stanzas(&packages("grown")).len(), 1);
    let out = f.ok(&["repo", "apt", "--out", "grown", v2s], &[]);
    assert!(out.contains("+ hw"), "{out}");
    let st = stanzas(&packages("grown"));
    let versions: Vec<&str> = st.iter().map(|s| s["Version"].as_str()).collect();
    assert_eq!(versions, ["1.0.0-1", "1.1.0-1"]);
    // Adding a package that is already there changes nothing.
    f.ok(&["repo", "apt", "--out", "grown", v1s], &[]);
    // Grown in steps == made at once: a function of the set of packages.
    f.ok(&["repo", "apt", "--out", "at-once", v1s, v2s], &[]);
    assert_same_tree(&f.path().join("grown"), &f.path().join("at-once"));
    // --json reports what is there and what was added.
    let o = f.run(&["repo", "apt", "--json", "--out", "grown", v2s], &[]);
    assert!(o.status.success(), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["packages"].as_array().unwrap().len(), 2);
    assert_eq!(v["packages"][1]["added"], false);
    assert_eq!(v["date"], DATE);
}

#[test]
fn bad_inputs_are_refused_with_exit_2() {
    let f = Fixture::new();
    let v1 = f.deb("1.0.0", "out1");
    let v1s = v1.to_str().unwrap();

    // Not a deb.
    fs::write(f.path().join("junk.deb"), "not an ar archive\n").unwrap();
    let o = f.run(&["repo", "apt", "--out", "r", v1s, "junk.deb"], &[]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("junk.deb"), "{}", text(&o));
    assert!(!f.path().join("r/dists").exists(), "nothing written");

    // A different package with the same name, version and architecture.
    fs::write(f.path().join("payload/extra.txt"), "changed\n").unwrap();
    let other = f.deb("1.0.0", "other");
    assert_ne!(fs::read(&v1).unwrap(), fs::read(&other).unwrap());
    let o = f.run(
        &["repo", "apt", "--out", "r", v1s, other.to_str().unwrap()],
        &[],
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let t = text(&o);
    assert!(
        t.contains("hw 1.0.0-1 (amd64)") && t.contains("other/hw_1.0.0-1_amd64.deb"),
        "{t}"
    );
    // ... also against the pool of an existing repository.
    f.ok(&["repo", "apt", "--out", "r", v1s], &[]);
    let before = tree(&f.path().join("r"));
    let o = f.run(&["repo", "apt", "--out", "r", other.to_str().unwrap()], &[]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("pool/main/h/hw/hw_1.0.0-1_amd64.deb"),
        "{}",
        text(&o)
    );
    assert_eq!(
        before,
        tree(&f.path().join("r")),
        "a refused run changes nothing"
    );

    // A second suite in the same directory, a bad suite name, a missing input.
    let o = f.run(
        &["repo", "apt", "--out", "r", "--suite", "testing", v1s],
        &[],
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("already holds suite stable"),
        "{}",
        text(&o)
    );
    let o = f.run(&["repo", "apt", "--out", "s", "--suite", "../x", v1s], &[]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let o = f.run(&["repo", "apt", "--out", "s", "missing.deb"], &[]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("missing.deb"), "{}", text(&o));
    // A key that is not a key.
    let o = f.run(&["repo", "apt", "--out", "s", "--key", "hw.toml", v1s], &[]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("hw.toml"), "{}", text(&o));
}

/// A temp GNUPGHOME with one passphrase-less signing key of `algo` (`ed25519`, `rsa3072`).
struct GpgKey {
    home: tempfile::TempDir,
}

impl GpgKey {
    fn new(algo: &str) -> GpgKey {
        let home = tempfile::tempdir().unwrap();
        fs::set_permissions(home.path(), fs::Permissions::from_mode(0o700)).unwrap();
        let k = GpgKey { home };
        let o = k.gpg(&[
            "--batch",
            "--passphrase",
            "",
            "--quick-gen-key",
            &format!("Repo Test {algo} <repo@example.org>"),
            algo,
            "sign",
            "never",
        ]);
        assert!(o.status.success(), "gpg --quick-gen-key: {}", text(&o));
        let o = k.gpg(&["--batch", "--armor", "--export-secret-keys"]);
        assert!(o.status.success(), "{}", text(&o));
        fs::write(k.home.path().join("secret.asc"), &o.stdout).unwrap();
        let o = k.gpg(&["--batch", "--export"]);
        fs::write(k.home.path().join("public.gpg"), &o.stdout).unwrap();
        k
    }

    /// A key protected by `pass`.
    fn with_passphrase(pass: &str) -> GpgKey {
        let home = tempfile::tempdir().unwrap();
        fs::set_permissions(home.path(), fs::Permissions::from_mode(0o700)).unwrap();
        let k = GpgKey { home };
        let lo = [
            "--batch",
            "--pinentry-mode",
            "loopback",
            "--passphrase",
            pass,
        ];
        let o = k.gpg(
            &[
                &lo[..],
                &[
                    "--quick-gen-key",
                    "Pass <p@example.org>",
                    "ed25519",
                    "sign",
                    "never",
                ],
            ]
            .concat(),
        );
        assert!(o.status.success(), "gpg --quick-gen-key: {}", text(&o));
        let o = k.gpg(&[&lo[..], &["--armor", "--export-secret-keys"]].concat());
        assert!(o.status.success(), "{}", text(&o));
        fs::write(k.home.path().join("secret.asc"), &o.stdout).unwrap();
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

    fn secret(&self) -> PathBuf {
        self.home.path().join("secret.asc")
    }

    /// gpgv against `keyring` only (no trust database, no agent): what apt runs.
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

fn signing_tools() -> bool {
    if have("gpg") && have("gpgv") {
        return true;
    }
    assert!(
        !e2e_required(),
        "gpg and gpgv are required (LUCIA_E2E_REQUIRED=1)"
    );
    eprintln!("SKIP: gpg/gpgv not installed");
    false
}

#[test]
fn signed_repository_verifies_with_gpgv() {
    if !signing_tools() {
        return;
    }
    let f = Fixture::new();
    let v1 = f.deb("1.0.0", "out1");
    let v2 = f.deb("1.1.0", "out2");
    let (v1s, v2s) = (v1.to_str().unwrap(), v2.to_str().unwrap());
    for algo in ["ed25519", "rsa2048", "nistp256"] {
        let key = GpgKey::new(algo);
        let keyfile = key.secret();
        let ks = keyfile.to_str().unwrap();
        let a = format!("{algo}-a");
        let b = format!("{algo}-b");
        let out = f.ok(&["repo", "apt", "--out", &a, "--key", ks, v1s, v2s], &[]);
        assert!(out.contains("signed by"), "{out}");
        // The key from the environment (the armored key itself), another order and time zone:
        // the same bytes, signatures included.
        let armored = fs::read_to_string(&keyfile).unwrap();
        f.ok(
            &["repo", "apt", "--out", &b, v2s, v1s],
            &[("LUCIA_PKG_REPO_KEY", &armored), ("TZ", "Asia/Kolkata")],
        );
        let (ra, rb) = (f.path().join(&a), f.path().join(&b));
        assert_same_tree(&ra, &rb);

        let suite = ra.join("dists/stable");
        let (inrelease, release, sig) = (
            suite.join("InRelease"),
            suite.join("Release"),
            suite.join("Release.gpg"),
        );
        let keyring = key.home.path().join("public.gpg");
        let o = key.gpgv(&keyring, &[&inrelease]);
        assert!(o.status.success(), "{algo}: gpgv InRelease: {}", text(&o));
        let o = key.gpgv(&keyring, &[&sig, &release]);
        assert!(o.status.success(), "{algo}: gpgv Release.gpg: {}", text(&o));
        // InRelease holds the Release verbatim.
        let o = key.gpg(&["--batch", "--decrypt", inrelease.to_str().unwrap()]);
        assert_eq!(o.stdout, fs::read(&release).unwrap(), "{}", text(&o));
        assert!(
            fs::read_to_string(&sig)
                .unwrap()
                .starts_with("-----BEGIN PGP SIGNATURE-----\n"),
            "Release.gpg is armored"
        );

        // The exported public key (repo-key.asc) is the key clients install.
        let dearmored = key.home.path().join("exported.gpg");
        let o = key.gpg(&[
            "--batch",
            "--yes",
            "-o",
            dearmored.to_str().unwrap(),
            "--dearmor",
            ra.join("repo-key.asc").to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{}", text(&o));
        let o = key.gpgv(&dearmored, &[&inrelease]);
        assert!(
            o.status.success(),
            "{algo}: gpgv with repo-key.asc: {}",
            text(&o)
        );

        // Tampered: the detached and the inline signature both fail.
        let mut tampered = fs::read_to_string(&release).unwrap();
        tampered = tampered.replace("Origin: lucia-pkg", "Origin: evil");
        fs::write(&release, &tampered).unwrap();
        let o = key.gpgv(&keyring, &[&sig, &release]);
        assert!(!o.status.success(), "{algo}: tampered Release verified");
        let inr = fs::read_to_string(&inrelease)
            .unwrap()
            .replace("Origin: lucia-pkg", "Origin: evil");
        fs::write(&inrelease, inr).unwrap();
        let o = key.gpgv(&keyring, &[&inrelease]);
        assert!(!o.status.success(), "{algo}: tampered InRelease verified");
        // Another key does not verify it either.
        let other = GpgKey::new("ed25519");
        let o = other.gpgv(
            &other.home.path().join("public.gpg"),
            &[&sig, &rb.join("dists/stable/Release")],
        );
        assert!(!o.status.success(), "{algo}: verified with a foreign key");

        // Unsigned again: the stale signatures and public key go.
        f.ok(&["repo", "apt", "--out", &b, v1s], &[]);
        assert!(!rb.join("dists/stable/InRelease").exists());
        assert!(!rb.join("dists/stable/Release.gpg").exists());
        assert!(!rb.join("repo-key.asc").exists());
    }
}

#[test]
fn passphrase_protected_key() {
    if !signing_tools() {
        return;
    }
    let f = Fixture::new();
    let v1 = f.deb("1.0.0", "out1");
    let key = GpgKey::with_passphrase("correct horse");
    let ks = key.secret();
    let args = [
        "repo",
        "apt",
        "--out",
        "r",
        "--key",
        ks.to_str().unwrap(),
        v1.to_str().unwrap(),
    ];
    // Without the passphrase: exit 2 naming the key (never its material), nothing written.
    let o = f.run(&args, &[]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("secret.asc") && text(&o).contains("LUCIA_PKG_SIGNING_PASSPHRASE"),
        "{}",
        text(&o)
    );
    assert!(!text(&o).contains("PRIVATE KEY"), "{}", text(&o));
    assert!(
        !f.path().join("r").exists(),
        "a run that cannot sign writes nothing"
    );
    let o = f.run(&args, &[("LUCIA_PKG_SIGNING_PASSPHRASE", "wrong")]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    f.ok(&args, &[("LUCIA_PKG_SIGNING_PASSPHRASE", "correct horse")]);
    let o = key.gpgv(
        &key.home.path().join("public.gpg"),
        &[&f.path().join("r/dists/stable/InRelease")],
    );
    assert!(o.status.success(), "{}", text(&o));
}
