//! Parsing the push destination `host[:port]/repo[:tag]` and deciding whether plain HTTP is
//! allowed for its host.

use std::net::{IpAddr, ToSocketAddrs};

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

/// `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}` (distribution's tag grammar), defined once in pkg-core.
pub use pkg_core::version::valid_oci_tag as valid_tag;

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

/// The error for `user:password@host/repo`: it names none of the text.
pub const CREDENTIALS_IN_REFERENCE: &str = "credentials in the reference are not accepted; use LUCIA_PKG_REGISTRY_USER/LUCIA_PKG_REGISTRY_PASSWORD (or `docker login`, which writes $DOCKER_CONFIG/config.json)";

/// `sha256:<64 hex>`, `sha512:<128 hex>` (the digests a reference can carry).
fn is_digest(s: &str) -> bool {
    let hex = |h: &str, n: usize| h.len() == n && h.bytes().all(|c| c.is_ascii_hexdigit());
    match s.split_once(':') {
        Some(("sha256", h)) => hex(h, 64),
        Some(("sha512", h)) => hex(h, 128),
        _ => false,
    }
}

pub fn parse(to: &str) -> Result<Destination, PushError> {
    let bad = |why: &str| {
        PushError::BadReference(format!("`{to}`: {why}; expected REGISTRY[:PORT]/REPOSITORY[:TAG], e.g. 127.0.0.1:5000/lucia/agenthost:1.0.0"))
    };
    let to = to.trim();
    let to = to.strip_prefix("docker://").unwrap_or(to);
    if let Some((before, after)) = to.rsplit_once('@') {
        // Nothing of the text is echoed here: before an `@` there may be `user:password`.
        return Err(PushError::BadReference(
            if !before.contains('@') && before.contains('/') && is_digest(after) {
                "pushing to a digest reference (`REPO@sha256:…`) is not possible; the index digest is fixed by the build: give REGISTRY/REPOSITORY[:TAG]".to_string()
            } else {
                CREDENTIALS_IN_REFERENCE.to_string()
            },
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

/// Whether plain HTTP may be used for `host` without `--insecure-http`: a loopback IP literal
/// (127.0.0.0/8, ::1), or `localhost` / `*.localhost` when every address the name resolves to
/// is loopback (a `*.localhost` name that DNS or /etc/hosts points elsewhere gets HTTPS only).
/// `host` is bare (no port, no brackets).
pub fn is_loopback(host: &str) -> bool {
    if host.parse::<IpAddr>().is_ok() || !is_localhost_name(host) {
        return plain_http_decision(host, &[]);
    }
    let resolved: Vec<IpAddr> = (host, 0u16)
        .to_socket_addrs()
        .map(|a| a.map(|s| s.ip()).collect())
        .unwrap_or_default();
    plain_http_decision(host, &resolved)
}

fn is_localhost_name(host: &str) -> bool {
    let h = host.trim_end_matches('.').to_ascii_lowercase();
    h == "localhost" || h.ends_with(".localhost")
}

/// The decision behind [`is_loopback`], given what `host` resolved to.
pub(crate) fn plain_http_decision(host: &str, resolved: &[IpAddr]) -> bool {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return ip.is_loopback();
    }
    is_localhost_name(host) && !resolved.is_empty() && resolved.iter().all(IpAddr::is_loopback)
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
        for h in ["127.0.0.1", "127.3.4.5", "::1"] {
            assert!(is_loopback(h), "{h}");
        }
        for h in [
            "10.0.0.1",
            "ghcr.io",
            "localhost.example.com",
            "128.0.0.1",
            "::ffff:10.0.0.1",
        ] {
            assert!(!is_loopback(h), "{h}");
        }
    }

    #[test]
    fn plain_http_needs_a_loopback_address() {
        let lo4: IpAddr = "127.0.0.1".parse().unwrap();
        let lo6: IpAddr = "::1".parse().unwrap();
        let lan: IpAddr = "10.1.2.3".parse().unwrap();
        // `*.localhost` / `localhost` only when every resolved address is loopback.
        for h in ["localhost", "LOCALHOST", "reg.localhost", "a.b.localhost."] {
            assert!(plain_http_decision(h, &[lo4]), "{h}");
            assert!(plain_http_decision(h, &[lo4, lo6]), "{h}");
            assert!(!plain_http_decision(h, &[lan]), "{h} -> 10.1.2.3");
            assert!(
                !plain_http_decision(h, &[lo4, lan]),
                "{h} -> 127.0.0.1 + 10.1.2.3"
            );
            assert!(!plain_http_decision(h, &[]), "{h} unresolved");
        }
        // Other names never, whatever they resolve to; IP literals by their own address.
        assert!(!plain_http_decision("registry.example", &[lo4]));
        assert!(!plain_http_decision("localhost.example.com", &[lo4]));
        assert!(plain_http_decision("127.0.0.1", &[]));
        assert!(!plain_http_decision("10.1.2.3", &[lo4]));
        // A name that does not resolve gets HTTPS only.
        assert!(!is_loopback("lucia-pkg-test-does-not-exist.invalid"));
    }

    #[test]
    fn credentials_in_the_reference_are_refused_without_echoing_them() {
        for to in [
            "probe:hunter2@127.0.0.1:5000/lucia/agenthost:1.0.0",
            "docker://probe:hunter2@ghcr.io/x",
            "probe:hunt/er2@ghcr.io/x:1",
            "probe:hunter2@ghcr.io",
            "probe:hunter2@ghcr.io:443",
            "probe:hunter2@ghcr.io/x@sha256:0000000000000000000000000000000000000000000000000000000000000000",
            "https://probe:hunter2@ghcr.io/x",
        ] {
            let e = parse(to).unwrap_err().to_string();
            assert!(
                e.contains("credentials in the reference are not accepted")
                    && e.contains("LUCIA_PKG_REGISTRY_USER")
                    && !e.contains("hunter2")
                    && !e.contains("probe"),
                "{to}: {e}"
            );
        }
        let e = parse(
            "ghcr.io/x@sha256:0000000000000000000000000000000000000000000000000000000000000000",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("digest"), "{e}");
    }

    #[test]
    fn tags() {
        assert!(valid_tag("1.0.0") && valid_tag("sha-0123abc") && valid_tag("latest"));
        assert!(
            !valid_tag("-x") && !valid_tag("") && !valid_tag("a/b") && !valid_tag(&"a".repeat(129))
        );
    }
}
