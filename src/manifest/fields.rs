//! The values that end up inside text other programs parse — shell in the deb maintainer scripts,
//! rpm scriptlets and install.sh, `sysusers.d`/`tmpfiles.d` lines, deb control and rpm header
//! fields, the tarball's MANIFEST — are checked here, so that `lucia-pkg check` refuses them at
//! their manifest location (exit 2) and no build writes one format before another fails.
//!
//! The rules (docs/manifest.md states them per key):
//! * no control character (newline, carriage return, tab, escape…) in any of these values; the
//!   long `package.description` may hold newlines and tabs;
//! * paths written into sysusers.d/tmpfiles.d columns (`service.home`, `service.shell`,
//!   `service.state-dirs`) are absolute, normalized and plain: letters, digits and `/ . _ - + @`
//!   (no blank, which splits columns; no quote, `\`, `%`, `$`, `:`);
//! * account names (`service.user`/`group` are checked by the validator, `[[files]].owner` here)
//!   are lowercase letters, digits, `_`, `-`, starting with a letter or `_`, at most 32;
//! * `service.description` (the account's GECOS) has no `"`, `\` or `:`;
//! * unit file names use systemd's unit name characters;
//! * relation lists have no empty entries and, when rpm is built, parse as rpm dependencies;
//! * dates fit the 32-bit rpm header, and rpm's source date is not in the future.
//!
//! The renderers in `pkg_core::render` refuse the same values again (defence in depth); this
//! module is what gives the user a location. It reads the manifest a second time into a view of
//! just these keys, with spans, so that the main schema stays as it is.

use std::ops::Range;
use std::path::Path;

use serde::Deserialize;
use toml::Spanned as S;

use super::{check_install_path, Diagnostic, Format, Spec};

type R = Result<(), Box<Diagnostic>>;

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct View {
    package: Option<Pkg>,
    service: Option<Svc>,
    #[serde(default)]
    files: Vec<File>,
    deb: Option<Deb>,
    rpm: Option<Rpm>,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct Pkg {
    summary: Option<S<String>>,
    description: Option<S<String>>,
    license: Option<S<String>>,
    homepage: Option<S<String>>,
    source: Option<S<String>>,
    revision: Option<S<String>>,
    maintainer: Option<S<String>>,
    vendor: Option<S<String>>,
    source_date_epoch: Option<S<i64>>,
    #[serde(default)]
    changelog: Vec<Changelog>,
    #[serde(default)]
    provides: Vec<S<String>>,
    #[serde(default)]
    conflicts: Vec<S<String>>,
    #[serde(default)]
    replaces: Vec<S<String>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct Changelog {
    version: Option<S<String>>,
    date: Option<S<String>>,
    author: Option<S<String>>,
    #[serde(default)]
    changes: Vec<S<String>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct Svc {
    unit: Option<S<String>>,
    #[serde(default)]
    extra_units: Vec<ExtraUnit>,
    home: Option<S<String>>,
    shell: Option<S<String>>,
    description: Option<S<String>>,
    #[serde(default)]
    state_dirs: Vec<S<String>>,
}

#[derive(Deserialize)]
struct ExtraUnit {
    path: Option<S<String>>,
}

#[derive(Deserialize)]
struct File {
    owner: Option<S<String>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct Deb {
    #[serde(default)]
    depends: Vec<S<String>>,
    #[serde(default)]
    pre_depends: Vec<S<String>>,
    #[serde(default)]
    recommends: Vec<S<String>>,
    #[serde(default)]
    suggests: Vec<S<String>>,
    section: Option<S<String>>,
    priority: Option<S<String>>,
    #[serde(default)]
    lintian_overrides: Vec<S<String>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct Rpm {
    #[serde(default)]
    requires: Vec<S<String>>,
    #[serde(default)]
    recommends: Vec<S<String>>,
    group: Option<S<String>>,
    packager: Option<S<String>>,
}

/// The first control character of `v` that is not in `allowed`.
fn control_char(v: &str, allowed: &[char]) -> Option<char> {
    let mut chars = v.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\r' && allowed.contains(&'\n') && chars.peek() == Some(&'\n') {
            continue;
        }
        if c.is_control() && !allowed.contains(&c) {
            return Some(c);
        }
    }
    None
}

/// `lucia`, `_apt`, `systemd-journal`: what useradd/adduser and systemd-sysusers all accept.
pub fn is_account_name(v: &str) -> bool {
    !v.is_empty()
        && v.len() <= 32
        && v.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
        && v.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
}

/// A path that can stand as one column of a sysusers.d/tmpfiles.d line and one passwd field
/// without quoting: absolute, normalized, letters, digits and `/ . _ - + @`.
pub fn check_plain_path(v: &str) -> Result<(), String> {
    check_install_path(v)?;
    if let Some(c) = v
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "/._-+@".contains(*c)))
    {
        return Err(format!(
            "`{}` contains `{}`, which this path cannot hold",
            v.escape_debug(),
            c.escape_debug()
        ));
    }
    Ok(())
}

/// systemd's unit name characters (`unit_name_is_valid`): letters, digits and `: - _ . @ \`.
fn is_unit_file_name(v: &str) -> bool {
    !v.is_empty()
        && v.len() <= 255
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || ":-_.@\\".contains(c))
}

struct Checker<'a> {
    file: &'a Path,
    source: &'a str,
}

impl Checker<'_> {
    fn err(&self, span: Range<usize>, msg: impl Into<String>, help: impl Into<String>) -> R {
        Err(Box::new(
            Diagnostic::new(self.file, self.source, Some(span), msg).help(help),
        ))
    }

    /// A one-line value: no control character at all.
    fn one_line(&self, key: &str, v: &S<String>) -> R {
        match control_char(v.get_ref(), &[]) {
            Some(c) => self.err(
                v.span(),
                format!("`{key}` contains a control character ({})", c.escape_debug()),
                "write it on one line without tabs or other control characters: it goes into package headers and generated scripts, where a newline would start a new field or command",
            ),
            None => Ok(()),
        }
    }

    /// A relation (`libc6 (>= 2.31)`, `a | b`): one line, not empty, and an rpm dependency when
    /// `rpm` is set.
    fn relation(&self, key: &str, v: &S<String>, rpm: bool) -> R {
        self.one_line(key, v)?;
        if v.get_ref().trim().is_empty() {
            return self.err(
                v.span(),
                format!("`{key}` has an empty entry"),
                "remove it from the list",
            );
        }
        if rpm {
            if let Err(e) = format_rpm::deps::parse(key, v.get_ref()) {
                let why = match e {
                    format_rpm::RpmError::Dependency { why, .. } => why,
                    e => e.to_string(),
                };
                return self.err(
                    v.span(),
                    format!("`{key}`: `{}` is not an rpm dependency: {why}", v.get_ref().trim()),
                    "this list also goes into the rpm: write `name`, `name >= version`, `name (>= version)` or a rich dependency `(a or b)`",
                );
            }
        }
        Ok(())
    }

    /// A word of the deb control file (section, priority).
    fn word(&self, key: &str, v: &S<String>) -> R {
        self.one_line(key, v)?;
        if v.get_ref().trim().contains(char::is_whitespace) {
            return self.err(
                v.span(),
                format!("`{key}` must be one word"),
                "e.g. section = \"net\", priority = \"optional\"",
            );
        }
        Ok(())
    }

    fn plain_path(&self, key: &str, v: &S<String>) -> R {
        match check_plain_path(v.get_ref()) {
            Ok(()) => Ok(()),
            Err(m) => self.err(
                v.span(),
                format!("{key}: {m}"),
                "use an absolute, normalized path of letters, digits and `/ . _ - + @`: it is written as one column of a sysusers.d/tmpfiles.d line (which splits at blanks) and into /etc/passwd (which splits at `:`)",
            ),
        }
    }
}

/// Checks the values of an already validated manifest that land in generated text.
pub fn check(file: &Path, source: &str, spec: &Spec) -> R {
    let view: View = match toml::from_str(source) {
        Ok(v) => v,
        // The main schema accepted the same text; a view that cannot read it is a bug here, and
        // the renderers still refuse bad values.
        Err(_) => return Ok(()),
    };
    let c = Checker { file, source };
    let rpm = spec.formats.contains(&Format::Rpm);

    if let Some(p) = &view.package {
        for (key, v) in [
            ("package.summary", &p.summary),
            ("package.license", &p.license),
            ("package.maintainer", &p.maintainer),
            ("package.homepage", &p.homepage),
            ("package.source", &p.source),
            ("package.revision", &p.revision),
            ("package.vendor", &p.vendor),
        ] {
            if let Some(v) = v {
                c.one_line(key, v)?;
            }
        }
        if let Some(d) = &p.description {
            if let Some(ch) = control_char(d.get_ref(), &['\n', '\t']) {
                return c.err(
                    d.span(),
                    format!(
                        "`package.description` contains a control character ({})",
                        ch.escape_debug()
                    ),
                    "only newlines and tabs are allowed in the description",
                );
            }
        }
        if let (true, Some(sde)) = (rpm, &p.source_date_epoch) {
            if let Err(e) = u64::try_from(*sde.get_ref())
                .map_err(|_| "negative".to_string())
                .and_then(|d| format_rpm::check_source_date(d).map_err(|e| e.to_string()))
            {
                return c.err(
                    sde.span(),
                    format!("package.source-date-epoch cannot be used for the rpm: {e}"),
                    "give a past time in seconds since 1970-01-01 UTC, e.g. the last commit's date",
                );
            }
        }
        for ch in &p.changelog {
            if let Some(v) = &ch.version {
                c.one_line("changelog.version", v)?;
            }
            if let Some(a) = &ch.author {
                c.one_line("changelog.author", a)?;
            }
            for l in &ch.changes {
                c.one_line("changelog.changes", l)?;
            }
            if let Some(d) = &ch.date {
                let too_late = pkg_core::determinism::parse_utc_date(d.get_ref())
                    .is_some_and(|t| t > u64::from(u32::MAX));
                if too_late {
                    return c.err(
                        d.span(),
                        format!("changelog date `{}` is after 2106-02-07", d.get_ref()),
                        "rpm headers hold dates as 32-bit seconds since 1970: give the real date of the release",
                    );
                }
            }
        }
        for (key, list) in [
            ("package.provides", &p.provides),
            ("package.conflicts", &p.conflicts),
            ("package.replaces", &p.replaces),
        ] {
            for v in list {
                c.relation(key, v, rpm)?;
            }
        }
    }

    if let Some(s) = &view.service {
        for u in s
            .unit
            .iter()
            .chain(s.extra_units.iter().filter_map(|u| u.path.as_ref()))
        {
            let name = Path::new(u.get_ref())
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default();
            if !is_unit_file_name(name) {
                return c.err(
                    u.span(),
                    format!("`{}` is not a systemd unit name", name.escape_debug()),
                    "unit file names use letters, digits and `: - _ . @ \\` (systemd.unit(5)), e.g. lucia.service",
                );
            }
        }
        if let Some(h) = &s.home {
            c.plain_path("service.home", h)?;
        }
        if let Some(sh) = &s.shell {
            c.plain_path("service.shell", sh)?;
        }
        for d in &s.state_dirs {
            c.plain_path("service.state-dirs", d)?;
        }
        if let Some(d) = &s.description {
            let v = d.get_ref();
            if let Some(ch) = control_char(v, &[]) {
                return c.err(
                    d.span(),
                    format!("`service.description` contains a control character ({})", ch.escape_debug()),
                    "the account's description (GECOS) is one line of /etc/passwd and of the sysusers.d file",
                );
            }
            if let Some(ch) = v.chars().find(|ch| "\"\\:".contains(*ch)) {
                return c.err(
                    d.span(),
                    format!("`service.description` contains `{ch}`"),
                    "the account's description (GECOS) is written in double quotes into sysusers.d and into /etc/passwd, which splits at `:`; leave out `\"`, `\\` and `:`",
                );
            }
        }
    }

    for f in &view.files {
        if let Some(o) = &f.owner {
            if let Some((u, g)) = o.get_ref().split_once(':') {
                for n in [u, g] {
                    if !is_account_name(n) {
                        return c.err(
                            o.span(),
                            format!("`{}` is not a valid account name for [[files]].owner", n.escape_debug()),
                            "owners are `user:group` of lowercase letters, digits, `_`, `-` (max 32 each), e.g. owner = \"root:lucia\"",
                        );
                    }
                }
            }
        }
    }

    if let Some(d) = &view.deb {
        for (key, list) in [
            ("deb.depends", &d.depends),
            ("deb.pre-depends", &d.pre_depends),
            ("deb.recommends", &d.recommends),
            ("deb.suggests", &d.suggests),
        ] {
            for v in list {
                c.relation(key, v, false)?;
            }
        }
        if let Some(v) = &d.section {
            c.word("deb.section", v)?;
        }
        if let Some(v) = &d.priority {
            c.word("deb.priority", v)?;
        }
        for v in &d.lintian_overrides {
            c.one_line("deb.lintian-overrides", v)?;
        }
    }

    if let Some(r) = &view.rpm {
        for (key, list) in [
            ("rpm.requires", &r.requires),
            ("rpm.recommends", &r.recommends),
        ] {
            for v in list {
                c.relation(key, v, rpm)?;
            }
        }
        for (key, v) in [("rpm.group", &r.group), ("rpm.packager", &r.packager)] {
            if let Some(v) = v {
                c.one_line(key, v)?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_paths_and_names() {
        for ok in ["/usr/sbin/nologin", "/var/lib/lucia", "/opt/a-b_c.d+e@f"] {
            assert!(check_plain_path(ok).is_ok(), "{ok}");
        }
        for bad in [
            "/bin/sh -c",
            "/etc 0777 lucia lucia -",
            "/var/lib/x\ny",
            "/var/lib/$(reboot)",
            "/var/lib/a:b",
            "/var/lib/%h",
            "/var/lib/\"x\"",
            "nologin",
            "/var/../etc",
        ] {
            assert!(check_plain_path(bad).is_err(), "{bad:?}");
        }
        assert!(is_account_name("systemd-journal") && is_account_name("_apt"));
        for bad in ["", "Root", "a b", "a\nb", "$(id)", "1abc", &"a".repeat(33)] {
            assert!(!is_account_name(bad), "{bad:?}");
        }
        assert!(is_unit_file_name("getty@tty1.service") && is_unit_file_name("a\\x2db.mount"));
        for bad in [
            "$(reboot).service",
            "a'b.service",
            "a\nb.service",
            "a b.service",
        ] {
            assert!(!is_unit_file_name(bad), "{bad:?}");
        }
    }

    /// The view must read every manifest the main schema reads (else `check` would skip it).
    #[test]
    fn the_view_reads_the_example_and_the_corpus_base() {
        for f in ["packaging/lucia.toml", "tests/corpus/base.toml"] {
            let p = Path::new(env!("CARGO_MANIFEST_DIR")).join(f);
            let text = std::fs::read_to_string(&p).unwrap();
            let v: View = toml::from_str(&text).unwrap_or_else(|e| panic!("{f}: {e}"));
            assert!(v.package.is_some() && v.service.is_some(), "{f}");
        }
    }

    #[test]
    fn control_characters() {
        assert_eq!(control_char("a\r\nb\tc", &['\n', '\t']), None);
        assert_eq!(control_char("a\rb", &['\n', '\t']), Some('\r'));
        assert_eq!(control_char("a\r\n", &[]), Some('\r'));
        assert_eq!(control_char("a\u{1b}[2J", &['\n']), Some('\u{1b}'));
    }
}
