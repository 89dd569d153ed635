//! Writes the pkg-core sample plan as a .deb into the given directory (development aid for
//! looking at the writer's output with dpkg-deb, lintian or diffoscope).
//! Usage: `cargo run -p format-deb --example sample_deb -- OUT_DIR [amd64|arm64]`

use std::fs::File;
use std::io::BufWriter;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let dir = args
        .next()
        .ok_or("usage: sample_deb OUT_DIR [amd64|arm64]")?;
    let arch: pkg_core::Arch = args.next().unwrap_or_else(|| "amd64".into()).parse()?;
    let plan = pkg_core::sample::lucia_like_plan(arch);
    let path = std::path::Path::new(&dir).join(format_deb::file_name(&plan));
    let summary = format_deb::write_deb(&plan, BufWriter::new(File::create(&path)?))?;
    println!("{} {} {}", path.display(), summary.size, summary.sha256);
    Ok(())
}
