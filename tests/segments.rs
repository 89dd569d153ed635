//! Compress once (issue 16 §1): the store's segment cache, end to end with the binary and the
//! real tools.
//!
//! The example manifest, with `segments = "1M"` in every format, is built from a copy of the demo
//! payload plus large files: one shared by both arches, one per arch, one of exactly the
//! threshold (1 MiB) and one a byte below it.
//!
//! * a rebuild after editing one large file compresses only that file's segments (one per
//!   codec: deb xz, rpm zstd, tarball gzip:9, OCI gzip) and reuses every other one;
//! * the bytes never depend on the cache: the warm rebuild equals a `--no-cache` build of the
//!   same inputs;
//! * cached segments that do not decompress to the file they are named for (swapped, flipped
//!   byte) are refused and rebuilt, and the output is still the same; `gc` empties the cache;
//! * through the shared cache (`--cache`, a loopback docker-registry): a runner with an empty
//!   store building a new release (other source date: no entry can be reused) pulls every
//!   segment the first runner published, compresses none, and writes what `--no-cache` writes;
//! * every spliced stream passes the real tools: `xz -t` and `xz --list` (many blocks) on the
//!   deb's data.tar.xz, `dpkg-deb` extraction, `rpm -K`, `zstd -t` on its payload and `rpm2cpio`
//!   on the rpm, `gzip -t`
//!   and GNU tar on the tarball and on every OCI layer.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;
use sha2::Digest;

use common::*;

const ARCHES: [&str; 2] = ["amd64", "arm64"];

/// Compressible, file-specific bytes (so a segment is worth caching and distinct per seed).
fn bytes(seed: &str, len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 64);
    let mut i = 0u64;
    while out.len() < len {
        let h = sha2::Sha256::digest(format!("{seed}/{}", i / 7).as_bytes());
        out.extend_from_slice(format!("{seed} record {i} {}\n", hex::encode(&h[..6])).as_bytes());
        i += 1;
    }
    out.truncate(len);
    out
}

/// The demo payload plus the large files; `edited` changes the amd64-only one.
fn payload(t: &Path, edited: bool) -> PathBuf {
    let root = t.join(if edited { "payload-edited" } else { "payload" });
    for arch in ARCHES {
        let dir = root.join(arch);
        fs::create_dir_all(dir.join("models")).unwrap();
        let st = Command::new("cp")
            .arg("-a")
            .arg(demo_payload().join(arch).join("."))
            .arg(&dir)
            .status()
            .unwrap();
        assert!(st.success());
        fs::write(dir.join("models/shared.onnx"), bytes("shared", 3 << 20)).unwrap();
        fs::write(dir.join("exact.bin"), bytes("exact", 1 << 20)).unwrap();
        fs::write(dir.join("below.bin"), bytes("below", (1 << 20) - 1)).unwrap();
        let own = if edited && arch == "amd64" {
            bytes("own-amd64-v2", 1_600_000)
        } else {
            bytes(&format!("own-{arch}"), 1_500_000)
        };
        fs::write(dir.join(format!("libown-{arch}.so")), own).unwrap();
    }
    root
}

/// The example manifest with absolute paths and `payload`'s directories.
fn manifest(t: &Path, payload: &Path) -> PathBuf {
    let base = repo().join("packaging");
    let text = fs::read_to_string(base.join("lucia.toml")).unwrap();
    let mut lines = Vec::new();
    for line in text.lines() {
        let mut line = line.to_string();
        for arch in ARCHES {
            if line.trim_start().starts_with("path = ")
                && line.contains(&format!("demo-payload/{arch}"))
            {
                line = format!("path = \"{}\"", payload.join(arch).display());
            }
        }
        // Every format's compression line gets the 1 MiB threshold the large files are sized for.
        if line.starts_with("compression = ") {
            line.push_str("\nsegments = \"1M\"");
        }
        if let Some((head, rest)) = line.split_once("\"../") {
            let (rel, tail) = rest.split_once('"').unwrap();
            line = format!("{head}\"{}\"{tail}", repo().join(rel).display());
        }
        lines.push(line);
    }
    let name = payload.file_name().unwrap().to_string_lossy().into_owned();
    let path = t.join(format!("{name}.toml"));
    fs::write(&path, lines.join("\n") + "\n").unwrap();
    path
}

fn build(manifest: &Path, store: &Path, out: &Path, sde: &str, extra: &[&str]) -> Output {
    build_json(manifest, store, out, sde, extra)
}

fn seg(r: &Value, what: &str) -> u64 {
    r["segments"][what]
        .as_u64()
        .unwrap_or_else(|| panic!("no segments.{what} in the report: {r}"))
}

/// The segment cache files of the large files this payload shares by content (shared.onnx,
/// exact.bin, libown-*.so as first built), told from the cached stretches between segments by
/// the uncompressed size in their prefix.
fn file_segments(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "seg"))
        .filter(|p| {
            let head = fs::read(p).unwrap();
            let size = u64::from_le_bytes(head[8..16].try_into().unwrap());
            [3 << 20, 1 << 20, 1_500_000].contains(&size)
        })
        .collect();
    out.sort();
    out
}

/// Large files per arch (AgentHost, shared.onnx, exact.bin, libown) × 2 arches × 4 codecs.
const SEGMENT_USES: u64 = 4 * 2 * 4;

fn sh(cmd: &str) -> Output {
    let o = Command::new("bash")
        .args(["-o", "pipefail", "-c", cmd])
        .output()
        .unwrap();
    assert!(o.status.success(), "{cmd}: {}", text(&o));
    o
}

fn tool_or_skip(tools: &[&str]) -> bool {
    let missing: Vec<&&str> = tools.iter().filter(|t| !have(t)).collect();
    if missing.is_empty() {
        return true;
    }
    assert!(!e2e_required(), "missing tools: {missing:?}");
    eprintln!("skipping the real-tool checks: {missing:?} not installed");
    false
}

/// The compressed payload of an rpm: after the 96-byte lead, the signature header (padded to 8
/// bytes) and the header, each 16 bytes + 16 per index entry + its data.
fn rpm_payload(rpm: &[u8]) -> &[u8] {
    let header_len = |at: usize| {
        let word = |i: usize| u32::from_be_bytes(rpm[i..i + 4].try_into().unwrap()) as usize;
        assert_eq!(&rpm[at..at + 3], &[0x8e, 0xad, 0xe8], "rpm header magic");
        16 + 16 * word(at + 8) + word(at + 12)
    };
    let sig = 96 + header_len(96);
    let main = sig.div_ceil(8) * 8;
    &rpm[main + header_len(main)..]
}

/// Checks every spliced stream in `out` with the real tools.
fn real_tools_accept(out: &Path, t: &Path) {
    if !tool_or_skip(&[
        "xz", "gzip", "tar", "ar", "dpkg-deb", "rpm", "rpm2cpio", "cpio",
    ]) {
        return;
    }
    let want = hex::encode(sha2::Sha256::digest(bytes("shared", 3 << 20)));
    for arch in ARCHES {
        let deb = out.join(format!("lucia_1.0.0-1_{arch}.deb"));
        let d = deb.display();
        let xz = t.join(format!("data-{arch}.tar.xz"));
        sh(&format!("ar p {d} data.tar.xz > {}", xz.display()));
        sh(&format!("xz -t {}", xz.display()));
        let list = text(&sh(&format!("xz --robot --list {}", xz.display())));
        let blocks: u64 = list
            .lines()
            .find_map(|l| l.strip_prefix("totals\t"))
            .and_then(|l| l.split('\t').nth(1))
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("xz --list: {list}"));
        // fresh units around 4 segments: at least 8 blocks.
        assert!(blocks >= 8, "{d}: {blocks} xz blocks\n{list}");
        let got = text(&sh(&format!(
            "dpkg-deb --fsys-tarfile {d} | tar -xOf - ./opt/lucia/models/shared.onnx | sha256sum"
        )));
        assert!(got.starts_with(&want), "{d}: shared.onnx {got}");

        let rpm_arch = if arch == "amd64" { "x86_64" } else { "aarch64" };
        let rpm = out.join(format!("lucia-1.0.0-1.{rpm_arch}.rpm"));
        let r = rpm.display();
        sh(&format!("rpm -K --nosignature {r}"));
        let zst = t.join(format!("payload-{arch}.zst"));
        fs::write(&zst, rpm_payload(&fs::read(&rpm).unwrap())).unwrap();
        let frames = text(&sh(&format!("zstd -t {0} && zstd -lv {0}", zst.display())));
        let count: u64 = frames
            .lines()
            .find_map(|l| l.strip_prefix("# Zstandard Frames: "))
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or_else(|| panic!("zstd -lv: {frames}"));
        assert!(count >= 8, "{r}: {count} zstd frames");
        let x = t.join(format!("rpmx-{arch}"));
        fs::create_dir_all(&x).unwrap();
        // rpm2cpio exits 1 unless it extracted exactly the signature header's archive size.
        sh(&format!(
            "cd {} && rpm2cpio {r} | cpio -idm --quiet",
            x.display()
        ));
        let got = text(&sh(&format!(
            "sha256sum {}/opt/lucia/models/shared.onnx",
            x.display()
        )));
        assert!(got.starts_with(&want), "{r}: shared.onnx {got}");

        let tgz = out.join(format!("lucia-1.0.0-linux-{arch}.tar.gz"));
        sh(&format!(
            "gzip -t {0} && tar -tzf {0} >/dev/null",
            tgz.display()
        ));
    }
    let blobs = out.join("lucia-1.0.0-oci/blobs/sha256");
    let mut layers = 0;
    for b in fs::read_dir(&blobs).unwrap() {
        let p = b.unwrap().path();
        let head = fs::read(&p).unwrap();
        if head.starts_with(&[0x1f, 0x8b]) {
            sh(&format!(
                "gzip -t {0} && tar -tzf {0} >/dev/null",
                p.display()
            ));
            layers += 1;
        }
    }
    assert!(layers >= 2, "no gzip layers in {}", blobs.display());
}

#[test]
fn a_rebuild_compresses_only_the_changed_file_and_writes_what_a_cold_build_writes() {
    let t = tempfile::tempdir().unwrap();
    let t = t.path();
    let store = t.join("store");
    let (m1, m2) = (
        manifest(t, &payload(t, false)),
        manifest(t, &payload(t, true)),
    );

    let cold = report(&build(&m1, &store, &t.join("out-cold"), "1700000000", &[]));
    let (c, r) = (seg(&cold, "compressed"), seg(&cold, "reused"));
    assert_eq!(c + r, SEGMENT_USES, "{}", cold["segments"]);
    // 6 distinct large contents per codec; concurrent jobs may both compress a shared one.
    assert!(c >= 24, "{}", cold["segments"]);

    let warm = report(&build(&m2, &store, &t.join("out-warm"), "1700000000", &[]));
    // Only the amd64 payload changed: the arm64 deb, rpm and tarball are store hits; the amd64
    // ones (3 codecs) and the image (both platforms) use 4 large files each: 20 segment uses,
    // of which only libown-amd64.so's are new (one per codec).
    assert_eq!(
        (seg(&warm, "compressed"), seg(&warm, "reused")),
        (4, 16),
        "{}",
        warm["segments"]
    );
    assert_eq!(seg(&warm, "refused"), 0);
    // The stretches between segments are reused too, except the one holding the changed
    // file's header (its size changed).
    assert!(
        seg(&warm, "fresh_reused") > 2 * seg(&warm, "fresh_compressed"),
        "{}",
        warm["segments"]
    );

    let uncached = t.join("out-uncached");
    let o = build(
        &m2,
        &t.join("store-unused"),
        &uncached,
        "1700000000",
        &["--no-cache"],
    );
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(
        sums(&t.join("out-warm")),
        sums(&uncached),
        "a build reusing segments differs from one compressing everything"
    );
    real_tools_accept(&uncached, t);
}

#[test]
fn segments_that_do_not_decompress_to_their_file_are_refused_and_rebuilt() {
    let t = tempfile::tempdir().unwrap();
    let t = t.path();
    let store = t.join("store");
    let m = manifest(t, &payload(t, false));
    report(&build(&m, &store, &t.join("out-1"), "1700000000", &[]));

    // Every cache file is intact on its own; make three of them lie: two swapped (each a valid
    // unit, of the wrong file) and one with a byte flipped.
    let dir = store.join(".segments");
    let segs = file_segments(&dir);
    assert_eq!(segs.len(), 16, "4 contents × 4 codecs");
    let (a, b) = (fs::read(&segs[0]).unwrap(), fs::read(&segs[1]).unwrap());
    fs::write(&segs[0], &b).unwrap();
    fs::write(&segs[1], &a).unwrap();
    let mut c = fs::read(&segs[2]).unwrap();
    let mid = c.len() / 2;
    c[mid] ^= 0x40;
    fs::write(&segs[2], &c).unwrap();

    // Another source date: every store entry misses, every segment is looked up.
    let r = report(&build(&m, &store, &t.join("out-2"), "1700000001", &[]));
    // (Jobs running at once may both meet a refused file before it is rebuilt.)
    assert!(seg(&r, "refused") >= 3, "{}", r["segments"]);
    assert!(seg(&r, "compressed") >= 3, "{}", r["segments"]);
    let o = build(
        &m,
        &t.join("other"),
        &t.join("out-3"),
        "1700000001",
        &["--no-cache"],
    );
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(sums(&t.join("out-2")), sums(&t.join("out-3")));
    // The rebuilt files are good again.
    let again = report(&build(&m, &store, &t.join("out-4"), "1700000002", &[]));
    assert_eq!(
        (seg(&again, "refused"), seg(&again, "compressed")),
        (0, 0),
        "{}",
        again["segments"]
    );

    // `gc` drops the whole segment cache (it is rebuilt on demand).
    let o = Command::new(bin())
        .args(["--json", "gc"])
        .env("LUCIA_PKG_STORE", &store)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let gc: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(gc["segments_removed"].as_u64().unwrap_or(0) >= 24, "{gc}");
    assert_eq!(fs::read_dir(&dir).unwrap().count(), 0);
}

#[test]
fn a_runner_with_an_empty_store_pulls_the_segments_of_the_last_release() {
    if !have("docker-registry") {
        assert!(!e2e_required(), "docker-registry is not installed");
        eprintln!("skipping: docker-registry is not installed");
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let t = t.path();
    let (_registry, addr) = start_registry(t);
    let reference = format!("{addr}/ci/cache");
    let m = manifest(t, &payload(t, false));

    let a = report(&build(
        &m,
        &t.join("store-a"),
        &t.join("out-a"),
        "1700000000",
        &["--cache", &reference],
    ));
    assert_eq!(seg(&a, "pulled"), 0);
    let published = a["cache"]["published"].as_u64().unwrap_or(0);
    assert!(
        published >= 24,
        "entries and segments published: {}",
        a["cache"]
    );

    // The next release on a fresh runner: new source date, so every entry misses.
    let b = report(&build(
        &m,
        &t.join("store-b"),
        &t.join("out-b"),
        "1700000100",
        &["--cache", &reference],
    ));
    assert_eq!(
        (seg(&b, "compressed"), seg(&b, "refused")),
        (0, 0),
        "every large file was compressed by runner A: {}",
        b["segments"]
    );
    assert!(seg(&b, "pulled") >= 24, "{}", b["segments"]);
    assert_eq!(seg(&b, "reused"), SEGMENT_USES, "{}", b["segments"]);
    let o = build(
        &m,
        &t.join("store-c"),
        &t.join("out-c"),
        "1700000100",
        &["--no-cache"],
    );
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(sums(&t.join("out-b")), sums(&t.join("out-c")));

    // One segment's blob altered inside the registry's storage: refused while it streams in
    // (digest), compressed locally instead; the bytes are the same.
    let seg_file = file_segments(&t.join("store-a/.segments"))[0].clone();
    let digest = hex::encode(sha2::Sha256::digest(fs::read(&seg_file).unwrap()));
    let blob = t
        .join("registry-data/docker/registry/v2/blobs/sha256")
        .join(&digest[..2])
        .join(&digest)
        .join("data");
    let mut bytes = fs::read(&blob).expect("the segment's blob in the registry storage");
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x55;
    fs::write(&blob, &bytes).unwrap();
    let d = report(&build(
        &m,
        &t.join("store-d"),
        &t.join("out-d"),
        "1700000200",
        &["--cache", &reference],
    ));
    let compressed = seg(&d, "compressed");
    assert!((1..=2).contains(&compressed), "{}", d["segments"]);
    assert!(
        d["cache"]["rejected"].as_u64().unwrap_or(0) >= 1,
        "{}",
        d["cache"]
    );
    let o = build(
        &m,
        &t.join("store-e"),
        &t.join("out-e"),
        "1700000200",
        &["--no-cache"],
    );
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(sums(&t.join("out-d")), sums(&t.join("out-e")));
}
