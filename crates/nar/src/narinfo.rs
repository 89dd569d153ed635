//! Binary cache metadata: the `.narinfo` text Nix reads from a binary cache
//! (`<hash part>.narinfo`), the fingerprint Nix signs and checks (`1;<path>;<nar hash>;<nar
//! size>;<references>`) and the `CA:` field of a recursively hashed fixed-output path.
//!
//! The text is written in the field order Nix itself writes, one `Key: value` per line. Nix
//! splits every line at the first `": "`, so an empty `References` is written as
//! `References: ` (with the space), as Nix does.

use crate::encoding::nix32_sha256;

/// Everything one `.narinfo` holds for a path without a deriver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NarInfo {
    /// `/nix/store/<hash>-<name>`.
    pub store_path: String,
    /// Relative to the cache root, e.g. `nar/<file hash>.nar.xz`.
    pub url: String,
    /// `xz`, `bzip2`, `zstd`, `none`, …: how the file at `url` is compressed.
    pub compression: String,
    /// sha256 and size of the (compressed) file at `url`.
    pub file_sha256: [u8; 32],
    pub file_size: u64,
    /// sha256 and size of the uncompressed NAR.
    pub nar_sha256: [u8; 32],
    pub nar_size: u64,
    /// Full store paths this path refers to, sorted.
    pub references: Vec<String>,
    /// `CA:` value, e.g. from [`ca_fixed_recursive`].
    pub ca: Option<String>,
    /// `Sig:` values, `<key name>:<base64 signature>`.
    pub sigs: Vec<String>,
}

impl NarInfo {
    /// The text Nix signs: `1;<store path>;sha256:<nix32 NAR hash>;<NAR size>;<references,
    /// comma-separated>` (Nix's `ValidPathInfo::fingerprint`).
    pub fn fingerprint(&self) -> String {
        fingerprint(
            &self.store_path,
            &self.nar_sha256,
            self.nar_size,
            &self.references,
        )
    }

    /// The `.narinfo` file's text.
    pub fn to_text(&self) -> String {
        let base = |p: &str| p.rsplit_once('/').map_or(p, |(_, b)| b).to_string();
        let mut t = format!(
            "StorePath: {}\nURL: {}\nCompression: {}\nFileHash: {}\nFileSize: {}\nNarHash: {}\nNarSize: {}\nReferences: {}\n",
            self.store_path,
            self.url,
            self.compression,
            nix32_sha256(&self.file_sha256),
            self.file_size,
            nix32_sha256(&self.nar_sha256),
            self.nar_size,
            self.references.iter().map(|r| base(r)).collect::<Vec<_>>().join(" "),
        );
        for s in &self.sigs {
            t.push_str(&format!("Sig: {s}\n"));
        }
        if let Some(ca) = &self.ca {
            t.push_str(&format!("CA: {ca}\n"));
        }
        t
    }
}

/// Nix's path fingerprint for signatures (see [`NarInfo::fingerprint`]).
pub fn fingerprint(
    store_path: &str,
    nar_sha256: &[u8; 32],
    nar_size: u64,
    references: &[String],
) -> String {
    format!(
        "1;{store_path};{};{nar_size};{}",
        nix32_sha256(nar_sha256),
        references.join(",")
    )
}

/// The content address of a path added recursively with sha256 (`nix-store --add`, a
/// `source` path): `fixed:r:sha256:<nix32 NAR hash>`.
pub fn ca_fixed_recursive(nar_sha256: &[u8; 32]) -> String {
    format!("fixed:r:{}", nix32_sha256(nar_sha256))
}

/// `<key name>:<base64 signature>`, the `Sig:` value for a raw 64-byte Ed25519 signature.
pub fn sig_field(key_name: &str, signature: &[u8]) -> String {
    format!("{key_name}:{}", crate::encoding::base64(signature))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> NarInfo {
        NarInfo {
            store_path: "/nix/store/00000000000000000000000000000000-x".into(),
            url: "nar/abc.nar.xz".into(),
            compression: "xz".into(),
            file_sha256: [1; 32],
            file_size: 10,
            nar_sha256: [2; 32],
            nar_size: 120,
            references: vec![],
            ca: Some(ca_fixed_recursive(&[2; 32])),
            sigs: vec!["k-1:c2ln".into()],
        }
    }

    #[test]
    fn text_has_nix_field_order_and_an_empty_references_with_its_space() {
        let t = sample().to_text();
        let keys: Vec<&str> = t
            .lines()
            .filter_map(|l| l.split_once(": "))
            .map(|(k, _)| k)
            .collect();
        assert_eq!(
            keys,
            [
                "StorePath",
                "URL",
                "Compression",
                "FileHash",
                "FileSize",
                "NarHash",
                "NarSize",
                "References",
                "Sig",
                "CA"
            ]
        );
        assert!(t.contains("\nReferences: \n"));
        assert!(t.contains(&format!("\nNarHash: sha256:{}\n", crate::nix32(&[2; 32]))));
        assert!(t.ends_with(&format!("CA: fixed:r:sha256:{}\n", crate::nix32(&[2; 32]))));
    }

    #[test]
    fn references_are_base_names_in_text_and_full_paths_in_the_fingerprint() {
        let mut i = sample();
        i.references = vec![
            "/nix/store/11111111111111111111111111111111-a".into(),
            "/nix/store/22222222222222222222222222222222-b".into(),
        ];
        assert!(i.to_text().contains(
            "\nReferences: 11111111111111111111111111111111-a 22222222222222222222222222222222-b\n"
        ));
        assert_eq!(
            i.fingerprint(),
            format!(
                "1;/nix/store/00000000000000000000000000000000-x;sha256:{};120;/nix/store/11111111111111111111111111111111-a,/nix/store/22222222222222222222222222222222-b",
                crate::nix32(&[2; 32])
            )
        );
        assert!(sample().fingerprint().ends_with(";120;"));
    }
}
