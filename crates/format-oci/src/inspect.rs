//! `inspect`: reads an OCI layout or oci-archive (possibly someone else's), verifies every blob it
//! references (digests, sizes, and layer diff_ids by decompressing) and summarizes it.
//!
//! Bounded by [`pkg_core::limits`]: indexes at most [`MAX_INDEX_DEPTH`] deep, at most
//! [`MAX_DESCRIPTORS`] descriptors and [`MAX_JSON_TOTAL`] bytes of JSON per walk, each blob
//! verified once however many descriptors point at it, decoders with bounded memory. The walk
//! stops at the first failed digest.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::io::{self, BufReader};
use std::path::Path;

use pkg_core::limits::{self, escape, MAX_DESCRIPTORS, MAX_INDEX_DEPTH, MAX_JSON_TOTAL};
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

use crate::source::{Source, SourceKind, VerifyingReader};
use crate::spec::*;
use crate::OciError;

/// More images (manifests and other artifacts) than this are refused.
const MAX_IMAGES: usize = 64;

#[derive(Debug, Clone, serde::Serialize)]
pub struct LayerReport {
    pub media_type: String,
    pub digest: String,
    pub size: u64,
    /// sha256 of the uncompressed tar, computed here and equal to the config's diff_id.
    pub diff_id: Option<String>,
    pub created_by: Option<String>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct ImageReport {
    pub platform: String,
    pub manifest_digest: String,
    pub config_digest: String,
    pub created: Option<String>,
    pub user: Option<String>,
    pub entrypoint: Option<Vec<String>>,
    pub cmd: Option<Vec<String>>,
    pub env: Vec<String>,
    pub working_dir: Option<String>,
    pub exposed_ports: Vec<String>,
    pub volumes: Vec<String>,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub layers: Vec<LayerReport>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct OciReport {
    pub path: String,
    pub kind: SourceKind,
    /// Annotations of the (first) `index.json` entry: ref.name and image name.
    pub ref_name: Option<String>,
    pub image_name: Option<String>,
    /// Digest `index.json` points at (the image index users pin).
    pub index_digest: String,
    pub index_annotations: BTreeMap<String, String>,
    pub images: Vec<ImageReport>,
    /// Blob references whose digest (and, for layers, diff_id) was verified; a blob referenced
    /// twice is read once and counted twice.
    pub blobs_verified: usize,
}

type LayerKey = (String, u64, String, String);

struct Walker<'a> {
    src: &'a Source,
    images: Vec<ImageReport>,
    /// Distinct blobs verified (digest, size, diff_id): each is read once.
    verified: HashSet<String>,
    /// Blob references verified (a blob two images share counts twice, as before).
    uses: usize,
    /// Layers verified: (digest, size, media type, diff_id) → the diff_id computed.
    layers_seen: HashMap<LayerKey, Option<String>>,
    /// Descriptors visited and JSON bytes read so far (repeats included).
    descriptors: usize,
    json_bytes: u64,
    index_annotations: BTreeMap<String, String>,
}

impl Walker<'_> {
    /// Counts one more descriptor against [`MAX_DESCRIPTORS`].
    fn visit(&mut self) -> Result<(), OciError> {
        self.descriptors += 1;
        if self.descriptors > MAX_DESCRIPTORS {
            return Err(OciError::invalid(
                self.src.path(),
                format!(
                    "the image references more than {MAX_DESCRIPTORS} descriptors (indexes, \
                     manifests, configs, layers); refused"
                ),
            ));
        }
        Ok(())
    }

    /// A JSON blob, counted against [`MAX_JSON_TOTAL`] before it is read.
    fn json<T: DeserializeOwned>(&mut self, desc: &Descriptor) -> Result<T, OciError> {
        self.json_bytes = self.json_bytes.saturating_add(desc.size);
        if self.json_bytes > MAX_JSON_TOTAL {
            return Err(OciError::invalid(
                self.src.path(),
                format!(
                    "the image's indexes, manifests and configs add up to more than {} MiB of \
                     JSON; refused",
                    MAX_JSON_TOTAL >> 20
                ),
            ));
        }
        let (v, _) = self.src.json_blob(desc)?;
        self.verified.insert(desc.digest.clone());
        self.uses += 1;
        Ok(v)
    }

    fn walk(&mut self, desc: &Descriptor, depth: usize) -> Result<(), OciError> {
        self.visit()?;
        if depth > MAX_INDEX_DEPTH {
            return Err(OciError::invalid(
                self.src.path(),
                format!("image indexes nested more than {MAX_INDEX_DEPTH} deep"),
            ));
        }
        match desc.media_type.as_str() {
            MT_INDEX | DOCKER_LIST => {
                let idx: Index = self.json(desc)?;
                if depth == 0 {
                    self.index_annotations = idx.annotations.clone();
                }
                for d in &idx.manifests {
                    self.walk(d, depth + 1)?;
                }
                Ok(())
            }
            MT_MANIFEST | DOCKER_MANIFEST => {
                if self.images.len() >= MAX_IMAGES {
                    return Err(OciError::invalid(
                        self.src.path(),
                        format!("more than {MAX_IMAGES} images"),
                    ));
                }
                let img = self.image(desc)?;
                self.images.push(img);
                Ok(())
            }
            other => {
                // Attestations and other artifacts are listed by their media type, not walked.
                if self.images.len() >= MAX_IMAGES {
                    return Err(OciError::invalid(
                        self.src.path(),
                        format!("more than {MAX_IMAGES} images"),
                    ));
                }
                if !self.verified.contains(&desc.digest) {
                    self.src.verify_blob(desc)?;
                    self.verified.insert(desc.digest.clone());
                }
                self.uses += 1;
                self.images.push(ImageReport {
                    platform: format!("(not an image: {other})"),
                    manifest_digest: desc.digest.clone(),
                    config_digest: String::new(),
                    created: None,
                    user: None,
                    entrypoint: None,
                    cmd: None,
                    env: vec![],
                    working_dir: None,
                    exposed_ports: vec![],
                    volumes: vec![],
                    labels: BTreeMap::new(),
                    annotations: desc.annotations.clone(),
                    layers: vec![],
                });
                Ok(())
            }
        }
    }

    fn image(&mut self, desc: &Descriptor) -> Result<ImageReport, OciError> {
        let m: Manifest = self.json(desc)?;
        self.visit()?;
        let c: ImageConfig = self.json(&m.config)?;
        if c.rootfs.diff_ids.len() != m.layers.len() {
            return Err(OciError::invalid(
                self.src.path(),
                format!(
                    "{}: {} layers but {} diff_ids",
                    desc.digest,
                    m.layers.len(),
                    c.rootfs.diff_ids.len()
                ),
            ));
        }
        let non_empty: Vec<&History> = c.history.iter().filter(|h| !h.empty_layer).collect();
        let mut layers = Vec::new();
        for (i, l) in m.layers.iter().enumerate() {
            self.visit()?;
            let diff_id = self.verify_layer(l, &c.rootfs.diff_ids[i])?;
            layers.push(LayerReport {
                media_type: l.media_type.clone(),
                digest: l.digest.clone(),
                size: l.size,
                diff_id,
                created_by: non_empty.get(i).and_then(|h| h.created_by.clone()),
            });
        }
        let platform = desc.platform.clone().unwrap_or(Platform {
            architecture: c.architecture.clone(),
            os: c.os.clone(),
            variant: c.variant.clone(),
        });
        let rc = c.config.unwrap_or_default();
        Ok(ImageReport {
            platform: platform.label(),
            manifest_digest: desc.digest.clone(),
            config_digest: m.config.digest.clone(),
            created: c.created,
            user: rc.user,
            entrypoint: rc.entrypoint,
            cmd: rc.cmd,
            env: rc.env,
            working_dir: rc.working_dir,
            exposed_ports: rc.exposed_ports.into_keys().collect(),
            volumes: rc.volumes.into_keys().collect(),
            labels: rc.labels,
            annotations: m.annotations,
            layers,
        })
    }

    /// Checks the blob digest and, for layer types we can decompress, the diff_id.
    fn verify_layer(
        &mut self,
        l: &Descriptor,
        want_diff: &str,
    ) -> Result<Option<String>, OciError> {
        // Verified before with the same size, media type and diff_id (a layer two images share,
        // or a hostile fan-out): nothing new to check.
        let key = (
            l.digest.clone(),
            l.size,
            l.media_type.clone(),
            want_diff.to_string(),
        );
        if let Some(diff) = self.layers_seen.get(&key) {
            self.uses += 1;
            return Ok(diff.clone());
        }
        let (r, size) = self.src.blob(&l.digest)?;
        if size != l.size {
            return Err(OciError::invalid(
                self.src.path(),
                format!(
                    "{}: descriptor says {} bytes, blob has {size}",
                    l.digest, l.size
                ),
            ));
        }
        let what = format!("layer {} in {}", l.digest, self.src.path().display());
        let mut v = VerifyingReader::new(r, &l.digest);
        let diff = match layer_codec(&l.media_type) {
            Some(codec) => {
                let mut h = Sha256::new();
                let mut dec = limits::decoder(codec, BufReader::new(&mut v))
                    .map_err(|e| OciError::invalid(self.src.path(), format!("{what}: {e}")))?;
                io::copy(&mut dec, &mut pkg_core::digest::HashWriter::new(&mut h)).map_err(
                    |e| {
                        OciError::invalid(
                            self.src.path(),
                            format!("{what}: cannot decompress: {e}"),
                        )
                    },
                )?;
                drop(dec);
                // The decoder may stop at the end of the stream; hash any trailing bytes too.
                io::copy(&mut v, &mut io::sink()).map_err(|e| OciError::io(self.src.path(), e))?;
                Some(format!("sha256:{}", hex::encode(h.finalize())))
            }
            None => {
                io::copy(&mut v, &mut io::sink()).map_err(|e| OciError::io(self.src.path(), e))?;
                None
            }
        };
        v.check(&what)?;
        if let Some(d) = &diff {
            if d != want_diff {
                return Err(OciError::DigestMismatch {
                    what: format!("diff_id of {what}"),
                    expected: want_diff.into(),
                    actual: d.clone(),
                });
            }
        }
        self.verified.insert(l.digest.clone());
        self.layers_seen.insert(key, diff.clone());
        self.uses += 1;
        Ok(diff)
    }
}

/// Reads and verifies the layout directory or oci-archive at `path`.
pub fn inspect(path: &Path) -> Result<OciReport, OciError> {
    let src = Source::open(path)?;
    src.check_layout_version()?;
    let top = src.index_json()?;
    let first = top
        .manifests
        .first()
        .ok_or_else(|| OciError::invalid(path, "index.json lists no image"))?;
    let mut w = Walker {
        src: &src,
        images: Vec::new(),
        verified: HashSet::new(),
        uses: 0,
        layers_seen: HashMap::new(),
        descriptors: 0,
        json_bytes: 0,
        index_annotations: BTreeMap::new(),
    };
    for d in &top.manifests {
        w.walk(d, 0)?;
    }
    Ok(OciReport {
        path: path.display().to_string(),
        kind: src.kind(),
        ref_name: first.annotations.get(ANN_REF_NAME).cloned(),
        image_name: first.annotations.get(ANN_IMAGE_NAME).cloned(),
        index_digest: first.digest.clone(),
        index_annotations: w.index_annotations,
        images: w.images,
        blobs_verified: w.uses,
    })
}

fn human(n: u64) -> String {
    const U: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut v = n as f64;
    let mut i = 0;
    while v >= 1024.0 && i < U.len() - 1 {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", U[i])
    }
}

impl fmt::Display for OciReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.kind {
            SourceKind::Layout => "OCI image layout",
            SourceKind::Archive => "oci-archive",
        };
        writeln!(f, "{}: {kind}", escape(&self.path))?;
        if let Some(r) = &self.ref_name {
            writeln!(f, "  ref name:    {}", escape(r))?;
        }
        if let Some(n) = &self.image_name {
            writeln!(f, "  image name:  {}", escape(n))?;
        }
        writeln!(f, "  index:       {}", escape(&self.index_digest))?;
        for (k, v) in &self.index_annotations {
            writeln!(f, "    {} = {}", escape(k), escape(v))?;
        }
        for img in &self.images {
            writeln!(
                f,
                "  {}  manifest {}",
                escape(&img.platform),
                escape(&img.manifest_digest)
            )?;
            if img.config_digest.is_empty() {
                continue;
            }
            writeln!(f, "    config      {}", escape(&img.config_digest))?;
            if let Some(c) = &img.created {
                writeln!(f, "    created     {}", escape(c))?;
            }
            if let Some(u) = &img.user {
                writeln!(f, "    user        {}", escape(u))?;
            }
            if let Some(e) = &img.entrypoint {
                writeln!(f, "    entrypoint  {}", escape(&e.join(" ")))?;
            }
            if let Some(c) = &img.cmd {
                writeln!(f, "    cmd         {}", escape(&c.join(" ")))?;
            }
            if let Some(w) = &img.working_dir {
                writeln!(f, "    workdir     {}", escape(w))?;
            }
            for e in &img.env {
                writeln!(f, "    env         {}", escape(e))?;
            }
            if !img.exposed_ports.is_empty() {
                writeln!(
                    f,
                    "    ports       {}",
                    escape(&img.exposed_ports.join(" "))
                )?;
            }
            if !img.volumes.is_empty() {
                writeln!(f, "    volumes     {}", escape(&img.volumes.join(" ")))?;
            }
            let total: u64 = img.layers.iter().map(|l| l.size).sum();
            writeln!(f, "    layers      {} ({})", img.layers.len(), human(total))?;
            for l in &img.layers {
                writeln!(
                    f,
                    "      {} {:>10}  {}",
                    escape(&l.digest),
                    human(l.size),
                    escape(l.created_by.as_deref().unwrap_or(&l.media_type))
                )?;
            }
        }
        write!(
            f,
            "  verified {} blobs (digests, sizes, layer diff_ids)",
            self.blobs_verified
        )
    }
}
