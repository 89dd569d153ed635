//! The OCI image: one image index for every architecture, written as a layout directory and as
//! an oci-archive of that layout.

use std::collections::BTreeMap;
use std::path::Path;

use pkg_core::compress::Codec;
use pkg_core::Plan;

use super::{
    first, main_name, Inspected, Output, PackageFormat, Probe, Scope, Segments, Shape, Written,
};
use crate::error::AppError;
use crate::manifest::Format;

pub struct Oci;

impl Oci {
    fn error(e: format_oci::OciError) -> AppError {
        use format_oci::OciError as E;
        let input = matches!(e, E::BadOption(_) | E::Base { .. });
        AppError::writer("oci", input, e)
    }

    fn written(
        layout: &str,
        index_digest: String,
        platforms: Vec<format_oci::PlatformSummary>,
    ) -> Written {
        Written::Image {
            layout: layout.to_string(),
            index_digest,
            manifests: platforms
                .into_iter()
                .map(|p| (p.arch, p.manifest_digest))
                .collect::<BTreeMap<_, _>>(),
        }
    }
}

impl PackageFormat for Oci {
    fn format(&self) -> Format {
        Format::Oci
    }

    fn scope(&self) -> Scope {
        Scope::AllArches
    }

    fn codec(&self, plan: &Plan) -> Codec {
        plan.formats.oci.layer_compression
    }

    fn validate(&self, plans: &[&Plan]) -> Result<(), AppError> {
        let owned: Vec<Plan> = plans.iter().map(|p| (*p).clone()).collect();
        format_oci::validate(&owned).map_err(Self::error)
    }

    fn outputs(&self, plans: &[&Plan]) -> Vec<Output> {
        let Some(p) = plans.first() else {
            return Vec::new();
        };
        vec![
            Output {
                name: format_oci::layout_dir_name(p),
                label: "oci",
                shape: Shape::ImageLayout,
            },
            Output::file(format_oci::archive_name(p), "oci-archive"),
        ]
    }

    fn write(
        &self,
        plans: &[&Plan],
        dir: &Path,
        outputs: &[Output],
        segments: Segments,
    ) -> Result<Written, AppError> {
        first(plans)?;
        let layout_name = main_name(outputs)?;
        let archive_name = outputs
            .iter()
            .find(|o| o.label == "oci-archive")
            .map(|o| o.name.as_str())
            .ok_or_else(|| AppError::Build("the image job has no oci-archive output".into()))?;
        let layout = dir.join(layout_name);
        let mut summary = None;
        crate::output::write_dir_atomic(&layout, |tmp| {
            let owned: Vec<Plan> = plans.iter().map(|p| (*p).clone()).collect();
            summary = Some(
                format_oci::write_layout_with(&owned, tmp, segments.clone())
                    .map_err(Self::error)?,
            );
            Ok::<(), AppError>(())
        })?;
        let summary =
            summary.ok_or_else(|| AppError::Build("the image layout was not written".into()))?;
        crate::output::write_atomic(&dir.join(archive_name), |w| {
            format_oci::write_archive(&layout, w)
                .map(|_| ())
                .map_err(Self::error)
        })?;
        Ok(Self::written(
            layout_name,
            summary.index_digest,
            summary.platforms,
        ))
    }

    fn layout_digest(&self, layout: &Path) -> Result<Option<String>, AppError> {
        let (index_digest, _) = format_oci::layout_digests(layout)
            .map_err(|e| AppError::Build(pkg_core::limits::escape(&e.to_string()).into_owned()))?;
        Ok(Some(index_digest))
    }

    fn inspect(&self, probe: &Probe) -> Option<Result<Inspected, AppError>> {
        // An uncompressed tar named `.tar` that opens as an oci-archive (index.json among its
        // members) is read as one: its errors are the image's, not a tarball listing.
        let archive = !probe.is_dir
            && probe.is_plain_tar()
            && probe.file_name().ends_with(".tar")
            && format_oci::source::Source::open(probe.path).is_ok();
        if !probe.is_dir && !archive {
            return None;
        }
        Some(match format_oci::inspect(probe.path) {
            Ok(r) => Inspected::new(&r, None),
            // A digest that does not match is a failed check (exit 1), not bad input.
            Err(e @ format_oci::OciError::DigestMismatch { .. }) => Err(AppError::Build(
                pkg_core::limits::escape(&e.to_string()).into_owned(),
            )),
            Err(e) => Err(probe.unreadable("OCI image", &e)),
        })
    }
}
