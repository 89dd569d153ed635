//! `sign-sums`: an SSH signature over an out dir's `SHA256SUMS`, written next to it as
//! `SHA256SUMS.sig` in the format `ssh-keygen -Y sign -n file` writes (armored SSHSIG, SHA-512),
//! so users verify with `ssh-keygen -Y verify ... -n file -s SHA256SUMS.sig < SHA256SUMS`.
//!
//! Reproducible by construction: only Ed25519 keys are accepted, whose signatures are a function
//! of key and data. (RSA PKCS#1 v1.5 would be too, but ssh-key 0.6.7 cannot sign with RSA keys: it
//! rebuilds the private key from the primes p and p.) The key is an OpenSSH private key file; an encrypted one is decrypted with `LUCIA_PKG_SIGNING_PASSPHRASE`. Errors name where the
//! key came from, never key material. Nothing is written when signing fails.
//!
//! The signature is not listed in `SHA256SUMS` (it signs it); a later build into the same out dir
//! removes it, as a new `SHA256SUMS` would make it invalid.

use std::path::{Path, PathBuf};

use ssh_key::{Algorithm, HashAlg, LineEnding, PrivateKey};

use crate::error::AppError;
use crate::repo::sign::PASSPHRASE_ENV;

/// Environment variable naming the key (an OpenSSH private key itself, or a file path).
pub const KEY_ENV: &str = "LUCIA_PKG_SUMS_KEY";

/// The name of the signature in the out dir.
pub const SIG_NAME: &str = "SHA256SUMS.sig";

/// The OpenPGP alternative (`sign-sums --openpgp`): an armored detached signature, what
/// `gpg --armor --detach-sign SHA256SUMS` makes, checked with `gpg --verify SHA256SUMS.asc`.
pub const ASC_NAME: &str = "SHA256SUMS.asc";

/// The SSHSIG namespace: what `ssh-keygen -Y sign -n file` uses for files.
pub const NAMESPACE: &str = "file";

/// Reads the key text from `--key` or `$LUCIA_PKG_SUMS_KEY`, with a name for messages.
fn key_text(key: Option<&Path>) -> Result<(String, String), AppError> {
    let Some((name, bytes)) = crate::signing_key::source(key, KEY_ENV, "-----BEGIN ")? else {
        return Err(AppError::Input(format!(
            "no signing key: pass --key FILE (an OpenSSH Ed25519 private key) or set {KEY_ENV}"
        )));
    };
    let text = String::from_utf8(bytes)
        .map_err(|_| AppError::Input(format!("signing key {name}: not valid UTF-8 text")))?;
    Ok((name, text))
}

/// Loads and checks the signing key: OpenSSH format, Ed25519, decrypted.
pub fn load(key: Option<&Path>) -> Result<PrivateKey, AppError> {
    let (source, text) = key_text(key)?;
    if text.contains("-----BEGIN RSA PRIVATE KEY-----")
        || text.contains("-----BEGIN PRIVATE KEY-----")
        || text.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----")
    {
        return Err(AppError::Input(format!(
            "signing key {source}: a PEM/PKCS#8 key, not an OpenSSH one: convert it with `ssh-keygen -p -f FILE` (which rewrites it in OpenSSH format)"
        )));
    }
    let mut pk = PrivateKey::from_openssh(text.trim()).map_err(|e| {
        AppError::Input(format!(
            "signing key {source}: not an OpenSSH private key ({e})"
        ))
    })?;
    match pk.algorithm() {
        Algorithm::Ed25519 => {}
        other => {
            return Err(AppError::Input(format!(
                "signing key {source}: {} keys are not accepted: only Ed25519 keys, whose signatures are a function of key and data, keep SHA256SUMS.sig reproducible; make one with `ssh-keygen -t ed25519`",
                other.as_str()
            )))
        }
    }
    if pk.is_encrypted() {
        let Some(pass) = std::env::var_os(PASSPHRASE_ENV).filter(|v| !v.is_empty()) else {
            return Err(AppError::Input(format!(
                "signing key {source} is passphrase-protected: set {PASSPHRASE_ENV}"
            )));
        };
        pk = pk.decrypt(pass.as_encoded_bytes()).map_err(|e| {
            AppError::Input(format!(
                "signing key {source}: cannot decrypt with {PASSPHRASE_ENV}: {e}"
            ))
        })?;
    }
    Ok(pk)
}

/// The armored signature of `data` (namespace `file`, SHA-512, as `ssh-keygen -Y sign` makes).
pub fn sign(key: &PrivateKey, data: &[u8]) -> Result<String, AppError> {
    let sig = key
        .sign(NAMESPACE, HashAlg::Sha512, data)
        .map_err(|e| AppError::Build(format!("signing SHA256SUMS: {e}")))?;
    sig.to_pem(LineEnding::LF)
        .map_err(|e| AppError::Build(format!("encoding the signature: {e}")))
}

/// Signs `out/SHA256SUMS` into `out/SHA256SUMS.sig` (atomically), returning its path.
pub fn run(out: &Path, key: Option<&Path>) -> Result<PathBuf, AppError> {
    let sums = out.join("SHA256SUMS");
    // Only a regular file: a symlink there is not a record a build wrote.
    match std::fs::symlink_metadata(&sums) {
        Ok(md) if md.is_file() => {}
        Ok(_) => {
            return Err(AppError::Input(format!(
                "{}: not a regular file",
                sums.display()
            )))
        }
        Err(e) => {
            return Err(AppError::Input(format!(
                "{}: {e}; build into {} first",
                sums.display(),
                out.display()
            )))
        }
    }
    let key = load(key)?;
    let data =
        std::fs::read(&sums).map_err(|e| AppError::Input(format!("{}: {e}", sums.display())))?;
    let armored = sign(&key, &data)?;
    let path = out.join(SIG_NAME);
    crate::output::write_text_atomic(&path, &armored)
        .map_err(|e| AppError::Build(format!("{}: {e}", path.display())))?;
    Ok(path)
}

/// Signs `out/SHA256SUMS` into `out/SHA256SUMS.asc` with an OpenPGP key (the repository key
/// source: `--key` or `$LUCIA_PKG_REPO_KEY`), deterministically: the signature's creation time
/// is the build's source date from `build-info.json` (clamped to the key's creation time), as
/// for repository indexes.
pub fn run_openpgp(out: &Path, key: Option<&Path>) -> Result<PathBuf, AppError> {
    let sums = out.join("SHA256SUMS");
    let regular = |p: &Path| match std::fs::symlink_metadata(p) {
        Ok(md) if md.is_file() => Ok(()),
        Ok(_) => Err(AppError::Input(format!(
            "{}: not a regular file",
            p.display()
        ))),
        Err(e) => Err(AppError::Input(format!(
            "{}: {e}; build into {} first",
            p.display(),
            out.display()
        ))),
    };
    regular(&sums)?;
    let info_path = out.join("build-info.json");
    regular(&info_path)?;
    let Some(key) = crate::repo::sign::load(key)? else {
        return Err(AppError::Input(format!(
            "no signing key: pass --key FILE (an ASCII-armored OpenPGP secret key) or set {}",
            crate::repo::sign::KEY_ENV
        )));
    };
    let limit = pkg_core::limits::MAX_JSON_TOTAL;
    let read = |p: &Path| -> Result<Vec<u8>, AppError> {
        let mut f =
            std::fs::File::open(p).map_err(|e| AppError::Input(format!("{}: {e}", p.display())))?;
        let size = f
            .metadata()
            .map_err(|e| AppError::Input(format!("{}: {e}", p.display())))?
            .len();
        pkg_core::limits::read_small(&mut f, size, limit, "the file")
            .map_err(|m| AppError::Input(format!("{}: {m}", p.display())))
    };
    let info: serde_json::Value = serde_json::from_slice(&read(&info_path)?)
        .map_err(|e| AppError::Input(format!("{}: {e}", info_path.display())))?;
    let date = info["source_date_epoch"].as_u64().ok_or_else(|| {
        AppError::Input(format!(
            "{}: no source_date_epoch; build into {} again",
            info_path.display(),
            out.display()
        ))
    })?;
    let data = read(&sums)?;
    let armored = key.detached(&data, key.signature_time(date))?;
    let path = out.join(ASC_NAME);
    crate::output::write_atomic(&path, |w| w.write_all(&armored))
        .map_err(|e: std::io::Error| AppError::Build(format!("{}: {e}", path.display())))?;
    Ok(path)
}
