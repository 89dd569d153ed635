//! `sign-image` and what `push` attaches, checked with real consumers against a real registry
//! (Debian's docker-registry on 127.0.0.1, which has no referrers API): the cosign signature
//! manifest at `sha256-<index>.sig` is read back with curl and its payload verified with
//! `openssl dgst -sha256 -verify` against the public key (a changed byte fails); the payload
//! names the index digest the registry serves; the referrers tag-schema indexes list the SBOMs
//! (under each platform manifest) and the provenance (under the index) with blobs equal to the
//! out dir's files byte for byte, and a second push adds no duplicates. Signing is reproducible
//! across TZ, umask, locale and an encrypted copy of the key; bad keys, a missing build and a
//! signature for another repository exit 2 and write or push nothing. When `cosign` is on PATH,
//! `cosign verify --key` checks the pushed signature too.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use serde_json::Value;
use sha2::Digest;

mod common;
use common::*;

const MT_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const MT_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const IN_TOTO: &str = "application/vnd.in-toto+json";

/// Whether every tool can run: without one the test is skipped, or fails when e2e is required.
fn available(test: &str, tools: &[&str]) -> bool {
    for tool in tools {
        if !have(tool) {
            assert!(
                !e2e_required(),
                "{test}: {tool} is missing and LUCIA_E2E_REQUIRED=1 (run scripts/ci-setup.sh)"
            );
            eprintln!("skipping {test}: {tool} is not installed");
            return false;
        }
    }
    true
}

/// The binary in `p` with a private store, no key or credential variables from the caller.
fn lucia_pkg(p: &Path) -> Command {
    scrubbed(p, bin())
}

/// `program` in `p` with the environment [`lucia_pkg`] gives the binary.
fn scrubbed(p: &Path, program: &str) -> Command {
    let mut c = Command::new(program);
    c.current_dir(p)
        .env("LUCIA_PKG_STORE", p.join(".store"))
        .env_remove("SOURCE_DATE_EPOCH")
        .stdin(Stdio::null());
    for v in [
        "LUCIA_PKG_IMAGE_KEY",
        "LUCIA_PKG_SUMS_KEY",
        "LUCIA_PKG_SIGNING_PASSPHRASE",
        "LUCIA_PKG_REGISTRY_USER",
        "LUCIA_PKG_REGISTRY_PASSWORD",
        "LUCIA_PKG_REGISTRY_TIMEOUT",
        "DOCKER_CONFIG",
    ] {
        c.env_remove(v);
    }
    c.env("HOME", p);
    c
}

fn run(c: &mut Command) -> Output {
    c.output().expect("run lucia-pkg")
}

fn sh(dir: &Path, script: &str) -> Output {
    Command::new("sh")
        .args(["-c", script])
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn sh_ok(dir: &Path, script: &str) {
    let o = sh(dir, script);
    assert!(o.status.success(), "{script}: {}", text(&o));
}

/// A shell-script service for amd64 and arm64, built into `dist` as an OCI image (with its
/// per-platform SBOMs), and an image key pair: `image.key` (PEM PKCS#8 P-256), `image.pub`.
fn built_project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    fs::create_dir_all(p.join("out")).unwrap();
    fs::write(p.join("out/svc"), "#!/bin/sh\nexec sleep 1\n").unwrap();
    fs::set_permissions(p.join("out/svc"), fs::Permissions::from_mode(0o755)).unwrap();
    let o = run(lucia_pkg(p).args(["init", "--payload", "out"]));
    assert!(o.status.success(), "{}", text(&o));
    let o = run(lucia_pkg(p).args([
        "build",
        "-f",
        "oci",
        "-o",
        "dist",
        "--set",
        "package.version=1.2.3",
    ]));
    assert!(o.status.success(), "{}", text(&o));
    sh_ok(
        p,
        "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out image.key 2>/dev/null \
         && openssl pkey -in image.key -pubout -out image.pub",
    );
    dir
}

const LAYOUT: &str = "dist/svc-1.2.3-oci";
const SBOMS: &str = "dist/svc-1.2.3-oci.sbom";

/// The layout's image index digest and its platform manifests (label, digest).
fn index_of(p: &Path) -> (String, Vec<(String, String)>) {
    let top: Value =
        serde_json::from_slice(&fs::read(p.join(LAYOUT).join("index.json")).unwrap()).unwrap();
    let digest = top["manifests"][0]["digest"].as_str().unwrap().to_string();
    let blob = p
        .join(LAYOUT)
        .join("blobs/sha256")
        .join(digest.trim_start_matches("sha256:"));
    let index: Value = serde_json::from_slice(&fs::read(blob).unwrap()).unwrap();
    let platforms = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            let pl = &m["platform"];
            let mut label = format!(
                "{}-{}",
                pl["os"].as_str().unwrap(),
                pl["architecture"].as_str().unwrap()
            );
            if let Some(v) = pl["variant"].as_str() {
                label = format!("{label}-{v}");
            }
            (label, m["digest"].as_str().unwrap().to_string())
        })
        .collect();
    (digest, platforms)
}

fn sign_image(p: &Path, repository: &str, key: &str) -> Output {
    run(lucia_pkg(p).args([
        "sign-image",
        "-o",
        "dist",
        "--repository",
        repository,
        "--key",
        key,
    ]))
}

/// `GET http://ADDR/v2/REPO/PATH` with curl: (HTTP status, body).
fn get(addr: &str, repo: &str, path: &str, accept: &str) -> (u16, Vec<u8>) {
    let dir = tempfile::tempdir().unwrap();
    let body = dir.path().join("body");
    let o = Command::new("curl")
        .args(["-sS", "--max-time", "20", "-o"])
        .arg(&body)
        .args(["-w", "%{http_code}", "-H", &format!("Accept: {accept}")])
        .arg(format!("http://{addr}/v2/{repo}/{path}"))
        .output()
        .unwrap();
    assert!(o.status.success(), "curl {path}: {}", text(&o));
    let status = String::from_utf8_lossy(&o.stdout).trim().parse().unwrap();
    (status, fs::read(&body).unwrap_or_default())
}

fn get_json(addr: &str, repo: &str, path: &str, accept: &str) -> Value {
    let (status, body) = get(addr, repo, path, accept);
    assert_eq!(status, 200, "{path}: {}", String::from_utf8_lossy(&body));
    serde_json::from_slice(&body).unwrap()
}

fn blob(addr: &str, repo: &str, digest: &str) -> Vec<u8> {
    let (status, body) = get(addr, repo, &format!("blobs/{digest}"), "*/*");
    assert_eq!(status, 200, "blob {digest}");
    let got = format!("sha256:{}", hex::encode(sha2::Sha256::digest(&body)));
    assert_eq!(got, digest, "the registry's blob has another digest");
    body
}

fn hex_of(digest: &str) -> &str {
    digest.trim_start_matches("sha256:")
}

/// Verifies `payload` against `signature_b64` with `openssl dgst -sha256 -verify PUB` (a
/// public key file in `p`).
fn openssl_verifies(p: &Path, public: &str, payload: &[u8], signature_b64: &str) -> bool {
    let d = tempfile::tempdir_in(p).unwrap();
    fs::write(d.path().join("payload.json"), payload).unwrap();
    fs::write(d.path().join("sig.b64"), signature_b64).unwrap();
    sh_ok(d.path(), "base64 -d sig.b64 > sig.der");
    let o = Command::new("openssl")
        .args(["dgst", "-sha256", "-verify"])
        .arg(p.join(public))
        .args(["-signature", "sig.der", "payload.json"])
        .current_dir(d.path())
        .output()
        .unwrap();
    let verified = o.status.success() && String::from_utf8_lossy(&o.stdout).contains("Verified OK");
    assert_eq!(
        verified,
        o.status.success(),
        "openssl exit status and output disagree: {}",
        text(&o)
    );
    verified
}

/// The referrers tag-schema index for `subject`: artifactType → (manifest digest, title).
fn referrers(addr: &str, repo: &str, subject: &str) -> Vec<(String, String, String)> {
    let idx = get_json(
        addr,
        repo,
        &format!("manifests/sha256-{}", hex_of(subject)),
        MT_INDEX,
    );
    assert_eq!(idx["mediaType"], MT_INDEX, "{idx}");
    idx["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            assert_eq!(d["mediaType"], MT_MANIFEST, "{d}");
            (
                d["artifactType"].as_str().unwrap().to_string(),
                d["digest"].as_str().unwrap().to_string(),
                d["annotations"]["org.opencontainers.image.title"]
                    .as_str()
                    .unwrap()
                    .to_string(),
            )
        })
        .collect()
}

/// The one document an artifact manifest holds, after checking its shape and subject.
fn artifact_document(
    addr: &str,
    repo: &str,
    digest: &str,
    artifact_type: &str,
    subject: &str,
) -> Vec<u8> {
    let m = get_json(addr, repo, &format!("manifests/{digest}"), MT_MANIFEST);
    assert_eq!(m["artifactType"], artifact_type, "{m}");
    assert_eq!(m["subject"]["digest"], subject, "{m}");
    assert_eq!(
        m["config"]["mediaType"],
        "application/vnd.oci.empty.v1+json"
    );
    let layers = m["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 1, "{m}");
    assert_eq!(layers[0]["mediaType"], artifact_type);
    blob(addr, repo, layers[0]["digest"].as_str().unwrap())
}

#[test]
fn pushed_signature_verifies_with_openssl_and_sboms_and_provenance_are_referrers() {
    let test = "image_signing::pushed";
    if !available(
        test,
        &["docker-registry", "curl", "openssl", "ssh-keygen", "base64"],
    ) {
        return;
    }
    let t = built_project();
    let p = t.path();
    sh_ok(p, "ssh-keygen -q -t ed25519 -N '' -C test -f release");
    let o = run(lucia_pkg(p).args(["attest", "-o", "dist", "--key", "release"]));
    assert!(o.status.success(), "{}", text(&o));
    let (_reg, addr) = start_registry(p);
    let repo = "lucia/svc";
    let (index_digest, platforms) = index_of(p);
    assert_eq!(platforms.len(), 2, "{platforms:?}");

    let o = sign_image(p, &format!("{addr}/{repo}"), "image.key");
    assert!(o.status.success(), "{}", text(&o));
    let payload = fs::read(p.join("dist/image-signature/payload.json")).unwrap();
    let signature = fs::read_to_string(p.join("dist/image-signature/signature")).unwrap();
    assert_eq!(
        String::from_utf8(payload.clone()).unwrap(),
        format!(
            r#"{{"critical":{{"identity":{{"docker-reference":"{addr}/{repo}"}},"image":{{"docker-manifest-digest":"{index_digest}"}},"type":"cosign container image signature"}},"optional":null}}"#
        )
    );
    assert!(openssl_verifies(p, "image.pub", &payload, &signature));

    // A signature for this repository is not pushed to another one: exit 2, nothing sent.
    let o = run(lucia_pkg(p).args(["push", "--to", &format!("{addr}/lucia/other")]));
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("sign again with --repository"),
        "{}",
        text(&o)
    );
    let (status, _) = get(&addr, "lucia/other", "tags/list", "application/json");
    assert_eq!(status, 404, "the refused push sent something");

    let o = run(lucia_pkg(p).args(["--json", "push", "--to", &format!("{addr}/{repo}")]));
    assert!(o.status.success(), "{}", text(&o));
    let report: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(report["index_digest"], index_digest.as_str(), "{report}");
    assert!(
        report["attached"].as_array().map_or(0, Vec::len) >= 6,
        "{report}"
    );

    // The registry serves the index the build wrote, under the version tag.
    let (_, served) = get(&addr, repo, "manifests/1.2.3", MT_INDEX);
    assert_eq!(
        format!("sha256:{}", hex::encode(sha2::Sha256::digest(&served))),
        index_digest
    );

    // cosign's signature manifest: one simple-signing layer, its blob the signed payload.
    let sig_tag = format!("sha256-{}.sig", hex_of(&index_digest));
    let m = get_json(&addr, repo, &format!("manifests/{sig_tag}"), MT_MANIFEST);
    assert_eq!(m["mediaType"], MT_MANIFEST, "{m}");
    assert_eq!(
        m["config"]["mediaType"],
        "application/vnd.oci.image.config.v1+json"
    );
    let layers = m["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 1, "{m}");
    assert_eq!(
        layers[0]["mediaType"],
        "application/vnd.dev.cosign.simplesigning.v1+json"
    );
    let pushed_payload = blob(&addr, repo, layers[0]["digest"].as_str().unwrap());
    let pushed_sig = layers[0]["annotations"]["dev.cosignproject.cosign/signature"]
        .as_str()
        .unwrap();
    assert_eq!(pushed_payload, payload);
    assert_eq!(pushed_sig, signature);
    assert!(openssl_verifies(
        p,
        "image.pub",
        &pushed_payload,
        pushed_sig
    ));
    let claims: Value = serde_json::from_slice(&pushed_payload).unwrap();
    assert_eq!(
        claims["critical"]["image"]["docker-manifest-digest"],
        index_digest.as_str()
    );
    // One changed byte (another digest) and the signature no longer verifies.
    let tampered = String::from_utf8(pushed_payload.clone())
        .unwrap()
        .replace(hex_of(&index_digest), hex_of(&platforms[0].1));
    assert_ne!(tampered.as_bytes(), &pushed_payload[..]);
    assert!(!openssl_verifies(
        p,
        "image.pub",
        tampered.as_bytes(),
        pushed_sig
    ));

    // SBOMs: under each platform manifest's fallback tag, blobs equal to the out dir's files.
    for (label, digest) in &platforms {
        let listed = referrers(&addr, repo, digest);
        let mut titles: Vec<&str> = listed.iter().map(|(_, _, t)| t.as_str()).collect();
        titles.sort();
        assert_eq!(
            titles,
            [
                format!("{label}.cdx.json").as_str(),
                format!("{label}.spdx.json").as_str()
            ],
            "{listed:?}"
        );
        for (artifact_type, manifest, title) in &listed {
            let want = if title.ends_with(".spdx.json") {
                "application/spdx+json"
            } else {
                "application/vnd.cyclonedx+json"
            };
            assert_eq!(artifact_type, want);
            let doc = artifact_document(&addr, repo, manifest, want, digest);
            assert_eq!(doc, fs::read(p.join(SBOMS).join(title)).unwrap(), "{title}");
        }
    }
    // The provenance: under the index digest's fallback tag.
    let listed = referrers(&addr, repo, &index_digest);
    assert_eq!(listed.len(), 1, "{listed:?}");
    let (artifact_type, manifest, title) = &listed[0];
    assert_eq!(artifact_type, IN_TOTO);
    assert_eq!(title, "provenance.intoto.jsonl");
    let doc = artifact_document(&addr, repo, manifest, artifact_type, &index_digest);
    assert_eq!(
        doc,
        fs::read(p.join("dist/provenance.intoto.jsonl")).unwrap()
    );

    // A second push changes nothing: no duplicate signature layer or referrer.
    let o = run(lucia_pkg(p).args(["push", "--to", &format!("{addr}/{repo}")]));
    assert!(o.status.success(), "{}", text(&o));
    let again = get_json(&addr, repo, &format!("manifests/{sig_tag}"), MT_MANIFEST);
    assert_eq!(again, m);
    for (_, digest) in &platforms {
        assert_eq!(referrers(&addr, repo, digest).len(), 2);
    }
    assert_eq!(referrers(&addr, repo, &index_digest).len(), 1);

    // Another signer and a new provenance: added beside what is there, nothing replaced.
    sh_ok(
        p,
        "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out image2.key 2>/dev/null \
         && openssl pkey -in image2.key -pubout -out image2.pub \
         && ssh-keygen -q -t ed25519 -N '' -C test -f release2",
    );
    let o = sign_image(p, &format!("{addr}/{repo}"), "image2.key");
    assert!(o.status.success(), "{}", text(&o));
    let o = run(lucia_pkg(p).args(["attest", "-o", "dist", "--key", "release2"]));
    assert!(o.status.success(), "{}", text(&o));
    let o = run(lucia_pkg(p).args(["push", "--to", &format!("{addr}/{repo}")]));
    assert!(o.status.success(), "{}", text(&o));
    let two = get_json(&addr, repo, &format!("manifests/{sig_tag}"), MT_MANIFEST);
    let layers2 = two["layers"].as_array().unwrap();
    assert_eq!(layers2.len(), 2, "{two}");
    assert_eq!(layers2[0], layers[0], "the first signature was replaced");
    let second_sig = layers2[1]["annotations"]["dev.cosignproject.cosign/signature"]
        .as_str()
        .unwrap();
    let second_payload = blob(&addr, repo, layers2[1]["digest"].as_str().unwrap());
    assert!(openssl_verifies(
        p,
        "image2.pub",
        &second_payload,
        second_sig
    ));
    assert!(!openssl_verifies(
        p,
        "image.pub",
        &second_payload,
        second_sig
    ));
    let listed2 = referrers(&addr, repo, &index_digest);
    assert_eq!(listed2.len(), 2, "{listed2:?}");
    assert_eq!(
        listed2[0], listed[0],
        "the earlier provenance is no longer listed"
    );
    let doc = artifact_document(&addr, repo, &listed2[1].1, IN_TOTO, &index_digest);
    assert_eq!(
        doc,
        fs::read(p.join("dist/provenance.intoto.jsonl")).unwrap()
    );
    for (_, digest) in &platforms {
        assert_eq!(referrers(&addr, repo, digest).len(), 2);
    }

    // --no-attach: the image only.
    let o = run(lucia_pkg(p).args([
        "push",
        "--no-attach",
        "--to",
        &format!("{addr}/lucia/plain"),
    ]));
    assert!(o.status.success(), "{}", text(&o));
    let (status, _) = get(
        &addr,
        "lucia/plain",
        &format!("manifests/{sig_tag}"),
        MT_MANIFEST,
    );
    assert_eq!(status, 404);
    let (status, _) = get(
        &addr,
        "lucia/plain",
        &format!("manifests/sha256-{}", hex_of(&platforms[0].1)),
        MT_INDEX,
    );
    assert_eq!(status, 404);

    // The real consumer, when it is installed.
    if have("cosign") {
        let o = Command::new("cosign")
            .args(["verify", "--key"])
            .arg(p.join("image.pub"))
            .args(["--insecure-ignore-tlog", "--allow-insecure-registry"])
            .arg(format!("{addr}/{repo}@{index_digest}"))
            .env("HOME", p)
            .output()
            .unwrap();
        assert!(o.status.success(), "cosign verify: {}", text(&o));
    } else {
        eprintln!("{test}: cosign is not installed; the signature was checked with openssl only");
    }
}

#[test]
fn signing_is_reproducible_across_environment_and_an_encrypted_copy_of_the_key() {
    let test = "image_signing::reproducible";
    if !available(test, &["openssl"]) {
        return;
    }
    let t = built_project();
    let p = t.path();
    let repo = "registry.example:5000/lucia/svc";
    let read = || {
        (
            fs::read(p.join("dist/image-signature/payload.json")).unwrap(),
            fs::read(p.join("dist/image-signature/signature")).unwrap(),
        )
    };
    let o = sign_image(p, repo, "image.key");
    assert!(o.status.success(), "{}", text(&o));
    let first = read();
    fs::remove_dir_all(p.join("dist/image-signature")).unwrap();

    // Another TZ, umask and locale; the key from the variable (a path), then as its PEM text.
    let key_text = fs::read_to_string(p.join("image.key")).unwrap();
    let key_path = p.join("image.key").display().to_string();
    for key in [key_path.as_str(), key_text.as_str()] {
        let o = run(scrubbed(p, "sh")
            .arg("-c")
            .arg(format!(
                "umask 077; exec '{}' sign-image -o dist --repository {repo}",
                bin()
            ))
            .env("TZ", "Pacific/Kiritimati")
            .env("LC_ALL", "C.UTF-8")
            .env("LUCIA_PKG_IMAGE_KEY", key));
        assert!(o.status.success(), "{}", text(&o));
        assert_eq!(read(), first);
    }

    // The same key, PBES2-encrypted: decrypted with the passphrase, the same bytes.
    sh_ok(
        p,
        "openssl pkcs8 -topk8 -in image.key -v2 aes-256-cbc -passout pass:s3cret -out enc.key",
    );
    let o = run(lucia_pkg(p)
        .args([
            "sign-image",
            "-o",
            "dist",
            "--repository",
            repo,
            "--key",
            "enc.key",
        ])
        .env("LUCIA_PKG_SIGNING_PASSPHRASE", "s3cret"));
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(read(), first);

    // The same key in SEC1 form (`-----BEGIN EC PRIVATE KEY-----`): the same bytes.
    sh_ok(p, "openssl ec -in image.key -out sec1.key 2>/dev/null");
    assert!(fs::read_to_string(p.join("sec1.key"))
        .unwrap()
        .starts_with("-----BEGIN EC PRIVATE KEY-----"));
    let o = sign_image(p, repo, "sec1.key");
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(read(), first);
    assert!(openssl_verifies(
        p,
        "image.pub",
        &first.0,
        std::str::from_utf8(&first.1).unwrap()
    ));

    // A later build into the same out dir removes the signature of the image it replaces (it
    // used to refuse to run: "holds files no earlier lucia-pkg build recorded").
    let o = run(lucia_pkg(p).args([
        "build",
        "-f",
        "oci",
        "-o",
        "dist",
        "--set",
        "package.version=1.2.4",
    ]));
    assert!(o.status.success(), "{}", text(&o));
    assert!(!p.join("dist/image-signature").exists());
}

#[test]
fn bad_keys_a_missing_build_and_a_tagged_repository_exit_2_and_write_nothing() {
    let test = "image_signing::bad_input";
    if !available(test, &["openssl"]) {
        return;
    }
    // No build: no layout to sign.
    let empty = tempfile::tempdir().unwrap();
    sh_ok(
        empty.path(),
        "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out image.key 2>/dev/null",
    );
    let o = sign_image(empty.path(), "127.0.0.1:5000/lucia/svc", "image.key");
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("build-info.json"), "{}", text(&o));
    assert!(!empty.path().join("dist/image-signature").exists());

    let t = built_project();
    let p = t.path();
    sh_ok(
        p,
        "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -out p384.key 2>/dev/null \
         && openssl genpkey -algorithm ed25519 -out ed.key \
         && openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out rsa.key 2>/dev/null \
         && openssl pkcs8 -topk8 -in image.key -v2 aes-256-cbc -passout pass:right -out enc.key \
         && openssl ecparam -name secp384r1 -genkey -noout -out sec384.key \
         && echo 'not a key' > junk.key",
    );
    let secret_line = fs::read_to_string(p.join("image.key"))
        .unwrap()
        .lines()
        .nth(1)
        .unwrap()
        .to_string();
    let repo = "127.0.0.1:5000/lucia/svc";
    let cases: [(&str, Option<&str>, &str); 8] = [
        ("p384.key", None, "ECDSA P-384"),
        ("sec384.key", None, "P-256"),
        ("ed.key", None, "Ed25519"),
        ("rsa.key", None, "RSA"),
        ("enc.key", Some("wrong"), "cannot decrypt"),
        ("enc.key", None, "LUCIA_PKG_SIGNING_PASSPHRASE"),
        ("junk.key", None, "not PEM"),
        ("missing.key", None, "missing.key"),
    ];
    for (key, pass, says) in cases {
        let mut c = lucia_pkg(p);
        c.args([
            "sign-image",
            "-o",
            "dist",
            "--repository",
            repo,
            "--key",
            key,
        ]);
        if let Some(pass) = pass {
            c.env("LUCIA_PKG_SIGNING_PASSPHRASE", pass);
        }
        let o = run(&mut c);
        assert_eq!(o.status.code(), Some(2), "{key}: {}", text(&o));
        assert!(text(&o).contains(says), "{key}: {}", text(&o));
        assert!(!p.join("dist/image-signature").exists(), "{key}");
    }
    // An unreadable key file (root reads anything: only checked as another user).
    fs::set_permissions(p.join("image.key"), fs::Permissions::from_mode(0o000)).unwrap();
    if !is_root() {
        let o = sign_image(p, repo, "image.key");
        assert_eq!(o.status.code(), Some(2), "{}", text(&o));
        assert!(!p.join("dist/image-signature").exists());
    }
    fs::set_permissions(p.join("image.key"), fs::Permissions::from_mode(0o600)).unwrap();
    // A tag in --repository; then no key at all.
    let o = sign_image(p, &format!("{repo}:1.2.3"), "image.key");
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("without a tag"), "{}", text(&o));
    let o = run(lucia_pkg(p).args(["sign-image", "-o", "dist", "--repository", repo]));
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("LUCIA_PKG_IMAGE_KEY"), "{}", text(&o));
    assert!(!p.join("dist/image-signature").exists());

    // A key given as PEM text in the variable is never echoed, even when refused.
    let p384 = fs::read_to_string(p.join("p384.key")).unwrap();
    let o = run(lucia_pkg(p)
        .args(["sign-image", "-o", "dist", "--repository", repo])
        .env("LUCIA_PKG_IMAGE_KEY", &p384));
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let p384_line = p384.lines().nth(1).unwrap();
    assert!(!text(&o).contains(p384_line), "{}", text(&o));

    // A build-info.json whose layout is gone.
    fs::rename(p.join(LAYOUT), p.join("moved-oci")).unwrap();
    let o = sign_image(p, repo, "image.key");
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(!p.join("dist/image-signature").exists());
    fs::rename(p.join("moved-oci"), p.join(LAYOUT)).unwrap();

    // push refuses provenance or SBOMs of another image before connecting (port 9 is closed).
    fs::write(
        p.join("dist/provenance.intoto.jsonl"),
        "{\"payload\":\"e30=\"}\n",
    )
    .unwrap();
    let o = run(lucia_pkg(p).args(["push", "--to", "127.0.0.1:9/lucia/svc"]));
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("not provenance of this image"),
        "{}",
        text(&o)
    );
    fs::remove_file(p.join("dist/provenance.intoto.jsonl")).unwrap();
    let sbom = p.join(SBOMS).join("linux-amd64.spdx.json");
    let original = fs::read(&sbom).unwrap();
    fs::remove_file(&sbom).unwrap();
    fs::write(&sbom, b"{}").unwrap();
    let o = run(lucia_pkg(p).args(["push", "--to", "127.0.0.1:9/lucia/svc"]));
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("does not name the linux/amd64 manifest"),
        "{}",
        text(&o)
    );
    fs::remove_file(&sbom).unwrap();
    fs::write(&sbom, original).unwrap();

    // A good signature never prints the key either, and the signature is not in the records.
    let o = sign_image(p, repo, "image.key");
    assert!(o.status.success(), "{}", text(&o));
    assert!(!text(&o).contains(&secret_line));
    for record in ["dist/SHA256SUMS", "dist/build-info.json"] {
        let r = fs::read_to_string(p.join(record)).unwrap();
        assert!(
            !r.contains("image-signature") && !r.contains(&secret_line),
            "{record}"
        );
    }
}
