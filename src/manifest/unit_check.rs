//! Cross-checks between the manifest and the systemd units it ships, refused at their line in the
//! unit file (`file:line:col`, exit 2) because each one is a package that installs cleanly and
//! then cannot run:
//!
//! * **Accounts** (checked with the manifest). Every `.service` unit runs as the account the
//!   package creates: its effective `User=` is `service.user` (or `service.uid`), and a `Group=`,
//!   if any, is `service.group` (or `service.gid`). A unit without `User=` would run the service
//!   as root while the package creates an account nobody uses, so it is refused too. An extra
//!   unit may say `User=root` explicitly (a helper that needs root); the main unit may not.
//! * **Programs** (checked with each arch's plan, see [`check_exec`]). The program of every
//!   `ExecStart=` is a file the package installs and that is executable, or one of a few
//!   interpreters every system has ([`INTERPRETERS`]). Other `Exec*=` programs under
//!   `install-dir` must be executable files of the package too; outside it they are system
//!   tools and not checked.
//!
//! The parser follows systemd's `conf-parser`: `#`/`;` comment lines (also inside a
//! continuation), a trailing unescaped `\` continues the line (replaced by a space), the last
//! assignment of a key wins and an empty assignment resets it (for `ExecStart=`: clears the
//! list). Values containing a specifier (`%i`, `%h`…) depend on the instance and are not checked.

use std::ops::Range;
use std::path::Path;

use super::Diagnostic;

/// Programs a unit may start without the package shipping them: the shells and `env` every
/// Debian, Ubuntu, Fedora and RHEL system has (in `/bin` and, merged or not, `/usr/bin`).
pub const INTERPRETERS: &[&str] = &[
    "/bin/sh",
    "/usr/bin/sh",
    "/bin/bash",
    "/usr/bin/bash",
    "/usr/bin/env",
    "/bin/env",
];

/// systemd's search path for a program given without a `/` (systemd.service(5), "Command lines").
const SEARCH_PATH: &[&str] = &[
    "/usr/local/sbin",
    "/usr/local/bin",
    "/usr/sbin",
    "/usr/bin",
    "/sbin",
    "/bin",
];

/// One `Key=Value` assignment after line continuation.
#[derive(Debug, Clone)]
pub struct Assignment {
    pub section: String,
    pub key: String,
    pub value: String,
    /// Source byte offset of each byte of `value`.
    offsets: Vec<usize>,
    /// The whole logical line in the source (key to the end of its last physical line).
    pub line: Range<usize>,
}

impl Assignment {
    /// The source span of `value[r]` (the whole line when `r` is empty or out of range).
    pub fn span_of(&self, r: Range<usize>) -> Range<usize> {
        if r.start >= r.end || r.end > self.offsets.len() {
            return self.line.clone();
        }
        self.offsets[r.start]..self.offsets[r.end - 1] + 1
    }
    pub fn value_span(&self) -> Range<usize> {
        self.span_of(0..self.value.len())
    }
}

/// A unit file as systemd reads it.
#[derive(Debug, Clone)]
pub struct UnitFile<'a> {
    pub path: &'a Path,
    /// The unit's name (its file name), e.g. `lucia.service`.
    pub name: &'a str,
    pub source: &'a str,
    pub assignments: Vec<Assignment>,
    /// `(section name, span of its header)`, in order.
    pub sections: Vec<(String, Range<usize>)>,
}

fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

/// Whether `line` ends with a backslash that is not itself escaped (systemd's rule).
fn continues(line: &str) -> bool {
    let mut escaped = false;
    for b in line.bytes() {
        if escaped {
            escaped = false;
        } else if b == b'\\' {
            escaped = true;
        }
    }
    escaped
}

impl<'a> UnitFile<'a> {
    pub fn parse(path: &'a Path, name: &'a str, source: &'a str) -> UnitFile<'a> {
        let mut u = UnitFile {
            path,
            name,
            source,
            assignments: Vec::new(),
            sections: Vec::new(),
        };
        let mut section = String::new();
        let mut pending: Option<(Vec<u8>, Vec<usize>)> = None;
        let mut offset = 0;
        for raw in source.split_inclusive('\n') {
            let start = offset;
            offset += raw.len();
            let line = raw.strip_suffix('\n').unwrap_or(raw);
            let first = line.bytes().find(|b| !is_ws(*b));
            if matches!(first, Some(b'#') | Some(b';')) {
                continue;
            }
            let (mut text, mut map) = pending.take().unwrap_or_default();
            text.extend_from_slice(line.as_bytes());
            map.extend(start..start + line.len());
            if continues(line) {
                if let Some(last) = text.last_mut() {
                    *last = b' ';
                }
                pending = Some((text, map));
                continue;
            }
            u.logical_line(&text, &map, &mut section);
        }
        if let Some((text, map)) = pending {
            u.logical_line(&text, &map, &mut section);
        }
        u
    }

    fn logical_line(&mut self, text: &[u8], map: &[usize], section: &mut String) {
        let Some(start) = text.iter().position(|b| !is_ws(*b)) else {
            return;
        };
        let end = text
            .iter()
            .rposition(|b| !is_ws(*b))
            .map_or(start, |e| e + 1);
        let span = map[start]..map[end - 1] + 1;
        let t = &text[start..end];
        if t[0] == b'[' {
            if t.len() >= 2 && t[t.len() - 1] == b']' {
                *section = String::from_utf8_lossy(&t[1..t.len() - 1]).into_owned();
                self.sections.push((section.clone(), span));
            }
            return;
        }
        let Some(eq) = t.iter().position(|b| *b == b'=') else {
            return;
        };
        let key_end = t[..eq]
            .iter()
            .rposition(|b| !is_ws(*b))
            .map_or(0, |k| k + 1);
        let vstart = t[eq + 1..]
            .iter()
            .position(|b| !is_ws(*b))
            .map_or(t.len(), |v| eq + 1 + v);
        self.assignments.push(Assignment {
            section: section.clone(),
            key: String::from_utf8_lossy(&t[..key_end]).into_owned(),
            value: String::from_utf8_lossy(&t[vstart..]).into_owned(),
            offsets: map[start + vstart..end].to_vec(),
            line: span,
        });
    }

    fn is_service(&self) -> bool {
        self.name.ends_with(".service")
    }

    /// The assignments of `key` in `section`, in order.
    fn all<'s>(
        &'s self,
        section: &'s str,
        key: &'s str,
    ) -> impl Iterator<Item = &'s Assignment> + 's {
        self.assignments
            .iter()
            .filter(move |a| a.section == section && a.key == key)
    }

    /// The effective value of a single-valued key: the last assignment, `None` when the key is
    /// absent or its last assignment is empty (a reset). Also returns that last assignment.
    fn effective(&self, section: &str, key: &str) -> (Option<&Assignment>, Option<&Assignment>) {
        let last = self
            .assignments
            .iter()
            .rfind(|a| a.section == section && a.key == key);
        (last.filter(|a| !a.value.is_empty()), last)
    }

    fn err(
        &self,
        span: Range<usize>,
        msg: impl Into<String>,
        help: impl Into<String>,
    ) -> Box<Diagnostic> {
        Box::new(Diagnostic::new(self.path, self.source, Some(span), msg).help(help))
    }

    /// Where to point when a key is missing: its reset, else the `[Service]` header, else line 1.
    fn missing_at(&self, reset: Option<&Assignment>) -> Range<usize> {
        if let Some(a) = reset {
            return a.line.clone();
        }
        self.sections
            .iter()
            .find(|(n, _)| n == "Service")
            .map(|(_, s)| s.clone())
            .unwrap_or(0..self.source.len().min(1))
    }
}

/// The account the package creates for the service.
#[derive(Debug, Clone, Copy)]
pub struct Account<'a> {
    pub user: &'a str,
    pub group: &'a str,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
}

/// `User=`/`Group=` of a `.service` unit against the account the package creates. `main` is the
/// manifest's `service.unit` (which may not run as root); extra units may say `User=root`.
pub fn check_accounts(unit: &UnitFile, acct: Account, main: bool) -> Result<(), Box<Diagnostic>> {
    if !unit.is_service() {
        return Ok(());
    }
    let name = unit.name;
    let (user, last) = unit.effective("Service", "User");
    let Some(user) = user else {
        return Err(unit.err(
            unit.missing_at(last),
            format!(
                "`{name}` sets no User=: the service would run as root, not as the account `{}` the package creates",
                acct.user
            ),
            format!(
                "add `User={}` (and `Group={}`) to the unit's [Service] section",
                acct.user, acct.group
            ),
        ));
    };
    if user.value.contains('%') {
        return Ok(());
    }
    if matches!(user.value.as_str(), "root" | "0") {
        if !main {
            return Ok(());
        }
        return Err(unit.err(
            user.value_span(),
            format!(
                "`{name}` runs the service as root although the package creates the account `{}`",
                acct.user
            ),
            format!(
                "write `User={}` (service.user); only an extra unit may run as root",
                acct.user
            ),
        ));
    }
    if user.value != acct.user && acct.uid.is_none_or(|u| user.value != u.to_string()) {
        return Err(unit.err(
            user.value_span(),
            format!(
                "User={} is not the account the package creates (`{}`): the service would fail to start",
                user.value, acct.user
            ),
            format!(
                "write `User={}`, or set service.user to the account the unit runs as",
                acct.user
            ),
        ));
    }
    let (group, _) = unit.effective("Service", "Group");
    if let Some(g) = group {
        let ok = g.value == acct.group
            || acct.gid.is_some_and(|n| g.value == n.to_string())
            || g.value.contains('%');
        if !ok {
            return Err(unit.err(
                g.value_span(),
                format!(
                    "Group={} is not the group the package creates (`{}`)",
                    g.value, acct.group
                ),
                format!(
                    "write `Group={}` (service.group), or drop Group= (the user's primary group is `{}`)",
                    acct.group, acct.group
                ),
            ));
        }
    }
    Ok(())
}

/// What the package installs at a path, as far as running it goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Installed {
    /// A regular file with an executable bit (after following the package's symlinks).
    Executable,
    /// A file without an executable bit, with its mode.
    NotExecutable(u32),
    /// A directory.
    Directory,
    /// Nothing (or a symlink that leaves the package).
    Missing,
}

/// Splits `ExecStart=` syntax into the program and its byte range in the value, after systemd's
/// prefixes `@ - : + ! !!` (systemd.service(5), table "Special executable prefixes").
fn program(value: &str) -> Option<(String, Range<usize>)> {
    let start = value
        .bytes()
        .position(|b| !matches!(b, b'@' | b'-' | b':' | b'+' | b'!'))
        .unwrap_or(value.len());
    let rest = &value[start..];
    let (prog, range) = match rest.bytes().next() {
        Some(q @ (b'"' | b'\'')) => {
            let inner = &rest[1..];
            let end = inner.bytes().position(|b| b == q).unwrap_or(inner.len());
            (inner[..end].to_string(), start + 1..start + 1 + end)
        }
        _ => {
            let end = rest.bytes().position(is_ws).unwrap_or(rest.len());
            (rest[..end].to_string(), start..start + end)
        }
    };
    (!prog.is_empty()).then_some((prog, range))
}

const SERVICE_EXEC: &[&str] = &[
    "ExecCondition",
    "ExecStartPre",
    "ExecStartPost",
    "ExecReload",
    "ExecStop",
    "ExecStopPost",
];
const SOCKET_EXEC: &[&str] = &[
    "ExecStartPre",
    "ExecStartPost",
    "ExecStopPre",
    "ExecStopPost",
];

/// The programs the unit runs, against what the package installs. `installed` answers for an
/// absolute path; `candidates` are the package's executables (for a "did you mean").
pub fn check_exec(
    unit: &UnitFile,
    install_dir: &str,
    installed: &dyn Fn(&str) -> Installed,
    candidates: &[&str],
) -> Result<(), Box<Diagnostic>> {
    let name = unit.name;
    let inside = |p: &str| p.starts_with(&format!("{install_dir}/"));
    let refuse = |a: &Assignment, prog: &str, range: Range<usize>, state: Installed| {
        let what = match state {
            Installed::NotExecutable(mode) => format!(
                "`{prog}` is installed with mode {mode:04o}, not executable: systemd would fail with 203/EXEC"
            ),
            Installed::Directory => format!("`{prog}` is a directory, not a program"),
            _ => format!(
                "{}={prog}: the package does not install `{prog}`",
                a.key
            ),
        };
        let help = match (state, crate::manifest::diagnostic::did_you_mean(prog, candidates.iter().copied())) {
            (Installed::NotExecutable(_), _) => "give the file an executable bit in the payload (chmod +x), or mode = \"0755\" in [[files]]".to_string(),
            (_, Some(s)) => format!("did you mean `{s}`?"),
            _ => format!(
                "{} must run a program the package ships (under {install_dir}, or a [[files]] dest) or one of {}",
                a.key,
                INTERPRETERS.join(", ")
            ),
        };
        unit.err(a.span_of(range), what, help)
    };

    if unit.is_service() {
        // The effective ExecStart= list: an empty assignment clears what came before.
        let mut starts: Vec<&Assignment> = Vec::new();
        for a in unit.all("Service", "ExecStart") {
            if a.value.is_empty() {
                starts.clear();
            } else {
                starts.push(a);
            }
        }
        let oneshot = unit
            .effective("Service", "Type")
            .0
            .is_some_and(|t| t.value == "oneshot");
        if starts.len() > 1 && !oneshot {
            return Err(unit.err(
                starts[1].line.clone(),
                format!("`{name}` has more than one ExecStart=, which systemd only allows for Type=oneshot"),
                "keep one ExecStart= (write `ExecStart=` with no value first to clear an inherited one), or set Type=oneshot",
            ));
        }
        if starts.is_empty()
            && unit.effective("Service", "ExecStop").0.is_none()
            && unit.effective("Service", "SuccessAction").0.is_none()
        {
            return Err(unit.err(
                unit.missing_at(unit.all("Service", "ExecStart").last()),
                format!("`{name}` has no ExecStart=: systemd refuses to load it"),
                format!("add `ExecStart={install_dir}/…` (the program the service runs) to the [Service] section"),
            ));
        }
        for a in starts {
            let Some((prog, range)) = program(&a.value) else {
                return Err(unit.err(
                    a.line.clone(),
                    "ExecStart= names no program",
                    format!("write the program's absolute path, e.g. ExecStart={install_dir}/…"),
                ));
            };
            if prog.contains('%') {
                continue;
            }
            if !prog.starts_with('/') {
                let found = SEARCH_PATH.iter().any(|d| {
                    let p = format!("{d}/{prog}");
                    INTERPRETERS.contains(&p.as_str()) || installed(&p) == Installed::Executable
                });
                if found {
                    continue;
                }
                return Err(unit.err(
                    a.span_of(range),
                    format!("ExecStart={prog}: systemd looks for `{prog}` in its search path, where the package installs no such program"),
                    format!("name the program by its absolute path, e.g. ExecStart={install_dir}/{prog}"),
                ));
            }
            match installed(&prog) {
                Installed::Executable => {}
                Installed::Missing if INTERPRETERS.contains(&prog.as_str()) => {}
                state => return Err(refuse(a, &prog, range, state)),
            }
        }
    }
    let (section, keys) = if unit.is_service() {
        ("Service", SERVICE_EXEC)
    } else if unit.name.ends_with(".socket") {
        ("Socket", SOCKET_EXEC)
    } else {
        return Ok(());
    };
    for key in keys {
        for a in unit.all(section, key) {
            let Some((prog, range)) = program(&a.value) else {
                continue;
            };
            if !inside(&prog) || prog.contains('%') {
                continue;
            }
            match installed(&prog) {
                Installed::Executable => {}
                state => return Err(refuse(a, &prog, range, state)),
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(src: &str) -> UnitFile<'_> {
        UnitFile::parse(Path::new("x.service"), "x.service", src)
    }

    const ACCT: Account = Account {
        user: "svc",
        group: "svc",
        uid: Some(1100),
        gid: None,
    };

    #[test]
    fn continuation_comments_and_spans() {
        let src = "[Service]\nExecStart=/opt/x/run \\\n# a comment\n  --flag\nUser = svc\n";
        let u = unit(src);
        let a = &u.assignments[0];
        assert_eq!(a.key, "ExecStart");
        assert_eq!(a.value, "/opt/x/run    --flag");
        let flag = a.value.find("--flag").unwrap();
        let span = a.span_of(flag..flag + 6);
        assert_eq!(&src[span], "--flag");
        assert_eq!(u.assignments[1].key, "User");
        assert_eq!(u.assignments[1].value, "svc");
        // An escaped backslash does not continue the line.
        let u = unit("[Service]\nUser=a\\\\\nGroup=b\n");
        assert_eq!(u.assignments.len(), 2);
    }

    #[test]
    fn prefixes_and_quotes() {
        assert_eq!(program("-@:/opt/x/run a").unwrap().0, "/opt/x/run");
        assert_eq!(program("!!/opt/x/run").unwrap().0, "/opt/x/run");
        assert_eq!(program("+\"/opt/x y/run\" a").unwrap().0, "/opt/x y/run");
        assert!(program("-").is_none());
    }

    #[test]
    fn accounts() {
        let ok = |s: &str, main: bool| check_accounts(&unit(s), ACCT, main).is_ok();
        assert!(ok("[Service]\nUser=svc\nGroup=svc\n", true));
        assert!(ok("[Service]\nUser=1100\n", true));
        assert!(!ok("[Service]\nExecStart=/x\n", true));
        assert!(!ok("[Service]\nUser=svc\nUser=\n", true));
        assert!(!ok("[Service]\nUser=other\n", true));
        assert!(!ok("[Service]\nUser=svc\nGroup=wheel\n", true));
        assert!(!ok("[Service]\nUser=root\n", true));
        assert!(ok("[Service]\nUser=root\nGroup=root\n", false));
        assert!(ok("[Service]\nUser=%i\n", true));
        // Only the last assignment counts.
        assert!(ok("[Service]\nUser=other\nUser=svc\n", true));
        // [Unit] keys are not the service's.
        assert!(!ok("[Unit]\nUser=svc\n[Service]\nExecStart=/x\n", true));
        let d =
            check_accounts(&unit("[Service]\nExecStart=/x\nUser=oops\n"), ACCT, true).unwrap_err();
        assert_eq!(d.location(), "x.service:3:6");
    }

    #[test]
    fn programs() {
        let have = |p: &str| match p {
            "/opt/x/run" => Installed::Executable,
            "/opt/x/data" => Installed::NotExecutable(0o644),
            "/opt/x" => Installed::Directory,
            _ => Installed::Missing,
        };
        let check = |s: &str| check_exec(&unit(s), "/opt/x", &have, &["/opt/x/run"]);
        assert!(check("[Service]\nExecStart=/opt/x/run --a\n").is_ok());
        assert!(check("[Service]\nExecStart=-/bin/sh -c 'exec /opt/x/run'\n").is_ok());
        assert!(check("[Service]\nExecStart=env FOO=1 /opt/x/run\n").is_ok());
        assert!(check("[Service]\nExecStart=/opt/x/%i\n").is_ok());
        assert!(check("[Service]\nExecStart=/opt/old\nExecStart=\nExecStart=/opt/x/run\n").is_ok());
        assert!(
            check("[Service]\nType=oneshot\nExecStart=/opt/x/run\nExecStart=/bin/sh\n").is_ok()
        );
        assert!(check("[Service]\nExecStart=/opt/x/run\nExecStart=/bin/sh\n").is_err());
        assert!(check("[Service]\nUser=x\n").is_err());
        let d = check("[Service]\nExecStart=/opt/x/rnu\n").unwrap_err();
        assert_eq!(d.location(), "x.service:2:11");
        assert!(d.help.unwrap().contains("/opt/x/run"));
        assert!(check("[Service]\nExecStart=/opt/x/data\n").is_err());
        assert!(check("[Service]\nExecStart=/opt/x\n").is_err());
        assert!(check("[Service]\nExecStart=/usr/bin/python3 /opt/x/run\n").is_err());
        assert!(check("[Service]\nExecStart=run\n").is_err());
        // Other Exec*= lines: checked only inside the install dir.
        assert!(
            check("[Service]\nExecStart=/opt/x/run\nExecReload=/bin/kill -HUP $MAINPID\n").is_ok()
        );
        let d =
            check("[Service]\nExecStart=/opt/x/run\nExecStartPre=+/opt/x/migrate\n").unwrap_err();
        assert_eq!(d.location(), "x.service:3:15");
        // Socket units have no ExecStart.
        let s = UnitFile::parse(
            Path::new("x.socket"),
            "x.socket",
            "[Socket]\nListenStream=8080\n",
        );
        assert!(check_exec(&s, "/opt/x", &have, &[]).is_ok());
    }
}
