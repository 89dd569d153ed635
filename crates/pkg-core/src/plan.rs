//! The validated, per-architecture build plan: the only input of every format writer.
//!
//! A plan is produced by `lucia-pkg`'s validation step from the manifest and the payload on disk.
//! By the time a writer sees it, every path is absolute and normalized, every mode explicit, every
//! owner named, every file hashed, and the entries are sorted bytewise. Writers never look at the
//! disk except to stream file contents the plan points at.

use std::fs::File;
use std::io::{self, Read};
use std::path::PathBuf;
use std::sync::Arc;

use crate::arch::Arch;
use crate::compress::Codec;
use crate::determinism::{DIR_MODE, FILE_MODE};
use crate::lifecycle::ServiceIntent;
use crate::segment::SegmentPolicy;
use crate::version::PackageVersion;

/// Who owns an entry. Names are what deb and rpm record; the numbers are what tar and OCI layers
/// record (0 for root; the service user's manifest uid/gid otherwise).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Owner {
    pub user: String,
    pub group: String,
    pub uid: u64,
    pub gid: u64,
}

impl Owner {
    pub fn root() -> Owner {
        Owner {
            user: "root".into(),
            group: "root".into(),
            uid: 0,
            gid: 0,
        }
    }
    pub fn is_root(&self) -> bool {
        self.uid == 0 && self.gid == 0 && self.user == "root" && self.group == "root"
    }
}

/// Where a file's bytes come from. Payload files stay on disk and are streamed; generated files
/// (unit, sysusers, install script…) are small and held in memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    Disk(PathBuf),
    Inline(Arc<Vec<u8>>),
}

impl Content {
    pub fn inline(bytes: impl Into<Vec<u8>>) -> Content {
        Content::Inline(Arc::new(bytes.into()))
    }
    /// Opens the content for streaming.
    pub fn open(&self) -> io::Result<Box<dyn Read + Send + '_>> {
        match self {
            Content::Disk(p) => {
                let f = File::open(p)
                    .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", p.display())))?;
                Ok(Box::new(f))
            }
            Content::Inline(b) => Ok(Box::new(b.as_slice())),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryKind {
    Dir,
    File {
        content: Content,
        size: u64,
        sha256: [u8; 32],
    },
    Symlink {
        target: String,
    },
}

/// Which part of the installed tree an entry belongs to. OCI uses it to split layers so that an
/// application update does not change the other layers; packages ignore it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Layer {
    /// The application payload (AgentHost publish output).
    App,
    /// Everything the manifest adds around it: unit, sysusers/tmpfiles, env template, extra files.
    Config,
}

/// One node of the installed tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Absolute, normalized path without a trailing slash, e.g. `/opt/lucia/lucia.AgentHost`.
    pub path: String,
    pub kind: EntryKind,
    /// Permission bits only (including setuid/setgid/sticky), never file-type bits.
    pub mode: u32,
    pub owner: Owner,
    /// A configuration file: deb conffile, rpm `%config(noreplace)`, never overwritten by install.sh.
    pub config: bool,
    /// Whether the package owns this directory. Shared parents (`/usr`, `/etc`, `/opt`) are listed
    /// so tar-based formats can carry them, but rpm must not claim them.
    pub owned: bool,
    pub layer: Layer,
}

impl Entry {
    /// A root-owned regular file held in memory, with the default file mode, owned by the
    /// package, not a config file, in the [`Layer::Config`] layer; size and sha256 come from
    /// `bytes`. Change any of that with struct update syntax: `Entry { mode, ..Entry::inline_file(..) }`.
    pub fn inline_file(path: impl Into<String>, bytes: impl Into<Vec<u8>>) -> Entry {
        let bytes = bytes.into();
        Entry {
            path: path.into(),
            kind: EntryKind::File {
                size: bytes.len() as u64,
                sha256: crate::digest::sha256(&bytes),
                content: Content::inline(bytes),
            },
            mode: FILE_MODE,
            owner: Owner::root(),
            config: false,
            owned: true,
            layer: Layer::Config,
        }
    }

    /// A root-owned directory with the default directory mode, owned by the package, in the
    /// [`Layer::Config`] layer (struct update syntax changes any of that).
    pub fn dir(path: impl Into<String>) -> Entry {
        Entry {
            path: path.into(),
            kind: EntryKind::Dir,
            mode: DIR_MODE,
            owner: Owner::root(),
            config: false,
            owned: true,
            layer: Layer::Config,
        }
    }

    pub fn is_dir(&self) -> bool {
        matches!(self.kind, EntryKind::Dir)
    }
    pub fn size(&self) -> u64 {
        match &self.kind {
            EntryKind::File { size, .. } => *size,
            _ => 0,
        }
    }
    /// The path without its leading slash, as archive members are named.
    pub fn rel_path(&self) -> &str {
        self.path.trim_start_matches('/')
    }
}

/// One changelog entry, newest first in [`PackageMeta::changelog`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangelogEntry {
    /// Full package version (upstream-release) this entry describes.
    pub version: String,
    /// Seconds since the epoch (UTC).
    pub date: u64,
    pub author: String,
    pub changes: Vec<String>,
}

/// Package metadata shared by every format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageMeta {
    pub name: String,
    pub version: PackageVersion,
    pub summary: String,
    pub description: String,
    pub license: String,
    pub homepage: Option<String>,
    pub maintainer: String,
    pub vendor: Option<String>,
    /// Source repository URL (OCI `org.opencontainers.image.source`).
    pub source_url: Option<String>,
    /// Revision of the source (OCI `org.opencontainers.image.revision`), declared in the manifest or
    /// on the command line, never read from git implicitly.
    pub revision: Option<String>,
    pub changelog: Vec<ChangelogEntry>,
    pub provides: Vec<String>,
    pub conflicts: Vec<String>,
    pub replaces: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DebOptions {
    pub compression: Codec,
    /// Which payload files `data.tar` compresses alone (and reuses from the segment cache).
    pub segments: SegmentPolicy,
    pub depends: Vec<String>,
    pub pre_depends: Vec<String>,
    pub recommends: Vec<String>,
    pub suggests: Vec<String>,
    pub section: String,
    pub priority: String,
    /// `tag [reason]` lines for the lintian overrides file shipped in the package.
    pub lintian_overrides: Vec<String>,
    /// `deb.auto-depends`: whether the plan derives `shlib_depends` from the payload's ELF files.
    pub auto_depends: bool,
    /// Depends derived from the ELF files of this arch's plan (`libc6 (>= 2.34)`), sorted; empty
    /// when `auto_depends` is off. Added to Depends unless the manifest already names the package.
    pub shlib_depends: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RpmOptions {
    pub compression: Codec,
    /// Which payload files the cpio payload compresses alone.
    pub segments: SegmentPolicy,
    pub requires: Vec<String>,
    pub recommends: Vec<String>,
    pub group: Option<String>,
    pub packager: Option<String>,
    /// `rpm.auto-requires`: whether the plan derives `shlib_requires` from the payload's ELF files.
    pub auto_requires: bool,
    /// Requires derived from the ELF files of this arch's plan, as rpmbuild's elfdeps writes
    /// them (`libc.so.6(GLIBC_2.34)(64bit)`, `rtld(GNU_HASH)`), sorted and deduplicated; empty
    /// when `auto_requires` is off.
    pub shlib_requires: Vec<String>,
    /// Path of an ASCII-armored OpenPGP secret key to sign with (not part of the cache key
    /// contents, only whether signing happens; the key itself never enters logs or build-info).
    pub signing_key: Option<PathBuf>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TarOptions {
    pub compression: Codec,
    /// Which payload files the tarball compresses alone.
    pub segments: SegmentPolicy,
}

/// A base image given as a local OCI layout or archive, pinned by its index or manifest digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OciBase {
    pub path: PathBuf,
    /// `sha256:<hex>` of the index or manifest the base must resolve to.
    pub digest: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OciOptions {
    pub layer_compression: Codec,
    /// Which payload files each layer compresses alone.
    pub layer_segments: SegmentPolicy,
    /// `None` means `scratch`.
    pub base: Option<OciBase>,
    pub entrypoint: Vec<String>,
    pub cmd: Vec<String>,
    pub env: Vec<(String, String)>,
    pub working_dir: Option<String>,
    /// `uid:gid` the container runs as.
    pub user: String,
    pub exposed_ports: Vec<String>,
    pub volumes: Vec<String>,
    pub labels: Vec<(String, String)>,
    /// Repository the image is published to, e.g. `ghcr.io/seiggy/lucia` (for names and tags).
    pub repository: Option<String>,
    /// Additional tags beyond the version (e.g. `1.0`, `latest`).
    pub tags: Vec<String>,
    /// Deployment values rendered beside the image, pinned to its index digest (`compose`,
    /// `kustomize`, `helm`); none unless the manifest's `[deploy]` asks.
    pub deploy: Vec<String>,
}

/// Per-format options the writers read; each writer looks only at its own.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FormatOptions {
    pub deb: DebOptions,
    pub rpm: RpmOptions,
    pub tar: TarOptions,
    pub oci: OciOptions,
}

/// Everything one format writer needs to produce one artifact for one architecture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub meta: PackageMeta,
    pub arch: Arch,
    /// Seconds since the epoch; every timestamp in every artifact.
    pub source_date: u64,
    /// Sorted bytewise by path; parents come before children.
    pub entries: Vec<Entry>,
    pub service: Option<ServiceIntent>,
    pub formats: FormatOptions,
    /// Directory the application payload installs into (e.g. `/opt/lucia`).
    pub install_dir: String,
}

impl Plan {
    /// Sum of file sizes, in bytes.
    pub fn payload_size(&self) -> u64 {
        self.entries.iter().map(Entry::size).sum()
    }
    pub fn entry(&self, path: &str) -> Option<&Entry> {
        self.entries
            .binary_search_by(|e| e.path.as_bytes().cmp(path.as_bytes()))
            .ok()
            .map(|i| &self.entries[i])
    }
    /// Config entries (conffiles), sorted.
    pub fn config_files(&self) -> impl Iterator<Item = &Entry> {
        self.entries.iter().filter(|e| e.config && !e.is_dir())
    }
}
