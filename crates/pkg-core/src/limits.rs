//! What the readers behind `lucia-pkg inspect` (and `push`/base images reading an OCI archive)
//! will read from a file nobody vouches for, defined once for every format.
//!
//! The goal: any input, however crafted, ends in a report or an error within about two seconds and
//! 256 MB of memory, apart from the time it takes to stream through data that really is there
//! (large files are read, never stored). So:
//!
//! * archives list at most [`MAX_ENTRIES`] entries whose names, link targets and owner names add
//!   up to at most [`MAX_LIST_BYTES`]; a GNU long name / long link or a PAX header is at most
//!   [`MAX_NAME`] bytes, and at most [`MAX_META_RUN`] of them may precede one entry;
//! * the xz decoder may allocate at most [`DECODER_MEMLIMIT`] and zstd frames may not ask for a
//!   window above 2^[`ZSTD_WINDOW_LOG_MAX`] (both 128 MiB: `xz -9` needs 65 MiB, `zstd --ultra
//!   -22` and `--long` 128 MiB);
//! * an OCI layout is walked at most [`MAX_INDEX_DEPTH`] indexes deep, through at most
//!   [`MAX_DESCRIPTORS`] descriptors and [`MAX_JSON_TOTAL`] bytes of JSON, and each blob is
//!   verified once however often it is referenced.
//!
//! Also here: [`escape`], how names read from such a file are shown on a terminal.

use std::borrow::Cow;
use std::io::{self, BufRead, Read};

use crate::compress::Codec;

/// Entries (files, directories, links…) one archive may list. Far above real packages (the
/// largest Debian packages list ~100k files) and low enough that the report stays small.
pub const MAX_ENTRIES: usize = 200_000;
/// Bytes of names, link targets and owner names one listing may hold in total.
pub const MAX_LIST_BYTES: usize = 32 << 20;
/// One GNU long name, long link or PAX header (PATH_MAX is 4 KiB; PAX xattrs stay far below).
pub const MAX_NAME: u64 = 64 << 10;
/// Long-name/long-link/PAX records in a row before an entry.
pub const MAX_META_RUN: usize = 16;
/// Memory the xz decoder may allocate (liblzma memlimit).
pub const DECODER_MEMLIMIT: u64 = 128 << 20;
/// Largest zstd window, as a power of two (27: 128 MiB, zstd's own default limit).
pub const ZSTD_WINDOW_LOG_MAX: u32 = 27;
/// OCI: image indexes nested deeper than this are refused.
pub const MAX_INDEX_DEPTH: usize = 4;
/// OCI: descriptors (indexes, manifests, configs, layers, artifacts) one walk may visit.
pub const MAX_DESCRIPTORS: usize = 4096;
/// OCI: JSON bytes (indexes, manifests, configs) one walk may read, repeats included.
pub const MAX_JSON_TOTAL: u64 = 16 << 20;

/// A streaming decompressor for untrusted input, with the memory limits above.
pub fn decoder<'a, R: BufRead + 'a>(codec: Codec, r: R) -> io::Result<Box<dyn Read + 'a>> {
    Ok(match codec {
        Codec::None => Box::new(r),
        Codec::Gzip(_) => Box::new(flate2::bufread::MultiGzDecoder::new(r)),
        Codec::Xz(_) | Codec::XzMt(_) => {
            let stream = liblzma::stream::Stream::new_stream_decoder(
                DECODER_MEMLIMIT,
                liblzma::stream::CONCATENATED,
            )
            .map_err(|e| io::Error::other(format!("xz decoder: {e}")))?;
            Box::new(XzLimited(liblzma::bufread::XzDecoder::new_stream(
                r, stream,
            )))
        }
        Codec::Zstd(_) => {
            let mut d = zstd::stream::read::Decoder::with_buffer(r)?;
            d.window_log_max(ZSTD_WINDOW_LOG_MAX)?;
            Box::new(ZstdLimited(d))
        }
    })
}

/// Says which limit an xz stream hit (liblzma only says "Memory usage limit reached").
struct XzLimited<R>(R);

impl<R: Read> Read for XzLimited<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf).map_err(|e| {
            if e.to_string().to_ascii_lowercase().contains("memory") {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "the xz stream needs more than {} MiB to decompress (its dictionary is \
                         larger than any xz preset uses); refused",
                        DECODER_MEMLIMIT >> 20
                    ),
                )
            } else {
                e
            }
        })
    }
}

/// Says which limit a zstd frame hit (libzstd says "Frame requires too much memory").
struct ZstdLimited<R>(R);

impl<R: Read> Read for ZstdLimited<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf).map_err(|e| {
            if e.to_string()
                .to_ascii_lowercase()
                .contains("too much memory")
            {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "the zstd frame asks for a window above {} MiB; refused",
                        (1u64 << ZSTD_WINDOW_LOG_MAX) >> 20
                    ),
                )
            } else {
                e
            }
        })
    }
}

/// One tar entry after GNU long-name/long-link and PAX processing.
#[derive(Debug, Clone)]
pub struct TarItem {
    /// As stored (lossy UTF-8), e.g. `./opt/lucia/lucia.AgentHost`.
    pub path: String,
    pub link: Option<String>,
    pub kind: tar::EntryType,
    pub user: String,
    pub group: String,
    pub size: u64,
    pub mtime: u64,
    /// The raw header, for the numeric fields ([`TarItem::mode`], [`TarItem::uid`],
    /// [`TarItem::gid`]: errors when they are not numbers).
    pub header: tar::Header,
}

impl TarItem {
    pub fn mode(&self) -> Result<u32, String> {
        self.header.mode().map_err(|e| format!("tar header: {e}"))
    }
    pub fn uid(&self) -> Result<u64, String> {
        self.header.uid().map_err(|e| format!("tar header: {e}"))
    }
    pub fn gid(&self) -> Result<u64, String> {
        self.header.gid().map_err(|e| format!("tar header: {e}"))
    }
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Reads `size` bytes (at most `limit`) of a small member.
pub fn read_small(r: &mut dyn Read, size: u64, limit: u64, what: &str) -> Result<Vec<u8>, String> {
    if size > limit {
        return Err(format!(
            "{what} is {size} bytes, more than the {limit}-byte limit"
        ));
    }
    let mut v = Vec::with_capacity(size as usize);
    r.take(size)
        .read_to_end(&mut v)
        .map_err(|e| format!("reading {what}: {e}"))?;
    if (v.len() as u64) < size {
        return Err(format!("{what} is truncated"));
    }
    Ok(v)
}

/// The PAX records a listing cares about.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Pax {
    pub path: Option<String>,
    pub link: Option<String>,
    pub size: Option<u64>,
}

/// Parses PAX records (`<len> <key>=<value>\n`).
pub fn pax(data: &[u8]) -> Result<Pax, String> {
    let mut out = Pax::default();
    let mut rest = data;
    while !rest.is_empty() {
        let sp = rest
            .iter()
            .position(|&c| c == b' ')
            .ok_or("PAX record without length")?;
        let len: usize = std::str::from_utf8(&rest[..sp])
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or("PAX record length is not a number")?;
        if len <= sp + 1 || len > rest.len() {
            return Err("PAX record length out of range".into());
        }
        let rec = &rest[sp + 1..len];
        let rec = rec.strip_suffix(b"\n").unwrap_or(rec);
        if let Some(eq) = rec.iter().position(|&c| c == b'=') {
            let (k, v) = (&rec[..eq], &rec[eq + 1..]);
            match k {
                b"path" => out.path = Some(lossy(v)),
                b"linkpath" => out.link = Some(lossy(v)),
                b"size" => out.size = std::str::from_utf8(v).ok().and_then(|s| s.parse().ok()),
                _ => {}
            }
        }
        rest = &rest[len..];
    }
    Ok(out)
}

/// Walks a tar stream within the limits above, calling `f` for every real entry with the entry
/// (a reader over its content; [`tar::Entry::raw_file_position`] gives its offset).
///
/// Headers are read in the `tar` crate's raw mode: its own long-name and PAX handling buffers
/// them whole, whatever size a header claims (1 GiB from an 8 KB sparse file). Returns the
/// number of entries.
pub fn walk_tar<R: Read>(
    r: R,
    mut f: impl FnMut(TarItem, &mut tar::Entry<'_, R>) -> Result<(), String>,
) -> Result<usize, String> {
    let mut archive = tar::Archive::new(r);
    let entries = archive
        .entries()
        .map_err(|e| format!("reading tar: {e}"))?
        .raw(true);
    let (mut long_name, mut long_link, mut pax_size): (
        Option<String>,
        Option<String>,
        Option<u64>,
    ) = (None, None, None);
    let (mut count, mut meta_run, mut list_bytes) = (0usize, 0usize, 0usize);
    for entry in entries {
        let mut e = entry.map_err(|e| format!("reading tar: {e}"))?;
        let h = e.header().clone();
        let size = h.entry_size().map_err(|e| format!("tar header: {e}"))?;
        let kind = h.entry_type();
        let is_meta = kind.is_gnu_longname()
            || kind.is_gnu_longlink()
            || kind.is_pax_local_extensions()
            || kind.is_pax_global_extensions();
        if is_meta {
            meta_run += 1;
            if meta_run > MAX_META_RUN {
                return Err(format!(
                    "more than {MAX_META_RUN} long-name/PAX records before one entry"
                ));
            }
        }
        if kind.is_gnu_longname() || kind.is_gnu_longlink() {
            let mut v = read_small(&mut e, size, MAX_NAME, "a GNU long name")?;
            while v.last() == Some(&0) {
                v.pop();
            }
            if kind.is_gnu_longname() {
                long_name = Some(lossy(&v));
            } else {
                long_link = Some(lossy(&v));
            }
            continue;
        }
        if kind.is_pax_local_extensions() {
            let v = read_small(&mut e, size, MAX_NAME, "a PAX header")?;
            let p = pax(&v)?;
            long_name = p.path.or(long_name);
            long_link = p.link.or(long_link);
            pax_size = p.size;
            continue;
        }
        if kind.is_pax_global_extensions() {
            // Streamed past (bounded like a PAX header), never applied.
            read_small(&mut e, size, MAX_NAME, "a PAX global header")?;
            continue;
        }
        meta_run = 0;
        if let Some(s) = pax_size.take() {
            if s != size {
                return Err(
                    "PAX size records (members above 8 GiB) are not supported by inspect".into(),
                );
            }
        }
        count += 1;
        if count > MAX_ENTRIES {
            return Err(format!(
                "more than {MAX_ENTRIES} entries (the most inspect lists)"
            ));
        }
        let path = long_name.take().unwrap_or_else(|| lossy(&h.path_bytes()));
        let link = long_link
            .take()
            .or_else(|| h.link_name_bytes().map(|b| lossy(&b)));
        let item = TarItem {
            path,
            link,
            kind,
            user: h.username_bytes().map(lossy).unwrap_or_default(),
            group: h.groupname_bytes().map(lossy).unwrap_or_default(),
            size,
            mtime: h.mtime().unwrap_or(0),
            header: h,
        };
        list_bytes += item.path.len()
            + item.link.as_ref().map_or(0, String::len)
            + item.user.len()
            + item.group.len();
        if list_bytes > MAX_LIST_BYTES {
            return Err(format!(
                "the names in the archive add up to more than {} MiB (the most inspect lists)",
                MAX_LIST_BYTES >> 20
            ));
        }
        f(item, &mut e)?;
    }
    Ok(count)
}

/// A name or value read from an untrusted file, as shown on a terminal: control characters
/// escaped as `ls -b` does (`\n`, `\t`, `\r`, other C0/DEL/C1 as `\xHH`) and a backslash doubled,
/// so that a name cannot move the cursor, recolour the terminal or forge a line of output.
/// `--json` output is not escaped this way (JSON has its own exact escapes).
pub fn escape(s: &str) -> Cow<'_, str> {
    escape_inner(s, true)
}

/// Like [`escape`] for a line of a multi-line text (a script, a description): tabs and
/// backslashes stay as they are, other control characters are escaped.
pub fn escape_line(s: &str) -> Cow<'_, str> {
    escape_inner(s, false)
}

fn escape_inner(s: &str, names: bool) -> Cow<'_, str> {
    let needs = |c: char| (c.is_control() && (names || c != '\t')) || (names && c == '\\');
    if !s.chars().any(needs) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if !needs(c) {
            out.push(c);
            continue;
        }
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c => out.push_str(&format!("\\x{:02x}", c as u32)),
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_like_ls_b() {
        assert_eq!(escape("a\nb\tc\x1b[31m\\"), "a\\nb\\tc\\x1b[31m\\\\");
        assert_eq!(escape("plain/ü"), "plain/ü");
        assert_eq!(escape("\u{7f}\u{9b}"), "\\x7f\\x9b");
        assert_eq!(escape_line("\techo \\\r\x1b"), "\techo \\\\r\\x1b");
    }

    #[test]
    fn pax_records_are_bounded() {
        assert_eq!(pax(b"11 path=ab\n").unwrap().path.as_deref(), Some("ab"));
        assert!(pax(b"99 path=ab\n").is_err());
        assert!(pax(b"x path").is_err());
        assert!(pax(b"1 ").is_err());
    }

    fn header(kind: tar::EntryType, name: &str, size: u64) -> Vec<u8> {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_path(name).unwrap();
        h.set_size(size);
        h.set_mode(0o644);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        h.set_cksum();
        h.as_bytes().to_vec()
    }

    #[test]
    fn a_huge_long_name_is_refused_before_it_is_read() {
        let mut t = header(tar::EntryType::GNULongName, "././@LongLink", 1 << 30);
        t.extend(vec![0u8; 1024]);
        let err = walk_tar(&t[..], |_, _| Ok(())).unwrap_err();
        assert!(err.contains("limit"), "{err}");
    }

    #[test]
    fn entry_and_metadata_counts_are_bounded() {
        let mut t = Vec::new();
        for _ in 0..=MAX_META_RUN {
            t.extend(header(tar::EntryType::XGlobalHeader, "g", 0));
        }
        t.extend(header(tar::EntryType::Regular, "f", 0));
        let err = walk_tar(&t[..], |_, _| Ok(())).unwrap_err();
        assert!(err.contains("PAX records"), "{err}");

        let one = header(tar::EntryType::Regular, "f", 0);
        let many: Vec<u8> = one.repeat(MAX_ENTRIES + 1);
        let err = walk_tar(&many[..], |_, _| Ok(())).unwrap_err();
        assert!(err.contains("entries"), "{err}");
    }
}
