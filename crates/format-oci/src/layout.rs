//! Writing the OCI image layout directory: blobs, the image index, `index.json`, `oci-layout`.

use std::collections::BTreeMap;
use std::sync::Arc;

use pkg_core::segment::SegmentCache;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use pkg_core::determinism::{DIR_MODE, FILE_MODE};
use pkg_core::Plan;

use crate::blobs::BlobStore;
use crate::image::{annotations, build_image};
use crate::spec::*;
use crate::{image_name, version_tag, OciError};

/// One platform of a written image index.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PlatformSummary {
    #[serde(skip)]
    pub arch: pkg_core::Arch,
    /// `linux/amd64`, `linux/arm64/v8`.
    pub platform: String,
    pub manifest_digest: String,
}

/// What [`write_layout`] wrote.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct OciSummary {
    pub layout: PathBuf,
    /// Digest of the image index: what users pin and what `push` sends.
    pub index_digest: String,
    pub index_size: u64,
    /// `org.opencontainers.image.ref.name` in `index.json` (e.g. `1.0.0`): `oci:DIR:1.0.0`.
    pub ref_name: String,
    /// `io.containerd.image.name` in `index.json` (e.g. `ghcr.io/seiggy/lucia:1.0.0`): the name
    /// `podman load` / `docker load` give the image.
    pub image_name: String,
    pub platforms: Vec<PlatformSummary>,
}

pub(crate) fn check_plans(plans: &[Plan]) -> Result<Vec<&Plan>, OciError> {
    let first = plans.first().ok_or_else(|| {
        OciError::BadOption("an OCI image needs at least one architecture".into())
    })?;
    let mut sorted: Vec<&Plan> = plans.iter().collect();
    sorted.sort_by_key(|p| p.arch);
    for w in sorted.windows(2) {
        if w[0].arch == w[1].arch {
            return Err(OciError::BadOption(format!(
                "two plans for {}: one image per architecture",
                w[0].arch
            )));
        }
    }
    for p in plans {
        if p.meta != first.meta
            || p.source_date != first.source_date
            || p.formats.oci.repository != first.formats.oci.repository
        {
            return Err(OciError::BadOption(format!(
                "the {} and {} plans disagree on package metadata or source date; an index holds one release",
                first.arch, p.arch
            )));
        }
    }
    Ok(sorted)
}

/// Writes the layout for `plans` (one per architecture, same release) into `dir`.
///
/// The layout is assembled in a sibling `.<name>.partial` directory and renamed into place, so
/// `dir` is either the previous complete layout or the new one. An existing `dir` is replaced
/// only if it is empty or an OCI layout (has `oci-layout`); anything else there is an error.
pub fn write_layout(plans: &[Plan], dir: &Path) -> Result<OciSummary, OciError> {
    write_layout_with(plans, dir, None)
}

/// [`write_layout`] reusing and storing the compressed segments of large payload files in
/// `segments` (the bytes are the same with or without it; see `pkg_core::segment`).
pub fn write_layout_with(
    plans: &[Plan],
    dir: &Path,
    segments: Option<Arc<SegmentCache>>,
) -> Result<OciSummary, OciError> {
    let sorted = check_plans(plans)?;
    let first = sorted[0];
    let name = dir
        .file_name()
        .ok_or_else(|| OciError::BadOption(format!("{}: not a directory name", dir.display())))?
        .to_string_lossy()
        .into_owned();
    let parent = dir
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    fs::create_dir_all(&parent).map_err(|e| OciError::io(&parent, e))?;
    let tmp = parent.join(format!(".{name}.partial"));
    if tmp.exists() {
        fs::remove_dir_all(&tmp).map_err(|e| OciError::io(&tmp, e))?;
    }
    fs::create_dir_all(&tmp).map_err(|e| OciError::io(&tmp, e))?;

    let result = write_into(&sorted, first, &tmp, segments);
    let (index_desc, platforms, ref_name, img_name) = match result {
        Ok(v) => v,
        Err(e) => {
            let _ = fs::remove_dir_all(&tmp);
            return Err(e);
        }
    };
    if dir.exists() {
        let empty = fs::read_dir(dir)
            .map(|mut d| d.next().is_none())
            .unwrap_or(false);
        if !empty && !dir.join("oci-layout").is_file() {
            let _ = fs::remove_dir_all(&tmp);
            return Err(OciError::BadOption(format!(
                "{} exists and is not an OCI layout; move it away or choose another output directory",
                dir.display()
            )));
        }
        fs::remove_dir_all(dir).map_err(|e| OciError::io(dir, e))?;
    }
    fs::rename(&tmp, dir).map_err(|e| OciError::io(dir, e))?;
    Ok(OciSummary {
        layout: dir.to_path_buf(),
        index_digest: index_desc.digest,
        index_size: index_desc.size,
        ref_name,
        image_name: img_name,
        platforms,
    })
}

type Written = (Descriptor, Vec<PlatformSummary>, String, String);

fn write_into(
    sorted: &[&Plan],
    first: &Plan,
    tmp: &Path,
    segments: Option<Arc<SegmentCache>>,
) -> Result<Written, OciError> {
    let store = BlobStore::create(tmp)?;
    let mut manifests = Vec::new();
    let mut platforms = Vec::new();
    let mut base_name = None;
    for plan in sorted {
        let img = build_image(plan, &store, segments.clone())?;
        base_name = base_name.or(img.base_name);
        let label = img
            .manifest
            .platform
            .as_ref()
            .map(Platform::label)
            .unwrap_or_default();
        platforms.push(PlatformSummary {
            arch: plan.arch,
            platform: label,
            manifest_digest: img.manifest.digest.clone(),
        });
        manifests.push(img.manifest);
    }
    let base = first.formats.oci.base.as_ref().map(|b| b.digest.clone());
    let ann = annotations(first, base.as_deref().map(|d| (&base_name, d)));
    let index = Index {
        schema_version: 2,
        media_type: Some(MT_INDEX.into()),
        manifests,
        annotations: ann,
    };
    let mut index_desc = store.put_json(MT_INDEX, &index)?;

    let ref_name = version_tag(first);
    let img_name = image_name(first);
    let mut top_ann = BTreeMap::new();
    top_ann.insert(ANN_REF_NAME.to_string(), ref_name.clone());
    top_ann.insert(ANN_IMAGE_NAME.to_string(), img_name.clone());
    let top = Index {
        schema_version: 2,
        media_type: Some(MT_INDEX.into()),
        manifests: vec![Descriptor {
            annotations: top_ann,
            ..index_desc.clone()
        }],
        annotations: BTreeMap::new(),
    };
    let json = |what: &str, v: &Index| {
        canonical_json(v).map_err(|e| OciError::Json {
            what: what.into(),
            source: e,
        })
    };
    let index_json = tmp.join("index.json");
    fs::write(&index_json, json("index.json", &top)?).map_err(|e| OciError::io(&index_json, e))?;
    let layout_file = tmp.join("oci-layout");
    fs::write(&layout_file, OCI_LAYOUT).map_err(|e| OciError::io(&layout_file, e))?;
    // Fixed modes, whatever the umask: the tree is compared and published as is.
    for (p, mode) in [
        (index_json, FILE_MODE),
        (layout_file, FILE_MODE),
        (tmp.join("blobs").join("sha256"), DIR_MODE),
        (tmp.join("blobs"), DIR_MODE),
        (tmp.to_path_buf(), DIR_MODE),
    ] {
        fs::set_permissions(&p, fs::Permissions::from_mode(mode))
            .map_err(|e| OciError::io(&p, e))?;
    }
    index_desc.annotations.clear();
    Ok((index_desc, platforms, ref_name, img_name))
}

/// See [`crate::layout_digests`]: `index.json`'s image index, then that index's platform
/// manifests, each read with a size limit.
pub(crate) fn read_digests(layout: &Path) -> Result<(String, Vec<PlatformSummary>), OciError> {
    let read_json = |p: &Path| -> Result<serde_json::Value, OciError> {
        let mut f = fs::File::open(p).map_err(|e| OciError::io(p, e))?;
        let size = f.metadata().map_err(|e| OciError::io(p, e))?.len();
        let bytes = pkg_core::limits::read_small(
            &mut f,
            size,
            pkg_core::limits::MAX_JSON_TOTAL,
            "an image index",
        )
        .map_err(|m| OciError::invalid(p, m))?;
        serde_json::from_slice(&bytes).map_err(|e| OciError::invalid(p, e.to_string()))
    };
    let top_path = layout.join("index.json");
    let top = read_json(&top_path)?;
    let index_digest = top["manifests"][0]["digest"]
        .as_str()
        .ok_or_else(|| OciError::invalid(&top_path, "names no image index"))?
        .to_string();
    let hex = index_digest
        .strip_prefix("sha256:")
        .filter(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
        .ok_or_else(|| OciError::invalid(&top_path, "bad image index digest"))?;
    let index = read_json(&layout.join("blobs/sha256").join(hex))?;
    let mut platforms = Vec::new();
    for mf in index["manifests"].as_array().into_iter().flatten() {
        let (Some(os_arch), Some(digest)) = (
            mf["platform"]["architecture"].as_str(),
            mf["digest"].as_str(),
        ) else {
            continue;
        };
        let variant = mf["platform"]["variant"].as_str();
        if let Some(arch) = pkg_core::Arch::ALL
            .iter()
            .copied()
            .find(|a| a.oci_arch() == os_arch && (variant.is_none() || a.oci_variant() == variant))
        {
            let platform = match variant {
                Some(v) => format!("linux/{os_arch}/{v}"),
                None => format!("linux/{os_arch}"),
            };
            platforms.push(PlatformSummary {
                arch,
                platform,
                manifest_digest: digest.to_string(),
            });
        }
    }
    Ok((index_digest, platforms))
}
