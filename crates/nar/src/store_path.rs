//! Store paths of content-addressed, recursively (NAR) hashed sources: what
//! `nix-store --print-fixed-path --recursive sha256 HASH NAME` and `nix store add-path` print.
//!
//! Nix builds the path from the fingerprint `source:sha256:<hex NAR sha256>:<store dir>:<name>`
//! (no references), hashes it with sha256, XOR-folds the 32 bytes into 20 and renders them in
//! nix-base32 (32 characters).

use crate::encoding::nix32;
use crate::{Error, Result};
use sha2::{Digest, Sha256};

/// Nix's default store directory.
pub const NIX_STORE_DIR: &str = "/nix/store";

/// Longest store path name Nix accepts (Nix's `checkName`).
pub const MAX_NAME_LEN: usize = 211;

/// XOR-folds a digest into `N` bytes the way Nix's `compressHash` does.
pub fn compress_hash<const N: usize>(digest: &[u8]) -> [u8; N] {
    let mut out = [0u8; N];
    for (i, b) in digest.iter().enumerate() {
        out[i % N] ^= b;
    }
    out
}

/// `/nix/store/<hash>-<name>` for a NAR sha256 and a name (rejected like Nix rejects it).
pub fn store_path_for(nar_sha256: &[u8; 32], name: &str) -> Result<String> {
    store_path_in(NIX_STORE_DIR, nar_sha256, name)
}

/// As [`store_path_for`], for another store directory (it is part of the fingerprint).
pub fn store_path_in(store_dir: &str, nar_sha256: &[u8; 32], name: &str) -> Result<String> {
    validate_store_name(name)?;
    let fingerprint = format!(
        "source:sha256:{}:{store_dir}:{name}",
        hex::encode(nar_sha256)
    );
    let digest = Sha256::digest(fingerprint.as_bytes());
    Ok(format!(
        "{store_dir}/{}-{name}",
        nix32(&compress_hash::<20>(&digest))
    ))
}

/// Nix's store name rules: 1 to 211 characters from `A-Z a-z 0-9 + - . _ ? =`.
///
/// We also refuse names starting with `.` (Nix ≤ 2.3 refused them all; newer Nix refuses `.`,
/// `..` and `.-`/`..-` prefixes), so a name accepted here is accepted by every Nix version.
pub fn validate_store_name(name: &str) -> Result<()> {
    let bad = |reason: String| {
        Err(Error::InvalidStoreName {
            name: name.to_string(),
            reason,
        })
    };
    if name.is_empty() {
        return bad("it is empty".into());
    }
    if name.len() > MAX_NAME_LEN {
        return bad(format!(
            "it is {} bytes long; Nix allows at most {MAX_NAME_LEN}",
            name.len()
        ));
    }
    if name.starts_with('.') {
        return bad("it starts with '.'".into());
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "+-._?=".contains(*c)))
    {
        return bad(format!(
            "{c:?} is not allowed; use only A-Z a-z 0-9 + - . _ ? ="
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fold_is_xor_of_wrapped_bytes() {
        let d: Vec<u8> = (1..=32).collect();
        let f = compress_hash::<20>(&d);
        assert_eq!(f[0], 1 ^ 21);
        assert_eq!(f[11], 12 ^ 32);
        assert_eq!(f[12], 13);
        assert_eq!(f[19], 20);
    }

    #[test]
    fn names_are_checked() {
        for ok in ["lucia-1.0.0", "a", "x+y_z?=1", &"a".repeat(211)] {
            assert!(validate_store_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            ".hidden",
            "..",
            "a/b",
            "a b",
            "é",
            "a~b",
            &"a".repeat(212),
        ] {
            assert!(validate_store_name(bad).is_err(), "{bad}");
        }
        assert!(store_path_for(&[0; 32], "a/b").is_err());
    }
}
