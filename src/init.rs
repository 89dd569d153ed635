//! `lucia-pkg init`: a commented manifest, a hardened unit and an env template for a service,
//! scaffolded from its build output, so that `init` then `build` packages it in two commands.
//!
//! What is detected from the payload directories (never guessed silently — the manifest says
//! what was found and where to change it):
//! - the architecture of each payload, from its ELF files' machine (a payload with no ELF file,
//!   e.g. a script or JVM service, is architecture-independent and serves every arch);
//! - the entrypoint: an executable at the payload's top level, ELF first, preferring one named
//!   like the service;
//! - the package name (from `--name`, else the entrypoint's file name).
//!
//! Nothing is overwritten unless `--force`; the text written is a pure function of the options
//! and the payloads' file names and headers.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};

use pkg_core::Arch;

use crate::error::AppError;
use crate::plan::elf::elf_machine;

/// The manifest file name `init` writes and `build` looks for when `-m` is not given.
pub const MANIFEST_NAME: &str = "lucia-pkg.toml";

pub struct InitOptions {
    /// Project directory: the manifest, unit and env template are written here.
    pub dir: PathBuf,
    /// Payload directories (publish outputs), one per architecture or one for all.
    pub payloads: Vec<PathBuf>,
    pub name: Option<String>,
    pub version: String,
    pub force: bool,
}

#[derive(Debug, serde::Serialize)]
pub struct InitReport {
    pub name: String,
    pub files: Vec<String>,
    pub arches: BTreeMap<String, String>,
    pub entrypoint: String,
}

/// A payload directory and what was found in it.
struct Found {
    rel: String,
    arch: Option<Arch>,
    executables: Vec<(String, bool)>,
}

fn input(msg: impl Into<String>) -> AppError {
    AppError::Input(msg.into())
}

/// `target` relative to `base` (both made absolute lexically against the working directory).
fn relative_to(target: &Path, base: &Path) -> Result<String, AppError> {
    let cwd = std::env::current_dir().map_err(|e| input(format!("no working directory: {e}")))?;
    let abs = |p: &Path| -> PathBuf {
        let mut out = PathBuf::new();
        for c in cwd.join(p).components() {
            match c {
                Component::ParentDir => {
                    out.pop();
                }
                Component::CurDir => {}
                c => out.push(c),
            }
        }
        out
    };
    let (t, b) = (abs(target), abs(base));
    let tc: Vec<_> = t.components().collect();
    let bc: Vec<_> = b.components().collect();
    let common = tc.iter().zip(&bc).take_while(|(a, b)| a == b).count();
    let mut rel = PathBuf::new();
    for _ in common..bc.len() {
        rel.push("..");
    }
    for c in &tc[common..] {
        rel.push(c.as_os_str());
    }
    let s = rel
        .to_str()
        .ok_or_else(|| input(format!("{}: path is not UTF-8", target.display())))?
        .to_string();
    Ok(if s.is_empty() { ".".into() } else { s })
}

/// Reads one payload directory's top level and ELF headers (files are not read further).
fn examine(dir: &Path, project: &Path) -> Result<Found, AppError> {
    let md = fs::metadata(dir).map_err(|e| input(format!("{}: {e}", dir.display())))?;
    if !md.is_dir() {
        return Err(input(format!(
            "{}: --payload must be a directory (the output of your build, e.g. `dotnet publish -o`, `cargo install --root`, `go build -o`)",
            dir.display()
        )));
    }
    let mut arches = std::collections::BTreeSet::new();
    let mut executables = Vec::new();
    for item in walkdir::WalkDir::new(dir)
        .follow_links(false)
        .sort_by_file_name()
    {
        let item = item.map_err(|e| input(format!("{}: {e}", dir.display())))?;
        if !item.file_type().is_file() {
            continue;
        }
        let machine = elf_machine(item.path())
            .map_err(|e| input(format!("{}: {e}", item.path().display())))?;
        if let Some(m) = machine {
            match Arch::from_elf_machine(m) {
                Some(a) => {
                    arches.insert(a);
                }
                None => {
                    return Err(input(format!(
                    "{}: ELF file for {}, which lucia-pkg does not package (amd64 and arm64 only)",
                    item.path().display(),
                    Arch::describe_elf_machine(m)
                )))
                }
            }
        }
        let top = item.depth() == 1;
        let exec = item
            .metadata()
            .map(|m| m.permissions().mode() & 0o111 != 0)
            .unwrap_or(false);
        if top && exec {
            if let Some(n) = item.file_name().to_str() {
                executables.push((n.to_string(), machine.is_some()));
            }
        }
    }
    if arches.len() > 1 {
        return Err(input(format!(
            "{}: holds ELF files for both amd64 and arm64; give one --payload per architecture",
            dir.display()
        )));
    }
    Ok(Found {
        rel: relative_to(dir, project)?,
        arch: arches.into_iter().next(),
        executables,
    })
}

/// A package name from a file name: lowercase, runs of other characters become `-`.
fn name_from(file: &str) -> String {
    let stem = file.split('.').next().unwrap_or(file);
    let mut out = String::new();
    for c in stem.chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            out.push(c);
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    let out = out.trim_end_matches('-').to_string();
    if out.len() >= 2 {
        out
    } else {
        format!("{out}-service").trim_start_matches('-').to_string()
    }
}

/// The entrypoint's file name and whether it is an ELF program.
fn pick_entrypoint<'a>(
    found: &'a [Found],
    name: Option<&str>,
) -> Result<(&'a str, bool), AppError> {
    let all: Vec<&(String, bool)> = found.iter().flat_map(|f| &f.executables).collect();
    let named =
        |n: &str| name.is_some_and(|want| name_from(n) == want || n.eq_ignore_ascii_case(want));
    all.iter()
        .find(|(n, elf)| *elf && named(n))
        .or_else(|| all.iter().find(|(n, _)| named(n)))
        .or_else(|| all.iter().find(|(_, elf)| *elf))
        .or_else(|| all.first())
        .map(|(n, elf)| (n.as_str(), *elf))
        .ok_or_else(|| {
            input("no executable file at the top level of the payload: make the service's start program executable (chmod +x) or give the payload directory that contains it")
        })
}

fn unit_text(name: &str, install_dir: &str, entrypoint: &str) -> String {
    format!(
        r#"# {name}.service, scaffolded by `lucia-pkg init`: review ExecStart and the sandbox below.
[Unit]
Description={name}
Wants=network-online.target
After=network-online.target

[Service]
Type=exec
User={name}
Group={name}
# Optional: the package installs it from {name}.env (0640 root:{name}), kept on upgrade.
EnvironmentFile=-/etc/{name}/{name}.env
ExecStart={install_dir}/{entrypoint}
WorkingDirectory=/var/lib/{name}
Restart=on-failure
RestartSec=2s

# Sandbox: the service writes only its state directory.
NoNewPrivileges=yes
ProtectSystem=strict
ReadWritePaths=/var/lib/{name}
ProtectHome=yes
PrivateTmp=yes
PrivateDevices=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
RestrictSUIDSGID=yes
RestrictRealtime=yes
RestrictNamespaces=yes
LockPersonality=yes
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6
CapabilityBoundingSet=
AmbientCapabilities=
UMask=0027

[Install]
WantedBy=multi-user.target
"#
    )
}

fn env_text(name: &str) -> String {
    format!(
        "# /etc/{name}/{name}.env: environment for {name}.service (KEY=value lines).\n\
         # Installed 0640 root:{name} and kept on upgrade. Never put real secrets in this template:\n\
         # it ships to every user; set them on the installed system.\n\
         # EXAMPLE_LISTEN=127.0.0.1:8080\n\
         # EXAMPLE_API_TOKEN=<your token>\n"
    )
}

fn manifest_text(
    name: &str,
    version: &str,
    entrypoint: &str,
    entrypoint_is_elf: bool,
    payloads: &[(Arch, String, bool)],
) -> String {
    let install_dir = format!("/opt/{name}");
    let arches: Vec<String> = payloads
        .iter()
        .map(|(a, _, _)| format!("\"{a}\""))
        .collect();
    let mut s = format!(
        r#"# {file}: the package manifest for {name}, scaffolded by `lucia-pkg init`.
# Build every artifact:  lucia-pkg build -m {file}
# Key reference: docs/manifest.md in the lucia-pkg repository.

[package]
name = "{name}"
version = "{version}"
release = "1"          # packaging revision: bump it to rebuild the same version
summary = "{name} service"
description = """
{name} packaged as a systemd service by lucia-pkg.
"""
license = "LicenseRef-Proprietary"   # an SPDX id, e.g. "MIT" or "Apache-2.0"
maintainer = "Maintainer Name <maintainer@example.org>"   # Name <email>
# homepage = "https://example.org/{name}"
# Reproducible dates: SOURCE_DATE_EPOCH from the environment wins over this.
# source-date-epoch = 1735689600
arches = [{arches}]
formats = ["tar", "deb", "rpm", "oci"]

[payload]
install-dir = "{install_dir}"
entrypoint = "{entrypoint}"   # relative to install-dir
"#,
        file = MANIFEST_NAME,
        arches = arches.join(", "),
    );
    for (arch, rel, independent) in payloads {
        s.push_str(&format!("\n[payload.{arch}]\n"));
        if *independent {
            s.push_str("# No ELF file found: the payload is architecture-independent.\n");
        } else {
            s.push_str(&format!("# Detected from its ELF files: {arch}.\n"));
        }
        s.push_str(&format!("path = \"{rel}\"\n"));
    }
    s.push_str(&format!(
        r#"
# Optional: without [service] the packages just install the files.
[service]
unit = "{name}.service"
user = "{name}"                          # a system account, created on install, never deleted
state-dirs = ["/var/lib/{name}"]         # created 0750 {name}:{name}; kept on removal
purge-state = true                       # apt purge removes the state dirs (rpm never does)

[service.env]
template = "{name}.env"
path = "/etc/{name}/{name}.env"          # 0640 root:{name}, a conffile kept on upgrade

[oci]
# The image runs as 65532:65532 unless the service has a fixed uid or you set user = "uid:gid".
# repository = "ghcr.io/example/{name}"
# ports = ["8080/tcp"]
"#
    ));
    if !entrypoint_is_elf {
        s.push_str(
            "# The entrypoint is not an ELF program: on the default `scratch` base the image has no\n\
             # interpreter to run it. Give a base that has one, pinned by digest:\n\
             # base = { path = \"<local OCI layout>\", digest = \"sha256:…\" }\n\
             # or drop \"oci\" from package.formats.\n",
        );
    }
    s
}

/// Writes the scaffold; refuses to overwrite existing files unless `force`.
pub fn scaffold(o: &InitOptions) -> Result<InitReport, AppError> {
    if o.payloads.is_empty() {
        return Err(input(
            "give the service's build output: lucia-pkg init --payload DIR (once per architecture, e.g. publish/linux-x64 and publish/linux-arm64)",
        ));
    }
    let mut found = Vec::new();
    for p in &o.payloads {
        found.push(examine(p, &o.dir)?);
    }
    let mut by_arch: BTreeMap<Arch, (String, bool)> = BTreeMap::new();
    for f in &found {
        let targets: Vec<Arch> = match f.arch {
            Some(a) => vec![a],
            None => Arch::ALL.to_vec(),
        };
        for a in targets {
            let independent = f.arch.is_none();
            match by_arch.get(&a) {
                // An arch-specific payload beats an arch-independent one.
                Some((_, false)) if independent => continue,
                Some((prev, false)) => {
                    return Err(input(format!(
                        "two payloads for {a}: `{prev}` and `{}`",
                        f.rel
                    )))
                }
                _ => {
                    by_arch.insert(a, (f.rel.clone(), independent));
                }
            }
        }
    }
    let (entrypoint, entrypoint_is_elf) = pick_entrypoint(&found, o.name.as_deref())?;
    let entrypoint = entrypoint.to_string();
    let name = match &o.name {
        Some(n) => n.clone(),
        None => name_from(&entrypoint),
    };
    pkg_core::version::validate_name(&name).map_err(|e| {
        input(format!(
            "{e}: give a package name with --name (lowercase letters, digits, `+`, `-`, `.`)"
        ))
    })?;
    pkg_core::version::PackageVersion::new(&o.version, "1", None)
        .map_err(|e| input(format!("--version: {e}")))?;

    let payloads: Vec<(Arch, String, bool)> = by_arch
        .into_iter()
        .map(|(a, (rel, ind))| (a, rel, ind))
        .collect();
    let install_dir = format!("/opt/{name}");
    let files = [
        (
            MANIFEST_NAME.to_string(),
            manifest_text(&name, &o.version, &entrypoint, entrypoint_is_elf, &payloads),
        ),
        (
            format!("{name}.service"),
            unit_text(&name, &install_dir, &entrypoint),
        ),
        (format!("{name}.env"), env_text(&name)),
    ];
    if !o.force {
        let existing: Vec<&str> = files
            .iter()
            .filter(|(f, _)| o.dir.join(f).symlink_metadata().is_ok())
            .map(|(f, _)| f.as_str())
            .collect();
        if !existing.is_empty() {
            return Err(input(format!(
                "{} already exist{} in {}: pass --force to overwrite",
                existing.join(", "),
                if existing.len() == 1 { "s" } else { "" },
                o.dir.display()
            )));
        }
    }
    fs::create_dir_all(&o.dir).map_err(|e| AppError::build(format!("{}: {e}", o.dir.display())))?;
    for (f, text) in &files {
        crate::output::write_text_atomic(&o.dir.join(f), text)
            .map_err(|e| AppError::build(format!("{f}: {e}")))?;
    }
    Ok(InitReport {
        name,
        files: files.iter().map(|(f, _)| f.clone()).collect(),
        arches: payloads
            .iter()
            .map(|(a, rel, _)| (a.to_string(), rel.clone()))
            .collect(),
        entrypoint,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_from_file_names() {
        assert_eq!(name_from("lucia.AgentHost"), "lucia");
        assert_eq!(name_from("My_Service"), "my-service");
        assert_eq!(name_from("x"), "x-service");
        assert_eq!(name_from("hello-world.sh"), "hello-world");
    }

    #[test]
    fn relative_paths() {
        let r = relative_to(Path::new("/a/b/publish/x64"), Path::new("/a/b")).unwrap();
        assert_eq!(r, "publish/x64");
        let r = relative_to(Path::new("/a/publish"), Path::new("/a/b/c")).unwrap();
        assert_eq!(r, "../../publish");
        assert_eq!(relative_to(Path::new("/a"), Path::new("/a")).unwrap(), ".");
    }
}
