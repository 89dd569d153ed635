//! Cross-checks that catch real mistakes (issue 14): the units against the manifest and the
//! package (located in the unit file), the account's home, and the shared-library dependencies
//! of dynamically linked payloads as dpkg and rpm read them.

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The binary under test; `LUCIA_PKG_TEST_BIN` points the suite at another build (used to show
/// the tests fail on the code before a fix).
fn bin() -> PathBuf {
    std::env::var_os("LUCIA_PKG_TEST_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_lucia-pkg")))
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn have(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// CI (scripts/test.sh) sets this: a missing tool is then a failure, not a skip.
fn tools_required() -> bool {
    std::env::var_os("LUCIA_PKG_E2E_REQUIRED").is_some()
}

fn skip_without(tool: &str) -> bool {
    if have(tool) {
        return false;
    }
    assert!(
        !tools_required(),
        "{tool} is required (LUCIA_PKG_E2E_REQUIRED)"
    );
    eprintln!("skipped: {tool} is not installed");
    true
}

/// The deb/rpm name of the machine running the tests (payloads are compiled for it).
fn host_arch() -> &'static str {
    if cfg!(target_arch = "aarch64") {
        "arm64"
    } else {
        "amd64"
    }
}

/// A service package `svc` in a temp dir: a shell-script payload `/opt/svc/run`, the unit
/// `svc.service` and a manifest whose `[service]` table ends with `service_extra` lines.
struct Project {
    dir: tempfile::TempDir,
}

impl Project {
    fn new(unit: &str, service_extra: &str, rest: &str) -> Project {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path();
        fs::create_dir_all(p.join("payload")).unwrap();
        fs::write(p.join("payload/run"), "#!/bin/sh\nexec sleep 1000\n").unwrap();
        fs::set_permissions(p.join("payload/run"), fs::Permissions::from_mode(0o755)).unwrap();
        fs::write(p.join("svc.service"), unit).unwrap();
        let arch = host_arch();
        fs::write(
            p.join("m.toml"),
            format!(
                r#"[package]
name = "svc"
version = "1.0.0"
summary = "a service"
description = "A service used by the cross-check tests."
license = "MIT"
maintainer = "Svc Maintainers <svc@example.org>"
homepage = "https://example.org/svc"
source-date-epoch = 1700000000
arches = ["{arch}"]
formats = ["tar", "deb", "rpm"]

[payload]
install-dir = "/opt/svc"
entrypoint = "run"

[payload.{arch}]
path = "payload"

[service]
unit = "svc.service"
user = "svc"
{service_extra}
{rest}
[tar]
compression = "gzip:1"
[deb]
compression = "gzip:1"
"#
            ),
        )
        .unwrap();
        Project { dir }
    }
    fn path(&self) -> &Path {
        self.dir.path()
    }
    fn write(&self, name: &str, body: &str, mode: u32) {
        let f = self.path().join(name);
        if let Some(d) = f.parent() {
            fs::create_dir_all(d).unwrap();
        }
        fs::write(&f, body).unwrap();
        fs::set_permissions(&f, fs::Permissions::from_mode(mode)).unwrap();
    }
    fn run(&self, args: &[&str]) -> Output {
        Command::new(bin())
            .args(args)
            .current_dir(self.path())
            .env_remove("SOURCE_DATE_EPOCH")
            .env("LUCIA_PKG_STORE", self.path().join(".store"))
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }
    fn check(&self) -> Output {
        self.run(&["check", "-m", "m.toml"])
    }
    fn build(&self, formats: &str) -> Output {
        self.run(&["build", "-m", "m.toml", "-o", "out", "-f", formats])
    }
    fn out(&self, suffix: &str) -> PathBuf {
        fs::read_dir(self.path().join("out"))
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .find(|p| p.to_string_lossy().ends_with(suffix))
            .unwrap_or_else(|| panic!("no *{suffix} in out/"))
    }
}

/// Exit 2 with the location and message in the text, and the same location in `--json`.
fn assert_located(p: &Project, location: &str, needle: &str) {
    let o = p.check();
    let t = text(&o);
    assert_eq!(o.status.code(), Some(2), "{t}");
    assert!(t.contains(location), "expected `{location}` in:\n{t}");
    assert!(t.contains(needle), "expected `{needle}` in:\n{t}");
    let o = p.run(&["--json", "check", "-m", "m.toml"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let (file, line, col) = {
        let mut it = location.rsplitn(3, ':');
        let col: u64 = it.next().unwrap().parse().unwrap();
        let line: u64 = it.next().unwrap().parse().unwrap();
        (it.next().unwrap().to_string(), line, col)
    };
    assert!(v["error"]["file"].as_str().unwrap().ends_with(&file), "{v}");
    assert_eq!(v["error"]["line"], line, "{v}");
    assert_eq!(v["error"]["column"], col, "{v}");
}

const GOOD: &str = "[Service]\nUser=svc\nExecStart=/opt/svc/run\n";

#[test]
fn a_good_unit_passes() {
    let p = Project::new(GOOD, "", "");
    let o = p.check();
    assert!(o.status.success(), "{}", text(&o));
}

#[test]
fn user_and_group_must_be_the_manifests_account() {
    // Continuation lines and comments before the offending line: the location is still exact.
    let unit = "[Unit]\nDescription=svc \\\n  with a long description\n# User=svc\n\n[Service]\nExecStart=/opt/svc/run \\\n  --flag\nUser=svcc\n";
    let p = Project::new(unit, "", "");
    assert_located(&p, "svc.service:9:6", "User=svcc is not the account");

    // The last assignment wins.
    let p = Project::new(
        "[Service]\nUser=svc\nExecStart=/opt/svc/run\nUser=nobody\n",
        "",
        "",
    );
    assert_located(&p, "svc.service:4:6", "User=nobody");

    let p = Project::new(
        "[Service]\nUser=svc\nGroup=wheel\nExecStart=/opt/svc/run\n",
        "group = \"svcgrp\"",
        "",
    );
    assert_located(&p, "svc.service:3:7", "Group=wheel is not the group");
    let p = Project::new(
        "[Service]\nUser=svc\nGroup=svcgrp\nExecStart=/opt/svc/run\n",
        "group = \"svcgrp\"",
        "",
    );
    assert!(p.check().status.success());
    // The numeric uid of the manifest is the same account.
    let p = Project::new(
        "[Service]\nUser=1100\nExecStart=/opt/svc/run\n",
        "uid = 1100",
        "",
    );
    assert!(p.check().status.success(), "{}", text(&p.check()));
}

#[test]
fn a_unit_without_user_would_run_as_root_and_is_refused() {
    let p = Project::new(
        "[Unit]\nDescription=x\n\n[Service]\nExecStart=/opt/svc/run\n",
        "",
        "",
    );
    assert_located(&p, "svc.service:4:1", "sets no User=");
    // An empty assignment resets it to root as well.
    let p = Project::new(
        "[Service]\nUser=svc\nExecStart=/opt/svc/run\nUser=\n",
        "",
        "",
    );
    assert_located(&p, "svc.service:4:1", "sets no User=");
    let p = Project::new("[Service]\nUser=root\nExecStart=/opt/svc/run\n", "", "");
    assert_located(&p, "svc.service:2:6", "runs the service as root");
}

#[test]
fn extra_units_are_checked_and_may_run_as_root_explicitly() {
    let extra =
        "[[service.extra-units]]\npath = \"helper.service\"\nenable = false\nstart = false\n";
    let p = Project::new(GOOD, extra, "");
    p.write(
        "helper.service",
        "[Service]\nType=oneshot\nExecStart=/opt/svc/helper\n",
        0o644,
    );
    assert_located(&p, "helper.service:1:1", "sets no User=");
    p.write(
        "helper.service",
        "[Service]\nType=oneshot\nUser=root\nExecStart=/opt/svc/helper\n",
        0o644,
    );
    assert_located(
        &p,
        "helper.service:4:11",
        "does not install `/opt/svc/helper`",
    );
    p.write(
        "helper.service",
        "[Service]\nType=oneshot\nUser=root\nExecStart=/opt/svc/run\n",
        0o644,
    );
    assert!(p.check().status.success(), "{}", text(&p.check()));
    // A socket has no ExecStart= and no User= to check.
    let extra = "[[service.extra-units]]\npath = \"svc.socket\"\n";
    let p = Project::new(GOOD, extra, "");
    p.write("svc.socket", "[Socket]\nListenStream=8080\n", 0o644);
    assert!(p.check().status.success(), "{}", text(&p.check()));
}

#[test]
fn exec_start_must_be_a_program_the_package_installs() {
    let p = Project::new(
        "[Service]\nUser=svc\nExecStart=-/opt/svc/rnu --port 1\n",
        "",
        "",
    );
    assert_located(&p, "svc.service:3:12", "did you mean `/opt/svc/run`?");

    // A prefix, a [[files]] destination with an executable mode, and an interpreter are fine.
    let files = "[[files]]\nsrc = \"tool\"\ndest = \"/usr/libexec/svc/tool\"\nmode = \"0755\"\n";
    let p = Project::new(
        "[Service]\nUser=svc\nType=oneshot\nExecStart=+/usr/libexec/svc/tool\nExecStart=/bin/sh -c 'exec /opt/svc/run'\nExecStart=env A=1 /opt/svc/run\n",
        "",
        files,
    );
    p.write("tool", "#!/bin/sh\n", 0o755);
    assert!(p.check().status.success(), "{}", text(&p.check()));

    // The same file without an executable bit would fail with 203/EXEC.
    let files = "[[files]]\nsrc = \"tool\"\ndest = \"/usr/libexec/svc/tool\"\n";
    let p = Project::new(
        "[Service]\nUser=svc\nExecStart=/usr/libexec/svc/tool\n",
        "",
        files,
    );
    p.write("tool", "#!/bin/sh\n", 0o755);
    assert_located(&p, "svc.service:3:11", "mode 0644, not executable");

    // A system program that is not a universal interpreter is not the package's.
    let p = Project::new(
        "[Service]\nUser=svc\nExecStart=/usr/bin/python3 /opt/svc/run\n",
        "",
        "",
    );
    assert_located(
        &p,
        "svc.service:3:11",
        "does not install `/usr/bin/python3`",
    );

    // Other Exec lines under the install dir are checked; system tools elsewhere are not.
    let p = Project::new(
        "[Service]\nUser=svc\nExecStart=/opt/svc/run\nExecReload=/bin/kill -HUP $MAINPID\nExecStartPre=/opt/svc/migrate\n",
        "",
        "",
    );
    assert_located(
        &p,
        "svc.service:5:14",
        "does not install `/opt/svc/migrate`",
    );

    // A symlink in the payload to the program is followed.
    let p = Project::new(
        "[Service]\nUser=svc\nExecStart=/opt/svc/bin/start\n",
        "",
        "",
    );
    fs::create_dir_all(p.path().join("payload/bin")).unwrap();
    std::os::unix::fs::symlink("../run", p.path().join("payload/bin/start")).unwrap();
    assert!(p.check().status.success(), "{}", text(&p.check()));

    // No ExecStart= at all: systemd refuses to load the service.
    let p = Project::new("[Service]\nUser=svc\nExecStart=\n", "", "");
    assert_located(&p, "svc.service:3:1", "has no ExecStart=");
}

/// Extracts one member of a tarball made by the tar format.
fn tar_member(tarball: &Path, member: &str) -> String {
    let o = Command::new("tar")
        .arg("-xOzf")
        .arg(tarball)
        .arg(format!("svc-1.0.0/root{member}"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    String::from_utf8(o.stdout).unwrap()
}

#[test]
fn home_is_the_first_state_dir_and_always_created() {
    let p = Project::new(GOOD, "state-dirs = [\"/srv/svc\", \"/var/cache/svc\"]", "");
    let o = p.build("tar");
    assert!(o.status.success(), "{}", text(&o));
    let tarball = p.out(".tar.gz");
    let sysusers = tar_member(&tarball, "/usr/lib/sysusers.d/svc.conf");
    assert!(
        sysusers.contains(" /srv/svc /usr/sbin/nologin"),
        "{sysusers}"
    );
    let tmpfiles = tar_member(&tarball, "/usr/lib/tmpfiles.d/svc.conf");
    assert!(!tmpfiles.contains("/var/lib/svc"), "{tmpfiles}");

    // Without state dirs the default home /var/lib/svc is created for the account.
    let p = Project::new(GOOD, "", "");
    assert!(p.build("tar").status.success());
    let tmpfiles = tar_member(&p.out(".tar.gz"), "/usr/lib/tmpfiles.d/svc.conf");
    assert!(
        tmpfiles.contains("d /var/lib/svc 0750 svc svc -"),
        "{tmpfiles}"
    );

    // An explicit home outside the state dirs is created too; /nonexistent never is.
    let p = Project::new(
        GOOD,
        "home = \"/var/lib/svc-home\"\nstate-dirs = [\"/var/lib/svc\"]",
        "",
    );
    assert!(p.build("tar").status.success());
    let tmpfiles = tar_member(&p.out(".tar.gz"), "/usr/lib/tmpfiles.d/svc.conf");
    assert!(
        tmpfiles.contains("d /var/lib/svc-home 0750 svc svc -"),
        "{tmpfiles}"
    );
    let p = Project::new(GOOD, "home = \"/nonexistent\"", "");
    assert!(p.build("tar").status.success());
    let tarball = p.out(".tar.gz");
    assert!(tar_member(&tarball, "/usr/lib/sysusers.d/svc.conf").contains(" /nonexistent "));
    let listing = Command::new("tar")
        .arg("-tzf")
        .arg(&tarball)
        .output()
        .unwrap();
    assert!(
        !text(&listing).contains("tmpfiles.d/svc.conf"),
        "{}",
        text(&listing)
    );

    // A system directory would be handed to the service user.
    let p = Project::new(GOOD, "home = \"/var/lib\"", "");
    assert_located(&p, "m.toml:23:8", "is a system directory");
    let p = Project::new(GOOD, "state-dirs = [\"/srv\"]", "");
    assert_located(&p, "m.toml:23:15", "is a system directory");
}

/// Compiles C source with the host gcc.
fn gcc(args: &[&str], dir: &Path) {
    let o = Command::new("gcc")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(o.status.success(), "gcc {args:?}: {}", text(&o));
}

/// A project whose payload is dynamically linked: `run` (needs libc and the payload's own
/// `lib/libpriv.so`), the library, and a copy of the system's `ls` for a real-world binary.
fn dynamic_project() -> Project {
    let p = Project::new(GOOD, "", "");
    let d = p.path();
    fs::create_dir_all(d.join("payload/lib")).unwrap();
    fs::write(d.join("priv.c"), "int priv(void) { return 1; }\n").unwrap();
    fs::write(
        d.join("main.c"),
        "#include <stdio.h>\nint priv(void);\nint main(void) { puts(\"hi\"); return priv() - 1; }\n",
    )
    .unwrap();
    gcc(
        &[
            "-shared",
            "-fPIC",
            "-Wl,-soname,libpriv.so",
            "-o",
            "payload/lib/libpriv.so",
            "priv.c",
        ],
        d,
    );
    gcc(
        &[
            "-o",
            "payload/run",
            "main.c",
            "-Lpayload/lib",
            "-lpriv",
            "-Wl,-rpath,$ORIGIN/lib",
        ],
        d,
    );
    fs::copy("/bin/ls", d.join("payload/ls")).unwrap();
    p
}

fn lines(o: &Output) -> BTreeSet<String> {
    assert!(o.status.success(), "{}", text(o));
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect()
}

/// `elfdeps --requires|--provides` over every payload file (rpmbuild's own generator).
fn elfdeps(p: &Project, mode: &str) -> BTreeSet<String> {
    let files: Vec<String> = ["payload/run", "payload/lib/libpriv.so", "payload/ls"]
        .iter()
        .map(|f| p.path().join(f).display().to_string())
        .collect();
    lines(
        &Command::new("/usr/lib/rpm/elfdeps")
            .arg(mode)
            .args(&files)
            .output()
            .unwrap(),
    )
}

fn rpm_requires(rpm: &Path) -> BTreeSet<String> {
    lines(
        &Command::new("rpm")
            .args(["-qp", "--requires", "--nosignature"])
            .arg(rpm)
            .output()
            .unwrap(),
    )
}

fn deb_depends(deb: &Path) -> String {
    let o = Command::new("dpkg-deb")
        .arg("-f")
        .arg(deb)
        .arg("Depends")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

#[test]
fn shared_library_dependencies_are_what_dpkg_shlibdeps_and_rpm_elfdeps_derive() {
    if cfg!(not(target_arch = "x86_64"))
        || skip_without("gcc")
        || skip_without("rpm")
        || skip_without("dpkg-shlibdeps")
        || !Path::new("/usr/lib/rpm/elfdeps").exists()
    {
        return;
    }
    let p = dynamic_project();
    let o = p.build("deb,rpm");
    assert!(o.status.success(), "{}", text(&o));

    // deb: exactly the libc6 relation dpkg-shlibdeps computes from Debian's symbols file.
    fs::create_dir_all(p.path().join("debian")).unwrap();
    fs::write(
        p.path().join("debian/control"),
        "Source: svc\n\nPackage: svc\nArchitecture: any\n",
    )
    .unwrap();
    let o = Command::new("dpkg-shlibdeps")
        .args([
            "-O",
            "-lpayload/lib",
            "payload/run",
            "payload/lib/libpriv.so",
        ])
        .current_dir(p.path())
        .stderr(Stdio::null())
        .output()
        .unwrap();
    let shlibdeps = String::from_utf8_lossy(&o.stdout).trim().to_string();
    let libc6 = shlibdeps
        .strip_prefix("shlibs:Depends=")
        .unwrap_or_else(|| panic!("dpkg-shlibdeps printed {shlibdeps:?}"))
        .split(", ")
        .find(|r| r.starts_with("libc6 "))
        .unwrap_or_else(|| panic!("no libc6 in {shlibdeps:?}"))
        .to_string();
    let depends = deb_depends(&p.out(".deb"));
    assert!(
        depends.split(", ").any(|r| r == libc6),
        "Depends: {depends} lacks dpkg-shlibdeps' `{libc6}`"
    );

    // rpm: what elfdeps generates, minus what the package's own libraries provide.
    let provided: BTreeSet<String> = elfdeps(&p, "--provides")
        .iter()
        .map(|d| d.split('(').next().unwrap_or_default().to_string())
        .collect();
    let expected: BTreeSet<String> = elfdeps(&p, "--requires")
        .into_iter()
        .filter(|d| !provided.contains(d.split('(').next().unwrap_or_default()))
        .collect();
    assert!(expected.contains("libc.so.6()(64bit)"), "{expected:?}");
    assert!(!expected.iter().any(|d| d.starts_with("libpriv.so")));
    let requires = rpm_requires(&p.out(".rpm"));
    let auto: BTreeSet<String> = requires
        .iter()
        .filter(|r| r.contains(".so") || r.starts_with("rtld("))
        .cloned()
        .collect();
    assert_eq!(auto, expected, "rpm -qp --requires: {requires:?}");

    // rpm really parses them: installing into an empty root reports the sonames missing by name.
    let root = p.path().join("rpmroot");
    fs::create_dir_all(&root).unwrap();
    let o = Command::new("rpm")
        .arg("--root")
        .arg(&root)
        .arg("--initdb")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let o = Command::new("rpm")
        .arg("--root")
        .arg(&root)
        .args(["-i", "--test", "--nosignature"])
        .arg(p.out(".rpm"))
        .output()
        .unwrap();
    let t = text(&o);
    assert!(!o.status.success(), "{t}");
    assert!(
        t.contains("libc.so.6()(64bit) is needed by svc-1.0.0-1"),
        "{t}"
    );
    assert!(
        t.contains("libc.so.6(GLIBC_2.34)(64bit) is needed by"),
        "{t}"
    );
    assert!(!t.contains("libpriv"), "{t}");
}

#[test]
fn automatic_dependencies_can_be_turned_off_and_never_override_the_manifest() {
    if cfg!(not(target_arch = "x86_64")) || skip_without("gcc") || skip_without("rpm") {
        return;
    }
    let p = dynamic_project();
    let m = fs::read_to_string(p.path().join("m.toml")).unwrap();
    fs::write(
        p.path().join("m.toml"),
        m.replace(
            "[deb]\n",
            "[rpm]\nauto-requires = false\n[deb]\nauto-depends = false\n",
        ),
    )
    .unwrap();
    let o = p.build("deb,rpm");
    assert!(o.status.success(), "{}", text(&o));
    let depends = deb_depends(&p.out(".deb"));
    assert!(!depends.contains("libc6"), "{depends}");
    let requires = rpm_requires(&p.out(".rpm"));
    assert!(
        !requires
            .iter()
            .any(|r| r.contains(".so") || r.starts_with("rtld(")),
        "{requires:?}"
    );

    // A libc6 relation the manifest states is kept as written (no second libc6 entry).
    let p = dynamic_project();
    let m = fs::read_to_string(p.path().join("m.toml")).unwrap();
    fs::write(
        p.path().join("m.toml"),
        m.replace("[deb]\n", "[deb]\ndepends = [\"libc6 (>= 2.36)\"]\n"),
    )
    .unwrap();
    let o = p.build("deb");
    assert!(o.status.success(), "{}", text(&o));
    let depends = deb_depends(&p.out(".deb"));
    assert_eq!(depends.matches("libc6").count(), 1, "{depends}");
    assert!(depends.contains("libc6 (>= 2.36)"), "{depends}");

    // A payload without ELF files gets no automatic dependency.
    let p = Project::new(GOOD, "", "");
    let o = p.build("deb,rpm");
    assert!(o.status.success(), "{}", text(&o));
    assert!(!deb_depends(&p.out(".deb")).contains("libc6"));
    assert!(!rpm_requires(&p.out(".rpm"))
        .iter()
        .any(|r| r.contains(".so")));
}

/// rpmlint (Debian 12's 2.4) on a user's package, not Lucia's: none of the findings that come
/// from what lucia-pkg writes. The remaining findings are about the payload or are policy a
/// vendor package in /opt does not follow (dir-or-file-in-opt, unstripped binaries, RUNPATH),
/// and are not asserted either way. `no-group-tag` is one of them: without `rpm.group` the
/// header holds `Unspecified`, as rpmbuild writes it (Fedora dropped the Group tag), and
/// rpmlint 2.x reads that value as missing.
#[test]
fn rpmlint_finds_nothing_lucia_pkg_wrote_in_a_users_package() {
    if cfg!(not(target_arch = "x86_64")) || skip_without("gcc") || skip_without("rpmlint") {
        return;
    }
    let p = dynamic_project();
    let m = fs::read_to_string(p.path().join("m.toml")).unwrap();
    // A manifest without source date or changelog: the synthesized entry is dated at the
    // source date (SOURCE_DATE_EPOCH here), not 1980.
    fs::write(
        p.path().join("m.toml"),
        m.replace("source-date-epoch = 1700000000\n", ""),
    )
    .unwrap();
    p.write(
        "svc.service",
        "[Unit]\nDescription=svc\n\n[Service]\nUser=svc\nExecStart=/opt/svc/run\n\n[Install]\nWantedBy=multi-user.target\n",
        0o644,
    );
    let o = Command::new(bin())
        .args(["build", "-m", "m.toml", "-o", "out", "-f", "rpm"])
        .current_dir(p.path())
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .env("LUCIA_PKG_STORE", p.path().join(".store"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let rpm = p.out(".rpm");
    let o = Command::new("rpm")
        .args([
            "-qp",
            "--nosignature",
            "--qf",
            "%{GROUP}|%{CHANGELOGTIME}|%{CHANGELOGNAME}\\n",
        ])
        .arg(&rpm)
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).trim(),
        "Unspecified|1700000000|Svc Maintainers <svc@example.org> - 1.0.0-1",
        "{}",
        text(&o)
    );
    fs::write(p.path().join("rpmlint.toml"), "ValidLicenses = [\"MIT\"]\n").unwrap();
    let o = Command::new("rpmlint")
        .arg("-c")
        .arg(p.path().join("rpmlint.toml"))
        .arg(&rpm)
        .output()
        .unwrap();
    let t = text(&o);
    assert!(t.contains("packages: 1") || t.contains("1 packages"), "{t}");
    for finding in [
        "non-standard-group",
        "invalid-license",
        "incoherent-version-in-changelog",
        "changelog-time-in-future",
        "changelog-time-overflow",
        "no-changelogname-tag",
        "explicit-lib-dependency",
        "requires-on-release",
        "no-dependency-on",
        "empty-%post",
        "empty-%postun",
        "non-standard-uid",
        "non-standard-gid",
        "summary-not-capitalized",
        "description-line-too-long",
        "invalid-url",
        "no-packager-tag",
        "no-buildhost-tag",
    ] {
        assert!(!t.contains(finding), "rpmlint: {finding}\n{t}");
    }
}
