//! Reading a tarball back for `lucia-pkg inspect`: its entries with modes, owners and sizes.
//! The input is untrusted: malformed archives give errors, never panics, and the reading stays
//! within [`pkg_core::limits`]; names are shown escaped ([`pkg_core::limits::escape`]).

use std::fmt;
use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::Path;

use pkg_core::limits::{self, escape};
use serde::Serialize;

#[derive(Debug, Serialize)]
pub struct TarMember {
    pub path: String,
    pub kind: String,
    pub mode: String,
    pub owner: String,
    pub size: u64,
    pub mtime: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct TarReport {
    pub compression: String,
    pub top_dir: Option<String>,
    pub has_install_script: bool,
    pub members: Vec<TarMember>,
}

/// Reads a tarball (none, gzip, xz or zstd) within [`pkg_core::limits`]: at most
/// [`pkg_core::limits::MAX_ENTRIES`] entries, bounded long names and PAX headers, bounded decoder
/// memory. Contents are streamed past, never stored.
pub fn inspect(path: &Path) -> io::Result<TarReport> {
    let mut f = BufReader::new(File::open(path)?);
    let mut magic = [0u8; 6];
    let n = f.read(&mut magic)?;
    let codec = pkg_core::compress::sniff(&magic[..n]);
    let f = BufReader::new(File::open(path)?);
    let reader = limits::decoder(codec, f)?;
    let mut members = Vec::new();
    limits::walk_tar(reader, |item, _| {
        let kind = match item.kind {
            tar::EntryType::Directory => "dir",
            tar::EntryType::Regular => "file",
            tar::EntryType::Symlink => "symlink",
            tar::EntryType::Link => "hardlink",
            _ => "other",
        };
        let (mode, uid, gid) = (item.mode()?, item.uid()?, item.gid()?);
        let user = if item.user.is_empty() {
            uid.to_string()
        } else {
            item.user
        };
        let group = if item.group.is_empty() {
            gid.to_string()
        } else {
            item.group
        };
        members.push(TarMember {
            path: item.path,
            kind: kind.to_string(),
            mode: format!("{:04o}", mode & 0o7777),
            owner: format!("{user}:{group}"),
            size: item.size,
            mtime: item.mtime,
            link: item.link,
        });
        Ok(())
    })
    .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
    let top_dir = members
        .first()
        .map(|m| m.path.trim_end_matches('/').to_string());
    let has_install_script = members.iter().any(|m| m.path.ends_with("/install.sh"));
    Ok(TarReport {
        compression: codec.name().into(),
        top_dir,
        has_install_script,
        members,
    })
}

impl fmt::Display for TarReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "tarball ({} compressed), top directory {}",
            self.compression,
            escape(self.top_dir.as_deref().unwrap_or("-"))
        )?;
        writeln!(
            f,
            "install.sh: {}",
            if self.has_install_script { "yes" } else { "no" }
        )?;
        for m in &self.members {
            let link = m
                .link
                .as_ref()
                .map(|l| format!(" -> {}", escape(l)))
                .unwrap_or_default();
            writeln!(
                f,
                "{:>7} {} {:<12} {:>10} {}{link}",
                m.kind,
                m.mode,
                escape(&m.owner),
                m.size,
                escape(&m.path)
            )?;
        }
        Ok(())
    }
}
