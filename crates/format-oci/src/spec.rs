//! The OCI image-spec documents lucia-pkg writes and reads, as plain serde types.
//!
//! Our own types rather than `oci-spec`'s: every map here is a `BTreeMap`, so key order is fixed
//! by the type and not by a per-process `HashMap` seed (research notes outside this repository:
//! ../shared/research/crates.md §3); optional fields are
//! omitted instead of written as `null`; and reading a base image or an untrusted layout tolerates
//! the Docker fields we do not model. Every document still goes through [`canonical_json`], so the
//! bytes are sorted-key compact JSON whatever the struct's field order is.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub const MT_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const MT_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const MT_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const MT_LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";
pub const MT_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub const MT_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";

/// Docker schema-2 spellings, accepted when reading a base image and mapped to the OCI ones.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";

pub const ANN_REF_NAME: &str = "org.opencontainers.image.ref.name";
/// What containerd, Docker (containerd store) and podman ≥ 4 name a loaded image by.
pub const ANN_IMAGE_NAME: &str = "io.containerd.image.name";

pub const OCI_LAYOUT: &str = r#"{"imageLayoutVersion":"1.0.0"}"#;

/// Sorted-key compact JSON: the only way any document is turned into bytes.
///
/// Going through `serde_json::Value` sorts every object's keys (serde_json's map is a BTreeMap as
/// long as nobody enables `preserve_order`; a unit test guards that).
pub fn canonical_json<T: Serialize>(v: &T) -> Result<Vec<u8>, serde_json::Error> {
    serde_json::to_vec(&serde_json::to_value(v)?)
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    pub media_type: String,
    pub digest: String,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Platform {
    pub architecture: String,
    pub os: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

impl Platform {
    pub fn label(&self) -> String {
        match &self.variant {
            Some(v) => format!("{}/{}/{v}", self.os, self.architecture),
            None => format!("{}/{}", self.os, self.architecture),
        }
    }
}

/// An image index (also the shape of `index.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Index {
    pub schema_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    pub manifests: Vec<Descriptor>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    pub schema_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    pub config: Descriptor,
    pub layers: Vec<Descriptor>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// The `config` blob.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ImageConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    #[serde(default)]
    pub architecture: String,
    #[serde(default)]
    pub os: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<RunConfig>,
    #[serde(default)]
    pub rootfs: RootFs,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<History>,
}

/// The empty JSON object the spec uses as the value of port and volume sets.
pub type EmptySet = BTreeMap<String, BTreeMap<String, serde_json::Value>>;

/// The execution parameters (`config.config`), with the spec's PascalCase keys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
pub struct RunConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub exposed_ports: EmptySet,
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub env: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cmd: Option<Vec<String>>,
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub volumes: EmptySet,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
}

/// Docker writes `null` for empty maps and lists; treat it as empty.
fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RootFs {
    #[serde(rename = "type")]
    pub typ: String,
    #[serde(default)]
    pub diff_ids: Vec<String>,
}

impl Default for RootFs {
    fn default() -> Self {
        RootFs {
            typ: "layers".into(),
            diff_ids: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct History {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub empty_layer: bool,
}

/// `sha256:<64 lowercase hex>`: the only digest form we write or accept. Validating it before a
/// digest becomes a path is what keeps `blobs/sha256/<hex>` inside the layout.
pub fn valid_digest(d: &str) -> Option<&str> {
    let hex = d.strip_prefix("sha256:")?;
    (hex.len() == 64
        && hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
    .then_some(hex)
}

/// Media type of a layer written with `codec`.
pub fn layer_media_type(codec: pkg_core::compress::Codec) -> Option<&'static str> {
    use pkg_core::compress::Codec;
    match codec {
        Codec::None => Some(MT_LAYER_TAR),
        Codec::Gzip(_) => Some(MT_LAYER_GZIP),
        Codec::Zstd(_) => Some(MT_LAYER_ZSTD),
        Codec::Xz(_) | Codec::XzMt(_) => None,
    }
}

/// The codec a layer media type implies (OCI or Docker spelling), for reading layers back.
pub fn layer_codec(media_type: &str) -> Option<pkg_core::compress::Codec> {
    use pkg_core::compress::Codec;
    match media_type {
        MT_LAYER_TAR | "application/vnd.docker.image.rootfs.diff.tar" => Some(Codec::None),
        MT_LAYER_GZIP | DOCKER_LAYER_GZIP => Some(Codec::Gzip(6)),
        MT_LAYER_ZSTD | "application/vnd.docker.image.rootfs.diff.tar.zstd" => Some(Codec::Zstd(3)),
        _ => None,
    }
}

/// The OCI spelling of a layer media type we can carry over from a base image.
pub fn oci_layer_media_type(media_type: &str) -> Option<&'static str> {
    layer_codec(media_type).and_then(layer_media_type)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_json_sorts_keys_and_omits_empties() {
        let mut ann = BTreeMap::new();
        ann.insert("z".to_string(), "1".to_string());
        ann.insert("a".to_string(), "2".to_string());
        let d = Descriptor {
            media_type: MT_MANIFEST.into(),
            digest: format!("sha256:{}", "0".repeat(64)),
            size: 3,
            platform: Some(Platform {
                architecture: "arm64".into(),
                os: "linux".into(),
                variant: Some("v8".into()),
            }),
            annotations: ann,
        };
        let s = String::from_utf8(canonical_json(&d).unwrap()).unwrap();
        assert_eq!(
            s,
            format!(
                r#"{{"annotations":{{"a":"2","z":"1"}},"digest":"sha256:{}","mediaType":"{MT_MANIFEST}","platform":{{"architecture":"arm64","os":"linux","variant":"v8"}},"size":3}}"#,
                "0".repeat(64)
            )
        );
        // Going through a Value must not keep insertion order (i.e. `preserve_order` is off).
        let v: serde_json::Value = serde_json::from_str(r#"{"b":1,"a":2}"#).unwrap();
        assert_eq!(serde_json::to_string(&v).unwrap(), r#"{"a":2,"b":1}"#);
    }

    #[test]
    fn digests_are_validated() {
        assert!(valid_digest(&format!("sha256:{}", "a".repeat(64))).is_some());
        assert!(valid_digest(&format!("sha256:{}", "A".repeat(64))).is_none());
        assert!(valid_digest("sha256:../../etc/passwd").is_none());
        assert!(valid_digest(&format!("sha512:{}", "a".repeat(128))).is_none());
    }

    #[test]
    fn docker_nulls_read_as_empty() {
        let c: RunConfig =
            serde_json::from_str(r#"{"Env":null,"Labels":null,"ExposedPorts":null,"Cmd":["sh"]}"#)
                .unwrap();
        assert!(c.env.is_empty() && c.labels.is_empty());
        assert_eq!(c.cmd, Some(vec!["sh".to_string()]));
    }
}
