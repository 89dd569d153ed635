//! Writes an rpm from `pkg_core::sample::lucia_like_plan`, for poking at the writer with
//! rpm/rpmlint before (or without) the lucia-pkg CLI:
//!
//! `cargo run -p format-rpm --example sample_rpm -- OUT_DIR [ARCH] [VERSION] [PAYLOAD_DIR UNIT ENV]`
//! `cargo run -p format-rpm --example sample_rpm -- --inspect FILE.rpm [--json]`
//!
//! With PAYLOAD_DIR/UNIT/ENV, the sample's executable, appsettings.json, unit and env template
//! are replaced by those files (streamed from disk), e.g. the demo AgentHost in
//! target/demo-payload/amd64 with systemd/lucia.service and systemd/lucia.env.

use std::fs::File;
use std::path::PathBuf;

use pkg_core::plan::{Content, Entry, EntryKind, Layer, Owner};
use pkg_core::version::PackageVersion;

fn disk(path: PathBuf) -> Result<EntryKind, Box<dyn std::error::Error>> {
    let (sha256, size) = pkg_core::digest::sha256_file(&path)?;
    Ok(EntryKind::File {
        content: Content::Disk(path),
        size,
        sha256,
    })
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--inspect") {
        let path = PathBuf::from(
            args.get(1)
                .ok_or("usage: sample_rpm --inspect FILE.rpm [--json]")?,
        );
        let report = format_rpm::inspect(&path)?;
        if args.get(2).map(String::as_str) == Some("--json") {
            println!("{}", serde_json::to_string_pretty(&report)?);
        } else {
            print!("{report}");
        }
        return if report.digests.ok {
            Ok(())
        } else {
            Err("digests NOT OK".into())
        };
    }
    let dir = PathBuf::from(
        args.first()
            .ok_or("usage: sample_rpm OUT_DIR [ARCH] [VERSION] [PAYLOAD_DIR UNIT ENV]")?,
    );
    let arch: pkg_core::Arch = args.get(1).map(String::as_str).unwrap_or("amd64").parse()?;
    let mut plan = pkg_core::sample::lucia_like_plan(arch);
    // e.g. COMPRESSION=gzip:9 (pkg-core's codec syntax) to compare memory and time.
    if let Ok(c) = std::env::var("COMPRESSION") {
        plan.formats.rpm.compression = c.parse()?;
    }
    if let Ok(sde) = std::env::var("SOURCE_DATE_EPOCH") {
        plan.source_date = sde.parse()?;
    }
    if let Some(v) = args.get(2) {
        plan.meta.version = PackageVersion::new(v, "1", None)?;
    }
    if let [payload, unit, env] = &args.get(3..6).unwrap_or_default() {
        let payload = PathBuf::from(payload);
        for e in &mut plan.entries {
            match e.path.as_str() {
                "/opt/lucia/lucia.AgentHost" => e.kind = disk(payload.join("lucia.AgentHost"))?,
                "/opt/lucia/appsettings.json" => e.kind = disk(payload.join("appsettings.json"))?,
                "/usr/lib/systemd/system/lucia.service" => e.kind = disk(PathBuf::from(unit))?,
                "/etc/lucia/lucia.env" => e.kind = disk(PathBuf::from(env))?,
                _ => {}
            }
        }
        // As packaging/lucia.toml has them: an rpm group and the operator README as a doc file.
        plan.formats.rpm.group = Some("System Environment/Daemons".into());
        let readme = PathBuf::from(unit).with_file_name("README.service.md");
        if readme.is_file() {
            for (path, kind) in [
                ("/usr/share", EntryKind::Dir),
                ("/usr/share/doc", EntryKind::Dir),
                ("/usr/share/doc/lucia", EntryKind::Dir),
                (
                    "/usr/share/doc/lucia/README.service.md",
                    disk(readme.clone())?,
                ),
            ] {
                plan.entries.push(Entry {
                    path: path.into(),
                    owned: path.starts_with("/usr/share/doc/lucia"),
                    mode: if matches!(kind, EntryKind::Dir) {
                        0o755
                    } else {
                        0o644
                    },
                    kind,
                    owner: Owner::root(),
                    config: false,
                    layer: Layer::Config,
                });
            }
            plan.entries
                .sort_by(|a, b| a.path.as_bytes().cmp(b.path.as_bytes()));
        }
    }
    let path = dir.join(format_rpm::file_name(&plan));
    // IN_MEMORY=1: the rpm crate's all-in-memory build (the reference the streaming writer matches).
    let summary = if std::env::var_os("IN_MEMORY").is_some() {
        format_rpm::write_rpm_in_memory(&plan, File::create(&path)?)?
    } else {
        format_rpm::write_rpm(&plan, File::create(&path)?)?
    };
    println!("{} {} {}", path.display(), summary.size, summary.sha256);
    Ok(())
}
