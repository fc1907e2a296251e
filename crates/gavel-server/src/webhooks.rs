//! The webhook dispatcher: one tokio task that, every `interval` (250 ms by default), runs a round
//! for each enabled endpoint on the blocking pool (see `gavel_core::webhooks` for the outbox,
//! signing and payload). Each request times out after 15 s by default ([`DispatchConfig`]).
//!
//! Invariants:
//! * a slow or dead endpoint never blocks `decide` (separate task, blocking pool) and never
//!   blocks other endpoints: each endpoint has at most one round in flight, rounds of different
//!   endpoints run side by side, and a round stops at the first timeout or connection error
//!   (so it lasts at most about one request timeout);
//! * a round commits what it attempted as ONE `webhook.attempts` event; a crash before that
//!   commit re-sends the same messages (same `webhook-id`) on the next start;
//! * an endpoint whose last round got no 2xx has no round before its `held_until` (the planner
//!   returns nothing), so a dead endpoint adds at most one event per backoff step to the log
//!   (`gavel_core::webhooks`, its `outbox` file: "Failing endpoints");
//! * at shutdown the loop stops, every round in flight finishes its current request and
//!   commits, and only then does `serve` sign its final checkpoint;
//! * each message is signed with the endpoint's current secret and, during the overlap after a
//!   rotation, also with the replaced one (`Endpoint::signing_secrets`);
//! * every resolved address is checked at connection time, unless private targets are allowed,
//!   against the same range table as the check at creation (`gavel_core::webhooks::blocked_range`);
//!   redirects are never followed;
//! * signed checkpoints (`checkpoint.signed`) go through the same rounds as log events: the
//!   planner offers them from the stored checkpoints (`gavel_core::webhooks`, its `outbox` file:
//!   "Signed checkpoints"), and they are sent, signed, retried and recorded like any other message.

use crate::background::{Background, Lease};
use gavel_core::webhooks::{blocked_range, spec_schedule, Message, Plan, Position, Sent};
use gavel_core::Gavel;
use std::collections::HashMap;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Tunables of the dispatcher (production uses [`DispatchConfig::default`], the spec's values).
#[derive(Debug, Clone, PartialEq)]
pub struct DispatchConfig {
    /// How often endpoints are looked at.
    pub interval: Duration,
    /// Delays before attempts 2, 3, … (the first attempt is immediate).
    pub schedule: Vec<Duration>,
    /// Per-request timeout.
    pub timeout: Duration,
    /// At most this many messages per endpoint per round.
    pub max_per_round: usize,
    /// At most this many log events scanned per endpoint per round.
    pub max_scan: u64,
    /// After `rotate-secret`, how long the replaced secret keeps signing beside the new one
    /// (gavel.toml `webhook_secret_overlap_secs`; zero: none). Applied at rotation time: the
    /// expiry is stored on the endpoint.
    pub rotation_overlap: Duration,
}

impl Default for DispatchConfig {
    fn default() -> Self {
        DispatchConfig {
            interval: Duration::from_millis(250),
            schedule: spec_schedule(),
            timeout: Duration::from_secs(15),
            max_per_round: 100,
            max_scan: 5_000,
            rotation_overlap: Duration::from_secs(24 * 3600),
        }
    }
}

/// Starts the dispatcher on the current runtime; [`Background::stop`] stops it and waits until
/// every round in flight has committed what it sent.
pub fn start(gavel: Arc<Gavel>, config: DispatchConfig) -> Background {
    let config = Arc::new(config);
    Background::start_leased(config.interval, Lease::new(&gavel, "webhooks"), move |mut ticks| async move {
        let stop = ticks.stop_flag();
        // Positions past events and checkpoints that needed no attempt (not committed: that
        // would need an event).
        let positions: Arc<Mutex<HashMap<String, Position>>> = Arc::default();
        let mut running: HashMap<String, tokio::task::JoinHandle<()>> = HashMap::new();
        while ticks.next().await {
            running.retain(|_, h| !h.is_finished());
            let g = gavel.clone();
            let ids = match tokio::task::spawn_blocking(move || g.enabled_webhook_ids()).await {
                Ok(Ok(ids)) => ids,
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "webhooks: cannot list endpoints");
                    continue;
                }
                Err(_) => continue,
            };
            for id in ids {
                if running.contains_key(&id) {
                    continue;
                }
                let (g, c, s, p) = (gavel.clone(), config.clone(), stop.clone(), positions.clone());
                let key = id.clone();
                running.insert(key, tokio::task::spawn_blocking(move || round(&g, &id, &c, &s, &p)));
            }
        }
        for (_, h) in running {
            let _ = h.await;
        }
    })
}

/// One round for one endpoint: plan, send, commit.
fn round(
    gavel: &Gavel,
    endpoint_id: &str,
    config: &DispatchConfig,
    stop: &AtomicBool,
    positions: &Mutex<HashMap<String, Position>>,
) {
    let from = positions.lock().map(|p| p.get(endpoint_id).copied().unwrap_or_default()).unwrap_or_default();
    let plan = match gavel.webhook_plan(endpoint_id, from, config.max_per_round, config.max_scan) {
        Ok(Some(plan)) => plan,
        Ok(None) => return,
        Err(e) => {
            tracing::warn!(endpoint = endpoint_id, error = %e, "webhooks: cannot plan a round");
            return;
        }
    };
    let agent = agent(config, gavel.webhooks_allow_private());
    let mut sent = Vec::new();
    for m in &plan.messages {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        // Per message: a rotation overlap may end during a long round.
        let secrets = plan.endpoint.signing_secrets(gavel.clock().now());
        let s = send(&agent, &plan, &secrets, m);
        let stop_round = s.status_code.is_none() || s.status_code == Some(410);
        sent.push(s);
        if stop_round {
            break;
        }
    }
    // The cursor passes every new event attempted; the first new one not attempted waits (and
    // likewise for checkpoints, `Plan::checkpoints_to`).
    let attempted: std::collections::HashSet<(u64, Option<u64>)> =
        sent.iter().map(|s| (s.seq, s.tree_size)).collect();
    let cursor_to = plan
        .messages
        .iter()
        .filter(|m| m.prior.is_none() && m.tree_size.is_none() && !attempted.contains(&(m.seq, None)))
        .map(|m| m.seq)
        .min()
        .unwrap_or(plan.scanned_to);
    let position = Position { next_seq: cursor_to, checkpoints_after: plan.checkpoints_to(&sent) };
    if sent.is_empty() {
        if let Ok(mut p) = positions.lock() {
            p.insert(endpoint_id.to_string(), position);
        }
        return;
    }
    match gavel.record_webhook_attempts(&plan, &sent, cursor_to, &config.schedule) {
        Ok(_) => {
            if let Ok(mut p) = positions.lock() {
                p.insert(endpoint_id.to_string(), position);
            }
        }
        // A conflict means someone else (an admin change, another replica) moved first: the
        // next round re-plans from the stored state and re-sends with the same webhook ids.
        Err(e) => tracing::warn!(endpoint = endpoint_id, error = %e, "webhooks: cannot record attempts"),
    }
}

/// Resolves like the system, refusing private targets unless allowed (checked per connection).
/// Shared with the notification dispatcher (`crate::notifications`): one connect-time guard.
pub(crate) struct GuardedResolver {
    pub(crate) allow_private: bool,
}

impl ureq::Resolver for GuardedResolver {
    fn resolve(&self, netloc: &str) -> std::io::Result<Vec<SocketAddr>> {
        let addrs: Vec<SocketAddr> = netloc.to_socket_addrs()?.collect();
        if self.allow_private {
            return Ok(addrs);
        }
        let mut refused = None;
        let public: Vec<SocketAddr> = addrs
            .into_iter()
            .filter(|a| match blocked_range(a.ip()) {
                Some(what) => {
                    refused.get_or_insert((a.ip(), what));
                    false
                }
                None => true,
            })
            .collect();
        if public.is_empty() {
            let why = refused.map_or(String::new(), |(ip, what)| format!(": {ip} is in {what}"));
            return Err(std::io::Error::new(
                std::io::ErrorKind::PermissionDenied,
                format!(
                    "{netloc} resolves only to private or reserved addresses{why} (webhooks_allow_private is off)"
                ),
            ));
        }
        Ok(public)
    }
}

fn agent(config: &DispatchConfig, allow_private: bool) -> ureq::Agent {
    ureq::AgentBuilder::new()
        .timeout(config.timeout)
        .redirects(0)
        .user_agent(concat!("gavel-webhooks/", env!("CARGO_PKG_VERSION")))
        .resolver(GuardedResolver { allow_private })
        .build()
}

fn retry_after(resp: &ureq::Response) -> Option<Duration> {
    resp.header("retry-after").and_then(|v| v.trim().parse::<u64>().ok()).map(Duration::from_secs)
}

fn send(agent: &ureq::Agent, plan: &Plan, secrets: &[&str], m: &Message) -> Sent {
    let (webhook_id, seq, tree_size, body) = (m.webhook_id.as_str(), m.seq, m.tree_size, m.body.as_slice());
    let timestamp = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
    let started = Instant::now();
    let signature = match gavel_core::webhooks::sign_all(secrets, webhook_id, timestamp, body) {
        Ok(s) => s,
        Err(e) => {
            return Sent {
                seq,
                tree_size,
                status_code: None,
                latency_ms: 0,
                error: Some(e.to_string()),
                retry_after: None,
            }
        }
    };
    let result = agent
        .post(&plan.endpoint.url)
        .set("content-type", "application/json")
        .set("webhook-id", webhook_id)
        .set("webhook-timestamp", &timestamp.to_string())
        .set("webhook-signature", &signature)
        .send_bytes(body);
    let latency_ms = started.elapsed().as_millis() as u64;
    match result {
        Ok(resp) => {
            let code = resp.status();
            let ok = (200..300).contains(&code);
            let error = (!ok).then(|| format!("HTTP {code} (redirects are not followed)"));
            Sent {
                seq,
                tree_size,
                status_code: Some(code),
                latency_ms,
                error,
                retry_after: retry_after(&resp),
            }
        }
        Err(ureq::Error::Status(code, resp)) => Sent {
            seq,
            tree_size,
            status_code: Some(code),
            latency_ms,
            error: Some(format!("HTTP {code} {}", resp.status_text())),
            retry_after: retry_after(&resp),
        },
        Err(e) => Sent {
            seq,
            tree_size,
            status_code: None,
            latency_ms,
            error: Some(e.to_string()),
            retry_after: None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ureq::Resolver as _;

    #[test]
    fn the_connect_time_guard_refuses_blocked_ranges_after_resolution() {
        let strict = GuardedResolver { allow_private: false };
        for netloc in
            ["127.0.0.1:9", "localhost:9", "[::ffff:127.0.0.1]:9", "[64:ff9b::7f00:1]:9", "198.18.0.1:80"]
        {
            let e = strict.resolve(netloc).expect_err(netloc);
            assert_eq!(e.kind(), std::io::ErrorKind::PermissionDenied, "{netloc}: {e}");
        }
        assert_eq!(strict.resolve("93.184.216.34:443").unwrap().len(), 1);
        let open = GuardedResolver { allow_private: true };
        assert!(!open.resolve("127.0.0.1:9").unwrap().is_empty());
    }
}
