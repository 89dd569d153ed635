//! Package names and versions, validated once against what both dpkg and rpm accept, and mapped
//! so that pre-releases order before their release in both (`1.2.0-rc.1` → `1.2.0~rc.1`).
//!
//! A hyphen in `version` is accepted only as a semver pre-release separator: `CORE-PRE`, where
//! `PRE` is one or more dot-separated identifiers of ASCII letters and digits, the first one
//! starting with a letter (`rc.1`, `beta.2`, `alpha`, `pre`, `dev`, `rc1`), and no numeric
//! identifier with a leading zero (dpkg and rpm would order `rc.01` equal to `rc.1`). Only such a
//! pre-release becomes `~` (sorting before `CORE`). Anything else after a hyphen (`0.3.1-2`,
//! `1.0-1a`) is most likely a packaging revision, which would sort *older* than the release if
//! mapped; it is refused, pointing at `release`.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VersionError {
    #[error("must not be empty")]
    Empty,
    #[error("must start with a digit (dpkg refuses versions like `{0}`); write e.g. `1.0.0`")]
    LeadingNonDigit(String),
    #[error("character `{ch}` is not allowed in `{value}`: use only letters, digits and `.`, `+`, `~` (and `-` only to start a pre-release, as in `1.2.0-rc.1`)")]
    BadChar { value: String, ch: char },
    #[error("`{0}` is not a valid package name: use 2+ characters from lowercase letters, digits, `+`, `-`, `.`, starting with a letter or digit (dpkg's rule, which rpm also accepts)")]
    BadName(String),
    #[error("`{value}` has a hyphen that does not start a pre-release: `-{rest}` would become `~{rest}`, which sorts before `{core}` itself (a pre-release must start with a letter, as in `{core}-rc.1`)")]
    NotPreRelease {
        value: String,
        core: String,
        rest: String,
    },
    #[error("release `{0}` is not valid: use letters, digits, `.`, `+`, `~` only, starting with a letter or digit (it becomes the deb revision and the rpm Release)")]
    BadRelease(String),
}

impl VersionError {
    /// How to fix it, for the manifest diagnostic's `help:` (None: the caller's general advice).
    pub fn help(&self) -> Option<String> {
        match self {
            VersionError::NotPreRelease { core, rest, .. } => Some(format!(
                "put the packaging revision in `release`: version = \"{core}\" and release = \"{rest}\""
            )),
            _ => None,
        }
    }
}

/// Whether `pre` (after the first `-`) is a semver pre-release this module maps to `~`: dot-
/// separated identifiers of ASCII letters and digits, the first starting with a letter, numeric
/// identifiers without leading zeros.
fn is_pre_release(pre: &str) -> bool {
    let mut ids = pre.split('.');
    let first_ok = ids
        .clone()
        .next()
        .is_some_and(|f| f.starts_with(|c: char| c.is_ascii_alphabetic()));
    first_ok
        && ids.all(|id| {
            !id.is_empty()
                && id.chars().all(|c| c.is_ascii_alphanumeric())
                && !(id.len() > 1 && id.starts_with('0') && id.chars().all(|c| c.is_ascii_digit()))
        })
}

/// Checks a package name against Debian policy §5.6.1 (rpm accepts every such name).
pub fn validate_name(name: &str) -> Result<(), VersionError> {
    let ok = name.len() >= 2
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '+' | '-' | '.'));
    if ok {
        Ok(())
    } else {
        Err(VersionError::BadName(name.to_string()))
    }
}

/// An OCI tag: `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}` (the distribution spec's grammar). The manifest
/// validates `oci.tags` with it and push every tag it sends.
pub fn valid_oci_tag(t: &str) -> bool {
    let b = t.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
}

/// A validated version triple and its per-format spellings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageVersion {
    /// As the manifest wrote it (used in tarball and OCI names/tags).
    pub upstream: String,
    /// Upstream mapped for package managers: the pre-release dash becomes `~`.
    pub pkg: String,
    pub release: String,
    pub epoch: Option<u32>,
}

fn allowed(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '+' | '~')
}

impl PackageVersion {
    pub fn new(upstream: &str, release: &str, epoch: Option<u32>) -> Result<Self, VersionError> {
        if upstream.is_empty() {
            return Err(VersionError::Empty);
        }
        if !upstream.starts_with(|c: char| c.is_ascii_digit()) {
            return Err(VersionError::LeadingNonDigit(upstream.to_string()));
        }
        // `1.2.0-rc.1` → `1.2.0~rc.1`: only the first dash (semver's pre-release separator) maps.
        let pkg = match upstream.split_once('-') {
            Some((core, pre)) if is_pre_release(pre) && !core.contains('+') => {
                format!("{core}~{pre}")
            }
            // `0.3.1-2`: a packaging revision written into the version.
            Some((core, rest))
                if !rest.is_empty()
                    && !core.contains('+')
                    && rest.starts_with(|c: char| c.is_ascii_digit())
                    && rest.chars().all(allowed) =>
            {
                return Err(VersionError::NotPreRelease {
                    value: upstream.to_string(),
                    core: core.to_string(),
                    rest: rest.to_string(),
                });
            }
            Some(_) => {
                return Err(VersionError::BadChar {
                    value: upstream.to_string(),
                    ch: '-',
                });
            }
            None => upstream.to_string(),
        };
        if let Some(ch) = pkg.chars().find(|c| !allowed(*c)) {
            return Err(VersionError::BadChar {
                value: upstream.to_string(),
                ch,
            });
        }
        if release.is_empty()
            || !release.starts_with(|c: char| c.is_ascii_alphanumeric())
            || !release.chars().all(allowed)
        {
            return Err(VersionError::BadRelease(release.to_string()));
        }
        Ok(PackageVersion {
            upstream: upstream.to_string(),
            pkg,
            release: release.to_string(),
            epoch,
        })
    }

    /// Debian `Version:` field: `[epoch:]upstream-revision`.
    pub fn deb(&self) -> String {
        match self.epoch {
            Some(e) if e > 0 => format!("{e}:{}-{}", self.pkg, self.release),
            _ => format!("{}-{}", self.pkg, self.release),
        }
    }
    /// `version-release` without epoch, as used in deb and rpm file names.
    pub fn file_version(&self) -> String {
        format!("{}-{}", self.pkg, self.release)
    }
}

impl fmt::Display for PackageVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.deb())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_prerelease_for_both_formats() {
        let v = PackageVersion::new("1.2.0-rc.1", "1", None).unwrap();
        assert_eq!(v.pkg, "1.2.0~rc.1");
        assert_eq!(v.deb(), "1.2.0~rc.1-1");
        let v = PackageVersion::new("1.0.0", "2", Some(3)).unwrap();
        assert_eq!(v.deb(), "3:1.0.0-2");
        assert_eq!(v.file_version(), "1.0.0-2");
    }

    #[test]
    fn only_semver_pre_releases_starting_with_a_letter_map_to_tilde() {
        for (v, pkg) in [
            ("1.2.0-rc.1", "1.2.0~rc.1"),
            ("1.2.0-beta.2", "1.2.0~beta.2"),
            ("1.2.0-alpha", "1.2.0~alpha"),
            ("1.2.0-pre", "1.2.0~pre"),
            ("1.2.0-dev", "1.2.0~dev"),
            ("1.2.0-rc1", "1.2.0~rc1"),
            ("1.2.0-RC.1", "1.2.0~RC.1"),
            ("1.2.0-alpha.beta.0", "1.2.0~alpha.beta.0"),
            ("1.2.0-rc.1a", "1.2.0~rc.1a"),
        ] {
            assert_eq!(PackageVersion::new(v, "1", None).unwrap().pkg, pkg, "{v}");
        }
        // A packaging revision in the version would sort before the release: refused, with the
        // fix (`release`) in the help.
        for (v, core, rest) in [
            ("0.3.1-2", "0.3.1", "2"),
            ("0.3.1-1", "0.3.1", "1"),
            ("1.0-2.1", "1.0", "2.1"),
            ("1.0-1a", "1.0", "1a"),
        ] {
            let e = PackageVersion::new(v, "1", None).unwrap_err();
            assert_eq!(
                e,
                VersionError::NotPreRelease {
                    value: v.into(),
                    core: core.into(),
                    rest: rest.into()
                },
                "{v}"
            );
            let help = e.help().unwrap();
            assert!(help.contains(&format!("release = \"{rest}\"")), "{help}");
            assert!(e.to_string().contains("sorts before"), "{e}");
        }
        // Not semver pre-releases either.
        for v in [
            "1.0-",
            "1.0-rc.",
            "1.0-rc..1",
            "1.0-.rc",
            "1.0-rc.01",
            "1.0-rc-1",
            "1.0-rc_1",
            "1.0+b-rc.1",
        ] {
            let e = PackageVersion::new(v, "1", None).unwrap_err();
            assert!(
                matches!(
                    e,
                    VersionError::BadChar { .. } | VersionError::NotPreRelease { .. }
                ),
                "{v}: {e:?}"
            );
            assert!(PackageVersion::new(v, "1", None).is_err(), "{v}");
        }
    }

    #[test]
    fn refuses_what_dpkg_or_rpm_refuse() {
        assert!(PackageVersion::new("", "1", None).is_err());
        assert!(PackageVersion::new("v1.0", "1", None).is_err());
        assert!(PackageVersion::new("1.0 beta", "1", None).is_err());
        assert!(PackageVersion::new("1.0-rc-1", "1", None).is_err());
        assert!(PackageVersion::new("1.0_1", "1", None).is_err());
        assert!(PackageVersion::new("1:0", "1", None).is_err());
        assert!(PackageVersion::new("1.0", "", None).is_err());
        assert!(PackageVersion::new("1.0", "1-2", None).is_err());
        assert!(validate_name("lucia").is_ok());
        assert!(validate_name("Lucia").is_err());
        assert!(validate_name("l").is_err());
        assert!(validate_name("lu cia").is_err());
        assert!(validate_name("-lucia").is_err());
    }
}
