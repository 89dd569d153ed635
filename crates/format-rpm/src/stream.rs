//! Writing an rpm with bounded memory.
//!
//! rpm-rs 0.30.2 compresses the payload into a `Vec<u8>` (peak RSS ≈ compressed payload + codec
//! state), and its header needs the payload's digests before the payload can be written. So the
//! work is split:
//!
//! 1. The cpio payload is written here, streamed file by file from disk through the compressor
//!    into an anonymous temporary file, hashing the archive before and after compression and
//!    every file on the way (each file is checked against the plan's size and sha256).
//! 2. The crate builds the header from the same plan with empty placeholders for the on-disk
//!    files (everything else — tags, dependencies, scriptlets, the sysusers-derived provides —
//!    is the crate's own work).
//! 3. The placeholder-dependent tags (FILESIZES, FILEDIGESTS, SIZE, PAYLOADSHA256,
//!    PAYLOADSHA256ALT) are replaced (by LONGFILESIZES and LONGSIZE for large payloads), the signature header is computed for the final header,
//!    the package is optionally signed, and lead + headers + the temporary payload are copied
//!    to the output.
//!
//! The cpio entries, their order, inode numbers and padding mirror the crate's
//! `PackageBuilder::prepare_data` exactly, so the *uncompressed* archive and the header are the
//! ones the crate builds (tests/rpm_tools.rs compares both with the crate's own package for
//! every codec). The compression is lucia-pkg's own (`pkg_core::compress::Encoder`, the codec
//! code every format shares) and differs from the crate's on purpose:
//! * no flush after every cpio entry. rpm-rs flushes its compressor per file, which ends the
//!   codec's block and drops the context between files: on a 100 MiB .NET-like payload that cost
//!   +4.6 % at zstd:19 (58.46 vs rpmbuild's 55.81 MB), and nearly doubled a payload of many small
//!   files (3.5 vs 1.9 MB);
//! * zstd single-threaded instead of one multi-threaded worker: 95 instead of 216 MB at level 19.
//!
//! Memory is the codec state plus small buffers, independent of the payload size.
//!
//! # Large payloads
//! When the installed size exceeds `u32::MAX` (any file ≥ 4 GiB, or many smaller ones), the
//! crate switches to rpm's large-file layout (rpm ≥ 4.12), and so does this writer:
//! * every cpio entry is the "stripped" form: magic `07070X`, the entry's 8-hex-digit index
//!   into the header's file arrays, 2 bytes of padding, then the data (padded to 4 bytes); all
//!   metadata, including the 64-bit size, comes from the header. The trailer stays a newc entry.
//! * LONGFILESIZES and LONGSIZE (64-bit) replace FILESIZES and SIZE;
//! * `rpmlib(LargeFiles) <= 4.12.0-1` is required (added to the skeleton in [`build_unsigned`],
//!   which cannot see the real sizes).
//!
//! The signature header's size tag becomes LONGSIZE by itself (in the crate) when header plus
//! compressed payload exceed 4 GiB.

use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::sync::Arc;

use pkg_core::compress::Encoder;
use pkg_core::determinism::SYMLINK_MODE;
use pkg_core::digest::HashingWriter;
use pkg_core::segment::{ContentId, SegmentCache, Splice};
use pkg_core::{Entry, EntryKind, Plan};
use rpm::{
    Header, HeaderEntry, IndexData, IndexSignatureTag, IndexTag, RpmFormat, SignatureHeaderBuilder,
    Timestamp,
};
use sha2::{Digest, Sha256};

use crate::package::{
    build_unsigned, checked_source_date, hex_lower, listed, summary, uses_large_files, DiskFiles,
};
use crate::{file_name, sign, RpmError, RpmSummary};

const S_IFREG: u32 = 0o100000;
const S_IFDIR: u32 = 0o040000;
const S_IFLNK: u32 = 0o120000;

fn pad4(w: &mut impl Write, len: usize) -> io::Result<()> {
    let pad = (4 - len % 4) % 4;
    w.write_all(&[0u8; 3][..pad])
}

/// One newc ("070701") cpio header + name + padding, as rpm-rs writes it.
fn cpio_header(
    w: &mut impl Write,
    name: &str,
    ino: u32,
    mode: u32,
    nlink: u32,
    mtime: u32,
    size: u32,
) -> io::Result<()> {
    let name_len = name.len() + 1;
    let fields = [
        ino,
        mode,
        0,
        0,
        nlink,
        mtime,
        size,
        0,
        0,
        0,
        0,
        name_len as u32,
        0,
    ];
    let mut h = String::with_capacity(110 + name_len);
    h.push_str("070701");
    for f in fields {
        h.push_str(&format!("{f:08x}"));
    }
    w.write_all(h.as_bytes())?;
    w.write_all(name.as_bytes())?;
    w.write_all(&[0])?;
    pad4(w, 110 + name_len)
}

/// rpm's stripped cpio entry header (large-file layout): magic + index into the header's file
/// arrays + padding to 4 bytes, as rpm-rs writes it (`payload::write_stripped_cpio`).
fn stripped_cpio_header(w: &mut impl Write, index: u32) -> io::Result<()> {
    w.write_all(format!("07070X{index:08x}").as_bytes())?;
    pad4(w, 14)
}

/// Payload files are read in pieces of this size (the shared Encoder cuts its input at fixed
/// stream offsets itself, so this only sets the read size).
const WRITE_CHUNK: usize = 256 * 1024;

/// Per listed entry, in header order: size and sha256 hex ("" for dirs and symlinks).
struct PayloadInfo {
    sizes: Vec<u64>,
    digests: Vec<String>,
    compressed_sha256: String,
    compressed_len: u64,
    archive_sha256: String,
    /// The uncompressed cpio archive's length.
    archive_len: u64,
}

fn io_err(what: String) -> impl FnOnce(io::Error) -> RpmError {
    move |source| RpmError::Io { path: what, source }
}

/// Writes the compressed cpio payload to `tmp`: newc entries, or with `large` rpm's stripped
/// entries (see the module docs).
fn write_payload(
    plan: &Plan,
    mtime: u32,
    large: bool,
    tmp: &mut std::fs::File,
    segments: Option<Arc<SegmentCache>>,
) -> Result<PayloadInfo, RpmError> {
    let tmp_err = || io_err("temporary rpm payload file".into());
    let sink = HashingWriter::new(BufWriter::with_capacity(1 << 20, &mut *tmp));
    let compressor = Encoder::segmented(
        plan.formats.rpm.compression,
        sink,
        plan.formats.rpm.segments,
        segments,
    )
    .map_err(tmp_err())?;
    let mut archive = HashingWriter::new(compressor);

    let mut entries: Vec<&Entry> = plan.entries.iter().filter(|e| listed(e)).collect();
    // The crate orders files by their cpio name (`./path`), bytewise.
    entries.sort_by(|a, b| a.path.as_bytes().cmp(b.path.as_bytes()));
    let (mut sizes, mut digests) = (
        Vec::with_capacity(entries.len()),
        Vec::with_capacity(entries.len()),
    );
    let mut buf = vec![0u8; WRITE_CHUNK];
    for (i, e) in entries.iter().enumerate() {
        let ino = u32::try_from(i + 1).map_err(|_| too_many())?;
        let name = format!(".{}", e.path);
        let perms = e.mode & 0o7777;
        // The entry header: newc (sizes must fit 32 bits) or stripped (index only).
        let header = |archive: &mut _, mode: u32, size: u64| -> Result<(), RpmError> {
            if large {
                // ino - 1 is the entry's index in the header arrays (same order).
                stripped_cpio_header(archive, ino - 1).map_err(tmp_err())
            } else {
                let size = u32::try_from(size).map_err(|_| {
                    RpmError::Internal(format!(
                        "{}: {size} bytes in a small-file rpm layout",
                        e.path
                    ))
                })?;
                cpio_header(archive, &name, ino, mode, 1, mtime, size).map_err(tmp_err())
            }
        };
        match &e.kind {
            EntryKind::Dir => {
                header(&mut archive, S_IFDIR | perms, 0)?;
                sizes.push(0);
                digests.push(String::new());
            }
            EntryKind::Symlink { target } => {
                let size = target.len() as u64;
                header(&mut archive, S_IFLNK | SYMLINK_MODE, size)?;
                archive.write_all(target.as_bytes()).map_err(tmp_err())?;
                pad4(&mut archive, target.len()).map_err(tmp_err())?;
                sizes.push(size);
                digests.push(String::new());
            }
            EntryKind::File {
                content,
                size,
                sha256,
            } => {
                header(&mut archive, S_IFREG | perms, *size)?;
                let src = match content {
                    pkg_core::Content::Disk(p) => p.display().to_string(),
                    pkg_core::Content::Inline(_) => e.path.clone(),
                };
                let mut r = content.open().map_err(io_err(src))?.take(*size + 1);
                let mut h = Sha256::new();
                let mut n = 0u64;
                let id = ContentId {
                    sha256: *sha256,
                    size: *size,
                };
                archive.begin_file(&id).map_err(tmp_err())?;
                loop {
                    let k = fill(&mut r, &mut buf).map_err(io_err(e.path.clone()))?;
                    if k == 0 {
                        break;
                    }
                    n += k as u64;
                    if n > *size {
                        return Err(RpmError::PayloadChanged {
                            path: e.path.clone(),
                        });
                    }
                    h.update(&buf[..k]);
                    archive.write_all(&buf[..k]).map_err(tmp_err())?;
                }
                let got: [u8; 32] = h.finalize().into();
                if n != *size || got != *sha256 {
                    return Err(RpmError::PayloadChanged {
                        path: e.path.clone(),
                    });
                }
                archive.end_file().map_err(tmp_err())?;
                // Only size mod 4 matters (and the stripped header is 16 bytes, 0 mod 4).
                pad4(&mut archive, (*size % 4) as usize).map_err(tmp_err())?;
                sizes.push(*size);
                digests.push(hex_lower(sha256));
            }
        }
    }
    // The trailer: rpm-rs writes it with nlink 1 and every other number 0.
    cpio_header(&mut archive, "TRAILER!!!", 0, 0, 1, 0, 0).map_err(tmp_err())?;

    let (compressor, archive_sha, archive_len) = archive.finish();
    let sink = compressor.finish().map_err(tmp_err())?;
    let (mut bufw, compressed_sha, compressed_len) = sink.finish();
    bufw.flush().map_err(tmp_err())?;
    Ok(PayloadInfo {
        sizes,
        digests,
        compressed_sha256: hex_lower(&compressed_sha),
        compressed_len,
        archive_sha256: hex_lower(&archive_sha),
        archive_len,
    })
}

/// Adds the uncompressed archive size to the signature header, as rpmbuild does
/// (RPMSIGTAG_PAYLOADSIZE, or RPMSIGTAG_LONGARCHIVESIZE beyond 4 GiB); the rpm crate writes
/// neither. rpm2cpio compares the bytes it extracted with it and exits 1 without it (tested in
/// tests/segments.rs). After signing, because signing rebuilds the signature header from the
/// tags it knows; the signature header is covered by no digest or signature.
fn add_archive_size(pkg: &mut rpm::Package, len: u64) -> Result<(), RpmError> {
    const PAYLOADSIZE: u32 = 1007;
    const LONGARCHIVESIZE: u32 = 271;
    let sig = &pkg.metadata.signature;
    let mut entries: Vec<HeaderEntry> = Vec::new();
    for (t, data) in sig
        .get_all_entries()
        .map_err(RpmError::rpm("reading the rpm signature header back"))?
    {
        if t == IndexSignatureTag::HEADER_SIGNATURES as u32
            || t == PAYLOADSIZE
            || t == LONGARCHIVESIZE
        {
            continue; // the region tag is regenerated by from_entries
        }
        entries.push(HeaderEntry::new(t, data));
    }
    entries.push(match u32::try_from(len) {
        Ok(small) => HeaderEntry::new(PAYLOADSIZE, IndexData::Int32(vec![small])),
        Err(_) => HeaderEntry::new(LONGARCHIVESIZE, IndexData::Int64(vec![len])),
    });
    pkg.metadata.signature = Header::from_entries(entries, IndexSignatureTag::HEADER_SIGNATURES);
    Ok(())
}

/// Reads until `buf` is full or the reader is exhausted; returns the bytes read.
fn fill(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

fn too_many() -> RpmError {
    RpmError::TooLarge
}

/// Replaces the placeholder-dependent tags of the skeleton's header. With `large`, FILESIZES
/// and SIZE become their 64-bit LONG counterparts (the header re-sorts tags by number).
fn patch_header(pkg: &mut rpm::Package, p: &PayloadInfo, large: bool) -> Result<(), RpmError> {
    let tag = |t: IndexTag| -> u32 { t.into() };
    let entries = pkg
        .metadata
        .header
        .get_all_entries()
        .map_err(RpmError::rpm("reading the rpm header back"))?;
    let total: u64 = p.sizes.iter().fold(0, |a, &s| a.saturating_add(s));
    let small = |v: u64| {
        u32::try_from(v)
            .map_err(|_| RpmError::Internal(format!("{v} bytes in a small-file rpm header")))
    };
    let mut out = Vec::with_capacity(entries.len());
    let mut patched = 0;
    for (t, data) in entries {
        if t == tag(IndexTag::RPMTAG_HEADERIMMUTABLE) {
            continue; // the region tag is regenerated by from_entries
        }
        let (t, data) = if t == tag(IndexTag::RPMTAG_FILESIZES) {
            check_len(&data, p.sizes.len())?;
            if large {
                (
                    tag(IndexTag::RPMTAG_LONGFILESIZES),
                    IndexData::Int64(p.sizes.clone()),
                )
            } else {
                let sizes = p
                    .sizes
                    .iter()
                    .map(|&s| small(s))
                    .collect::<Result<_, _>>()?;
                (t, IndexData::Int32(sizes))
            }
        } else if t == tag(IndexTag::RPMTAG_SIZE) {
            if large {
                (
                    tag(IndexTag::RPMTAG_LONGSIZE),
                    IndexData::Int64(vec![total]),
                )
            } else {
                (t, IndexData::Int32(vec![small(total)?]))
            }
        } else if t == tag(IndexTag::RPMTAG_FILEDIGESTS) {
            check_len(&data, p.digests.len())?;
            (t, IndexData::StringArray(p.digests.clone()))
        } else if t == tag(IndexTag::RPMTAG_PAYLOADSHA256) {
            (t, IndexData::StringArray(vec![p.compressed_sha256.clone()]))
        } else if t == tag(IndexTag::RPMTAG_PAYLOADSHA256ALT) {
            (t, IndexData::StringArray(vec![p.archive_sha256.clone()]))
        } else {
            out.push(HeaderEntry::new(t, data));
            continue;
        };
        patched += 1;
        out.push(HeaderEntry::new(t, data));
    }
    // SIZE and the two payload digests always exist; the file arrays when there are files.
    let expected = if p.sizes.is_empty() { 3 } else { 5 };
    if patched != expected {
        return Err(RpmError::Internal(format!(
            "the rpm crate's header layout changed: patched {patched} of {expected} tags"
        )));
    }
    pkg.metadata.header = Header::from_entries(out, IndexTag::RPMTAG_HEADERIMMUTABLE);
    Ok(())
}

fn check_len(data: &IndexData, n: usize) -> Result<(), RpmError> {
    let len = match data {
        IndexData::Int32(v) => v.len(),
        IndexData::StringArray(v) => v.len(),
        _ => usize::MAX,
    };
    if len == n {
        Ok(())
    } else {
        Err(RpmError::Internal(format!(
            "the rpm crate listed {len} files where the plan lists {n}"
        )))
    }
}

/// Builds the plan's rpm and writes it to `out`, with memory bounded independently of the
/// payload size (the compressed payload is staged in an anonymous temporary file).
///
/// `out` receives the complete package; the caller names it [`crate::file_name`] and should
/// write to a temporary file and rename on success (a failed build may leave partial bytes).
pub fn write_rpm<W: Write>(plan: &Plan, out: W) -> Result<RpmSummary, RpmError> {
    write_rpm_with(plan, out, None)
}

/// [`write_rpm`] reusing and storing the compressed segments of large payload files in
/// `segments` (the bytes are the same with or without it; see `pkg_core::segment`).
pub fn write_rpm_with<W: Write>(
    plan: &Plan,
    out: W,
    segments: Option<Arc<SegmentCache>>,
) -> Result<RpmSummary, RpmError> {
    let mtime: Timestamp = checked_source_date(plan)?;
    let large = uses_large_files(plan);
    let mut tmp = tempfile::tempfile().map_err(io_err(
        "temporary file for the rpm payload (set TMPDIR to a directory with space)".into(),
    ))?;
    let payload = write_payload(plan, mtime.0, large, &mut tmp, segments)?;

    let (mut pkg, files) = build_unsigned(plan, DiskFiles::Placeholder)?;
    patch_header(&mut pkg, &payload, large)?;
    let header = pkg
        .metadata
        .header_bytes()
        .map_err(RpmError::rpm("serializing the rpm header"))?;
    pkg.metadata.signature = SignatureHeaderBuilder::new()
        .format(RpmFormat::V4)
        .reserved_space(Some(SignatureHeaderBuilder::DEFAULT_RESERVED_SPACE))
        .set_content_length(header.len() as u64 + payload.compressed_len)
        .calculate_digests(&header)
        .build()
        .map_err(RpmError::rpm("building the rpm signature header"))?;
    if let Some(key) = &plan.formats.rpm.signing_key {
        sign::sign(&mut pkg, key, mtime)?;
    }
    add_archive_size(&mut pkg, payload.archive_len)?;

    let mut w = HashingWriter::new(out);
    let name = file_name(plan);
    pkg.metadata
        .write(&mut w)
        .map_err(RpmError::rpm("writing the rpm headers"))?;
    tmp.seek(SeekFrom::Start(0))
        .map_err(io_err("temporary rpm payload file".into()))?;
    let copied = io::copy(&mut tmp, &mut w).map_err(io_err(name.clone()))?;
    if copied != payload.compressed_len {
        return Err(RpmError::Internal(format!(
            "payload staging file holds {copied} bytes, expected {}",
            payload.compressed_len
        )));
    }
    w.flush().map_err(io_err(name))?;
    let (_, sha, size) = w.finish();
    Ok(summary(plan, files, sha, size))
}
