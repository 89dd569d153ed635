//! `sign-image`: a cosign-compatible signature of the image a build wrote, made offline and
//! kept in the out dir until `push` publishes it; and what `push` attaches to the image (the
//! signature, the per-platform SBOMs, the provenance). docs/image-signing.md describes both.
//!
//! The signed payload is cosign's simple-signing JSON, byte for byte what cosign writes (compact,
//! this key order, `"optional":null`):
//!
//! ```json
//! {"critical":{"identity":{"docker-reference":"REGISTRY/REPO"},"image":{"docker-manifest-digest":"sha256:<index>"},"type":"cosign container image signature"},"optional":null}
//! ```
//!
//! signed with ECDSA P-256 over its SHA-256 (ASN.1 DER signature, base64), nonces from RFC 6979:
//! the same key, image and repository always give the same bytes. The key is a PEM PKCS#8 (or
//! SEC1) P-256 private key, from `--key` or `$LUCIA_PKG_IMAGE_KEY`; an encrypted PKCS#8 key is
//! decrypted with `$LUCIA_PKG_SIGNING_PASSPHRASE`. It goes nowhere but into the signature.
//! Nothing is written when anything fails.

use std::io::Write;
use std::path::{Path, PathBuf};

use format_oci::source::Source;
use format_oci::spec::{Descriptor, Index, MT_INDEX};
use p256::pkcs8::{DecodePrivateKey, EncryptedPrivateKeyInfo, ObjectIdentifier, PrivateKeyInfo};
use serde_json::{json, Value};

use crate::error::AppError;
use crate::repo::sign::PASSPHRASE_ENV;

/// Environment variable naming the key (the PEM text itself, or a file path).
pub const KEY_ENV: &str = "LUCIA_PKG_IMAGE_KEY";
/// The directory in the out dir holding the signature until `push` publishes it.
pub const DIR_NAME: &str = "image-signature";
/// The signed payload (exactly the bytes signed).
pub const PAYLOAD_NAME: &str = "payload.json";
/// The signature: standard base64 of the DER ECDSA signature, no newline (cosign's annotation).
pub const SIGNATURE_NAME: &str = "signature";
/// `critical.type` of a cosign image signature.
pub const COSIGN_TYPE: &str = "cosign container image signature";
/// artifactType of the attached documents.
pub const SPDX_TYPE: &str = "application/spdx+json";
pub const CYCLONEDX_TYPE: &str = "application/vnd.cyclonedx+json";
pub const IN_TOTO_TYPE: &str = "application/vnd.in-toto+json";
/// Largest document attached (read into memory to upload).
const MAX_DOCUMENT: u64 = 64 << 20;

const OID_EC: &str = "1.2.840.10045.2.1";
const OID_P256: &str = "1.2.840.10045.3.1.7";

/// What `sign-image` wrote.
#[derive(Debug, serde::Serialize)]
pub struct Signed {
    pub payload: String,
    pub signature: String,
    pub index_digest: String,
    pub docker_reference: String,
}

/// `lucia-pkg sign-image`: signs and reports (text, or JSON with `--json`).
pub fn command(
    out: &Path,
    key: Option<&Path>,
    repository: &str,
    json_output: bool,
) -> Result<(), AppError> {
    let s = run(out, key, repository)?;
    if json_output {
        let mut v = serde_json::to_value(&s).map_err(AppError::build)?;
        v["ok"] = Value::Bool(true);
        println!("{v}");
    } else {
        let _ = writeln!(
            std::io::stdout().lock(),
            "wrote {} and {}: {}@{} (push publishes them)",
            s.payload,
            s.signature,
            s.docker_reference,
            s.index_digest
        );
    }
    Ok(())
}

/// Signs the index of the last build's OCI output in `out` for `repository` and writes
/// `out/image-signature/{payload.json,signature}` (the directory replaced atomically).
pub fn run(out: &Path, key: Option<&Path>, repository: &str) -> Result<Signed, AppError> {
    let dest = registry_push::parse_destination(repository)
        .map_err(|e| AppError::Input(format!("--repository: {e}")))?;
    if dest.tag.is_some() {
        return Err(AppError::Input(format!(
            "--repository `{repository}`: give REGISTRY/REPOSITORY without a tag (the signature names the image by its digest)"
        )));
    }
    let docker_reference = format!("{}/{}", dest.registry, dest.repository);
    let layout = oci_output(out)?;
    let (root, _) = image_index(&layout)?;
    let signing_key = load(key)?;
    let payload = payload(&docker_reference, &root.digest)?;
    let signature = sign(&signing_key, &payload);
    let dir = out.join(DIR_NAME);
    crate::output::write_dir_atomic(&dir, |tmp| -> Result<(), std::io::Error> {
        std::fs::write(tmp.join(PAYLOAD_NAME), &payload)?;
        std::fs::write(tmp.join(SIGNATURE_NAME), signature.as_bytes())
    })
    .map_err(|e| AppError::Build(format!("{}: {e}", dir.display())))?;
    Ok(Signed {
        payload: dir.join(PAYLOAD_NAME).display().to_string(),
        signature: dir.join(SIGNATURE_NAME).display().to_string(),
        index_digest: root.digest,
        docker_reference,
    })
}

/// The simple-signing payload for `digest` pushed to `docker_reference`.
pub fn payload(docker_reference: &str, digest: &str) -> Result<Vec<u8>, AppError> {
    // serde_json (never with preserve_order here) sorts keys, which is cosign's field order.
    serde_json::to_vec(&json!({
        "critical": {
            "identity": {"docker-reference": docker_reference},
            "image": {"docker-manifest-digest": digest},
            "type": COSIGN_TYPE,
        },
        "optional": null,
    }))
    .map_err(AppError::build)
}

/// Base64 of the DER ECDSA P-256/SHA-256 signature of `data` (RFC 6979 nonce).
pub fn sign(key: &p256::ecdsa::SigningKey, data: &[u8]) -> String {
    use p256::ecdsa::signature::Signer;
    let sig: p256::ecdsa::Signature = key.sign(data);
    nar::encoding::base64(sig.to_der().as_bytes())
}

/// Loads the P-256 key from `--key` or `$LUCIA_PKG_IMAGE_KEY`. Messages name where the key came
/// from and what kind of key it is, never its content.
pub fn load(key: Option<&Path>) -> Result<p256::ecdsa::SigningKey, AppError> {
    let Some((source, bytes)) = crate::signing_key::source(key, KEY_ENV, "-----BEGIN ")? else {
        return Err(AppError::Input(format!(
            "no signing key: pass --key FILE (a PEM PKCS#8 ECDSA P-256 private key, e.g. from `openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out image.key`) or set {KEY_ENV}"
        )));
    };
    let bad = |why: String| AppError::Input(format!("signing key {source}: {why}"));
    let text = String::from_utf8(bytes).map_err(|_| bad("not PEM text".into()))?;
    let text = text.trim();
    if text.contains("-----BEGIN EC PRIVATE KEY-----") {
        return p256::SecretKey::from_sec1_pem(text)
            .map(|k| k.into())
            .map_err(|_| bad("not an EC private key on the P-256 curve (SEC1 PEM)".into()));
    }
    let (label, doc) = p256::pkcs8::SecretDocument::from_pem(text).map_err(|_| {
        bad(if text.contains("-----BEGIN ") {
            "not a PEM PKCS#8 private key (`-----BEGIN PRIVATE KEY-----`); an OpenSSH, OpenPGP or cosign-encrypted key is not accepted".into()
        } else {
            "not PEM text".into()
        })
    })?;
    let doc = match label {
        "PRIVATE KEY" => doc,
        "ENCRYPTED PRIVATE KEY" => {
            let Some(pass) = std::env::var_os(PASSPHRASE_ENV).filter(|v| !v.is_empty()) else {
                return Err(bad(format!(
                    "it is passphrase-protected: set {PASSPHRASE_ENV}"
                )));
            };
            let info = EncryptedPrivateKeyInfo::try_from(doc.as_bytes())
                .map_err(|_| bad("not an encrypted PKCS#8 key".into()))?;
            info.decrypt(pass.as_encoded_bytes()).map_err(|_| {
                bad(format!(
                    "cannot decrypt with {PASSPHRASE_ENV} (wrong passphrase, or an unsupported cipher)"
                ))
            })?
        }
        other => return Err(bad(format!("a PEM `{other}`, not a PKCS#8 private key"))),
    };
    let info = PrivateKeyInfo::try_from(doc.as_bytes())
        .map_err(|_| bad("not a PKCS#8 private key (bad DER, or a wrong passphrase)".into()))?;
    let alg = info.algorithm.oid.to_string();
    let curve = info
        .algorithm
        .parameters_oid()
        .ok()
        .map(|o: ObjectIdentifier| o.to_string());
    if alg != OID_EC || curve.as_deref() != Some(OID_P256) {
        return Err(bad(format!(
            "a {} key; image signatures need ECDSA P-256 (what cosign verifies; make one with `openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out image.key`)",
            key_kind(&alg, curve.as_deref())
        )));
    }
    p256::SecretKey::from_pkcs8_der(doc.as_bytes())
        .map(|k| k.into())
        .map_err(|_| bad("not a valid P-256 private key".into()))
}

/// A readable name for a PKCS#8 algorithm (and curve).
fn key_kind(alg: &str, curve: Option<&str>) -> String {
    match (alg, curve) {
        (OID_EC, Some("1.3.132.0.34")) => "ECDSA P-384".into(),
        (OID_EC, Some("1.3.132.0.35")) => "ECDSA P-521".into(),
        (OID_EC, Some("1.3.132.0.10")) => "ECDSA secp256k1".into(),
        (OID_EC, c) => format!("EC (curve {})", c.unwrap_or("unnamed")),
        ("1.3.101.112", _) => "Ed25519".into(),
        ("1.3.101.113", _) => "Ed448".into(),
        ("1.2.840.113549.1.1.1" | "1.2.840.113549.1.1.10", _) => "RSA".into(),
        (a, _) => format!("algorithm {a}"),
    }
}

/// The OCI layout the last build wrote into `out` (its build-info.json's `oci` output).
fn oci_output(out: &Path) -> Result<PathBuf, AppError> {
    let info = out.join("build-info.json");
    let text = std::fs::read_to_string(&info).map_err(|e| {
        AppError::Input(format!(
            "{}: {e}; build into {} first",
            info.display(),
            out.display()
        ))
    })?;
    let v: Value = serde_json::from_str(&text)
        .map_err(|e| AppError::Input(format!("{}: {e}", info.display())))?;
    v["outputs"]
        .as_array()
        .and_then(|a| a.iter().find(|o| o["format"] == "oci"))
        .and_then(|o| o["name"].as_str())
        .filter(|n| !n.is_empty() && !n.contains('/') && *n != "..")
        .map(|n| out.join(n))
        .ok_or_else(|| {
            AppError::Input(format!(
                "{} lists no OCI output: build with --format oci first",
                info.display()
            ))
        })
}

/// The layout's one image index (digest checked) and its platform manifests.
fn image_index(layout: &Path) -> Result<(Descriptor, Index), AppError> {
    let input = |e: format_oci::OciError| AppError::Input(e.to_string());
    let src = Source::open(layout).map_err(input)?;
    src.check_layout_version().map_err(input)?;
    let top = src.index_json().map_err(input)?;
    let root = match top.manifests.as_slice() {
        [one] if one.media_type == MT_INDEX => one.clone(),
        _ => {
            return Err(AppError::Input(format!(
                "{}: index.json does not list exactly one image index",
                layout.display()
            )))
        }
    };
    let (index, _): (Index, _) = src.json_blob(&root).map_err(input)?;
    Ok((root, index))
}

/// A regular file's bytes (not through a symlink), at most [`MAX_DOCUMENT`].
fn read_regular(path: &Path) -> Result<Vec<u8>, AppError> {
    let md = std::fs::symlink_metadata(path)
        .map_err(|e| AppError::Input(format!("{}: {e}", path.display())))?;
    if !md.is_file() {
        return Err(AppError::Input(format!(
            "{}: not a regular file",
            path.display()
        )));
    }
    if md.len() > MAX_DOCUMENT {
        return Err(AppError::Input(format!(
            "{}: {} bytes; refusing to attach more than {MAX_DOCUMENT}",
            path.display(),
            md.len()
        )));
    }
    std::fs::read(path).map_err(|e| AppError::Input(format!("{}: {e}", path.display())))
}

/// What `push` publishes with the image at `layout` to `to`, from beside the layout: the
/// signature in `image-signature/`, the SBOMs in `<layout>.sbom/`, `provenance.intoto.jsonl`.
/// Each must be about this image (the signature for its index digest and the destination's
/// repository, each SBOM for a platform manifest of the index, the provenance naming the index
/// digest as a subject); anything else is refused (exit 2) before anything is pushed.
pub fn attachments(layout: &Path, to: &str) -> Result<registry_push::Attachments, AppError> {
    let mut a = registry_push::Attachments::default();
    let Some(dir) = layout.parent() else {
        return Ok(a);
    };
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    // A layout directory only: an oci-archive has no SBOM directory beside it.
    if !layout.is_dir() {
        return Ok(a);
    }
    let (root, index) = image_index(layout)?;

    let sig_dir = dir.join(DIR_NAME);
    if let Ok(md) = std::fs::symlink_metadata(&sig_dir) {
        if !md.is_dir() {
            return Err(AppError::Input(format!(
                "{}: not a directory (sign-image writes one)",
                sig_dir.display()
            )));
        }
        let payload = read_regular(&sig_dir.join(PAYLOAD_NAME))?;
        let signature = String::from_utf8(read_regular(&sig_dir.join(SIGNATURE_NAME))?)
            .ok()
            .map(|s| s.trim().to_string())
            .filter(|s| nar::encoding::from_base64(s).is_some())
            .ok_or_else(|| {
                AppError::Input(format!(
                    "{}: not a base64 signature",
                    sig_dir.join(SIGNATURE_NAME).display()
                ))
            })?;
        let v: Value = serde_json::from_slice(&payload).map_err(|e| {
            AppError::Input(format!("{}: {e}", sig_dir.join(PAYLOAD_NAME).display()))
        })?;
        let signed = v
            .pointer("/critical/image/docker-manifest-digest")
            .and_then(Value::as_str);
        if signed != Some(root.digest.as_str()) {
            return Err(AppError::Input(format!(
                "{} signs {}, not this image ({}): run `lucia-pkg sign-image` again after the build, or push with --no-attach",
                sig_dir.display(),
                signed.unwrap_or("no digest"),
                root.digest
            )));
        }
        let dest =
            registry_push::parse_destination(to).map_err(|e| AppError::Input(e.to_string()))?;
        let want = format!("{}/{}", dest.registry, dest.repository);
        let named = v
            .pointer("/critical/identity/docker-reference")
            .and_then(Value::as_str);
        if named != Some(want.as_str()) {
            return Err(AppError::Input(format!(
                "{} was signed for `{}`, but the push goes to `{want}`: sign again with --repository {want}",
                sig_dir.display(),
                named.unwrap_or("")
            )));
        }
        a.signature = Some(registry_push::ImageSignature { payload, signature });
    }

    let sbom_dir = layout.with_file_name(format!(
        "{}.sbom",
        layout
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    ));
    let entries = match std::fs::read_dir(&sbom_dir) {
        Ok(rd) => Some(rd),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(AppError::Input(format!("{}: {e}", sbom_dir.display()))),
    };
    if let Some(rd) = entries {
        let mut names: Vec<String> = rd
            .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
            .collect::<Result<_, _>>()
            .map_err(|e| AppError::Input(format!("{}: {e}", sbom_dir.display())))?;
        names.sort();
        for name in names {
            let (stem, artifact_type) = if let Some(s) = name.strip_suffix(".spdx.json") {
                (s, SPDX_TYPE)
            } else if let Some(s) = name.strip_suffix(".cdx.json") {
                (s, CYCLONEDX_TYPE)
            } else {
                continue;
            };
            let path = sbom_dir.join(&name);
            let label = stem.replace('-', "/");
            let platform = index
                .manifests
                .iter()
                .find(|m| m.platform.as_ref().map(|p| p.label()) == Some(label.clone()))
                .ok_or_else(|| {
                    AppError::Input(format!(
                        "{}: the image has no {label} manifest",
                        path.display()
                    ))
                })?;
            let bytes = read_regular(&path)?;
            let hex = platform.digest.trim_start_matches("sha256:");
            if !String::from_utf8_lossy(&bytes).contains(hex) {
                return Err(AppError::Input(format!(
                    "{}: does not name the {label} manifest {} of this image; build again",
                    path.display(),
                    platform.digest
                )));
            }
            a.artifacts.push(registry_push::Artifact {
                artifact_type: artifact_type.into(),
                subject: Some(platform.digest.clone()),
                title: name,
                bytes,
            });
        }
    }

    let prov = dir.join(crate::provenance::FILE_NAME);
    if std::fs::symlink_metadata(&prov).is_ok() {
        let bytes = read_regular(&prov)?;
        let hex = root.digest.trim_start_matches("sha256:");
        let names_index = serde_json::from_slice::<Value>(&bytes)
            .ok()
            .and_then(|env| env["payload"].as_str().and_then(nar::encoding::from_base64))
            .and_then(|p| serde_json::from_slice::<Value>(&p).ok())
            .and_then(|st| {
                st["subject"]
                    .as_array()
                    .map(|s| s.iter().any(|x| x["digest"]["sha256"] == hex))
            })
            .unwrap_or(false);
        if !names_index {
            return Err(AppError::Input(format!(
                "{}: not provenance of this image ({} is none of its subjects): run `lucia-pkg attest` again, or push with --no-attach",
                prov.display(),
                root.digest
            )));
        }
        a.artifacts.push(registry_push::Artifact {
            artifact_type: IN_TOTO_TYPE.into(),
            subject: None,
            title: crate::provenance::FILE_NAME.into(),
            bytes,
        });
    }
    Ok(a)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_is_cosigns_byte_layout() {
        let p = payload("127.0.0.1:5000/lucia/agenthost", "sha256:ab").unwrap();
        assert_eq!(
            String::from_utf8(p).unwrap(),
            r#"{"critical":{"identity":{"docker-reference":"127.0.0.1:5000/lucia/agenthost"},"image":{"docker-manifest-digest":"sha256:ab"},"type":"cosign container image signature"},"optional":null}"#
        );
    }

    #[test]
    fn signatures_are_deterministic_der() {
        let k = p256::ecdsa::SigningKey::from_slice(&[7u8; 32]).unwrap();
        let a = sign(&k, b"payload");
        assert_eq!(a, sign(&k, b"payload"));
        assert_ne!(a, sign(&k, b"payloae"));
        let der = nar::encoding::from_base64(&a).unwrap();
        assert_eq!(der[0], 0x30, "ASN.1 SEQUENCE");
        let sig = p256::ecdsa::Signature::from_der(&der).unwrap();
        use p256::ecdsa::signature::Verifier;
        k.verifying_key().verify(b"payload", &sig).unwrap();
    }
}
