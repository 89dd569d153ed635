//! `lucia-pkg cache export --nix DIR` (docs/nix.md, "Exporting the store as a Nix binary
//! cache"):
//! * bad input: a non-empty directory that is not an export, an out dir no build used, an empty
//!   store, a key that is not a Nix secret key: exit 2, nothing written;
//! * reproducible: two exports under a different umask, TZ and locale are byte-identical, and an
//!   export into an earlier one leaves exactly what a fresh export writes;
//! * against the real Nix: every exported path's name and hash are what `nix-store
//!   --print-fixed-path` gives, `nix copy --from file://EXPORT` copies it (no `--no-check-sigs`:
//!   the CA field makes it trusted) with the entry's exact content, `nix store verify` accepts
//!   the cache (and the signature, with the public key, once CA is taken away so only the
//!   signature can vouch), and a corrupted `nar/*.nar.xz` is refused by both.
//!
//! Without `nix` on PATH the Nix test prints SKIP and passes, unless LUCIA_E2E_REQUIRED=1.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

mod common;
use common::*;

const MANIFEST: &str = r#"[package]
name = "demo"
version = "1.0.0~rc.1"
release = "1"
summary = "demo service"
license = "MIT"
maintainer = "Demo <demo@example.org>"
source-date-epoch = 1700000000
arches = ["amd64"]
formats = ["tar", "deb"]

[payload]
install-dir = "/opt/demo"
entrypoint = "demo"

[payload.amd64]
path = "payload"

[service]
unit = "demo.service"
user = "demo"

[tar]
compression = "gzip:1"

[deb]
compression = "gzip:1"
"#;

/// A one-arch project in `dir`, built into `dir/out` (two store entries: the tarball and the
/// deb, each with its SBOMs; the version's `~` is not allowed in Nix store names).
fn built_project(dir: &Path) {
    fs::create_dir_all(dir.join("payload/lib")).unwrap();
    fs::write(dir.join("payload/demo"), fake_elf(62)).unwrap();
    fs::set_permissions(dir.join("payload/demo"), fs::Permissions::from_mode(0o755)).unwrap();
    fs::write(dir.join("payload/lib/data.txt"), "data\n").unwrap();
    fs::write(
        dir.join("demo.service"),
        "[Service]\nUser=demo\nExecStart=/opt/demo/demo\n",
    )
    .unwrap();
    fs::write(dir.join("lucia.toml"), MANIFEST).unwrap();
    let o = lucia(dir, &["build", "-m", "lucia.toml", "--out", "out"]);
    assert!(o.status.success(), "{}", text(&o));
}

/// `cache export --json --nix <export> ARGS` in `dir`, with a given umask, TZ and locale.
fn export_with(dir: &Path, export: &Path, args: &[&str], umask: &str, tz: &str) -> Output {
    Command::new("sh")
        .arg("-c")
        .arg(format!("umask {umask}; exec \"$@\""))
        .arg("sh")
        .arg(bin())
        .args(["--json", "cache", "export", "--nix"])
        .arg(export)
        .args(args)
        .current_dir(dir)
        .env_remove("SOURCE_DATE_EPOCH")
        .env("LUCIA_PKG_STORE", dir.join(".store"))
        .env("TZ", tz)
        .env("LC_ALL", "de_DE.UTF-8")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn export(dir: &Path, export: &Path, args: &[&str]) -> serde_json::Value {
    let o = export_with(dir, export, args, "022", "UTC");
    assert!(o.status.success(), "{}", text(&o));
    serde_json::from_slice(&o.stdout).unwrap()
}

/// Every regular file under `dir` by relative path, with its bytes.
fn files(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.insert(
                    p.strip_prefix(dir).unwrap().to_path_buf(),
                    fs::read(&p).unwrap(),
                );
            }
        }
    }
    out
}

fn narinfo_field<'a>(text: &'a str, key: &str) -> &'a str {
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}: ")))
        .unwrap_or_else(|| panic!("no {key} in\n{text}"))
}

#[test]
fn bad_input_is_refused_with_exit_2() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    // An empty store: nothing to export (and nothing written).
    let o = lucia(p, &["cache", "export", "--nix", "cache"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("nothing to export"), "{}", text(&o));
    assert!(!p.join("cache").exists());

    built_project(p);
    // A non-empty directory that is not an export.
    fs::create_dir(p.join("docs")).unwrap();
    fs::write(p.join("docs/README"), "mine\n").unwrap();
    let o = lucia(p, &["cache", "export", "--nix", "docs"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("nix-cache-info"), "{}", text(&o));
    assert_eq!(fs::read_dir(p.join("docs")).unwrap().count(), 1);
    // ... nor one that only looks like an export.
    fs::write(p.join("docs/nix-cache-info"), "StoreDir: /nix/store\n").unwrap();
    let o = lucia(p, &["cache", "export", "--nix", "docs"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("README"), "{}", text(&o));
    // A file where the directory should be.
    let o = lucia(p, &["cache", "export", "--nix", "lucia.toml"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));

    // Out dirs: missing, and existing but never built into.
    let o = lucia(
        p,
        &["cache", "export", "--nix", "c1", "--out", "no-such-dir"],
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("no-such-dir"), "{}", text(&o));
    let o = lucia(p, &["cache", "export", "--nix", "c1", "--out", "payload"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("build into it first"), "{}", text(&o));
    assert!(!p.join("c1").exists());

    // Keys that are not Nix secret keys.
    fs::write(p.join("pub.key"), format!("k-1:{}\n", "A".repeat(43) + "=")).unwrap();
    fs::write(p.join("junk.key"), "not a key\n").unwrap();
    for key in ["pub.key", "junk.key", "missing.key"] {
        let o = lucia(p, &["cache", "export", "--nix", "c2", "--sign-key", key]);
        assert_eq!(o.status.code(), Some(2), "{key}: {}", text(&o));
        assert!(text(&o).contains(key), "{}", text(&o));
    }
    assert!(!p.join("c2").exists());
}

#[test]
fn export_is_reproducible_and_replaces_an_earlier_one() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    built_project(p);
    let a = export_with(p, &p.join("a"), &[], "077", "America/New_York");
    let b = export_with(p, &p.join("b"), &[], "002", "Asia/Kolkata");
    assert!(a.status.success(), "{}", text(&a));
    assert!(b.status.success(), "{}", text(&b));
    let fa = files(&p.join("a"));
    assert_eq!(fa, files(&p.join("b")));
    // nix-cache-info, and a narinfo and a nar per entry.
    assert_eq!(fa.len(), 5, "{:?}", fa.keys().collect::<Vec<_>>());
    assert_eq!(
        fa[Path::new("nix-cache-info")],
        b"StoreDir: /nix/store\nWantMassQuery: 1\nPriority: 50\n"
    );
    let v: serde_json::Value = serde_json::from_slice(&a.stdout).unwrap();
    for path in v["paths"].as_array().unwrap() {
        let info =
            String::from_utf8(fa[Path::new(path["narinfo"].as_str().unwrap())].clone()).unwrap();
        // What the narinfo says is what the entry and the nar file are.
        let entry = p.join(".store").join(path["entries"][0].as_str().unwrap());
        let (h, n) = nar::nar_hash_and_size(&entry).unwrap();
        assert_eq!(
            narinfo_field(&info, "NarHash"),
            format!("sha256:{}", nar::nix32(&h))
        );
        assert_eq!(narinfo_field(&info, "NarSize"), n.to_string());
        assert_eq!(
            narinfo_field(&info, "CA"),
            format!("fixed:r:sha256:{}", nar::nix32(&h))
        );
        let name = entry.file_name().unwrap().to_str().unwrap()[33..].replace('~', "_");
        assert_eq!(
            narinfo_field(&info, "StorePath"),
            nar::store_path_for(&h, &name).unwrap()
        );
        let xz = &fa[Path::new(narinfo_field(&info, "URL"))];
        assert_eq!(narinfo_field(&info, "FileSize"), xz.len().to_string());
        let mut nar_bytes = Vec::new();
        std::io::Read::read_to_end(
            &mut pkg_core::compress::decoder(pkg_core::compress::Codec::Xz(6), &xz[..]).unwrap(),
            &mut nar_bytes,
        )
        .unwrap();
        let mut want = Vec::new();
        nar::dump_path(&entry, &mut want).unwrap();
        assert!(nar_bytes == want, "{} unpacks to its NAR", path["url"]);
        assert!(
            !info.contains("Sig:") && !info.contains("Deriver:"),
            "{info}"
        );
    }

    // Into the earlier export, only the deb (the entries out/ uses minus the deleted tarball):
    // the tarball's narinfo and nar go, and the result equals a fresh export of the deb alone.
    let tarball = fs::read_dir(p.join("out"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|f| f.to_string_lossy().ends_with(".tar.gz"))
        .unwrap();
    for f in fs::read_dir(p.join("out")).unwrap() {
        let f = f.unwrap().path();
        if f.file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with(tarball.file_name().unwrap().to_str().unwrap())
        {
            fs::remove_file(f).unwrap();
        }
    }
    let again = export(p, &p.join("a"), &["--out", "out"]);
    assert_eq!(again["paths"].as_array().unwrap().len(), 1, "{again}");
    assert_eq!(again["removed"].as_array().unwrap().len(), 2, "{again}");
    export(p, &p.join("fresh"), &["--out", "out"]);
    assert_eq!(files(&p.join("a")), files(&p.join("fresh")));
}

/// An entry modified after the store recorded its hash (through a hard link in an out dir, say)
/// is not exported: exit 1 naming the entry, and no narinfo or temp file for it.
#[test]
fn a_modified_entry_is_refused_with_exit_1() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    built_project(p);
    let entry = fs::read_dir(p.join(".store"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|e| e.to_string_lossy().ends_with(".deb"))
        .unwrap();
    let id = entry.file_name().unwrap().to_string_lossy().into_owned();
    let file = fs::read_dir(&entry)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|f| f.to_string_lossy().ends_with(".deb"))
        .unwrap();
    fs::set_permissions(&file, fs::Permissions::from_mode(0o644)).unwrap();
    let original = fs::read(&file).unwrap();
    fs::write(&file, [&original[..], b"\n"].concat()).unwrap();
    let o = export_with(p, &p.join("cache"), &[], "022", "UTC");
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains(&id) && text(&o).contains("changed since it was written"),
        "{}",
        text(&o)
    );
    let left: Vec<PathBuf> = files(&p.join("cache")).into_keys().collect();
    assert!(
        left.iter().all(|f| !f.to_string_lossy().contains(".tmp-")),
        "{left:?}"
    );
    // What the failed export left is still taken as an export: once the entry is whole again,
    // exporting into it gives what a fresh export gives.
    fs::write(&file, original).unwrap();
    export(p, &p.join("cache"), &[]);
    export(p, &p.join("fresh"), &[]);
    assert_eq!(files(&p.join("cache")), files(&p.join("fresh")));
}

// ---- against the real Nix ----

fn nix_present() -> bool {
    if have("nix") && have("nix-store") {
        return true;
    }
    assert!(
        !e2e_required(),
        "nix is not on PATH but LUCIA_E2E_REQUIRED=1: install nix-bin (scripts/ci-packages.txt)"
    );
    eprintln!(
        "SKIP: nix not found on PATH (install Debian's nix-bin to check the export with Nix)"
    );
    false
}

/// A nix command that needs no nixbld group, never asks cache.nixos.org, keeps its caches in a
/// scratch dir and, unless told otherwise (`--store`, `--to`), opens a scratch store rather than
/// /nix (so it also runs as a user who cannot write /nix/var).
fn nix(scratch: &Path, program: &str, args: &[&str]) -> Command {
    let mut c = Command::new(program);
    c.env(
        "NIX_CONFIG",
        format!(
            "build-users-group =\nsubstituters =\nstore = {}",
            scratch.join("nix-root").display()
        ),
    )
    .env("XDG_CACHE_HOME", scratch.join("xdg"))
    .env("NIX_PAGER", "cat")
    .stdin(Stdio::null());
    if program == "nix" {
        c.args(["--extra-experimental-features", "nix-command"]);
    }
    c.args(args);
    c
}

fn ok(mut c: Command) -> String {
    let o = c.output().unwrap();
    assert!(o.status.success(), "{c:?}: {}", text(&o));
    String::from_utf8(o.stdout).unwrap().trim().to_string()
}

fn fails(mut c: Command) -> String {
    let o = c.output().unwrap();
    assert!(!o.status.success(), "{c:?} succeeded: {}", text(&o));
    text(&o)
}

fn file_url(dir: &Path) -> String {
    format!("file://{}", dir.display())
}

/// `nix copy --from file://CACHE --to DEST PATH` with extra options.
fn copy(scratch: &Path, cache: &Path, dest: &Path, path: &str, extra: &[&str]) -> Command {
    let from = file_url(cache);
    let to = dest.display().to_string();
    let mut c = nix(scratch, "nix", &["copy", "--from", &from, "--to", &to]);
    c.args(extra).arg(path);
    c
}

fn verify(scratch: &Path, cache: &Path, extra: &[&str]) -> Command {
    let store = file_url(cache);
    let mut c = nix(scratch, "nix", &["store", "verify", "--store", &store]);
    c.args(extra);
    c
}

/// A copy of an export; with `strip_ca`, every `CA:` line is left out, so only a signature can
/// make a path trusted.
fn copy_export(from: &Path, to: &Path, strip_ca: bool) {
    for (rel, bytes) in files(from) {
        fs::create_dir_all(to.join(&rel).parent().unwrap()).unwrap();
        let bytes = if strip_ca && rel.extension().is_some_and(|e| e == "narinfo") {
            String::from_utf8(bytes)
                .unwrap()
                .lines()
                .filter(|l| !l.starts_with("CA: "))
                .map(|l| format!("{l}\n"))
                .collect::<String>()
                .into_bytes()
        } else {
            bytes
        };
        fs::write(to.join(rel), bytes).unwrap();
    }
}

#[test]
fn nix_copies_and_verifies_the_export() {
    if !nix_present() {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    built_project(p);
    let cache = p.join("cache");
    let v = export(p, &cache, &["--out", "out"]);
    let paths = v["paths"].as_array().unwrap();
    assert_eq!(paths.len(), 2, "{v}");

    // Unsigned: CA alone makes the copy acceptable, no --no-check-sigs.
    let dest = p.join("dest");
    for path in paths {
        let sp = path["store_path"].as_str().unwrap();
        let info = fs::read_to_string(cache.join(path["narinfo"].as_str().unwrap())).unwrap();
        // The path Nix itself gives this NAR hash and name.
        let nix32 = narinfo_field(&info, "NarHash").trim_start_matches("sha256:");
        let name = &sp["/nix/store/".len() + 33..];
        let fixed = nix(
            p,
            "nix-store",
            &["--print-fixed-path", "--recursive", "sha256", nix32, name],
        );
        assert_eq!(ok(fixed), sp);
        ok(copy(p, &cache, &dest, sp, &[]));
        let copied = dest.join(sp.trim_start_matches('/'));
        let entry = p.join(".store").join(path["entries"][0].as_str().unwrap());
        let diff = Command::new("diff")
            .arg("-r")
            .arg(&copied)
            .arg(&entry)
            .output()
            .unwrap();
        assert!(diff.status.success(), "{}", text(&diff));
        ok(verify(p, &cache, &[sp]));
    }
    ok(verify(p, &cache, &["--all"]));

    // Signed with a key from `nix key generate-secret`.
    let key = p.join("secret.key");
    fs::write(
        &key,
        ok(nix(
            p,
            "nix",
            &["key", "generate-secret", "--key-name", "test-1"],
        )),
    )
    .unwrap();
    let public = {
        let mut c = nix(p, "nix", &["key", "convert-secret-to-public"]);
        c.stdin(fs::File::open(&key).unwrap());
        ok(c)
    };
    let other = {
        let other_key = ok(nix(
            p,
            "nix",
            &["key", "generate-secret", "--key-name", "other-1"],
        ));
        let other_file = p.join("other.key");
        fs::write(&other_file, other_key).unwrap();
        let mut c = nix(p, "nix", &["key", "convert-secret-to-public"]);
        c.stdin(fs::File::open(&other_file).unwrap());
        ok(c)
    };
    let signed = p.join("signed");
    let sv = export(
        p,
        &signed,
        &["--out", "out", "--sign-key", key.to_str().unwrap()],
    );
    assert_eq!(sv["public_key"].as_str(), Some(public.as_str()), "{sv}");
    let trust = ["--option", "trusted-public-keys", public.as_str()];
    let distrust = ["--option", "trusted-public-keys", other.as_str()];
    let mut needs_sig = vec!["--sigs-needed", "1", "--all"];
    needs_sig.extend(trust);
    ok(verify(p, &signed, &needs_sig));
    let sp = paths[0]["store_path"].as_str().unwrap();
    ok(copy(p, &signed, &p.join("dest-signed"), sp, &trust));

    // Without CA only the signature vouches: accepted with its key, refused with another.
    let sig_only = p.join("sig-only");
    copy_export(&signed, &sig_only, true);
    ok(verify(p, &sig_only, &needs_sig));
    let mut wrong = vec!["--sigs-needed", "1", "--all"];
    wrong.extend(distrust);
    let out = fails(verify(p, &sig_only, &wrong));
    assert!(out.contains("untrusted"), "{out}");
    ok(copy(p, &sig_only, &p.join("dest-sig"), sp, &trust));
    let out = fails(copy(p, &sig_only, &p.join("dest-wrong"), sp, &distrust));
    assert!(out.contains("signature"), "{out}");
    // ... and the unsigned export without CA is refused too (the test has teeth).
    let bare = p.join("bare");
    copy_export(&cache, &bare, true);
    fails(copy(p, &bare, &p.join("dest-bare"), sp, &[]));

    // Corruption: a flipped byte in the .nar.xz, and a valid .nar.xz of a different NAR.
    let url = narinfo_field(
        &fs::read_to_string(cache.join(paths[0]["narinfo"].as_str().unwrap())).unwrap(),
        "URL",
    )
    .to_string();
    let flipped = p.join("flipped");
    copy_export(&cache, &flipped, false);
    let f = flipped.join(&url);
    let mut bytes = fs::read(&f).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x01;
    fs::write(&f, bytes).unwrap();
    fails(copy(p, &flipped, &p.join("dest-flipped"), sp, &[]));
    fails(verify(p, &flipped, &[sp]));

    let altered = p.join("altered");
    copy_export(&cache, &altered, false);
    let f = altered.join(&url);
    let mut nar_bytes = Vec::new();
    std::io::Read::read_to_end(
        &mut pkg_core::compress::decoder(
            pkg_core::compress::Codec::Xz(6),
            &fs::read(&f).unwrap()[..],
        )
        .unwrap(),
        &mut nar_bytes,
    )
    .unwrap();
    // The first byte of the first file's contents: token `contents`, then the length, then it.
    let at = nar_bytes
        .windows(16)
        .position(|w| w == b"\x08\0\0\0\0\0\0\0contents")
        .unwrap()
        + 24;
    nar_bytes[at] ^= 0x20;
    fs::write(
        &f,
        pkg_core::compress::compress_bytes(pkg_core::compress::Codec::Xz(6), &nar_bytes).unwrap(),
    )
    .unwrap();
    let out = fails(copy(p, &altered, &p.join("dest-altered"), sp, &[]));
    assert!(out.contains("hash mismatch"), "{out}");
    let out = fails(verify(p, &altered, &[sp]));
    assert!(out.contains("was modified"), "{out}");
}
