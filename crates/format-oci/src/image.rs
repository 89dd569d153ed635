//! One platform's image: layers, config and manifest, from one plan (and an optional base).

use std::collections::BTreeMap;
use std::sync::Arc;

use pkg_core::segment::SegmentCache;

use pkg_core::determinism::rfc3339;
use pkg_core::plan::{Layer, Plan};

use crate::base::{self, ResolvedBase};
use crate::blobs::BlobStore;
use crate::layers::{parse_user, plan_layers, write_layer};
use crate::spec::*;
use crate::OciError;

/// The PATH a scratch image gets unless the manifest sets one (Docker's and podman's default).
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The OCI annotations every index and manifest carries; also copied into the config labels.
pub(crate) fn annotations(
    plan: &Plan,
    base: Option<(&Option<String>, &str)>,
) -> BTreeMap<String, String> {
    let m = &plan.meta;
    let mut a = BTreeMap::new();
    let mut put = |k: &str, v: Option<&str>| {
        if let Some(v) = v.filter(|v| !v.trim().is_empty()) {
            a.insert(format!("org.opencontainers.image.{k}"), v.to_string());
        }
    };
    put("title", Some(&m.name));
    put("description", Some(&m.summary));
    put("version", Some(&m.version.upstream));
    put("revision", m.revision.as_deref());
    put("source", m.source_url.as_deref());
    put("url", m.homepage.as_deref());
    put("licenses", Some(&m.license));
    put("vendor", m.vendor.as_deref());
    put("created", Some(&rfc3339(plan.source_date)));
    if let Some((name, digest)) = base {
        put("base.name", name.as_deref());
        put("base.digest", Some(digest));
    }
    a
}

fn split_env(kv: &str) -> (String, String) {
    match kv.split_once('=') {
        Some((k, v)) => (k.to_string(), v.to_string()),
        None => (kv.to_string(), String::new()),
    }
}

/// The image options that hold whatever the base: env names, volumes, the user and the layer
/// codec.
pub(crate) fn check_options(plan: &Plan) -> Result<(), OciError> {
    let o = &plan.formats.oci;
    for (k, _) in &o.env {
        if k.is_empty() || k.contains('=') {
            return Err(OciError::BadOption(format!(
                "oci env name `{k}` must be non-empty and contain no `=`"
            )));
        }
    }
    for v in &o.volumes {
        if !v.starts_with('/') {
            return Err(OciError::BadOption(format!(
                "oci volume `{v}` must be an absolute path"
            )));
        }
    }
    parse_user(&o.user)?;
    let codec = o.layer_compression;
    crate::spec::layer_media_type(codec).ok_or_else(|| {
        OciError::BadOption(format!(
            "OCI layers cannot use {codec}: choose gzip, zstd or none"
        ))
    })?;
    Ok(())
}

/// The run config: the base's, with the manifest's settings on top.
pub(crate) fn run_config(
    plan: &Plan,
    base: Option<&ResolvedBase>,
    labels_from: &BTreeMap<String, String>,
) -> Result<RunConfig, OciError> {
    let o = &plan.formats.oci;
    let mut c = base.map(|b| b.config.clone()).unwrap_or_default();
    let mut env: BTreeMap<String, String> = c.env.iter().map(|kv| split_env(kv)).collect();
    env.entry("PATH".into())
        .or_insert_with(|| DEFAULT_PATH.into());
    check_options(plan)?;
    for (k, v) in &o.env {
        env.insert(k.clone(), v.clone());
    }
    c.env = env.into_iter().map(|(k, v)| format!("{k}={v}")).collect();
    if !o.entrypoint.is_empty() {
        // As in a Dockerfile, a new entrypoint drops the base's Cmd: its arguments were meant for
        // the base's program.
        c.entrypoint = Some(o.entrypoint.clone());
        c.cmd = (!o.cmd.is_empty()).then(|| o.cmd.clone());
    } else if !o.cmd.is_empty() {
        c.cmd = Some(o.cmd.clone());
    }
    if c.entrypoint.is_none() && c.cmd.is_none() {
        return Err(OciError::BadOption(
            "the image has neither an entrypoint nor a cmd: set [payload] entrypoint or [oci] cmd"
                .into(),
        ));
    }
    if !o.user.trim().is_empty() {
        c.user = Some(o.user.trim().to_string());
    }
    if let Some(w) = &o.working_dir {
        c.working_dir = Some(w.clone());
    }
    for p in &o.exposed_ports {
        let p = if p.contains('/') {
            p.clone()
        } else {
            format!("{p}/tcp")
        };
        c.exposed_ports.insert(p, BTreeMap::new());
    }
    for v in &o.volumes {
        c.volumes.insert(v.clone(), BTreeMap::new());
    }
    for (k, v) in labels_from {
        c.labels.insert(k.clone(), v.clone());
    }
    for (k, v) in &o.labels {
        c.labels.insert(k.clone(), v.clone());
    }
    Ok(c)
}

/// What one platform's image came to.
#[derive(Debug, Clone)]
pub(crate) struct BuiltImage {
    pub manifest: Descriptor,
    /// The base's name (`org.opencontainers.image.base.name`), when it has one.
    pub base_name: Option<String>,
}

fn layer_history(kind: Layer) -> &'static str {
    match kind {
        Layer::Config => "lucia-pkg: config layer (documentation, state directories, image user)",
        Layer::App => "lucia-pkg: application layer (install directory payload)",
    }
}

pub(crate) fn build_image(
    plan: &Plan,
    store: &BlobStore,
    segments: Option<Arc<SegmentCache>>,
) -> Result<BuiltImage, OciError> {
    let o = &plan.formats.oci;
    let base = match &o.base {
        Some(b) => Some(base::resolve(b, plan.arch, store)?),
        None => None,
    };
    let ann = annotations(plan, base.as_ref().map(|b| (&b.name, b.digest.as_str())));
    let user = parse_user(&o.user)?;
    let created = rfc3339(plan.source_date);

    let mut layers = base.as_ref().map(|b| b.layers.clone()).unwrap_or_default();
    let mut diff_ids = base
        .as_ref()
        .map(|b| b.diff_ids.clone())
        .unwrap_or_default();
    let mut history = base.as_ref().map(|b| b.history.clone()).unwrap_or_default();
    for (kind, entries) in plan_layers(plan, user, base.is_none()) {
        let w = write_layer(
            store,
            &entries,
            plan.source_date,
            (o.layer_compression, o.layer_segments),
            segments.clone(),
        )?;
        layers.push(w.descriptor);
        diff_ids.push(w.diff_id);
        history.push(History {
            created: Some(created.clone()),
            created_by: Some(layer_history(kind).into()),
            comment: None,
            empty_layer: false,
        });
    }
    let config = ImageConfig {
        created: Some(created.clone()),
        author: Some(plan.meta.maintainer.clone()).filter(|m| !m.is_empty()),
        architecture: plan.arch.oci_arch().into(),
        os: "linux".into(),
        variant: plan.arch.oci_variant().map(str::to_string),
        config: Some(run_config(plan, base.as_ref(), &ann)?),
        rootfs: RootFs {
            typ: "layers".into(),
            diff_ids,
        },
        history,
    };
    let config_desc = store.put_json(MT_CONFIG, &config)?;
    let manifest = Manifest {
        schema_version: 2,
        media_type: Some(MT_MANIFEST.into()),
        config: config_desc,
        layers,
        annotations: ann,
    };
    let mut desc = store.put_json(MT_MANIFEST, &manifest)?;
    desc.platform = Some(Platform {
        architecture: plan.arch.oci_arch().into(),
        os: "linux".into(),
        variant: plan.arch.oci_variant().map(str::to_string),
    });
    Ok(BuiltImage {
        manifest: desc,
        base_name: base.and_then(|b| b.name),
    })
}
