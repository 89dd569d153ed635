//! `install.sh`: applies the tarball's MANIFEST to a system (or a `DESTDIR`), with the same
//! lifecycle intent the deb and rpm scripts follow: create the user first, keep an existing config
//! file (writing the new template beside it as `.dist`), create state directories, reload systemd,
//! enable/start on first install and try-restart on re-install. Running it twice is harmless.

//!
//! The script itself is `src/install_script/install.sh`, with the pieces it is filled with beside
//! it, embedded with `include_str!` and filled by [`pkg_core::lifecycle::fill`]: every value from
//! the manifest goes in as a word quoted by `pkg_core::render::sh_quote` (or, for the name and
//! version it prints, checked by [`plain_text`]).

use pkg_core::lifecycle::{fill, Fill, UnitIntent, SH_SYSTEMD_BOOTED};
use pkg_core::plan::Plan;
use pkg_core::render::RenderError;

/// install.sh's shell fragments (`src/install_script/`), each opening with `##` lines that say
/// what fills it.
pub mod fragments {
    pub const INSTALL_SH: &str = include_str!("install_script/install.sh");
    pub const SNIPPET_FUNCTION: &str = include_str!("install_script/snippet-function.sh");
    pub const RUN_SNIPPET: &str = include_str!("install_script/run-snippet.sh");
    pub const ENSURE_DIR: &str = include_str!("install_script/ensure-dir.sh");
    pub const PURGE_DIR: &str = include_str!("install_script/purge-dir.sh");
    pub const SYSTEMCTL_UNITS: &str = include_str!("install_script/systemctl-units.sh");
    pub const UNINSTALL_DISABLE: &str = include_str!("install_script/uninstall-disable.sh");

    /// Every fragment of this crate, for the test that checks each one is used.
    #[cfg(test)]
    pub const ALL: [(&str, &str); 7] = [
        ("install.sh", INSTALL_SH),
        ("snippet-function.sh", SNIPPET_FUNCTION),
        ("run-snippet.sh", RUN_SNIPPET),
        ("ensure-dir.sh", ENSURE_DIR),
        ("purge-dir.sh", PURGE_DIR),
        ("systemctl-units.sh", SYSTEMCTL_UNITS),
        ("uninstall-disable.sh", UNINSTALL_DISABLE),
    ];
}

/// Values the script prints inside double quotes and comments (the package name and version,
/// already restricted by the manifest check) must not be able to end the quoting, expand, or end
/// the line.
fn plain_text<'a>(what: &str, v: &'a str) -> Result<&'a str, RenderError> {
    if v.chars().any(|c| c.is_control() || "\"$`\\".contains(c)) {
        return Err(RenderError::new(
            what,
            v,
            "install.sh",
            "it contains a control character, a quote, `$`, a backquote or a backslash",
        ));
    }
    Ok(v)
}

/// `systemctl VERB units` for a non-empty list of the lifecycle table, else nothing.
fn systemctl_units(verb: &str, units: &[&UnitIntent]) -> String {
    if units.is_empty() {
        String::new()
    } else {
        fill(
            fragments::SYSTEMCTL_UNITS,
            &[
                ("VERB", Fill::Shell(verb)),
                (
                    "UNITS",
                    Fill::Words(units.iter().map(|u| u.name.as_str()).collect()),
                ),
            ],
        )
    }
}

/// The manifest's `[service.scripts]` as shell functions, called after the generated part of
/// their phase with a dpkg-like action word as `$1`: `install` or `upgrade` (pre/post-install),
/// `remove` (pre-remove), `remove` or `purge` (post-remove). A staged install (`DESTDIR`) runs
/// none of them, as it creates no users and starts nothing. The snippets are the manifest
/// author's own shell, trusted like the rest of the manifest.
fn snippet_functions(s: &pkg_core::lifecycle::Snippets) -> String {
    let mut out = String::new();
    for (name, code) in [
        ("pre_install", &s.pre_install),
        ("post_install", &s.post_install),
        ("pre_remove", &s.pre_remove),
        ("post_remove", &s.post_remove),
    ] {
        if let Some(c) = code.as_deref().filter(|c| !c.trim().is_empty()) {
            out.push_str(&fill(
                fragments::SNIPPET_FUNCTION,
                &[
                    ("NAME", Fill::Shell(name)),
                    ("CODE", Fill::Shell(c.trim_end())),
                ],
            ));
        }
    }
    out
}

pub fn readme(plan: &Plan) -> String {
    format!(
        "{name} {version} for linux/{arch}\n\n{summary}\n\n\
         Install (as root):      ./install.sh\n\
         Staged install:         DESTDIR=/tmp/stage ./install.sh\n\
         Uninstall (keeps config and data): ./install.sh --uninstall\n\
         Uninstall everything but the user: ./install.sh --uninstall --purge\n\n\
         The installed tree is under root/; MANIFEST lists every entry with its mode and owner.\n",
        name = plan.meta.name,
        version = plan.meta.version.upstream,
        arch = plan.arch,
        summary = plan.meta.summary,
    )
}

/// The script. Every value from the plan is a shell word made by `sh_quote` (or checked by
/// [`plain_text`]); the account creation refuses values that cannot be rendered.
pub fn render(plan: &Plan) -> Result<String, RenderError> {
    let svc = plan.service.as_ref();
    let create_user = match svc {
        Some(s) => s.sh_create_user()?,
        None => String::new(),
    };
    let name = plain_text("package name", &plan.meta.name)?;
    let version = plain_text("version", &plan.meta.version.upstream)?;
    let arch = plan.arch.to_string();
    let Some(svc) = svc else {
        return Ok(render_script(
            plan,
            name,
            version,
            &arch,
            &Lifecycle::default(),
        ));
    };
    // Every list below comes from the lifecycle decision table (pkg_core::lifecycle).
    let dirs: String = svc
        .dirs
        .iter()
        .map(|d| {
            fill(
                fragments::ENSURE_DIR,
                &[
                    ("DIR", Fill::Word(&d.path)),
                    ("MODE", Fill::Mode(d.mode)),
                    ("USER", Fill::Word(&d.user)),
                    ("GROUP", Fill::Word(&d.group)),
                ],
            )
        })
        .collect();
    let purge_dirs: String = svc
        .purge_dirs()
        .iter()
        .map(|d| fill(fragments::PURGE_DIR, &[("DIR", Fill::Word(&d.path))]))
        .collect();
    let all_units = svc.stop_on_removal();
    let disable = if all_units.is_empty() {
        String::new()
    } else {
        fill(
            fragments::UNINSTALL_DISABLE,
            &[(
                "UNITS",
                Fill::Words(all_units.iter().map(|u| u.name.as_str()).collect()),
            )],
        )
    };
    let snippets = &svc.snippets;
    let run_snippet = |name: &str, present: &Option<String>, arg: &str| {
        if present.as_deref().is_some_and(|c| !c.trim().is_empty()) {
            fill(
                fragments::RUN_SNIPPET,
                &[("NAME", Fill::Shell(name)), ("ARG", Fill::Shell(arg))],
            )
        } else {
            String::new()
        }
    };
    let lifecycle = Lifecycle {
        create_user,
        snippet_functions: snippet_functions(snippets),
        pre_install: run_snippet("pre_install", &snippets.pre_install, "\"$PHASE\""),
        post_install: run_snippet("post_install", &snippets.post_install, "\"$PHASE\""),
        pre_remove: run_snippet("pre_remove", &snippets.pre_remove, "remove"),
        post_remove: run_snippet("post_remove", &snippets.post_remove, "\"$REMOVAL\""),
        dirs,
        first_install: format!(
            "{}{}",
            systemctl_units("enable", &svc.enable_on_install()),
            systemctl_units("start", &svc.start_on_install())
        ),
        reinstall: systemctl_units("try-restart", &svc.restart_on_upgrade()),
        disable,
        purge_dirs,
    };
    Ok(render_script(plan, name, version, &arch, &lifecycle))
}

/// The service's share of install.sh, each part filled from its fragments; empty without a
/// service.
#[derive(Default)]
struct Lifecycle {
    create_user: String,
    snippet_functions: String,
    pre_install: String,
    post_install: String,
    pre_remove: String,
    post_remove: String,
    dirs: String,
    first_install: String,
    reinstall: String,
    disable: String,
    purge_dirs: String,
}

fn render_script(plan: &Plan, name: &str, version: &str, arch: &str, l: &Lifecycle) -> String {
    let or_nothing = |s: &str| {
        if s.is_empty() {
            ":\n".to_string()
        } else {
            s.to_string()
        }
    };
    let keep_note = if l.purge_dirs.is_empty() {
        ""
    } else {
        "; --purge removes state"
    };
    let (create_user, first_install, reinstall) = (
        or_nothing(&l.create_user),
        or_nothing(&l.first_install),
        or_nothing(&l.reinstall),
    );
    fill(
        fragments::INSTALL_SH,
        &[
            ("NAME", Fill::Shell(name)),
            ("VERSION", Fill::Shell(version)),
            ("ARCH", Fill::Shell(arch)),
            ("SYSTEMD_BOOTED", Fill::Shell(SH_SYSTEMD_BOOTED)),
            ("INSTALL_DIR", Fill::Word(&plan.install_dir)),
            ("SNIPPET_FUNCTIONS", Fill::Shell(&l.snippet_functions)),
            ("CREATE_USER", Fill::Shell(&create_user)),
            ("PRE_INSTALL", Fill::Shell(&l.pre_install)),
            ("DIRS", Fill::Shell(&l.dirs)),
            ("FIRST_INSTALL", Fill::Shell(&first_install)),
            ("REINSTALL", Fill::Shell(&reinstall)),
            ("POST_INSTALL", Fill::Shell(&l.post_install)),
            ("DISABLE", Fill::Shell(&l.disable)),
            ("PRE_REMOVE", Fill::Shell(&l.pre_remove)),
            ("PURGE_DIRS", Fill::Shell(&l.purge_dirs)),
            ("POST_REMOVE", Fill::Shell(&l.post_remove)),
            ("KEEP_NOTE", Fill::Shell(keep_note)),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use pkg_core::lifecycle::{missing_lines, placeholders, Snippets};
    use pkg_core::sample::lucia_like_plan;
    use pkg_core::Arch;

    fn parses(script: &str) {
        let out = std::process::Command::new("sh")
            .arg("-n")
            .arg("-c")
            .arg(script)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Each fragment file (this crate's and pkg-core's create-user.sh, the only shared one
    /// install.sh uses) shows up in the script of a plan with a unit of every kind the lifecycle
    /// table tells apart and every snippet, and every placeholder is filled.
    #[test]
    fn every_fragment_is_used() {
        let mut plan = lucia_like_plan(Arch::Amd64);
        let svc = plan.service.as_mut().unwrap();
        for (name, enable, start, restart_after_upgrade) in [
            ("worker.service", true, false, true),
            ("cleanup@.service", false, false, false),
        ] {
            svc.units.push(UnitIntent {
                name: name.into(),
                enable,
                start,
                restart_after_upgrade,
            });
        }
        svc.snippets = Snippets {
            pre_install: Some("echo pre-install".into()),
            post_install: Some("echo post-install".into()),
            pre_remove: Some("echo pre-remove".into()),
            post_remove: Some("echo post-remove".into()),
        };
        let script = render(&plan).unwrap();
        let shared = [(
            "create-user.sh",
            pkg_core::lifecycle::fragments::CREATE_USER,
        )];
        for (name, fragment) in fragments::ALL.into_iter().chain(shared) {
            assert!(fragment.starts_with("## "), "{name} has no header");
            assert!(
                !missing_lines(fragment, "").is_empty(),
                "{name}: nothing to look for"
            );
            assert_eq!(
                missing_lines(fragment, &script),
                Vec::<&str>::new(),
                "{name}"
            );
        }
        assert_eq!(placeholders(&script), Vec::<&str>::new());
        assert!(script.starts_with("#!/bin/sh\n# install.sh for lucia "));
        assert!(script.contains(
            "            systemctl enable lucia.service worker.service\n            systemctl start lucia.service\n        else\n            systemctl try-restart lucia.service worker.service\n"
        ));
        assert!(script.contains("snippet_post_remove() {\necho post-remove\n}\n"));
        parses(&script);
    }

    /// Without a service every optional block is left out or becomes `:`.
    #[test]
    fn without_a_service_the_script_still_parses() {
        let mut plan = lucia_like_plan(Arch::Amd64);
        plan.service = None;
        let script = render(&plan).unwrap();
        assert_eq!(placeholders(&script), Vec::<&str>::new());
        assert!(script.contains("        if [ \"$FIRST\" = 1 ]; then\n            :\n        else\n            :\n        fi\n"));
        assert!(!script.contains("snippet_") && !script.contains("ensure_dir '"));
        parses(&script);
    }
}
