//! prov9's own settings in DataFusion's configuration, set per session with `SET prov9.…`.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use datafusion::common::config::{ConfigExtension, ConfigOptions};

datafusion::common::extensions_options! {
    /// prov9's settings in DataFusion's configuration (`SET prov9.max_recursion_depth = 500`).
    pub struct Prov9Options {
        /// Hops a recursive query may take before it is stopped with an error.
        pub max_recursion_depth: usize, default = 10_000
        /// Read the warehouse as it was at this time (commit time, RFC 3339 or
        /// `YYYY-MM-DD[ HH:MM:SS]`, UTC unless a zone is given); unset: now.
        pub as_of: Option<String>, default = None
    }
}

impl ConfigExtension for Prov9Options {
    const PREFIX: &'static str = "prov9";
}

impl Prov9Options {
    /// Whether a session reads the past (`prov9.as_of` is set).
    pub fn travels(config: &ConfigOptions) -> bool {
        config
            .extensions
            .get::<Prov9Options>()
            .is_some_and(|o| o.as_of.as_deref().is_some_and(|t| !t.trim().is_empty()))
    }

    /// The time `prov9.as_of` names, if set.
    pub fn as_of(config: &ConfigOptions) -> Result<Option<DateTime<Utc>>, String> {
        match config
            .extensions
            .get::<Prov9Options>()
            .and_then(|o| o.as_of.as_deref())
        {
            Some(text) if !text.trim().is_empty() => parse_time(text).map(Some),
            _ => Ok(None),
        }
    }
}

/// A time as users write it: RFC 3339 (`2026-11-02T00:00:00Z`, any offset),
/// `YYYY-MM-DD HH:MM:SS[.f]` / `YYYY-MM-DD` in UTC, or relative to now: `10 minutes ago`
/// (seconds, minutes, hours, days, weeks; `s`, `min`, `h`, `d`, `w`).
pub fn parse_time(text: &str) -> Result<DateTime<Utc>, String> {
    let text = text.trim();
    if let Some(t) = parse_ago(text) {
        return Ok(t);
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&Utc));
    }
    for format in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(text, format) {
            return Ok(t.and_utc());
        }
    }
    if let Ok(d) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Ok(d.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc());
    }
    Err(format!(
        "invalid prov9.as_of {text:?}: expected a time like 2026-11-02T00:00:00Z, 2026-11-02 00:00:00 or 10 minutes ago"
    ))
}

/// A time to travel to, as it is kept: the text as written, or for a relative time
/// (`1 hour ago`) the moment it names now, so that it does not move while it is set.
pub fn resolve_time(text: &str) -> Result<String, String> {
    let time = parse_time(text)?;
    Ok(if parse_ago(text.trim()).is_some() {
        time.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    } else {
        text.trim().to_string()
    })
}

/// `N UNIT ago`.
fn parse_ago(text: &str) -> Option<DateTime<Utc>> {
    let amount = text.strip_suffix("ago")?.trim();
    let split = amount.find(|c: char| !c.is_ascii_digit())?;
    let (n, unit) = amount.split_at(split);
    let seconds: i64 = match unit.trim().trim_end_matches('s') {
        "" | "sec" | "second" => 1,
        "min" | "minute" => 60,
        "h" | "hour" => 3600,
        "d" | "day" => 86_400,
        "w" | "week" => 604_800,
        _ => return None,
    };
    let back = n.parse::<i64>().ok()?.checked_mul(seconds)?;
    Utc::now().checked_sub_signed(chrono::Duration::try_seconds(back)?)
}

#[cfg(test)]
mod tests {
    use super::parse_time;

    #[test]
    fn times_parse_as_users_write_them() {
        let utc = |s: &str| parse_time(s).unwrap().to_rfc3339();
        assert_eq!(utc("2026-11-02T00:00:00Z"), "2026-11-02T00:00:00+00:00");
        assert_eq!(
            utc("2026-11-02T02:00:00+02:00"),
            "2026-11-02T00:00:00+00:00"
        );
        assert_eq!(utc("2026-11-02 00:00:00"), "2026-11-02T00:00:00+00:00");
        assert_eq!(utc("2026-11-02"), "2026-11-02T00:00:00+00:00");
        assert!(parse_time("yesterday").unwrap_err().contains("prov9.as_of"));
        assert!(parse_time("5 fortnights ago").is_err());
    }

    #[test]
    fn relative_times_are_fixed_when_set() {
        let now = chrono::Utc::now();
        let ago = |s: &str| (now - parse_time(s).unwrap()).num_seconds();
        assert!(
            (3599..=3601).contains(&ago("1 hour ago")),
            "{}",
            ago("1 hour ago")
        );
        assert!((599..=601).contains(&ago("10min ago")));
        assert!((172_799..=172_801).contains(&ago("2 days ago")));
        assert!((29..=31).contains(&ago("30 seconds ago")));
        let kept = super::resolve_time("1 hour ago").unwrap();
        assert!(kept.ends_with('Z') && !kept.contains("ago"), "{kept}");
        assert_eq!(
            super::resolve_time(" 2026-11-02 ").unwrap(),
            "2026-11-02",
            "absolute times are kept as written"
        );
    }
}
