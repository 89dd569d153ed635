//! A small, realistic plan for the format writers' own unit tests, so each writer can be tested
//! without the manifest layer. The binary's integration tests use the real example manifest.

use crate::arch::Arch;
use crate::compress::Codec;
use crate::determinism::{EXEC_MODE, FILE_MODE};
use crate::lifecycle::{EnvFile, ManagedDir, ServiceIntent, Snippets, SystemUser, UnitIntent};
use crate::plan::*;
use crate::version::PackageVersion;

fn file(path: &str, mode: u32, owner: Owner, bytes: &[u8], config: bool, layer: Layer) -> Entry {
    Entry {
        mode,
        owner,
        config,
        layer,
        ..Entry::inline_file(path, bytes)
    }
}

/// Compressible but irregular text (words mixed with pseudo-random letters), always the same for
/// the same length: test data for codecs and writers.
pub fn compressible_text(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    (0..len)
        .map(|i| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            if x.is_multiple_of(5) {
                b'a' + (x % 26) as u8
            } else {
                b"agent host lucia "[i % 17]
            }
        })
        .collect()
}

/// A root-owned 0644 app file at `path` whose content is streamed from `src` on disk (size and
/// sha256 read from it now), for writer tests.
pub fn disk_app_file(path: &str, src: &std::path::Path) -> std::io::Result<Entry> {
    let (sha256, size) = crate::digest::sha256_file(src)?;
    Ok(Entry {
        path: path.into(),
        kind: EntryKind::File {
            content: Content::Disk(src.to_path_buf()),
            size,
            sha256,
        },
        mode: FILE_MODE,
        owner: Owner::root(),
        config: false,
        owned: true,
        layer: Layer::App,
    })
}

fn dir(path: &str, owned: bool, layer: Layer) -> Entry {
    Entry {
        owned,
        layer,
        ..Entry::dir(path)
    }
}

/// A plan shaped like Lucia's: an app under /opt/lucia, a unit, sysusers/tmpfiles, an env file.
pub fn lucia_like_plan(arch: Arch) -> Plan {
    let lucia_group = Owner {
        user: "root".into(),
        group: "lucia".into(),
        uid: 0,
        gid: 1100,
    };
    let intent = ServiceIntent {
        user: Some(SystemUser {
            name: "lucia".into(),
            group: "lucia".into(),
            home: "/var/lib/lucia".into(),
            shell: "/usr/sbin/nologin".into(),
            gecos: "Lucia agent host".into(),
        }),
        dirs: vec![ManagedDir {
            path: "/var/lib/lucia".into(),
            mode: 0o750,
            user: "lucia".into(),
            group: "lucia".into(),
            remove_on_purge: true,
        }],
        units: vec![UnitIntent {
            name: "lucia.service".into(),
            enable: true,
            start: true,
            restart_after_upgrade: true,
        }],
        env_file: Some(EnvFile {
            path: "/etc/lucia/lucia.env".into(),
            mode: 0o640,
            user: "root".into(),
            group: "lucia".into(),
        }),
        sysusers_path: "/usr/lib/sysusers.d/lucia.conf".into(),
        tmpfiles_path: "/usr/lib/tmpfiles.d/lucia.conf".into(),
        unit_dir: "/usr/lib/systemd/system".into(),
        snippets: Snippets::default(),
    };
    let unit = b"[Unit]\nDescription=Lucia\n\n[Service]\nType=exec\nUser=lucia\nExecStart=/opt/lucia/lucia.AgentHost\n\n[Install]\nWantedBy=multi-user.target\n";
    // Fixed, valid sample values: rendering them cannot fail.
    let sysusers =
        crate::lifecycle::sysusers_conf(intent.user.as_ref().unwrap_or_else(|| unreachable!()))
            .unwrap_or_else(|e| unreachable!("{e}"));
    let tmpfiles =
        crate::lifecycle::tmpfiles_conf(&intent.dirs).unwrap_or_else(|e| unreachable!("{e}"));
    let mut entries = vec![
        dir("/etc", false, Layer::Config),
        dir("/etc/lucia", true, Layer::Config),
        file(
            "/etc/lucia/lucia.env",
            0o640,
            lucia_group,
            b"ASPNETCORE_URLS=http://0.0.0.0:8080\n",
            true,
            Layer::Config,
        ),
        dir("/opt", false, Layer::App),
        dir("/opt/lucia", true, Layer::App),
        file(
            "/opt/lucia/appsettings.json",
            FILE_MODE,
            Owner::root(),
            b"{}\n",
            false,
            Layer::App,
        ),
        file(
            "/opt/lucia/lucia.AgentHost",
            EXEC_MODE,
            Owner::root(),
            b"#!/bin/sh\nexec sleep infinity\n",
            false,
            Layer::App,
        ),
        dir("/usr", false, Layer::Config),
        dir("/usr/lib", false, Layer::Config),
        dir("/usr/lib/systemd", false, Layer::Config),
        dir("/usr/lib/systemd/system", false, Layer::Config),
        file(
            "/usr/lib/systemd/system/lucia.service",
            FILE_MODE,
            Owner::root(),
            unit,
            false,
            Layer::Config,
        ),
        dir("/usr/lib/sysusers.d", false, Layer::Config),
        file(
            "/usr/lib/sysusers.d/lucia.conf",
            FILE_MODE,
            Owner::root(),
            sysusers.as_bytes(),
            false,
            Layer::Config,
        ),
        dir("/usr/lib/tmpfiles.d", false, Layer::Config),
        file(
            "/usr/lib/tmpfiles.d/lucia.conf",
            FILE_MODE,
            Owner::root(),
            tmpfiles.as_bytes(),
            false,
            Layer::Config,
        ),
    ];
    entries.sort_by(|a, b| a.path.as_bytes().cmp(b.path.as_bytes()));
    let version = PackageVersion::new("1.0.0", "1", None).unwrap_or_else(|_| unreachable!());
    Plan {
        meta: PackageMeta {
            name: "lucia".into(),
            version,
            summary: "Lucia home-assistant agent host".into(),
            description: "Lucia runs the AgentHost service.\nIt orchestrates agents.".into(),
            license: "MIT".into(),
            homepage: Some("https://github.com/seiggy/lucia-dotnet".into()),
            maintainer: "Lucia Project <lucia@example.org>".into(),
            vendor: Some("Lucia Project".into()),
            source_url: Some("https://github.com/seiggy/lucia-dotnet".into()),
            revision: Some("0123456789abcdef".into()),
            changelog: vec![ChangelogEntry {
                version: "1.0.0-1".into(),
                date: 1_767_225_600,
                author: "Lucia Project <lucia@example.org>".into(),
                changes: vec!["First packaged release.".into()],
            }],
            provides: vec![],
            conflicts: vec![],
            replaces: vec![],
        },
        arch,
        source_date: 1_767_225_600,
        entries,
        service: Some(intent),
        formats: FormatOptions {
            deb: DebOptions {
                compression: Codec::Xz(6),
                depends: vec!["libc6 (>= 2.31)".into()],
                section: "net".into(),
                priority: "optional".into(),
                ..Default::default()
            },
            rpm: RpmOptions {
                compression: Codec::Zstd(19),
                ..Default::default()
            },
            tar: TarOptions {
                compression: Codec::Gzip(9),
                ..Default::default()
            },
            oci: OciOptions {
                layer_compression: Codec::Gzip(6),
                entrypoint: vec!["/opt/lucia/lucia.AgentHost".into()],
                env: vec![("ASPNETCORE_URLS".into(), "http://+:8080".into())],
                working_dir: Some("/var/lib/lucia".into()),
                user: "1100:1100".into(),
                exposed_ports: vec!["8080/tcp".into()],
                volumes: vec!["/var/lib/lucia".into()],
                ..Default::default()
            },
        },
        install_dir: "/opt/lucia".into(),
    }
}
