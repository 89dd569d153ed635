//! Core behaviour of the `lucia-pkg` binary, run as a user would run it: exit codes, located
//! manifest errors, plan-time refusals of bad payloads (each naming the file), reproducibility
//! under a varied environment, and the tarball's install.sh applied to a DESTDIR.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod common;
use common::*;

fn run(args: &[&str], dir: &Path) -> Output {
    Command::new(bin())
        .args(args)
        .current_dir(dir)
        .env_remove("SOURCE_DATE_EPOCH")
        .env("LUCIA_PKG_STORE", dir.join(".store"))
        .output()
        .expect("run lucia-pkg")
}

/// A self-contained project: manifest, unit, env template and an amd64 payload.
struct Project {
    dir: tempfile::TempDir,
}

const MANIFEST: &str = r#"[package]
name = "demo"
version = "1.0.0"
release = "1"
summary = "demo service"
license = "MIT"
maintainer = "Demo <demo@example.org>"
source-date-epoch = 1700000000
arches = ["amd64"]
formats = ["tar"]

[payload]
install-dir = "/opt/demo"
entrypoint = "demo"

[payload.amd64]
path = "payload"

[service]
unit = "demo.service"
user = "demo"
state-dirs = ["/var/lib/demo"]

[service.env]
template = "demo.env"
path = "/etc/demo/demo.env"
"#;

impl Project {
    fn new() -> Project {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path();
        fs::create_dir_all(p.join("payload/lib")).unwrap();
        fs::write(p.join("payload/demo"), fake_elf(62)).unwrap();
        fs::set_permissions(p.join("payload/demo"), fs::Permissions::from_mode(0o755)).unwrap();
        fs::write(p.join("payload/lib/data.txt"), "data\n").unwrap();
        fs::write(
            p.join("demo.service"),
            "[Service]\nUser=demo\nExecStart=/opt/demo/demo\n",
        )
        .unwrap();
        fs::write(p.join("demo.env"), "PORT=8080\n").unwrap();
        fs::write(p.join("lucia.toml"), MANIFEST).unwrap();
        Project { dir }
    }
    fn path(&self) -> &Path {
        self.dir.path()
    }
    fn manifest(&self, text: &str) {
        fs::write(self.path().join("lucia.toml"), text).unwrap();
    }
    fn check(&self) -> Output {
        run(&["check", "--manifest", "lucia.toml"], self.path())
    }
}

fn assert_input_error(o: &Output, needle: &str) {
    let t = text(o);
    assert_eq!(
        o.status.code(),
        Some(2),
        "expected exit 2 (bad input), got {:?}:\n{t}",
        o.status.code()
    );
    assert!(t.contains(needle), "expected `{needle}` in:\n{t}");
    assert!(!t.contains("panicked"), "{t}");
}

#[test]
fn a_good_project_checks_and_builds() {
    let p = Project::new();
    let o = p.check();
    assert!(o.status.success(), "{}", text(&o));
    let o = run(
        &["build", "--manifest", "lucia.toml", "--out", "out"],
        p.path(),
    );
    assert!(o.status.success(), "{}", text(&o));
    assert!(p.path().join("out/demo-1.0.0-linux-amd64.tar.gz").is_file());
    let sums = Command::new("sha256sum")
        .arg("-c")
        .arg("SHA256SUMS")
        .current_dir(p.path().join("out"))
        .output()
        .unwrap();
    assert!(sums.status.success(), "{}", text(&sums));
}

#[test]
fn manifest_errors_point_at_line_and_column() {
    let p = Project::new();
    // A type error on line 3, column 11.
    p.manifest(&MANIFEST.replace("version = \"1.0.0\"", "version = 1"));
    assert_input_error(&p.check(), "lucia.toml:3:11");
    // An unknown key with a suggestion.
    p.manifest(&MANIFEST.replace("release = \"1\"", "relase = \"1\""));
    let o = p.check();
    assert_input_error(&o, "lucia.toml:4:1");
    assert!(text(&o).contains("did you mean `release`"), "{}", text(&o));
    // Malformed TOML.
    p.manifest(&MANIFEST.replace("[payload]", "[payload"));
    assert_input_error(&p.check(), "lucia.toml:12:");
    // Versions dpkg or rpm would refuse.
    for bad in ["v1.0", "1.0 beta", "1.0-rc-1", ""] {
        p.manifest(&MANIFEST.replace("version = \"1.0.0\"", &format!("version = \"{bad}\"")));
        assert_input_error(&p.check(), "lucia.toml:3:11");
    }
    p.manifest(&MANIFEST.replace("release = \"1\"", "release = \"1-2\""));
    assert_input_error(&p.check(), "lucia.toml:4:11");
    p.manifest(&MANIFEST.replace("name = \"demo\"", "name = \"Demo Service\""));
    assert_input_error(&p.check(), "lucia.toml:2:8");
    // Missing required key.
    p.manifest(&MANIFEST.replace("license = \"MIT\"\n", ""));
    assert_input_error(&p.check(), "missing field `license`");
    // Destinations must be absolute and normalized.
    for bad in ["opt/demo", "/opt/../etc", "/opt//demo", "/opt/demo/"] {
        p.manifest(&MANIFEST.replace(
            "install-dir = \"/opt/demo\"",
            &format!("install-dir = \"{bad}\""),
        ));
        assert_input_error(&p.check(), "lucia.toml:13:15");
    }
    // A world-readable env file would leak secrets.
    p.manifest(&format!("{MANIFEST}mode = \"0644\"\n"));
    assert_input_error(&p.check(), "readable or writable by others");
    // JSON errors for machines.
    p.manifest(&MANIFEST.replace("version = \"1.0.0\"", "version = 1"));
    let o = run(&["--json", "check", "--manifest", "lucia.toml"], p.path());
    assert_eq!(o.status.code(), Some(2));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["error"]["line"], 3);
    assert_eq!(v["error"]["column"], 11);
}

#[test]
fn bad_payloads_are_refused_naming_the_file() {
    // Wrong-arch ELF.
    let p = Project::new();
    fs::write(p.path().join("payload/lib/native.so"), fake_elf(183)).unwrap();
    assert_input_error(&p.check(), "payload/lib/native.so: ELF binary for aarch64");

    // Symlink escaping the payload, absolute or relative.
    let p = Project::new();
    std::os::unix::fs::symlink("../../../etc/shadow", p.path().join("payload/lib/escape")).unwrap();
    assert_input_error(&p.check(), "symlink escapes the payload");
    let p = Project::new();
    std::os::unix::fs::symlink("/etc/shadow", p.path().join("payload/abs")).unwrap();
    assert_input_error(&p.check(), "payload/abs");

    // Symlink loop.
    let p = Project::new();
    std::os::unix::fs::symlink("b", p.path().join("payload/a")).unwrap();
    std::os::unix::fs::symlink("a", p.path().join("payload/b")).unwrap();
    assert_input_error(&p.check(), "symlink loop");

    // A fifo.
    let p = Project::new();
    let fifo = p.path().join("payload/pipe");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    assert_input_error(&p.check(), "payload/pipe: payload contains a fifo");

    // A socket.
    let p = Project::new();
    let _sock = std::os::unix::net::UnixListener::bind(p.path().join("payload/sock")).unwrap();
    assert_input_error(&p.check(), "payload contains a socket");

    // setuid and world-writable files, refused unless allowed explicitly.
    let p = Project::new();
    fs::set_permissions(
        p.path().join("payload/demo"),
        fs::Permissions::from_mode(0o4755),
    )
    .unwrap();
    assert_input_error(&p.check(), "payload/demo: setuid/setgid file");
    p.manifest(&MANIFEST.replace(
        "entrypoint = \"demo\"",
        "entrypoint = \"demo\"\nallow-special-modes = [\"demo\"]",
    ));
    assert!(p.check().status.success());
    let p = Project::new();
    fs::set_permissions(
        p.path().join("payload/lib/data.txt"),
        fs::Permissions::from_mode(0o666),
    )
    .unwrap();
    assert_input_error(&p.check(), "payload/lib/data.txt: world-writable file");

    // Two entries with the same destination.
    let p = Project::new();
    fs::write(p.path().join("extra"), "x").unwrap();
    p.manifest(&format!(
        "{MANIFEST}\n[[files]]\nsrc = \"extra\"\ndest = \"/opt/demo/lib/data.txt\"\n"
    ));
    assert_input_error(&p.check(), "two entries install to /opt/demo/lib/data.txt");

    // Missing payload and missing entrypoint.
    let p = Project::new();
    fs::remove_dir_all(p.path().join("payload")).unwrap();
    assert_input_error(&p.check(), "payload directory cannot be read");
    let p = Project::new();
    fs::remove_file(p.path().join("payload/demo")).unwrap();
    assert_input_error(&p.check(), "entrypoint is missing");

    // A secret in the env template.
    let p = Project::new();
    fs::write(
        p.path().join("demo.env"),
        "PORT=8080\nOPENAI_API_KEY=sk-proj-abcdefghijklmnopqrstuvwxyz0123456789\n",
    )
    .unwrap();
    assert_input_error(
        &p.check(),
        "demo.env: line 2: `OPENAI_API_KEY` looks like a real secret",
    );

    // Non-UTF-8 file name.
    let p = Project::new();
    let name = std::ffi::OsStr::from_bytes_compat(b"bad\xffname");
    fs::write(p.path().join("payload").join(name), "x").unwrap();
    assert_input_error(&p.check(), "not valid UTF-8");
}

trait FromBytesCompat {
    fn from_bytes_compat(b: &[u8]) -> &std::ffi::OsStr;
}
impl FromBytesCompat for std::ffi::OsStr {
    fn from_bytes_compat(b: &[u8]) -> &std::ffi::OsStr {
        use std::os::unix::ffi::OsStrExt;
        std::ffi::OsStr::from_bytes(b)
    }
}

#[test]
fn bad_arguments_exit_2() {
    let p = Project::new();
    assert_input_error(
        &run(
            &["build", "--manifest", "lucia.toml", "--arch", "sparc"],
            p.path(),
        ),
        "unknown architecture",
    );
    assert_input_error(
        &run(
            &["build", "--manifest", "lucia.toml", "--format", "zip"],
            p.path(),
        ),
        "unknown format",
    );
    assert_input_error(
        &run(
            &["build", "--manifest", "lucia.toml", "--arch", "arm64"],
            p.path(),
        ),
        "does not declare",
    );
    assert_input_error(
        &run(&["build", "--manifest", "nope.toml"], p.path()),
        "cannot read the manifest",
    );
    assert_input_error(&run(&["frobnicate"], p.path()), "unrecognized subcommand");
    let o = Command::new(bin())
        .args(["build", "--manifest", "lucia.toml"])
        .env("SOURCE_DATE_EPOCH", "yesterday")
        .current_dir(p.path())
        .output()
        .unwrap();
    assert_input_error(&o, "SOURCE_DATE_EPOCH");
}

/// Issue 14 bug 9: an out dir that is a file, and the manifest given as a positional argument.
#[test]
fn out_file_and_positional_manifest_are_bad_input_with_a_fix() {
    let p = Project::new();
    fs::write(p.path().join("dist"), "a file\n").unwrap();
    for out in ["dist", "dist/sub"] {
        let o = run(&["build", "-m", "lucia.toml", "-o", out], p.path());
        assert_input_error(&o, "--out must be a directory");
    }
    assert_eq!(
        fs::read_to_string(p.path().join("dist")).unwrap(),
        "a file\n"
    );
    for sub in ["build", "check", "verify"] {
        let o = run(&[sub, "lucia.toml"], p.path());
        assert_input_error(&o, &format!("lucia-pkg {sub} -m lucia.toml"));
    }
}

/// `lucia-pkg completions bash`, sourced in a real bash, completes subcommands, every flag after
/// the subcommand (clap-rs/clap#6421 broke that for hyphenated binary names) and the values of
/// `-a`/`-f`, also after a comma.
#[test]
fn bash_completion_completes_after_the_subcommand() {
    if Command::new("bash").arg("--version").output().is_err() {
        eprintln!("skipped: no bash");
        return;
    }
    let p = Project::new();
    let o = run(&["completions", "bash"], p.path());
    assert!(o.status.success(), "{}", text(&o));
    fs::write(p.path().join("lucia-pkg.bash"), &o.stdout).unwrap();
    let driver = r#"
source ./lucia-pkg.bash
complete -p lucia-pkg
t() {
    COMP_WORDS=("$@")
    COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
    COMPREPLY=()
    local fn
    fn=$(complete -p lucia-pkg | sed -n 's/.*-F \([^ ]*\).*/\1/p')
    "$fn" lucia-pkg "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
    echo "$*|${COMPREPLY[*]}"
}
t lucia-pkg b
t lucia-pkg build --arch ''
t lucia-pkg build -a amd64,
t lucia-pkg check -f deb,r
t lucia-pkg build --
t lucia-pkg verify --no
"#;
    let o = Command::new("bash")
        .args(["--norc", "--noprofile", "-c", driver])
        .current_dir(p.path())
        .output()
        .unwrap();
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    let got = |line: &str| -> String {
        out.lines()
            .find_map(|l| l.strip_prefix(&format!("{line}|")))
            .unwrap_or_else(|| panic!("no `{line}` in:\n{out}"))
            .to_string()
    };
    assert!(
        out.contains("-F _lucia__pkg") && out.contains(" lucia-pkg\n"),
        "{out}"
    );
    assert_eq!(got("lucia-pkg b"), "build", "{out}");
    assert_eq!(got("lucia-pkg build --arch "), "amd64 arm64 all", "{out}");
    assert_eq!(
        got("lucia-pkg build -a amd64,"),
        "amd64,amd64 amd64,arm64",
        "{out}"
    );
    assert_eq!(got("lucia-pkg check -f deb,r"), "deb,rpm", "{out}");
    let flags = got("lucia-pkg build --");
    for f in [
        "--manifest",
        "--arch",
        "--format",
        "--out",
        "--no-cache",
        "--clean",
    ] {
        assert!(flags.split(' ').any(|x| x == f), "{f} missing: {flags}");
    }
    assert_eq!(got("lucia-pkg verify --no"), "", "{out}");
}

fn sha_map(dir: &Path) -> Vec<(String, String)> {
    let sums = fs::read_to_string(dir.join("SHA256SUMS")).unwrap();
    sums.lines()
        .map(|l| {
            let (h, n) = l.split_once("  ").unwrap();
            (n.to_string(), h.to_string())
        })
        .collect()
}

/// The whole example release set, twice, under a different environment each time: identical.
#[test]
fn example_builds_are_bit_identical_under_a_varied_environment() {
    let payload = repo().join("target/demo-payload/amd64/lucia.AgentHost");
    if !payload.exists() {
        let st = Command::new("bash")
            .arg("scripts/build-demo-payload.sh")
            .current_dir(repo())
            .status()
            .unwrap();
        assert!(st.success(), "scripts/build-demo-payload.sh failed");
    }
    let t = tempfile::tempdir().unwrap();
    let build = |name: &str, tz: &str, lang: &str, umask: &str| -> PathBuf {
        let out = t.path().join(name);
        let tmp = t.path().join(format!("tmp-{name}"));
        let home = t.path().join(format!("home-{name}"));
        fs::create_dir_all(&tmp).unwrap();
        fs::create_dir_all(&home).unwrap();
        let script = format!("umask {umask}; exec \"$0\" \"$@\"");
        let o = Command::new("sh")
            .arg("-c")
            .arg(script)
            .arg(bin())
            .args([
                "build",
                "--no-cache",
                "--manifest",
                "packaging/lucia.toml",
                "--out",
            ])
            .arg(&out)
            .current_dir(repo())
            .env_remove("SOURCE_DATE_EPOCH")
            .env("TZ", tz)
            .env("LANG", lang)
            .env("LC_ALL", lang)
            .env("TMPDIR", &tmp)
            .env("HOME", &home)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", text(&o));
        out
    };
    let a = build("a", "UTC", "C.UTF-8", "022");
    let b = build("b", "Pacific/Kiritimati", "de_DE.UTF-8", "077");
    let (ma, mb) = (sha_map(&a), sha_map(&b));
    assert!(!ma.is_empty());
    assert_eq!(ma, mb, "artifacts differ between the two builds");

    // The tarball: root ownership (the env file's group aside), the fixed mtime, sorted members.
    let tgz = a.join("lucia-1.0.0-linux-amd64.tar.gz");
    let o = Command::new("tar")
        .args(["--numeric-owner", "-tvzf"])
        .arg(&tgz)
        .env("TZ", "UTC")
        .output()
        .unwrap();
    let listing = String::from_utf8_lossy(&o.stdout).into_owned();
    let mut names = Vec::new();
    for line in listing.lines() {
        let cols: Vec<&str> = line.split_whitespace().collect();
        assert!(
            cols[1] == "0/0" || line.ends_with("etc/lucia/lucia.env"),
            "{line}"
        );
        assert_eq!(cols[3], "2026-11-01", "{line}");
        assert_eq!(cols[4], "00:00", "{line}");
        names.push(cols[5].to_string());
    }
    let tree: Vec<&String> = names
        .iter()
        .filter(|n| n.starts_with("lucia-1.0.0/root/"))
        .collect();
    let mut sorted = tree.clone();
    sorted.sort_by(|x, y| {
        x.trim_end_matches('/')
            .as_bytes()
            .cmp(y.trim_end_matches('/').as_bytes())
    });
    assert_eq!(tree, sorted);
    let o = Command::new("tar")
        .args(["-tvzf"])
        .arg(&tgz)
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("-rw-r----- root/lucia"),
        "env file is 0640 root:lucia"
    );
}

#[test]
fn install_sh_into_a_destdir_twice() {
    let p = Project::new();
    let o = run(
        &["build", "--manifest", "lucia.toml", "--out", "out"],
        p.path(),
    );
    assert!(o.status.success(), "{}", text(&o));
    let x = p.path().join("x");
    fs::create_dir_all(&x).unwrap();
    let st = Command::new("tar")
        .arg("-xzf")
        .arg(p.path().join("out/demo-1.0.0-linux-amd64.tar.gz"))
        .current_dir(&x)
        .status()
        .unwrap();
    assert!(st.success());
    let dest = p.path().join("dest");
    for round in 0..2 {
        let o = Command::new("sh")
            .arg("demo-1.0.0/install.sh")
            .env("DESTDIR", &dest)
            .current_dir(&x)
            .output()
            .unwrap();
        assert!(o.status.success(), "round {round}: {}", text(&o));
    }
    let mode = |rel: &str| {
        fs::symlink_metadata(dest.join(rel))
            .unwrap()
            .permissions()
            .mode()
            & 0o7777
    };
    assert_eq!(mode("opt/demo/demo"), 0o755);
    assert_eq!(mode("opt/demo/lib/data.txt"), 0o644);
    assert_eq!(mode("etc/demo/demo.env"), 0o640);
    assert_eq!(mode("usr/lib/systemd/system/demo.service"), 0o644);
    assert_eq!(mode("var/lib/demo"), 0o750);
    assert!(dest.join("usr/lib/sysusers.d/demo.conf").is_file());
    // An edited config survives a re-install; the new template lands beside it.
    fs::write(dest.join("etc/demo/demo.env"), "PORT=9090\n").unwrap();
    let o = Command::new("sh")
        .arg("demo-1.0.0/install.sh")
        .env("DESTDIR", &dest)
        .current_dir(&x)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(
        fs::read_to_string(dest.join("etc/demo/demo.env")).unwrap(),
        "PORT=9090\n"
    );
    assert_eq!(
        fs::read_to_string(dest.join("etc/demo/demo.env.dist")).unwrap(),
        "PORT=8080\n"
    );
    // Uninstall keeps config, --purge removes it.
    let o = Command::new("sh")
        .arg("demo-1.0.0/install.sh")
        .arg("--uninstall")
        .env("DESTDIR", &dest)
        .current_dir(&x)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert!(!dest.join("opt/demo/demo").exists());
    assert!(dest.join("etc/demo/demo.env").exists());
    let o = Command::new("sh")
        .arg("demo-1.0.0/install.sh")
        .args(["--uninstall", "--purge"])
        .env("DESTDIR", &dest)
        .current_dir(&x)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert!(!dest.join("etc/demo/demo.env").exists());
    // The manifest leaves purge-state at false: --purge removes config, keeps state (as apt
    // purge does for this package); tests/e2e/quickstart.sh covers purge-state = true.
    assert!(dest.join("var/lib/demo").exists());
}

#[test]
fn help_version_completions_and_man_pages() {
    let p = Project::new();
    let o = run(&["--help"], p.path());
    assert!(o.status.success());
    assert!(text(&o).contains("Exit codes"));
    assert!(run(&["--version"], p.path()).status.success());
    let o = run(&["completions", "bash"], p.path());
    assert!(o.status.success() && text(&o).contains("lucia-pkg"));
    let o = run(&["manpage", "man"], p.path());
    assert!(o.status.success(), "{}", text(&o));
    assert!(p.path().join("man/lucia-pkg.1").is_file());
    assert!(p.path().join("man/lucia-pkg-build.1").is_file());
    // --json lists the pages written.
    let o = run(&["--json", "manpage", "man2"], p.path());
    assert!(o.status.success(), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("JSON on stdout");
    let pages: Vec<&str> = v["pages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap())
        .collect();
    assert!(pages.contains(&"lucia-pkg.1") && pages.contains(&"lucia-pkg-build.1"));
    for page in &pages {
        assert!(p.path().join("man2").join(page).is_file(), "{page}");
    }
    assert_eq!(
        pages.len(),
        fs::read_dir(p.path().join("man2")).unwrap().count()
    );
}

/// A rebuild of unchanged inputs does no packaging work; changing one arch's input rebuilds only
/// what depends on it; gc keeps what an out dir uses.
#[test]
fn unchanged_inputs_are_cache_hits_and_changes_rebuild_only_dependents() {
    let p = Project::new();
    let m = MANIFEST.replace("arches = [\"amd64\"]", "arches = [\"amd64\", \"arm64\"]")
        + "\n[payload.arm64]\npath = \"payload-arm64\"\n";
    p.manifest(&m);
    fs::create_dir_all(p.path().join("payload-arm64")).unwrap();
    fs::write(p.path().join("payload-arm64/demo"), fake_elf(183)).unwrap();
    fs::set_permissions(
        p.path().join("payload-arm64/demo"),
        fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    let build = || {
        let o = run(
            &[
                "--json",
                "build",
                "--manifest",
                "lucia.toml",
                "--out",
                "out",
            ],
            p.path(),
        );
        assert!(o.status.success(), "{}", text(&o));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        v["artifacts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| {
                (
                    a["name"].as_str().unwrap().to_string(),
                    a["cached"].as_bool().unwrap(),
                    a["sha256"].as_str().unwrap().to_string(),
                )
            })
            .collect::<Vec<_>>()
    };
    let first = build();
    assert!(first.iter().all(|(_, cached, _)| !cached), "{first:?}");
    let second = build();
    assert!(second.iter().all(|(_, cached, _)| *cached), "{second:?}");
    // A cached rebuild leaves no temp names behind in the out dir.
    let leftovers: Vec<String> = fs::read_dir(p.path().join("out"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    assert_eq!(
        first.iter().map(|a| &a.2).collect::<Vec<_>>(),
        second.iter().map(|a| &a.2).collect::<Vec<_>>()
    );
    // Change only the arm64 payload: the amd64 tarball stays cached, the arm64 one is rebuilt.
    fs::write(p.path().join("payload-arm64/extra.txt"), "new\n").unwrap();
    let third = build();
    let status = |name: &str| third.iter().find(|a| a.0 == name).map(|a| a.1).unwrap();
    assert!(status("demo-1.0.0-linux-amd64.tar.gz"));
    assert!(!status("demo-1.0.0-linux-arm64.tar.gz"));
    // The out dir is still complete and correct.
    let sums = Command::new("sha256sum")
        .arg("-c")
        .arg("SHA256SUMS")
        .current_dir(p.path().join("out"))
        .output()
        .unwrap();
    assert!(sums.status.success(), "{}", text(&sums));
    // gc removes the superseded arm64 entry and keeps the two in use.
    let o = run(&["--json", "gc"], p.path());
    assert!(o.status.success(), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["removed"].as_array().unwrap().len(), 1, "{v}");
    assert_eq!(v["kept"].as_array().unwrap().len(), 2, "{v}");
    // Deleting the out dir makes everything collectable.
    fs::remove_dir_all(p.path().join("out")).unwrap();
    let o = run(&["--json", "gc"], p.path());
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["kept"].as_array().unwrap().len(), 0, "{v}");
}

#[test]
fn verify_proves_the_example_reproducible() {
    let payload = repo().join("target/demo-payload/amd64/lucia.AgentHost");
    if !payload.exists() {
        let st = Command::new("bash")
            .arg("scripts/build-demo-payload.sh")
            .current_dir(repo())
            .status()
            .unwrap();
        assert!(st.success());
    }
    let o = Command::new(bin())
        .args(["--json", "verify", "--manifest", "packaging/lucia.toml"])
        .current_dir(repo())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["identical"], true, "{v}");
    assert!(v["artifacts"].as_u64().unwrap() >= 10, "{v}");
}

/// A payload produced by a builder runs in a scrubbed environment, is cached by its inputs' NAR
/// hashes, and reruns only when an input changes.
#[test]
fn payload_builders_are_hermetic_and_cached() {
    let p = Project::new();
    fs::create_dir_all(p.path().join("src")).unwrap();
    fs::write(p.path().join("src/version.txt"), "1\n").unwrap();
    let elf = p.path().join("payload/demo");
    let counter = p.path().join("runs.log");
    fs::write(
        p.path().join("build.sh"),
        format!(
            "set -e\nout=\"$1\"\necho run >> {counter}\ncp {elf} \"$out/demo\"\nchmod 755 \"$out/demo\"\ncp src/version.txt \"$out/version.txt\"\nenv | sort > \"$out/env.txt\"\n",
            counter = counter.display(),
            elf = elf.display()
        ),
    )
    .unwrap();
    let manifest = MANIFEST.replace(
        "[payload.amd64]\npath = \"payload\"\n",
        "[payload.amd64.builder]\ncommand = [\"sh\", \"build.sh\", \"{out}\"]\ninputs = [\"build.sh\", \"src\"]\n",
    );
    p.manifest(&manifest);
    let build = || {
        let o = Command::new(bin())
            .args(["build", "--manifest", "lucia.toml", "--out", "out"])
            .current_dir(p.path())
            .env("LUCIA_PKG_STORE", p.path().join(".store"))
            .env("OUTSIDE_SECRET", "must-not-leak")
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", text(&o));
    };
    let runs = || {
        fs::read_to_string(&counter)
            .unwrap_or_default()
            .lines()
            .count()
    };
    build();
    assert_eq!(runs(), 1);
    build();
    assert_eq!(runs(), 1, "unchanged inputs must not rerun the builder");
    // What the builder saw: only the declared environment.
    let listing = Command::new("tar")
        .args([
            "-xzOf",
            "out/demo-1.0.0-linux-amd64.tar.gz",
            "demo-1.0.0/root/opt/demo/env.txt",
        ])
        .current_dir(p.path())
        .output()
        .unwrap();
    let env = String::from_utf8_lossy(&listing.stdout).into_owned();
    assert!(
        env.contains("TZ=UTC\n")
            && env.contains("LC_ALL=C.UTF-8\n")
            && env.contains("LUCIA_PKG_ARCH=amd64\n")
            && env.contains("SOURCE_DATE_EPOCH=1700000000\n"),
        "{env}"
    );
    assert!(!env.contains("OUTSIDE_SECRET"), "{env}");
    // A changed input reruns it.
    fs::write(p.path().join("src/version.txt"), "2\n").unwrap();
    build();
    assert_eq!(runs(), 2);
    // A failing builder fails the build (exit 1) and says so.
    fs::write(p.path().join("build.sh"), "echo boom >&2; exit 3\n").unwrap();
    let o = run(
        &["build", "--manifest", "lucia.toml", "--out", "out"],
        p.path(),
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains("payload builder for amd64 failed") && text(&o).contains("boom"),
        "{}",
        text(&o)
    );
}
