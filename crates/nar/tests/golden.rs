//! Golden values printed by Nix 2.8 (Debian nix-bin) for the fixture tree; the workspace's
//! `tests/nix.rs` additionally compares against a live `nix` on every run.

mod fixture;

use nar::encoding::{nix32, nix32_sha256};
use nar::{dump_path, nar_hash, nar_hash_and_size, sri_sha256, store_path_for, Contents, Tree};
use std::fs;
use std::os::unix::fs::PermissionsExt;

// nix-hash --type sha256 [--base32] T; nix hash path T; nix-store --dump T | wc -c;
// nix-store --print-fixed-path --recursive sha256 <base32> nartree
const TREE_HEX: &str = "3f5fa825c0fbf25c57613e4cc31117e68ec4d41596eb81244a7b52255ac2abb2";
const TREE_B32: &str = "1cmbq9d2alkv98j83swn2pac93p62w8w6k1yc5bmrwpvq0jshprz";
const TREE_SRI: &str = "sha256-P1+oJcD78lxXYT5MwxEX5o7E1BWW64EkSntSJVrCq7I=";
const TREE_NAR_SIZE: u64 = 3656;
const TREE_STORE_PATH: &str = "/nix/store/8zjk6xlfw54fdf0v8dp3a23zl7x58h2y-nartree";
// nix-hash --type sha256 T/data/hello.txt; nix-hash --type sha256 T/link-rel
const FILE_HEX: &str = "1c37d01af40be2e80691de3cc3df44377a699afbb17c68f080964b2fd071fc13";
const LINK_HEX: &str = "7baaa59f99573a8cb111f101bf6dac23b3c04a4894936c236afd9a9a5a438ba2";

fn tree() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("nartree");
    fixture::sample_tree(&root).unwrap();
    (dir, root)
}

#[test]
fn tree_hash_matches_nix() {
    let (_d, root) = tree();
    let (h, size) = nar_hash_and_size(&root).unwrap();
    assert_eq!(hex::encode(h), TREE_HEX);
    assert_eq!(nix32(&h), TREE_B32);
    assert_eq!(nix32_sha256(&h), format!("sha256:{TREE_B32}"));
    assert_eq!(sri_sha256(&h), TREE_SRI);
    assert_eq!(size, TREE_NAR_SIZE);
    assert_eq!(store_path_for(&h, "nartree").unwrap(), TREE_STORE_PATH);
}

#[test]
fn nar_bytes_hash_to_the_nar_hash_and_are_stable() {
    let (_d, root) = tree();
    let mut a = Vec::new();
    dump_path(&root, &mut a).unwrap();
    let mut b = Vec::new();
    dump_path(&root, &mut b).unwrap();
    assert_eq!(a, b);
    assert_eq!(a.len() as u64, TREE_NAR_SIZE);
    assert_eq!(
        hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&a)),
        TREE_HEX
    );
    assert_eq!(&a[..8], &13u64.to_le_bytes());
    assert_eq!(&a[8..21], b"nix-archive-1");
}

#[test]
fn single_file_and_symlink_match_nix() {
    let (_d, root) = tree();
    assert_eq!(
        hex::encode(nar_hash(&root.join("data/hello.txt")).unwrap()),
        FILE_HEX
    );
    // The root symlink itself is serialized, not its target.
    assert_eq!(
        hex::encode(nar_hash(&root.join("link-rel")).unwrap()),
        LINK_HEX
    );
}

#[test]
fn only_owner_execute_bit_counts_and_changes_are_seen() {
    let (_d, root) = tree();
    let before = nar_hash(&root).unwrap();
    let f = root.join("data/hello.txt");
    fs::set_permissions(&f, fs::Permissions::from_mode(0o645)).unwrap();
    assert_eq!(
        nar_hash(&root).unwrap(),
        before,
        "other-execute must not matter"
    );
    fs::set_permissions(&f, fs::Permissions::from_mode(0o744)).unwrap();
    assert_ne!(
        nar_hash(&root).unwrap(),
        before,
        "owner-execute must matter"
    );
    fs::set_permissions(&f, fs::Permissions::from_mode(0o644)).unwrap();
    fs::write(root.join("empty-dir/new"), b"").unwrap();
    assert_ne!(nar_hash(&root).unwrap(), before);
}

#[test]
fn in_memory_tree_equals_disk_tree() {
    let (d, root) = tree();
    let extern_file = d.path().join("payload");
    fs::write(&extern_file, b"#!/bin/sh\necho hi\n").unwrap();
    let mut t = Tree::dir();
    t.insert(b"bin/run", Tree::file(&extern_file, true))
        .unwrap();
    t.insert(b"data/empty", Tree::bytes(Vec::new(), false))
        .unwrap();
    t.insert(b"data/hello.txt", Tree::bytes(&b"hello\n"[..], false))
        .unwrap();
    t.insert(b"empty-dir", Tree::dir()).unwrap();
    t.insert(b"link-rel", Tree::symlink(&b"data/hello.txt"[..]))
        .unwrap();
    t.insert(b"link-abs", Tree::symlink(&b"/nonexistent/abs"[..]))
        .unwrap();
    t.insert(b"dangling", Tree::symlink(&b"missing"[..]))
        .unwrap();
    t.insert(b"nested/a/b/c/deep.txt", Tree::bytes(&b"deep"[..], false))
        .unwrap();
    t.insert(b"name-\xff\xfe", Tree::bytes(&b"x"[..], false))
        .unwrap();
    t.insert("é".as_bytes(), Tree::bytes(&b"e"[..], false))
        .unwrap();
    t.insert(b"a", Tree::bytes(&b"a"[..], false)).unwrap();
    t.insert(b"B", Tree::bytes(&b"B"[..], false)).unwrap();
    t.insert(b"/group-exec", Tree::bytes(&b"g"[..], false))
        .unwrap();
    assert_eq!(hex::encode(t.nar_hash().unwrap()), TREE_HEX);
    assert_eq!(t.nar_hash_and_size().unwrap().1, TREE_NAR_SIZE);
    let mut from_mem = Vec::new();
    t.dump(&mut from_mem).unwrap();
    let mut from_disk = Vec::new();
    dump_path(&root, &mut from_disk).unwrap();
    assert_eq!(from_mem, from_disk);
    assert!(
        matches!(&t, Tree::Directory(m) if matches!(m.get(&b"bin"[..]), Some(Tree::Directory(_))))
    );
    let _ = Contents::Bytes(Vec::new());
}

#[test]
fn bad_tree_paths_are_rejected() {
    let mut t = Tree::dir();
    t.insert(b"f", Tree::bytes(&b""[..], false)).unwrap();
    assert!(t.insert(b"f/below", Tree::dir()).is_err());
    assert!(t.insert(b"../x", Tree::dir()).is_err());
    assert!(t.insert(b"a/./b", Tree::dir()).is_err());
    assert!(t.insert(b"nul\0", Tree::dir()).is_err());
    assert!(t.insert(b"/", Tree::dir()).is_err());
}

#[test]
fn special_files_and_missing_paths_name_the_path() {
    let d = tempfile::tempdir().unwrap();
    let fifo = d.path().join("pipe");
    let st = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(st.success());
    let err = nar_hash(d.path()).unwrap_err().to_string();
    assert!(err.contains("pipe") && err.contains("FIFO"), "{err}");
    let err = nar_hash(&d.path().join("nope")).unwrap_err().to_string();
    assert!(err.contains("nope"), "{err}");
}

/// One read gives the same NAR hash and size as `nar_hash_and_size`, plus every regular file's
/// sha256 (checked against hashing each file on its own), in NAR (bytewise) order.
#[test]
fn file_digests_come_with_the_nar_hash() {
    use sha2::{Digest, Sha256};
    let (_d, root) = tree();
    let (h, size, files) = nar::nar_hash_with_file_digests(&root).unwrap();
    assert_eq!(hex::encode(h), TREE_HEX);
    assert_eq!(size, TREE_NAR_SIZE);
    let rels: Vec<Vec<u8>> = files
        .iter()
        .map(|f| {
            use std::os::unix::ffi::OsStrExt;
            f.path
                .strip_prefix(&root)
                .unwrap()
                .as_os_str()
                .as_bytes()
                .to_vec()
        })
        .collect();
    let mut sorted = rels.clone();
    sorted.sort();
    assert_eq!(rels, sorted);
    // 9 regular files in the fixture; symlinks and directories are not listed.
    assert_eq!(files.len(), 9, "{rels:?}");
    for f in &files {
        let bytes = fs::read(&f.path).unwrap();
        assert_eq!(f.size, bytes.len() as u64);
        assert_eq!(
            f.sha256,
            <[u8; 32]>::from(Sha256::digest(&bytes)),
            "{:?}",
            f.path
        );
    }
    let hello = files
        .iter()
        .find(|f| f.path.ends_with("data/hello.txt"))
        .unwrap();
    assert_eq!(
        hex::encode(hello.sha256),
        "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03" // sha256sum of "hello\n"
    );
}
