//! The four rpm scriptlets (%pre, %post, %preun, %postun), generated from the plan's
//! [`ServiceIntent`].
//!
//! rpm passes each scriptlet one argument, `$1`: the number of instances of this package that
//! will be installed once the current operation finishes. So
//!
//! | scriptlet | first install | upgrade (new pkg) | upgrade (old pkg) | erase |
//! |-----------|---------------|-------------------|-------------------|-------|
//! | %pre      | 1             | 2                 | –                 | –     |
//! | %post     | 1             | 2                 | –                 | –     |
//! | %preun    | –             | –                 | 1                 | 0     |
//! | %postun   | –             | –                 | 1                 | 0     |
//!
//! and the order of an upgrade is new %pre → new files → new %post → old %preun → old files
//! removed → old %postun. Peers get this wrong by stopping or deleting the service in %preun or
//! %postun without looking at `$1`, which kills the service (or its user) during every upgrade.
//! The rules here:
//!
//! * %pre creates the group and user (systemd-sysusers when available, else groupadd/useradd,
//!   else addgroup/adduser) and fails the install if it cannot: the package's files are owned by
//!   that group. It runs before the files land, so the env file gets its group right away.
//! * %post creates the state directories, reloads systemd if it is running, and only on first
//!   install (`$1 -eq 1`) enables the units marked `enable` and starts those marked `start`
//!   (start only when systemd is PID 1, so a chroot or image build installs cleanly).
//! * %preun stops and disables only on erase (`$1 -eq 0`).
//! * %postun reloads systemd and, on upgrade (`$1 -ge 1`), try-restarts the units marked
//!   `restart_after_upgrade`, so the new binary runs.
//! * Nothing ever deletes the user, its group or the state directories (rpm has no purge).
//!
//! `systemctl enable` is used rather than `systemctl preset`: Fedora's and RHEL's preset policy
//! disables every service it does not list, so `preset` would silently ignore the manifest's
//! explicit `enable = true`. `enable`/`disable` work offline (in a chroot, without systemd running).
//!
//! Every generated systemctl call tolerates failure (`|| :`): a failing %preun would make the
//! package impossible to erase, and a failing %post only leaves a warning. Manifest snippets run
//! after the generated part of their phase, with the same `$1`; their exit status is the
//! scriptlet's.
//!
//! The shell itself is in `src/scriptlets/*.sh` (plus pkg-core's shared `src/lifecycle/*.sh`),
//! embedded with `include_str!` and filled by [`pkg_core::lifecycle::fill`]: every value from the
//! manifest goes in as a word quoted by `pkg_core::render::sh_quote`.

use pkg_core::lifecycle::{fill, Fill, ServiceIntent, UnitIntent, SH_SYSTEMD_BOOTED};
use pkg_core::render::RenderError;

/// The scriptlets' shell fragments (`src/scriptlets/`), each opening with `##` lines that say
/// what fills it.
pub mod fragments {
    pub const HEADER: &str = include_str!("scriptlets/header.sh");
    pub const SNIPPET: &str = include_str!("scriptlets/snippet.sh");
    pub const PRE_CREATE_USER: &str = include_str!("scriptlets/pre-create-user.sh");
    pub const POST_UNITS: &str = include_str!("scriptlets/post-units.sh");
    pub const POST_FIRST_INSTALL: &str = include_str!("scriptlets/post-first-install.sh");
    pub const POST_ENABLE: &str = include_str!("scriptlets/post-enable.sh");
    pub const POST_START: &str = include_str!("scriptlets/post-start.sh");
    pub const PREUN: &str = include_str!("scriptlets/preun.sh");
    pub const POSTUN: &str = include_str!("scriptlets/postun.sh");
    pub const POSTUN_TRY_RESTART: &str = include_str!("scriptlets/postun-try-restart.sh");

    /// Every fragment of this crate, for the test that checks each one is used.
    #[cfg(test)]
    pub const ALL: [(&str, &str); 10] = [
        ("header.sh", HEADER),
        ("snippet.sh", SNIPPET),
        ("pre-create-user.sh", PRE_CREATE_USER),
        ("post-units.sh", POST_UNITS),
        ("post-first-install.sh", POST_FIRST_INSTALL),
        ("post-enable.sh", POST_ENABLE),
        ("post-start.sh", POST_START),
        ("preun.sh", PREUN),
        ("postun.sh", POSTUN),
        ("postun-try-restart.sh", POSTUN_TRY_RESTART),
    ];
}

/// The four scriptlet bodies (without a `#!` line: rpm runs them with `/bin/sh`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Scriptlets {
    pub pre: Option<String>,
    pub post: Option<String>,
    pub preun: Option<String>,
    pub postun: Option<String>,
}

impl Scriptlets {
    /// `(rpm section name, body)` for each present scriptlet, in execution order.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, &str)> {
        [
            ("%pre", &self.pre),
            ("%post", &self.post),
            ("%preun", &self.preun),
            ("%postun", &self.postun),
        ]
        .into_iter()
        .filter_map(|(n, s)| s.as_deref().map(|s| (n, s)))
    }
}

const BOOTED: Fill<'static> = Fill::Shell(SH_SYSTEMD_BOOTED);

fn header(phase: &str) -> String {
    fill(fragments::HEADER, &[("PHASE", Fill::Shell(phase))])
}

/// A list of the lifecycle table as unit names, or `None` when it is empty.
fn units(list: Vec<&UnitIntent>) -> Option<Vec<&str>> {
    (!list.is_empty()).then(|| list.iter().map(|u| u.name.as_str()).collect())
}

/// `fragment` filled with the booted test and `units`, or nothing when there are no units.
fn for_units(fragment: &str, units: Option<Vec<&str>>) -> String {
    units.map_or_else(String::new, |u| {
        fill(
            fragment,
            &[("SYSTEMD_BOOTED", BOOTED), ("UNITS", Fill::Words(u))],
        )
    })
}

fn append_snippet(s: &mut String, snippet: &Option<String>) {
    if let Some(sn) = snippet.as_deref().filter(|sn| !sn.trim().is_empty()) {
        s.push_str(&fill(fragments::SNIPPET, &[("CODE", Fill::Shell(sn))]));
    }
}

/// Builds the scriptlets for a plan's service intent. Without a service there are no scriptlets.
/// Refuses a service account whose values cannot be rendered safely (see `pkg_core::render`).
pub fn generate(intent: Option<&ServiceIntent>) -> Result<Scriptlets, RenderError> {
    let Some(intent) = intent else {
        return Ok(Scriptlets::default());
    };
    let has_units = !intent.units.is_empty();

    // %pre: the account must exist before files owned by its group are laid down.
    let mut pre = header("%pre");
    let create_user = intent.sh_create_user()?;
    if !create_user.is_empty() {
        pre.push_str(&fill(
            fragments::PRE_CREATE_USER,
            &[("CREATE_USER", Fill::Shell(&create_user))],
        ));
    }
    append_snippet(&mut pre, &intent.snippets.pre_install);

    // %post
    let mut post = header("%post");
    post.push_str(&intent.sh_create_dirs());
    if has_units {
        let enable = for_units(fragments::POST_ENABLE, units(intent.enable_on_install()));
        let start = for_units(fragments::POST_START, units(intent.start_on_install()));
        let first_install = if enable.is_empty() && start.is_empty() {
            String::new()
        } else {
            fill(
                fragments::POST_FIRST_INSTALL,
                &[
                    ("ENABLE", Fill::Shell(&enable)),
                    ("START", Fill::Shell(&start)),
                ],
            )
        };
        post.push_str(&fill(
            fragments::POST_UNITS,
            &[
                ("SYSTEMD_BOOTED", BOOTED),
                ("FIRST_INSTALL", Fill::Shell(&first_install)),
            ],
        ));
    }
    append_snippet(&mut post, &intent.snippets.post_install);

    // %preun: only a real erase stops and disables.
    let mut preun = header("%preun");
    preun.push_str(&for_units(
        fragments::PREUN,
        units(intent.stop_on_removal()),
    ));
    append_snippet(&mut preun, &intent.snippets.pre_remove);

    // %postun: the unit file changed or vanished; an upgrade restarts the new binary.
    let mut postun = header("%postun");
    if has_units {
        let restart = for_units(
            fragments::POSTUN_TRY_RESTART,
            units(intent.restart_on_upgrade()),
        );
        postun.push_str(&fill(
            fragments::POSTUN,
            &[
                ("SYSTEMD_BOOTED", BOOTED),
                ("TRY_RESTART", Fill::Shell(&restart)),
            ],
        ));
    }
    append_snippet(&mut postun, &intent.snippets.post_remove);

    // A scriptlet that would only hold its comment line is left out of the package.
    let keep = |s: String, phase: &str| (s != header(phase)).then_some(s);
    Ok(Scriptlets {
        pre: keep(pre, "%pre"),
        post: keep(post, "%post"),
        preun: keep(preun, "%preun"),
        postun: keep(postun, "%postun"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use pkg_core::sample::lucia_like_plan;
    use pkg_core::Arch;
    use std::process::Command;

    fn sample() -> Scriptlets {
        generate(lucia_like_plan(Arch::Amd64).service.as_ref()).unwrap()
    }

    #[test]
    fn every_phase_is_generated_and_parses() {
        let s = sample();
        assert_eq!(s.iter().count(), 4);
        for (name, body) in s.iter() {
            let out = Command::new("sh")
                .arg("-n")
                .arg("-c")
                .arg(body)
                .output()
                .expect("run sh -n");
            assert!(
                out.status.success(),
                "{name} does not parse: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }

    #[test]
    fn destructive_steps_are_guarded_by_dollar_one() {
        let s = sample();
        let preun = s.preun.unwrap_or_default();
        // stop/disable appear only after the erase test
        let guard = preun.find("if [ \"$1\" -eq 0 ]").expect("erase guard");
        assert!(preun.find("systemctl stop").is_some_and(|i| i > guard));
        assert!(preun.find("disable").is_some_and(|i| i > guard));
        let postun = s.postun.unwrap_or_default();
        let guard = postun.find("if [ \"$1\" -ge 1 ]").expect("upgrade guard");
        assert!(postun.find("try-restart").is_some_and(|i| i > guard));
        for (name, body) in sample().iter() {
            assert!(
                !body.contains("userdel") && !body.contains("groupdel") && !body.contains("rm -rf"),
                "{name}"
            );
        }
    }

    /// Each fragment file (this crate's and pkg-core's shared ones used by scriptlets) shows up
    /// in the scriptlets of a plan with a unit of every kind the lifecycle table tells apart
    /// and a snippet in every phase, and every placeholder is filled.
    #[test]
    fn every_fragment_is_used() {
        let mut plan = lucia_like_plan(Arch::Amd64);
        let svc = plan.service.as_mut().unwrap();
        for (name, enable, start, restart_after_upgrade) in [
            ("worker.service", true, false, true),
            ("cleanup.timer", true, true, false),
            ("cleanup@.service", false, false, false),
        ] {
            svc.units.push(UnitIntent {
                name: name.into(),
                enable,
                start,
                restart_after_upgrade,
            });
        }
        svc.snippets = pkg_core::lifecycle::Snippets {
            pre_install: Some("echo pre-install".into()),
            post_install: Some("echo post-install".into()),
            pre_remove: Some("echo pre-remove".into()),
            post_remove: Some("echo post-remove".into()),
        };
        let s = generate(Some(svc)).unwrap();
        let all: String = s.iter().map(|(_, body)| body).collect();
        let shared = pkg_core::lifecycle::fragments::ALL
            .into_iter()
            .filter(|(name, _)| *name != "purge-dir.sh"); // rpm has no purge
        for (name, fragment) in fragments::ALL.into_iter().chain(shared) {
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
        assert!(s.post.unwrap().contains(
            "    if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then\n        systemctl start lucia.service cleanup.timer || :\n"
        ));
    }

    #[test]
    fn no_service_means_no_scriptlets() {
        assert_eq!(generate(None).unwrap(), Scriptlets::default());
    }

    #[test]
    fn an_account_that_cannot_be_rendered_is_refused() {
        let mut plan = lucia_like_plan(Arch::Amd64);
        let svc = plan.service.as_mut().unwrap();
        svc.user.as_mut().unwrap().shell = "/usr/sbin/nologin\nu evil 0 - / /bin/sh".into();
        let e = generate(Some(svc)).unwrap_err();
        assert!(e.to_string().contains("service.shell"), "{e}");
    }
}
