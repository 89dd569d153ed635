//! `attest`: SLSA provenance for an out dir, written as `provenance.intoto.jsonl` — one DSSE
//! envelope (one JSON line) around an in-toto Statement v1 whose predicate is SLSA Provenance v1,
//! signed with the release key `sign-sums` uses (an OpenSSH Ed25519 key). docs/provenance.md
//! describes every field; in short:
//!
//! - `subject`: every output `SHA256SUMS` lists, by sha256 — artifacts, their SBOMs and the
//!   deploy files; an OCI layout once, by its image index digest. `build-info.json` is not a
//!   subject (it is a record of the build, named under `runDetails.byproducts` with `SHA256SUMS`).
//! - `buildDefinition`: [`BUILD_TYPE`], the manifest file name and `--set` overrides as external
//!   parameters, the source date and its origin as internal ones, the manifest, unit/template/
//!   file inputs (sha256) and payloads and builder inputs (NAR sha256, [`NAR_DIGEST`]) as
//!   resolved dependencies — all taken from `build-info.json`.
//! - `runDetails`: the builder is the lucia-pkg version that wrote `build-info.json`; no
//!   metadata: the build's clock times are not recorded anywhere, and a reading of this
//!   command's clock would make the file differ between two runs.
//!
//! Before anything is signed every file `SHA256SUMS` lists is hashed again: an out dir changed
//! since its build is refused (exit 2), as are a missing `SHA256SUMS`, records that disagree,
//! a missing key and keys other than Ed25519. Nothing is written on failure. The JSON has sorted
//! keys and Ed25519 signatures are a function of key and message, so the file is reproducible.
//! Like `SHA256SUMS.sig`, the file is not listed in `SHA256SUMS`, and a later build into the
//! same out dir removes it.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use ssh_key::{HashAlg, PrivateKey};

use pkg_core::digest::sha256_hex;

use crate::error::AppError;

/// The file written into the out dir.
pub const FILE_NAME: &str = "provenance.intoto.jsonl";
/// DSSE payload type of an in-toto statement.
pub const PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";
pub const STATEMENT_TYPE: &str = "https://in-toto.io/Statement/v1";
pub const PREDICATE_TYPE: &str = "https://slsa.dev/provenance/v1";
/// What `buildDefinition` means: versioned, documented in docs/provenance.md.
pub const BUILD_TYPE: &str = "https://github.com/lucia-pkg/lucia-pkg/build/v1";
/// DigestSet key of a NAR hash: lowercase hex of the sha256 of the path's NAR serialization
/// (`nix hash path --base16`, `nix-hash --type sha256`), the hash `nix hash path` prints in SRI.
pub const NAR_DIGEST: &str = "nixNarSha256";
/// Media type of the subject that stands for an OCI layout (its image index).
const OCI_INDEX_MEDIA_TYPE: &str = "application/vnd.oci.image.index.v1+json";

/// What `attest` wrote.
#[derive(Debug)]
pub struct Attested {
    pub path: PathBuf,
    pub subjects: usize,
    /// The signing key's OpenSSH SHA256 fingerprint (the envelope's `keyid`).
    pub keyid: String,
}

/// `lucia-pkg attest`: writes the provenance and reports it (text, or JSON with `--json`).
pub fn command(out: &Path, key: Option<&Path>, json_output: bool) -> Result<(), AppError> {
    let a = run(out, key)?;
    let path = a.path.display().to_string();
    if json_output {
        println!(
            "{}",
            json!({ "ok": true, "provenance": path, "subjects": a.subjects, "keyid": a.keyid })
        );
    } else {
        let _ = writeln!(
            std::io::stdout().lock(),
            "wrote {path} ({} subjects, signed by {})",
            a.subjects,
            a.keyid
        );
    }
    Ok(())
}

/// Checks the out dir, builds the statement, signs it and writes `out/provenance.intoto.jsonl`
/// atomically.
pub fn run(out: &Path, key: Option<&Path>) -> Result<Attested, AppError> {
    let sums_path = out.join("SHA256SUMS");
    let sums_text = read_record(&sums_path, out)?;
    let key = crate::sums_sign::load(key)?;
    let sums = parse_sums(&sums_text)?;
    verify_files(out, &sums)?;
    let info_text = read_record(&out.join("build-info.json"), out)?;
    let info: Value = serde_json::from_str(&info_text)
        .map_err(|e| AppError::Input(format!("{}: {e}", out.join("build-info.json").display())))?;
    let statement = statement(&info, &sums, &sha256_hex(sums_text.as_bytes()))?;
    let subjects = statement["subject"].as_array().map_or(0, Vec::len);
    let payload = serde_json::to_vec(&statement).map_err(AppError::build)?;
    let keyid = key.public_key().fingerprint(HashAlg::Sha256).to_string();
    let line = envelope(&key, &keyid, &payload)?;
    let path = out.join(FILE_NAME);
    crate::output::write_text_atomic(&path, &line)
        .map_err(|e| AppError::Build(format!("{}: {e}", path.display())))?;
    Ok(Attested {
        path,
        subjects,
        keyid,
    })
}

/// A record of the build (`SHA256SUMS`, `build-info.json`) as text: only a regular file.
fn read_record(path: &Path, out: &Path) -> Result<String, AppError> {
    match std::fs::symlink_metadata(path) {
        Ok(md) if md.is_file() => {}
        Ok(_) => {
            return Err(AppError::Input(format!(
                "{}: not a regular file",
                path.display()
            )))
        }
        Err(e) => {
            return Err(AppError::Input(format!(
                "{}: {e}; build into {} first",
                path.display(),
                out.display()
            )))
        }
    }
    let bytes =
        std::fs::read(path).map_err(|e| AppError::Input(format!("{}: {e}", path.display())))?;
    String::from_utf8(bytes)
        .map_err(|_| AppError::Input(format!("{}: not UTF-8 text", path.display())))
}

/// `SHA256SUMS` as name → lowercase hex, refusing anything a build does not write: a bad digest,
/// an absolute name or one with `.`/`..` components, a name twice.
pub(crate) fn parse_sums(text: &str) -> Result<BTreeMap<String, String>, AppError> {
    let bad = |n: usize, why: &str| AppError::Input(format!("SHA256SUMS line {n}: {why}"));
    let mut sums = BTreeMap::new();
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        let Some((hex, name)) = line.split_once("  ") else {
            return Err(bad(n, "not `<sha256>  <name>`"));
        };
        if hex.len() != 64 || !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(bad(n, "not a lowercase hex sha256"));
        }
        if !relative_name(name) {
            return Err(bad(
                n,
                &format!("`{name}` is not a path inside the out dir"),
            ));
        }
        if sums.insert(name.to_string(), hex.to_string()).is_some() {
            return Err(bad(n, &format!("`{name}` is listed twice")));
        }
    }
    if sums.is_empty() {
        return Err(AppError::Input("SHA256SUMS lists no files".into()));
    }
    Ok(sums)
}

/// A relative path of plain components (what `SHA256SUMS` names).
pub(crate) fn relative_name(name: &str) -> bool {
    !name.is_empty()
        && !name.contains('\0')
        && !name.starts_with('\\')
        && name
            .split('/')
            .all(|c| !c.is_empty() && c != "." && c != "..")
}

/// Hashes every listed file again: each must be a regular file, reached through directories
/// (not links), with the sha256 `SHA256SUMS` records.
fn verify_files(out: &Path, sums: &BTreeMap<String, String>) -> Result<(), AppError> {
    for (name, want) in sums {
        let path = out.join(name);
        let mut dir = out.to_path_buf();
        let parts: Vec<&str> = name.split('/').collect();
        for (i, part) in parts.iter().enumerate() {
            dir.push(part);
            let last = i + 1 == parts.len();
            let ok = match std::fs::symlink_metadata(&dir) {
                Ok(md) if last => md.is_file(),
                Ok(md) => md.is_dir(),
                Err(e) => {
                    return Err(AppError::Input(format!(
                        "{}: {e}: SHA256SUMS lists `{name}`; the out dir changed since its build, rebuild it",
                        dir.display()
                    )))
                }
            };
            if !ok {
                return Err(AppError::Input(format!(
                    "{}: not a regular {}: SHA256SUMS lists `{name}`",
                    dir.display(),
                    if last { "file" } else { "directory" }
                )));
            }
        }
        let (sha, _) = pkg_core::digest::sha256_file(&path)
            .map_err(|e| AppError::Input(format!("{}: {e}", path.display())))?;
        let have = hex::encode(sha);
        if &have != want {
            return Err(AppError::Input(format!(
                "{}: sha256 is {have}, SHA256SUMS says {want}: the out dir changed since its build; rebuild it (nothing was signed)",
                path.display()
            )));
        }
    }
    Ok(())
}

/// A string field of a build-info.json object, or a message naming it.
fn field<'a>(v: &'a Value, key: &str, what: &str) -> Result<&'a str, AppError> {
    v[key].as_str().ok_or_else(|| {
        AppError::Input(format!(
            "build-info.json: {what} has no `{key}` string (not a build-info.json this lucia-pkg reads)"
        ))
    })
}

/// The in-toto Statement for the verified out dir: `info` is its build-info.json, `sums` its
/// SHA256SUMS (already checked against the files) and `sums_sha256` the digest of that file.
fn statement(
    info: &Value,
    sums: &BTreeMap<String, String>,
    sums_sha256: &str,
) -> Result<Value, AppError> {
    if info["schema"] != "lucia-pkg/build-info/v1" {
        return Err(AppError::Input(
            "build-info.json: not schema lucia-pkg/build-info/v1".into(),
        ));
    }
    if !sums.contains_key("build-info.json") {
        return Err(AppError::Input(
            "SHA256SUMS does not list build-info.json".into(),
        ));
    }
    let tool = field(&info["tool"], "name", "tool")?;
    let version = field(&info["tool"], "version", "tool")?;
    if tool != "lucia-pkg" {
        return Err(AppError::Input(format!(
            "build-info.json: written by `{tool}`, not lucia-pkg"
        )));
    }
    let epoch = info["source_date_epoch"]
        .as_u64()
        .ok_or_else(|| AppError::Input("build-info.json: no `source_date_epoch` number".into()))?;
    let origin = field(info, "source_date_origin", "the build")?;
    let (external, dependencies) = inputs(info)?;
    let subjects = subjects(info, sums)?;
    Ok(json!({
        "_type": STATEMENT_TYPE,
        "subject": subjects,
        "predicateType": PREDICATE_TYPE,
        "predicate": {
            "buildDefinition": {
                "buildType": BUILD_TYPE,
                "externalParameters": external,
                "internalParameters": {
                    "sourceDateEpoch": epoch,
                    "sourceDate": pkg_core::determinism::rfc3339(epoch),
                    "sourceDateOrigin": origin,
                },
                "resolvedDependencies": dependencies,
            },
            "runDetails": {
                "builder": {
                    "id": format!("https://github.com/lucia-pkg/lucia-pkg@v{version}"),
                    "version": { "lucia-pkg": version },
                },
                "byproducts": [
                    { "name": "SHA256SUMS", "digest": { "sha256": sums_sha256 } },
                    { "name": "build-info.json", "digest": { "sha256": sums["build-info.json"] } },
                ],
            },
        },
    }))
}

/// `externalParameters` (the manifest's file name, the `--set` overrides as given) and
/// `resolvedDependencies` (every other input build-info.json records), in its order.
fn inputs(info: &Value) -> Result<(Value, Vec<Value>), AppError> {
    let list = info["inputs"]
        .as_array()
        .ok_or_else(|| AppError::Input("build-info.json: no `inputs` list".into()))?;
    let mut manifest = None;
    let mut set = Vec::new();
    let mut deps = Vec::new();
    for input in list {
        let kind = field(input, "kind", "an input")?;
        match kind {
            "manifest" => {
                let path = field(input, "path", "the manifest input")?;
                manifest = Some(path.to_string());
                deps.push(json!({
                    "name": path,
                    "digest": { "sha256": hex_digest(field(input, "sha256", "the manifest input")?, path)? },
                    "annotations": { "kind": "manifest" },
                }));
            }
            "override" => {
                let k = field(input, "key", "an override")?;
                let v = field(input, "value", "an override")?;
                set.push(format!("{k}={v}"));
            }
            "payload" | "builder-input" => {
                let arch = field(input, "arch", "a payload input")?;
                // A payload made by a builder has no directory of its own.
                let name = match input["path"].as_str() {
                    Some(p) => p.to_string(),
                    None => format!("payload/{arch}"),
                };
                let sri = field(input, "nar_sha256", "a payload input")?;
                let hex = sri_to_hex(sri).ok_or_else(|| {
                    AppError::Input(format!(
                        "build-info.json: {kind} `{name}` has no NAR hash (`{sri}`)"
                    ))
                })?;
                deps.push(json!({
                    "name": name,
                    "digest": { NAR_DIGEST: hex },
                    "annotations": { "kind": kind, "arch": arch, "nixHashPath": sri },
                }));
            }
            "file" => {
                let path = field(input, "path", "a file input")?;
                deps.push(json!({
                    "name": path,
                    "digest": { "sha256": hex_digest(field(input, "sha256", "a file input")?, path)? },
                    "annotations": { "kind": "file" },
                }));
            }
            other => {
                return Err(AppError::Input(format!(
                    "build-info.json: input kind `{other}` is unknown to this lucia-pkg (a newer version wrote it?)"
                )))
            }
        }
    }
    let manifest =
        manifest.ok_or_else(|| AppError::Input("build-info.json: no manifest input".into()))?;
    Ok((json!({ "manifest": manifest, "set": set }), deps))
}

/// A sha256 from build-info.json: lowercase hex (an empty one means it could not be read).
fn hex_digest<'a>(hex: &'a str, name: &str) -> Result<&'a str, AppError> {
    if hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        Ok(hex)
    } else {
        Err(AppError::Input(format!(
            "build-info.json: `{name}` has no sha256 (`{hex}`)"
        )))
    }
}

/// `sha256-<base64>` (SRI, as `nix hash path` prints it) → lowercase hex.
fn sri_to_hex(sri: &str) -> Option<String> {
    let digest = base64_decode(sri.strip_prefix("sha256-")?)?;
    (digest.len() == 32).then(|| hex::encode(digest))
}

/// Standard padded base64 (RFC 4648 §4) → bytes; `None` for anything else.
fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let bytes = text.as_bytes();
    if !bytes.len().is_multiple_of(4) {
        return None;
    }
    let value = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let mut out = Vec::with_capacity(bytes.len() / 4 * 3);
    for (i, chunk) in bytes.chunks(4).enumerate() {
        let last = (i + 1) * 4 == bytes.len();
        let pad = chunk.iter().rev().take_while(|&&c| c == b'=').count();
        if pad > 2 || (pad > 0 && !last) {
            return None;
        }
        let mut n = 0u32;
        for &c in &chunk[..4 - pad] {
            n = (n << 6) | value(c)?;
        }
        n <<= 6 * pad as u32;
        let three = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&three[..3 - pad]);
    }
    // Canonical only: the bits padding drops must be zero.
    (nar::encoding::base64(&out) == text).then_some(out)
}

/// The subjects: every output build-info.json records, checked against `SHA256SUMS` — a file by
/// its sha256, an OCI layout by its image index digest, any other directory (SBOMs, deploy
/// files) file by file. Every file `SHA256SUMS` lists must belong to one of them.
fn subjects(info: &Value, sums: &BTreeMap<String, String>) -> Result<Vec<Value>, AppError> {
    let outputs = info["outputs"]
        .as_array()
        .ok_or_else(|| AppError::Input("build-info.json: no `outputs` list".into()))?;
    let mismatch = |name: &str, why: &str| {
        AppError::Input(format!(
            "build-info.json and SHA256SUMS disagree about `{name}`: {why}; rebuild the out dir"
        ))
    };
    let mut covered: BTreeSet<&str> = BTreeSet::from(["build-info.json"]);
    let mut subjects: BTreeMap<String, Value> = BTreeMap::new();
    for o in outputs {
        let name = field(o, "name", "an output")?;
        if !relative_name(name) || name.contains('/') {
            return Err(AppError::Input(format!(
                "build-info.json: output `{name}` is not a name in the out dir"
            )));
        }
        let format = field(o, "format", "an output")?;
        let sha = field(o, "sha256", "an output")?;
        let prefix = format!("{name}/");
        let inside: Vec<(&String, &String)> = sums
            .range(prefix.clone()..)
            .take_while(|(n, _)| n.starts_with(&prefix))
            .collect();
        if format == "oci" {
            let index = sha
                .strip_prefix("sha256:")
                .ok_or_else(|| mismatch(name, "no image index digest"))?;
            let blob = format!("{name}/blobs/sha256/{index}");
            if sums.get(&blob).map(String::as_str) != Some(index) {
                return Err(mismatch(
                    name,
                    "its image index blob is not listed with that digest",
                ));
            }
            covered.extend(inside.iter().map(|(n, _)| n.as_str()));
            subjects.insert(
                name.to_string(),
                json!({ "name": name, "digest": { "sha256": index }, "mediaType": OCI_INDEX_MEDIA_TYPE }),
            );
        } else if let Some(listed) = sums.get(name) {
            if listed != sha {
                return Err(mismatch(name, "two different sha256"));
            }
            covered.insert(name);
            subjects.insert(
                name.to_string(),
                json!({ "name": name, "digest": { "sha256": listed } }),
            );
        } else if !inside.is_empty() {
            for (n, h) in inside {
                covered.insert(n);
                subjects.insert(n.clone(), json!({ "name": n, "digest": { "sha256": h } }));
            }
        } else {
            return Err(mismatch(name, "SHA256SUMS does not list it"));
        }
    }
    if let Some(stray) = sums.keys().find(|n| !covered.contains(n.as_str())) {
        return Err(mismatch(stray, "no output of build-info.json holds it"));
    }
    Ok(subjects.into_values().collect())
}

/// DSSE's pre-authentication encoding: `"DSSEv1" SP LEN(type) SP type SP LEN(body) SP body`,
/// lengths as ASCII decimal byte counts without leading zeros (DSSE protocol v1.0.0).
pub fn pae(payload_type: &str, body: &[u8]) -> Vec<u8> {
    let mut v = format!(
        "DSSEv1 {} {payload_type} {} ",
        payload_type.len(),
        body.len()
    )
    .into_bytes();
    v.extend_from_slice(body);
    v
}

/// The DSSE JSON envelope around `payload`, signed (pure Ed25519 over the PAE), as one line
/// with a trailing newline.
fn envelope(key: &PrivateKey, keyid: &str, payload: &[u8]) -> Result<String, AppError> {
    let sig = sign_raw(key, &pae(PAYLOAD_TYPE, payload))?;
    let env = json!({
        "payload": nar::encoding::base64(payload),
        "payloadType": PAYLOAD_TYPE,
        "signatures": [{ "keyid": keyid, "sig": nar::encoding::base64(&sig) }],
    });
    Ok(serde_json::to_string(&env).map_err(AppError::build)? + "\n")
}

/// The raw 64-byte Ed25519 signature of `message` (no SSH framing, no prehash).
fn sign_raw<K: ssh_key::SigningKey>(key: &K, message: &[u8]) -> Result<Vec<u8>, AppError> {
    let sig = key
        .try_sign(message)
        .map_err(|e| AppError::Build(format!("signing the provenance: {e}")))?;
    if sig.algorithm() != ssh_key::Algorithm::Ed25519 || sig.as_bytes().len() != 64 {
        return Err(AppError::Build(
            "signing the provenance: not an Ed25519 signature".into(),
        ));
    }
    Ok(sig.as_bytes().to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pae_matches_the_dsse_test_vector() {
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world".to_vec()
        );
        assert_eq!(pae("", b""), b"DSSEv1 0  0 ".to_vec());
    }

    #[test]
    fn base64_round_trips_and_refuses_non_canonical_text() {
        for len in 0..40u8 {
            let data: Vec<u8> = (0..len).map(|i| i.wrapping_mul(37)).collect();
            let text = nar::encoding::base64(&data);
            assert_eq!(base64_decode(&text), Some(data));
        }
        assert_eq!(base64_decode("Zm9vYg=="), Some(b"foob".to_vec()));
        for bad in [
            "Zm9vYh==",
            "Zm9v=mFy",
            "Zm9",
            "Zm9vY===",
            "Zm9v YmFy",
            "Zm9-",
        ] {
            assert_eq!(base64_decode(bad), None, "{bad}");
        }
        assert_eq!(
            sri_to_hex("sha256-PtOcRmlrnFYhVyeOVlMloExrEBZHtq0shdYcHn7LwCw=").as_deref(),
            Some("3ed39c46696b9c562157278e565325a04c6b101647b6ad2c85d61c1e7ecbc02c")
        );
        assert_eq!(sri_to_hex("sha512-AAAA"), None);
        assert_eq!(sri_to_hex(""), None);
    }

    #[test]
    fn sums_lines_a_build_does_not_write_are_refused() {
        let h = "a".repeat(64);
        assert!(parse_sums(&format!("{h}  a\n{h}  dir/b\n")).is_ok());
        for bad in [
            format!("{h} a\n"),
            format!("{}  a\n", "A".repeat(64)),
            format!("{h}  /etc/passwd\n"),
            format!("{h}  ../x\n"),
            format!("{h}  a/./b\n"),
            format!("{h}  a\n{h}  a\n"),
            String::new(),
        ] {
            assert!(parse_sums(&bad).is_err(), "{bad:?}");
        }
    }
}
