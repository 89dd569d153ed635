//! The out directory as a user (or someone else with write access to it) meets it: temp names
//! and final names with planted symlinks never redirect a write (issue 13), a reused out dir
//! holds exactly what SHA256SUMS lists (issue 14 bug 4), and build-info.json names inputs the
//! same way whatever the checkout path and however `-m` is spelled (issue 14 bug 5).

use std::collections::BTreeSet;
use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

mod common;
use common::*;

fn manifest(name: &str, version: &str, formats: &str) -> String {
    format!(
        r#"[package]
name = "{name}"
version = "{version}"
release = "1"
summary = "demo service"
license = "MIT"
maintainer = "Demo <demo@example.org>"
source-date-epoch = 1700000000
arches = ["amd64", "arm64"]
formats = [{formats}]

[payload]
install-dir = "/opt/demo"
entrypoint = "demo"

[payload.amd64]
path = "payload/amd64"

[payload.arm64]
path = "payload/arm64"

[service]
unit = "demo.service"
user = "demo"
state-dirs = ["/var/lib/demo"]

[service.env]
template = "demo.env"
path = "/etc/demo/demo.env"

[tar]
compression = "gzip:1"

[deb]
compression = "gzip:1"

[rpm]
compression = "gzip:1"

[oci]
compression = "gzip:1"
"#
    )
}

const ALL: &str = r#""tar", "deb", "rpm", "oci""#;

/// Writes a small two-arch project into `dir` with the manifest `lucia.toml`.
fn project_in(dir: &Path, manifest_text: &str) {
    for (arch, machine) in [("amd64", 62u16), ("arm64", 183)] {
        let p = dir.join("payload").join(arch);
        fs::create_dir_all(p.join("lib")).unwrap();
        fs::write(p.join("demo"), fake_elf(machine)).unwrap();
        fs::set_permissions(p.join("demo"), fs::Permissions::from_mode(0o755)).unwrap();
        fs::write(p.join("lib/data.txt"), format!("data for {arch}\n")).unwrap();
    }
    fs::write(
        dir.join("demo.service"),
        "[Service]\nUser=demo\nExecStart=/opt/demo/demo\n",
    )
    .unwrap();
    fs::write(dir.join("demo.env"), "PORT=8080\n").unwrap();
    fs::write(dir.join("lucia.toml"), manifest_text).unwrap();
}

/// `args` with `-m lucia.toml` after the subcommand unless a manifest is named.
fn with_manifest<'a>(args: &[&'a str]) -> Vec<&'a str> {
    let mut v = args.to_vec();
    if !args.contains(&"-m") {
        v.splice(1..1, ["-m", "lucia.toml"]);
    }
    v
}

fn lucia(dir: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(bin());
    c.args(with_manifest(args))
        .current_dir(dir)
        .env_remove("SOURCE_DATE_EPOCH")
        .env("LUCIA_PKG_STORE", dir.join(".store"));
    c
}

fn run(dir: &Path, args: &[&str]) -> Output {
    lucia(dir, args).output().expect("run lucia-pkg")
}

fn assert_ok(o: &Output) {
    assert!(o.status.success(), "{}", text(o));
}

fn assert_no_panic(o: &Output) {
    let t = text(o);
    assert!(!t.contains("panicked"), "{t}");
    assert!(
        matches!(o.status.code(), Some(0..=2)),
        "exit {:?}: {t}",
        o.status.code()
    );
}

/// Top-level names in `out`.
fn listing(out: &Path) -> BTreeSet<String> {
    fs::read_dir(out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

/// The top-level names SHA256SUMS lists, plus SHA256SUMS itself.
fn listed(out: &Path) -> BTreeSet<String> {
    let sums = fs::read_to_string(out.join("SHA256SUMS")).unwrap();
    let mut v: BTreeSet<String> = sums
        .lines()
        .map(|l| {
            let name = l.split_once("  ").unwrap().1;
            name.split('/').next().unwrap().to_string()
        })
        .collect();
    v.insert("SHA256SUMS".into());
    v
}

fn sha256sum_c(out: &Path) {
    let o = Command::new("sha256sum")
        .args(["-c", "--quiet", "SHA256SUMS"])
        .current_dir(out)
        .output()
        .unwrap();
    assert!(o.status.success(), "sha256sum -c: {}", text(&o));
}

/// The out dir holds exactly what its SHA256SUMS lists, and every sum checks.
fn assert_exact(out: &Path) {
    assert_eq!(listing(out), listed(out), "out dir vs SHA256SUMS");
    sha256sum_c(out);
}

/// Runs a build whose pid is known before it starts: a shell prints its pid, waits for a line
/// on stdin, then execs lucia-pkg (same pid). `plant` gets the pid in between.
fn run_with_pid(dir: &Path, args: &[&str], plant: impl FnOnce(u32)) -> Output {
    let mut c = Command::new("sh");
    c.arg("-c")
        .arg("echo $$; read _go; exec \"$0\" \"$@\"")
        .arg(bin())
        .args(with_manifest(args))
        .current_dir(dir)
        .env_remove("SOURCE_DATE_EPOCH")
        .env("LUCIA_PKG_STORE", dir.join(".store"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    let pid: u32 = line.trim().parse().unwrap();
    plant(pid);
    child.stdin.take().unwrap().write_all(b"go\n").unwrap();
    let mut rest = Vec::new();
    std::io::Read::read_to_end(&mut out, &mut rest).unwrap();
    let mut o = child.wait_with_output().unwrap();
    o.stdout = rest;
    o
}

/// Names a build of the project makes, from a build into a scratch out dir.
fn output_names(dir: &Path) -> Vec<String> {
    let o = run(dir, &["build", "--no-cache", "-q", "-o", "scratch"]);
    assert_ok(&o);
    let info: serde_json::Value =
        serde_json::from_slice(&fs::read(dir.join("scratch/build-info.json")).unwrap()).unwrap();
    let mut names: Vec<String> = info["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["name"].as_str().unwrap().to_string())
        .collect();
    names.extend(["SHA256SUMS".to_string(), "build-info.json".to_string()]);
    fs::remove_dir_all(dir.join("scratch")).unwrap();
    names
}

fn tree(p: &Path) -> Vec<(PathBuf, String)> {
    let mut v = Vec::new();
    for e in walk(p) {
        let data = if e.is_file() {
            fs::read(&e).unwrap()
        } else {
            Vec::new()
        };
        v.push((e, String::from_utf8_lossy(&data).into_owned()));
    }
    v
}

fn walk(p: &Path) -> Vec<PathBuf> {
    let mut v = vec![p.to_path_buf()];
    if fs::symlink_metadata(p).unwrap().is_dir() {
        let mut names: Vec<_> = fs::read_dir(p)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        names.sort();
        for n in names {
            v.extend(walk(&n));
        }
    }
    v
}

/// Issue 13 item 3: symlinks planted at every predictable temp name the build used to write
/// through (`.<name>.lucia-tmp-<pid>`, `…-old`) and at the final names never redirect a write:
/// the files and the directory they point at stay untouched, and the build replaces the links.
#[test]
fn planted_symlinks_never_redirect_writes() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("project");
    fs::create_dir_all(&dir).unwrap();
    project_in(&dir, &manifest("demo", "1.0.0", ALL));
    let names = output_names(&dir);
    let victims = t.path().join("victims");
    fs::create_dir_all(victims.join("dir")).unwrap();
    fs::write(victims.join("file"), "precious\n").unwrap();
    fs::write(victims.join("dir/keep"), "precious too\n").unwrap();
    let before = tree(&victims);

    for (i, cache) in [true, false].into_iter().enumerate() {
        let out = dir.join(format!("out{i}"));
        fs::create_dir_all(&out).unwrap();
        let mut args = vec!["build", "-q", "-o"];
        let out_name = format!("out{i}");
        args.push(&out_name);
        if !cache {
            args.push("--no-cache");
        }
        let o = run_with_pid(&dir, &args, |pid| {
            for n in &names {
                let dir_like = n.ends_with("-oci") || n.ends_with("-deploy");
                let target = if dir_like {
                    victims.join("dir")
                } else {
                    victims.join("file")
                };
                for tmp in [
                    format!(".{n}.lucia-tmp-{pid}"),
                    format!(".{n}.lucia-tmp-{pid}-old"),
                ] {
                    symlink(&target, out.join(tmp)).unwrap();
                }
                // Final names too: the build must replace the link, not write through it.
                symlink(&target, out.join(n)).unwrap();
            }
        });
        assert_no_panic(&o);
        assert_eq!(
            tree(&victims),
            before,
            "a planted symlink redirected a write (cache: {cache}): {}",
            text(&o)
        );
        assert_ok(&o);
        // Every planted link is gone (replaced or removed) and the out dir is exactly the set.
        for e in walk(&out) {
            assert!(
                !fs::symlink_metadata(&e).unwrap().file_type().is_symlink(),
                "{} is still a symlink",
                e.display()
            );
        }
        assert_exact(&out);
    }
}

/// Issue 14 bug 4: both arches, then `-a amd64`, then a new version, into one out dir: each
/// time the out dir holds exactly what SHA256SUMS lists.
#[test]
fn reused_out_dir_holds_exactly_what_sha256sums_lists() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path();
    project_in(dir, &manifest("demo", "1.0.0", r#""tar", "deb", "oci""#));
    assert_ok(&run(dir, &["build", "-q", "-o", "dist"]));
    let out = dir.join("dist");
    assert!(listing(&out).contains("demo_1.0.0-1_arm64.deb"));
    assert_exact(&out);

    let o = run(dir, &["build", "-q", "-a", "amd64", "-o", "dist"]);
    assert_ok(&o);
    assert_exact(&out);
    let names = listing(&out);
    assert!(!names.iter().any(|n| n.contains("arm64")), "{names:?}");
    assert!(names.contains("demo_1.0.0-1_amd64.deb"), "{names:?}");
    assert!(text(&o).contains("removed from"), "{}", text(&o));

    // Fewer formats, without the store.
    assert_ok(&run(
        dir,
        &["build", "-q", "--no-cache", "-f", "tar", "-o", "dist"],
    ));
    assert_exact(&out);
    assert!(!listing(&out).iter().any(|n| n.contains("oci")));

    // A new version replaces the old one's files.
    fs::write(
        dir.join("lucia.toml"),
        manifest("demo", "1.0.1", r#""tar", "deb", "oci""#),
    )
    .unwrap();
    assert_ok(&run(dir, &["build", "-q", "-o", "dist"]));
    assert_exact(&out);
    assert!(!listing(&out).iter().any(|n| n.contains("1.0.0")));
}

/// A file no build recorded is never deleted without `--clean`: the build is refused (exit 2,
/// naming it) before anything is written; `--clean` removes it.
#[test]
fn unknown_files_are_refused_unless_clean() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path();
    project_in(dir, &manifest("demo", "1.0.0", r#""tar""#));
    // A fresh non-empty dir with no build-info.json.
    fs::create_dir_all(dir.join("dist")).unwrap();
    fs::write(dir.join("dist/notes.txt"), "mine\n").unwrap();
    let o = run(dir, &["build", "-q", "-o", "dist"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("`notes.txt`"), "{}", text(&o));
    assert!(text(&o).contains("--clean"), "{}", text(&o));
    assert_eq!(
        listing(&dir.join("dist")),
        BTreeSet::from(["notes.txt".into()])
    );

    // After a good build, a stray file is refused too, and the out dir is left as it was.
    fs::remove_file(dir.join("dist/notes.txt")).unwrap();
    assert_ok(&run(dir, &["build", "-q", "-o", "dist"]));
    let sums = fs::read(dir.join("dist/SHA256SUMS")).unwrap();
    fs::write(dir.join("dist/notes.txt"), "mine\n").unwrap();
    fs::create_dir(dir.join("dist/subdir")).unwrap();
    let o = run(dir, &["build", "-q", "-a", "amd64", "-o", "dist"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("`notes.txt`, `subdir`"), "{}", text(&o));
    assert!(dir.join("dist/demo-1.0.0-linux-arm64.tar.gz").exists());
    assert_eq!(fs::read(dir.join("dist/SHA256SUMS")).unwrap(), sums);

    let o = run(
        dir,
        &["build", "-q", "-a", "amd64", "--clean", "-o", "dist"],
    );
    assert_ok(&o);
    assert_exact(&dir.join("dist"));
    assert!(!dir.join("dist/notes.txt").exists());

    // Another package's build is not ours to delete.
    fs::write(
        dir.join("lucia.toml"),
        manifest("other", "1.0.0", r#""tar""#),
    )
    .unwrap();
    let o = run(dir, &["build", "-q", "-o", "dist"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("from package `demo`, not `other`"),
        "{}",
        text(&o)
    );
    assert!(dir.join("dist/demo-1.0.0-linux-amd64.tar.gz").exists());

    // --clean never empties a directory holding the manifest.
    let o = run(dir, &["build", "-q", "--clean", "-o", "."]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("contains the manifest"), "{}", text(&o));
    assert!(dir.join("demo.service").exists());
}

/// Issue 14 bug 5: `-m lucia.toml` and `-m ./lucia.toml`, from two checkout paths, give the
/// same build-info.json and SHA256SUMS byte for byte, with no absolute path in them.
#[test]
fn build_info_is_the_same_whatever_the_manifest_spelling_and_checkout_path() {
    let t = tempfile::tempdir().unwrap();
    let mut seen: Vec<(String, Vec<u8>, Vec<u8>)> = Vec::new();
    for checkout in ["a", "a-much/longer/checkout-path"] {
        let dir = t.path().join(checkout);
        fs::create_dir_all(&dir).unwrap();
        project_in(&dir, &manifest("demo", "1.0.0", r#""tar""#));
        fs::rename(dir.join("lucia.toml"), dir.join("hw2.toml")).unwrap();
        for (i, m) in ["hw2.toml", "./hw2.toml"].iter().enumerate() {
            let out = format!("out{i}");
            assert_ok(&run(
                &dir,
                &["build", "-q", "--no-cache", "-m", m, "-o", &out],
            ));
            let info = fs::read(dir.join(&out).join("build-info.json")).unwrap();
            let sums = fs::read(dir.join(&out).join("SHA256SUMS")).unwrap();
            let s = String::from_utf8_lossy(&info);
            assert!(
                !s.contains(&*t.path().to_string_lossy()) && !s.contains("\"/"),
                "absolute path in build-info.json (-m {m}):\n{s}"
            );
            seen.push((format!("{checkout} -m {m}"), info, sums));
        }
    }
    for (what, info, sums) in &seen[1..] {
        assert_eq!(
            String::from_utf8_lossy(info),
            String::from_utf8_lossy(&seen[0].1),
            "build-info.json: {what} vs {}",
            seen[0].0
        );
        assert_eq!(sums, &seen[0].2, "SHA256SUMS: {what} vs {}", seen[0].0);
    }
}
