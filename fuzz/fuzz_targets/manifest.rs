//! Fuzzes the manifest parser and validator (TOML → validated Spec) exactly as `lucia-pkg check`
//! runs it, including the rendering of the located diagnostic. Relative paths resolve against a
//! directory that does not exist, so validation never touches real files.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lucia_pkg::manifest;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let path = std::path::Path::new("/nonexistent-lucia-fuzz/lucia.toml");
    if let Err(d) = manifest::parse(path, text) {
        let _ = d.render(false);
        let _ = d.to_json();
        let _ = d.location();
    }
});
