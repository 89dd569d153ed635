//! Daemonless, reproducible OCI images from lucia-pkg plans.
//!
//! [`write_layout`] turns one plan per architecture into an OCI image layout whose `index.json`
//! points at a single image index (the digest users pin and `push` sends), which lists one image
//! manifest per platform in fixed order (amd64, then arm64/v8). [`write_archive`] packs a layout
//! into an `oci-archive` tar with the same digests; [`inspect`] reads and verifies either form.
//!
//! Every JSON document is canonical (sorted keys, compact), every layer a deterministic tar with a
//! pinned codec, every timestamp the plan's source date: the index digest is a pure function of
//! the plans. See [`layers`] for what goes into which layer and what is left out of an image.

mod archive;
mod base;
mod blobs;
mod image;
mod inspect;
pub mod layers;
mod layout;
pub mod source;
pub mod spec;

use std::io;
use std::path::Path;

pub use archive::{write_archive, write_archive_file, ArchiveSummary};
pub use image::DEFAULT_PATH;
pub use inspect::{inspect, ImageReport, LayerReport, OciReport};
pub use layout::{write_layout, write_layout_with, OciSummary, PlatformSummary};

use pkg_core::Plan;

#[derive(Debug, thiserror::Error)]
pub enum OciError {
    #[error("{path}: {source}")]
    Io { path: String, source: io::Error },
    #[error("{path}: {message}")]
    Invalid { path: String, message: String },
    #[error("{what}: digest mismatch: expected {expected}, got {actual} (the file is corrupt or was modified)")]
    DigestMismatch {
        what: String,
        expected: String,
        actual: String,
    },
    #[error("base image {path}: {message}")]
    Base { path: String, message: String },
    #[error("{0}")]
    BadOption(String),
    #[error("writing the image: {0}")]
    Write(String),
    #[error("serializing {what}: {source}")]
    Json {
        what: String,
        source: serde_json::Error,
    },
}

impl OciError {
    pub(crate) fn io(path: &Path, source: io::Error) -> OciError {
        OciError::Io {
            path: path.display().to_string(),
            source,
        }
    }
    pub(crate) fn invalid(path: &Path, message: impl Into<String>) -> OciError {
        OciError::Invalid {
            path: path.display().to_string(),
            message: message.into(),
        }
    }
}

/// Everything [`write_layout`] would refuse in `plans` before reading any payload file or the
/// base: one plan per architecture of one release, and each plan's image options (without a
/// base, also the run config it would get). Cheap; `lucia-pkg check` runs it.
pub fn validate(plans: &[Plan]) -> Result<(), OciError> {
    layout::check_plans(plans)?;
    for plan in plans {
        image::check_options(plan)?;
        if plan.formats.oci.base.is_none() {
            image::run_config(plan, None, &std::collections::BTreeMap::new())?;
        }
    }
    Ok(())
}

/// The image index digest (`sha256:…`) and each platform's manifest digest that a written
/// layout's `index.json` and index blob name, read back with the inspect readers' limits.
pub fn layout_digests(layout: &Path) -> Result<(String, Vec<PlatformSummary>), OciError> {
    layout::read_digests(layout)
}

/// Every entry the image's own layers hold for `plan`'s platform (not the base image's), layer
/// by layer as [`write_layout`] writes them: without the env file and systemd snippets, with the
/// state directories and, on `scratch`, `/etc/passwd` and `/etc/group`. For bills of materials.
pub fn layer_entries(plan: &Plan) -> Result<Vec<pkg_core::plan::Entry>, OciError> {
    let user = layers::parse_user(&plan.formats.oci.user)?;
    Ok(
        layers::plan_layers(plan, user, plan.formats.oci.base.is_none())
            .into_iter()
            .flat_map(|(_, entries)| entries)
            .collect(),
    )
}

/// `lucia-1.0.0-oci`: the layout directory name in the output dir.
pub fn layout_dir_name(plan: &Plan) -> String {
    format!("{}-{}-oci", plan.meta.name, plan.meta.version.upstream)
}

/// `lucia-1.0.0-oci.tar`: the oci-archive name in the output dir.
pub fn archive_name(plan: &Plan) -> String {
    format!("{}.tar", layout_dir_name(plan))
}

/// The tag the layout names its image by (`org.opencontainers.image.ref.name`): the upstream
/// version with the characters a tag cannot hold (`+`, `~`) replaced (`1.0.0+b1` → `1.0.0_b1`).
pub fn version_tag(plan: &Plan) -> String {
    let t: String = plan
        .meta
        .version
        .upstream
        .chars()
        .map(|c| match c {
            '+' => '_',
            '~' => '-',
            c if c.is_ascii_alphanumeric() || c == '.' || c == '_' || c == '-' => c,
            _ => '_',
        })
        .take(128)
        .collect();
    t
}

/// The full name a loaded image gets (`io.containerd.image.name`): `<repository>:<tag>`, or
/// `<name>:<tag>` when the manifest names no repository.
pub fn image_name(plan: &Plan) -> String {
    let repo = plan
        .formats
        .oci
        .repository
        .clone()
        .filter(|r| !r.trim().is_empty())
        .unwrap_or_else(|| plan.meta.name.clone());
    format!("{}:{}", repo.trim(), version_tag(plan))
}
