//! `lucia-pkg inspect`: reads an artifact back with its format's reader, chosen by the file's
//! content (magic bytes), never by its name alone. Each format's reader lives in its descriptor
//! ([`super::PackageFormat::inspect`]); this file only opens the file and asks them in turn.

use std::path::Path;

use crate::error::AppError;

/// What one reader made of an artifact: its report, ready to print either way, and the failure
/// to report after printing it (exit 1: an rpm whose digests do not hold is listed, then fails).
pub struct Inspected {
    /// The report as a JSON value (`verify` compares two of them).
    pub value: serde_json::Value,
    /// The report serialized straight from its type (field order as declared), for `--json`.
    pub json: String,
    /// The human-readable listing.
    pub text: String,
    pub failure: Option<AppError>,
}

impl Inspected {
    /// Renders a reader's report once each way.
    pub fn new<T: serde::Serialize + std::fmt::Display>(
        report: &T,
        failure: Option<AppError>,
    ) -> Result<Inspected, AppError> {
        let mut json = serde_json::to_string_pretty(report).map_err(AppError::build)?;
        json.push('\n');
        Ok(Inspected {
            value: serde_json::to_value(report).map_err(AppError::build)?,
            json,
            text: report.to_string(),
            failure,
        })
    }
}

/// What the reader is given: the path, and the first bytes of the file (empty for a directory).
pub struct Probe<'a> {
    pub path: &'a Path,
    pub head: &'a [u8],
    pub is_dir: bool,
}

impl Probe<'_> {
    /// The file name, for readers that also look at the extension.
    pub fn file_name(&self) -> String {
        self.path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    }
    /// An uncompressed POSIX/GNU tar (`ustar` magic at offset 257).
    pub fn is_plain_tar(&self) -> bool {
        self.head.len() >= 262 && &self.head[257..262] == b"ustar"
    }
    /// A reader's error for a file that is not a readable `what`: bad input (exit 2), with the
    /// names read from the file escaped (pkg_core::limits::escape).
    pub fn unreadable(&self, what: &str, e: &dyn std::fmt::Display) -> AppError {
        let e = e.to_string();
        let p = self.path.display().to_string();
        let m = if e.contains(&p) {
            format!("not a readable {what}: {e}")
        } else {
            format!("{p}: not a readable {what}: {e}")
        };
        AppError::Input(pkg_core::limits::escape(&m).into_owned())
    }
}

/// Reads an artifact back: the first reader in [`super::REGISTRY`] that recognizes it.
pub fn inspect(path: &Path) -> Result<Inspected, AppError> {
    let mut magic = [0u8; 264];
    let is_dir = path.is_dir();
    let n = if is_dir {
        0
    } else {
        std::fs::File::open(path)
            .and_then(|mut f| std::io::Read::read(&mut f, &mut magic))
            .map_err(|e| AppError::Input(format!("{}: {e}", path.display())))?
    };
    let probe = Probe {
        path,
        head: &magic[..n],
        is_dir,
    };
    for format in super::inspect_order() {
        if let Some(result) = format.inspect(&probe) {
            return result;
        }
    }
    Err(AppError::Input(format!(
        "{}: not an artifact lucia-pkg can inspect (.tar.gz, .deb, .rpm, OCI layout or oci-archive)",
        pkg_core::limits::escape(&path.display().to_string())
    )))
}
