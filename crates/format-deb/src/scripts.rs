//! Maintainer scripts (`preinst`, `postinst`, `prerm`, `postrm`) generated from the plan's
//! [`ServiceIntent`], following what debhelper's `dh_installsystemd` generates:
//!
//! | script   | action(s)                                       | what happens                                   |
//! |----------|-------------------------------------------------|------------------------------------------------|
//! | preinst  | `install`, `upgrade`                            | create the system group/user (files owned by its group are unpacked next) |
//! | postinst | `configure`, `abort-upgrade/remove/deconfigure` | user (again, idempotent), state dirs, `deb-systemd-helper unmask`, enable on first install (`was-enabled`), `daemon-reload`, start on first install / restart on upgrade (only when systemd runs) |
//! | prerm    | `remove`                                        | stop the units (only when systemd runs); never on `upgrade` |
//! | postrm   | `remove`                                        | `daemon-reload`, `deb-systemd-helper mask` (as debhelper: the unit file is gone, the admin's enablement is remembered until purge) |
//! | postrm   | `purge`                                         | `deb-systemd-helper purge` + `unmask`, managed dirs marked for purge, `/etc` leftovers |
//!
//! The service account is never deleted: files it owns may outlive the package (backups, logs),
//! and a recycled uid would hand them to someone else.
//!
//! Manifest snippets are appended after the generated part of their script and run for every
//! action; `$1` holds dpkg's action word (see deb-postinst(5) and friends).
//!
//! The shell itself is in `src/scripts/*.sh` (plus pkg-core's shared `src/lifecycle/*.sh`),
//! embedded with `include_str!` and filled by [`pkg_core::lifecycle::fill`]: every value from the
//! manifest goes in as a word quoted by `pkg_core::render::sh_quote`.

use pkg_core::lifecycle::{fill, Fill, ServiceIntent, UnitIntent, SH_SYSTEMD_BOOTED};
use pkg_core::Plan;

use crate::DebError;

/// The maintainer scripts' shell fragments (`src/scripts/`), each opening with `##` lines that say
/// what fills it.
pub mod fragments {
    pub const HEADER: &str = include_str!("scripts/header.sh");
    pub const FUNCTION: &str = include_str!("scripts/function.sh");
    pub const SNIPPET: &str = include_str!("scripts/snippet.sh");
    pub const PREINST: &str = include_str!("scripts/preinst.sh");
    pub const POSTINST: &str = include_str!("scripts/postinst.sh");
    pub const PRERM: &str = include_str!("scripts/prerm.sh");
    pub const POSTRM: &str = include_str!("scripts/postrm.sh");
    pub const POSTINST_ENABLE: &str = include_str!("scripts/postinst-enable.sh");
    pub const POSTINST_KEEP_ADMIN_CHOICE: &str =
        include_str!("scripts/postinst-keep-admin-choice.sh");
    pub const POSTINST_START_UNITS: &str = include_str!("scripts/postinst-start-units.sh");
    pub const POSTINST_START_OR_RESTART: &str =
        include_str!("scripts/postinst-start-or-restart.sh");
    pub const POSTINST_START_ONLY: &str = include_str!("scripts/postinst-start-only.sh");
    pub const POSTINST_TRY_RESTART: &str = include_str!("scripts/postinst-try-restart.sh");
    pub const PRERM_STOP: &str = include_str!("scripts/prerm-stop.sh");
    pub const POSTRM_REMOVE_UNITS: &str = include_str!("scripts/postrm-remove-units.sh");
    pub const POSTRM_PURGE_UNITS: &str = include_str!("scripts/postrm-purge-units.sh");
    pub const POSTRM_PURGE_DIRS: &str = include_str!("scripts/postrm-purge-dirs.sh");
    pub const POSTRM_CONFIG_FILE: &str = include_str!("scripts/postrm-config-file.sh");
    pub const POSTRM_CONFIG_DIR: &str = include_str!("scripts/postrm-config-dir.sh");

    /// Every fragment of this crate, for the test that checks each one is used.
    #[cfg(test)]
    pub const ALL: [(&str, &str); 19] = [
        ("header.sh", HEADER),
        ("function.sh", FUNCTION),
        ("snippet.sh", SNIPPET),
        ("preinst.sh", PREINST),
        ("postinst.sh", POSTINST),
        ("prerm.sh", PRERM),
        ("postrm.sh", POSTRM),
        ("postinst-enable.sh", POSTINST_ENABLE),
        ("postinst-keep-admin-choice.sh", POSTINST_KEEP_ADMIN_CHOICE),
        ("postinst-start-units.sh", POSTINST_START_UNITS),
        ("postinst-start-or-restart.sh", POSTINST_START_OR_RESTART),
        ("postinst-start-only.sh", POSTINST_START_ONLY),
        ("postinst-try-restart.sh", POSTINST_TRY_RESTART),
        ("prerm-stop.sh", PRERM_STOP),
        ("postrm-remove-units.sh", POSTRM_REMOVE_UNITS),
        ("postrm-purge-units.sh", POSTRM_PURGE_UNITS),
        ("postrm-purge-dirs.sh", POSTRM_PURGE_DIRS),
        ("postrm-config-file.sh", POSTRM_CONFIG_FILE),
        ("postrm-config-dir.sh", POSTRM_CONFIG_DIR),
    ];
}

/// One generated maintainer script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Script {
    pub name: &'static str,
    pub text: String,
}

fn header(plan: &Plan, name: &str) -> String {
    // A deb package name (lowercase letters, digits, `+ - .`, checked by the manifest) is a
    // shell word as it is, so quoting leaves it unchanged; it only appears in a comment.
    fill(
        fragments::HEADER,
        &[
            ("SCRIPT", Fill::Shell(name)),
            ("PACKAGE", Fill::Word(&plan.meta.name)),
        ],
    )
}

fn function(name: &str, body: &str) -> String {
    fill(
        fragments::FUNCTION,
        &[("NAME", Fill::Shell(name)), ("BODY", Fill::Shell(body))],
    )
}

fn snippet(label: &str, code: Option<&String>) -> String {
    match code.map(|c| c.trim_end()).filter(|c| !c.trim().is_empty()) {
        Some(c) => fill(
            fragments::SNIPPET,
            &[("LABEL", Fill::Shell(label)), ("CODE", Fill::Shell(c))],
        ),
        None => String::new(),
    }
}

/// A whole script from its skeleton: `#HEADER#`, `#SNIPPET#` and the script's own blocks.
fn script(
    plan: &Plan,
    name: &'static str,
    skeleton: &str,
    snippet_text: String,
    blocks: &[(&str, &str)],
) -> Script {
    let head = header(plan, name);
    let mut values = vec![
        ("HEADER", Fill::Shell(&head)),
        ("SNIPPET", Fill::Shell(&snippet_text)),
    ];
    values.extend(blocks.iter().map(|(k, v)| (*k, Fill::Shell(v))));
    Script {
        name,
        text: fill(skeleton, &values),
    }
}

fn names<'a>(list: &[&'a UnitIntent]) -> Vec<&'a str> {
    list.iter().map(|u| u.name.as_str()).collect()
}

/// debhelper's postinst enable logic, per unit: unmask, enable on first install (or when the
/// admin kept it enabled), otherwise only refresh the state file.
fn sh_enable(svc: &ServiceIntent) -> String {
    let enabled = svc.enable_on_install();
    svc.units
        .iter()
        .map(|u| {
            let fragment = if enabled.iter().any(|e| e.name == u.name) {
                fragments::POSTINST_ENABLE
            } else {
                fragments::POSTINST_KEEP_ADMIN_CHOICE
            };
            fill(fragment, &[("UNIT", Fill::Word(&u.name))])
        })
        .collect()
}

/// Start on first install, restart (or try-restart) on upgrade; only when systemd is PID 1.
/// `$1` of the function is postinst's `$2`: the previously configured version, empty on first install.
fn sh_start(svc: &ServiceIntent) -> String {
    // The lifecycle table's lists, combined the way debhelper does: a unit both started on
    // install and restarted on upgrade is `restart`ed when a previous version was configured.
    let starts = svc.start_on_install();
    let restarts = svc.restart_on_upgrade();
    let has = |list: &[&UnitIntent], u: &UnitIntent| list.iter().any(|x| x.name == u.name);
    let start_restart: Vec<&UnitIntent> = starts
        .iter()
        .copied()
        .filter(|u| has(&restarts, u))
        .collect();
    let start_only: Vec<&UnitIntent> = starts
        .iter()
        .copied()
        .filter(|u| !has(&restarts, u))
        .collect();
    let try_restart: Vec<&UnitIntent> = restarts
        .iter()
        .copied()
        .filter(|u| !has(&starts, u))
        .collect();
    let part = |fragment: &str, list: &[&UnitIntent]| {
        if list.is_empty() {
            String::new()
        } else {
            fill(fragment, &[("UNITS", Fill::Words(names(list)))])
        }
    };
    let start_restart = part(fragments::POSTINST_START_OR_RESTART, &start_restart);
    let start_only = part(fragments::POSTINST_START_ONLY, &start_only);
    let try_restart = part(fragments::POSTINST_TRY_RESTART, &try_restart);
    fill(
        fragments::POSTINST_START_UNITS,
        &[
            ("SYSTEMD_BOOTED", Fill::Shell(SH_SYSTEMD_BOOTED)),
            ("START_OR_RESTART", Fill::Shell(&start_restart)),
            ("START_ONLY", Fill::Shell(&start_only)),
            ("TRY_RESTART", Fill::Shell(&try_restart)),
        ],
    )
}

/// Removes what dpkg leaves of the config files and their directories under /etc on purge:
/// backup copies and directories that ended up empty. Admin-added files are kept.
fn sh_config_leftovers(plan: &Plan, conffiles: &[String]) -> String {
    let mut s = String::new();
    for f in conffiles {
        let backups: Vec<String> = [
            ".dpkg-dist",
            ".dpkg-old",
            ".dpkg-new",
            ".dpkg-bak",
            ".dpkg-tmp",
        ]
        .iter()
        .map(|ext| format!("{f}{ext}"))
        .collect();
        s.push_str(&fill(
            fragments::POSTRM_CONFIG_FILE,
            &[(
                "BACKUPS",
                Fill::Words(backups.iter().map(String::as_str).collect()),
            )],
        ));
    }
    let mut dirs: Vec<&str> = plan
        .entries
        .iter()
        .filter(|e| e.is_dir() && e.owned && e.path.starts_with("/etc/"))
        .map(|e| e.path.as_str())
        .collect();
    // Deepest first, so parents can become empty.
    dirs.sort_by(|a, b| b.cmp(a));
    for d in dirs {
        s.push_str(&fill(
            fragments::POSTRM_CONFIG_DIR,
            &[("DIR", Fill::Word(d))],
        ));
    }
    s
}

/// Generates the scripts the plan needs; a plan without service and snippets gets none. Refuses
/// a service account whose values cannot be rendered safely (see `pkg_core::render`).
pub fn maintainer_scripts(plan: &Plan, conffiles: &[String]) -> Result<Vec<Script>, DebError> {
    let Some(svc) = &plan.service else {
        return Ok(Vec::new());
    };
    let all_units = || Fill::Words(names(&svc.stop_on_removal()));
    let has_units = !svc.units.is_empty();
    let create_user = svc
        .sh_create_user()
        .map_err(|e| DebError::Invalid(e.to_string()))?;
    let or_nothing = |s: String| if s.is_empty() { ":\n".to_string() } else { s };
    let mut out = Vec::new();

    // preinst
    let (mut functions, mut install) = (String::new(), String::new());
    if !create_user.is_empty() {
        functions.push_str(&function("lpkg_create_user", &create_user));
        install.push_str("# The account must exist before dpkg unpacks files owned by its group.\nlpkg_create_user\n");
    }
    out.push(script(
        plan,
        "preinst",
        fragments::PREINST,
        snippet("pre-install snippet", svc.snippets.pre_install.as_ref()),
        &[("FUNCTIONS", &functions), ("INSTALL", &or_nothing(install))],
    ));

    // postinst
    let (mut functions, mut configure) = (String::new(), String::new());
    if !create_user.is_empty() {
        functions.push_str(&function("lpkg_create_user", &create_user));
        configure.push_str("lpkg_create_user\n");
    }
    let dirs = svc.sh_create_dirs();
    if !dirs.is_empty() {
        functions.push_str(&function("lpkg_create_dirs", &dirs));
        configure.push_str("lpkg_create_dirs\n");
    }
    if has_units {
        functions.push_str(&function("lpkg_enable_units", &sh_enable(svc)));
        functions.push_str(&function("lpkg_start_units", &sh_start(svc)));
        configure.push_str("lpkg_enable_units\nlpkg_start_units \"$2\"\n");
    }
    out.push(script(
        plan,
        "postinst",
        fragments::POSTINST,
        snippet("post-install snippet", svc.snippets.post_install.as_ref()),
        &[
            ("FUNCTIONS", &functions),
            ("CONFIGURE", &or_nothing(configure)),
        ],
    ));

    // prerm
    let remove = if has_units {
        fill(
            fragments::PRERM_STOP,
            &[
                ("SYSTEMD_BOOTED", Fill::Shell(SH_SYSTEMD_BOOTED)),
                ("UNITS", all_units()),
            ],
        )
    } else {
        String::new()
    };
    out.push(script(
        plan,
        "prerm",
        fragments::PRERM,
        snippet("pre-remove snippet", svc.snippets.pre_remove.as_ref()),
        &[("REMOVE", &or_nothing(remove))],
    ));

    // postrm
    let (mut functions, mut remove, mut purge) = (String::new(), String::new(), String::new());
    if has_units {
        remove.push_str(&fill(
            fragments::POSTRM_REMOVE_UNITS,
            &[
                ("SYSTEMD_BOOTED", Fill::Shell(SH_SYSTEMD_BOOTED)),
                ("UNITS", all_units()),
            ],
        ));
        purge.push_str(&fill(
            fragments::POSTRM_PURGE_UNITS,
            &[("UNITS", all_units())],
        ));
    }
    let purge_dirs = svc.sh_purge_dirs();
    if !purge_dirs.is_empty() {
        purge.push_str(&fill(
            fragments::POSTRM_PURGE_DIRS,
            &[("DIRS", Fill::Shell(&purge_dirs))],
        ));
    }
    let leftovers = sh_config_leftovers(plan, conffiles);
    if !leftovers.is_empty() {
        functions.push_str(&function("lpkg_config_leftovers", &leftovers));
        purge.push_str("lpkg_config_leftovers\n");
    }
    out.push(script(
        plan,
        "postrm",
        fragments::POSTRM,
        snippet("post-remove snippet", svc.snippets.post_remove.as_ref()),
        &[
            ("FUNCTIONS", &functions),
            ("REMOVE", &or_nothing(remove)),
            ("PURGE", &purge),
        ],
    ));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use pkg_core::sample::lucia_like_plan;
    use pkg_core::Arch;
    use std::process::Command;

    fn scripts_of(plan: &Plan) -> Vec<Script> {
        let conf = crate::control::conffiles(plan).unwrap();
        maintainer_scripts(plan, &conf).unwrap()
    }

    /// A plan with a unit of every kind the lifecycle table tells apart, a snippet in every
    /// script, a separate group and a state dir removed on purge.
    fn every_branch() -> Plan {
        let mut plan = lucia_like_plan(Arch::Amd64);
        let svc = plan.service.as_mut().unwrap();
        for (name, enable, start, restart_after_upgrade) in [
            ("worker.service", true, false, true),
            ("cleanup.timer", true, true, false),
            ("cleanup@.service", false, false, false),
            ("api.socket", false, true, true),
        ] {
            svc.units.push(UnitIntent {
                name: name.into(),
                enable,
                start,
                restart_after_upgrade,
            });
        }
        svc.user.as_mut().unwrap().group = "luciagrp".into();
        svc.snippets = pkg_core::lifecycle::Snippets {
            pre_install: Some("echo pre-install".into()),
            post_install: Some("echo post-install".into()),
            pre_remove: Some("echo pre-remove".into()),
            post_remove: Some("echo post-remove".into()),
        };
        plan
    }

    /// Each fragment file (this crate's and pkg-core's shared ones) shows up in the scripts,
    /// every placeholder is filled, and the scripts still parse.
    #[test]
    fn every_fragment_is_used() {
        let scripts = scripts_of(&every_branch());
        let all: String = scripts.iter().map(|s| s.text.as_str()).collect();
        for (name, fragment) in fragments::ALL
            .iter()
            .chain(pkg_core::lifecycle::fragments::ALL.iter())
        {
            assert!(fragment.starts_with("## "), "{name} has no header");
            assert!(
                !pkg_core::lifecycle::missing_lines(fragment, "").is_empty(),
                "{name}: nothing to look for"
            );
            assert_eq!(
                pkg_core::lifecycle::missing_lines(fragment, &all),
                Vec::<&str>::new(),
                "{name}"
            );
        }
        assert_eq!(pkg_core::lifecycle::placeholders(&all), Vec::<&str>::new());
        let postinst = &scripts[1].text;
        assert!(postinst.contains(
            "# cleanup@.service is not enabled by the package; keep an admin's choice across upgrades.\n"
        ));
        assert!(postinst.contains(
            "        deb-systemd-invoke restart lucia.service api.socket >/dev/null || true\n"
        ));
        for sc in &scripts {
            let out = Command::new("sh")
                .arg("-n")
                .arg("-c")
                .arg(&sc.text)
                .output()
                .unwrap();
            assert!(out.status.success(), "{}", sc.name);
        }
    }

    #[test]
    fn every_script_parses_with_sh_and_dash() {
        let mut plan = lucia_like_plan(Arch::Amd64);
        plan.service.as_mut().unwrap().snippets.post_install = Some("echo \"custom $1\"".into());
        for sc in scripts_of(&plan) {
            for shell in ["sh", "dash"] {
                let out = Command::new(shell)
                    .arg("-n")
                    .arg("-c")
                    .arg(&sc.text)
                    .output()
                    .unwrap();
                assert!(
                    out.status.success(),
                    "{shell} -n {}: {}\n{}",
                    sc.name,
                    String::from_utf8_lossy(&out.stderr),
                    sc.text
                );
            }
            assert!(sc.text.starts_with("#!/bin/sh\n"));
            assert!(sc.text.contains("\nset -e\n"));
            assert!(sc.text.contains("case \"$1\" in"));
        }
    }

    #[test]
    fn lifecycle_rules() {
        let plan = lucia_like_plan(Arch::Amd64);
        let s = scripts_of(&plan);
        let get = |n: &str| s.iter().find(|x| x.name == n).unwrap().text.clone();
        assert!(get("preinst").contains("useradd --system"));
        assert!(get("postinst").contains("deb-systemd-invoke restart lucia.service"));
        assert!(get("postinst").contains("was-enabled lucia.service"));
        // Never delete the account, anywhere.
        for sc in &s {
            assert!(
                !sc.text.contains("userdel") && !sc.text.contains("deluser"),
                "{}",
                sc.name
            );
        }
        let prerm = get("prerm");
        let remove_branch = prerm
            .split("    remove)")
            .nth(1)
            .unwrap()
            .split(";;")
            .next()
            .unwrap();
        assert!(remove_branch.contains("deb-systemd-invoke stop"));
        let upgrade_branch = prerm
            .split("upgrade|deconfigure|failed-upgrade)")
            .nth(1)
            .unwrap()
            .split(";;")
            .next()
            .unwrap();
        assert!(!upgrade_branch.contains("stop"));
        assert!(get("postrm").contains("rm -rf /var/lib/lucia"));
    }

    #[test]
    fn an_account_that_cannot_be_rendered_is_refused() {
        let mut plan = lucia_like_plan(Arch::Amd64);
        let u = plan.service.as_mut().unwrap().user.as_mut().unwrap();
        u.gecos = "x\nLUCIA_PKG_SYSUSERS\nid".into();
        let conf = crate::control::conffiles(&plan).unwrap();
        let e = maintainer_scripts(&plan, &conf).unwrap_err();
        assert!(e.to_string().contains("service.description"), "{e}");
    }

    #[test]
    fn enable_without_start_never_starts() {
        let mut plan = lucia_like_plan(Arch::Amd64);
        let u = &mut plan.service.as_mut().unwrap().units[0];
        u.start = false;
        let s = scripts_of(&plan);
        let post = &s.iter().find(|x| x.name == "postinst").unwrap().text;
        assert!(!post.contains("deb-systemd-invoke start"), "{post}");
        assert!(post.contains("deb-systemd-helper enable lucia.service"));
        assert!(post.contains("try-restart lucia.service"));
    }
}
