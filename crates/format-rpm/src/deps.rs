//! Parsing the manifest's dependency strings into rpm dependencies.
//!
//! Accepted spellings: `name`, `name OP version` (rpm style, `glibc >= 2.28`), `name (OP version)`
//! (Debian style, so shared `provides`/`conflicts` lists work for both formats) and rpm rich
//! dependencies in parentheses (`(libicu or libicu74)`), passed through unchanged. Operators:
//! `<`, `<=`, `=`, `==`, `>=`, `>`, and Debian's `<<`/`>>`.

use rpm::Dependency;

use crate::RpmError;

/// Parses one dependency; `field` names the manifest list for error messages.
pub fn parse(field: &str, spec: &str) -> Result<Dependency, RpmError> {
    let bad = |why: &str| RpmError::Dependency {
        field: field.to_string(),
        spec: spec.to_string(),
        why: why.to_string(),
    };
    let s = spec.trim();
    if s.is_empty() {
        return Err(bad("it is empty"));
    }
    if s.chars().any(|c| c.is_control()) {
        return Err(bad("it contains a control character"));
    }
    if s.starts_with('(') {
        if !s.ends_with(')') {
            return Err(bad(
                "a rich dependency must be wrapped in parentheses, e.g. `(libicu or libicu74)`",
            ));
        }
        return Ok(Dependency::any(s));
    }
    if s.contains('|') {
        return Err(bad("`|` alternatives are Debian syntax; for rpm write a rich dependency such as `(a or b)`"));
    }
    // `name (>= 1.0)` → `name >= 1.0`
    let flat = s.replace(['(', ')'], " ");
    let parts: Vec<&str> = flat.split_whitespace().collect();
    let name = parts[0];
    if name.starts_with(['<', '>', '=']) {
        return Err(bad("it must start with a package name"));
    }
    match parts.as_slice() {
        [_] => Ok(Dependency::any(name)),
        [_, op, version] => {
            let version = version.to_string();
            Ok(match *op {
                "<" | "<<" => Dependency::less(name, version),
                "<=" => Dependency::less_eq(name, version),
                "=" | "==" => Dependency::eq(name, version),
                ">=" => Dependency::greater_eq(name, version),
                ">" | ">>" => Dependency::greater(name, version),
                _ => {
                    return Err(bad(
                        "the operator must be one of < <= = >= > (or Debian's << >>)",
                    ))
                }
            })
        }
        _ => Err(bad(
            "write `name`, `name >= version` or `name (>= version)`",
        )),
    }
}

/// Parses a whole manifest list.
pub fn parse_all(field: &str, specs: &[String]) -> Result<Vec<Dependency>, RpmError> {
    specs.iter().map(|s| parse(field, s)).collect()
}

/// The automatic shared-library requirements (`libc.so.6(GLIBC_2.34)(64bit)`, `rtld(GNU_HASH)`):
/// names only, as rpmbuild writes them. Their parentheses are part of the name (not a rich
/// dependency), so they do not go through [`parse`]; whitespace or control characters would
/// change the header's meaning and are refused.
pub fn auto_requires(names: &[String]) -> Result<Vec<Dependency>, RpmError> {
    names
        .iter()
        .map(|n| {
            if n.is_empty() || n.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err(RpmError::Dependency {
                    field: "automatic requires".into(),
                    spec: n.clone(),
                    why: "a shared-library requirement is one word".into(),
                });
            }
            Ok(Dependency::any(n.as_str()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn show(s: &str) -> String {
        parse("requires", s)
            .map(|d| d.to_string())
            .unwrap_or_else(|e| format!("ERR {e}"))
    }

    #[test]
    fn both_spellings() {
        assert_eq!(show("glibc >= 2.28"), "glibc >= 2.28");
        assert_eq!(show("libc6 (>= 2.31)"), "libc6 >= 2.31");
        assert_eq!(show("foo (<< 2)"), "foo < 2");
        assert_eq!(show("  libstdc++ "), "libstdc++");
        assert_eq!(show("(libicu or libicu74)"), "(libicu or libicu74)");
        assert_eq!(show("bar = 1:2.0-3"), "bar = 1:2.0-3");
    }

    #[test]
    fn automatic_requires_are_names() {
        let d = auto_requires(&[
            "libc.so.6(GLIBC_2.34)(64bit)".into(),
            "rtld(GNU_HASH)".into(),
        ])
        .unwrap();
        assert_eq!(d[0].to_string(), "libc.so.6(GLIBC_2.34)(64bit)");
        assert!(auto_requires(&["a b".into()]).is_err());
        assert!(auto_requires(&["a\n".into(), "".into()]).is_err());
    }

    #[test]
    fn rejects_nonsense() {
        for s in [
            "",
            "a | b",
            ">= 1",
            "foo ~ 1",
            "foo >= 1 2",
            "(open",
            "a\nb",
        ] {
            assert!(parse("requires", s).is_err(), "{s:?}");
        }
    }
}
