//! The detector task: one tokio task that, every `interval`, runs `Gavel::detect` on the blocking
//! pool until it has caught up with the log (see `gavel_core::detectors` for what is detected and
//! how the cursor makes it exactly-once).
//!
//! Invariants:
//! * it never runs on the decide path: `decide` only appends decisions, and a slow detector only
//!   delays detections, never decisions;
//! * one call of `detect` is in flight at a time; a failed call (e.g. a compare-and-set conflict
//!   with another process) is retried on the next tick from the stored cursor;
//! * at shutdown the loop stops after the call in flight has committed.

use crate::background::Background;
use crate::metrics::Metrics;
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
pub fn start(gavel: Arc<Gavel>, config: DetectorConfig, metrics: Arc<Metrics>) -> Background {
    Background::start(config.interval, move |mut ticks| async move {
        // Position past events that raised nothing (not stored: the next start rescans them).
        let mut position = 0u64;
        while ticks.next().await {
            loop {
                if ticks.stopping() {
                    return;
                }
                let g = gavel.clone();
                let max_scan = config.max_scan;
                match tokio::task::spawn_blocking(move || g.detect(position, max_scan)).await {
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
