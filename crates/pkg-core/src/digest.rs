//! Hashing helpers: a writer/reader adaptor that hashes bytes as they stream through, so no
//! artifact or payload file ever has to be held in memory to learn its digest.

use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::Path;

/// The sha256 of `bytes` held in memory (files and streams: [`sha256_file`], [`HashingWriter`]).
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// [`sha256`] as lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(sha256(bytes))
}

/// Streams a file through sha256; returns (digest, size).
pub fn sha256_file(path: &Path) -> io::Result<([u8; 32], u64)> {
    let mut f = File::open(path)?;
    let mut h = Sha256::new();
    let n = io::copy(&mut f, &mut HashWriter::new(&mut h))?;
    Ok((h.finalize().into(), n))
}

/// Forwards writes into a hasher.
pub struct HashWriter<'a, H: Digest> {
    h: &'a mut H,
}

impl<'a, H: Digest> HashWriter<'a, H> {
    pub fn new(h: &'a mut H) -> Self {
        HashWriter { h }
    }
}

impl<H: Digest> Write for HashWriter<'_, H> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.h.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A writer that counts and sha256-hashes everything written to the inner writer.
pub struct HashingWriter<W: Write> {
    inner: W,
    hasher: Sha256,
    count: u64,
}

impl<W: Write> HashingWriter<W> {
    pub fn new(inner: W) -> Self {
        HashingWriter {
            inner,
            hasher: Sha256::new(),
            count: 0,
        }
    }
    /// Returns the inner writer, the sha256 and the byte count.
    pub fn finish(self) -> (W, [u8; 32], u64) {
        (self.inner, self.hasher.finalize().into(), self.count)
    }
    pub fn get_mut(&mut self) -> &mut W {
        &mut self.inner
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// A reader that hashes what is read through it with any digest (md5 for deb, sha256 elsewhere).
pub struct HashingReader<R: Read, H: Digest> {
    inner: R,
    pub hasher: H,
    pub count: u64,
}

impl<R: Read, H: Digest> HashingReader<R, H> {
    pub fn new(inner: R) -> Self {
        HashingReader {
            inner,
            hasher: H::new(),
            count: 0,
        }
    }
}

impl<R: Read, H: Digest> Read for HashingReader<R, H> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
}
