//! Fuzzes the OCI *layout directory* reader behind `lucia-pkg inspect DIR`: the input is
//! unpacked as a tar archive into a temp dir (entries that would leave it are skipped by
//! `tar::Entry::unpack_in`), then inspected. Errors are fine; panics, hangs and unbounded memory
//! are not.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(dir) = tempfile::tempdir() else { return };
    let mut ar = tar::Archive::new(data);
    let Ok(entries) = ar.entries() else { return };
    for (n, e) in entries.enumerate() {
        // Bound the work per input: a layout has a handful of files.
        let (true, Ok(mut e)) = (n < 64, e) else {
            break;
        };
        if e.header().entry_type().is_symlink() || e.header().entry_type().is_hard_link() {
            continue;
        }
        let _ = e.unpack_in(dir.path());
    }
    if let Ok(r) = format_oci::inspect(dir.path()) {
        std::hint::black_box((r.to_string(), serde_json::to_string(&r).ok()));
    }
});
