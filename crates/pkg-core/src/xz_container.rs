//! The .xz container around independently compressed LZMA2 blocks (the xz file format 1.2.1,
//! tukaani.org/xz/xz-file-format.txt): stream header, blocks, index, stream footer.
//!
//! Written by hand because liblzma's Rust binding exposes only whole-stream encoders: a stream
//! spliced from cached blocks (see `segment.rs`) needs the block header, the index and the footer
//! written separately. dpkg refuses concatenated xz *streams* but reads one stream of many blocks,
//! which is what this writes. Every block uses the same filter chain (one LZMA2 filter with the
//! preset's dictionary) and a CRC64 check; block headers carry no size fields (optional in the
//! format), so a block's bytes depend only on its input. The CRCs come from liblzma itself.

use std::io::{self, Write};

/// Check ID 0x04: CRC64, as `xz` writes by default.
const CHECK_CRC64: u8 = 0x04;
/// Bytes of the CRC64 check after each block's data.
pub const CHECK_SIZE: u64 = 8;
const HEADER_MAGIC: [u8; 6] = [0xfd, b'7', b'z', b'X', b'Z', 0x00];
const FOOTER_MAGIC: [u8; 2] = [b'Y', b'Z'];
/// LZMA2's filter ID.
const FILTER_LZMA2: u8 = 0x21;
/// Size of the block header this module writes (size byte, flags, one filter, padding, CRC32).
pub const BLOCK_HEADER_SIZE: u64 = 12;

pub fn crc32(data: &[u8], crc: u32) -> u32 {
    // SAFETY: liblzma reads exactly `data.len()` bytes from a valid slice and keeps no pointer.
    unsafe { liblzma_sys::lzma_crc32(data.as_ptr(), data.len(), crc) }
}

pub fn crc64(data: &[u8], crc: u64) -> u64 {
    // SAFETY: as in `crc32`.
    unsafe { liblzma_sys::lzma_crc64(data.as_ptr(), data.len(), crc) }
}

/// LZMA2's one-byte dictionary-size property: the smallest encoded size ≥ `dict`
/// (sizes are 2^n and 3·2^(n-1), from 4 KiB up).
pub fn lzma2_dict_property(dict: u32) -> u8 {
    (0u8..40)
        .find(|&p| {
            let size = (2u64 | (p as u64 & 1)) << (p as u64 / 2 + 11);
            size >= dict as u64
        })
        .unwrap_or(40)
}

fn stream_flags() -> [u8; 2] {
    [0x00, CHECK_CRC64]
}

pub fn write_stream_header(w: &mut impl Write) -> io::Result<()> {
    w.write_all(&HEADER_MAGIC)?;
    w.write_all(&stream_flags())?;
    w.write_all(&crc32(&stream_flags(), 0).to_le_bytes())
}

/// A block header for one LZMA2 filter with the dictionary property `dict_prop`, no sizes.
pub fn block_header(dict_prop: u8) -> [u8; BLOCK_HEADER_SIZE as usize] {
    let mut h = [0u8; BLOCK_HEADER_SIZE as usize];
    h[0] = (BLOCK_HEADER_SIZE / 4 - 1) as u8; // encoded header size
    h[1] = 0x00; // one filter, no compressed or uncompressed size fields
    h[2] = FILTER_LZMA2;
    h[3] = 1; // size of the filter properties
    h[4] = dict_prop;
    // h[5..8]: header padding (zeros)
    let crc = crc32(&h[..8], 0);
    h[8..].copy_from_slice(&crc.to_le_bytes());
    h
}

/// Zero bytes after a block's compressed data so that header + data is a multiple of 4.
pub fn block_padding(header_and_data: u64) -> usize {
    ((4 - header_and_data % 4) % 4) as usize
}

/// One index record: a block's unpadded size (header + compressed data + check) and its
/// uncompressed size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockRecord {
    pub unpadded: u64,
    pub uncompressed: u64,
}

fn varint(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

/// Writes the index of `blocks` and the stream footer.
pub fn write_index_and_footer(w: &mut impl Write, blocks: &[BlockRecord]) -> io::Result<()> {
    let mut index = vec![0x00]; // index indicator
    varint(&mut index, blocks.len() as u64);
    for b in blocks {
        varint(&mut index, b.unpadded);
        varint(&mut index, b.uncompressed);
    }
    while index.len() % 4 != 0 {
        index.push(0);
    }
    let crc = crc32(&index, 0);
    index.extend_from_slice(&crc.to_le_bytes());
    w.write_all(&index)?;

    let backward = u32::try_from(index.len() / 4 - 1)
        .map_err(|_| io::Error::other("xz index larger than 16 GiB"))?;
    let mut tail = Vec::with_capacity(6);
    tail.extend_from_slice(&backward.to_le_bytes());
    tail.extend_from_slice(&stream_flags());
    w.write_all(&crc32(&tail, 0).to_le_bytes())?;
    w.write_all(&tail)?;
    w.write_all(&FOOTER_MAGIC)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crcs_match_the_standard_check_values() {
        // The "123456789" check values of CRC-32 (IEEE) and CRC-64/XZ (ECMA-182).
        assert_eq!(crc32(b"123456789", 0), 0xcbf4_3926);
        assert_eq!(crc64(b"123456789", 0), 0x995d_c9bb_df19_39fa);
        // Streaming in pieces gives the same value.
        assert_eq!(crc64(b"6789", crc64(b"12345", 0)), crc64(b"123456789", 0));
    }

    #[test]
    fn dictionary_properties() {
        assert_eq!(lzma2_dict_property(4096), 0);
        assert_eq!(lzma2_dict_property(8 << 20), 22); // preset 6
        assert_eq!(lzma2_dict_property(64 << 20), 28); // preset 9
        assert_eq!(lzma2_dict_property(3 << 20), 19); // 3 MiB is representable
        assert_eq!(lzma2_dict_property((3 << 20) + 1), 20);
    }

    #[test]
    fn an_empty_stream_is_what_xz_writes_for_empty_input() {
        let mut ours = Vec::new();
        write_stream_header(&mut ours).unwrap();
        write_index_and_footer(&mut ours, &[]).unwrap();
        let stream =
            liblzma::stream::Stream::new_easy_encoder(6, liblzma::stream::Check::Crc64).unwrap();
        let theirs = liblzma::write::XzEncoder::new_stream(Vec::new(), stream)
            .finish()
            .unwrap();
        assert_eq!(ours, theirs);
    }
}
