//! A minimal, bounded reader of the `ar` container for untrusted .deb files.
//!
//! The `ar` crate's reader allocates a GNU name table of whatever size a header claims and
//! indexes it without bounds checks, which is fine for trusted archives but not for `inspect`.
//! A .deb only uses the plain common format (names ≤ 16 bytes), so this reader accepts exactly
//! that: it parses the 60-byte headers strictly and records member offsets; contents are read
//! later through `Read::take`, never buffered whole.

use std::io::{Read, Seek, SeekFrom};

/// More members than any real .deb has (3, plus a few signatures); bounds the header list.
const MAX_MEMBERS: usize = 64;

#[derive(Debug, Clone)]
pub(crate) struct Member {
    pub name: String,
    pub offset: u64,
    pub size: u64,
    pub mtime: u64,
    pub uid: u64,
    pub gid: u64,
    pub mode: u32,
}

fn field(bytes: &[u8], radix: u32, what: &str) -> Result<u64, String> {
    let s = std::str::from_utf8(bytes)
        .map_err(|_| format!("ar header: {what} is not ASCII"))?
        .trim_end_matches(' ');
    if s.is_empty() {
        return Ok(0);
    }
    u64::from_str_radix(s, radix).map_err(|_| format!("ar header: {what} `{s}` is not a number"))
}

/// Lists the members of the ar archive in `r` (whose total length is `len`).
pub(crate) fn members<R: Read + Seek>(r: &mut R, len: u64) -> Result<Vec<Member>, String> {
    let mut magic = [0u8; 8];
    r.read_exact(&mut magic)
        .map_err(|_| "too short for an ar archive".to_string())?;
    if &magic != b"!<arch>\n" {
        return Err("missing the `!<arch>` signature (not an ar archive)".into());
    }
    let mut pos = 8u64;
    let mut out = Vec::new();
    while pos < len {
        if out.len() >= MAX_MEMBERS {
            return Err(format!("more than {MAX_MEMBERS} ar members"));
        }
        if len - pos < 60 {
            return Err(format!("truncated ar header at offset {pos}"));
        }
        let mut h = [0u8; 60];
        r.read_exact(&mut h)
            .map_err(|e| format!("reading ar header at offset {pos}: {e}"))?;
        if &h[58..60] != b"`\n" {
            return Err(format!(
                "corrupt ar header at offset {pos} (bad terminator)"
            ));
        }
        let raw_name = std::str::from_utf8(&h[0..16])
            .map_err(|_| format!("ar member name at offset {pos} is not ASCII"))?;
        let name = raw_name.trim_end_matches(' ');
        // GNU ar terminates names with `/`; dpkg accepts both spellings.
        let name = name.strip_suffix('/').unwrap_or(name).to_string();
        if name.is_empty() || name.starts_with('/') || name.starts_with("#1/") {
            return Err(format!(
                "unsupported ar member name `{raw_name}` (a .deb uses plain names)"
            ));
        }
        let mtime = field(&h[16..28], 10, "mtime")?;
        let uid = field(&h[28..34], 10, "uid")?;
        let gid = field(&h[34..40], 10, "gid")?;
        let mode = field(&h[40..48], 8, "mode")? as u32;
        let size = field(&h[48..58], 10, "size")?;
        let offset = pos + 60;
        if size > len - offset {
            return Err(format!(
                "ar member `{name}` claims {size} bytes but only {} remain",
                len - offset
            ));
        }
        out.push(Member {
            name,
            offset,
            size,
            mtime,
            uid,
            gid,
            mode,
        });
        // Members are padded to an even length.
        pos = offset + size + (size % 2);
        r.seek(SeekFrom::Start(pos.min(len)))
            .map_err(|e| format!("seeking in the ar archive: {e}"))?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn ar_of(members: &[(&str, &[u8])]) -> Vec<u8> {
        let mut b = ar::Builder::new(Vec::new());
        for (n, d) in members {
            b.append(&ar::Header::new(n.as_bytes().to_vec(), d.len() as u64), *d)
                .unwrap();
        }
        b.into_inner().unwrap()
    }

    #[test]
    fn reads_what_the_ar_crate_writes() {
        let a = ar_of(&[("debian-binary", b"2.0\n"), ("x", b"abc")]);
        let m = members(&mut Cursor::new(&a), a.len() as u64).unwrap();
        assert_eq!(m.len(), 2);
        assert_eq!((m[1].name.as_str(), m[1].size), ("x", 3));
        assert_eq!(&a[m[1].offset as usize..][..3], b"abc");
    }

    #[test]
    fn refuses_garbage_without_panicking() {
        let good = ar_of(&[("debian-binary", b"2.0\n")]);
        for n in 0..good.len() {
            let cut = &good[..n];
            let _ = members(&mut Cursor::new(cut), cut.len() as u64);
        }
        let mut lying = good.clone();
        lying[8 + 48..8 + 58].copy_from_slice(b"9999999999");
        assert!(members(&mut Cursor::new(&lying), lying.len() as u64).is_err());
        let mut bad = good.clone();
        bad[8 + 48] = b'x';
        assert!(members(&mut Cursor::new(&bad), bad.len() as u64).is_err());
        assert!(members(&mut Cursor::new(b"hello"), 5).is_err());
    }
}
