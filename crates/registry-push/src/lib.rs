//! Pushes an OCI image layout (directory or oci-archive) to a registry following the OCI
//! distribution spec, with every digest unchanged: the registry stores the exact manifest and
//! index bytes lucia-pkg wrote, so the index digest users pin is the one the build printed.
//!
//! * Blobs: `HEAD` first and skip what the registry has; otherwise `POST` an upload session and
//!   `PUT` the blob monolithically, streamed from the file (never held in memory).
//! * Manifests: each platform manifest by digest, then the index by digest and by every tag.
//! * Auth: anonymous, Basic, or the Bearer token flow from the `WWW-Authenticate` challenge.
//!   Credentials never appear in errors, reports or `Debug` output.
//! * Transport: HTTPS; plain HTTP only for loopback registries (127.0.0.0/8, ::1, localhost) or
//!   with `insecure_http`.

mod auth;
mod client;
mod creds;
mod push;
mod reference;

use std::fmt;

pub use creds::{credentials_from_env_or_docker_config, Credentials};
pub use push::push;
pub use reference::{is_loopback, parse as parse_destination, Destination};

/// `push` with credentials from [`credentials_from_env_or_docker_config`]: what `lucia-pkg push`
/// does. Map [`PushError::exit_code`] to the process exit status.
pub fn push_with_default_credentials(
    layout: &std::path::Path,
    to: &str,
    tags: Vec<String>,
    insecure_http: bool,
) -> Result<PushReport, PushError> {
    let dest = parse_destination(to)?;
    let credentials = credentials_from_env_or_docker_config(&dest.registry)?;
    push(
        layout,
        to,
        PushOptions {
            tags,
            insecure_http,
            credentials,
        },
    )
}

/// How to push.
#[derive(Clone, Default)]
pub struct PushOptions {
    /// Tags in addition to the one in the destination (`:1.0.0`). With none at all, the layout's
    /// `org.opencontainers.image.ref.name` is used.
    pub tags: Vec<String>,
    /// Allow plain HTTP to a registry that is not on loopback.
    pub insecure_http: bool,
    /// (user, password or token); `None` for anonymous access.
    pub credentials: Option<(String, String)>,
}

impl fmt::Debug for PushOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PushOptions")
            .field("tags", &self.tags)
            .field("insecure_http", &self.insecure_http)
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
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PushError {
    #[error("bad destination {0}")]
    BadReference(String),
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
    #[error("the registry stored the manifest as {registry}, not {expected}: it rewrote the bytes; refusing to continue")]
    DigestChanged { expected: String, registry: String },
}

impl PushError {
    /// lucia-pkg's exit codes: 2 for bad input (destination, tags, credential settings, a source
    /// that is not a readable layout), 1 for a push that failed (auth, network, registry).
    pub fn exit_code(&self) -> i32 {
        match self {
            PushError::BadReference(_) | PushError::Source(_) | PushError::Credentials(_) => 2,
            _ => 1,
        }
    }
}
