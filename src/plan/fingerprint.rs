//! The plan fingerprint: the sha256 of a plan's every field that can change an artifact's bytes,
//! written out field by field as `name=<JSON value>` lines. It is part of every build key and of
//! build-info.json, so it must be stable: it never goes through `{:?}` (Debug output is not a
//! stable format), and it holds no machine-specific path — payload files count by their sha256,
//! a base image by its pinned digest, an rpm signing key by the sha256 of its file's content.
//!
//! Every struct is destructured without `..`: a field added to the plan does not compile until
//! this file says whether (and how) it counts.

use pkg_core::digest::sha256_hex;
use pkg_core::lifecycle::{EnvFile, ManagedDir, ServiceIntent, Snippets, SystemUser, UnitIntent};
use pkg_core::plan::{
    ChangelogEntry, DebOptions, Entry, EntryKind, FormatOptions, Layer, OciBase, OciOptions, Owner,
    PackageMeta, RpmOptions, TarOptions,
};
use pkg_core::version::PackageVersion;
use pkg_core::Plan;
use serde::Serialize;

/// Lines of `name=<JSON>`; JSON makes every value unambiguous (quotes, escapes, null).
#[derive(Default)]
struct Lines(String);

impl Lines {
    fn put<T: Serialize + ?Sized>(&mut self, name: &str, value: &T) {
        let json = serde_json::to_string(value).unwrap_or_else(|_| "!".into());
        self.0.push_str(name);
        self.0.push('=');
        self.0.push_str(&json);
        self.0.push('\n');
    }
}

/// The fingerprint of `plan` (hex sha256).
pub fn fingerprint(plan: &Plan) -> String {
    let Plan {
        meta,
        arch,
        source_date,
        entries,
        service,
        formats,
        install_dir,
    } = plan;
    let mut l = Lines::default();
    l.put("fingerprint", "lucia-pkg plan v2");
    l.put("arch", arch.as_str());
    l.put("source_date", source_date);
    l.put("install_dir", install_dir);
    meta_lines(&mut l, meta);
    for e in entries {
        entry_lines(&mut l, e);
    }
    match service {
        None => l.put("service", &None::<()>),
        Some(s) => service_lines(&mut l, s),
    }
    format_lines(&mut l, formats);
    sha256_hex(l.0.as_bytes())
}

fn meta_lines(l: &mut Lines, m: &PackageMeta) {
    let PackageMeta {
        name,
        version,
        summary,
        description,
        license,
        homepage,
        maintainer,
        vendor,
        source_url,
        revision,
        changelog,
        provides,
        conflicts,
        replaces,
    } = m;
    let PackageVersion {
        upstream,
        pkg,
        release,
        epoch,
    } = version;
    l.put("meta.name", name);
    l.put("meta.version", &(upstream, pkg, release, epoch));
    l.put("meta.summary", summary);
    l.put("meta.description", description);
    l.put("meta.license", license);
    l.put("meta.homepage", homepage);
    l.put("meta.maintainer", maintainer);
    l.put("meta.vendor", vendor);
    l.put("meta.source_url", source_url);
    l.put("meta.revision", revision);
    for c in changelog {
        let ChangelogEntry {
            version,
            date,
            author,
            changes,
        } = c;
        l.put("meta.changelog", &(version, date, author, changes));
    }
    l.put("meta.provides", provides);
    l.put("meta.conflicts", conflicts);
    l.put("meta.replaces", replaces);
}

fn entry_lines(l: &mut Lines, e: &Entry) {
    let Entry {
        path,
        kind,
        mode,
        owner,
        config,
        owned,
        layer,
    } = e;
    let Owner {
        user,
        group,
        uid,
        gid,
    } = owner;
    // A file counts by its content's sha256 and size, never by where it is read from.
    let kind = match kind {
        EntryKind::Dir => "d".to_string(),
        EntryKind::File {
            content: _,
            size,
            sha256,
        } => format!("f {size} {}", hex::encode(sha256)),
        EntryKind::Symlink { target } => format!("l {target}"),
    };
    let layer = match layer {
        Layer::App => "app",
        Layer::Config => "config",
    };
    l.put(
        "entry",
        &(
            path,
            kind,
            mode,
            (user, group, uid, gid),
            config,
            owned,
            layer,
        ),
    );
}

fn service_lines(l: &mut Lines, s: &ServiceIntent) {
    let ServiceIntent {
        user,
        dirs,
        units,
        env_file,
        sysusers_path,
        tmpfiles_path,
        unit_dir,
        snippets,
    } = s;
    match user {
        None => l.put("service.user", &None::<()>),
        Some(SystemUser {
            name,
            group,
            home,
            shell,
            gecos,
        }) => l.put("service.user", &(name, group, home, shell, gecos)),
    }
    for d in dirs {
        let ManagedDir {
            path,
            mode,
            user,
            group,
            remove_on_purge,
        } = d;
        l.put("service.dir", &(path, mode, user, group, remove_on_purge));
    }
    for u in units {
        let UnitIntent {
            name,
            enable,
            start,
            restart_after_upgrade,
        } = u;
        l.put(
            "service.unit",
            &(name, enable, start, restart_after_upgrade),
        );
    }
    match env_file {
        None => l.put("service.env_file", &None::<()>),
        Some(EnvFile {
            path,
            mode,
            user,
            group,
        }) => l.put("service.env_file", &(path, mode, user, group)),
    }
    l.put("service.sysusers_path", sysusers_path);
    l.put("service.tmpfiles_path", tmpfiles_path);
    l.put("service.unit_dir", unit_dir);
    let Snippets {
        pre_install,
        post_install,
        pre_remove,
        post_remove,
    } = snippets;
    l.put(
        "service.snippets",
        &(pre_install, post_install, pre_remove, post_remove),
    );
}

fn format_lines(l: &mut Lines, f: &FormatOptions) {
    let FormatOptions { deb, rpm, tar, oci } = f;
    let DebOptions {
        compression,
        segments,
        depends,
        pre_depends,
        recommends,
        suggests,
        section,
        priority,
        lintian_overrides,
        auto_depends,
        shlib_depends,
    } = deb;
    l.put("deb.compression", &compression.to_string());
    l.put("deb.segments", &segments.to_string());
    l.put(
        "deb.relations",
        &(depends, pre_depends, recommends, suggests, shlib_depends),
    );
    l.put("deb.section", &(section, priority));
    l.put("deb.lintian_overrides", lintian_overrides);
    l.put("deb.auto_depends", auto_depends);

    let RpmOptions {
        compression,
        segments,
        requires,
        recommends,
        group,
        packager,
        auto_requires,
        shlib_requires,
        signing_key,
    } = rpm;
    l.put("rpm.compression", &compression.to_string());
    l.put("rpm.segments", &segments.to_string());
    l.put("rpm.relations", &(requires, recommends, shlib_requires));
    l.put("rpm.group", &(group, packager));
    l.put("rpm.auto_requires", auto_requires);
    // The key's content, not its path: signing with another key changes the package. (A sha256
    // of the key file reveals nothing of the key.)
    let key = signing_key.as_ref().map(|p| {
        pkg_core::digest::sha256_file(p)
            .map(|(h, _)| hex::encode(h))
            .unwrap_or_else(|e| format!("unreadable: {}", e.kind()))
    });
    l.put("rpm.signing_key", &key);

    let TarOptions {
        compression,
        segments,
    } = tar;
    l.put("tar.compression", &compression.to_string());
    l.put("tar.segments", &segments.to_string());

    let OciOptions {
        layer_compression,
        layer_segments,
        base,
        entrypoint,
        cmd,
        env,
        working_dir,
        user,
        exposed_ports,
        volumes,
        labels,
        repository,
        tags,
        deploy,
    } = oci;
    l.put("oci.compression", &layer_compression.to_string());
    l.put("oci.segments", &layer_segments.to_string());
    // A base counts by the digest it is pinned to, not by where its layout lies.
    let base = base.as_ref().map(|OciBase { path: _, digest }| digest);
    l.put("oci.base", &base);
    l.put("oci.run", &(entrypoint, cmd, env, working_dir, user));
    l.put("oci.exposed", &(exposed_ports, volumes, labels));
    l.put("oci.names", &(repository, tags, deploy));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_base_image_counts_by_digest_not_path_and_payload_files_by_content() {
        let plan = pkg_core::sample::lucia_like_plan(pkg_core::Arch::Amd64);
        let mut moved = plan.clone();
        moved.formats.oci.base = Some(OciBase {
            path: "/one/place".into(),
            digest: format!("sha256:{}", "a".repeat(64)),
        });
        let mut elsewhere = moved.clone();
        if let Some(b) = elsewhere.formats.oci.base.as_mut() {
            b.path = "/another/checkout".into();
        }
        assert_eq!(fingerprint(&moved), fingerprint(&elsewhere));
        assert_ne!(fingerprint(&plan), fingerprint(&moved));

        let mut relocated = plan.clone();
        for e in &mut relocated.entries {
            if let EntryKind::File {
                content: pkg_core::plan::Content::Disk(p),
                ..
            } = &mut e.kind
            {
                *p = std::path::Path::new("/elsewhere").join(p.file_name().unwrap_or_default());
            }
        }
        assert_eq!(fingerprint(&plan), fingerprint(&relocated));
    }

    #[test]
    fn every_field_that_reaches_bytes_changes_it() {
        let plan = pkg_core::sample::lucia_like_plan(pkg_core::Arch::Amd64);
        let base = fingerprint(&plan);
        let mut changes: Vec<Plan> = Vec::new();
        let mut p = plan.clone();
        p.entries[0].layer = match p.entries[0].layer {
            Layer::App => Layer::Config,
            Layer::Config => Layer::App,
        };
        changes.push(p);
        let mut p = plan.clone();
        p.meta.summary.push('!');
        changes.push(p);
        let mut p = plan.clone();
        p.formats.deb.section = "other".into();
        changes.push(p);
        let mut p = plan.clone();
        p.formats.oci.tags.push("extra".into());
        changes.push(p);
        let mut p = plan.clone();
        p.source_date += 1;
        changes.push(p);
        let mut p = plan.clone();
        p.install_dir.push('x');
        changes.push(p);
        for (i, c) in changes.iter().enumerate() {
            assert_ne!(fingerprint(c), base, "change {i} is not seen");
        }
    }
}
