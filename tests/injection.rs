//! Issue 13, item 2: values from the manifest and the payload must never change the structure
//! of what lucia-pkg generates (maintainer scripts, rpm scriptlets, install.sh, sysusers.d and
//! tmpfiles.d lines, MANIFEST, package headers).
//!
//! The refusals themselves are the bad-input corpus (`tests/corpus/manifest/*`: newline, tab,
//! `$(…)`, the here-document terminator and blanks in every such field, each refused with exit 2
//! at its location; run by `tests/reliability.rs`). This file covers the other half: values that
//! are unusual but valid come through every format unchanged, and the generated scripts parse.

use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

mod common;
use common::*;

/// Names that need quoting in every shell context, but that every format can carry.
const ODD_NAMES: [&str; 7] = [
    "a file with spaces.txt",
    "dollar$HOME.txt",
    "quote'single.txt",
    "quote\"double.txt",
    "back\\slash.txt",
    "glob*?[x].txt",
    "-dash.txt",
];

/// The extra [[files]] destination: `$(…)` and blanks inside a valid absolute path.
const ODD_DEST: &str = "/usr/share/doc/demo/extra $(touch PWNED) `id` x.txt";

/// The account description: everything a GECOS may hold that a shell or sysusers.d would
/// otherwise interpret.
const ODD_GECOS: &str = "Demo's 100% `touch PWNED` $(touch PWNED) $HOME; a,b";

struct Project {
    dir: tempfile::TempDir,
}

impl Project {
    fn new() -> Project {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path();
        fs::create_dir_all(p.join("payload/odd dir")).unwrap();
        fs::copy(demo_binary(), p.join("payload/demo")).unwrap();
        fs::set_permissions(p.join("payload/demo"), fs::Permissions::from_mode(0o755)).unwrap();
        for (i, n) in ODD_NAMES.iter().enumerate() {
            fs::write(p.join("payload/odd dir").join(n), format!("content {i}\n")).unwrap();
        }
        symlink("-dash.txt", p.join("payload/odd dir/link to dash")).unwrap();
        symlink("a file with spaces.txt", p.join("payload/odd dir/link$x")).unwrap();
        fs::write(
            p.join("demo.service"),
            "[Service]\nUser=demo\nExecStart=/opt/demo/demo\n\n[Install]\nWantedBy=multi-user.target\n",
        )
        .unwrap();
        fs::write(p.join("demo.env"), "PORT=8080\n").unwrap();
        fs::write(p.join("extra.txt"), "extra\n").unwrap();
        let manifest = fs::read_to_string(repo().join("tests/corpus/base.toml"))
            .unwrap()
            .replace(
                "user = \"demo\"\n",
                &format!("user = \"demo\"\ndescription = {}\n", toml_str(ODD_GECOS)),
            )
            .replace(
                "dest = \"/usr/share/doc/demo/extra.txt\"",
                &format!("dest = {}\nowner = \"root:demo\"", toml_str(ODD_DEST)),
            );
        fs::write(p.join("lucia.toml"), manifest).unwrap();
        Project { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_lucia-pkg"));
        c.args(args)
            .current_dir(self.path())
            .env_remove("SOURCE_DATE_EPOCH")
            .env("LUCIA_PKG_STORE", self.path().join(".store"))
            .stdin(Stdio::null());
        c
    }

    fn build(&self, formats: &str) -> PathBuf {
        let o = self
            .cmd(&["build", "-m", "lucia.toml", "-o", "out", "-f", formats])
            .output()
            .unwrap();
        assert!(o.status.success(), "build failed:\n{}", text(&o));
        self.path().join("out")
    }

    fn inspect(&self, file: &Path) -> serde_json::Value {
        let o = self
            .cmd(&["--json", "inspect", &file.display().to_string()])
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "inspect {}: {}",
            file.display(),
            text(&o)
        );
        serde_json::from_slice(&o.stdout).unwrap()
    }
}

fn toml_str(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// `sh -n` (and `dash -n` where present) on a script.
fn assert_parses(name: &str, script: &str) {
    for shell in ["sh", "dash"] {
        let Ok(out) = Command::new(shell).arg("-n").arg("-c").arg(script).output() else {
            continue;
        };
        assert!(
            out.status.success(),
            "{shell} -n {name}: {}\n{script}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn source_date_the_rpm_cannot_hold_is_refused_before_anything_is_written() {
    let p = Project::new();
    for sde in ["4294967295", "4102444800"] {
        let o = p
            .cmd(&["build", "-m", "lucia.toml", "-o", "out"])
            .env("SOURCE_DATE_EPOCH", sde)
            .output()
            .unwrap();
        assert_eq!(
            o.status.code(),
            Some(2),
            "SOURCE_DATE_EPOCH={sde}: {}",
            text(&o)
        );
        assert!(text(&o).contains("SOURCE_DATE_EPOCH"), "{}", text(&o));
        let left: Vec<_> = fs::read_dir(p.path().join("out"))
            .map(|d| d.flatten().map(|e| e.file_name()).collect())
            .unwrap_or_default();
        assert!(left.is_empty(), "a refused build wrote {left:?}");
        let o = p
            .cmd(&["check", "-m", "lucia.toml"])
            .env("SOURCE_DATE_EPOCH", sde)
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(2), "check: {}", text(&o));
    }
    // Without rpm the same date is fine (tar and deb headers hold it).
    let o = p
        .cmd(&["build", "-m", "lucia.toml", "-o", "out", "-f", "tar,deb"])
        .env("SOURCE_DATE_EPOCH", "4102444800")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
}

/// The tarball's install.sh reads MANIFEST with `IFS=<tab> read -r`: names with blanks, `$`,
/// quotes, backslashes, glob characters and a leading dash install (and uninstall) exactly, in a
/// DESTDIR, without running anything they contain.
#[test]
fn install_sh_installs_unusual_names_exactly() {
    let p = Project::new();
    let out = p.build("tar");
    let tarball = out.join("demo-1.0.0-linux-amd64.tar.gz");
    let x = p.path().join("x");
    fs::create_dir_all(&x).unwrap();
    let st = Command::new("tar")
        .arg("-xzf")
        .arg(&tarball)
        .current_dir(&x)
        .status()
        .unwrap();
    assert!(st.success());
    let top = x.join("demo-1.0.0");
    let script = fs::read_to_string(top.join("install.sh")).unwrap();
    assert_parses("install.sh", &script);

    // MANIFEST: one line per entry, each splitting into the fields it was made of.
    let listing = fs::read_to_string(top.join("MANIFEST")).unwrap();
    for n in ODD_NAMES {
        let path = format!("/opt/demo/odd dir/{n}");
        let line = listing
            .lines()
            .find(|l| l.ends_with(&format!("\t{path}")))
            .unwrap_or_else(|| panic!("no MANIFEST line for {path:?}:\n{listing}"));
        // As `IFS=<tab> read -r kind mode user group path target` splits it.
        let fields: Vec<&str> = line.splitn(6, '\t').collect();
        assert_eq!(fields, ["f", "0644", "root", "root", path.as_str()]);
    }
    assert!(
        listing.contains(&format!("f\t0644\troot\tdemo\t{ODD_DEST}\n")),
        "{listing}"
    );

    let stage = p.path().join("stage dir $x");
    let run = |args: &[&str]| {
        let o = Command::new("sh")
            .arg(top.join("install.sh"))
            .args(args)
            .env("DESTDIR", &stage)
            .current_dir(p.path())
            .output()
            .unwrap();
        assert!(o.status.success(), "install.sh {args:?}: {}", text(&o));
    };
    run(&[]);
    let odd = stage.join("opt/demo/odd dir");
    for (i, n) in ODD_NAMES.iter().enumerate() {
        assert_eq!(
            fs::read_to_string(odd.join(n)).unwrap_or_default(),
            format!("content {i}\n"),
            "{n}"
        );
    }
    assert_eq!(
        fs::read_link(odd.join("link to dash")).unwrap(),
        Path::new("-dash.txt")
    );
    assert_eq!(
        fs::read_link(odd.join("link$x")).unwrap(),
        Path::new("a file with spaces.txt")
    );
    assert_eq!(
        fs::read_to_string(stage.join(ODD_DEST.trim_start_matches('/'))).unwrap(),
        "extra\n"
    );
    // The sysusers.d file carries the description in sysusers' own quoting.
    let sysusers = fs::read_to_string(stage.join("usr/lib/sysusers.d/demo.conf")).unwrap();
    assert!(
        sysusers.contains(&format!(
            "u demo - \"{}\" /var/lib/demo /usr/sbin/nologin\n",
            ODD_GECOS.replace('%', "%%")
        )),
        "{sysusers}"
    );
    // The real systemd-sysusers reads the description back unchanged (quoting, `%%`).
    if Command::new("systemd-sysusers")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
    {
        let root = p.path().join("sysroot");
        fs::create_dir_all(root.join("etc")).unwrap();
        let o = Command::new("systemd-sysusers")
            .arg(format!("--root={}", root.display()))
            .arg(stage.join("usr/lib/sysusers.d/demo.conf"))
            .output()
            .unwrap();
        assert!(o.status.success(), "systemd-sysusers: {}", text(&o));
        let passwd = fs::read_to_string(root.join("etc/passwd")).unwrap();
        let line = passwd.lines().find(|l| l.starts_with("demo:")).unwrap();
        assert!(
            line.ends_with(&format!(":{ODD_GECOS}:/var/lib/demo:/usr/sbin/nologin")),
            "{line}"
        );
    } else {
        eprintln!("systemd-sysusers not installed: the sysusers.d file is checked by text only");
    }
    // Nothing a value contains was run.
    for d in [p.path(), &top, &stage] {
        assert!(
            !d.join("PWNED").exists(),
            "something ran in {}",
            d.display()
        );
    }
    // Every entry listed in MANIFEST is there.
    let count = listing.lines().count();
    assert!(count > ODD_NAMES.len() + 2, "{listing}");

    run(&["--uninstall"]);
    for n in ODD_NAMES {
        assert!(!odd.join(n).exists(), "{n} left after --uninstall");
    }
    assert!(fs::symlink_metadata(odd.join("link to dash")).is_err());
    assert!(!stage.join(ODD_DEST.trim_start_matches('/')).exists());
}

/// Every generated script of every format parses with `sh -n` (and `dash -n`), and the
/// description reaches the account-creation commands as one quoted word.
#[test]
fn generated_scripts_parse() {
    let p = Project::new();
    let out = p.build("tar,deb,rpm");
    let deb = p.inspect(&out.join("demo_1.0.0-1_amd64.deb"));
    let scripts = deb["scripts"].as_array().unwrap();
    assert_eq!(scripts.len(), 4, "{deb}");
    for s in scripts {
        let body = s["content"].as_str().unwrap();
        assert_parses(s["name"].as_str().unwrap_or("deb script"), body);
    }
    let rpm = p.inspect(&out.join("demo-1.0.0-1.x86_64.rpm"));
    let scriptlets = rpm["scriptlets"].as_array().unwrap();
    assert!(!scriptlets.is_empty(), "{rpm}");
    for s in scriptlets {
        assert_parses("rpm scriptlet", s["body"].as_str().unwrap());
    }
    let pre = scriptlets
        .iter()
        .filter_map(|s| s["body"].as_str())
        .find(|b| b.contains("useradd"))
        .unwrap();
    let quoted = format!("'{}'", ODD_GECOS.replace('\'', "'\\''"));
    assert!(pre.contains(&format!("--comment {quoted} demo")), "{pre}");
}
