//! Compress each distinct file once: a stream made of independently compressed *units*, where
//! every large file's content is a unit of its own that a [`SegmentCache`] can hand back on the
//! next build instead of compressing it again.
//!
//! The stream's shape is a pure function of its input: a file of at least the threshold of its
//! [`SegmentPolicy`] (a manifest value) is compressed alone (a *segment*); everything between
//! two segments (archive headers, padding, small files) is one *fresh* unit. With a cache,
//! segments are looked up by the file's sha256 and fresh units by the sha256 of their bytes
//! (kept in a scratch file until the unit ends), so a rebuild compresses only the units whose
//! bytes changed. Whether a unit came from the cache or was compressed now never changes the
//! bytes, because the unit is compressed alone either way: a cold build, a warm build and a build without a cache are identical
//! (tested in this module and end to end in tests/segments.rs).
//!
//! How units join, per codec:
//! * xz: one stream of many blocks (`xz_container.rs`): each unit is an LZMA2 block with its
//!   CRC64; the index and footer are ours. dpkg reads it (it refuses concatenated *streams*).
//! * zstd: concatenated frames, which libzstd, rpm and `zstd -t` read as one stream.
//! * gzip: concatenated members (RFC 1952 §2.2), read by gzip, Go's and Python's readers.
//! * none and xz-mt: a single stream; files are not segmented.
//!
//! A cached segment is served only after it decompresses to exactly the file's size and sha256
//! (decompressing is an order of magnitude cheaper than compressing), and the bytes that pass
//! through the encoder while it is served are hashed too: a file that changed since it was
//! planned fails the build instead of borrowing the old file's segment.

use std::fs::{self, File};
use std::io::{self, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use sha2::{Digest, Sha256};

use crate::compress::{self, xz_dict_size, Codec, CODEC_CHUNK};
use crate::digest::HashingWriter;
use crate::xz_container as xz;

/// Which files a stream compresses alone: those of at least `min_size` bytes, or none (one
/// stream, as before segments existed). A manifest value (`segments = "1M"` or `"off"` in each
/// format's section), because it changes the bytes; the cache never does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SegmentPolicy {
    pub min_size: Option<u64>,
}

/// The default threshold, measured on the benchmark payload (docs/performance.md, "Segments"):
/// at 1 MiB half of the bytes are in segments and every codec stays within 0.7 % of one stream
/// (xz:6 +0.53 %, zstd:19 +0.64 %, gzip:9 +0.05 %); at 256 KiB 84 % are, for +6–7 %, because
/// smaller files lose the context they share with their neighbours.
pub const DEFAULT_SEGMENT_MIN_SIZE: u64 = 1 << 20;

/// The smallest threshold accepted: below it the per-unit overhead and the lost context dominate.
pub const SMALLEST_SEGMENT_MIN_SIZE: u64 = 64 << 10;

impl SegmentPolicy {
    pub const OFF: SegmentPolicy = SegmentPolicy { min_size: None };
    pub fn at(min_size: u64) -> SegmentPolicy {
        SegmentPolicy {
            min_size: Some(min_size),
        }
    }
}

impl Default for SegmentPolicy {
    fn default() -> Self {
        SegmentPolicy::at(DEFAULT_SEGMENT_MIN_SIZE)
    }
}

impl std::fmt::Display for SegmentPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.min_size {
            None => f.write_str("off"),
            Some(n) if n % (1 << 20) == 0 => write!(f, "{}M", n >> 20),
            Some(n) if n % (1 << 10) == 0 => write!(f, "{}K", n >> 10),
            Some(n) => write!(f, "{n}"),
        }
    }
}

impl std::str::FromStr for SegmentPolicy {
    type Err = String;
    /// `off`, or a size: bytes, or with a `K`/`M`/`G` suffix (binary), at least 64K.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        if t == "off" {
            return Ok(SegmentPolicy::OFF);
        }
        let (digits, unit) = match t.char_indices().last() {
            Some((i, 'K' | 'k')) => (&t[..i], 1u64 << 10),
            Some((i, 'M' | 'm')) => (&t[..i], 1 << 20),
            Some((i, 'G' | 'g')) => (&t[..i], 1 << 30),
            _ => (t, 1),
        };
        let n = digits
            .parse::<u64>()
            .ok()
            .and_then(|n| n.checked_mul(unit))
            .ok_or_else(|| format!("`{s}` is neither `off` nor a size like \"4M\" or \"512K\""))?;
        if n < SMALLEST_SEGMENT_MIN_SIZE {
            return Err(format!(
                "`{s}` is below the smallest segment threshold, 64K (smaller files lose more to their own headers and lost context than a rebuild saves)"
            ));
        }
        Ok(SegmentPolicy::at(n))
    }
}

/// Part of every segment's cache key: bump it when the unit layout changes (the threshold is
/// not part of it: a file's unit is the same whatever threshold selected it).
pub const SEGMENT_SCHEME: &str = "seg1";

/// What a segment holds: a file's content, by its sha256 and size (the plan's figures).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContentId {
    pub sha256: [u8; 32],
    pub size: u64,
}

/// Marks where a file's content starts and ends in a stream written through a chain of writers.
/// Archive writers (tar, cpio) call it around every regular file's bytes; the segmenting
/// [`compress::Encoder`] acts on it, writers that only pass bytes on forward it, and sinks
/// ignore it. The content itself is still *written* between the marks, so every hasher in the
/// chain (diff_id, payload digests) sees the same bytes whether a segment is reused or not.
pub trait Splice {
    fn begin_file(&mut self, id: &ContentId) -> io::Result<()>;
    fn end_file(&mut self) -> io::Result<()>;
}

macro_rules! no_segments {
    ($($t:ty),*) => {$(
        impl Splice for $t {
            fn begin_file(&mut self, _: &ContentId) -> io::Result<()> { Ok(()) }
            fn end_file(&mut self) -> io::Result<()> { Ok(()) }
        }
    )*};
}
no_segments!(Vec<u8>, File);

// A buffer between the marks and an encoder would shift them; nothing segments below one.
impl<W: Write> Splice for BufWriter<W> {
    fn begin_file(&mut self, _: &ContentId) -> io::Result<()> {
        Ok(())
    }
    fn end_file(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<W: Write + Splice> Splice for HashingWriter<W> {
    fn begin_file(&mut self, id: &ContentId) -> io::Result<()> {
        self.get_mut().begin_file(id)
    }
    fn end_file(&mut self) -> io::Result<()> {
        self.get_mut().end_file()
    }
}

/// Whether `codec` joins independent units (see the module docs).
pub fn segmentable(codec: Codec) -> bool {
    matches!(codec, Codec::Gzip(_) | Codec::Xz(_) | Codec::Zstd(_))
}

/// Counters of one build's segment work.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct SegmentStats {
    /// Segments served from the cache (not compressed), local or pulled.
    pub reused: u64,
    /// Of those, units pulled from the shared cache (`build --cache`).
    pub pulled: u64,
    /// Stretches between segments (headers, small files) served from the cache: unchanged
    /// since a build that packed the same bytes with the same codec.
    pub fresh_reused: u64,
    /// Stretches between segments compressed in this build.
    pub fresh_compressed: u64,
    /// Segments compressed in this build.
    pub compressed: u64,
    /// Uncompressed bytes the reused segments stand for.
    pub reused_bytes: u64,
    /// Cache files refused (unreadable, or not decompressing to the file they are named for)
    /// and removed.
    pub refused: u64,
}

/// A second place segments come from and go to: the store's shared cache (`build --cache`), so
/// that CI runners without a local store still compress each large file once. Implemented by
/// the store; a pulled file is trusted for nothing (it is decompressed and checked like a
/// local one).
pub trait SegmentRemote: Send + Sync {
    /// Writes the cache file of `key` into `into`; false when the remote lacks it or failed.
    fn fetch(&self, key: &str, into: &mut File) -> bool;
    /// A fetched file was refused: it does not decompress to the file it is named for.
    fn refused(&self, key: &str, why: &str);
    /// Publishes the cache file of `key` at `path`, unless the remote holds it.
    fn publish(&self, key: &str, path: &Path);
}

/// Compressed segments on disk, one file per (content, codec, level, scheme):
/// `<dir>/<key>.seg` = `LPSEG001`, uncompressed size and index size (u64 LE each), the unit.
pub struct SegmentCache {
    dir: PathBuf,
    remote: std::sync::OnceLock<Box<dyn SegmentRemote>>,
    pulled: AtomicU64,
    fresh_reused: AtomicU64,
    fresh_compressed: AtomicU64,
    reused: AtomicU64,
    compressed: AtomicU64,
    reused_bytes: AtomicU64,
    refused: AtomicU64,
}

const MAGIC: &[u8; 8] = b"LPSEG001";
const PREFIX: u64 = 24;

/// A verified cache file, positioned at its unit.
struct Cached {
    file: File,
    unit_len: u64,
    record: xz::BlockRecord,
}

impl SegmentCache {
    pub fn open(dir: &Path) -> io::Result<SegmentCache> {
        fs::create_dir_all(dir)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", dir.display())))?;
        Ok(SegmentCache {
            dir: dir.to_path_buf(),
            remote: std::sync::OnceLock::new(),
            pulled: AtomicU64::new(0),
            fresh_reused: AtomicU64::new(0),
            fresh_compressed: AtomicU64::new(0),
            reused: AtomicU64::new(0),
            compressed: AtomicU64::new(0),
            reused_bytes: AtomicU64::new(0),
            refused: AtomicU64::new(0),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Puts a shared cache behind this one: missing segments are looked up there, and every
    /// segment compressed here is published there. (Once per cache; a second call is ignored.)
    pub fn attach_remote(&self, remote: Box<dyn SegmentRemote>) {
        let _ = self.remote.set(remote);
    }

    pub fn stats(&self) -> SegmentStats {
        SegmentStats {
            pulled: self.pulled.load(Ordering::Relaxed),
            fresh_reused: self.fresh_reused.load(Ordering::Relaxed),
            fresh_compressed: self.fresh_compressed.load(Ordering::Relaxed),
            reused: self.reused.load(Ordering::Relaxed),
            compressed: self.compressed.load(Ordering::Relaxed),
            reused_bytes: self.reused_bytes.load(Ordering::Relaxed),
            refused: self.refused.load(Ordering::Relaxed),
        }
    }

    /// The cache key of `id` compressed with `codec`.
    pub fn key(codec: Codec, id: &ContentId) -> String {
        let text = format!(
            "lucia-pkg segment\n{SEGMENT_SCHEME}\n{}\n{}\n{}\n{}\n",
            codec.implementation(),
            codec.level(),
            hex::encode(id.sha256),
            id.size
        );
        crate::digest::sha256_hex(text.as_bytes())
    }

    fn path(&self, key: &str) -> PathBuf {
        self.dir.join(format!("{key}.seg"))
    }

    /// The cached unit of `id`, if present (locally, else in the shared cache) and it
    /// decompresses to exactly `id`. A local file that fails is removed and counted in
    /// [`SegmentStats::refused`], as is a pulled one (which is not kept).
    fn load(&self, codec: Codec, id: &ContentId) -> Option<Cached> {
        let key = Self::key(codec, id);
        let path = self.path(&key);
        if let Ok(file) = File::open(&path) {
            match verify(file, codec, id) {
                Ok(c) => return Some(c),
                Err(_) => {
                    self.refused.fetch_add(1, Ordering::Relaxed);
                    let _ = fs::remove_file(&path);
                }
            }
        }
        self.pull(&key, &path, codec, id)
    }

    fn pull(&self, key: &str, path: &Path, codec: Codec, id: &ContentId) -> Option<Cached> {
        let remote = self.remote.get()?;
        let mut tmp = tempfile::Builder::new()
            .prefix(".pull-")
            .tempfile_in(&self.dir)
            .ok()?;
        if !remote.fetch(key, tmp.as_file_mut()) {
            return None;
        }
        let checked = tmp.reopen().and_then(|f| verify(f, codec, id));
        match checked {
            Ok(c) => {
                // Kept for the next build; the open handle stays valid across the rename.
                let _ = tmp.persist(path);
                self.pulled.fetch_add(1, Ordering::Relaxed);
                Some(c)
            }
            Err(e) => {
                self.refused.fetch_add(1, Ordering::Relaxed);
                remote.refused(key, &e.to_string());
                None
            }
        }
    }

    /// Offers a segment compressed here to the shared cache.
    fn published(&self, key: &str, path: &Path) {
        if let Some(remote) = self.remote.get() {
            remote.publish(key, path);
        }
    }

    /// An anonymous scratch file for an uncompressed stretch.
    fn scratch(&self) -> io::Result<tempfile::NamedTempFile> {
        tempfile::Builder::new()
            .prefix(".fresh-")
            .tempfile_in(&self.dir)
    }

    fn spill(&self) -> io::Result<tempfile::NamedTempFile> {
        let mut t = tempfile::Builder::new()
            .prefix(".seg-")
            .tempfile_in(&self.dir)?;
        t.write_all(&[0u8; PREFIX as usize])?;
        Ok(t)
    }
}

/// Reads a cache file's prefix and decompresses its unit, checking size and sha256.
fn verify(mut file: File, codec: Codec, id: &ContentId) -> io::Result<Cached> {
    let bad = |what: &str| io::Error::new(io::ErrorKind::InvalidData, what.to_string());
    let mut prefix = [0u8; PREFIX as usize];
    file.read_exact(&mut prefix)?;
    let word = |i: usize| {
        let mut b = [0u8; 8];
        b.copy_from_slice(&prefix[i..i + 8]);
        u64::from_le_bytes(b)
    };
    if &prefix[..8] != MAGIC || word(8) != id.size {
        return Err(bad("not a segment of this file"));
    }
    let record = xz::BlockRecord {
        uncompressed: word(8),
        unpadded: word(16),
    };
    let unit_len = file.metadata()?.len().saturating_sub(PREFIX);
    let expected_len = match codec {
        Codec::Xz(_) => {
            let data = record
                .unpadded
                .checked_sub(xz::CHECK_SIZE)
                .ok_or(bad("size"))?;
            data + xz::block_padding(data) as u64 + xz::CHECK_SIZE
        }
        _ => record.unpadded,
    };
    if unit_len != expected_len {
        return Err(bad("unit length"));
    }
    // Decompress (xz: the block inside a one-block stream, so liblzma checks its CRC64 too).
    let unit = BufReader::new((&mut file).take(unit_len));
    let mut hasher = Sha256::new();
    let n = match codec {
        Codec::Xz(_) => {
            let mut head = Vec::new();
            xz::write_stream_header(&mut head)?;
            let mut tail = Vec::new();
            xz::write_index_and_footer(&mut tail, &[record])?;
            let stream = io::Cursor::new(head)
                .chain(unit)
                .chain(io::Cursor::new(tail));
            let mut d = compress::decoder(codec, BufReader::new(stream))?;
            io::copy(&mut d, &mut crate::digest::HashWriter::new(&mut hasher))?
        }
        _ => {
            let mut d = compress::decoder(codec, unit)?;
            io::copy(
                &mut (&mut d).take(id.size + 1),
                &mut crate::digest::HashWriter::new(&mut hasher),
            )?
        }
    };
    let got: [u8; 32] = hasher.finalize().into();
    if n != id.size || got != id.sha256 {
        return Err(bad("content"));
    }
    file.seek(SeekFrom::Start(PREFIX))?;
    Ok(Cached {
        file,
        unit_len,
        record,
    })
}

/// Feeds a codec in pieces of exactly [`CODEC_CHUNK`] bytes from the start of its stream (see
/// there why).
#[derive(Default)]
pub(crate) struct Chunker {
    pending: Vec<u8>,
}

impl Chunker {
    pub(crate) fn feed(
        &mut self,
        buf: &[u8],
        mut f: impl FnMut(&[u8]) -> io::Result<()>,
    ) -> io::Result<()> {
        let mut rest = buf;
        while self.pending.is_empty() && rest.len() >= CODEC_CHUNK {
            let (now, later) = rest.split_at(CODEC_CHUNK);
            f(now)?;
            rest = later;
        }
        while !rest.is_empty() {
            let room = CODEC_CHUNK - self.pending.len();
            let (now, later) = rest.split_at(rest.len().min(room));
            self.pending.extend_from_slice(now);
            rest = later;
            if self.pending.len() == CODEC_CHUNK {
                f(&self.pending)?;
                self.pending.clear();
            }
        }
        Ok(())
    }
    pub(crate) fn rest(&mut self, mut f: impl FnMut(&[u8]) -> io::Result<()>) -> io::Result<()> {
        if !self.pending.is_empty() {
            f(&self.pending)?;
            self.pending.clear();
        }
        Ok(())
    }
}

/// One independently compressed unit. Its encoder writes into a small buffer that is moved to
/// the unit's destination after every piece, so a unit never holds more than a chunk's output.
struct Unit {
    enc: UnitEncoder,
    chunker: Chunker,
    crc64: u64,
    uncompressed: u64,
    /// Compressed bytes written so far (xz: without the block header).
    compressed: u64,
}

enum UnitEncoder {
    Gzip(flate2::write::GzEncoder<Vec<u8>>),
    Xz(liblzma::write::XzEncoder<Vec<u8>>),
    Zstd(zstd::stream::write::Encoder<'static, Vec<u8>>),
}

impl UnitEncoder {
    fn buffer(&mut self) -> &mut Vec<u8> {
        match self {
            UnitEncoder::Gzip(e) => e.get_mut(),
            UnitEncoder::Xz(e) => e.get_mut(),
            UnitEncoder::Zstd(e) => e.get_mut(),
        }
    }
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        match self {
            UnitEncoder::Gzip(e) => e.write_all(buf),
            UnitEncoder::Xz(e) => e.write_all(buf),
            UnitEncoder::Zstd(e) => e.write_all(buf),
        }
    }
    fn finish(self) -> io::Result<Vec<u8>> {
        match self {
            UnitEncoder::Gzip(e) => e.finish(),
            UnitEncoder::Xz(e) => e.finish(),
            UnitEncoder::Zstd(e) => e.finish(),
        }
    }
}

impl Unit {
    /// Starts a unit; for xz, writes the block header to `out`.
    fn start(codec: Codec, out: &mut dyn Write) -> io::Result<Unit> {
        let enc = match codec {
            Codec::Gzip(l) => UnitEncoder::Gzip(
                flate2::GzBuilder::new()
                    .mtime(0)
                    .write(Vec::new(), flate2::Compression::new(l)),
            ),
            Codec::Xz(l) => {
                let opts = liblzma::stream::LzmaOptions::new_preset(l).map_err(io::Error::other)?;
                let mut filters = liblzma::stream::Filters::new();
                filters.lzma2(&opts);
                let raw =
                    liblzma::stream::Stream::new_raw_encoder(&filters).map_err(io::Error::other)?;
                out.write_all(&xz::block_header(xz::lzma2_dict_property(xz_dict_size(l))))?;
                UnitEncoder::Xz(liblzma::write::XzEncoder::new_stream(Vec::new(), raw))
            }
            // Single-threaded, as in `compress` (no worker count is ever set).
            Codec::Zstd(l) => UnitEncoder::Zstd(zstd::stream::write::Encoder::new(Vec::new(), l)?),
            other => {
                return Err(io::Error::other(format!(
                    "{other} does not compress in independent units"
                )))
            }
        };
        Ok(Unit {
            enc,
            chunker: Chunker::default(),
            crc64: 0,
            uncompressed: 0,
            compressed: 0,
        })
    }

    fn drain(enc: &mut UnitEncoder, compressed: &mut u64, out: &mut dyn Write) -> io::Result<()> {
        let buf = enc.buffer();
        if !buf.is_empty() {
            out.write_all(buf)?;
            *compressed += buf.len() as u64;
            buf.clear();
        }
        Ok(())
    }

    fn write(&mut self, buf: &[u8], out: &mut dyn Write) -> io::Result<()> {
        self.crc64 = xz::crc64(buf, self.crc64);
        self.uncompressed += buf.len() as u64;
        let (enc, compressed) = (&mut self.enc, &mut self.compressed);
        self.chunker.feed(buf, |piece| {
            enc.write_all(piece)?;
            Unit::drain(enc, compressed, out)
        })
    }

    /// Finishes the unit (xz: padding and check) and returns its index record.
    fn finish(mut self, out: &mut dyn Write) -> io::Result<xz::BlockRecord> {
        let (enc, compressed) = (&mut self.enc, &mut self.compressed);
        self.chunker.rest(|piece| {
            enc.write_all(piece)?;
            Unit::drain(enc, compressed, out)
        })?;
        let is_xz = matches!(self.enc, UnitEncoder::Xz(_));
        let tail = self.enc.finish()?;
        out.write_all(&tail)?;
        self.compressed += tail.len() as u64;
        if !is_xz {
            return Ok(xz::BlockRecord {
                unpadded: self.compressed,
                uncompressed: self.uncompressed,
            });
        }
        let data = xz::BLOCK_HEADER_SIZE + self.compressed;
        out.write_all(&[0u8; 3][..xz::block_padding(data)])?;
        out.write_all(&self.crc64.to_le_bytes())?;
        Ok(xz::BlockRecord {
            unpadded: data + xz::CHECK_SIZE,
            uncompressed: self.uncompressed,
        })
    }
}

/// The file being written between [`Splice::begin_file`] and [`Splice::end_file`].
struct OpenSegment {
    id: ContentId,
    hasher: Sha256,
    seen: u64,
    work: SegmentWork,
}

enum SegmentWork {
    /// Served from the cache: the input is only hashed.
    Reuse(Cached),
    /// Compressed now, into the sink or (with a cache) a spill file that becomes the cache file.
    Compress {
        unit: Box<Unit>,
        spill: Option<(HashingWriter<tempfile::NamedTempFile>, PathBuf)>,
    },
}

/// The stretch between two segments (headers, padding, small files).
enum Fresh {
    /// Without a cache: compressed as it comes.
    Direct(Unit),
    /// With a cache: kept uncompressed in a spill file and hashed, so that at its end it can be
    /// looked up by content like a segment (an unchanged stretch of a rebuild is reused) and
    /// compressed from the spill file only when it is not cached.
    Spilled {
        file: BufWriter<tempfile::NamedTempFile>,
        hasher: Sha256,
        len: u64,
    },
}

/// The segmenting half of [`compress::Encoder`]: see the module docs.
pub(crate) struct Units<W: Write> {
    codec: Codec,
    min_size: u64,
    cache: Option<std::sync::Arc<SegmentCache>>,
    sink: W,
    records: Vec<xz::BlockRecord>,
    fresh: Option<Fresh>,
    open: Option<OpenSegment>,
    /// Inside a file too small to be a segment.
    small_file: bool,
}

impl<W: Write> Units<W> {
    pub(crate) fn new(
        codec: Codec,
        mut sink: W,
        min_size: u64,
        cache: Option<std::sync::Arc<SegmentCache>>,
    ) -> io::Result<Self> {
        if matches!(codec, Codec::Xz(_)) {
            xz::write_stream_header(&mut sink)?;
        }
        Ok(Units {
            codec,
            min_size,
            cache,
            sink,
            records: Vec::new(),
            fresh: None,
            open: None,
            small_file: false,
        })
    }

    pub(crate) fn write(&mut self, buf: &[u8]) -> io::Result<()> {
        if buf.is_empty() {
            return Ok(());
        }
        if let Some(seg) = &mut self.open {
            seg.seen += buf.len() as u64;
            if seg.seen > seg.id.size {
                return Err(changed(&seg.id));
            }
            seg.hasher.update(buf);
            return match &mut seg.work {
                SegmentWork::Reuse(_) => Ok(()),
                SegmentWork::Compress { unit, spill } => match spill {
                    Some((file, _)) => unit.write(buf, file),
                    None => unit.write(buf, &mut self.sink),
                },
            };
        }
        if self.fresh.is_none() {
            self.fresh = Some(match &self.cache {
                Some(c) => Fresh::Spilled {
                    file: BufWriter::with_capacity(CODEC_CHUNK, c.scratch()?),
                    hasher: Sha256::new(),
                    len: 0,
                },
                None => Fresh::Direct(Unit::start(self.codec, &mut self.sink)?),
            });
        }
        match &mut self.fresh {
            Some(Fresh::Direct(unit)) => unit.write(buf, &mut self.sink),
            Some(Fresh::Spilled { file, hasher, len }) => {
                hasher.update(buf);
                *len += buf.len() as u64;
                file.write_all(buf)
            }
            None => Ok(()),
        }
    }

    fn end_fresh(&mut self) -> io::Result<()> {
        let record = match self.fresh.take() {
            None => return Ok(()),
            Some(Fresh::Direct(unit)) => unit.finish(&mut self.sink)?,
            Some(Fresh::Spilled { file, hasher, len }) => {
                let id = ContentId {
                    sha256: hasher.finalize().into(),
                    size: len,
                };
                let spilled = file.into_inner().map_err(|e| e.into_error())?;
                self.fresh_unit(&id, spilled)?
            }
        };
        self.records.push(record);
        Ok(())
    }

    /// A spilled fresh stretch: its cached unit, or compressed from the spill file now (and
    /// cached).
    fn fresh_unit(
        &mut self,
        id: &ContentId,
        spilled: tempfile::NamedTempFile,
    ) -> io::Result<xz::BlockRecord> {
        let Some(cache) = self.cache.clone() else {
            return Err(io::Error::other(
                "a fresh stretch was spilled without a cache",
            ));
        };
        if let Some(c) = cache.load(self.codec, id) {
            cache.fresh_reused.fetch_add(1, Ordering::Relaxed);
            return self.copy_cached(c);
        }
        let path = cache.path(&SegmentCache::key(self.codec, id));
        let mut out = HashingWriter::new(cache.spill()?);
        let mut unit = Unit::start(self.codec, &mut out)?;
        let mut src = spilled.reopen()?;
        let mut buf = vec![0u8; CODEC_CHUNK];
        let mut read = 0u64;
        loop {
            let n = src.read(&mut buf)?;
            if n == 0 {
                break;
            }
            read += n as u64;
            unit.write(&buf[..n], &mut out)?;
        }
        if read != id.size {
            return Err(io::Error::other("a spilled stretch changed size on disk"));
        }
        let record = unit.finish(&mut out)?;
        cache.fresh_compressed.fetch_add(1, Ordering::Relaxed);
        self.store_spilled(&cache, out, record, &path)
    }

    /// Copies a verified cached unit into the stream.
    fn copy_cached(&mut self, mut c: Cached) -> io::Result<xz::BlockRecord> {
        let copied = io::copy(&mut (&mut c.file).take(c.unit_len), &mut self.sink)?;
        if copied != c.unit_len {
            return Err(io::Error::other("a cached unit shrank while being read"));
        }
        Ok(c.record)
    }

    /// Completes a unit compressed into a spill file: writes the cache file's prefix, copies
    /// the unit into the stream, files it in the cache and offers it to the shared cache.
    fn store_spilled(
        &mut self,
        cache: &SegmentCache,
        file: HashingWriter<tempfile::NamedTempFile>,
        record: xz::BlockRecord,
        path: &Path,
    ) -> io::Result<xz::BlockRecord> {
        let (mut file, _, unit_len) = file.finish();
        let mut prefix = Vec::with_capacity(PREFIX as usize);
        prefix.extend_from_slice(MAGIC);
        prefix.extend_from_slice(&record.uncompressed.to_le_bytes());
        prefix.extend_from_slice(&record.unpadded.to_le_bytes());
        let f = file.as_file_mut();
        f.seek(SeekFrom::Start(0))?;
        f.write_all(&prefix)?;
        f.seek(SeekFrom::Start(PREFIX))?;
        let copied = io::copy(&mut (&mut *f).take(unit_len), &mut self.sink)?;
        if copied != unit_len {
            return Err(io::Error::other("a spilled unit shrank while being read"));
        }
        // Another build may have stored the same unit meanwhile: same bytes.
        file.persist(path).map_err(|e| e.error)?;
        if let Some(key) = path.file_stem().and_then(|k| k.to_str()) {
            cache.published(key, path);
        }
        Ok(record)
    }

    pub(crate) fn begin_file(&mut self, id: &ContentId) -> io::Result<()> {
        if self.open.is_some() || self.small_file {
            return Err(io::Error::other("a file began inside another file"));
        }
        if id.size < self.min_size {
            self.small_file = true;
            return Ok(());
        }
        self.end_fresh()?;
        let cached = self.cache.as_ref().and_then(|c| c.load(self.codec, id));
        let work = match cached {
            Some(c) => SegmentWork::Reuse(c),
            None => {
                let mut spill = match &self.cache {
                    Some(c) => {
                        let path = c.path(&SegmentCache::key(self.codec, id));
                        Some((HashingWriter::new(c.spill()?), path))
                    }
                    None => None,
                };
                // xz: the block header goes where the unit goes (the cached unit starts with it).
                let unit = Box::new(match &mut spill {
                    Some((file, _)) => Unit::start(self.codec, file)?,
                    None => Unit::start(self.codec, &mut self.sink)?,
                });
                SegmentWork::Compress { unit, spill }
            }
        };
        self.open = Some(OpenSegment {
            id: *id,
            hasher: Sha256::new(),
            seen: 0,
            work,
        });
        Ok(())
    }

    pub(crate) fn end_file(&mut self) -> io::Result<()> {
        if std::mem::take(&mut self.small_file) {
            return Ok(());
        }
        let Some(seg) = self.open.take() else {
            return Err(io::Error::other("a file ended that did not begin"));
        };
        let got: [u8; 32] = seg.hasher.finalize().into();
        if seg.seen != seg.id.size || got != seg.id.sha256 {
            return Err(changed(&seg.id));
        }
        let record = match seg.work {
            SegmentWork::Reuse(c) => {
                if let Some(cache) = &self.cache {
                    cache.reused.fetch_add(1, Ordering::Relaxed);
                    cache.reused_bytes.fetch_add(seg.id.size, Ordering::Relaxed);
                }
                self.copy_cached(c)?
            }
            SegmentWork::Compress { unit, spill: None } => {
                if let Some(cache) = &self.cache {
                    cache.compressed.fetch_add(1, Ordering::Relaxed);
                }
                unit.finish(&mut self.sink)?
            }
            SegmentWork::Compress {
                unit,
                spill: Some((mut file, path)),
            } => {
                let record = unit.finish(&mut file)?;
                let Some(cache) = self.cache.clone() else {
                    return Err(io::Error::other("a segment was spilled without a cache"));
                };
                cache.compressed.fetch_add(1, Ordering::Relaxed);
                self.store_spilled(&cache, file, record, &path)?
            }
        };
        self.records.push(record);
        Ok(())
    }

    pub(crate) fn finish(mut self) -> io::Result<W> {
        if self.open.is_some() || self.small_file {
            return Err(io::Error::other("the stream ended inside a file"));
        }
        self.end_fresh()?;
        if matches!(self.codec, Codec::Xz(_)) {
            xz::write_index_and_footer(&mut self.sink, &self.records)?;
        }
        Ok(self.sink)
    }
}

fn changed(id: &ContentId) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!(
            "a payload file (planned: {} bytes, sha256 {}) changed during the build; rebuild when the payload is stable",
            id.size,
            hex::encode(id.sha256)
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compress::{decoder, Encoder};
    use std::sync::Arc;

    /// Pseudo-random but compressible bytes (a repeated phrase with a counter).
    fn content(seed: u32, len: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(len);
        let mut i = seed;
        while out.len() < len {
            out.extend_from_slice(format!("segment {seed} line {i} of a payload\n").as_bytes());
            i = i.wrapping_mul(1_103_515_245).wrapping_add(12_345) % 1000;
        }
        out.truncate(len);
        out
    }

    fn id(bytes: &[u8]) -> ContentId {
        ContentId {
            sha256: crate::digest::sha256(bytes),
            size: bytes.len() as u64,
        }
    }

    /// A small "archive": headers around files, the large ones marked.
    fn write_archive(
        codec: Codec,
        files: &[Vec<u8>],
        cache: Option<Arc<SegmentCache>>,
    ) -> io::Result<(Vec<u8>, Vec<u8>)> {
        let mut plain = Vec::new();
        let mut e = Encoder::with_segment_size(codec, Vec::new(), 4096, cache)?;
        for (i, f) in files.iter().enumerate() {
            let header = format!("header {i} {}\n", f.len());
            e.write_all(header.as_bytes())?;
            plain.extend_from_slice(header.as_bytes());
            e.begin_file(&id(f))?;
            e.write_all(f)?;
            e.end_file()?;
            plain.extend_from_slice(f);
        }
        e.write_all(b"trailer")?;
        plain.extend_from_slice(b"trailer");
        Ok((e.finish()?, plain))
    }

    fn decompress(codec: Codec, bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        decoder(codec, bytes)
            .unwrap()
            .read_to_end(&mut out)
            .unwrap();
        out
    }

    fn files() -> Vec<Vec<u8>> {
        vec![
            content(1, 100),
            content(2, 10_000),
            content(3, 10_000), // same size, other bytes
            content(2, 10_000), // the same file again
            content(4, 3000),
            content(5, 200_000),
        ]
    }

    const CODECS: [Codec; 3] = [Codec::Gzip(6), Codec::Xz(1), Codec::Zstd(3)];

    #[test]
    fn policies_parse_print_and_refuse() {
        let p = |s: &str| s.parse::<SegmentPolicy>();
        assert_eq!(p("off").unwrap(), SegmentPolicy::OFF);
        assert_eq!(p("4M").unwrap(), SegmentPolicy::at(4 << 20));
        assert_eq!(p("512k").unwrap(), SegmentPolicy::at(512 << 10));
        assert_eq!(p("1G").unwrap(), SegmentPolicy::at(1 << 30));
        assert_eq!(p("65536").unwrap(), SegmentPolicy::at(65536));
        for shown in ["off", "4M", "512K", "65537"] {
            assert_eq!(p(shown).unwrap().to_string(), shown);
        }
        assert!(p("12K").unwrap_err().contains("64K"));
        for bad in ["", "lots", "4T", "-1M", "99999999999999999999G"] {
            assert!(p(bad).is_err(), "{bad}");
        }
        assert_eq!(
            SegmentPolicy::default(),
            SegmentPolicy::at(DEFAULT_SEGMENT_MIN_SIZE)
        );
    }

    #[test]
    fn off_writes_the_single_stream() {
        for codec in CODECS {
            let f = content(9, 300_000);
            let mut seg = Encoder::segmented(codec, Vec::new(), SegmentPolicy::OFF, None).unwrap();
            seg.write_all(b"head").unwrap();
            seg.begin_file(&id(&f)).unwrap();
            seg.write_all(&f).unwrap();
            seg.end_file().unwrap();
            let mut one = Encoder::new(codec, Vec::new()).unwrap();
            one.write_all(b"head").unwrap();
            one.write_all(&f).unwrap();
            assert_eq!(seg.finish().unwrap(), one.finish().unwrap(), "{codec}");
        }
    }

    #[test]
    fn spliced_streams_decode_to_the_archive() {
        for codec in CODECS {
            let (bytes, plain) = write_archive(codec, &files(), None).unwrap();
            assert_eq!(decompress(codec, &bytes), plain, "{codec}");
        }
    }

    #[test]
    fn cold_warm_and_uncached_builds_write_the_same_bytes() {
        for codec in CODECS {
            let dir = tempfile::tempdir().unwrap();
            let cache = Arc::new(SegmentCache::open(dir.path()).unwrap());
            let (none, _) = write_archive(codec, &files(), None).unwrap();
            let (cold, _) = write_archive(codec, &files(), Some(cache.clone())).unwrap();
            // 4 large files, one of them twice: 3 distinct segments, the repeat reused at once.
            assert_eq!(
                (cache.stats().compressed, cache.stats().reused),
                (3, 1),
                "{codec}"
            );
            // The 5 stretches between them ([h0 f0 h1] [h2] [h3] [h4 f4 h5] [trailer]).
            assert_eq!(
                (cache.stats().fresh_compressed, cache.stats().fresh_reused),
                (5, 0),
                "{codec}"
            );
            let (warm, _) = write_archive(codec, &files(), Some(cache.clone())).unwrap();
            assert_eq!(
                (cache.stats().compressed, cache.stats().reused),
                (3, 5),
                "{codec}"
            );
            assert_eq!(
                (cache.stats().fresh_compressed, cache.stats().fresh_reused),
                (5, 5),
                "{codec}: an unchanged stream is all reused"
            );
            assert_eq!(cold, none, "{codec}: cold differs from uncached");
            assert_eq!(warm, none, "{codec}: warm differs from uncached");
        }
    }

    #[test]
    fn a_segment_that_does_not_decompress_to_its_file_is_refused_and_rebuilt() {
        for codec in CODECS {
            let dir = tempfile::tempdir().unwrap();
            let cache = Arc::new(SegmentCache::open(dir.path()).unwrap());
            let (good, _) = write_archive(codec, &files(), Some(cache.clone())).unwrap();
            // Swap two segments of equal size: each is intact, but not the file it is named for.
            let a = cache.path(&SegmentCache::key(codec, &id(&files()[1])));
            let b = cache.path(&SegmentCache::key(codec, &id(&files()[2])));
            let (ab, bb) = (fs::read(&a).unwrap(), fs::read(&b).unwrap());
            fs::write(&a, &bb).unwrap();
            // And flip one byte in the middle of another.
            let c = cache.path(&SegmentCache::key(codec, &id(&files()[5])));
            let mut cb = fs::read(&c).unwrap();
            let mid = cb.len() / 2;
            cb[mid] ^= 0x55;
            fs::write(&c, &cb).unwrap();
            let before = cache.stats();
            let (again, _) = write_archive(codec, &files(), Some(cache.clone())).unwrap();
            let after = cache.stats();
            assert_eq!(again, good, "{codec}");
            assert!(after.refused - before.refused >= 2, "{codec}: {after:?}");
            assert_eq!(fs::read(&a).unwrap(), ab, "{codec}: rebuilt in place");
            let _ = bb;
        }
    }

    #[test]
    fn a_file_that_differs_from_its_plan_fails_the_stream() {
        for codec in CODECS {
            let dir = tempfile::tempdir().unwrap();
            let cache = Arc::new(SegmentCache::open(dir.path()).unwrap());
            let f = content(7, 50_000);
            let (_, _) =
                write_archive(codec, std::slice::from_ref(&f), Some(cache.clone())).unwrap();
            for with_cache in [None, Some(cache.clone())] {
                let mut e =
                    Encoder::with_segment_size(codec, Vec::new(), 4096, with_cache).unwrap();
                e.begin_file(&id(&f)).unwrap();
                let mut other = f.clone();
                other[10] ^= 1;
                e.write_all(&other).unwrap();
                let err = e.end_file().unwrap_err();
                assert!(
                    err.to_string().contains("changed during the build"),
                    "{err}"
                );
                // Longer than planned fails as soon as it is longer.
                let mut e = Encoder::with_segment_size(codec, Vec::new(), 4096, None).unwrap();
                e.begin_file(&id(&f)).unwrap();
                assert!(e.write_all(&[f.as_slice(), b"x"].concat()).is_err());
            }
        }
    }

    #[test]
    fn xz_streams_have_one_block_per_unit() {
        let (bytes, plain) = write_archive(Codec::Xz(1), &files(), None).unwrap();
        // units: [h0 f0 h1] f1 [h2] f2 [h3] f3 [h4 f4 h5] f5 [trailer] = 9 blocks.
        let mut stream = liblzma::stream::Stream::new_stream_decoder(u64::MAX, 0).unwrap();
        let mut out = vec![0u8; plain.len() + 16];
        let status = stream
            .process(&bytes, &mut out, liblzma::stream::Action::Finish)
            .unwrap();
        assert_eq!(status, liblzma::stream::Status::StreamEnd);
        assert_eq!(stream.total_out() as usize, plain.len());
        // The index starts after the last block; its record count is the byte after 0x00.
        let footer = &bytes[bytes.len() - 12..];
        let backward = u32::from_le_bytes([footer[4], footer[5], footer[6], footer[7]]);
        let index_len = (backward as usize + 1) * 4;
        let index = &bytes[bytes.len() - 12 - index_len..];
        assert_eq!((index[0], index[1]), (0x00, 9));
    }
}
