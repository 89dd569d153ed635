//! `lucia-pkg verify`: proves reproducibility by building everything twice in isolated temp
//! directories under a deliberately different environment — TZ, LANG/LC_ALL, umask, TMPDIR, HOME,
//! working directory and out-dir path, and (as root, where `unshare` exists) the hostname in a new
//! UTS namespace — with the store bypassed, then comparing every output byte for byte. On a
//! difference it names the artifact and the first differing member or field, and suggests
//! diffoscope.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Serialize;

use crate::cli::Selection;
use crate::error::AppError;
use crate::formats;

/// One of the two environments.
struct Variant {
    name: &'static str,
    tz: &'static str,
    lang: &'static str,
    umask: &'static str,
    hostname: &'static str,
    /// Extra path depth, so the two out dirs differ in length too.
    depth: &'static str,
}

const VARIANTS: [Variant; 2] = [
    Variant {
        name: "a",
        tz: "UTC",
        lang: "C.UTF-8",
        umask: "022",
        hostname: "lucia-verify-a",
        depth: "a",
    },
    Variant {
        name: "b",
        tz: "Pacific/Kiritimati",
        lang: "fr_FR.UTF-8",
        umask: "077",
        hostname: "another-host-b",
        depth: "b/deeper/path",
    },
];

#[derive(Debug, Serialize)]
pub struct Difference {
    pub artifact: String,
    pub first_difference: String,
}

#[derive(Debug, Serialize)]
pub struct VerifyReport {
    pub identical: bool,
    pub artifacts: usize,
    pub hostname_varied: bool,
    pub differences: Vec<Difference>,
    pub kept: Option<[String; 2]>,
}

fn sums(out: &Path) -> Result<BTreeMap<String, String>, AppError> {
    let text = std::fs::read_to_string(out.join("SHA256SUMS"))
        .map_err(|e| AppError::Build(format!("{}: {e}", out.display())))?;
    Ok(text
        .lines()
        .filter_map(|l| l.split_once("  "))
        .map(|(h, n)| (n.to_string(), h.to_string()))
        .collect())
}

fn can_unshare_uts() -> bool {
    // SAFETY-free check: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    root && Command::new("unshare")
        .arg("--uts")
        .arg("true")
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// First path at which two JSON documents differ, e.g. `members[12].mode: "0644" vs "0600"`.
fn first_json_difference(a: &serde_json::Value, b: &serde_json::Value, at: &str) -> Option<String> {
    use serde_json::Value;
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for (k, va) in x {
                let here = if at.is_empty() {
                    k.clone()
                } else {
                    format!("{at}.{k}")
                };
                match y.get(k) {
                    Some(vb) => {
                        if let Some(d) = first_json_difference(va, vb, &here) {
                            return Some(d);
                        }
                    }
                    None => return Some(format!("{here}: only in the first build")),
                }
            }
            y.keys()
                .find(|k| !x.contains_key(*k))
                .map(|k| format!("{at}.{k}: only in the second build"))
        }
        (Value::Array(x), Value::Array(y)) => {
            for (i, (va, vb)) in x.iter().zip(y).enumerate() {
                if let Some(d) = first_json_difference(va, vb, &format!("{at}[{i}]")) {
                    return Some(d);
                }
            }
            (x.len() != y.len()).then(|| format!("{at}: {} vs {} items", x.len(), y.len()))
        }
        _ if a != b => Some(format!("{at}: {a} vs {b}")),
        _ => None,
    }
}

fn first_byte_difference(a: &Path, b: &Path) -> String {
    match (std::fs::read(a), std::fs::read(b)) {
        (Ok(x), Ok(y)) => match x.iter().zip(&y).position(|(p, q)| p != q) {
            Some(i) => format!("first differing byte at offset {i}"),
            None => format!("sizes differ: {} vs {} bytes", x.len(), y.len()),
        },
        _ => "could not read both copies".into(),
    }
}

fn explain(artifact: &str, a_out: &Path, b_out: &Path) -> String {
    let (pa, pb) = (a_out.join(artifact), b_out.join(artifact));
    // Members inside the OCI layout are compared through the layout as a whole.
    let (ia, ib) = if artifact.contains('/') {
        let top = artifact.split('/').next().unwrap_or(artifact);
        (a_out.join(top), b_out.join(top))
    } else {
        (pa.clone(), pb.clone())
    };
    let structural = match (formats::inspect(&ia), formats::inspect(&ib)) {
        (Ok(a), Ok(b)) => first_json_difference(&a.value, &b.value, ""),
        _ => None,
    };
    let detail = structural.unwrap_or_else(|| first_byte_difference(&pa, &pb));
    format!(
        "{detail}; compare with: diffoscope {} {}",
        pa.display(),
        pb.display()
    )
}

/// Compares two out dirs by their SHA256SUMS and explains each difference.
pub fn compare(a_out: &Path, b_out: &Path) -> Result<Vec<Difference>, AppError> {
    let (a, b) = (sums(a_out)?, sums(b_out)?);
    let mut differences = Vec::new();
    for (name, ha) in &a {
        match b.get(name) {
            Some(hb) if hb == ha => {}
            Some(_) => differences.push(Difference {
                artifact: name.clone(),
                first_difference: explain(name, a_out, b_out),
            }),
            None => differences.push(Difference {
                artifact: name.clone(),
                first_difference: "missing from the second build".into(),
            }),
        }
    }
    for name in b.keys().filter(|n| !a.contains_key(*n)) {
        differences.push(Difference {
            artifact: name.clone(),
            first_difference: "missing from the first build".into(),
        });
    }
    Ok(differences)
}

pub fn run(sel: &Selection, keep: bool, exe: &Path) -> Result<VerifyReport, AppError> {
    let given = sel.manifest_path()?;
    let manifest = given
        .canonicalize()
        .map_err(|e| AppError::Input(format!("{}: {e}", given.display())))?;
    let root = tempfile::Builder::new()
        .prefix("lucia-verify-")
        .tempdir()
        .map_err(AppError::build)?;
    let hostname_varied = can_unshare_uts();
    let mut outs: Vec<PathBuf> = Vec::new();
    for v in &VARIANTS {
        let base = root.path().join(v.depth);
        let (work, tmp, home, out) = (
            base.join("work"),
            base.join("tmp"),
            base.join("home"),
            base.join("out"),
        );
        for d in [&work, &tmp, &home] {
            std::fs::create_dir_all(d).map_err(AppError::build)?;
        }
        let mut args: Vec<String> = vec![
            "build".into(),
            "--no-cache".into(),
            "--quiet".into(),
            "--manifest".into(),
            manifest.display().to_string(),
            "--out".into(),
            out.display().to_string(),
        ];
        if let Some(a) = &sel.arch {
            args.extend(["--arch".into(), a.clone()]);
        }
        if let Some(f) = &sel.format {
            args.extend(["--format".into(), f.clone()]);
        }
        for kv in &sel.set {
            args.extend(["--set".into(), kv.clone()]);
        }
        let quoted: Vec<String> = std::iter::once(exe.display().to_string())
            .chain(args)
            .map(|a| pkg_core::lifecycle::sh_quote(&a))
            .collect();
        let inner = format!("umask {}; exec {}", v.umask, quoted.join(" "));
        let mut cmd = if hostname_varied {
            let mut c = Command::new("unshare");
            c.args(["--uts", "sh", "-c"])
                .arg(format!("hostname {} && {inner}", v.hostname));
            c
        } else {
            let mut c = Command::new("sh");
            c.arg("-c").arg(&inner);
            c
        };
        crate::signals::reset_in_child(&mut cmd);
        cmd.current_dir(&work)
            .env("TZ", v.tz)
            .env("LANG", v.lang)
            .env("LC_ALL", v.lang)
            .env("TMPDIR", &tmp)
            .env("HOME", &home)
            .env("XDG_CACHE_HOME", home.join(".cache"));
        let o = cmd
            .output()
            .map_err(|e| AppError::Build(format!("cannot run the build: {e}")))?;
        if !o.status.success() {
            let err = String::from_utf8_lossy(&o.stderr);
            let code = o.status.code().unwrap_or(1);
            let msg = format!("build {} failed:\n{err}", v.name);
            return Err(if code == 2 {
                AppError::Input(msg)
            } else {
                AppError::Build(msg)
            });
        }
        outs.push(out);
    }
    let artifacts = sums(&outs[0])?.len();
    let differences = compare(&outs[0], &outs[1])?;
    let kept = if keep {
        let p = root.keep();
        Some([
            p.join(VARIANTS[0].depth).join("out").display().to_string(),
            p.join(VARIANTS[1].depth).join("out").display().to_string(),
        ])
    } else {
        None
    };
    Ok(VerifyReport {
        identical: differences.is_empty(),
        artifacts,
        hostname_varied,
        differences,
        kept,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_differences_are_located() {
        let a = serde_json::json!({"members": [{"path": "x", "mode": "0644"}, {"path": "y", "mtime": 1}]});
        let b = serde_json::json!({"members": [{"path": "x", "mode": "0644"}, {"path": "y", "mtime": 2}]});
        assert_eq!(
            first_json_difference(&a, &b, "").as_deref(),
            Some("members[1].mtime: 1 vs 2")
        );
        assert_eq!(first_json_difference(&a, &a, ""), None);
    }

    /// Two builds that really differ (another source date) are caught and explained.
    #[test]
    fn a_real_difference_is_found_and_explained() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path();
        std::fs::create_dir_all(p.join("payload")).unwrap();
        std::fs::write(p.join("payload/run"), "#!/bin/sh\n").unwrap();
        std::process::Command::new("chmod")
            .arg("755")
            .arg(p.join("payload/run"))
            .status()
            .unwrap();
        let manifest = |date: u64| {
            format!(
            "[package]\nname = \"demo\"\nversion = \"1.0.0\"\nsummary = \"d\"\nlicense = \"MIT\"\nmaintainer = \"D <d@example.org>\"\nsource-date-epoch = {date}\narches = [\"amd64\"]\nformats = [\"tar\"]\n[payload]\ninstall-dir = \"/opt/demo\"\nentrypoint = \"run\"\n[payload.amd64]\npath = \"payload\"\n"
        )
        };
        let mut outs = Vec::new();
        for (i, date) in [1_700_000_000u64, 1_700_000_001].iter().enumerate() {
            let m = p.join(format!("m{i}.toml"));
            std::fs::write(&m, manifest(*date)).unwrap();
            let req = crate::build::Request {
                manifest: m,
                arches: None,
                formats: None,
                revision: None,
                overrides: Vec::new(),
            };
            let out = p.join(format!("out{i}"));
            crate::build::run(&req, &out, &crate::progress::Progress::new(true), None).unwrap();
            outs.push(out);
        }
        let d = compare(&outs[0], &outs[1]).unwrap();
        let tar = d
            .iter()
            .find(|d| d.artifact == "demo-1.0.0-linux-amd64.tar.gz")
            .expect("the tarball differs");
        assert!(
            tar.first_difference.contains("mtime"),
            "{}",
            tar.first_difference
        );
        assert!(
            tar.first_difference.contains("diffoscope"),
            "{}",
            tar.first_difference
        );
        assert!(compare(&outs[0], &outs[0]).unwrap().is_empty());
    }
}
