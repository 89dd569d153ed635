//! Parsing the push destination `host[:port]/repo[:tag]` and deciding whether plain HTTP is
//! allowed for its host.

use std::net::IpAddr;

use crate::PushError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    /// `host[:port]` as given (lower-cased host).
    pub registry: String,
    /// Host without the port (no brackets for IPv6).
    pub host: String,
    pub repository: String,
    pub tag: Option<String>,
}

/// `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}` (distribution's tag grammar).
pub fn valid_tag(t: &str) -> bool {
    let b = t.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
}

/// Lower-case path components separated by `.`, `_`, `__` or `-` runs (distribution's grammar).
fn valid_repository(r: &str) -> bool {
    !r.is_empty()
        && r.len() <= 255
        && r.split('/').all(|c| {
            !c.is_empty()
                && c.starts_with(|x: char| x.is_ascii_lowercase() || x.is_ascii_digit())
                && c.ends_with(|x: char| x.is_ascii_lowercase() || x.is_ascii_digit())
                && c.chars().all(|x| {
                    x.is_ascii_lowercase() || x.is_ascii_digit() || matches!(x, '.' | '_' | '-')
                })
        })
}

pub fn parse(to: &str) -> Result<Destination, PushError> {
    let bad = |why: &str| {
        PushError::BadReference(format!("`{to}`: {why}; expected REGISTRY[:PORT]/REPOSITORY[:TAG], e.g. 127.0.0.1:5000/lucia/agenthost:1.0.0"))
    };
    let to = to.trim();
    let to = to.strip_prefix("docker://").unwrap_or(to);
    if to.contains('@') {
        return Err(bad(
            "pushing to a digest reference is not possible; the index digest is fixed by the build",
        ));
    }
    let (registry, rest) = to.split_once('/').ok_or_else(|| bad("no registry host"))?;
    let registry = registry.to_ascii_lowercase();
    if !(registry.contains('.') || registry.contains(':') || registry == "localhost") {
        return Err(bad(
            "the first component must be a registry host (with a dot or a port, or localhost)",
        ));
    }
    let (repository, tag) = match rest.rsplit_once(':') {
        Some((r, t)) if !t.contains('/') => (r.to_string(), Some(t.to_string())),
        _ => (rest.to_string(), None),
    };
    if !valid_repository(&repository) {
        return Err(bad(
            "invalid repository name (lower-case letters, digits, `.`, `_`, `-`, `/`)",
        ));
    }
    if let Some(t) = &tag {
        if !valid_tag(t) {
            return Err(bad("invalid tag"));
        }
    }
    let host = if let Some(stripped) = registry.strip_prefix('[') {
        stripped.split(']').next().unwrap_or_default().to_string()
    } else {
        registry.split(':').next().unwrap_or_default().to_string()
    };
    Ok(Destination {
        registry,
        host,
        repository,
        tag,
    })
}

/// 127.0.0.0/8, ::1 and `localhost`: the only hosts plain HTTP is used for without a flag.
pub fn is_loopback(host: &str) -> bool {
    if host.eq_ignore_ascii_case("localhost") || host.to_ascii_lowercase().ends_with(".localhost") {
        return true;
    }
    host.parse::<IpAddr>()
        .map(|ip| ip.is_loopback())
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_destinations() {
        let d = parse("127.0.0.1:5000/lucia/agenthost:1.0.0").unwrap();
        assert_eq!(
            (d.registry.as_str(), d.host.as_str()),
            ("127.0.0.1:5000", "127.0.0.1")
        );
        assert_eq!(
            (d.repository.as_str(), d.tag.as_deref()),
            ("lucia/agenthost", Some("1.0.0"))
        );
        let d = parse("ghcr.io/seiggy/lucia").unwrap();
        assert_eq!(
            (d.registry.as_str(), d.repository.as_str(), d.tag),
            ("ghcr.io", "seiggy/lucia", None)
        );
        let d = parse("[::1]:5000/x").unwrap();
        assert_eq!(d.host, "::1");
        assert!(parse("lucia/agenthost:1").is_err());
        assert!(parse("ghcr.io/Upper/x").is_err());
        assert!(parse("ghcr.io/x@sha256:00").is_err());
        assert!(parse("ghcr.io/x:bad tag").is_err());
        assert!(parse("ghcr.io").is_err());
    }

    #[test]
    fn loopback_hosts() {
        for h in ["127.0.0.1", "127.3.4.5", "::1", "localhost", "LOCALHOST"] {
            assert!(is_loopback(h), "{h}");
        }
        for h in ["10.0.0.1", "ghcr.io", "localhost.example.com", "128.0.0.1"] {
            assert!(!is_loopback(h), "{h}");
        }
    }

    #[test]
    fn tags() {
        assert!(valid_tag("1.0.0") && valid_tag("sha-0123abc") && valid_tag("latest"));
        assert!(
            !valid_tag("-x") && !valid_tag("") && !valid_tag("a/b") && !valid_tag(&"a".repeat(129))
        );
    }
}
