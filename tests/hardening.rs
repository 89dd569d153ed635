//! Hardening of what a build accepts (issue 13): the image never runs as root by accident,
//! secrets never reach an artifact through any config file or image field, nothing builds that an
//! installer cannot install (name lengths checked by really installing with dpkg, rpm and
//! install.sh), OCI whiteout names and control characters in symlink targets are refused.
//!
//! Each test drives the real binary on a small service-less project made at run time; the
//! install test needs root (dpkg/rpm into a scratch root) and skips without it unless
//! `LUCIA_E2E_REQUIRED=1`.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

mod common;
use common::*;

/// A provider token, and a password that only its context (a connection string, a URL) reveals.
const SECRET: &str = "sk-Zq81vLm2Pz9Rt4Vw8Ys3Kb6Nc1Xq7Lm2";
const PASSWORD: &str = "hunter2-qq7Lm2Pz9";

/// A service-less project: a shell-script entrypoint, one data file, every format at gzip:1.
struct Project {
    dir: tempfile::TempDir,
}

const BASE: &str = r#"[package]
name = "hw"
version = "1.0.0"
summary = "hardening probe"
license = "MIT"
maintainer = "Probe <probe@example.org>"
source-date-epoch = 1700000000
arches = ["amd64"]
formats = FORMATS

[payload]
install-dir = "/opt/hw"
entrypoint = "run"

[payload.amd64]
path = "payload"

[tar]
compression = "gzip:1"

[deb]
compression = "gzip:1"

[rpm]
compression = "gzip:1"

[oci]
compression = "gzip:1"
"#;

impl Project {
    fn new(extra: &str) -> Project {
        Self::with_formats(r#"["tar", "deb", "rpm", "oci"]"#, extra)
    }

    fn with_formats(formats: &str, extra: &str) -> Project {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path();
        fs::create_dir_all(p.join("payload")).unwrap();
        fs::write(p.join("payload/run"), "#!/bin/sh\necho hw\n").unwrap();
        fs::set_permissions(p.join("payload/run"), fs::Permissions::from_mode(0o755)).unwrap();
        fs::write(p.join("payload/data.txt"), "data\n").unwrap();
        let manifest = BASE.replace("FORMATS", formats);
        fs::write(p.join("hw.toml"), format!("{manifest}{extra}")).unwrap();
        Project { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn cmd(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_lucia-pkg"))
            .args(args)
            .current_dir(self.path())
            .env_remove("SOURCE_DATE_EPOCH")
            .env("LUCIA_PKG_STORE", self.path().join(".store"))
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    fn check(&self) -> Output {
        self.cmd(&["check", "-m", "hw.toml"])
    }

    fn build(&self) -> Output {
        self.cmd(&["build", "-m", "hw.toml", "-o", "out"])
    }

    /// A line:column location of `needle`'s first occurrence in the manifest, as errors print it.
    fn location_of(&self, needle: &str) -> String {
        let src = fs::read_to_string(self.path().join("hw.toml")).unwrap();
        let at = src
            .find(needle)
            .unwrap_or_else(|| panic!("{needle} not in manifest"));
        let line = src[..at].matches('\n').count() + 1;
        let col = at - src[..at].rfind('\n').map(|i| i + 1).unwrap_or(0) + 1;
        format!("hw.toml:{line}:{col}")
    }
}

/// Exit 2 with every needle in the output, no panic, nothing in the out dir.
fn assert_refused(p: &Project, o: &Output, needles: &[&str], case: &str) {
    let t = text(o);
    assert_eq!(o.status.code(), Some(2), "{case}: expected exit 2:\n{t}");
    for n in needles {
        assert!(t.contains(n), "{case}: expected `{n}` in:\n{t}");
    }
    assert!(!t.contains("panicked"), "{case}: {t}");
    let left: Vec<_> = fs::read_dir(p.path().join("out"))
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "{case}: a refused build wrote {left:?}");
}

// ---------------------------------------------------------------------------------------------
// The image user
// ---------------------------------------------------------------------------------------------

#[test]
fn every_spelling_of_root_is_refused_as_the_image_user() {
    for user in [
        "0",
        "0000",
        "00:00",
        "0:1000",
        "000:65532",
        "root",
        "root:root",
    ] {
        let p = Project::new(&format!("user = \"{user}\"\n"));
        let loc = p.location_of(&format!("\"{user}\"\n"));
        let o = p.check();
        assert_refused(&p, &o, &[&loc, "would run as root", "allow-root"], user);
        let o = p.build();
        assert_refused(&p, &o, &[&loc], user);
    }
    // An explicit opt-in is honoured.
    let p = Project::new("user = \"0:0\"\nallow-root = true\n");
    let o = p.check();
    assert!(o.status.success(), "allow-root: {}", text(&o));
}

#[test]
fn malformed_image_users_are_refused_with_a_location() {
    for user in [
        "1000:",
        ":1000",
        "1:2:3",
        "99999999999",
        "Root",
        "a b",
        "1000\\n",
    ] {
        let p = Project::new(&format!("user = \"{user}\"\n"));
        let loc = p.location_of(&format!("\"{user}\"\n"));
        let o = p.check();
        assert_refused(&p, &o, &[&loc], user);
    }
}

#[test]
fn image_repository_and_tags_are_validated_where_written() {
    for repo in [
        "user:hunter2@ghcr.io/example/app",
        "https://hunter2@ghcr.io/example/app",
    ] {
        let p = Project::new(&format!("repository = \"{repo}\"\n"));
        let loc = p.location_of(&format!("\"{repo}\"\n"));
        let o = p.check();
        assert_refused(
            &p,
            &o,
            &[&loc, "must not carry a scheme or credentials"],
            repo,
        );
        assert!(!text(&o).contains("hunter2"), "{repo}: credentials echoed");
    }
    for repo in [
        "ghcr.io/Example/app",
        "ghcr.io/example/app:latest",
        "ghcr.io/example/app@sha256:00",
        "ghcr.io/example/app\\nx",
        "ghcr.io/example app",
        "",
    ] {
        let p = Project::new(&format!("repository = \"{repo}\"\n"));
        let loc = p.location_of(&format!("\"{repo}\"\n"));
        let o = p.check();
        assert_refused(&p, &o, &[&loc, "not an image repository"], repo);
    }
    for repo in [
        "app",
        "ghcr.io/example/app",
        "localhost:5000/a/b-c",
        "127.0.0.1:5000/x__y",
    ] {
        let p = Project::new(&format!("repository = \"{repo}\"\n"));
        let o = p.check();
        assert!(o.status.success(), "{repo}: {}", text(&o));
    }
    for tag in ["-rc", ".hidden", "a b", "x/y", "v1\\nv2", ""] {
        let p = Project::new(&format!("tags = [\"{tag}\"]\n"));
        let loc = p.location_of(&format!("\"{tag}\"]"));
        let o = p.check();
        assert_refused(&p, &o, &[&loc, "not an image tag"], tag);
    }
    let p = Project::new("tags = [\"latest\", \"1.0\", \"v1.0.0-rc.1\", \"_x\"]\n");
    let o = p.check();
    assert!(o.status.success(), "{}", text(&o));
}

#[test]
fn a_service_with_uid_zero_does_not_make_a_root_image() {
    let p = Project::new("");
    fs::write(
        p.path().join("hw.service"),
        "[Service]\nUser=hw\nExecStart=/opt/hw/run\n",
    )
    .unwrap();
    let manifest = fs::read_to_string(p.path().join("hw.toml")).unwrap();
    fs::write(
        p.path().join("hw.toml"),
        format!("{manifest}\n[service]\nunit = \"hw.service\"\nuser = \"hw\"\nuid = 0\n"),
    )
    .unwrap();
    let o = p.check();
    assert_refused(&p, &o, &["service.uid = 0", "root"], "uid 0");
}

/// The image config's `User` of the one platform built.
fn image_user(p: &Project) -> String {
    let layout = p.path().join("out/hw-1.0.0-oci");
    let read = |d: &str| -> serde_json::Value {
        let hex = d.strip_prefix("sha256:").unwrap();
        serde_json::from_slice(&fs::read(layout.join("blobs/sha256").join(hex)).unwrap()).unwrap()
    };
    let index: serde_json::Value =
        serde_json::from_slice(&fs::read(layout.join("index.json")).unwrap()).unwrap();
    let mut desc = index["manifests"][0].clone();
    // index.json → (image index →) image manifest → config
    loop {
        let doc = read(desc["digest"].as_str().unwrap());
        if let Some(m) = doc.get("manifests") {
            desc = m[0].clone();
            continue;
        }
        let config = read(doc["config"]["digest"].as_str().unwrap());
        return config["config"]["User"].as_str().unwrap_or("").to_string();
    }
}

#[test]
fn the_default_image_user_is_unprivileged_and_documented() {
    let p = Project::with_formats(r#"["oci"]"#, "");
    let o = p.build();
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(image_user(&p), "65532:65532");
    let doc = fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/manifest.md")).unwrap();
    assert!(
        doc.contains("65532:65532"),
        "docs/manifest.md names the default"
    );

    // Leading zeros are normalized in the config.
    let p = Project::with_formats(r#"["oci"]"#, "user = \"01100:01100\"\n");
    let o = p.build();
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(image_user(&p), "1100:1100");
}

// ---------------------------------------------------------------------------------------------
// Secrets
// ---------------------------------------------------------------------------------------------

/// Refused, naming where, and the value appears in no output (text or JSON).
fn assert_secret_refused(p: &Project, needles: &[&str], case: &str) {
    let o = p.build();
    assert_refused(p, &o, needles, case);
    for hidden in [SECRET, PASSWORD] {
        assert!(!text(&o).contains(hidden), "{case}: the value was printed");
    }
    let o = p.cmd(&["--json", "check", "-m", "hw.toml"]);
    assert_eq!(o.status.code(), Some(2), "{case}: {}", text(&o));
    for hidden in [SECRET, PASSWORD] {
        assert!(!text(&o).contains(hidden), "{case}: the value was printed");
    }
}

#[test]
fn secrets_in_config_files_under_etc_are_refused() {
    let p = Project::new("");
    fs::write(
        p.path().join("app.conf"),
        format!("# app settings\nLOG_LEVEL=info\nOPENAI_API_KEY={SECRET}\n"),
    )
    .unwrap();
    let manifest = fs::read_to_string(p.path().join("hw.toml")).unwrap();
    fs::write(
        p.path().join("hw.toml"),
        format!("{manifest}\n[[files]]\nsrc = \"app.conf\"\ndest = \"/etc/hw/app.conf\"\n"),
    )
    .unwrap();
    assert_secret_refused(&p, &["app.conf", "line 3", "OPENAI_API_KEY"], "[[files]]");

    // The same file elsewhere than /etc is documentation, not configuration: not scanned.
    let manifest = fs::read_to_string(p.path().join("hw.toml")).unwrap();
    fs::write(
        p.path().join("hw.toml"),
        manifest.replace("/etc/hw/app.conf", "/usr/share/doc/hw/app.conf"),
    )
    .unwrap();
    let o = p.check();
    assert!(o.status.success(), "{}", text(&o));
}

#[test]
fn connection_strings_in_the_env_template_are_refused() {
    let p = Project::new("");
    fs::write(
        p.path().join("hw.service"),
        "[Service]\nUser=hw\nExecStart=/opt/hw/run\n",
    )
    .unwrap();
    fs::write(
        p.path().join("hw.env"),
        format!("ConnectionStrings__redis=redis:6379,password={PASSWORD}\n"),
    )
    .unwrap();
    let manifest = fs::read_to_string(p.path().join("hw.toml")).unwrap();
    fs::write(
        p.path().join("hw.toml"),
        format!(
            "{manifest}\n[service]\nunit = \"hw.service\"\nuser = \"hw\"\n\n[service.env]\ntemplate = \"hw.env\"\npath = \"/etc/hw/hw.env\"\n"
        ),
    )
    .unwrap();
    assert_secret_refused(&p, &["hw.env", "line 1", "ConnectionStrings__redis"], "env");
}

#[test]
fn secrets_in_image_env_and_labels_are_refused_with_a_location() {
    for (table, key, value) in [
        ("env", "OPENAI_API_KEY", SECRET.to_string()),
        (
            "env",
            "ConnectionStrings__db",
            format!("Host=db;Password={PASSWORD}"),
        ),
        (
            "env",
            "DATABASE_URL",
            format!("postgres://app:{PASSWORD}@db/app"),
        ),
        ("labels", "org.example.token", SECRET.to_string()),
    ] {
        let p = Project::new(&format!("\n[oci.{table}]\n\"{key}\" = \"{value}\"\n"));
        let loc = p.location_of(&format!("\"{value}\""));
        assert_secret_refused(&p, &[&loc, key, "looks like a secret"], key);
    }
}

// ---------------------------------------------------------------------------------------------
// Names
// ---------------------------------------------------------------------------------------------

#[test]
fn oci_whiteout_names_are_refused_when_an_image_is_built() {
    for name in [".wh.cache", ".wh..wh..opq"] {
        let p = Project::new("");
        fs::write(p.path().join("payload").join(name), "x\n").unwrap();
        let o = p.build();
        assert_refused(&p, &o, &[name, "whiteout"], name);
        // Without an image the name is an ordinary file.
        let p2 = Project::with_formats(r#"["tar", "deb", "rpm"]"#, "");
        fs::write(p2.path().join("payload").join(name), "x\n").unwrap();
        let o = p2.build();
        assert!(o.status.success(), "{name} without oci: {}", text(&o));
    }
}

#[test]
fn control_characters_in_symlink_targets_are_refused() {
    for target in ["data.txt\nf 0644 root root /etc/evil", "data.txt\tx"] {
        let p = Project::new("");
        std::os::unix::fs::symlink(target, p.path().join("payload/link")).unwrap();
        let o = p.build();
        assert_refused(&p, &o, &["link", "symlink target"], "symlink");
    }
}

/// 246 bytes: what dpkg (`.dpkg-new`) and rpm (`;<8 hex>`) leave of NAME_MAX.
const LONGEST: usize = 246;

#[test]
fn names_the_installers_cannot_unpack_are_refused() {
    let p = Project::new("");
    let name = "n".repeat(LONGEST + 1);
    fs::write(p.path().join("payload").join(&name), "x\n").unwrap();
    let o = p.build();
    assert_refused(&p, &o, &["247 bytes", "at most 246"], "247");

    // Only OCI: no unpack suffix, the filesystem limit applies.
    let p = Project::with_formats(r#"["oci"]"#, "");
    fs::write(p.path().join("payload").join(&name), "x\n").unwrap();
    let o = p.build();
    assert!(o.status.success(), "oci only: {}", text(&o));
}

fn run(cmd: &mut Command) -> Output {
    let o = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(o.status.success(), "{cmd:?}:\n{}", text(&o));
    o
}

/// The longest accepted names (a file and a directory) really install with dpkg, rpm and
/// install.sh, each into a scratch root.
#[test]
fn the_longest_accepted_names_really_install() {
    let missing: Vec<&str> = ["dpkg", "rpm", "tar"]
        .into_iter()
        .filter(|t| !have(t))
        .collect();
    if !is_root() || !missing.is_empty() {
        let why = format!("needs root and dpkg, rpm (missing: {missing:?})");
        assert!(!e2e_required(), "LUCIA_E2E_REQUIRED=1 but {why}");
        println!("SKIP the_longest_accepted_names_really_install: {why}");
        return;
    }
    let p = Project::with_formats(r#"["tar", "deb", "rpm"]"#, "");
    let file = "f".repeat(LONGEST);
    let dir = "d".repeat(LONGEST);
    fs::write(p.path().join("payload").join(&file), "long\n").unwrap();
    fs::create_dir(p.path().join("payload").join(&dir)).unwrap();
    fs::write(p.path().join("payload").join(&dir).join(&file), "nested\n").unwrap();
    let o = p.build();
    assert!(o.status.success(), "{}", text(&o));
    let out = p.path().join("out");
    let expect = |root: &Path, how: &str| {
        let f: PathBuf = root.join("opt/hw").join(&file);
        assert_eq!(
            fs::read_to_string(&f).ok().as_deref(),
            Some("long\n"),
            "{how}"
        );
        let n = root.join("opt/hw").join(&dir).join(&file);
        assert_eq!(
            fs::read_to_string(&n).ok().as_deref(),
            Some("nested\n"),
            "{how}"
        );
    };

    // dpkg with its own database in a scratch root (the package has no maintainer scripts).
    let root = tempfile::tempdir().unwrap();
    let admin = root.path().join("var/lib/dpkg");
    fs::create_dir_all(admin.join("info")).unwrap();
    fs::create_dir_all(admin.join("updates")).unwrap();
    fs::write(admin.join("status"), "").unwrap();
    run(Command::new("dpkg")
        .arg(format!("--root={}", root.path().display()))
        .args(["--force-depends", "--force-not-root", "-i"])
        .arg(out.join("hw_1.0.0-1_amd64.deb")));
    expect(root.path(), "dpkg");

    // rpm into a scratch root.
    let root = tempfile::tempdir().unwrap();
    run(Command::new("rpm")
        .arg("--root")
        .arg(root.path())
        .arg("--initdb"));
    run(Command::new("rpm")
        .arg("--root")
        .arg(root.path())
        .args(["-i", "--nodeps", "--noscripts", "--ignorearch"])
        .arg(out.join("hw-1.0.0-1.x86_64.rpm")));
    expect(root.path(), "rpm");

    // install.sh from the tarball, twice (the second run replaces every file in place).
    let unpack = tempfile::tempdir().unwrap();
    run(Command::new("tar")
        .arg("-xzf")
        .arg(out.join("hw-1.0.0-linux-amd64.tar.gz"))
        .arg("-C")
        .arg(unpack.path()));
    let root = tempfile::tempdir().unwrap();
    for _ in 0..2 {
        run(Command::new("sh")
            .arg(unpack.path().join("hw-1.0.0/install.sh"))
            .env("DESTDIR", root.path()));
    }
    expect(root.path(), "install.sh");
}

#[test]
fn refused_names_reach_the_terminal_escaped() {
    let p = Project::new("");
    let name = "evil\x1b[2J\rname\nfake: ok";
    fs::write(p.path().join("payload").join(name), "x\n").unwrap();
    let o = p.build();
    let t = text(&o);
    assert_eq!(o.status.code(), Some(2), "{t}");
    assert!(
        !t.contains('\x1b') && !t.contains('\r'),
        "raw control characters: {t:?}"
    );
    assert!(t.contains("evil\\u{1b}[2J\\rname\\nfake: ok"), "{t:?}");
    // --json keeps the exact name, JSON-escaped.
    let o = p.cmd(&["--json", "build", "-m", "hw.toml", "-o", "out"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(v["error"]["file"].as_str().unwrap().ends_with(name), "{v}");
}
