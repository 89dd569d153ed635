//! Optional OpenPGP signing of the rpm header (feature `sign`).
//!
//! The key is an ASCII-armored secret key file (`rpm.signing-key` in the manifest). A passphrase,
//! if the key has one, is read from `LUCIA_PKG_SIGNING_PASSPHRASE`; it is never taken from the
//! manifest or the command line, so it does not end up in shell history or build-info. Key
//! material is never printed: errors name the key file only.
//!
//! The signature covers the header (rpm ≥ 4.14 verifies header-only signatures; the header holds
//! the payload digest) and its creation time is the source date, so signing with an OpenPGP v4
//! key (RSA or EdDSA) is deterministic. v6 keys put a random salt into every signature; they are
//! refused rather than silently producing irreproducible packages.

use std::path::Path;

use rpm::Timestamp;

use crate::RpmError;

/// Environment variable holding the passphrase of the signing key.
pub const PASSPHRASE_ENV: &str = "LUCIA_PKG_SIGNING_PASSPHRASE";

#[cfg(feature = "sign")]
pub fn sign(pkg: &mut rpm::Package, key: &Path, t: Timestamp) -> Result<(), RpmError> {
    use rpm::signature::pgp::Signer;
    use rpm::signature::SignatureVersion;

    let fail = |why: String| RpmError::Signing {
        key: key.to_path_buf(),
        why,
    };
    let armored = std::fs::read(key).map_err(|e| fail(format!("cannot read the key file: {e}")))?;
    let mut signer = Signer::from_asc_bytes(&armored).map_err(|e| {
        fail(format!("not a usable ASCII-armored OpenPGP secret key with a signing-capable RSA/EdDSA key ({e})"))
    })?;
    if let Some(pass) = std::env::var_os(PASSPHRASE_ENV) {
        let pass = pass
            .into_string()
            .map_err(|_| fail(format!("{PASSPHRASE_ENV} is not valid UTF-8")))?;
        signer = signer.with_key_passphrase(pass);
    }
    pkg.sign_with_timestamp(signer, t).map_err(|e| {
        fail(format!("signing failed ({e}); if the key is passphrase-protected, export the passphrase in {PASSPHRASE_ENV}"))
    })?;
    let sigs = pkg
        .signatures()
        .map_err(|e| fail(format!("reading back the signature: {e}")))?;
    if sigs.iter().any(|s| s.version() != SignatureVersion::V4) {
        return Err(fail(
            "the key made a non-v4 OpenPGP signature; v6 signatures contain a random salt, so the package would differ on every build. Use an OpenPGP v4 RSA or Ed25519 key (e.g. `gpg --quick-gen-key NAME ed25519 sign`)".into(),
        ));
    }
    Ok(())
}

#[cfg(not(feature = "sign"))]
pub fn sign(_pkg: &mut rpm::Package, key: &Path, _t: Timestamp) -> Result<(), RpmError> {
    Err(RpmError::SigningUnavailable {
        key: key.to_path_buf(),
    })
}
