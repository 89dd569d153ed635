//! The out directory: artifacts appear atomically under their final names (written to a hidden
//! temp name in the same directory, synced, then renamed), never half-written; `SHA256SUMS` and
//! `build-info.json` describe what a build made. Temp files left by a killed build are removed by
//! the next one.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::fs;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use pkg_core::digest::HashingWriter;
use serde::Serialize;

/// One file in the out dir, with its digest.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct FileRecord {
    /// Path relative to the out dir.
    pub name: String,
    pub size: u64,
    pub sha256: String,
}

use crate::store::{create_new_file, out_temp_name, OUT_TMP_MARK as TMP_MARK};

/// A fresh, unpredictable temp name next to `final_path` (`.<name>.lucia-tmp-<pid>-<random>`):
/// the out dir may be writable by others, who must not be able to plant a link at a name this
/// process is about to write through.
fn temp_sibling(final_path: &Path) -> PathBuf {
    let name = final_path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    final_path.with_file_name(out_temp_name(&name))
}

/// Creates a new temp file (or dir) next to `final_path` with `create`, which must refuse an
/// existing name (O_EXCL, mkdir) rather than follow it; retries on the (unlikely) collision.
fn create_temp<T>(
    final_path: &Path,
    create: impl Fn(&Path) -> io::Result<T>,
) -> io::Result<(PathBuf, T)> {
    let mut last = None;
    for _ in 0..8 {
        let tmp = temp_sibling(final_path);
        match create(&tmp) {
            Ok(t) => return Ok((tmp, t)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::other("no free temp name")))
}

fn pid_alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// Removes `p` without following it: a directory tree, or a file or a symlink itself.
fn remove_no_follow(p: &Path) -> io::Result<()> {
    match fs::symlink_metadata(p) {
        Ok(md) if md.is_dir() => fs::remove_dir_all(p),
        Ok(_) => fs::remove_file(p),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// The pid in a temp name this module (or the store's linker) made, if `name` is one.
pub fn temp_owner(name: &str) -> Option<u32> {
    let pos = name.find(TMP_MARK)?;
    let digits: String = name[pos + TMP_MARK.len()..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse::<u32>().ok()
}

/// Creates the out dir and removes temp files of builds that are no longer running. Call it
/// before this process writes anything there: a temp name carrying this process's pid is then
/// not ours (a recycled pid's leftover, or a name planted in advance) and goes too.
pub fn prepare_out_dir(dir: &Path) -> io::Result<()> {
    fs::create_dir_all(dir)?;
    for e in fs::read_dir(dir)? {
        let e = e?;
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(pid) = temp_owner(&name) else {
            continue;
        };
        if pid == std::process::id() || !pid_alive(pid) {
            remove_no_follow(&e.path())?;
        }
    }
    Ok(())
}

/// Removes a temp path when dropped unless it was committed.
pub struct TempGuard {
    path: Option<PathBuf>,
}

impl TempGuard {
    pub fn new(path: PathBuf) -> Self {
        crate::signals::register(path.clone());
        TempGuard { path: Some(path) }
    }
    pub fn disarm(&mut self) {
        if let Some(p) = self.path.take() {
            crate::signals::unregister(&p);
        }
    }
}

impl Drop for TempGuard {
    fn drop(&mut self) {
        if let Some(p) = self.path.take() {
            crate::signals::unregister(&p);
            let _ = remove_no_follow(&p);
        }
    }
}

/// Writes `final_path` atomically through `write`, returning its size and sha256. The temp file
/// is created with O_EXCL|O_NOFOLLOW and renamed over `final_path`, which replaces whatever is
/// there (a symlink included) without following it.
pub fn write_atomic<E>(
    final_path: &Path,
    write: impl FnOnce(&mut dyn Write) -> Result<(), E>,
) -> Result<(u64, String), E>
where
    E: From<io::Error>,
{
    let (tmp, file) = create_temp(final_path, create_new_file)?;
    let mut guard = TempGuard::new(tmp.clone());
    let mut hw = HashingWriter::new(BufWriter::with_capacity(1 << 20, file));
    write(&mut hw)?;
    let (buf, sha, size) = hw.finish();
    let file = buf.into_inner().map_err(|e| e.into_error())?;
    file.sync_all()?;
    drop(file);
    fs::rename(&tmp, final_path)?;
    guard.disarm();
    Ok((size, hex::encode(sha)))
}

/// Atomically replaces directory `final_dir` with one filled by `fill` (for the OCI layout).
/// The temp dir is made with mkdir (never through a planted link); whatever was at `final_dir`
/// (a directory, a file or a symlink) is moved aside and removed without being followed.
pub fn write_dir_atomic<E>(
    final_dir: &Path,
    fill: impl FnOnce(&Path) -> Result<(), E>,
) -> Result<(), E>
where
    E: From<io::Error>,
{
    let (tmp, ()) = create_temp(final_dir, |p| fs::create_dir(p))?;
    let mut guard = TempGuard::new(tmp.clone());
    fill(&tmp)?;
    match fs::symlink_metadata(final_dir) {
        Ok(_) => {
            // Nobody can predict the random name: rename(2) finds nothing there.
            let old = temp_sibling(final_dir);
            fs::rename(final_dir, &old)?;
            fs::rename(&tmp, final_dir)?;
            let _ = remove_no_follow(&old);
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => fs::rename(&tmp, final_dir)?,
        Err(e) => return Err(e.into()),
    }
    guard.disarm();
    Ok(())
}

/// The names lucia-pkg itself keeps in every out dir.
pub const RECORDS: [&str; 2] = ["SHA256SUMS", "build-info.json"];

/// A single plain path component: the only kind of name read from a build-info.json that may
/// ever be deleted (never `..`, never a path into another directory).
fn plain_name(n: &str) -> bool {
    !n.is_empty() && n != "." && n != ".." && !n.contains('/') && !n.contains('\0')
}

/// What the last build in `dir` recorded: its package name and top-level output names.
fn previous_build(dir: &Path) -> Option<(String, BTreeSet<String>)> {
    let path = dir.join("build-info.json");
    // Only a regular file: a symlink there is not a record this tool wrote.
    if !fs::symlink_metadata(&path).ok()?.is_file() {
        return None;
    }
    let v: serde_json::Value = serde_json::from_slice(&fs::read(&path).ok()?).ok()?;
    if v["schema"] != "lucia-pkg/build-info/v1" {
        return None;
    }
    let package = v["package"]["name"].as_str()?.to_string();
    let outputs = v["outputs"]
        .as_array()?
        .iter()
        .filter_map(|o| o["name"].as_str())
        .filter(|n| plain_name(n))
        .map(str::to_string)
        .collect();
    Some((package, outputs))
}

/// What a build must remove from its out dir so that the dir holds exactly what the new
/// `SHA256SUMS` lists.
#[derive(Debug, Default)]
pub struct Sweep {
    /// Outputs of the previous build of the same package that this build does not make again
    /// (another arch, format or version).
    pub stale: Vec<OsString>,
    /// Anything else that is not this build's (only with `--clean`).
    pub unknown: Vec<OsString>,
}

impl Sweep {
    /// Everything that goes, as names for a report.
    pub fn names(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .stale
            .iter()
            .chain(&self.unknown)
            .map(|n| n.to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    /// Removes the swept names from `dir` (links themselves, never what they point at).
    pub fn apply(&self, dir: &Path) -> io::Result<()> {
        for n in self.stale.iter().chain(&self.unknown) {
            let p = dir.join(n);
            remove_no_follow(&p)
                .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", p.display())))?;
        }
        Ok(())
    }
}

/// Decides what a build of `package` writing the top-level names `new` must remove from `dir`.
/// Outputs recorded by the previous build-info.json of the same package are stale and go; any
/// other file there is refused (bad input: nothing is deleted that no build recorded) unless
/// `clean` says to remove it too. Temp names of running builds are left alone.
pub fn plan_sweep(
    dir: &Path,
    package: &str,
    new: &BTreeSet<String>,
    clean: bool,
) -> Result<Sweep, crate::error::AppError> {
    let mut sweep = Sweep::default();
    let entries = match fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(sweep),
        Err(e) => {
            return Err(crate::error::AppError::Build(format!(
                "{}: {e}",
                dir.display()
            )))
        }
    };
    let previous = previous_build(dir);
    let recorded = match &previous {
        Some((p, outputs)) if p == package => outputs.clone(),
        _ => BTreeSet::new(),
    };
    for e in entries {
        let e = e.map_err(|e| crate::error::AppError::Build(format!("{}: {e}", dir.display())))?;
        let os = e.file_name();
        let name = os.to_string_lossy();
        if temp_owner(&name).is_some() || new.contains(&*name) || RECORDS.contains(&&*name) {
            continue;
        }
        // A signature of the previous SHA256SUMS (`sign-sums`), provenance of the previous
        // outputs (`attest`) or the signature of the previous image (`sign-image`): invalid
        // once they are rewritten.
        if recorded.contains(&*name)
            || name == crate::sums_sign::SIG_NAME
            || name == crate::sums_sign::ASC_NAME
            || name == crate::provenance::FILE_NAME
            || name == crate::image_sign::DIR_NAME
        {
            sweep.stale.push(os);
        } else {
            sweep.unknown.push(os);
        }
    }
    sweep.stale.sort();
    sweep.unknown.sort();
    if !sweep.unknown.is_empty() && !clean {
        let mut names: Vec<String> = sweep
            .unknown
            .iter()
            .map(|n| format!("`{}`", n.to_string_lossy()))
            .collect();
        if names.len() > 10 {
            let more = names.len() - 10;
            names.truncate(10);
            names.push(format!("and {more} more"));
        }
        let whose = match &previous {
            Some((p, _)) if p != package => {
                format!(" (its build-info.json is from package `{p}`, not `{package}`)")
            }
            Some(_) => String::new(),
            None => " (it has no build-info.json of an earlier lucia-pkg build)".into(),
        };
        return Err(crate::error::AppError::Input(format!(
            "--out {}: holds files no earlier lucia-pkg build of `{package}` recorded there{whose}: {}. \
The out dir must hold exactly what SHA256SUMS lists: move them away, choose another --out, \
or pass --clean to delete them",
            dir.display(),
            names.join(", ")
        )));
    }
    Ok(sweep)
}

/// Hashes every regular file below `dir` (sorted), as records relative to `out`.
pub fn records_for_dir(out: &Path, dir: &Path) -> io::Result<Vec<FileRecord>> {
    let mut v = Vec::new();
    for e in walkdir::WalkDir::new(dir).sort_by(|a, b| a.file_name().cmp(b.file_name())) {
        let e = e.map_err(io::Error::other)?;
        if e.file_type().is_file() {
            let (sha, size) = pkg_core::digest::sha256_file(e.path())?;
            let rel = e.path().strip_prefix(out).map_err(io::Error::other)?;
            v.push(FileRecord {
                name: rel.to_string_lossy().into_owned(),
                size,
                sha256: hex::encode(sha),
            });
        }
    }
    Ok(v)
}

/// `SHA256SUMS` in the format `sha256sum -c` reads (two spaces, sorted by name).
pub fn sha256sums(records: &[FileRecord]) -> String {
    let mut sorted: Vec<&FileRecord> = records.iter().collect();
    sorted.sort_by(|a, b| a.name.cmp(&b.name));
    sorted
        .iter()
        .map(|r| format!("{}  {}\n", r.sha256, r.name))
        .collect()
}

/// Writes small text atomically.
pub fn write_text_atomic(path: &Path, text: &str) -> io::Result<(u64, String)> {
    write_atomic(path, |w| w.write_all(text.as_bytes()))
}
