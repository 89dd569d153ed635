//! The one XML escaping rule for repository metadata (`repo dnf`): text and attribute values go
//! through [`escape`], which writes `&`, `<`, `>`, `"` and `'` as entities, keeps tab and line
//! feed, writes carriage return as `&#13;` (a parser would turn a literal one into a line feed),
//! and refuses every other control character: XML 1.0 cannot carry them at all, not even as
//! character references, so writing them would make the file unreadable for dnf.

use std::borrow::Cow;

/// `s` escaped for XML text or a double- or single-quoted attribute value. `Err` holds the first
/// character XML cannot carry.
pub fn escape(s: &str) -> Result<Cow<'_, str>, char> {
    let special = |c: char| matches!(c, '&' | '<' | '>' | '"' | '\'' | '\r') || forbidden(c);
    if !s.contains(special) {
        return Ok(Cow::Borrowed(s));
    }
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\r' => out.push_str("&#13;"),
            c if forbidden(c) => return Err(c),
            c => out.push(c),
        }
    }
    Ok(Cow::Owned(out))
}

/// Characters outside XML 1.0's `Char` production (Rust strings hold no surrogates).
fn forbidden(c: char) -> bool {
    (c.is_control() && !matches!(c, '\t' | '\n' | '\r' | '\u{80}'..='\u{9f}'))
        || matches!(c, '\u{fffe}' | '\u{ffff}')
}

/// [`escape`] with a message naming the field when it fails.
pub fn field<'a>(what: &str, s: &'a str) -> Result<Cow<'a, str>, String> {
    escape(s).map_err(|c| {
        format!(
            "{what} holds the control character U+{:04X}, which XML metadata cannot carry; remove it from the package",
            c as u32
        )
    })
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn escapes_markup_and_refuses_control_characters() {
        assert_eq!(escape("plain text").unwrap(), "plain text");
        assert_eq!(
            escape(r#"a<b & "c" 'd'>"#).unwrap(),
            "a&lt;b &amp; &quot;c&quot; &apos;d&apos;&gt;"
        );
        assert_eq!(escape("l1\n\tl2\r\n").unwrap(), "l1\n\tl2&#13;\n");
        assert_eq!(escape("ünï ✓").unwrap(), "ünï ✓");
        assert_eq!(escape("bell\u{7}"), Err('\u{7}'));
        assert_eq!(escape("nul\0"), Err('\0'));
        assert_eq!(escape("esc\u{1b}[0m"), Err('\u{1b}'));
        assert_eq!(escape("\u{ffff}"), Err('\u{ffff}'));
        // C1 controls are valid XML 1.0 characters.
        assert_eq!(escape("\u{85}").unwrap(), "\u{85}");
    }
}
