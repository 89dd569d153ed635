//! Debian binary packages (`.deb`) from a [`pkg_core::Plan`], and their inspection.
//!
//! A .deb is an `ar` archive of three members, in this order:
//! `debian-binary` (`2.0\n`), `control.tar.<ext>` (control, md5sums, conffiles, maintainer
//! scripts) and `data.tar.<ext>` (the installed tree). Every ar header carries the plan's source
//! date, uid/gid 0 and mode `100644`; every tar header the source date and the plan's modes and
//! owners, so the bytes depend only on the plan.
//!
//! Compression comes from `plan.formats.deb.compression` and applies to both tar members:
//! xz (the default: every dpkg since 1.15.6 reads it), gzip, none, or zstd — **zstd needs
//! dpkg ≥ 1.21.18** (Debian 12, Ubuntu 21.10); older systems cannot install such packages.
//!
//! Public API, used by the `lucia-pkg` CLI:
//! * [`file_name`] — `<name>_<version>-<release>_<arch>.deb` (no epoch).
//! * [`write_deb`] — streams the package into any writer; returns a [`DebSummary`].
//! * [`inspect`] — reads a .deb (untrusted input) into a [`DebReport`] for `lucia-pkg inspect`.
//!
//! Modules: `control` (control file, conffiles, md5sums), `docs` (copyright, changelog,
//! lintian overrides), [`scripts`] (maintainer scripts from the service intent), `data`
//! (streaming data.tar), `ar_read` and `inspect` (bounded reading).

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Seek, SeekFrom, Write};
use std::sync::Arc;

use pkg_core::compress::{Codec, Encoder};
use pkg_core::determinism::{DIR_MODE, EXEC_MODE, FILE_MODE};
use pkg_core::digest::HashingWriter;
use pkg_core::segment::SegmentCache;
use pkg_core::tar_stream::TarStream;
use pkg_core::{Owner, Plan};
use serde::Serialize;

mod ar_read;
mod control;
mod data;
mod docs;
mod inspect;
pub mod scripts;

pub use inspect::{inspect, ArMember, ControlField, DebReport, FileRecord, ScriptRecord};

/// Everything that can go wrong writing or reading a .deb.
#[derive(Debug, thiserror::Error)]
pub enum DebError {
    /// The plan holds something a .deb cannot express (fix the manifest).
    #[error("{0}")]
    Invalid(String),
    #[error("{context}: {source}")]
    Io { context: String, source: io::Error },
    /// The file being inspected is not a well-formed .deb.
    #[error("{path}: not a valid .deb: {reason}")]
    Malformed { path: String, reason: String },
}

impl DebError {
    pub(crate) fn io(context: &str, source: io::Error) -> DebError {
        DebError::Io {
            context: context.to_string(),
            source,
        }
    }
}

/// What [`write_deb`] produced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DebSummary {
    /// [`file_name`] of the plan.
    pub file_name: String,
    /// Bytes written to the output.
    pub size: u64,
    /// Lower-case hex sha256 of the bytes written.
    pub sha256: String,
    /// `Installed-Size` in KiB.
    pub installed_size_kib: u64,
    /// `gzip`, `xz`, `zstd` or `none`.
    pub compression: String,
    pub conffiles: Vec<String>,
    /// Names of the maintainer scripts in control.tar.
    pub scripts: Vec<String>,
    /// Regular files in data.tar (payload plus generated documentation).
    pub files: usize,
}

/// `lucia_1.0.0-1_amd64.deb`: Debian's `<package>_<version>_<arch>.deb` without the epoch
/// (dpkg-name and the archive drop it too).
pub fn file_name(plan: &Plan) -> String {
    format!(
        "{}_{}_{}.deb",
        plan.meta.name,
        plan.meta.version.file_version(),
        plan.arch.deb()
    )
}

fn member_name(base: &str, codec: Codec) -> String {
    match codec.extension() {
        "" => base.to_string(),
        ext => format!("{base}.{ext}"),
    }
}

/// An anonymous temporary file (in `$TMPDIR`), deleted when dropped.
fn temp() -> Result<File, DebError> {
    tempfile::tempfile().map_err(|e| {
        DebError::io(
            "creating a temporary file (set TMPDIR to a writable directory with free space)",
            e,
        )
    })
}

/// Finishes a compressor over a buffered temp file and returns the file rewound, with its length.
fn finish_temp(enc: Encoder<BufWriter<File>>, what: &str) -> Result<(File, u64), DebError> {
    let buf = enc.finish().map_err(|e| DebError::io(what, e))?;
    let mut f = buf
        .into_inner()
        .map_err(|e| DebError::io(what, e.into_error()))?;
    let len = f
        .seek(SeekFrom::End(0))
        .map_err(|e| DebError::io(what, e))?;
    f.rewind().map_err(|e| DebError::io(what, e))?;
    Ok((f, len))
}

/// The `ar` crate's common-format writer lays headers out exactly as dpkg-deb does (16-byte
/// space-padded name without GNU's trailing `/`, decimal fields, octal mode, even padding), so it
/// is used for writing; reading untrusted files goes through `ar_read` instead.
fn ar_header(name: &str, size: u64, mtime: u64) -> ar::Header {
    let mut h = ar::Header::new(name.as_bytes().to_vec(), size);
    h.set_mtime(mtime);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mode(0o100644);
    h
}

/// Every entry the package's data archive holds: the plan's plus the generated documentation
/// (`/usr/share/doc/<name>/copyright`, `changelog.Debian.gz`, the lintian overrides), sorted by
/// path. For bills of materials; [`write_deb`] writes exactly these.
pub fn data_entries(plan: &Plan) -> Result<Vec<pkg_core::plan::Entry>, DebError> {
    Ok(docs::merged_entries(plan)?
        .into_iter()
        .map(std::borrow::Cow::into_owned)
        .collect())
}

/// Everything [`write_deb`] would refuse in `plan` before reading any payload file: the name,
/// the control fields, conffiles, the generated documentation and the maintainer scripts.
/// Cheap; `lucia-pkg check` runs it.
pub fn validate(plan: &Plan) -> Result<(), DebError> {
    pkg_core::version::validate_name(&plan.meta.name)
        .map_err(|e| DebError::Invalid(format!("package name: {e}")))?;
    let conffiles = control::conffiles(plan)?;
    docs::merged_entries(plan)?;
    control::control_file(plan, 0)?;
    scripts::maintainer_scripts(plan, &conffiles)?;
    Ok(())
}

/// Writes the .deb for `plan` into `out`.
///
/// Streaming: an ar header needs its member's size up front, so `data.tar.<ext>` and
/// `control.tar.<ext>` are each compressed into an anonymous temporary file in `$TMPDIR` first
/// (payload files are read exactly once, MD5-hashed on the way) and then copied into `out`.
/// Memory use is independent of the payload size. The output's sha256 is computed while
/// writing.
pub fn write_deb<W: Write>(plan: &Plan, out: W) -> Result<DebSummary, DebError> {
    write_deb_with(plan, out, None)
}

/// [`write_deb`] reusing and storing the compressed segments of large payload files in
/// `segments` (the bytes are the same with or without it; see `pkg_core::segment`).
pub fn write_deb_with<W: Write>(
    plan: &Plan,
    out: W,
    segments: Option<Arc<SegmentCache>>,
) -> Result<DebSummary, DebError> {
    pkg_core::version::validate_name(&plan.meta.name)
        .map_err(|e| DebError::Invalid(format!("package name: {e}")))?;
    let codec = plan.formats.deb.compression;
    let mtime = plan.source_date;
    let conffiles = control::conffiles(plan)?;
    let entries = docs::merged_entries(plan)?;

    // data.tar.<ext>
    let data_name = member_name("data.tar", codec);
    let enc = Encoder::segmented(
        codec,
        BufWriter::new(temp()?),
        plan.formats.deb.segments,
        segments,
    )
    .map_err(|e| DebError::io(&data_name, e))?;
    let mut tar = TarStream::new(enc, mtime);
    let outcome = data::write_data(&entries, plan.entry("/"), &mut tar)?;
    let enc = tar.finish().map_err(|e| DebError::io(&data_name, e))?;
    let (data_file, data_len) = finish_temp(enc, &data_name)?;
    let files = outcome.md5sums.len();

    // control.tar.<ext>: a temp file too, because md5sums grows with the payload's file count.
    let control_name = member_name("control.tar", codec);
    let scripts = scripts::maintainer_scripts(plan, &conffiles)?;
    let mut members: Vec<(String, u32, Vec<u8>)> = vec![
        (
            "control".into(),
            FILE_MODE,
            control::control_file(plan, outcome.installed_kib)?.into_bytes(),
        ),
        (
            "md5sums".into(),
            FILE_MODE,
            control::md5sums(outcome.md5sums).into_bytes(),
        ),
    ];
    if !conffiles.is_empty() {
        members.push((
            "conffiles".into(),
            FILE_MODE,
            conffiles
                .iter()
                .map(|c| format!("{c}\n"))
                .collect::<String>()
                .into_bytes(),
        ));
    }
    for s in &scripts {
        members.push((s.name.to_string(), EXEC_MODE, s.text.clone().into_bytes()));
    }
    members.sort_by(|a, b| a.0.cmp(&b.0));
    let enc =
        Encoder::new(codec, BufWriter::new(temp()?)).map_err(|e| DebError::io(&control_name, e))?;
    let mut tar = TarStream::new(enc, mtime);
    let root = Owner::root();
    tar.append_dir("./", DIR_MODE, &root)
        .map_err(|e| DebError::io(&control_name, e))?;
    for (name, mode, bytes) in &members {
        tar.append_bytes(&format!("./{name}"), *mode, &root, bytes)
            .map_err(|e| DebError::io(&control_name, e))?;
    }
    let enc = tar.finish().map_err(|e| DebError::io(&control_name, e))?;
    let (control_file, control_len) = finish_temp(enc, &control_name)?;

    // The ar container.
    let mut hashing = HashingWriter::new(out);
    {
        let mut ar = ar::Builder::new(&mut hashing);
        let ctx = "writing the .deb";
        ar.append(&ar_header("debian-binary", 4, mtime), &b"2.0\n"[..])
            .map_err(|e| DebError::io(ctx, e))?;
        ar.append(
            &ar_header(&control_name, control_len, mtime),
            BufReader::new(control_file),
        )
        .map_err(|e| DebError::io(ctx, e))?;
        ar.append(
            &ar_header(&data_name, data_len, mtime),
            BufReader::new(data_file),
        )
        .map_err(|e| DebError::io(ctx, e))?;
    }
    hashing
        .flush()
        .map_err(|e| DebError::io("writing the .deb", e))?;
    let (_, sha, size) = hashing.finish();
    Ok(DebSummary {
        file_name: file_name(plan),
        size,
        sha256: hex::encode(sha),
        installed_size_kib: outcome.installed_kib,
        compression: codec.name().to_string(),
        conffiles,
        scripts: scripts.iter().map(|s| s.name.to_string()).collect(),
        files,
    })
}
