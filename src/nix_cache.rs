//! `lucia-pkg cache export --nix DIR`: the store's entries as a Nix binary cache (a `file://`
//! cache `nix copy --from` reads), see docs/nix.md.
//!
//! Each entry becomes the content-addressed store path Nix gives the same tree added with
//! `nix-store --add` (`/nix/store/<hash>-<name>`, fixed-output, recursive sha256, no
//! references): `<hash>.narinfo` (with `CA: fixed:r:sha256:…`, so Nix accepts it without a
//! signature, and a `Sig:` when a key is given) and `nar/<file hash>.nar.xz`.
//!
//! * Streaming: each entry is read once; its NAR goes through a hasher and the xz encoder into a
//!   temp file in `nar/`, which is renamed to its hash once complete. No NAR is held in memory.
//! * Verified: the NAR hash of that read must equal the hash the store recorded for the entry.
//! * Reproducible: xz at a fixed preset (`pkg_core::compress`), Ed25519 signatures (a function of
//!   key and message), names and order from the entries alone. The directory afterwards holds
//!   exactly this export: files of an earlier export that this one does not write are removed.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use pkg_core::compress::{Codec, Encoder};
use sha2::{Digest, Sha256};

use crate::cli::CacheExportArgs;
use crate::error::AppError;
use crate::store::{self, Entry, Store};

/// The file that makes a directory a binary cache.
pub const CACHE_INFO: &str = "nix-cache-info";
const CACHE_INFO_TEXT: &str = "StoreDir: /nix/store\nWantMassQuery: 1\nPriority: 50\n";
/// Fixed: part of the bytes of every `.nar.xz`.
const CODEC: Codec = Codec::Xz(6);
const TMP_PREFIX: &str = ".tmp-";
/// Directories Nix itself creates in a `file://` cache it opens (`nix copy --from`, `nix store
/// verify`); allowed in an earlier export while empty, and left as they are.
const NIX_MADE_DIRS: [&str; 3] = ["log", "realisations", "debuginfo"];

/// One exported store path.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Exported {
    pub store_path: String,
    /// The store entries (`<key>-<name>`) with this content and name.
    pub entries: Vec<String>,
    pub narinfo: String,
    pub url: String,
    pub nar_size: u64,
    pub file_size: u64,
}

#[derive(Debug, serde::Serialize)]
pub struct Report {
    pub dir: String,
    pub paths: Vec<Exported>,
    /// Files of an earlier export into the same directory that this one no longer has.
    pub removed: Vec<String>,
    /// The key name and public key (`name:base64`, for `trusted-public-keys`), when signed.
    pub signed_by: Option<String>,
    pub public_key: Option<String>,
}

pub fn command(args: CacheExportArgs, json: bool) -> Result<(), AppError> {
    let key = match &args.sign_key {
        Some(p) => Some(SigningKey::load(p)?),
        None => None,
    };
    let root = store::default_root().map_err(|e| AppError::Input(e.to_string()))?;
    let st = Store::open(&root).map_err(AppError::build)?;
    let entries = select(&st, args.out.as_deref())?;
    let report = export(&st, &entries, &args.nix, key.as_ref())?;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).map_err(AppError::build)?
        );
        return Ok(());
    }
    let mut o = io::stdout().lock();
    for p in &report.paths {
        let _ = writeln!(o, "{}  {}", p.store_path, p.entries.join(" "));
    }
    if !report.removed.is_empty() {
        let _ = writeln!(
            o,
            "removed from the earlier export: {}",
            report.removed.join(", ")
        );
    }
    let _ = writeln!(
        o,
        "exported {} store path(s) to {} ({})",
        report.paths.len(),
        report.dir,
        match (&report.signed_by, &report.public_key) {
            (Some(name), Some(public)) =>
                format!("signed by {name}; trust it with --option trusted-public-keys {public}"),
            _ => "unsigned; Nix accepts the paths as content-addressed".to_string(),
        }
    );
    if let Some(p) = report.paths.first() {
        let abs = fs::canonicalize(&args.nix).unwrap_or(args.nix.clone());
        let _ = writeln!(
            o,
            "copy with: nix --extra-experimental-features nix-command copy --from file://{} {}",
            abs.display(),
            p.store_path
        );
    }
    Ok(())
}

/// Every entry, or those `out`'s GC root keeps alive (what a build into `out` linked there).
fn select(st: &Store, out: Option<&Path>) -> Result<Vec<Entry>, AppError> {
    let all = st.entries().map_err(AppError::build)?;
    let Some(out) = out else {
        if all.is_empty() {
            return Err(AppError::Input(format!(
                "nothing to export: the store at {} holds no entries; build first, with the same LUCIA_PKG_STORE (or XDG_CACHE_HOME) as this command",
                st.root().display()
            )));
        }
        return Ok(all);
    };
    if !out.is_dir() {
        return Err(AppError::Input(format!(
            "--out {}: no such directory; give the out dir of a build (`lucia-pkg build --out DIR`), or leave --out away to export every entry",
            out.display()
        )));
    }
    let ids = st
        .live_entries_of(out)
        .map_err(AppError::build)?
        .ok_or_else(|| {
            AppError::Input(format!(
                "--out {}: no build into it is recorded in the store at {}; build into it first (same LUCIA_PKG_STORE), or leave --out away to export every entry",
                out.display(),
                st.root().display()
            ))
        })?;
    if ids.is_empty() {
        return Err(AppError::Input(format!(
            "--out {}: none of the files a build placed there is left unchanged; rebuild into it first",
            out.display()
        )));
    }
    let by_id: BTreeMap<String, Entry> = all.into_iter().map(|e| (e.id(), e)).collect();
    ids.iter()
        .map(|id| {
            by_id.get(id).cloned().ok_or_else(|| {
                AppError::Build(format!(
                    "store entry {id}, which {} uses, is missing from {}; rebuild into that out dir",
                    out.display(),
                    st.root().display()
                ))
            })
        })
        .collect()
}

/// A store name Nix accepts for an entry name: the store allows `~` (Debian versions), Nix does
/// not; it becomes `_`. The content hash in the path keeps distinct contents apart.
pub fn nix_name(entry_name: &str) -> Result<String, AppError> {
    let name = entry_name.replace('~', "_");
    nar::validate_store_name(&name).map_err(|e| {
        AppError::Input(format!(
            "store entry name {entry_name:?} has no Nix store name: {e}"
        ))
    })?;
    Ok(name)
}

/// Writes the export for `entries` into `dir` (created if missing; refused when it holds
/// anything but an earlier export).
pub fn export(
    st: &Store,
    entries: &[Entry],
    dir: &Path,
    key: Option<&SigningKey>,
) -> Result<Report, AppError> {
    check_target(dir)?;
    let nar_dir = dir.join("nar");
    create_dir(dir)?;
    // One export into a directory at a time; the second waits and then replaces the first.
    let _lock = lock_dir(dir)?;
    check_target(dir)?;
    create_dir(&nar_dir)?;
    // First, so that an export that fails half way still leaves a directory the next one
    // recognizes as an export.
    write_file(dir, CACHE_INFO, CACHE_INFO_TEXT.as_bytes())?;
    // Store path → the entries with that name and content, in id order.
    let mut plan: BTreeMap<String, (Vec<&Entry>, [u8; 32])> = BTreeMap::new();
    for e in entries {
        let recorded = recorded_hash(st, e)?;
        let name = nix_name(e.name())?;
        let path = nar::store_path_for(&recorded, &name)
            .map_err(|err| AppError::Input(format!("store entry {}: {err}", e.id())))?;
        plan.entry(path)
            .or_insert_with(|| (Vec::new(), recorded))
            .0
            .push(e);
    }
    let mut paths = Vec::new();
    let mut keep: BTreeSet<PathBuf> = BTreeSet::from([PathBuf::from(CACHE_INFO)]);
    // NAR hash → (NAR size, file hash, file size, URL) of a nar file this export wrote: the
    // same content under another name shares it (a NAR does not hold its name).
    let mut nars: BTreeMap<[u8; 32], (u64, [u8; 32], u64, String)> = BTreeMap::new();
    for (store_path, (group, recorded)) in &plan {
        let first = group[0];
        let (nar_sha256, (nar_size, file_sha256, file_size, url)) = match nars.get(recorded) {
            Some(done) => (*recorded, done.clone()),
            None => {
                let done = compress_entry(first, recorded, &nar_dir)?;
                nars.insert(*recorded, done.clone());
                (*recorded, done)
            }
        };
        let mut info = nar::narinfo::NarInfo {
            store_path: store_path.clone(),
            url: url.clone(),
            compression: "xz".into(),
            file_sha256,
            file_size,
            nar_sha256,
            nar_size,
            references: Vec::new(),
            ca: Some(nar::narinfo::ca_fixed_recursive(&nar_sha256)),
            sigs: Vec::new(),
        };
        if let Some(k) = key {
            info.sigs.push(k.sign(&info.fingerprint())?);
        }
        let hash_part = hash_part(store_path);
        let narinfo = format!("{hash_part}.narinfo");
        write_file(dir, &narinfo, info.to_text().as_bytes())?;
        keep.insert(PathBuf::from(&narinfo));
        keep.insert(PathBuf::from(&url));
        paths.push(Exported {
            store_path: store_path.clone(),
            entries: group.iter().map(|e| e.id()).collect(),
            narinfo,
            url,
            nar_size,
            file_size,
        });
    }
    let removed = remove_stale(dir, &keep)?;
    fsync_dir(&nar_dir)?;
    fsync_dir(dir)?;
    Ok(Report {
        dir: dir.display().to_string(),
        paths,
        removed,
        signed_by: key.map(|k| k.name.clone()),
        public_key: key.map(SigningKey::public),
    })
}

/// Writes the entry's `nar/<file hash>.nar.xz` after checking its NAR hash is the `recorded`
/// one: (NAR size, file hash, file size, URL).
fn compress_entry(
    entry: &Entry,
    recorded: &[u8; 32],
    nar_dir: &Path,
) -> Result<(u64, [u8; 32], u64, String), AppError> {
    let (nar_sha256, nar_size, file_sha256, file_size, file) = write_nar(entry, nar_dir)?;
    if nar_sha256 != *recorded {
        drop(file); // removes the temp file
        return Err(AppError::Build(format!(
            "store entry {} changed since it was written (its NAR hash is {}, the store recorded {}); delete it (or run `lucia-pkg gc` once no out dir uses it) and rebuild",
            entry.id(),
            nar::sri_sha256(&nar_sha256),
            nar::sri_sha256(recorded)
        )));
    }
    let file_name = format!("{}.nar.xz", nar::nix32(&file_sha256));
    let nar_path = nar_dir.join(&file_name);
    file.persist(&nar_path)
        .map_err(|e| fail(&nar_path, e.error))?;
    Ok((nar_size, file_sha256, file_size, format!("nar/{file_name}")))
}

fn create_dir(d: &Path) -> Result<(), AppError> {
    if !d.is_dir() {
        fs::create_dir_all(d).map_err(|e| fail(d, e))?;
        fs::set_permissions(d, fs::Permissions::from_mode(0o755)).map_err(|e| fail(d, e))?;
    }
    Ok(())
}

/// An exclusive flock(2) on the directory itself (no lock file in the cache); released when the
/// returned handle is dropped or the process dies.
fn lock_dir(dir: &Path) -> Result<File, AppError> {
    use std::os::fd::AsRawFd;
    let f = File::open(dir).map_err(|e| fail(dir, e))?;
    loop {
        // SAFETY: flock only reads the descriptor number, which `f` keeps open.
        if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) } == 0 {
            return Ok(f);
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(fail(dir, e));
        }
    }
}

fn fail(path: &Path, e: io::Error) -> AppError {
    AppError::Build(format!("{}: {e}", path.display()))
}

/// `<hash>` of `/nix/store/<hash>-<name>`.
fn hash_part(store_path: &str) -> &str {
    let base = store_path.rsplit('/').next().unwrap_or(store_path);
    base.get(..32).unwrap_or(base)
}

/// What the store recorded for the entry, as bytes.
fn recorded_hash(st: &Store, e: &Entry) -> Result<[u8; 32], AppError> {
    let missing = || {
        AppError::Build(format!(
            "store entry {} has no readable recorded NAR hash in {}/.meta; delete the entry and rebuild",
            e.id(),
            st.root().display()
        ))
    };
    let sri = st.nar_hash(e).ok_or_else(missing)?;
    let bytes = sri
        .strip_prefix("sha256-")
        .and_then(nar::encoding::from_base64)
        .ok_or_else(missing)?;
    bytes.try_into().map_err(|_| missing())
}

/// Does a name belong to what an export writes (or its temp files)?
fn is_export_file(rel: &Path) -> bool {
    let Some(s) = rel.to_str() else {
        return false;
    };
    if s == CACHE_INFO {
        return true;
    }
    if let Some(n) = s.strip_prefix("nar/") {
        return !n.contains('/') && (n.ends_with(".nar.xz") || n.starts_with(TMP_PREFIX));
    }
    !s.contains('/') && (s.ends_with(".narinfo") || s.starts_with(TMP_PREFIX))
}

/// The files under `dir` (and `dir/nar`), relative; `Err` names the first thing that is not a
/// plain file where an export would put one.
fn listing(dir: &Path) -> Result<Vec<PathBuf>, AppError> {
    let mut out = Vec::new();
    let read = |d: &Path| -> Result<Vec<fs::DirEntry>, AppError> {
        let mut v = fs::read_dir(d)
            .and_then(|rd| rd.collect::<io::Result<Vec<_>>>())
            .map_err(|e| AppError::Input(format!("{}: {e}", d.display())))?;
        v.sort_by_key(|e| e.file_name());
        Ok(v)
    };
    for e in read(dir)? {
        let rel = PathBuf::from(e.file_name());
        let ft = e.file_type().map_err(|err| fail(&e.path(), err))?;
        if ft.is_dir() && rel == Path::new("nar") {
            for n in read(&e.path())? {
                let ft = n.file_type().map_err(|err| fail(&n.path(), err))?;
                let rel = rel.join(n.file_name());
                if !ft.is_file() {
                    return Err(not_ours(dir, &rel));
                }
                out.push(rel);
            }
        } else if ft.is_file() {
            out.push(rel);
        } else if ft.is_dir()
            && NIX_MADE_DIRS.iter().any(|d| rel == Path::new(d))
            && read(&e.path())?.is_empty()
        {
            // Nix creates these (empty) whenever it opens the cache; they are not ours to list.
        } else {
            return Err(not_ours(dir, &rel));
        }
    }
    Ok(out)
}

fn not_ours(dir: &Path, rel: &Path) -> AppError {
    AppError::Input(format!(
        "{} is not a lucia-pkg Nix cache export ({} is not something an export writes); export into an empty or new directory, or into an earlier export",
        dir.display(),
        rel.display()
    ))
}

/// A missing or empty directory, or an earlier export (which this one replaces).
fn check_target(dir: &Path) -> Result<(), AppError> {
    match fs::metadata(dir) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(AppError::Input(format!("{}: {e}", dir.display()))),
        Ok(md) if !md.is_dir() => {
            return Err(AppError::Input(format!(
                "{} exists and is not a directory; give a new or empty directory",
                dir.display()
            )))
        }
        Ok(_) => {}
    }
    let files = listing(dir)?;
    if files.is_empty() {
        return Ok(());
    }
    if !files.iter().any(|f| f == Path::new(CACHE_INFO)) {
        return Err(AppError::Input(format!(
            "{} is not empty and holds no {CACHE_INFO}: refusing to write a cache into it; give a new or empty directory",
            dir.display()
        )));
    }
    match files.iter().find(|f| !is_export_file(f)) {
        Some(f) => Err(not_ours(dir, f)),
        None => Ok(()),
    }
}

/// Removes what an earlier export left that this one did not write (and stale temp files).
fn remove_stale(dir: &Path, keep: &BTreeSet<PathBuf>) -> Result<Vec<String>, AppError> {
    let mut removed = Vec::new();
    // narinfos first: a reader never sees a narinfo whose NAR is gone.
    let mut stale: Vec<PathBuf> = listing(dir)?
        .into_iter()
        .filter(|f| is_export_file(f) && !keep.contains(f))
        .collect();
    stale.sort_by_key(|f| f.starts_with("nar"));
    for f in stale {
        let p = dir.join(&f);
        fs::remove_file(&p).map_err(|e| fail(&p, e))?;
        let shown = f.to_string_lossy().into_owned();
        if !shown
            .rsplit('/')
            .next()
            .unwrap_or("")
            .starts_with(TMP_PREFIX)
        {
            removed.push(shown);
        }
    }
    Ok(removed)
}

/// Writes `dir/name` atomically, mode 0644.
fn write_file(dir: &Path, name: &str, bytes: &[u8]) -> Result<(), AppError> {
    let mut tmp = tempfile::Builder::new()
        .prefix(TMP_PREFIX)
        .tempfile_in(dir)
        .map_err(|e| fail(dir, e))?;
    let dest = dir.join(name);
    tmp.write_all(bytes)
        .and_then(|()| tmp.as_file().sync_all())
        .and_then(|()| fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o644)))
        .map_err(|e| fail(&dest, e))?;
    tmp.persist(&dest).map_err(|e| fail(&dest, e.error))?;
    Ok(())
}

fn fsync_dir(dir: &Path) -> Result<(), AppError> {
    File::open(dir)
        .and_then(|f| f.sync_all())
        .map_err(|e| fail(dir, e))
}

/// A `Write` that hashes and counts what it passes on.
struct Hashing<W> {
    inner: W,
    h: Sha256,
    n: u64,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.h.update(&buf[..n]);
        self.n += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// The NAR stream: hashed and counted, then compressed into the (hashed, counted) file.
struct NarSink<W: Write> {
    nar: Sha256,
    n: u64,
    enc: Encoder<Hashing<W>>,
}

impl<W: Write> Write for NarSink<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.enc.write_all(buf)?;
        self.nar.update(buf);
        self.n += buf.len() as u64;
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

type NarFile = ([u8; 32], u64, [u8; 32], u64, tempfile::NamedTempFile);

/// Streams the entry's NAR through xz into a temp file in `nar_dir`: (NAR sha256, NAR size,
/// file sha256, file size, the file).
fn write_nar(entry: &Entry, nar_dir: &Path) -> Result<NarFile, AppError> {
    let tmp = tempfile::Builder::new()
        .prefix(TMP_PREFIX)
        .suffix(".nar.xz")
        .tempfile_in(nar_dir)
        .map_err(|e| fail(nar_dir, e))?;
    let file = tmp.reopen().map_err(|e| fail(tmp.path(), e))?;
    let counted = Hashing {
        inner: BufWriter::with_capacity(256 * 1024, file),
        h: Sha256::new(),
        n: 0,
    };
    let mut sink = NarSink {
        nar: Sha256::new(),
        n: 0,
        enc: Encoder::new(CODEC, counted).map_err(|e| fail(tmp.path(), e))?,
    };
    nar::dump_path(entry.path(), &mut sink)
        .map_err(|e| AppError::Build(format!("exporting store entry {}: {e}", entry.id())))?;
    let NarSink { nar, n, enc } = sink;
    let counted = enc.finish().map_err(|e| fail(tmp.path(), e))?;
    let Hashing {
        inner,
        h,
        n: file_n,
    } = counted;
    let file = inner
        .into_inner()
        .map_err(|e| fail(tmp.path(), e.into_error()))?;
    file.sync_all()
        .and_then(|()| fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o644)))
        .map_err(|e| fail(tmp.path(), e))?;
    Ok((nar.finalize().into(), n, h.finalize().into(), file_n, tmp))
}

/// A Nix binary cache signing key (`nix key generate-secret`,
/// `nix-store --generate-binary-cache-key`): `<name>:<base64 of the 64-byte Ed25519 secret key>`.
pub struct SigningKey {
    name: String,
    public: [u8; 32],
    key: ssh_key::PrivateKey,
}

impl SigningKey {
    pub fn load(path: &Path) -> Result<SigningKey, AppError> {
        let text = fs::read_to_string(path)
            .map_err(|e| AppError::Input(format!("--sign-key {}: {e}", path.display())))?;
        Self::parse(&text).map_err(|why| {
            AppError::Input(format!(
                "--sign-key {}: {why}; make a key with `nix key generate-secret --key-name NAME > FILE` (or `nix-store --generate-binary-cache-key NAME FILE FILE.pub`)",
                path.display()
            ))
        })
    }

    fn parse(text: &str) -> Result<SigningKey, String> {
        let text = text.trim();
        let (name, b64) = text
            .split_once(':')
            .ok_or("it is not NAME:BASE64 (a Nix secret key)")?;
        if name.is_empty() || name.contains(char::is_whitespace) {
            return Err("the key name before ':' is empty or has white space".into());
        }
        let bytes = nar::encoding::from_base64(b64).ok_or("the part after ':' is not base64")?;
        let bytes: [u8; 64] = bytes.try_into().map_err(|b: Vec<u8>| {
            format!(
                "it holds {} bytes, an Ed25519 secret key is 64 (is this the public key?)",
                b.len()
            )
        })?;
        let keypair = ssh_key::private::Ed25519Keypair::from_bytes(&bytes)
            .map_err(|_| "its public half does not belong to its secret half")?;
        let mut public = [0u8; 32];
        public.copy_from_slice(keypair.public.as_ref());
        Ok(SigningKey {
            name: name.to_string(),
            public,
            key: keypair.into(),
        })
    }

    /// `name:base64(public key)`, what `trusted-public-keys` takes.
    pub fn public(&self) -> String {
        format!("{}:{}", self.name, nar::encoding::base64(&self.public))
    }

    /// The `Sig:` value for a fingerprint.
    pub fn sign(&self, fingerprint: &str) -> Result<String, AppError> {
        let sig = sign_raw(&self.key, fingerprint.as_bytes())?;
        Ok(nar::narinfo::sig_field(&self.name, &sig))
    }
}

fn sign_raw<K: ssh_key::SigningKey>(key: &K, message: &[u8]) -> Result<Vec<u8>, AppError> {
    let sig = key
        .try_sign(message)
        .map_err(|e| AppError::Build(format!("signing a narinfo: {e}")))?;
    Ok(sig.as_bytes().to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_map_tilde_and_keep_the_rest() {
        assert_eq!(
            nix_name("lucia_1.0~rc.1_amd64.deb").unwrap(),
            "lucia_1.0_rc.1_amd64.deb"
        );
        assert_eq!(nix_name("a+b=c-1.0").unwrap(), "a+b=c-1.0");
        assert!(nix_name("").is_err());
    }

    #[test]
    fn only_export_files_count_as_an_export() {
        for ok in [
            "nix-cache-info",
            "abc.narinfo",
            "nar/x.nar.xz",
            "nar/.tmp-1",
            ".tmp-x",
        ] {
            assert!(is_export_file(Path::new(ok)), "{ok}");
        }
        for bad in [
            "README",
            "nar/x.nar",
            "nar/a/b.nar.xz",
            "log/x",
            "x.narinfo.bak",
        ] {
            assert!(!is_export_file(Path::new(bad)), "{bad}");
        }
    }

    #[test]
    fn key_parsing_refuses_what_is_not_a_secret_key() {
        let seed = [7u8; 32];
        let kp = ssh_key::private::Ed25519Keypair::from_seed(&seed);
        let text = format!("test-1:{}\n", nar::encoding::base64(&kp.to_bytes()));
        let k = SigningKey::parse(&text).unwrap();
        assert!(k.public().starts_with("test-1:"));
        let sig = k.sign("1;x;y;1;").unwrap();
        assert!(sig.starts_with("test-1:"));
        assert_eq!(k.sign("1;x;y;1;").unwrap(), sig, "Ed25519 is deterministic");
        for bad in [
            "nocolon",
            ":AAAA",
            "k:not base64",
            &format!("k:{}", nar::encoding::base64(kp.public.as_ref())),
        ] {
            assert!(SigningKey::parse(bad).is_err(), "{bad}");
        }
        let mut wrong = kp.to_bytes();
        wrong[40] ^= 1;
        assert!(SigningKey::parse(&format!("k:{}", nar::encoding::base64(&wrong))).is_err());
    }
}
