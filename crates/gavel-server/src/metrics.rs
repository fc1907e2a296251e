//! Prometheus metrics: decisions by outcome, decide latency, log entries, append latency, the
//! detectors' progress, the WAL's size, and readiness (`gavel_ready`, one `gavel_ready_check` per
//! check).
//!
//! The registry is the `prometheus-client` crate's, which writes the OpenMetrics 1.0.0 text
//! format. `/metrics` negotiates on `Accept` ([`Format::negotiate`]): a scraper that asks for
//! `application/openmetrics-text; version=1.0.0` gets that exposition as the crate writes it (a
//! counter family `gavel_decisions` with samples `gavel_decisions_total`, `# UNIT` lines for the
//! families named in seconds and bytes, `# EOF`); anyone else gets the Prometheus text format
//! 0.0.4 ([`to_prometheus_text`]), derived from the same exposition line by line.
//!
//! Invariants: every family has a `# HELP` and a `# TYPE` in both formats (a test parses both with
//! the Python `prometheus_client` parsers, strict OpenMetrics for the first); the body always
//! matches the content type it is served with; a family with a unit is named with that unit as
//! its suffix (OpenMetrics requires it; the crate appends it), and unitless counts say what they
//! count (`gavel_log_entries`).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::{Registry, Unit};
use std::sync::atomic::AtomicU64;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DecisionLabels {
    pub outcome: String,
    pub enforced: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReadyCheckLabels {
    /// `commit`, `detectors`, `disk` or `wal` (see `readiness`).
    pub check: String,
}

pub struct Metrics {
    registry: Registry,
    pub decisions: Family<DecisionLabels, Counter>,
    pub decide_latency: Histogram,
    pub append_latency: Histogram,
    /// Entries (events) in the log, set at every scrape and readiness evaluation.
    pub log_entries: Gauge<u64, AtomicU64>,
    pub decide_unavailable: Counter,
    /// `detection.raised` events the detector task of this process recorded.
    pub detections: Counter,
    /// `incident.opened` / `incident.linked` events the detector task recorded.
    pub detector_incident_events: Counter,
    /// Every event below this seq has been examined by the detectors (compare with `log_entries`).
    pub detector_position: Gauge<u64, AtomicU64>,
    /// 1 when every readiness check passes (what `/readyz` answers 200 for), else 0.
    pub ready: Gauge,
    /// 1 per passing readiness check, 0 per failing one.
    pub ready_check: Family<ReadyCheckLabels, Gauge>,
    /// Free bytes (for unprivileged users) on the data directory's filesystem.
    pub data_dir_free_bytes: Gauge<u64, AtomicU64>,
    /// Size of the database's write-ahead log after the last commit (readiness wal check).
    pub wal_bytes: Gauge<u64, AtomicU64>,
    /// The tree size of the last signed checkpoint uploaded to S3 (`checkpoint_upload`).
    pub checkpoint_upload_tree_size: Gauge<u64, AtomicU64>,
    /// Passes of the checkpoint uploader that failed (each is retried).
    pub checkpoint_upload_failures: Counter,
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("gavel");
        let decisions = Family::<DecisionLabels, Counter>::default();
        // 50 us .. ~3 s
        let decide_latency = Histogram::new(exponential_buckets(0.00005, 2.0, 16));
        let append_latency = Histogram::new(exponential_buckets(0.00005, 2.0, 16));
        let log_entries = Gauge::<u64, AtomicU64>::default();
        let decide_unavailable = Counter::default();
        let detections = Counter::default();
        let detector_incident_events = Counter::default();
        let detector_position = Gauge::<u64, AtomicU64>::default();
        let ready = Gauge::default();
        let ready_check = Family::<ReadyCheckLabels, Gauge>::default();
        let data_dir_free_bytes = Gauge::<u64, AtomicU64>::default();
        let wal_bytes = Gauge::<u64, AtomicU64>::default();
        let checkpoint_upload_tree_size = Gauge::<u64, AtomicU64>::default();
        let checkpoint_upload_failures = Counter::default();
        registry.register("decisions", "Tool-call decisions recorded, by outcome", decisions.clone());
        registry.register_with_unit(
            "decide_latency",
            "Time to decide and durably record one tool call",
            Unit::Seconds,
            decide_latency.clone(),
        );
        registry.register_with_unit(
            "append_latency",
            "Time for one durable log append (group commit)",
            Unit::Seconds,
            append_latency.clone(),
        );
        registry.register("log_entries", "Entries (events) in the tamper-evident log", log_entries.clone());
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
            "Log events examined by the detectors (gavel_log_entries minus this is their lag)",
            detector_position.clone(),
        );
        registry.register(
            "ready",
            "1 when the server is ready (/readyz answers 200): the log commits, the detectors keep up, the disk has room, the WAL is bounded",
            ready.clone(),
        );
        registry.register(
            "ready_check",
            "1 per passing readiness check, 0 per failing one (check = commit | detectors | disk | wal)",
            ready_check.clone(),
        );
        registry.register_with_unit(
            "data_dir_free",
            "Free bytes for unprivileged users on the data directory's filesystem (readiness disk check)",
            Unit::Bytes,
            data_dir_free_bytes.clone(),
        );
        registry.register_with_unit(
            "wal",
            "Size of the database's write-ahead log file after the last commit (readiness wal check)",
            Unit::Bytes,
            wal_bytes.clone(),
        );
        registry.register(
            "checkpoint_upload_tree_size",
            "Tree size of the last signed checkpoint uploaded to S3 (0 until one is; compare with gavel_log_entries)",
            checkpoint_upload_tree_size.clone(),
        );
        registry.register(
            "checkpoint_upload_failures",
            "Failed passes of the signed-checkpoint upload to S3 (each is retried after a backoff)",
            checkpoint_upload_failures.clone(),
        );
        Metrics {
            registry,
            decisions,
            decide_latency,
            append_latency,
            log_entries,
            decide_unavailable,
            detections,
            detector_incident_events,
            detector_position,
            ready,
            ready_check,
            data_dir_free_bytes,
            wal_bytes,
            checkpoint_upload_tree_size,
            checkpoint_upload_failures,
        }
    }

    /// The exposition in `format`.
    pub fn encode(&self, format: Format) -> String {
        let open_metrics = self.encode_openmetrics();
        match format {
            Format::OpenMetrics => open_metrics,
            Format::PrometheusText => to_prometheus_text(&open_metrics),
        }
    }

    /// The OpenMetrics 1.0.0 text exposition, `# EOF` included, as the crate writes it.
    fn encode_openmetrics(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            // Writing to a String cannot fail; an empty exposition is still a valid one.
            out.clear();
            out.push_str("# EOF\n");
        }
        out
    }
}

/// The two text formats `/metrics` serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// OpenMetrics 1.0.0 (`application/openmetrics-text; version=1.0.0`).
    OpenMetrics,
    /// The Prometheus text format 0.0.4 (`text/plain; version=0.0.4`).
    PrometheusText,
}

impl Format {
    /// The `Content-Type` of a body in this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
            Format::PrometheusText => "text/plain; version=0.0.4; charset=utf-8",
        }
    }

    /// The format to answer an `Accept` header with, as Prometheus's own client libraries
    /// negotiate: the media ranges are taken by decreasing quality (in header order on ties), and
    /// the first that names one of the two formats wins — `application/openmetrics-text` with
    /// `version=1.0.0` or no version, or `text/plain` with `version=0.0.4` or no version. A range
    /// with `q=0` is refused, not accepted. Anything else (no header, `*/*`, an OpenMetrics
    /// version this body is not) gets the Prometheus text format, which every scraper reads.
    pub fn negotiate(accept: Option<&str>) -> Format {
        let Some(accept) = accept else { return Format::PrometheusText };
        let mut ranges: Vec<(f64, usize, Option<Format>)> = Vec::new();
        for (i, range) in accept.split(',').enumerate() {
            let mut parts = range.split(';').map(str::trim);
            let media = parts.next().unwrap_or_default().to_ascii_lowercase();
            let (mut q, mut version) = (1.0f64, None);
            for param in parts {
                let Some((k, v)) = param.split_once('=') else { continue };
                let v = v.trim().trim_matches('"');
                match k.trim().to_ascii_lowercase().as_str() {
                    "q" => q = v.parse().ok().filter(|q: &f64| (0.0..=1.0).contains(q)).unwrap_or(0.0),
                    "version" => version = Some(v.to_string()),
                    _ => {}
                }
            }
            let format = match (media.as_str(), version.as_deref()) {
                ("application/openmetrics-text", None | Some("1.0.0")) => Some(Format::OpenMetrics),
                ("text/plain", None | Some("0.0.4")) => Some(Format::PrometheusText),
                _ => None,
            };
            if q > 0.0 {
                ranges.push((q, i, format));
            }
        }
        ranges.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        ranges.into_iter().find_map(|(_, _, f)| f).unwrap_or(Format::PrometheusText)
    }
}

/// The Prometheus text format 0.0.4 of an OpenMetrics text exposition written by the
/// `prometheus-client` crate (`# HELP`, `# TYPE`, an optional `# UNIT`, then the samples of each
/// family; `# EOF` last). The two formats differ, for what the crate writes, in three places:
/// * a counter family is named after its samples in 0.0.4: `# HELP`/`# TYPE gavel_decisions_total
///   counter` for the samples `gavel_decisions_total` (OpenMetrics names the family
///   `gavel_decisions`); left as it was, 0.0.4 readers see a counter without HELP or TYPE;
/// * 0.0.4 has no `# UNIT` (the unit stays in the family name) and no `# EOF`;
/// * OpenMetrics-only types (`info`, `stateset`, `gaugehistogram`, `unknown`) would be
///   `untyped`; gavel registers none of them (a test holds the registry to counters, gauges and
///   histograms).
///
/// Sample lines (names, labels, values) are written the same way in both formats.
pub fn to_prometheus_text(open_metrics: &str) -> String {
    let mut out = String::with_capacity(open_metrics.len());
    let mut help: Option<(&str, &str)> = None;
    for line in open_metrics.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, text) = rest.split_once(' ').unwrap_or((rest, ""));
            help = Some((name, text));
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap_or((rest, "unknown"));
            let (family, kind) = match kind {
                "counter" => (format!("{name}_total"), "counter"),
                "gauge" | "histogram" | "summary" => (name.to_string(), kind),
                _ => (name.to_string(), "untyped"),
            };
            if let Some((_, text)) = help.take().filter(|(n, _)| *n == name) {
                out.push_str(&format!("# HELP {family} {text}\n"));
            }
            out.push_str(&format!("# TYPE {family} {kind}\n"));
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_headers_pick_the_format_a_scraper_asked_for() {
        use Format::*;
        let cases = [
            (None, PrometheusText),
            (Some("*/*"), PrometheusText),
            (Some("text/plain"), PrometheusText),
            (Some("application/openmetrics-text"), OpenMetrics),
            // Prometheus 2.x.
            (
                Some(
                    "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,\
                     text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
                ),
                OpenMetrics,
            ),
            // Prometheus 3.x, with its escaping parameter.
            (
                Some(
                    "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,\
                     application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,\
                     text/plain;version=0.0.4;q=0.3,*/*;q=0.2",
                ),
                OpenMetrics,
            ),
            // A scraper configured for the classic format.
            (Some("text/plain;version=0.0.4;q=1,application/openmetrics-text;q=0.5"), PrometheusText),
            (Some("application/openmetrics-text; version=1.0.0; q=0"), PrometheusText),
            (Some("application/openmetrics-text;version=0.0.1"), PrometheusText),
            (Some("application/OpenMetrics-Text; Version=\"1.0.0\""), OpenMetrics),
            (Some("text/html, application/json"), PrometheusText),
        ];
        for (accept, want) in cases {
            assert_eq!(Format::negotiate(accept), want, "{accept:?}");
        }
    }

    #[test]
    fn both_expositions_name_help_and_type_every_family() {
        let m = Metrics::new();
        m.decisions.get_or_create(&DecisionLabels { outcome: "allow".into(), enforced: "true".into() }).inc();
        m.decide_latency.observe(0.001);
        let om = m.encode(Format::OpenMetrics);
        assert!(om.ends_with("# EOF\n"), "{om}");
        assert!(om.contains("# TYPE gavel_decisions counter\n"), "{om}");
        assert!(om.contains("# UNIT gavel_decide_latency_seconds seconds\n"), "{om}");
        assert!(om.contains("# UNIT gavel_data_dir_free_bytes bytes\n"), "{om}");
        let text = m.encode(Format::PrometheusText);
        assert!(!text.contains("# EOF") && !text.contains("# UNIT"), "{text}");
        assert!(text.contains("# HELP gavel_decisions_total Tool-call decisions"), "{text}");
        assert!(text.contains("# TYPE gavel_decisions_total counter\n"), "{text}");
        assert!(text.contains("gavel_decisions_total{outcome=\"allow\",enforced=\"true\"} 1\n"), "{text}");
        assert!(text.contains("# TYPE gavel_decide_latency_seconds histogram\n"), "{text}");
        assert!(text.contains("# HELP gavel_log_entries "), "{text}");
        // Every family: HELP then TYPE, in both; only the types both formats share.
        for body in [&om, &text] {
            let lines: Vec<&str> = body.lines().collect();
            for (i, l) in lines.iter().enumerate() {
                if let Some(rest) = l.strip_prefix("# TYPE ") {
                    let (name, kind) = rest.split_once(' ').unwrap();
                    assert!(["counter", "gauge", "histogram"].contains(&kind), "{l}");
                    let help = lines[i - 1].strip_prefix("# HELP ").unwrap_or_else(|| panic!("{l}: no HELP"));
                    let (help_name, text) = help.split_once(' ').unwrap();
                    assert_eq!(help_name, name);
                    // The crate writes HELP text unescaped: it must need no escaping.
                    assert!(!text.is_empty() && !text.contains(['\\', '"']), "{help}");
                }
            }
        }
        assert_eq!(om.matches("# TYPE ").count(), text.matches("# TYPE ").count());
    }
}
