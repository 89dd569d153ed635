//! The one place that knows every format: it dispatches a plan to its writer crate. The writers
//! themselves know nothing about each other.

use std::io::Write;
use std::path::Path;

use pkg_core::Plan;

use crate::error::AppError;
use crate::manifest::Format;

/// Formats this build of lucia-pkg can write.
pub fn implemented(f: Format) -> bool {
    matches!(f, Format::Tar)
}

/// File name of a single-file artifact (tar, deb, rpm) for this plan.
pub fn file_name(f: Format, plan: &Plan) -> String {
    match f {
        Format::Tar => format_tar::file_name(plan),
        Format::Deb => format!("{}_{}_{}.deb", plan.meta.name, plan.meta.version.file_version(), plan.arch.deb()),
        Format::Rpm => format!("{}-{}.{}.rpm", plan.meta.name, plan.meta.version.file_version(), plan.arch.rpm()),
        Format::Oci => format!("{}-{}-oci", plan.meta.name, plan.meta.version.upstream),
    }
}

/// Streams one single-file artifact.
pub fn write_file(f: Format, plan: &Plan, out: &mut dyn Write) -> Result<(), AppError> {
    match f {
        Format::Tar => format_tar::write_tarball(plan, out).map(|_| ()).map_err(AppError::build),
        other => Err(AppError::Input(format!("the {} writer is not part of this build of lucia-pkg", other.as_str()))),
    }
}

/// Writes the multi-arch OCI layout into `dir` (a fresh temp dir) and the archive beside it.
pub fn write_oci(_plans: &[Plan], _dir: &Path) -> Result<(), AppError> {
    Err(AppError::Input("the oci writer is not part of this build of lucia-pkg".into()))
}

/// Reads an artifact back for `inspect`, choosing the reader by content and name.
pub fn inspect(path: &Path) -> Result<(serde_json::Value, String), AppError> {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    if name.contains(".tar") && !name.ends_with("-oci.tar") {
        let r = format_tar::inspect(path).map_err(|e| AppError::Input(format!("{}: not a readable tarball: {e}", path.display())))?;
        let json = serde_json::to_value(&r).map_err(AppError::build)?;
        return Ok((json, r.to_string()));
    }
    Err(AppError::Input(format!("{}: not an artifact lucia-pkg can inspect (.tar.gz, .deb, .rpm, OCI layout or -oci.tar)", path.display())))
}
