//! The NAR wire primitives: every token is a little-endian u64 length, the bytes, and zero
//! padding to a multiple of 8. File contents use the same framing, streamed.

use std::io::{self, Read, Write};

const ZEROS: [u8; 8] = [0; 8];

fn padding(len: u64) -> &'static [u8] {
    &ZEROS[..((8 - len % 8) % 8) as usize]
}

/// Writes one length-prefixed, padded token.
pub(crate) fn token<W: Write + ?Sized>(w: &mut W, bytes: &[u8]) -> io::Result<()> {
    w.write_all(&(bytes.len() as u64).to_le_bytes())?;
    w.write_all(bytes)?;
    w.write_all(padding(bytes.len() as u64))
}

/// Writes several tokens in a row.
pub(crate) fn tokens<W: Write + ?Sized>(w: &mut W, list: &[&[u8]]) -> io::Result<()> {
    list.iter().try_for_each(|t| token(w, t))
}

/// Outcome of streaming file contents whose length was announced up front.
pub(crate) enum Streamed {
    Complete,
    /// The reader ended early or had more bytes than announced.
    LengthMismatch,
}

/// Writes `len` and then exactly `len` bytes from `r`, padded. Reading fewer or more than `len`
/// bytes (a file that changed under us) is reported, because the length was already written.
/// Read and write failures stay apart so the caller can name the file or the sink.
pub(crate) fn contents<W: Write + ?Sized, R: Read>(
    w: &mut W,
    len: u64,
    r: &mut R,
) -> Result<Streamed, ContentsError> {
    w.write_all(&len.to_le_bytes())
        .map_err(ContentsError::Write)?;
    // Small files get a small buffer: trees are mostly small files, a few large ones.
    let mut buf = vec![0u8; usize::try_from(len.clamp(1, 64 * 1024)).unwrap_or(64 * 1024)];
    let mut left = len;
    while left > 0 {
        let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        let n = match r.read(&mut buf[..want]) {
            Ok(0) => return Ok(Streamed::LengthMismatch),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(ContentsError::Read(e)),
        };
        w.write_all(&buf[..n]).map_err(ContentsError::Write)?;
        left -= n as u64;
    }
    // One more byte available means the file grew after we took its size.
    let mut probe = [0u8; 1];
    loop {
        match r.read(&mut probe) {
            Ok(0) => break,
            Ok(_) => return Ok(Streamed::LengthMismatch),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(ContentsError::Read(e)),
        }
    }
    w.write_all(padding(len)).map_err(ContentsError::Write)?;
    Ok(Streamed::Complete)
}

pub(crate) enum ContentsError {
    Read(io::Error),
    Write(io::Error),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_is_length_bytes_padding() {
        let mut v = Vec::new();
        token(&mut v, b"abc").unwrap();
        assert_eq!(v, [3, 0, 0, 0, 0, 0, 0, 0, b'a', b'b', b'c', 0, 0, 0, 0, 0]);
        v.clear();
        token(&mut v, b"").unwrap();
        assert_eq!(v, [0u8; 8]);
        v.clear();
        token(&mut v, b"12345678").unwrap();
        assert_eq!(v.len(), 16);
    }

    #[test]
    fn contents_detects_short_and_long_readers() {
        let mut v = Vec::new();
        assert!(matches!(
            contents(&mut v, 4, &mut &b"abc"[..]),
            Ok(Streamed::LengthMismatch)
        ));
        let mut v = Vec::new();
        assert!(matches!(
            contents(&mut v, 2, &mut &b"abc"[..]),
            Ok(Streamed::LengthMismatch)
        ));
        let mut v = Vec::new();
        assert!(matches!(
            contents(&mut v, 3, &mut &b"abc"[..]),
            Ok(Streamed::Complete)
        ));
        assert_eq!(v.len(), 16);
    }
}
