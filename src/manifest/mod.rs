//! The manifest: parsed with source spans, validated, defaults applied, turned into a [`Spec`].
//! Nothing after this module reads TOML or reports manifest locations.

pub mod diagnostic;
mod fields;
pub mod overrides;
pub mod schema;
pub mod secrets;
pub mod unit_check;

use std::collections::BTreeSet;
use std::ops::Range;
use std::path::{Path, PathBuf};

use pkg_core::compress::Codec;
use pkg_core::plan::{ChangelogEntry, OciBase, PackageMeta};
use pkg_core::segment::SegmentPolicy;
use pkg_core::version::{validate_name, PackageVersion};
use pkg_core::Arch;

pub use diagnostic::Diagnostic;
use schema::*;

/// The output formats lucia-pkg writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Format {
    Tar,
    Deb,
    Rpm,
    Oci,
}

impl Format {
    pub const ALL: [Format; 4] = [Format::Tar, Format::Deb, Format::Rpm, Format::Oci];
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Tar => "tar",
            Format::Deb => "deb",
            Format::Rpm => "rpm",
            Format::Oci => "oci",
        }
    }
    pub fn parse(s: &str) -> Option<Format> {
        Format::ALL.into_iter().find(|f| f.as_str() == s.trim())
    }
}

#[derive(Debug, Clone)]
pub struct BuilderSpec {
    pub command: Vec<String>,
    pub inputs: Vec<PathBuf>,
    pub env: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct ArchPayload {
    pub arch: Arch,
    pub path: PathBuf,
    pub builder: Option<BuilderSpec>,
}

#[derive(Debug, Clone)]
pub struct UnitSpec {
    pub path: PathBuf,
    pub name: String,
    pub enable: bool,
    pub start: bool,
    pub restart_after_upgrade: bool,
}

#[derive(Debug, Clone)]
pub struct EnvSpec {
    pub template: PathBuf,
    pub path: String,
    pub mode: u32,
}

#[derive(Debug, Clone, Default)]
pub struct ScriptSpec {
    pub pre_install: Option<PathBuf>,
    pub post_install: Option<PathBuf>,
    pub pre_remove: Option<PathBuf>,
    pub post_remove: Option<PathBuf>,
}

#[derive(Debug, Clone)]
pub struct ServiceSpec {
    pub units: Vec<UnitSpec>,
    pub user: String,
    pub group: String,
    pub home: String,
    pub shell: String,
    pub description: String,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub state_dirs: Vec<String>,
    pub state_dir_mode: u32,
    pub purge_state: bool,
    pub env: Option<EnvSpec>,
    pub scripts: ScriptSpec,
}

#[derive(Debug, Clone)]
pub struct FileSpec {
    /// What is installed at `dest`: a file copied from the manifest's side, or a symlink.
    pub source: FileSource,
    pub dest: String,
    pub mode: Option<u32>,
    pub owner: Option<(String, String)>,
    pub config: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileSource {
    Copy(PathBuf),
    /// The link's target, as written (absolute, or relative to the link's directory).
    Symlink(String),
}

impl FileSpec {
    /// The file read from disk, if this entry copies one.
    pub fn src(&self) -> Option<&Path> {
        match &self.source {
            FileSource::Copy(p) => Some(p),
            FileSource::Symlink(_) => None,
        }
    }
}

/// The validated manifest.
#[derive(Debug, Clone)]
pub struct Spec {
    pub manifest_path: PathBuf,
    /// The manifest's bytes, hashed into every build key.
    pub manifest_source: String,
    /// Package metadata shared by every format (changelog dates of 0 mean "the source date").
    pub meta: PackageMeta,
    pub source_date_epoch: Option<u64>,
    pub arches: Vec<Arch>,
    pub formats: Vec<Format>,
    pub install_dir: String,
    pub entrypoint: String,
    pub payloads: Vec<ArchPayload>,
    pub allow_special_modes: Vec<String>,
    pub service: Option<ServiceSpec>,
    pub files: Vec<FileSpec>,
    pub deb: pkg_core::plan::DebOptions,
    pub rpm: pkg_core::plan::RpmOptions,
    pub tar: pkg_core::plan::TarOptions,
    /// The OCI options; an empty `entrypoint` means the payload's entrypoint (filled in by the plan).
    pub oci: pkg_core::plan::OciOptions,
}

impl Spec {
    pub fn payload(&self, arch: Arch) -> Option<&ArchPayload> {
        self.payloads.iter().find(|p| p.arch == arch)
    }
}

/// Reads and validates a manifest file.
pub fn load(path: &Path) -> Result<Spec, Box<Diagnostic>> {
    let source = std::fs::read_to_string(path).map_err(|e| {
        Box::new(
            Diagnostic::new(path, "", None, format!("cannot read the manifest: {e}"))
                .help("pass an existing TOML file with --manifest (default: packaging/lucia.toml)"),
        )
    })?;
    parse(path, &source)
}

/// Parses and validates manifest text; `path` locates relative paths and names the file in errors.
pub fn parse(path: &Path, source: &str) -> Result<Spec, Box<Diagnostic>> {
    let raw: RawManifest =
        toml::from_str(source).map_err(|e| Box::new(toml_error(path, source, &e)))?;
    let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let base = if base.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        base
    };
    let spec = Validator {
        file: path,
        source,
        base: &base,
    }
    .spec(raw)?;
    // Values that land in generated scripts, system configs and package headers.
    fields::check(path, source, &spec)?;
    Ok(spec)
}

fn toml_error(path: &Path, source: &str, e: &toml::de::Error) -> Diagnostic {
    let msg = e.message().trim().to_string();
    let mut d = Diagnostic::new(path, source, e.span(), msg.clone());
    if let Some(rest) = msg.strip_prefix("unknown field `") {
        let unknown = rest.split('`').next().unwrap_or_default();
        let expected: Vec<&str> = msg
            .split_once("expected")
            .map(|(_, list)| list.split('`').skip(1).step_by(2).collect())
            .unwrap_or_default();
        let keys = schema::all_keys();
        let pool: Vec<&str> = if expected.is_empty() { keys } else { expected };
        d = match diagnostic::did_you_mean(unknown, pool.iter().copied()) {
            Some(s) => d.help(format!("did you mean `{s}`? Unknown keys are errors so that typos cannot be silently ignored")),
            None => d.help(format!("remove `{unknown}`; see docs/manifest.md for the keys this table accepts")),
        };
    } else if msg.starts_with("missing field") {
        d = d.help("add the missing key (docs/manifest.md lists required keys and examples)");
    } else if msg.starts_with("invalid type") {
        d = d.help("check the value's type: strings are quoted, lists use [ ], tables use { } or [section]");
    } else {
        d = d.help("fix the TOML syntax at the marked position");
    }
    d
}

struct Validator<'a> {
    file: &'a Path,
    source: &'a str,
    base: &'a Path,
}

type R<T> = Result<T, Box<Diagnostic>>;

/// Validates an absolute, normalized install path (no `.`/`..`/`//`, no trailing slash, printable).
pub fn check_install_path(p: &str) -> Result<(), String> {
    if !p.starts_with('/') {
        return Err(format!(
            "`{p}` is not absolute: install paths start with `/`"
        ));
    }
    if p == "/" {
        return Err("`/` itself cannot be a destination".into());
    }
    if p.ends_with('/') {
        return Err(format!(
            "`{p}` ends with `/`: write it without the trailing slash"
        ));
    }
    for comp in p[1..].split('/') {
        match comp {
            "" => return Err(format!("`{p}` contains `//`: normalize the path")),
            "." | ".." => {
                return Err(format!(
                    "`{p}` contains `{comp}`: write the normalized absolute path"
                ))
            }
            c if c.len() > 255 => {
                return Err(format!("a component of `{p}` is longer than 255 bytes"))
            }
            _ => {}
        }
    }
    if p.chars().any(|c| c.is_control()) {
        return Err(format!(
            "`{}` contains a control character (newline, tab…)",
            p.escape_debug()
        ));
    }
    Ok(())
}

fn parse_mode(s: &str) -> Option<u32> {
    let digits = s.strip_prefix("0o").unwrap_or(s);
    if digits.is_empty() || digits.len() > 4 {
        return None;
    }
    u32::from_str_radix(digits, 8).ok().filter(|m| *m <= 0o7777)
}

impl Validator<'_> {
    fn err(
        &self,
        span: Option<Range<usize>>,
        msg: impl Into<String>,
        help: impl Into<String>,
    ) -> Box<Diagnostic> {
        Box::new(Diagnostic::new(self.file, self.source, span, msg).help(help))
    }

    fn path(&self, s: &S<String>) -> R<PathBuf> {
        let v = s.get_ref();
        if v.trim().is_empty() {
            return Err(self.err(
                Some(s.span()),
                "empty path",
                "give a path relative to the manifest's directory",
            ));
        }
        let p = Path::new(v);
        Ok(if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.base.join(p)
        })
    }

    /// Expands one `[[files]] src`: a file (installed at `dest`), a directory (every file below
    /// it, installed under `dest` with its relative path), or a glob in the last component
    /// (`docs/*.md`: every matching file, installed under `dest` by name). Returns (source path,
    /// destination, executable) sorted by destination. Symlinks inside a tree are refused: list
    /// them as `symlink` entries so that what is packaged is explicit.
    fn file_sources(&self, src: &S<String>, dest: &str) -> R<Vec<(PathBuf, String, bool)>> {
        use std::os::unix::fs::PermissionsExt;
        const MAX_FILES: usize = 100_000;
        let exec = |p: &Path| {
            std::fs::metadata(p)
                .map(|m| m.permissions().mode() & 0o111 != 0)
                .unwrap_or(false)
        };
        let utf8 = |p: &Path| -> R<String> {
            p.to_str().map(str::to_string).ok_or_else(|| {
                self.err(
                    Some(src.span()),
                    format!("`{}` is not a UTF-8 path", p.display()),
                    "rename the file: packages need UTF-8 paths",
                )
            })
        };
        let v = src.get_ref();
        let last = v.rsplit('/').next().unwrap_or(v);
        if last.contains(['*', '?', '[']) {
            let full = self.path(src)?;
            let pattern = utf8(&full)?;
            let paths = glob::glob(&pattern).map_err(|e| {
                self.err(
                    Some(src.span()),
                    format!("bad glob: {e}"),
                    "globs use `*`, `?` and `[...]` in the file name, e.g. src = \"docs/*.md\"",
                )
            })?;
            let mut out = Vec::new();
            for p in paths {
                let p = p.map_err(|e| {
                    self.err(
                        Some(src.span()),
                        format!("cannot read a match: {e}"),
                        "check the permissions",
                    )
                })?;
                if !p.symlink_metadata().map(|m| m.is_file()).unwrap_or(false) {
                    continue;
                }
                let name = utf8(Path::new(p.file_name().unwrap_or_default()))?;
                let d = format!("{dest}/{name}");
                check_install_path(&d)
                    .map_err(|m| self.err(Some(src.span()), m, "rename the file"))?;
                out.push((p.clone(), d, exec(&p)));
                if out.len() > MAX_FILES {
                    return Err(self.err(
                        Some(src.span()),
                        format!("more than {MAX_FILES} files match"),
                        "narrow the glob",
                    ));
                }
            }
            if out.is_empty() {
                return Err(self.err(
                    Some(src.span()),
                    format!("no file matches `{v}`"),
                    "globs match files in one directory, relative to the manifest's directory",
                ));
            }
            out.sort_by(|a, b| a.1.cmp(&b.1));
            return Ok(out);
        }
        let p = self.path(src)?;
        let md = std::fs::symlink_metadata(&p).map_err(|e| {
            self.err(
                Some(src.span()),
                format!("file `{}` cannot be read: {e}", p.display()),
                "paths are relative to the manifest's directory; check the spelling or create the file",
            )
        })?;
        if !md.is_dir() {
            return Ok(vec![(
                self.existing_file(src, "file")?,
                dest.to_string(),
                false,
            )]);
        }
        let mut out = Vec::new();
        for item in walkdir::WalkDir::new(&p)
            .follow_links(false)
            .sort_by_file_name()
            .min_depth(1)
        {
            let item = item.map_err(|e| {
                self.err(
                    Some(src.span()),
                    format!("cannot read `{}`: {e}", p.display()),
                    "check the permissions",
                )
            })?;
            let ft = item.file_type();
            if ft.is_dir() {
                continue;
            }
            if !ft.is_file() {
                return Err(self.err(
                    Some(src.span()),
                    format!("`{}` is not a regular file", item.path().display()),
                    "a [[files]] tree holds regular files only: list links as [[files]] symlink entries",
                ));
            }
            let rel = utf8(item.path().strip_prefix(&p).unwrap_or(item.path()))?;
            let d = format!("{dest}/{rel}");
            check_install_path(&d).map_err(|m| self.err(Some(src.span()), m, "rename the file"))?;
            out.push((item.path().to_path_buf(), d, exec(item.path())));
            if out.len() > MAX_FILES {
                return Err(self.err(
                    Some(src.span()),
                    format!("more than {MAX_FILES} files below `{v}`"),
                    "package a smaller tree, or put it in the payload",
                ));
            }
        }
        if out.is_empty() {
            return Err(self.err(
                Some(src.span()),
                format!("directory `{v}` holds no files"),
                "point src at a directory with files, or remove the entry",
            ));
        }
        Ok(out)
    }

    fn existing_file(&self, s: &S<String>, what: &str) -> R<PathBuf> {
        let p = self.path(s)?;
        match std::fs::metadata(&p) {
            Ok(m) if m.is_file() => Ok(p),
            Ok(_) => Err(self.err(Some(s.span()), format!("{what} `{}` is not a regular file", p.display()), "point it at a file")),
            Err(e) => Err(self.err(
                Some(s.span()),
                format!("{what} `{}` cannot be read: {e}", p.display()),
                "paths are relative to the manifest's directory; check the spelling or create the file",
            )),
        }
    }

    fn install_path(&self, s: &S<String>) -> R<String> {
        check_install_path(s.get_ref()).map_err(|m| {
            self.err(
                Some(s.span()),
                m,
                "destinations are absolute, normalized paths such as /opt/lucia",
            )
        })?;
        Ok(s.get_ref().clone())
    }

    fn mode(&self, s: &S<String>) -> R<u32> {
        parse_mode(s.get_ref()).ok_or_else(|| {
            self.err(
                Some(s.span()),
                format!("`{}` is not an octal file mode", s.get_ref()),
                "write modes as quoted octal strings, e.g. \"0644\" or \"0755\"",
            )
        })
    }

    fn codec(&self, s: &Option<S<String>>, default: Codec) -> R<Codec> {
        match s {
            None => Ok(default),
            Some(s) => s.get_ref().parse::<Codec>().map_err(|e| {
                self.err(
                    Some(s.span()),
                    e.0,
                    "e.g. compression = \"xz\", \"zstd:19\" or \"gzip:9\"",
                )
            }),
        }
    }

    /// A format's `segments` value: `off` or a threshold size (default
    /// [`pkg_core::segment::DEFAULT_SEGMENT_MIN_SIZE`]).
    fn segments(&self, s: &Option<S<String>>) -> R<SegmentPolicy> {
        match s {
            None => Ok(SegmentPolicy::default()),
            Some(s) => s.get_ref().parse::<SegmentPolicy>().map_err(|e| {
                self.err(
                    Some(s.span()),
                    e,
                    "e.g. segments = \"1M\" (files of 1 MiB or more are compressed alone and reused by later builds) or \"off\" (one stream)",
                )
            }),
        }
    }

    fn spec(&self, raw: RawManifest) -> R<Spec> {
        let pkg_span = raw.package.span();
        let p = raw.package.into_inner();
        let (version, source_date_epoch) = self.package(&p)?;
        let arches = self.arches(&p.arches, pkg_span.clone())?;
        let formats = self.formats(&p.formats)?;
        let changelog = self.changelog(&p.changelog, &version, &p.maintainer)?;

        let payload_span = raw.payload.span();
        let pl = raw.payload.into_inner();
        let install_dir = self.install_path(&pl.install_dir)?;
        let entrypoint = pl.entrypoint.get_ref().trim_matches('/').to_string();
        if entrypoint.is_empty()
            || entrypoint
                .split('/')
                .any(|c| c == ".." || c == "." || c.is_empty())
        {
            return Err(self.err(
                Some(pl.entrypoint.span()),
                "entrypoint must be a path inside the payload",
                "e.g. entrypoint = \"lucia.AgentHost\" (relative to install-dir)",
            ));
        }
        let payloads = self.payloads(&pl, payload_span, &arches)?;
        let allow_special_modes = pl
            .allow_special_modes
            .iter()
            .map(|s| s.get_ref().trim_matches('/').to_string())
            .collect();

        let service = match raw.service {
            None => None,
            Some(s) => Some(self.service(s)?),
        };
        let files = self.files(&raw.files)?;

        let deb = self.deb_options(raw.deb.as_ref())?;
        let rpm = self.rpm_options(raw.rpm.as_ref())?;
        let tar = pkg_core::plan::TarOptions {
            compression: self.codec(
                &raw.tar.as_ref().and_then(|t| t.compression.clone()),
                Codec::Gzip(9),
            )?,
            segments: self.segments(&raw.tar.as_ref().and_then(|t| t.segments.clone()))?,
        };
        let mut oci = self.oci(raw.oci, &service)?;
        if let Some(d) = &raw.deploy {
            oci.deploy = self.deploy_files(d, &formats)?;
        }

        Ok(Spec {
            manifest_path: self.file.to_path_buf(),
            manifest_source: self.source.to_string(),
            meta: PackageMeta {
                name: p.name.into_inner(),
                version,
                summary: p.summary.into_inner(),
                description: p.description.unwrap_or_default().trim().to_string(),
                license: p.license.into_inner(),
                homepage: p.homepage,
                maintainer: p.maintainer.into_inner(),
                vendor: p.vendor,
                source_url: p.source,
                revision: p.revision,
                changelog,
                provides: p.provides,
                conflicts: p.conflicts,
                replaces: p.replaces,
            },
            source_date_epoch,
            arches,
            formats,
            install_dir,
            entrypoint,
            payloads,
            allow_special_modes,
            service,
            files,
            deb,
            rpm,
            tar,
            oci,
        })
    }

    /// `[package]`'s name, version (with release and epoch), single-line text fields and
    /// maintainer checked; returns the version and the source date, if given.
    fn package(&self, p: &RawPackage) -> R<(PackageVersion, Option<u64>)> {
        validate_name(p.name.get_ref())
            .map_err(|e| self.err(Some(p.name.span()), e.to_string(), "e.g. name = \"lucia\""))?;
        let release = p
            .release
            .as_ref()
            .map(|r| r.get_ref().as_str())
            .unwrap_or("1");
        let version = PackageVersion::new(p.version.get_ref(), release, p.epoch.as_ref().map(|e| *e.get_ref()))
            .map_err(|e| {
                let span = match (&e, &p.release) {
                    (pkg_core::version::VersionError::BadRelease(_), Some(r)) => r.span(),
                    _ => p.version.span(),
                };
                let help = e.help().unwrap_or_else(|| "versions must be accepted by both dpkg and rpm, e.g. version = \"1.2.0\" or \"1.2.0-rc.1\"".into());
                self.err(Some(span), e.to_string(), help)
            })?;
        for (field, what) in [
            (&p.summary, "summary"),
            (&p.license, "license"),
            (&p.maintainer, "maintainer"),
        ] {
            if field.get_ref().trim().is_empty() {
                return Err(self.err(
                    Some(field.span()),
                    format!("`{what}` is empty"),
                    format!("give the package a {what}"),
                ));
            }
            if field.get_ref().contains('\n') {
                return Err(self.err(
                    Some(field.span()),
                    format!("`{what}` must be a single line"),
                    "move longer text into `description`",
                ));
            }
        }
        if !p.maintainer.get_ref().contains('<') || !p.maintainer.get_ref().ends_with('>') {
            return Err(self.err(
                Some(p.maintainer.span()),
                "maintainer must be `Name <email>`",
                "e.g. maintainer = \"Lucia Project <maintainers@example.org>\"",
            ));
        }
        let source_date_epoch = match &p.source_date_epoch {
            None => None,
            Some(s) if (0..=u32::MAX as i64).contains(s.get_ref()) => Some(*s.get_ref() as u64),
            Some(s) => {
                return Err(self.err(
                    Some(s.span()),
                    "source-date-epoch is out of range",
                    "give seconds since 1970-01-01 UTC, e.g. 1793491200",
                ))
            }
        };
        Ok((version, source_date_epoch))
    }

    /// One payload per `[payload.<arch>]`: a directory or a builder command; every arch
    /// `package.arches` lists must have one.
    fn payloads(
        &self,
        pl: &RawPayload,
        payload_span: Range<usize>,
        arches: &[Arch],
    ) -> R<Vec<ArchPayload>> {
        let mut payloads = Vec::new();
        for (arch, ap) in [(Arch::Amd64, &pl.amd64), (Arch::Arm64, &pl.arm64)] {
            match ap {
                Some(ap_spanned) => {
                    let ap = ap_spanned.get_ref();
                    let builder = match &ap.builder {
                        None => None,
                        Some(b) => {
                            let bs = b.get_ref();
                            if bs.command.is_empty() {
                                return Err(self.err(
                                    Some(b.span()),
                                    "builder.command is empty",
                                    "give the command as a list, e.g. [\"sh\", \"build.sh\"]",
                                ));
                            }
                            let inputs = bs
                                .inputs
                                .iter()
                                .map(|i| self.path(i))
                                .collect::<R<Vec<_>>>()?;
                            Some(BuilderSpec {
                                command: bs.command.clone(),
                                inputs,
                                env: bs.env.clone(),
                            })
                        }
                    };
                    let path = match (&ap.path, &builder) {
                        (Some(p), None) => self.path(p)?,
                        (None, Some(_)) => PathBuf::new(),
                        (Some(p), Some(_)) => {
                            return Err(self.err(Some(p.span()), format!("[payload.{arch}] has both `path` and `builder`"), "give either a directory (`path`) or a command that produces it (`builder`)"));
                        }
                        (None, None) => {
                            return Err(self.err(
                                Some(ap_spanned.span()),
                                format!("[payload.{arch}] needs `path` or `builder`"),
                                "e.g. path = \"publish/linux-x64\"",
                            ));
                        }
                    };
                    payloads.push(ArchPayload {
                        arch,
                        path,
                        builder,
                    });
                }
                None if arches.contains(&arch) => {
                    return Err(self.err(
                        Some(payload_span.clone()),
                        format!("package.arches lists {arch} but [payload.{arch}] is missing"),
                        format!("add [payload.{arch}] with path = \"…\" or remove {arch} from package.arches"),
                    ));
                }
                None => {}
            }
        }
        Ok(payloads)
    }

    /// `[[files]]`: each entry's owner, mode and either its sources (a file, a tree or a glob)
    /// or a symlink target.
    fn files(&self, raw: &[S<RawFile>]) -> R<Vec<FileSpec>> {
        let mut files = Vec::new();
        for f in raw {
            let f = f.get_ref();
            let owner = match &f.owner {
                None => None,
                Some(o) => match o.get_ref().split_once(':') {
                    Some((u, g)) if !u.is_empty() && !g.is_empty() => {
                        Some((u.to_string(), g.to_string()))
                    }
                    _ => {
                        return Err(self.err(
                            Some(o.span()),
                            "owner must be `user:group`",
                            "e.g. owner = \"root:lucia\"",
                        ))
                    }
                },
            };
            let dest = self.install_path(&f.dest)?;
            let mode = f.mode.as_ref().map(|m| self.mode(m)).transpose()?;
            if let (Some(m), Some(given)) = (mode, &f.mode) {
                if m & 0o002 != 0 || m & 0o6000 != 0 {
                    return Err(self.err(
                        Some(given.span()),
                        format!("[[files]] mode {m:04o} is world-writable or setuid/setgid"),
                        "use a mode such as \"0644\" or \"0755\"",
                    ));
                }
            }
            match (&f.src, &f.symlink) {
                (Some(src), None) => {
                    for (path, dest, exec) in self.file_sources(src, &dest)? {
                        files.push(FileSpec {
                            source: FileSource::Copy(path),
                            dest,
                            // A tree or glob keeps each file's executable bit unless `mode` says.
                            mode: mode.or(exec.then_some(pkg_core::determinism::EXEC_MODE)),
                            owner: owner.clone(),
                            config: f.config,
                        });
                    }
                }
                (None, Some(target)) => {
                    let t = target.get_ref();
                    if t.is_empty() || t.chars().any(|c| c.is_control()) || t.ends_with('/') {
                        return Err(self.err(
                            Some(target.span()),
                            format!("`{}` is not a symlink target", t.escape_debug()),
                            "give the path the link points to, e.g. symlink = \"/opt/app/bin/app\" (absolute) or \"../lib/app\" (relative to the link's directory)",
                        ));
                    }
                    if f.mode.is_some() || f.owner.is_some() || f.config {
                        return Err(self.err(
                            Some(target.span()),
                            "a symlink entry takes no mode, owner or config",
                            "links are always 0777 root:root; set those on the target",
                        ));
                    }
                    files.push(FileSpec {
                        source: FileSource::Symlink(t.clone()),
                        dest,
                        mode: None,
                        owner: None,
                        config: false,
                    });
                }
                (Some(src), Some(_)) => {
                    return Err(self.err(
                        Some(src.span()),
                        "a [[files]] entry has both `src` and `symlink`",
                        "give `src` to install a file, a directory or a glob, or `symlink` to install a link",
                    ))
                }
                (None, None) => {
                    return Err(self.err(
                        Some(f.dest.span()),
                        "a [[files]] entry needs `src` or `symlink`",
                        "e.g. src = \"config/app.conf\", or symlink = \"/opt/app/app\" for a link at dest",
                    ))
                }
            }
        }
        Ok(files)
    }

    /// `[deb]` with its defaults (xz -6, section misc, priority optional, automatic depends).
    fn deb_options(&self, d: Option<&RawDeb>) -> R<pkg_core::plan::DebOptions> {
        Ok(pkg_core::plan::DebOptions {
            compression: self.codec(&d.and_then(|d| d.compression.clone()), Codec::Xz(6))?,
            segments: self.segments(&d.and_then(|d| d.segments.clone()))?,
            depends: d.map(|d| d.depends.clone()).unwrap_or_default(),
            pre_depends: d.map(|d| d.pre_depends.clone()).unwrap_or_default(),
            recommends: d.map(|d| d.recommends.clone()).unwrap_or_default(),
            suggests: d.map(|d| d.suggests.clone()).unwrap_or_default(),
            section: d
                .and_then(|d| d.section.clone())
                .unwrap_or_else(|| "misc".into()),
            priority: d
                .and_then(|d| d.priority.clone())
                .unwrap_or_else(|| "optional".into()),
            lintian_overrides: d.map(|d| d.lintian_overrides.clone()).unwrap_or_default(),
            auto_depends: d.and_then(|d| d.auto_depends).unwrap_or(true),
            shlib_depends: Vec::new(),
        })
    }

    /// `[rpm]` with its defaults (zstd -19, automatic requires).
    fn rpm_options(&self, r: Option<&RawRpm>) -> R<pkg_core::plan::RpmOptions> {
        let signing_key = match r.and_then(|r| r.signing_key.as_ref()) {
            Some(k) => Some(self.path(k)?),
            None => None,
        };
        Ok(pkg_core::plan::RpmOptions {
            compression: self.codec(&r.and_then(|r| r.compression.clone()), Codec::Zstd(19))?,
            segments: self.segments(&r.and_then(|r| r.segments.clone()))?,
            requires: r.map(|r| r.requires.clone()).unwrap_or_default(),
            recommends: r.map(|r| r.recommends.clone()).unwrap_or_default(),
            group: r.and_then(|r| r.group.clone()),
            packager: r.and_then(|r| r.packager.clone()),
            signing_key,
            auto_requires: r.and_then(|r| r.auto_requires).unwrap_or(true),
            shlib_requires: Vec::new(),
        })
    }

    fn arches(&self, list: &Option<Vec<S<String>>>, pkg_span: Range<usize>) -> R<Vec<Arch>> {
        let Some(list) = list else {
            return Ok(Arch::ALL.to_vec());
        };
        if list.is_empty() {
            return Err(self.err(
                Some(pkg_span),
                "package.arches is empty",
                "list at least one of \"amd64\", \"arm64\"",
            ));
        }
        let mut out = BTreeSet::new();
        for a in list {
            let arch = a.get_ref().parse::<Arch>().map_err(|e| {
                self.err(
                    Some(a.span()),
                    e.to_string(),
                    "arches use Debian names: \"amd64\", \"arm64\"",
                )
            })?;
            out.insert(arch);
        }
        Ok(out.into_iter().collect())
    }

    fn formats(&self, list: &Option<Vec<S<String>>>) -> R<Vec<Format>> {
        let Some(list) = list else {
            return Ok(Format::ALL.to_vec());
        };
        let mut out = BTreeSet::new();
        for f in list {
            let fmt = Format::parse(f.get_ref()).ok_or_else(|| {
                let help = match diagnostic::did_you_mean(
                    f.get_ref(),
                    Format::ALL.iter().map(|f| f.as_str()),
                ) {
                    Some(s) => format!("did you mean \"{s}\"? formats are tar, deb, rpm, oci"),
                    None => "formats are \"tar\", \"deb\", \"rpm\", \"oci\"".to_string(),
                };
                self.err(
                    Some(f.span()),
                    format!("unknown format `{}`", f.get_ref()),
                    help,
                )
            })?;
            out.insert(fmt);
        }
        Ok(out.into_iter().collect())
    }

    fn changelog(
        &self,
        list: &[S<RawChangelog>],
        version: &PackageVersion,
        maintainer: &S<String>,
    ) -> R<Vec<ChangelogEntry>> {
        let mut out = Vec::new();
        for c in list {
            let c = c.get_ref();
            let date =
                pkg_core::determinism::parse_utc_date(c.date.get_ref()).ok_or_else(|| {
                    self.err(
                        Some(c.date.span()),
                        format!("`{}` is not a date", c.date.get_ref()),
                        "write dates as \"YYYY-MM-DD\" or \"YYYY-MM-DDTHH:MM:SSZ\" (UTC)",
                    )
                })?;
            if c.version.get_ref().trim().is_empty()
                || c.version.get_ref().contains(char::is_whitespace)
            {
                return Err(self.err(
                    Some(c.version.span()),
                    "changelog version must be one word",
                    "e.g. version = \"1.0.0-1\"",
                ));
            }
            if c.changes.is_empty() {
                return Err(self.err(
                    Some(c.version.span()),
                    "changelog entry has no changes",
                    "list at least one change",
                ));
            }
            out.push(ChangelogEntry {
                version: c.version.get_ref().clone(),
                date,
                author: c
                    .author
                    .clone()
                    .unwrap_or_else(|| maintainer.get_ref().clone()),
                changes: c.changes.clone(),
            });
        }
        out.sort_by_key(|c| std::cmp::Reverse(c.date));
        if out.is_empty() {
            // A package always has a changelog (lintian requires one): synthesize the current entry.
            out.push(ChangelogEntry {
                version: version.file_version(),
                date: 0,
                author: maintainer.get_ref().clone(),
                changes: vec![format!("Release {}.", version.upstream)],
            });
        }
        Ok(out)
    }

    fn service(&self, s: S<RawService>) -> R<ServiceSpec> {
        let s = s.into_inner();
        let enable = s.enable.unwrap_or(true);
        let start = s.start.unwrap_or(true);
        let restart = s.restart_after_upgrade.unwrap_or(true);
        let unit_path = self.existing_file(&s.unit, "unit")?;
        let mut units = vec![self.unit(&s.unit, unit_path, enable, start, restart)?];
        for u in &s.extra_units {
            let u = u.get_ref();
            let p = self.existing_file(&u.path, "unit")?;
            units.push(self.unit(
                &u.path,
                p,
                u.enable.unwrap_or(enable),
                u.start.unwrap_or(start),
                u.restart_after_upgrade.unwrap_or(restart),
            )?);
        }
        let mut seen = BTreeSet::new();
        for u in &units {
            if !seen.insert(u.name.clone()) {
                return Err(self.err(
                    Some(s.unit.span()),
                    format!("unit `{}` is listed twice", u.name),
                    "give each unit once",
                ));
            }
        }
        for n in std::iter::once(&s.user).chain(s.group.iter()) {
            let v = n.get_ref();
            if !fields::is_account_name(v) || v == "root" {
                return Err(self.err(Some(n.span()), format!("`{v}` is not a valid system account name for the service"), "use lowercase letters, digits, `_`, `-` (max 32), not root, e.g. user = \"lucia\""));
            }
        }
        let user = s.user.get_ref().clone();
        let group = s
            .group
            .as_ref()
            .map(|g| g.get_ref().clone())
            .unwrap_or_else(|| user.clone());
        let mut state_dirs = Vec::new();
        for d in &s.state_dirs {
            state_dirs.push(self.install_path(d)?);
            self.not_a_system_dir(d, "service.state-dirs")?;
        }
        // The account's home is its first state dir (created, owned by it); without state dirs
        // /var/lib/<user>, which the plan then creates like a state dir.
        let home = match &s.home {
            Some(h) => {
                let home = self.install_path(h)?;
                if home != NO_HOME {
                    self.not_a_system_dir(h, "service.home")?;
                }
                home
            }
            None => state_dirs
                .first()
                .cloned()
                .unwrap_or_else(|| format!("/var/lib/{user}")),
        };
        let state_dir_mode = s
            .state_dir_mode
            .as_ref()
            .map(|m| self.mode(m))
            .transpose()?
            .unwrap_or(0o750);
        let env = match &s.env {
            None => None,
            Some(e) => {
                let e = e.get_ref();
                let mode = e
                    .mode
                    .as_ref()
                    .map(|m| self.mode(m))
                    .transpose()?
                    .unwrap_or(0o640);
                if mode & 0o007 != 0 {
                    let span = e.mode.as_ref().map(|m| m.span());
                    return Err(self.err(
                        span,
                        format!("env file mode {mode:04o} is readable or writable by others"),
                        "the env file may hold secrets: use \"0640\" (root:<group>) or \"0600\"",
                    ));
                }
                Some(EnvSpec {
                    template: self.existing_file(&e.template, "env template")?,
                    path: self.install_path(&e.path)?,
                    mode,
                })
            }
        };
        let scripts = match &s.scripts {
            None => ScriptSpec::default(),
            Some(sc) => ScriptSpec {
                pre_install: sc
                    .pre_install
                    .as_ref()
                    .map(|p| self.existing_file(p, "script"))
                    .transpose()?,
                post_install: sc
                    .post_install
                    .as_ref()
                    .map(|p| self.existing_file(p, "script"))
                    .transpose()?,
                pre_remove: sc
                    .pre_remove
                    .as_ref()
                    .map(|p| self.existing_file(p, "script"))
                    .transpose()?,
                post_remove: sc
                    .post_remove
                    .as_ref()
                    .map(|p| self.existing_file(p, "script"))
                    .transpose()?,
            },
        };
        // The units run as the account the package creates (located in the unit file).
        let acct = unit_check::Account {
            user: &user,
            group: &group,
            uid: s.uid,
            gid: s.gid,
        };
        for (i, u) in units.iter().enumerate() {
            let text = std::fs::read_to_string(&u.path).map_err(|e| {
                Box::new(
                    Diagnostic::new(
                        &u.path,
                        "",
                        None,
                        format!("cannot read the unit as UTF-8 text: {e}"),
                    )
                    .help("systemd unit files are UTF-8 text"),
                )
            })?;
            let unit = unit_check::UnitFile::parse(&u.path, &u.name, &text);
            unit_check::check_accounts(&unit, acct, i == 0)?;
        }
        Ok(ServiceSpec {
            units,
            description: s
                .description
                .unwrap_or_else(|| format!("{user} service account")),
            user,
            group,
            home,
            shell: s.shell.unwrap_or_else(|| "/usr/sbin/nologin".into()),
            uid: s.uid,
            gid: s.gid,
            state_dirs,
            state_dir_mode,
            purge_state: s.purge_state.unwrap_or(false),
            env,
            scripts,
        })
    }

    /// Refuses a directory the package would create and chown to the service account when it is
    /// a directory the system itself owns (`/var/lib`, `/home`…): tmpfiles.d and the scripts
    /// would hand it to the service user.
    fn not_a_system_dir(&self, d: &S<String>, key: &str) -> R<()> {
        const SYSTEM: &[&str] = &[
            "/",
            "/bin",
            "/boot",
            "/dev",
            "/etc",
            "/home",
            "/lib",
            "/lib64",
            "/media",
            "/mnt",
            "/opt",
            "/proc",
            "/root",
            "/run",
            "/sbin",
            "/srv",
            "/sys",
            "/tmp",
            "/usr",
            "/var",
            "/usr/bin",
            "/usr/lib",
            "/usr/lib64",
            "/usr/libexec",
            "/usr/local",
            "/usr/sbin",
            "/usr/share",
            "/var/cache",
            "/var/lib",
            "/var/local",
            "/var/log",
            "/var/mail",
            "/var/opt",
            "/var/run",
            "/var/spool",
            "/var/tmp",
            "/nonexistent",
        ];
        let v = d.get_ref().as_str();
        if SYSTEM.contains(&v) {
            return Err(self.err(
                Some(d.span()),
                format!("{key} `{v}` is a system directory: the package would hand it to the service account"),
                "give the service its own directory, e.g. /var/lib/<name>",
            ));
        }
        Ok(())
    }

    fn unit(
        &self,
        span_of: &S<String>,
        path: PathBuf,
        enable: bool,
        start: bool,
        restart: bool,
    ) -> R<UnitSpec> {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_string();
        let valid_suffix = [
            ".service", ".socket", ".timer", ".path", ".target", ".mount",
        ]
        .iter()
        .any(|s| name.ends_with(s));
        if !valid_suffix || name.contains(char::is_whitespace) {
            return Err(self.err(
                Some(span_of.span()),
                format!("`{name}` is not a systemd unit file name"),
                "name the file after the unit, e.g. lucia.service",
            ));
        }
        Ok(UnitSpec {
            path,
            name,
            enable,
            start,
            restart_after_upgrade: restart,
        })
    }

    fn deploy_files(&self, d: &S<RawDeploy>, formats: &[Format]) -> R<Vec<String>> {
        let mut out = BTreeSet::new();
        for f in &d.get_ref().files {
            if !DEPLOY_FILES.contains(&f.get_ref().as_str()) {
                return Err(self.err(
                    Some(f.span()),
                    format!("unknown deploy file `{}`", f.get_ref().escape_debug()),
                    format!(
                        "deploy.files lists any of {}",
                        DEPLOY_FILES.map(|f| format!("\"{f}\"")).join(", ")
                    ),
                ));
            }
            out.insert(f.get_ref().clone());
        }
        if !out.is_empty() && !formats.contains(&Format::Oci) {
            return Err(self.err(
                Some(d.span()),
                "deploy files pin the image, but package.formats has no \"oci\"",
                "add \"oci\" to package.formats or remove [deploy]",
            ));
        }
        Ok(out.into_iter().collect())
    }

    fn oci(
        &self,
        raw: Option<RawOci>,
        service: &Option<ServiceSpec>,
    ) -> R<pkg_core::plan::OciOptions> {
        let o = raw.unwrap_or(RawOci {
            compression: None,
            segments: None,
            base: None,
            user: None,
            allow_root: None,
            working_dir: None,
            entrypoint: None,
            cmd: vec![],
            env: Default::default(),
            ports: vec![],
            volumes: vec![],
            labels: Default::default(),
            repository: None,
            tags: vec![],
        });
        let base = match &o.base {
            None => None,
            Some(b) => match b.get_ref() {
                RawOciBase::Name(n) if n == "scratch" => None,
                RawOciBase::Name(n) => {
                    return Err(self.err(Some(b.span()), format!("base `{n}` cannot be fetched"), "use base = \"scratch\" or a local OCI layout pinned by digest: base = { path = \"…\", digest = \"sha256:…\" }"));
                }
                RawOciBase::Local { path, digest } => {
                    let hex = digest.strip_prefix("sha256:").unwrap_or("");
                    if hex.len() != 64
                        || !hex
                            .chars()
                            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
                    {
                        return Err(self.err(Some(b.span()), format!("`{digest}` is not a sha256 digest"), "pin the base by its index or manifest digest: \"sha256:<64 lowercase hex>\""));
                    }
                    let p = Path::new(path);
                    Some(OciBase {
                        path: if p.is_absolute() {
                            p.to_path_buf()
                        } else {
                            self.base.join(p)
                        },
                        digest: digest.clone(),
                    })
                }
            },
        };
        let allow_root = o.allow_root.unwrap_or(false);
        let user = match &o.user {
            Some(u) => {
                let v = oci_user(u.get_ref()).map_err(|m| {
                    self.err(
                        Some(u.span()),
                        m,
                        "write \"uid:gid\" in decimal, e.g. user = \"1100:1100\"",
                    )
                })?;
                if v.is_root() && !allow_root {
                    return Err(self.err(
                        Some(u.span()),
                        format!("the image would run as root (`{}`)", u.get_ref()),
                        "run as an unprivileged uid:gid, e.g. \"1100:1100\", or set oci.allow-root = true if the image really needs root",
                    ));
                }
                v.render()
            }
            None => {
                // The service's fixed ids when it has them, else one documented unprivileged
                // default (65532, as distroless images use): never a host's first human user
                // (1000) and never the shared `nobody` (65534).
                let (uid, gid) = match service {
                    Some(s) => match s.uid {
                        Some(uid) => (uid, s.gid.unwrap_or(uid)),
                        None => (DEFAULT_OCI_ID, s.gid.unwrap_or(DEFAULT_OCI_ID)),
                    },
                    None => (DEFAULT_OCI_ID, DEFAULT_OCI_ID),
                };
                if uid == 0 && !allow_root {
                    return Err(self.err(
                        None,
                        "service.uid = 0 would make the image run as root",
                        "give the service an unprivileged uid, or set oci.user (or oci.allow-root = true if the image really needs root)",
                    ));
                }
                format!("{uid}:{gid}")
            }
        };
        for p in &o.ports {
            let v = p.get_ref();
            let (num, proto) = v.split_once('/').unwrap_or((v.as_str(), "tcp"));
            if num.parse::<u16>().map(|n| n == 0).unwrap_or(true) || !matches!(proto, "tcp" | "udp")
            {
                return Err(self.err(
                    Some(p.span()),
                    format!("`{v}` is not a port"),
                    "write ports as \"8080/tcp\" or \"10400/udp\"",
                ));
            }
        }
        if let Some(r) = &o.repository {
            let host = r.get_ref().split('/').next().unwrap_or("");
            if host.contains('@') || r.get_ref().contains("://") {
                let mut d = self.err(
                    Some(r.span()),
                    "oci.repository must not carry a scheme or credentials (the value is not shown)",
                    "write [registry-host[:port]/]path, e.g. repository = \"ghcr.io/example/app\"; push reads credentials from LUCIA_PKG_REGISTRY_USER/PASSWORD",
                );
                d.redact();
                return Err(d);
            }
            if !is_repository(r.get_ref()) {
                return Err(self.err(
                    Some(r.span()),
                    format!("`{}` is not an image repository", r.get_ref().escape_debug()),
                    "write [registry-host[:port]/]path in lowercase without a tag, digest or credentials, e.g. repository = \"ghcr.io/example/app\"",
                ));
            }
        }
        for t in &o.tags {
            if !pkg_core::version::valid_oci_tag(t.get_ref()) {
                return Err(self.err(
                    Some(t.span()),
                    format!("`{}` is not an image tag", t.get_ref().escape_debug()),
                    "tags are 1-128 characters of letters, digits, `_`, `.` and `-`, not starting with `.` or `-`",
                ));
            }
        }
        for (table, map) in [("env", &o.env), ("labels", &o.labels)] {
            for (k, v) in map {
                if looks_like_secret(k, v.get_ref()) {
                    let mut d = self.err(
                        Some(v.span()),
                        format!("[oci] {table} `{k}` looks like a secret (the value is not shown)"),
                        "never bake secrets into an image: pass them at run time (docker run -e, a Kubernetes Secret)",
                    );
                    d.redact();
                    return Err(d);
                }
            }
        }
        Ok(pkg_core::plan::OciOptions {
            layer_compression: self.codec(&o.compression, Codec::Gzip(6))?,
            layer_segments: self.segments(&o.segments)?,
            base,
            user,
            working_dir: o.working_dir,
            entrypoint: o.entrypoint.unwrap_or_default(),
            cmd: o.cmd,
            env: o
                .env
                .into_iter()
                .map(|(k, v)| (k, v.into_inner()))
                .collect(),
            exposed_ports: o
                .ports
                .into_iter()
                .map(|p| {
                    let v = p.into_inner();
                    if v.contains('/') {
                        v
                    } else {
                        format!("{v}/tcp")
                    }
                })
                .collect(),
            volumes: o.volumes,
            labels: o
                .labels
                .into_iter()
                .map(|(k, v)| (k, v.into_inner()))
                .collect(),
            repository: o.repository.map(|r| r.into_inner()),
            tags: o.tags.into_iter().map(|t| t.into_inner()).collect(),
            deploy: Vec::new(),
        })
    }
}

pub use secrets::looks_like_secret;

/// What `[deploy] files` may list.
pub const DEPLOY_FILES: [&str; 3] = ["compose", "helm", "kustomize"];

/// The conventional home of an account that has none (Debian policy 9.2.1): never created.
pub const NO_HOME: &str = "/nonexistent";

/// The image user when the manifest names none and the service has no fixed uid.
pub const DEFAULT_OCI_ID: u32 = 65532;

/// One side of `oci.user`: a decimal id or an account name.
#[derive(Debug, Clone, PartialEq, Eq)]
enum OciId {
    Num(u32),
    Name(String),
}

/// A parsed `oci.user`: `user` or `user:group`, each a decimal id (leading zeros allowed and
/// dropped, so `"0000"` is recognized as root) or a POSIX account name.
#[derive(Debug, Clone, PartialEq, Eq)]
struct OciUser {
    user: OciId,
    group: Option<OciId>,
}

impl OciUser {
    fn is_root(&self) -> bool {
        matches!(&self.user, OciId::Num(0)) || matches!(&self.user, OciId::Name(n) if n == "root")
    }

    /// The canonical form written into the image config.
    fn render(&self) -> String {
        let one = |i: &OciId| match i {
            OciId::Num(n) => n.to_string(),
            OciId::Name(n) => n.clone(),
        };
        match &self.group {
            Some(g) => format!("{}:{}", one(&self.user), one(g)),
            None => one(&self.user),
        }
    }
}

/// An image repository: an optional registry host (with a `.` or `:`, or `localhost`) and
/// lowercase path components `[a-z0-9]+([._-]+[a-z0-9]+)*` (distribution spec). No tag, digest,
/// scheme or credentials: this name ends up in deploy files and in push's requests.
pub fn is_repository(r: &str) -> bool {
    let component = |c: &str| {
        !c.is_empty()
            && c.starts_with(|ch: char| ch.is_ascii_lowercase() || ch.is_ascii_digit())
            && c.ends_with(|ch: char| ch.is_ascii_lowercase() || ch.is_ascii_digit())
            && c.chars()
                .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || "._-".contains(ch))
    };
    if r.len() > 255 {
        return false;
    }
    let mut parts: Vec<&str> = r.split('/').collect();
    if parts.len() > 1 {
        let host = parts[0];
        if host.contains('.') || host.contains(':') || host == "localhost" {
            let (name, port) = host.split_once(':').unwrap_or((host, ""));
            let host_ok = !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
                && (port.is_empty() || port.parse::<u16>().is_ok());
            if !host_ok || host.contains(':') && port.is_empty() {
                return false;
            }
            parts.remove(0);
        }
    }
    !parts.is_empty() && parts.iter().all(|c| component(c))
}

fn oci_user(v: &str) -> Result<OciUser, String> {
    let id = |p: &str| -> Result<OciId, String> {
        if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) {
            // `parse` accepts leading zeros: "0000" is 0, i.e. root.
            let n = p
                .parse::<u32>()
                .map_err(|_| format!("`{p}` is out of range for a uid/gid"))?;
            return Ok(OciId::Num(n));
        }
        if fields::is_account_name(p) {
            Ok(OciId::Name(p.to_string()))
        } else {
            Err(format!("`{}` is not a container user", v.escape_debug()))
        }
    };
    let mut parts = v.split(':');
    let user = id(parts.next().unwrap_or(""))?;
    let group = parts.next().map(id).transpose()?;
    if parts.next().is_some() {
        return Err(format!("`{}` is not a container user", v.escape_debug()));
    }
    Ok(OciUser { user, group })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// docs/manifest.md documents every key the parser accepts, as `table.key`.
    #[test]
    fn every_key_is_documented() {
        let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/manifest.md"))
            .unwrap();
        let tables = &schema::TABLES[1..];
        // The key reference names keys as a user writes them, not by the schema's internal
        // table names.
        fn written(t: &str) -> &str {
            match t {
                "changelog" => "package.changelog",
                "arch-payload" => "payload.<arch>",
                "builder" => "payload.<arch>.builder",
                "unit" => "service.extra-units",
                "env" => "service.env",
                "scripts" => "service.scripts",
                t => t,
            }
        }
        let mut missing = Vec::new();
        for table in tables {
            let t = written(table);
            for k in schema::known_keys(table) {
                if !doc.contains(&format!("`{t}.{k}`"))
                    && !doc.contains(&format!("`{t}.{k},"))
                    && !doc.contains(&format!(", `{t}.{k}`"))
                {
                    missing.push(format!("{t}.{k}"));
                }
            }
        }
        assert!(missing.is_empty(), "docs/manifest.md lacks: {missing:?}");
    }

    #[test]
    fn the_example_manifest_is_valid() {
        let path = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/packaging/lucia.toml"));
        let spec = load(path).unwrap();
        assert_eq!(spec.meta.name, "lucia");
        assert_eq!(spec.arches, vec![Arch::Amd64, Arch::Arm64]);
        assert_eq!(spec.formats, Format::ALL.to_vec());
    }
}
