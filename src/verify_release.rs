//! `verify-release`: checks a signed out dir offline from public keys. Each check prints one
//! `ok:` or `FAILED:` line and every check runs even after one fails; any failure exits 1.
//!
//! - `SHA256SUMS`: every listed file exists (a regular file) with that sha256.
//! - `SHA256SUMS.sig`: the SSHSIG (namespace `file`) verifies with `--sums-key`.
//! - `provenance.intoto.jsonl`: the DSSE signature (Ed25519 over the PAE) verifies with
//!   `--sums-key`, its keyid is that key's fingerprint, every subject's digest is the out dir's
//!   (an OCI layout's is its index digest) and every file `SHA256SUMS` lists is covered.
//! - `image-signature/`: the ECDSA P-256 signature verifies over payload.json with
//!   `--image-key`; the payload is a cosign one naming the layout's index digest.
//! - `<layout>.sbom/`: each image SBOM names the platform manifest digest the layout holds.
//!
//! A signature present without the key to check it, a missing out dir and an unusable key are
//! bad input (exit 2). Messages never contain key material; files are read with a size limit.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use ssh_key::{Algorithm, HashAlg, PublicKey, SshSig};

use crate::error::AppError;
use crate::image_sign;
use crate::provenance;
use crate::sums_sign;

/// The most any record or key read into memory may hold.
const MAX_RECORD: u64 = 16 << 20;

/// What to verify.
#[derive(Debug, Clone)]
pub struct Options {
    pub out: PathBuf,
    pub sums_key: Option<PathBuf>,
    pub image_key: Option<PathBuf>,
}

/// One check's outcome.
#[derive(Debug, Clone)]
pub struct Check {
    pub name: String,
    pub result: Result<String, String>,
}

/// A regular file (not a symlink) of at most `limit` bytes.
fn read_bounded(path: &Path, limit: u64) -> Result<Vec<u8>, String> {
    let md = std::fs::symlink_metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if !md.is_file() {
        return Err(format!("{}: not a regular file", path.display()));
    }
    let mut f = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    pkg_core::limits::read_small(
        &mut f as &mut dyn Read,
        md.len(),
        limit,
        &path.display().to_string(),
    )
}

fn exists(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok()
}

/// The OpenSSH Ed25519 public key of `--sums-key`.
fn load_sums_key(path: &Path) -> Result<PublicKey, AppError> {
    let bad = |why: &str| AppError::Input(format!("--sums-key {}: {why}", path.display()));
    let bytes =
        read_bounded(path, 64 << 10).map_err(|e| AppError::Input(format!("--sums-key {e}")))?;
    let text = String::from_utf8(bytes).map_err(|_| bad("not UTF-8 text"))?;
    if text.contains("PRIVATE KEY") {
        return Err(bad("a private key: pass the public key (the .pub file)"));
    }
    let key = PublicKey::from_openssh(text.trim())
        .map_err(|_| bad("not an OpenSSH public key (a `ssh-ed25519 ...` line)"))?;
    if key.algorithm() != Algorithm::Ed25519 {
        return Err(bad(&format!(
            "a {} key; sign-sums and attest sign with Ed25519 keys only",
            key.algorithm().as_str()
        )));
    }
    Ok(key)
}

/// The PEM (SPKI) ECDSA P-256 public key of `--image-key`.
fn load_image_key(path: &Path) -> Result<p256::ecdsa::VerifyingKey, AppError> {
    use p256::pkcs8::DecodePublicKey;
    let bad = |why: &str| AppError::Input(format!("--image-key {}: {why}", path.display()));
    let bytes =
        read_bounded(path, 64 << 10).map_err(|e| AppError::Input(format!("--image-key {e}")))?;
    let text = String::from_utf8(bytes).map_err(|_| bad("not UTF-8 text"))?;
    if text.contains("PRIVATE KEY") {
        return Err(bad(
            "a private key: pass the public key (`openssl pkey -pubout`)",
        ));
    }
    p256::ecdsa::VerifyingKey::from_public_key_pem(text.trim())
        .map_err(|_| bad("not a PEM ECDSA P-256 public key (`openssl pkey -pubout` writes one)"))
}

/// Runs every check; `Err` only for bad input (exit 2).
pub fn run(opts: &Options) -> Result<Vec<Check>, AppError> {
    let out = &opts.out;
    match std::fs::metadata(out) {
        Ok(md) if md.is_dir() => {}
        Ok(_) => {
            return Err(AppError::Input(format!(
                "{}: not a directory",
                out.display()
            )))
        }
        Err(e) => return Err(AppError::Input(format!("{}: {e}", out.display()))),
    }
    let sig_path = out.join(sums_sign::SIG_NAME);
    let prov_path = out.join(provenance::FILE_NAME);
    let image_dir = out.join(image_sign::DIR_NAME);
    if opts.sums_key.is_none() {
        for p in [&sig_path, &prov_path] {
            if exists(p) {
                return Err(AppError::Input(format!(
                    "{} is present: pass --sums-key (the OpenSSH Ed25519 public key) to verify it",
                    p.display()
                )));
            }
        }
    }
    if opts.image_key.is_none() && exists(&image_dir) {
        return Err(AppError::Input(format!(
            "{} is present: pass --image-key (the PEM ECDSA P-256 public key) to verify it",
            image_dir.display()
        )));
    }
    let sums_key = opts.sums_key.as_deref().map(load_sums_key).transpose()?;
    let image_key = opts.image_key.as_deref().map(load_image_key).transpose()?;

    let mut checks = Vec::new();
    let mut push = |name: &str, result: Result<String, String>| {
        checks.push(Check {
            name: name.to_string(),
            result,
        })
    };

    let sums_bytes = read_bounded(&out.join("SHA256SUMS"), MAX_RECORD);
    let sums = sums_bytes
        .clone()
        .and_then(|b| String::from_utf8(b).map_err(|_| "SHA256SUMS: not UTF-8 text".into()))
        .and_then(|t| provenance::parse_sums(&t).map_err(|e| e.render(false)));
    push(
        "SHA256SUMS",
        sums.clone().and_then(|s| check_files(out, &s)),
    );

    let layout = oci_layout(out);
    let digests = layout
        .clone()
        .map(|l| l.map(|l| format_oci::layout_digests(&l).map_err(|e| e.to_string())));

    if let Some(key) = &sums_key {
        push(
            sums_sign::SIG_NAME,
            sums_bytes
                .clone()
                .and_then(|data| check_sums_sig(&sig_path, key, &data)),
        );
        let index = match &digests {
            Ok(Some(Ok((index, _)))) => Some(index.clone()),
            _ => None,
        };
        push(
            provenance::FILE_NAME,
            sums.clone().and_then(|s| {
                check_provenance(out, &prov_path, key, &s, layout_name(&layout), index)
            }),
        );
    }
    if let Some(key) = &image_key {
        let r = match &digests {
            Ok(Some(Ok((index, _)))) => check_image_signature(&image_dir, key, index),
            Ok(Some(Err(e))) | Err(e) => Err(e.clone()),
            Ok(None) => {
                Err("build-info.json lists no OCI layout to check the signature against".into())
            }
        };
        push(image_sign::DIR_NAME, r);
    }
    if let (Ok(Some(l)), Ok(Some(d))) = (&layout, &digests) {
        let r = d
            .clone()
            .and_then(|(_, platforms)| check_sboms(l, &platforms));
        push("image SBOMs", r);
    }
    Ok(checks)
}

/// The name of the OCI layout output, if any.
fn layout_name(layout: &Result<Option<PathBuf>, String>) -> Option<String> {
    match layout {
        Ok(Some(p)) => p.file_name().map(|n| n.to_string_lossy().into_owned()),
        _ => None,
    }
}

/// The OCI layout build-info.json lists (`None` without one).
fn oci_layout(out: &Path) -> Result<Option<PathBuf>, String> {
    let bytes = read_bounded(&out.join("build-info.json"), MAX_RECORD)?;
    let v: Value = serde_json::from_slice(&bytes).map_err(|e| format!("build-info.json: {e}"))?;
    let Some(outputs) = v["outputs"].as_array() else {
        return Err("build-info.json: no `outputs` list".into());
    };
    match outputs.iter().find(|o| o["format"] == "oci") {
        None => Ok(None),
        Some(o) => match o["name"].as_str() {
            Some(n) if provenance::relative_name(n) && !n.contains('/') => Ok(Some(out.join(n))),
            _ => Err("build-info.json: the OCI output's name is not a name in the out dir".into()),
        },
    }
}

/// Every listed file is a regular file under plain directories with the listed sha256.
fn check_files(out: &Path, sums: &BTreeMap<String, String>) -> Result<String, String> {
    let mut bad = Vec::new();
    for (name, want) in sums {
        let mut path = out.to_path_buf();
        let parts: Vec<&str> = name.split('/').collect();
        let mut reachable = true;
        for (i, part) in parts.iter().enumerate() {
            path.push(part);
            let last = i + 1 == parts.len();
            match std::fs::symlink_metadata(&path) {
                Ok(md) if (last && md.is_file()) || (!last && md.is_dir()) => {}
                Ok(_) => {
                    bad.push(format!("{name}: not a regular file"));
                    reachable = false;
                    break;
                }
                Err(e) => {
                    bad.push(format!("{name}: {e}"));
                    reachable = false;
                    break;
                }
            }
        }
        if !reachable {
            continue;
        }
        match pkg_core::digest::sha256_file(&path) {
            Ok((sha, _)) if hex::encode(sha) == *want => {}
            Ok((sha, _)) => bad.push(format!(
                "{name}: sha256 is {}, SHA256SUMS says {want}",
                hex::encode(sha)
            )),
            Err(e) => bad.push(format!("{name}: {e}")),
        }
    }
    if bad.is_empty() {
        Ok(format!(
            "{} files have the sha256 SHA256SUMS lists",
            sums.len()
        ))
    } else {
        Err(bad.join("; "))
    }
}

fn check_sums_sig(sig_path: &Path, key: &PublicKey, data: &[u8]) -> Result<String, String> {
    let text = read_bounded(sig_path, 64 << 10)?;
    let text = String::from_utf8(text).map_err(|_| "not UTF-8 text".to_string())?;
    let sig = SshSig::from_pem(text.trim()).map_err(|e| format!("not an SSH signature ({e})"))?;
    key.verify(sums_sign::NAMESPACE, data, &sig)
        .map_err(|_| "the signature does not verify over SHA256SUMS with --sums-key".to_string())?;
    Ok(format!("signed by {}", key.fingerprint(HashAlg::Sha256)))
}

fn check_provenance(
    out: &Path,
    path: &Path,
    key: &PublicKey,
    sums: &BTreeMap<String, String>,
    layout: Option<String>,
    index: Option<String>,
) -> Result<String, String> {
    use p256::ecdsa::signature::Verifier;
    let bytes = read_bounded(path, MAX_RECORD)?;
    let env: Value =
        serde_json::from_slice(&bytes).map_err(|e| format!("not a DSSE envelope ({e})"))?;
    if env["payloadType"] != provenance::PAYLOAD_TYPE {
        return Err(format!("payloadType is not {}", provenance::PAYLOAD_TYPE));
    }
    let payload = env["payload"]
        .as_str()
        .and_then(nar::encoding::from_base64)
        .ok_or("the payload is not base64")?;
    let keyid = key.fingerprint(HashAlg::Sha256).to_string();
    let sigs = env["signatures"].as_array().ok_or("no signatures")?;
    let message = provenance::pae(provenance::PAYLOAD_TYPE, &payload);
    let verified = sigs.iter().any(|s| {
        s["keyid"] == keyid.as_str()
            && s["sig"]
                .as_str()
                .and_then(nar::encoding::from_base64)
                .and_then(|raw| ssh_key::Signature::new(Algorithm::Ed25519, raw).ok())
                .is_some_and(|sig| key.key_data().verify(&message, &sig).is_ok())
    });
    if !verified {
        return Err(format!(
            "no signature with keyid {keyid} verifies over the payload with --sums-key"
        ));
    }
    let st: Value = serde_json::from_slice(&payload).map_err(|e| format!("payload: {e}"))?;
    if st["_type"] != provenance::STATEMENT_TYPE
        || st["predicateType"] != provenance::PREDICATE_TYPE
    {
        return Err("the payload is not an in-toto v1 statement of SLSA provenance v1".into());
    }
    let subjects = st["subject"]
        .as_array()
        .ok_or("the statement has no subjects")?;
    let mut covered: BTreeSet<String> = BTreeSet::new();
    let mut bad = Vec::new();
    for s in subjects {
        let (Some(name), Some(digest)) = (s["name"].as_str(), s["digest"]["sha256"].as_str())
        else {
            bad.push("a subject without name or sha256".to_string());
            continue;
        };
        if layout.as_deref() == Some(name) {
            if index.as_deref().and_then(|i| i.strip_prefix("sha256:")) != Some(digest) {
                bad.push(format!(
                    "subject {name}: {digest} is not the layout's index digest"
                ));
            }
            let prefix = format!("{name}/");
            covered.extend(sums.keys().filter(|n| n.starts_with(&prefix)).cloned());
            continue;
        }
        if !provenance::relative_name(name) {
            bad.push(format!("subject `{name}` is not a name in the out dir"));
            continue;
        }
        match pkg_core::digest::sha256_file(&out.join(name)) {
            Ok((sha, _)) if hex::encode(sha) == digest => {
                covered.insert(name.to_string());
            }
            Ok(_) => bad.push(format!(
                "subject {name}: the out dir's file has another sha256"
            )),
            Err(e) => bad.push(format!("subject {name}: {e}")),
        }
    }
    let byproducts: BTreeSet<&str> = st["predicate"]["runDetails"]["byproducts"]
        .as_array()
        .map(|a| a.iter().filter_map(|b| b["name"].as_str()).collect())
        .unwrap_or_default();
    for n in sums.keys() {
        if !covered.contains(n) && !byproducts.contains(n.as_str()) {
            bad.push(format!("{n} (in SHA256SUMS) is not a subject"));
        }
    }
    if bad.is_empty() {
        Ok(format!(
            "{} subjects match the out dir, signed by {keyid}",
            subjects.len()
        ))
    } else {
        Err(bad.join("; "))
    }
}

fn check_image_signature(
    dir: &Path,
    key: &p256::ecdsa::VerifyingKey,
    index: &str,
) -> Result<String, String> {
    use p256::ecdsa::signature::Verifier;
    let payload = read_bounded(&dir.join(image_sign::PAYLOAD_NAME), 1 << 20)?;
    let sig_text = read_bounded(&dir.join(image_sign::SIGNATURE_NAME), 64 << 10)?;
    let der = std::str::from_utf8(&sig_text)
        .ok()
        .and_then(|t| nar::encoding::from_base64(t.trim()))
        .ok_or("signature: not base64")?;
    let sig = p256::ecdsa::Signature::from_der(&der)
        .map_err(|_| "signature: not a DER ECDSA signature")?;
    key.verify(&payload, &sig)
        .map_err(|_| "the signature does not verify over payload.json with --image-key")?;
    let v: Value = serde_json::from_slice(&payload).map_err(|e| format!("payload.json: {e}"))?;
    if v.pointer("/critical/type").and_then(Value::as_str) != Some(image_sign::COSIGN_TYPE) {
        return Err(format!(
            "payload.json: type is not `{}`",
            image_sign::COSIGN_TYPE
        ));
    }
    let signed = v
        .pointer("/critical/image/docker-manifest-digest")
        .and_then(Value::as_str)
        .unwrap_or("no digest");
    if signed != index {
        return Err(format!(
            "payload.json signs {signed}, the layout's index is {index}"
        ));
    }
    let reference = v
        .pointer("/critical/identity/docker-reference")
        .and_then(Value::as_str)
        .unwrap_or("?");
    Ok(format!("{reference}@{index}"))
}

fn check_sboms(layout: &Path, platforms: &[format_oci::PlatformSummary]) -> Result<String, String> {
    let Some(name) = layout.file_name() else {
        return Err("no layout name".into());
    };
    let dir = layout.with_file_name(format!("{}.sbom", name.to_string_lossy()));
    let rd = std::fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut names: Vec<String> = rd
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect();
    names.sort();
    let mut bad = Vec::new();
    let mut seen = BTreeSet::new();
    let mut count = 0;
    for n in &names {
        let Some(stem) = n
            .strip_suffix(".spdx.json")
            .or_else(|| n.strip_suffix(".cdx.json"))
        else {
            continue;
        };
        count += 1;
        let label = stem.replace('-', "/");
        let Some(p) = platforms.iter().find(|p| p.platform == label) else {
            bad.push(format!("{n}: the layout has no {label} manifest"));
            continue;
        };
        seen.insert(p.platform.clone());
        let hex = p.manifest_digest.trim_start_matches("sha256:");
        match read_bounded(&dir.join(n), 256 << 20) {
            Ok(b) if String::from_utf8_lossy(&b).contains(hex) => {}
            Ok(_) => bad.push(format!(
                "{n}: does not name the {label} manifest {}",
                p.manifest_digest
            )),
            Err(e) => bad.push(e),
        }
    }
    for p in platforms {
        if !seen.contains(&p.platform) {
            bad.push(format!("no SBOM for the {} manifest", p.platform));
        }
    }
    if bad.is_empty() {
        Ok(format!(
            "{count} SBOMs name the layout's platform manifests"
        ))
    } else {
        Err(bad.join("; "))
    }
}

/// `lucia-pkg verify-release`: prints each check, exit 1 when any failed.
pub fn command(opts: &Options, json_output: bool) -> Result<(), AppError> {
    let checks = run(opts)?;
    let failed = checks.iter().filter(|c| c.result.is_err()).count();
    if json_output {
        let list: Vec<Value> = checks
            .iter()
            .map(|c| match &c.result {
                Ok(d) => json!({ "check": c.name, "ok": true, "detail": d }),
                Err(d) => json!({ "check": c.name, "ok": false, "detail": d }),
            })
            .collect();
        println!("{}", json!({ "ok": failed == 0, "checks": list }));
    } else {
        for c in &checks {
            match &c.result {
                Ok(d) => println!("ok: {}: {d}", c.name),
                Err(d) => println!("FAILED: {}: {d}", c.name),
            }
        }
    }
    if failed > 0 {
        return Err(AppError::Build(format!(
            "verify-release: {failed} of {} checks failed",
            checks.len()
        )));
    }
    Ok(())
}
