//! Hash renderings Nix uses: its own base32 (`nix-hash --base32`), SRI (`sha256-<base64>`, what
//! `nix hash path` prints) and lowercase hex (inside store path fingerprints).
//!
//! Base64 is written here rather than pulled in as a crate: we only ever encode (never decode)
//! 32-byte digests with the standard padded alphabet, which is a dozen lines checked below
//! against RFC 4648's vectors and against Nix's SRI output in the integration tests.

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 (RFC 4648 §4) with `=` padding.
pub fn base64(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(B64[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Decodes standard padded base64 (what Nix keys and signatures are written in); `None` for
/// anything that is not canonical base64 (wrong length, bad characters, non-zero pad bits).
pub fn from_base64(text: &str) -> Option<Vec<u8>> {
    let bytes = text.as_bytes();
    if !bytes.len().is_multiple_of(4) {
        return None;
    }
    let value = |c: u8| B64.iter().position(|&b| b == c).map(|v| v as u32);
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
        out.extend_from_slice(&[(n >> 16) as u8, (n >> 8) as u8, n as u8][..3 - pad]);
    }
    (base64(&out) == text).then_some(out)
}

/// Nix's base32 (alphabet without e, o, u, t; least significant bits first).
pub fn nix32(bytes: &[u8]) -> String {
    nix_base32::to_nix_base32(bytes)
}

/// Parses Nix base32 text back into bytes; `None` if it is not valid nix-base32.
pub fn from_nix32(text: &str) -> Option<Vec<u8>> {
    nix_base32::from_nix_base32(text)
}

/// `sha256-<base64>`: the SRI form `nix hash path` prints.
pub fn sri_sha256(digest: &[u8; 32]) -> String {
    format!("sha256-{}", base64(digest))
}

/// `sha256:<nix32>`: the form `nix-hash --type sha256 --base32` pairs with its type.
pub fn nix32_sha256(digest: &[u8; 32]) -> String {
    format!("sha256:{}", nix32(digest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_rfc4648_vectors() {
        let cases = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ];
        for (plain, enc) in cases {
            assert_eq!(base64(plain.as_bytes()), enc, "{plain:?}");
        }
        assert_eq!(base64(&[0xfb, 0xff, 0xbf]), "+/+/");
    }

    #[test]
    fn from_base64_inverts_base64_and_refuses_the_rest() {
        for plain in ["", "f", "fo", "foo", "foob", "fooba", "foobar"] {
            assert_eq!(
                from_base64(&base64(plain.as_bytes())).as_deref(),
                Some(plain.as_bytes())
            );
        }
        assert_eq!(
            from_base64("+/+/").as_deref(),
            Some(&[0xfb, 0xff, 0xbf][..])
        );
        for bad in ["Zg=", "Zg==Zg==", "Z===", "Zh==", "Zm9v!A==", "Zm 9"] {
            assert_eq!(from_base64(bad), None, "{bad}");
        }
    }

    #[test]
    fn nix32_round_trips_and_matches_nix_ordering() {
        // `nix-hash --to-base32 --type sha256 <hex>` printed this for sha256("") in Nix 2.8.
        let empty: [u8; 32] = sha2::Digest::finalize(<sha2::Sha256 as sha2::Digest>::new()).into();
        assert_eq!(
            nix32(&empty),
            "0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73"
        );
        assert_eq!(from_nix32(&nix32(&empty)).as_deref(), Some(&empty[..]));
        assert_eq!(from_nix32("not!base32"), None);
    }
}
