//! The one secret detector: every place where text could carry a credential into an artifact
//! (the env template, `[[files]]` text under /etc, `[oci] env` and `labels`, the deploy outputs)
//! asks the same two questions here, and a finding never carries the value itself — only where it
//! is and under which key, so that error messages and logs cannot leak what they refuse.

/// Where a secret-looking value was found in a text: 1-based line and the key it was assigned to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub line: usize,
    pub key: String,
}

/// Provider token prefixes that are secrets whatever the key is called (with a minimum length so
/// that a word such as `sk-` alone is not one).
const TOKEN_PREFIXES: &[&str] = &[
    "sk-",
    "sk_live_",
    "rk_live_",
    "ghp_",
    "gho_",
    "ghs_",
    "github_pat_",
    "xoxb-",
    "xoxp-",
    "AKIA",
    "AIza",
    "glpat-",
    "hf_",
    "eyJ",
];

/// Parts of a key name that say its value is a credential (compared lowercase, `__` folded to `_`).
const SECRET_KEY_PARTS: &[&str] = &[
    "token",
    "secret",
    "password",
    "passwd",
    "apikey",
    "api_key",
    "accesskey",
    "access_key",
    "credential",
    "key",
];

/// `key=value` pairs inside connection strings whose value is a credential.
const CONN_SECRET_PARTS: &[&str] = &[
    "password",
    "pwd",
    "apikey",
    "api_key",
    "key",
    "accesskey",
    "sharedaccesskey",
    "accountkey",
    "token",
    "secret",
];

fn unquote(v: &str) -> &str {
    v.trim().trim_matches('"').trim_matches('\'').trim()
}

/// A value that is obviously not a real credential: empty, `<your token>`, `${VAR}`, `changeme`…
fn is_placeholder(v: &str) -> bool {
    let l = v.to_ascii_lowercase();
    v.is_empty()
        || v.starts_with('<')
        || v.starts_with("${")
        || v.starts_with("$(")
        || v.starts_with('%')
        || l.contains("change")
        || l.contains("example")
        || l.contains("placeholder")
        || l.contains("your")
        || l == "xxx"
        || l.chars().all(|c| c == '*' || c == 'x')
}

fn has_token_prefix(v: &str) -> bool {
    TOKEN_PREFIXES.iter().any(|p| {
        v.starts_with(p)
                && v.len() >= 20
                && v
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c))
                // Short generic prefixes also start ordinary words (`sk-not-a-key`): for them
                // the rest must look random too.
                && (!matches!(*p, "sk-" | "hf_" | "eyJ") || high_entropy(v))
    })
}

/// Looks like a random token: long, no spaces, at least two character classes.
fn high_entropy(v: &str) -> bool {
    if v.len() < 16 || v.contains(' ') || v.starts_with('/') {
        return false;
    }
    let classes = [
        v.chars().any(|c| c.is_ascii_lowercase()),
        v.chars().any(|c| c.is_ascii_uppercase()),
        v.chars().any(|c| c.is_ascii_digit()),
    ];
    classes.iter().filter(|b| **b).count() >= 2
}

fn key_is_secretish(key: &str) -> bool {
    let k = key
        .to_ascii_lowercase()
        .replace("__", "_")
        .replace('.', "_");
    SECRET_KEY_PARTS.iter().any(|s| k.contains(s))
}

/// `scheme://user:password@host` with a real password.
fn url_with_password(v: &str) -> bool {
    let Some((_, rest)) = v.split_once("://") else {
        return false;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let Some((userinfo, _)) = authority.rsplit_once('@') else {
        return false;
    };
    match userinfo.split_once(':') {
        Some((_, pass)) => !is_placeholder(pass),
        None => false,
    }
}

/// A connection string (`Host=db;Password=…`, `redis:6379,password=…`, `Endpoint=…;Key=…`) that
/// carries a credential.
fn connection_string_secret(v: &str) -> bool {
    v.split([';', ',', '&', '?'])
        .filter_map(|part| part.split_once('='))
        .any(|(k, val)| {
            let k = k.trim().to_ascii_lowercase().replace([' ', '_'], "");
            let val = unquote(val);
            CONN_SECRET_PARTS.iter().any(|s| k == *s || k.ends_with(s)) && !is_placeholder(val)
        })
}

/// Whether `value`, assigned to `key`, must never be baked into an artifact: provider key
/// prefixes, JWTs, private keys, passwords in URLs and connection strings, and long high-entropy
/// values under keys named like secrets.
pub fn looks_like_secret(key: &str, value: &str) -> bool {
    let v = unquote(value);
    if v.is_empty() {
        return false;
    }
    if has_token_prefix(v) || v.contains("-----BEGIN") || url_with_password(v) {
        return true;
    }
    if connection_string_secret(v) {
        return true;
    }
    key_is_secretish(key) && !is_placeholder(v) && high_entropy(v)
}

/// Splits a config line into (key, value): `KEY=value`, `export KEY=value`, `key: value`,
/// `"key": "value",` (JSON/YAML). `None` for comments and lines without an assignment.
fn assignment(line: &str) -> Option<(&str, &str)> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') || line.starts_with(';') || line.starts_with("//") {
        return None;
    }
    let line = line.strip_prefix("export ").unwrap_or(line);
    let eq = line.find('=');
    let colon = line.find(':');
    let (k, v) = match (eq, colon) {
        (Some(e), Some(c)) if c < e => line.split_at(c),
        (Some(e), _) => line.split_at(e),
        (None, Some(c)) => line.split_at(c),
        (None, None) => return None,
    };
    let v = v[1..].trim().trim_end_matches(',');
    Some((unquote(k), v))
}

/// Scans a text file for secret-looking assignments and private keys. Binary content (a NUL in
/// the first 8 KiB) is not scanned. Returns the first finding.
pub fn scan_text(bytes: &[u8]) -> Option<Finding> {
    if bytes.iter().take(8192).any(|b| *b == 0) {
        return None;
    }
    let text = String::from_utf8_lossy(bytes);
    for (n, line) in text.lines().enumerate() {
        if line.contains("-----BEGIN") && line.contains("PRIVATE KEY") {
            return Some(Finding {
                line: n + 1,
                key: "a private key".into(),
            });
        }
        if let Some((k, v)) = assignment(line) {
            if looks_like_secret(k, v) {
                return Some(Finding {
                    line: n + 1,
                    key: k.to_string(),
                });
            }
        }
        // A bare provider token anywhere on the line (e.g. inside a command line).
        if line
            .split(|c: char| c.is_whitespace() || "\"'=,;:".contains(c))
            .any(has_token_prefix)
        {
            return Some(Finding {
                line: n + 1,
                key: "a provider token".into(),
            });
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognizes_provider_tokens_and_keys() {
        assert!(looks_like_secret(
            "OPENAI_KEY",
            "sk-abcdefghijklmnopqrstuvwxyz012345"
        ));
        assert!(looks_like_secret(
            "HomeAssistant__AccessToken",
            "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.abcdefghijk"
        ));
        assert!(looks_like_secret(
            "DASHBOARD_API_KEY",
            "Xq7Lm2Pz9Rt4Vw8Ys3Kb6Nc1"
        ));
        assert!(looks_like_secret(
            "Service__AccessToken",
            "Zq81vLm2Pz9Rt4Vw8Ys3"
        ));
    }

    #[test]
    fn distinctive_prefixes_need_no_entropy_generic_ones_do() {
        assert!(looks_like_secret("X", "AKIAQWERTYUIOPASDFGHJ"));
        assert!(looks_like_secret(
            "X",
            "ghp_0123456789abcdefABCDEF0123456789abcd"
        ));
        assert!(!looks_like_secret("NOTE", "sk-not-a-real-assignment"));
        assert!(scan_text(b"# see sk-not-a-real-assignment\n").is_none());
    }

    #[test]
    fn recognizes_connection_strings() {
        assert!(looks_like_secret(
            "ConnectionStrings__chat",
            "Endpoint=https://api.example.net/v1;AccessKey=Zq81vLm2Pz9Rt4Vw8Ys3;Model=gpt"
        ));
        assert!(looks_like_secret(
            "ConnectionStrings__redis",
            "redis:6379,password=hunter2hunter2"
        ));
        assert!(looks_like_secret(
            "Db",
            "Host=db;Username=app;Password=s3cr3t-pass"
        ));
        assert!(looks_like_secret(
            "DATABASE_URL",
            "postgres://app:s3cr3tpw@db:5432/app"
        ));
        assert!(looks_like_secret(
            "org.example.source",
            "https://bot:ghp_abcdefghijklmnopqrstuvwxyz0123@git.example.org/x"
        ));
    }

    #[test]
    fn leaves_configuration_and_placeholders_alone() {
        for (k, v) in [
            ("ASPNETCORE_URLS", "http://+:8080"),
            (
                "HomeAssistant__AccessToken",
                "<your long-lived access token>",
            ),
            ("DataProvider__SqlitePath", "/var/lib/lucia/lucia.db"),
            (
                "ConnectionStrings__redis",
                "redis:6379,password=${REDIS_PASSWORD}",
            ),
            (
                "ConnectionStrings__chat",
                "Endpoint=http://ollama:11434;Model=llama3",
            ),
            ("DATABASE_URL", "postgres://app@db:5432/app"),
            ("DATABASE_URL", "postgres://app:<password>@db:5432/app"),
            (
                "org.opencontainers.image.source",
                "https://github.com/example/app",
            ),
            ("KeyboardLayout", "us"),
            ("TOKEN", ""),
        ] {
            assert!(!looks_like_secret(k, v), "{k}={v}");
        }
    }

    #[test]
    fn scans_text_without_returning_the_value() {
        let text = b"# comment with sk-not-a-real-assignment\nLOG_LEVEL=info\nOPENAI_API_KEY=sk-abcdefghijklmnopqrstuvwxyz012345\n";
        let f = scan_text(text).unwrap();
        assert_eq!(f.line, 3);
        assert_eq!(f.key, "OPENAI_API_KEY");
        assert!(!format!("{f:?}").contains("sk-abc"));

        let json =
            br#"{ "ConnectionStrings": { "Redis": "localhost:6379,password=hunter2hunter2" } }"#;
        assert_eq!(scan_text(json).unwrap().line, 1, "one-line JSON");
        let json = b"{\n  \"Redis\": \"localhost:6379,password=hunter2hunter2\",\n}\n";
        assert_eq!(scan_text(json).unwrap().line, 2);

        assert_eq!(
            scan_text(b"x\n-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n")
                .unwrap()
                .line,
            2
        );
        assert!(scan_text(b"\x7fELF\0\0sk-abcdefghijklmnopqrstuvwxyz012345").is_none());
        assert!(scan_text(b"ExecStart=/opt/x/run --listen :8080\nUser=x\n").is_none());
    }
}
