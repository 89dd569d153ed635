//! The Debian package: one `.deb` per architecture.

use std::path::Path;

use pkg_core::compress::Codec;
use pkg_core::Plan;

use super::{first, main_name, Inspected, Output, PackageFormat, Probe, Written};
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
        plans
            .iter()
            .try_for_each(|p| format_deb::validate(p).map_err(Self::error))
    }

    fn outputs(&self, plans: &[&Plan]) -> Vec<Output> {
        plans
            .first()
            .map(|p| vec![Output::file(format_deb::file_name(p), "deb")])
            .unwrap_or_default()
    }

    fn write(&self, plans: &[&Plan], dir: &Path, outputs: &[Output]) -> Result<Written, AppError> {
        let (plan, name) = (first(plans)?, main_name(outputs)?);
        crate::output::write_atomic(&dir.join(name), |w| {
            format_deb::write_deb(plan, w)
                .map(|_| ())
                .map_err(Self::error)
        })?;
        Ok(Written::Package {
            format: Format::Deb,
            name: name.to_string(),
        })
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
