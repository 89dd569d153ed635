//! `lucia-pkg inspect` (and `push` of an oci-archive) on hostile artifacts: every shape is
//! generated here as a small file, run through the binary under GNU time, and must end with the
//! right exit code (2 bad input, 1 failed digest) within the time and memory budget
//! (pkg_core::limits: ≤ 2 s and ≤ 256 MB; a debug build gets 3× the time).
//!
//! Needs GNU time at /usr/bin/time (Debian package `time`): missing, the budget tests skip with
//! a reason, or fail under LUCIA_E2E_REQUIRED=1. The escaping tests need nothing.
//! `LUCIA_HOSTILE_BIN=/path/to/lucia-pkg` runs the same tests against another build (an older
//! one, to see them fail).

mod common;

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use common::{e2e_required, text};
use pkg_core::compress::{compress_bytes, Codec};

const GNU_TIME: &str = "/usr/bin/time";

/// The binary under test (`LUCIA_HOSTILE_BIN` overrides it).
fn bin() -> String {
    std::env::var("LUCIA_HOSTILE_BIN").unwrap_or_else(|_| common::bin().to_string())
}
const MAX_RSS_KB: u64 = 256 * 1024;

fn time_budget() -> Duration {
    if cfg!(debug_assertions) {
        Duration::from_secs(6)
    } else {
        Duration::from_secs(2)
    }
}

/// Whether GNU time is there; without it a budget test skips (or fails in CI).
fn have_gnu_time(test: &str) -> bool {
    let ok = Command::new(GNU_TIME)
        .args(["-f", "%M", "true"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !ok {
        assert!(
            !e2e_required(),
            "{test}: GNU time ({GNU_TIME}) is missing and LUCIA_E2E_REQUIRED=1 (apt-get install time)"
        );
        eprintln!("SKIP {test}: GNU time ({GNU_TIME}) is missing (apt-get install time)");
    }
    ok
}

/// Runs `lucia-pkg ARGS` under GNU time; prints and checks exit code, time and memory.
fn run_bounded(what: &str, args: &[&str], want_code: i32) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let stats = dir.path().join("time");
    let out = Command::new(GNU_TIME)
        .arg("-o")
        .arg(&stats)
        .args(["-f", "%e %M", "timeout", "-k", "5", "60", &bin()])
        .args(args)
        .env("LUCIA_PKG_REGISTRY_TIMEOUT", "2")
        .output()
        .unwrap();
    let s = fs::read_to_string(&stats).unwrap_or_default();
    let last = s.lines().last().unwrap_or("");
    let mut it = last.split_whitespace();
    let secs: f64 = it.next().and_then(|x| x.parse().ok()).unwrap_or(f64::MAX);
    let rss_kb: u64 = it.next().and_then(|x| x.parse().ok()).unwrap_or(u64::MAX);
    let msg = text(&out);
    let first = msg.lines().find(|l| l.contains("error")).unwrap_or("");
    eprintln!(
        "hostile {what}: exit {:?}, {secs:.2} s, {} MB max RSS; {}",
        out.status.code(),
        rss_kb / 1024,
        first.chars().take(200).collect::<String>()
    );
    assert_eq!(
        out.status.code(),
        Some(want_code),
        "{what}: wanted exit {want_code}; GNU time said {s:?}; output:\n{}",
        msg.chars().take(2000).collect::<String>()
    );
    assert!(
        secs <= time_budget().as_secs_f64(),
        "{what}: took {secs} s (budget {:?})",
        time_budget()
    );
    assert!(
        rss_kb <= MAX_RSS_KB,
        "{what}: {} MB max RSS (budget 256 MB)",
        rss_kb / 1024
    );
    assert!(
        !msg.contains("panicked"),
        "{what}: panicked:\n{}",
        msg.chars().take(2000).collect::<String>()
    );
    out
}

fn header(kind: tar::EntryType, name: &str, size: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_path(name).unwrap();
    h.set_size(size);
    h.set_mode(0o644);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    h.set_cksum();
    h
}

/// An 8 KB sparse tar whose first member is a GNU long name of 1 GiB (a hole).
fn sparse_long_name_tar(path: &Path) {
    let mut f = File::create(path).unwrap();
    let h = header(tar::EntryType::GNULongName, "././@LongLink", 1 << 30);
    f.write_all(h.as_bytes()).unwrap();
    f.write_all(b"x").unwrap();
    let after = 512 + (1u64 << 30);
    f.set_len(after).unwrap();
    let mut f = fs::OpenOptions::new().append(true).open(path).unwrap();
    f.write_all(header(tar::EntryType::Regular, "f", 0).as_bytes())
        .unwrap();
    f.write_all(&[0u8; 1024]).unwrap();
    assert!(fs::metadata(path).unwrap().len() > 1 << 30);
}

#[test]
fn sparse_tar_with_a_1_gib_long_name() {
    if !have_gnu_time("sparse_tar_with_a_1_gib_long_name") {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let p = t.path().join("long-name.tar");
    sparse_long_name_tar(&p);
    let r = run_bounded(
        "sparse .tar, 1 GiB GNU long name",
        &["inspect", p.to_str().unwrap()],
        2,
    );
    assert!(text(&r).contains("limit"), "{}", text(&r));
    // The same file as a layout to push: refused while reading it, before any network step.
    run_bounded(
        "push of a sparse oci-archive with a 1 GiB long name",
        &["push", p.to_str().unwrap(), "--to", "127.0.0.1:9/x/y:1"],
        2,
    );
}

/// A .tar.gz of 2M empty entries: 1 GB of headers, 2 MB compressed (concatenated gzip members).
#[test]
fn tar_gz_with_two_million_entries() {
    if !have_gnu_time("tar_gz_with_two_million_entries") {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let p = t.path().join("many.tar.gz");
    let block: Vec<u8> = header(tar::EntryType::Regular, "app/f", 0)
        .as_bytes()
        .repeat(2000);
    let member = compress_bytes(Codec::Gzip(9), &block).unwrap();
    let mut f = File::create(&p).unwrap();
    for _ in 0..1000 {
        f.write_all(&member).unwrap();
    }
    f.write_all(&compress_bytes(Codec::Gzip(9), &[0u8; 1024]).unwrap())
        .unwrap();
    drop(f);
    let r = run_bounded(
        "tar.gz with 2M entries",
        &["inspect", p.to_str().unwrap()],
        2,
    );
    assert!(text(&r).contains("entries"), "{}", text(&r));
}

/// A small tar holding one 64 KiB file, as the payload of the codec tests.
fn small_tar() -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let data = vec![b'a'; 64 << 10];
    b.append(
        &header(tar::EntryType::Regular, "app/data", data.len() as u64),
        &data[..],
    )
    .unwrap();
    b.into_inner().unwrap()
}

/// An xz stream whose LZMA2 block header asks for a 1.5 GiB dictionary.
fn xz_with_huge_dictionary() -> Vec<u8> {
    let mut xz = compress_bytes(Codec::Xz(0), &small_tar()).unwrap();
    // Stream header (12 bytes), then the block header: size byte, flags, [sizes], filter flags.
    let bh = 12;
    let bh_len = (xz[bh] as usize + 1) * 4;
    let flags = xz[bh + 1];
    assert_eq!(flags & 0x03, 0, "one filter");
    let mut i = bh + 2;
    let varint_len = |b: &[u8]| b.iter().position(|x| x & 0x80 == 0).unwrap() + 1;
    if flags & 0x40 != 0 {
        i += varint_len(&xz[i..]);
    }
    if flags & 0x80 != 0 {
        i += varint_len(&xz[i..]);
    }
    assert_eq!(xz[i], 0x21, "LZMA2 filter");
    assert_eq!(xz[i + 1], 1, "one property byte");
    xz[i + 2] = 37; // dictionary (2 | 1) << (37 / 2 + 11) = 1.5 GiB
    let crc = crc32(&xz[bh..bh + bh_len - 4]);
    xz[bh + bh_len - 4..bh + bh_len].copy_from_slice(&crc.to_le_bytes());
    xz
}

fn crc32(data: &[u8]) -> u32 {
    let mut c = !0u32;
    for &b in data {
        c ^= b as u32;
        for _ in 0..8 {
            c = if c & 1 != 0 {
                (c >> 1) ^ 0xedb8_8320
            } else {
                c >> 1
            };
        }
    }
    !c
}

#[test]
fn xz_with_a_1_5_gib_dictionary() {
    if !have_gnu_time("xz_with_a_1_5_gib_dictionary") {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let p = t.path().join("dict.tar.xz");
    fs::write(&p, xz_with_huge_dictionary()).unwrap();
    let r = run_bounded(
        "tar.xz with a 1.5 GiB dictionary",
        &["inspect", p.to_str().unwrap()],
        2,
    );
    assert!(text(&r).contains("128 MiB"), "{}", text(&r));
}

/// A zstd frame whose window descriptor asks for a 2 GiB window.
#[test]
fn zstd_with_a_2_gib_window() {
    if !have_gnu_time("zstd_with_a_2_gib_window") {
        return;
    }
    let mut z = compress_bytes(Codec::Zstd(3), &small_tar()).unwrap();
    assert_eq!(&z[..4], &[0x28, 0xb5, 0x2f, 0xfd]);
    assert_eq!(
        z[4] & 0x20,
        0,
        "not single-segment: a window descriptor follows"
    );
    z[5] = 21 << 3; // window log 10 + 21 = 31
    let t = tempfile::tempdir().unwrap();
    let p = t.path().join("window.tar.zst");
    fs::write(&p, z).unwrap();
    let r = run_bounded(
        "tar.zst with a 2 GiB window",
        &["inspect", p.to_str().unwrap()],
        2,
    );
    assert!(text(&r).contains("128 MiB"), "{}", text(&r));
}

fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(data))
}

fn put_blob(layout: &Path, data: &[u8]) -> String {
    let hex = sha256_hex(data);
    fs::write(layout.join("blobs/sha256").join(&hex), data).unwrap();
    format!("sha256:{hex}")
}

/// An OCI layout (a few hundred KB for n = 1000) whose two nested indexes fan out to n²
/// references to one empty index (nothing that counts as an image).
fn fan_out_layout(dir: &Path, n: usize) {
    fs::create_dir_all(dir.join("blobs/sha256")).unwrap();
    fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    let desc = |mt: &str, d: &str, size: usize| serde_json::json!({ "mediaType": mt, "digest": d, "size": size });
    let index_of = |d: serde_json::Value, n: usize| {
        serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": vec![d; n],
        }))
        .unwrap()
    };
    let empty = index_of(serde_json::Value::Null, 0);
    let e = put_blob(dir, &empty);
    let leaf = index_of(
        desc("application/vnd.oci.image.index.v1+json", &e, empty.len()),
        n,
    );
    let l = put_blob(dir, &leaf);
    let top = index_of(
        desc("application/vnd.oci.image.index.v1+json", &l, leaf.len()),
        n,
    );
    let t = put_blob(dir, &top);
    fs::write(
        dir.join("index.json"),
        index_of(
            desc("application/vnd.oci.image.index.v1+json", &t, top.len()),
            1,
        ),
    )
    .unwrap();
}

#[test]
fn oci_layout_whose_index_fans_out() {
    if !have_gnu_time("oci_layout_whose_index_fans_out") {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("fan-oci");
    fan_out_layout(&dir, 1000);
    let r = run_bounded(
        "OCI layout fanning out to 1M descriptors",
        &["inspect", dir.to_str().unwrap()],
        2,
    );
    assert!(text(&r).contains("descriptors"), "{}", text(&r));
}

/// A layout whose manifest blob is a FIFO: opening it for reading would wait for a writer forever.
#[test]
fn oci_layout_with_a_fifo_for_a_blob() {
    if !have_gnu_time("oci_layout_with_a_fifo_for_a_blob") {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("fifo-oci");
    fs::create_dir_all(dir.join("blobs/sha256")).unwrap();
    fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    let hex = "0".repeat(64);
    let fifo = dir.join("blobs/sha256").join(&hex);
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
    fs::write(
        dir.join("index.json"),
        format!(
            r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:{hex}","size":2}}]}}"#
        ),
    )
    .unwrap();
    let r = run_bounded(
        "OCI layout with a FIFO as a blob",
        &["inspect", dir.to_str().unwrap()],
        2,
    );
    assert!(text(&r).contains("not a regular file"), "{}", text(&r));
}

/// A real rpm (the sample plan) with one byte of its compressed payload flipped.
fn rpm_with_bad_payload(path: &Path) {
    let plan = pkg_core::sample::lucia_like_plan(pkg_core::Arch::Amd64);
    let mut rpm = Vec::new();
    format_rpm::write_rpm(&plan, &mut rpm).unwrap();
    let n = rpm.len();
    rpm[n - 100] ^= 0x55;
    fs::write(path, rpm).unwrap();
}

#[test]
fn rpm_with_a_mismatching_payload_digest_fails_without_decompressing() {
    if !have_gnu_time("rpm_with_a_mismatching_payload_digest") {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let p = t.path().join("bad.rpm");
    rpm_with_bad_payload(&p);
    let r = run_bounded(
        "rpm whose payload digest mismatches",
        &["inspect", p.to_str().unwrap()],
        1,
    );
    let out = text(&r);
    assert!(out.contains("Digests: NOT OK"), "{out}");
    assert!(
        out.contains("not checked (the compressed payload's digest failed)"),
        "the payload was decompressed anyway:\n{out}"
    );
    // --json: the report (exact JSON), then exit 1.
    let o = Command::new(bin())
        .args(["--json", "inspect", p.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    let report: serde_json::Value = serde_json::Deserializer::from_str(&stdout)
        .into_iter()
        .next()
        .unwrap()
        .unwrap();
    assert_eq!(report["digests"]["ok"], false, "{stdout}");
}

#[test]
fn an_intact_rpm_still_exits_0() {
    let t = tempfile::tempdir().unwrap();
    let p = t.path().join("good.rpm");
    let plan = pkg_core::sample::lucia_like_plan(pkg_core::Arch::Amd64);
    format_rpm::write_rpm(&plan, File::create(&p).unwrap()).unwrap();
    let o = Command::new(bin())
        .args(["inspect", p.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("Digests: OK"), "{}", text(&o));
}

const EVIL: &str = "app/evil\x1b[31mred\nforged: line\there\u{9b}";

fn evil_tar_gz(path: &Path) {
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Regular);
    h.set_size(0);
    h.set_mode(0o644);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    b.append_data(&mut h, EVIL, &[][..]).unwrap();
    let tar = b.into_inner().unwrap();
    fs::write(path, compress_bytes(Codec::Gzip(6), &tar).unwrap()).unwrap();
}

#[test]
fn control_characters_in_listings_are_escaped_and_json_is_exact() {
    let t = tempfile::tempdir().unwrap();
    let p = t.path().join("evil.tar.gz");
    evil_tar_gz(&p);
    let o = Command::new(bin())
        .args(["inspect", p.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        !out.contains('\x1b') && !out.contains('\u{9b}') && !out.contains("\nforged"),
        "raw control characters reached the terminal:\n{out:?}"
    );
    assert!(
        out.contains("app/evil\\x1b[31mred\\nforged: line\\there\\x9b"),
        "{out:?}"
    );
    let o = Command::new(bin())
        .args(["--json", "inspect", p.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["members"][0]["path"], EVIL, "--json keeps the exact name");
}

#[test]
fn control_characters_echoed_in_errors_are_escaped() {
    let t = tempfile::tempdir().unwrap();
    let p = t.path().join("evil.deb");
    // An ar archive whose first member is named with an escape sequence and a newline.
    let mut ar = b"!<arch>\n".to_vec();
    let mut h = b"\x1b[2J\nfake".to_vec();
    h.resize(16, b' ');
    h.extend_from_slice(format!("{:<12}{:<6}{:<6}{:<8}{:<10}`\n", 0, 0, 0, 100644, 1).as_bytes());
    assert_eq!(h.len(), 60);
    ar.extend_from_slice(&h);
    ar.extend_from_slice(b"x\n");
    fs::write(&p, ar).unwrap();
    for json in [false, true] {
        let mut args = vec!["inspect", p.to_str().unwrap()];
        if json {
            args.insert(0, "--json");
        }
        let o = Command::new(bin()).args(&args).output().unwrap();
        assert_eq!(o.status.code(), Some(2), "{}", text(&o));
        let all = text(&o);
        assert!(
            !all.contains('\x1b') && !all.contains("\nfake"),
            "raw control characters in the error:\n{all:?}"
        );
        if json {
            let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
            let m = v["error"]["message"].as_str().unwrap_or_default();
            assert!(m.contains("\\x1b[2J\\nfake"), "{v}");
        } else {
            assert!(all.contains("\\x1b[2J\\nfake"), "{all:?}");
        }
    }
}

/// The tests above generate their inputs; this keeps one small copy of each shape in the fuzz
/// corpora (fuzz/corpus/<target>/hostile-*) so fuzzing starts from them. Regenerate with
/// `LUCIA_WRITE_FUZZ_SEEDS=1 cargo test --test hostile_inputs write_fuzz_seeds`.
#[test]
fn write_fuzz_seeds() {
    if std::env::var_os("LUCIA_WRITE_FUZZ_SEEDS").is_none() {
        return;
    }
    let corpus = common::repo().join("fuzz/corpus");
    let put = |target: &str, name: &str, data: &[u8]| {
        assert!(
            data.len() <= 12 << 10,
            "{target}/{name}: {} bytes",
            data.len()
        );
        fs::write(corpus.join(target).join(name), data).unwrap();
    };
    // Long name claiming 1 GiB (truncated: the fuzz input is the file itself).
    let mut long = header(tar::EntryType::GNULongName, "././@LongLink", 1 << 30)
        .as_bytes()
        .to_vec();
    long.extend_from_slice(&[b'n'; 512]);
    put("inspect_tar", "hostile-long-name-1gib", &long);
    put("inspect_oci", "hostile-long-name-1gib", &long);
    let member = compress_bytes(
        Codec::Gzip(9),
        &header(tar::EntryType::Regular, "f", 0)
            .as_bytes()
            .repeat(4000),
    )
    .unwrap();
    put("inspect_tar", "hostile-many-entries.tar.gz", &member);
    put(
        "inspect_tar",
        "hostile-xz-dict-1.5gib",
        &xz_with_huge_dictionary(),
    );
    let mut z = compress_bytes(Codec::Zstd(3), &small_tar()).unwrap();
    z[5] = 21 << 3;
    put("inspect_tar", "hostile-zstd-window-2gib", &z);
    let t = tempfile::tempdir().unwrap();
    let p = t.path().join("bad.rpm");
    rpm_with_bad_payload(&p);
    let mut rpm = fs::read(&p).unwrap();
    if rpm.len() > 12 << 10 {
        // The sample is too big for a seed: the smallest intact rpm of the corpus, corrupted.
        let mut seeds: Vec<PathBuf> = walk(&corpus.join("inspect_rpm"));
        seeds.sort_by_key(|f| fs::metadata(f).map(|m| m.len()).unwrap_or(u64::MAX));
        let seed = seeds
            .into_iter()
            .find(|f| format_rpm::inspect(f).is_ok_and(|r| r.digests.ok))
            .expect("an intact rpm in fuzz/corpus/inspect_rpm");
        rpm = fs::read(seed).unwrap();
        let n = rpm.len();
        rpm[n - 20] ^= 0x55;
    }
    put("inspect_rpm", "hostile-payload-digest-mismatch", &rpm);
    // The fan-out layout (10 × 10), as the tar the inspect_oci_layout target unpacks.
    let dir = t.path().join("fan");
    fan_out_layout(&dir, 10);
    let mut b = tar::Builder::new(Vec::new());
    b.mode(tar::HeaderMode::Deterministic);
    let mut files: Vec<PathBuf> = walk(&dir);
    files.sort();
    for f in files {
        let rel = f.strip_prefix(&dir).unwrap();
        let data = fs::read(&f).unwrap();
        b.append_data(&mut header(tar::EntryType::Regular, "x", 0), rel, &data[..])
            .unwrap();
    }
    let layout_tar = b.into_inner().unwrap();
    put("inspect_oci_layout", "hostile-fan-out", &layout_tar);
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

use lucia_pkg::fuzz_inspect as fuzz_bodies;

/// Every input of the inspect fuzz corpora and regressions (fuzz/corpus/<target>/,
/// fuzz/regressions/<target>/, the hostile-* seeds included) through the fuzz targets' own
/// bodies: no panic, the reader limits hold, the text report is terminal-safe, and no input
/// takes longer than the time budget. This is the part of fuzzing CI always runs; fuzzing new
/// inputs is scripts/fuzz-smoke.sh.
#[test]
fn fuzz_corpora_replay_through_the_target_bodies() {
    let root = common::repo().join("fuzz");
    let (mut inputs, mut slowest) = (0usize, (0.0f64, String::new()));
    for (target, body) in fuzz_bodies::TARGETS {
        for dir in ["corpus", "regressions"] {
            let Ok(rd) = fs::read_dir(root.join(dir).join(target)) else {
                continue;
            };
            let mut files: Vec<PathBuf> = rd.filter_map(|e| e.ok()).map(|e| e.path()).collect();
            files.sort();
            for f in files {
                let data = fs::read(&f).unwrap();
                let start = std::time::Instant::now();
                let r = std::panic::catch_unwind(|| body(&data));
                let secs = start.elapsed().as_secs_f64();
                assert!(r.is_ok(), "{target} panicked on {}", f.display());
                assert!(
                    secs <= time_budget().as_secs_f64(),
                    "{target}: {} took {secs:.2} s",
                    f.display()
                );
                if secs > slowest.0 {
                    slowest = (secs, f.display().to_string());
                }
                inputs += 1;
            }
        }
    }
    assert!(inputs > 500, "only {inputs} corpus inputs found");
    eprintln!(
        "fuzz corpora: {inputs} inputs replayed, slowest {:.3} s ({})",
        slowest.0, slowest.1
    );
}
