//! Fuzzes the deb reader behind `lucia-pkg inspect`: arbitrary bytes in a file must give a
//! report or an error, never a panic, a hang or unbounded memory. The report is also rendered
//! as text and JSON, as the CLI does.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(dir) = tempfile::tempdir() else { return };
    let path = dir.path().join("input");
    if std::fs::write(&path, data).is_err() {
        return;
    }
    if let Ok(text) =
        format_deb::inspect(&path).map(|r| (r.to_string(), serde_json::to_string(&r).ok()))
    {
        std::hint::black_box(text);
    }
});
