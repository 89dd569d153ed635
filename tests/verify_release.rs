//! `verify-release`: a release signed with real keys (ssh-keygen Ed25519 for SHA256SUMS.sig and
//! the provenance, an openssl P-256 key for the image signature) verifies with exit 0; each
//! tampering, done on a copy of the out dir, exits 1 naming the check that caught it; a wrong
//! public key fails the signature it is for; a signature without its key exits 2. The same for
//! an APT and a DNF repository signed with a gpg-made Ed25519 key. The publish flow (build,
//! sign-sums, attest, sign-image, repo apt, repo dnf) run twice from two builds under another TZ,
//! LC_ALL, umask and out-dir path gives the same bytes in every file of the out dirs and repos.
//! Skipped without ssh-keygen, openssl and gpg unless `LUCIA_E2E_REQUIRED=1`.

use std::collections::BTreeMap;
use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod common;
use common::*;

fn tools_available(test: &str) -> bool {
    let missing: Vec<&str> = ["ssh-keygen", "openssl", "gpg", "gpgconf", "cp"]
        .into_iter()
        .filter(|t| !have(t))
        .collect();
    if missing.is_empty() {
        return true;
    }
    assert!(
        !e2e_required(),
        "{test}: {missing:?} missing and LUCIA_E2E_REQUIRED=1"
    );
    eprintln!("skipping {test}: {missing:?} not installed");
    false
}

/// `sh -c script` in `dir`, which must succeed.
fn sh_ok(dir: &Path, script: &str) {
    let o = Command::new("sh")
        .args(["-c", script])
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(o.status.success(), "{script}: {}", text(&o));
}

/// The binary in `dir` under `umask`, `TZ` and `LC_ALL`, with a store private to `dir`.
fn lucia_env(dir: &Path, umask: &str, tz: &str, lc: &str, args: &[&str]) -> Output {
    let mut script = format!("umask {umask} && exec \"$0\"");
    for i in 0..args.len() {
        script.push_str(&format!(" \"${}\"", i + 1));
    }
    Command::new("sh")
        .arg("-c")
        .arg(&script)
        .arg(bin())
        .args(args)
        .current_dir(dir)
        .env_remove("SOURCE_DATE_EPOCH")
        .env("LUCIA_PKG_STORE", dir.join(".store"))
        .env("TZ", tz)
        .env("LC_ALL", lc)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap()
}

/// Keys in `dir`: sums.key/.pub (Ed25519), image.key/.pub (P-256) and a second pair of each.
fn make_keys(dir: &Path) {
    sh_ok(
        dir,
        "ssh-keygen -q -t ed25519 -N '' -C test -f sums.key \
         && ssh-keygen -q -t ed25519 -N '' -C other -f other-sums.key \
         && openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out image.key 2>/dev/null \
         && openssl pkey -in image.key -pubout -out image.pub \
         && openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out other-image.key 2>/dev/null \
         && openssl pkey -in other-image.key -pubout -out other-image.pub",
    );
}

/// gpg homes for the repository keys; their agents are stopped on drop.
struct Gpg(tempfile::TempDir);

impl Gpg {
    /// Ed25519 signing keys `repo` and `other-repo`: `keys/NAME.sec` (armored secret) and
    /// `keys/NAME.asc` (armored public).
    fn keys(keys: &Path) -> Gpg {
        let g = Gpg(tempfile::tempdir().unwrap());
        for name in ["repo", "other-repo"] {
            let home = g.0.path().join(name);
            fs::create_dir_all(&home).unwrap();
            fs::set_permissions(&home, fs::Permissions::from_mode(0o700)).unwrap();
            let gpg = |args: &[&str]| {
                let o = Command::new("gpg")
                    .env("GNUPGHOME", &home)
                    .args(args)
                    .stdin(std::process::Stdio::null())
                    .output()
                    .unwrap();
                assert!(o.status.success(), "gpg {args:?}: {}", text(&o));
                o.stdout
            };
            gpg(&[
                "--batch",
                "--passphrase",
                "",
                "--quick-gen-key",
                &format!("{name} <{name}@example.org>"),
                "ed25519",
                "sign",
                "never",
            ]);
            let sec = gpg(&["--batch", "--armor", "--export-secret-keys"]);
            fs::write(keys.join(format!("{name}.sec")), sec).unwrap();
            let public = gpg(&["--batch", "--armor", "--export"]);
            fs::write(keys.join(format!("{name}.asc")), public).unwrap();
        }
        g
    }
}

impl Drop for Gpg {
    fn drop(&mut self) {
        for name in ["repo", "other-repo"] {
            let _ = Command::new("gpgconf")
                .env("GNUPGHOME", self.0.path().join(name))
                .args(["--kill", "gpg-agent"])
                .output();
        }
    }
}

/// A project in `dir/name` (a shell-script service) built into `out` and signed with the keys in
/// `keys`: sign-sums, attest, sign-image.
fn publish(dir: &Path, keys: &Path, out: &str, env: (&str, &str, &str)) -> PathBuf {
    let p = dir.to_path_buf();
    fs::create_dir_all(p.join("payload")).unwrap();
    fs::write(p.join("payload/svc"), "#!/bin/sh\nexec sleep 1\n").unwrap();
    fs::set_permissions(p.join("payload/svc"), fs::Permissions::from_mode(0o755)).unwrap();
    let (umask, tz, lc) = env;
    let run = |args: &[&str]| {
        let o = lucia_env(&p, umask, tz, lc, args);
        assert!(o.status.success(), "{args:?}: {}", text(&o));
    };
    if !p.join("lucia-pkg.toml").exists() {
        run(&["init", "--payload", "payload"]);
    }
    let sk = keys.join("sums.key");
    let ik = keys.join("image.key");
    run(&["build", "-o", out]);
    run(&["sign-sums", "-o", out, "--key", sk.to_str().unwrap()]);
    run(&["attest", "-o", out, "--key", sk.to_str().unwrap()]);
    run(&[
        "sign-image",
        "-o",
        out,
        "--key",
        ik.to_str().unwrap(),
        "--repository",
        "registry.example/svc",
    ]);
    let rk = keys.join("repo.sec");
    for kind in ["apt", "dnf"] {
        let repo = format!("repos/{kind}");
        run(&[
            "repo",
            kind,
            "--out",
            &repo,
            "--key",
            rk.to_str().unwrap(),
            out,
        ]);
    }
    p.join(out)
}

/// `verify-release` of the out dir `out` (with its keys) and the repositories `apt` and `dnf`
/// (either may be absent) with `repo_key` ("" for none).
fn verify_repos(
    out: &Path,
    keys: &Path,
    repo_key: &str,
    apt: Option<&Path>,
    dnf: Option<&Path>,
) -> Output {
    let mut c = Command::new(bin());
    c.arg("verify-release").arg("-o").arg(out);
    c.arg("--sums-key").arg(keys.join("sums.key.pub"));
    c.arg("--image-key").arg(keys.join("image.pub"));
    if !repo_key.is_empty() {
        c.arg("--repo-key").arg(keys.join(repo_key));
    }
    if let Some(a) = apt {
        c.arg("--apt-repo").arg(a);
    }
    if let Some(d) = dnf {
        c.arg("--dnf-repo").arg(d);
    }
    c.output().unwrap()
}

/// `verify-release -o out` with the keys in `keys` (`sums`/`image` name the key files, "" for
/// none).
fn verify(out: &Path, keys: &Path, sums: &str, image: &str) -> Output {
    let mut c = Command::new(bin());
    c.arg("verify-release").arg("-o").arg(out);
    if !sums.is_empty() {
        c.arg("--sums-key").arg(keys.join(sums));
    }
    if !image.is_empty() {
        c.arg("--image-key").arg(keys.join(image));
    }
    c.output().unwrap()
}

/// A copy of `out` beside it as `name`.
fn copy(out: &Path, name: &str) -> PathBuf {
    let to = out.with_file_name(name);
    let o = Command::new("cp")
        .arg("-a")
        .arg(out)
        .arg(&to)
        .output()
        .unwrap();
    assert!(o.status.success(), "cp: {}", text(&o));
    to
}

/// Every file under `root` (relative path → bytes), directories and symlinks named too.
fn tree(root: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut m = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let path = e.path();
            let rel = path.strip_prefix(root).unwrap().display().to_string();
            let ft = e.file_type().unwrap();
            if ft.is_dir() {
                m.insert(format!("{rel}/"), Vec::new());
                stack.push(path);
            } else if ft.is_symlink() {
                m.insert(
                    format!("{rel} ->"),
                    fs::read_link(&path)
                        .unwrap()
                        .display()
                        .to_string()
                        .into_bytes(),
                );
            } else {
                m.insert(rel, fs::read(&path).unwrap());
            }
        }
    }
    m
}

/// Whether some `FAILED:` line of `t` contains `what`.
fn failed(t: &str, what: &str) -> bool {
    t.lines()
        .any(|l| l.starts_with("FAILED: ") && l.contains(what))
}

fn only_file(dir: &Path, suffix: &str) -> PathBuf {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with(suffix))
        .unwrap_or_else(|| panic!("no *{suffix} in {}", dir.display()))
}

#[test]
fn a_signed_release_verifies_and_each_tampering_fails_its_check() {
    let test = "a_signed_release_verifies_and_each_tampering_fails_its_check";
    if !tools_available(test) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    fs::create_dir_all(&keys).unwrap();
    make_keys(&keys);
    let _gpg = Gpg::keys(&keys);
    let proj = dir.path().join("proj");
    let out = publish(&proj, &keys, "dist", ("022", "UTC", "C"));

    let o = verify(&out, &keys, "sums.key.pub", "image.pub");
    let t = text(&o);
    assert_eq!(o.status.code(), Some(0), "{t}");
    for check in [
        "ok: SHA256SUMS:",
        "ok: SHA256SUMS.sig:",
        "ok: provenance.intoto.jsonl:",
        "ok: image-signature:",
        "ok: image SBOMs:",
    ] {
        assert!(t.contains(check), "{check} missing: {t}");
    }
    assert!(!t.contains("PRIVATE"), "{t}");

    // --json: one object, every check ok.
    let o = Command::new(bin())
        .args(["--json", "verify-release", "-o"])
        .arg(&out)
        .arg("--sums-key")
        .arg(keys.join("sums.key.pub"))
        .arg("--image-key")
        .arg(keys.join("image.pub"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["ok"], true);
    assert_eq!(v["checks"].as_array().map(Vec::len), Some(5), "{v}");

    type Tamper = fn(&Path);
    let cases: Vec<(&str, Tamper, &str)> = vec![
        (
            "artifact byte",
            |d| {
                let f = only_file(d, "linux-amd64.tar.gz");
                let mut b = fs::read(&f).unwrap();
                let last = b.len() - 1;
                b[last] ^= 1;
                fs::write(&f, b).unwrap();
            },
            "FAILED: SHA256SUMS:",
        ),
        (
            "SHA256SUMS line",
            |d| {
                let f = d.join("SHA256SUMS");
                let s = fs::read_to_string(&f).unwrap();
                let flipped = if s.starts_with('0') { "1" } else { "0" };
                fs::write(&f, format!("{flipped}{}", &s[1..])).unwrap();
            },
            "FAILED: SHA256SUMS.sig:",
        ),
        (
            "SHA256SUMS.sig",
            |d| {
                let f = d.join("SHA256SUMS.sig");
                let s = fs::read_to_string(&f).unwrap();
                let mut lines: Vec<String> = s.lines().map(String::from).collect();
                // The last base64 line before the footer carries the signature bytes.
                let i = lines.len() - 2;
                let mut l = lines[i].clone().into_bytes();
                let j = l.len() / 2;
                l[j] = if l[j] == b'A' { b'B' } else { b'A' };
                lines[i] = String::from_utf8(l).unwrap();
                fs::write(&f, lines.join("\n") + "\n").unwrap();
            },
            "FAILED: SHA256SUMS.sig:",
        ),
        (
            "provenance payload",
            |d| {
                let f = d.join("provenance.intoto.jsonl");
                let mut env: serde_json::Value =
                    serde_json::from_slice(&fs::read(&f).unwrap()).unwrap();
                let p = env["payload"].as_str().unwrap().to_string();
                // Another valid base64 payload: the statement with one byte changed.
                let mut q = p.into_bytes();
                q[10] = if q[10] == b'A' { b'B' } else { b'A' };
                env["payload"] = String::from_utf8(q).unwrap().into();
                fs::write(&f, serde_json::to_vec(&env).unwrap()).unwrap();
            },
            "FAILED: provenance.intoto.jsonl:",
        ),
        (
            "image payload digest",
            |d| {
                let f = d.join("image-signature/payload.json");
                let s = fs::read_to_string(&f).unwrap();
                let i = s.find("sha256:").unwrap() + 7;
                let c = if &s[i..i + 1] == "0" { "1" } else { "0" };
                fs::write(&f, format!("{}{c}{}", &s[..i], &s[i + 1..])).unwrap();
            },
            "FAILED: image-signature:",
        ),
        (
            "image SBOM digest",
            |d| {
                let sboms = only_file(d, "-oci.sbom");
                let f = only_file(&sboms, "linux-amd64.spdx.json");
                let layout = only_file(d, "-oci");
                let blobs = layout.join("blobs/sha256");
                let top: serde_json::Value =
                    serde_json::from_slice(&fs::read(layout.join("index.json")).unwrap()).unwrap();
                let root = top["manifests"][0]["digest"].as_str().unwrap();
                let index: serde_json::Value = serde_json::from_slice(
                    &fs::read(blobs.join(root.trim_start_matches("sha256:"))).unwrap(),
                )
                .unwrap();
                // Every platform manifest digest the SBOM names, replaced by another.
                let mut s = fs::read_to_string(&f).unwrap();
                for m in index["manifests"].as_array().unwrap() {
                    let hex = m["digest"].as_str().unwrap().trim_start_matches("sha256:");
                    s = s.replace(hex, &"e".repeat(64));
                }
                fs::write(&f, s).unwrap();
            },
            "FAILED: image SBOMs:",
        ),
    ];
    for (i, (what, tamper, want)) in cases.into_iter().enumerate() {
        let copy = copy(&out, &format!("tampered-{i}"));
        tamper(&copy);
        let o = verify(&copy, &keys, "sums.key.pub", "image.pub");
        let t = text(&o);
        assert_eq!(o.status.code(), Some(1), "{what}: {t}");
        assert!(t.contains(want), "{what}: expected {want}: {t}");
        // Every check still ran.
        assert_eq!(
            t.lines()
                .filter(|l| l.starts_with("ok: ") || l.starts_with("FAILED: "))
                .count(),
            5,
            "{what}: {t}"
        );
    }

    // The wrong public key for each signature.
    let o = verify(&out, &keys, "other-sums.key.pub", "image.pub");
    let t = text(&o);
    assert_eq!(o.status.code(), Some(1), "{t}");
    assert!(t.contains("FAILED: SHA256SUMS.sig:"), "{t}");
    assert!(t.contains("FAILED: provenance.intoto.jsonl:"), "{t}");
    assert!(t.contains("ok: image-signature:"), "{t}");
    let o = verify(&out, &keys, "sums.key.pub", "other-image.pub");
    let t = text(&o);
    assert_eq!(o.status.code(), Some(1), "{t}");
    assert!(t.contains("FAILED: image-signature:"), "{t}");
    assert!(t.contains("ok: SHA256SUMS.sig:"), "{t}");

    // The repositories: verified, then tampered on copies.
    let apt = proj.join("repos/apt");
    let dnf = proj.join("repos/dnf");
    let o = verify_repos(&out, &keys, "repo.asc", Some(&apt), Some(&dnf));
    let t = text(&o);
    assert_eq!(o.status.code(), Some(0), "{t}");
    assert_eq!(
        t.lines().filter(|l| l.starts_with("ok: ")).count(),
        11,
        "{t}"
    );
    let edit = |f: &Path, from: &str, to: &str| {
        let s = fs::read_to_string(f).unwrap();
        assert!(s.contains(from), "{}: no {from}", f.display());
        fs::write(f, s.replacen(from, to, 1)).unwrap();
    };
    // The apt Release: its signatures no longer verify.
    let c = copy(&apt, "apt-release");
    edit(
        &c.join("dists/stable/Release"),
        "Label: lucia-pkg",
        "Label: lucia-pkh",
    );
    let o = verify_repos(&out, &keys, "repo.asc", Some(&c), None);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        failed(
            &text(&o),
            "stable signatures: InRelease signs another text than Release"
        ),
        "{}",
        text(&o)
    );
    // A Packages entry: its SHA256 no longer matches the pool file (nor Release the index).
    let c = copy(&apt, "apt-packages");
    let pk = c.join("dists/stable/main/binary-amd64/Packages");
    let s = fs::read_to_string(&pk).unwrap();
    let sha = s
        .lines()
        .find_map(|l| l.strip_prefix("SHA256: "))
        .unwrap()
        .to_string();
    edit(&pk, &sha, &"0".repeat(64));
    let o = verify_repos(&out, &keys, "repo.asc", Some(&c), None);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(1), "{t}");
    assert!(
        failed(&t, "stable Packages: main/binary-amd64/Packages: pool/"),
        "{t}"
    );
    assert!(
        failed(&t, "stable Release: main/binary-amd64/Packages: sha256"),
        "{t}"
    );
    // The dnf repomd.xml: its signature no longer verifies.
    let c = copy(&dnf, "dnf-repomd");
    edit(&c.join("repodata/repomd.xml"), "<revision>", "<revision>1");
    let o = verify_repos(&out, &keys, "repo.asc", None, Some(&c));
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        failed(&text(&o), "repomd.xml.asc: repomd.xml.asc: does not verify"),
        "{}",
        text(&o)
    );
    // A primary.xml package checksum: the package no longer matches (nor repomd.xml primary).
    let c = copy(&dnf, "dnf-primary");
    let gz = only_file(&c.join("repodata"), "-primary.xml.gz");
    let mut xml = String::new();
    flate2::read::GzDecoder::new(fs::File::open(&gz).unwrap())
        .read_to_string(&mut xml)
        .unwrap();
    let i = xml.find("pkgid=\"YES\">").unwrap() + 12;
    xml.replace_range(i..i + 64, &"0".repeat(64));
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(xml.as_bytes()).unwrap();
    fs::write(&gz, enc.finish().unwrap()).unwrap();
    let o = verify_repos(&out, &keys, "repo.asc", None, Some(&c));
    let t = text(&o);
    assert_eq!(o.status.code(), Some(1), "{t}");
    assert!(failed(&t, "packages: Packages/"), "{t}");
    // The wrong repository key; no repository key.
    let o = verify_repos(&out, &keys, "other-repo.asc", Some(&apt), Some(&dnf));
    let t = text(&o);
    assert_eq!(o.status.code(), Some(1), "{t}");
    assert!(
        failed(&t, "stable signatures: InRelease: does not verify"),
        "{t}"
    );
    assert!(
        failed(&t, "repomd.xml.asc: repomd.xml.asc: does not verify"),
        "{t}"
    );
    let o = verify_repos(&out, &keys, "", Some(&apt), None);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("--repo-key"), "{}", text(&o));
    for wrong in ["repo.sec", "sums.key.pub"] {
        let o = verify_repos(&out, &keys, wrong, None, Some(&dnf));
        let t = text(&o);
        assert_eq!(o.status.code(), Some(2), "{wrong}: {t}");
        assert!(!t.contains("-----BEGIN"), "{t}");
    }

    // Hostile files in place of every record: failed checks, never a panic.
    let h = copy(&out, "hostile");
    let ha = copy(&apt, "apt-hostile");
    let hd = copy(&dnf, "dnf-hostile");
    let junk: &[u8] = b"\xff\xfe{\"payload\": [\0\n-----BEGIN PGP SIGNATURE-----\n";
    for f in [
        h.join("SHA256SUMS.sig"),
        h.join("provenance.intoto.jsonl"),
        h.join("image-signature/payload.json"),
        h.join("image-signature/signature"),
        ha.join("dists/stable/InRelease"),
        ha.join("dists/stable/Release.gpg"),
        ha.join("dists/stable/main/binary-amd64/Packages"),
        hd.join("repodata/repomd.xml.asc"),
        only_file(&hd.join("repodata"), "-primary.xml.gz"),
    ] {
        fs::write(&f, junk).unwrap();
    }
    let o = verify_repos(&h, &keys, "repo.asc", Some(&ha), Some(&hd));
    let t = text(&o);
    assert_eq!(o.status.code(), Some(1), "{t}");
    assert!(!t.contains("panicked"), "{t}");
    for check in [
        "SHA256SUMS.sig:",
        "provenance.intoto.jsonl:",
        "image-signature:",
        "stable signatures:",
        "stable Packages:",
        "repomd.xml.asc:",
        "packages:",
    ] {
        assert!(failed(&t, check), "{check}: {t}");
    }

    // A signature present without its key: exit 2 naming the flag.
    let o = verify(&out, &keys, "", "image.pub");
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("--sums-key"), "{}", text(&o));
    let o = verify(&out, &keys, "sums.key.pub", "");
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("--image-key"), "{}", text(&o));

    // A key given whose signature is absent: FAILED, exit 1.
    let bare = copy(&out, "no-image-signature");
    fs::remove_dir_all(bare.join("image-signature")).unwrap();
    let o = verify(&bare, &keys, "sums.key.pub", "image.pub");
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains("FAILED: image-signature:"),
        "{}",
        text(&o)
    );

    // Keys of the wrong kind, a private key, an unreadable key, no out dir: exit 2, no key text.
    for (sums, image) in [
        ("sums.key", "image.pub"),
        ("image.pub", "image.pub"),
        ("sums.key.pub", "sums.key.pub"),
        ("sums.key.pub", "image.key"),
        ("missing.pub", "image.pub"),
    ] {
        let o = verify(&out, &keys, sums, image);
        let t = text(&o);
        assert_eq!(o.status.code(), Some(2), "{sums} {image}: {t}");
        assert!(!t.contains("AAAA") && !t.contains("-----BEGIN"), "{t}");
    }
    let o = verify(
        &dir.path().join("nothing"),
        &keys,
        "sums.key.pub",
        "image.pub",
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
}

#[test]
fn the_publish_flow_is_reproducible_across_environments() {
    let test = "the_publish_flow_is_reproducible_across_environments";
    if !tools_available(test) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    fs::create_dir_all(&keys).unwrap();
    make_keys(&keys);
    let _gpg = Gpg::keys(&keys);
    let a = publish(&dir.path().join("a"), &keys, "dist", ("022", "UTC", "C"));
    let b = publish(
        &dir.path().join("elsewhere/b"),
        &keys,
        "release/out",
        ("077", "Pacific/Auckland", "C.UTF-8"),
    );
    let (pa, pb) = (dir.path().join("a"), dir.path().join("elsewhere/b"));
    for kind in ["apt", "dnf"] {
        let (ra, rb) = (
            tree(&pa.join("repos").join(kind)),
            tree(&pb.join("repos").join(kind)),
        );
        assert!(ra.len() > 3, "{kind}: {:?}", ra.keys());
        assert_eq!(
            ra.keys().collect::<Vec<_>>(),
            rb.keys().collect::<Vec<_>>(),
            "the two {kind} repositories hold different files"
        );
        for (name, bytes) in &ra {
            assert!(
                rb[name] == *bytes,
                "{kind}: {name} differs between the two publishes"
            );
        }
        let o = if kind == "apt" {
            verify_repos(&b, &keys, "repo.asc", Some(&pb.join("repos/apt")), None)
        } else {
            verify_repos(&b, &keys, "repo.asc", None, Some(&pb.join("repos/dnf")))
        };
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    }
    let (ta, tb) = (tree(&a), tree(&b));
    assert_eq!(
        ta.keys().collect::<Vec<_>>(),
        tb.keys().collect::<Vec<_>>(),
        "the two out dirs hold different files"
    );
    for (name, bytes) in &ta {
        assert!(
            tb[name] == *bytes,
            "{name} differs between the two publishes"
        );
    }
    for f in [
        "SHA256SUMS.sig",
        "provenance.intoto.jsonl",
        "image-signature/payload.json",
        "image-signature/signature",
    ] {
        assert!(ta.contains_key(f), "{f} not written");
    }
    for out in [&a, &b] {
        let o = verify(out, &keys, "sums.key.pub", "image.pub");
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    }
}
