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
//! - `--apt-repo`: per suite, InRelease (cleartext, the text of Release) and Release.gpg verify
//!   with `--repo-key`; every file Release's SHA256 section lists has that sha256 and size; every
//!   Packages stanza's Filename exists with its SHA256 (and Size).
//! - `--dnf-repo`: repomd.xml.asc verifies over repomd.xml; every `<data>` file has its checksum
//!   and size; every package primary.xml lists exists with its sha256 checksum.
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
    pub repo_key: Option<PathBuf>,
    pub apt_repos: Vec<PathBuf>,
    pub dnf_repos: Vec<PathBuf>,
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
    let repos = opts.apt_repos.iter().chain(&opts.dnf_repos);
    for r in repos.clone() {
        match std::fs::metadata(r) {
            Ok(md) if md.is_dir() => {}
            Ok(_) => return Err(AppError::Input(format!("{}: not a directory", r.display()))),
            Err(e) => return Err(AppError::Input(format!("{}: {e}", r.display()))),
        }
    }
    let asc_path = out.join(sums_sign::ASC_NAME);
    if opts.repo_key.is_none() && exists(&asc_path) {
        return Err(AppError::Input(format!(
            "{} is present: pass --repo-key (the OpenPGP public key) to verify it",
            asc_path.display()
        )));
    }
    let repo_key = match (&opts.repo_key, repos.count()) {
        (Some(k), _) => Some(load_repo_key(k)?),
        (None, 0) => None,
        (None, _) => {
            return Err(AppError::Input(
                "--apt-repo/--dnf-repo: pass --repo-key (the repository's OpenPGP public key, repo-key.asc from a trusted source) to verify their signatures".into(),
            ))
        }
    };

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
    if let (Some(key), true) = (&repo_key, exists(&asc_path)) {
        let r = sums_bytes.clone().and_then(|data| {
            let sig = read_bounded(&asc_path, MAX_RECORD)?;
            pgp_detached(key, &sig, &data).map(|()| "OpenPGP signature verifies".to_string())
        });
        push(sums_sign::ASC_NAME, r);
    }
    if let Some(key) = &repo_key {
        let mut add =
            |name: String, result: Result<String, String>| checks.push(Check { name, result });
        for r in &opts.apt_repos {
            check_apt(r, key, &mut add);
        }
        for r in &opts.dnf_repos {
            check_dnf(r, key, &mut add);
        }
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

/// The armored OpenPGP public key of `--repo-key`.
fn load_repo_key(path: &Path) -> Result<pgp::composed::SignedPublicKey, AppError> {
    use pgp::composed::Deserializable;
    let bad = |why: &str| AppError::Input(format!("--repo-key {}: {why}", path.display()));
    let bytes =
        read_bounded(path, 1 << 20).map_err(|e| AppError::Input(format!("--repo-key {e}")))?;
    let text = String::from_utf8(bytes).map_err(|_| bad("not UTF-8 text"))?;
    if text.contains("PRIVATE KEY BLOCK") {
        return Err(bad(
            "a secret key: pass the public key (repo-key.asc, or `gpg --armor --export`)",
        ));
    }
    let (key, _) = pgp::composed::SignedPublicKey::from_string(&text)
        .map_err(|_| bad("not an ASCII-armored OpenPGP public key"))?;
    key.verify_bindings()
        .map_err(|_| bad("the key's self-signatures do not verify"))?;
    Ok(key)
}

/// Whether the detached signature `sig` (armored or binary) verifies over `data` with the
/// primary key or a subkey of `key`.
fn pgp_detached(
    key: &pgp::composed::SignedPublicKey,
    sig: &[u8],
    data: &[u8],
) -> Result<(), String> {
    use pgp::composed::{Deserializable, DetachedSignature};
    let sig = std::str::from_utf8(sig)
        .ok()
        .and_then(|t| DetachedSignature::from_string(t).ok().map(|(s, _)| s))
        .or_else(|| DetachedSignature::from_bytes(sig).ok())
        .ok_or("not an OpenPGP signature")?;
    if sig.verify(&key.primary_key, data).is_ok()
        || key
            .public_subkeys
            .iter()
            .any(|k| sig.verify(&k.key, data).is_ok())
    {
        Ok(())
    } else {
        Err("does not verify with --repo-key".into())
    }
}

/// The text an armored cleartext-signed message signs, if it verifies with `key`.
fn pgp_cleartext(key: &pgp::composed::SignedPublicKey, text: &str) -> Result<String, String> {
    let (msg, _) = pgp::composed::CleartextSignedMessage::from_string(text)
        .map_err(|_| "not a cleartext-signed OpenPGP message".to_string())?;
    if msg.verify(&key.primary_key).is_ok()
        || key
            .public_subkeys
            .iter()
            .any(|k| msg.verify(&k.key).is_ok())
    {
        Ok(msg.signed_text().replace("\r\n", "\n"))
    } else {
        Err("does not verify with --repo-key".into())
    }
}

/// `root/rel`, a regular file reached through plain directories, with `sha` (hex) and `size`.
fn check_entry(root: &Path, rel: &str, sha: &str, size: Option<u64>) -> Result<(), String> {
    if !provenance::relative_name(rel) {
        return Err(format!("`{rel}` is not a path inside {}", root.display()));
    }
    let mut path = root.to_path_buf();
    let parts: Vec<&str> = rel.split('/').collect();
    for (i, part) in parts.iter().enumerate() {
        path.push(part);
        let last = i + 1 == parts.len();
        match std::fs::symlink_metadata(&path) {
            Ok(md) if (last && md.is_file()) || (!last && md.is_dir()) => {}
            Ok(_) => return Err(format!("{rel}: not a regular file")),
            Err(e) => return Err(format!("{rel}: {e}")),
        }
    }
    let (digest, len) = pkg_core::digest::sha256_file(&path).map_err(|e| format!("{rel}: {e}"))?;
    if hex::encode(digest) != sha.to_ascii_lowercase() {
        return Err(format!(
            "{rel}: sha256 is {}, the index says {sha}",
            hex::encode(digest)
        ));
    }
    if let Some(want) = size {
        if len != want {
            return Err(format!("{rel}: {len} bytes, the index says {want}"));
        }
    }
    Ok(())
}

fn joined(bad: Vec<String>, ok: String) -> Result<String, String> {
    if bad.is_empty() {
        Ok(ok)
    } else {
        Err(bad.join("; "))
    }
}

/// The checks of an APT repository: per suite its signatures, its Release and its Packages.
fn check_apt(
    repo: &Path,
    key: &pgp::composed::SignedPublicKey,
    push: &mut dyn FnMut(String, Result<String, String>),
) {
    let dists = repo.join("dists");
    let suites = match std::fs::read_dir(&dists) {
        Ok(rd) => {
            let mut v: Vec<String> = rd
                .filter_map(|e| e.ok())
                .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect();
            v.sort();
            v
        }
        Err(e) => {
            push(
                format!("apt {}", repo.display()),
                Err(format!("{}: {e}", dists.display())),
            );
            return;
        }
    };
    if suites.is_empty() {
        push(
            format!("apt {}", repo.display()),
            Err("dists/ holds no suite".into()),
        );
    }
    for suite in suites {
        let dir = dists.join(&suite);
        let name = format!("apt {} {suite}", repo.display());
        let release = read_bounded(&dir.join("Release"), MAX_RECORD)
            .and_then(|b| String::from_utf8(b).map_err(|_| "Release: not UTF-8 text".into()));
        // The signatures: InRelease (cleartext, the same text as Release) and Release.gpg.
        let sigs = release.clone().and_then(|rel| {
            let inrel = read_bounded(&dir.join("InRelease"), MAX_RECORD).and_then(|b| {
                String::from_utf8(b).map_err(|_| "InRelease: not UTF-8 text".into())
            })?;
            let signed = pgp_cleartext(key, &inrel).map_err(|e| format!("InRelease: {e}"))?;
            if signed.trim_end() != rel.trim_end() {
                return Err("InRelease signs another text than Release".into());
            }
            let gpg = read_bounded(&dir.join("Release.gpg"), 1 << 20)?;
            pgp_detached(key, &gpg, rel.as_bytes()).map_err(|e| format!("Release.gpg: {e}"))?;
            Ok("InRelease and Release.gpg verify with --repo-key".to_string())
        });
        push(format!("{name} signatures"), sigs);
        // Every file the SHA256 section lists.
        let listed = release.clone().map(|rel| release_sha256(&rel));
        let r = listed.clone().and_then(|files| {
            if files.is_empty() {
                return Err("Release lists no SHA256 files".into());
            }
            let bad: Vec<String> = files
                .iter()
                .filter_map(|(p, sha, size)| check_entry(&dir, p, sha, Some(*size)).err())
                .collect();
            joined(
                bad,
                format!(
                    "{} files have the SHA256 and size Release lists",
                    files.len()
                ),
            )
        });
        push(format!("{name} Release"), r);
        // Every package the (uncompressed) Packages indexes name.
        let r = listed.and_then(|files| {
            let mut bad = Vec::new();
            let mut count = 0;
            for (p, _, _) in files.iter().filter(|(p, _, _)| p.ends_with("/Packages")) {
                let text = match read_bounded(&dir.join(p), MAX_RECORD * 4) {
                    Ok(b) => String::from_utf8_lossy(&b).into_owned(),
                    Err(e) => {
                        bad.push(e);
                        continue;
                    }
                };
                for stanza in text.split("\n\n").filter(|s| !s.trim().is_empty()) {
                    let field = |f: &str| {
                        stanza
                            .lines()
                            .find_map(|l| l.strip_prefix(f).map(|v| v.trim().to_string()))
                    };
                    count += 1;
                    match (field("Filename:"), field("SHA256:")) {
                        (Some(f), Some(sha)) => {
                            let size = field("Size:").and_then(|s| s.parse().ok());
                            if let Err(e) = check_entry(repo, &f, &sha, size) {
                                bad.push(format!("{p}: {e}"));
                            }
                        }
                        _ => bad.push(format!("{p}: a stanza without Filename or SHA256")),
                    }
                }
            }
            joined(
                bad,
                format!("{count} packages exist with the SHA256 Packages lists"),
            )
        });
        push(format!("{name} Packages"), r);
    }
}

/// The `SHA256:` section of a Release file: (path, sha256, size).
fn release_sha256(text: &str) -> Vec<(String, String, u64)> {
    let mut out = Vec::new();
    let mut inside = false;
    for line in text.lines() {
        if !line.starts_with(' ') {
            inside = line.trim_end() == "SHA256:";
            continue;
        }
        if inside {
            let mut w = line.split_whitespace();
            if let (Some(sha), Some(size), Some(path)) = (w.next(), w.next(), w.next()) {
                out.push((
                    path.to_string(),
                    sha.to_string(),
                    size.parse().unwrap_or(u64::MAX),
                ));
            }
        }
    }
    out
}

/// The text of the first `<tag ...>text</tag>` in `xml`.
fn xml_text<'a>(xml: &'a str, tag: &str) -> Option<&'a str> {
    let start = xml.find(&format!("<{tag}"))?;
    let rest = &xml[start..];
    let open_end = rest.find('>')?;
    let body = &rest[open_end + 1..];
    let close = body.find(&format!("</{tag}>"))?;
    Some(body[..close].trim())
}

/// The value of `attr="..."` in the first `<tag ...>` of `xml`, unescaped.
fn xml_attr(xml: &str, tag: &str, attr: &str) -> Option<String> {
    let start = xml.find(&format!("<{tag} "))?;
    let rest = &xml[start..];
    let rest = &rest[..rest.find('>')?];
    let key = format!(" {attr}=\"");
    let v = &rest[rest.find(&key)? + key.len()..];
    let v = &v[..v.find('"')?];
    Some(
        v.replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&apos;", "'")
            .replace("&amp;", "&"),
    )
}

/// The `<tag ...>...</tag>` blocks of `xml`.
fn xml_blocks<'a>(xml: &'a str, tag: &str) -> Vec<&'a str> {
    let (open, close) = (format!("<{tag} "), format!("</{tag}>"));
    let mut v = Vec::new();
    let mut rest = xml;
    while let Some(s) = rest.find(&open) {
        let Some(e) = rest[s..].find(&close) else {
            break;
        };
        v.push(&rest[s..s + e + close.len()]);
        rest = &rest[s + e + close.len()..];
    }
    v
}

/// The checks of a DNF repository: repomd.xml's signature, its data files, its packages.
fn check_dnf(
    repo: &Path,
    key: &pgp::composed::SignedPublicKey,
    push: &mut dyn FnMut(String, Result<String, String>),
) {
    let name = format!("dnf {}", repo.display());
    let repomd = read_bounded(&repo.join("repodata/repomd.xml"), MAX_RECORD);
    let r = repomd.clone().and_then(|md| {
        let sig = read_bounded(&repo.join("repodata/repomd.xml.asc"), 1 << 20)?;
        pgp_detached(key, &sig, &md).map_err(|e| format!("repomd.xml.asc: {e}"))?;
        Ok("repomd.xml.asc verifies with --repo-key".to_string())
    });
    push(format!("{name} repomd.xml.asc"), r);
    let text = repomd.map(|b| String::from_utf8_lossy(&b).into_owned());
    let r = text.clone().and_then(|t| {
        let blocks = xml_blocks(&t, "data");
        if blocks.is_empty() {
            return Err("repomd.xml lists no data".into());
        }
        let bad: Vec<String> = blocks
            .iter()
            .filter_map(|b| {
                let (Some(sha), Some(href)) =
                    (xml_text(b, "checksum"), xml_attr(b, "location", "href"))
                else {
                    return Some("a <data> without checksum or location".into());
                };
                let size = xml_text(b, "size").and_then(|s| s.parse().ok());
                check_entry(repo, &href, sha, size).err()
            })
            .collect();
        joined(
            bad,
            format!(
                "{} data files have the checksum and size repomd.xml lists",
                blocks.len()
            ),
        )
    });
    push(format!("{name} repodata"), r);
    let r = text.and_then(|t| {
        let primary = xml_blocks(&t, "data")
            .into_iter()
            .find(|b| b.starts_with("<data type=\"primary\""))
            .and_then(|b| xml_attr(b, "location", "href"))
            .ok_or("repomd.xml lists no primary data")?;
        if !provenance::relative_name(&primary) {
            return Err(format!("`{primary}` is not a path inside the repository"));
        }
        let gz = read_bounded(&repo.join(&primary), MAX_RECORD * 4)?;
        let mut xml = Vec::new();
        let limit = 256u64 << 20;
        flate2::read::GzDecoder::new(gz.as_slice())
            .take(limit + 1)
            .read_to_end(&mut xml)
            .map_err(|e| format!("{primary}: {e}"))?;
        if xml.len() as u64 > limit {
            return Err(format!("{primary}: more than {limit} bytes uncompressed"));
        }
        let xml = String::from_utf8_lossy(&xml);
        let packages = xml_blocks(&xml, "package");
        let bad: Vec<String> = packages
            .iter()
            .filter_map(|p| {
                let (Some(sha), Some(href)) =
                    (xml_text(p, "checksum"), xml_attr(p, "location", "href"))
                else {
                    return Some("a <package> without checksum or location".into());
                };
                check_entry(repo, &href, sha, None).err()
            })
            .collect();
        joined(
            bad,
            format!(
                "{} packages exist with the checksum primary.xml lists",
                packages.len()
            ),
        )
    });
    push(format!("{name} packages"), r);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn release_sha256_reads_only_its_section_and_survives_garbage() {
        let text = "Suite: stable\nMD5Sum:\n 00 1 a\nSHA256:\n ab 12 main/Packages\n cd x main/P2\n short\nSHA512:\n ef 3 b\n";
        let v = release_sha256(text);
        assert_eq!(
            v,
            vec![
                ("main/Packages".to_string(), "ab".to_string(), 12),
                ("main/P2".to_string(), "cd".to_string(), u64::MAX),
            ]
        );
        assert!(release_sha256("").is_empty());
        assert!(release_sha256(" \u{e9}\u{e9}\nSHA256:\n\u{0}").is_empty());
    }

    #[test]
    fn xml_helpers_return_none_on_truncated_or_hostile_text() {
        let d = r#"<data type="primary"><checksum type="sha256">aa</checksum><location href="repodata/a&amp;b.gz"/><size>3</size></data>"#;
        assert_eq!(xml_blocks(d, "data").len(), 1);
        assert_eq!(xml_text(d, "checksum"), Some("aa"));
        assert_eq!(
            xml_attr(d, "location", "href").as_deref(),
            Some("repodata/a&b.gz")
        );
        for bad in [
            "<data ",
            "<checksum",
            "<location href=\"x",
            "<location",
            "</data>",
            "<é<data <",
            "",
        ] {
            let _ = xml_blocks(bad, "data");
            assert_eq!(xml_text(bad, "checksum"), None, "{bad}");
            assert_eq!(xml_attr(bad, "location", "href"), None, "{bad}");
        }
    }

    #[test]
    fn index_paths_outside_the_repository_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("f"), b"x").unwrap();
        let sha = hex::encode(pkg_core::digest::sha256(b"x"));
        assert!(check_entry(dir.path(), "f", &sha, Some(1)).is_ok());
        assert!(check_entry(dir.path(), "f", &sha, Some(2)).is_err());
        assert!(check_entry(dir.path(), "f", &"0".repeat(64), None).is_err());
        for bad in ["../f", "/etc/passwd", "a/../f", "", "./f"] {
            assert!(check_entry(dir.path(), bad, &sha, None).is_err(), "{bad}");
        }
        std::os::unix::fs::symlink("f", dir.path().join("link")).unwrap();
        assert!(check_entry(dir.path(), "link", &sha, None).is_err());
    }
}
