//! Pushes an OCI image layout (directory or oci-archive) to a registry following the OCI
//! distribution spec, with every digest unchanged: the registry stores the exact manifest and
//! index bytes lucia-pkg wrote, so the index digest users pin is the one the build printed.
//!
//! * Blobs: `HEAD` first and skip what the registry has; otherwise `POST` an upload session and
//!   `PUT` the blob monolithically, streamed from the file (never held in memory).
//! * Manifests: each platform manifest by digest, then the index by digest and by every tag.
//! * Tags: the layout's version tag (`org.opencontainers.image.ref.name`), the destination's
//!   `:TAG` and every extra tag, deduplicated, all pointing at the same index digest.
//! * Auth: anonymous, Basic, or the Bearer token flow from the `WWW-Authenticate` challenge.
//!   Credentials go only to the registry named in the destination (same scheme, host and port),
//!   to a token service on that host, or to the token service the registry's own `/v2/`
//!   challenge names; any other host (an upload `Location`, a redirect) gets no
//!   `Authorization` header, and if it demands authentication the push fails.
//!   Credentials never appear in errors, reports or `Debug` output.
//! * Transport: HTTPS; plain HTTP only for loopback registries (127.0.0.0/8, ::1, or
//!   `localhost`/`*.localhost` resolving to loopback only) or with `insecure_http`. Every network
//!   step is bounded by a timeout (`LUCIA_PKG_REGISTRY_TIMEOUT`, default 30 s).

mod attach;
mod auth;
mod cache;
mod client;
mod creds;
mod push;
mod reference;

use std::fmt;

pub use attach::{
    digest_tag, Artifact, Attachments, ImageSignature, ANN_COSIGN_SIGNATURE, MT_SIMPLE_SIGNING,
};
pub use cache::{Published, TreeCache, ANN_DIRS, ANN_MODE, ANN_SYMLINKS, MT_FILE, MT_TREE};
pub use client::DEFAULT_TIMEOUT;
pub use creds::{credentials_from_env_or_docker_config, Credentials};
pub use push::{layout_version_tag, push};
pub use reference::{is_loopback, parse as parse_destination, valid_tag, Destination};

use std::time::Duration;

/// `push` with credentials from [`credentials_from_env_or_docker_config`] and the timeout from
/// [`timeout_from_env`]: what `lucia-pkg push` does. Map [`PushError::exit_code`] to the
/// process exit status.
pub fn push_with_default_credentials(
    layout: &std::path::Path,
    to: &str,
    tags: Vec<String>,
    insecure_http: bool,
) -> Result<PushReport, PushError> {
    push_with_default_credentials_attached(layout, to, tags, insecure_http, Attachments::default())
}

/// [`push_with_default_credentials`], then the image's signature and referrers
/// ([`Attachments`]: cosign's `.sig` tag, OCI 1.1 artifact manifests with the tag-schema
/// fallback).
pub fn push_with_default_credentials_attached(
    layout: &std::path::Path,
    to: &str,
    tags: Vec<String>,
    insecure_http: bool,
    attach: Attachments,
) -> Result<PushReport, PushError> {
    let dest = parse_destination(to)?;
    let timeout = timeout_from_env()?;
    let credentials = credentials_from_env_or_docker_config(&dest.registry)?;
    push(
        layout,
        to,
        PushOptions {
            tags,
            insecure_http,
            credentials,
            timeout,
            attach,
        },
    )
}

/// `LUCIA_PKG_REGISTRY_TIMEOUT`: seconds (decimals allowed, > 0, at most a day) that any one
/// network step may take; `None` when unset or empty (then [`DEFAULT_TIMEOUT`]).
pub fn timeout_from_env() -> Result<Option<Duration>, PushError> {
    match std::env::var("LUCIA_PKG_REGISTRY_TIMEOUT") {
        Ok(v) if !v.trim().is_empty() => parse_timeout(&v).map(Some),
        _ => Ok(None),
    }
}

fn parse_timeout(v: &str) -> Result<Duration, PushError> {
    match v.trim().parse::<f64>() {
        Ok(s) if s.is_finite() && s > 0.0 && s <= 86400.0 => Ok(Duration::from_secs_f64(s)),
        _ => Err(PushError::Config(format!(
            "LUCIA_PKG_REGISTRY_TIMEOUT=`{}` is not a number of seconds between 0 and 86400 (e.g. 30 or 2.5)",
            v.chars().take(40).collect::<String>()
        ))),
    }
}

/// The tag a manifest version is pushed under (the layout's `org.opencontainers.image.ref.name`):
/// the same mapping as `format_oci::version_tag` (`1.0.0+b1` → `1.0.0_b1`, `~` → `-`).
pub fn tag_for_version(upstream: &str) -> String {
    upstream
        .chars()
        .map(|c| match c {
            '+' => '_',
            '~' => '-',
            c if c.is_ascii_alphanumeric() || c == '.' || c == '_' || c == '-' => c,
            _ => '_',
        })
        .take(128)
        .collect()
}

/// How to push.
#[derive(Clone, Default)]
pub struct PushOptions {
    /// Tags in addition to the layout's version tag (`org.opencontainers.image.ref.name`) and
    /// the one in the destination (`:1.0.0`), e.g. the manifest's `oci.tags` and `--tag`s.
    pub tags: Vec<String>,
    /// Allow plain HTTP to a registry that is not on loopback.
    pub insecure_http: bool,
    /// (user, password or token); `None` for anonymous access.
    pub credentials: Option<(String, String)>,
    /// The limit for each network step (connect, response head, each read/write, a small body);
    /// `None` for [`DEFAULT_TIMEOUT`].
    pub timeout: Option<Duration>,
    /// The signature and referrers to publish after the image (checked before anything is sent).
    pub attach: Attachments,
}

impl fmt::Debug for PushOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PushOptions")
            .field("tags", &self.tags)
            .field("insecure_http", &self.insecure_http)
            .field("timeout", &self.timeout)
            .field("signature", &self.attach.signature.is_some())
            .field("artifacts", &self.attach.artifacts.len())
            .field(
                "credentials",
                &self
                    .credentials
                    .as_ref()
                    .map(|(u, _)| format!("{u}:<redacted>")),
            )
            .finish()
    }
}

/// What a push did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PushReport {
    pub registry: String,
    pub repository: String,
    /// The digest `index.json` points at, now stored under every tag.
    pub index_digest: String,
    pub tags: Vec<String>,
    pub blobs_uploaded: usize,
    /// Blobs the registry already had (a re-push uploads none).
    pub blobs_skipped: usize,
    pub bytes_uploaded: u64,
    pub manifests_pushed: usize,
    /// `registry/repo:tag` for each tag and `registry/repo@digest`.
    pub references: Vec<String>,
    /// The signature and referrers published with the image, one line each.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub attached: Vec<String>,
}

impl fmt::Display for PushReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "pushed {} to {}/{}",
            self.index_digest, self.registry, self.repository
        )?;
        writeln!(
            f,
            "  blobs: {} uploaded ({} bytes), {} already present; manifests: {}",
            self.blobs_uploaded, self.bytes_uploaded, self.blobs_skipped, self.manifests_pushed
        )?;
        for r in &self.references {
            writeln!(f, "  {r}")?;
        }
        for a in &self.attached {
            writeln!(f, "  attached: {a}")?;
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PushError {
    #[error("bad destination: {0}")]
    BadReference(String),
    #[error("{0}")]
    BadTag(String),
    #[error("{0}")]
    Source(String),
    #[error("credentials: {0}")]
    Credentials(String),
    #[error("{0}")]
    Insecure(String),
    #[error("registry {registry} requires authentication: set LUCIA_PKG_REGISTRY_USER and LUCIA_PKG_REGISTRY_PASSWORD, or log in with `docker login {registry}` / `podman login --authfile ~/.docker/config.json {registry}`")]
    AuthRequired { registry: String },
    #[error("registry {registry} rejected the credentials of user `{user}` ({detail}); check LUCIA_PKG_REGISTRY_USER/LUCIA_PKG_REGISTRY_PASSWORD or the docker config")]
    Unauthorized {
        registry: String,
        user: String,
        detail: String,
    },
    #[error("{what}: HTTP {status}: {message}")]
    Http {
        what: String,
        status: u16,
        message: String,
    },
    #[error("{what}: {message}")]
    Transport { what: String, message: String },
    #[error("{url} demands authentication, but it is not the registry {registry} (nor the token service its /v2/ challenge names); lucia-pkg sends credentials only there, so the push stops. If this host is meant to hold the uploads, the registry must give it a pre-signed Location")]
    ForeignAuth { url: String, registry: String },
    #[error("{0}")]
    Config(String),
    /// What the registry holds is unusable (a cache tree with a bad path, a blob whose bytes do
    /// not match its digest): that one item is refused, the registry itself answered.
    #[error("{what}: {why}")]
    Unusable { what: String, why: String },
    #[error("the registry stored the manifest as {registry}, not {expected}: it rewrote the bytes; refusing to continue")]
    DigestChanged { expected: String, registry: String },
}

impl PushError {
    /// lucia-pkg's exit codes: 2 for bad input (destination, tags, credential settings, a source
    /// that is not a readable layout), 1 for a push that failed (auth, network, registry).
    pub fn exit_code(&self) -> i32 {
        match self {
            PushError::BadReference(_)
            | PushError::BadTag(_)
            | PushError::Source(_)
            | PushError::Credentials(_)
            | PushError::Config(_) => 2,
            _ => 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_parse() {
        assert_eq!(parse_timeout("2").unwrap(), Duration::from_secs(2));
        assert_eq!(parse_timeout(" 0.5 ").unwrap(), Duration::from_millis(500));
        for bad in ["0", "-1", "abc", "NaN", "inf", "1e9"] {
            let e = parse_timeout(bad).unwrap_err();
            assert_eq!(e.exit_code(), 2, "{bad}");
            assert!(e.to_string().contains("LUCIA_PKG_REGISTRY_TIMEOUT"), "{e}");
        }
    }

    #[test]
    fn version_tags_match_the_layout_writer() {
        for v in ["1.0.0", "1.0.0+b1", "2.0~rc1", "1:2.3"] {
            let mut plan = pkg_core::sample::lucia_like_plan(pkg_core::Arch::Amd64);
            plan.meta.version.upstream = v.to_string();
            assert_eq!(tag_for_version(v), format_oci::version_tag(&plan), "{v}");
            assert!(valid_tag(&tag_for_version(v)), "{v}");
        }
    }
}
