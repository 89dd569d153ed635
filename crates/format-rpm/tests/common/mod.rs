//! Helpers shared by the format-rpm integration tests: running the real rpm tools, and comparing
//! the streaming writer's package with the rpm crate's own build of the same plan.
//!
//! The two differ only in how the payload is compressed (lucia-pkg's shared codecs, no flush
//! per file), so: the lead is the same, every main-header tag is the same except the digest of
//! the *compressed* payload, and the decompressed payloads are the same bytes.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Output};

use pkg_core::compress::{decoder, Codec};
use rpm::{IndexTag, Package};

/// Runs a tool in the C locale; a missing tool fails the test (CI installs them from
/// scripts/ci-packages.txt).
pub fn run(cmd: &str, args: &[&str]) -> Output {
    Command::new(cmd)
        .args(args)
        .env("LC_ALL", "C")
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run {cmd} (install it: see scripts/ci-packages.txt): {e}")
        })
}

/// rpm with a private database, so queries never touch the machine's.
pub fn rpmq(db: &Path, args: &[&str]) -> Output {
    let mut a = vec!["--dbpath", db.to_str().unwrap_or("/nonexistent")];
    a.extend_from_slice(args);
    run("rpm", &a)
}

const COMPRESSED_DIGEST: u32 = IndexTag::RPMTAG_PAYLOADSHA256 as u32;

fn parse(bytes: &[u8], what: &str) -> Package {
    Package::parse(&mut &bytes[..]).unwrap_or_else(|e| panic!("{what}: not an rpm: {e}"))
}

fn payload(p: &Package, codec: Codec, what: &str) -> Vec<u8> {
    let mut out = Vec::new();
    decoder(codec, &p.payload[..])
        .and_then(|mut d| d.read_to_end(&mut out))
        .unwrap_or_else(|e| panic!("{what}: payload does not decompress as {codec}: {e}"));
    out
}

/// Panics with a description of the first difference.
pub fn assert_same_package(streamed: &[u8], reference: &[u8], codec: Codec, what: &str) {
    let (s, r) = (parse(streamed, "streamed"), parse(reference, "rpm crate"));
    let tags = |p: &Package| {
        let mut v = p.metadata.header.get_all_entries().expect("header entries");
        v.retain(|(t, _)| *t != COMPRESSED_DIGEST);
        v
    };
    let (ts, tr) = (tags(&s), tags(&r));
    assert_eq!(ts.len(), tr.len(), "{what}: tag count");
    for (a, b) in ts.iter().zip(&tr) {
        assert!(a == b, "{what}: header tag {} differs:\n{a:?}\n{b:?}", a.0);
    }
    assert!(
        payload(&s, codec, "streamed") == payload(&r, codec, "rpm crate"),
        "{what}: the uncompressed payloads differ"
    );
}
