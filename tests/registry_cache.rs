//! The shared build cache in a registry (`build --cache REF`, issue 16), against Debian's real
//! docker-registry on loopback. Two store directories play two CI runners:
//!
//! * runner A builds the example's whole release set and publishes every store entry; runner B,
//!   with an empty store, writes no artifact itself (every one is pulled and NAR-verified) and
//!   its out dir is bit-identical to A's;
//! * a blob altered inside the registry's storage is detected while it streams in: that entry
//!   is rebuilt locally (exit 0, a warning), the others are still pulled, the bytes unchanged;
//! * an entry filed under another entry's tag, and an entry whose file path climbs out of the
//!   tree, are refused; nothing is written outside the store;
//! * a registry that is down: a warning, local work, exit 0, the same bytes;
//! * a malformed reference is bad input (exit 2) and `--cache` with `--no-cache` too.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;
use sha2::Digest;

use common::*;

/// `lucia-pkg build` of the example manifest (both arches, every format) as one runner: its own
/// store, the fixed source date, `--json`.
fn build(store: &Path, out: &Path, extra: &[&str]) -> Output {
    demo_payload();
    build_json(
        &repo().join("packaging/lucia.toml"),
        store,
        out,
        "1700000000",
        extra,
    )
}

fn stat(r: &Value, what: &str) -> u64 {
    r["cache"][what]
        .as_u64()
        .unwrap_or_else(|| panic!("no cache.{what} in the report: {r}"))
}

fn warnings(r: &Value) -> String {
    r["warnings"].to_string()
}

/// Runner A's build into a fresh store: (report, out dir).
fn runner_a(t: &Path, reference: &str) -> (Value, PathBuf) {
    let out = t.join("out-a");
    let r = report(&build(&t.join("store-a"), &out, &["--cache", reference]));
    (r, out)
}

/// `curl` against the registry's API: (status, body).
fn curl(args: &[&str]) -> (u16, Vec<u8>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let body = dir.path().join("body");
    let o = Command::new("curl")
        .args(["-sS", "--max-time", "20", "-o"])
        .arg(&body)
        .args(["-w", "%{http_code}"])
        .args(args)
        .output()
        .expect("run curl");
    let code = String::from_utf8_lossy(&o.stdout)
        .trim()
        .parse()
        .unwrap_or(0);
    (code, fs::read(&body).unwrap_or_default())
}

/// The cache tags of the repository.
fn tags(addr: &str, repo: &str) -> Vec<String> {
    let (code, body) = curl(&[&format!("http://{addr}/v2/{repo}/tags/list")]);
    assert_eq!(code, 200, "{}", String::from_utf8_lossy(&body));
    let v: Value = serde_json::from_slice(&body).expect("tags list JSON");
    let mut t: Vec<String> = v["tags"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    t.sort();
    t
}

fn get_manifest(addr: &str, repo: &str, tag: &str) -> Vec<u8> {
    let (code, body) = curl(&[
        "-H",
        "Accept: application/vnd.oci.image.manifest.v1+json",
        &format!("http://{addr}/v2/{repo}/manifests/{tag}"),
    ]);
    assert_eq!(code, 200, "{}", String::from_utf8_lossy(&body));
    body
}

fn put_manifest(addr: &str, repo: &str, tag: &str, bytes: &[u8]) {
    let dir = tempfile::tempdir().expect("tempdir");
    let f = dir.path().join("m.json");
    fs::write(&f, bytes).expect("write manifest");
    let (code, body) = curl(&[
        "-X",
        "PUT",
        "-H",
        "Content-Type: application/vnd.oci.image.manifest.v1+json",
        "--data-binary",
        &format!("@{}", f.display()),
        &format!("http://{addr}/v2/{repo}/manifests/{tag}"),
    ]);
    assert!(
        code == 201 || code == 200,
        "PUT manifest {tag}: {code} {}",
        String::from_utf8_lossy(&body)
    );
}

#[test]
fn runner_b_pulls_every_entry_runner_a_built_and_writes_identical_bytes() {
    let t = tempfile::tempdir().expect("tempdir");
    let (_reg, addr) = start_registry(t.path());
    let reference = format!("{addr}/ci/cache");

    let (a, out_a) = runner_a(t.path(), &reference);
    let artifacts = a["artifacts"].as_array().expect("artifacts").clone();
    assert!(artifacts.len() >= 20, "{a}");
    assert!(
        artifacts
            .iter()
            .all(|x| x["cached"] == false && x["pulled"] == false),
        "runner A built everything itself: {a}"
    );
    // Runner A also publishes every segment it compressed (the demo AgentHost is above the
    // default 1 MiB threshold), one tag each; runner B then needs none of them.
    let published = stat(&a, "published");
    let segments = fs::read_dir(t.path().join("store-a/.segments"))
        .map(|d| {
            d.filter(|e| {
                e.as_ref()
                    .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "seg"))
            })
            .count() as u64
        })
        .unwrap_or(0);
    let entries = published - segments;
    assert!(entries >= 7, "one entry per job (5 formats × arches): {a}");
    assert_eq!(stat(&a, "pulled"), 0);
    assert_eq!(tags(&addr, "ci/cache").len() as u64, published);

    // Runner B: another store, another out dir, another umask and time zone.
    let out_b = t.path().join("out-b");
    let o = Command::new("sh")
        .arg("-c")
        .arg("umask 077; exec \"$@\"")
        .arg("sh")
        .arg(bin())
        .arg("--json")
        .arg("build")
        .arg("-m")
        .arg(repo().join("packaging/lucia.toml"))
        .arg("--out")
        .arg(&out_b)
        .env("LUCIA_PKG_CACHE", &reference)
        .env("LUCIA_PKG_STORE", t.path().join("store-b"))
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .env("TZ", "Pacific/Kiritimati")
        .output()
        .expect("run runner B");
    let b = report(&o);
    let arts_b = b["artifacts"].as_array().expect("artifacts");
    assert_eq!(arts_b.len(), artifacts.len());
    assert!(
        arts_b
            .iter()
            .all(|x| x["cached"] == true && x["pulled"] == true),
        "runner B must write no artifact itself (0 compressions): {b}"
    );
    assert_eq!(stat(&b, "pulled"), entries, "{b}");
    assert_eq!(stat(&b, "published"), 0, "{b}");
    assert_eq!(stat(&b, "rejected"), 0, "{b}");
    assert_eq!(
        sums(&out_a),
        sums(&out_b),
        "the two runners' outputs differ"
    );
    // Every line of SHA256SUMS holds for B's files (a cache that served wrong bytes fails here).
    let check = Command::new("sha256sum")
        .args(["--check", "--quiet", "SHA256SUMS"])
        .current_dir(&out_b)
        .output()
        .expect("run sha256sum");
    assert!(check.status.success(), "{}", text(&check));
    // Runner B's store is sound: every entry's NAR hash, as `lucia-pkg hash` computes it, is
    // the one recorded for it.
    let store_b = t.path().join("store-b");
    let mut checked = 0;
    for e in fs::read_dir(&store_b).expect("store-b") {
        let e = e.expect("entry");
        let id = e.file_name().to_string_lossy().into_owned();
        if id.starts_with('.') {
            continue;
        }
        let h = Command::new(bin())
            .arg("hash")
            .arg(e.path())
            .output()
            .expect("run hash");
        let meta = fs::read_to_string(store_b.join(".meta").join(&id)).expect("meta");
        let want = format!("nar-hash {}", String::from_utf8_lossy(&h.stdout).trim());
        assert!(meta.lines().any(|l| l == want), "{id}: {meta} vs {want}");
        checked += 1;
    }
    assert_eq!(checked as u64, entries);

    // A second build of runner A finds everything locally and publishes nothing again.
    let again = report(&build(
        &t.path().join("store-a"),
        &out_a,
        &["--cache", &reference],
    ));
    assert_eq!(stat(&again, "published"), 0, "{again}");
    assert_eq!(stat(&again, "pulled"), 0, "{again}");
}

#[test]
fn a_tampered_blob_is_detected_and_that_entry_rebuilt_locally() {
    let t = tempfile::tempdir().expect("tempdir");
    let (_reg, addr) = start_registry(t.path());
    let reference = format!("{addr}/ci/cache");
    let (_a, out_a) = runner_a(t.path(), &reference);

    // The registry's copy of the deb (a blob named by the deb's sha256) gets one byte changed.
    let deb = "lucia_1.0.0-1_amd64.deb";
    let deb_sha = hex::encode(sha2::Sha256::digest(
        fs::read(out_a.join(deb)).expect("deb"),
    ));
    let blob = t
        .path()
        .join("registry-data/docker/registry/v2/blobs/sha256")
        .join(&deb_sha[..2])
        .join(&deb_sha)
        .join("data");
    let mut bytes = fs::read(&blob).expect("the deb's blob in the registry storage");
    bytes[4000] ^= 0x55;
    fs::write(&blob, &bytes).expect("tamper");

    let out_c = t.path().join("out-c");
    let c = report(&build(
        &t.path().join("store-c"),
        &out_c,
        &["--cache", &reference],
    ));
    assert_eq!(stat(&c, "rejected"), 1, "{c}");
    assert!(
        warnings(&c).contains("corrupted or tampered") && warnings(&c).contains(&deb_sha),
        "{c}"
    );
    let arts = c["artifacts"].as_array().expect("artifacts");
    let by_name = |n: &str| arts.iter().find(|x| x["name"] == n).expect(n).clone();
    assert_eq!(by_name(deb)["pulled"], false, "{c}");
    assert_eq!(by_name("lucia_1.0.0-1_arm64.deb")["pulled"], true, "{c}");
    assert_eq!(sums(&out_a), sums(&out_c));
}

#[test]
fn entries_filed_under_another_key_or_with_climbing_paths_are_refused() {
    let t = tempfile::tempdir().expect("tempdir");
    let (_reg, addr) = start_registry(t.path());
    let reference = format!("{addr}/ci/cache");
    let (_a, out_a) = runner_a(t.path(), &reference);
    // Store entries only (32-character nix32 keys); segment entries are 64-hex keys, and this
    // runner, pulling every entry, never asks for a segment.
    let all: Vec<String> = tags(&addr, "ci/cache")
        .into_iter()
        .filter(|t| t.split('.').next().is_some_and(|k| k.len() == 32))
        .collect();
    assert!(all.len() >= 3);

    // 1. The first tag's manifest copied over the second: a foreign entry there.
    let first = get_manifest(&addr, "ci/cache", &all[0]);
    put_manifest(&addr, "ci/cache", &all[1], &first);
    // 2. The third tag's manifest with a layer path that climbs out of the entry.
    let mut third: Value =
        serde_json::from_slice(&get_manifest(&addr, "ci/cache", &all[2])).expect("JSON");
    third["layers"][0]["annotations"]["org.opencontainers.image.title"] =
        Value::from("../../../escaped-by-the-cache");
    put_manifest(
        &addr,
        "ci/cache",
        &all[2],
        &serde_json::to_vec(&third).expect("JSON"),
    );

    let out_d = t.path().join("out-d");
    let store_d = t.path().join("store-d");
    let d = report(&build(&store_d, &out_d, &["--cache", &reference]));
    assert_eq!(stat(&d, "rejected"), 2, "{d}");
    let w = warnings(&d);
    assert!(w.contains("it is filed as"), "{w}");
    assert!(
        w.contains("unsafe path `../../../escaped-by-the-cache`"),
        "{w}"
    );
    for dir in [
        t.path().to_path_buf(),
        store_d.clone(),
        store_d.join(".tmp"),
    ] {
        assert!(
            !dir.join("escaped-by-the-cache").exists(),
            "a file escaped into {}",
            dir.display()
        );
    }
    assert_eq!(sums(&out_a), sums(&out_d));
}

#[test]
fn a_registry_that_is_down_only_warns_and_the_build_works_locally() {
    let t = tempfile::tempdir().expect("tempdir");
    // A port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let out = t.path().join("out");
    let o = build(
        &t.path().join("store"),
        &out,
        &["--cache", &format!("127.0.0.1:{port}/ci/cache")],
    );
    let r = report(&o);
    assert!(
        warnings(&r).contains("continuing without it, building locally"),
        "{r}"
    );
    assert!(r["artifacts"]
        .as_array()
        .expect("artifacts")
        .iter()
        .all(|x| x["pulled"] == false));
    let plain = t.path().join("plain");
    let p = report(&build(&t.path().join("store"), &plain, &[]));
    assert!(p.get("cache").is_none(), "{p}");
    assert_eq!(sums(&out), sums(&plain));
}

#[test]
fn a_malformed_cache_reference_is_bad_input() {
    let t = tempfile::tempdir().expect("tempdir");
    let out = t.path().join("out");
    for (args, want) in [
        (
            vec!["--cache", "Not A Reference"],
            "expected REGISTRY[:PORT]/REPOSITORY",
        ),
        (
            vec!["--cache", "127.0.0.1:5000/ci/cache:sometag"],
            "names a repository, not a tag",
        ),
        (
            vec!["--cache", "user:pw@127.0.0.1:5000/ci/cache"],
            "credentials in the reference are not accepted",
        ),
        (
            vec!["--cache", "127.0.0.1:5000/ci/cache", "--no-cache"],
            "cannot be used with",
        ),
    ] {
        let o = build(&t.path().join("store"), &out, &args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", text(&o));
        assert!(text(&o).contains(want), "{args:?}: {}", text(&o));
        assert!(!text(&o).contains("pw@"), "{}", text(&o));
    }
}
