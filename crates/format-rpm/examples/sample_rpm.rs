//! Writes the rpm of `pkg_core::sample::lucia_like_plan` (for poking at it with rpm/rpmlint):
//! `cargo run -p format-rpm --example sample_rpm -- OUT_DIR [amd64|arm64]`.

use std::fs::File;
use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(args.next().ok_or("usage: sample_rpm OUT_DIR [ARCH]")?);
    let arch: pkg_core::Arch = args.next().as_deref().unwrap_or("amd64").parse()?;
    let plan = pkg_core::sample::lucia_like_plan(arch);
    let path = dir.join(format_rpm::file_name(&plan));
    let summary = format_rpm::write_rpm(&plan, File::create(&path)?)?;
    println!("{} {} {}", path.display(), summary.size, summary.sha256);
    Ok(())
}
