//! The .rpm writer and inspector of lucia-pkg.
//!
//! [`write_rpm`] turns one per-architecture [`Plan`] into an RPM v4 package with the `rpm` crate
//! (no rpmbuild): header from the plan's metadata, files with explicit modes and owners,
//! `%config(noreplace)` for config entries, only the directories the package owns, and the four
//! scriptlets generated from the service intent ([`scriptlets`]). [`inspect`] reads a package
//! back for `lucia-pkg inspect`.
//!
//! # Reproducibility
//! The bytes depend only on the plan (and the crate versions, see below):
//! * BUILDTIME and every file mtime are the plan's source date. File mtimes are set explicitly
//!   (`FileOptions::modified_at`) because the crate otherwise only *clamps* on-disk mtimes to the
//!   source date, so a file older than it would leak its real mtime.
//! * BUILDHOST is the fixed string [`BUILD_HOST`], never the machine's hostname.
//! * A source date later than the current time is refused: the crate would clamp BUILDTIME and
//!   the signature time to "now".
//! * Hard links in the payload directory are not reproduced (the crate would detect them by
//!   device/inode, which a fresh checkout does not preserve); see [`build`].
//! * RPMTAG_RPMVERSION is `rpm-rs <crate version>`, so upgrading the `rpm` crate changes the bytes.
//! * The payload is compressed with `pkg_core::compress` (as every format's streams): zstd runs
//!   single-threaded, so the core count cannot reach the bytes.
//! * Signatures (feature `sign`) are deterministic for OpenPGP v4 keys (RSA, EdDSA) and carry the
//!   source date as creation time; v6 keys salt their signatures randomly and are refused.
//!
//! # Memory
//! [`write_rpm`] keeps memory bounded: the cpio payload is streamed from disk through the
//! compressor into an anonymous temporary file, then the header (built by the crate with
//! placeholders, see [`stream`](crate::write_rpm)) is completed and lead + headers + payload are
//! copied to the output. Peak memory is the codec's state plus a few MB, whatever the payload
//! size; the temporary file needs the compressed size in `$TMPDIR`. Measured peak RSS of the
//! streaming writer (release build; see docs/performance.md for the current figures): gzip:9
//! 4.3 MB for 100 MB and for 300 MB of payload, versus 101/196/430 MB for gzip/xz/zstd:19
//! when the crate holds the compressed payload.
//! A 9 GiB (sparse, zero-filled) file at gzip:1 through the CLI: 7.8 MB peak RSS, 49 s.
//! rpm-rs itself (0.30.2) would hold the whole compressed payload in a `Vec<u8>`
//! (`Package { payload }`): [`write_rpm_in_memory`] is that path, kept as the reference the
//! tests compare the streaming writer's header and uncompressed payload with.
//!
//! # Large payloads
//! An installed size over 4 GiB switches to rpm's large-file layout (rpm ≥ 4.12: 64-bit
//! LONGSIZE/LONGFILESIZES, stripped cpio entries, `rpmlib(LargeFiles)`), as rpm-rs and rpmbuild
//! do; see [`write_rpm`]. `rpm2cpio` refuses such packages by design (`rpm2archive` reads them).
//!
//! # Not tested here
//! Dependency resolution against real Fedora/RHEL repositories (dnf/yum resolving `Requires`,
//! `Recommends`, the `user()`/`group()` provides and `Requires(pre)` file dependencies) cannot be
//! exercised on the Debian build machines: the end-to-end test installs with `rpm --nodeps` into
//! a Debian root. Installation through dnf on an actual RPM distribution is untested.

pub mod deps;
mod inspect;
mod package;
pub mod scriptlets;
mod sign;
mod stream;

use std::io;
use std::path::PathBuf;

use pkg_core::Plan;

pub use inspect::{
    inspect, ChangelogReport, DigestsReport, FileReport, RpmReport, ScriptletReport,
};
pub use package::{check_source_date, write_rpm_in_memory};
pub use sign::PASSPHRASE_ENV;
pub use stream::{write_rpm, write_rpm_with};

/// The RPMTAG_BUILDHOST every package carries (the machine's hostname would break
/// reproducibility and leak information).
pub const BUILD_HOST: &str = "reproducible";

/// Everything [`write_rpm`] would refuse in `plan` before reading any payload file: the source
/// date, the header fields, every dependency list and the scriptlets. Cheap; `lucia-pkg check`
/// runs it.
pub fn validate(plan: &Plan) -> Result<(), RpmError> {
    package::checked_source_date(plan)?;
    if let pkg_core::compress::Codec::XzMt(l) = plan.formats.rpm.compression {
        return Err(RpmError::UnsupportedCompression(format!(
            "rpm.compression = \"xz-mt:{l}\": the rpm payload is compressed by the rpm crate, single-threaded; use \"xz:{l}\" or \"zstd\""
        )));
    }
    package::check_header_fields(plan)?;
    let (meta, opts) = (&plan.meta, &plan.formats.rpm);
    for (field, list) in [
        ("requires", &opts.requires),
        ("recommends", &opts.recommends),
        ("provides", &meta.provides),
        ("conflicts", &meta.conflicts),
        ("replaces", &meta.replaces),
    ] {
        deps::parse_all(field, list)?;
    }
    deps::auto_requires(&opts.shlib_requires)?;
    for c in &meta.changelog {
        u32::try_from(c.date).map_err(|_| RpmError::SourceDateTooLarge { date: c.date })?;
    }
    scriptlets::generate(plan.service.as_ref())?;
    Ok(())
}

/// `lucia-1.0.0-1.x86_64.rpm`: name-version-release.arch.rpm (no epoch, as rpmbuild names it).
pub fn file_name(plan: &Plan) -> String {
    format!(
        "{}-{}-{}.{}.rpm",
        plan.meta.name,
        plan.meta.version.pkg,
        plan.meta.version.release,
        plan.arch.rpm()
    )
}

/// What [`write_rpm`] produced.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RpmSummary {
    pub file_name: String,
    /// Bytes written.
    pub size: u64,
    /// sha256 of the bytes written (hex).
    pub sha256: String,
    /// `zstd:19`, `gzip:9`…
    pub compression: String,
    /// Entries listed in the package (files, owned directories, symlinks).
    pub files: usize,
    /// Whether an OpenPGP signature was added.
    pub signed: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum RpmError {
    #[error("rpm.{field}: `{spec}` is not a valid dependency: {why}")]
    Dependency {
        field: String,
        spec: String,
        why: String,
    },
    #[error("the source date {date} lies in the future; the rpm crate would replace it with the current time in BUILDTIME and the signature, making the package irreproducible. Set SOURCE_DATE_EPOCH (or the manifest's source-date-epoch) to a past time, e.g. the last commit's date")]
    SourceDateInFuture { date: u64 },
    #[error("the source date {date} does not fit an rpm header (at most 4294967295, year 2106)")]
    SourceDateTooLarge { date: u64 },
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: io::Error,
    },
    #[error("{context}: {source}")]
    Rpm {
        context: String,
        #[source]
        source: rpm::Error,
    },
    #[error("payload file {path} changed while the package was built (its sha256 no longer matches the plan); rebuild from a stable payload directory")]
    PayloadChanged { path: String },
    #[error("rpm.signing-key is set ({}), but this lucia-pkg was built without the `sign` feature; rebuild it with `cargo build --features sign`, or remove the signing key to build an unsigned package", key.display())]
    SigningUnavailable { key: PathBuf },
    #[error("signing with {}: {why}", key.display())]
    Signing { key: PathBuf, why: String },
    /// More entries than rpm's 32-bit inode numbers and file indexes can count.
    #[error("the package lists more than 4294967295 entries, more than an rpm can index; split the payload into several packages")]
    TooLarge,
    #[error("{0}")]
    UnsupportedCompression(String),
    #[error("internal error in the rpm writer: {0} (please report it)")]
    Internal(String),
    #[error("{path}: not a readable rpm package: {why}")]
    Invalid { path: String, why: String },
    /// A plan value that cannot go into the header or a scriptlet unchanged (fix the manifest).
    #[error(transparent)]
    Render(#[from] pkg_core::render::RenderError),
}

impl RpmError {
    pub(crate) fn rpm(context: impl Into<String>) -> impl FnOnce(rpm::Error) -> RpmError {
        let context = context.into();
        move |source| RpmError::Rpm { context, source }
    }
}
