//! SBOMs (issue 15): every deb, rpm and tarball gets `<artifact>.spdx.json` and
//! `<artifact>.cdx.json`, every image platform gets a pair in `<name>-<version>-oci.sbom/`. They
//! are reproducible (two builds under a different TZ, LANG, umask and out dir give the same
//! bytes), list every installed file with the sha256 the artifact really holds, name the
//! package by its purl (the image by each platform's manifest digest), are listed in SHA256SUMS
//! and build-info.json, come back byte for byte from a cache hit, and pass the real validators:
//! `pyspdxtools` (spdx-tools) and cyclonedx-python-lib's strict JSON schema validator for 1.6.
//!
//! The validators come from PyPI into a venv (scripts/ci-setup.sh); `LUCIA_SBOM_PYTHON` names
//! that venv's python. Without them the validation test skips with a reason, unless
//! `LUCIA_E2E_REQUIRED=1` (CI), where it fails.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use sha2::{Digest, Sha256};

mod common;
use common::*;

const MANIFEST: &str = r#"[package]
name = "sbomdemo"
version = "2.1.0"
release = "3"
summary = "demo service for SBOMs"
license = "Apache-2.0 OR MIT"
maintainer = "Demo Maintainer <demo@example.org>"
vendor = "Example Org"
homepage = "https://example.org/sbomdemo"
source-date-epoch = 1700000000
arches = ["amd64", "arm64"]

[payload]
install-dir = "/opt/sbomdemo"
entrypoint = "sbomdemo"

[payload.amd64]
path = "payload/amd64"

[payload.arm64]
path = "payload/arm64"

[service]
unit = "sbomdemo.service"
user = "sbomdemo"

[deb]
compression = "gzip:1"
depends = ["ca-certificates", "tzdata (>= 2023a)"]

[rpm]
compression = "gzip:1"
requires = ["ca-certificates", "tzdata >= 2023"]

[tar]
compression = "gzip:1"

[oci]
compression = "gzip:1"
repository = "ghcr.io/example/sbomdemo"
"#;

fn project(dir: &Path) {
    for (arch, machine) in [("amd64", 62u16), ("arm64", 183)] {
        let p = dir.join("payload").join(arch);
        fs::create_dir_all(p.join("lib/sub")).unwrap();
        fs::write(p.join("sbomdemo"), fake_elf(machine)).unwrap();
        fs::set_permissions(p.join("sbomdemo"), fs::Permissions::from_mode(0o755)).unwrap();
        fs::write(p.join("lib/data.txt"), format!("data for {arch}\n")).unwrap();
        fs::write(p.join("lib/sub/empty"), "").unwrap();
        fs::write(p.join("lib/sub/name with space.json"), "{}\n").unwrap();
    }
    fs::write(
        dir.join("sbomdemo.service"),
        "[Service]\nUser=sbomdemo\nExecStart=/opt/sbomdemo/sbomdemo\n",
    )
    .unwrap();
    fs::write(dir.join("lucia.toml"), MANIFEST).unwrap();
}

/// Builds into `out` (relative to `dir`) with the store in `store`, under a varied environment.
fn build(dir: &Path, out: &str, store: &Path, env: &[(&str, &str)], umask: &str) -> Output {
    let o = Command::new("sh")
        .arg("-c")
        .arg(format!("umask {umask}; exec \"$0\" \"$@\""))
        .arg(bin())
        .args(["build", "-m", "lucia.toml", "-q", "--json", "-o", out])
        .current_dir(dir)
        .env_remove("SOURCE_DATE_EPOCH")
        .env("LUCIA_PKG_STORE", store)
        .envs(env.iter().copied())
        .output()
        .expect("run lucia-pkg");
    assert!(o.status.success(), "{}", text(&o));
    o
}

/// Every SBOM in `out`: relative path → bytes.
fn sboms(out: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut m = BTreeMap::new();
    let mut stack = vec![out.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            let name = p.strip_prefix(out).unwrap().to_string_lossy().into_owned();
            if name.ends_with(".spdx.json") || name.ends_with(".cdx.json") {
                m.insert(name, fs::read(&p).unwrap());
            }
        }
    }
    m
}

fn json(bytes: &[u8]) -> serde_json::Value {
    serde_json::from_slice(bytes).unwrap()
}

fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The names every build of the project makes.
fn expected_sboms() -> BTreeSet<String> {
    let mut v = BTreeSet::new();
    for a in [
        "sbomdemo_2.1.0-3_amd64.deb",
        "sbomdemo_2.1.0-3_arm64.deb",
        "sbomdemo-2.1.0-3.x86_64.rpm",
        "sbomdemo-2.1.0-3.aarch64.rpm",
        "sbomdemo-2.1.0-linux-amd64.tar.gz",
        "sbomdemo-2.1.0-linux-arm64.tar.gz",
        "sbomdemo-2.1.0-oci.sbom/linux-amd64",
        "sbomdemo-2.1.0-oci.sbom/linux-arm64-v8",
    ] {
        v.insert(format!("{a}.spdx.json"));
        v.insert(format!("{a}.cdx.json"));
    }
    v
}

/// SPDX file name → sha256, and CycloneDX file name → sha256, of one document pair.
fn listed_files(spdx: &serde_json::Value, cdx: &serde_json::Value) -> BTreeMap<String, String> {
    let mut from_spdx = BTreeMap::new();
    for f in spdx["files"].as_array().unwrap() {
        let name = f["fileName"].as_str().unwrap();
        let sums = f["checksums"].as_array().unwrap();
        let sha = sums
            .iter()
            .find(|c| c["algorithm"] == "SHA256")
            .unwrap_or_else(|| panic!("{name}: no SHA256"))["checksumValue"]
            .as_str()
            .unwrap();
        assert!(
            sums.iter().any(|c| c["algorithm"] == "SHA1"),
            "{name}: no SHA1"
        );
        from_spdx.insert(name.trim_start_matches('.').to_string(), sha.to_string());
    }
    let mut from_cdx = BTreeMap::new();
    for c in cdx["components"].as_array().unwrap() {
        if c["type"] != "file" {
            continue;
        }
        let sha = c["hashes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|h| h["alg"] == "SHA-256")
            .unwrap()["content"]
            .as_str()
            .unwrap();
        from_cdx.insert(c["name"].as_str().unwrap().to_string(), sha.to_string());
    }
    assert_eq!(
        from_spdx, from_cdx,
        "SPDX and CycloneDX list different files"
    );
    from_spdx
}

/// Regular files in the deb's data archive with their sha256, read by dpkg-deb (absolute paths).
fn deb_files(deb: &Path) -> Option<BTreeMap<String, String>> {
    if !have("dpkg-deb") {
        return None;
    }
    let o = Command::new("dpkg-deb")
        .arg("--fsys-tarfile")
        .arg(deb)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let mut ar = tar::Archive::new(o.stdout.as_slice());
    let mut m = BTreeMap::new();
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        if e.header().entry_type() != tar::EntryType::Regular {
            continue;
        }
        let path = e.path().unwrap().to_string_lossy().into_owned();
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut e, &mut bytes).unwrap();
        m.insert(
            format!("/{}", path.trim_start_matches("./")),
            sha256(&bytes),
        );
    }
    Some(m)
}

/// Regular files in the rpm with their sha256, read by rpm itself.
fn rpm_files(rpm: &Path) -> Option<BTreeMap<String, String>> {
    if !have("rpm") {
        return None;
    }
    let o = Command::new("rpm")
        .args([
            "-qp",
            "--qf",
            "[%{FILENAMES}\t%{FILEDIGESTS}\t%{FILEMODES:perms}\n]",
        ])
        .arg(rpm)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let mut m = BTreeMap::new();
    for line in String::from_utf8(o.stdout).unwrap().lines() {
        let f: Vec<&str> = line.split('\t').collect();
        if f.len() == 3 && f[2].starts_with('-') {
            m.insert(f[0].to_string(), f[1].to_string());
        }
    }
    Some(m)
}

#[test]
fn sboms_are_reproducible_complete_and_recorded() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    project(dir);
    let store_a = dir.join("store-a");
    let store_b = dir.join("store-b");
    build(
        dir,
        "out-a",
        &store_a,
        &[("TZ", "UTC"), ("LANG", "C.UTF-8")],
        "022",
    );
    build(
        dir,
        "nested/out-b",
        &store_b,
        &[("TZ", "Pacific/Chatham"), ("LANG", "de_DE.UTF-8")],
        "077",
    );
    let a = sboms(&dir.join("out-a"));
    let b = sboms(&dir.join("nested/out-b"));
    assert_eq!(
        a.keys().cloned().collect::<BTreeSet<_>>(),
        expected_sboms(),
        "SBOM names"
    );
    for (name, bytes) in &a {
        assert!(b.get(name) == Some(bytes), "{name} differs between builds");
    }

    // Listed in SHA256SUMS with their real sha256, and in build-info.json.
    let out = dir.join("out-a");
    let sums = fs::read_to_string(out.join("SHA256SUMS")).unwrap();
    for (name, bytes) in &a {
        assert!(
            sums.contains(&format!("{}  {name}\n", sha256(bytes))),
            "{name} not in SHA256SUMS:\n{sums}"
        );
    }
    let info = json(&fs::read(out.join("build-info.json")).unwrap());
    let outputs: BTreeMap<String, String> = info["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["name"].as_str().unwrap().to_string(),
                o["format"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        outputs.get("sbomdemo_2.1.0-3_amd64.deb.spdx.json"),
        Some(&"sbom-spdx".to_string())
    );
    assert_eq!(
        outputs.get("sbomdemo-2.1.0-3.aarch64.rpm.cdx.json"),
        Some(&"sbom-cyclonedx".to_string())
    );
    assert_eq!(
        outputs.get("sbomdemo-2.1.0-oci.sbom"),
        Some(&"sbom".to_string())
    );

    // Every payload file, with the sha256 of its bytes, in every document of its arch.
    for (arch, deb, rpm, tar, platform) in [
        (
            "amd64",
            "sbomdemo_2.1.0-3_amd64.deb",
            "sbomdemo-2.1.0-3.x86_64.rpm",
            "sbomdemo-2.1.0-linux-amd64.tar.gz",
            "sbomdemo-2.1.0-oci.sbom/linux-amd64",
        ),
        (
            "arm64",
            "sbomdemo_2.1.0-3_arm64.deb",
            "sbomdemo-2.1.0-3.aarch64.rpm",
            "sbomdemo-2.1.0-linux-arm64.tar.gz",
            "sbomdemo-2.1.0-oci.sbom/linux-arm64-v8",
        ),
    ] {
        let payload = dir.join("payload").join(arch);
        let mut want = BTreeMap::new();
        for rel in [
            "sbomdemo",
            "lib/data.txt",
            "lib/sub/empty",
            "lib/sub/name with space.json",
        ] {
            want.insert(
                format!("/opt/sbomdemo/{rel}"),
                sha256(&fs::read(payload.join(rel)).unwrap()),
            );
        }
        let mut listings = Vec::new();
        for artifact in [deb, rpm, tar, platform] {
            let spdx = json(&a[&format!("{artifact}.spdx.json")]);
            let cdx = json(&a[&format!("{artifact}.cdx.json")]);
            let files = listed_files(&spdx, &cdx);
            for (path, sha) in &want {
                assert_eq!(files.get(path), Some(sha), "{artifact}: {path}");
            }
            // The unit is in every package; the image leaves it out (no systemd runs there)
            // and carries a passwd naming the service user instead.
            let unit = "/usr/lib/systemd/system/sbomdemo.service";
            let image = artifact.contains("-oci.sbom/");
            assert_eq!(files.contains_key(unit), !image, "{artifact}: {files:?}");
            assert_eq!(
                files.contains_key("/etc/passwd"),
                image,
                "{artifact}: {files:?}"
            );
            // Identity: version, supplier, license, timestamp from the source date.
            assert_eq!(spdx["creationInfo"]["created"], "2023-11-14T22:13:20Z");
            assert_eq!(cdx["metadata"]["timestamp"], "2023-11-14T22:13:20Z");
            let pkg = &spdx["packages"][0];
            assert_eq!(pkg["licenseDeclared"], "Apache-2.0 OR MIT");
            assert_eq!(pkg["supplier"], "Organization: Example Org");
            assert_eq!(
                cdx["metadata"]["component"]["licenses"][0]["expression"],
                "Apache-2.0 OR MIT"
            );
            assert_eq!(cdx["metadata"]["supplier"]["name"], "Example Org");
            let ns = spdx["documentNamespace"].as_str().unwrap();
            let serial = cdx["serialNumber"].as_str().unwrap();
            assert!(ns.starts_with("https://spdx.org/spdxdocs/"), "{ns}");
            assert!(serial.starts_with("urn:uuid:"), "{serial}");
            assert_eq!(serial.as_bytes()[9 + 14], b'5', "v5 UUID: {serial}");
            listings.push((artifact, files, spdx, cdx));
        }
        // The deb's SBOM lists exactly the regular files dpkg-deb finds in it.
        if let Some(real) = deb_files(&out.join(deb)) {
            assert_eq!(
                listings[0].1, real,
                "{deb}: SBOM vs dpkg-deb --fsys-tarfile"
            );
        }
        if let Some(real) = rpm_files(&out.join(rpm)) {
            assert_eq!(listings[1].1, real, "{rpm}: SBOM vs rpm -qp");
        }
        let purl = |cdx: &serde_json::Value| {
            cdx["metadata"]["component"]["purl"]
                .as_str()
                .unwrap()
                .to_string()
        };
        let deb_arch = arch;
        let rpm_arch = if arch == "amd64" { "x86_64" } else { "aarch64" };
        assert_eq!(
            purl(&listings[0].3),
            format!("pkg:deb/sbomdemo@2.1.0-3?arch={deb_arch}")
        );
        assert_eq!(
            purl(&listings[1].3),
            format!("pkg:rpm/sbomdemo@2.1.0-3?arch={rpm_arch}")
        );
        // Declared dependencies.
        let deps = |spdx: &serde_json::Value| -> BTreeSet<String> {
            spdx["packages"].as_array().unwrap()[1..]
                .iter()
                .map(|p| p["name"].as_str().unwrap().to_string())
                .collect()
        };
        for name in ["ca-certificates", "tzdata", "adduser"] {
            assert!(deps(&listings[0].2).contains(name), "deb depends: {name}");
        }
        for name in ["ca-certificates", "tzdata"] {
            assert!(deps(&listings[1].2).contains(name), "rpm requires: {name}");
        }
        assert!(deps(&listings[2].2).is_empty(), "the tarball declares none");
        let oci_purl = purl(&listings[3].3);
        let digest = platform_manifest_digest(&out.join("sbomdemo-2.1.0-oci"), arch);
        assert_eq!(
            oci_purl,
            format!(
                "pkg:oci/sbomdemo@{}?arch={arch}&repository_url=ghcr.io/example/sbomdemo&tag=2.1.0",
                digest.replace(':', "%3A")
            )
        );
    }
}

/// The manifest digest of `arch` in an OCI layout, read straight from its JSON.
fn platform_manifest_digest(layout: &Path, arch: &str) -> String {
    let top = json(&fs::read(layout.join("index.json")).unwrap());
    let idx = top["manifests"][0]["digest"].as_str().unwrap();
    let index = json(
        &fs::read(
            layout
                .join("blobs/sha256")
                .join(idx.trim_start_matches("sha256:")),
        )
        .unwrap(),
    );
    index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["platform"]["architecture"] == arch)
        .unwrap()["digest"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn a_cache_hit_gives_the_same_sboms() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    project(dir);
    let store = dir.join("store");
    build(dir, "out", &store, &[], "022");
    let first = sboms(&dir.join("out"));
    let o = build(dir, "out", &store, &[], "022");
    let report = json(&o.stdout);
    for a in report["artifacts"].as_array().unwrap() {
        assert_eq!(a["cached"], true, "{a}");
    }
    assert_eq!(sboms(&dir.join("out")), first, "rebuild in place");
    // A fresh out dir served from the store.
    let o = build(dir, "other", &store, &[], "022");
    let report = json(&o.stdout);
    assert!(report["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .all(|a| a["cached"] == true));
    assert_eq!(
        sboms(&dir.join("other")),
        first,
        "fresh out dir from the store"
    );
    assert_eq!(
        first.keys().cloned().collect::<BTreeSet<_>>(),
        expected_sboms()
    );
}

/// The python with spdx-tools and cyclonedx-python-lib: `LUCIA_SBOM_PYTHON`, else the venv
/// scripts/ci-setup.sh makes, else python3 on PATH if it has both.
fn validator_python() -> Result<PathBuf, String> {
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
                "import spdx_tools.spdx.clitools.pyspdxtools, cyclonedx.validation.json",
            ])
            .output()
            .is_ok_and(|o| o.status.success());
        if ok {
            return Ok(py.clone());
        }
    }
    Err(format!(
        "no python with spdx-tools and cyclonedx-python-lib[json-validation] (tried {candidates:?}; scripts/ci-setup.sh installs them)"
    ))
}

const CDX_VALIDATE: &str = r#"
import sys
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
v = JsonStrictValidator(SchemaVersion.V1_6)
bad = 0
for path in sys.argv[1:]:
    err = v.validate_str(open(path, encoding="utf-8").read())
    if err is not None:
        bad += 1
        print(f"{path}: {err}")
sys.exit(1 if bad else 0)
"#;

fn pyspdxtools(py: &Path, file: &Path) -> Output {
    Command::new(py)
        .args(["-m", "spdx_tools.spdx.clitools.pyspdxtools", "-i"])
        .arg(file)
        .output()
        .unwrap()
}

#[test]
fn sboms_pass_the_spdx_and_cyclonedx_validators() {
    let py = match validator_python() {
        Ok(p) => p,
        Err(why) if e2e_required() => panic!("LUCIA_E2E_REQUIRED=1: {why}"),
        Err(why) => {
            eprintln!("skipped: {why}");
            return;
        }
    };
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    project(dir);
    build(dir, "out", &dir.join("store"), &[], "022");
    let out = dir.join("out");
    let docs = sboms(&out);
    assert_eq!(docs.len(), expected_sboms().len());

    // Negative controls first, so neither validator passes vacuously.
    let any_spdx = docs.keys().find(|n| n.ends_with(".spdx.json")).unwrap();
    let mut broken = json(&docs[any_spdx]);
    broken["files"][0]["checksums"] = serde_json::json!([]);
    broken["packages"][0]["SPDXID"] = serde_json::json!("not an id");
    let bad_spdx = dir.join("bad.spdx.json");
    fs::write(&bad_spdx, serde_json::to_vec(&broken).unwrap()).unwrap();
    assert!(
        !pyspdxtools(&py, &bad_spdx).status.success(),
        "pyspdxtools accepted a broken document"
    );
    let any_cdx = docs.keys().find(|n| n.ends_with(".cdx.json")).unwrap();
    let mut broken = json(&docs[any_cdx]);
    broken["components"][0]["hashes"][0]["alg"] = serde_json::json!("SHA-7");
    let bad_cdx = dir.join("bad.cdx.json");
    fs::write(&bad_cdx, serde_json::to_vec(&broken).unwrap()).unwrap();
    let o = Command::new(&py)
        .args(["-c", CDX_VALIDATE])
        .arg(&bad_cdx)
        .output()
        .unwrap();
    assert!(
        !o.status.success(),
        "the CycloneDX validator accepted SHA-7"
    );

    for name in docs.keys().filter(|n| n.ends_with(".spdx.json")) {
        let o = pyspdxtools(&py, &out.join(name));
        let t = text(&o);
        assert!(o.status.success(), "pyspdxtools -i {name}:\n{t}");
        assert!(
            !t.contains("Invalid") && !t.contains("ValidationMessage"),
            "{name}:\n{t}"
        );
    }
    let cdx: Vec<PathBuf> = docs
        .keys()
        .filter(|n| n.ends_with(".cdx.json"))
        .map(|n| out.join(n))
        .collect();
    let o = Command::new(&py)
        .args(["-c", CDX_VALIDATE])
        .args(&cdx)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "CycloneDX 1.6 strict schema:\n{}",
        text(&o)
    );
}
