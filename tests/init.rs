//! `lucia-pkg init` then `lucia-pkg build`: two commands from a service's build output to every
//! artifact, for the demo payload (real amd64 and arm64 ELF files) and for a hand-made service
//! that is not Lucia (a shell script, architecture-independent). The scaffolded unit passes
//! `systemd-analyze verify` where systemd-analyze exists.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};

mod common;
use common::*;

fn ok(o: Output, what: &str) -> Output {
    assert!(o.status.success(), "{what}: {}", text(&o));
    o
}

fn verify_unit(unit: &Path) {
    let have = Command::new("sh")
        .args(["-c", "command -v systemd-analyze"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !have {
        assert!(
            std::env::var("LUCIA_E2E_REQUIRED").as_deref() != Ok("1"),
            "systemd-analyze missing but LUCIA_E2E_REQUIRED=1"
        );
        println!("SKIP systemd-analyze verify: not installed");
        return;
    }
    // The ExecStart binary does not exist on this host: verify everything but that.
    let o = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(unit)
        .output()
        .unwrap();
    let t = text(&o);
    let real: Vec<&str> = t
        .lines()
        .filter(|l| !l.contains("is not executable") && !l.contains("No such file"))
        .filter(|l| !l.trim().is_empty())
        .collect();
    assert!(
        real.is_empty(),
        "systemd-analyze verify {}:\n{t}",
        unit.display()
    );
}

#[test]
fn init_then_build_on_the_demo_payload() {
    let demo = demo_payload();
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    let amd64 = demo.join("amd64");
    let arm64 = demo.join("arm64");
    let o = ok(
        lucia(
            p,
            &[
                "--json",
                "init",
                "--payload",
                arm64.to_str().unwrap(),
                "--payload",
                amd64.to_str().unwrap(),
                "--name",
                "agent",
            ],
        ),
        "init",
    );
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(report["name"], "agent");
    assert_eq!(report["entrypoint"], "lucia.AgentHost");
    // Each payload lands under the arch its ELF files are for, whatever the order given.
    assert!(report["arches"]["amd64"]
        .as_str()
        .unwrap()
        .ends_with("amd64"));
    assert!(report["arches"]["arm64"]
        .as_str()
        .unwrap()
        .ends_with("arm64"));
    for f in ["lucia-pkg.toml", "agent.service", "agent.env"] {
        assert!(p.join(f).is_file(), "{f} not written");
    }
    verify_unit(&p.join("agent.service"));

    // A second init refuses to overwrite; --force does.
    let o = lucia(
        p,
        &[
            "init",
            "--payload",
            amd64.to_str().unwrap(),
            "--name",
            "agent",
        ],
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("--force"), "{}", text(&o));

    ok(lucia(p, &["check"]), "check with the default manifest name");
    ok(lucia(p, &["build", "-f", "deb,rpm,tar"]), "build");
    let out = p.join("dist");
    for f in [
        "agent_0.1.0-1_amd64.deb",
        "agent_0.1.0-1_arm64.deb",
        "agent-0.1.0-1.x86_64.rpm",
        "agent-0.1.0-1.aarch64.rpm",
        "agent-0.1.0-linux-amd64.tar.gz",
        "SHA256SUMS",
    ] {
        assert!(out.join(f).is_file(), "{f} missing");
    }
}

#[test]
fn init_then_build_a_service_that_is_not_lucia() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    // A script service: no ELF file, so one payload serves both arches.
    let payload = p.join("build/out");
    fs::create_dir_all(payload.join("share")).unwrap();
    fs::write(
        payload.join("hello-daemon"),
        "#!/bin/sh\nexec sleep infinity\n",
    )
    .unwrap();
    fs::set_permissions(
        payload.join("hello-daemon"),
        fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    fs::write(payload.join("share/greeting.txt"), "hello\n").unwrap();
    fs::write(payload.join("README"), "not executable\n").unwrap();

    let o = ok(
        lucia(
            p,
            &[
                "--json",
                "init",
                "--payload",
                "build/out",
                "--version",
                "2.3.0",
            ],
        ),
        "init",
    );
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(report["name"], "hello-daemon");
    assert_eq!(report["entrypoint"], "hello-daemon");
    assert_eq!(report["arches"]["amd64"], "build/out");
    assert_eq!(report["arches"]["arm64"], "build/out");
    let manifest = fs::read_to_string(p.join("lucia-pkg.toml")).unwrap();
    assert!(manifest.contains("architecture-independent"), "{manifest}");
    assert!(
        manifest.contains("no\n# interpreter"),
        "a script entrypoint gets the scratch-base note: {manifest}"
    );
    assert!(
        !manifest.to_lowercase().contains("lucia\""),
        "Lucia leaks into a user's manifest"
    );
    verify_unit(&p.join("hello-daemon.service"));

    ok(
        lucia(p, &["build", "-m", "lucia-pkg.toml", "-o", "out"]),
        "build",
    );
    let sums = fs::read_to_string(p.join("out/SHA256SUMS")).unwrap();
    for f in [
        "hello-daemon_2.3.0-1_amd64.deb",
        "hello-daemon-2.3.0-1.aarch64.rpm",
        "hello-daemon-2.3.0-linux-arm64.tar.gz",
    ] {
        assert!(sums.contains(f), "{f} not in SHA256SUMS:\n{sums}");
    }
    // The package carries the unit, the user and the env file the scaffold declared.
    let o = ok(
        lucia(p, &["inspect", "out/hello-daemon_2.3.0-1_amd64.deb"]),
        "inspect",
    );
    let t = text(&o);
    for needle in [
        "/opt/hello-daemon/hello-daemon",
        "/usr/lib/systemd/system/hello-daemon.service",
        "/etc/hello-daemon/hello-daemon.env",
    ] {
        assert!(t.contains(needle), "{needle} not in:\n{t}");
    }
}

#[test]
fn init_explains_what_it_needs() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    let o = lucia(p, &["init"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("--payload"), "{}", text(&o));

    fs::create_dir_all(p.join("empty")).unwrap();
    fs::write(p.join("empty/data.txt"), "x").unwrap();
    let o = lucia(p, &["init", "--payload", "empty"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("no executable"), "{}", text(&o));

    // Without -m and without a manifest, build says what it looked for.
    let o = lucia(p, &["build"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("lucia-pkg.toml"), "{}", text(&o));
}

#[test]
fn deploy_values_are_rendered_only_when_asked_and_named_after_the_package() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    fs::create_dir_all(p.join("out")).unwrap();
    fs::copy(
        demo_payload().join("amd64/lucia.AgentHost"),
        p.join("out/my-app"),
    )
    .unwrap();
    ok(lucia(p, &["init", "--payload", "out"]), "init");
    let build = |dir: &str| lucia(p, &["build", "-a", "amd64", "-f", "oci", "-o", dir]);

    ok(build("plain"), "build without [deploy]");
    assert!(
        !p.join("plain/my-app-0.1.0-deploy").exists(),
        "deploy values written without [deploy]"
    );

    let manifest = p.join("lucia-pkg.toml");
    let base = fs::read_to_string(&manifest).unwrap();
    fs::write(
        &manifest,
        format!("{base}\n[deploy]\nfiles = [\"compose\"]\n"),
    )
    .unwrap();
    ok(build("asked"), "build with [deploy]");
    let dep = p.join("asked/my-app-0.1.0-deploy");
    let names: Vec<String> = fs::read_dir(&dep)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["compose.env"]);
    let env = fs::read_to_string(dep.join("compose.env")).unwrap();
    assert!(env.contains("\nMY_APP_IMAGE=my-app@sha256:"), "{env}");
    assert!(!env.to_lowercase().contains("lucia"), "{env}");
    let sums = fs::read_to_string(p.join("asked/SHA256SUMS")).unwrap();
    assert!(sums.contains("my-app-0.1.0-deploy/compose.env"), "{sums}");

    // Refused where written: an unknown file, and deploy values without an image.
    fs::write(
        &manifest,
        format!("{base}\n[deploy]\nfiles = [\"swarm\"]\n"),
    )
    .unwrap();
    let o = lucia(p, &["check"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("unknown deploy file `swarm`"),
        "{}",
        text(&o)
    );
    let no_oci = base.replace(
        "formats = [\"tar\", \"deb\", \"rpm\", \"oci\"]",
        "formats = [\"deb\"]",
    );
    fs::write(
        &manifest,
        format!("{no_oci}\n[deploy]\nfiles = [\"helm\"]\n"),
    )
    .unwrap();
    let o = lucia(p, &["check"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("no \"oci\""), "{}", text(&o));
}

#[test]
fn a_script_entrypoint_on_scratch_is_warned_about() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    fs::create_dir_all(p.join("out")).unwrap();
    fs::write(p.join("out/run.sh"), "#!/bin/sh\nexec sleep 1\n").unwrap();
    fs::set_permissions(p.join("out/run.sh"), fs::Permissions::from_mode(0o755)).unwrap();
    ok(
        lucia(p, &["init", "--payload", "out", "--name", "svc"]),
        "init",
    );
    let o = ok(lucia(p, &["check"]), "check");
    assert!(
        text(&o).contains("warning: the image's entrypoint /opt/svc/run.sh is a `#!` script"),
        "{}",
        text(&o)
    );
    let o = ok(
        lucia(p, &["--json", "build", "-a", "amd64", "-f", "oci"]),
        "build",
    );
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        report["warnings"].as_array().map(|w| w.len()),
        Some(1),
        "{report}"
    );
    // Not an image: nothing to warn about.
    let o = ok(lucia(p, &["check", "-f", "deb"]), "check deb");
    assert!(!text(&o).contains("warning"), "{}", text(&o));
}
