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

/// What `inspect` read, by format.
enum Report {
    Deb(format_deb::DebReport),
    Rpm(Box<format_rpm::RpmReport>),
    Tar(format_tar::TarReport),
    Oci(format_oci::OciReport),
}

/// What `lucia-pkg inspect` prints, and the failure to report after it (exit 1: an rpm whose
/// digests do not hold is listed, then fails).
pub struct Inspection {
    pub output: String,
    pub failure: Option<AppError>,
}

/// Reads an artifact back for `inspect`, choosing the reader by its content.
pub fn inspect(path: &Path) -> Result<(serde_json::Value, String), AppError> {
    match read_artifact(path)? {
        Report::Deb(r) => report(r),
        Report::Rpm(r) => report(r),
        Report::Tar(r) => report(r),
        Report::Oci(r) => report(r),
    }
}

/// `lucia-pkg inspect [--json]`: the report rendered once (JSON straight from the report, not
/// through a `Value`), and an rpm digest failure as exit 1.
pub fn inspect_output(path: &Path, json: bool) -> Result<Inspection, AppError> {
    fn render<T: serde::Serialize + std::fmt::Display>(
        r: &T,
        json: bool,
    ) -> Result<String, AppError> {
        if json {
            let mut s = serde_json::to_string_pretty(r).map_err(AppError::build)?;
            s.push('\n');
            Ok(s)
        } else {
            Ok(r.to_string())
        }
    }
    let (output, failure) = match read_artifact(path)? {
        Report::Deb(r) => (render(&r, json)?, None),
        Report::Tar(r) => (render(&r, json)?, None),
        Report::Oci(r) => (render(&r, json)?, None),
        Report::Rpm(r) => {
            let failure = (!r.digests.ok).then(|| {
                AppError::Build(format!(
                    "{}: the rpm's digests do NOT hold (header: {}, payload: {}); the file is \
                     corrupt, truncated or was modified",
                    pkg_core::limits::escape(&path.display().to_string()),
                    pkg_core::limits::escape(&r.digests.header_sha256),
                    pkg_core::limits::escape(&r.digests.payload_sha256)
                ))
            });
            (render(&*r, json)?, failure)
        }
    };
    Ok(Inspection { output, failure })
}

fn read_artifact(path: &Path) -> Result<Report, AppError> {
    // Error messages echo names read from the file: shown escaped (pkg_core::limits::escape).
    let bad = |what: &str, e: &dyn std::fmt::Display| {
        let e = e.to_string();
        let p = path.display().to_string();
        let m = if e.contains(&p) {
            format!("not a readable {what}: {e}")
        } else {
            format!("{p}: not a readable {what}: {e}")
        };
        AppError::Input(pkg_core::limits::escape(&m).into_owned())
    };
    // A digest that does not match is a failed check (exit 1), not bad input.
    let oci = |e: format_oci::OciError| match e {
        e @ format_oci::OciError::DigestMismatch { .. } => {
            AppError::Build(pkg_core::limits::escape(&e.to_string()).into_owned())
        }
        e => bad("OCI image", &e),
    };
    if path.is_dir() {
        return format_oci::inspect(path).map(Report::Oci).map_err(oci);
    }
    let mut magic = [0u8; 264];
    let n = std::fs::File::open(path)
        .and_then(|mut f| std::io::Read::read(&mut f, &mut magic))
        .map_err(|e| AppError::Input(format!("{}: {e}", path.display())))?;
    let head = &magic[..n];
    if head.starts_with(b"!<arch>\n") {
        return format_deb::inspect(path)
            .map(Report::Deb)
            .map_err(|e| bad("deb", &e));
    }
    if head.starts_with(&[0xed, 0xab, 0xee, 0xdb]) {
        return format_rpm::inspect(path)
            .map(|r| Report::Rpm(Box::new(r)))
            .map_err(|e| bad("rpm", &e));
    }
    // An uncompressed tar that opens as an oci-archive (index.json among its members) is read
    // as one: its errors are the image's, not a tarball listing.
    let is_plain_tar = n >= 262 && &head[257..262] == b"ustar";
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if is_plain_tar && name.ends_with(".tar") && format_oci::source::Source::open(path).is_ok() {
        return format_oci::inspect(path).map(Report::Oci).map_err(oci);
    }
    if is_plain_tar || pkg_core::compress::sniff(head) != pkg_core::compress::Codec::None {
        return format_tar::inspect(path)
            .map(Report::Tar)
            .map_err(|e| bad("tarball", &e));
    }
    Err(AppError::Input(format!("{}: not an artifact lucia-pkg can inspect (.tar.gz, .deb, .rpm, OCI layout or oci-archive)", pkg_core::limits::escape(&path.display().to_string()))))
}
