//! Time as Unix milliseconds, the unit stored everywhere, and its RFC 3339 rendering.

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Milliseconds since the Unix epoch.
pub type Millis = i64;

/// The current time in milliseconds.
pub fn now_ms() -> Millis {
    (OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as Millis
}

/// Renders `ms` as `2026-11-28T12:00:00.000Z`, the form Svix clients parse.
pub fn to_rfc3339(ms: Millis) -> String {
    let dt = OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        dt.year(),
        dt.month() as u8,
        dt.day(),
        dt.hour(),
        dt.minute(),
        dt.second(),
        dt.millisecond()
    )
}

/// Parses an RFC 3339 timestamp (any offset) into milliseconds.
pub fn parse_rfc3339(s: &str) -> Option<Millis> {
    let dt = OffsetDateTime::parse(s, &Rfc3339).ok()?;
    Some((dt.unix_timestamp_nanos() / 1_000_000) as Millis)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_rfc3339() {
        let ms = 1_764_331_200_123;
        let s = to_rfc3339(ms);
        assert_eq!(s, "2025-11-28T12:00:00.123Z");
        assert_eq!(parse_rfc3339(&s), Some(ms));
        assert_eq!(parse_rfc3339("2025-11-28T13:00:00.123+01:00"), Some(ms));
        assert_eq!(parse_rfc3339("yesterday"), None);
    }
}
