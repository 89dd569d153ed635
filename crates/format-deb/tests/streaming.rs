//! Memory stays flat however large the payload: a 96 MiB file is streamed into the .deb and the
//! process's peak RSS must not grow by anything close to it. (Its own test binary, so no other
//! test shares the process and its peak.)

use std::io::{Seek, SeekFrom, Write};

use pkg_core::compress::Codec;
use pkg_core::plan::{Content, Entry, EntryKind, Layer, Owner};
use pkg_core::sample::lucia_like_plan;
use pkg_core::Arch;

fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap()
}

#[test]
fn large_payload_is_streamed_not_buffered() {
    const SIZE: u64 = 96 << 20;
    let dir = tempfile::tempdir().unwrap();
    // A sparse file: cheap on disk, but every byte is read and hashed through the writer.
    let src = dir.path().join("big.bin");
    let mut f = std::fs::File::create(&src).unwrap();
    f.seek(SeekFrom::Start(SIZE - 1)).unwrap();
    f.write_all(&[1]).unwrap();
    drop(f);

    let mut plan = lucia_like_plan(Arch::Amd64);
    // Uncompressed keeps the debug-build test fast; the codecs stream the same way.
    plan.formats.deb.compression = Codec::None;
    plan.entries.push(Entry {
        path: "/opt/lucia/big.bin".into(),
        kind: EntryKind::File {
            content: Content::Disk(src),
            size: SIZE,
            sha256: [0; 32],
        },
        mode: 0o644,
        owner: Owner::root(),
        config: false,
        owned: true,
        layer: Layer::App,
    });
    plan.entries
        .sort_by(|a, b| a.path.as_bytes().cmp(b.path.as_bytes()));

    let before = peak_rss_kib();
    let out = std::fs::File::create(dir.path().join("big.deb")).unwrap();
    let summary = format_deb::write_deb(&plan, std::io::BufWriter::new(out)).unwrap();
    let grown = peak_rss_kib().saturating_sub(before);
    assert!(summary.installed_size_kib >= SIZE / 1024);
    assert!(
        grown < 32 * 1024,
        "peak RSS grew by {grown} KiB while writing a {} MiB payload",
        SIZE >> 20
    );

    // And the package is whole: dpkg-deb lists the big file with its size.
    let listing = std::process::Command::new("dpkg-deb")
        .arg("-c")
        .arg(dir.path().join("big.deb"))
        .output()
        .unwrap();
    assert!(listing.status.success());
    let text = String::from_utf8_lossy(&listing.stdout);
    assert!(
        text.lines()
            .any(|l| l.contains(&format!(" {SIZE} ")) && l.ends_with("./opt/lucia/big.bin")),
        "{text}"
    );
}
