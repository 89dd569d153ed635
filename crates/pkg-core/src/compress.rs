//! Codecs with fixed settings. The bytes a codec produces depend only on the input, the codec and
//! its level: never on the machine's core count, the clock or a file name.
//!
//! * gzip: flate2 with the zlib-rs backend pinned in Cargo.toml, header mtime 0, no file name.
//! * xz: liblzma (statically linked, so the system's liblzma version cannot change the bytes),
//!   single-threaded stream encoder with a fixed preset and CRC64 check, as `xz -6` writes.
//! * xz-mt: the same liblzma, multi-threaded, opt-in (`compression = "xz-mt:6"`). liblzma's MT
//!   encoder cuts the input into blocks and compresses them independently; with a block size
//!   fixed by the level alone (3 × the preset's dictionary, as xz(1) chooses in MT mode) the
//!   blocks, and so the bytes, are the same for any number of threads: the thread count
//!   (available cores, at most 4, or `LUCIA_PKG_XZ_THREADS`) changes only the speed (tested
//!   with 1, 2 and 4 threads). Blocks restart the dictionary, so the output is slightly larger.
//! * zstd: libzstd in its single-threaded streaming mode (no workers), as `zstd --single-thread`
//!   writes. The bytes cannot depend on the core count because no thread count is ever set. The
//!   multi-threaded mode (even with one worker) keeps a second copy of the window and job
//!   buffers: at level 19 it peaks at 216 MB against 95 MB single-threaded on a 100 MiB tar,
//!   for the same ratio (55.73 vs 55.73 MB) and CPU. Parallelism comes from running several
//!   artifacts at once (the build scheduler), not from threads inside one stream.

use std::fmt;
use std::io::{self, Write};
use std::str::FromStr;
use std::sync::Arc;

use crate::segment::{segmentable, Chunker, ContentId, SegmentCache, SegmentPolicy, Splice, Units};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Codec {
    None,
    Gzip(u32),
    Xz(u32),
    /// xz with liblzma's multi-threaded encoder and a fixed block size (see the module docs).
    XzMt(u32),
    Zstd(i32),
}

/// liblzma's dictionary size of presets 0–9 (xz(1), "Presets").
const XZ_DICT: [u64; 10] = [
    256 << 10,
    1 << 20,
    2 << 20,
    4 << 20,
    4 << 20,
    8 << 20,
    8 << 20,
    16 << 20,
    32 << 20,
    64 << 20,
];

/// The dictionary size of xz preset `level` (0–9).
pub(crate) fn xz_dict_size(level: u32) -> u32 {
    XZ_DICT[level.min(9) as usize] as u32
}

/// The block size of `xz-mt:level`: 3 × the dictionary, at least 1 MiB (what xz(1) uses in MT
/// mode). A function of the level only, so the bytes do not depend on the machine.
pub fn xz_mt_block_size(level: u32) -> u64 {
    (XZ_DICT[level.min(9) as usize] * 3).max(1 << 20)
}

/// Most threads one xz-mt stream uses by default.
const XZ_MAX_THREADS: u32 = 4;

/// The threads of an xz-mt stream: `LUCIA_PKG_XZ_THREADS` (1–64) when given, else the available
/// cores, at most 4.
pub fn xz_threads(env: Option<&str>, cores: usize) -> Result<u32, CodecError> {
    match env.map(str::trim).filter(|v| !v.is_empty()) {
        Some(v) => match v.parse::<u32>() {
            Ok(n) if (1..=64).contains(&n) => Ok(n),
            _ => Err(CodecError(format!(
                "LUCIA_PKG_XZ_THREADS=`{}` is not a thread count from 1 to 64",
                v.chars().take(20).collect::<String>()
            ))),
        },
        None => Ok((cores.max(1) as u32).min(XZ_MAX_THREADS)),
    }
}

fn xz_threads_from_env() -> io::Result<u32> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    xz_threads(std::env::var("LUCIA_PKG_XZ_THREADS").ok().as_deref(), cores)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.0))
}

impl Default for Codec {
    fn default() -> Self {
        Codec::Gzip(6)
    }
}

impl Codec {
    /// Estimated working memory of one compressor, in MB, for scheduling jobs within a memory
    /// budget (measured with /usr/bin/time on the release build; see docs/performance.md).
    pub fn working_memory_mb(self) -> u64 {
        match self {
            Codec::None => 4,
            Codec::Gzip(_) => 8,
            // liblzma's own figures for presets 7–9 (`xz --info-memory`, xz(1)).
            Codec::Xz(l) if l >= 9 => 680,
            Codec::Xz(8) => 370,
            Codec::Xz(7) => 190,
            Codec::Xz(l) if l >= 4 => 100,
            Codec::Xz(_) => 20,
            // Per thread: the preset's encoder, plus the input and output buffers of a block
            // (liblzma: about 3 × the block size per thread).
            Codec::XzMt(l) => {
                let one = Codec::Xz(l).working_memory_mb() + 3 * (xz_mt_block_size(l) >> 20);
                one * XZ_MAX_THREADS as u64
            }
            Codec::Zstd(l) if l >= 16 => 100,
            Codec::Zstd(l) if l >= 8 => 80,
            Codec::Zstd(_) => 30,
        }
    }

    /// Relative CPU cost per payload byte, to start the longest jobs first.
    pub fn relative_cost(self) -> u64 {
        match self {
            Codec::None => 1,
            Codec::Gzip(l) => 1 + l as u64 / 3,
            Codec::Xz(l) | Codec::XzMt(l) => 6 + l as u64 * 2,
            Codec::Zstd(l) if l >= 16 => 20,
            Codec::Zstd(l) => 1 + l as u64 / 2,
        }
    }

    /// File-name extension (`tar.<ext>`), empty for no compression.
    pub fn extension(self) -> &'static str {
        match self {
            Codec::None => "",
            Codec::Gzip(_) => "gz",
            Codec::Xz(_) | Codec::XzMt(_) => "xz",
            Codec::Zstd(_) => "zst",
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Codec::None => "none",
            Codec::Gzip(_) => "gzip",
            Codec::Xz(_) => "xz",
            Codec::XzMt(_) => "xz-mt",
            Codec::Zstd(_) => "zstd",
        }
    }
    pub fn level(self) -> i64 {
        match self {
            Codec::None => 0,
            Codec::Gzip(l) | Codec::Xz(l) | Codec::XzMt(l) => l as i64,
            Codec::Zstd(l) => l as i64,
        }
    }
    /// Identifies the implementation that produces the bytes; part of every cache key.
    pub fn implementation(self) -> &'static str {
        match self {
            Codec::None => "none",
            Codec::Gzip(_) => "flate2-zlib-rs-chunk64k",
            Codec::Xz(_) => "liblzma-static-st",
            Codec::XzMt(_) => "liblzma-static-mt-block3xdict",
            Codec::Zstd(_) => "libzstd-st",
        }
    }
}

impl fmt::Display for Codec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Codec::None => f.write_str("none"),
            other => write!(f, "{}:{}", other.name(), other.level()),
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct CodecError(pub String);

impl FromStr for Codec {
    type Err = CodecError;
    /// `gzip`, `gzip:9`, `xz`, `xz:6`, `xz-mt`, `xz-mt:6`, `zstd`, `zstd:19`, `none`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (name, level) = match s.split_once(':') {
            Some((n, l)) => {
                let l: i32 = l
                    .parse()
                    .map_err(|_| CodecError(format!("level `{l}` in `{s}` is not a number")))?;
                (n, Some(l))
            }
            None => (s, None),
        };
        let range_err =
            |lo: i32, hi: i32| CodecError(format!("`{s}`: {name} levels go from {lo} to {hi}"));
        match name {
            "none" if level.is_none() => Ok(Codec::None),
            "gzip" | "gz" => {
                let l = level.unwrap_or(6);
                if !(1..=9).contains(&l) {
                    return Err(range_err(1, 9));
                }
                Ok(Codec::Gzip(l as u32))
            }
            "xz" => {
                let l = level.unwrap_or(6);
                if !(0..=9).contains(&l) {
                    return Err(range_err(0, 9));
                }
                Ok(Codec::Xz(l as u32))
            }
            "xz-mt" => {
                let l = level.unwrap_or(6);
                if !(0..=9).contains(&l) {
                    return Err(range_err(0, 9));
                }
                Ok(Codec::XzMt(l as u32))
            }
            "zstd" | "zst" => {
                let l = level.unwrap_or(3);
                if !(1..=19).contains(&l) {
                    return Err(range_err(1, 19));
                }
                Ok(Codec::Zstd(l))
            }
            _ => Err(CodecError(format!(
                "unknown compression `{s}`: use gzip[:1-9], xz[:0-9], xz-mt[:0-9], zstd[:1-19] or none"
            ))),
        }
    }
}

/// The codec receives its input in pieces of exactly this many bytes (the last one shorter):
/// zlib-rs's deflate at levels 1–8 emits different bytes for the same input written in different
/// pieces (measured: 3000, 8192, 65536 and 1 MiB writes give four different gzip:6 streams), and
/// the pieces a writer passes on follow what `read(2)` returned, which differs between
/// filesystems (FUSE, NFS and 9p return short reads) and when a signal interrupts a read. Cutting
/// at fixed stream offsets makes the bytes a function of the content alone. (xz and zstd buffer
/// internally and were not affected; they go through the same path.)
pub const CODEC_CHUNK: usize = 64 * 1024;

/// A streaming compressor; call [`Encoder::finish`] to flush the trailer and get the sink back.
///
/// `flush()` does not push buffered input into the codec (that would let the caller's flush
/// timing into the bytes); everything is written by `finish()`.
///
/// [`Encoder::new`] writes one stream. [`Encoder::segmented`] writes the stream in independent
/// units with each large file's content alone, reusing cached units (see `segment.rs`); the
/// archive writers mark the files through [`Splice`].
pub struct Encoder<W: Write> {
    inner: Inner<W>,
}

// Boxed by neither: one encoder per stream, so the size difference costs nothing.
#[allow(clippy::large_enum_variant)]
enum Inner<W: Write> {
    Single { stream: Stream<W>, chunker: Chunker },
    Units(Units<W>),
}

impl<W: Write> Encoder<W> {
    pub fn new(codec: Codec, w: W) -> io::Result<Self> {
        Ok(Encoder {
            inner: Inner::Single {
                stream: Stream::new(codec, w)?,
                chunker: Chunker::default(),
            },
        })
    }
    /// A stream segmented by `policy` (for codecs that join units; others, and the policy
    /// `off`, get [`Encoder::new`]'s single stream).
    pub fn segmented(
        codec: Codec,
        w: W,
        policy: SegmentPolicy,
        cache: Option<Arc<SegmentCache>>,
    ) -> io::Result<Self> {
        match policy.min_size {
            Some(min) => Self::with_segment_size(codec, w, min, cache),
            None => Self::new(codec, w),
        }
    }
    /// A segmented stream with files of `min_size` bytes or more as their own units.
    pub fn with_segment_size(
        codec: Codec,
        w: W,
        min_size: u64,
        cache: Option<Arc<SegmentCache>>,
    ) -> io::Result<Self> {
        if !segmentable(codec) {
            return Self::new(codec, w);
        }
        Ok(Encoder {
            inner: Inner::Units(Units::new(codec, w, min_size, cache)?),
        })
    }
    pub fn finish(self) -> io::Result<W> {
        match self.inner {
            Inner::Single {
                mut stream,
                mut chunker,
            } => {
                chunker.rest(|piece| stream.write_all(piece))?;
                stream.finish()
            }
            Inner::Units(u) => u.finish(),
        }
    }
}

impl<W: Write> Write for Encoder<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match &mut self.inner {
            Inner::Single { stream, chunker } => {
                chunker.feed(buf, |piece| stream.write_all(piece))?
            }
            Inner::Units(u) => u.write(buf)?,
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<W: Write> Splice for Encoder<W> {
    fn begin_file(&mut self, id: &ContentId) -> io::Result<()> {
        match &mut self.inner {
            Inner::Single { .. } => Ok(()),
            Inner::Units(u) => u.begin_file(id),
        }
    }
    fn end_file(&mut self) -> io::Result<()> {
        match &mut self.inner {
            Inner::Single { .. } => Ok(()),
            Inner::Units(u) => u.end_file(),
        }
    }
}

enum Stream<W: Write> {
    None(W),
    Gzip(flate2::write::GzEncoder<W>),
    Xz(liblzma::write::XzEncoder<W>),
    Zstd(zstd::stream::write::Encoder<'static, W>),
}

impl<W: Write> Stream<W> {
    fn new(codec: Codec, w: W) -> io::Result<Self> {
        Ok(match codec {
            Codec::None => Stream::None(w),
            Codec::Gzip(l) => Stream::Gzip(
                flate2::GzBuilder::new()
                    .mtime(0)
                    .write(w, flate2::Compression::new(l)),
            ),
            Codec::Xz(l) => {
                let stream =
                    liblzma::stream::Stream::new_easy_encoder(l, liblzma::stream::Check::Crc64)
                        .map_err(io::Error::other)?;
                Stream::Xz(liblzma::write::XzEncoder::new_stream(w, stream))
            }
            Codec::XzMt(l) => {
                let stream = xz_mt_stream(l, xz_threads_from_env()?)?;
                Stream::Xz(liblzma::write::XzEncoder::new_stream(w, stream))
            }
            Codec::Zstd(l) => {
                // Single-threaded: `multithread` is never called (see the module docs).
                Stream::Zstd(zstd::stream::write::Encoder::new(w, l)?)
            }
        })
    }
    fn finish(self) -> io::Result<W> {
        match self {
            Stream::None(w) => Ok(w),
            Stream::Gzip(e) => e.finish(),
            Stream::Xz(e) => e.finish(),
            Stream::Zstd(e) => e.finish(),
        }
    }
}

impl<W: Write> Write for Stream<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::None(w) => w.write(buf),
            Stream::Gzip(e) => e.write(buf),
            Stream::Xz(e) => e.write(buf),
            Stream::Zstd(e) => e.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::None(w) => w.flush(),
            Stream::Gzip(e) => e.flush(),
            Stream::Xz(e) => e.flush(),
            Stream::Zstd(e) => e.flush(),
        }
    }
}

/// liblzma's MT encoder for `xz-mt:level` on `threads` threads: the preset, CRC64, the fixed
/// block size, no timeout (a timeout only makes a call return early, never changes the bytes).
fn xz_mt_stream(level: u32, threads: u32) -> io::Result<liblzma::stream::Stream> {
    liblzma::stream::MtStreamBuilder::new()
        .preset(level)
        .check(liblzma::stream::Check::Crc64)
        .block_size(xz_mt_block_size(level))
        .threads(threads)
        .timeout_ms(0)
        .encoder()
        .map_err(io::Error::other)
}

/// Compresses a whole in-memory buffer (small generated members only).
pub fn compress_bytes(codec: Codec, data: &[u8]) -> io::Result<Vec<u8>> {
    let mut e = Encoder::new(codec, Vec::new())?;
    e.write_all(data)?;
    e.finish()
}

/// A streaming decompressor for reading artifacts back (`inspect`, tests).
pub fn decoder<'a, R: io::BufRead + 'a>(codec: Codec, r: R) -> io::Result<Box<dyn io::Read + 'a>> {
    Ok(match codec {
        Codec::None => Box::new(r),
        Codec::Gzip(_) => Box::new(flate2::bufread::MultiGzDecoder::new(r)),
        Codec::Xz(_) | Codec::XzMt(_) => {
            Box::new(liblzma::bufread::XzDecoder::new_multi_decoder(r))
        }
        Codec::Zstd(_) => Box::new(zstd::stream::read::Decoder::with_buffer(r)?),
    })
}

/// Guesses a codec from leading magic bytes.
pub fn sniff(magic: &[u8]) -> Codec {
    if magic.starts_with(&[0x1f, 0x8b]) {
        Codec::Gzip(6)
    } else if magic.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
        Codec::Xz(6)
    } else if magic.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Codec::Zstd(3)
    } else {
        Codec::None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn parses_and_refuses() {
        assert_eq!("xz".parse::<Codec>().unwrap(), Codec::Xz(6));
        assert_eq!("zstd:19".parse::<Codec>().unwrap(), Codec::Zstd(19));
        assert_eq!("gzip:9".parse::<Codec>().unwrap(), Codec::Gzip(9));
        assert!("gzip:0".parse::<Codec>().is_err());
        assert!("zstd:30".parse::<Codec>().is_err());
        assert!("brotli".parse::<Codec>().is_err());
        assert!("xz:high".parse::<Codec>().is_err());
    }

    #[test]
    fn round_trips_and_is_deterministic() {
        let data: Vec<u8> = (0..200_000u32)
            .flat_map(|i| (i % 251).to_le_bytes())
            .collect();
        for codec in [Codec::None, Codec::Gzip(6), Codec::Xz(1), Codec::Zstd(3)] {
            let a = compress_bytes(codec, &data).unwrap();
            let b = compress_bytes(codec, &data).unwrap();
            assert_eq!(a, b, "{codec}");
            let mut out = Vec::new();
            decoder(codec, &a[..])
                .unwrap()
                .read_to_end(&mut out)
                .unwrap();
            assert_eq!(out, data, "{codec}");
            if codec != Codec::None {
                assert_eq!(sniff(&a).name(), codec.name());
            }
        }
        // gzip header: no mtime, no name.
        let gz = compress_bytes(Codec::Gzip(6), b"x").unwrap();
        assert_eq!(&gz[4..8], &[0, 0, 0, 0]);
        assert_eq!(gz[3] & 0x08, 0);
    }

    /// The bytes depend on the content only, not on how the writer cut it into writes (short
    /// reads on network filesystems, interrupted reads) nor on when it called flush.
    #[test]
    fn write_boundaries_and_flushes_do_not_reach_the_bytes() {
        let data = crate::sample::compressible_text(1_500_000);
        for codec in [
            Codec::Gzip(1),
            Codec::Gzip(6),
            Codec::Gzip(9),
            Codec::Zstd(3),
            Codec::Xz(1),
        ] {
            let run = |sizes: &[usize], flush_every: usize| {
                let mut e = Encoder::new(codec, Vec::new()).unwrap();
                let (mut at, mut k) = (0, 0);
                while at < data.len() {
                    let n = sizes[k % sizes.len()].min(data.len() - at);
                    e.write_all(&data[at..at + n]).unwrap();
                    at += n;
                    k += 1;
                    if flush_every > 0 && k % flush_every == 0 {
                        e.flush().unwrap();
                    }
                }
                e.finish().unwrap()
            };
            let reference = run(&[8192], 0);
            for (sizes, flush_every) in [
                (&[3000][..], 0),
                (&[65536], 0),
                (&[1 << 20], 0),
                (&[1, 700, 70_000, 13], 3),
                (&[CODEC_CHUNK - 1, CODEC_CHUNK + 1], 1),
            ] {
                assert!(
                    run(sizes, flush_every) == reference,
                    "{codec}: writes of {sizes:?} (flush every {flush_every}) changed the bytes"
                );
            }
            let mut out = Vec::new();
            decoder(codec, &reference[..])
                .unwrap()
                .read_to_end(&mut out)
                .unwrap();
            assert!(out == data, "{codec}: round trip");
        }
    }

    /// Compressible but not trivial: text lines with pseudo-random numbers (an LCG), `len` bytes.
    fn sample_input(len: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(len + 64);
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        while out.len() < len {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let line = format!(
                "entry {:08x} value {} kind {}\n",
                x >> 32,
                (x >> 20) % 100_000,
                x % 7
            );
            out.extend_from_slice(line.as_bytes());
        }
        out.truncate(len);
        out
    }

    fn xz_mt_with(level: u32, threads: u32, data: &[u8]) -> Vec<u8> {
        let stream = xz_mt_stream(level, threads).unwrap();
        let mut e = liblzma::write::XzEncoder::new_stream(Vec::new(), stream);
        for piece in data.chunks(CODEC_CHUNK) {
            e.write_all(piece).unwrap();
        }
        e.finish().unwrap()
    }

    #[test]
    fn xz_mt_bytes_do_not_depend_on_the_thread_count() {
        // Level 1: 3 MiB blocks, so 20 MiB give 7 blocks that the threads share out.
        let data = sample_input(20 << 20);
        let one = xz_mt_with(1, 1, &data);
        for threads in [2, 4] {
            assert!(
                xz_mt_with(1, threads, &data) == one,
                "{threads} threads gave other bytes"
            );
        }
        // The Encoder path (fixed 64 KiB pieces, thread count from the machine) gives them too.
        assert!(compress_bytes(Codec::XzMt(1), &data).unwrap() == one);
        let mut back = Vec::new();
        decoder(Codec::XzMt(1), &one[..])
            .unwrap()
            .read_to_end(&mut back)
            .unwrap();
        assert!(back == data, "round trip");
        // The real xz agrees: the stream is intact and has one block per 3 MiB.
        let have_xz = std::process::Command::new("xz")
            .arg("--version")
            .output()
            .is_ok();
        if !have_xz {
            eprintln!("note: xz is not installed; skipping the xz -t / xz --list check");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("s.xz");
        std::fs::write(&f, &one).unwrap();
        let t = std::process::Command::new("xz")
            .arg("-t")
            .arg(&f)
            .status()
            .unwrap();
        assert!(t.success(), "xz -t rejected the stream");
        let list = std::process::Command::new("xz")
            .args(["--robot", "--list"])
            .arg(&f)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&list.stdout);
        let blocks: Vec<&str> = text
            .lines()
            .find(|l| l.starts_with("file\t"))
            .map(|l| l.split('\t').collect())
            .unwrap_or_default();
        // file<TAB>streams<TAB>blocks<TAB>...
        assert_eq!(blocks.get(2), Some(&"7"), "xz --robot --list: {text}");
    }

    #[test]
    fn xz_mt_specs_parse_and_print() {
        assert_eq!("xz-mt".parse::<Codec>().unwrap(), Codec::XzMt(6));
        assert_eq!("xz-mt:9".parse::<Codec>().unwrap(), Codec::XzMt(9));
        assert_eq!(Codec::XzMt(3).to_string(), "xz-mt:3");
        assert_eq!(
            Codec::XzMt(3).to_string().parse::<Codec>().unwrap(),
            Codec::XzMt(3)
        );
        assert_eq!(Codec::XzMt(6).extension(), "xz");
        assert_ne!(
            Codec::XzMt(6).implementation(),
            Codec::Xz(6).implementation()
        );
        for bad in ["xz-mt:10", "xz-mt:-1", "xz-mt:x"] {
            assert!(bad.parse::<Codec>().is_err(), "{bad}");
        }
        assert!("brotli"
            .parse::<Codec>()
            .unwrap_err()
            .0
            .contains("xz-mt[:0-9]"));
        assert_eq!(xz_mt_block_size(0), 1 << 20);
        assert_eq!(xz_mt_block_size(6), 24 << 20);
        assert_eq!(xz_mt_block_size(9), 192 << 20);
    }

    #[test]
    fn xz_thread_counts_come_from_the_machine_or_the_environment() {
        assert_eq!(xz_threads(None, 2).unwrap(), 2);
        assert_eq!(xz_threads(None, 32).unwrap(), 4);
        assert_eq!(xz_threads(None, 0).unwrap(), 1);
        assert_eq!(xz_threads(Some(""), 3).unwrap(), 3);
        assert_eq!(xz_threads(Some(" 8 "), 2).unwrap(), 8);
        for bad in ["0", "65", "-1", "two", "1.5"] {
            let e = xz_threads(Some(bad), 2).unwrap_err();
            assert!(e.0.contains("LUCIA_PKG_XZ_THREADS"), "{bad}: {}", e.0);
        }
    }
}
