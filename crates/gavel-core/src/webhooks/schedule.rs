//! The retry schedule of webhook deliveries: the Standard Webhooks spec's delays (5 s, 5 min,
//! 30 min, 2 h, 5 h, 10 h, 14 h, 20 h, 24 h after the immediate first attempt), ±10% jitter, and
//! `Retry-After` honoured as a lower bound (at most 24 h).
//!
//! Invariants:
//! * [`retry_delay`] is pure: a function of the schedule, the attempt number, `Retry-After` and
//!   the jitter it is given (only [`random_jitter`] draws randomness);
//! * past the schedule's last step there is no next attempt: the delivery is `failed`.

use rand_core::{OsRng, RngCore};
use std::time::Duration;

/// The spec's retry schedule: delays before attempts 2..=10 (the first attempt is immediate).
pub fn spec_schedule() -> Vec<Duration> {
    [5, 300, 1_800, 7_200, 18_000, 36_000, 50_400, 72_000, 86_400].map(Duration::from_secs).to_vec()
}

/// The delay before the next attempt after attempt number `attempt` (1-based) failed, or `None`
/// when the schedule is exhausted. `jitter` in [-1, 1] scales ±10%; `Retry-After` is a lower bound.
pub fn retry_delay(
    schedule: &[Duration],
    attempt: u32,
    retry_after: Option<Duration>,
    jitter: f64,
) -> Option<Duration> {
    let base = *schedule.get(attempt.checked_sub(1)? as usize)?;
    let jittered = base.mul_f64(1.0 + 0.1 * jitter.clamp(-1.0, 1.0));
    Some(retry_after.map_or(jittered, |r| r.min(Duration::from_secs(86_400)).max(jittered)))
}

/// A uniformly random jitter factor in [-1, 1].
pub fn random_jitter() -> f64 {
    (OsRng.next_u32() as f64 / u32::MAX as f64) * 2.0 - 1.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_schedule_with_jitter_and_retry_after() {
        let s = spec_schedule();
        assert_eq!(s.len(), 9);
        assert_eq!(retry_delay(&s, 1, None, 0.0), Some(Duration::from_secs(5)));
        assert_eq!(retry_delay(&s, 2, None, 1.0), Some(Duration::from_secs(330)));
        assert_eq!(retry_delay(&s, 2, None, -1.0), Some(Duration::from_secs(270)));
        assert_eq!(retry_delay(&s, 9, None, 0.0), Some(Duration::from_secs(86_400)));
        assert_eq!(retry_delay(&s, 10, None, 0.0), None);
        assert_eq!(retry_delay(&s, 1, Some(Duration::from_secs(60)), 0.0), Some(Duration::from_secs(60)));
        assert_eq!(retry_delay(&s, 2, Some(Duration::from_secs(1)), 0.0), Some(Duration::from_secs(300)));
        for _ in 0..100 {
            let j = random_jitter();
            assert!((-1.0..=1.0).contains(&j));
        }
    }
}
