//! Codecs with fixed settings. The bytes a codec produces depend only on the input, the codec and
//! its level: never on the machine's core count, the clock or a file name.
//!
//! * gzip: flate2 with the zlib-rs backend pinned in Cargo.toml, header mtime 0, no file name.
//! * xz: liblzma (statically linked, so the system's liblzma version cannot change the bytes),
//!   single-threaded stream encoder with a fixed preset and CRC64 check, as `xz -6` writes.
//! * zstd: libzstd in its single-threaded streaming mode (no workers), as `zstd --single-thread`
//!   writes. The bytes cannot depend on the core count because no thread count is ever set. The
//!   multi-threaded mode (even with one worker) keeps a second copy of the window and job
//!   buffers: at level 19 it peaks at 216 MB against 95 MB single-threaded on a 100 MiB tar,
//!   for the same ratio (55.73 vs 55.73 MB) and CPU. Parallelism comes from running several
//!   artifacts at once (the build scheduler), not from threads inside one stream.

use std::fmt;
use std::io::{self, Write};
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Codec {
    None,
    Gzip(u32),
    Xz(u32),
    Zstd(i32),
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
            Codec::Xz(l) => 6 + l as u64 * 2,
            Codec::Zstd(l) if l >= 16 => 20,
            Codec::Zstd(l) => 1 + l as u64 / 2,
        }
    }

    /// File-name extension (`tar.<ext>`), empty for no compression.
    pub fn extension(self) -> &'static str {
        match self {
            Codec::None => "",
            Codec::Gzip(_) => "gz",
            Codec::Xz(_) => "xz",
            Codec::Zstd(_) => "zst",
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Codec::None => "none",
            Codec::Gzip(_) => "gzip",
            Codec::Xz(_) => "xz",
            Codec::Zstd(_) => "zstd",
        }
    }
    pub fn level(self) -> i64 {
        match self {
            Codec::None => 0,
            Codec::Gzip(l) | Codec::Xz(l) => l as i64,
            Codec::Zstd(l) => l as i64,
        }
    }
    /// Identifies the implementation that produces the bytes; part of every cache key.
    pub fn implementation(self) -> &'static str {
        match self {
            Codec::None => "none",
            Codec::Gzip(_) => "flate2-zlib-rs-chunk64k",
            Codec::Xz(_) => "liblzma-static-st",
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
    /// `gzip`, `gzip:9`, `xz`, `xz:6`, `zstd`, `zstd:19`, `none`.
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
            "zstd" | "zst" => {
                let l = level.unwrap_or(3);
                if !(1..=19).contains(&l) {
                    return Err(range_err(1, 19));
                }
                Ok(Codec::Zstd(l))
            }
            _ => Err(CodecError(format!(
                "unknown compression `{s}`: use gzip[:1-9], xz[:0-9], zstd[:1-19] or none"
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
pub struct Encoder<W: Write> {
    stream: Stream<W>,
    pending: Vec<u8>,
}

enum Stream<W: Write> {
    None(W),
    Gzip(flate2::write::GzEncoder<W>),
    Xz(liblzma::write::XzEncoder<W>),
    Zstd(zstd::stream::write::Encoder<'static, W>),
}

impl<W: Write> Encoder<W> {
    pub fn new(codec: Codec, w: W) -> io::Result<Self> {
        Ok(Encoder {
            stream: Stream::new(codec, w)?,
            pending: Vec::with_capacity(CODEC_CHUNK),
        })
    }
    pub fn finish(mut self) -> io::Result<W> {
        if !self.pending.is_empty() {
            self.stream.write_all(&self.pending)?;
        }
        self.stream.finish()
    }
}

impl<W: Write> Write for Encoder<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut rest = buf;
        // Whole chunks straight from the caller's buffer when nothing is pending.
        while self.pending.is_empty() && rest.len() >= CODEC_CHUNK {
            let (now, later) = rest.split_at(CODEC_CHUNK);
            self.stream.write_all(now)?;
            rest = later;
        }
        while !rest.is_empty() {
            let room = CODEC_CHUNK - self.pending.len();
            let (now, later) = rest.split_at(rest.len().min(room));
            self.pending.extend_from_slice(now);
            rest = later;
            if self.pending.len() == CODEC_CHUNK {
                self.stream.write_all(&self.pending)?;
                self.pending.clear();
            }
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
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
        Codec::Xz(_) => Box::new(liblzma::bufread::XzDecoder::new_multi_decoder(r)),
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
}
