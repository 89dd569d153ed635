//! The content-addressed output store (src/store): put/get, sealing, concurrent writers in
//! threads and processes, recovery from a killed writer, linking into out dirs and GC.

use lucia_pkg::store;

use std::fs;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use store::{BuildError, BuildKey, KeyBuilder, LinkMethod, Store};

const WORKER_ENV: &str = "LUCIA_STORE_TEST_WORKER";

/// A temp dir that first makes sealed (read-only) store directories writable again, so it can
/// be removed without root.
struct TestDir(tempfile::TempDir);

impl TestDir {
    fn path(&self) -> &Path {
        self.0.path()
    }
}

impl Drop for TestDir {
    fn drop(&mut self) {
        fn unseal(p: &Path) {
            if fs::symlink_metadata(p).is_ok_and(|m| m.is_dir()) {
                let _ = fs::set_permissions(p, fs::Permissions::from_mode(0o755));
                for e in fs::read_dir(p).into_iter().flatten().flatten() {
                    unseal(&e.path());
                }
            }
        }
        unseal(self.0.path());
    }
}

fn tempdir() -> TestDir {
    TestDir(tempfile::tempdir().unwrap())
}

fn key(s: &str) -> BuildKey {
    KeyBuilder::new().part("test", s).finish()
}

fn write_outputs(dir: &Path, text: &str) -> Result<(), BuildError> {
    fs::write(dir.join("pkg.deb"), text)?;
    fs::create_dir_all(dir.join("oci/blobs/sha256"))?;
    fs::write(dir.join("oci/blobs/sha256/aa"), format!("blob {text}"))?;
    fs::write(dir.join("oci/index.json"), "{}")?;
    fs::write(dir.join("run.sh"), "#!/bin/sh\n")?;
    fs::set_permissions(dir.join("run.sh"), fs::Permissions::from_mode(0o755))?;
    Ok(())
}

fn mode(p: &Path) -> u32 {
    fs::symlink_metadata(p).unwrap().permissions().mode() & 0o7777
}

fn temp_dirs(root: &Path) -> Vec<PathBuf> {
    fs::read_dir(root.join(".tmp"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect()
}

#[test]
fn put_then_get_sealed_and_cached() {
    let d = tempdir();
    let s = Store::open(&d.path().join("store")).unwrap();
    let k = key("a");
    assert!(s.get(&k, "deb-amd64").is_none());
    let put = s
        .put(&k, "deb-amd64", |dir| write_outputs(dir, "one"))
        .unwrap();
    assert!(!put.cached);
    let e = put.entry;
    assert_eq!(e.path(), s.root().join(format!("{k}-deb-amd64")));
    assert_eq!(s.get(&k, "deb-amd64").as_ref(), Some(&e));
    assert_eq!(fs::read_to_string(e.path().join("pkg.deb")).unwrap(), "one");
    assert_eq!(mode(&e.path().join("pkg.deb")), 0o444);
    assert_eq!(mode(&e.path().join("run.sh")), 0o555);
    assert_eq!(mode(e.path()), 0o555);
    assert_eq!(mode(&e.path().join("oci/blobs")), 0o555);
    // The recorded NAR hash is Nix's hash of the entry, and verify agrees until it changes.
    let nar = nar::sri_sha256(&nar::nar_hash(e.path()).unwrap());
    assert_eq!(s.nar_hash(&e).as_deref(), Some(nar.as_str()));
    assert!(s.verify(&e).unwrap());
    let again = s
        .put(&k, "deb-amd64", |_| {
            panic!("cached entries must not rebuild")
        })
        .unwrap();
    assert!(again.cached);
    assert_eq!(again.entry, e);
    // Root bypasses permission bits, so tamper as root to prove verify notices.
    fs::set_permissions(e.path().join("pkg.deb"), fs::Permissions::from_mode(0o644)).unwrap();
    fs::write(e.path().join("pkg.deb"), "tampered").unwrap();
    assert!(!s.verify(&e).unwrap());
    s.remove(&e).unwrap();
    assert!(s.get(&k, "deb-amd64").is_none());
    assert!(temp_dirs(s.root()).is_empty());
}

#[test]
fn failed_build_leaves_nothing_and_names_the_entry() {
    let d = tempdir();
    let s = Store::open(d.path()).unwrap();
    let k = key("fail");
    let err = s
        .put(&k, "rpm-x86_64", |dir| {
            fs::write(dir.join("half"), "x")?;
            Err("compressor exploded".into())
        })
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("rpm-x86_64") && err.contains("compressor exploded"),
        "{err}"
    );
    assert!(s.get(&k, "rpm-x86_64").is_none());
    assert!(temp_dirs(s.root()).is_empty());
    for bad in ["", ".hidden", "a/b", "sp ace"] {
        assert!(s.put(&k, bad, |_| Ok(())).is_err(), "{bad:?}");
    }
}

#[test]
fn concurrent_thread_puts_build_once() {
    let d = tempdir();
    let root = d.path().to_path_buf();
    let builds = Arc::new(AtomicUsize::new(0));
    let handles: Vec<_> = (0..6)
        .map(|_| {
            let (root, builds) = (root.clone(), builds.clone());
            std::thread::spawn(move || {
                let s = Store::open(&root).unwrap();
                let put = s
                    .put(&key("shared"), "tar", |dir| {
                        builds.fetch_add(1, Ordering::SeqCst);
                        std::thread::sleep(Duration::from_millis(150));
                        write_outputs(dir, "t")
                    })
                    .unwrap();
                (put.cached, put.entry.path().to_path_buf())
            })
        })
        .collect();
    let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(builds.load(Ordering::SeqCst), 1);
    assert_eq!(results.iter().filter(|(cached, _)| !cached).count(), 1);
    assert!(results.iter().all(|(_, p)| p == &results[0].1));
}

#[test]
fn one_store_shared_by_threads_builds_each_entry_once() {
    let d = tempdir();
    let s = Arc::new(Store::open(d.path()).unwrap());
    let builds = Arc::new(AtomicUsize::new(0));
    let handles: Vec<_> = (0..8)
        .map(|i| {
            let (s, builds) = (s.clone(), builds.clone());
            std::thread::spawn(move || {
                // Two distinct entries, four builders each.
                let name = if i % 2 == 0 { "deb" } else { "rpm" };
                s.put(&key("shared-handle"), name, |dir| {
                    builds.fetch_add(1, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(100));
                    write_outputs(dir, name)
                })
                .unwrap()
                .cached
            })
        })
        .collect();
    let cached = handles
        .into_iter()
        .map(|h| h.join().unwrap())
        .filter(|c| *c)
        .count();
    assert_eq!(builds.load(Ordering::SeqCst), 2);
    assert_eq!(cached, 6);
    assert_eq!(s.entries().unwrap().len(), 2);
}

fn spawn_worker(mode: &str, root: &Path, stdout: Stdio) -> std::process::Child {
    Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "worker_process_entry_point",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(WORKER_ENV, format!("{mode}:{}", root.display()))
        .stdout(stdout)
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap()
}

/// Not a test on its own: the body of the child processes spawned by the tests below (it
/// returns at once unless the worker variable is set).
#[test]
fn worker_process_entry_point() {
    let Ok(spec) = std::env::var(WORKER_ENV) else {
        return;
    };
    let (mode, root) = spec.split_once(':').unwrap();
    let s = Store::open(Path::new(root)).unwrap();
    match mode {
        "put" => {
            let put = s
                .put(&key("proc"), "oci", |dir| {
                    std::thread::sleep(Duration::from_millis(200));
                    write_outputs(dir, "p")
                })
                .unwrap();
            println!("WORKER cached={}", put.cached);
        }
        "hang" => {
            let _ = s.put(&key("killed"), "deb", |dir| {
                fs::write(dir.join("partial.deb"), "half written")?;
                println!("WORKER ready");
                std::thread::sleep(Duration::from_secs(120));
                Ok(())
            });
        }
        other => panic!("unknown worker mode {other}"),
    }
}

#[test]
fn concurrent_process_puts_build_once() {
    let d = tempdir();
    let children: Vec<_> = (0..4)
        .map(|_| spawn_worker("put", d.path(), Stdio::piped()))
        .collect();
    let mut built = 0;
    let mut cached = 0;
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(out.status.success());
        let text = String::from_utf8_lossy(&out.stdout);
        built += text.matches("WORKER cached=false").count();
        cached += text.matches("WORKER cached=true").count();
    }
    assert_eq!((built, cached), (1, 3));
    let s = Store::open(d.path()).unwrap();
    let e = s.get(&key("proc"), "oci").unwrap();
    assert!(s.verify(&e).unwrap());
}

#[test]
fn killed_writer_leaves_temp_that_next_open_removes() {
    let d = tempdir();
    let mut child = spawn_worker("hang", d.path(), Stdio::piped());
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    assert!(
        lines.any(|l| l.unwrap().contains("WORKER ready")),
        "worker never started writing"
    );
    // While the writer lives, opening the store must not touch its temp dir.
    drop(Store::open(d.path()).unwrap());
    assert_eq!(temp_dirs(d.path()).len(), 1);
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(
        temp_dirs(d.path()).len(),
        1,
        "SIGKILL leaves the temp dir behind"
    );
    let s = Store::open(d.path()).unwrap();
    assert!(
        temp_dirs(d.path()).is_empty(),
        "open must clean dead writers' temp dirs"
    );
    assert!(s.get(&key("killed"), "deb").is_none());
    // The dead writer's lock died with it: a new build of the same entry proceeds.
    let put = s
        .put(&key("killed"), "deb", |dir| write_outputs(dir, "k"))
        .unwrap();
    assert!(!put.cached);
}

#[test]
fn link_into_hardlinks_and_replaces_atomically() {
    let d = tempdir();
    let s = Store::open(&d.path().join("store")).unwrap();
    let e = s
        .put(&key("l"), "all", |dir| write_outputs(dir, "v1"))
        .unwrap()
        .entry;
    let out = d.path().join("out");
    fs::create_dir_all(out.join("oci/stale")).unwrap();
    fs::write(out.join("pkg.deb"), "old").unwrap();
    fs::write(out.join("unrelated.txt"), "keep me").unwrap();
    let linked = s.link_into(&e, &out).unwrap();
    assert_eq!(
        linked.top_level,
        [PathBuf::from("oci"), "pkg.deb".into(), "run.sh".into()]
    );
    assert_eq!(linked.files.len(), 4);
    assert!(linked
        .files
        .iter()
        .all(|f| f.method == LinkMethod::Hardlink));
    let ino = |p: &Path| fs::metadata(p).unwrap().ino();
    assert_eq!(ino(&out.join("pkg.deb")), ino(&e.path().join("pkg.deb")));
    assert_eq!(
        fs::read_to_string(out.join("oci/blobs/sha256/aa")).unwrap(),
        "blob v1"
    );
    assert!(
        !out.join("oci/stale").exists(),
        "a replaced directory is replaced whole"
    );
    assert_eq!(
        fs::read_to_string(out.join("unrelated.txt")).unwrap(),
        "keep me"
    );
    let leftovers: Vec<_> = fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn link_into_copies_across_filesystems() {
    let d = tempdir();
    let shm = Path::new("/dev/shm");
    let same_fs =
        fs::metadata(shm).map(|m| m.dev()).ok() == Some(fs::metadata(d.path()).unwrap().dev());
    if !shm.is_dir() || same_fs {
        eprintln!("SKIP: no second filesystem (/dev/shm) distinct from the temp dir");
        return;
    }
    let s = Store::open(d.path()).unwrap();
    let e = s
        .put(&key("x"), "tar", |dir| write_outputs(dir, "c"))
        .unwrap()
        .entry;
    let out = tempfile::tempdir_in(shm).unwrap();
    let linked = s.link_into(&e, out.path()).unwrap();
    assert!(linked.files.iter().all(|f| f.method == LinkMethod::Copy));
    assert_eq!(fs::read(out.path().join("pkg.deb")).unwrap(), b"c");
    assert_eq!(mode(&out.path().join("run.sh")) & 0o100, 0o100);
}

#[test]
fn gc_keeps_rooted_entries_and_removes_the_rest() {
    let d = tempdir();
    let s = Store::open(&d.path().join("store")).unwrap();
    let put = |n: &str| {
        s.put(&key(n), n, |dir| {
            fs::write(dir.join(format!("{n}.out")), n)?;
            Ok(())
        })
    };
    let (a, b, c, x) = (
        put("a").unwrap().entry,
        put("b").unwrap().entry,
        put("c").unwrap().entry,
        put("x").unwrap().entry,
    );
    let (out1, out2) = (d.path().join("out1"), d.path().join("out2"));
    let la = s.link_into(&a, &out1).unwrap();
    let lb = s.link_into(&b, &out1).unwrap();
    s.add_root(&out1, &[la, lb]).unwrap();
    let lx = s.link_into(&x, &out2).unwrap();
    s.add_root(&out2, &[lx]).unwrap();

    let dry = s.gc(true).unwrap();
    assert_eq!(dry.removed, [c.id()]);
    assert!(s.get(c.key(), "c").is_some(), "dry run deletes nothing");

    let r = s.gc(false).unwrap();
    assert_eq!(r.removed, [c.id()]);
    assert_eq!(r.kept.len(), 3);
    assert_eq!(r.live_roots, 2);
    assert!(r.freed_bytes >= 1);
    assert!(s.get(c.key(), "c").is_none());
    assert!(s.get(a.key(), "a").is_some());

    // Deleting an out file unroots only that entry; replacing one (new inode) too.
    fs::remove_file(out1.join("b.out")).unwrap();
    fs::remove_file(out1.join("a.out")).unwrap();
    fs::write(out1.join("a.out"), "a").unwrap();
    let r = s.gc(false).unwrap();
    let mut removed = r.removed.clone();
    removed.sort();
    let mut want = vec![a.id(), b.id()];
    want.sort();
    assert_eq!(removed, want);
    assert_eq!(r.dead_roots, [fs::canonicalize(&out1).unwrap()]);
    assert_eq!(r.kept, [x.id()]);

    // A removed out dir kills its root.
    fs::remove_dir_all(&out2).unwrap();
    let r = s.gc(false).unwrap();
    assert_eq!(r.removed, [x.id()]);
    assert!(s.entries().unwrap().is_empty());
}

#[test]
fn add_root_keeps_earlier_entries_still_present() {
    let d = tempdir();
    let s = Store::open(&d.path().join("store")).unwrap();
    let deb = s
        .put(&key("deb"), "deb", |dir| {
            Ok(fs::write(dir.join("x.deb"), "d")?)
        })
        .unwrap()
        .entry;
    let rpm = s
        .put(&key("rpm"), "rpm", |dir| {
            Ok(fs::write(dir.join("x.rpm"), "r")?)
        })
        .unwrap()
        .entry;
    let deb2 = s
        .put(&key("deb2"), "deb", |dir| {
            Ok(fs::write(dir.join("x.deb"), "d2")?)
        })
        .unwrap()
        .entry;
    let out = d.path().join("out");
    let l = s.link_into(&deb, &out).unwrap();
    s.add_root(&out, &[l]).unwrap();
    // A later build of only the rpm keeps the deb rooted; a rebuilt deb replaces the old one.
    let l = s.link_into(&rpm, &out).unwrap();
    s.add_root(&out, &[l]).unwrap();
    assert!(s.gc(false).unwrap().removed == [deb2.id()]);
    let deb2 = s
        .put(&key("deb2"), "deb", |dir| {
            Ok(fs::write(dir.join("x.deb"), "d2")?)
        })
        .unwrap()
        .entry;
    let l = s.link_into(&deb2, &out).unwrap();
    s.add_root(&out, &[l]).unwrap();
    let r = s.gc(false).unwrap();
    assert_eq!(r.removed, [deb.id()]);
    assert_eq!(r.kept.len(), 2);
}
