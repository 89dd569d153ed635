//! The writer checked by the real Debian tools: dpkg-deb reads, lists and extracts what we write,
//! md5sums match what dpkg-deb extracts, every maintainer script parses, lintian has no error or
//! warning left (with the overrides the package itself ships), and builds are bit-identical.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use pkg_core::compress::Codec;
use pkg_core::plan::{Content, Entry, EntryKind, Layer, Owner, Plan};
use pkg_core::sample::lucia_like_plan;
use pkg_core::Arch;
use sha2::{Digest, Sha256};

fn build(plan: &Plan) -> Vec<u8> {
    let mut out = Vec::new();
    let summary = format_deb::write_deb(plan, &mut out).expect("write_deb");
    assert_eq!(summary.size, out.len() as u64);
    assert_eq!(summary.sha256, hex::encode(Sha256::digest(&out)));
    out
}

fn write(dir: &Path, plan: &Plan) -> PathBuf {
    let p = dir.join(format_deb::file_name(plan));
    std::fs::write(&p, build(plan)).unwrap();
    p
}

fn run(cmd: &mut Command) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn stdout(cmd: &mut Command) -> String {
    String::from_utf8_lossy(&run(cmd).stdout).into_owned()
}

fn disk_file(dir: &Path, path: &str, bytes: &[u8], mode: u32) -> Entry {
    let src = dir.join(format!("src-{}", path.replace('/', "_")));
    std::fs::write(&src, bytes).unwrap();
    Entry {
        path: path.into(),
        kind: EntryKind::File {
            content: Content::Disk(src),
            size: bytes.len() as u64,
            sha256: Sha256::digest(bytes).into(),
        },
        mode,
        owner: Owner::root(),
        config: false,
        owned: true,
        layer: Layer::App,
    }
}

fn dir_entry(path: &str) -> Entry {
    Entry {
        path: path.into(),
        kind: EntryKind::Dir,
        mode: 0o755,
        owner: Owner::root(),
        config: false,
        owned: true,
        layer: Layer::App,
    }
}

/// The sample plan plus a payload file streamed from disk whose archive path exceeds 100 bytes.
fn plan_with_long_path(dir: &Path, arch: Arch) -> (Plan, String) {
    let mut plan = lucia_like_plan(arch);
    let deep = format!("/opt/lucia/{}", "wwwroot_assets_component".repeat(3));
    let long = format!("{deep}/{}.js", "x".repeat(60));
    assert!(long.len() > 101);
    plan.entries.push(dir_entry(&deep));
    plan.entries
        .push(disk_file(dir, &long, b"console.log('long path');\n", 0o644));
    plan.entries
        .sort_by(|a, b| a.path.as_bytes().cmp(b.path.as_bytes()));
    (plan, long)
}

#[test]
fn builds_are_bit_identical_for_every_codec() {
    for codec in [
        Codec::Xz(6),
        Codec::XzMt(1),
        Codec::Zstd(3),
        Codec::Gzip(9),
        Codec::None,
    ] {
        let mut plan = lucia_like_plan(Arch::Amd64);
        plan.formats.deb.compression = codec;
        let a = build(&plan);
        let b = build(&plan);
        assert_eq!(a, b, "{codec}: two builds differ");
        // The member names follow the codec.
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("x.deb");
        std::fs::write(&p, &a).unwrap();
        let names: Vec<String> = format_deb::inspect(&p)
            .unwrap()
            .members
            .into_iter()
            .map(|m| m.name)
            .collect();
        let ext = match codec.extension() {
            "" => String::new(),
            e => format!(".{e}"),
        };
        assert_eq!(
            names,
            [
                "debian-binary".to_string(),
                format!("control.tar{ext}"),
                format!("data.tar{ext}")
            ]
        );
        // A different source date must change the bytes (the date really reaches the archive).
        plan.source_date += 1;
        assert_ne!(a, build(&plan), "{codec}: source date ignored");
    }
}

#[test]
fn dpkg_deb_reads_lists_and_extracts() {
    let dir = tempfile::tempdir().unwrap();
    for (arch, codec) in [
        (Arch::Amd64, Codec::Xz(6)),
        (Arch::Arm64, Codec::Zstd(19)),
        (Arch::Amd64, Codec::Gzip(6)),
        (Arch::Arm64, Codec::XzMt(0)),
    ] {
        let (mut plan, long) = plan_with_long_path(dir.path(), arch);
        plan.formats.deb.compression = codec;
        let deb = write(dir.path(), &plan);
        assert_eq!(
            deb.file_name().unwrap().to_str().unwrap(),
            format!("lucia_1.0.0-1_{}.deb", arch.deb())
        );

        let info = stdout(Command::new("dpkg-deb").arg("--info").arg(&deb));
        assert!(info.contains(" new Debian package, version 2.0."), "{info}");
        let members = stdout(Command::new("ar").arg("t").arg(&deb));
        let ext = codec.extension();
        assert_eq!(
            members,
            format!("debian-binary\ncontrol.tar.{ext}\ndata.tar.{ext}\n")
        );
        let fields = stdout(Command::new("dpkg-deb").arg("-f").arg(&deb).args([
            "Package",
            "Version",
            "Architecture",
        ]));
        assert_eq!(
            fields,
            format!(
                "Package: lucia\nVersion: 1.0.0-1\nArchitecture: {}\n",
                arch.deb()
            )
        );
        let i = stdout(Command::new("dpkg-deb").arg("-I").arg(&deb));
        assert!(i.contains(" Description: Lucia home-assistant agent host\n  Lucia runs the AgentHost service."), "{i}");
        for script in ["preinst", "postinst", "prerm", "postrm"] {
            assert!(i.contains(script), "{script} missing: {i}");
        }

        let listing = stdout(Command::new("dpkg-deb").arg("-c").arg(&deb));
        let first = listing.lines().next().unwrap();
        assert!(
            first.starts_with("drwxr-xr-x root/root") && first.ends_with(" ./"),
            "{first}"
        );
        assert!(
            listing.contains(&format!(".{long}")),
            "long path missing:\n{listing}"
        );
        assert!(
            listing.contains("-rw-r----- root/lucia"),
            "env file owner:\n{listing}"
        );
        assert!(listing.contains("./usr/share/doc/lucia/changelog.Debian.gz"));
        assert!(listing.contains("./usr/share/lintian/overrides/lucia"));
        assert!(listing.contains("2026-01-01 00:00"), "mtime:\n{listing}");

        // Extract data and control; md5sums must match the extracted files exactly.
        let x = dir.path().join(format!("x-{}-{}", arch, codec.name()));
        let c = dir.path().join(format!("c-{}-{}", arch, codec.name()));
        run(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&x));
        run(Command::new("dpkg-deb").arg("-e").arg(&deb).arg(&c));
        assert_eq!(
            std::fs::read(x.join(&long[1..])).unwrap(),
            b"console.log('long path');\n"
        );
        let check = stdout(
            Command::new("md5sum")
                .arg("-c")
                .arg(c.join("md5sums"))
                .current_dir(&x),
        );
        let regular_files = listing.lines().filter(|l| l.starts_with('-')).count();
        assert_eq!(
            check.lines().filter(|l| l.ends_with(": OK")).count(),
            regular_files,
            "{check}"
        );
        assert_eq!(
            std::fs::read_to_string(c.join("conffiles")).unwrap(),
            "/etc/lucia/lucia.env\n"
        );

        // Scripts: 0755, valid sh, and dash (Debian's /bin/sh) agrees.
        for script in ["preinst", "postinst", "prerm", "postrm"] {
            let p = c.join(script);
            let mode = std::os::unix::fs::PermissionsExt::mode(
                &std::fs::metadata(&p).unwrap().permissions(),
            );
            assert_eq!(mode & 0o777, 0o755, "{script}");
            run(Command::new("sh").arg("-n").arg(&p));
            run(Command::new("dash").arg("-n").arg(&p));
        }

        // Installed-Size is what the extracted tree needs, in KiB (dpkg-gencontrol's estimate).
        let control = std::fs::read_to_string(c.join("control")).unwrap();
        let kib: u64 = control
            .lines()
            .find_map(|l| l.strip_prefix("Installed-Size: "))
            .unwrap()
            .parse()
            .unwrap();
        let expected: u64 = listing
            .lines()
            .filter(|l| !l.ends_with(" ./"))
            .map(|l| {
                let size: u64 = l.split_whitespace().nth(2).unwrap().parse().unwrap();
                if l.starts_with('-') {
                    size.div_ceil(1024)
                } else {
                    1
                }
            })
            .sum();
        assert_eq!(kib, expected, "Installed-Size");
    }
}

#[test]
fn lintian_has_nothing_left_to_say() {
    let dir = tempfile::tempdir().unwrap();
    for arch in Arch::ALL {
        let (mut plan, _) = plan_with_long_path(dir.path(), arch);
        // The sample's synopsis starts with the product name; a manifest can justify that with
        // an override of its own, which must then be shipped with its reason.
        plan.formats.deb.lintian_overrides =
            vec!["description-starts-with-package-name # the product is called Lucia and upstream's synopsis names it first".into()];
        let deb = write(dir.path(), &plan);
        if let Ok(keep) = std::env::var("FORMAT_DEB_KEEP") {
            std::fs::copy(&deb, Path::new(&keep).join(deb.file_name().unwrap())).unwrap();
        }
        // Gate without --show-overrides: with it, lintian 2.116 counts overridden tags for --fail-on.
        let out = Command::new("lintian")
            .args(["--fail-on", "error,warning", "--display-level", ">=warning"])
            .arg(&deb)
            .output()
            .expect("lintian is installed (scripts/ci-packages.txt)");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.status.success(),
            "lintian failed ({}) on {}:\n{text}",
            out.status,
            deb.display()
        );
        assert!(
            !text
                .lines()
                .any(|l| l.starts_with("E: ") || l.starts_with("W: ")),
            "{text}"
        );
        // Every override is shipped in the package with its reason, and each one is used.
        let shipped = shipped_overrides(&deb);
        let shown = Command::new("lintian")
            .args(["--fail-on", "none", "--show-overrides"])
            .arg(&deb)
            .output()
            .unwrap();
        let shown = String::from_utf8_lossy(&shown.stdout);
        for line in shipped.lines().filter(|l| l.starts_with("lucia: ")) {
            let tag = line
                .trim_start_matches("lucia: ")
                .split_whitespace()
                .next()
                .unwrap();
            assert!(
                shown
                    .lines()
                    .any(|l| l.starts_with(&format!("O: lucia: {tag}"))),
                "override {tag} is unused:\n{shown}"
            );
        }
    }
}

fn shipped_overrides(deb: &Path) -> String {
    let d = tempfile::tempdir().unwrap();
    run(Command::new("dpkg-deb").arg("-x").arg(deb).arg(d.path()));
    let text = std::fs::read_to_string(d.path().join("usr/share/lintian/overrides/lucia")).unwrap();
    // Each override line is preceded by its reason.
    let lines: Vec<&str> = text.lines().collect();
    for (i, l) in lines.iter().enumerate() {
        if l.starts_with("lucia: ") {
            assert!(
                i > 0 && lines[i - 1].starts_with("# ") && lines[i - 1].len() > 10,
                "override without reason: {l}"
            );
        }
    }
    text
}

#[test]
fn inspect_reports_what_dpkg_deb_sees() {
    let dir = tempfile::tempdir().unwrap();
    let (plan, long) = plan_with_long_path(dir.path(), Arch::Arm64);
    let deb = write(dir.path(), &plan);
    let r = format_deb::inspect(&deb).unwrap();
    assert_eq!(r.field("Architecture"), Some("arm64"));
    assert_eq!(r.field("Package"), Some("lucia"));
    assert_eq!(r.conffiles, vec!["/etc/lucia/lucia.env".to_string()]);
    let names: Vec<&str> = r.scripts.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["postinst", "postrm", "preinst", "prerm"]);
    assert!(r
        .scripts
        .iter()
        .all(|s| s.mode == "0755" && s.content.starts_with("#!/bin/sh")));
    let listing = stdout(Command::new("dpkg-deb").arg("-c").arg(&deb));
    assert_eq!(r.files.len(), listing.lines().count());
    let f = r
        .files
        .iter()
        .find(|f| f.path == format!(".{long}"))
        .expect("long path listed");
    assert!(f.md5.is_some());
    let env = r
        .files
        .iter()
        .find(|f| f.path == "./etc/lucia/lucia.env")
        .unwrap();
    assert_eq!(
        (
            env.permissions.as_str(),
            env.user.as_str(),
            env.group.as_str()
        ),
        ("-rw-r-----", "root", "lucia")
    );
    let text = r.to_string();
    assert!(
        text.contains("Architecture: arm64") && text.contains("--- postinst ---"),
        "{text}"
    );
    serde_json::to_string(&r).unwrap();
}

#[test]
fn inspect_survives_corrupt_input() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("bad.deb");
    for codec in [Codec::Gzip(6), Codec::Xz(6), Codec::Zstd(3), Codec::None] {
        let mut plan = lucia_like_plan(Arch::Amd64);
        plan.formats.deb.compression = codec;
        let good = build(&plan);
        // Truncations at many points, and single-byte corruptions across the file: never a
        // panic, and a truncated file is always an error.
        for cut in (0..good.len()).step_by(97) {
            std::fs::write(&p, &good[..cut]).unwrap();
            assert!(
                format_deb::inspect(&p).is_err(),
                "{codec}: truncated at {cut} accepted"
            );
        }
        for pos in (0..good.len()).step_by(29) {
            let mut bad = good.clone();
            bad[pos] ^= 0x5a;
            std::fs::write(&p, &bad).unwrap();
            let _ = format_deb::inspect(&p);
        }
    }
    std::fs::write(
        &p,
        b"!<arch>\ndebian-binary   0           0     0     100644  4         `\n2.0\n",
    )
    .unwrap();
    assert!(format_deb::inspect(&p).is_err());
}

/// inspect also reads what dpkg-deb itself builds (GNU tar from dpkg, xz and zstd members).
#[test]
fn inspect_reads_dpkg_deb_built_packages() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("pkg");
    std::fs::create_dir_all(root.join("DEBIAN")).unwrap();
    std::fs::create_dir_all(root.join("usr/share/demo")).unwrap();
    let long = format!("usr/share/demo/{}", "n".repeat(120));
    std::fs::write(root.join(&long), b"x").unwrap();
    std::os::unix::fs::symlink("../demo", root.join("usr/share/demo-link")).unwrap();
    std::fs::write(
        root.join("DEBIAN/control"),
        "Package: demo\nVersion: 2:1.0-3\nArchitecture: all\nMaintainer: A <a@example.org>\nDescription: demo\n body\n",
    )
    .unwrap();
    std::fs::write(root.join("DEBIAN/postinst"), "#!/bin/sh\nexit 0\n").unwrap();
    std::fs::set_permissions(
        root.join("DEBIAN/postinst"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    for z in ["xz", "zstd", "gzip"] {
        let deb = dir.path().join(format!("demo-{z}.deb"));
        run(Command::new("dpkg-deb")
            .args(["--root-owner-group", &format!("-Z{z}"), "--build"])
            .arg(&root)
            .arg(&deb));
        let r = format_deb::inspect(&deb).unwrap();
        assert_eq!(r.field("Version"), Some("2:1.0-3"), "{z}");
        assert_eq!(r.scripts.len(), 1);
        assert!(
            r.files.iter().any(|f| f.path == format!("./{long}")),
            "{z}: {:?}",
            r.files
        );
        let link = r
            .files
            .iter()
            .find(|f| f.path == "./usr/share/demo-link")
            .unwrap();
        assert_eq!(
            (link.kind.as_str(), link.link_target.as_deref()),
            ("symlink", Some("../demo"))
        );
        assert_eq!(
            r.files.len(),
            stdout(Command::new("dpkg-deb").arg("-c").arg(&deb))
                .lines()
                .count()
        );
    }
}

/// Nothing is tied to the sample's name: a renamed package gets its own file name, Package field,
/// documentation directory and overrides file, and the name "lucia" appears nowhere (the tool's
/// own name, lucia-pkg, may).
#[test]
fn everything_follows_the_plan_name() {
    let dir = tempfile::tempdir().unwrap();
    let mut plan = lucia_like_plan(Arch::Arm64);
    plan.meta.name = "acme-agent".into();
    plan.meta.summary = "agent host".into();
    plan.meta.changelog.clear();
    for e in &mut plan.entries {
        e.path = e.path.replace("lucia", "acme");
        if let EntryKind::File {
            content: Content::Inline(b),
            size,
            ..
        } = &mut e.kind
        {
            let text = String::from_utf8_lossy(b)
                .replace("lucia", "acme")
                .replace("Lucia", "Acme");
            *size = text.len() as u64;
            *b = std::sync::Arc::new(text.into_bytes());
        }
        e.owner.group = e.owner.group.replace("lucia", "acme");
    }
    plan.entries
        .sort_by(|a, b| a.path.as_bytes().cmp(b.path.as_bytes()));
    plan.meta.maintainer = "Acme <ops@example.org>".into();
    plan.meta.vendor = None;
    plan.meta.homepage = None;
    plan.meta.source_url = None;
    plan.meta.description = "Runs the agent.".into();
    let svc = plan.service.as_mut().unwrap();
    let u = svc.user.as_mut().unwrap();
    u.name = "acme".into();
    u.group = "acme".into();
    u.home = "/var/lib/acme".into();
    u.gecos = "Acme".into();
    svc.dirs[0].path = "/var/lib/acme".into();
    svc.dirs[0].user = "acme".into();
    svc.dirs[0].group = "acme".into();
    svc.units[0].name = "acme.service".into();
    let env = svc.env_file.as_mut().unwrap();
    env.path = "/etc/acme/acme.env".into();
    env.group = "acme".into();
    svc.sysusers_path = "/usr/lib/sysusers.d/acme.conf".into();
    svc.tmpfiles_path = "/usr/lib/tmpfiles.d/acme.conf".into();
    assert_eq!(format_deb::file_name(&plan), "acme-agent_1.0.0-1_arm64.deb");
    let deb = write(dir.path(), &plan);
    let x = dir.path().join("x");
    run(Command::new("dpkg-deb").arg("-R").arg(&deb).arg(&x));
    let grep = Command::new("grep")
        .args(["-rniE", "lucia([^-_]|$)"])
        .arg(&x)
        .output()
        .unwrap();
    assert!(
        grep.stdout.is_empty(),
        "found 'lucia' in: {}",
        String::from_utf8_lossy(&grep.stdout)
    );
    assert!(x.join("usr/share/doc/acme-agent/copyright").is_file());
    assert!(x
        .join("usr/share/doc/acme-agent/changelog.Debian.gz")
        .is_file());
    let ov = std::fs::read_to_string(x.join("usr/share/lintian/overrides/acme-agent")).unwrap();
    assert!(ov.contains("\nacme-agent: dir-or-file-in-opt\n"), "{ov}");
    assert!(std::fs::read_to_string(x.join("DEBIAN/postinst"))
        .unwrap()
        .contains("deb-systemd-helper enable acme.service"));
}
