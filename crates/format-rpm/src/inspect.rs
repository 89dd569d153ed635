//! Reading an .rpm back for `lucia-pkg inspect`: header fields, dependencies, scriptlets, file
//! list and the result of checking its digests.
//!
//! The input is untrusted. The header sizes are checked against the file size before the `rpm`
//! crate parses anything (so a forged size cannot make it allocate gigabytes), the parser runs
//! under `catch_unwind` so a crate bug on malformed input becomes an error, and the payload is
//! streamed from disk (compressed and decompressed digests) instead of being loaded. The digests
//! are checked in order and the first failure stops the checks after it: a payload is decompressed
//! only when the header digests and the compressed payload's digest hold (decoder memory bounded
//! by [`pkg_core::limits`]). Names are shown escaped ([`pkg_core::limits::escape`]).

use std::fmt;
use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use pkg_core::compress::sniff;
use pkg_core::digest::{sha256, HashWriter};
use pkg_core::limits::{self, escape, escape_line, MAX_ENTRIES};
use rpm::{FileFlags, FileType, IndexSignatureTag, IndexTag, PackageMetadata};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::RpmError;

const LEAD_SIZE: u64 = 96;
const HEADER_MAGIC: [u8; 3] = [0x8e, 0xad, 0xe8];
/// Far above any real header (Fedora's largest are a few MB), far below what could hurt.
const MAX_HEADER: u64 = 32 << 20;
/// Tags in one header (rpm's own limit, `hdrchkTags`).
const MAX_TAGS: u64 = 0xffff;
/// Strings (STRING_ARRAY / I18NSTRING items) in one header: every file has about seven, so this
/// follows the archive entry limit. Each becomes a `String` in the parser.
const MAX_STRINGS: u64 = 8 * MAX_ENTRIES as u64;

#[derive(Debug, Clone, Serialize)]
pub struct ScriptletReport {
    /// `%pre`, `%post`, `%preun`, `%postun`, `%pretrans`, `%posttrans`.
    pub phase: String,
    pub interpreter: Vec<String>,
    pub body: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct FileReport {
    pub path: String,
    /// `ls -l` style, e.g. `-rw-r-----`.
    pub mode: String,
    pub user: String,
    pub group: String,
    pub size: u64,
    /// `config`, `noreplace`, `doc`, `ghost`, `missingok`, `license`.
    pub flags: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub link_to: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ChangelogReport {
    pub name: String,
    pub time: u64,
    pub text: String,
}

/// `ok`, `missing`, or `MISMATCH`.
#[derive(Debug, Clone, Serialize)]
pub struct DigestsReport {
    pub header_sha256: String,
    pub header_sha1: String,
    pub payload_sha256: String,
    pub payload_sha256_uncompressed: String,
    /// True when every digest present matched and at least one header and one payload digest
    /// was present (what `rpm -K` calls "digests OK").
    pub ok: bool,
    /// OpenPGP signatures present in the signature header (not verified: that needs the
    /// public key; use `rpmkeys -K` with the key imported).
    pub signatures: usize,
}

/// What `lucia-pkg inspect` prints for an .rpm.
#[derive(Debug, Clone, Serialize)]
pub struct RpmReport {
    pub path: String,
    pub name: String,
    pub epoch: Option<u32>,
    pub version: String,
    pub release: String,
    pub arch: String,
    pub summary: String,
    pub description: String,
    pub license: String,
    pub url: Option<String>,
    pub vendor: Option<String>,
    pub packager: Option<String>,
    pub group: Option<String>,
    pub build_time: Option<u64>,
    pub build_host: Option<String>,
    pub payload_compressor: String,
    pub installed_size: Option<u64>,
    pub requires: Vec<String>,
    pub recommends: Vec<String>,
    pub provides: Vec<String>,
    pub conflicts: Vec<String>,
    pub obsoletes: Vec<String>,
    pub scriptlets: Vec<ScriptletReport>,
    pub files: Vec<FileReport>,
    pub changelog: Vec<ChangelogReport>,
    pub digests: DigestsReport,
}

fn invalid(path: &Path, why: impl Into<String>) -> RpmError {
    RpmError::Invalid {
        path: path.display().to_string(),
        why: why.into(),
    }
}

fn io_err(path: &Path) -> impl Fn(io::Error) -> RpmError + '_ {
    move |source| RpmError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Reads one header's intro at `offset` and returns the header's total length (intro + index +
/// data), after checking the magic and that it fits into the file.
fn header_len(
    f: &mut File,
    path: &Path,
    offset: u64,
    file_len: u64,
    what: &str,
) -> Result<u64, RpmError> {
    let mut intro = [0u8; 16];
    f.seek(SeekFrom::Start(offset)).map_err(io_err(path))?;
    f.read_exact(&mut intro)
        .map_err(|_| invalid(path, format!("truncated before the {what}")))?;
    if intro[..3] != HEADER_MAGIC {
        return Err(invalid(path, format!("bad {what} magic")));
    }
    let nindex = u32::from_be_bytes([intro[8], intro[9], intro[10], intro[11]]) as u64;
    let hsize = u32::from_be_bytes([intro[12], intro[13], intro[14], intro[15]]) as u64;
    let len = 16 + nindex * 16 + hsize;
    if nindex > MAX_TAGS {
        return Err(invalid(
            path,
            format!("the {what} has {nindex} tags, more than rpm's limit of {MAX_TAGS}"),
        ));
    }
    if len > MAX_HEADER {
        return Err(invalid(
            path,
            format!(
                "the {what} claims {len} bytes, more than the {} MiB inspect reads",
                MAX_HEADER >> 20
            ),
        ));
    }
    if offset + len > file_len {
        return Err(invalid(
            path,
            format!("the {what} claims {len} bytes, more than the file holds"),
        ));
    }
    // The rpm crate slices the data area at each index entry's offset without a bounds check
    // (a panic on a hostile file), so every offset is checked here first.
    let mut index = io::BufReader::new(&mut *f);
    let mut strings = 0u64;
    for i in 0..nindex {
        let mut entry = [0u8; 16];
        index
            .read_exact(&mut entry)
            .map_err(|_| invalid(path, format!("truncated {what} index")))?;
        let kind = u32::from_be_bytes([entry[4], entry[5], entry[6], entry[7]]);
        let data_offset = i32::from_be_bytes([entry[8], entry[9], entry[10], entry[11]]);
        let count = u32::from_be_bytes([entry[12], entry[13], entry[14], entry[15]]) as u64;
        if data_offset < 0 || data_offset as u64 > hsize {
            return Err(invalid(
                path,
                format!("{what} index entry {i} points outside the header's data ({data_offset} of {hsize} bytes)"),
            ));
        }
        // The crate also allocates `count` items up front; every item takes at least this many
        // bytes of the data area, so a count that cannot fit is refused before any allocation.
        let item_size = match kind {
            3 => 2, // INT16
            4 => 4, // INT32
            5 => 8, // INT64
            _ => 1, // CHAR, INT8, STRING, BIN, STRING_ARRAY, I18NSTRING: at least one byte each
        };
        if count * item_size > hsize - data_offset as u64 {
            return Err(invalid(
                path,
                format!("{what} index entry {i} claims {count} items, more than its data holds"),
            ));
        }
        if matches!(kind, 8 | 9) {
            strings += count;
            if strings > MAX_STRINGS {
                return Err(invalid(
                    path,
                    format!("the {what} holds more than {MAX_STRINGS} strings; refused"),
                ));
            }
        }
    }
    Ok(len)
}

fn status(expected: Option<String>, actual: &str) -> (String, Option<bool>) {
    match expected {
        None => ("missing".into(), None),
        Some(e) if e.eq_ignore_ascii_case(actual) => ("ok".into(), Some(true)),
        Some(e) => (
            format!("MISMATCH (header says {e}, content is {actual})"),
            Some(false),
        ),
    }
}

fn mode_string(raw: u16, ft: FileType) -> String {
    let t = match ft {
        FileType::Dir => 'd',
        FileType::SymbolicLink => 'l',
        FileType::Fifo => 'p',
        FileType::CharacterDevice => 'c',
        FileType::BlockDevice => 'b',
        FileType::Socket => 's',
        _ => '-',
    };
    let mut s = String::from(t);
    let bits = [
        (0o400, 'r'),
        (0o200, 'w'),
        (0o100, 'x'),
        (0o040, 'r'),
        (0o020, 'w'),
        (0o010, 'x'),
        (0o004, 'r'),
        (0o002, 'w'),
        (0o001, 'x'),
    ];
    for (i, (bit, c)) in bits.iter().enumerate() {
        let set = raw & bit != 0;
        let special = match i {
            2 => raw & 0o4000 != 0,
            5 => raw & 0o2000 != 0,
            8 => raw & 0o1000 != 0,
            _ => false,
        };
        s.push(match (set, special) {
            (true, false) => *c,
            (false, false) => '-',
            (true, true) if i == 8 => 't',
            (false, true) if i == 8 => 'T',
            (true, true) => 's',
            (false, true) => 'S',
        });
    }
    s
}

fn flag_names(f: FileFlags) -> Vec<String> {
    [
        (FileFlags::CONFIG, "config"),
        (FileFlags::NOREPLACE, "noreplace"),
        (FileFlags::DOC, "doc"),
        (FileFlags::GHOST, "ghost"),
        (FileFlags::MISSINGOK, "missingok"),
        (FileFlags::LICENSE, "license"),
    ]
    .into_iter()
    .filter(|(flag, _)| f.contains(*flag))
    .map(|(_, n)| n.to_string())
    .collect()
}

fn deps(r: Result<Vec<rpm::Dependency>, rpm::Error>) -> Vec<String> {
    r.map(|v| {
        v.into_iter()
            .filter(|d| !d.name.starts_with("rpmlib("))
            .map(|d| d.to_string())
            .collect()
    })
    .unwrap_or_default()
}

/// Reads and checks an .rpm file. Never loads the payload into memory.
pub fn inspect(path: &Path) -> Result<RpmReport, RpmError> {
    let mut f = File::open(path).map_err(io_err(path))?;
    let file_len = f.metadata().map_err(io_err(path))?.len();
    let mut lead = [0u8; 4];
    f.read_exact(&mut lead)
        .map_err(|_| invalid(path, "shorter than an rpm lead"))?;
    if lead != [0xed, 0xab, 0xee, 0xdb] {
        return Err(invalid(path, "no rpm lead magic (not an .rpm file)"));
    }
    let sig_len = header_len(&mut f, path, LEAD_SIZE, file_len, "signature header")?;
    let main_offset = LEAD_SIZE + sig_len.div_ceil(8) * 8;
    header_len(&mut f, path, main_offset, file_len, "main header")?;

    f.seek(SeekFrom::Start(0)).map_err(io_err(path))?;
    let mut reader = BufReader::new(f);
    let parsed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        PackageMetadata::parse(&mut reader)
    }));
    let meta = match parsed {
        Ok(Ok(m)) => m,
        Ok(Err(e)) => return Err(invalid(path, e.to_string())),
        Err(_) => return Err(invalid(path, "the rpm parser rejected a malformed header")),
    };
    let payload_offset = reader.stream_position().map_err(io_err(path))?;
    let mut f = reader.into_inner();

    let digests = check_digests(&meta, &mut f, path, payload_offset)?;
    build_report(path, &meta, digests)
}

fn check_digests(
    meta: &PackageMetadata,
    f: &mut File,
    path: &Path,
    payload_offset: u64,
) -> Result<DigestsReport, RpmError> {
    let sig_str = |tag| {
        meta.signature
            .get_entry_data_as_string(tag)
            .ok()
            .map(str::to_string)
    };
    let hdr_str = |tag| {
        meta.header
            .get_entry_data_as_string(tag)
            .ok()
            .map(str::to_string)
    };
    let hdr_first = |tag| {
        meta.header
            .get_entry_data_as_string_array(tag)
            .ok()
            .and_then(|v| v.first().map(|s| s.to_string()))
            .or_else(|| hdr_str(tag))
    };

    let header = meta
        .header_bytes()
        .map_err(|e| invalid(path, e.to_string()))?;
    let h256 = hex(&sha256(&header));
    let h1 = {
        use sha1::Digest as _;
        hex(&sha1::Sha1::digest(&header))
    };
    let (header_sha256, a) = status(sig_str(IndexSignatureTag::RPMSIGTAG_SHA256), &h256);
    let (header_sha1, b) = status(sig_str(IndexSignatureTag::RPMSIGTAG_SHA1), &h1);
    let skipped = |why: &str| (format!("not checked ({why})"), None);
    let header_failed = a == Some(false) || b == Some(false);

    // Compressed payload, streamed; only when the header holds.
    let (payload_sha256, c) = if header_failed {
        skipped("the header digest failed")
    } else {
        f.seek(SeekFrom::Start(payload_offset))
            .map_err(io_err(path))?;
        let mut h = Sha256::new();
        io::copy(&mut (&mut *f).take(u64::MAX), &mut HashWriter::new(&mut h))
            .map_err(io_err(path))?;
        let p256 = hex(&h.finalize());
        status(hdr_first(IndexTag::RPMTAG_PAYLOADSHA256), &p256)
    };

    // Uncompressed archive, streamed through the bounded decoder; never for a payload whose
    // compressed digest failed (that would decompress bytes nobody vouches for).
    let (payload_sha256_uncompressed, d) = if header_failed {
        skipped("the header digest failed")
    } else if c == Some(false) {
        skipped("the compressed payload's digest failed")
    } else {
        f.seek(SeekFrom::Start(payload_offset))
            .map_err(io_err(path))?;
        let mut magic = [0u8; 6];
        let n = f.read(&mut magic).map_err(io_err(path))?;
        f.seek(SeekFrom::Start(payload_offset))
            .map_err(io_err(path))?;
        let mut h = Sha256::new();
        let decoded = limits::decoder(sniff(&magic[..n]), BufReader::new(&mut *f))
            .and_then(|mut d| io::copy(&mut d, &mut HashWriter::new(&mut h)));
        match decoded {
            Ok(_) => status(
                hdr_first(IndexTag::RPMTAG_PAYLOADSHA256ALT),
                &hex(&h.finalize()),
            ),
            Err(e) => (
                format!("MISMATCH (payload does not decompress: {e})"),
                Some(false),
            ),
        }
    };

    let results = [a, b, c, d];
    let ok = !results.contains(&Some(false))
        && (a.is_some() || b.is_some())
        && (c.is_some() || d.is_some());
    let signatures = meta.raw_signatures().map(|v| v.len()).unwrap_or(0);
    Ok(DigestsReport {
        header_sha256,
        header_sha1,
        payload_sha256,
        payload_sha256_uncompressed,
        ok,
        signatures,
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn build_report(
    path: &Path,
    m: &PackageMetadata,
    digests: DigestsReport,
) -> Result<RpmReport, RpmError> {
    let opt = |r: Result<&str, rpm::Error>| r.ok().map(str::to_string);
    let req = |r: Result<&str, rpm::Error>, what: &str| {
        r.map(str::to_string)
            .map_err(|e| invalid(path, format!("no {what} in the header ({e})")))
    };

    let mut scriptlets = Vec::new();
    let phases: [(&str, Result<rpm::Scriptlet, rpm::Error>); 6] = [
        ("%pretrans", m.get_pre_trans_script()),
        ("%pre", m.get_pre_install_script()),
        ("%post", m.get_post_install_script()),
        ("%preun", m.get_pre_uninstall_script()),
        ("%postun", m.get_post_uninstall_script()),
        ("%posttrans", m.get_post_trans_script()),
    ];
    for (phase, s) in phases {
        if let Ok(s) = s {
            scriptlets.push(ScriptletReport {
                phase: phase.into(),
                interpreter: s.program.unwrap_or_default(),
                body: s.script,
            });
        }
    }

    let nfiles = m
        .header
        .get_entry_data_as_string_array(IndexTag::RPMTAG_BASENAMES)
        .map(|v| v.len())
        .unwrap_or(0);
    if nfiles > MAX_ENTRIES {
        return Err(invalid(
            path,
            format!("the header lists {nfiles} files, more than the {MAX_ENTRIES} inspect lists"),
        ));
    }
    let files = m
        .get_file_entries()
        .unwrap_or_default()
        .into_iter()
        .map(|fe| {
            let mode = fe.mode();
            FileReport {
                path: fe.path().to_string_lossy().into_owned(),
                mode: mode_string(mode.raw_mode(), mode.file_type()),
                user: fe.user().to_string(),
                group: fe.group().to_string(),
                size: fe.size() as u64,
                flags: flag_names(fe.flags()),
                link_to: fe.linkto().filter(|l| !l.is_empty()).map(str::to_string),
            }
        })
        .collect();

    let changelog = m
        .get_changelog_entries()
        .unwrap_or_default()
        .into_iter()
        .map(|c| ChangelogReport {
            name: c.name,
            time: c.timestamp,
            text: c.description,
        })
        .collect();

    Ok(RpmReport {
        path: path.display().to_string(),
        name: req(m.get_name(), "name")?,
        epoch: m.header.get_entry_data_as_u32(IndexTag::RPMTAG_EPOCH).ok(),
        version: req(m.get_version(), "version")?,
        release: req(m.get_release(), "release")?,
        arch: opt(m.get_arch()).unwrap_or_default(),
        summary: opt(m.get_summary()).unwrap_or_default(),
        description: opt(m.get_description()).unwrap_or_default(),
        license: opt(m.get_license()).unwrap_or_default(),
        url: opt(m.get_url()),
        vendor: opt(m.get_vendor()),
        packager: opt(m.get_packager()),
        group: opt(m.get_group()),
        build_time: m.get_build_time().ok(),
        build_host: opt(m.get_build_host()),
        payload_compressor: m
            .get_payload_compressor()
            .map(|c| c.to_string())
            .unwrap_or_else(|_| "unknown".into()),
        installed_size: m.get_installed_size().ok(),
        requires: deps(m.get_requires()),
        recommends: deps(m.get_recommends()),
        provides: deps(m.get_provides()),
        conflicts: deps(m.get_conflicts()),
        obsoletes: deps(m.get_obsoletes()),
        scriptlets,
        files,
        changelog,
        digests,
    })
}

impl fmt::Display for RpmReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let evr = match self.epoch {
            Some(e) => format!("{e}:{}-{}", self.version, self.release),
            None => format!("{}-{}", self.version, self.release),
        };
        writeln!(
            f,
            "{}: rpm package {} {} ({})",
            escape(&self.path),
            escape(&self.name),
            escape(&evr),
            escape(&self.arch)
        )?;
        let none = "(none)";
        let fields: [(&str, String); 11] = [
            ("Summary", self.summary.clone()),
            ("License", self.license.clone()),
            ("URL", self.url.clone().unwrap_or_else(|| none.into())),
            ("Vendor", self.vendor.clone().unwrap_or_else(|| none.into())),
            (
                "Packager",
                self.packager.clone().unwrap_or_else(|| none.into()),
            ),
            ("Group", self.group.clone().unwrap_or_else(|| none.into())),
            (
                "Build time",
                self.build_time
                    .map(pkg_core::determinism::rfc3339)
                    .unwrap_or_else(|| none.into()),
            ),
            (
                "Build host",
                self.build_host.clone().unwrap_or_else(|| none.into()),
            ),
            ("Payload", self.payload_compressor.clone()),
            (
                "Installed size",
                self.installed_size
                    .map(|s| format!("{s} bytes"))
                    .unwrap_or_else(|| none.into()),
            ),
            (
                "Signatures",
                format!(
                    "{} (not verified here; use rpmkeys -K with the public key)",
                    self.digests.signatures
                ),
            ),
        ];
        for (k, v) in fields {
            writeln!(f, "  {k:<15} {}", escape(&v))?;
        }
        writeln!(f, "  Description:")?;
        for l in self.description.lines() {
            writeln!(f, "    {}", escape_line(l))?;
        }
        for (label, list) in [
            ("Requires", &self.requires),
            ("Recommends", &self.recommends),
            ("Provides", &self.provides),
            ("Conflicts", &self.conflicts),
            ("Obsoletes", &self.obsoletes),
        ] {
            if !list.is_empty() {
                writeln!(f, "  {label}:")?;
                for d in list {
                    writeln!(f, "    {}", escape(d))?;
                }
            }
        }
        let d = &self.digests;
        writeln!(f, "Digests: {}", if d.ok { "OK" } else { "NOT OK" })?;
        writeln!(f, "  header sha256            {}", escape(&d.header_sha256))?;
        writeln!(f, "  header sha1              {}", escape(&d.header_sha1))?;
        writeln!(
            f,
            "  payload sha256           {}",
            escape(&d.payload_sha256)
        )?;
        writeln!(
            f,
            "  payload sha256 (cpio)    {}",
            escape(&d.payload_sha256_uncompressed)
        )?;
        writeln!(f, "Files ({}):", self.files.len())?;
        for file in &self.files {
            let flags = if file.flags.is_empty() {
                String::new()
            } else {
                format!(" [{}]", escape(&file.flags.join(",")))
            };
            let link = file
                .link_to
                .as_ref()
                .map(|l| format!(" -> {}", escape(l)))
                .unwrap_or_default();
            writeln!(
                f,
                "  {} {:<8} {:<8} {:>10} {}{}{}",
                file.mode,
                escape(&file.user),
                escape(&file.group),
                file.size,
                escape(&file.path),
                link,
                flags
            )?;
        }
        for s in &self.scriptlets {
            writeln!(
                f,
                "{} scriptlet (using {}):",
                s.phase,
                escape(&s.interpreter.join(" "))
            )?;
            for l in s.body.lines() {
                writeln!(f, "  {}", escape_line(l))?;
            }
        }
        if !self.changelog.is_empty() {
            writeln!(f, "Changelog:")?;
            for c in &self.changelog {
                writeln!(
                    f,
                    "  * {} {}",
                    pkg_core::determinism::rpm_changelog_date(c.time),
                    escape(&c.name)
                )?;
                for l in c.text.lines() {
                    writeln!(f, "    {}", escape_line(l))?;
                }
            }
        }
        Ok(())
    }
}
