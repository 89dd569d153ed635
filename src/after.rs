//! The after-the-artifacts stage: steps that run on what a format writer made and add files
//! beside it — today the bills of materials and the deployment values pinned to the image.
//!
//! A step receives the writer's typed result ([`Written`]: the artifact's name, or the image's
//! index and platform manifest digests), never re-reads the artifact to learn it, and writes into
//! the same directory as the writer. It runs inside the artifact's job, so its files are part of
//! the job's store entry and are cached with the artifact. [`STEPS`] is the one list of them.

use std::path::Path;

use pkg_core::Plan;

use crate::error::AppError;
use crate::formats::{Output, Shape, Written};
use crate::manifest::Format;
use crate::{deploy, output, sbom};

/// What a step is given.
pub struct StepInput<'a> {
    pub plans: &'a [&'a Plan],
    pub written: &'a Written,
    pub hashes: &'a sbom::FileHashes,
}

pub trait AfterStep: Sync {
    /// The names this step adds beside a job's artifact (`artifact` is the job's first output);
    /// empty when it does not apply to that job.
    fn outputs(&self, plans: &[&Plan], artifact: &Output) -> Vec<Output>;

    /// A part of the build key of every job it applies to, naming the step's output version: a
    /// store entry made by an older version of the step is never served.
    fn key(&self) -> Option<(&'static str, &'static str)> {
        None
    }

    /// Writes `outputs` (what [`AfterStep::outputs`] gave) into `dir`.
    fn run(&self, input: &StepInput, outputs: &[Output], dir: &Path) -> Result<(), AppError>;
}

/// Every step, in the order they run within a job.
pub static STEPS: &[&dyn AfterStep] = &[&DeployValues, &Sboms];

/// Compose, kustomize and Helm values pinned to the image index digest: beside the image, when
/// the manifest's `[deploy] files` asks for them.
pub struct DeployValues;

impl AfterStep for DeployValues {
    fn outputs(&self, plans: &[&Plan], artifact: &Output) -> Vec<Output> {
        match plans.first() {
            Some(p) if artifact.shape == Shape::ImageLayout && deploy::wanted(p) => {
                vec![Output::dir(deploy::dir_name(p), "deploy")]
            }
            _ => Vec::new(),
        }
    }

    fn run(&self, input: &StepInput, outputs: &[Output], dir: &Path) -> Result<(), AppError> {
        let (Some(plan), Written::Image { index_digest, .. }) =
            (input.plans.first(), input.written)
        else {
            return Ok(());
        };
        for out in outputs {
            output::write_dir_atomic(&dir.join(&out.name), |d| {
                for (name, text) in deploy::render(plan, index_digest) {
                    output::write_text_atomic(&d.join(name), &text)?;
                }
                Ok::<(), AppError>(())
            })?;
        }
        Ok(())
    }
}

/// An SPDX and a CycloneDX document for every package, and one pair per platform of the image
/// (in a directory beside it), each naming its subject by the digest the writer returned.
pub struct Sboms;

impl AfterStep for Sboms {
    fn outputs(&self, plans: &[&Plan], artifact: &Output) -> Vec<Output> {
        match (artifact.shape, plans.first()) {
            (Shape::ImageLayout, Some(p)) => vec![Output::dir(sbom::oci_dir_name(p), "sbom")],
            (Shape::File, Some(_)) => {
                let [spdx, cdx] = sbom::names_for(&artifact.name);
                vec![
                    Output::file(spdx, "sbom-spdx"),
                    Output::file(cdx, "sbom-cyclonedx"),
                ]
            }
            _ => Vec::new(),
        }
    }

    fn key(&self) -> Option<(&'static str, &'static str)> {
        Some(("sbom", sbom::GENERATOR))
    }

    fn run(&self, input: &StepInput, outputs: &[Output], dir: &Path) -> Result<(), AppError> {
        match input.written {
            Written::Image {
                layout, manifests, ..
            } => {
                let Some(sbom_dir) = outputs.first() else {
                    return Ok(());
                };
                output::write_dir_atomic(&dir.join(&sbom_dir.name), |d| {
                    for p in input.plans {
                        let digest = manifests.get(&p.arch).ok_or_else(|| {
                            AppError::Build(format!(
                                "{layout}: the image index has no {} manifest",
                                p.arch
                            ))
                        })?;
                        let stem = sbom::platform_stem(p.arch);
                        let subject = sbom::Subject::Image {
                            manifest_digest: digest,
                        };
                        let what = format!("{layout}@{stem}");
                        let (spdx, cdx) = sbom::render(p, &subject, &what, input.hashes)?;
                        let [spdx_name, cdx_name] = sbom::names_for(&stem);
                        output::write_text_atomic(&d.join(spdx_name), &spdx)?;
                        output::write_text_atomic(&d.join(cdx_name), &cdx)?;
                    }
                    Ok::<(), AppError>(())
                })
            }
            Written::Package { format, name } => {
                let plan = crate::formats::first(input.plans)?;
                let subject = match format {
                    Format::Deb => sbom::Subject::Deb,
                    Format::Rpm => sbom::Subject::Rpm,
                    _ => sbom::Subject::Tar,
                };
                let (spdx, cdx) = sbom::render(plan, &subject, name, input.hashes)?;
                for (out, text) in outputs.iter().zip([spdx, cdx]) {
                    output::write_text_atomic(&dir.join(&out.name), &text)?;
                }
                Ok(())
            }
        }
    }
}
