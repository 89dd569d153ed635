//! Streams `data.tar`: the `./` root, then every entry in path order, hashing each regular file
//! with MD5 as it passes (for `md5sums`) and summing the installed size, so no payload file is
//! read twice or held in memory.

use std::borrow::Cow;
use std::io::Write;

use md5::{Digest, Md5};
use pkg_core::determinism::DIR_MODE;
use pkg_core::digest::HashingReader;
use pkg_core::segment::Splice;
use pkg_core::tar_stream::{TarError, TarStream};
use pkg_core::{Content, Entry, EntryKind, Owner};

use crate::DebError;

/// What streaming the data archive learned.
pub(crate) struct DataOutcome {
    /// `(path without leading slash, md5)` of every regular file.
    pub md5sums: Vec<(String, [u8; 16])>,
    /// dpkg-gencontrol's estimate: file sizes rounded up to KiB, plus 1 KiB per other inode.
    pub installed_kib: u64,
}

pub(crate) fn write_data<W: Write + Splice>(
    entries: &[Cow<'_, Entry>],
    root: Option<&Entry>,
    tar: &mut TarStream<W>,
) -> Result<DataOutcome, DebError> {
    let (root_mode, root_owner) = match root {
        Some(r) => (r.mode, r.owner.clone()),
        None => (DIR_MODE, Owner::root()),
    };
    tar.append_dir("./", root_mode, &root_owner)
        .map_err(|e| DebError::io("writing data.tar", e))?;
    let mut md5sums = Vec::new();
    let mut installed_kib = 0u64;
    for e in entries {
        let name = format!("./{}", e.rel_path());
        match &e.kind {
            EntryKind::File {
                content,
                size,
                sha256,
            } => {
                let reader = content.open().map_err(|err| DebError::io(&e.path, err))?;
                let mut hashing: HashingReader<_, Md5> = HashingReader::new(reader);
                tar.append_file(&name, e.mode, &e.owner, *size, Some(sha256), &mut hashing).map_err(|err| match err {
                    TarError::SizeChanged { planned, actual, .. } => DebError::Io {
                        context: source_name(content, &e.path),
                        source: std::io::Error::other(format!(
                            "size changed during the build (planned {planned} bytes, read {actual}); rebuild when the payload is stable"
                        )),
                    },
                    TarError::Io { source, .. } => DebError::io(&e.path, source),
                })?;
                md5sums.push((e.rel_path().to_string(), hashing.hasher.finalize().into()));
                installed_kib += size.div_ceil(1024);
            }
            _ => {
                tar.append_entry("./", e)
                    .map_err(|err| DebError::io(&e.path, std::io::Error::from(err)))?;
                installed_kib += 1;
            }
        }
    }
    Ok(DataOutcome {
        md5sums,
        installed_kib,
    })
}

fn source_name(c: &Content, path: &str) -> String {
    match c {
        Content::Disk(p) => p.display().to_string(),
        Content::Inline(_) => path.to_string(),
    }
}
