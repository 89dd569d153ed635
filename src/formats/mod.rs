//! The format seam. Each package format is one descriptor, in a file of its own (`tar.rs`,
//! `deb.rs`, `rpm.rs`, `oci.rs`), implementing [`PackageFormat`]: its codec, its own checks of a
//! plan, the names it writes, the writer call, and its reader for `inspect`. [`REGISTRY`] is the
//! one list of them; nothing else in lucia-pkg matches on the format to decide what to do.
//!
//! A descriptor only adapts its writer crate (`crates/format-*`), which knows nothing of the
//! others. What runs after the artifacts (SBOMs, deployment values) lives in `src/after.rs` and
//! receives a writer's typed result, [`Written`].

use std::collections::BTreeMap;
use std::path::Path;

use pkg_core::compress::Codec;
use pkg_core::{Arch, Plan};

/// Where a writer may reuse and store compressed segments of large payload files (the store's
/// segment cache; `None` without a store). Never changes the bytes (see `pkg_core::segment`).
pub type Segments = Option<std::sync::Arc<pkg_core::segment::SegmentCache>>;

use crate::error::AppError;
use crate::manifest::Format;

pub mod deb;
pub mod inspect;
pub mod oci;
pub mod rpm;
pub mod tar;

pub use inspect::{inspect, Inspected, Probe};

/// Every format this build of lucia-pkg writes, in `Format` order.
pub static REGISTRY: &[&dyn PackageFormat] = &[&tar::Tar, &deb::Deb, &rpm::Rpm, &oci::Oci];

/// The descriptor of `format`.
pub fn get(format: Format) -> Option<&'static dyn PackageFormat> {
    REGISTRY.iter().copied().find(|d| d.format() == format)
}

/// The order `inspect` asks the readers in: the tarball reader goes last, since it accepts any
/// compressed stream and an uncompressed tar may be an oci-archive.
fn inspect_order() -> impl Iterator<Item = &'static dyn PackageFormat> {
    let (tarball, others): (Vec<_>, Vec<_>) = REGISTRY
        .iter()
        .copied()
        .partition(|d| d.is_fallback_reader());
    others.into_iter().chain(tarball)
}

/// How many plans one job of a format takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// One artifact per architecture (deb, rpm, tarball).
    PerArch,
    /// One artifact for every architecture together (the image index).
    AllArches,
}

/// How an output is recorded in build-info.json and SHA256SUMS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// One file, recorded with its size and sha256.
    File,
    /// An image layout directory, recorded by its index digest; SHA256SUMS lists its files.
    ImageLayout,
    /// A directory of companion files (deployment values, the image's SBOMs); SHA256SUMS lists
    /// its files.
    Dir,
}

/// One name a job places in the out dir.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    pub name: String,
    /// The `format` build-info.json records for it (`deb`, `oci-archive`, `sbom-spdx`…).
    pub label: &'static str,
    pub shape: Shape,
}

impl Output {
    pub fn file(name: String, label: &'static str) -> Output {
        Output {
            name,
            label,
            shape: Shape::File,
        }
    }
    pub fn dir(name: String, label: &'static str) -> Output {
        Output {
            name,
            label,
            shape: Shape::Dir,
        }
    }
}

/// What a writer made, as data for the steps after it (no step re-reads an artifact to learn
/// this).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Written {
    /// A single-file package; `name` is its file name in the job's directory.
    Package { format: Format, name: String },
    /// The image: its layout directory, index digest (`sha256:…`) and each platform's manifest
    /// digest.
    Image {
        layout: String,
        index_digest: String,
        manifests: BTreeMap<Arch, String>,
    },
}

/// One package format. Implementations are unit structs registered in [`REGISTRY`].
pub trait PackageFormat: Sync {
    fn format(&self) -> Format;

    fn scope(&self) -> Scope {
        Scope::PerArch
    }

    /// The codec that dominates the job's cost and memory.
    fn codec(&self, plan: &Plan) -> Codec;

    /// Everything the writer would refuse in these plans, found without writing anything: run
    /// by `check` and before any artifact of a build is written. Errors are bad input (exit 2).
    fn validate(&self, plans: &[&Plan]) -> Result<(), AppError>;

    /// The names a job writes for `plans`, the artifact first.
    fn outputs(&self, plans: &[&Plan]) -> Vec<Output>;

    /// Writes [`PackageFormat::outputs`] into `dir` (the out dir or a fresh store entry).
    fn write(
        &self,
        plans: &[&Plan],
        dir: &Path,
        outputs: &[Output],
        segments: Segments,
    ) -> Result<Written, AppError>;

    /// The digest build-info.json records for an output of shape [`Shape::ImageLayout`], read
    /// from a finished (possibly cached) job. Only the image has one.
    fn layout_digest(&self, _layout: &Path) -> Result<Option<String>, AppError> {
        Ok(None)
    }

    /// Reads an artifact of this format back, or `None` if the probe shows it is not one.
    fn inspect(&self, probe: &Probe) -> Option<Result<Inspected, AppError>>;

    /// Whether this reader accepts what no other reader does (asked last by `inspect`).
    fn is_fallback_reader(&self) -> bool {
        false
    }
}

/// The first plan of a job (every job has at least one).
pub(crate) fn first<'a>(plans: &[&'a Plan]) -> Result<&'a Plan, AppError> {
    plans
        .first()
        .copied()
        .ok_or_else(|| AppError::Build("no architectures to build".into()))
}

/// `validate` for a per-arch format: each plan through the writer crate's check.
pub(crate) fn validate_each<E>(
    plans: &[&Plan],
    check: impl Fn(&Plan) -> Result<(), E>,
    error: fn(E) -> AppError,
) -> Result<(), AppError> {
    plans.iter().try_for_each(|p| check(p).map_err(error))
}

/// `outputs` for a single-file package: its file name for the (one) plan.
pub(crate) fn single_file(
    plans: &[&Plan],
    file_name: fn(&Plan) -> String,
    label: &'static str,
) -> Vec<Output> {
    plans
        .first()
        .map(|p| vec![Output::file(file_name(p), label)])
        .unwrap_or_default()
}

/// `write` for a single-file package: streams the writer into the job's first output, placed
/// atomically.
pub(crate) fn write_single<E>(
    format: Format,
    plans: &[&Plan],
    dir: &Path,
    outputs: &[Output],
    write: impl FnOnce(&Plan, &mut dyn std::io::Write) -> Result<(), E>,
    error: fn(E) -> AppError,
) -> Result<Written, AppError> {
    let (plan, name) = (first(plans)?, main_name(outputs)?);
    crate::output::write_atomic(&dir.join(name), |w| write(plan, w).map_err(error))?;
    Ok(Written::Package {
        format,
        name: name.to_string(),
    })
}

/// The name of a job's main artifact (`outputs[0]`).
pub(crate) fn main_name(outputs: &[Output]) -> Result<&str, AppError> {
    outputs
        .first()
        .map(|o| o.name.as_str())
        .ok_or_else(|| AppError::Build("a job with no outputs".into()))
}
