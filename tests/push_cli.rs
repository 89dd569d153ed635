//! `lucia-pkg push` through the binary: what it says and exits with for bad input (credentials
//! in the reference, bad tags, a bad timeout, a manifest of another version), that a registry
//! that drips its answer cannot hang it (LUCIA_PKG_REGISTRY_TIMEOUT), and that the version tag,
//! the manifest's `oci.tags` and every `--tag` all end up pointing at the same index (a real
//! registry: Debian's docker-registry on 127.0.0.1, read back with skopeo).

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use pkg_core::sample::lucia_like_plan;
use pkg_core::Arch;

mod common;
use common::*;

fn lucia_pkg() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_lucia-pkg"));
    for v in [
        "LUCIA_PKG_REGISTRY_USER",
        "LUCIA_PKG_REGISTRY_PASSWORD",
        "LUCIA_PKG_REGISTRY_TIMEOUT",
        "DOCKER_CONFIG",
        "HOME",
    ] {
        c.env_remove(v);
    }
    c.stdin(Stdio::null());
    c
}

fn layout(dir: &Path) -> PathBuf {
    let l = dir.join("lucia-1.0.0-oci");
    format_oci::write_layout(
        &[lucia_like_plan(Arch::Amd64), lucia_like_plan(Arch::Arm64)],
        &l,
    )
    .unwrap();
    l
}

#[test]
fn credentials_in_the_reference_are_refused_and_never_printed() {
    let t = tempfile::tempdir().unwrap();
    let l = layout(t.path());
    for to in [
        "probe:hunter2@127.0.0.1:5000/lucia/agenthost:1.0.0",
        "docker://probe:hunter2@ghcr.io/seiggy/lucia",
        "probe:hun/ter2@ghcr.io/seiggy/lucia",
    ] {
        for json in [false, true] {
            let mut c = lucia_pkg();
            if json {
                c.arg("--json");
            }
            let o = c.arg("push").arg(&l).args(["--to", to]).output().unwrap();
            let all = text(&o);
            assert_eq!(o.status.code(), Some(2), "{to} json={json}: {all}");
            assert!(
                all.contains("credentials in the reference are not accepted")
                    && all.contains("LUCIA_PKG_REGISTRY_USER")
                    && all.contains("LUCIA_PKG_REGISTRY_PASSWORD"),
                "{to} json={json}: {all}"
            );
            assert!(
                !all.contains("hunter2") && !all.contains("ter2") && !all.contains("probe"),
                "{to} json={json}: printed the credentials: {all}"
            );
            if json {
                let v: serde_json::Value = serde_json::from_slice(&o.stdout)
                    .unwrap_or_else(|e| panic!("--json error is not JSON ({e}): {all}"));
                assert!(
                    v.to_string().contains("credentials in the reference"),
                    "{v}"
                );
            }
        }
    }
}

#[test]
fn bad_tags_and_timeouts_are_bad_input() {
    let t = tempfile::tempdir().unwrap();
    let l = layout(t.path());
    let o = lucia_pkg()
        .arg("push")
        .arg(&l)
        .args(["--to", "127.0.0.1:9/lucia/agenthost", "--tag", "latest"])
        .args(["--tag", "no spaces"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("`no spaces` is not a valid OCI tag"),
        "{}",
        text(&o)
    );
    let o = lucia_pkg()
        .env("LUCIA_PKG_REGISTRY_TIMEOUT", "soon")
        .arg("push")
        .arg(&l)
        .args(["--to", "127.0.0.1:9/lucia/agenthost"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("LUCIA_PKG_REGISTRY_TIMEOUT=`soon`"),
        "{}",
        text(&o)
    );
}

#[test]
fn a_registry_that_drips_its_answer_fails_within_the_timeout() {
    let t = tempfile::tempdir().unwrap();
    let l = layout(t.path());
    // Accepts, reads the request head, then sends one byte a second.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            std::thread::spawn(move || {
                let mut r = BufReader::new(conn.try_clone().unwrap());
                let mut line = String::new();
                while r.read_line(&mut line).unwrap_or(0) > 0 && line != "\r\n" {
                    line.clear();
                }
                for b in b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}" {
                    if conn.write_all(&[*b]).is_err() {
                        return;
                    }
                    std::thread::sleep(Duration::from_secs(1));
                }
            });
        }
    });
    let start = Instant::now();
    let mut child = lucia_pkg()
        .env("LUCIA_PKG_REGISTRY_TIMEOUT", "1")
        .arg("push")
        .arg(&l)
        .args(["--to", &format!("127.0.0.1:{port}/lucia/agenthost")])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("push was still waiting for the dripping registry after 30 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains("timed out") && text(&o).contains("LUCIA_PKG_REGISTRY_TIMEOUT"),
        "{}",
        text(&o)
    );
    assert!(
        start.elapsed() < Duration::from_secs(15),
        "{:?}",
        start.elapsed()
    );
}

fn need(tool: &str) {
    let ok = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {tool}"))
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(ok, "{tool} is not installed: run scripts/ci-setup.sh");
}

/// packaging/lucia.toml with absolute paths, `version` and `oci.tags` replaced.
fn manifest(dir: &Path, version: &str, tags: &str) -> PathBuf {
    let root = env!("CARGO_MANIFEST_DIR");
    let src = std::fs::read_to_string(Path::new(root).join("packaging/lucia.toml")).unwrap();
    let mut out = String::new();
    let mut table = String::new();
    for line in src.lines() {
        if line.starts_with('[') {
            table = line.to_string();
        }
        let line = line.replace("\"../", &format!("\"{root}/"));
        if table == "[package]" && line.starts_with("version = ") {
            out.push_str(&format!("version = \"{version}\"\n"));
        } else if table == "[oci]" && line.starts_with("tags = ") {
            out.push_str(&format!("tags = {tags}\n"));
        } else {
            out.push_str(&line);
            out.push('\n');
        }
    }
    assert!(
        out.contains(&format!("tags = {tags}")),
        "no oci.tags line in packaging/lucia.toml"
    );
    let p = dir.join("lucia.toml");
    std::fs::write(&p, out).unwrap();
    p
}

fn skopeo_digest(reference: &str) -> String {
    need("skopeo");
    let out = Command::new("skopeo")
        .args(["inspect", "--raw", "--tls-verify=false"])
        .arg(format!("docker://{reference}"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "skopeo {reference}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    use sha2::Digest;
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(&out.stdout)))
}

#[test]
fn version_tag_manifest_tags_and_extra_tags_all_point_at_the_index() {
    let t = tempfile::tempdir().unwrap();
    let l = layout(t.path());
    let (_reg, addr) = start_registry(t.path());
    let index_digest = {
        let v: serde_json::Value =
            serde_json::from_slice(&std::fs::read(l.join("index.json")).unwrap()).unwrap();
        v["manifests"][0]["digest"].as_str().unwrap().to_string()
    };

    // A manifest of another version is refused before anything is sent.
    let other = manifest(t.path(), "2.0.0", r#"["edge"]"#);
    let o = lucia_pkg()
        .arg("push")
        .arg(&l)
        .args(["--to", &format!("{addr}/lucia/agenthost")])
        .arg("-m")
        .arg(&other)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("is version 2.0.0") && text(&o).contains("tagged `1.0.0`"),
        "{}",
        text(&o)
    );

    let m = manifest(t.path(), "1.0.0", r#"["1.0", "latest"]"#);
    let o = lucia_pkg()
        .arg("--json")
        .arg("push")
        .arg(&l)
        .args(["--to", &format!("{addr}/lucia/agenthost")])
        .arg("-m")
        .arg(&m)
        .args(["--tag", "sha-0123abc", "--tag", "latest"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        report["tags"],
        serde_json::json!(["1.0.0", "1.0", "latest", "sha-0123abc"]),
        "{report}"
    );
    assert_eq!(report["index_digest"], index_digest.as_str());
    for tag in ["1.0.0", "1.0", "latest", "sha-0123abc"] {
        assert_eq!(
            skopeo_digest(&format!("{addr}/lucia/agenthost:{tag}")),
            index_digest,
            "{tag}"
        );
    }

    // Without -m: the version tag is still pushed next to `--tag`, never replaced by it.
    let o = lucia_pkg()
        .arg("--json")
        .arg("push")
        .arg(&l)
        .args(["--to", &format!("{addr}/lucia/other",)])
        .args(["--tag", "latest"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        report["tags"],
        serde_json::json!(["1.0.0", "latest"]),
        "{report}"
    );
    assert_eq!(
        skopeo_digest(&format!("{addr}/lucia/other:1.0.0")),
        index_digest
    );
}
