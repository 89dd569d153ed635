//! Hermetic payload builders: a payload declared as the output of a command is produced by
//! running that command in a scrubbed environment into a fresh directory, and cached in the
//! store under a key made of everything it may depend on — the command line, the architecture,
//! the source date, the values of the variables it is allowed to see, and the NAR hash of every
//! declared input. An unchanged source tree therefore never rebuilds.
//!
//! The environment holds only: PATH (to find the toolchain), HOME (a fresh empty directory),
//! TZ=UTC, LC_ALL=C.UTF-8, SOURCE_DATE_EPOCH, LUCIA_PKG_OUT, LUCIA_PKG_ARCH,
//! LUCIA_PKG_DOTNET_RID, LUCIA_PKG_RUST_TARGET, and the variables the manifest lists in
//! `builder.env` (which may override HOME, e.g. for a toolchain installed under it).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use pkg_core::Arch;

use crate::error::AppError;
use crate::manifest::{BuilderSpec, Spec};
use crate::store::{KeyBuilder, Store};

/// A materialized payload directory (kept alive for the build when it lives in a temp dir).
pub struct Payload {
    pub root: PathBuf,
    /// The builder's store key, when the payload came from a builder.
    pub builder_key: Option<String>,
    pub cached: bool,
    _temp: Option<tempfile::TempDir>,
}

fn substitute(arg: &str, out: &Path, arch: Arch) -> String {
    arg.replace("{out}", &out.display().to_string())
        .replace("{arch}", arch.as_str())
}

/// The key of a builder's output: every declared input by NAR hash.
fn key(spec: &Spec, b: &BuilderSpec, arch: Arch, source_date: u64) -> Result<KeyBuilder, AppError> {
    let mut k = KeyBuilder::new();
    k.part("kind", "payload-builder/v1");
    k.part("command", b.command.join("\u{0}"));
    k.part("arch", arch.as_str());
    k.part("source-date", source_date.to_string());
    for name in &b.env {
        k.part(
            &format!("env:{name}"),
            std::env::var(name).unwrap_or_default(),
        );
    }
    let base = spec.manifest_path.parent().unwrap_or(Path::new("."));
    for input in &b.inputs {
        let h = nar::nar_hash(input)
            .map_err(|e| AppError::Input(format!("builder input {}: {e}", input.display())))?;
        let rel = input.strip_prefix(base).unwrap_or(input);
        k.part(&format!("input:{}", rel.display()), nar::sri_sha256(&h));
    }
    Ok(k)
}

fn run(
    spec: &Spec,
    b: &BuilderSpec,
    arch: Arch,
    source_date: u64,
    out: &Path,
) -> Result<(), AppError> {
    let home = tempfile::Builder::new()
        .prefix("lucia-builder-home-")
        .tempdir()
        .map_err(AppError::build)?;
    let argv: Vec<String> = b.command.iter().map(|a| substitute(a, out, arch)).collect();
    let (prog, args) = argv
        .split_first()
        .ok_or_else(|| AppError::Input("builder.command is empty".into()))?;
    let dir = spec
        .manifest_path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut cmd = Command::new(prog);
    cmd.args(args)
        .current_dir(dir)
        .env_clear()
        .env(
            "PATH",
            std::env::var_os("PATH").unwrap_or_else(|| "/usr/bin:/bin".into()),
        )
        .env("HOME", home.path())
        .env("TZ", "UTC")
        .env("LC_ALL", "C.UTF-8")
        .env("SOURCE_DATE_EPOCH", source_date.to_string())
        .env("LUCIA_PKG_OUT", out)
        .env("LUCIA_PKG_ARCH", arch.as_str())
        .env("LUCIA_PKG_DOTNET_RID", arch.dotnet_rid())
        .env("LUCIA_PKG_RUST_TARGET", arch.rust_triple())
        .stdin(Stdio::null());
    for name in &b.env {
        if let Some(v) = std::env::var_os(name) {
            cmd.env(name, v);
        }
    }
    crate::signals::reset_in_child(&mut cmd);
    let o = cmd
        .output()
        .map_err(|e| AppError::Build(format!("cannot run payload builder `{prog}`: {e}")))?;
    if !o.status.success() {
        let tail = |b: &[u8]| {
            let t = String::from_utf8_lossy(b);
            let lines: Vec<&str> = t.lines().collect();
            lines[lines.len().saturating_sub(20)..].join("\n")
        };
        return Err(AppError::Build(format!(
            "payload builder for {arch} failed ({}):\n{}\n{}",
            o.status,
            tail(&o.stdout),
            tail(&o.stderr)
        )));
    }
    Ok(())
}

/// Returns the payload directory for `arch`, running its builder if needed.
pub fn materialize(
    spec: &Spec,
    arch: Arch,
    source_date: u64,
    store: Option<&Store>,
) -> Result<Payload, AppError> {
    let p = spec
        .payload(arch)
        .ok_or_else(|| AppError::Input(format!("no [payload.{arch}] in the manifest")))?;
    let Some(b) = &p.builder else {
        return Ok(Payload {
            root: p.path.clone(),
            builder_key: None,
            cached: false,
            _temp: None,
        });
    };
    let k = key(spec, b, arch, source_date)?;
    let key = k.finish();
    match store {
        Some(st) => {
            let name = format!("{}-payload-{}", spec.meta.name, arch);
            let put = st
                .put(&key, &name, |dir| {
                    let out = dir.join("payload");
                    std::fs::create_dir(&out)?;
                    run(spec, b, arch, source_date, &out).map_err(|e| e.render(false).into())
                })
                .map_err(|e| AppError::Build(e.to_string()))?;
            Ok(Payload {
                root: put.entry.path().join("payload"),
                builder_key: Some(key.as_str().to_string()),
                cached: put.cached,
                _temp: None,
            })
        }
        None => {
            let tmp = tempfile::Builder::new()
                .prefix("lucia-payload-")
                .tempdir()
                .map_err(AppError::build)?;
            let out = tmp.path().join("payload");
            std::fs::create_dir(&out).map_err(AppError::build)?;
            run(spec, b, arch, source_date, &out)?;
            Ok(Payload {
                root: out,
                builder_key: Some(key.as_str().to_string()),
                cached: false,
                _temp: Some(tmp),
            })
        }
    }
}
