//! `sign-sums`: SHA256SUMS.sig is what `ssh-keygen -Y sign -n file` makes, reproducible (the
//! same bytes twice), verified by `ssh-keygen -Y verify`, refused for key types other than
//! Ed25519, never written when signing fails, and removed by a later build into
//! the same out dir (which rewrites SHA256SUMS and would leave it invalid).

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};

mod common;
use common::*;

/// Whether ssh-keygen can run: without it the test is skipped, or fails when e2e is required.
fn ssh_keygen_available(test: &str) -> bool {
    if have("ssh-keygen") {
        return true;
    }
    assert!(
        !e2e_required(),
        "{test}: ssh-keygen is missing and LUCIA_E2E_REQUIRED=1"
    );
    eprintln!("skipping {test}: ssh-keygen (openssh-client) is not installed");
    false
}

/// `ssh-keygen -q -t TYPE -N PASS -C test -f DIR/NAME` plus `extra`.
fn keygen(dir: &Path, name: &str, kind: &str, pass: &str, extra: &[&str]) {
    let o = Command::new("ssh-keygen")
        .args(["-q", "-t", kind, "-N", pass, "-C", "test", "-f", name])
        .args(extra)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(o.status.success(), "ssh-keygen -t {kind}: {}", text(&o));
}

/// A shell-script service built into `dist` as an amd64 tarball.
fn built_project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    fs::create_dir_all(p.join("out")).unwrap();
    fs::write(p.join("out/svc"), "#!/bin/sh\nexec sleep 1\n").unwrap();
    fs::set_permissions(p.join("out/svc"), fs::Permissions::from_mode(0o755)).unwrap();
    let o = lucia(p, &["init", "--payload", "out"]);
    assert!(o.status.success(), "{}", text(&o));
    build(p);
    dir
}

fn build(p: &Path) {
    let o = lucia(p, &["build", "-a", "amd64", "-f", "tar", "-o", "dist"]);
    assert!(o.status.success(), "{}", text(&o));
}

/// `ssh-keygen -Y verify` of dist/SHA256SUMS.sig over dist/SHA256SUMS for the key `pubkey`.
fn verify(p: &Path, pubkey: &str, namespace: &str) -> bool {
    let key = fs::read_to_string(p.join(pubkey)).unwrap();
    fs::write(p.join("allowed_signers"), format!("test {key}")).unwrap();
    let o = Command::new("ssh-keygen")
        .args(["-Y", "verify", "-f", "allowed_signers", "-I", "test", "-n"])
        .arg(namespace)
        .args(["-s", "dist/SHA256SUMS.sig"])
        .current_dir(p)
        .stdin(fs::File::open(p.join("dist/SHA256SUMS")).unwrap())
        .output()
        .unwrap();
    o.status.success()
}

#[test]
fn ed25519_signature_is_reproducible_and_verifies_with_ssh_keygen() {
    if !ssh_keygen_available("ed25519_signature_is_reproducible_and_verifies_with_ssh_keygen") {
        return;
    }
    let dir = built_project();
    let p = dir.path();
    keygen(p, "key", "ed25519", "", &[]);

    let o = lucia(p, &["--json", "sign-sums", "-o", "dist", "--key", "key"]);
    assert!(o.status.success(), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["ok"], true);
    assert_eq!(v["signature"], "dist/SHA256SUMS.sig");
    let first = fs::read(p.join("dist/SHA256SUMS.sig")).unwrap();
    assert!(String::from_utf8_lossy(&first).starts_with("-----BEGIN SSH SIGNATURE-----\n"));
    assert!(!fs::read_to_string(p.join("dist/SHA256SUMS"))
        .unwrap()
        .contains("SHA256SUMS.sig"));

    let o = lucia(p, &["sign-sums", "-o", "dist", "--key", "key"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(first, fs::read(p.join("dist/SHA256SUMS.sig")).unwrap());

    assert!(verify(p, "key.pub", "file"));
    assert!(
        !verify(p, "key.pub", "git"),
        "another namespace must not verify"
    );

    // A rebuild into the same out dir is not refused because of the signature, and removes it.
    build(p);
    assert!(!p.join("dist/SHA256SUMS.sig").exists());
    let o = lucia(p, &["sign-sums", "-o", "dist", "--key", "key"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(first, fs::read(p.join("dist/SHA256SUMS.sig")).unwrap());

    // Any change to SHA256SUMS breaks it.
    let mut sums = fs::read_to_string(p.join("dist/SHA256SUMS")).unwrap();
    sums.push_str(&format!("{}  extra\n", "0".repeat(64)));
    fs::write(p.join("dist/SHA256SUMS"), sums).unwrap();
    assert!(!verify(p, "key.pub", "file"));
}

#[test]
fn encrypted_keys_need_the_passphrase() {
    if !ssh_keygen_available("encrypted_keys_need_the_passphrase") {
        return;
    }
    let dir = built_project();
    let p = dir.path();
    // A passphrase-protected key, named by the environment.
    keygen(p, "locked", "ed25519", "s3cret pass", &[]);
    let run = |pass: Option<&str>| {
        let mut c = Command::new(bin());
        c.args(["sign-sums", "-o", "dist"])
            .current_dir(p)
            .env("LUCIA_PKG_SUMS_KEY", p.join("locked"))
            .env_remove("LUCIA_PKG_SIGNING_PASSPHRASE")
            .stdin(Stdio::null());
        if let Some(pass) = pass {
            c.env("LUCIA_PKG_SIGNING_PASSPHRASE", pass);
        }
        c.output().unwrap()
    };
    let o = run(None);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("LUCIA_PKG_SIGNING_PASSPHRASE"),
        "{}",
        text(&o)
    );
    assert!(!p.join("dist/SHA256SUMS.sig").exists());
    let o = run(Some("wrong"));
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(!p.join("dist/SHA256SUMS.sig").exists());
    let o = run(Some("s3cret pass"));
    assert!(o.status.success(), "{}", text(&o));
    assert!(verify(p, "locked.pub", "file"));
}

#[test]
fn other_key_types_and_missing_sums_are_refused_and_nothing_is_written() {
    if !ssh_keygen_available("other_key_types_and_missing_sums_are_refused_and_nothing_is_written")
    {
        return;
    }
    let dir = built_project();
    let p = dir.path();
    keygen(p, "ec", "ecdsa", "", &[]);
    keygen(p, "rsa", "rsa", "", &["-b", "2048"]);
    for (key, alg) in [("ec", "ecdsa-sha2-nistp256"), ("rsa", "ssh-rsa")] {
        let o = lucia(p, &["sign-sums", "-o", "dist", "--key", key]);
        assert_eq!(o.status.code(), Some(2), "{}", text(&o));
        let t = text(&o);
        assert!(t.contains(alg) && t.contains("only Ed25519"), "{t}");
        assert!(!p.join("dist/SHA256SUMS.sig").exists());
    }

    keygen(p, "key", "ed25519", "", &[]);
    let o = lucia(p, &["sign-sums", "-o", "nothing-here", "--key", "key"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("SHA256SUMS"), "{}", text(&o));
    assert!(!p.join("nothing-here").exists());

    fs::write(p.join("garbage"), "not a key\n").unwrap();
    let o = lucia(p, &["sign-sums", "-o", "dist", "--key", "garbage"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(!p.join("dist/SHA256SUMS.sig").exists());
}

/// `gpg` with its home in `home`, batch mode, no tty.
fn gpg(home: &Path, args: &[&str]) -> std::process::Output {
    Command::new("gpg")
        .arg("--homedir")
        .arg(home)
        .args(["--batch", "--no-tty"])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// The OpenPGP alternative: `sign-sums --openpgp` writes SHA256SUMS.asc that `gpg --verify`
/// accepts (and refuses once SHA256SUMS changes), the same bytes under another TZ/locale/umask,
/// checked by verify-release with the public key, and removed by a later build.
#[test]
fn openpgp_signature_verifies_with_gpg_and_is_reproducible() {
    let test = "sums_sign::openpgp";
    if !have("gpg") {
        assert!(
            !e2e_required(),
            "{test}: gpg is missing and LUCIA_E2E_REQUIRED=1"
        );
        eprintln!("skipping {test}: gpg is not installed");
        return;
    }
    let t = built_project();
    let p = t.path();
    let home = p.join("gnupg");
    fs::create_dir(&home).unwrap();
    fs::set_permissions(&home, fs::Permissions::from_mode(0o700)).unwrap();
    let o = gpg(
        &home,
        &[
            "--passphrase",
            "",
            "--quick-gen-key",
            "Sums <sums@example.org>",
            "ed25519",
            "sign",
            "never",
        ],
    );
    assert!(o.status.success(), "gpg --quick-gen-key: {}", text(&o));
    let o = gpg(&home, &["--armor", "--export-secret-keys"]);
    fs::write(p.join("secret.asc"), &o.stdout).unwrap();
    let o = gpg(&home, &["--armor", "--export"]);
    fs::write(p.join("public.asc"), &o.stdout).unwrap();

    let o = lucia(
        p,
        &[
            "sign-sums",
            "--openpgp",
            "-o",
            "dist",
            "--key",
            "secret.asc",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    let asc = fs::read(p.join("dist/SHA256SUMS.asc")).unwrap();
    assert!(asc.starts_with(b"-----BEGIN PGP SIGNATURE-----"));
    let verify = |p: &Path| {
        gpg(
            &home,
            &[
                "--verify",
                &p.join("dist/SHA256SUMS.asc").display().to_string(),
                &p.join("dist/SHA256SUMS").display().to_string(),
            ],
        )
        .status
        .success()
    };
    assert!(verify(p), "gpg --verify refused SHA256SUMS.asc");

    // Another TZ, locale and umask, the key from the environment: the same bytes.
    fs::remove_file(p.join("dist/SHA256SUMS.asc")).unwrap();
    let o = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "umask 077; exec '{}' sign-sums --openpgp -o dist",
            bin()
        ))
        .current_dir(p)
        .env("TZ", "Asia/Kolkata")
        .env("LC_ALL", "C.UTF-8")
        .env("LUCIA_PKG_REPO_KEY", p.join("secret.asc"))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(fs::read(p.join("dist/SHA256SUMS.asc")).unwrap(), asc);

    // verify-release checks it with the public key, and needs that key when the file is there.
    let o = lucia(
        p,
        &["verify-release", "-o", "dist", "--repo-key", "public.asc"],
    );
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("SHA256SUMS.asc"), "{}", text(&o));
    let o = lucia(p, &["verify-release", "-o", "dist"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));

    // A changed SHA256SUMS no longer verifies, with gpg or verify-release.
    let sums = fs::read_to_string(p.join("dist/SHA256SUMS")).unwrap();
    fs::write(p.join("dist/SHA256SUMS"), sums.replacen('0', "1", 1)).unwrap();
    assert!(!verify(p), "gpg accepted a modified SHA256SUMS");
    let o = lucia(
        p,
        &["verify-release", "-o", "dist", "--repo-key", "public.asc"],
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    fs::write(p.join("dist/SHA256SUMS"), sums).unwrap();

    // No key: exit 2, nothing written.
    fs::remove_file(p.join("dist/SHA256SUMS.asc")).unwrap();
    let o = lucia(p, &["sign-sums", "--openpgp", "-o", "dist"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(!p.join("dist/SHA256SUMS.asc").exists());

    // A later build removes a signature of the SHA256SUMS it replaces.
    let o = lucia(
        p,
        &[
            "sign-sums",
            "--openpgp",
            "-o",
            "dist",
            "--key",
            "secret.asc",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    build(p);
    assert!(!p.join("dist/SHA256SUMS.asc").exists());
}
