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

/// True when `s` is exactly in the log's canonical time form.
pub fn is_log_time(s: &str) -> bool {
    s.len() == 27 && parse_time(s).is_some_and(|t| format_time(t) == s)
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
    }

    #[test]
    fn manual_clock_moves_only_when_told() {
        let c = ManualClock::new(datetime!(2026-01-01 00:00 UTC));
        assert_eq!(c.now(), c.now());
        c.advance(Duration::days(120));
        assert_eq!(c.now(), datetime!(2026-05-01 00:00 UTC));
    }
}
