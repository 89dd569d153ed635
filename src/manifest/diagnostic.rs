//! Errors about the user's input, located in a file and rendered the way rustc renders them:
//! `file:line:col`, the offending line with a caret, and a `help:` line saying how to fix it.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use annotate_snippets::{AnnotationKind, Group, Level, Renderer, Snippet};

/// One located problem in a manifest.
#[derive(Debug, Clone)]
pub struct Diagnostic {
    pub file: PathBuf,
    pub source: String,
    pub span: Option<Range<usize>>,
    pub message: String,
    pub help: Option<String>,
}

impl Diagnostic {
    pub fn new(
        file: &Path,
        source: &str,
        span: Option<Range<usize>>,
        message: impl Into<String>,
    ) -> Self {
        Diagnostic {
            file: file.to_path_buf(),
            source: source.to_string(),
            span,
            message: message.into(),
            help: None,
        }
    }
    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }
    /// Masks the spanned text (a secret, credentials) with `*` in the rendered snippet, keeping
    /// the location: an error about a secret must not print it.
    pub fn redact(&mut self) {
        let Some(span) = &self.span else {
            return;
        };
        let (start, end) = (
            span.start.min(self.source.len()),
            span.end.min(self.source.len()),
        );
        if !self.source.is_char_boundary(start) || !self.source.is_char_boundary(end) {
            self.source.clear();
            self.span = None;
            return;
        }
        let masked: String = self.source[start..end]
            .chars()
            .map(|c| {
                if c == '\n' {
                    "\n".to_string()
                } else {
                    "*".repeat(c.len_utf8())
                }
            })
            .collect();
        self.source.replace_range(start..end, &masked);
    }
    /// 1-based line and column (in characters) of the span start.
    pub fn line_col(&self) -> Option<(usize, usize)> {
        let start = self.span.as_ref()?.start.min(self.source.len());
        let before = self.source.get(..start)?;
        let line = before.matches('\n').count() + 1;
        let col = before
            .rsplit('\n')
            .next()
            .map(|l| l.chars().count())
            .unwrap_or(0)
            + 1;
        Some((line, col))
    }
    /// `file:line:col` (or just the file).
    pub fn location(&self) -> String {
        match self.line_col() {
            Some((l, c)) => format!("{}:{l}:{c}", self.file.display()),
            None => self.file.display().to_string(),
        }
    }
    pub fn render(&self, color: bool) -> String {
        let path = self.file.display().to_string();
        let title = Level::ERROR.primary_title(self.message.as_str());
        let first = if let Some(span) = &self.span {
            let mut span = span.start.min(self.source.len())..span.end.min(self.source.len());
            // Widen an empty span to the next whole character (the renderer panics on a span
            // that ends inside a multi-byte character, e.g. `key = ޳…`), and snap a parser's
            // span to character boundaries for the same reason.
            while !self.source.is_char_boundary(span.start) {
                span.start -= 1;
            }
            if span.is_empty() && span.end < self.source.len() {
                span.end += 1;
            }
            span.end = span.end.max(span.start);
            while !self.source.is_char_boundary(span.end) {
                span.end += 1;
            }
            title.element(
                Snippet::source(self.source.as_str())
                    .path(path.as_str())
                    .annotation(AnnotationKind::Primary.span(span).label("here")),
            )
        } else {
            title.element(Level::NOTE.message(format!("in {path}")))
        };
        let mut groups = vec![first];
        if let Some(h) = &self.help {
            groups.push(Group::with_title(Level::HELP.secondary_title(h.as_str())));
        }
        let renderer = if color {
            Renderer::styled()
        } else {
            Renderer::plain()
        };
        renderer.render(&groups).to_string()
    }
    pub fn to_json(&self) -> serde_json::Value {
        let (line, column) = self
            .line_col()
            .map(|(l, c)| (Some(l), Some(c)))
            .unwrap_or((None, None));
        serde_json::json!({
            "file": self.file.display().to_string(),
            "line": line,
            "column": column,
            "message": self.message,
            "help": self.help,
        })
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.location(), self.message)?;
        if let Some(h) = &self.help {
            write!(f, " (help: {h})")?;
        }
        Ok(())
    }
}

/// The closest candidate to `word`, if any is close enough to be a likely typo.
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(word, c), c))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_and_column() {
        let src = "[package]\nname = \"x\"\nversion = 1\n";
        let at = src.find('1').unwrap();
        let d = Diagnostic::new(Path::new("m.toml"), src, Some(at..at + 1), "bad");
        assert_eq!(d.line_col(), Some((3, 11)));
        assert_eq!(d.location(), "m.toml:3:11");
        let r = d.render(false);
        assert!(r.contains("m.toml:3:11"), "{r}");
    }

    #[test]
    fn redaction_keeps_the_location_and_hides_the_text() {
        let src = "[oci.env]\nTOKEN = \"sk-é-secret\"\nX = 1\n";
        let at = src.find("\"sk").unwrap();
        let end = src[at..].find('\n').unwrap() + at;
        let mut d = Diagnostic::new(Path::new("m.toml"), src, Some(at..end), "secret");
        d.redact();
        assert_eq!(d.location(), "m.toml:2:9");
        let r = d.render(false);
        assert!(!r.contains("secret\""), "{r}");
        assert!(r.contains("TOKEN = ****"), "{r}");
        assert!(d.source.ends_with("\nX = 1\n"));
    }

    #[test]
    fn suggestions() {
        assert_eq!(
            did_you_mean("versoin", ["name", "version", "release"]),
            Some("version")
        );
        assert_eq!(did_you_mean("zzz", ["name", "version"]), None);
    }
}
