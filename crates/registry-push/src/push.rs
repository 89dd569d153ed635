//! Walking a layout and sending it: blobs (skipping those the registry has), then each platform
//! manifest by digest, then the index by digest and by every tag — always the stored bytes, so
//! every digest is unchanged.

use std::collections::BTreeSet;
use std::path::Path;

use format_oci::source::Source;
use format_oci::spec::{
    Descriptor, Index, Manifest, ANN_REF_NAME, DOCKER_LIST, DOCKER_MANIFEST, MT_INDEX, MT_MANIFEST,
};

use crate::client::{error_text, header, join_url, read_small, Client, Req, DEFAULT_TIMEOUT};
use crate::reference::{parse, valid_tag};
use crate::{Credentials, PushError, PushOptions, PushReport};

/// Everything to send, in order.
struct Plan {
    blobs: Vec<Descriptor>,
    /// Children before parents; the last one is the top (tagged).
    manifests: Vec<Descriptor>,
}

fn collect(
    src: &Source,
    desc: &Descriptor,
    depth: usize,
    plan: &mut Plan,
    seen: &mut BTreeSet<String>,
) -> Result<(), PushError> {
    if depth > 4 {
        return Err(PushError::Source(format!(
            "{}: image indexes nested too deeply",
            src.path().display()
        )));
    }
    let oci = |e: format_oci::OciError| PushError::Source(e.to_string());
    match desc.media_type.as_str() {
        MT_INDEX | DOCKER_LIST => {
            let (idx, _): (Index, _) = src.json_blob(desc).map_err(oci)?;
            for d in &idx.manifests {
                collect(src, d, depth + 1, plan, seen)?;
            }
        }
        MT_MANIFEST | DOCKER_MANIFEST => {
            let (m, _): (Manifest, _) = src.json_blob(desc).map_err(oci)?;
            for b in std::iter::once(&m.config).chain(m.layers.iter()) {
                if seen.insert(b.digest.clone()) {
                    plan.blobs.push(b.clone());
                }
            }
        }
        other => {
            return Err(PushError::Source(format!(
                "{}: {} is a {other}, which push does not know how to send",
                src.path().display(),
                desc.digest
            )))
        }
    }
    if seen.insert(desc.digest.clone()) {
        plan.manifests.push(desc.clone());
    }
    Ok(())
}

/// The tags to push, in order: the layout's version tag (`org.opencontainers.image.ref.name`),
/// the destination's `:TAG`, then `extra` (the manifest's `oci.tags`, `--tag`); duplicates
/// dropped. Every one is checked against the OCI tag grammar.
fn tag_list(
    root: &Descriptor,
    dest_tag: Option<&str>,
    extra: &[String],
    to: &str,
) -> Result<Vec<String>, PushError> {
    let layout_tag = root
        .annotations
        .get(ANN_REF_NAME)
        .map(String::as_str)
        .filter(|t| valid_tag(t));
    let mut tags: Vec<String> = Vec::new();
    for t in layout_tag
        .into_iter()
        .chain(dest_tag)
        .chain(extra.iter().map(String::as_str))
    {
        if !valid_tag(t) {
            return Err(PushError::BadTag(format!(
                "tag `{}` is not a valid OCI tag: 1 to 128 of A-Z a-z 0-9 _ . -, not starting with . or -",
                t.escape_debug()
            )));
        }
        if !tags.iter().any(|x| x == t) {
            tags.push(t.to_string());
        }
    }
    if tags.is_empty() {
        return Err(PushError::BadReference(format!(
            "`{to}` has no tag and the layout names none; add :TAG or --tag TAG"
        )));
    }
    Ok(tags)
}

/// The top-level descriptor of a layout or archive (`index.json` must list exactly one image).
fn root_descriptor(src: &Source, layout: &Path) -> Result<Descriptor, PushError> {
    let top = src
        .index_json()
        .map_err(|e| PushError::Source(e.to_string()))?;
    match top.manifests.as_slice() {
        [one] => Ok(one.clone()),
        [] => Err(PushError::Source(format!("{}: index.json lists no image", layout.display()))),
        many => Err(PushError::Source(format!(
            "{}: index.json lists {} images; push sends one image index (a lucia-pkg layout has exactly one)",
            layout.display(),
            many.len()
        ))),
    }
}

/// The version tag a layout or archive names its image by (`org.opencontainers.image.ref.name`).
pub fn layout_version_tag(layout: &Path) -> Result<Option<String>, PushError> {
    let src = Source::open(layout).map_err(|e| PushError::Source(e.to_string()))?;
    Ok(root_descriptor(&src, layout)?
        .annotations
        .get(ANN_REF_NAME)
        .cloned())
}

pub fn push(layout: &Path, to: &str, opts: PushOptions) -> Result<PushReport, PushError> {
    let dest = parse(to)?;
    let src = Source::open(layout).map_err(|e| PushError::Source(e.to_string()))?;
    src.check_layout_version()
        .map_err(|e| PushError::Source(e.to_string()))?;
    let root = root_descriptor(&src, layout)?;
    let tags = tag_list(&root, dest.tag.as_deref(), &opts.tags, to)?;

    let mut plan = Plan {
        blobs: Vec::new(),
        manifests: Vec::new(),
    };
    collect(&src, &root, 0, &mut plan, &mut BTreeSet::new())?;
    let subjects = crate::attach::check(&opts.attach, &root, &plan.manifests)?;

    let creds = opts
        .credentials
        .map(|(user, password)| Credentials { user, password });
    let mut client = Client::connect(
        &dest,
        creds,
        opts.insecure_http,
        opts.timeout.unwrap_or(DEFAULT_TIMEOUT),
    )?;
    let mut report = PushReport {
        registry: dest.registry.clone(),
        repository: dest.repository.clone(),
        index_digest: root.digest.clone(),
        tags: tags.clone(),
        blobs_uploaded: 0,
        blobs_skipped: 0,
        bytes_uploaded: 0,
        manifests_pushed: 0,
        references: Vec::new(),
        attached: Vec::new(),
    };

    for b in &plan.blobs {
        if blob_exists(&mut client, b)? {
            report.blobs_skipped += 1;
        } else {
            upload_blob(&mut client, &src, b)?;
            report.blobs_uploaded += 1;
            report.bytes_uploaded += b.size;
        }
    }
    for m in &plan.manifests {
        let is_root = m.digest == root.digest;
        let bytes = src
            .raw_json_blob(&m.digest, Some(m.size))
            .map_err(|e| PushError::Source(e.to_string()))?;
        put_manifest(&mut client, m, &bytes, &m.digest)?;
        report.manifests_pushed += 1;
        if is_root {
            for t in &tags {
                put_manifest(&mut client, m, &bytes, t)?;
                report
                    .references
                    .push(format!("{}/{}:{t}", dest.registry, dest.repository));
            }
        }
    }
    report.references.push(format!(
        "{}/{}@{}",
        dest.registry, dest.repository, root.digest
    ));
    if !opts.attach.is_empty() {
        let a = &opts.attach;
        crate::attach::send(&mut client, &dest, &root, &subjects, a, &mut report)?;
    }
    Ok(report)
}

pub(crate) fn blob_exists(client: &mut Client, b: &Descriptor) -> Result<bool, PushError> {
    exists(client, &format!("blobs/{}", b.digest), None)
}

/// `HEAD <repo>/<path>` (a blob or a manifest, `accept` for manifests): whether the registry
/// has it.
pub(crate) fn exists(
    client: &mut Client,
    path: &str,
    accept: Option<&str>,
) -> Result<bool, PushError> {
    let url = client.url(path);
    let mut resp = client.send(&Req {
        method: "HEAD",
        url,
        headers: accept
            .map(|a| vec![("Accept", a.to_string())])
            .unwrap_or_default(),
        body: None,
        response_len: 0,
    })?;
    match resp.status().as_u16() {
        200 => Ok(true),
        404 => Ok(false),
        s => Err(PushError::Http {
            what: format!("HEAD {path}"),
            status: s,
            message: error_text(&read_small(&mut resp)),
        }),
    }
}

fn upload_blob(client: &mut Client, src: &Source, b: &Descriptor) -> Result<(), PushError> {
    let size = b.size;
    let digest = b.digest.clone();
    let open = move || -> Result<(Box<dyn std::io::Read>, u64), PushError> {
        let (r, actual) = src
            .blob(&digest)
            .map_err(|e| PushError::Source(e.to_string()))?;
        if actual != size {
            return Err(PushError::Source(format!(
                "{digest}: descriptor says {size} bytes, the blob has {actual}"
            )));
        }
        Ok((r, actual))
    };
    upload(client, b, &open)
}

/// Uploads one blob monolithically (`POST` a session, `PUT` with `?digest=`), its body opened
/// afresh by `open` for each attempt.
pub(crate) fn upload(
    client: &mut Client,
    b: &Descriptor,
    open: &crate::client::OpenBody<'_>,
) -> Result<(), PushError> {
    let post_url = client.url("blobs/uploads/");
    let mut resp = client.send(&Req {
        method: "POST",
        url: post_url.clone(),
        headers: vec![],
        body: None,
        response_len: 0,
    })?;
    if resp.status().as_u16() != 202 {
        return Err(PushError::Http {
            what: format!("starting the upload of {}", b.digest),
            status: resp.status().as_u16(),
            message: error_text(&read_small(&mut resp)),
        });
    }
    let location = header(&resp, "location").ok_or_else(|| PushError::Http {
        what: format!("starting the upload of {}", b.digest),
        status: 202,
        message: "no Location header".into(),
    })?;
    let mut url = join_url(&post_url, &location);
    url.push(if url.contains('?') { '&' } else { '?' });
    url.push_str(&format!("digest={}", b.digest.replace(':', "%3A")));
    let mut resp = client.send(&Req {
        method: "PUT",
        url,
        headers: vec![("Content-Type", "application/octet-stream".into())],
        body: Some(open),
        response_len: 0,
    })?;
    match resp.status().as_u16() {
        201 | 204 => Ok(()),
        s => Err(PushError::Http {
            what: format!("uploading blob {}", b.digest),
            status: s,
            message: error_text(&read_small(&mut resp)),
        }),
    }
}

/// PUTs a manifest under `reference` (its digest or a tag), checking the digest the registry
/// reports. Returns the registry's `OCI-Subject` header (set by registries with the referrers
/// API when the manifest has a `subject`).
pub(crate) fn put_manifest(
    client: &mut Client,
    m: &Descriptor,
    bytes: &[u8],
    reference: &str,
) -> Result<Option<String>, PushError> {
    let url = client.url(&format!("manifests/{reference}"));
    let owned = bytes.to_vec();
    let len = owned.len() as u64;
    let open = move || -> Result<(Box<dyn std::io::Read>, u64), PushError> {
        Ok((Box::new(std::io::Cursor::new(owned.clone())), len))
    };
    let mut resp = client.send(&Req {
        method: "PUT",
        url,
        headers: vec![("Content-Type", m.media_type.clone())],
        body: Some(&open),
        response_len: 0,
    })?;
    match resp.status().as_u16() {
        200 | 201 | 202 | 204 => {}
        s => {
            return Err(PushError::Http {
                what: format!("putting manifest {} as `{reference}`", m.digest),
                status: s,
                message: error_text(&read_small(&mut resp)),
            })
        }
    }
    if let Some(d) = header(&resp, "docker-content-digest") {
        if d != m.digest {
            return Err(PushError::DigestChanged {
                expected: m.digest.clone(),
                registry: d,
            });
        }
    }
    Ok(header(&resp, "oci-subject"))
}
