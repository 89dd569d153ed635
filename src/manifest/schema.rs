//! The manifest's TOML schema, as written by users. Every table refuses unknown keys, and values
//! that need semantic checks keep their source span so errors can point at them.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

pub type S<T> = Spanned<T>;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawManifest {
    pub package: S<RawPackage>,
    pub payload: S<RawPayload>,
    pub service: Option<S<RawService>>,
    #[serde(default)]
    pub files: Vec<S<RawFile>>,
    pub deb: Option<RawDeb>,
    pub rpm: Option<RawRpm>,
    pub tar: Option<RawTar>,
    pub oci: Option<RawOci>,
    pub deploy: Option<S<RawDeploy>>,
}

/// `[deploy]`: which deployment values to render beside the image.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawDeploy {
    #[serde(default)]
    pub files: Vec<S<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawPackage {
    pub name: S<String>,
    pub version: S<String>,
    pub release: Option<S<String>>,
    pub epoch: Option<S<u32>>,
    pub summary: S<String>,
    pub description: Option<String>,
    pub license: S<String>,
    pub homepage: Option<String>,
    pub source: Option<String>,
    pub revision: Option<String>,
    pub maintainer: S<String>,
    pub vendor: Option<String>,
    pub source_date_epoch: Option<S<i64>>,
    pub arches: Option<Vec<S<String>>>,
    pub formats: Option<Vec<S<String>>>,
    #[serde(default)]
    pub changelog: Vec<S<RawChangelog>>,
    #[serde(default)]
    pub provides: Vec<String>,
    #[serde(default)]
    pub conflicts: Vec<String>,
    #[serde(default)]
    pub replaces: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawChangelog {
    pub version: S<String>,
    pub date: S<String>,
    pub author: Option<String>,
    pub changes: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawPayload {
    pub install_dir: S<String>,
    pub entrypoint: S<String>,
    pub amd64: Option<S<RawArchPayload>>,
    pub arm64: Option<S<RawArchPayload>>,
    /// Payload-relative paths allowed to keep setuid/setgid or world-writable modes.
    #[serde(default)]
    pub allow_special_modes: Vec<S<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawArchPayload {
    pub path: Option<S<String>>,
    pub builder: Option<S<RawBuilder>>,
}

/// A command that produces the payload directory (issue 6's hermetic builders).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawBuilder {
    pub command: Vec<String>,
    #[serde(default)]
    pub inputs: Vec<S<String>>,
    #[serde(default)]
    pub env: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawService {
    pub unit: S<String>,
    #[serde(default)]
    pub extra_units: Vec<S<RawUnit>>,
    pub user: S<String>,
    pub group: Option<S<String>>,
    pub home: Option<S<String>>,
    pub shell: Option<String>,
    pub description: Option<String>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub enable: Option<bool>,
    pub start: Option<bool>,
    pub restart_after_upgrade: Option<bool>,
    #[serde(default)]
    pub state_dirs: Vec<S<String>>,
    pub state_dir_mode: Option<S<String>>,
    pub purge_state: Option<bool>,
    pub env: Option<S<RawEnv>>,
    pub scripts: Option<RawScripts>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawUnit {
    pub path: S<String>,
    pub enable: Option<bool>,
    pub start: Option<bool>,
    pub restart_after_upgrade: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawEnv {
    pub template: S<String>,
    pub path: S<String>,
    pub mode: Option<S<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawScripts {
    pub pre_install: Option<S<String>>,
    pub post_install: Option<S<String>>,
    pub pre_remove: Option<S<String>>,
    pub post_remove: Option<S<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawFile {
    pub src: Option<S<String>>,
    pub symlink: Option<S<String>>,
    pub dest: S<String>,
    pub mode: Option<S<String>>,
    pub owner: Option<S<String>>,
    #[serde(default)]
    pub config: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawDeb {
    pub compression: Option<S<String>>,
    pub segments: Option<S<String>>,
    #[serde(default)]
    pub depends: Vec<String>,
    #[serde(default)]
    pub pre_depends: Vec<String>,
    #[serde(default)]
    pub recommends: Vec<String>,
    #[serde(default)]
    pub suggests: Vec<String>,
    pub section: Option<String>,
    pub priority: Option<String>,
    #[serde(default)]
    pub lintian_overrides: Vec<String>,
    pub auto_depends: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawRpm {
    pub compression: Option<S<String>>,
    pub segments: Option<S<String>>,
    #[serde(default)]
    pub requires: Vec<String>,
    #[serde(default)]
    pub recommends: Vec<String>,
    pub group: Option<String>,
    pub packager: Option<String>,
    pub signing_key: Option<S<String>>,
    pub auto_requires: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawTar {
    pub compression: Option<S<String>>,
    pub segments: Option<S<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawOci {
    pub compression: Option<S<String>>,
    pub segments: Option<S<String>>,
    pub base: Option<S<RawOciBase>>,
    pub user: Option<S<String>>,
    pub allow_root: Option<bool>,
    pub working_dir: Option<String>,
    pub entrypoint: Option<Vec<String>>,
    #[serde(default)]
    pub cmd: Vec<String>,
    #[serde(default)]
    pub env: BTreeMap<String, S<String>>,
    #[serde(default)]
    pub ports: Vec<S<String>>,
    #[serde(default)]
    pub volumes: Vec<String>,
    #[serde(default)]
    pub labels: BTreeMap<String, S<String>>,
    pub repository: Option<S<String>>,
    #[serde(default)]
    pub tags: Vec<S<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum RawOciBase {
    /// `"scratch"`
    Name(String),
    /// `{ path = "…", digest = "sha256:…" }`
    Local { path: String, digest: String },
}

/// Every key the schema knows, per table, for "did you mean" suggestions.
pub fn known_keys(table: &str) -> &'static [&'static str] {
    match table {
        "" => &[
            "package", "payload", "service", "files", "deb", "rpm", "tar", "oci", "deploy",
        ],
        "package" => &[
            "name",
            "version",
            "release",
            "epoch",
            "summary",
            "description",
            "license",
            "homepage",
            "source",
            "revision",
            "maintainer",
            "vendor",
            "source-date-epoch",
            "arches",
            "formats",
            "changelog",
            "provides",
            "conflicts",
            "replaces",
        ],
        "changelog" => &["version", "date", "author", "changes"],
        "payload" => &[
            "install-dir",
            "entrypoint",
            "amd64",
            "arm64",
            "allow-special-modes",
        ],
        "arch-payload" => &["path", "builder"],
        "builder" => &["command", "inputs", "env"],
        "service" => &[
            "unit",
            "extra-units",
            "user",
            "group",
            "home",
            "shell",
            "description",
            "uid",
            "gid",
            "enable",
            "start",
            "restart-after-upgrade",
            "state-dirs",
            "state-dir-mode",
            "purge-state",
            "env",
            "scripts",
        ],
        "unit" => &["path", "enable", "start", "restart-after-upgrade"],
        "env" => &["template", "path", "mode"],
        "scripts" => &["pre-install", "post-install", "pre-remove", "post-remove"],
        "files" => &["src", "symlink", "dest", "mode", "owner", "config"],
        "deb" => &[
            "compression",
            "segments",
            "depends",
            "pre-depends",
            "recommends",
            "suggests",
            "section",
            "priority",
            "lintian-overrides",
            "auto-depends",
        ],
        "rpm" => &[
            "compression",
            "segments",
            "requires",
            "recommends",
            "group",
            "packager",
            "signing-key",
            "auto-requires",
        ],
        "tar" => &["compression", "segments"],
        "oci" => &[
            "compression",
            "segments",
            "base",
            "user",
            "allow-root",
            "working-dir",
            "entrypoint",
            "cmd",
            "env",
            "ports",
            "volumes",
            "labels",
            "repository",
            "tags",
        ],
        "deploy" => &["files"],
        _ => &[],
    }
}

/// The manifest's tables as `known_keys` names them ("" is the top level).
pub const TABLES: [&str; 16] = [
    "",
    "package",
    "changelog",
    "payload",
    "arch-payload",
    "builder",
    "service",
    "unit",
    "env",
    "scripts",
    "files",
    "deb",
    "rpm",
    "tar",
    "oci",
    "deploy",
];

/// All keys of all tables, for suggestions when the table is not known from the error.
pub fn all_keys() -> Vec<&'static str> {
    let tables = TABLES;
    let mut v: Vec<&str> = tables
        .iter()
        .flat_map(|t| known_keys(t).iter().copied())
        .collect();
    v.sort_unstable();
    v.dedup();
    v
}
