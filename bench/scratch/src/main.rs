//! Scratch measurements behind the proposals in docs/performance.md. Not product code.
//!
//! * `xz-mt FILE PRESET BLOCK_MIB THREADS...`: liblzma's multi-threaded encoder with a fixed block
//!   size, once per thread count: prints size, sha256, wall and CPU time, so one can see whether
//!   the bytes depend on the thread count (they must not) and what it costs in ratio.
//! * `xz-st FILE PRESET`: the single-threaded encoder pkg-core uses today, for comparison.
//! * `flush DIR CODEC LEVEL`: compresses the files of DIR (sorted, concatenated) twice, once
//!   flushing the encoder after every file (as the rpm crate's cpio writer does) and once not.

use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use sha2::{Digest, Sha256};

/// A sink that only counts and hashes.
struct Sink {
    n: u64,
    h: Sha256,
}

impl Write for Sink {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        self.n += b.len() as u64;
        self.h.update(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn sink() -> Sink {
    Sink { n: 0, h: Sha256::new() }
}

fn cpu_seconds() -> f64 {
    // getrusage(RUSAGE_SELF) via /proc to avoid a libc dependency: utime+stime in clock ticks.
    let s = fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = s.rsplit(')').next().unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = f.get(11).and_then(|x| x.parse().ok()).unwrap_or(0.0)
        + f.get(12).and_then(|x| x.parse().ok()).unwrap_or(0.0);
    ticks / 100.0
}

fn report(label: &str, s: &Sink, wall: f64, cpu: f64) {
    let h = s.h.clone().finalize();
    let hex: String = h.iter().take(8).map(|b| format!("{b:02x}")).collect();
    println!("{label:<32} size {:>11}  sha256 {hex}  wall {wall:7.2}s  cpu {cpu:7.2}s", s.n);
}

fn copy_file(p: &Path, w: &mut dyn Write) -> io::Result<()> {
    let mut f = fs::File::open(p)?;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        w.write_all(&buf[..n])?;
    }
}

fn files_under(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d)? {
            let e = e?;
            let ft = e.file_type()?;
            if ft.is_dir() {
                stack.push(e.path());
            } else if ft.is_file() {
                out.push(e.path());
            }
        }
    }
    out.sort();
    Ok(out)
}

fn xz_mt(file: &Path, preset: u32, block_mib: u64, threads: &[u32]) -> io::Result<()> {
    for &t in threads {
        let stream = liblzma::stream::MtStreamBuilder::new()
            .threads(t)
            .block_size(block_mib << 20)
            .preset(preset)
            .check(liblzma::stream::Check::Crc64)
            .encoder()
            .map_err(io::Error::other)?;
        let mem = liblzma::stream::MtStreamBuilder::new()
            .threads(t)
            .block_size(block_mib << 20)
            .preset(preset)
            .memusage();
        let (c0, t0) = (cpu_seconds(), Instant::now());
        let mut e = liblzma::write::XzEncoder::new_stream(sink(), stream);
        copy_file(file, &mut e)?;
        let s = e.finish()?;
        report(
            &format!("xz-mt -{preset} block {block_mib}MiB T{t} ({}MiB)", mem >> 20),
            &s,
            t0.elapsed().as_secs_f64(),
            cpu_seconds() - c0,
        );
    }
    Ok(())
}

fn xz_st(file: &Path, preset: u32) -> io::Result<()> {
    let stream = liblzma::stream::Stream::new_easy_encoder(preset, liblzma::stream::Check::Crc64)
        .map_err(io::Error::other)?;
    let (c0, t0) = (cpu_seconds(), Instant::now());
    let mut e = liblzma::write::XzEncoder::new_stream(sink(), stream);
    copy_file(file, &mut e)?;
    let s = e.finish()?;
    report(&format!("xz-st -{preset}"), &s, t0.elapsed().as_secs_f64(), cpu_seconds() - c0);
    Ok(())
}

fn encoder(codec: &str, level: i32, w: Sink) -> io::Result<Box<dyn FinishWrite>> {
    Ok(match codec {
        "zstd" => {
            let mut e = zstd::stream::write::Encoder::new(w, level)?;
            e.multithread(2)?;
            Box::new(e)
        }
        "xz" => Box::new(liblzma::write::XzEncoder::new(w, level as u32)),
        "gzip" => Box::new(flate2::write::GzEncoder::new(w, flate2::Compression::new(level as u32))),
        _ => return Err(io::Error::other("codec: zstd, xz or gzip")),
    })
}

trait FinishWrite: Write {
    fn done(self: Box<Self>) -> io::Result<Sink>;
}
impl FinishWrite for zstd::stream::write::Encoder<'static, Sink> {
    fn done(self: Box<Self>) -> io::Result<Sink> {
        (*self).finish()
    }
}
impl FinishWrite for liblzma::write::XzEncoder<Sink> {
    fn done(self: Box<Self>) -> io::Result<Sink> {
        (*self).finish()
    }
}
impl FinishWrite for flate2::write::GzEncoder<Sink> {
    fn done(self: Box<Self>) -> io::Result<Sink> {
        (*self).finish()
    }
}

fn flush_test(dir: &Path, codec: &str, level: i32) -> io::Result<()> {
    let files = files_under(dir)?;
    for flush in [false, true] {
        let (c0, t0) = (cpu_seconds(), Instant::now());
        let mut e = encoder(codec, level, sink())?;
        for f in &files {
            copy_file(f, &mut e)?;
            if flush {
                e.flush()?;
            }
        }
        let s = e.done()?;
        let label = format!("{codec}:{level} flush-per-file={flush}");
        report(&label, &s, t0.elapsed().as_secs_f64(), cpu_seconds() - c0);
    }
    Ok(())
}

fn main() -> io::Result<()> {
    let a: Vec<String> = std::env::args().collect();
    let arg = |i: usize| a.get(i).cloned().unwrap_or_default();
    match arg(1).as_str() {
        "xz-mt" => {
            let threads: Vec<u32> = a[5..].iter().filter_map(|t| t.parse().ok()).collect();
            xz_mt(Path::new(&arg(2)), arg(3).parse().unwrap_or(6), arg(4).parse().unwrap_or(24), &threads)
        }
        "xz-st" => xz_st(Path::new(&arg(2)), arg(3).parse().unwrap_or(6)),
        "flush" => flush_test(Path::new(&arg(2)), &arg(3), arg(4).parse().unwrap_or(19)),
        _ => {
            eprintln!("usage: xz-mt FILE PRESET BLOCK_MIB THREADS... | xz-st FILE PRESET | flush DIR CODEC LEVEL");
            std::process::exit(2)
        }
    }
}
