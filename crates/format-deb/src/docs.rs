//! Files the .deb adds to the plan's tree because Debian expects them in every binary package:
//! `/usr/share/doc/<name>/copyright` (machine-readable, DEP-5), `changelog.Debian.gz` and the
//! lintian overrides file, together with their parent directories.
//!
//! A plan that already ships a regular file at one of these paths keeps its own file (the
//! manifest author knows better); the generated one is then left out.

use std::borrow::Cow;

use pkg_core::compress::{compress_bytes, Codec};
use pkg_core::determinism::{rfc2822, rfc3339};
use pkg_core::plan::{ChangelogEntry, Entry, EntryKind, Plan};

use crate::DebError;

/// Licenses whose full text Debian ships in `/usr/share/common-licenses`: SPDX id → (DEP-5 short
/// name, file there).
const COMMON_LICENSES: &[(&str, &str, &str)] = &[
    ("Apache-2.0", "Apache-2.0", "Apache-2.0"),
    ("GPL-2.0", "GPL-2", "GPL-2"),
    ("GPL-2.0-only", "GPL-2", "GPL-2"),
    ("GPL-2.0-or-later", "GPL-2+", "GPL-2"),
    ("GPL-2.0+", "GPL-2+", "GPL-2"),
    ("GPL-3.0", "GPL-3", "GPL-3"),
    ("GPL-3.0-only", "GPL-3", "GPL-3"),
    ("GPL-3.0-or-later", "GPL-3+", "GPL-3"),
    ("GPL-3.0+", "GPL-3+", "GPL-3"),
    ("LGPL-2.1", "LGPL-2.1", "LGPL-2.1"),
    ("LGPL-2.1-only", "LGPL-2.1", "LGPL-2.1"),
    ("LGPL-2.1-or-later", "LGPL-2.1+", "LGPL-2.1"),
    ("LGPL-3.0", "LGPL-3", "LGPL-3"),
    ("LGPL-3.0-only", "LGPL-3", "LGPL-3"),
    ("LGPL-3.0-or-later", "LGPL-3+", "LGPL-3"),
    ("MPL-2.0", "MPL-2.0", "MPL-2.0"),
    ("CC0-1.0", "CC0-1.0", "CC0-1.0"),
];

/// The MIT (Expat) license text: not in common-licenses, so DEP-5 wants it spelled out.
const MIT_TEXT: &str =
    "Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the \"Software\"), to deal
in the Software without restriction, including without limitation the rights
to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED \"AS IS\", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
SOFTWARE.";

/// Indents free text as a control-file continuation (` ` prefix, ` .` for blank lines).
fn continuation(text: &str) -> String {
    text.lines()
        .map(|l| {
            if l.trim().is_empty() {
                " .\n".to_string()
            } else {
                format!(" {}\n", l.trim_end())
            }
        })
        .collect()
}

/// Translates an SPDX expression (`MIT OR Apache-2.0`) into DEP-5 syntax and the list of
/// license ids it mentions.
fn dep5_license(expr: &str) -> (String, Vec<String>) {
    let mut out = Vec::new();
    let mut ids: Vec<String> = Vec::new();
    for tok in expr.split_whitespace() {
        match tok {
            "OR" | "or" => out.push("or".to_string()),
            "AND" | "and" => out.push("and".to_string()),
            "WITH" | "with" => out.push("with".to_string()),
            _ => {
                let open = tok.len() - tok.trim_start_matches('(').len();
                let inner = tok.trim_matches(|c| c == '(' || c == ')');
                let close = tok.len() - tok.trim_end_matches(')').len();
                let short = COMMON_LICENSES
                    .iter()
                    .find(|(spdx, _, _)| spdx.eq_ignore_ascii_case(inner))
                    .map(|(_, s, _)| s.to_string())
                    .unwrap_or_else(|| inner.to_string());
                if !short.is_empty() && !ids.contains(&short) {
                    ids.push(short.clone());
                }
                out.push(format!(
                    "{}{}{}",
                    "(".repeat(open),
                    short,
                    ")".repeat(close)
                ));
            }
        }
    }
    (out.join(" "), ids)
}

/// The standalone `License:` paragraph for one DEP-5 short name.
fn license_paragraph(id: &str, plan: &Plan) -> String {
    let common = COMMON_LICENSES
        .iter()
        .find(|(_, short, _)| *short == id)
        .map(|(_, _, file)| *file);
    let body = if let Some(file) = common {
        format!(
            "On Debian systems, the complete text of this license can be found in\n/usr/share/common-licenses/{file}."
        )
    } else if id.eq_ignore_ascii_case("MIT") || id.eq_ignore_ascii_case("Expat") {
        MIT_TEXT.to_string()
    } else {
        let place = plan
            .meta
            .homepage
            .as_deref()
            .or(plan.meta.source_url.as_deref())
            .unwrap_or("the upstream sources");
        format!(
            "The complete text of this license is distributed with the upstream sources:\n{place}"
        )
    };
    format!("License: {id}\n{}", continuation(&body))
}

/// `/usr/share/doc/<name>/copyright` in the machine-readable format (DEP-5).
pub(crate) fn copyright(plan: &Plan) -> Result<String, DebError> {
    let m = &plan.meta;
    if m.license.trim().is_empty() {
        return Err(DebError::Invalid(
            "the package has no license; set `license` (an SPDX expression such as `MIT`) in the manifest".into(),
        ));
    }
    let (expr, ids) = dep5_license(m.license.trim());
    let holder = m
        .vendor
        .as_deref()
        .filter(|v| !v.trim().is_empty())
        .unwrap_or(m.maintainer.as_str());
    let year = &rfc3339(plan.source_date)[..4];
    let mut s = String::from(
        "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n",
    );
    s.push_str(&format!("Upstream-Name: {}\n", m.name));
    s.push_str(&format!("Upstream-Contact: {}\n", m.maintainer.trim()));
    if let Some(src) = m.source_url.as_deref().or(m.homepage.as_deref()) {
        s.push_str(&format!("Source: {}\n", src.trim()));
    }
    s.push_str(&format!(
        "\nFiles: *\nCopyright: {year} {}\nLicense: {expr}\n",
        holder.trim()
    ));
    for id in ids {
        s.push('\n');
        s.push_str(&license_paragraph(&id, plan));
    }
    Ok(s)
}

/// Wraps one changelog item as `  * text`, continuation lines indented by four spaces.
fn changelog_item(text: &str, out: &mut String) {
    let words: Vec<&str> = text.split_whitespace().collect();
    let mut line = String::from("  *");
    let mut first = true;
    for w in words {
        if !first && line.len() + 1 + w.len() > 78 {
            out.push_str(&line);
            out.push('\n');
            line = String::from("   ");
        }
        line.push(' ');
        line.push_str(w);
        first = false;
    }
    out.push_str(&line);
    out.push('\n');
}

/// The Debian changelog text (newest entry first), before compression.
pub(crate) fn changelog_text(plan: &Plan) -> Result<String, DebError> {
    let m = &plan.meta;
    // A package without declared history still needs a changelog (lintian: no-changelog); it
    // gets one entry for the version being built.
    let synthetic;
    let entries: &[ChangelogEntry] = if m.changelog.is_empty() {
        synthetic = [ChangelogEntry {
            version: m.version.deb(),
            date: plan.source_date,
            author: m.maintainer.clone(),
            changes: vec![format!("Package {} built by lucia-pkg.", m.version.deb())],
        }];
        &synthetic
    } else {
        &m.changelog
    };
    let mut s = String::new();
    for (i, e) in entries.iter().enumerate() {
        if e.version.trim().is_empty() || e.version.contains(char::is_whitespace) {
            return Err(DebError::Invalid(format!(
                "changelog entry {}: version `{}` is empty or contains spaces",
                i + 1,
                e.version
            )));
        }
        if e.author.contains(['\n', '\r']) {
            return Err(DebError::Invalid(format!(
                "changelog entry {}: the author spans several lines",
                i + 1
            )));
        }
        if i > 0 {
            s.push('\n');
        }
        s.push_str(&format!(
            "{} ({}) unstable; urgency=medium\n\n",
            m.name, e.version
        ));
        if e.changes.is_empty() {
            changelog_item("No changes recorded.", &mut s);
        }
        for c in &e.changes {
            changelog_item(c, &mut s);
        }
        s.push_str(&format!("\n -- {}  {}\n", e.author.trim(), rfc2822(e.date)));
    }
    Ok(s)
}

/// One override the writer itself needs, with the reason shipped next to it.
pub(crate) struct Override {
    pub tag: String,
    pub reason: String,
}

/// The overrides this plan needs because of choices lintian's Debian-archive rules do not
/// anticipate. Each applies only when the plan actually triggers it.
pub(crate) fn builtin_overrides(plan: &Plan) -> Vec<Override> {
    let mut v = Vec::new();
    if plan
        .entries
        .iter()
        .any(|e| e.path == "/opt" || e.path.starts_with("/opt/"))
    {
        v.push(Override {
            tag: "dir-or-file-in-opt".into(),
            reason: "a third-party add-on application installs under /opt as the FHS intends; it is not part of the Debian archive".into(),
        });
    }
    if plan.meta.changelog.len() <= 1 {
        v.push(Override {
            tag: "initial-upload-closes-no-bugs".into(),
            reason:
                "the package is not uploaded to the Debian archive, so there is no ITP bug to close"
                    .into(),
        });
    }
    for e in &plan.entries {
        if matches!(e.kind, EntryKind::File { .. })
            && e.mode & 0o111 == 0
            && e.mode & 0o7777 != 0o644
        {
            v.push(Override {
                tag: format!("non-standard-file-perm {:04o} != 0644 [{}]", e.mode & 0o7777, e.rel_path()),
                reason: "the manifest declares this mode on purpose: the file may hold credentials and is readable only by root and the service group".into(),
            });
        }
    }
    if plan
        .entries
        .iter()
        .any(|e| !e.owner.is_root() && (e.owner.uid >= 100 || e.owner.gid >= 100))
    {
        v.push(Override {
            tag: "wrong-file-owner-uid-or-gid".into(),
            reason: "the owner is the package's own system account, created in preinst; dpkg resolves it by name, the number only matches container images".into(),
        });
    }
    v
}

/// The lintian overrides file: every override preceded by its reason as a comment, which lintian
/// shows as the justification. Manifest lines are `tag [context] # reason`.
pub(crate) fn overrides_file(plan: &Plan) -> Option<String> {
    let name = &plan.meta.name;
    // The blank line keeps this header from being read as the first override's justification.
    let mut s = String::from(
        "# Generated by lucia-pkg. Each override is preceded by the reason it does not apply.\n\n",
    );
    let mut any = false;
    for o in builtin_overrides(plan) {
        s.push_str(&format!("# {}\n{name}: {}\n", o.reason, o.tag));
        any = true;
    }
    for line in &plan.formats.deb.lintian_overrides {
        let (ov, reason) = match line.split_once('#') {
            Some((o, r)) => (o.trim(), r.trim()),
            None => (line.trim(), ""),
        };
        if ov.is_empty() || ov.contains(['\n', '\r']) || reason.contains(['\n', '\r']) {
            continue;
        }
        let reason = if reason.is_empty() {
            "declared in the package manifest"
        } else {
            reason
        };
        let ov = if ov.starts_with(&format!("{name}:")) {
            ov.to_string()
        } else {
            format!("{name}: {ov}")
        };
        s.push_str(&format!("# {reason}\n{ov}\n"));
        any = true;
    }
    any.then_some(s)
}

/// The plan's entries plus the generated documentation files and their missing parent
/// directories, sorted bytewise by path (parents before children). Plan entries are borrowed.
pub(crate) fn merged_entries(plan: &Plan) -> Result<Vec<Cow<'_, Entry>>, DebError> {
    let name = &plan.meta.name;
    let doc = format!("/usr/share/doc/{name}");
    let mut generated = vec![
        (format!("{doc}/copyright"), copyright(plan)?.into_bytes()),
        (
            format!("{doc}/changelog.Debian.gz"),
            // gzip -9n: maximum compression, no name, no timestamp (lintian checks both).
            compress_bytes(Codec::Gzip(9), changelog_text(plan)?.as_bytes())
                .map_err(|e| DebError::io("compressing changelog.Debian.gz", e))?,
        ),
    ];
    if let Some(o) = overrides_file(plan) {
        generated.push((
            format!("/usr/share/lintian/overrides/{name}"),
            o.into_bytes(),
        ));
    }
    let mut out: Vec<Cow<'_, Entry>> = plan
        .entries
        .iter()
        .filter(|e| e.path != "/")
        .map(Cow::Borrowed)
        .collect();
    let mut added: Vec<Entry> = Vec::new();
    for (path, bytes) in generated {
        match plan.entry(&path) {
            Some(e) if matches!(e.kind, EntryKind::File { .. }) => continue,
            Some(_) => {
                return Err(DebError::Invalid(format!(
                    "{path} is in the payload but is not a regular file; Debian needs a file there"
                )))
            }
            None => {}
        }
        for parent in pkg_core::tar_stream::ancestors(&path) {
            let exists = plan.entry(&parent).is_some() || added.iter().any(|a| a.path == parent);
            if !exists {
                added.push(Entry::dir(parent));
            }
        }
        added.push(Entry::inline_file(path, bytes));
    }
    out.extend(added.into_iter().map(Cow::Owned));
    out.sort_by(|a, b| a.path.as_bytes().cmp(b.path.as_bytes()));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use pkg_core::sample::lucia_like_plan;
    use pkg_core::Arch;

    #[test]
    fn license_expressions_map_to_dep5() {
        assert_eq!(
            dep5_license("MIT OR Apache-2.0"),
            (
                "MIT or Apache-2.0".into(),
                vec!["MIT".into(), "Apache-2.0".into()]
            )
        );
        assert_eq!(
            dep5_license("(GPL-2.0-or-later AND MIT)").0,
            "(GPL-2+ and MIT)"
        );
        let p = lucia_like_plan(Arch::Amd64);
        let c = copyright(&p).unwrap();
        assert!(
            c.contains("\nLicense: MIT\n Permission is hereby granted"),
            "{c}"
        );
        assert!(c.contains("Copyright: 2026 Lucia Project\n"), "{c}");
    }

    #[test]
    fn changelog_has_debian_syntax() {
        let p = lucia_like_plan(Arch::Amd64);
        let t = changelog_text(&p).unwrap();
        assert!(
            t.starts_with(
                "lucia (1.0.0-1) unstable; urgency=medium\n\n  * First packaged release.\n"
            ),
            "{t}"
        );
        assert!(
            t.ends_with(" -- Lucia Project <lucia@example.org>  Thu, 01 Jan 2026 00:00:00 +0000\n"),
            "{t}"
        );
    }

    #[test]
    fn generated_files_get_parents_and_stay_sorted() {
        let p = lucia_like_plan(Arch::Amd64);
        let m = merged_entries(&p).unwrap();
        let paths: Vec<&str> = m.iter().map(|e| e.path.as_str()).collect();
        for want in [
            "/usr/share",
            "/usr/share/doc",
            "/usr/share/doc/lucia",
            "/usr/share/doc/lucia/copyright",
            "/usr/share/lintian/overrides/lucia",
        ] {
            assert!(paths.contains(&want), "{want} missing from {paths:?}");
        }
        let mut sorted = paths.clone();
        sorted.sort();
        assert_eq!(paths, sorted);
        sorted.dedup();
        assert_eq!(paths.len(), sorted.len(), "duplicates");
    }
}
