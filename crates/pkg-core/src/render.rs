//! The one place where plan values become text that another program parses: POSIX shell words,
//! `sysusers.d(5)`/`tmpfiles.d(5)` lines, one-line package header fields (deb control, rpm
//! header) and the tarball's `MANIFEST` lines.
//!
//! The manifest stage already refuses every value these targets cannot hold, with a located
//! error. The functions here are the second line of defence: handed a value that would change
//! the structure of what they render (a newline that starts a new line, a blank that starts a new
//! column, a quote that ends a quoted column), they return a [`RenderError`] instead of text. They
//! never "clean up" a value silently, so what is rendered is always exactly what was asked for.

/// A value that cannot be rendered into its target without changing the target's structure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} `{value}` cannot be written into {target}: {why}")]
pub struct RenderError {
    /// Which value (`service.shell`, `MANIFEST owner`…).
    pub what: String,
    /// The value, with control characters escaped.
    pub value: String,
    /// `a sysusers.d line`, `the deb control file`…
    pub target: &'static str,
    pub why: &'static str,
}

impl RenderError {
    pub fn new(what: &str, value: &str, target: &'static str, why: &'static str) -> RenderError {
        RenderError {
            what: what.to_string(),
            value: value.escape_debug().to_string(),
            target,
            why,
        }
    }
}

/// Quotes a string for POSIX sh: unchanged when it only holds characters no shell treats
/// specially, else in single quotes (inside which only `'` itself needs care). The result is one
/// shell word whatever the input, newlines included.
pub fn sh_quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=@%+,".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// One column of a `sysusers.d(5)` or `tmpfiles.d(5)` line.
///
/// systemd splits these lines into columns at blanks, honours `"…"`/`'…'` quoting and `\`
/// escapes (`extract_first_word(…, EXTRACT_UNQUOTE)`), and expands `%` specifiers in the name,
/// GECOS, home, shell (sysusers.d) and path (tmpfiles.d) columns. So:
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Col<'a> {
    /// A literal token (line type, account name, mode, `-`): non-empty and made only of
    /// printable characters that are neither blank, quote, backslash nor `%`.
    Word(&'a str),
    /// An absolute path column subject to specifier expansion: as a word, but `%` is written
    /// `%%` so that it stays a literal percent sign.
    Path(&'a str),
    /// Free text (the GECOS column): always written in double quotes; blanks are fine, `%`
    /// becomes `%%`; `"` and `\` (which would end the quoting or escape) and `:` (the field
    /// separator of /etc/passwd, refused by systemd-sysusers) are refused.
    Text(&'a str),
}

/// Renders one `sysusers.d`/`tmpfiles.d` line (with its `\n`) from its columns; `target` names the
/// file kind in errors. Refuses any value that would not come back as exactly one column with the
/// same content.
pub fn config_line(target: &'static str, cols: &[(&str, Col<'_>)]) -> Result<String, RenderError> {
    let mut out = String::new();
    for (what, col) in cols {
        if !out.is_empty() {
            out.push(' ');
        }
        match *col {
            Col::Word(v) | Col::Path(v) => {
                let bad = |why| Err(RenderError::new(what, v, target, why));
                if v.is_empty() {
                    return bad("it is empty");
                }
                if v.chars().any(char::is_control) {
                    return bad("it contains a control character");
                }
                if v.chars().any(char::is_whitespace) {
                    return bad("it contains a blank, which would split it into two columns");
                }
                if v.contains(['"', '\'', '\\']) {
                    return bad("it contains a quote or a backslash");
                }
                if let Col::Path(_) = col {
                    if !v.starts_with('/') {
                        return bad("it is not an absolute path");
                    }
                    out.push_str(&v.replace('%', "%%"));
                } else {
                    if v.contains('%') {
                        return bad("it contains `%`, which systemd expands as a specifier");
                    }
                    out.push_str(v);
                }
            }
            Col::Text(v) => {
                let bad = |why| Err(RenderError::new(what, v, target, why));
                if v.chars().any(char::is_control) {
                    return bad("it contains a control character");
                }
                if v.contains(['"', '\\']) {
                    return bad("it contains `\"` or `\\`");
                }
                if v.contains(':') {
                    return bad("it contains `:`, the field separator of /etc/passwd");
                }
                out.push('"');
                out.push_str(&v.replace('%', "%%"));
                out.push('"');
            }
        }
    }
    out.push('\n');
    Ok(out)
}

/// Checks a one-line field of a package header (deb control, rpm header): no control characters
/// at all (a newline would start a new control field or a continuation line). Returns the value
/// trimmed of surrounding blanks, as the deb control syntax would.
pub fn header_field<'a>(
    target: &'static str,
    what: &str,
    value: &'a str,
) -> Result<&'a str, RenderError> {
    if value.chars().any(char::is_control) {
        return Err(RenderError::new(
            what,
            value,
            target,
            "it contains a control character (newline, tab…); write it on one line",
        ));
    }
    Ok(value.trim())
}

/// Checks a multi-line text (a package description, changelog text): newlines and tabs are
/// structure the writers handle; every other control character (including a lone carriage
/// return) is refused.
pub fn header_text<'a>(
    target: &'static str,
    what: &str,
    value: &'a str,
) -> Result<&'a str, RenderError> {
    let mut chars = value.chars().peekable();
    while let Some(c) = chars.next() {
        let ok = match c {
            '\n' | '\t' => true,
            '\r' => chars.peek() == Some(&'\n'),
            c => !c.is_control(),
        };
        if !ok {
            return Err(RenderError::new(
                what,
                value,
                target,
                "it contains a control character other than newline and tab",
            ));
        }
    }
    Ok(value)
}

/// The columns of one tarball `MANIFEST` line, in order: kind, mode, user, group, path and, for
/// symlinks, the target.
///
/// Encoding: fields are separated by one tab, lines end with a newline, and install.sh reads them
/// with `IFS=<tab> read -r`. Fields are written verbatim, and any field holding a control
/// character (tab and newline included) is refused at build time rather than escaped, because
///
/// * no legitimate value holds one: payload names and symlink targets with control characters
///   are refused when the plan is made, `[[files]]` destinations by the manifest check, and
///   owners are account names;
/// * verbatim fields keep install.sh plain POSIX sh: decoding an escape scheme in sh (`printf %b`
///   and friends) is exactly the kind of code that goes subtly wrong;
/// * with `read -r`, a backslash is an ordinary character, and with only the tab in `IFS`,
///   blanks, quotes and `$` inside a name are ordinary characters too;
/// * a tab is "IFS white space" to `read`, so consecutive tabs would merge: every field must be
///   non-empty, which is also checked here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestLine<'a> {
    pub kind: char,
    pub mode: u32,
    pub user: &'a str,
    pub group: &'a str,
    pub path: &'a str,
    pub target: Option<&'a str>,
}

impl ManifestLine<'_> {
    /// Renders the line (with its `\n`) or refuses a field it cannot hold unambiguously.
    pub fn render(&self) -> Result<String, RenderError> {
        let check = |what: &str, v: &str| -> Result<(), RenderError> {
            if v.is_empty() {
                return Err(RenderError::new(
                    what,
                    v,
                    "the tarball MANIFEST",
                    "it is empty",
                ));
            }
            if v.chars().any(char::is_control) {
                return Err(RenderError::new(
                    what,
                    v,
                    "the tarball MANIFEST",
                    "it contains a control character (tab, newline…)",
                ));
            }
            Ok(())
        };
        check("owner user", self.user)?;
        check("owner group", self.group)?;
        check("path", self.path)?;
        if !self.path.starts_with('/') {
            return Err(RenderError::new(
                "path",
                self.path,
                "the tarball MANIFEST",
                "it is not absolute",
            ));
        }
        let mut s = format!(
            "{}\t{:04o}\t{}\t{}\t{}",
            self.kind, self.mode, self.user, self.group, self.path
        );
        if let Some(t) = self.target {
            check("symlink target", t)?;
            s.push('\t');
            s.push_str(t);
        }
        s.push('\n');
        Ok(s)
    }
}

/// Splits a `MANIFEST` line the way install.sh's `IFS=<tab> read -r kind mode user group path
/// target` does (for tests and readers): `(kind, mode, user, group, path, target)`.
pub fn split_manifest_line(line: &str) -> Option<[&str; 6]> {
    let line = line.strip_suffix('\n').unwrap_or(line);
    let mut it = line.splitn(6, '\t');
    let mut out = [""; 6];
    for slot in out.iter_mut() {
        *slot = it.next().unwrap_or("");
    }
    (!out[4].is_empty()).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A model of systemd's `extract_first_word(EXTRACT_UNQUOTE)` plus `%%` → `%`, to check that
    /// every rendered line comes back as the columns it was made of.
    fn systemd_split(line: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut chars = line.trim_end_matches('\n').chars().peekable();
        loop {
            while chars.peek().is_some_and(|c| c.is_whitespace()) {
                chars.next();
            }
            if chars.peek().is_none() {
                return out;
            }
            let mut w = String::new();
            let mut quote: Option<char> = None;
            while let Some(c) = chars.next() {
                match (quote, c) {
                    (None, c) if c.is_whitespace() => break,
                    (None, '"' | '\'') => quote = Some(c),
                    (Some(q), c) if c == q => quote = None,
                    (_, '\\') => w.extend(chars.next()),
                    (_, c) => w.push(c),
                }
            }
            out.push(w.replace("%%", "%"));
        }
    }

    #[test]
    fn config_lines_round_trip() {
        let line = config_line(
            "a sysusers.d line",
            &[
                ("type", Col::Word("u")),
                ("name", Col::Word("lucia")),
                ("id", Col::Word("-")),
                ("gecos", Col::Text("Lucia's 100% agent")),
                ("home", Col::Path("/var/lib/lu%cia")),
                ("shell", Col::Path("/usr/sbin/nologin")),
            ],
        )
        .unwrap();
        assert_eq!(
            line,
            "u lucia - \"Lucia's 100%% agent\" /var/lib/lu%%cia /usr/sbin/nologin\n"
        );
        assert_eq!(
            systemd_split(&line),
            [
                "u",
                "lucia",
                "-",
                "Lucia's 100% agent",
                "/var/lib/lu%cia",
                "/usr/sbin/nologin"
            ]
        );
    }

    #[test]
    fn config_lines_refuse_what_would_change_the_columns() {
        let t = "a tmpfiles.d line";
        let bad_words = [
            "",
            "a b",
            "a\tb",
            "a\nd /etc 0777",
            "a\"",
            "a'",
            "a\\",
            "%h",
            "a\u{7f}",
        ];
        for v in bad_words {
            assert!(config_line(t, &[("user", Col::Word(v))]).is_err(), "{v:?}");
        }
        let bad_paths = [
            "/etc 0777 lucia lucia -",
            "/var/lib/x\nu evil 0",
            "relative",
            "/a\"b",
            "",
        ];
        for v in bad_paths {
            assert!(config_line(t, &[("path", Col::Path(v))]).is_err(), "{v:?}");
        }
        let bad_text = ["x\"", "x\\", "x\ny", "x\r", "a:b"];
        for v in bad_text {
            assert!(config_line(t, &[("gecos", Col::Text(v))]).is_err(), "{v:?}");
        }
        // The error names the value with its control characters escaped.
        let e = config_line(t, &[("service.shell", Col::Path("/bin/sh\nu evil 0"))]).unwrap_err();
        assert!(
            e.to_string().contains("service.shell `/bin/sh\\nu evil 0`"),
            "{e}"
        );
    }

    #[test]
    fn header_fields() {
        assert_eq!(header_field("x", "f", "  a b ").unwrap(), "a b");
        for v in ["a\nb", "a\rb", "a\tb", "a\u{0}"] {
            assert!(header_field("x", "f", v).is_err(), "{v:?}");
        }
        assert!(header_text("x", "f", "a\n\tb\r\nc").is_ok());
        for v in ["a\rb", "a\u{1b}[31m", "a\u{0}"] {
            assert!(header_text("x", "f", v).is_err(), "{v:?}");
        }
    }

    #[test]
    fn manifest_lines_round_trip_and_refuse_control_characters() {
        let odd = "/opt/demo/a file $(id) `x` 'q' \"dq\" \\n back\\slash ~*?[]";
        let l = ManifestLine {
            kind: 'l',
            mode: 0o777,
            user: "root",
            group: "root",
            path: odd,
            target: Some(" lead and trail "),
        };
        let s = l.render().unwrap();
        assert_eq!(
            split_manifest_line(&s).unwrap(),
            ["l", "0777", "root", "root", odd, " lead and trail "]
        );
        let f = ManifestLine {
            kind: 'f',
            target: None,
            ..l.clone()
        };
        assert_eq!(
            split_manifest_line(&f.render().unwrap()).unwrap(),
            ["f", "0777", "root", "root", odd, ""]
        );
        for bad in [
            ManifestLine {
                user: "lucia\nf\t0755\troot\troot\t/etc/passwd",
                ..f.clone()
            },
            ManifestLine {
                group: "a\tb",
                ..f.clone()
            },
            ManifestLine {
                group: "",
                ..f.clone()
            },
            ManifestLine {
                path: "/a\nb",
                ..f.clone()
            },
            ManifestLine {
                path: "rel",
                ..f.clone()
            },
            ManifestLine {
                target: Some("x\ty"),
                ..l.clone()
            },
            ManifestLine {
                target: Some(""),
                ..l.clone()
            },
        ] {
            assert!(bad.render().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn sh_quote_is_one_word() {
        assert_eq!(sh_quote("a b'c"), "'a b'\\''c'");
        assert_eq!(sh_quote("/usr/sbin/nologin"), "/usr/sbin/nologin");
        assert_eq!(sh_quote(""), "''");
        assert_eq!(sh_quote("$(id)\nx"), "'$(id)\nx'");
    }
}
