//! A base image from a local OCI layout or oci-archive, pinned by digest.
//!
//! The pin is the digest of an image index (resolved per platform) or of a single image manifest
//! (then its platform must match). Its layers are copied into our layout with their digests
//! verified while streaming; its diff_ids and history are prepended to ours and its run config is
//! the starting point ours is merged onto. Registry bases (`docker://…@sha256:…`) are out of scope
//! here: builds run without network, so pull the base once with
//! `skopeo copy docker://IMAGE@sha256:… oci:DIR:base` and point the manifest at `DIR`.

use std::io::Write;

use pkg_core::plan::OciBase;
use pkg_core::Arch;

use crate::blobs::BlobStore;
use crate::source::{Source, VerifyingReader};
use crate::spec::*;
use crate::OciError;

/// What a base contributes to one platform's image.
#[derive(Debug, Clone)]
pub(crate) struct ResolvedBase {
    pub layers: Vec<Descriptor>,
    pub diff_ids: Vec<String>,
    pub history: Vec<History>,
    pub config: RunConfig,
    /// `org.opencontainers.image.base.name`, when the layout names the pinned image.
    pub name: Option<String>,
    pub digest: String,
}

fn is_index(media_type: Option<&str>, raw: &serde_json::Value) -> bool {
    match media_type {
        Some(MT_INDEX) | Some(DOCKER_LIST) => true,
        Some(_) => false,
        None => raw.get("manifests").is_some(),
    }
}

fn platform_matches(p: &Platform, arch: Arch) -> bool {
    p.os == "linux"
        && p.architecture == arch.oci_arch()
        && match (p.variant.as_deref(), arch.oci_variant()) {
            (None, _) => true,
            (Some(v), Some(want)) => v == want,
            (Some(_), None) => false,
        }
}

/// Resolves the pinned base for `arch` and copies its layer blobs into `store`.
pub(crate) fn resolve(
    base: &OciBase,
    arch: Arch,
    store: &BlobStore,
) -> Result<ResolvedBase, OciError> {
    let src = Source::open(&base.path)?;
    let what = |m: String| OciError::Base {
        path: base.path.display().to_string(),
        message: m,
    };
    if valid_digest(&base.digest).is_none() {
        return Err(what(format!(
            "pin `{}` is not a sha256:<64 hex> digest",
            base.digest
        )));
    }
    if !src.has_blob(&base.digest) {
        return Err(what(format!(
            "the layout has no blob {}: the base changed or the pin is wrong (pin the digest `skopeo inspect --raw` shows)",
            base.digest
        )));
    }
    let name = src.index_json().ok().and_then(|ij| {
        ij.manifests
            .iter()
            .find(|d| d.digest == base.digest)
            .and_then(|d| {
                d.annotations
                    .get(ANN_IMAGE_NAME)
                    .or_else(|| d.annotations.get(ANN_REF_NAME))
                    .cloned()
            })
    });
    let raw = src.raw_json_blob(&base.digest, None)?;
    let value: serde_json::Value =
        serde_json::from_slice(&raw).map_err(|e| what(format!("{}: {e}", base.digest)))?;
    let mt = value
        .get("mediaType")
        .and_then(|m| m.as_str())
        .map(str::to_string);
    let manifest_desc = if is_index(mt.as_deref(), &value) {
        let idx: Index = serde_json::from_value(value)
            .map_err(|e| what(format!("index {}: {e}", base.digest)))?;
        let mut candidates: Vec<&Descriptor> = idx
            .manifests
            .iter()
            .filter(|d| {
                d.platform
                    .as_ref()
                    .is_some_and(|p| platform_matches(p, arch))
            })
            .collect();
        // Prefer an exact variant match (arm64/v8 over a bare arm64 entry).
        candidates.sort_by_key(|d| {
            d.platform
                .as_ref()
                .map(|p| p.variant.as_deref() != arch.oci_variant())
        });
        let d = candidates.first().ok_or_else(|| {
            let have: Vec<String> = idx
                .manifests
                .iter()
                .filter_map(|d| d.platform.as_ref().map(Platform::label))
                .collect();
            what(format!(
                "the base index has no linux/{} image (it has: {})",
                arch.oci_arch(),
                have.join(", ")
            ))
        })?;
        (*d).clone()
    } else {
        Descriptor {
            media_type: mt.unwrap_or_else(|| MT_MANIFEST.into()),
            digest: base.digest.clone(),
            size: raw.len() as u64,
            platform: None,
            annotations: Default::default(),
        }
    };
    if manifest_desc.media_type != MT_MANIFEST && manifest_desc.media_type != DOCKER_MANIFEST {
        return Err(what(format!(
            "{} is a {}, not an image manifest",
            manifest_desc.digest, manifest_desc.media_type
        )));
    }
    let (manifest, _): (Manifest, _) = src.json_blob(&manifest_desc)?;
    let (config, _): (ImageConfig, _) = src.json_blob(&manifest.config)?;
    if config.os != "linux" || config.architecture != arch.oci_arch() {
        return Err(what(format!(
            "the pinned image is {}/{}, but this build needs linux/{}",
            config.os,
            config.architecture,
            arch.oci_arch()
        )));
    }
    if config.rootfs.diff_ids.len() != manifest.layers.len() {
        return Err(what(format!(
            "config lists {} diff_ids for {} layers",
            config.rootfs.diff_ids.len(),
            manifest.layers.len()
        )));
    }
    let mut layers = Vec::new();
    for l in &manifest.layers {
        let mt = oci_layer_media_type(&l.media_type).ok_or_else(|| {
            what(format!(
                "layer {} has unsupported media type {}",
                l.digest, l.media_type
            ))
        })?;
        let (r, size) = src.blob(&l.digest)?;
        if size != l.size {
            return Err(what(format!(
                "layer {}: descriptor says {} bytes, blob has {size}",
                l.digest, l.size
            )));
        }
        let mut v = VerifyingReader::new(r, &l.digest);
        let mut w = store.writer()?;
        std::io::copy(&mut v, &mut w)
            .map_err(|e| what(format!("copying layer {}: {e}", l.digest)))?;
        w.flush()
            .map_err(|e| what(format!("copying layer {}: {e}", l.digest)))?;
        v.check(&format!("base layer in {}", base.path.display()))?;
        let (digest, size) = store.commit(w)?;
        layers.push(Descriptor {
            media_type: mt.into(),
            digest,
            size,
            platform: None,
            annotations: Default::default(),
        });
    }
    Ok(ResolvedBase {
        layers,
        diff_ids: config.rootfs.diff_ids.clone(),
        history: config.history.clone(),
        config: config.config.clone().unwrap_or_default(),
        name,
        digest: base.digest.clone(),
    })
}
