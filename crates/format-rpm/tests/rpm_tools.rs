//! The writer checked by the real tools: rpm (Debian's rpm 4.18), rpmlint, sh. These tests fail
//! (rather than skip) when a tool is missing: CI installs them from scripts/ci-packages.txt.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Output;

use pkg_core::compress::Codec;
use pkg_core::plan::{Content, Entry, EntryKind, Layer, Owner, Plan};
use pkg_core::sample::lucia_like_plan;
use pkg_core::Arch;
use sha2::{Digest, Sha256};

mod common;
use common::{assert_same_package, rpmq, run};

const SD: u64 = 1_767_225_600;

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn disk_file(dir: &Path, name: &str, bytes: &[u8], mtime: &str) -> (Content, u64, [u8; 32]) {
    let p = dir.join(name);
    fs::write(&p, bytes).unwrap();
    // An on-disk mtime older than the source date: the crate alone would leak it into the rpm.
    assert!(run("touch", &["-d", mtime, p.to_str().unwrap()])
        .status
        .success());
    (
        Content::Disk(p),
        bytes.len() as u64,
        Sha256::digest(bytes).into(),
    )
}

/// The sample plan, closer to Lucia's real manifest: the executable is a real ELF streamed from
/// disk, there is a doc file and the rpm group of packaging/lucia.toml.
fn plan(dir: &Path, codec: Codec) -> Plan {
    let mut p = lucia_like_plan(Arch::Amd64);
    let elf = fs::read("/usr/bin/true").expect("/usr/bin/true");
    for e in &mut p.entries {
        if e.path == "/opt/lucia/lucia.AgentHost" {
            let (content, size, sha256) = disk_file(dir, "lucia.AgentHost", &elf, "@1000000000");
            e.kind = EntryKind::File {
                content,
                size,
                sha256,
            };
        }
        if e.path == "/opt/lucia/appsettings.json" {
            let (content, size, sha256) = disk_file(
                dir,
                "appsettings.json",
                b"{\"Logging\":{}}\n",
                "@1000000000",
            );
            e.kind = EntryKind::File {
                content,
                size,
                sha256,
            };
        }
    }
    let doc = b"# Lucia service\n";
    for (path, kind) in [
        ("/usr/share", EntryKind::Dir),
        ("/usr/share/doc", EntryKind::Dir),
        ("/usr/share/doc/lucia", EntryKind::Dir),
        (
            "/usr/share/doc/lucia/README.service.md",
            EntryKind::File {
                content: Content::inline(doc.to_vec()),
                size: doc.len() as u64,
                sha256: Sha256::digest(doc).into(),
            },
        ),
    ] {
        p.entries.push(Entry {
            path: path.into(),
            owned: path.starts_with("/usr/share/doc/lucia"),
            kind,
            mode: if path.ends_with(".md") { 0o644 } else { 0o755 },
            owner: Owner::root(),
            config: false,
            layer: Layer::Config,
        });
    }
    p.entries
        .sort_by(|a, b| a.path.as_bytes().cmp(b.path.as_bytes()));
    p.formats.rpm.compression = codec;
    p.formats.rpm.group = Some("System Environment/Daemons".into());
    p.formats.rpm.requires = vec!["glibc >= 2.28".into(), "libstdc++".into()];
    p.formats.rpm.recommends = vec!["ca-certificates".into()];
    p.meta.conflicts = vec!["lucia-legacy (<< 1.0)".into()];
    p
}

fn write(plan: &Plan, dir: &Path) -> PathBuf {
    let path = dir.join(format_rpm::file_name(plan));
    let f = fs::File::create(&path).unwrap();
    let s = format_rpm::write_rpm(plan, f).unwrap_or_else(|e| panic!("write_rpm: {e}"));
    let bytes = fs::read(&path).unwrap();
    assert_eq!(s.size, bytes.len() as u64);
    assert_eq!(s.sha256, hex(&Sha256::digest(&bytes)));
    path
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[test]
fn file_name_uses_the_rpm_arch_table() {
    assert_eq!(
        format_rpm::file_name(&lucia_like_plan(Arch::Amd64)),
        "lucia-1.0.0-1.x86_64.rpm"
    );
    assert_eq!(
        format_rpm::file_name(&lucia_like_plan(Arch::Arm64)),
        "lucia-1.0.0-1.aarch64.rpm"
    );
}

#[test]
fn reproducible_for_every_codec_and_read_by_rpm() {
    for (codec, name) in [
        (Codec::Zstd(19), "zstd"),
        (Codec::Gzip(9), "gzip"),
        (Codec::Xz(6), "xz"),
    ] {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        // Different temp paths and different on-disk mtimes must not matter.
        let pa = write(&plan(a.path(), codec), a.path());
        let plan_b = plan(b.path(), codec);
        for e in &plan_b.entries {
            if let EntryKind::File {
                content: Content::Disk(p),
                ..
            } = &e.kind
            {
                assert!(run("touch", &["-d", "@1500000000", p.to_str().unwrap()])
                    .status
                    .success());
            }
        }
        let pb = write(&plan_b, b.path());
        let (ba, bb) = (fs::read(&pa).unwrap(), fs::read(&pb).unwrap());
        assert!(ba == bb, "{name}: two builds differ");

        // The bounded-memory writer and the crate's all-in-memory build give the same header and
        // the same uncompressed payload.
        let mut reference = Vec::new();
        format_rpm::write_rpm_in_memory(&plan(a.path(), codec), &mut reference).unwrap();
        assert_same_package(&ba, &reference, codec, name);

        let q = rpmq(
            a.path(),
            &[
                "-qp",
                "--qf",
                "%{BUILDTIME} %{BUILDHOST} %{PAYLOADCOMPRESSOR}\\n",
                pa.to_str().unwrap(),
            ],
        );
        assert!(q.status.success(), "{}", String::from_utf8_lossy(&q.stderr));
        assert_eq!(stdout(&q), format!("{SD} reproducible {name}\n"));

        let k = rpmq(a.path(), &["-K", pa.to_str().unwrap()]);
        assert!(
            k.status.success() && stdout(&k).contains("digests OK"),
            "{name}: {}",
            stdout(&k)
        );

        // Every file's mtime is the source date, including files whose disk mtime is older.
        let m = rpmq(
            a.path(),
            &["-qp", "--qf", "[%{FILEMTIMES}\\n]", pa.to_str().unwrap()],
        );
        let mtimes: Vec<String> = stdout(&m).lines().map(str::to_string).collect();
        assert!(
            !mtimes.is_empty() && mtimes.iter().all(|t| *t == SD.to_string()),
            "{name}: {mtimes:?}"
        );
    }
}

#[test]
fn header_files_and_scripts_as_rpm_sees_them() {
    let d = tempfile::tempdir().unwrap();
    let p = plan(d.path(), Codec::Zstd(19));
    let rpm = write(&p, d.path());
    let r = rpm.to_str().unwrap();

    let info = stdout(&rpmq(d.path(), &["-qip", r]));
    for (k, v) in [
        ("Name", "lucia"),
        ("Version", "1.0.0"),
        ("Release", "1"),
        ("Architecture", "x86_64"),
        ("Group", "System Environment/Daemons"),
        ("License", "MIT"),
        ("Build Host", "reproducible"),
        ("Packager", "Lucia Project <lucia@example.org>"),
        ("Vendor", "Lucia Project"),
        ("URL", "https://github.com/seiggy/lucia-dotnet"),
        ("Summary", "Lucia home-assistant agent host"),
    ] {
        let found = info.lines().any(|l| {
            l.split_once(':')
                .is_some_and(|(a, b)| a.trim() == k && b.trim() == v)
        });
        assert!(found, "{k}: {v} missing in\n{info}");
    }

    // Files: modes, owners, only owned directories, config flag.
    let lv = stdout(&rpmq(d.path(), &["-qlvp", r]));
    let line = |path: &str| {
        lv.lines()
            .find(|l| l.ends_with(&format!(" {path}")))
            .map(str::to_string)
    };
    let env = line("/etc/lucia/lucia.env").expect("env file listed");
    assert!(
        env.starts_with("-rw-r-----") && env.contains(" root ") && env.contains(" lucia "),
        "{env}"
    );
    assert!(line("/opt/lucia/lucia.AgentHost").is_some_and(|l| l.starts_with("-rwxr-xr-x")));
    assert!(line("/opt/lucia").is_some_and(|l| l.starts_with("drwxr-xr-x")));
    for shared in [
        "/etc",
        "/opt",
        "/usr",
        "/usr/lib",
        "/usr/lib/systemd/system",
        "/usr/share/doc",
    ] {
        assert!(line(shared).is_none(), "{shared} must not be owned:\n{lv}");
    }
    let cfg = stdout(&rpmq(d.path(), &["-qcp", r]));
    assert_eq!(cfg, "/etc/lucia/lucia.env\n");
    let flags = stdout(&rpmq(
        d.path(),
        &["-qp", "--qf", "[%{FILENAMES} %{FILEFLAGS:fflags}\\n]", r],
    ));
    assert!(
        flags.lines().any(|l| l == "/etc/lucia/lucia.env cn"),
        "{flags}"
    );
    assert!(
        flags
            .lines()
            .any(|l| l == "/usr/share/doc/lucia/README.service.md d"),
        "{flags}"
    );

    // Dependencies.
    let req = stdout(&rpmq(d.path(), &["-qp", "--requires", r]));
    for dep in ["glibc >= 2.28", "libstdc++", "/usr/sbin/useradd", "systemd"] {
        assert!(req.lines().any(|l| l == dep), "{dep} not in\n{req}");
    }
    assert_eq!(
        stdout(&rpmq(d.path(), &["-qp", "--conflicts", r])),
        "lucia-legacy < 1.0\n"
    );
    assert!(stdout(&rpmq(d.path(), &["-qp", "--recommends", r]))
        .lines()
        .any(|l| l == "ca-certificates"));
    let req_pre = stdout(&rpmq(
        d.path(),
        &[
            "-qp",
            "--qf",
            "[%{REQUIRENAME} %{REQUIREFLAGS:deptype}\\n]",
            r,
        ],
    ));
    assert!(
        req_pre.lines().any(|l| l == "/usr/sbin/useradd pre"),
        "{req_pre}"
    );
    assert!(req_pre.lines().any(|l| l == "systemd post"), "{req_pre}");

    // Changelog.
    let cl = stdout(&rpmq(d.path(), &["-qp", "--changelog", r]));
    assert!(cl.starts_with("* Thu Jan 01 2026 Lucia Project <lucia@example.org> - 1.0.0-1\n- First packaged release."), "{cl}");

    // Scriptlets: all four, /bin/sh, each parses, each looks at $1 where it must.
    let scripts = stdout(&rpmq(d.path(), &["-qp", "--scripts", r]));
    for phase in ["preinstall", "postinstall", "preuninstall", "postuninstall"] {
        assert!(
            scripts.contains(&format!("{phase} scriptlet (using /bin/sh):")),
            "{phase} missing:\n{scripts}"
        );
    }
    let report = format_rpm::inspect(&rpm).expect("inspect");
    assert_eq!(report.scriptlets.len(), 4);
    for s in &report.scriptlets {
        assert_eq!(s.interpreter, vec!["/bin/sh".to_string()]);
        let n = run("sh", &["-n", "-c", &s.body]);
        assert!(
            n.status.success(),
            "{} does not parse: {}",
            s.phase,
            String::from_utf8_lossy(&n.stderr)
        );
        assert!(
            scripts.contains(s.body.trim_end()),
            "rpm shows a different {} body",
            s.phase
        );
    }
    let by = |ph: &str| {
        report
            .scriptlets
            .iter()
            .find(|s| s.phase == ph)
            .map(|s| s.body.clone())
            .unwrap_or_default()
    };
    assert!(by("%post").contains("if [ \"$1\" -eq 1 ]; then"));
    assert!(by("%preun").contains("if [ \"$1\" -eq 0 ]; then"));
    assert!(by("%postun").contains("if [ \"$1\" -ge 1 ]; then"));
    assert!(by("%pre").contains("useradd --system"));
}

#[test]
fn corrupted_copies_fail_rpm_k_and_inspect() {
    let d = tempfile::tempdir().unwrap();
    let rpm = write(&plan(d.path(), Codec::Zstd(19)), d.path());
    let good = fs::read(&rpm).unwrap();
    let ok = format_rpm::inspect(&rpm).unwrap();
    assert!(ok.digests.ok, "{:?}", ok.digests);
    assert_eq!(ok.digests.payload_sha256, "ok");

    // One byte in the payload (near the end) and one in the main header's data.
    let header_pos = good
        .windows(b"Lucia runs".len())
        .position(|w| w == b"Lucia runs")
        .unwrap();
    for (what, pos) in [("payload", good.len() - 20), ("header", header_pos)] {
        let mut bad = good.clone();
        bad[pos] ^= 0x01;
        let p = d.path().join(format!("corrupt-{what}.rpm"));
        fs::write(&p, &bad).unwrap();
        let k = rpmq(d.path(), &["-K", p.to_str().unwrap()]);
        assert!(
            !k.status.success(),
            "rpm -K accepted a corrupted {what}: {}",
            stdout(&k)
        );
        // The structure is intact, so inspect reads it and reports the digest that broke.
        let r = format_rpm::inspect(&p).unwrap_or_else(|e| panic!("inspect {what}: {e}"));
        assert!(
            !r.digests.ok,
            "inspect accepted a corrupted {what}: {:?}",
            r.digests
        );
        let broken = if what == "payload" {
            &r.digests.payload_sha256
        } else {
            &r.digests.header_sha256
        };
        assert!(broken.starts_with("MISMATCH"), "{what}: {:?}", r.digests);
    }
}

#[test]
fn inspect_refuses_garbage_without_panicking() {
    let d = tempfile::tempdir().unwrap();
    let rpm = write(&plan(d.path(), Codec::Gzip(9)), d.path());
    let good = fs::read(&rpm).unwrap();
    let mut cases: Vec<(String, Vec<u8>)> = vec![
        ("empty".into(), vec![]),
        (
            "text".into(),
            b"hello, this is not an rpm at all\n".repeat(10),
        ),
        ("lead only".into(), good[..96].to_vec()),
        ("truncated header".into(), good[..300].to_vec()),
    ];
    // A signature header that claims 4 GiB of data.
    let mut huge = good.clone();
    huge[96 + 12..96 + 16].copy_from_slice(&[0xff, 0xff, 0xff, 0xf0]);
    cases.push(("huge size".into(), huge));
    // Scribbles over the index entries.
    for off in [112usize, 130, 160, 200] {
        let mut x = good.clone();
        for b in &mut x[off..off + 16] {
            *b = 0xff;
        }
        cases.push((format!("scribbled at {off}"), x));
    }
    for (name, bytes) in cases {
        let p = d.path().join("x.rpm");
        fs::write(&p, &bytes).unwrap();
        if let Ok(r) = format_rpm::inspect(&p) {
            assert!(!r.digests.ok, "{name}: garbage passed as a valid rpm");
        }
    }
}

#[test]
fn rpmlint_is_clean_with_the_shipped_config() {
    let d = tempfile::tempdir().unwrap();
    let rpm = write(&plan(d.path(), Codec::Zstd(19)), d.path());
    let cfg = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../packaging/rpmlint.toml");
    let o = run(
        "rpmlint",
        &["-c", cfg.to_str().unwrap(), rpm.to_str().unwrap()],
    );
    let out = stdout(&o);
    assert!(
        o.status.success(),
        "rpmlint failed:\n{out}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        out.contains(" 0 errors, 0 warnings"),
        "rpmlint left findings:\n{out}"
    );
}

#[test]
fn hardlinks_on_disk_do_not_change_the_package() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mk = |dir: &Path, link: bool| {
        let mut p = plan(dir, Codec::Gzip(9));
        let src = dir.join("lucia.AgentHost");
        let copy = dir.join("agenthost-copy");
        if link {
            fs::hard_link(&src, &copy).unwrap();
        } else {
            fs::copy(&src, &copy).unwrap();
        }
        let kind = p.entry("/opt/lucia/lucia.AgentHost").unwrap().kind.clone();
        let EntryKind::File { size, sha256, .. } = kind else {
            unreachable!()
        };
        p.entries.push(Entry {
            path: "/opt/lucia/lucia.AgentHost.copy".into(),
            kind: EntryKind::File {
                content: Content::Disk(copy),
                size,
                sha256,
            },
            mode: 0o755,
            owner: Owner::root(),
            config: false,
            owned: true,
            layer: Layer::App,
        });
        p.entries
            .sort_by(|x, y| x.path.as_bytes().cmp(y.path.as_bytes()));
        p
    };
    let ra = write(&mk(a.path(), true), a.path());
    let rb = write(&mk(b.path(), false), b.path());
    assert!(
        fs::read(&ra).unwrap() == fs::read(&rb).unwrap(),
        "hard-linked payload changed the rpm"
    );
    // The crate's own path would detect the link by device/inode; format-rpm breaks it there too.
    let mut reference = Vec::new();
    format_rpm::write_rpm_in_memory(
        &mk(tempfile::tempdir().unwrap().path(), true),
        &mut reference,
    )
    .unwrap();
    assert_same_package(
        &fs::read(&ra).unwrap(),
        &reference,
        Codec::Gzip(9),
        "hard-linked payload",
    );
    let inodes = stdout(&rpmq(
        a.path(),
        &["-qp", "--qf", "[%{FILEINODES}\\n]", ra.to_str().unwrap()],
    ));
    let mut v: Vec<&str> = inodes.lines().collect();
    let n = v.len();
    v.sort();
    v.dedup();
    assert_eq!(v.len(), n, "files share an inode: {inodes}");
}

#[test]
fn refuses_what_would_break_reproducibility_or_secrecy() {
    let mut p = lucia_like_plan(Arch::Amd64);
    p.source_date = 4_000_000_000; // 2096
    let e = format_rpm::write_rpm(&p, Vec::new())
        .unwrap_err()
        .to_string();
    assert!(e.contains("future"), "{e}");

    let mut p = lucia_like_plan(Arch::Amd64);
    p.formats.rpm.requires = vec!["libicu | libicu74".into()];
    let e = format_rpm::write_rpm(&p, Vec::new())
        .unwrap_err()
        .to_string();
    assert!(e.contains("rpm.requires") && e.contains("(a or b)"), "{e}");

    let mut p = lucia_like_plan(Arch::Amd64);
    p.formats.rpm.signing_key = Some("/nonexistent/key.asc".into());
    let e = format_rpm::write_rpm(&p, Vec::new())
        .unwrap_err()
        .to_string();
    if cfg!(feature = "sign") {
        assert!(e.contains("/nonexistent/key.asc"), "{e}");
    } else {
        assert!(e.contains("`sign` feature"), "{e}");
    }
}

/// Signing with gpg-generated OpenPGP v4 keys (Ed25519, and RSA with a passphrase), checked by
/// `rpmkeys -Kv` with the public key imported. Only with `--features sign`.
#[cfg(feature = "sign")]
#[test]
fn signed_packages_verify_with_rpmkeys_and_are_reproducible() {
    let d = tempfile::tempdir().unwrap();
    let gnupg = d.path().join("gnupg");
    fs::create_dir(&gnupg).unwrap();
    let gpg = |args: &[&str]| {
        let o = std::process::Command::new("gpg")
            .args([
                "--batch",
                "--homedir",
                gnupg.to_str().unwrap(),
                "--pinentry-mode",
                "loopback",
            ])
            .args(args)
            .output()
            .expect("gpg (install gnupg)");
        assert!(
            o.status.success(),
            "gpg {args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        o.stdout
    };
    for (uid, algo, pass) in [
        ("Lucia Ed25519 <ed@example.org>", "ed25519", ""),
        ("Lucia RSA <rsa@example.org>", "rsa3072", "s3cret pass"),
    ] {
        gpg(&[
            "--passphrase",
            pass,
            "--quick-gen-key",
            uid,
            algo,
            "sign",
            "never",
        ]);
        let secret = d.path().join(format!("{algo}.sec.asc"));
        let public = d.path().join(format!("{algo}.pub.asc"));
        fs::write(
            &secret,
            gpg(&["--passphrase", pass, "--armor", "--export-secret-keys", uid]),
        )
        .unwrap();
        fs::write(&public, gpg(&["--armor", "--export", uid])).unwrap();

        let mut p = plan(d.path(), Codec::Zstd(19));
        p.formats.rpm.signing_key = Some(secret.clone());
        if pass.is_empty() {
            std::env::remove_var(format_rpm::PASSPHRASE_ENV);
        } else {
            // Without the passphrase the key cannot sign, and the error says where to put it.
            std::env::remove_var(format_rpm::PASSPHRASE_ENV);
            let e = format_rpm::write_rpm(&p, Vec::new())
                .unwrap_err()
                .to_string();
            assert!(
                e.contains(format_rpm::PASSPHRASE_ENV) && !e.contains("BEGIN PGP"),
                "{e}"
            );
            std::env::set_var(format_rpm::PASSPHRASE_ENV, pass);
        }
        let out = d.path().join(algo);
        fs::create_dir(&out).unwrap();
        let rpm = write(&p, &out);
        let again = d.path().join(format!("{algo}-again"));
        fs::create_dir(&again).unwrap();
        let rpm2 = write(&p, &again);
        assert!(
            fs::read(&rpm).unwrap() == fs::read(&rpm2).unwrap(),
            "{algo}: signed builds differ"
        );

        let db = d.path().join(format!("{algo}-db"));
        fs::create_dir(&db).unwrap();
        let k = run(
            "rpmkeys",
            &[
                "--dbpath",
                db.to_str().unwrap(),
                "-K",
                rpm.to_str().unwrap(),
            ],
        );
        assert!(
            !k.status.success(),
            "{algo}: verified without the key: {}",
            stdout(&k)
        );
        let imp = run(
            "rpmkeys",
            &[
                "--dbpath",
                db.to_str().unwrap(),
                "--import",
                public.to_str().unwrap(),
            ],
        );
        assert!(
            imp.status.success(),
            "{}",
            String::from_utf8_lossy(&imp.stderr)
        );
        let k = run(
            "rpmkeys",
            &[
                "--dbpath",
                db.to_str().unwrap(),
                "-Kv",
                rpm.to_str().unwrap(),
            ],
        );
        let text = stdout(&k);
        assert!(k.status.success(), "{algo}: rpmkeys -Kv failed:\n{text}");
        assert!(
            text.contains("Header V4")
                && text.contains("Signature, key ID")
                && text.contains(": OK"),
            "{text}"
        );
        let report = format_rpm::inspect(&rpm).unwrap();
        assert_eq!(report.digests.signatures, 1);
        assert!(report.digests.ok);
    }
    std::env::remove_var(format_rpm::PASSPHRASE_ENV);
}
