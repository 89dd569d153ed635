//! `lucia-pkg repo`: package repositories built from artifacts, as static directories any web
//! host can serve (docs/repositories.md).
//!
//! Determinism: a repository is a pure function of the set of packages it holds (the new ones
//! plus those already in its pool), the suite/component/origin/label options, the signing key and
//! the date. The date is `SOURCE_DATE_EPOCH` when set, else the newest build date among the
//! packages (for a .deb: the newest ar member mtime, which lucia-pkg sets to the source date; for
//! an .rpm: the newest BUILDTIME, which lucia-pkg sets to the source date).
//! Nothing is read from the clock, the time zone or the order of the arguments.

pub mod apt;
pub mod dnf;
pub mod rpm_header;
pub mod sign;
pub mod xml;

use std::fs;
use std::io::Write;
use std::path::Path;

use crate::error::AppError;

/// The repository date: `SOURCE_DATE_EPOCH` if set (validated like a build's), else `newest`.
/// The package files the command line names: each file as given, and every file a directory
/// holds whose name `keep` accepts (sorted by name). `what` names the kind (`an .rpm`), and a
/// directory without any is refused with `empty_hint` appended to the message.
pub fn input_files(
    inputs: &[std::path::PathBuf],
    what: &str,
    keep: impl Fn(&str) -> bool,
    empty_hint: &str,
) -> Result<Vec<std::path::PathBuf>, AppError> {
    let mut out = Vec::new();
    for p in inputs {
        let meta = fs::metadata(p).map_err(|e| AppError::Input(format!("{}: {e}", p.display())))?;
        if meta.is_file() {
            out.push(p.clone());
            continue;
        }
        if !meta.is_dir() {
            return Err(AppError::Input(format!(
                "{}: not {what} file or a directory",
                p.display()
            )));
        }
        let before = out.len();
        for e in walkdir::WalkDir::new(p).sort_by_file_name() {
            let e = e.map_err(|e| AppError::Input(format!("{}: {e}", p.display())))?;
            if e.file_type().is_file() && keep(&e.file_name().to_string_lossy()) {
                out.push(e.into_path());
            }
        }
        if out.len() == before {
            return Err(AppError::Input(format!(
                "{}: no {} files in this directory{empty_hint}",
                p.display(),
                what.split_whitespace().last().unwrap_or(what)
            )));
        }
    }
    Ok(out)
}

/// The package files already under `root/dir` (sorted by name; dot files and other
/// extensions skipped), each with its path relative to `root` (`/`-separated).
pub fn pool_files(
    root: &Path,
    dir: &str,
    extension: &str,
) -> Result<Vec<(std::path::PathBuf, String)>, AppError> {
    let pool = root.join(dir);
    if !pool.is_dir() {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for e in walkdir::WalkDir::new(&pool).sort_by_file_name() {
        let e = e.map_err(|e| AppError::Input(format!("{}: {e}", pool.display())))?;
        let name = e.file_name().to_string_lossy();
        if !e.file_type().is_file() || !name.ends_with(extension) || name.starts_with('.') {
            continue;
        }
        let rel = e
            .path()
            .strip_prefix(root)
            .map_err(AppError::build)?
            .to_string_lossy()
            .into_owned();
        out.push((e.path().to_path_buf(), rel));
    }
    Ok(out)
}

pub fn repo_date(newest: u64) -> Result<u64, AppError> {
    let env = std::env::var("SOURCE_DATE_EPOCH").ok();
    let (secs, _) = pkg_core::determinism::resolve_source_date(env.as_deref(), Some(newest))
        .map_err(|e| AppError::Input(e.to_string()))?;
    Ok(secs)
}

/// A value that ends up in a path (suite, component): letters, digits, `.`, `_`, `-`, `+`, not
/// starting with a dot.
pub fn check_path_word(what: &str, v: &str) -> Result<(), AppError> {
    let ok = !v.is_empty()
        && v.len() <= 100
        && !v.starts_with('.')
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'+'));
    if ok {
        Ok(())
    } else {
        Err(AppError::Input(format!(
            "{what} `{}`: use letters, digits, `.`, `_`, `-` or `+` (not starting with a dot)",
            v.escape_debug()
        )))
    }
}

/// A one-line field value (origin, label): printable, no control characters.
pub fn check_line(what: &str, v: &str) -> Result<(), AppError> {
    if v.trim().is_empty() || v.len() > 200 || v.chars().any(char::is_control) || v != v.trim() {
        return Err(AppError::Input(format!(
            "{what} `{}`: give one non-empty line without control characters or surrounding spaces",
            v.escape_debug()
        )));
    }
    Ok(())
}

/// Writes `bytes` to `path` atomically (temp file in the same directory, then rename), mode 0644
/// whatever the umask, so that a web server can read it.
pub fn write_file(path: &Path, bytes: &[u8]) -> Result<(), AppError> {
    let dir = path
        .parent()
        .ok_or_else(|| AppError::Build(format!("{}: no parent directory", path.display())))?;
    make_dirs(dir)?;
    let fail = |e: std::io::Error| AppError::Build(format!("writing {}: {e}", path.display()));
    let mut tmp = tempfile::Builder::new()
        .prefix(".tmp-")
        .tempfile_in(dir)
        .map_err(fail)?;
    tmp.write_all(bytes).map_err(fail)?;
    tmp.as_file().sync_all().map_err(fail)?;
    set_mode(tmp.path(), 0o644)?;
    tmp.persist(path).map_err(|e| fail(e.error))?;
    Ok(())
}

/// Copies `src` to `dst` atomically, mode 0644.
pub fn copy_file(src: &Path, dst: &Path) -> Result<(), AppError> {
    let dir = dst
        .parent()
        .ok_or_else(|| AppError::Build(format!("{}: no parent directory", dst.display())))?;
    make_dirs(dir)?;
    let fail = |e: std::io::Error| {
        AppError::Build(format!(
            "copying {} to {}: {e}",
            src.display(),
            dst.display()
        ))
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".tmp-")
        .tempfile_in(dir)
        .map_err(fail)?;
    let mut from = fs::File::open(src).map_err(fail)?;
    std::io::copy(&mut from, tmp.as_file_mut()).map_err(fail)?;
    tmp.as_file().sync_all().map_err(fail)?;
    set_mode(tmp.path(), 0o644)?;
    tmp.persist(dst).map_err(|e| fail(e.error))?;
    Ok(())
}

/// Creates a directory and its parents, each 0755 whatever the umask.
pub fn make_dirs(dir: &Path) -> Result<(), AppError> {
    if dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent() {
        if !parent.as_os_str().is_empty() {
            make_dirs(parent)?;
        }
    }
    match fs::create_dir(dir) {
        Ok(()) => set_mode(dir, 0o755),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && dir.is_dir() => Ok(()),
        Err(e) => Err(AppError::Build(format!("creating {}: {e}", dir.display()))),
    }
}

fn set_mode(path: &Path, mode: u32) -> Result<(), AppError> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .map_err(|e| AppError::Build(format!("chmod {}: {e}", path.display())))
}
