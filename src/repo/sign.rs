//! OpenPGP signatures of a repository's index (`InRelease`, `Release.gpg`, `repomd.xml.asc`).
//!
//! Reproducible by construction: v4 signatures, SHA-256, hashed subpackets limited to the
//! creation time (a fixed time, never the clock), the issuer fingerprint and the issuer key id;
//! no notations, no salt. Only algorithms whose signatures are a function of key and data are
//! accepted: RSA (PKCS#1 v1.5), EdDSA (Ed25519, legacy and RFC 9580) and ECDSA (the RustCrypto
//! curves sign with RFC 6979 nonces). DSA, v6 keys (random salt) and the draft post-quantum
//! schemes are refused. The tests sign twice and compare.
//!
//! The key is an ASCII-armored secret key; its passphrase, if any, comes from
//! `LUCIA_PKG_SIGNING_PASSPHRASE` (as for rpm signing). Errors name where the key came from, never
//! key material.

use pgp::composed::{CleartextSignedMessage, Deserializable, SignedSecretKey};
use pgp::crypto::hash::HashAlgorithm;
use pgp::crypto::public_key::PublicKeyAlgorithm;
use pgp::packet::SubpacketData;
use pgp::packet::{SecretKey, SecretSubkey, Signature, SignatureConfig, SignatureType, Subpacket};
use pgp::types::{KeyDetails, KeyVersion, Password, PublicParams, SigningKey, Timestamp};

use crate::error::AppError;

/// Environment variable holding the passphrase of the signing key (shared with rpm signing).
pub const PASSPHRASE_ENV: &str = "LUCIA_PKG_SIGNING_PASSPHRASE";

/// The key used to sign, with where it came from (for messages).
pub struct RepoKey {
    source: String,
    cert: SignedSecretKey,
    key: AnyKey,
    password: Password,
}

#[derive(Clone)]
enum AnyKey {
    Primary(SecretKey),
    Sub(SecretSubkey),
}

/// Never prints key material.
impl std::fmt::Debug for AnyKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AnyKey(..)")
    }
}

macro_rules! delegate {
    ($self:expr, $method:ident $(, $arg:expr)*) => {
        match $self {
            AnyKey::Primary(k) => k.$method($($arg),*),
            AnyKey::Sub(k) => k.$method($($arg),*),
        }
    };
}

impl KeyDetails for AnyKey {
    fn version(&self) -> KeyVersion {
        delegate!(self, version)
    }
    fn legacy_key_id(&self) -> pgp::types::KeyId {
        delegate!(self, legacy_key_id)
    }
    fn fingerprint(&self) -> pgp::types::Fingerprint {
        delegate!(self, fingerprint)
    }
    fn algorithm(&self) -> PublicKeyAlgorithm {
        delegate!(self, algorithm)
    }
    fn created_at(&self) -> Timestamp {
        delegate!(self, created_at)
    }
    fn legacy_v3_expiration_days(&self) -> Option<u16> {
        delegate!(self, legacy_v3_expiration_days)
    }
    fn public_params(&self) -> &PublicParams {
        delegate!(self, public_params)
    }
}

impl SigningKey for AnyKey {
    fn sign(
        &self,
        passwd: &Password,
        hash_alg: HashAlgorithm,
        digest: &[u8],
    ) -> pgp::errors::Result<pgp::types::SignatureBytes> {
        match self {
            AnyKey::Primary(k) => SigningKey::sign(k, passwd, hash_alg, digest),
            AnyKey::Sub(k) => SigningKey::sign(k, passwd, hash_alg, digest),
        }
    }
    fn hash_alg(&self) -> HashAlgorithm {
        delegate!(self, hash_alg)
    }
}

fn deterministic(alg: PublicKeyAlgorithm) -> bool {
    matches!(
        alg,
        PublicKeyAlgorithm::RSA
            | PublicKeyAlgorithm::RSASign
            | PublicKeyAlgorithm::EdDSALegacy
            | PublicKeyAlgorithm::Ed25519
            | PublicKeyAlgorithm::ECDSA
    )
}

impl RepoKey {
    /// Parses an ASCII-armored secret key; `source` names it in messages (a path or the
    /// environment variable).
    pub fn from_armored(source: &str, armored: &[u8]) -> Result<RepoKey, AppError> {
        let bad = |why: String| AppError::Input(format!("signing key {source}: {why}"));
        let text = std::str::from_utf8(armored)
            .map_err(|_| bad("not an ASCII-armored OpenPGP secret key (not text)".into()))?;
        let (cert, _) = SignedSecretKey::from_string(text).map_err(|e| {
            bad(format!(
                "not an ASCII-armored OpenPGP secret key ({e}); export one with `gpg --armor --export-secret-keys KEYID`"
            ))
        })?;
        cert.verify_bindings()
            .map_err(|e| bad(format!("the key's self-signatures do not verify ({e})")))?;
        // The first subkey flagged for signing, else the primary key (as gpg and rpm do).
        let key = cert
            .secret_subkeys
            .iter()
            .find(|sk| sk.signatures.iter().any(|s| s.key_flags().sign()))
            .map(|sk| AnyKey::Sub(sk.key.clone()))
            .unwrap_or_else(|| AnyKey::Primary(cert.primary_key.clone()));
        if key.version() != KeyVersion::V4 {
            return Err(bad(format!(
                "a {:?} key: only OpenPGP v4 keys are accepted (v6 signatures carry a random salt, so the repository would differ on every run); use e.g. `gpg --quick-gen-key NAME ed25519 sign`",
                key.version()
            )));
        }
        if !deterministic(key.algorithm()) {
            return Err(bad(format!(
                "{:?} signatures are not reproducible (random nonce) or not supported; use an RSA, Ed25519 or ECDSA key",
                key.algorithm()
            )));
        }
        let password = match std::env::var_os(PASSPHRASE_ENV) {
            Some(p) => Password::from(
                p.into_string()
                    .map_err(|_| bad(format!("{PASSPHRASE_ENV} is not valid UTF-8")))?,
            ),
            None => Password::empty(),
        };
        Ok(RepoKey {
            source: source.to_string(),
            cert,
            key,
            password,
        })
    }

    /// The signing (sub)key's fingerprint, upper-case hex.
    pub fn fingerprint(&self) -> String {
        hex::encode_upper(self.key.fingerprint().as_bytes())
    }

    /// The creation time of the signing key, seconds since 1970.
    pub fn created(&self) -> u64 {
        self.key.created_at().as_secs() as u64
    }

    /// The signature time for a repository dated `date`: never before the key exists (gpgv
    /// rejects a signature older than its key).
    pub fn signature_time(&self, date: u64) -> u64 {
        date.max(self.created())
    }

    /// The certificate's public part, ASCII-armored (what clients install as the `signed-by` key).
    pub fn public_armored(&self) -> Result<Vec<u8>, AppError> {
        self.cert
            .to_public_key()
            .to_armored_bytes(Default::default())
            .map_err(|e| AppError::Build(format!("exporting the public key: {e}")))
    }

    fn config(&self, typ: SignatureType, time: u64) -> Result<SignatureConfig, AppError> {
        let secs = u32::try_from(time).map_err(|_| {
            AppError::Input(format!(
                "signature time {time} is beyond what OpenPGP can hold"
            ))
        })?;
        let mut cfg = SignatureConfig::v4(typ, self.key.algorithm(), HashAlgorithm::Sha256);
        let sub = |d| Subpacket::regular(d).map_err(|e| self.fail(e));
        cfg.hashed_subpackets = vec![
            sub(SubpacketData::SignatureCreationTime(Timestamp::from_secs(
                secs,
            )))?,
            sub(SubpacketData::IssuerFingerprint(self.key.fingerprint()))?,
            sub(SubpacketData::IssuerKeyId(self.key.legacy_key_id()))?,
        ];
        Ok(cfg)
    }

    fn fail(&self, e: impl std::fmt::Display) -> AppError {
        AppError::Input(format!(
            "signing with {} failed ({e}); if the key is passphrase-protected, export the passphrase in {PASSPHRASE_ENV}",
            self.source
        ))
    }

    /// A cleartext-signed copy of `text` (InRelease).
    pub fn clearsign(&self, text: &str, time: u64) -> Result<Vec<u8>, AppError> {
        let cfg = self.config(SignatureType::Text, time)?;
        // The line break before the armor belongs to the armor (RFC 9580 §7.1): signing the
        // text without its last one writes the Release verbatim, as `gpg --clearsign` does.
        let body = text.strip_suffix('\n').unwrap_or(text);
        let msg = CleartextSignedMessage::new(body, cfg, &self.key, &self.password)
            .map_err(|e| self.fail(e))?;
        let mut out = msg
            .to_armored_bytes(Default::default())
            .map_err(|e| self.fail(e))?;
        if !out.ends_with(b"\n") {
            out.push(b'\n');
        }
        Ok(out)
    }

    /// An armored detached signature of `data` (Release.gpg, repomd.xml.asc).
    pub fn detached(&self, data: &[u8], time: u64) -> Result<Vec<u8>, AppError> {
        let cfg = self.config(SignatureType::Binary, time)?;
        let sig: Signature = cfg
            .sign(&self.key, &self.password, data)
            .map_err(|e| self.fail(e))?;
        let mut out = pgp::composed::DetachedSignature::new(sig)
            .to_armored_bytes(Default::default())
            .map_err(|e| self.fail(e))?;
        if !out.ends_with(b"\n") {
            out.push(b'\n');
        }
        Ok(out)
    }
}

/// Where the key comes from: `--key FILE`, else `LUCIA_PKG_REPO_KEY` (the armored key itself,
/// or the path of a file holding it). `None`: the repository is not signed.
pub fn load(key: Option<&std::path::Path>) -> Result<Option<RepoKey>, AppError> {
    match crate::signing_key::source(key, KEY_ENV, "-----BEGIN PGP")? {
        Some((name, bytes)) => RepoKey::from_armored(&name, &bytes).map(Some),
        None => Ok(None),
    }
}

/// Environment variable naming the repository signing key (armored key or file path).
pub const KEY_ENV: &str = "LUCIA_PKG_REPO_KEY";
