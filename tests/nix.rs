//! lucia-pkg's Nix compatibility, checked against the real Nix (Debian's nix-bin):
//! * the `nar` crate's NAR bytes, NAR hashes (hex, nix-base32, SRI) and store paths equal what
//!   `nix-store --dump`, `nix-hash`, `nix hash path`, `nix-store --print-fixed-path` and
//!   `nix store add-path --dry-run` print, for trees covering every NAR feature;
//! * flake.nix parses, and `nix flake show` / `nix flake check --no-build` evaluate every output
//!   for x86_64-linux and aarch64-linux with nixpkgs replaced by nix/stub-nixpkgs (offline).
//!
//! Without `nix-store` on PATH the tests print why and pass, unless LUCIA_E2E_REQUIRED=1
//! (CI), where a missing Nix is a failure.

#[path = "../crates/nar/tests/fixture/mod.rs"]
mod fixture;

use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const EXPERIMENTAL: &str = "nix-command flakes";

fn nix_present() -> bool {
    let found = Command::new("nix-store")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var("LUCIA_E2E_REQUIRED").as_deref() != Ok("1"),
            "nix-store is not on PATH but LUCIA_E2E_REQUIRED=1: install nix-bin (scripts/ci-packages.txt)"
        );
        eprintln!("SKIP: nix-store not found on PATH (install Debian's nix-bin to run the Nix comparisons)");
    }
    found
}

/// A nix command without the nixbld-group warning and with caches in a scratch dir, so the
/// tests neither depend on nor touch the invoking user's Nix state outside /nix/store.
fn nix(program: &str, cache: &Path) -> Command {
    let mut c = Command::new(program);
    c.env("NIX_CONFIG", "build-users-group =")
        .env("XDG_CACHE_HOME", cache)
        .env("NIX_PAGER", "cat");
    c
}

fn run(mut c: Command) -> Output {
    let out = c
        .output()
        .unwrap_or_else(|e| panic!("cannot run {c:?}: {e}"));
    assert!(
        out.status.success(),
        "{c:?} failed ({}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn stdout_line(c: Command) -> String {
    String::from_utf8(run(c).stdout).unwrap().trim().to_string()
}

/// Paths with different shapes: the fixture tree, plus single nodes at the root.
fn cases(dir: &Path) -> Vec<PathBuf> {
    fs::create_dir_all(dir).unwrap();
    let tree = dir.join("tree");
    fixture::sample_tree(&tree).unwrap();
    let sizes = dir.join("sizes");
    fs::create_dir(&sizes).unwrap();
    // Every padding remainder, and sizes around the serializer's 64 KiB copy buffer.
    for n in (0..=17).chain([65535, 65536, 65537, 200_001]) {
        let p = sizes.join(format!("f{n:06}"));
        fs::write(&p, (0..n).map(|i| (i * 7 % 251) as u8).collect::<Vec<u8>>()).unwrap();
        if n % 3 == 0 {
            fs::set_permissions(&p, fs::Permissions::from_mode(0o700)).unwrap();
        }
    }
    let exe = dir.join("single-exe");
    fs::write(&exe, b"\x7fELF not really").unwrap();
    fs::set_permissions(&exe, fs::Permissions::from_mode(0o555)).unwrap();
    let empty_dir = dir.join("empty-root");
    fs::create_dir(&empty_dir).unwrap();
    let abs_link = dir.join("abs-link");
    symlink("/nix/store/does-not-exist", &abs_link).unwrap();
    let odd = dir.join(OsStr::from_bytes(b"odd-\xff-root"));
    fs::create_dir(&odd).unwrap();
    fs::write(odd.join(OsStr::from_bytes(b"\x80\x81")), b"bytes").unwrap();
    vec![
        tree.clone(),
        tree.join("data/hello.txt"),
        tree.join("data/empty"),
        tree.join("link-rel"),
        tree.join("dangling"),
        sizes,
        exe,
        empty_dir,
        abs_link,
        odd,
    ]
}

#[test]
fn nar_bytes_equal_nix_store_dump() {
    if !nix_present() {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    for path in cases(&d.path().join("in")) {
        let theirs = run({
            let mut c = nix("nix-store", d.path());
            c.arg("--dump").arg(&path);
            c
        })
        .stdout;
        let mut ours = Vec::new();
        nar::dump_path(&path, &mut ours).unwrap();
        assert!(
            ours == theirs,
            "NAR of {} differs from nix-store --dump ({} vs {} bytes)",
            path.display(),
            ours.len(),
            theirs.len()
        );
        assert_eq!(
            nar::nar_hash_and_size(&path).unwrap().1,
            theirs.len() as u64
        );
    }
}

#[test]
fn nar_hashes_equal_nix_hash_and_nix_hash_path() {
    if !nix_present() {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    for path in cases(&d.path().join("in")) {
        let h = nar::nar_hash(&path).unwrap();
        let hash = |args: &[&str]| {
            let mut c = nix("nix-hash", d.path());
            c.args(["--type", "sha256"]).args(args).arg(&path);
            stdout_line(c)
        };
        assert_eq!(hash(&[]), hex::encode(h), "{}", path.display());
        assert_eq!(hash(&["--base32"]), nar::nix32(&h), "{}", path.display());
        let mut c = nix("nix", d.path());
        c.args([
            "--extra-experimental-features",
            EXPERIMENTAL,
            "hash",
            "path",
        ])
        .arg(&path);
        assert_eq!(stdout_line(c), nar::sri_sha256(&h), "{}", path.display());
    }
}

#[test]
fn store_paths_equal_nix() {
    if !nix_present() {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let paths = cases(&d.path().join("in"));
    for (path, name) in [
        (&paths[0], "lucia-1.0.0"),
        (&paths[1], "hello.txt"),
        (&paths[5], "x+y_z?=v.1"),
    ] {
        let h = nar::nar_hash(path).unwrap();
        let ours = nar::store_path_for(&h, name).unwrap();
        let mut c = nix("nix-store", d.path());
        c.args([
            "--print-fixed-path",
            "--recursive",
            "sha256",
            &nar::nix32(&h),
            name,
        ]);
        assert_eq!(stdout_line(c), ours, "{}", path.display());
        let mut c = nix("nix", d.path());
        c.args([
            "--extra-experimental-features",
            EXPERIMENTAL,
            "store",
            "add-path",
            "--dry-run",
            "--name",
            name,
        ])
        .arg(path);
        assert_eq!(stdout_line(c), ours, "{}", path.display());
    }
}

#[test]
fn names_we_accept_nix_accepts() {
    if !nix_present() {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let b32 = nar::nix32(&[7u8; 32]);
    let too_long = "n".repeat(212);
    let longest = "n".repeat(211);
    for name in [
        "ok-1.0",
        "A+b_c?d=e.f",
        "",
        "a~b",
        "a/b",
        "a b",
        "é",
        ".dot",
        &longest,
        &too_long,
    ] {
        let ours = nar::validate_store_name(name).is_ok();
        let mut c = nix("nix-store", d.path());
        c.args(["--print-fixed-path", "--recursive", "sha256", &b32, name]);
        let theirs = c.output().unwrap().status.success();
        // We are at most as permissive as Nix (we also refuse a leading '.', which old Nix did).
        assert!(
            !ours || theirs,
            "{name:?}: accepted by us, rejected by nix-store"
        );
        if name != ".dot" {
            assert_eq!(ours, theirs, "{name:?}");
        }
    }
}

/// The repository root: this file is `<root>/tests/nix.rs` (`file!()` is relative to the
/// workspace root, which is this package's directory, or absolute).
fn repo() -> PathBuf {
    let file = Path::new(file!());
    let this = if file.is_absolute() {
        file.to_path_buf()
    } else {
        Path::new(env!("CARGO_MANIFEST_DIR")).join(file)
    };
    this.ancestors().nth(2).unwrap().to_path_buf()
}

/// flake.nix plus exactly the files its evaluation reads, copied into a scratch dir: a `path:`
/// flake is copied whole into /nix/store, and the working tree's target/ is gigabytes.
fn flake_copy(dir: &Path) -> PathBuf {
    let repo = repo();
    let dst = dir.join("flake");
    fs::create_dir_all(dst.join("nix/stub-nixpkgs")).unwrap();
    for f in [
        "flake.nix",
        "Cargo.toml",
        "Cargo.lock",
        "nix/stub-nixpkgs/flake.nix",
    ] {
        fs::copy(repo.join(f), dst.join(f)).unwrap();
    }
    dst
}

fn flake_cmd(cache: &Path, flake: &Path, args: &[&str]) -> Command {
    flake_cmd_fragment(cache, flake, args, "")
}

/// `nix ARGS path:FLAKE#FRAGMENT` with nixpkgs overridden by the stub and no lock file written.
fn flake_cmd_fragment(cache: &Path, flake: &Path, args: &[&str], fragment: &str) -> Command {
    let mut c = nix("nix", cache);
    c.args(["--extra-experimental-features", EXPERIMENTAL])
        .args(args)
        .arg(format!("path:{}{fragment}", flake.display()))
        .args(["--override-input", "nixpkgs"])
        .arg(format!("path:{}", flake.join("nix/stub-nixpkgs").display()))
        .arg("--no-write-lock-file");
    c
}

#[test]
fn flake_parses() {
    if !nix_present() {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let mut c = nix("nix-instantiate", d.path());
    c.arg("--parse").arg(repo().join("flake.nix"));
    run(c);
    // The check can fail: a truncated flake does not parse.
    let broken = d.path().join("broken.nix");
    let text = fs::read_to_string(repo().join("flake.nix")).unwrap();
    fs::write(&broken, &text[..text.len() / 2]).unwrap();
    let mut c = nix("nix-instantiate", d.path());
    c.arg("--parse").arg(&broken);
    assert!(!c.output().unwrap().status.success());
}

#[test]
fn flake_outputs_evaluate_for_both_systems_with_stub_nixpkgs() {
    if !nix_present() {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let flake = flake_copy(d.path());
    let show = run(flake_cmd(d.path(), &flake, &["flake", "show", "--json"]));
    let v: serde_json::Value = serde_json::from_slice(&show.stdout).unwrap();
    let version = {
        let toml: toml::Value =
            toml::from_str(&fs::read_to_string(flake.join("Cargo.toml")).unwrap()).unwrap();
        toml["workspace"]["package"]["version"]
            .as_str()
            .unwrap()
            .to_string()
    };
    for system in ["x86_64-linux", "aarch64-linux"] {
        for out in ["default", "lucia-pkg"] {
            assert_eq!(
                v["packages"][system][out]["name"],
                format!("lucia-pkg-{version}"),
                "{system} {out}"
            );
        }
        assert_eq!(v["apps"][system]["default"]["type"], "app", "{system}");
        assert_eq!(
            v["devShells"][system]["default"]["type"], "derivation",
            "{system}"
        );
        let program = stdout_line(flake_cmd_fragment(
            d.path(),
            &flake,
            &["eval", "--raw"],
            &format!("#apps.{system}.default.program"),
        ));
        assert!(
            program.starts_with("/nix/store/")
                && program.ends_with(&format!("-lucia-pkg-{version}/bin/lucia-pkg")),
            "{program}"
        );
    }
    run(flake_cmd(
        d.path(),
        &flake,
        &["flake", "check", "--no-build"],
    ));

    // The check can fail: the stub rejects a flake whose cargoLock.lockFile is missing.
    fs::remove_file(flake.join("Cargo.lock")).unwrap();
    let out = flake_cmd(d.path(), &flake, &["flake", "check", "--no-build"])
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "flake check passed without Cargo.lock"
    );
}

#[test]
fn cli_hash_equals_nix_hash_path() {
    if !nix_present() {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let exe = env!("CARGO_BIN_EXE_lucia-pkg");
    for path in cases(&d.path().join("in")) {
        let ours = |args: &[&str]| {
            let mut c = Command::new(exe);
            c.arg("hash").args(args).arg(&path);
            stdout_line(c)
        };
        let mut c = nix("nix", d.path());
        c.args([
            "--extra-experimental-features",
            EXPERIMENTAL,
            "hash",
            "path",
        ])
        .arg(&path);
        assert_eq!(ours(&[]), stdout_line(c), "{}", path.display());
        let mut c = nix("nix-hash", d.path());
        c.args(["--type", "sha256", "--base32"]).arg(&path);
        assert_eq!(ours(&["--base32"]), stdout_line(c), "{}", path.display());
    }
    // A FIFO cannot be hashed: bad input (exit 2), and the message names it.
    let fifo = d.path().join("a-fifo");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let out = Command::new(exe).arg("hash").arg(&fifo).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("a-fifo"));
}
