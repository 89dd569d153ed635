//! Reliability and security of the `lucia-pkg` binary, run as a user would run it:
//! - the bad-input corpus (`tests/corpus/manifest/*.toml` with `expect.tsv`, plus payloads that
//!   can only be made at run time): exit 2, a message naming the manifest location or the
//!   payload file, never a panic, never an artifact;
//! - inputs that must WORK in every format: paths over 100 and 255 bytes, a >8 GiB sparse file;
//! - SIGKILL at random points, SIGINT/SIGTERM, two builds at once, a full disk: the out dir and
//!   the store only ever hold complete artifacts, checked with each format's own tool;
//! - secrets: the env file's mode and group in every package, nothing from the env template in
//!   the OCI image, no passphrase or password in any output, no world-writable packaged file.
//!
//! Cases that need root (device nodes, a tmpfs, reading as another user) print why they are
//! skipped when run unprivileged.

use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::*;

/// A private hard link (or copy) of the binary under test: other agents and editors rebuild
/// target/debug/lucia-pkg while these long tests run, and a swapped binary would make a "clean
/// build" and a "recovered build" come from different code.
fn bin() -> &'static str {
    static BIN: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    BIN.get_or_init(|| {
        let src = Path::new(env!("CARGO_BIN_EXE_lucia-pkg"));
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("reliability-bin");
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let dst = dir.join(format!("lucia-pkg-{}", std::process::id()));
        if fs::hard_link(src, &dst).is_err() {
            fs::copy(src, &dst).unwrap();
        }
        dst.display().to_string()
    })
}

fn corpus() -> PathBuf {
    repo().join("tests/corpus")
}

fn tool(cmd: &str, args: &[&str], dir: &Path) -> Output {
    Command::new(cmd)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("run {cmd}: {e}"))
}

/// A project built from tests/corpus/base.toml: every format, gzip:1, amd64.
struct Project {
    dir: tempfile::TempDir,
}

impl Project {
    fn new() -> Project {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path();
        fs::create_dir_all(p.join("payload/lib")).unwrap();
        fs::copy(demo_binary(), p.join("payload/demo")).unwrap();
        fs::set_permissions(p.join("payload/demo"), fs::Permissions::from_mode(0o755)).unwrap();
        fs::write(p.join("payload/lib/data.txt"), "data\n").unwrap();
        fs::write(
            p.join("demo.service"),
            "[Service]\nUser=demo\nExecStart=/opt/demo/demo\n",
        )
        .unwrap();
        fs::write(p.join("demo.env"), "PORT=8080\n").unwrap();
        fs::write(p.join("extra.txt"), "extra\n").unwrap();
        fs::copy(corpus().join("base.toml"), p.join("lucia.toml")).unwrap();
        Project { dir }
    }
    fn path(&self) -> &Path {
        self.dir.path()
    }
    fn store(&self) -> PathBuf {
        self.path().join(".store")
    }
    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(bin());
        c.args(args)
            .current_dir(self.path())
            .env_remove("SOURCE_DATE_EPOCH")
            .env("LUCIA_PKG_STORE", self.store())
            .stdin(Stdio::null());
        c
    }
    fn build(&self, out: &str, extra: &[&str]) -> Output {
        let mut args = vec!["build", "--manifest", "lucia.toml", "--out", out];
        args.extend_from_slice(extra);
        self.cmd(&args).output().unwrap()
    }
}

/// Exit 2, the needle in the message, no panic, and nothing written to `out`.
fn assert_refused(o: &Output, needle: &str, out: &Path, case: &str) {
    let t = text(o);
    assert_eq!(
        o.status.code(),
        Some(2),
        "{case}: expected exit 2 (bad input), got {:?}:\n{t}",
        o.status.code()
    );
    assert!(t.contains(needle), "{case}: expected `{needle}` in:\n{t}");
    assert!(!t.contains("panicked"), "{case}: {t}");
    let left: Vec<_> = fs::read_dir(out)
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "{case}: a refused build wrote {left:?}");
}

// ---------------------------------------------------------------------------------------------
// Bad input
// ---------------------------------------------------------------------------------------------

#[test]
fn manifest_corpus_is_refused_with_located_errors() {
    let dir = corpus().join("manifest");
    let expect: BTreeMap<String, String> = fs::read_to_string(dir.join("expect.tsv"))
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let (c, n) = l
                .split_once('\t')
                .unwrap_or_else(|| panic!("expect.tsv: no tab in `{l}`"));
            (c.to_string(), n.to_string())
        })
        .collect();
    let mut cases: Vec<String> = fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .filter_map(|e| {
            e.file_name()
                .to_str()
                .and_then(|n| n.strip_suffix(".toml"))
                .map(str::to_string)
        })
        .collect();
    cases.sort();
    assert!(cases.len() >= 60, "corpus shrank: {}", cases.len());
    let listed: Vec<&String> = expect.keys().collect();
    assert_eq!(
        cases.iter().collect::<Vec<_>>(),
        listed,
        "every corpus file needs one line in expect.tsv and vice versa"
    );

    let p = Project::new();
    // The base manifest itself is good: the corpus cases fail because of their one change.
    let o = p
        .cmd(&["check", "--manifest", "lucia.toml"])
        .output()
        .unwrap();
    assert!(o.status.success(), "base.toml: {}", text(&o));
    for case in &cases {
        fs::copy(
            dir.join(format!("{case}.toml")),
            p.path().join("lucia.toml"),
        )
        .unwrap();
        let o = p.build("out", &[]);
        assert_refused(&o, &expect[case], &p.path().join("out"), case);
        // Machine-readable errors too: one JSON object, never a panic.
        let o = p
            .cmd(&["--json", "check", "--manifest", "lucia.toml"])
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(2), "{case} --json: {}", text(&o));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout)
            .unwrap_or_else(|e| panic!("{case}: --json output is not JSON ({e}): {}", text(&o)));
        assert!(
            v["error"].is_object() || v["error"].is_string(),
            "{case}: {v}"
        );
    }
    assert!(
        !p.store().join(".tmp").exists()
            || fs::read_dir(p.store().join(".tmp"))
                .unwrap()
                .next()
                .is_none()
    );
}

/// Payload problems that can only be made on disk, each refused by a full build of every
/// format, naming the file.
#[test]
fn payload_corpus_is_refused_naming_the_file() {
    fn case(setup: impl FnOnce(&Path), needle: &str, name: &str) {
        let p = Project::new();
        setup(p.path());
        let o = p.build("out", &[]);
        assert_refused(&o, needle, &p.path().join("out"), name);
    }
    // A symlink to a directory outside, a chain that ends in a loop. (A dangling symlink that
    // stays inside the payload is legal: it may name a file created at run time.)
    case(
        |d| std::os::unix::fs::symlink("../../..", d.join("payload/lib/up")).unwrap(),
        "payload/lib/up",
        "symlink to a dir outside",
    );
    case(
        |d| {
            std::os::unix::fs::symlink("a", d.join("payload/lib/self")).unwrap();
            std::os::unix::fs::symlink("self", d.join("payload/lib/a")).unwrap();
        },
        "symlink loop",
        "symlink loop (two hops)",
    );
    case(
        |d| std::os::unix::fs::symlink("self", d.join("payload/self")).unwrap(),
        "payload/self",
        "symlink to itself",
    );
    // Wrong-arch ELF as the entrypoint itself (cli.rs covers a library).
    case(
        |d| {
            let mut elf = fs::read(demo_binary()).unwrap();
            elf[18..20].copy_from_slice(&183u16.to_le_bytes()); // EM_AARCH64
            fs::write(d.join("payload/demo"), elf).unwrap();
        },
        "payload/demo: ELF binary for aarch64",
        "wrong-arch entrypoint",
    );
    // A 32-bit ELF in a 64-bit payload.
    case(
        |d| {
            let mut h = vec![0u8; 64];
            h[..4].copy_from_slice(b"\x7fELF");
            h[4] = 1;
            h[5] = 1;
            h[6] = 1;
            h[16] = 3;
            h[18..20].copy_from_slice(&3u16.to_le_bytes()); // EM_386
            fs::write(d.join("payload/lib/x86.so"), h).unwrap();
        },
        "payload/lib/x86.so",
        "i386 ELF",
    );
    // Non-UTF-8 names in a subdirectory and in [[files]] src.
    case(
        |d| {
            use std::os::unix::ffi::OsStrExt;
            let name = std::ffi::OsStr::from_bytes(b"caf\xe9");
            fs::create_dir_all(d.join("payload/lib").join(name)).unwrap();
        },
        "not valid UTF-8",
        "non-UTF-8 directory",
    );
    // Secret-looking values in the env template, other than the OpenAI key cli.rs covers.
    for (line, what) in [
        ("AWS_ACCESS_KEY_ID=AKIAQWERTYUIOPASDFGHJ", "AWS key"),
        (
            "GITHUB_TOKEN=ghp_0123456789abcdefABCDEF0123456789abcd",
            "GitHub token",
        ),
        ("DB_PASSWORD=Zq8vLx2NpR4tW7yB9cKd", "long mixed password"),
        (
            "TLS_KEY=\"-----BEGIN OPENSSH PRIVATE KEY-----\"",
            "private key",
        ),
        (
            "ConnectionStrings__Api__Key=eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl",
            "JWT",
        ),
    ] {
        case(
            |d| fs::write(d.join("demo.env"), format!("PORT=8080\n{line}\n")).unwrap(),
            "demo.env: line 2",
            what,
        );
    }
    // Device nodes: root only.
    if is_root() {
        for (kind, needle) in [("c", "payload/null"), ("b", "payload/null")] {
            case(
                |d| {
                    let st = Command::new("mknod")
                        .arg(d.join("payload/null"))
                        .args([kind, "1", "3"])
                        .status()
                        .unwrap();
                    assert!(st.success(), "mknod");
                },
                needle,
                &format!("device node ({kind})"),
            );
        }
    } else {
        eprintln!("SKIP device nodes: mknod needs root");
    }
    // An unreadable payload file (and an unreadable subdirectory). Root reads everything, so
    // then the build runs as `nobody` on a copy of the project it can traverse.
    for (what, needle) in [("file", "payload/lib/data.txt"), ("dir", "payload/lib")] {
        let p = Project::new();
        let target = if what == "file" {
            p.path().join("payload/lib/data.txt")
        } else {
            p.path().join("payload/lib")
        };
        fs::set_permissions(&target, fs::Permissions::from_mode(0o000)).unwrap();
        let mut args: Vec<String> = Vec::new();
        let prog: String;
        if is_root() {
            if Command::new("setpriv").arg("--help").output().is_err() {
                eprintln!("SKIP unreadable {what}: running as root and setpriv is missing");
                continue;
            }
            // nobody must be able to reach the project and write the out dir and store.
            let mut a = p.path().to_path_buf();
            while let Some(parent) = a.parent() {
                let m = fs::metadata(parent).unwrap().permissions().mode();
                if m & 0o001 == 0 {
                    eprintln!(
                        "SKIP unreadable {what}: {} is not traversable by nobody",
                        parent.display()
                    );
                    break;
                }
                a = parent.to_path_buf();
            }
            fs::set_permissions(p.path(), fs::Permissions::from_mode(0o777)).unwrap();
            prog = "setpriv".into();
            args.extend(
                ["--reuid=65534", "--regid=65534", "--clear-groups", "--"].map(String::from),
            );
            args.push(bin().into());
        } else {
            prog = bin().into();
        }
        args.extend(["build", "--manifest", "lucia.toml", "--out", "out"].map(String::from));
        let o = Command::new(&prog)
            .args(&args)
            .current_dir(p.path())
            .env_remove("SOURCE_DATE_EPOCH")
            .env("LUCIA_PKG_STORE", p.path().join("store-nobody"))
            .env("HOME", p.path())
            .output()
            .unwrap();
        assert_refused(
            &o,
            needle,
            &p.path().join("out"),
            &format!("unreadable {what}"),
        );
        assert!(
            text(&o).contains("ermission denied"),
            "unreadable {what}: {}",
            text(&o)
        );
        fs::set_permissions(&target, fs::Permissions::from_mode(0o755)).unwrap();
    }
}

/// Reads every regular file's mode bits from `tar -tv`-style listings.
fn listing(cmd: &str, args: &[&str], dir: &Path) -> String {
    let o = Command::new(cmd)
        .args(args)
        .current_dir(dir)
        .env("TZ", "UTC")
        .output()
        .unwrap();
    assert!(o.status.success(), "{cmd} {args:?}: {}", text(&o));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The OCI layout's image manifests for each platform, and their layer blobs.
fn oci_layers(layout: &Path) -> Vec<PathBuf> {
    let blob = |digest: &str| {
        layout
            .join("blobs/sha256")
            .join(digest.trim_start_matches("sha256:"))
    };
    let read = |p: PathBuf| -> serde_json::Value {
        serde_json::from_slice(&fs::read(&p).unwrap()).unwrap()
    };
    let index = read(layout.join("index.json"));
    let mut layers = Vec::new();
    let mut stack: Vec<serde_json::Value> = index["manifests"].as_array().unwrap().clone();
    while let Some(m) = stack.pop() {
        let doc = read(blob(m["digest"].as_str().unwrap()));
        if let Some(ms) = doc["manifests"].as_array() {
            stack.extend(ms.iter().cloned());
        }
        if let Some(ls) = doc["layers"].as_array() {
            layers.extend(ls.iter().map(|l| blob(l["digest"].as_str().unwrap())));
        }
    }
    layers.sort();
    layers.dedup();
    layers
}

fn oci_configs(layout: &Path) -> Vec<PathBuf> {
    let blob = |digest: &str| {
        layout
            .join("blobs/sha256")
            .join(digest.trim_start_matches("sha256:"))
    };
    let read = |p: PathBuf| -> serde_json::Value {
        serde_json::from_slice(&fs::read(&p).unwrap()).unwrap()
    };
    let index = read(layout.join("index.json"));
    let mut out = Vec::new();
    let mut stack: Vec<serde_json::Value> = index["manifests"].as_array().unwrap().clone();
    while let Some(m) = stack.pop() {
        let doc = read(blob(m["digest"].as_str().unwrap()));
        if let Some(ms) = doc["manifests"].as_array() {
            stack.extend(ms.iter().cloned());
        }
        if let Some(c) = doc["config"]["digest"].as_str() {
            out.push(blob(c));
        }
    }
    out
}

/// Paths of 100+ and 255+ bytes (each component ≤ 255) in every format, intact.
#[test]
fn long_paths_survive_every_format() {
    let p = Project::new();
    let d120 = "d".repeat(120);
    let rel = format!("{d120}/{d120}/{}", "f".repeat(200));
    let short = format!("{}/{}", "s".repeat(60), "t".repeat(50)); // 111 bytes: over the ustar name field
    for r in [&rel, &short] {
        let f = p.path().join("payload").join(r);
        fs::create_dir_all(f.parent().unwrap()).unwrap();
        fs::write(&f, "long\n").unwrap();
    }
    // A symlink whose target is over 100 bytes too (ustar linkname is 100 bytes).
    std::os::unix::fs::symlink(&rel, p.path().join("payload/longlink")).unwrap();
    let o = p.build("out", &[]);
    assert!(o.status.success(), "{}", text(&o));
    let out = p.path().join("out");
    let full = format!("opt/demo/{rel}");
    let full_short = format!("opt/demo/{short}");
    assert!(full.len() > 255 && full_short.len() > 100);

    let tgz = listing("tar", &["-tvzf", "demo-1.0.0-linux-amd64.tar.gz"], &out);
    let deb = listing("dpkg-deb", &["-c", "demo_1.0.0-1_amd64.deb"], &out);
    let rpm = listing("rpm", &["-qlvp", "demo-1.0.0-1.x86_64.rpm"], &out);
    for (fmt, l) in [("tar.gz", &tgz), ("deb", &deb), ("rpm", &rpm)] {
        for want in [&full, &full_short] {
            assert!(
                l.lines().any(|x| x.ends_with(want.as_str())),
                "{fmt}: `{want}` missing or truncated in\n{l}"
            );
        }
        assert!(
            l.lines()
                .any(|x| x.contains("longlink -> ") && x.ends_with(&rel)),
            "{fmt}: long symlink target mangled\n{l}"
        );
    }
    let layers = oci_layers(&out.join("demo-1.0.0-oci"));
    assert!(!layers.is_empty());
    let mut found = 0;
    for layer in &layers {
        let l = listing("tar", &["-tvzf", layer.to_str().unwrap()], &out);
        found += l
            .lines()
            .filter(|x| x.ends_with(full.as_str()) || x.ends_with(full_short.as_str()))
            .count();
    }
    assert_eq!(found, 2, "OCI layers: long paths missing or truncated");
    // The artifacts read back through lucia-pkg inspect as well.
    // (OCI inspect reports manifests and layers, not files.)
    for a in [
        "demo-1.0.0-linux-amd64.tar.gz",
        "demo_1.0.0-1_amd64.deb",
        "demo-1.0.0-1.x86_64.rpm",
    ] {
        let o = p
            .cmd(&["--json", "inspect", &format!("out/{a}")])
            .output()
            .unwrap();
        assert!(o.status.success(), "{a}: {}", text(&o));
        assert!(
            String::from_utf8_lossy(&o.stdout).contains(&"f".repeat(200)),
            "inspect {a} lost the long name"
        );
    }
}

/// A >8 GiB sparse file needs PAX/GNU size headers in tar and deb, and RPM's 64-bit size tags.
/// Pushing 9 GiB through an unoptimized debug build takes far too long for the default suite:
/// it runs when LUCIA_PKG_LARGE_FILE_TEST=1 (with LUCIA_PKG_BIN=target/release/lucia-pkg for a
/// reasonable run time), and says so otherwise.
#[test]
fn a_9_gib_sparse_file_works_in_tar_deb_and_rpm() {
    if std::env::var_os("LUCIA_PKG_LARGE_FILE_TEST").is_none() {
        eprintln!("SKIP 9 GiB sparse file: set LUCIA_PKG_LARGE_FILE_TEST=1 (and LUCIA_PKG_BIN=target/release/lucia-pkg) to run it");
        return;
    }
    let exe = std::env::var("LUCIA_PKG_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(bin()));
    let p = Project::new();
    let big = p.path().join("payload/lib/big.bin");
    let size: u64 = 9 << 30;
    fs::File::create(&big).unwrap().set_len(size).unwrap();
    let formats =
        std::env::var("LUCIA_PKG_LARGE_FILE_FORMATS").unwrap_or_else(|_| "tar,deb,rpm".into());
    let t0 = Instant::now();
    let o = Command::new(&exe)
        .args([
            "build",
            "--no-cache",
            "--manifest",
            "lucia.toml",
            "--out",
            "out",
            "--format",
            &formats,
        ])
        .current_dir(p.path())
        .env_remove("SOURCE_DATE_EPOCH")
        .env("LUCIA_PKG_STORE", p.store())
        .output()
        .unwrap();
    eprintln!(
        "9 GiB build ({formats}) took {:.0}s",
        t0.elapsed().as_secs_f64()
    );
    assert!(o.status.success(), "{}", text(&o));
    let out = p.path().join("out");
    let want = size.to_string();
    let has_size = |l: &str| {
        l.lines()
            .any(|x| x.ends_with("opt/demo/lib/big.bin") && x.split_whitespace().any(|c| c == want))
    };
    if formats.contains("tar") {
        let l = listing("tar", &["-tvzf", "demo-1.0.0-linux-amd64.tar.gz"], &out);
        assert!(has_size(&l), "tar.gz: wrong size for big.bin\n{l}");
    }
    if formats.contains("deb") {
        let l = listing("dpkg-deb", &["-c", "demo_1.0.0-1_amd64.deb"], &out);
        assert!(has_size(&l), "deb: wrong size for big.bin\n{l}");
    }
    if formats.contains("rpm") {
        let l = listing("rpm", &["-qlvp", "demo-1.0.0-1.x86_64.rpm"], &out);
        assert!(has_size(&l), "rpm: wrong size for big.bin\n{l}");
        let k = tool("rpm", &["-K", "demo-1.0.0-1.x86_64.rpm"], &out);
        assert!(k.status.success(), "{}", text(&k));
        // rpm's large-file layout: 64-bit size tags and the rpmlib feature that announces them.
        let q = listing(
            "rpm",
            &[
                "-qp",
                "--qf",
                "%{SIZE}\\n[%{REQUIRENAME}\\n]",
                "demo-1.0.0-1.x86_64.rpm",
            ],
            &out,
        );
        assert!(
            q.starts_with("(none)\n") && q.lines().any(|l| l == "rpmlib(LargeFiles)"),
            "rpm: no large-file header\n{q}"
        );
        // rpm's own payload reader gets all 9 GiB out of the stripped cpio (rpm2cpio refuses
        // files over 4 GiB; rpm2archive -n streams an uncompressed tar, nothing hits the disk).
        let l = listing(
            "bash",
            &[
                "-c",
                "set -o pipefail; rpm2archive -n - < demo-1.0.0-1.x86_64.rpm | TZ=UTC tar -tvf -",
            ],
            &out,
        );
        assert!(has_size(&l), "rpm2archive: wrong size for big.bin\n{l}");
    }
}

// ---------------------------------------------------------------------------------------------
// Interrupted and concurrent builds
// ---------------------------------------------------------------------------------------------

/// Deterministic pseudo-random numbers (xorshift), so a failing seed can be replayed.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn is_temp(name: &str) -> bool {
    name.contains(".lucia-tmp-")
}

fn temps_in(dir: &Path) -> Vec<String> {
    fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .filter_map(|e| e.file_name().to_str().map(str::to_string))
                .filter(|n| is_temp(n))
                .collect()
        })
        .unwrap_or_default()
}

fn store_tmp(store: &Path) -> Vec<String> {
    fs::read_dir(store.join(".tmp"))
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

fn sha256_file(p: &Path) -> String {
    let o = Command::new("sha256sum").arg(p).output().unwrap();
    String::from_utf8_lossy(&o.stdout)
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string()
}

/// Checks every finished artifact in `out` with its own tool; temp names are allowed (they are
/// what a killed writer leaves). Returns the artifact names seen.
fn assert_out_dir_valid(out: &Path, ctx: &str) -> Vec<String> {
    let mut seen = Vec::new();
    let Ok(rd) = fs::read_dir(out) else {
        return seen;
    };
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if is_temp(&name) {
            continue;
        }
        let ok = |o: Output, what: &str| {
            assert!(
                o.status.success(),
                "{ctx}: {name} fails {what}: {}",
                text(&o)
            )
        };
        if name.ends_with(".deb") {
            ok(tool("dpkg-deb", &["-I", &name], out), "dpkg-deb -I");
            ok(tool("dpkg-deb", &["-c", &name], out), "dpkg-deb -c");
        } else if name.ends_with(".rpm") {
            ok(tool("rpm", &["-K", &name], out), "rpm -K");
        } else if name.ends_with(".tar.gz") {
            ok(tool("tar", &["-tzf", &name], out), "tar -tzf");
        } else if name.ends_with("-oci.tar") {
            ok(tool("tar", &["-tf", &name], out), "tar -tf");
            ok(
                tool(
                    "skopeo",
                    &["inspect", "--raw", &format!("oci-archive:{name}")],
                    out,
                ),
                "skopeo inspect oci-archive",
            );
        } else if name.ends_with("-oci") {
            ok(
                tool("skopeo", &["inspect", "--raw", &format!("oci:{name}")], out),
                "skopeo inspect oci",
            );
            for b in fs::read_dir(out.join(&name).join("blobs/sha256"))
                .unwrap()
                .flatten()
            {
                let want = b.file_name().to_string_lossy().into_owned();
                assert_eq!(sha256_file(&b.path()), want, "{ctx}: {name}: corrupt blob");
            }
        } else if name == "SHA256SUMS" {
            ok(
                tool("sha256sum", &["-c", "--quiet", "SHA256SUMS"], out),
                "sha256sum -c",
            );
        } else if name == "build-info.json" {
            let v: Result<serde_json::Value, _> =
                serde_json::from_slice(&fs::read(out.join(&name)).unwrap());
            assert!(v.is_ok(), "{ctx}: build-info.json is not JSON");
        }
        seen.push(name);
    }
    seen
}

fn sums(out: &Path) -> String {
    fs::read_to_string(out.join("SHA256SUMS")).unwrap_or_default()
}

/// A project whose build takes a few seconds: the demo payload plus incompressible data.
fn slow_project(seed: u64) -> Project {
    let p = Project::new();
    let mut rng = Rng(seed | 1);
    let mut data = Vec::with_capacity(3 << 20);
    while data.len() < 3 << 20 {
        data.extend_from_slice(&rng.next().to_le_bytes());
    }
    fs::write(p.path().join("payload/lib/noise.bin"), data).unwrap();
    p
}

fn reference_sums(p: &Project) -> String {
    let o = p.build("reference", &["--no-cache"]);
    assert!(o.status.success(), "{}", text(&o));
    let s = sums(&p.path().join("reference"));
    assert!(s.lines().count() >= 5, "{s}");
    s
}

#[test]
fn sigkill_at_random_points_leaves_only_valid_artifacts() {
    let seed: u64 = std::env::var("LUCIA_PKG_KILL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_1234);
    let rounds: usize = std::env::var("LUCIA_PKG_KILL_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    let p = slow_project(seed);
    let reference = reference_sums(&p);
    // How long a full (uncached) build takes here; kills land anywhere in it.
    let t0 = Instant::now();
    let o = p.build("timing", &[]);
    assert!(o.status.success(), "{}", text(&o));
    let full = t0.elapsed();
    eprintln!(
        "seed {seed:#x}: a full build takes {:.1}s",
        full.as_secs_f64()
    );
    let out = p.path().join("out");
    let mut rng = Rng(seed);
    let mut killed_with_partial = 0;
    for round in 0..rounds {
        let ctx = format!("seed {seed:#x} round {round}");
        let _ = fs::remove_dir_all(&out);
        // Half the rounds start from an empty store so that real packaging work is interrupted;
        // the others resume from whatever the previous killed build left in the store.
        if rng.next() & 1 == 0 {
            let _ = fs::remove_dir_all(p.store());
        }
        let delay = Duration::from_millis(rng.next() % (full.as_millis() as u64 + 1));
        let mut child: Child = p
            .cmd(&["build", "--manifest", "lucia.toml", "--out", "out"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(delay);
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        if !temps_in(&out).is_empty() || !store_tmp(&p.store()).is_empty() {
            killed_with_partial += 1;
        }
        assert_out_dir_valid(&out, &ctx);
        // The next build cleans up, serves only sound store entries, and matches a clean build.
        let o = p.build("out", &[]);
        assert!(o.status.success(), "{ctx}: recovery build: {}", text(&o));
        assert_eq!(
            temps_in(&out),
            Vec::<String>::new(),
            "{ctx}: temp files left in the out dir"
        );
        assert_eq!(
            store_tmp(&p.store()),
            Vec::<String>::new(),
            "{ctx}: store .tmp not cleaned"
        );
        assert_eq!(
            sums(&out),
            reference,
            "{ctx}: recovered artifacts differ from a clean build"
        );
        assert_out_dir_valid(&out, &ctx);
    }
    eprintln!("{killed_with_partial}/{rounds} kills left temp files behind (all cleaned by the next build)");
    assert!(
        killed_with_partial > 0,
        "no kill landed mid-write: the test proves nothing (payload too small?)"
    );
}

fn wait_for_partial(out: &Path, store: &Path, limit: Duration) -> bool {
    let t0 = Instant::now();
    while t0.elapsed() < limit {
        if !temps_in(out).is_empty() || !store_tmp(store).is_empty() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    false
}

#[test]
fn sigint_and_sigterm_remove_partial_outputs() {
    let p = slow_project(7);
    for (sig, name, code) in [
        (libc::SIGINT, "SIGINT", 130),
        (libc::SIGTERM, "SIGTERM", 143),
        (libc::SIGHUP, "SIGHUP", 129),
    ] {
        let out = p.path().join("out");
        let _ = fs::remove_dir_all(&out);
        let _ = fs::remove_dir_all(p.store());
        let child = p
            .cmd(&["build", "--manifest", "lucia.toml", "--out", "out"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        assert!(
            wait_for_partial(&out, &p.store(), Duration::from_secs(120)),
            "{name}: the build never wrote anything"
        );
        std::thread::sleep(Duration::from_millis(200));
        // SAFETY: signalling our own child by pid.
        unsafe { libc::kill(child.id() as libc::pid_t, sig) };
        let o = child.wait_with_output().unwrap();
        let t = text(&o);
        if o.status.code() == Some(0) {
            eprintln!("{name}: the build finished before the signal arrived; nothing to check");
            continue;
        }
        assert_eq!(o.status.code(), Some(code), "{name}: {t}");
        assert!(!t.contains("panicked"), "{t}");
        assert_eq!(
            temps_in(&out),
            Vec::<String>::new(),
            "{name}: temp files left in the out dir"
        );
        assert_eq!(
            store_tmp(&p.store()),
            Vec::<String>::new(),
            "{name}: temp dirs left in the store"
        );
        assert_out_dir_valid(&out, name);
    }
}

#[test]
fn two_builds_into_one_out_dir_and_store_at_once() {
    let p = slow_project(11);
    let reference = reference_sums(&p);
    for round in 0..3 {
        let _ = fs::remove_dir_all(p.path().join("out"));
        let _ = fs::remove_dir_all(p.store());
        let spawn = || {
            p.cmd(&["build", "--manifest", "lucia.toml", "--out", "out"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        };
        let (a, b) = (spawn(), spawn());
        let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
        assert!(a.status.success(), "round {round} first: {}", text(&a));
        assert!(b.status.success(), "round {round} second: {}", text(&b));
        let out = p.path().join("out");
        assert_eq!(temps_in(&out), Vec::<String>::new());
        assert_eq!(store_tmp(&p.store()), Vec::<String>::new());
        assert_eq!(
            sums(&out),
            reference,
            "round {round}: concurrent builds differ from a clean build"
        );
        assert_out_dir_valid(&out, &format!("concurrent round {round}"));
    }
    // Two different out dirs sharing one store, at once.
    let _ = fs::remove_dir_all(p.store());
    let a = p
        .cmd(&["build", "--manifest", "lucia.toml", "--out", "o1"])
        .output();
    let b = p
        .cmd(&["build", "--manifest", "lucia.toml", "--out", "o2"])
        .spawn()
        .unwrap()
        .wait_with_output();
    let (a, b) = (a.unwrap(), b.unwrap());
    assert!(
        a.status.success() && b.status.success(),
        "{}{}",
        text(&a),
        text(&b)
    );
    assert_eq!(sums(&p.path().join("o1")), reference);
    assert_eq!(sums(&p.path().join("o2")), reference);
}

#[test]
fn a_full_disk_is_a_clear_error_without_partial_artifacts() {
    if !is_root() {
        eprintln!("SKIP full disk: mounting a tmpfs needs root");
        return;
    }
    let p = slow_project(3);
    for (what, target) in [("out dir", "out"), ("store", ".store")] {
        let m = p.path().join(target);
        fs::create_dir_all(&m).unwrap();
        let mnt = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=2m"])
            .arg("tmpfs")
            .arg(&m)
            .output()
            .unwrap();
        if !mnt.status.success() {
            eprintln!("SKIP full disk: cannot mount a tmpfs: {}", text(&mnt));
            return;
        }
        let o = p.build("out", &[]);
        let t = text(&o);
        let listing: Vec<String> = fs::read_dir(p.path().join("out"))
            .map(|d| {
                d.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        let temps = temps_in(&p.path().join("out"));
        let stemps = store_tmp(&p.store());
        let valid = std::panic::catch_unwind(|| assert_out_dir_valid(&p.path().join("out"), what));
        let _ = Command::new("umount").arg(&m).status();
        assert_eq!(
            o.status.code(),
            Some(1),
            "{what} on a full disk: expected exit 1:\n{t}"
        );
        assert!(
            t.contains("No space left on device"),
            "{what}: the error should say the disk is full:\n{t}"
        );
        assert!(!t.contains("panicked"), "{t}");
        assert!(temps.is_empty(), "{what}: temp files left: {temps:?}");
        assert!(
            stemps.is_empty(),
            "{what}: store temp dirs left: {stemps:?}"
        );
        assert!(
            valid.is_ok(),
            "{what}: invalid artifact under a final name in {listing:?}"
        );
        let _ = fs::remove_dir_all(p.path().join("out"));
    }
}

// ---------------------------------------------------------------------------------------------
// Security of what we ship
// ---------------------------------------------------------------------------------------------

const PASSPHRASE: &str = "MARKER-passphrase-3c9e1f7a";
const REGISTRY_PASSWORD: &str = "MARKER-registry-pw-8b2d4e60";
const ENV_SECRET_VALUE: &str = "marker-env-value-5f1a9c3e";

/// The example project (packaging/lucia.toml, amd64, every format), built once with secret
/// markers in the environment and a marker value in the env template.
fn example_build(t: &Path) -> (Output, PathBuf) {
    demo_binary();
    let src = repo().join("packaging/lucia.toml");
    let m = fs::read_to_string(&src).unwrap();
    let packaging = repo().join("packaging");
    let abs = |rel: &str| {
        packaging
            .join(rel)
            .canonicalize()
            .unwrap()
            .display()
            .to_string()
    };
    let env = t.join("lucia.env");
    let mut tmpl = fs::read_to_string(repo().join("systemd/lucia.env")).unwrap();
    tmpl.push_str(&format!("LUCIA_TEST_SETTING={ENV_SECRET_VALUE}\n"));
    fs::write(&env, tmpl).unwrap();
    let m = m
        .replace(
            "\"../target/demo-payload/amd64\"",
            &format!("\"{}\"", abs("../target/demo-payload/amd64")),
        )
        .replace(
            "\"../target/demo-payload/arm64\"",
            &format!("\"{}\"", abs("../target/demo-payload/arm64")),
        )
        .replace(
            "\"../systemd/lucia.service\"",
            &format!("\"{}\"", abs("../systemd/lucia.service")),
        )
        .replace(
            "\"../systemd/lucia.env\"",
            &format!("\"{}\"", env.display()),
        )
        .replace(
            "\"../systemd/README.service.md\"",
            &format!("\"{}\"", abs("../systemd/README.service.md")),
        );
    fs::write(t.join("lucia.toml"), m).unwrap();
    let out = t.join("out");
    let o = Command::new(bin())
        .args([
            "build",
            "--manifest",
            "lucia.toml",
            "--arch",
            "amd64",
            "--format",
            "all",
            "--out",
            "out",
        ])
        .current_dir(t)
        .env_remove("SOURCE_DATE_EPOCH")
        .env("LUCIA_PKG_STORE", t.join("store"))
        .env("LUCIA_PKG_SIGNING_PASSPHRASE", PASSPHRASE)
        .env("LUCIA_PKG_REGISTRY_PASSWORD", REGISTRY_PASSWORD)
        .env("LUCIA_PKG_REGISTRY_USER", "marker-user")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    (o, out)
}

fn grep_file(path: &Path, needle: &[u8]) -> bool {
    let mut data = Vec::new();
    fs::File::open(path)
        .unwrap()
        .read_to_end(&mut data)
        .unwrap();
    data.windows(needle.len()).any(|w| w == needle)
}

/// Decompressed bytes of a gzip/zstd/uncompressed blob.
fn decompressed(path: &Path) -> Vec<u8> {
    let raw = fs::read(path).unwrap();
    let cmd = if raw.starts_with(&[0x1f, 0x8b]) {
        Some("gzip")
    } else if raw.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Some("zstd")
    } else {
        None
    };
    match cmd {
        Some(c) => {
            Command::new(c)
                .args(["-dc"])
                .arg(path)
                .output()
                .unwrap()
                .stdout
        }
        None => raw,
    }
}

#[test]
fn secrets_and_modes_of_the_example_release() {
    let t = tempfile::tempdir().unwrap();
    let (o, out) = example_build(t.path());

    // Passphrase and registry password: never in the logs or build-info.json.
    let logs = text(&o);
    let info = fs::read_to_string(out.join("build-info.json")).unwrap();
    for m in [PASSPHRASE, REGISTRY_PASSWORD] {
        assert!(!logs.contains(m), "{m} printed by build");
        assert!(!info.contains(m), "{m} in build-info.json");
    }
    let o = Command::new(bin())
        .args([
            "--json",
            "build",
            "--manifest",
            "lucia.toml",
            "--arch",
            "amd64",
            "--out",
            "out",
        ])
        .current_dir(t.path())
        .env("LUCIA_PKG_STORE", t.path().join("store"))
        .env("LUCIA_PKG_SIGNING_PASSPHRASE", PASSPHRASE)
        .env("LUCIA_PKG_REGISTRY_PASSWORD", REGISTRY_PASSWORD)
        .output()
        .unwrap();
    assert!(o.status.success());
    assert!(!text(&o).contains(PASSPHRASE) && !text(&o).contains(REGISTRY_PASSWORD));
    // A failing push (nothing listens on port 9) must not echo the password either.
    let o = Command::new(bin())
        .args([
            "-v",
            "push",
            "out/lucia-1.0.0-oci",
            "--to",
            "127.0.0.1:9/lucia:test",
        ])
        .current_dir(t.path())
        .env("LUCIA_PKG_REGISTRY_USER", "marker-user")
        .env("LUCIA_PKG_REGISTRY_PASSWORD", REGISTRY_PASSWORD)
        .output()
        .unwrap();
    assert!(!o.status.success(), "push to a closed port succeeded?");
    assert!(
        !text(&o).contains(REGISTRY_PASSWORD),
        "push printed the password: {}",
        text(&o)
    );
    assert!(!text(&o).contains("panicked"), "{}", text(&o));
    // A configured signing key this binary cannot use: refused, passphrase and key bytes unprinted.
    let key = t.path().join("signing.asc");
    fs::write(&key, "-----BEGIN PGP PRIVATE KEY BLOCK-----\nmarker-key-bytes-77aa\n-----END PGP PRIVATE KEY BLOCK-----\n").unwrap();
    let m = fs::read_to_string(t.path().join("lucia.toml")).unwrap();
    fs::write(
        t.path().join("signed.toml"),
        m.replace(
            "[rpm]\n",
            &format!("[rpm]\nsigning-key = \"{}\"\n", key.display()),
        ),
    )
    .unwrap();
    let o = Command::new(bin())
        .args([
            "build",
            "--manifest",
            "signed.toml",
            "--arch",
            "amd64",
            "--format",
            "rpm",
            "--out",
            "signed-out",
        ])
        .current_dir(t.path())
        .env("LUCIA_PKG_STORE", t.path().join("store"))
        .env("LUCIA_PKG_SIGNING_PASSPHRASE", PASSPHRASE)
        .output()
        .unwrap();
    let lt = text(&o);
    assert!(
        !lt.contains(PASSPHRASE) && !lt.contains("marker-key-bytes-77aa"),
        "{lt}"
    );
    assert!(!lt.contains("panicked"), "{lt}");
    if let Ok(info) = fs::read_to_string(t.path().join("signed-out/build-info.json")) {
        assert!(!info.contains(PASSPHRASE) && !info.contains("marker-key-bytes-77aa"));
    }

    // The env file: 0640 root:lucia in the deb, the rpm and the tarball install.
    let deb = listing("dpkg-deb", &["-c", "lucia_1.0.0-1_amd64.deb"], &out);
    let line = deb
        .lines()
        .find(|l| l.ends_with("./etc/lucia/lucia.env"))
        .unwrap_or_else(|| panic!("deb: no env file\n{deb}"));
    assert!(line.starts_with("-rw-r----- root/lucia "), "deb: {line}");
    let rpm = listing("rpm", &["-qlvp", "lucia-1.0.0-1.x86_64.rpm"], &out);
    let line = rpm
        .lines()
        .find(|l| l.ends_with(" /etc/lucia/lucia.env"))
        .unwrap_or_else(|| panic!("rpm: no env file\n{rpm}"));
    let cols: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(
        (cols[0], cols[2], cols[3]),
        ("-rw-r-----", "root", "lucia"),
        "rpm: {line}"
    );
    let x = t.path().join("x");
    fs::create_dir_all(&x).unwrap();
    assert!(tool(
        "tar",
        &[
            "-xzf",
            out.join("lucia-1.0.0-linux-amd64.tar.gz").to_str().unwrap()
        ],
        &x
    )
    .status
    .success());
    let manifest = fs::read_to_string(x.join("lucia-1.0.0/MANIFEST")).unwrap_or_default();
    let mline = manifest
        .lines()
        .find(|l| l.contains("etc/lucia/lucia.env"))
        .unwrap_or_else(|| panic!("tarball MANIFEST has no env file:\n{manifest}"));
    assert!(
        mline.contains("0640") && mline.contains("root") && mline.contains("lucia"),
        "MANIFEST: {mline}"
    );
    if is_root() {
        let dest = t.path().join("dest");
        let o = Command::new("sh")
            .arg("lucia-1.0.0/install.sh")
            .env("DESTDIR", &dest)
            .current_dir(&x)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", text(&o));
        let md = fs::metadata(dest.join("etc/lucia/lucia.env")).unwrap();
        assert_eq!(md.permissions().mode() & 0o7777, 0o640);
        use std::os::unix::fs::MetadataExt;
        assert_eq!(md.uid(), 0, "env file owner");
        // In a DESTDIR the lucia group may not exist on the build host; install.sh then leaves
        // the group to the service's first start. If it exists, it must be used.
        let gid = Command::new("getent")
            .args(["group", "lucia"])
            .output()
            .unwrap();
        if gid.status.success() {
            let g: u32 = String::from_utf8_lossy(&gid.stdout)
                .split(':')
                .nth(2)
                .unwrap()
                .parse()
                .unwrap();
            assert_eq!(md.gid(), g, "env file group");
        }
    } else {
        eprintln!("SKIP install.sh ownership: needs root");
    }

    // Nothing from the env template in the OCI image: no config, manifest or layer holds it.
    let layout = out.join("lucia-1.0.0-oci");
    let mut blobs = 0;
    for b in fs::read_dir(layout.join("blobs/sha256")).unwrap().flatten() {
        let data = decompressed(&b.path());
        assert!(
            !data
                .windows(ENV_SECRET_VALUE.len())
                .any(|w| w == ENV_SECRET_VALUE.as_bytes()),
            "env template value in OCI blob {}",
            b.file_name().to_string_lossy()
        );
        blobs += 1;
    }
    assert!(blobs >= 3);
    for c in oci_configs(&layout) {
        assert!(
            !grep_file(&c, b"LUCIA_TEST_SETTING"),
            "env template key in the OCI config"
        );
    }
    assert!(!grep_file(
        &out.join("lucia-1.0.0-oci.tar"),
        ENV_SECRET_VALUE.as_bytes()
    ));

    // No packaged file is world-writable (symlinks aside, whose mode means nothing).
    for a in [
        "lucia_1.0.0-1_amd64.deb",
        "lucia-1.0.0-1.x86_64.rpm",
        "lucia-1.0.0-linux-amd64.tar.gz",
    ] {
        let o = Command::new(bin())
            .args(["--json", "inspect"])
            .arg(out.join(a))
            .output()
            .unwrap();
        assert!(o.status.success(), "inspect {a}: {}", text(&o));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        let mut checked = 0;
        walk_modes(&v, &mut |path, kind, mode| {
            checked += 1;
            if kind != "symlink" {
                assert_eq!(
                    mode & 0o002,
                    0,
                    "{a}: {path} is world-writable ({:o})",
                    mode & 0o7777
                );
            }
        });
        assert!(
            checked > 5,
            "{a}: inspect --json listed only {checked} files with modes: {v}"
        );
    }
    // OCI: `inspect` reports manifests and layers, not files, so every layer is listed by tar
    // (and both OCI outputs must still inspect cleanly).
    for a in ["lucia-1.0.0-oci", "lucia-1.0.0-oci.tar"] {
        let o = Command::new(bin())
            .args(["--json", "inspect"])
            .arg(out.join(a))
            .output()
            .unwrap();
        assert!(o.status.success(), "inspect {a}: {}", text(&o));
    }
    let mut checked = 0;
    for layer in oci_layers(&layout) {
        let l = listing("tar", &["-tvf", layer.to_str().unwrap()], &out);
        for line in l.lines() {
            checked += 1;
            let perms = line
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .as_bytes();
            assert!(perms.len() == 10, "unexpected tar listing line: {line}");
            if perms[0] != b'l' {
                assert_ne!(
                    perms[8],
                    b'w',
                    "OCI layer {}: world-writable: {line}",
                    layer.display()
                );
            }
        }
    }
    assert!(checked > 5, "OCI layers list only {checked} members");
}

/// `-rwxr-x---`-style modes (the rpm report) with the file type bits.
fn symbolic_mode(s: &str) -> Option<u32> {
    let b = s.as_bytes();
    if b.len() != 10 || !b"-dlcbps".contains(&b[0]) {
        return None;
    }
    let kind = match b[0] {
        b'd' => 0o040000,
        b'l' => 0o120000,
        _ => 0o100000,
    };
    let mut bits = 0;
    for (i, c) in b[1..].iter().enumerate() {
        if *c != b'-' {
            bits |= 1 << (8 - i);
        }
    }
    Some(kind | bits)
}

/// Calls `f(path, kind, mode)` for every JSON object carrying a `mode` (octal string or number)
/// in an `inspect --json` report, whatever the format's report shape.
fn walk_modes(v: &serde_json::Value, f: &mut dyn FnMut(&str, &str, u32)) {
    match v {
        serde_json::Value::Object(o) => {
            if let Some(m) = o.get("mode") {
                let mode = match m {
                    serde_json::Value::String(s) => symbolic_mode(s)
                        .or_else(|| u32::from_str_radix(s.trim_start_matches("0o"), 8).ok()),
                    serde_json::Value::Number(n) => n.as_u64().map(|n| n as u32),
                    _ => None,
                };
                if let Some(mode) = mode {
                    let path = o
                        .get("path")
                        .or_else(|| o.get("name"))
                        .and_then(|p| p.as_str())
                        .unwrap_or("?");
                    let kind = o
                        .get("kind")
                        .or_else(|| o.get("type"))
                        .and_then(|p| p.as_str())
                        .unwrap_or("");
                    let kind = if kind.is_empty() && (mode & 0o170000) == 0o120000 {
                        "symlink"
                    } else {
                        kind
                    };
                    f(path, kind, mode);
                }
            }
            for x in o.values() {
                walk_modes(x, f);
            }
        }
        serde_json::Value::Array(a) => {
            for x in a {
                walk_modes(x, f);
            }
        }
        _ => {}
    }
}
