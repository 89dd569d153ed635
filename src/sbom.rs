//! Software bills of materials: an SPDX 2.3 JSON and a CycloneDX 1.6 JSON document for every
//! package (deb, rpm, tarball; one per arch) and for every platform of the image.
//!
//! Each document is a pure function of the plan (and, for the image, of the platform manifest
//! digest the layout holds): every payload file with its sha256 (from the plan) and sha1 (SPDX
//! requires it; computed here once per arch and checked against the plan's sha256), the declared
//! dependencies, license, supplier, version and purl. `documentNamespace` and `serialNumber` are
//! derived from the document's own content (a name-based v5 UUID), and the creation time is the
//! build's source date, so the same inputs give the same bytes. JSON maps are sorted (serde_json
//! without `preserve_order`).

use std::collections::BTreeMap;
use std::io::Read;
use std::sync::{Arc, OnceLock};

use pkg_core::determinism::rfc3339;
use pkg_core::digest::sha256_hex;
use pkg_core::plan::{Content, Entry, EntryKind};
use pkg_core::{Arch, Plan};
use serde_json::{json, Value};
use sha1::{Digest, Sha1};
use sha2::Sha256;

use crate::error::AppError;

/// Suffix of the SPDX document next to an artifact (`<artifact>.spdx.json`).
pub const SPDX_SUFFIX: &str = ".spdx.json";
/// Suffix of the CycloneDX document next to an artifact (`<artifact>.cdx.json`).
pub const CDX_SUFFIX: &str = ".cdx.json";

const TOOL: &str = env!("CARGO_PKG_NAME");
const TOOL_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Changes whenever the documents' content changes for the same plan (part of build keys, so a
/// store entry made by an older generator is never served).
pub const GENERATOR: &str = "sbom spdx-2.3 cyclonedx-1.6 v1";

/// The SBOM names next to a single-file artifact: `[<artifact>.spdx.json, <artifact>.cdx.json]`.
pub fn names_for(artifact: &str) -> [String; 2] {
    [
        format!("{artifact}{SPDX_SUFFIX}"),
        format!("{artifact}{CDX_SUFFIX}"),
    ]
}

/// The directory holding the image's SBOMs, one pair per platform: `<name>-<version>-oci.sbom`.
pub fn oci_dir_name(plan: &Plan) -> String {
    format!("{}-{}-oci.sbom", plan.meta.name, plan.meta.version.upstream)
}

/// `linux-amd64`, `linux-arm64-v8`: the per-platform file stem in [`oci_dir_name`].
pub fn platform_stem(arch: Arch) -> String {
    match arch.oci_variant() {
        Some(v) => format!("linux-{}-{v}", arch.oci_arch()),
        None => format!("linux-{}", arch.oci_arch()),
    }
}

/// What a document describes.
pub enum Subject<'a> {
    Deb,
    Rpm,
    Tar,
    /// One platform of the image, by its manifest digest (`sha256:…`).
    Image {
        manifest_digest: &'a str,
    },
}

type Sha1s = Arc<BTreeMap<String, [u8; 20]>>;

/// The sha1 of every file of every plan, computed at most once per arch however many jobs ask
/// (concurrent callers wait for the first).
pub struct FileHashes {
    slots: BTreeMap<Arch, OnceLock<Result<Sha1s, String>>>,
}

impl FileHashes {
    pub fn new(plans: &[Plan]) -> FileHashes {
        FileHashes {
            slots: plans.iter().map(|p| (p.arch, OnceLock::new())).collect(),
        }
    }

    fn sha1s(&self, plan: &Plan) -> Result<Sha1s, AppError> {
        let slot = self
            .slots
            .get(&plan.arch)
            .ok_or_else(|| AppError::Build(format!("sbom: no plan for {}", plan.arch)))?;
        slot.get_or_init(|| compute_sha1s(plan))
            .clone()
            .map_err(AppError::Build)
    }
}

/// One read of each file: sha1 for SPDX, and sha256 to prove the bytes are still the planned ones.
fn compute_sha1s(plan: &Plan) -> Result<Sha1s, String> {
    let mut out = BTreeMap::new();
    for e in &plan.entries {
        if let Some(s1) = entry_sha1(e)? {
            out.insert(e.path.clone(), s1);
        }
    }
    Ok(Arc::new(out))
}

/// The sha1 of a file entry's content, after checking its sha256 is the one the entry records.
fn entry_sha1(e: &Entry) -> Result<Option<[u8; 20]>, String> {
    let EntryKind::File {
        content, sha256, ..
    } = &e.kind
    else {
        return Ok(None);
    };
    let (s1, s256) = match content {
        Content::Inline(b) => (Sha1::digest(b.as_slice()), Sha256::digest(b.as_slice())),
        Content::Disk(_) => {
            let mut r = content.open().map_err(|e| format!("sbom: {e}"))?;
            let (mut a, mut b) = (Sha1::new(), Sha256::new());
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                let n = r
                    .read(&mut buf)
                    .map_err(|err| format!("sbom: {}: {err}", e.path))?;
                if n == 0 {
                    break;
                }
                a.update(&buf[..n]);
                b.update(&buf[..n]);
            }
            (a.finalize(), b.finalize())
        }
    };
    if s256.as_slice() != sha256.as_slice() {
        return Err(format!(
            "sbom: {} changed while the build ran (its sha256 is no longer the planned one)",
            e.path
        ));
    }
    Ok(Some(s1.into()))
}

/// Percent-encodes a purl component: everything but ASCII letters, digits and `.-_~`.
fn purl_encode(s: &str) -> String {
    let mut o = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b'~') {
            o.push(b as char);
        } else {
            o.push_str(&format!("%{b:02X}"));
        }
    }
    o
}

/// A purl with its qualifiers sorted by key (as the purl spec's canonical form wants).
fn purl(ty: &str, name: &str, version: &str, qualifiers: &[(&str, String)]) -> String {
    let mut q: Vec<&(&str, String)> = qualifiers.iter().filter(|(_, v)| !v.is_empty()).collect();
    q.sort_by_key(|(k, _)| *k);
    let mut s = format!("pkg:{ty}/{}", purl_encode(name));
    if !version.is_empty() {
        s.push('@');
        s.push_str(&purl_encode(version));
    }
    for (i, (k, v)) in q.iter().enumerate() {
        s.push(if i == 0 { '?' } else { '&' });
        // Repository URLs keep their slashes, as the purl spec's examples write them.
        let v = purl_encode(v).replace("%2F", "/");
        s.push_str(&format!("{k}={v}"));
    }
    s
}

fn image_repository(plan: &Plan) -> Option<String> {
    plan.formats
        .oci
        .repository
        .as_deref()
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .map(str::to_string)
}

/// `(name, version, purl, purpose)` of the subject.
fn identity(plan: &Plan, subject: &Subject) -> (String, String, String, &'static str) {
    let m = &plan.meta;
    match subject {
        Subject::Deb => {
            let v = m.version.deb();
            let p = purl("deb", &m.name, &v, &[("arch", plan.arch.deb().into())]);
            (m.name.clone(), v, p, "application")
        }
        Subject::Rpm => {
            let v = m.version.file_version();
            let epoch = m.version.epoch.filter(|e| *e > 0).map(|e| e.to_string());
            let p = purl(
                "rpm",
                &m.name,
                &v,
                &[
                    ("arch", plan.arch.rpm().into()),
                    ("epoch", epoch.unwrap_or_default()),
                ],
            );
            (m.name.clone(), v, p, "application")
        }
        Subject::Tar => {
            let v = m.version.upstream.clone();
            let p = purl(
                "generic",
                &m.name,
                &v,
                &[("arch", plan.arch.as_str().into())],
            );
            (m.name.clone(), v, p, "application")
        }
        Subject::Image { manifest_digest } => {
            let repo = image_repository(plan);
            let name = repo
                .as_deref()
                .and_then(|r| r.rsplit('/').next())
                .unwrap_or(&m.name)
                .to_ascii_lowercase();
            let p = purl(
                "oci",
                &name,
                manifest_digest,
                &[
                    ("arch", plan.arch.oci_arch().into()),
                    ("repository_url", repo.unwrap_or_default()),
                    ("tag", format_oci::version_tag(plan)),
                ],
            );
            (m.name.clone(), m.version.upstream.clone(), p, "container")
        }
    }
}

/// The relations the artifact declares, as its package manager reads them.
fn dependencies(plan: &Plan, subject: &Subject) -> Vec<String> {
    match subject {
        Subject::Deb => {
            let d = &plan.formats.deb;
            // As format-deb's control file writes Depends: the manifest's relations, adduser when
            // the scripts may need it, then the automatic shared-library relations for packages
            // the manifest does not name.
            let names = |list: &[String]| -> Vec<String> {
                list.iter()
                    .flat_map(|r| r.split('|'))
                    .filter_map(|alt| {
                        alt.trim()
                            .split(|c: char| c.is_whitespace() || c == '(' || c == ':')
                            .next()
                            .map(str::to_string)
                    })
                    .collect()
            };
            let mut deps: Vec<String> = d.pre_depends.clone();
            deps.extend(d.depends.iter().cloned());
            let creates_user = plan.service.as_ref().is_some_and(|s| s.user.is_some());
            if creates_user && !names(&d.depends).iter().any(|n| n == "adduser") {
                deps.push("adduser".into());
            }
            let named = names(&deps);
            for auto in &d.shlib_depends {
                let n = auto.split_whitespace().next().unwrap_or_default();
                if !named.iter().any(|x| x == n) {
                    deps.push(auto.clone());
                }
            }
            deps
        }
        Subject::Rpm => {
            let r = &plan.formats.rpm;
            r.requires
                .iter()
                .chain(&r.shlib_requires)
                .cloned()
                .collect()
        }
        Subject::Tar => Vec::new(),
        Subject::Image { .. } => plan
            .formats
            .oci
            .base
            .iter()
            .map(|b| format!("base image {}", b.digest))
            .collect(),
    }
}

/// The package (or capability) name a relation is about: `libc6 (>= 2.34)` → `libc6`,
/// `foo >= 1.2` → `foo`; alternatives (`a | b`) stay whole.
fn relation_name(rel: &str) -> String {
    let rel = rel.trim();
    if rel.contains('|') || rel.starts_with("base image ") {
        return rel.to_string();
    }
    let first = rel.split_whitespace().next().unwrap_or(rel);
    // `libc6(>= 2.34)`: a version relation glued to the name; `libc.so.6(GLIBC_2.34)(64bit)` is
    // an rpm capability and stays whole.
    match first.find('(') {
        Some(i) if first[i + 1..].trim_start().starts_with(['<', '>', '=']) => {
            first[..i].to_string()
        }
        _ => first.to_string(),
    }
}

/// Whether the license is written as an SPDX license expression (identifiers, `AND`/`OR`/`WITH`,
/// parentheses); anything else is carried as a named license (`LicenseRef-` in SPDX).
fn is_spdx_expression(s: &str) -> bool {
    let spaced = s.replace('(', " ( ").replace(')', " ) ");
    let tokens: Vec<&str> = spaced.split_whitespace().collect();
    if tokens.is_empty() {
        return false;
    }
    let mut depth = 0i32;
    let mut want_operand = true;
    for t in tokens {
        match t {
            "(" if want_operand => depth += 1,
            ")" if !want_operand => {
                depth -= 1;
                if depth < 0 {
                    return false;
                }
            }
            "AND" | "OR" | "WITH" if !want_operand => want_operand = true,
            id if want_operand
                && !matches!(id, "(" | ")" | "AND" | "OR" | "WITH")
                && id
                    .trim_end_matches('+')
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
                && id.chars().next().is_some_and(|c| c.is_ascii_alphanumeric()) =>
            {
                want_operand = false
            }
            _ => return false,
        }
    }
    depth == 0 && !want_operand
}

/// `LicenseRef-<the license with other characters as ->`.
fn license_ref(license: &str) -> String {
    let id: String = license
        .trim()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    format!("LicenseRef-{}", if id.is_empty() { "unknown" } else { &id })
}

/// `Name <email>` → (`Name`, `email`).
fn split_contact(s: &str) -> (String, Option<String>) {
    let s = s.trim();
    match (s.find('<'), s.rfind('>')) {
        (Some(a), Some(b)) if a < b => {
            let name = s[..a].trim().to_string();
            let email = s[a + 1..b].trim().to_string();
            (name, Some(email).filter(|e| !e.is_empty()))
        }
        _ => (s.to_string(), None),
    }
}

/// Only letters, digits, `.` and `-` (SPDX identifiers).
fn spdx_id_part(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect()
}

/// A name-based (version 5, SHA-1, URL namespace) UUID of `name`.
fn uuid_v5(name: &str) -> String {
    const NS_URL: [u8; 16] = [
        0x6b, 0xa7, 0xb8, 0x11, 0x9d, 0xad, 0x11, 0xd1, 0x80, 0xb4, 0x00, 0xc0, 0x4f, 0xd4, 0x30,
        0xc8,
    ];
    let mut h = Sha1::new();
    h.update(NS_URL);
    h.update(name.as_bytes());
    let d = h.finalize();
    let mut b = [0u8; 16];
    b.copy_from_slice(&d[..16]);
    b[6] = (b[6] & 0x0f) | 0x50;
    b[8] = (b[8] & 0x3f) | 0x80;
    let x = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &x[..8],
        &x[8..12],
        &x[12..16],
        &x[16..20],
        &x[20..]
    )
}

/// A payload file as both documents list it.
struct FileRow<'a> {
    path: &'a str,
    sha1: String,
    sha256: String,
    size: u64,
    config: bool,
}

/// The regular files among `entries`: sha1 from the per-arch pass when the entry is the plan's
/// (same path and content), else (files a writer generates) hashed here.
fn files<'a>(
    plan: &Plan,
    entries: &'a [Entry],
    sha1s: &BTreeMap<String, [u8; 20]>,
) -> Result<Vec<FileRow<'a>>, AppError> {
    let mut rows = Vec::new();
    for e in entries {
        if let EntryKind::File { sha256, size, .. } = &e.kind {
            let planned = plan.entry(&e.path).is_some_and(|p| p.kind == e.kind);
            let s1 = match sha1s.get(&e.path).filter(|_| planned) {
                Some(s) => *s,
                None => entry_sha1(e)
                    .map_err(AppError::Build)?
                    .ok_or_else(|| AppError::Build(format!("sbom: {} is not a file", e.path)))?,
            };
            rows.push(FileRow {
                path: &e.path,
                sha1: hex::encode(s1),
                sha256: hex::encode(sha256),
                size: *size,
                config: e.config,
            });
        }
    }
    Ok(rows)
}

/// The two documents for `subject`: (`<artifact>.spdx.json`, `<artifact>.cdx.json`) contents.
/// `artifact` names what is described (the file name, or `<layout>@<platform>` for the image).
pub fn render(
    plan: &Plan,
    subject: &Subject,
    artifact: &str,
    hashes: &FileHashes,
) -> Result<(String, String), AppError> {
    let sha1s = hashes.sha1s(plan)?;
    // What the artifact installs, as its writer lays it out.
    let entries: Vec<Entry> = match subject {
        Subject::Deb => format_deb::data_entries(plan).map_err(AppError::build)?,
        Subject::Image { .. } => format_oci::layer_entries(plan).map_err(AppError::build)?,
        Subject::Rpm | Subject::Tar => plan.entries.clone(),
    };
    let rows = files(plan, &entries, &sha1s)?;
    let deps = dependencies(plan, subject);
    let spdx = spdx(plan, subject, artifact, &rows, &deps)?;
    let cdx = cyclonedx(plan, subject, &rows, &deps)?;
    Ok((spdx, cdx))
}

fn to_text(v: &Value) -> Result<String, AppError> {
    serde_json::to_string_pretty(v)
        .map(|s| s + "\n")
        .map_err(AppError::build)
}

fn spdx(
    plan: &Plan,
    subject: &Subject,
    artifact: &str,
    rows: &[FileRow],
    deps: &[String],
) -> Result<String, AppError> {
    let m = &plan.meta;
    let (name, version, purl, purpose) = identity(plan, subject);
    let pkg_id = format!("SPDXRef-Package-{}", spdx_id_part(&name));
    let (maint_name, maint_email) = split_contact(&m.maintainer);
    let person = match &maint_email {
        Some(e) => format!("Person: {maint_name} ({e})"),
        None => format!("Person: {maint_name}"),
    };
    let supplier = match m.vendor.as_deref().map(str::trim).filter(|v| !v.is_empty()) {
        Some(v) => format!("Organization: {v}"),
        None => person.clone(),
    };
    let mut extracted = Vec::new();
    let license = if is_spdx_expression(&m.license) {
        m.license.trim().to_string()
    } else {
        let id = license_ref(&m.license);
        extracted.push(json!({
            "licenseId": id,
            "name": m.license.trim(),
            "extractedText": format!("The package declares its license as: {}", m.license.trim()),
        }));
        id
    };
    // SPDX 2.3 §7.9: sha1 of the sorted, concatenated sha1s of every file.
    let mut file_sha1s: Vec<&str> = rows.iter().map(|r| r.sha1.as_str()).collect();
    file_sha1s.sort_unstable();
    let verification = hex::encode(Sha1::digest(file_sha1s.concat().as_bytes()));

    let mut package = json!({
        "SPDXID": pkg_id,
        "name": name,
        "versionInfo": version,
        "supplier": supplier,
        "originator": person,
        "downloadLocation": "NOASSERTION",
        "filesAnalyzed": true,
        "packageVerificationCode": { "packageVerificationCodeValue": verification },
        "licenseConcluded": "NOASSERTION",
        "licenseDeclared": license,
        "copyrightText": "NOASSERTION",
        "summary": m.summary,
        "primaryPackagePurpose": purpose.to_ascii_uppercase(),
        "externalRefs": [{
            "referenceCategory": "PACKAGE-MANAGER",
            "referenceType": "purl",
            "referenceLocator": purl,
        }],
    });
    if !m.description.trim().is_empty() {
        package["description"] = json!(m.description);
    }
    if let Some(h) = m.homepage.as_deref().filter(|h| !h.trim().is_empty()) {
        package["homepage"] = json!(h.trim());
    }
    if let Some(s) = m.source_url.as_deref().filter(|s| !s.trim().is_empty()) {
        package["sourceInfo"] = json!(format!("built from {}", s.trim()));
    }
    let mut packages = vec![package];
    let mut relationships = vec![json!({
        "spdxElementId": "SPDXRef-DOCUMENT",
        "relationshipType": "DESCRIBES",
        "relatedSpdxElement": pkg_id,
    })];
    let mut spdx_files = Vec::new();
    for (i, r) in rows.iter().enumerate() {
        let id = format!("SPDXRef-File-{i}");
        let mut f = json!({
            "SPDXID": id,
            "fileName": format!(".{}", r.path),
            "checksums": [
                { "algorithm": "SHA1", "checksumValue": r.sha1 },
                { "algorithm": "SHA256", "checksumValue": r.sha256 },
            ],
            "comment": format!("size {} bytes", r.size),
        });
        if r.config {
            f["fileTypes"] = json!(["TEXT"]);
            f["comment"] = json!(format!("size {} bytes; configuration file", r.size));
        }
        spdx_files.push(f);
        relationships.push(json!({
            "spdxElementId": pkg_id,
            "relationshipType": "CONTAINS",
            "relatedSpdxElement": id,
        }));
    }
    for (i, d) in deps.iter().enumerate() {
        let id = format!("SPDXRef-Dependency-{i}");
        packages.push(json!({
            "SPDXID": id,
            "name": relation_name(d),
            "downloadLocation": "NOASSERTION",
            "filesAnalyzed": false,
            "comment": format!("declared as: {d}"),
        }));
        relationships.push(json!({
            "spdxElementId": pkg_id,
            "relationshipType": "DEPENDS_ON",
            "relatedSpdxElement": id,
        }));
    }
    let mut doc = json!({
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": artifact,
        "creationInfo": {
            "created": rfc3339(plan.source_date),
            "creators": [format!("Tool: {TOOL}-{TOOL_VERSION}")],
        },
        "packages": packages,
        "files": spdx_files,
        "relationships": relationships,
    });
    if !extracted.is_empty() {
        doc["hasExtractedLicensingInfos"] = json!(extracted);
    }
    // The namespace names this exact content: a hash of the document without it.
    let digest = sha256_hex(to_text(&doc)?.as_bytes());
    doc["documentNamespace"] = json!(format!(
        "https://spdx.org/spdxdocs/{}-{}",
        purl_encode(artifact),
        uuid_v5(&format!("sha256:{digest}"))
    ));
    to_text(&doc)
}

fn cyclonedx(
    plan: &Plan,
    subject: &Subject,
    rows: &[FileRow],
    deps: &[String],
) -> Result<String, AppError> {
    let m = &plan.meta;
    let (name, version, purl, purpose) = identity(plan, subject);
    let (maint_name, maint_email) = split_contact(&m.maintainer);
    let mut contact = json!({ "name": maint_name });
    if let Some(e) = &maint_email {
        contact["email"] = json!(e);
    }
    let supplier = match m.vendor.as_deref().map(str::trim).filter(|v| !v.is_empty()) {
        Some(v) => json!({ "name": v, "contact": [contact.clone()] }),
        None => json!({ "name": maint_name, "contact": [contact.clone()] }),
    };
    let license = if is_spdx_expression(&m.license) {
        json!([{ "expression": m.license.trim() }])
    } else {
        json!([{ "license": { "name": m.license.trim() } }])
    };
    let main_ref = purl.clone();
    let mut component = json!({
        "type": purpose,
        "bom-ref": main_ref,
        "name": name,
        "version": version,
        "description": m.summary,
        "supplier": supplier.clone(),
        "authors": [contact],
        "licenses": license,
        "purl": purl,
    });
    let mut ext = Vec::new();
    if let Some(h) = m.homepage.as_deref().filter(|h| !h.trim().is_empty()) {
        ext.push(json!({ "type": "website", "url": h.trim() }));
    }
    if let Some(s) = m.source_url.as_deref().filter(|s| !s.trim().is_empty()) {
        ext.push(json!({ "type": "vcs", "url": s.trim() }));
    }
    if !ext.is_empty() {
        component["externalReferences"] = json!(ext);
    }
    let mut components = Vec::new();
    for r in rows {
        let mut props = vec![json!({ "name": "size", "value": r.size.to_string() })];
        if r.config {
            props.push(json!({ "name": "config", "value": "true" }));
        }
        components.push(json!({
            "type": "file",
            "bom-ref": format!("file:{}", r.path),
            "name": r.path,
            "hashes": [
                { "alg": "SHA-1", "content": r.sha1 },
                { "alg": "SHA-256", "content": r.sha256 },
            ],
            "properties": props,
        }));
    }
    let mut dep_refs = Vec::new();
    for (i, d) in deps.iter().enumerate() {
        let r = format!("dependency:{i}:{}", relation_name(d));
        components.push(json!({
            "type": "library",
            "bom-ref": r,
            "name": relation_name(d),
            "description": format!("declared as: {d}"),
            "scope": "required",
        }));
        dep_refs.push(r);
    }
    let mut dependencies = vec![json!({ "ref": main_ref, "dependsOn": dep_refs })];
    for r in &dep_refs {
        dependencies.push(json!({ "ref": r }));
    }
    let mut doc = json!({
        "$schema": "http://cyclonedx.org/schema/bom-1.6.schema.json",
        "bomFormat": "CycloneDX",
        "specVersion": "1.6",
        "version": 1,
        "metadata": {
            "timestamp": rfc3339(plan.source_date),
            "tools": { "components": [{ "type": "application", "name": TOOL, "version": TOOL_VERSION }] },
            "component": component,
            "supplier": supplier.clone(),
        },
        "components": components,
        "dependencies": dependencies,
    });
    let digest = sha256_hex(to_text(&doc)?.as_bytes());
    doc["serialNumber"] = json!(format!("urn:uuid:{}", uuid_v5(&format!("sha256:{digest}"))));
    to_text(&doc)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn purls() {
        assert_eq!(
            purl(
                "deb",
                "lucia",
                "1:1.0.0~rc.1-1",
                &[("arch", "amd64".into())]
            ),
            "pkg:deb/lucia@1%3A1.0.0~rc.1-1?arch=amd64"
        );
        assert_eq!(
            purl(
                "oci",
                "app",
                "sha256:ab",
                &[
                    ("tag", "1.0".into()),
                    ("arch", "arm64".into()),
                    ("repository_url", "ghcr.io/o/app".into()),
                    ("epoch", String::new()),
                ]
            ),
            "pkg:oci/app@sha256%3Aab?arch=arm64&repository_url=ghcr.io/o/app&tag=1.0"
        );
    }

    #[test]
    fn uuid_is_v5() {
        // Python: uuid.uuid5(uuid.NAMESPACE_URL, "https://example.org")
        assert_eq!(
            uuid_v5("https://example.org"),
            "0d092af3-c9f8-531f-9cc3-9db40a0750ef"
        );
    }

    #[test]
    fn license_expressions() {
        for ok in [
            "MIT",
            "Apache-2.0 OR MIT",
            "(MIT AND BSD-3-Clause) OR GPL-2.0+",
            "GPL-2.0-only WITH Classpath-exception-2.0",
        ] {
            assert!(is_spdx_expression(ok), "{ok}");
        }
        for bad in [
            "",
            "Apache 2.0",
            "MIT OR",
            "(MIT",
            "MIT)",
            "see LICENSE",
            "AND MIT",
        ] {
            assert!(!is_spdx_expression(bad), "{bad}");
        }
        assert_eq!(license_ref("Apache 2.0"), "LicenseRef-Apache-2.0");
    }

    #[test]
    fn relation_names() {
        assert_eq!(relation_name("libc6 (>= 2.34)"), "libc6");
        assert_eq!(relation_name("foo >= 1.2"), "foo");
        assert_eq!(relation_name("libc6(>=2.34)"), "libc6");
        assert_eq!(
            relation_name("libc.so.6(GLIBC_2.34)(64bit)"),
            "libc.so.6(GLIBC_2.34)(64bit)"
        );
        assert_eq!(relation_name("a | b"), "a | b");
    }
}
