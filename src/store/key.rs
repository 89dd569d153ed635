//! Build keys: the derivation-like identity of one output. A key is sha256 over a canonical
//! serialization of named parts (plan fingerprint, input hashes, source date, arch, format
//! options, tool version, codec implementations …), folded to 20 bytes and rendered in
//! nix-base32 like a Nix store path hash (32 characters).

use sha2::{Digest, Sha256};
use std::fmt;

/// Domain separator: bump the version when the meaning of any part changes, so old store
/// entries can never be mistaken for new ones.
const DOMAIN: &[u8] = b"lucia-pkg build key v1\0";

/// A finished build key (32 nix-base32 characters).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BuildKey(String);

impl BuildKey {
    /// Parses the 32-character rendering (as found in store entry names and GC roots).
    pub fn parse(text: &str) -> Option<BuildKey> {
        let ok = text.len() == 32 && nar::encoding::from_nix32(text).is_some_and(|b| b.len() == 20);
        ok.then(|| BuildKey(text.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for BuildKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Collects named parts and hashes them in name order, so the key does not depend on the order
/// the caller happened to add them in. Parts with the same name keep their insertion order.
#[derive(Default, Clone, Debug)]
pub struct KeyBuilder {
    parts: Vec<(String, Vec<u8>)>,
}

impl KeyBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one named part; the value is hashed verbatim (length-prefixed, so no two
    /// different part lists serialize to the same bytes).
    pub fn part(&mut self, name: &str, value: impl AsRef<[u8]>) -> &mut Self {
        self.parts.push((name.to_string(), value.as_ref().to_vec()));
        self
    }

    /// The parts in canonical order, e.g. for a provenance record.
    pub fn parts(&self) -> Vec<(&str, &[u8])> {
        let mut v: Vec<(&str, &[u8])> = self
            .parts
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_slice()))
            .collect();
        v.sort_by(|a, b| a.0.cmp(b.0));
        v
    }

    /// The full sha256 of the canonical serialization.
    pub fn sha256(&self) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(DOMAIN);
        for (name, value) in self.parts() {
            for field in [name.as_bytes(), value] {
                h.update((field.len() as u64).to_le_bytes());
                h.update(field);
            }
        }
        h.finalize().into()
    }

    pub fn finish(&self) -> BuildKey {
        let folded = nar::compress_hash::<20>(&self.sha256());
        BuildKey(nar::nix32(&folded))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_independent_and_unambiguous() {
        let a = KeyBuilder::new()
            .part("arch", "amd64")
            .part("plan", "x")
            .finish();
        let b = KeyBuilder::new()
            .part("plan", "x")
            .part("arch", "amd64")
            .finish();
        assert_eq!(a, b);
        assert_eq!(a.as_str().len(), 32);
        let c = KeyBuilder::new()
            .part("arch", "amd64p")
            .part("lan", "x")
            .finish();
        assert_ne!(a, c);
        let d = KeyBuilder::new()
            .part("arch", "arm64")
            .part("plan", "x")
            .finish();
        assert_ne!(a, d);
        assert_eq!(BuildKey::parse(a.as_str()), Some(a.clone()));
        assert_eq!(BuildKey::parse("e"), None);
        assert_eq!(
            BuildKey::parse(&"e".repeat(32)),
            None,
            "e is not in the nix32 alphabet"
        );
    }
}
