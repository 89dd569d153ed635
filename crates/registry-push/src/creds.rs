//! Where push credentials come from: `LUCIA_PKG_REGISTRY_USER`/`LUCIA_PKG_REGISTRY_PASSWORD`, else
//! the Docker client config (`$DOCKER_CONFIG/config.json` or `~/.docker/config.json`), whose
//! `auths[host].auth` is base64 `user:password` (what `docker login`/`podman login
//! --authfile` write). Credential helpers (`credsStore`) are not run.

use std::path::{Path, PathBuf};

use base64::Engine;

use crate::PushError;

/// A user name and a secret; `Debug` never shows the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub user: String,
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Credentials {{ user: {:?}, password: <redacted> }}",
            self.user
        )
    }
}

fn docker_config_path() -> Option<PathBuf> {
    if let Some(d) = std::env::var_os("DOCKER_CONFIG").filter(|d| !d.is_empty()) {
        return Some(Path::new(&d).join("config.json"));
    }
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(|h| Path::new(&h).join(".docker").join("config.json"))
}

/// `https://index.docker.io/v1/` → `index.docker.io`; `127.0.0.1:5000` stays.
fn auth_key_host(key: &str) -> String {
    let k = key.trim();
    let k = k
        .strip_prefix("https://")
        .or_else(|| k.strip_prefix("http://"))
        .unwrap_or(k);
    k.split('/').next().unwrap_or_default().to_ascii_lowercase()
}

fn lookup(config: &serde_json::Value, registry: &str) -> Result<Option<(String, String)>, String> {
    let Some(auths) = config.get("auths").and_then(|a| a.as_object()) else {
        return Ok(None);
    };
    let want = registry.to_ascii_lowercase();
    let aliases: &[&str] = if want == "docker.io" || want == "registry-1.docker.io" {
        &["index.docker.io", "docker.io", "registry-1.docker.io"]
    } else {
        &[]
    };
    for (key, entry) in auths {
        let host = auth_key_host(key);
        if host != want && !aliases.contains(&host.as_str()) {
            continue;
        }
        if let Some(auth) = entry
            .get("auth")
            .and_then(|a| a.as_str())
            .filter(|a| !a.is_empty())
        {
            let raw = base64::engine::general_purpose::STANDARD
                .decode(auth.trim())
                .map_err(|_| format!("auths[\"{key}\"].auth is not base64"))?;
            let s = String::from_utf8(raw)
                .map_err(|_| format!("auths[\"{key}\"].auth is not UTF-8"))?;
            let (u, p) = s
                .split_once(':')
                .ok_or_else(|| format!("auths[\"{key}\"].auth is not base64 of `user:password`"))?;
            return Ok(Some((u.to_string(), p.to_string())));
        }
        if let (Some(u), Some(p)) = (
            entry.get("username").and_then(|v| v.as_str()),
            entry.get("password").and_then(|v| v.as_str()),
        ) {
            return Ok(Some((u.to_string(), p.to_string())));
        }
    }
    Ok(None)
}

/// Credentials for `registry` (`host[:port]`), or `None` for anonymous access.
pub fn credentials_from_env_or_docker_config(
    registry: &str,
) -> Result<Option<(String, String)>, PushError> {
    let user = std::env::var("LUCIA_PKG_REGISTRY_USER")
        .ok()
        .filter(|u| !u.is_empty());
    let pass = std::env::var("LUCIA_PKG_REGISTRY_PASSWORD").ok();
    match (user, pass) {
        (Some(u), Some(p)) => return Ok(Some((u, p))),
        (Some(_), None) => {
            return Err(PushError::Credentials(
                "LUCIA_PKG_REGISTRY_USER is set but LUCIA_PKG_REGISTRY_PASSWORD is not; set both (or neither)".into(),
            ))
        }
        (None, Some(p)) if !p.is_empty() => {
            return Err(PushError::Credentials(
                "LUCIA_PKG_REGISTRY_PASSWORD is set but LUCIA_PKG_REGISTRY_USER is not; set both (or neither)".into(),
            ))
        }
        _ => {}
    }
    let Some(path) = docker_config_path() else {
        return Ok(None);
    };
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(PushError::Credentials(format!("{}: {e}", path.display()))),
    };
    let v: serde_json::Value = serde_json::from_slice(&bytes)
        .map_err(|e| PushError::Credentials(format!("{}: not valid JSON: {e}", path.display())))?;
    lookup(&v, registry).map_err(|m| PushError::Credentials(format!("{}: {m}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_docker_config_auths() {
        let v = serde_json::json!({"auths": {
            "127.0.0.1:5000": {"auth": base64::engine::general_purpose::STANDARD.encode("probe:se:cret")},
            "https://index.docker.io/v1/": {"auth": base64::engine::general_purpose::STANDARD.encode("hub:pw")},
            "ghcr.io": {"username": "u", "password": "p"},
            "bad.example": {"auth": "!!!"}
        }});
        assert_eq!(
            lookup(&v, "127.0.0.1:5000").unwrap(),
            Some(("probe".into(), "se:cret".into()))
        );
        assert_eq!(
            lookup(&v, "docker.io").unwrap(),
            Some(("hub".into(), "pw".into()))
        );
        assert_eq!(
            lookup(&v, "ghcr.io").unwrap(),
            Some(("u".into(), "p".into()))
        );
        assert_eq!(lookup(&v, "quay.io").unwrap(), None);
        let err = lookup(&v, "bad.example").unwrap_err();
        assert!(err.contains("base64") && !err.contains("!!!"), "{err}");
    }

    #[test]
    fn debug_redacts_the_password() {
        let c = Credentials {
            user: "u".into(),
            password: "hunter2".into(),
        };
        assert!(!format!("{c:?}").contains("hunter2"));
    }
}
