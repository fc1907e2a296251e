//! The detector task: one tokio task that, every `interval`, runs `Gavel::detect` on the blocking
//! pool until it has caught up with the log (see `gavel_core::detectors` for what is detected and
//! how the cursor makes it exactly-once).
//!
//! Invariants:
//! * it never runs on the decide path: `decide` only appends decisions, and a slow detector only
//!   delays detections, never decisions;
//! * one call of `detect` is in flight at a time; a failed call (e.g. a compare-and-set conflict
//!   with another process) is retried on the next tick from the stored cursor;
//! * at shutdown the loop stops after the call in flight has committed;
//! * the task owns what the detectors remember between events (`gavel_core::detectors::Detector`,
//!   one per process, lent to each call); a call that panics takes it along, and the next call
//!   starts from a fresh one, which reads what it lacks from the store (same detections).

use crate::background::{Background, Lease};
use crate::metrics::Metrics;
use gavel_core::detectors::Detector;
use gavel_core::Gavel;
use std::sync::Arc;
use std::time::Duration;

/// Tunables of the detector task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DetectorConfig {
    /// How often the log is looked at when idle.
    pub interval: Duration,
    /// At most this many events scanned per call.
    pub max_scan: u64,
}

impl Default for DetectorConfig {
    fn default() -> Self {
        DetectorConfig { interval: Duration::from_millis(250), max_scan: 5_000 }
    }
}

/// Starts the detector task on the current runtime, counting its work in `metrics`;
/// [`Background::stop`] ends it cleanly.
/// They run on the replica holding the `detectors` lease; `here` follows whether this one does.
pub fn start(
    gavel: Arc<Gavel>,
    config: DetectorConfig,
    metrics: Arc<Metrics>,
    here: Arc<std::sync::atomic::AtomicBool>,
) -> Background {
    let lease = Lease { gavel: gavel.clone(), name: "detectors", held: here };
    Background::start_leased(config.interval, lease, move |mut ticks| async move {
        // Position past events that raised nothing (not stored: the next start rescans them).
        let mut position = 0u64;
        let mut detector = Detector::default();
        while ticks.next().await {
            loop {
                if ticks.stopping() {
                    return;
                }
                let g = gavel.clone();
                let max_scan = config.max_scan;
                let mut lent = std::mem::take(&mut detector);
                let round = tokio::task::spawn_blocking(move || {
                    let result = g.detect(&mut lent, position, max_scan);
                    (lent, result)
                });
                let result = round.await.map(|(returned, result)| {
                    detector = returned;
                    result
                });
                match result {
                    Ok(Ok(progress)) => {
                        position = progress.position;
                        metrics.detections.inc_by(progress.raised as u64);
                        metrics.detector_incident_events.inc_by(progress.incident_events as u64);
                        metrics.detector_position.set(position);
                        if progress.caught_up {
                            break;
                        }
                    }
                    Ok(Err(e)) => {
                        tracing::warn!(error = %e, "detectors: round failed; retrying from the stored cursor");
                        break;
                    }
                    Err(_) => break,
                }
            }
        }
    })
}
