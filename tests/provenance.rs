//! `attest`: provenance.intoto.jsonl is one DSSE envelope (one JSON line) around an in-toto
//! Statement v1 with a SLSA Provenance v1 predicate. Checked with real consumers: securesystemslib
//! verifies the envelope with the public key (and refuses tampered copies), `sha256sum` agrees with
//! every subject, `nix-hash` with every payload's NAR digest, `ssh-keygen -l` with the keyid. Two
//! runs under a different TZ, umask and locale give the same bytes; bad inputs exit 2 and write
//! nothing; `SHA256SUMS` is never touched; a later build removes the file.
//!
//! securesystemslib (with `cryptography`) comes from PyPI into the venv scripts/ci-setup.sh makes
//! for the SBOM validators; `LUCIA_SBOM_PYTHON` names that venv's python. Without it (or without
//! ssh-keygen) the tests skip with a reason, unless `LUCIA_E2E_REQUIRED=1` (CI), where they fail.

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

mod common;
use common::*;

/// Whether `tool` can run: without it the test is skipped, or fails when e2e is required.
fn available(test: &str, tool: &str) -> bool {
    if have(tool) {
        return true;
    }
    assert!(
        !e2e_required(),
        "{test}: {tool} is missing and LUCIA_E2E_REQUIRED=1"
    );
    eprintln!("skipping {test}: {tool} is not installed");
    false
}

/// `ssh-keygen -q -t TYPE -N PASS -C test -f DIR/NAME`.
fn keygen(dir: &Path, name: &str, kind: &str, pass: &str) {
    let o = Command::new("ssh-keygen")
        .args(["-q", "-t", kind, "-N", pass, "-C", "test", "-f", name])
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(o.status.success(), "ssh-keygen -t {kind}: {}", text(&o));
}

/// A shell-script service built into `dist` (amd64 tarball and OCI image, with their SBOMs) with
/// a `--set` override.
fn built_project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    fs::create_dir_all(p.join("out")).unwrap();
    fs::write(p.join("out/svc"), "#!/bin/sh\nexec sleep 1\n").unwrap();
    fs::set_permissions(p.join("out/svc"), fs::Permissions::from_mode(0o755)).unwrap();
    let o = lucia(p, &["init", "--payload", "out"]);
    assert!(o.status.success(), "{}", text(&o));
    build(p);
    dir
}

fn build(p: &Path) {
    let o = lucia(
        p,
        &[
            "build",
            "-a",
            "amd64",
            "-f",
            "tar,oci",
            "-o",
            "dist",
            "--set",
            "package.version=1.2.3",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
}

/// `lucia-pkg attest -o dist` with `extra` arguments, the key variable unset unless `env` sets it.
fn attest(p: &Path, extra: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(bin());
    c.args(["attest", "-o", "dist"])
        .args(extra)
        .current_dir(p)
        .env_remove("LUCIA_PKG_SUMS_KEY")
        .env_remove("LUCIA_PKG_SIGNING_PASSPHRASE")
        .env("LUCIA_PKG_STORE", p.join(".store"))
        .stdin(Stdio::null());
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

const FILE: &str = "dist/provenance.intoto.jsonl";

/// The envelope and the statement it carries.
fn read_envelope(p: &Path) -> (Value, Value) {
    let line = fs::read_to_string(p.join(FILE)).unwrap();
    assert!(
        line.ends_with('\n') && line.matches('\n').count() == 1,
        "{line}"
    );
    let env: Value = serde_json::from_str(&line).unwrap();
    let payload = decode_base64(env["payload"].as_str().unwrap());
    let statement: Value = serde_json::from_slice(&payload).unwrap();
    (env, statement)
}

/// Standard base64 → bytes (through `base64 -d`, coreutils).
fn decode_base64(b64: &str) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("b64"), b64).unwrap();
    let o = Command::new("base64")
        .args(["-d", "b64"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    o.stdout
}

/// `sha256sum` of files under `dir`, by name.
fn sha256sum(dir: &Path, names: &[&str]) -> Vec<String> {
    let o = Command::new("sha256sum")
        .args(names)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    String::from_utf8(o.stdout)
        .unwrap()
        .lines()
        .map(|l| l.split_whitespace().next().unwrap().to_string())
        .collect()
}

/// Names `SHA256SUMS` lists.
fn listed(p: &Path) -> Vec<String> {
    fs::read_to_string(p.join("dist/SHA256SUMS"))
        .unwrap()
        .lines()
        .map(|l| l.split_once("  ").unwrap().1.to_string())
        .collect()
}

fn dir_listing(dir: &Path) -> BTreeSet<String> {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn statement_matches_the_out_dir_and_is_reproducible() {
    let test = "statement_matches_the_out_dir_and_is_reproducible";
    if !available(test, "ssh-keygen") {
        return;
    }
    let dir = built_project();
    let p = dir.path();
    keygen(p, "key", "ed25519", "");
    let sums_before = fs::read(p.join("dist/SHA256SUMS")).unwrap();
    let listing_before = dir_listing(&p.join("dist"));

    let o = attest(p, &["--key", "key"], &[]);
    assert!(o.status.success(), "{}", text(&o));
    let out = text(&o);
    let secret = fs::read_to_string(p.join("key")).unwrap();
    let body = secret.lines().nth(1).unwrap();
    assert!(!out.contains(body), "key material in the output: {out}");
    let first = fs::read(p.join(FILE)).unwrap();
    assert!(!String::from_utf8_lossy(&first).contains(body));

    // Nothing else changes in the out dir.
    assert_eq!(fs::read(p.join("dist/SHA256SUMS")).unwrap(), sums_before);
    let mut listing = listing_before.clone();
    listing.insert("provenance.intoto.jsonl".into());
    assert_eq!(dir_listing(&p.join("dist")), listing);

    let (env, st) = read_envelope(p);
    assert_eq!(env["payloadType"], "application/vnd.in-toto+json");
    let sigs = env["signatures"].as_array().unwrap();
    assert_eq!(sigs.len(), 1);
    // keyid: the key's OpenSSH SHA256 fingerprint, as `ssh-keygen -l` prints it.
    let o = Command::new("ssh-keygen")
        .args(["-l", "-f", "key.pub"])
        .current_dir(p)
        .output()
        .unwrap();
    let fingerprint = String::from_utf8(o.stdout).unwrap();
    let keyid = sigs[0]["keyid"].as_str().unwrap();
    assert!(keyid.starts_with("SHA256:"), "{keyid}");
    assert_eq!(fingerprint.split_whitespace().nth(1), Some(keyid));
    assert_eq!(decode_base64(sigs[0]["sig"].as_str().unwrap()).len(), 64);

    assert_eq!(st["_type"], "https://in-toto.io/Statement/v1");
    assert_eq!(st["predicateType"], "https://slsa.dev/provenance/v1");

    // Subjects: every output SHA256SUMS lists, except build-info.json and the files inside the
    // OCI layout, which is one subject named by its image index digest.
    let layout = "svc-1.2.3-oci";
    let subjects = st["subject"].as_array().unwrap();
    let names: Vec<&str> = subjects
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    let mut want: Vec<String> = listed(p)
        .into_iter()
        .filter(|n| n != "build-info.json" && !n.starts_with(&format!("{layout}/")))
        .collect();
    want.push(layout.into());
    want.sort();
    assert_eq!(names, want);
    for name in [
        "svc-1.2.3-linux-amd64.tar.gz",
        "svc-1.2.3-linux-amd64.tar.gz.spdx.json",
        "svc-1.2.3-linux-amd64.tar.gz.cdx.json",
        "svc-1.2.3-oci.tar",
        "svc-1.2.3-oci.sbom/linux-amd64.spdx.json",
    ] {
        assert!(names.contains(&name), "{name} is not a subject: {names:?}");
    }
    let files: Vec<&str> = names.iter().copied().filter(|n| *n != layout).collect();
    let sums = sha256sum(&p.join("dist"), &files);
    for (name, sum) in files.iter().zip(&sums) {
        let s = subjects.iter().find(|s| s["name"] == *name).unwrap();
        assert_eq!(s["digest"]["sha256"], sum.as_str(), "{name}");
        assert_eq!(s["digest"].as_object().unwrap().len(), 1);
    }
    let index: Value =
        serde_json::from_slice(&fs::read(p.join("dist").join(layout).join("index.json")).unwrap())
            .unwrap();
    let index_digest = index["manifests"][0]["digest"].as_str().unwrap();
    let oci = subjects.iter().find(|s| s["name"] == layout).unwrap();
    assert_eq!(
        format!("sha256:{}", oci["digest"]["sha256"].as_str().unwrap()),
        index_digest
    );
    assert_eq!(oci["mediaType"], "application/vnd.oci.image.index.v1+json");
    let blob = format!("{layout}/blobs/sha256/{}", &index_digest[7..]);
    assert_eq!(
        sha256sum(&p.join("dist"), &[&blob])[0],
        &index_digest[7..],
        "the index blob's sha256 is its digest"
    );

    // The build definition.
    let pred = &st["predicate"];
    let bd = &pred["buildDefinition"];
    assert_eq!(
        bd["buildType"],
        "https://github.com/lucia-pkg/lucia-pkg/build/v1"
    );
    assert_eq!(
        bd["externalParameters"],
        serde_json::json!({ "manifest": "lucia-pkg.toml", "set": ["package.version=1.2.3"] })
    );
    assert_eq!(
        bd["internalParameters"],
        serde_json::json!({ "sourceDateEpoch": 315532800, "sourceDate": "1980-01-01T00:00:00Z", "sourceDateOrigin": "default" })
    );
    let deps = bd["resolvedDependencies"].as_array().unwrap();
    let dep = |name: &str| {
        deps.iter()
            .find(|d| d["name"] == name)
            .unwrap_or_else(|| panic!("no dependency {name}: {deps:?}"))
    };
    assert_eq!(
        dep("lucia-pkg.toml")["digest"]["sha256"],
        sha256sum(p, &["lucia-pkg.toml"])[0].as_str()
    );
    assert_eq!(
        dep("svc.service")["digest"]["sha256"],
        sha256sum(p, &["svc.service"])[0].as_str()
    );
    let payload = dep("out");
    assert_eq!(payload["annotations"]["kind"], "payload");
    assert_eq!(payload["annotations"]["arch"], "amd64");
    let nar = payload["digest"]["nixNarSha256"].as_str().unwrap();
    if available(test, "nix-hash") {
        let o = Command::new("nix-hash")
            .args(["--type", "sha256", "out"])
            .current_dir(p)
            .env("NIX_CONFIG", "build-users-group =")
            .env("XDG_CACHE_HOME", p.join(".nix-cache"))
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", text(&o));
        assert_eq!(String::from_utf8(o.stdout).unwrap().trim(), nar);
    }
    let o = lucia(p, &["hash", "out"]);
    assert_eq!(
        String::from_utf8(o.stdout).unwrap().trim(),
        payload["annotations"]["nixHashPath"].as_str().unwrap()
    );

    // The run: the builder, SHA256SUMS and build-info.json as byproducts, no clock readings.
    let rd = &pred["runDetails"];
    let version = env!("CARGO_PKG_VERSION");
    assert_eq!(
        rd["builder"],
        serde_json::json!({ "id": format!("https://github.com/lucia-pkg/lucia-pkg@v{version}"), "version": { "lucia-pkg": version } })
    );
    assert!(rd.get("metadata").is_none(), "{rd}");
    let by = sha256sum(&p.join("dist"), &["SHA256SUMS", "build-info.json"]);
    assert_eq!(
        rd["byproducts"],
        serde_json::json!([
            { "name": "SHA256SUMS", "digest": { "sha256": by[0] } },
            { "name": "build-info.json", "digest": { "sha256": by[1] } },
        ])
    );

    // Reproducible: another TZ, umask and locale, the key from the environment.
    let key_path = p.join("key");
    let o = Command::new("sh")
        .args(["-c", "umask 077; exec \"$0\" attest -o dist"])
        .arg(bin())
        .current_dir(p)
        .env("TZ", "Pacific/Kiritimati")
        .env("LC_ALL", "C.UTF-8")
        .env("LANG", "C.UTF-8")
        .env("LUCIA_PKG_SUMS_KEY", &key_path)
        .env_remove("LUCIA_PKG_SIGNING_PASSPHRASE")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(fs::read(p.join(FILE)).unwrap(), first);

    // A copy of the out dir elsewhere: names are relative to it, so the same bytes again.
    let o = Command::new("cp")
        .args(["-r", "dist", "copy"])
        .current_dir(p)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    fs::remove_file(p.join("copy/provenance.intoto.jsonl")).unwrap();
    let o = Command::new(bin())
        .args(["attest", "-o", "copy", "--key", "key"])
        .current_dir(p)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(
        fs::read(p.join("copy/provenance.intoto.jsonl")).unwrap(),
        first
    );

    // --json
    let o = attest(p, &["--json", "--key", "key"], &[]);
    assert!(o.status.success(), "{}", text(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["ok"], true);
    assert_eq!(v["provenance"], FILE);
    assert_eq!(v["subjects"], subjects.len());
    assert_eq!(v["keyid"], keyid);
    assert_eq!(fs::read(p.join(FILE)).unwrap(), first);

    // A rebuild into the same out dir is not refused because of the file, and removes it.
    build(p);
    assert!(!p.join(FILE).exists());
    let o = attest(p, &["--key", "key"], &[]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(fs::read(p.join(FILE)).unwrap(), first);
}

/// The python with securesystemslib and cryptography: `LUCIA_SBOM_PYTHON`, else the venv
/// scripts/ci-setup.sh makes, else python3 on PATH if it has both.
fn verifier_python() -> Result<PathBuf, String> {
    let mut candidates = Vec::new();
    if let Some(p) = std::env::var_os("LUCIA_SBOM_PYTHON") {
        candidates.push(PathBuf::from(p));
    }
    let cache = std::env::var_os("LUCIA_E2E_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/cache/lucia-pkg-e2e"));
    candidates.push(cache.join("sbom-tools/venv/bin/python"));
    candidates.push(PathBuf::from("python3"));
    for py in &candidates {
        let ok = Command::new(py)
            .args([
                "-c",
                "import securesystemslib.dsse, securesystemslib.signer, cryptography",
            ])
            .output()
            .is_ok_and(|o| o.status.success());
        if ok {
            return Ok(py.clone());
        }
    }
    Err(format!(
        "no python with securesystemslib and cryptography (tried {candidates:?}; scripts/ci-setup.sh installs them)"
    ))
}

/// Verifies the envelope (argv[1]) with the Ed25519 public key in OpenSSH format (argv[2]), and
/// tampered copies of it, with securesystemslib; argv[3] is another key. Prints a JSON object:
/// case → whether securesystemslib accepted it.
const VERIFY: &str = r#"
import base64, copy, json, sys
from cryptography.hazmat.primitives import serialization
from securesystemslib.dsse import Envelope
from securesystemslib.exceptions import VerificationError
from securesystemslib.signer import SSlibKey

def raw_hex(path):
    pub = serialization.load_ssh_public_key(open(path, "rb").read())
    return pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw).hex()

doc = json.loads(open(sys.argv[1], encoding="utf-8").read())
keyid = doc["signatures"][0]["keyid"]
key = SSlibKey(keyid, "ed25519", "ed25519", {"public": raw_hex(sys.argv[2])})
other = SSlibKey(keyid, "ed25519", "ed25519", {"public": raw_hex(sys.argv[3])})

def accepted(d, k=key):
    try:
        Envelope.from_dict(copy.deepcopy(d)).verify([k], 1)
        return True
    except VerificationError:
        return False

def with_payload(d, payload):
    d = copy.deepcopy(d)
    d["payload"] = base64.b64encode(payload).decode()
    return d

payload = base64.b64decode(doc["payload"])
statement = json.loads(payload)
res = {"original": accepted(doc)}
flipped = bytearray(payload)
flipped[len(flipped) // 2] ^= 0x01
res["payload_byte_flipped"] = accepted(with_payload(doc, bytes(flipped)))
st = copy.deepcopy(statement)
d = st["subject"][0]["digest"]["sha256"]
st["subject"][0]["digest"]["sha256"] = ("0" if d[0] != "0" else "1") + d[1:]
res["subject_digest_changed"] = accepted(with_payload(doc, json.dumps(st, separators=(",", ":"), sort_keys=True).encode()))
# The same statement re-serialized differently is different bytes: not what was signed.
res["reserialized"] = accepted(with_payload(doc, json.dumps(statement, indent=1).encode()))
bad_type = copy.deepcopy(doc)
bad_type["payloadType"] = "application/json"
res["payload_type_changed"] = accepted(bad_type)
bad_sig = copy.deepcopy(doc)
sig = bytearray(base64.b64decode(bad_sig["signatures"][0]["sig"]))
sig[0] ^= 0x80
bad_sig["signatures"][0]["sig"] = base64.b64encode(bytes(sig)).decode()
res["signature_flipped"] = accepted(bad_sig)
res["other_key"] = accepted(doc, other)
# The envelope's own PAE is securesystemslib's: check it is the spec's.
env = Envelope.from_dict(copy.deepcopy(doc))
res["pae_prefix"] = env.pae().startswith(b"DSSEv1 28 application/vnd.in-toto+json %d " % len(payload))
print(json.dumps(res, sort_keys=True))
"#;

#[test]
fn securesystemslib_verifies_the_envelope_and_refuses_tampered_copies() {
    let test = "securesystemslib_verifies_the_envelope_and_refuses_tampered_copies";
    let py = match verifier_python() {
        Ok(p) => p,
        Err(why) if e2e_required() => panic!("LUCIA_E2E_REQUIRED=1: {why}"),
        Err(why) => {
            eprintln!("skipped {test}: {why}");
            return;
        }
    };
    if !available(test, "ssh-keygen") {
        return;
    }
    let dir = built_project();
    let p = dir.path();
    keygen(p, "key", "ed25519", "");
    keygen(p, "other", "ed25519", "");
    let o = attest(p, &["--key", "key"], &[]);
    assert!(o.status.success(), "{}", text(&o));
    fs::write(p.join("verify.py"), VERIFY).unwrap();
    let o = Command::new(&py)
        .args(["verify.py", FILE, "key.pub", "other.pub"])
        .current_dir(p)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let res: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        res,
        serde_json::json!({
            "original": true,
            "payload_byte_flipped": false,
            "subject_digest_changed": false,
            "reserialized": false,
            "payload_type_changed": false,
            "signature_flipped": false,
            "other_key": false,
            "pae_prefix": true,
        })
    );
}

#[test]
fn bad_inputs_exit_2_and_write_nothing() {
    if !available("bad_inputs_exit_2_and_write_nothing", "ssh-keygen") {
        return;
    }
    let dir = built_project();
    let p = dir.path();
    keygen(p, "key", "ed25519", "");
    keygen(p, "ec", "ecdsa", "");
    keygen(p, "locked", "ed25519", "s3cret pass");
    let refused = |o: &Output, words: &[&str]| {
        assert_eq!(o.status.code(), Some(2), "{}", text(o));
        let t = text(o);
        for w in words {
            assert!(t.contains(w), "`{w}` not in: {t}");
        }
        assert!(!p.join(FILE).exists(), "written despite: {t}");
    };

    // No key at all: say how to give one.
    refused(&attest(p, &[], &[]), &["--key", "LUCIA_PKG_SUMS_KEY"]);
    // Not Ed25519.
    refused(
        &attest(p, &["--key", "ec"], &[]),
        &["ecdsa-sha2-nistp256", "only Ed25519"],
    );
    // Passphrase-protected: none, then a wrong one.
    let locked = p.join("locked");
    let locked = locked.to_str().unwrap();
    refused(
        &attest(p, &[], &[("LUCIA_PKG_SUMS_KEY", locked)]),
        &["LUCIA_PKG_SIGNING_PASSPHRASE"],
    );
    refused(
        &attest(
            p,
            &[],
            &[
                ("LUCIA_PKG_SUMS_KEY", locked),
                ("LUCIA_PKG_SIGNING_PASSPHRASE", "wrong"),
            ],
        ),
        &["cannot decrypt"],
    );
    // Not a key.
    fs::write(p.join("garbage"), "not a key\n").unwrap();
    refused(&attest(p, &["--key", "garbage"], &[]), &["garbage"]);
    // No SHA256SUMS: nothing is created, not even the directory.
    let o = Command::new(bin())
        .args(["attest", "-o", "nothing-here", "--key", "key"])
        .current_dir(p)
        .output()
        .unwrap();
    refused(&o, &["SHA256SUMS"]);
    assert!(!p.join("nothing-here").exists());

    // The right passphrase works; later failures leave that file as it is.
    let o = attest(
        p,
        &[],
        &[
            ("LUCIA_PKG_SUMS_KEY", locked),
            ("LUCIA_PKG_SIGNING_PASSPHRASE", "s3cret pass"),
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    let good = fs::read(p.join(FILE)).unwrap();
    fs::remove_file(p.join(FILE)).unwrap();

    // An artifact replaced after the build (a new file, not an edit through the store's link).
    let sums = fs::read(p.join("dist/SHA256SUMS")).unwrap();
    let tarball = p.join("dist/svc-1.2.3-linux-amd64.tar.gz");
    let original = fs::read(&tarball).unwrap();
    fs::remove_file(&tarball).unwrap();
    fs::write(&tarball, b"not the tarball that was built").unwrap();
    refused(
        &attest(p, &["--key", "key"], &[]),
        &["svc-1.2.3-linux-amd64.tar.gz", "SHA256SUMS"],
    );
    fs::write(p.join(FILE), &good).unwrap();
    let o = attest(p, &["--key", "key"], &[]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert_eq!(
        fs::read(p.join(FILE)).unwrap(),
        good,
        "a failed run changed it"
    );
    fs::remove_file(p.join(FILE)).unwrap();
    fs::remove_file(&tarball).unwrap();
    fs::write(&tarball, &original).unwrap();

    // A listed file inside the OCI layout is gone.
    let layout = p.join("dist/svc-1.2.3-oci");
    let oci_layout = fs::read(layout.join("oci-layout")).unwrap();
    fs::remove_file(layout.join("oci-layout")).unwrap();
    refused(&attest(p, &["--key", "key"], &[]), &["oci-layout"]);
    fs::write(layout.join("oci-layout"), oci_layout).unwrap();

    // SHA256SUMS that does not match build-info.json's outputs (an extra line).
    let mut extra = sums.clone();
    // (the sha256 of an empty file)
    let empty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    extra.extend_from_slice(format!("{empty}  build-info.json.bak\n").as_bytes());
    fs::write(p.join("dist/build-info.json.bak"), b"").unwrap();
    fs::write(p.join("dist/SHA256SUMS"), &extra).unwrap();
    refused(
        &attest(p, &["--key", "key"], &[]),
        &["build-info.json.bak", "SHA256SUMS", "disagree"],
    );
    fs::remove_file(p.join("dist/build-info.json.bak")).unwrap();

    // Everything restored: it works again, and SHA256SUMS was never rewritten by attest.
    fs::write(p.join("dist/SHA256SUMS"), &sums).unwrap();
    let o = attest(p, &["--key", "key"], &[]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(fs::read(p.join("dist/SHA256SUMS")).unwrap(), sums);
}
