//! `--set KEY=VALUE`: CI stamps the version without editing the manifest. The override is
//! validated like the manifest value, changes every artifact's name and metadata, is recorded in
//! build-info.json, and a rebuild with the same override is byte-identical.

use std::fs;
use std::os::unix::fs::PermissionsExt;

mod common;
use common::*;

fn project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    fs::create_dir_all(p.join("out")).unwrap();
    fs::write(p.join("out/svc"), "#!/bin/sh\nexec sleep 1\n").unwrap();
    fs::set_permissions(p.join("out/svc"), fs::Permissions::from_mode(0o755)).unwrap();
    let o = lucia(p, &["init", "--payload", "out"]);
    assert!(o.status.success(), "{}", text(&o));
    dir
}

#[test]
fn set_stamps_the_version_reproducibly_and_records_it() {
    let dir = project();
    let p = dir.path();
    let build = |out: &str, extra: &[&str]| {
        let mut args = vec!["build", "-a", "amd64", "-f", "deb,rpm,tar", "-o", out];
        args.extend_from_slice(extra);
        let o = lucia(p, &args);
        assert!(o.status.success(), "{}", text(&o));
    };
    build(
        "a",
        &[
            "--set",
            "package.version=2.4.0-rc.1",
            "--set",
            "package.release=3",
        ],
    );
    let sums = fs::read_to_string(p.join("a/SHA256SUMS")).unwrap();
    for f in [
        "svc_2.4.0~rc.1-3_amd64.deb",
        "svc-2.4.0~rc.1-3.x86_64.rpm",
        "svc-2.4.0-rc.1-linux-amd64.tar.gz",
    ] {
        assert!(sums.contains(f), "{f} not in:\n{sums}");
    }
    let info: serde_json::Value =
        serde_json::from_slice(&fs::read(p.join("a/build-info.json")).unwrap()).unwrap();
    let overrides: Vec<(String, String)> = info["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["kind"] == "override")
        .map(|i| {
            (
                i["key"].as_str().unwrap().to_string(),
                i["value"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        overrides,
        [
            ("package.version".to_string(), "2.4.0-rc.1".to_string()),
            ("package.release".to_string(), "3".to_string())
        ]
    );
    // The package metadata and its synthesized changelog follow the override.
    let o = lucia(p, &["inspect", "a/svc_2.4.0~rc.1-3_amd64.deb"]);
    assert!(text(&o).contains("2.4.0~rc.1-3"), "{}", text(&o));

    // Same inputs, same override: the same bytes, without the store.
    let o = lucia(
        p,
        &[
            "build",
            "--no-cache",
            "-a",
            "amd64",
            "-f",
            "deb,rpm,tar",
            "-o",
            "b",
            "--set",
            "package.version=2.4.0-rc.1",
            "--set",
            "package.release=3",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(sums, fs::read_to_string(p.join("b/SHA256SUMS")).unwrap());
}

#[test]
fn bad_overrides_are_bad_input() {
    let dir = project();
    let p = dir.path();
    for (arg, needle) in [
        ("package.version=0.3.1-2", "release"),
        ("package.version=", "version"),
        ("package.name=x", "cannot be overridden"),
        ("package.version", "KEY=VALUE"),
        ("package.release=a b", "release"),
    ] {
        let o = lucia(p, &["check", "--set", arg]);
        assert_eq!(o.status.code(), Some(2), "{arg}: {}", text(&o));
        assert!(text(&o).contains(needle), "{arg}: {}", text(&o));
    }
}
