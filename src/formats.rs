//! The one place that knows every format: it dispatches a plan to its writer crate. The writers
//! themselves know nothing about each other.

use std::io::Write;
use std::path::Path;

use pkg_core::Plan;

use crate::error::AppError;
use crate::manifest::Format;

/// Formats this build of lucia-pkg can write.
pub fn implemented(f: Format) -> bool {
    matches!(f, Format::Tar | Format::Deb | Format::Rpm | Format::Oci)
}

/// File name of a single-file artifact (tar, deb, rpm), or the OCI layout directory name.
pub fn file_name(f: Format, plan: &Plan) -> String {
    match f {
        Format::Tar => format_tar::file_name(plan),
        Format::Deb => format_deb::file_name(plan),
        Format::Rpm => format_rpm::file_name(plan),
        Format::Oci => format_oci::layout_dir_name(plan),
    }
}

/// Streams one single-file artifact.
pub fn write_file(f: Format, plan: &Plan, out: &mut dyn Write) -> Result<(), AppError> {
    match f {
        Format::Tar => format_tar::write_tarball(plan, out)
            .map(|_| ())
            .map_err(AppError::build),
        Format::Deb => format_deb::write_deb(plan, out)
            .map(|_| ())
            .map_err(AppError::build),
        Format::Rpm => format_rpm::write_rpm(plan, out)
            .map(|_| ())
            .map_err(|e| match e {
                // A signing key the user configured but this binary cannot use is an input problem.
                e @ format_rpm::RpmError::SigningUnavailable { .. } => {
                    AppError::Input(e.to_string())
                }
                e => AppError::build(e),
            }),
        Format::Oci => Err(AppError::Build(
            "the OCI image is written as a layout, not a single file".into(),
        )),
    }
}

/// Writes the multi-arch OCI layout into `dir`; returns the index digest.
pub fn write_oci_layout(plans: &[Plan], dir: &Path) -> Result<String, AppError> {
    format_oci::write_layout(plans, dir)
        .map(|s| s.index_digest)
        .map_err(AppError::build)
}

/// Streams the oci-archive of a written layout.
pub fn write_oci_archive(layout: &Path, out: &mut dyn Write) -> Result<(), AppError> {
    format_oci::write_archive(layout, out)
        .map(|_| ())
        .map_err(AppError::build)
}

pub fn oci_archive_name(plan: &Plan) -> String {
    format_oci::archive_name(plan)
}

fn report<T: serde::Serialize + std::fmt::Display>(
    r: T,
) -> Result<(serde_json::Value, String), AppError> {
    let json = serde_json::to_value(&r).map_err(AppError::build)?;
    Ok((json, r.to_string()))
}

/// Reads an artifact back for `inspect`, choosing the reader by its content.
pub fn inspect(path: &Path) -> Result<(serde_json::Value, String), AppError> {
    let bad = |what: &str, e: &dyn std::fmt::Display| {
        let e = e.to_string();
        let p = path.display().to_string();
        if e.contains(&p) {
            AppError::Input(format!("not a readable {what}: {e}"))
        } else {
            AppError::Input(format!("{p}: not a readable {what}: {e}"))
        }
    };
    if path.is_dir() {
        return format_oci::inspect(path)
            .map_err(|e| bad("OCI layout", &e))
            .and_then(report);
    }
    let mut magic = [0u8; 264];
    let n = std::fs::File::open(path)
        .and_then(|mut f| std::io::Read::read(&mut f, &mut magic))
        .map_err(|e| AppError::Input(format!("{}: {e}", path.display())))?;
    let head = &magic[..n];
    if head.starts_with(b"!<arch>\n") {
        return format_deb::inspect(path)
            .map_err(|e| bad("deb", &e))
            .and_then(report);
    }
    if head.starts_with(&[0xed, 0xab, 0xee, 0xdb]) {
        return format_rpm::inspect(path)
            .map_err(|e| bad("rpm", &e))
            .and_then(report);
    }
    // An uncompressed tar whose members include `oci-layout` is an oci-archive.
    let is_plain_tar = n >= 262 && &head[257..262] == b"ustar";
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if is_plain_tar && name.ends_with(".tar") {
        if let Ok(r) = format_oci::inspect(path) {
            return report(r);
        }
    }
    if is_plain_tar || pkg_core::compress::sniff(head) != pkg_core::compress::Codec::None {
        return format_tar::inspect(path)
            .map_err(|e| bad("tarball", &e))
            .and_then(report);
    }
    Err(AppError::Input(format!("{}: not an artifact lucia-pkg can inspect (.tar.gz, .deb, .rpm, OCI layout or oci-archive)", path.display())))
}
