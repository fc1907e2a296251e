//! The notification dispatcher: one tokio task that, every `interval` (500 ms by default), runs a
//! round for each enabled notification channel on the blocking pool (see
//! `gavel_core::notifications` for the notices, the message formats and the record of attempts).
//!
//! Invariants:
//! * a slow or dead channel never blocks `decide` (separate task, blocking pool) nor the other
//!   channels: each channel has at most one round in flight, rounds of different channels run
//!   side by side, and a round stops at the first answer-less failure (connection refused,
//!   timeout, the SSRF guard), so it lasts at most about one request timeout;
//! * a round commits what it attempted as ONE `notification.attempts` event; a channel whose
//!   round got no 2xx has no round before its `held_until`;
//! * every resolved address is checked at connection time with the webhooks' guard
//!   (`crate::webhooks::GuardedResolver`, the same range table as at creation), unless private
//!   targets are allowed; redirects are never followed;
//! * at shutdown the loop stops and every round in flight finishes its request and commits.

use crate::background::{Background, Lease};
use crate::webhooks::GuardedResolver;
use gavel_core::notifications::{NoticeOptions, NotificationPlan, Outgoing, Posted};
use gavel_core::Gavel;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Tunables of the notification dispatcher.
#[derive(Debug, Clone, PartialEq)]
pub struct NotifyConfig {
    /// The console's base URL the messages link to (gavel.toml `console_url`), no trailing slash;
    /// `None`: `http://<the address the server listens on>`, filled in by `serve`.
    pub console_url: Option<String>,
    /// A pending approval this close to expiry gets one reminder (gavel.toml
    /// `notify_remind_before_secs`, default 10 min).
    pub remind_within: Duration,
    /// How often channels are looked at.
    pub interval: Duration,
    /// Delays before attempts 2, 3, … (the first attempt is immediate). People act on minutes,
    /// not days: 5 s, 30 s, 2 min, 10 min, 30 min, then the delivery has failed.
    pub schedule: Vec<Duration>,
    /// Per-request timeout.
    pub timeout: Duration,
    /// At most this many messages per channel per round.
    pub max_per_round: usize,
    /// At most this many log events scanned per channel per round.
    pub max_scan: u64,
}

impl Default for NotifyConfig {
    fn default() -> Self {
        NotifyConfig {
            console_url: None,
            remind_within: Duration::from_secs(600),
            interval: Duration::from_millis(500),
            schedule: [5, 30, 120, 600, 1800].map(Duration::from_secs).to_vec(),
            timeout: Duration::from_secs(10),
            max_per_round: 50,
            max_scan: 5_000,
        }
    }
}

/// Starts the dispatcher on the current runtime; [`Background::stop`] stops it and waits until
/// every round in flight has committed what it sent.
pub fn start(gavel: Arc<Gavel>, config: NotifyConfig) -> Background {
    let config = Arc::new(config);
    Background::start_leased(
        config.interval,
        Lease::new(&gavel, "notifications"),
        move |mut ticks| async move {
            let stop = ticks.stop_flag();
            // Positions past events that raised no message (not committed: that would need an event).
            let positions: Arc<Mutex<HashMap<String, u64>>> = Arc::default();
            let mut running: HashMap<String, tokio::task::JoinHandle<()>> = HashMap::new();
            while ticks.next().await {
                running.retain(|_, h| !h.is_finished());
                let g = gavel.clone();
                let ids =
                    match tokio::task::spawn_blocking(move || g.enabled_notification_channel_ids()).await {
                        Ok(Ok(ids)) => ids,
                        Ok(Err(e)) => {
                            tracing::warn!(error = %e, "notifications: cannot list channels");
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
        },
    )
}

/// One round for one channel: plan, post, commit.
fn round(
    gavel: &Gavel,
    channel_id: &str,
    config: &NotifyConfig,
    stop: &AtomicBool,
    positions: &Mutex<HashMap<String, u64>>,
) {
    let from = positions.lock().map(|p| p.get(channel_id).copied().unwrap_or_default()).unwrap_or_default();
    let options = NoticeOptions {
        console_url: config.console_url.clone().unwrap_or_default(),
        remind_within: config.remind_within,
        max_new: config.max_per_round,
        max_scan: config.max_scan,
    };
    let plan = match gavel.notification_plan(channel_id, from, &options) {
        Ok(Some(plan)) => plan,
        Ok(None) => return,
        Err(e) => {
            tracing::warn!(channel = channel_id, error = %e, "notifications: cannot plan a round");
            return;
        }
    };
    let agent = ureq::AgentBuilder::new()
        .timeout(config.timeout)
        .redirects(0)
        .user_agent(concat!("gavel-notifications/", env!("CARGO_PKG_VERSION")))
        .resolver(GuardedResolver { allow_private: gavel.webhooks_allow_private() })
        .build();
    let mut posted = Vec::new();
    for m in &plan.messages {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        let p = post(&agent, &plan, m);
        let unreachable = p.status_code.is_none();
        posted.push(p);
        if unreachable {
            break;
        }
    }
    // The cursor passes every new notice attempted; the first new one not attempted waits.
    let cursor_to = plan
        .messages
        .iter()
        .filter(|m| {
            m.prior.is_none() && m.seq.is_some() && !posted.iter().any(|p| p.notice_id == m.notice_id)
        })
        .filter_map(|m| m.seq)
        .min()
        .unwrap_or(plan.scanned_to);
    if posted.is_empty() && plan.superseded.is_empty() {
        if let Ok(mut p) = positions.lock() {
            p.insert(channel_id.to_string(), cursor_to);
        }
        return;
    }
    match gavel.record_notification_attempts(&plan, &posted, cursor_to, &config.schedule) {
        Ok(_) => {
            if let Ok(mut p) = positions.lock() {
                p.insert(channel_id.to_string(), cursor_to);
            }
        }
        // A conflict (an admin change, another replica): the next round re-plans from the store.
        Err(e) => tracing::warn!(channel = channel_id, error = %e, "notifications: cannot record attempts"),
    }
}

fn post(agent: &ureq::Agent, plan: &NotificationPlan, m: &Outgoing) -> Posted {
    let started = Instant::now();
    let result = agent.post(&plan.channel.url).set("content-type", "application/json").send_string(&m.body);
    let latency_ms = started.elapsed().as_millis() as u64;
    let notice_id = m.notice_id.clone();
    match result {
        Ok(resp) => {
            let code = resp.status();
            let error =
                (!(200..300).contains(&code)).then(|| format!("HTTP {code} (redirects are not followed)"));
            Posted { notice_id, status_code: Some(code), latency_ms, error }
        }
        Err(ureq::Error::Status(code, resp)) => Posted {
            notice_id,
            status_code: Some(code),
            latency_ms,
            error: Some(format!("HTTP {code} {}", resp.status_text())),
        },
        Err(e) => Posted { notice_id, status_code: None, latency_ms, error: Some(e.to_string()) },
    }
}
