//! The `control` file of `control.tar`: the fields dpkg and apt read, a correctly folded
//! `Description`, plus the `conffiles` and `md5sums` member texts.

use pkg_core::{EntryKind, Plan};

use crate::DebError;

/// Width of a folded description line including its leading space. Lintian warns above 80
/// (`extended-description-line-too-long`); 79 leaves room for frontends that add a margin.
const DESCRIPTION_WIDTH: usize = 79;

/// Refuses values that would break the RFC 822-style control syntax (a newline starts a new
/// field or a continuation line and would let manifest text inject fields); the check is the one
/// every package header uses, `pkg_core::render::header_field`.
fn single_line<'a>(field: &str, value: &'a str) -> Result<&'a str, DebError> {
    pkg_core::render::header_field("the deb control file", field, value)
        .map_err(|e| DebError::Invalid(e.to_string()))
}

/// `a, b | c` from a list of relations, each validated to be one line without a bare comma
/// separator problem (an entry may itself hold `|` alternatives).
fn relations(field: &str, list: &[String]) -> Result<Option<String>, DebError> {
    let mut out = Vec::new();
    for r in list {
        let r = single_line(field, r)?;
        if r.is_empty() {
            return Err(DebError::Invalid(format!(
                "deb {field}: an empty entry; remove it from the list"
            )));
        }
        out.push(r.to_string());
    }
    Ok(if out.is_empty() {
        None
    } else {
        Some(out.join(", "))
    })
}

/// Word-wraps one paragraph to `width` columns after a one-space indent.
fn wrap_paragraph(words: &[&str], out: &mut String) {
    let mut line = String::new();
    for w in words {
        if !line.is_empty() && 1 + line.len() + 1 + w.len() > DESCRIPTION_WIDTH {
            out.push(' ');
            out.push_str(&line);
            out.push('\n');
            line.clear();
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(w);
    }
    if !line.is_empty() {
        out.push(' ');
        out.push_str(&line);
        out.push('\n');
    }
}

/// Folds the extended description: paragraphs (separated by blank lines) are re-wrapped, as apt
/// frontends reflow them anyway; lines the author indented are kept verbatim (dpkg displays lines
/// starting with two spaces as-is); blank lines become ` .`.
pub(crate) fn fold_description(summary: &str, body: &str) -> Result<String, DebError> {
    let summary = single_line("Description (summary)", summary)?;
    if summary.is_empty() {
        return Err(DebError::Invalid(
            "the package summary is empty; give a one-line summary".into(),
        ));
    }
    pkg_core::render::header_text("the deb control file", "Description", body)
        .map_err(|e| DebError::Invalid(e.to_string()))?;
    let mut out = format!("Description: {summary}\n");
    let body = body.replace("\r\n", "\n").replace('\t', "    ");
    let mut words: Vec<&str> = Vec::new();
    let mut pending_blank = false;
    let mut any = false;
    for raw in body.lines() {
        let line = raw.trim_end();
        if line.trim().is_empty() {
            if !words.is_empty() {
                wrap_paragraph(&words, &mut out);
                words.clear();
            }
            pending_blank = any;
            continue;
        }
        if pending_blank {
            out.push_str(" .\n");
            pending_blank = false;
        }
        any = true;
        if line.starts_with(' ') {
            if !words.is_empty() {
                wrap_paragraph(&words, &mut out);
                words.clear();
            }
            out.push(' ');
            out.push_str(line);
            out.push('\n');
        } else {
            words.extend(line.split(' ').filter(|w| !w.is_empty()));
        }
    }
    if !words.is_empty() {
        wrap_paragraph(&words, &mut out);
    }
    Ok(out)
}

/// Whether a relation list names `package` in any entry or alternative (`foo (>= 1) | bar`).
fn mentions(list: &[String], package: &str) -> bool {
    list.iter().any(|r| {
        r.split(['|', ','])
            .any(|alt| alt.split_whitespace().next() == Some(package))
    })
}

/// Renders the `control` member. `installed_kib` comes from streaming data.tar.
pub(crate) fn control_file(plan: &Plan, installed_kib: u64) -> Result<String, DebError> {
    let m = &plan.meta;
    let d = &plan.formats.deb;
    let mut fields: Vec<(&str, String)> = vec![
        ("Package", single_line("Package", &m.name)?.to_string()),
        ("Version", m.version.deb()),
        ("Architecture", plan.arch.deb().to_string()),
        (
            "Maintainer",
            single_line("Maintainer", &m.maintainer)?.to_string(),
        ),
        ("Installed-Size", installed_kib.to_string()),
    ];
    if m.maintainer.trim().is_empty() {
        return Err(DebError::Invalid(
            "the maintainer is empty; write `Name <email>`".into(),
        ));
    }
    // The account fallback in the scripts calls adduser/addgroup when shadow's useradd and
    // systemd-sysusers are both missing; declare it (lintian: maintainer-script-needs-depends-on-adduser).
    let mut depends = d.depends.clone();
    let creates_user = plan.service.as_ref().is_some_and(|s| s.user.is_some());
    let mentions_adduser = mentions(&depends, "adduser");
    if creates_user && !mentions_adduser {
        depends.push("adduser".into());
    }
    // Shared-library dependencies the plan derived from the ELF files (`libc6 (>= 2.34)`); a
    // package the manifest already names in Depends or Pre-Depends keeps the manifest's relation.
    for auto in &d.shlib_depends {
        let name = auto.split_whitespace().next().unwrap_or_default();
        if !mentions(&depends, name) && !mentions(&d.pre_depends, name) {
            depends.push(auto.clone());
        }
    }
    let rels: [(&str, &[String]); 7] = [
        ("Pre-Depends", &d.pre_depends),
        ("Depends", &depends),
        ("Recommends", &d.recommends),
        ("Suggests", &d.suggests),
        ("Conflicts", &m.conflicts),
        ("Replaces", &m.replaces),
        ("Provides", &m.provides),
    ];
    for (name, list) in rels {
        if let Some(v) = relations(name, list)? {
            fields.push((name, v));
        }
    }
    // Empty section/priority would make lintian and apt frontends complain; these are the
    // Debian defaults for a package that declares nothing.
    let section = single_line("Section", &d.section)?;
    fields.push((
        "Section",
        if section.is_empty() { "misc" } else { section }.to_string(),
    ));
    let priority = single_line("Priority", &d.priority)?;
    fields.push((
        "Priority",
        if priority.is_empty() {
            "optional"
        } else {
            priority
        }
        .to_string(),
    ));
    if let Some(h) = &m.homepage {
        let h = single_line("Homepage", h)?;
        if !h.is_empty() {
            fields.push(("Homepage", h.to_string()));
        }
    }
    let mut s = String::new();
    for (k, v) in fields {
        s.push_str(k);
        s.push_str(": ");
        s.push_str(&v);
        s.push('\n');
    }
    s.push_str(&fold_description(&m.summary, &m.description)?);
    Ok(s)
}

/// Absolute paths of the conffiles: every regular file under `/etc` and every entry the manifest
/// marks as config. dpkg only handles regular files as conffiles, so a config symlink or
/// directory is refused rather than silently dropped.
pub(crate) fn conffiles(plan: &Plan) -> Result<Vec<String>, DebError> {
    let mut out = Vec::new();
    for e in &plan.entries {
        let under_etc = e.path.starts_with("/etc/");
        match &e.kind {
            EntryKind::File { .. } if under_etc || e.config => out.push(e.path.clone()),
            EntryKind::File { .. } => {}
            _ if e.config => {
                return Err(DebError::Invalid(format!(
                    "{} is marked as config but is not a regular file; dpkg conffiles must be regular files",
                    e.path
                )))
            }
            _ => {}
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// `md5sums` text: `<md5>  <path without leading slash>`, sorted by path.
pub(crate) fn md5sums(mut sums: Vec<(String, [u8; 16])>) -> String {
    sums.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    let mut s = String::new();
    for (path, md5) in sums {
        s.push_str(&hex::encode(md5));
        s.push_str("  ");
        s.push_str(&path);
        s.push('\n');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_paragraphs_and_keeps_verbatim_lines() {
        let body = "First paragraph line one that is quite long and goes on and on and on until it must wrap somewhere.\nSecond line.\n\n  verbatim  spaced\nNext para.\n";
        let d = fold_description("Summary", body).unwrap();
        let lines: Vec<&str> = d.lines().collect();
        assert_eq!(lines[0], "Description: Summary");
        assert!(
            lines
                .iter()
                .skip(1)
                .all(|l| l.starts_with(' ') && l.len() <= DESCRIPTION_WIDTH),
            "{d}"
        );
        assert!(lines.contains(&" ."), "{d}");
        assert!(lines.contains(&"   verbatim  spaced"), "{d}");
        assert_eq!(*lines.last().unwrap(), " Next para.");
        // No blank paragraph marker at the very start or end.
        assert_ne!(lines[1], " .");
    }

    #[test]
    fn refuses_multiline_fields() {
        assert!(fold_description("a\nb", "").is_err());
        assert!(fold_description("  ", "").is_err());
        assert!(fold_description("a", "body\u{1b}[2J").is_err());
        assert!(relations("Depends", &["a\nFoo: bar".into()]).is_err());
        assert!(relations("Depends", &["a\rFoo: bar".into()]).is_err());
        assert!(single_line("Homepage", "https://x\tFoo: bar").is_err());
        assert_eq!(
            relations("Depends", &["a".into(), "b | c".into()])
                .unwrap()
                .as_deref(),
            Some("a, b | c")
        );
    }

    #[test]
    fn md5sums_are_sorted() {
        let s = md5sums(vec![("usr/b".into(), [1; 16]), ("etc/a".into(), [2; 16])]);
        assert!(s.starts_with(&format!("{}  etc/a\n", hex::encode([2u8; 16]))));
    }
}
