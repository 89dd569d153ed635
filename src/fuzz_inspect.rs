//! The bodies of the `inspect_*` fuzz targets (fuzz/fuzz_targets/inspect_*.rs call them), also
//! used by tests/hostile_inputs.rs, which replays every corpus and regression input through the
//! same functions in a plain `cargo test` (no libFuzzer needed). Not part of the tool's API.
//!
//! Arbitrary bytes must give a report or an error: never a panic, a hang or unbounded memory
//! (libFuzzer's -rss_limit_mb/-malloc_limit_mb/-timeout catch those when fuzzing). A report must
//! also respect the reader limits (`pkg_core::limits`), and its text rendering must not let a
//! control character through other than the report's own newlines and the tabs of script
//! bodies: names from the input are shown escaped.

use std::path::Path;

use pkg_core::limits::{MAX_DESCRIPTORS, MAX_ENTRIES};

/// Writes `data` to a temp file and calls `f` with its path.
fn with_file(data: &[u8], f: impl FnOnce(&Path)) {
    let Ok(dir) = tempfile::tempdir() else { return };
    let path = dir.path().join("input");
    if std::fs::write(&path, data).is_err() {
        return;
    }
    f(&path);
}

/// Renders a report as the CLI does (text and JSON) and checks the text is terminal-safe.
fn render<T: std::fmt::Display + serde::Serialize>(r: &T) {
    let text = r.to_string();
    if let Some(c) = text
        .chars()
        .find(|&c| c.is_control() && c != '\n' && c != '\t')
    {
        panic!("raw control character {c:?} in the text report");
    }
    std::hint::black_box((text, serde_json::to_string(r).ok()));
}

pub fn inspect_deb(data: &[u8]) {
    with_file(data, |p| {
        if let Ok(r) = format_deb::inspect(p) {
            assert!(r.files.len() <= MAX_ENTRIES, "{} files", r.files.len());
            render(&r);
        }
    });
}

pub fn inspect_rpm(data: &[u8]) {
    with_file(data, |p| {
        if let Ok(r) = format_rpm::inspect(p) {
            assert!(r.files.len() <= MAX_ENTRIES, "{} files", r.files.len());
            render(&r);
        }
    });
}

pub fn inspect_tar(data: &[u8]) {
    with_file(data, |p| {
        if let Ok(r) = format_tar::inspect(p) {
            assert!(
                r.members.len() <= MAX_ENTRIES,
                "{} members",
                r.members.len()
            );
            render(&r);
        }
    });
}

fn check_oci(r: &format_oci::OciReport) {
    assert!(r.images.len() <= 64, "{} images", r.images.len());
    assert!(
        r.blobs_verified <= MAX_DESCRIPTORS,
        "{} blobs verified",
        r.blobs_verified
    );
    render(r);
}

/// `format_oci::inspect` on an oci-archive file.
pub fn inspect_oci(data: &[u8]) {
    with_file(data, |p| {
        if let Ok(r) = format_oci::inspect(p) {
            check_oci(&r);
        }
    });
}

/// `format_oci::inspect` on a layout directory: the input is unpacked as a tar first (entries
/// that would leave the directory are skipped by `tar::Entry::unpack_in`; at most 64 entries of
/// at most 1 MiB each, so the unpacking itself stays small).
pub fn inspect_oci_layout(data: &[u8]) {
    let Ok(dir) = tempfile::tempdir() else { return };
    let mut ar = tar::Archive::new(data);
    let Ok(entries) = ar.entries() else { return };
    for (n, e) in entries.enumerate() {
        let (true, Ok(mut e)) = (n < 64, e) else {
            break;
        };
        let t = e.header().entry_type();
        if t.is_symlink() || t.is_hard_link() || e.size() > 1 << 20 {
            continue;
        }
        let _ = e.unpack_in(dir.path());
    }
    if let Ok(r) = format_oci::inspect(dir.path()) {
        check_oci(&r);
    }
}

/// A target's body.
pub type Body = fn(&[u8]);

/// Every target by name, for the replay.
pub const TARGETS: [(&str, Body); 5] = [
    ("inspect_deb", inspect_deb),
    ("inspect_rpm", inspect_rpm),
    ("inspect_tar", inspect_tar),
    ("inspect_oci", inspect_oci),
    ("inspect_oci_layout", inspect_oci_layout),
];
