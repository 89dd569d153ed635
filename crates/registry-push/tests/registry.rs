//! Pushes to a real registry: Debian's docker-registry (distribution 2.8) on 127.0.0.1 with
//! htpasswd auth, then reads back with skopeo.

use std::fs;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use pkg_core::sample::lucia_like_plan;
use pkg_core::Arch;
use registry_push::{push, PushError, PushOptions};

fn need(tool: &str) {
    let ok = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {tool}"))
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(ok, "{tool} is not installed: run scripts/ci-setup.sh");
}

struct Registry {
    child: Child,
    addr: String,
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_registry(dir: &Path, user: &str, pass: &str) -> Registry {
    need("docker-registry");
    need("htpasswd");
    let out = Command::new("htpasswd")
        .args(["-Bbn", user, pass])
        .output()
        .unwrap();
    assert!(out.status.success());
    fs::write(dir.join("htpasswd"), out.stdout).unwrap();
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    fs::write(
        dir.join("config.yml"),
        format!(
            "version: 0.1\nlog: {{level: warn}}\nstorage: {{filesystem: {{rootdirectory: {}}}}}\nhttp: {{addr: {addr}, secret: test}}\nauth: {{htpasswd: {{realm: test, path: {}}}}}\n",
            dir.join("data").display(),
            dir.join("htpasswd").display()
        ),
    )
    .unwrap();
    let child = Command::new("docker-registry")
        .arg("serve")
        .arg(dir.join("config.yml"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let reg = Registry { child, addr };
    let start = Instant::now();
    while std::net::TcpStream::connect(&reg.addr).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "docker-registry did not start"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    reg
}

fn skopeo_raw(reference: &str, creds: &str) -> Vec<u8> {
    need("skopeo");
    let out = Command::new("skopeo")
        .args(["inspect", "--raw", "--tls-verify=false", "--creds", creds])
        .arg(format!("docker://{reference}"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "skopeo: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn sha256(b: &[u8]) -> String {
    use sha2::Digest;
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(b)))
}

#[test]
fn push_keeps_digests_skips_known_blobs_and_rejects_bad_passwords() {
    let t = tempfile::tempdir().unwrap();
    let reg = start_registry(t.path(), "probe", "s3cret");
    let layout = t.path().join("lucia-1.0.0-oci");
    let s = format_oci::write_layout(
        &[lucia_like_plan(Arch::Amd64), lucia_like_plan(Arch::Arm64)],
        &layout,
    )
    .unwrap();
    let creds = Some(("probe".to_string(), "s3cret".to_string()));

    let to = format!("{}/lucia/agenthost:1.0.0", reg.addr);
    let r1 = push(
        &layout,
        &to,
        PushOptions {
            tags: vec!["1.0".into()],
            credentials: creds.clone(),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(r1.index_digest, s.index_digest);
    // 2 shared layers + 2 configs.
    assert_eq!((r1.blobs_uploaded, r1.blobs_skipped), (4, 0));
    assert_eq!(r1.manifests_pushed, 3);
    for tag in ["1.0.0", "1.0"] {
        let raw = skopeo_raw(
            &format!("{}/lucia/agenthost:{tag}", reg.addr),
            "probe:s3cret",
        );
        assert_eq!(sha256(&raw), s.index_digest, "{tag}");
    }

    // Again, from the archive form: nothing is uploaded.
    let tar = t.path().join("lucia-1.0.0-oci.tar");
    format_oci::write_archive_file(&layout, &tar).unwrap();
    let r2 = push(
        &tar,
        &to,
        PushOptions {
            credentials: creds.clone(),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!((r2.blobs_uploaded, r2.blobs_skipped), (0, 4));
    assert_eq!(r2.index_digest, s.index_digest);

    // No tag anywhere: the layout's ref name is used.
    let r3 = push(
        &layout,
        &format!("{}/lucia/other", reg.addr),
        PushOptions {
            credentials: creds,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(r3.tags, vec!["1.0.0".to_string()]);

    let bad = push(
        &layout,
        &to,
        PushOptions {
            credentials: Some(("probe".into(), "wrong-pass".into())),
            ..Default::default()
        },
    )
    .unwrap_err();
    assert!(matches!(bad, PushError::Unauthorized { .. }), "{bad:?}");
    let msg = bad.to_string();
    assert!(
        msg.contains("rejected the credentials")
            && msg.contains("probe")
            && !msg.contains("wrong-pass"),
        "{msg}"
    );
    let anon = push(&layout, &to, PushOptions::default()).unwrap_err();
    assert!(matches!(anon, PushError::AuthRequired { .. }), "{anon:?}");
}

#[test]
fn every_tag_points_at_the_same_index_and_the_version_tag_is_always_pushed() {
    let t = tempfile::tempdir().unwrap();
    let reg = start_registry(t.path(), "probe", "s3cret");
    let layout = t.path().join("lucia-1.0.0-oci");
    let s = format_oci::write_layout(
        &[lucia_like_plan(Arch::Amd64), lucia_like_plan(Arch::Arm64)],
        &layout,
    )
    .unwrap();
    let creds = Some(("probe".to_string(), "s3cret".to_string()));

    // An invalid tag is bad input (exit 2), refused before anything is sent.
    for bad in ["bad tag", "-x", ".x", "a/b", "ü"] {
        let e = push(
            &layout,
            &format!("{}/lucia/agenthost", reg.addr),
            PushOptions {
                tags: vec!["latest".into(), bad.into()],
                credentials: creds.clone(),
                ..Default::default()
            },
        )
        .unwrap_err();
        assert_eq!(e.exit_code(), 2, "{bad}: {e}");
        assert!(e.to_string().contains("not a valid OCI tag"), "{e}");
    }

    // No tag in the destination, extra tags with a duplicate: the layout's version tag comes
    // first and is not replaced (it was, before: `--tag latest` pushed only `latest`).
    let r = push(
        &layout,
        &format!("{}/lucia/agenthost", reg.addr),
        PushOptions {
            tags: vec![
                "latest".into(),
                "1.0".into(),
                "latest".into(),
                "1.0.0".into(),
            ],
            credentials: creds.clone(),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(r.tags, ["1.0.0", "latest", "1.0"]);
    assert_eq!(r.references.len(), 4, "{:?}", r.references);
    for tag in ["1.0.0", "latest", "1.0"] {
        let raw = skopeo_raw(
            &format!("{}/lucia/agenthost:{tag}", reg.addr),
            "probe:s3cret",
        );
        assert_eq!(sha256(&raw), s.index_digest, "{tag}");
    }

    // A destination tag and extra tags: all of them plus the version tag.
    let r = push(
        &layout,
        &format!("{}/lucia/agenthost:sha-0123abc", reg.addr),
        PushOptions {
            tags: vec!["stable".into()],
            credentials: creds,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(r.tags, ["1.0.0", "sha-0123abc", "stable"]);
    assert_eq!((r.blobs_uploaded, r.blobs_skipped), (0, 4));
    for tag in ["sha-0123abc", "stable"] {
        let raw = skopeo_raw(
            &format!("{}/lucia/agenthost:{tag}", reg.addr),
            "probe:s3cret",
        );
        assert_eq!(sha256(&raw), s.index_digest, "{tag}");
    }
}

#[test]
fn plain_http_is_refused_for_non_loopback_hosts() {
    let t = tempfile::tempdir().unwrap();
    let layout = t.path().join("img");
    format_oci::write_layout(&[lucia_like_plan(Arch::Amd64)], &layout).unwrap();
    // 192.0.2.0/24 is TEST-NET-1: nothing answers, and https is the only scheme tried.
    let err = push(&layout, "192.0.2.1:1/x:1", PushOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("https://192.0.2.1:1") && err.contains("insecure-http"),
        "{err}"
    );
}
