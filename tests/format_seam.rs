//! The format seam and the one validation stage: what a format writer would refuse is found by
//! `check` and before a build writes anything, with exit 2 (bad input); a writer's failure that
//! is not the input's fault stays exit 1 and keeps its cause.

use std::fs;
use std::os::unix::fs::PermissionsExt;

mod common;
use common::*;

const MANIFEST: &str = r#"[package]
name = "seamdemo"
version = "1.0.0"
summary = "seam demo"
license = "MIT"
maintainer = "Demo <demo@example.org>"
source-date-epoch = 1700000000
arches = ["amd64"]
formats = ["tar", "deb", "rpm", "oci"]

[payload]
install-dir = "/opt/seamdemo"
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

fn project(oci_extra: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    fs::create_dir_all(p.join("payload")).unwrap();
    fs::write(p.join("payload/run"), fake_elf(62)).unwrap();
    fs::set_permissions(p.join("payload/run"), fs::Permissions::from_mode(0o755)).unwrap();
    fs::write(p.join("m.toml"), format!("{MANIFEST}{oci_extra}")).unwrap();
    dir
}

/// Image options only the image writer checks (a relative volume, an env name holding `=`)
/// used to pass `check` and fail the build with exit 1 after the other formats were written.
#[test]
fn image_option_errors_are_found_by_check_and_refused_before_any_artifact() {
    for (extra, says) in [
        (
            "volumes = [\"data\"]\n",
            "oci volume `data` must be an absolute path",
        ),
        (
            "[oci.env]\n\"A=B\" = \"1\"\n",
            "oci env name `A=B` must be non-empty and contain no `=`",
        ),
    ] {
        let d = project(extra);
        let check = lucia(d.path(), &["check", "-m", "m.toml"]);
        assert_eq!(check.status.code(), Some(2), "check: {}", text(&check));
        assert!(text(&check).contains(says), "{}", text(&check));

        let build = lucia(d.path(), &["build", "-m", "m.toml", "--out", "out"]);
        assert_eq!(build.status.code(), Some(2), "build: {}", text(&build));
        assert!(text(&build).contains(says), "{}", text(&build));
        let left: Vec<_> = fs::read_dir(d.path().join("out"))
            .map(|r| r.filter_map(Result::ok).map(|e| e.file_name()).collect())
            .unwrap_or_default();
        assert!(left.is_empty(), "nothing is written: {left:?}");

        let json = lucia(d.path(), &["--json", "check", "-m", "m.toml"]);
        let v: serde_json::Value = serde_json::from_slice(&json.stdout)
            .or_else(|_| serde_json::from_slice(&json.stderr))
            .unwrap_or_else(|e| panic!("{e}: {}", text(&json)));
        assert_eq!(v["kind"], "input", "{v}");
        assert_eq!(v["exit_code"], 2, "{v}");
        assert_eq!(v["error"]["format"], "oci", "{v}");
    }
}

/// `--format` limits the checks to the formats being built: an image option the image writer
/// refuses does not stop a deb-only build.
#[test]
fn format_checks_follow_the_formats_built() {
    let d = project("volumes = [\"data\"]\n");
    let build = lucia(
        d.path(),
        &["build", "-m", "m.toml", "--out", "out", "--format", "deb"],
    );
    assert_eq!(build.status.code(), Some(0), "{}", text(&build));
    assert!(d.path().join("out/seamdemo_1.0.0-1_amd64.deb").is_file());
}

/// A valid manifest's outputs: each format's artifact, its SBOMs and the image SBOM directory,
/// recorded in build-info.json with the labels the seam's descriptors give them.
#[test]
fn build_info_labels_come_from_the_descriptors() {
    let d = project("");
    let build = lucia(d.path(), &["build", "-m", "m.toml", "--out", "out"]);
    assert_eq!(build.status.code(), Some(0), "{}", text(&build));
    let info: serde_json::Value =
        serde_json::from_slice(&fs::read(d.path().join("out/build-info.json")).unwrap()).unwrap();
    let mut labels: Vec<(String, String)> = info["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["name"].as_str().unwrap().to_string(),
                o["format"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    labels.sort();
    let want: Vec<(String, String)> = [
        ("seamdemo-1.0.0-1.x86_64.rpm", "rpm"),
        ("seamdemo-1.0.0-1.x86_64.rpm.cdx.json", "sbom-cyclonedx"),
        ("seamdemo-1.0.0-1.x86_64.rpm.spdx.json", "sbom-spdx"),
        ("seamdemo-1.0.0-linux-amd64.tar.gz", "tar"),
        (
            "seamdemo-1.0.0-linux-amd64.tar.gz.cdx.json",
            "sbom-cyclonedx",
        ),
        ("seamdemo-1.0.0-linux-amd64.tar.gz.spdx.json", "sbom-spdx"),
        ("seamdemo-1.0.0-oci", "oci"),
        ("seamdemo-1.0.0-oci.sbom", "sbom"),
        ("seamdemo-1.0.0-oci.tar", "oci-archive"),
        ("seamdemo_1.0.0-1_amd64.deb", "deb"),
        ("seamdemo_1.0.0-1_amd64.deb.cdx.json", "sbom-cyclonedx"),
        ("seamdemo_1.0.0-1_amd64.deb.spdx.json", "sbom-spdx"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    assert_eq!(labels, want);
    // The image is recorded by the index digest its layout's index.json names, whether the
    // job was just written or served from the store.
    let index: serde_json::Value = serde_json::from_slice(
        &fs::read(d.path().join("out/seamdemo-1.0.0-oci/index.json")).unwrap(),
    )
    .unwrap();
    let digest = index["manifests"][0]["digest"].as_str().unwrap();
    let recorded = |info: &serde_json::Value| {
        info["outputs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["format"] == "oci")
            .map(|o| o["sha256"].as_str().unwrap().to_string())
            .unwrap()
    };
    assert_eq!(recorded(&info), digest);
    let again = lucia(d.path(), &["build", "-m", "m.toml", "--out", "out2"]);
    assert_eq!(again.status.code(), Some(0), "{}", text(&again));
    let info2: serde_json::Value =
        serde_json::from_slice(&fs::read(d.path().join("out2/build-info.json")).unwrap()).unwrap();
    assert_eq!(recorded(&info2), digest);
    assert_eq!(info, info2, "a store hit records the same build-info");
}

/// `xz-mt` is for the streams lucia-pkg compresses itself (deb, tar): an rpm payload (compressed
/// by the rpm crate) or an OCI layer (no xz media type) with it is refused before anything is
/// written; a deb and a tar.xz with it build, and `xz -t` accepts their streams.
#[test]
fn xz_mt_is_refused_where_it_cannot_be_written_and_builds_where_it_can() {
    for (table, says) in [("[rpm]", "rpm.compression = \"xz-mt:6\""), ("[oci]", "xz")] {
        let d = project("");
        let m = fs::read_to_string(d.path().join("m.toml")).unwrap();
        let at = m.find(table).unwrap();
        let fixed = format!(
            "{}{}",
            &m[..at],
            m[at..].replacen("compression = \"gzip:1\"", "compression = \"xz-mt\"", 1)
        );
        fs::write(d.path().join("m.toml"), fixed).unwrap();
        let build = lucia(d.path(), &["build", "-m", "m.toml", "--out", "out"]);
        assert_eq!(build.status.code(), Some(2), "{table}: {}", text(&build));
        assert!(text(&build).contains(says), "{table}: {}", text(&build));
        assert!(!d.path().join("out/seamdemo_1.0.0-1_amd64.deb").exists());
    }
    let d = project("");
    let m = fs::read_to_string(d.path().join("m.toml")).unwrap();
    let m = m
        .replacen(
            "[tar]\ncompression = \"gzip:1\"",
            "[tar]\ncompression = \"xz-mt:1\"",
            1,
        )
        .replacen(
            "[deb]\ncompression = \"gzip:1\"",
            "[deb]\ncompression = \"xz-mt:1\"",
            1,
        );
    fs::write(d.path().join("m.toml"), m).unwrap();
    let build = lucia(
        d.path(),
        &[
            "build", "-m", "m.toml", "--out", "out", "--format", "tar,deb",
        ],
    );
    assert_eq!(build.status.code(), Some(0), "{}", text(&build));
    let out = d.path().join("out");
    let t = std::process::Command::new("xz")
        .arg("-t")
        .arg(out.join("seamdemo-1.0.0-linux-amd64.tar.xz"))
        .status()
        .expect("run xz");
    assert!(t.success());
    let info = std::process::Command::new("dpkg-deb")
        .arg("-c")
        .arg(out.join("seamdemo_1.0.0-1_amd64.deb"))
        .output()
        .expect("run dpkg-deb");
    assert!(info.status.success(), "{}", text(&info));
    assert!(String::from_utf8_lossy(&info.stdout).contains("./opt/seamdemo/run"));
}
