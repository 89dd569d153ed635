//! The OCI writer against the real tools: skopeo (index, platform selection, blob digests), umoci
//! (diff_ids, unpacked rootfs owners and modes), plus byte-for-byte reproducibility.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use format_oci::spec::{
    canonical_json, Index, Manifest, MT_INDEX, MT_LAYER_GZIP, MT_LAYER_ZSTD, MT_MANIFEST,
};
use pkg_core::compress::Codec;
use pkg_core::plan::OciBase;
use pkg_core::sample::lucia_like_plan;
use pkg_core::{Arch, Plan};

fn plans() -> Vec<Plan> {
    vec![lucia_like_plan(Arch::Amd64), lucia_like_plan(Arch::Arm64)]
}

fn tool(name: &str) -> Command {
    let found = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {name}"))
        .output()
        .map(|o| o.status.success());
    assert!(
        found.unwrap_or(false),
        "{name} is not installed: run scripts/ci-setup.sh (or apt-get install {name})"
    );
    Command::new(name)
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Every file and directory under `dir` (relative path → mode and bytes).
fn tree(dir: &Path) -> BTreeMap<String, (u32, Vec<u8>)> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let rel = p.strip_prefix(dir).unwrap().display().to_string();
            let mode = fs::metadata(&p).unwrap().permissions().mode() & 0o7777;
            if p.is_dir() {
                out.insert(format!("{rel}/"), (mode, Vec::new()));
                stack.push(p);
            } else {
                out.insert(rel, (mode, fs::read(&p).unwrap()));
            }
        }
    }
    out
}

fn blob(layout: &Path, digest: &str) -> Vec<u8> {
    fs::read(
        layout
            .join("blobs/sha256")
            .join(digest.trim_start_matches("sha256:")),
    )
    .unwrap()
}

fn write(dir: &Path, plans: &[Plan]) -> format_oci::OciSummary {
    format_oci::write_layout(plans, dir).unwrap()
}

#[test]
fn writing_twice_gives_identical_trees_and_archives() {
    let t = tempfile::tempdir().unwrap();
    let (a, b) = (
        t.path().join("a/lucia-1.0.0-oci"),
        t.path().join("b/lucia-1.0.0-oci"),
    );
    let sa = write(&a, &plans());
    // Reverse order in, same order out.
    let mut rev = plans();
    rev.reverse();
    let sb = write(&b, &rev);
    assert_eq!(sa.index_digest, sb.index_digest);
    assert_eq!(tree(&a), tree(&b));
    for (path, (mode, _)) in tree(&a) {
        assert_eq!(
            mode,
            if path.ends_with('/') { 0o755 } else { 0o644 },
            "{path}"
        );
    }
    // Rewriting in place replaces the layout.
    let sc = write(&a, &plans());
    assert_eq!(sa.index_digest, sc.index_digest);
    assert_eq!(tree(&a), tree(&b));
    let (ta, tb) = (t.path().join("a.tar"), t.path().join("b.tar"));
    let xa = format_oci::write_archive_file(&a, &ta).unwrap();
    let xb = format_oci::write_archive_file(&b, &tb).unwrap();
    assert_eq!(fs::read(&ta).unwrap(), fs::read(&tb).unwrap());
    assert_eq!(xa.index_digest, sa.index_digest);
    assert_eq!(xa.sha256, xb.sha256);
    // No temporary files are left behind anywhere.
    assert!(
        tree(t.path())
            .keys()
            .all(|k| !k.contains(".partial") && !k.contains(".oci-archive-")),
        "{:?}",
        tree(t.path()).keys()
    );
}

#[test]
fn documents_are_canonical_json_with_stable_key_order() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("img");
    let s = write(&dir, &plans());
    let top = fs::read(dir.join("index.json")).unwrap();
    let mut docs = vec![top, blob(&dir, &s.index_digest)];
    let index: Index = serde_json::from_slice(&docs[1]).unwrap();
    for m in &index.manifests {
        let bytes = blob(&dir, &m.digest);
        let man: Manifest = serde_json::from_slice(&bytes).unwrap();
        docs.push(blob(&dir, &man.config.digest));
        docs.push(bytes);
    }
    for d in &docs {
        let v: serde_json::Value = serde_json::from_slice(d).unwrap();
        assert_eq!(
            &canonical_json(&v).unwrap(),
            d,
            "not canonical: {}",
            String::from_utf8_lossy(d)
        );
        assert!(!d.contains(&b'\n'));
    }
    // The index's own bytes begin with its sorted keys.
    assert!(String::from_utf8_lossy(&docs[1]).starts_with(
        r#"{"annotations":{"org.opencontainers.image.created":"2026-01-01T00:00:00Z""#
    ));
}

#[test]
fn skopeo_sees_one_index_with_exactly_two_platforms() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("img");
    let s = write(&dir, &plans());
    assert_eq!(s.ref_name, "1.0.0");
    let raw = run(tool("skopeo")
        .args(["inspect", "--raw"])
        .arg(format!("oci:{}:1.0.0", dir.display())));
    assert_eq!(raw.as_bytes(), blob(&dir, &s.index_digest).as_slice());
    let v: serde_json::Value = serde_json::from_str(&raw).unwrap();
    assert_eq!(v["mediaType"], MT_INDEX);
    let ms = v["manifests"].as_array().unwrap();
    assert_eq!(ms.len(), 2, "{raw}");
    assert_eq!(
        ms[0]["platform"],
        serde_json::json!({"architecture":"amd64","os":"linux"})
    );
    assert_eq!(
        ms[1]["platform"],
        serde_json::json!({"architecture":"arm64","os":"linux","variant":"v8"})
    );
    for m in ms {
        assert_eq!(m["mediaType"], MT_MANIFEST);
        assert!(m.get("annotations").is_none());
    }
    assert_eq!(
        v["annotations"]["org.opencontainers.image.version"],
        "1.0.0"
    );
    assert_eq!(
        v["annotations"]["org.opencontainers.image.revision"],
        "0123456789abcdef"
    );
    for (arch, want) in [("amd64", "amd64"), ("arm64", "arm64")] {
        let out = run(tool("skopeo")
            .args(["inspect", "--override-os", "linux", "--override-arch", arch])
            .arg(format!("oci:{}:1.0.0", dir.display())));
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["Architecture"], want);
        assert_eq!(v["Layers"].as_array().unwrap().len(), 2);
        assert_eq!(v["Labels"]["org.opencontainers.image.title"], "lucia");
    }
    let cfg = run(tool("skopeo")
        .args(["inspect", "--config", "--override-arch", "arm64"])
        .arg(format!("oci:{}:1.0.0", dir.display())));
    let c: serde_json::Value = serde_json::from_str(&cfg).unwrap();
    assert_eq!(c["variant"], "v8");
    assert_eq!(c["created"], "2026-01-01T00:00:00Z");
    assert_eq!(c["config"]["User"], "1100:1100");
    assert_eq!(
        c["config"]["Entrypoint"],
        serde_json::json!(["/opt/lucia/lucia.AgentHost"])
    );
    assert_eq!(
        c["config"]["Env"],
        serde_json::json!([
            "ASPNETCORE_URLS=http://+:8080",
            format!("PATH={}", format_oci::DEFAULT_PATH)
        ])
    );
    assert_eq!(
        c["config"]["ExposedPorts"],
        serde_json::json!({"8080/tcp": {}})
    );
    assert_eq!(
        c["config"]["Volumes"],
        serde_json::json!({"/var/lib/lucia": {}})
    );
    assert_eq!(c["history"].as_array().unwrap().len(), 2);
    assert!(c["history"]
        .as_array()
        .unwrap()
        .iter()
        .all(|h| h["created"] == "2026-01-01T00:00:00Z"));
}

/// Copies one platform out (umoci 0.4.7 cannot pick a platform from an index: "tag is
/// ambiguous") and unpacks it.
fn unpack(t: &Path, dir: &Path, arch: &str) -> PathBuf {
    let single = t.join(format!("single-{arch}"));
    run(tool("skopeo")
        .args([
            "copy",
            "--quiet",
            "--override-os",
            "linux",
            "--override-arch",
            arch,
        ])
        .arg(format!("oci:{}:1.0.0", dir.display()))
        .arg(format!("oci:{}:{arch}", single.display())));
    let bundle = t.join(format!("bundle-{arch}"));
    run(tool("umoci")
        .args(["unpack", "--image"])
        .arg(format!("{}:{arch}", single.display()))
        .arg(&bundle));
    bundle.join("rootfs")
}

#[test]
fn umoci_unpacks_each_platform_with_owners_and_modes() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("img");
    write(&dir, &plans());
    for arch in ["amd64", "arm64"] {
        let root = unpack(t.path(), &dir, arch);
        let st = |p: &str| {
            fs::symlink_metadata(root.join(p)).unwrap_or_else(|e| panic!("{arch}: {p}: {e}"))
        };
        let app = st("opt/lucia/lucia.AgentHost");
        assert_eq!(
            (app.uid(), app.gid(), app.permissions().mode() & 0o7777),
            (0, 0, 0o755)
        );
        assert_eq!(
            fs::read(root.join("opt/lucia/appsettings.json")).unwrap(),
            b"{}\n"
        );
        let state = st("var/lib/lucia");
        assert!(state.is_dir());
        assert_eq!(
            (
                state.uid(),
                state.gid(),
                state.permissions().mode() & 0o7777
            ),
            (1100, 1100, 0o750)
        );
        let passwd = fs::read_to_string(root.join("etc/passwd")).unwrap();
        assert!(passwd.contains("lucia:x:1100:1100:"), "{passwd}");
        for absent in [
            "etc/lucia/lucia.env",
            "etc/lucia",
            "usr/lib/systemd",
            "usr/lib/sysusers.d",
            "usr/lib/tmpfiles.d",
        ] {
            assert!(
                !root.join(absent).exists(),
                "{arch}: {absent} must not be in the image"
            );
        }
        // umoci's runtime config carries the image config through.
        let cfg: serde_json::Value =
            serde_json::from_slice(&fs::read(root.parent().unwrap().join("config.json")).unwrap())
                .unwrap();
        assert_eq!(cfg["process"]["user"]["uid"], 1100);
        assert_eq!(cfg["process"]["cwd"], "/var/lib/lucia");
    }
}

#[test]
fn layers_are_shared_across_arches_when_identical() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("img");
    let s = write(&dir, &plans());
    let index: Index = serde_json::from_slice(&blob(&dir, &s.index_digest)).unwrap();
    let layers: Vec<Vec<String>> = index
        .manifests
        .iter()
        .map(|m| {
            let man: Manifest = serde_json::from_slice(&blob(&dir, &m.digest)).unwrap();
            man.layers.iter().map(|l| l.digest.clone()).collect()
        })
        .collect();
    // The sample plans have the same payload bytes for both arches.
    assert_eq!(layers[0], layers[1]);
    // index + 2 manifests + 2 configs + 2 shared layers.
    assert_eq!(fs::read_dir(dir.join("blobs/sha256")).unwrap().count(), 7);
}

#[test]
fn zstd_layers_get_the_zstd_media_type_and_unpack() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("img");
    let mut ps = plans();
    for p in &mut ps {
        p.formats.oci.layer_compression = Codec::Zstd(3);
    }
    let s = write(&dir, &ps);
    let index: Index = serde_json::from_slice(&blob(&dir, &s.index_digest)).unwrap();
    let man: Manifest = serde_json::from_slice(&blob(&dir, &index.manifests[0].digest)).unwrap();
    assert!(man.layers.iter().all(|l| l.media_type == MT_LAYER_ZSTD));
    let report = format_oci::inspect(&dir).unwrap();
    assert!(report.images[0].layers.iter().all(|l| l.diff_id.is_some()));
    // skopeo verifies the blobs on copy; podman (tests/e2e/oci.sh) runs zstd images too.
    run(tool("skopeo")
        .args(["copy", "--quiet"])
        .arg(format!("oci:{}:1.0.0", dir.display()))
        .arg(format!("oci:{}:x", t.path().join("copy").display())));
    // Gzip stays the default.
    let s2 = write(&t.path().join("gz"), &plans());
    let idx2: Index =
        serde_json::from_slice(&blob(&t.path().join("gz"), &s2.index_digest)).unwrap();
    let man2: Manifest =
        serde_json::from_slice(&blob(&t.path().join("gz"), &idx2.manifests[0].digest)).unwrap();
    assert!(man2.layers.iter().all(|l| l.media_type == MT_LAYER_GZIP));
    // xz has no OCI media type.
    let mut bad = plans();
    bad[0].formats.oci.layer_compression = Codec::Xz(6);
    assert!(format_oci::write_layout(&bad, &t.path().join("xz")).is_err());
}

#[test]
fn archive_loads_in_skopeo_and_inspect_agrees() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("lucia-1.0.0-oci");
    let s = write(&dir, &plans());
    let tar = t.path().join("lucia-1.0.0-oci.tar");
    format_oci::write_archive_file(&dir, &tar).unwrap();
    let raw = run(tool("skopeo")
        .args(["inspect", "--raw"])
        .arg(format!("oci-archive:{}:1.0.0", tar.display())));
    assert_eq!(raw.as_bytes(), blob(&dir, &s.index_digest).as_slice());
    let from_layout = format_oci::inspect(&dir).unwrap();
    let from_archive = format_oci::inspect(&tar).unwrap();
    assert_eq!(from_layout.index_digest, s.index_digest);
    assert_eq!(from_archive.index_digest, s.index_digest);
    assert_eq!(from_archive.images.len(), 2);
    assert_eq!(from_archive.image_name.as_deref(), Some("lucia:1.0.0"));
    assert_eq!(from_archive.images[1].platform, "linux/arm64/v8");
    // index + 2 manifests + 2 configs + 2 layers per platform (shared blobs verified per use).
    assert_eq!(from_archive.blobs_verified, 1 + 2 * 2 + 2 * 2);
    let text = from_archive.to_string();
    assert!(
        text.contains("linux/amd64") && text.contains("user        1100:1100"),
        "{text}"
    );
    serde_json::to_string(&from_archive).unwrap();
}

#[test]
fn inspect_catches_corruption_and_refuses_traversal() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("img");
    let s = write(&dir, &plans());
    let index: Index = serde_json::from_slice(&blob(&dir, &s.index_digest)).unwrap();
    let man: Manifest = serde_json::from_slice(&blob(&dir, &index.manifests[0].digest)).unwrap();
    let layer = dir
        .join("blobs/sha256")
        .join(man.layers[1].digest.trim_start_matches("sha256:"));
    let mut bytes = fs::read(&layer).unwrap();
    let n = bytes.len();
    bytes[n / 2] ^= 0xff;
    fs::write(&layer, &bytes).unwrap();
    let err = format_oci::inspect(&dir).unwrap_err().to_string();
    assert!(
        err.contains("digest mismatch") || err.contains("decompress"),
        "{err}"
    );

    // An archive with a `..` member.
    let evil = t.path().join("evil.tar");
    let mut b = tar::Builder::new(fs::File::create(&evil).unwrap());
    let mut h = tar::Header::new_gnu();
    h.set_size(2);
    h.set_mode(0o644);
    h.set_entry_type(tar::EntryType::Regular);
    let name = b"../index.json";
    h.as_old_mut().name[..name.len()].copy_from_slice(name);
    h.set_cksum();
    b.append(&h, &b"{}"[..]).unwrap();
    b.finish().unwrap();
    drop(b);
    let err = format_oci::inspect(&evil).unwrap_err().to_string();
    assert!(err.contains("`..`"), "{err}");
    // Garbage is an error, not a panic.
    fs::write(t.path().join("junk.tar"), b"not a tar at all").unwrap();
    assert!(format_oci::inspect(&t.path().join("junk.tar")).is_err());
    // A layout whose index.json points outside the blob store.
    let l2 = t.path().join("l2");
    fs::create_dir_all(&l2).unwrap();
    fs::write(l2.join("oci-layout"), format_oci::spec::OCI_LAYOUT).unwrap();
    fs::write(l2.join("index.json"), r#"{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:../../../etc/passwd","size":1}]}"#).unwrap();
    assert!(format_oci::inspect(&l2)
        .unwrap_err()
        .to_string()
        .contains("malformed digest"));
}

#[test]
fn a_pinned_base_layout_is_resolved_per_platform() {
    let t = tempfile::tempdir().unwrap();
    // A two-platform "base" built by the writer itself: one file at /usr/share/base/marker.
    let base_dir = t.path().join("base");
    let base_plans: Vec<Plan> = plans()
        .into_iter()
        .map(|mut p| {
            p.meta.name = "base".into();
            p.service = None;
            p.entries.retain(|e| {
                e.path == "/opt"
                    || e.path == "/opt/lucia"
                    || e.path == "/opt/lucia/appsettings.json"
            });
            for e in &mut p.entries {
                if e.path == "/opt/lucia/appsettings.json" {
                    e.path = format!("/opt/lucia/base-{}", p.arch);
                }
            }
            p.formats.oci.env = vec![
                ("PATH".into(), "/base/bin:/usr/bin".into()),
                ("BASEVAR".into(), "1".into()),
            ];
            p.formats.oci.cmd = vec!["--from-base".into()];
            p
        })
        .collect();
    let bs = write(&base_dir, &base_plans);
    let pin = bs.index_digest.clone();
    let tar = t.path().join("base.tar");
    format_oci::write_archive_file(&base_dir, &tar).unwrap();

    for base_path in [base_dir.clone(), tar.clone()] {
        let dir = t.path().join("on-base");
        let ps: Vec<Plan> = plans()
            .into_iter()
            .map(|mut p| {
                p.formats.oci.base = Some(OciBase {
                    path: base_path.clone(),
                    digest: pin.clone(),
                });
                p
            })
            .collect();
        let s = write(&dir, &ps);
        let report = format_oci::inspect(&dir).unwrap();
        assert_eq!(
            report
                .index_annotations
                .get("org.opencontainers.image.base.digest"),
            Some(&pin)
        );
        let base_name = report
            .index_annotations
            .get("org.opencontainers.image.base.name");
        assert_eq!(base_name.map(String::as_str), Some("base:1.0.0"));
        for img in &report.images {
            // base: one app layer (it has no service); ours: config + app layers.
            assert_eq!(img.layers.len(), 3, "{img:?}");
            assert!(
                img.env.contains(&"PATH=/base/bin:/usr/bin".to_string()),
                "{:?}",
                img.env
            );
            assert!(img.env.contains(&"BASEVAR=1".to_string()));
            // Our entrypoint resets the base's cmd.
            assert_eq!(img.cmd, None);
            assert_eq!(
                img.annotations
                    .get("org.opencontainers.image.base.name")
                    .map(String::as_str),
                Some("base:1.0.0")
            );
        }
        for arch in ["amd64", "arm64"] {
            let root = unpack(t.path(), &dir, arch);
            assert!(
                root.join(format!("opt/lucia/base-{arch}")).is_file(),
                "{arch}: base layer missing"
            );
            assert!(root.join("opt/lucia/lucia.AgentHost").is_file());
            // With a base, the base's user database is left alone.
            assert!(!root.join("etc/passwd").exists());
            fs::remove_dir_all(t.path().join(format!("bundle-{arch}"))).unwrap();
            fs::remove_dir_all(t.path().join(format!("single-{arch}"))).unwrap();
        }
        let _ = s;
    }
    // Pinning one platform's manifest works for that platform and is refused for the other.
    let base_index: Index = serde_json::from_slice(&blob(&base_dir, &pin)).unwrap();
    let amd64_manifest = base_index.manifests[0].digest.clone();
    let mut one = lucia_like_plan(Arch::Amd64);
    one.formats.oci.base = Some(OciBase {
        path: base_dir.clone(),
        digest: amd64_manifest.clone(),
    });
    let r = format_oci::write_layout(&[one], &t.path().join("one")).unwrap();
    assert_eq!(r.platforms.len(), 1);
    let mut other = lucia_like_plan(Arch::Arm64);
    other.formats.oci.base = Some(OciBase {
        path: base_dir.clone(),
        digest: amd64_manifest,
    });
    let err = format_oci::write_layout(&[other], &t.path().join("other"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("linux/amd64") && err.contains("linux/arm64"),
        "{err}"
    );
    // A wrong pin is refused.
    let mut bad = plans();
    for p in &mut bad {
        p.formats.oci.base = Some(OciBase {
            path: base_dir.clone(),
            digest: format!("sha256:{}", "0".repeat(64)),
        });
    }
    let err = format_oci::write_layout(&bad, &t.path().join("bad"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("pin"), "{err}");
}
