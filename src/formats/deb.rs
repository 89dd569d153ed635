//! The Debian package: one `.deb` per architecture.

use std::path::Path;

use pkg_core::compress::Codec;
use pkg_core::Plan;

use super::{
    single_file, validate_each, write_single, Inspected, Output, PackageFormat, Probe, Segments,
    Written,
};
use crate::error::AppError;
use crate::manifest::Format;

pub struct Deb;

impl Deb {
    fn error(e: format_deb::DebError) -> AppError {
        let input = matches!(e, format_deb::DebError::Invalid(_));
        AppError::writer("deb", input, e)
    }
}

impl PackageFormat for Deb {
    fn format(&self) -> Format {
        Format::Deb
    }

    fn codec(&self, plan: &Plan) -> Codec {
        plan.formats.deb.compression
    }

    fn validate(&self, plans: &[&Plan]) -> Result<(), AppError> {
        validate_each(plans, format_deb::validate, Self::error)
    }

    fn outputs(&self, plans: &[&Plan]) -> Vec<Output> {
        single_file(plans, format_deb::file_name, "deb")
    }

    fn write(
        &self,
        plans: &[&Plan],
        dir: &Path,
        outputs: &[Output],
        segments: Segments,
    ) -> Result<Written, AppError> {
        let write = |plan: &Plan, w: &mut dyn std::io::Write| {
            format_deb::write_deb_with(plan, w, segments.clone()).map(|_| ())
        };
        write_single(Format::Deb, plans, dir, outputs, write, Self::error)
    }

    fn inspect(&self, probe: &Probe) -> Option<Result<Inspected, AppError>> {
        if !probe.head.starts_with(b"!<arch>\n") {
            return None;
        }
        Some(match format_deb::inspect(probe.path) {
            Ok(r) => Inspected::new(&r, None),
            Err(e) => Err(probe.unreadable("deb", &e)),
        })
    }
}
