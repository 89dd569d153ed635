//! `--set KEY=VALUE`: the few manifest values CI stamps per build (the version from a tag, the
//! packaging release, the source revision) set without editing the file. An override is a
//! declared input like the manifest itself: it is validated exactly as the manifest value would
//! be, takes part in every build key through the metadata it changes, and is recorded in
//! build-info.json, so a build with overrides is as reproducible as one without.

use pkg_core::version::PackageVersion;

use super::Spec;

/// The keys `--set` accepts.
pub const KEYS: [&str; 3] = ["package.version", "package.release", "package.revision"];

/// Parses `KEY=VALUE` (one `--set`).
pub fn parse(arg: &str) -> Result<(String, String), String> {
    let (k, v) = arg.split_once('=').ok_or_else(|| {
        format!(
            "--set `{}`: write KEY=VALUE, e.g. --set package.version=1.2.3",
            arg.escape_debug()
        )
    })?;
    let k = k.trim();
    if !KEYS.contains(&k) {
        return Err(format!(
            "--set: `{}` cannot be overridden; the keys are {}",
            k.escape_debug(),
            KEYS.join(", ")
        ));
    }
    if v.chars().any(char::is_control) {
        return Err(format!("--set {k}: the value contains a control character"));
    }
    Ok((k.to_string(), v.to_string()))
}

/// Applies validated overrides to a validated spec, in order (a later `--set` of the same key
/// wins). The synthesized changelog entry (a manifest without `[[package.changelog]]`) follows
/// the new version; a written changelog is left as the author wrote it.
pub fn apply(spec: &mut Spec, overrides: &[(String, String)]) -> Result<(), String> {
    for (k, v) in overrides {
        let old = spec.meta.version.clone();
        match k.as_str() {
            "package.version" | "package.release" => {
                let (upstream, release) = if k == "package.version" {
                    (v.as_str(), old.release.as_str())
                } else {
                    (old.upstream.as_str(), v.as_str())
                };
                let new = PackageVersion::new(upstream, release, old.epoch).map_err(|e| {
                    let help = e.help().map(|h| format!(" ({h})")).unwrap_or_default();
                    format!("--set {k}={v}: {e}{help}")
                })?;
                for c in &mut spec.meta.changelog {
                    if c.date == 0 && c.version == old.file_version() {
                        c.version = new.file_version();
                        c.changes = vec![format!("Release {}.", new.upstream)];
                    }
                }
                spec.meta.version = new;
            }
            "package.revision" => {
                if v.is_empty() || v.contains(char::is_whitespace) {
                    return Err(format!("--set {k}: give one word, e.g. a commit id"));
                }
                spec.meta.revision = Some(v.clone());
            }
            _ => return Err(format!("--set: `{k}` cannot be overridden")),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_known_keys_only() {
        assert_eq!(
            parse("package.version=1.2.3").unwrap(),
            ("package.version".into(), "1.2.3".into())
        );
        assert!(parse("package.name=x")
            .unwrap_err()
            .contains("cannot be overridden"));
        assert!(parse("package.version").unwrap_err().contains("KEY=VALUE"));
        assert!(parse("package.version=1\n2").is_err());
    }
}
