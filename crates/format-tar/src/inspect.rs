//! Reading a tarball back for `lucia-pkg inspect`: its entries with modes, owners and sizes.
//! The input is untrusted: malformed archives give errors, never panics.

use std::fmt;
use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::Path;

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

pub fn inspect(path: &Path) -> io::Result<TarReport> {
    let mut f = BufReader::new(File::open(path)?);
    let mut magic = [0u8; 6];
    let n = f.read(&mut magic)?;
    let codec = pkg_core::compress::sniff(&magic[..n]);
    let f = BufReader::new(File::open(path)?);
    let reader = pkg_core::compress::decoder(codec, f)?;
    let mut ar = tar::Archive::new(reader);
    let mut members = Vec::new();
    for e in ar.entries()? {
        let e = e?;
        let h = e.header();
        let kind = match h.entry_type() {
            tar::EntryType::Directory => "dir",
            tar::EntryType::Regular => "file",
            tar::EntryType::Symlink => "symlink",
            tar::EntryType::Link => "hardlink",
            _ => "other",
        };
        members.push(TarMember {
            path: String::from_utf8_lossy(&e.path_bytes()).into_owned(),
            kind: kind.to_string(),
            mode: format!(
                "{:04o}",
                h.mode()
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?
                    & 0o7777
            ),
            owner: format!(
                "{}:{}",
                h.username()
                    .ok()
                    .flatten()
                    .map(str::to_string)
                    .unwrap_or_else(|| h.uid().map(|u| u.to_string()).unwrap_or_default()),
                h.groupname()
                    .ok()
                    .flatten()
                    .map(str::to_string)
                    .unwrap_or_else(|| h.gid().map(|g| g.to_string()).unwrap_or_default()),
            ),
            size: h
                .size()
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?,
            mtime: h.mtime().unwrap_or(0),
            link: e
                .link_name_bytes()
                .map(|l| String::from_utf8_lossy(&l).into_owned()),
        });
    }
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
            self.top_dir.as_deref().unwrap_or("-")
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
                .map(|l| format!(" -> {l}"))
                .unwrap_or_default();
            writeln!(
                f,
                "{:>7} {} {:<12} {:>10} {}{link}",
                m.kind, m.mode, m.owner, m.size, m.path
            )?;
        }
        Ok(())
    }
}
