//! Measures the segment threshold's trade-off on a payload directory: for each codec, the size
//! and time of one single stream against segmented streams with several thresholds, and the
//! share of the payload's bytes that the segments cover (what a rebuild can reuse).
//!
//! `cargo run --release -p pkg-core --example segment_sweep -- DIR [CODEC,…] [THRESHOLD,…]`
//! e.g. `… bench/.work/payload-100M/amd64 xz:6,zstd:19,gzip:9 64K,256K,1M`. Prints one line per
//! (codec, threshold); docs/performance.md ("Segments") records a run.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use pkg_core::compress::{Codec, Encoder};
use pkg_core::plan::Owner;
use pkg_core::segment::Splice;
use pkg_core::tar_stream::TarStream;

struct File {
    name: String,
    path: PathBuf,
    size: u64,
    sha256: [u8; 32],
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<File>) -> io::Result<()> {
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        let (p, kind) = (e.path(), e.file_type()?);
        // Symlinks are left out, as a plan keeps them as links (following one would pack its
        // target twice).
        if kind.is_dir() {
            walk(root, &p, out)?;
        } else if kind.is_file() {
            let (sha256, size) = pkg_core::digest::sha256_file(&p)?;
            let name = p
                .strip_prefix(root)
                .map_err(io::Error::other)?
                .to_string_lossy()
                .into_owned();
            out.push(File {
                name,
                path: p,
                size,
                sha256,
            });
        }
    }
    Ok(())
}

fn parse_size(s: &str) -> Option<u64> {
    let (n, mult) = match s.as_bytes().last()? {
        b'K' => (&s[..s.len() - 1], 1u64 << 10),
        b'M' => (&s[..s.len() - 1], 1 << 20),
        _ => (s, 1),
    };
    n.parse::<u64>().ok().map(|n| n * mult)
}

/// Counts the bytes, and keeps them in `SWEEP_KEEP`'s file when that is set (to inspect a
/// stream with `xz --list -vv` and the like).
struct Count(u64, Option<std::fs::File>);
impl Write for Count {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        self.0 += b.len() as u64;
        if let Some(f) = &mut self.1 {
            f.write_all(b)?;
        }
        Ok(b.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
impl Splice for Count {
    fn begin_file(&mut self, _: &pkg_core::segment::ContentId) -> io::Result<()> {
        Ok(())
    }
    fn end_file(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn stream(files: &[File], enc: Encoder<Count>) -> io::Result<u64> {
    let mut t = TarStream::new(enc, 0);
    let root = Owner::root();
    for f in files {
        let r = std::fs::File::open(&f.path)?;
        t.append_file(&f.name, 0o644, &root, f.size, Some(&f.sha256), r)
            .map_err(io::Error::from)?;
    }
    Ok(t.finish()?.finish()?.0)
}

fn keep() -> io::Result<Option<std::fs::File>> {
    std::env::var_os("SWEEP_KEEP")
        .map(std::fs::File::create)
        .transpose()
}

fn main() -> io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(dir) = args.first().map(PathBuf::from) else {
        eprintln!("usage: segment_sweep DIR [CODEC,…] [THRESHOLD,…]");
        std::process::exit(2);
    };
    let codecs: Vec<Codec> = args
        .get(1)
        .map_or("xz:6,zstd:19,gzip:9", String::as_str)
        .split(',')
        .map(|c| c.parse().map_err(|e| io::Error::other(format!("{e}"))))
        .collect::<io::Result<_>>()?;
    let thresholds: Vec<u64> = args
        .get(2)
        .map_or("64K,256K,1M", String::as_str)
        .split(',')
        .map(|t| parse_size(t).ok_or_else(|| io::Error::other(format!("bad threshold {t}"))))
        .collect::<io::Result<_>>()?;
    let mut files = Vec::new();
    walk(&dir, &dir, &mut files)?;
    files.sort_by(|a, b| a.name.cmp(&b.name));
    let total: u64 = files.iter().map(|f| f.size).sum();
    println!("{} files, {total} bytes", files.len());
    for codec in codecs {
        let t0 = Instant::now();
        let single = stream(&files, Encoder::new(codec, Count(0, None))?)?;
        let single_s = t0.elapsed().as_secs_f64();
        println!("{codec:>8} single stream: {single} bytes, {single_s:.1} s");
        for &t in &thresholds {
            let covered: u64 = files.iter().filter(|f| f.size >= t).map(|f| f.size).sum();
            let t0 = Instant::now();
            let seg = stream(
                &files,
                Encoder::with_segment_size(codec, Count(0, keep()?), t, None)?,
            )?;
            let s = t0.elapsed().as_secs_f64();
            println!(
                "{codec:>8} segments >= {t:>8}: {seg} bytes ({:+.2} %), {s:.1} s, {:.1} % of the bytes in segments",
                (seg as f64 / single as f64 - 1.0) * 100.0,
                covered as f64 * 100.0 / total as f64
            );
        }
    }
    Ok(())
}
