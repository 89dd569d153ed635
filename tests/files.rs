//! `[[files]]` as a packager coming from nfpm expects it: single files, directory trees, globs
//! and symlink entries, placed identically in the deb, the rpm and the tarball (checked with
//! dpkg-deb, rpm and install.sh into a DESTDIR), and refused with a location when ambiguous.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

mod common;
use common::*;

const MANIFEST: &str = r#"[package]
name = "filesdemo"
version = "1.0.0"
summary = "files demo"
license = "MIT"
maintainer = "Demo <demo@example.org>"
source-date-epoch = 1700000000
arches = ["amd64"]
formats = ["tar", "deb", "rpm"]

[payload]
install-dir = "/opt/filesdemo"
entrypoint = "run"

[payload.amd64]
path = "payload"

[tar]
compression = "gzip:1"

[deb]
compression = "gzip:1"

[rpm]
compression = "gzip:1"
"#;

fn project(files: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    fs::create_dir_all(p.join("payload")).unwrap();
    fs::write(p.join("payload/run"), "#!/bin/sh\n").unwrap();
    fs::set_permissions(p.join("payload/run"), fs::Permissions::from_mode(0o755)).unwrap();
    fs::create_dir_all(p.join("share/sub")).unwrap();
    fs::write(p.join("share/a.txt"), "a\n").unwrap();
    fs::write(p.join("share/sub/b.txt"), "b\n").unwrap();
    fs::write(p.join("share/tool"), "#!/bin/sh\n").unwrap();
    fs::set_permissions(p.join("share/tool"), fs::Permissions::from_mode(0o755)).unwrap();
    fs::create_dir_all(p.join("docs")).unwrap();
    fs::write(p.join("docs/one.md"), "1\n").unwrap();
    fs::write(p.join("docs/two.md"), "2\n").unwrap();
    fs::write(p.join("docs/skip.txt"), "x\n").unwrap();
    fs::write(p.join("m.toml"), format!("{MANIFEST}{files}")).unwrap();
    dir
}

const GOOD: &str = r#"
[[files]]
src = "share"
dest = "/usr/share/filesdemo"

[[files]]
src = "docs/*.md"
dest = "/usr/share/doc/filesdemo"

[[files]]
symlink = "/opt/filesdemo/run"
dest = "/usr/bin/filesdemo"
"#;

#[test]
fn trees_globs_and_symlinks_land_the_same_in_every_format() {
    let dir = project(GOOD);
    let p = dir.path();
    let o = lucia(p, &["build", "-m", "m.toml", "-o", "out"]);
    assert!(o.status.success(), "{}", text(&o));
    let want_files = [
        ("/usr/share/filesdemo/a.txt", 0o644),
        ("/usr/share/filesdemo/sub/b.txt", 0o644),
        ("/usr/share/filesdemo/tool", 0o755),
        ("/usr/share/doc/filesdemo/one.md", 0o644),
        ("/usr/share/doc/filesdemo/two.md", 0o644),
    ];

    // deb, as dpkg-deb lists it.
    if have("dpkg-deb") {
        let o = Command::new("dpkg-deb")
            .arg("-c")
            .arg(p.join("out/filesdemo_1.0.0-1_amd64.deb"))
            .output()
            .unwrap();
        let l = String::from_utf8_lossy(&o.stdout);
        for (f, mode) in want_files {
            let perm = if mode == 0o755 {
                "-rwxr-xr-x"
            } else {
                "-rw-r--r--"
            };
            assert!(
                l.lines()
                    .any(|x| x.starts_with(perm) && x.ends_with(&format!(".{f}"))),
                "{f} {perm} not in:\n{l}"
            );
        }
        assert!(
            l.contains("./usr/bin/filesdemo -> /opt/filesdemo/run"),
            "{l}"
        );
        assert!(!l.contains("skip.txt"), "{l}");
    } else {
        assert!(!e2e_required(), "dpkg-deb missing");
    }

    // rpm, as rpm lists it (modes and link targets from the header).
    if have("rpm") {
        let o = Command::new("rpm")
            .args([
                "-qp",
                "--qf",
                "[%{FILEMODES:perms} %{FILENAMES} %{FILELINKTOS}\n]",
            ])
            .arg(p.join("out/filesdemo-1.0.0-1.x86_64.rpm"))
            .output()
            .unwrap();
        let l = String::from_utf8_lossy(&o.stdout);
        for (f, mode) in want_files {
            let perm = if mode == 0o755 {
                "-rwxr-xr-x"
            } else {
                "-rw-r--r--"
            };
            assert!(
                l.contains(&format!("{perm} {f} ")),
                "{f} {perm} not in:\n{l}"
            );
        }
        assert!(
            l.contains("lrwxrwxrwx /usr/bin/filesdemo /opt/filesdemo/run"),
            "{l}"
        );
        // /usr/bin is the system's, not the package's.
        assert!(
            !l.lines().any(|x| x.split(' ').nth(1) == Some("/usr/bin")),
            "{l}"
        );
    } else {
        assert!(!e2e_required(), "rpm missing");
    }

    // The tarball's install.sh into a DESTDIR.
    let unpack = tempfile::tempdir().unwrap();
    let st = Command::new("tar")
        .arg("-xzf")
        .arg(p.join("out/filesdemo-1.0.0-linux-amd64.tar.gz"))
        .arg("-C")
        .arg(unpack.path())
        .status()
        .unwrap();
    assert!(st.success());
    let root = tempfile::tempdir().unwrap();
    let o = Command::new("sh")
        .arg(unpack.path().join("filesdemo-1.0.0/install.sh"))
        .env("DESTDIR", root.path())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    for (f, mode) in want_files {
        let md = fs::metadata(root.path().join(&f[1..])).unwrap();
        assert_eq!(md.permissions().mode() & 0o777, mode, "{f}");
    }
    let link = fs::read_link(root.path().join("usr/bin/filesdemo")).unwrap();
    assert_eq!(link, Path::new("/opt/filesdemo/run"));
}

#[test]
fn ambiguous_file_entries_are_refused_where_written() {
    for (files, needle) in [
        ("[[files]]\ndest = \"/etc/x\"\n", "needs `src` or `symlink`"),
        (
            "[[files]]\nsrc = \"share/a.txt\"\nsymlink = \"/x\"\ndest = \"/etc/x\"\n",
            "both `src` and `symlink`",
        ),
        (
            "[[files]]\nsrc = \"docs/*.rst\"\ndest = \"/usr/share/doc/x\"\n",
            "no file matches",
        ),
        (
            "[[files]]\nsymlink = \"/opt/filesdemo/run\"\nmode = \"0755\"\ndest = \"/usr/bin/x\"\n",
            "takes no mode",
        ),
        (
            "[[files]]\nsymlink = \"a\\nb\"\ndest = \"/usr/bin/x\"\n",
            "not a symlink target",
        ),
        // Checked where the mode is written (it used to be a plan-time error naming the source
        // file, with no line or column).
        (
            "[[files]]\nsrc = \"share/a.txt\"\nmode = \"4755\"\ndest = \"/usr/bin/x\"\n",
            "mode 4755 is world-writable or setuid/setgid",
        ),
        (
            "[[files]]\nsrc = \"share\"\nmode = \"0666\"\ndest = \"/usr/share/x\"\n",
            "mode 0666 is world-writable or setuid/setgid",
        ),
    ] {
        let dir = project(&format!("\n{files}"));
        let o = lucia(dir.path(), &["check", "-m", "m.toml"]);
        assert_eq!(o.status.code(), Some(2), "{files}: {}", text(&o));
        assert!(text(&o).contains(needle), "{files}: {}", text(&o));
        assert!(
            text(&o).contains("m.toml:"),
            "{files}: no location: {}",
            text(&o)
        );
    }
    // A link inside a tree is refused: what is packaged stays explicit.
    let dir = project("\n[[files]]\nsrc = \"share\"\ndest = \"/usr/share/filesdemo\"\n");
    std::os::unix::fs::symlink("a.txt", dir.path().join("share/link")).unwrap();
    let o = lucia(dir.path(), &["check", "-m", "m.toml"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("symlink entries"), "{}", text(&o));
}
