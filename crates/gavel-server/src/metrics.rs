//! Prometheus metrics: decisions by outcome, decide latency, log size, append latency, the
//! detectors' progress, and readiness (`gavel_ready`, one `gavel_ready_check` per check).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DecisionLabels {
    pub outcome: String,
    pub enforced: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReadyCheckLabels {
    /// `commit`, `detectors` or `disk` (see `readiness`).
    pub check: String,
}

pub struct Metrics {
    registry: Registry,
    pub decisions: Family<DecisionLabels, Counter>,
    pub decide_latency: Histogram,
    pub append_latency: Histogram,
    pub log_size: Gauge<u64, AtomicU64>,
    pub decide_unavailable: Counter,
    /// `detection.raised` events the detector task of this process recorded.
    pub detections: Counter,
    /// `incident.opened` / `incident.linked` events the detector task recorded.
    pub detector_incident_events: Counter,
    /// Every event below this seq has been examined by the detectors (compare with `log_size`).
    pub detector_position: Gauge<u64, AtomicU64>,
    /// 1 when every readiness check passes (what `/readyz` answers 200 for), else 0.
    pub ready: Gauge,
    /// 1 per passing readiness check, 0 per failing one.
    pub ready_check: Family<ReadyCheckLabels, Gauge>,
    /// Free bytes (for unprivileged users) on the data directory's filesystem.
    pub data_dir_free_bytes: Gauge<u64, AtomicU64>,
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("gavel");
        let decisions = Family::<DecisionLabels, Counter>::default();
        // 50 us .. ~3 s
        let decide_latency = Histogram::new(exponential_buckets(0.00005, 2.0, 16));
        let append_latency = Histogram::new(exponential_buckets(0.00005, 2.0, 16));
        let log_size = Gauge::<u64, AtomicU64>::default();
        let decide_unavailable = Counter::default();
        let detections = Counter::default();
        let detector_incident_events = Counter::default();
        let detector_position = Gauge::<u64, AtomicU64>::default();
        let ready = Gauge::default();
        let ready_check = Family::<ReadyCheckLabels, Gauge>::default();
        let data_dir_free_bytes = Gauge::<u64, AtomicU64>::default();
        registry.register("decisions", "Tool-call decisions recorded, by outcome", decisions.clone());
        registry.register(
            "decide_latency_seconds",
            "Time to decide and durably record one tool call",
            decide_latency.clone(),
        );
        registry.register(
            "append_latency_seconds",
            "Time for one durable log append (group commit)",
            append_latency.clone(),
        );
        registry.register("log_size", "Events in the tamper-evident log", log_size.clone());
        registry.register(
            "decide_unavailable",
            "Decide calls answered 503 because the log could not commit (agents must deny)",
            decide_unavailable.clone(),
        );
        registry.register(
            "detections",
            "Detections (deny spikes, secrets, injection, destructive commands, breaches, first tool use) recorded",
            detections.clone(),
        );
        registry.register(
            "detector_incident_events",
            "Incidents opened or linked by the detectors",
            detector_incident_events.clone(),
        );
        registry.register(
            "detector_position",
            "Log events examined by the detectors (log_size minus this is their lag)",
            detector_position.clone(),
        );
        registry.register(
            "ready",
            "1 when the server is ready (/readyz answers 200): the log commits, the detectors keep up, the disk has room",
            ready.clone(),
        );
        registry.register(
            "ready_check",
            "1 per passing readiness check, 0 per failing one (check = commit | detectors | disk)",
            ready_check.clone(),
        );
        registry.register(
            "data_dir_free_bytes",
            "Free bytes for unprivileged users on the data directory's filesystem (readiness disk check)",
            data_dir_free_bytes.clone(),
        );
        Metrics {
            registry,
            decisions,
            decide_latency,
            append_latency,
            log_size,
            decide_unavailable,
            detections,
            detector_incident_events,
            detector_position,
            ready,
            ready_check,
            data_dir_free_bytes,
        }
    }

    pub fn encode(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}
