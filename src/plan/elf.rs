//! ELF machine detection from a file's first 64 bytes, so an x86_64 binary can never slip into an
//! arm64 package (or the reverse). Only the header is read: payload files stream, never load.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use object::elf::{FileHeader32, FileHeader64};
use object::read::elf::FileHeader;
use object::Endianness;

/// The ELF `e_machine` of `path`, or `None` if it is not an ELF file.
pub fn elf_machine(path: &Path) -> io::Result<Option<u16>> {
    let mut head = [0u8; 64];
    let mut f = File::open(path)?;
    let mut n = 0;
    while n < head.len() {
        match f.read(&mut head[n..])? {
            0 => break,
            k => n += k,
        }
    }
    let data = &head[..n];
    if data.len() < 20 || &data[..4] != b"\x7fELF" {
        return Ok(None);
    }
    // EI_CLASS: 1 = 32-bit, 2 = 64-bit.
    let machine = match data[4] {
        2 => FileHeader64::<Endianness>::parse(data)
            .ok()
            .and_then(|h| h.endian().ok().map(|e| h.e_machine(e).0)),
        1 => FileHeader32::<Endianness>::parse(data)
            .ok()
            .and_then(|h| h.endian().ok().map(|e| h.e_machine(e).0)),
        _ => None,
    };
    Ok(machine)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_the_running_binary_and_ignores_text() {
        let exe = std::env::current_exe().unwrap();
        let m = elf_machine(&exe).unwrap();
        #[cfg(target_arch = "x86_64")]
        assert_eq!(m, Some(62));
        #[cfg(target_arch = "aarch64")]
        assert_eq!(m, Some(183));
        let dir = tempfile::tempdir().unwrap();
        let t = dir.path().join("t");
        std::fs::write(&t, b"\x7fELF").unwrap();
        assert_eq!(elf_machine(&t).unwrap(), None);
        std::fs::write(&t, b"#!/bin/sh\n").unwrap();
        assert_eq!(elf_machine(&t).unwrap(), None);
    }
}
