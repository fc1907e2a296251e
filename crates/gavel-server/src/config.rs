//! Server configuration: defaults, then `<data-dir>/gavel.toml` (or `--config FILE`), then
//! environment variables (`GAVEL_ADDR`, `GAVEL_CHECKPOINT_INTERVAL_SECS`), then flags.
//! Unknown keys in the file are an error, so a typo never silently falls back to a default; so is
//! a value outside its bounds (the message names the key and the bounds).

use serde::Deserialize;
use std::path::Path;

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Listen address.
    pub addr: String,
    /// Organisation name in the log origin `gavel.local/<org>` (fixed at first start).
    pub org: Option<String>,
    /// Seconds between signed checkpoints while the log grows.
    pub checkpoint_interval_secs: u64,
    /// Also write each newly signed checkpoint to `<dir>/checkpoint` (a C2SP note), e.g. on a
    /// mount the database's owner cannot rewrite; `gavel audit verify --checkpoint` checks a copy.
    pub checkpoint_publish_dir: Option<String>,
    /// Seconds a held call waits for a human before its approval request expires.
    pub approval_expiry_secs: u64,
    /// Let webhook endpoints target private, loopback or link-local addresses (off: SSRF guard).
    pub webhooks_allow_private: bool,
    /// Seconds the secret replaced by a webhook `rotate-secret` keeps signing beside the new one
    /// (both signatures are sent), so receivers can switch without rejecting deliveries. 0: none.
    pub webhook_secret_overlap_secs: u64,
    /// Deny-spike detector: this many policy denials of one agent within the window …
    pub deny_spike_threshold: u32,
    /// … of this many seconds (event times).
    pub deny_spike_window_secs: u64,
    /// Detections at or above this severity (low|medium|high|critical) open an incident; a deny
    /// spike always does.
    pub incident_min_severity: String,
    /// Seconds between runs of the retention purge (0: never run it automatically).
    pub retention_purge_interval_secs: u64,
    /// Seconds between scheduled soc2 readiness scans (0: only on request). Default weekly.
    pub compliance_scan_interval_secs: u64,
    /// Export the previous month's soc2 bundle on the 1st of each month into `<data-dir>/exports/`.
    pub monthly_export: bool,
    /// Also copy each monthly bundle into this directory.
    pub monthly_export_dir: Option<String>,
    /// Also upload each monthly bundle to this S3-compatible location, `s3://bucket/prefix`
    /// (credentials from the environment: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, …), and every
    /// signed checkpoint under `<prefix>/checkpoints/` (see `checkpoint_upload`).
    pub monthly_export_s3_url: Option<String>,
    /// The S3 endpoint for non-AWS storage (MinIO, …), e.g. `http://127.0.0.1:9000`.
    pub monthly_export_s3_endpoint: Option<String>,
    /// The bucket's region (default: AWS_REGION from the environment, else us-east-1).
    pub monthly_export_s3_region: Option<String>,
    /// Readiness scans report fewer enforcing policies than this as a finding.
    pub scan_min_active_policies: usize,
    /// Readiness scans report agent credentials older than this many days.
    pub scan_credential_max_age_days: u32,
    /// `/readyz`: with no commit for this many seconds, probe the log writer with a commit that
    /// appends nothing; a probe unanswered this long makes the server unready.
    pub ready_probe_interval_secs: u64,
    /// `/readyz`: unready when the detectors trail the log by more than this many events.
    pub ready_max_detector_lag: u64,
    /// `/readyz`: unready when the data directory's filesystem has less free space (MiB).
    pub ready_min_free_disk_mb: u64,
    /// Browsers reach the web console over HTTPS (a TLS proxy in front): its session cookie is
    /// marked `Secure`, so it is never sent over plain HTTP.
    pub console_secure_cookie: bool,
    /// `/readyz`: unready while the database's write-ahead log is larger than this (MiB); the store
    /// rewinds it past 64 MiB, so a larger one means readers kept it from doing so.
    pub ready_max_wal_mb: u64,
    /// Reverse proxies (CIDRs or addresses) whose `X-Forwarded-For` / `Forwarded: for=` name the
    /// client (see `client_addr`); from any other peer those headers are ignored.
    pub trusted_proxies: Vec<String>,
    /// The web console's base URL as people reach it, which notification messages link to
    /// (e.g. `https://gavel.example.com`). Default: `http://<addr>` (the address listened on).
    pub console_url: Option<String>,
    /// Seconds before a pending approval expires when its channels get one reminder.
    pub notify_remind_before_secs: u64,
    /// Where the log lives instead of `<data-dir>/gavel.db`: `postgres://user@host:port/db` for
    /// several replicas on one PostgreSQL (each replica with a copy of the same `keys/log.key`).
    /// `--database` and `GAVEL_DATABASE_URL` take precedence.
    pub database_url: Option<String>,
    /// The operator-tunable HTTP limits (`[limits]`).
    pub limits: Limits,
    /// `[gateway]`: the MCP gateway's named upstreams, read and checked by `gavel gateway`
    /// (gavel-gateway's `config`); accepted here so one file serves both, and read no further.
    #[serde(skip_serializing)]
    pub gateway: GatewayTable,
}

/// The `[gateway]` table, which belongs to `gavel gateway`: the server takes any content and keeps
/// none of it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GatewayTable;

impl<'de> Deserialize<'de> for GatewayTable {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        serde::de::IgnoredAny::deserialize(deserializer).map(|_| GatewayTable)
    }
}

/// `[limits]`: what a request may cost. Each key has bounds checked at start ([`Limits::check`]).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Largest request body on any route, in KiB (413 above; policy texts are the largest).
    pub max_body_kib: u64,
    /// Longest an approval long-poll (`?wait=`) may hold a connection, in seconds.
    pub approval_wait_max_secs: u64,
    /// Requests a minute from one client address over all routes that need no token (429 above).
    pub unauthenticated_per_minute: u32,
    /// Requests a minute through one share link, from all addresses together (429 above).
    pub share_link_per_minute: u32,
    /// Longest share-link token plus file path, in bytes (414 above).
    pub share_path_max_bytes: u64,
    /// Client addresses, share links and recorded accesses each budget remembers at once (memory).
    pub tracked_addresses: u64,
}

impl Default for Limits {
    fn default() -> Self {
        let public = crate::public::PublicLimits::default();
        Limits {
            max_body_kib: (crate::body_limit::MAX_BODY_BYTES / 1024) as u64,
            approval_wait_max_secs: crate::body_limit::MAX_WAIT_SECS,
            unauthenticated_per_minute: public.per_source,
            share_link_per_minute: public.per_link,
            share_path_max_bytes: public.max_path_bytes as u64,
            tracked_addresses: public.max_keys as u64,
        }
    }
}

impl Limits {
    /// Each key with its value and inclusive bounds.
    fn bounded(&self) -> [(&'static str, u64, u64, u64); 6] {
        [
            // 16 KiB holds every request but policy texts; 64 MiB is past any legitimate one.
            ("max_body_kib", self.max_body_kib, 16, 64 * 1024),
            ("approval_wait_max_secs", self.approval_wait_max_secs, 1, 600),
            ("unauthenticated_per_minute", u64::from(self.unauthenticated_per_minute), 1, 1_000_000),
            ("share_link_per_minute", u64::from(self.share_link_per_minute), 1, 1_000_000),
            // A token is 50 bytes; past 4 KiB the path is not a bundle's file.
            ("share_path_max_bytes", self.share_path_max_bytes, 64, 4096),
            ("tracked_addresses", self.tracked_addresses, 100, 1_000_000),
        ]
    }

    /// Refuses, naming the key, a value outside its bounds.
    pub fn check(&self) -> Result<(), ConfigError> {
        for (key, value, min, max) in self.bounded() {
            if !(min..=max).contains(&value) {
                return Err(ConfigError::Invalid(format!(
                    "limits.{key} = {value} is out of bounds: it must be between {min} and {max}"
                )));
            }
        }
        Ok(())
    }

    /// The limits of every request.
    pub fn http(&self) -> crate::body_limit::HttpLimits {
        crate::body_limit::HttpLimits {
            max_body_bytes: usize::try_from(self.max_body_kib.saturating_mul(1024)).unwrap_or(usize::MAX),
            max_wait_secs: self.approval_wait_max_secs,
        }
    }

    /// The budget of the routes that need no token.
    pub fn public(&self) -> crate::public::PublicLimits {
        let size = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
        crate::public::PublicLimits {
            per_source: self.unauthenticated_per_minute,
            per_link: self.share_link_per_minute,
            max_path_bytes: size(self.share_path_max_bytes),
            max_keys: size(self.tracked_addresses),
            ..Default::default()
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            addr: "127.0.0.1:7311".into(),
            org: None,
            checkpoint_interval_secs: 10,
            checkpoint_publish_dir: None,
            approval_expiry_secs: 3600,
            webhooks_allow_private: false,
            webhook_secret_overlap_secs: 86_400,
            deny_spike_threshold: 10,
            deny_spike_window_secs: 60,
            incident_min_severity: "high".into(),
            retention_purge_interval_secs: 86_400,
            compliance_scan_interval_secs: 7 * 86_400,
            monthly_export: false,
            monthly_export_dir: None,
            monthly_export_s3_url: None,
            monthly_export_s3_endpoint: None,
            monthly_export_s3_region: None,
            scan_min_active_policies: 3,
            scan_credential_max_age_days: 90,
            ready_probe_interval_secs: 5,
            ready_max_detector_lag: 100_000,
            ready_min_free_disk_mb: 256,
            console_secure_cookie: false,
            ready_max_wal_mb: 1024,
            trusted_proxies: Vec::new(),
            limits: Limits::default(),
            gateway: GatewayTable,
            console_url: None,
            database_url: None,
            notify_remind_before_secs: 600,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The OS error is part of the message, not a `source`: printing the chain would repeat it.
    #[error("cannot read {path}: {error}")]
    Read { path: String, error: std::io::Error },
    #[error("{path}: {message}")]
    Parse { path: String, message: String },
    #[error("{0}")]
    Invalid(String),
}

impl Config {
    /// The domain settings this configuration asks for.
    /// How the web console is served.
    pub fn console(&self) -> crate::console::ConsoleSettings {
        crate::console::ConsoleSettings { secure_cookie: self.console_secure_cookie }
    }

    /// How often the retention purge runs, if at all.
    pub fn retention_purge_every(&self) -> Option<std::time::Duration> {
        (self.retention_purge_interval_secs > 0)
            .then(|| std::time::Duration::from_secs(self.retention_purge_interval_secs))
    }

    /// The compliance schedule this configuration asks for.
    pub fn compliance_schedule(&self) -> gavel_core::evidence_runs::Schedule {
        gavel_core::evidence_runs::Schedule {
            scan_every: (self.compliance_scan_interval_secs > 0).then(|| {
                time::Duration::seconds(self.compliance_scan_interval_secs.min(i64::MAX as u64) as i64)
            }),
            monthly_export: self.monthly_export,
            copy_to: self.monthly_export_dir.as_ref().map(std::path::PathBuf::from),
            // Checked by `validate`.
            upload_to: self.s3_target().ok().flatten().map(|t| {
                std::sync::Arc::new(t) as std::sync::Arc<dyn gavel_core::evidence_runs::BundleUploader>
            }),
            checks: gavel_core::compliance::ScanSettings {
                min_active_policies: self.scan_min_active_policies,
                credential_max_age_days: i64::from(self.scan_credential_max_age_days),
                ..Default::default()
            },
        }
    }

    /// The S3 upload target, if `monthly_export_s3_url` is set.
    pub fn s3_target(&self) -> Result<Option<crate::s3_export::S3Target>, ConfigError> {
        let Some(url) = &self.monthly_export_s3_url else {
            if self.monthly_export_s3_endpoint.is_some() || self.monthly_export_s3_region.is_some() {
                return Err(ConfigError::Invalid(
                    "monthly_export_s3_endpoint and monthly_export_s3_region need monthly_export_s3_url"
                        .into(),
                ));
            }
            return Ok(None);
        };
        if !self.monthly_export {
            return Err(ConfigError::Invalid(
                "monthly_export_s3_url uploads the monthly export: it needs monthly_export = true".into(),
            ));
        }
        crate::s3_export::S3Target::parse(
            url,
            self.monthly_export_s3_endpoint.as_deref(),
            self.monthly_export_s3_region.as_deref(),
        )
        .map(Some)
        .map_err(|e| ConfigError::Invalid(e.to_string()))
    }

    /// The bounds of the readiness checks.
    pub fn readiness(&self) -> crate::readiness::ReadinessConfig {
        crate::readiness::ReadinessConfig {
            probe_interval: std::time::Duration::from_secs(self.ready_probe_interval_secs),
            max_detector_lag: self.ready_max_detector_lag,
            min_free_disk_bytes: self.ready_min_free_disk_mb.saturating_mul(1024 * 1024),
            max_wal_bytes: self.ready_max_wal_mb.saturating_mul(1024 * 1024),
        }
    }

    /// The peers whose forwarding headers name the client.
    pub fn trusted_proxies(&self) -> Result<crate::client_addr::TrustedProxies, ConfigError> {
        crate::client_addr::TrustedProxies::parse(&self.trusted_proxies).map_err(ConfigError::Invalid)
    }

    /// The notification dispatcher's tunables: the console URL (default `http://<addr>`) and the
    /// reminder window.
    pub fn notify_config(&self) -> crate::notifications::NotifyConfig {
        crate::notifications::NotifyConfig {
            console_url: self.console_url.as_ref().map(|url| url.trim_end_matches('/').to_string()),
            remind_within: std::time::Duration::from_secs(self.notify_remind_before_secs),
            ..Default::default()
        }
    }

    /// The webhook dispatcher's tunables: the spec's defaults, with the rotation overlap asked for.
    pub fn dispatch_config(&self) -> crate::webhooks::DispatchConfig {
        crate::webhooks::DispatchConfig {
            rotation_overlap: std::time::Duration::from_secs(self.webhook_secret_overlap_secs),
            ..Default::default()
        }
    }

    pub fn settings(&self) -> gavel_core::Settings {
        gavel_core::Settings {
            approval_expiry: time::Duration::seconds(self.approval_expiry_secs as i64),
            webhooks_allow_private: self.webhooks_allow_private,
            detectors: gavel_core::detectors::DetectorSettings {
                deny_spike_window: time::Duration::seconds(self.deny_spike_window_secs as i64),
                deny_spike_threshold: self.deny_spike_threshold,
                // Checked by `validate`.
                incident_min_severity: gavel_core::incidents::Severity::parse(&self.incident_min_severity)
                    .unwrap_or(gavel_core::incidents::Severity::High),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    /// Loads `file` if given (it must exist), else `default_file` if it exists, then applies env.
    pub fn load(file: Option<&Path>, default_file: &Path) -> Result<Config, ConfigError> {
        let path = file.or_else(|| default_file.exists().then_some(default_file));
        let mut config = match path {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|error| ConfigError::Read { path: path.display().to_string(), error })?;
                toml::from_str(&text).map_err(|e| ConfigError::Parse {
                    path: path.display().to_string(),
                    message: e.to_string(),
                })?
            }
            None => Config::default(),
        };
        if let Ok(addr) = std::env::var("GAVEL_ADDR") {
            config.addr = addr;
        }
        if let Ok(secs) = std::env::var("GAVEL_CHECKPOINT_INTERVAL_SECS") {
            config.checkpoint_interval_secs = secs.parse().map_err(|_| {
                ConfigError::Invalid(format!("GAVEL_CHECKPOINT_INTERVAL_SECS={secs:?} is not a number"))
            })?;
        }
        config.validate()?;
        Ok(config)
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.checkpoint_interval_secs == 0 {
            return Err(ConfigError::Invalid("checkpoint_interval_secs must be at least 1".into()));
        }
        if !(60..=7 * 86_400).contains(&self.approval_expiry_secs) {
            return Err(ConfigError::Invalid(
                "approval_expiry_secs must be between 60 (1 minute) and 604800 (7 days)".into(),
            ));
        }
        if self.deny_spike_threshold == 0 || !(1..=86_400).contains(&self.deny_spike_window_secs) {
            return Err(ConfigError::Invalid(
                "deny_spike_threshold must be at least 1 and deny_spike_window_secs between 1 and 86400"
                    .into(),
            ));
        }
        if gavel_core::incidents::Severity::parse(&self.incident_min_severity).is_err() {
            return Err(ConfigError::Invalid(format!(
                "incident_min_severity {:?} must be low, medium, high or critical",
                self.incident_min_severity
            )));
        }
        if !(1..=3600).contains(&self.ready_probe_interval_secs) {
            return Err(ConfigError::Invalid("ready_probe_interval_secs must be between 1 and 3600".into()));
        }
        if self.ready_max_wal_mb < 64 {
            return Err(ConfigError::Invalid(
                "ready_max_wal_mb must be at least 64 (the store rewinds the WAL only past 64 MiB)".into(),
            ));
        }
        self.s3_target()?;
        self.trusted_proxies()?;
        self.limits.check()?;
        if let Some(url) = &self.database_url {
            gavel_core::Database::parse(url)
                .map_err(|e| ConfigError::Invalid(format!("database_url: {e}")))?;
        }
        if let Some(url) = &self.console_url {
            let rest = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://"));
            let ok = rest.is_some_and(|r| {
                !r.is_empty()
                    && !r.starts_with('/')
                    && !r.chars().any(|c| c.is_whitespace() || c == '?' || c == '#')
            });
            if !ok {
                return Err(ConfigError::Invalid(format!(
                    "console_url {url:?} must be an http(s) URL such as https://gavel.example.com"
                )));
            }
        }
        if !(60..=86_400).contains(&self.notify_remind_before_secs) {
            return Err(ConfigError::Invalid(
                "notify_remind_before_secs must be between 60 and 86400".into(),
            ));
        }
        if self.addr.parse::<std::net::SocketAddr>().is_err() {
            return Err(ConfigError::Invalid(format!(
                "addr {:?} is not HOST:PORT (e.g. 127.0.0.1:7311)",
                self.addr
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_operations_guide_lists_every_key_with_its_default() {
        let guide = include_str!("../../../docs/operations.md");
        let start = guide.find("The keys, with their defaults:").expect("docs/operations.md section");
        let block = &guide[start..];
        let body = block.split("```toml\n").nth(1).and_then(|b| b.split("```").next()).expect("toml block");
        let documented: Config = toml::from_str(body).expect("the documented gavel.toml parses");
        assert_eq!(documented, Config::default(), "documented defaults differ from Config::default()");
        let mut commented = body.to_string();
        for key in [
            "monthly_export_dir",
            "monthly_export_s3",
            "org",
            "checkpoint_publish_dir",
            "console_url",
            "database_url",
        ] {
            commented = commented.replace(&format!("# {key}"), key);
        }
        let table: toml::Table = toml::from_str(&commented).expect("parses");
        let all = serde_json::to_value(Config::default()).expect("serializes");
        for key in all.as_object().expect("an object").keys() {
            assert!(table.contains_key(key), "docs/operations.md does not document {key}");
        }
    }

    use super::*;

    #[test]
    fn file_values_apply_and_typos_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gavel.toml");
        std::fs::write(&path, "addr = \"127.0.0.1:9000\"\ncheckpoint_interval_secs = 3\n").unwrap();
        let c = Config::load(Some(&path), Path::new("/nonexistent")).unwrap();
        assert_eq!((c.addr.as_str(), c.checkpoint_interval_secs), ("127.0.0.1:9000", 3));
        std::fs::write(&path, "adr = \"x\"\n").unwrap();
        assert!(Config::load(Some(&path), Path::new("/nonexistent"))
            .unwrap_err()
            .to_string()
            .contains("adr"));
        // The gateway's table is `gavel gateway`'s to read; the server accepts it.
        std::fs::write(&path, "addr = \"127.0.0.1:9000\"\n[gateway.upstreams.files]\ncommand = [\"x\"]\n")
            .unwrap();
        assert_eq!(Config::load(Some(&path), Path::new("/nonexistent")).unwrap().addr, "127.0.0.1:9000");
        std::fs::write(&path, "checkpoint_interval_secs = 0\n").unwrap();
        assert!(Config::load(Some(&path), Path::new("/nonexistent")).is_err());
        assert!(Config::load(Some(Path::new("/nonexistent/x.toml")), Path::new("/x")).is_err());
        assert_eq!(Config::load(None, Path::new("/nonexistent")).unwrap(), Config::default());
        std::fs::write(
            &path,
            "deny_spike_threshold = 3\ndeny_spike_window_secs = 30\nincident_min_severity = \"medium\"\n",
        )
        .unwrap();
        let d = Config::load(Some(&path), Path::new("/nonexistent")).unwrap().settings().detectors;
        assert_eq!((d.deny_spike_threshold, d.deny_spike_window.whole_seconds()), (3, 30));
        assert_eq!(d.incident_min_severity, gavel_core::incidents::Severity::Medium);
        std::fs::write(
            &path,
            "ready_min_free_disk_mb = 3\nready_max_detector_lag = 7\nready_probe_interval_secs = 2\n",
        )
        .unwrap();
        let r = Config::load(Some(&path), Path::new("/nonexistent")).unwrap().readiness();
        assert_eq!((r.min_free_disk_bytes, r.max_detector_lag, r.probe_interval.as_secs()), (3 << 20, 7, 2));
        std::fs::write(
            &path,
            "monthly_export = true\nmonthly_export_s3_url = \"s3://evidence/gavel\"\n\
             monthly_export_s3_endpoint = \"http://127.0.0.1:9000\"\n",
        )
        .unwrap();
        let target =
            Config::load(Some(&path), Path::new("/nonexistent")).unwrap().compliance_schedule().upload_to;
        assert_eq!(target.map(|t| t.target()).as_deref(), Some("s3://evidence/gavel"));
        for bad in [
            "monthly_export_s3_url = \"s3://evidence\"\n",
            "monthly_export = true\nmonthly_export_s3_url = \"evidence/x\"\n",
            "monthly_export = true\nmonthly_export_s3_region = \"eu-west-1\"\n",
            "deny_spike_threshold = 0\n",
            "incident_min_severity = \"urgent\"\n",
            "deny_spike_window_secs = 0\n",
            "ready_probe_interval_secs = 0\n",
            "ready_max_wal_mb = 10\n",
        ] {
            std::fs::write(&path, bad).unwrap();
            assert!(Config::load(Some(&path), Path::new("/nonexistent")).is_err(), "{bad}");
        }
    }
}
