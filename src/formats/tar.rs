//! The tarball (`.tar.gz` with MANIFEST, README and install.sh): one per architecture.

use std::path::Path;

use pkg_core::compress::Codec;
use pkg_core::Plan;

use super::{first, main_name, Inspected, Output, PackageFormat, Probe, Written};
use crate::error::AppError;
use crate::manifest::Format;

pub struct Tar;

impl Tar {
    fn error(e: format_tar::TarballError) -> AppError {
        use format_tar::TarballError as E;
        let input = matches!(e, E::Render(_));
        AppError::writer("tar", input, e)
    }
}

impl PackageFormat for Tar {
    fn format(&self) -> Format {
        Format::Tar
    }

    fn codec(&self, plan: &Plan) -> Codec {
        plan.formats.tar.compression
    }

    fn validate(&self, plans: &[&Plan]) -> Result<(), AppError> {
        plans
            .iter()
            .try_for_each(|p| format_tar::validate(p).map_err(Self::error))
    }

    fn outputs(&self, plans: &[&Plan]) -> Vec<Output> {
        plans
            .first()
            .map(|p| vec![Output::file(format_tar::file_name(p), "tar")])
            .unwrap_or_default()
    }

    fn write(&self, plans: &[&Plan], dir: &Path, outputs: &[Output]) -> Result<Written, AppError> {
        let (plan, name) = (first(plans)?, main_name(outputs)?);
        crate::output::write_atomic(&dir.join(name), |w| {
            format_tar::write_tarball(plan, w)
                .map(|_| ())
                .map_err(Self::error)
        })?;
        Ok(Written::Package {
            format: Format::Tar,
            name: name.to_string(),
        })
    }

    fn inspect(&self, probe: &Probe) -> Option<Result<Inspected, AppError>> {
        let compressed = pkg_core::compress::sniff(probe.head) != Codec::None;
        if probe.is_dir || !(probe.is_plain_tar() || compressed) {
            return None;
        }
        Some(match format_tar::inspect(probe.path) {
            Ok(r) => Inspected::new(&r, None),
            Err(e) => Err(probe.unreadable("tarball", &e)),
        })
    }

    fn is_fallback_reader(&self) -> bool {
        true
    }
}
