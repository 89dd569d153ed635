//! What is published next to an image after it is pushed:
//!
//! * **A cosign image signature.** cosign's tag-based discovery: an OCI image manifest at tag
//!   `sha256-<index hex>.sig` in the same repository whose layers are simple-signing payloads
//!   (`application/vnd.dev.cosign.simplesigning.v1+json`), each with its base64 signature in the
//!   layer annotation `dev.cosignproject.cosign/signature`. A manifest already at that tag (other
//!   signers) is extended, not replaced; the config lists the layers' digests as cosign's does.
//! * **Referrers** (OCI image spec / distribution spec 1.1): one artifact manifest per document
//!   (`artifactType`, an empty config, one layer holding the document, `subject` = the platform
//!   manifest or the index it describes). A registry with the referrers API answers the manifest
//!   PUT with `OCI-Subject` (or lists it at `GET /v2/<name>/referrers/<digest>`); for any other
//!   registry the spec's tag-schema fallback is kept up to date: an image index at tag
//!   `sha256-<subject hex>` listing every referrer's descriptor with its `artifactType` and
//!   annotations, fetched, merged and pushed again (never clobbered).
//!
//! Every manifest here is JSON with sorted keys and no time in it, so the same attachments give
//! the same digests on every push.

use std::collections::BTreeMap;

use format_oci::spec::{Descriptor, DOCKER_MANIFEST, MT_CONFIG, MT_INDEX, MT_MANIFEST};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::client::{error_text, read_small, Client, Req};
use crate::push::{blob_exists, put_manifest, upload};
use crate::reference::Destination;
use crate::{PushError, PushReport};

/// The media type of a cosign simple-signing payload.
pub const MT_SIMPLE_SIGNING: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
/// The layer annotation holding the base64 signature of the payload.
pub const ANN_COSIGN_SIGNATURE: &str = "dev.cosignproject.cosign/signature";
/// The empty descriptor's media type (image spec 1.1): an artifact without a config.
pub const MT_EMPTY: &str = "application/vnd.oci.empty.v1+json";
/// The title annotation each artifact manifest and its layer carry (the document's file name).
pub const ANN_TITLE: &str = "org.opencontainers.image.title";
/// Largest manifest or index read back from the registry.
const MAX_MANIFEST: u64 = 4 << 20;

/// A signed simple-signing payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageSignature {
    /// The payload bytes exactly as signed.
    pub payload: Vec<u8>,
    /// The signature, standard base64 (cosign: an ASN.1 DER ECDSA signature).
    pub signature: String,
}

/// A document attached to the image as an OCI 1.1 referrer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Artifact {
    /// `artifactType` of the manifest and media type of its one layer, e.g. `application/spdx+json`.
    pub artifact_type: String,
    /// The platform manifest it describes (`sha256:…`, one the index lists); `None`: the index.
    pub subject: Option<String>,
    /// The document's file name (annotation `org.opencontainers.image.title`).
    pub title: String,
    pub bytes: Vec<u8>,
}

/// What to publish with the image; empty by default.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Attachments {
    pub signature: Option<ImageSignature>,
    pub artifacts: Vec<Artifact>,
}

impl Attachments {
    pub fn is_empty(&self) -> bool {
        self.signature.is_none() && self.artifacts.is_empty()
    }
}

fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// `sha256:abc…` → `sha256-abc…`: the tag of cosign's signature (with `.sig`) and of the
/// referrers tag schema.
pub fn digest_tag(digest: &str) -> String {
    digest.replacen(':', "-", 1)
}

/// The subject descriptor of each artifact, checked before anything is sent: a platform digest
/// must be one the pushed index lists.
pub(crate) fn check(
    a: &Attachments,
    root: &Descriptor,
    manifests: &[Descriptor],
) -> Result<Vec<Descriptor>, PushError> {
    a.artifacts
        .iter()
        .map(|art| match &art.subject {
            None => Ok(bare(root)),
            Some(d) => manifests
                .iter()
                .find(|m| &m.digest == d && m.digest != root.digest)
                .map(bare)
                .ok_or_else(|| {
                    PushError::Source(format!(
                        "{}: its subject {d} is not a manifest of the image {}",
                        art.title, root.digest
                    ))
                }),
        })
        .collect()
}

/// A subject descriptor: media type, digest and size only.
fn bare(m: &Descriptor) -> Descriptor {
    Descriptor {
        media_type: m.media_type.clone(),
        digest: m.digest.clone(),
        size: m.size,
        platform: None,
        annotations: BTreeMap::new(),
    }
}

/// A descriptor as JSON (only the fields it has).
fn desc_json(d: &Descriptor) -> Value {
    serde_json::to_value(d).unwrap_or(Value::Null)
}

/// Sends a small blob unless the registry has it; returns its descriptor.
fn send_blob(
    client: &mut Client,
    media_type: &str,
    bytes: &[u8],
    report: &mut PushReport,
) -> Result<Descriptor, PushError> {
    let d = Descriptor {
        media_type: media_type.to_string(),
        digest: sha256_digest(bytes),
        size: bytes.len() as u64,
        platform: None,
        annotations: BTreeMap::new(),
    };
    if blob_exists(client, &d)? {
        report.blobs_skipped += 1;
        return Ok(d);
    }
    let owned = bytes.to_vec();
    let len = d.size;
    let open = move || -> Result<(Box<dyn std::io::Read>, u64), PushError> {
        Ok((Box::new(std::io::Cursor::new(owned.clone())), len))
    };
    upload(client, &d, &open)?;
    report.blobs_uploaded += 1;
    report.bytes_uploaded += len;
    Ok(d)
}

/// Sends a manifest (JSON, keys sorted) by digest or under `tag`; returns its descriptor and the
/// registry's `OCI-Subject` answer.
fn send_manifest(
    client: &mut Client,
    media_type: &str,
    value: &Value,
    tag: Option<&str>,
    report: &mut PushReport,
) -> Result<(Descriptor, Option<String>), PushError> {
    let bytes = serde_json::to_vec(value).map_err(|e| PushError::Source(e.to_string()))?;
    let d = Descriptor {
        media_type: media_type.to_string(),
        digest: sha256_digest(&bytes),
        size: bytes.len() as u64,
        platform: None,
        annotations: BTreeMap::new(),
    };
    let reference = tag.map_or(d.digest.clone(), str::to_string);
    let subject = put_manifest(client, &d, &bytes, &reference)?;
    report.manifests_pushed += 1;
    Ok((d, subject))
}

/// `GET` a manifest by tag or digest: `None` when the registry has none there.
pub(crate) fn get_manifest(
    client: &mut Client,
    reference: &str,
    accept: &str,
) -> Result<Option<Value>, PushError> {
    let what = format!("reading manifest `{reference}`");
    let mut resp = client.send(&Req {
        method: "GET",
        url: client.url(&format!("manifests/{reference}")),
        headers: vec![("Accept", accept.to_string())],
        body: None,
        response_len: 0,
    })?;
    match resp.status().as_u16() {
        200 => {}
        404 => return Ok(None),
        s => {
            return Err(PushError::Http {
                what,
                status: s,
                message: error_text(&read_small(&mut resp)),
            })
        }
    }
    let bytes = resp
        .body_mut()
        .with_config()
        .limit(MAX_MANIFEST)
        .read_to_vec()
        .map_err(|e| PushError::Transport {
            what: what.clone(),
            message: e.to_string(),
        })?;
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| PushError::Http {
            what,
            status: 200,
            message: format!("not JSON: {e}"),
        })
}

/// The referrers of one subject: their descriptors, and whether every PUT was answered with
/// `OCI-Subject` naming the subject (the registry indexes them itself).
struct Group<'a> {
    subject: Descriptor,
    entries: Vec<(Descriptor, &'a Artifact)>,
    indexed: bool,
}

/// Pushes the signature and the referrers (after the image itself), adding what it published
/// to `report.attached`.
pub(crate) fn send(
    client: &mut Client,
    dest: &Destination,
    root: &Descriptor,
    subjects: &[Descriptor],
    a: &Attachments,
    report: &mut PushReport,
) -> Result<(), PushError> {
    let repo = format!("{}/{}", dest.registry, dest.repository);
    if let Some(sig) = &a.signature {
        let tag = format!("{}.sig", digest_tag(&root.digest));
        send_signature(client, &tag, sig, report)?;
        report.attached.push(format!("signature {repo}:{tag}"));
    }
    // Artifacts grouped by subject, in first-seen order: one fallback index update each.
    let mut groups: Vec<Group> = Vec::new();
    if !a.artifacts.is_empty() {
        let empty = send_blob(client, MT_EMPTY, b"{}", report)?;
        for (art, subject) in a.artifacts.iter().zip(subjects) {
            let layer = send_blob(client, &art.artifact_type, &art.bytes, report)?;
            let title: BTreeMap<String, String> =
                [(ANN_TITLE.to_string(), art.title.clone())].into();
            let layer = Descriptor {
                annotations: title.clone(),
                ..layer
            };
            let manifest = json!({
                "schemaVersion": 2,
                "mediaType": MT_MANIFEST,
                "artifactType": art.artifact_type,
                "config": desc_json(&empty),
                "layers": [desc_json(&layer)],
                "subject": desc_json(subject),
                "annotations": title,
            });
            let (d, oci_subject) = send_manifest(client, MT_MANIFEST, &manifest, None, report)?;
            let indexed = oci_subject.as_deref() == Some(subject.digest.as_str());
            report.attached.push(format!(
                "{} {} {repo}@{} (subject {})",
                art.artifact_type, art.title, d.digest, subject.digest
            ));
            let entry = Descriptor {
                annotations: title,
                ..d
            };
            match groups
                .iter_mut()
                .find(|g| g.subject.digest == subject.digest)
            {
                Some(g) => {
                    g.entries.push((entry, art));
                    g.indexed &= indexed;
                }
                None => groups.push(Group {
                    subject: subject.clone(),
                    entries: vec![(entry, art)],
                    indexed,
                }),
            }
        }
    }
    for g in &groups {
        let (subject, entries) = (&g.subject, &g.entries);
        if g.indexed || referrers_api_lists(client, &subject.digest, entries)? {
            report
                .attached
                .push(format!("referrers API lists them for {}", subject.digest));
            continue;
        }
        let tag = digest_tag(&subject.digest);
        if update_fallback_index(client, &tag, entries, report)? {
            report
                .attached
                .push(format!("referrers tag schema {repo}:{tag}"));
        }
    }
    Ok(())
}

/// The signature manifest at `tag`: an existing one (OCI, or Docker schema 2 as older cosign
/// versions wrote) keeps its layers (other signatures) and gets ours added unless it already
/// holds this payload with this signature; the result is an OCI manifest.
fn send_signature(
    client: &mut Client,
    tag: &str,
    sig: &ImageSignature,
    report: &mut PushReport,
) -> Result<(), PushError> {
    let payload = send_blob(client, MT_SIMPLE_SIGNING, &sig.payload, report)?;
    let layer = Descriptor {
        annotations: [(ANN_COSIGN_SIGNATURE.to_string(), sig.signature.clone())].into(),
        ..payload
    };
    let ours = desc_json(&layer);
    let mut layers: Vec<Value> =
        match get_manifest(client, tag, &format!("{MT_MANIFEST}, {DOCKER_MANIFEST}"))? {
            Some(m) => match m.get("layers").and_then(Value::as_array) {
                Some(l) => l.clone(),
                None => {
                    return Err(PushError::Http {
                        what: format!("reading the signatures at `{tag}`"),
                        status: 200,
                        message: "not an image manifest with layers; refusing to replace it".into(),
                    })
                }
            },
            None => Vec::new(),
        };
    let same = |l: &Value| {
        l.get("digest") == ours.get("digest")
            && l.pointer("/annotations/dev.cosignproject.cosign~1signature")
                == ours.pointer("/annotations/dev.cosignproject.cosign~1signature")
    };
    if layers.iter().any(same) {
        return Ok(());
    }
    layers.push(ours);
    let diff_ids: Vec<Value> = layers
        .iter()
        .filter_map(|l| l.get("digest").cloned())
        .collect();
    // What cosign's config says: no platform, the zero time, one diff_id per layer.
    let config = json!({
        "architecture": "",
        "config": {},
        "created": "0001-01-01T00:00:00Z",
        "history": [{"created": "0001-01-01T00:00:00Z"}],
        "os": "",
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    });
    let config_bytes = serde_json::to_vec(&config).map_err(|e| PushError::Source(e.to_string()))?;
    let config = send_blob(client, MT_CONFIG, &config_bytes, report)?;
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": MT_MANIFEST,
        "config": desc_json(&config),
        "layers": layers,
    });
    send_manifest(client, MT_MANIFEST, &manifest, Some(tag), report)?;
    Ok(())
}

/// Whether the registry's referrers API (`GET /v2/<name>/referrers/<digest>`) lists every one
/// of `entries`. A registry without the API answers 404 (or another error): then `false`.
fn referrers_api_lists(
    client: &mut Client,
    subject: &str,
    entries: &[(Descriptor, &Artifact)],
) -> Result<bool, PushError> {
    let mut resp = client.send(&Req {
        method: "GET",
        url: client.url(&format!("referrers/{subject}")),
        headers: vec![("Accept", MT_INDEX.to_string())],
        body: None,
        response_len: 0,
    })?;
    if resp.status().as_u16() != 200 {
        let _ = read_small(&mut resp);
        return Ok(false);
    }
    let Ok(bytes) = resp
        .body_mut()
        .with_config()
        .limit(MAX_MANIFEST)
        .read_to_vec()
    else {
        return Ok(false);
    };
    let Ok(v) = serde_json::from_slice::<Value>(&bytes) else {
        return Ok(false);
    };
    if v.get("mediaType").and_then(Value::as_str) != Some(MT_INDEX) {
        return Ok(false);
    }
    let listed: Vec<&str> = v
        .get("manifests")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|d| d.get("digest").and_then(Value::as_str))
                .collect()
        })
        .unwrap_or_default();
    Ok(entries
        .iter()
        .all(|(d, _)| listed.contains(&d.digest.as_str())))
}

/// The tag-schema fallback: the index at `tag` with `entries` merged in (by digest, appended in
/// order). Returns whether it was pushed (`false`: it already listed them all).
fn update_fallback_index(
    client: &mut Client,
    tag: &str,
    entries: &[(Descriptor, &Artifact)],
    report: &mut PushReport,
) -> Result<bool, PushError> {
    let mut manifests: Vec<Value> = match get_manifest(client, tag, MT_INDEX)? {
        Some(v) => match (
            v.get("mediaType").and_then(Value::as_str),
            v.get("manifests").and_then(Value::as_array),
        ) {
            (Some(MT_INDEX), Some(m)) => m.clone(),
            _ => {
                return Err(PushError::Http {
                    what: format!("reading the referrers index at `{tag}`"),
                    status: 200,
                    message: "not an OCI image index; refusing to replace it".into(),
                })
            }
        },
        None => Vec::new(),
    };
    let before = manifests.len();
    for (d, art) in entries {
        if manifests
            .iter()
            .any(|m| m.get("digest").and_then(Value::as_str) == Some(d.digest.as_str()))
        {
            continue;
        }
        let mut v = desc_json(d);
        if let Some(o) = v.as_object_mut() {
            o.insert(
                "artifactType".into(),
                Value::from(art.artifact_type.clone()),
            );
        }
        manifests.push(v);
    }
    if manifests.len() == before {
        return Ok(false);
    }
    let index = json!({
        "schemaVersion": 2,
        "mediaType": MT_INDEX,
        "manifests": manifests,
    });
    send_manifest(client, MT_INDEX, &index, Some(tag), report)?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn desc(d: &str) -> Descriptor {
        Descriptor {
            media_type: MT_MANIFEST.into(),
            digest: d.into(),
            size: 10,
            platform: None,
            annotations: BTreeMap::new(),
        }
    }

    #[test]
    fn subjects_must_be_in_the_index() {
        let root = desc("sha256:aa");
        let ms = [desc("sha256:bb"), root.clone()];
        let art = |s: Option<&str>| Artifact {
            artifact_type: "application/spdx+json".into(),
            subject: s.map(str::to_string),
            title: "x.spdx.json".into(),
            bytes: b"{}".to_vec(),
        };
        let a = Attachments {
            signature: None,
            artifacts: vec![art(None), art(Some("sha256:bb"))],
        };
        let s = check(&a, &root, &ms).unwrap();
        assert_eq!(s[0].digest, "sha256:aa");
        assert_eq!(s[1].digest, "sha256:bb");
        let a = Attachments {
            signature: None,
            artifacts: vec![art(Some("sha256:cc"))],
        };
        let e = check(&a, &root, &ms).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(e.to_string().contains("sha256:cc"), "{e}");
    }

    /// An in-memory registry on loopback: blobs are accepted and forgotten, manifests kept by
    /// reference. With `api`, it answers manifest PUTs that have a `subject` with `OCI-Subject`
    /// and serves `GET /v2/<name>/referrers/<digest>`; without, referrers are 404.
    struct FakeRegistry {
        addr: String,
        manifests: std::sync::Arc<std::sync::Mutex<BTreeMap<String, Vec<u8>>>>,
        puts: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    }

    fn fake_registry(api: bool) -> FakeRegistry {
        use std::io::{BufRead, BufReader, Read, Write};
        use std::sync::{Arc, Mutex};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let manifests: Arc<Mutex<BTreeMap<String, Vec<u8>>>> = Arc::default();
        let puts: Arc<Mutex<Vec<String>>> = Arc::default();
        let (m2, p2) = (manifests.clone(), puts.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let (ms, ps) = (m2.clone(), p2.clone());
                std::thread::spawn(move || {
                    let mut r = BufReader::new(conn.try_clone().unwrap());
                    let mut w = conn;
                    let mut line = String::new();
                    // The HTTPS attempt is a TLS ClientHello: hang up.
                    if r.read_line(&mut line).is_err() || !line.starts_with(char::is_uppercase) {
                        return;
                    }
                    let mut it = line.split_whitespace();
                    let method = it.next().unwrap_or("").to_string();
                    let path = it.next().unwrap_or("").to_string();
                    let mut len = 0usize;
                    loop {
                        let mut h = String::new();
                        if r.read_line(&mut h).unwrap_or(0) == 0 {
                            return;
                        }
                        if h.trim().is_empty() {
                            break;
                        }
                        if let Some((k, v)) = h.split_once(':') {
                            if k.eq_ignore_ascii_case("content-length") {
                                len = v.trim().parse().unwrap_or(0);
                            }
                        }
                    }
                    let mut body = vec![0; len];
                    if r.read_exact(&mut body).is_err() {
                        return;
                    }
                    let path = path.split('?').next().unwrap_or("").to_string();
                    let mut headers: Vec<(String, String)> = Vec::new();
                    let (status, out): (u16, Vec<u8>) = if path == "/v2/" {
                        (200, b"{}".to_vec())
                    } else if let Some(rf) = path.strip_prefix("/v2/t/referrers/") {
                        if api {
                            let listed: Vec<Value> = ms
                                .lock()
                                .unwrap()
                                .iter()
                                .filter(|(k, _)| k.starts_with("sha256:"))
                                .filter_map(|(k, v)| {
                                    let m: Value = serde_json::from_slice(v).ok()?;
                                    (m.pointer("/subject/digest")? == rf).then(|| {
                                        json!({"mediaType": MT_MANIFEST, "digest": k,
                                               "size": v.len(), "artifactType": m["artifactType"]})
                                    })
                                })
                                .collect();
                            let idx = json!({"schemaVersion": 2, "mediaType": MT_INDEX,
                                             "manifests": listed});
                            (200, serde_json::to_vec(&idx).unwrap())
                        } else {
                            (404, b"{}".to_vec())
                        }
                    } else if let Some(rf) = path.strip_prefix("/v2/t/manifests/") {
                        if method == "PUT" {
                            ps.lock().unwrap().push(rf.to_string());
                            let d = sha256_digest(&body);
                            let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                            if let (true, Some(s)) = (api, v.pointer("/subject/digest")) {
                                headers.push(("OCI-Subject".into(), s.as_str().unwrap().into()));
                            }
                            headers.push(("Docker-Content-Digest".into(), d.clone()));
                            let mut ms = ms.lock().unwrap();
                            ms.insert(d, body.clone());
                            ms.insert(rf.to_string(), body);
                            (201, Vec::new())
                        } else {
                            match ms.lock().unwrap().get(rf) {
                                Some(b) => (200, b.clone()),
                                None => (404, b"{}".to_vec()),
                            }
                        }
                    } else if path.starts_with("/v2/t/blobs/uploads/") && method == "POST" {
                        headers.push(("Location".into(), "/upload/1".into()));
                        (202, Vec::new())
                    } else if path.starts_with("/upload/") {
                        (201, Vec::new())
                    } else {
                        // HEAD of a blob: never there.
                        (404, Vec::new())
                    };
                    let mut head = format!(
                        "HTTP/1.1 {status} X\r\nConnection: close\r\nContent-Length: {}\r\n",
                        if method == "HEAD" { 0 } else { out.len() }
                    );
                    for (k, v) in headers {
                        head.push_str(&format!("{k}: {v}\r\n"));
                    }
                    head.push_str("\r\n");
                    let _ = w.write_all(head.as_bytes());
                    if method != "HEAD" {
                        let _ = w.write_all(&out);
                    }
                });
            }
        });
        FakeRegistry {
            addr,
            manifests,
            puts,
        }
    }

    fn layout(dir: &std::path::Path) -> (std::path::PathBuf, String) {
        let l = dir.join("img");
        let plans = [
            pkg_core::sample::lucia_like_plan(pkg_core::Arch::Amd64),
            pkg_core::sample::lucia_like_plan(pkg_core::Arch::Arm64),
        ];
        format_oci::write_layout(&plans, &l).unwrap();
        let top: Value =
            serde_json::from_slice(&std::fs::read(l.join("index.json")).unwrap()).unwrap();
        (
            l,
            top["manifests"][0]["digest"].as_str().unwrap().to_string(),
        )
    }

    fn provenance_only() -> Attachments {
        Attachments {
            signature: Some(ImageSignature {
                payload: b"{}".to_vec(),
                signature: "c2ln".into(),
            }),
            artifacts: vec![Artifact {
                artifact_type: "application/vnd.in-toto+json".into(),
                subject: None,
                title: "provenance.intoto.jsonl".into(),
                bytes: b"{\"payload\":\"\"}\n".to_vec(),
            }],
        }
    }

    fn push_to(reg: &FakeRegistry, l: &std::path::Path) -> Result<PushReport, PushError> {
        crate::push(
            l,
            &format!("{}/t", reg.addr),
            crate::PushOptions {
                tags: vec!["x".into()],
                timeout: Some(std::time::Duration::from_secs(10)),
                attach: provenance_only(),
                ..Default::default()
            },
        )
    }

    #[test]
    fn a_registry_with_the_referrers_api_gets_no_fallback_tag() {
        let t = tempfile::tempdir().unwrap();
        let (l, index) = layout(t.path());
        let reg = fake_registry(true);
        let report = push_to(&reg, &l).unwrap();
        let puts = reg.puts.lock().unwrap().clone();
        let fallback = digest_tag(&index);
        assert!(puts.contains(&format!("{fallback}.sig")), "{puts:?}");
        assert!(!puts.contains(&fallback), "{puts:?}");
        assert!(
            report.attached.iter().any(|a| a.contains("referrers API")),
            "{:?}",
            report.attached
        );
    }

    #[test]
    fn the_fallback_index_keeps_what_others_listed_and_refuses_to_replace_other_things() {
        let t = tempfile::tempdir().unwrap();
        let (l, index) = layout(t.path());
        let reg = fake_registry(false);
        let fallback = digest_tag(&index);
        let foreign = json!({"schemaVersion": 2, "mediaType": MT_INDEX, "manifests": [
            {"mediaType": MT_MANIFEST, "digest": format!("sha256:{}", "f".repeat(64)),
             "size": 1, "artifactType": "application/example"}]});
        reg.manifests
            .lock()
            .unwrap()
            .insert(fallback.clone(), serde_json::to_vec(&foreign).unwrap());
        push_to(&reg, &l).unwrap();
        let merged: Value =
            serde_json::from_slice(&reg.manifests.lock().unwrap()[&fallback]).unwrap();
        let listed = merged["manifests"].as_array().unwrap();
        assert_eq!(listed.len(), 2, "{merged}");
        assert_eq!(listed[0], foreign["manifests"][0]);
        assert_eq!(listed[1]["artifactType"], "application/vnd.in-toto+json");
        assert_eq!(
            listed[1]["annotations"][ANN_TITLE],
            "provenance.intoto.jsonl"
        );
        // Again: nothing new, the index is not rewritten.
        let before = reg.puts.lock().unwrap().len();
        push_to(&reg, &l).unwrap();
        let puts = reg.puts.lock().unwrap()[before..].to_vec();
        assert!(!puts.contains(&fallback), "{puts:?}");

        // Something that is not an index at the tag: left alone, the push fails.
        let reg = fake_registry(false);
        reg.manifests
            .lock()
            .unwrap()
            .insert(fallback.clone(), br#"{"schemaVersion":2}"#.to_vec());
        let e = push_to(&reg, &l).unwrap_err();
        assert!(e.to_string().contains("refusing to replace"), "{e}");
        assert_eq!(e.exit_code(), 1);
    }

    #[test]
    fn tags_from_digests() {
        assert_eq!(digest_tag("sha256:ab12"), "sha256-ab12");
        assert!(crate::valid_tag(&format!(
            "{}.sig",
            digest_tag(&format!("sha256:{}", "a".repeat(64)))
        )));
        // The empty descriptor's digest, as the image spec gives it.
        assert_eq!(
            sha256_digest(b"{}"),
            "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
        );
    }
}
