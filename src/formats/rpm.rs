//! The RPM package: one `.rpm` per architecture.

use std::path::Path;

use pkg_core::compress::Codec;
use pkg_core::Plan;

use super::{
    single_file, validate_each, write_single, Inspected, Output, PackageFormat, Probe, Segments,
    Written,
};
use crate::error::AppError;
use crate::manifest::Format;

pub struct Rpm;

/// The rpm lead's magic bytes.
const MAGIC: [u8; 4] = [0xed, 0xab, 0xee, 0xdb];

impl Rpm {
    fn error(e: format_rpm::RpmError) -> AppError {
        use format_rpm::RpmError as E;
        // What the manifest or the configured key must change; the rest is a failed build.
        let input = matches!(
            e,
            E::Dependency { .. }
                | E::SourceDateInFuture { .. }
                | E::SourceDateTooLarge { .. }
                | E::SigningUnavailable { .. }
                | E::Signing { .. }
                | E::TooLarge
                | E::Render(_)
                | E::UnsupportedCompression(_)
        );
        AppError::writer("rpm", input, e)
    }
}

impl PackageFormat for Rpm {
    fn format(&self) -> Format {
        Format::Rpm
    }

    fn codec(&self, plan: &Plan) -> Codec {
        plan.formats.rpm.compression
    }

    fn validate(&self, plans: &[&Plan]) -> Result<(), AppError> {
        validate_each(plans, format_rpm::validate, Self::error)
    }

    fn outputs(&self, plans: &[&Plan]) -> Vec<Output> {
        single_file(plans, format_rpm::file_name, "rpm")
    }

    fn write(
        &self,
        plans: &[&Plan],
        dir: &Path,
        outputs: &[Output],
        segments: Segments,
    ) -> Result<Written, AppError> {
        let write = |plan: &Plan, w: &mut dyn std::io::Write| {
            format_rpm::write_rpm_with(plan, w, segments.clone()).map(|_| ())
        };
        write_single(Format::Rpm, plans, dir, outputs, write, Self::error)
    }

    fn inspect(&self, probe: &Probe) -> Option<Result<Inspected, AppError>> {
        if !probe.head.starts_with(&MAGIC) {
            return None;
        }
        let report = match format_rpm::inspect(probe.path) {
            Ok(r) => r,
            Err(e) => return Some(Err(probe.unreadable("rpm", &e))),
        };
        // Listed, then failed (exit 1): the digests of a corrupt package do not hold.
        let failure = (!report.digests.ok).then(|| {
            AppError::Build(format!(
                "{}: the rpm's digests do NOT hold (header: {}, payload: {}); the file is \
                 corrupt, truncated or was modified",
                pkg_core::limits::escape(&probe.path.display().to_string()),
                pkg_core::limits::escape(&report.digests.header_sha256),
                pkg_core::limits::escape(&report.digests.payload_sha256)
            ))
        });
        Some(Inspected::new(&report, failure))
    }
}
