//! Time for the log. Every event's `time` comes from a [`Clock`] the caller is given, so tests and
//! demos can simulate long observation windows; the wire form is RFC 3339 UTC with exactly six
//! fractional digits and a `Z` suffix.

use std::sync::Mutex;
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime, UtcOffset};

/// A source of the current time.
pub trait Clock: Send + Sync {
    fn now(&self) -> OffsetDateTime;
}

/// The operating system's wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}

/// A clock that only moves when told to: for tests and simulations.
#[derive(Debug)]
pub struct ManualClock(Mutex<OffsetDateTime>);

impl ManualClock {
    pub fn new(start: OffsetDateTime) -> Self {
        Self(Mutex::new(start))
    }

    pub fn advance(&self, by: Duration) {
        let mut t = self.0.lock().unwrap_or_else(|p| p.into_inner());
        *t += by;
    }

    pub fn set(&self, to: OffsetDateTime) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = to;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> OffsetDateTime {
        *self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Formats a time as the log writes it: `2026-11-29T01:23:45.123456Z`.
pub fn format_time(t: OffsetDateTime) -> String {
    let t = t.to_offset(UtcOffset::UTC);
    let micros = t.microsecond();
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        micros
    )
}

/// Parses any RFC 3339 timestamp (used for query bounds and for reading events back).
pub fn parse_time(s: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(s, &Rfc3339).ok()
}

/// True when `s` is exactly in the log's canonical time form `YYYY-MM-DDTHH:MM:SS.ffffffZ`, i.e.
/// exactly what [`format_time`] produces for some instant. Checked byte by byte: verification
/// calls this once per event.
pub fn is_log_time(s: &str) -> bool {
    is_log_time_bytes(s.as_bytes())
}

/// [`is_log_time`] over raw bytes (verification checks the bytes between the quotes as they are
/// stored; anything that passes is ASCII).
pub fn is_log_time_bytes(b: &[u8]) -> bool {
    if b.len() != 27 {
        return false;
    }
    let layout_ok = b.iter().enumerate().all(|(i, &c)| match i {
        4 | 7 => c == b'-',
        10 => c == b'T',
        13 | 16 => c == b':',
        19 => c == b'.',
        26 => c == b'Z',
        _ => c.is_ascii_digit(),
    });
    if !layout_ok {
        return false;
    }
    let num = |r: std::ops::Range<usize>| b[r].iter().fold(0u32, |n, &c| n * 10 + u32::from(c - b'0'));
    let (year, month, day) = (num(0..4), num(5..7), num(8..10));
    let (hour, minute, second) = (num(11..13), num(14..16), num(17..19));
    let date_ok = u8::try_from(month)
        .ok()
        .and_then(|m| time::Month::try_from(m).ok())
        .zip(u8::try_from(day).ok())
        .is_some_and(|(m, d)| time::Date::from_calendar_date(year as i32, m, d).is_ok());
    date_ok && hour < 24 && minute < 60 && second < 60
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn formats_with_microseconds_and_z() {
        let t = datetime!(2026-11-29 01:02:03.456789123 UTC);
        assert_eq!(format_time(t), "2026-11-29T01:02:03.456789Z");
        let t = datetime!(2026-01-01 00:00:00 +02:00);
        assert_eq!(format_time(t), "2025-12-31T22:00:00.000000Z");
    }

    #[test]
    fn log_time_form_is_strict() {
        assert!(is_log_time("2026-11-29T01:02:03.456789Z"));
        assert!(!is_log_time("2026-11-29T01:02:03Z"));
        assert!(!is_log_time("2026-11-29T01:02:03.456789+00:00"));
        assert!(!is_log_time("not a time"));
        assert!(!is_log_time("2026-02-29T01:02:03.456789Z"), "not a leap year");
        assert!(is_log_time("2028-02-29T01:02:03.456789Z"));
        for bad in [
            "2026-13-01T00:00:00.000000Z",
            "2026-00-01T00:00:00.000000Z",
            "2026-04-31T00:00:00.000000Z",
            "2026-01-01T24:00:00.000000Z",
            "2026-01-01T00:60:00.000000Z",
            "2026-01-01T00:00:60.000000Z",
            "2026-01-01 00:00:00.000000Z",
            "2026-01-01T00:00:00.000000z",
        ] {
            assert!(!is_log_time(bad), "{bad}");
        }
    }

    #[test]
    fn every_formatted_time_is_a_log_time() {
        let mut t = time::macros::datetime!(1999-12-31 23:59:59.999999 UTC);
        for _ in 0..2000 {
            assert!(is_log_time(&format_time(t)), "{}", format_time(t));
            t += Duration::seconds(86_413) + Duration::microseconds(7_654_321);
        }
    }

    #[test]
    fn manual_clock_moves_only_when_told() {
        let c = ManualClock::new(datetime!(2026-01-01 00:00 UTC));
        assert_eq!(c.now(), c.now());
        c.advance(Duration::days(120));
        assert_eq!(c.now(), datetime!(2026-05-01 00:00 UTC));
    }
}
