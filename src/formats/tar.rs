//! The tarball (`.tar.gz` with MANIFEST, README and install.sh): one per architecture.

use std::path::Path;

use pkg_core::compress::Codec;
use pkg_core::Plan;

use super::{
    single_file, validate_each, write_single, Inspected, Output, PackageFormat, Probe, Segments,
    Written,
};
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
        validate_each(plans, format_tar::validate, Self::error)
    }

    fn outputs(&self, plans: &[&Plan]) -> Vec<Output> {
        single_file(plans, format_tar::file_name, "tar")
    }

    fn write(
        &self,
        plans: &[&Plan],
        dir: &Path,
        outputs: &[Output],
        segments: Segments,
    ) -> Result<Written, AppError> {
        let write = |plan: &Plan, w: &mut dyn std::io::Write| {
            format_tar::write_tarball_with(plan, w, segments.clone()).map(|_| ())
        };
        write_single(Format::Tar, plans, dir, outputs, write, Self::error)
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
