//! The rules that make every artifact a pure function of its inputs: one source date, explicit
//! modes and owners, and date formatting that never consults the local timezone or locale.

/// 1980-01-01T00:00:00Z: the fallback source date when neither `SOURCE_DATE_EPOCH` nor the manifest
/// gives one (the earliest date every archive format we write, zip included, can represent).
pub const DEFAULT_SOURCE_DATE: u64 = 315_532_800;

pub const DIR_MODE: u32 = 0o755;
pub const FILE_MODE: u32 = 0o644;
pub const EXEC_MODE: u32 = 0o755;
pub const SYMLINK_MODE: u32 = 0o777;

/// Where the build's source date came from (recorded in build-info.json).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceDateOrigin {
    Environment,
    Manifest,
    Default,
}

impl SourceDateOrigin {
    pub fn as_str(self) -> &'static str {
        match self {
            SourceDateOrigin::Environment => "SOURCE_DATE_EPOCH",
            SourceDateOrigin::Manifest => "manifest",
            SourceDateOrigin::Default => "default",
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("SOURCE_DATE_EPOCH=`{0}` is not a whole number of seconds since 1970 (e.g. SOURCE_DATE_EPOCH=1767225600)")]
pub struct BadSourceDate(pub String);

/// `SOURCE_DATE_EPOCH` (if set and non-empty) wins, then the manifest's value, then the fixed default.
pub fn resolve_source_date(
    env: Option<&str>,
    manifest: Option<u64>,
) -> Result<(u64, SourceDateOrigin), BadSourceDate> {
    if let Some(v) = env.map(str::trim).filter(|v| !v.is_empty()) {
        let n: u64 = v.parse().map_err(|_| BadSourceDate(v.to_string()))?;
        // The tar and rpm headers we write hold at most 2^32-1 seconds (year 2106).
        if n > u32::MAX as u64 {
            return Err(BadSourceDate(v.to_string()));
        }
        return Ok((n, SourceDateOrigin::Environment));
    }
    Ok(match manifest {
        Some(n) => (n, SourceDateOrigin::Manifest),
        None => (DEFAULT_SOURCE_DATE, SourceDateOrigin::Default),
    })
}

/// Civil date from days since 1970-01-01 (Howard Hinnant's algorithm), proleptic Gregorian, UTC.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Days since 1970-01-01 of a civil date (inverse of [`civil_from_days`]).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = m as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

struct Utc {
    y: i64,
    mo: u32,
    d: u32,
    h: u64,
    mi: u64,
    s: u64,
    weekday: usize,
}

fn utc(secs: u64) -> Utc {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (y, mo, d) = civil_from_days(days);
    // 1970-01-01 was a Thursday.
    let weekday = ((days + 4).rem_euclid(7)) as usize;
    Utc {
        y,
        mo,
        d,
        h: rem / 3600,
        mi: rem % 3600 / 60,
        s: rem % 60,
        weekday,
    }
}

/// `2026-01-01T00:00:00Z`
pub fn rfc3339(secs: u64) -> String {
    let t = utc(secs);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        t.y, t.mo, t.d, t.h, t.mi, t.s
    )
}

/// `Thu, 01 Jan 2026 00:00:00 +0000` (Debian changelog trailer; English names regardless of locale).
pub fn rfc2822(secs: u64) -> String {
    const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let t = utc(secs);
    format!(
        "{}, {:02} {} {:04} {:02}:{:02}:{:02} +0000",
        DAYS[t.weekday],
        t.d,
        MONTHS[(t.mo - 1) as usize],
        t.y,
        t.h,
        t.mi,
        t.s
    )
}

/// `Thu Jan 01 2026` (rpm %changelog date line).
pub fn rpm_changelog_date(secs: u64) -> String {
    let full = rfc2822(secs);
    // "Thu, 01 Jan 2026 ..." -> "Thu Jan 01 2026"
    let parts: Vec<&str> = full.split([',', ' ']).filter(|s| !s.is_empty()).collect();
    format!("{} {} {} {}", parts[0], parts[2], parts[1], parts[3])
}

/// Parses `YYYY-MM-DD` or `YYYY-MM-DDTHH:MM:SSZ` (UTC) into seconds since the epoch.
pub fn parse_utc_date(s: &str) -> Option<u64> {
    let (date, time) = match s.split_once('T') {
        Some((d, t)) => (d, Some(t.strip_suffix('Z')?)),
        None => (s, None),
    };
    let mut it = date.split('-');
    let y: i64 = it.next()?.parse().ok()?;
    let m: u32 = it.next()?.parse().ok()?;
    let d: u32 = it.next()?.parse().ok()?;
    if it.next().is_some() || !(1..=12).contains(&m) || !(1..=31).contains(&d) || y < 1970 {
        return None;
    }
    let days = days_from_civil(y, m, d);
    if civil_from_days(days) != (y, m, d) {
        return None; // e.g. 2026-02-30
    }
    let mut secs = days as u64 * 86_400;
    if let Some(t) = time {
        let mut it = t.split(':');
        let h: u64 = it.next()?.parse().ok()?;
        let mi: u64 = it.next()?.parse().ok()?;
        let sec: u64 = it.next()?.parse().ok()?;
        if it.next().is_some() || h > 23 || mi > 59 || sec > 59 {
            return None;
        }
        secs += h * 3600 + mi * 60 + sec;
    }
    Some(secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_date_precedence() {
        assert_eq!(
            resolve_source_date(Some("1700000000"), Some(5)).unwrap(),
            (1_700_000_000, SourceDateOrigin::Environment)
        );
        assert_eq!(
            resolve_source_date(Some(""), Some(5)).unwrap(),
            (5, SourceDateOrigin::Manifest)
        );
        assert_eq!(
            resolve_source_date(None, None).unwrap(),
            (DEFAULT_SOURCE_DATE, SourceDateOrigin::Default)
        );
        assert!(resolve_source_date(Some("yesterday"), None).is_err());
        assert!(resolve_source_date(Some("-5"), None).is_err());
    }

    #[test]
    fn formats_dates_in_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(rfc2822(1_700_000_000), "Tue, 14 Nov 2023 22:13:20 +0000");
        assert_eq!(rpm_changelog_date(1_700_000_000), "Tue Nov 14 2023");
        assert_eq!(rfc3339(DEFAULT_SOURCE_DATE), "1980-01-01T00:00:00Z");
        assert_eq!(parse_utc_date("2023-11-14T22:13:20Z"), Some(1_700_000_000));
        assert_eq!(parse_utc_date("2024-02-29"), Some(1_709_164_800));
        assert_eq!(parse_utc_date("2026-02-30"), None);
        assert_eq!(parse_utc_date("2026-13-01"), None);
        assert_eq!(parse_utc_date("nope"), None);
    }
}
