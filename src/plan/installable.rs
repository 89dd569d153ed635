//! Refusals that depend on which formats are produced: nothing builds that its installer cannot
//! install, and nothing vanishes or leaks silently in one format while the others ship it.
//!
//! - **Name lengths.** dpkg unpacks every file as `<name>.dpkg-new` (and keeps conffile variants
//!   as `<name>.dpkg-dist` / `.dpkg-old`); rpm unpacks as `<name>;<8 hex digits>`. A name that
//!   fits the filesystem's 255-byte limit can still fail there with "File name too long" after
//!   half the package is on disk, so each component is held to 255 minus the longest suffix the
//!   produced formats' installers add. install.sh uses a fixed-length temporary name and writes
//!   at most `<name>.dist`, which never binds tighter than dpkg or rpm.
//! - **OCI whiteouts.** In an image layer a file named `.wh.<x>` deletes `<x>` and `.wh..wh..opq`
//!   makes its directory opaque: such payload files would disappear from the image while deb,
//!   rpm and tar ship them.
//! - **Secrets.** Every text file installed under /etc (the env template, `[[files]]`, payload
//!   files placed there) passes the one secret detector.

use std::path::Path;

use pkg_core::plan::{Content, Entry, EntryKind};

use super::PlanError;
use crate::manifest::secrets;
use crate::manifest::Format;

/// The filesystem limit for one path component (NAME_MAX on Linux filesystems).
pub const NAME_MAX: usize = 255;
/// dpkg's `.dpkg-new` / `.dpkg-tmp` while unpacking.
const DPKG_SUFFIX: usize = ".dpkg-new".len();
/// dpkg's `.dpkg-dist` / `.dpkg-old` for conffiles.
const DPKG_CONFFILE_SUFFIX: usize = ".dpkg-dist".len();
/// rpm's `;` + 8 hex digits of the transaction id while unpacking.
const RPM_SUFFIX: usize = ";12345678".len();
/// install.sh writes a kept config's new template as `<name>.dist`.
const INSTALL_SH_SUFFIX: usize = ".dist".len();

/// The longest name component the produced formats' installers can unpack, for a plain entry
/// and for a config file.
pub fn name_limit(formats: &[Format], config: bool) -> usize {
    let mut suffix = 0;
    for f in formats {
        let s = match f {
            Format::Deb if config => DPKG_CONFFILE_SUFFIX,
            Format::Deb => DPKG_SUFFIX,
            Format::Rpm => RPM_SUFFIX,
            Format::Tar if config => INSTALL_SH_SUFFIX,
            Format::Tar | Format::Oci => 0,
        };
        suffix = suffix.max(s);
    }
    NAME_MAX - suffix
}

/// Where a refusal points: the payload file on disk, else the manifest.
fn origin<'a>(e: &'a Entry, manifest: &'a Path) -> &'a Path {
    match &e.kind {
        EntryKind::File {
            content: Content::Disk(p),
            ..
        } => p,
        _ => manifest,
    }
}

fn installers(formats: &[Format]) -> String {
    formats
        .iter()
        .filter(|f| matches!(f, Format::Deb | Format::Rpm | Format::Tar))
        .map(|f| match f {
            Format::Deb => "dpkg",
            Format::Rpm => "rpm",
            _ => "install.sh",
        })
        .collect::<Vec<_>>()
        .join(", ")
}

pub fn check(entries: &[Entry], formats: &[Format], manifest: &Path) -> Result<(), PlanError> {
    for e in entries {
        let name = e.path.rsplit('/').next().unwrap_or(&e.path);
        let limit = name_limit(formats, e.config);
        if name.len() > limit {
            return Err(PlanError::new(
                origin(e, manifest),
                format!(
                    "`{}`: the name is {} bytes; {} cannot unpack names longer than {limit} bytes (they add a temporary suffix)",
                    e.path,
                    name.len(),
                    installers(formats),
                ),
            )
            .help(format!("shorten the file name to at most {limit} bytes")));
        }
        if formats.contains(&Format::Oci) && name.starts_with(".wh.") {
            return Err(PlanError::new(
                origin(e, manifest),
                format!("`{}`: names starting with `.wh.` are whiteouts in OCI image layers (they delete files instead of shipping one)", e.path),
            )
            .help("rename the file, or drop \"oci\" from package.formats"));
        }
        // Files read from disk ([[files]], payload); the one inline config under /etc, the env
        // template, was scanned when the planner read it, naming the template.
        if e.path.starts_with("/etc/") {
            if let EntryKind::File {
                content: content @ Content::Disk(_),
                ..
            } = &e.kind
            {
                let bytes = read_head(content).map_err(|err| {
                    PlanError::new(origin(e, manifest), format!("cannot read: {err}"))
                })?;
                if let Some(f) = secrets::scan_text(&bytes) {
                    return Err(PlanError::new(
                        origin(e, manifest),
                        format!(
                            "`{}` line {}: `{}` looks like a real secret (the value is not shown)",
                            e.path, f.line, f.key
                        ),
                    )
                    .help("ship a placeholder such as <your-token> or an empty value; set the real value on the installed system"));
                }
            }
        }
    }
    Ok(())
}

/// The first MiB of a file: configuration files are small, and a secret in a larger file under
/// /etc would be in its first lines in practice. Bounded so a huge file cannot exhaust memory.
fn read_head(c: &Content) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut buf = Vec::new();
    c.open()?.take(1 << 20).read_to_end(&mut buf)?;
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_follow_the_installers() {
        assert_eq!(name_limit(&[Format::Oci], false), 255);
        assert_eq!(name_limit(&[Format::Tar], false), 255);
        assert_eq!(name_limit(&[Format::Tar], true), 250);
        assert_eq!(name_limit(&[Format::Deb], false), 246);
        assert_eq!(name_limit(&[Format::Rpm], true), 246);
        assert_eq!(name_limit(&Format::ALL, false), 246);
        assert_eq!(name_limit(&Format::ALL, true), 245);
    }
}
