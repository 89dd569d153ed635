//! Where a signing key comes from, for every command that signs (`repo apt`, `sign-sums`):
//! `--key FILE`, else an environment variable holding either the armored key itself or the path
//! of a file that holds it. Messages name where the key came from, never its content.

use std::path::Path;

use crate::error::AppError;

/// The key's bytes and a name for messages (the file, or the variable), or `None` when neither
/// `--key` nor `env` gives one. `armor` is how the key's text starts when the variable holds the
/// key itself (e.g. `-----BEGIN PGP`).
pub fn source(
    key: Option<&Path>,
    env: &str,
    armor: &str,
) -> Result<Option<(String, Vec<u8>)>, AppError> {
    if let Some(path) = key {
        let bytes = std::fs::read(path)
            .map_err(|e| AppError::Input(format!("signing key {}: {e}", path.display())))?;
        return Ok(Some((path.display().to_string(), bytes)));
    }
    let Some(v) = std::env::var_os(env).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    let v = v
        .into_string()
        .map_err(|_| AppError::Input(format!("{env} is not valid UTF-8")))?;
    if v.contains(armor) {
        return Ok(Some((env.to_string(), v.into_bytes())));
    }
    let bytes = std::fs::read(&v)
        .map_err(|e| AppError::Input(format!("signing key {v} (from {env}): {e}")))?;
    Ok(Some((v, bytes)))
}
