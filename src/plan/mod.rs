//! Validation's second half: the [`Spec`] plus the payload on disk become one [`Plan`] per arch —
//! a sorted tree of entries with explicit modes, owners and content hashes, the service intent and
//! the per-format options. Every format writer consumes only this.

pub mod elf;
pub mod fingerprint;
pub mod installable;
pub mod payload;
pub mod shlibs;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use pkg_core::determinism::FILE_MODE;
use pkg_core::lifecycle::{
    self, EnvFile, ManagedDir, ServiceIntent, Snippets, SystemUser, UnitIntent,
};
use pkg_core::plan::{Content, Entry, EntryKind, FormatOptions, Layer, Owner, Plan};
use pkg_core::Arch;

use crate::manifest::unit_check::{self, Installed};
use crate::manifest::Spec;

/// A problem with the payload or another input file (exit code 2).
#[derive(Debug, Clone)]
pub struct PlanError {
    pub path: PathBuf,
    pub message: String,
    pub help: Option<String>,
}

impl PlanError {
    pub fn new(path: &Path, message: impl Into<String>) -> Self {
        PlanError {
            path: path.to_path_buf(),
            message: message.into(),
            help: None,
        }
    }
    pub fn help(mut self, h: impl Into<String>) -> Self {
        self.help = Some(h.into());
        self
    }
}

/// Control characters in a payload file name (refused, but named in the refusal) or in a value
/// quoted by a message are shown escaped (`\n`, `\t`, `\u{1b}`), as `ls -b` does, so that a
/// hostile name cannot move the cursor, recolour the terminal or forge a line of output.
pub fn escape_controls(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

impl fmt::Display for PlanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {}",
            escape_controls(&self.path.display().to_string()),
            escape_controls(&self.message)
        )?;
        if let Some(h) = &self.help {
            write!(f, "\n  help: {}", escape_controls(h))?;
        }
        Ok(())
    }
}

pub const UNIT_DIR: &str = "/usr/lib/systemd/system";
pub const SYSUSERS_DIR: &str = "/usr/lib/sysusers.d";
pub const TMPFILES_DIR: &str = "/usr/lib/tmpfiles.d";

/// Directories every system already has: listed in tar-based archives, never owned by a package.
const SYSTEM_DIRS: &[&str] = &[
    "/etc",
    "/etc/default",
    "/etc/systemd",
    "/etc/systemd/system",
    "/lib",
    "/opt",
    "/srv",
    "/usr",
    "/usr/bin",
    "/usr/lib",
    "/usr/lib/systemd",
    "/usr/lib/systemd/system",
    "/usr/lib/sysusers.d",
    "/usr/lib/tmpfiles.d",
    "/usr/libexec",
    "/usr/local",
    "/usr/local/bin",
    "/usr/local/lib",
    "/usr/sbin",
    "/usr/share",
    "/usr/share/doc",
    "/usr/share/man",
    "/usr/share/lintian",
    "/usr/share/lintian/overrides",
    "/var",
    "/var/lib",
    "/var/log",
    "/var/cache",
];

fn inline_file(
    path: &str,
    bytes: Vec<u8>,
    mode: u32,
    owner: Owner,
    config: bool,
    layer: Layer,
) -> Entry {
    Entry {
        mode,
        owner,
        config,
        layer,
        ..Entry::inline_file(path, bytes)
    }
}

fn add(entries: &mut BTreeMap<String, Entry>, e: Entry, src: &Path) -> Result<(), PlanError> {
    if let Some(prev) = entries.get(&e.path) {
        if !(prev.is_dir() && e.is_dir()) {
            return Err(PlanError::new(src, format!("two entries install to {}", e.path))
                .help("every destination must be unique: remove one of them from the payload or [[files]]"));
        }
    }
    entries.insert(e.path.clone(), e);
    Ok(())
}

/// Refuses a config text (the env template, a `[[files]]` entry under /etc) that carries something
/// that looks like a real credential: it ships to every user of the package, into the image and
/// into build logs. The error names the file, line and key, never the value.
fn check_no_secrets(path: &Path, bytes: &[u8]) -> Result<(), PlanError> {
    match crate::manifest::secrets::scan_text(bytes) {
        Some(f) => Err(PlanError::new(path, format!("line {}: `{}` looks like a real secret (the value is not shown)", f.line, f.key))
            .help("ship the file with an empty value or a placeholder such as <your-token>; set the real value on the installed system")),
        None => Ok(()),
    }
}

fn read(path: &Path) -> Result<Vec<u8>, PlanError> {
    std::fs::read(path).map_err(|e| PlanError::new(path, format!("cannot read: {e}")))
}

fn read_text(path: &Path) -> Result<String, PlanError> {
    String::from_utf8(read(path)?)
        .map_err(|_| PlanError::new(path, "not valid UTF-8 text").help("save the file as UTF-8"))
}

/// Why a plan cannot be built: a payload or input problem, or a located problem in a unit file.
#[derive(Debug, Clone)]
pub enum BuildError {
    Plan(PlanError),
    Unit(Box<crate::manifest::Diagnostic>),
}

impl From<PlanError> for BuildError {
    fn from(e: PlanError) -> Self {
        BuildError::Plan(e)
    }
}

impl From<BuildError> for crate::error::AppError {
    fn from(e: BuildError) -> Self {
        match e {
            BuildError::Plan(p) => crate::error::AppError::Plan(p),
            BuildError::Unit(d) => crate::error::AppError::Manifest(d),
        }
    }
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildError::Plan(p) => p.fmt(f),
            BuildError::Unit(d) => d.fmt(f),
        }
    }
}

/// What the plan installs at `path` for running it: symlinks are followed inside the plan (the
/// payload scan already keeps them inside the payload).
fn installed(entries: &BTreeMap<String, Entry>, path: &str) -> Installed {
    let mut path = path.to_string();
    for _ in 0..32 {
        match entries.get(&path) {
            None => return Installed::Missing,
            Some(e) => match &e.kind {
                EntryKind::Dir => return Installed::Directory,
                EntryKind::File { .. } if e.mode & 0o111 != 0 => return Installed::Executable,
                EntryKind::File { .. } => return Installed::NotExecutable(e.mode),
                EntryKind::Symlink { target } => {
                    let joined = if target.starts_with('/') {
                        target.clone()
                    } else {
                        let parent = path.rsplit_once('/').map_or("", |(p, _)| p);
                        format!("{parent}/{target}")
                    };
                    let mut parts: Vec<&str> = Vec::new();
                    for c in joined.split('/') {
                        match c {
                            "" | "." => {}
                            ".." => {
                                parts.pop();
                            }
                            c => parts.push(c),
                        }
                    }
                    path = format!("/{}", parts.join("/"));
                }
            },
        }
    }
    Installed::Missing
}

/// Builds the plan for one architecture. `payload_root` is where that arch's payload lives (the
/// manifest path, or a builder's cached output). `known` holds file digests already computed in
/// this build (the payload's NAR hashing pass), so each payload file is read and hashed once.
pub fn build(
    spec: &Spec,
    arch: Arch,
    payload_root: &Path,
    source_date: u64,
    known: &payload::KnownDigests,
) -> Result<Plan, BuildError> {
    let mut entries: BTreeMap<String, Entry> = BTreeMap::new();

    for e in payload::scan(
        payload_root,
        &spec.install_dir,
        arch,
        &spec.allow_special_modes,
        known,
    )? {
        add(&mut entries, e, payload_root)?;
    }
    let entry_path = check_entrypoint(spec, &entries, payload_root)?;
    let service = service(spec, &mut entries)?;
    add_files(spec, &mut entries)?;
    add_parent_dirs(spec, &mut entries);
    check_units(spec, &entries)?;
    let mut entries: Vec<Entry> = entries.into_values().collect();
    entries.sort_by(|a, b| a.path.as_bytes().cmp(b.path.as_bytes()));
    installable::check(&entries, &spec.formats, &spec.manifest_path)?;

    // A changelog entry without a date (the synthesized one) is dated at the source date.
    let mut meta = spec.meta.clone();
    for c in &mut meta.changelog {
        if c.date == 0 {
            c.date = source_date;
        }
    }
    // Shared-library dependencies of this arch's ELF files, for the formats that declare them.
    let mut deb = spec.deb.clone();
    let mut rpm = spec.rpm.clone();
    let wants_deb = deb.auto_depends && spec.formats.contains(&crate::manifest::Format::Deb);
    let wants_rpm = rpm.auto_requires && spec.formats.contains(&crate::manifest::Format::Rpm);
    if wants_deb || wants_rpm {
        let files: Vec<&Entry> = entries.iter().collect();
        let libs = shlibs::scan(&files).map_err(|e| {
            PlanError::new(
                payload_root,
                format!("reading the ELF files' dependencies: {e}"),
            )
        })?;
        if wants_deb {
            deb.shlib_depends = libs.deb_libc6.into_iter().collect();
        }
        if wants_rpm {
            rpm.shlib_requires = libs.rpm_requires;
        }
    }
    let mut oci = spec.oci.clone();
    if oci.entrypoint.is_empty() {
        oci.entrypoint = vec![entry_path.clone()];
    }
    if !oci.env.iter().any(|(k, _)| k == "PATH") {
        oci.env.push((
            "PATH".into(),
            format!(
                "{}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                spec.install_dir
            ),
        ));
    }
    oci.env.sort();
    oci.labels.sort();
    Ok(Plan {
        meta,
        arch,
        source_date,
        entries,
        service,
        formats: FormatOptions {
            deb,
            rpm,
            tar: spec.tar.clone(),
            oci,
        },
        install_dir: spec.install_dir.clone(),
    })
}

/// The payload's entrypoint, `install-dir/entrypoint`: it must be an executable file there.
fn check_entrypoint(
    spec: &Spec,
    entries: &BTreeMap<String, Entry>,
    payload_root: &Path,
) -> Result<String, BuildError> {
    let entry_path = format!("{}/{}", spec.install_dir, spec.entrypoint);
    let entrypoint = payload_root.join(&spec.entrypoint);
    let ok = matches!(entries.get(&entry_path), Some(Entry { kind: EntryKind::File { .. }, mode, .. }) if mode & 0o111 != 0);
    if !ok {
        return Err(PlanError::new(
            &entrypoint,
            "the entrypoint is missing from the payload or not an executable file",
        )
        .help("fix [payload] entrypoint (relative to install-dir) or the payload's file mode")
        .into());
    }
    Ok(entry_path)
}

/// The service's files (units, sysusers.d, tmpfiles.d, env template) added to `entries`, and
/// its lifecycle intent; `None` without a `[service]`.
fn service(
    spec: &Spec,
    entries: &mut BTreeMap<String, Entry>,
) -> Result<Option<ServiceIntent>, BuildError> {
    let Some(s) = &spec.service else {
        return Ok(None);
    };
    let group_gid = s.gid.or(s.uid).unwrap_or(0) as u64;
    for u in &s.units {
        add(
            entries,
            inline_file(
                &format!("{UNIT_DIR}/{}", u.name),
                read(&u.path)?,
                FILE_MODE,
                Owner::root(),
                false,
                Layer::Config,
            ),
            &u.path,
        )?;
    }
    let user = SystemUser {
        name: s.user.clone(),
        group: s.group.clone(),
        home: s.home.clone(),
        shell: s.shell.clone(),
        gecos: s.description.clone(),
    };
    let sysusers_path = format!("{SYSUSERS_DIR}/{}.conf", spec.meta.name);
    let tmpfiles_path = format!("{TMPFILES_DIR}/{}.conf", spec.meta.name);
    // The account's home is created like a state dir when it is not one (and not the
    // conventional "no home"), so the service never runs with a missing home.
    let home_dir =
        (!s.state_dirs.contains(&s.home) && s.home != crate::manifest::NO_HOME).then_some(&s.home);
    let dirs: Vec<ManagedDir> = s
        .state_dirs
        .iter()
        .chain(home_dir)
        .map(|d| ManagedDir {
            path: d.clone(),
            mode: s.state_dir_mode,
            user: s.user.clone(),
            group: s.group.clone(),
            remove_on_purge: s.purge_state,
        })
        .collect();
    let manifest = &spec.manifest_path;
    add(
        entries,
        inline_file(
            &sysusers_path,
            lifecycle::sysusers_conf(&user)
                .map_err(|e| PlanError::new(manifest, e.to_string()))?
                .into_bytes(),
            FILE_MODE,
            Owner::root(),
            false,
            Layer::Config,
        ),
        manifest,
    )?;
    if !dirs.is_empty() {
        add(
            entries,
            inline_file(
                &tmpfiles_path,
                lifecycle::tmpfiles_conf(&dirs)
                    .map_err(|e| PlanError::new(manifest, e.to_string()))?
                    .into_bytes(),
                FILE_MODE,
                Owner::root(),
                false,
                Layer::Config,
            ),
            manifest,
        )?;
    }
    let env_file = match &s.env {
        None => None,
        Some(env) => {
            let owner = Owner {
                user: "root".into(),
                group: s.group.clone(),
                uid: 0,
                gid: group_gid,
            };
            let template = read(&env.template)?;
            check_no_secrets(&env.template, &template)?;
            add(
                entries,
                inline_file(&env.path, template, env.mode, owner, true, Layer::Config),
                &env.template,
            )?;
            Some(EnvFile {
                path: env.path.clone(),
                mode: env.mode,
                user: "root".into(),
                group: s.group.clone(),
            })
        }
    };
    let snippet = |p: &Option<PathBuf>| -> Result<Option<String>, PlanError> {
        p.as_deref().map(read_text).transpose()
    };
    Ok(Some(ServiceIntent {
        user: Some(user),
        dirs,
        units: s
            .units
            .iter()
            .map(|u| UnitIntent {
                name: u.name.clone(),
                enable: u.enable,
                start: u.start,
                restart_after_upgrade: u.restart_after_upgrade,
            })
            .collect(),
        env_file,
        sysusers_path,
        tmpfiles_path,
        unit_dir: UNIT_DIR.into(),
        snippets: Snippets {
            pre_install: snippet(&s.scripts.pre_install)?,
            post_install: snippet(&s.scripts.post_install)?,
            pre_remove: snippet(&s.scripts.pre_remove)?,
            post_remove: snippet(&s.scripts.post_remove)?,
        },
    }))
}

/// The manifest's `[[files]]`: symlinks, and files streamed from disk like payload files.
fn add_files(spec: &Spec, entries: &mut BTreeMap<String, Entry>) -> Result<(), BuildError> {
    for f in &spec.files {
        let manifest = &spec.manifest_path;
        let Some(src) = f.src() else {
            if let crate::manifest::FileSource::Symlink(target) = &f.source {
                let e = Entry {
                    path: f.dest.clone(),
                    kind: EntryKind::Symlink {
                        target: target.clone(),
                    },
                    mode: pkg_core::determinism::SYMLINK_MODE,
                    owner: Owner::root(),
                    config: false,
                    owned: true,
                    layer: Layer::Config,
                };
                add(entries, e, manifest)?;
            }
            continue;
        };
        // Refused at its location by the manifest validator when world-writable or setuid.
        let mode = f.mode.unwrap_or(FILE_MODE);
        let owner = match &f.owner {
            Some((u, g)) => Owner {
                user: u.clone(),
                group: g.clone(),
                uid: 0,
                gid: 0,
            },
            None => Owner::root(),
        };
        // Streamed from disk like payload files (a tree may hold large files); config files
        // under /etc are scanned for secrets by `installable::check`, naming this source.
        let (sha256, size) = pkg_core::digest::sha256_file(src)
            .map_err(|e| PlanError::new(src, format!("cannot read: {e}")))?;
        add(
            entries,
            Entry {
                path: f.dest.clone(),
                kind: EntryKind::File {
                    content: Content::Disk(src.to_path_buf()),
                    size,
                    sha256,
                },
                mode,
                owner,
                config: f.config || f.dest.starts_with("/etc/"),
                owned: true,
                layer: Layer::Config,
            },
            src,
        )?;
    }
    Ok(())
}

/// Parent directories: listed explicitly (tar-based formats carry them); the package owns only
/// those that are not standard system directories.
fn add_parent_dirs(spec: &Spec, entries: &mut BTreeMap<String, Entry>) {
    let paths: Vec<String> = entries.keys().cloned().collect();
    for p in paths {
        for anc in pkg_core::tar_stream::ancestors(&p) {
            if entries.contains_key(&anc) {
                continue;
            }
            let layer =
                if anc == spec.install_dir || anc.starts_with(&format!("{}/", spec.install_dir)) {
                    Layer::App
                } else {
                    Layer::Config
                };
            let owned = !SYSTEM_DIRS.contains(&anc.as_str());
            entries.insert(
                anc.clone(),
                Entry {
                    owned,
                    layer,
                    ..Entry::dir(anc)
                },
            );
        }
    }
}

/// Every unit's programs against what this arch's package installs (located in the unit).
fn check_units(spec: &Spec, entries: &BTreeMap<String, Entry>) -> Result<(), BuildError> {
    if let Some(s) = &spec.service {
        let candidates: Vec<&str> = entries
            .values()
            .filter(|e| !e.is_dir() && installed(entries, &e.path) == Installed::Executable)
            .map(|e| e.path.as_str())
            .collect();
        for u in &s.units {
            let text = read_text(&u.path)?;
            let unit = unit_check::UnitFile::parse(&u.path, &u.name, &text);
            unit_check::check_exec(
                &unit,
                &spec.install_dir,
                &|p| installed(entries, p),
                &candidates,
            )
            .map_err(BuildError::Unit)?;
        }
    }
    Ok(())
}
