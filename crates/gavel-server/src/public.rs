//! The budget of the routes that need no token (health, metrics, the OpenAPI document, the policy
//! schema, the export signing key, share links): per-source and per-link rate limits, and the
//! counts of share-link requests that are recorded together instead of one event each.
//!
//! Invariants:
//! * every unauthenticated route spends from its source's budget ([`PublicLimits::per_source`]
//!   requests per window); a share link also spends from the link's budget
//!   ([`PublicLimits::per_link`], whatever the source). Over budget is 429 `rate_limited` with
//!   `Retry-After`, before anything is read or recorded;
//! * memory is bounded: at most [`PublicLimits::max_keys`] sources, links and recorded
//!   (link, source, path) triples; windows that ended are dropped first, then the oldest;
//! * what is recorded per window is bounded: a `share.accessed` event for the first access to
//!   each file (or the listing) per link and source, and one `share.access_summary` event with at
//!   most [`MAX_SUMMARY_ROWS`] rows counting everything else (repeats, 404s, 414s, 429s);
//!   rows beyond that are summed into one row without link or source.
//!
//! Defaults (`PublicLimits::default()`): 300 requests a minute per source and per link, 10,000
//! keys per map, and a token plus file path longer than 512 bytes is 414 `uri_too_long`.
//!
//! Windows are fixed (they start at the first request of a key) and measured on the monotonic
//! clock, not the log's: a rate limit is about wall time even when the log runs on a simulated
//! clock. The source is the client address (`client_addr`): the peer, or — when the peer is one of
//! `trusted_proxies` — the address that proxy forwarded for, so clients behind a load balancer
//! keep budgets of their own while a forwarding header from anyone else is ignored.

use crate::client_addr::ClientAddr;
use crate::error::ApiError;
use crate::AppState;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use gavel_core::shares::{AccessTally, MAX_SUMMARY_ROWS};
use gavel_core::{CoreError, Gavel};
use std::collections::HashMap;
use std::hash::Hash;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The budget of unauthenticated requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicLimits {
    /// Length of a rate-limit window and of a summary period.
    pub window: Duration,
    /// Requests per window from one source, over every unauthenticated route.
    pub per_source: u32,
    /// Requests per window through one share link, from every source together.
    pub per_link: u32,
    /// Sources, links and recorded (link, source, path) triples remembered at once (each map).
    pub max_keys: usize,
    /// Longest token plus file path a share-link request may name; longer is 414.
    pub max_path_bytes: usize,
}

impl Default for PublicLimits {
    fn default() -> Self {
        PublicLimits {
            window: Duration::from_secs(60),
            per_source: 300,
            per_link: 300,
            max_keys: 10_000,
            max_path_bytes: 512,
        }
    }
}

/// What happened to a share-link request that is counted, not recorded on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counted {
    Repeated,
    NotFound,
    RateLimited,
    TooLong,
}

#[derive(Debug, Clone, Copy)]
struct Window {
    start: Instant,
    count: u32,
}

/// Fixed windows per key, at most `max` keys.
struct Windows<K> {
    map: HashMap<K, Window>,
}

impl<K: Eq + Hash + Clone> Windows<K> {
    fn new() -> Self {
        Windows { map: HashMap::new() }
    }

    /// Counts one request of `key`; `Err(retry after)` when it is over `limit`.
    fn hit(
        &mut self,
        key: &K,
        now: Instant,
        window: Duration,
        limit: u32,
        max: usize,
    ) -> Result<(), Duration> {
        if !self.map.contains_key(key) {
            make_room(&mut self.map, now, window, max, |w| w.start);
        }
        let w = self.map.entry(key.clone()).or_insert(Window { start: now, count: 0 });
        if now.duration_since(w.start) >= window {
            *w = Window { start: now, count: 0 };
        }
        if w.count >= limit {
            return Err(window.saturating_sub(now.duration_since(w.start)));
        }
        w.count += 1;
        Ok(())
    }
}

/// Drops ended windows, then (if still full) the oldest entry, so one more fits under `max`.
fn make_room<K: Eq + Hash + Clone, V>(
    map: &mut HashMap<K, V>,
    now: Instant,
    window: Duration,
    max: usize,
    start: impl Fn(&V) -> Instant,
) {
    if map.len() < max {
        return;
    }
    map.retain(|_, v| now.duration_since(start(v)) < window);
    while map.len() >= max.max(1) {
        let Some(oldest) = map.iter().min_by_key(|(_, v)| start(v)).map(|(k, _)| k.clone()) else {
            break;
        };
        map.remove(&oldest);
    }
}

#[derive(Default)]
struct Tallies {
    since: Option<String>,
    rows: HashMap<(Option<String>, IpAddr), AccessTally>,
    /// Everything counted once `rows` is full.
    rest: AccessTally,
}

struct Inner {
    sources: Windows<IpAddr>,
    links: Windows<String>,
    /// (link, source, path) whose first access in the window is recorded: when it was.
    recorded: HashMap<(String, IpAddr, String), Instant>,
    tallies: Tallies,
}

/// The shared state of the public routes' budget (one per server).
pub struct PublicGuard {
    limits: PublicLimits,
    inner: Mutex<Inner>,
}

impl Default for PublicGuard {
    fn default() -> Self {
        Self::new(PublicLimits::default())
    }
}

/// A request over budget: answered 429 `rate_limited` with `Retry-After`.
#[derive(Debug, Clone, Copy)]
pub struct RateLimited {
    retry: Duration,
    what: &'static str,
}

impl IntoResponse for RateLimited {
    fn into_response(self) -> Response {
        let secs = (self.retry.as_secs() + u64::from(self.retry.subsec_nanos() > 0)).max(1);
        let mut response = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            format!("too many requests {}; retry in {secs} s", self.what),
        )
        .into_response();
        if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
            response.headers_mut().insert(header::RETRY_AFTER, v);
        }
        response
    }
}

/// The source of a request: its client address ([`ClientAddr`]: the peer, or behind a trusted
/// proxy the address it forwarded for).
pub fn source_of(req: &Request) -> IpAddr {
    req.extensions().get::<ClientAddr>().map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0)
}

impl PublicGuard {
    pub fn new(limits: PublicLimits) -> Self {
        PublicGuard {
            limits,
            inner: Mutex::new(Inner {
                sources: Windows::new(),
                links: Windows::new(),
                recorded: HashMap::new(),
                tallies: Tallies::default(),
            }),
        }
    }

    pub fn limits(&self) -> &PublicLimits {
        &self.limits
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves counters, never a broken invariant: keep going.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Spends one request of `source`'s budget.
    pub fn admit_source(&self, source: IpAddr, now_wire: &str) -> Result<(), RateLimited> {
        let l = &self.limits;
        let mut inner = self.lock();
        match inner.sources.hit(&source, Instant::now(), l.window, l.per_source, l.max_keys) {
            Ok(()) => Ok(()),
            Err(retry) => {
                count(&mut inner.tallies, None, source, Counted::RateLimited, now_wire);
                Err(RateLimited { retry, what: "from this address" })
            }
        }
    }

    /// Spends one request of a link's budget; `link` is the token's hash.
    pub fn admit_link(&self, link: &str, source: IpAddr, now_wire: &str) -> Result<(), RateLimited> {
        let l = &self.limits;
        let mut inner = self.lock();
        match inner.links.hit(&link.to_string(), Instant::now(), l.window, l.per_link, l.max_keys) {
            Ok(()) => Ok(()),
            Err(retry) => {
                count(&mut inner.tallies, None, source, Counted::RateLimited, now_wire);
                Err(RateLimited { retry, what: "through this share link" })
            }
        }
    }

    /// Whether the access of `source` to `path` through `share` still needs its own record in
    /// this window (the caller records it, then calls [`Self::mark_recorded`]).
    pub fn needs_record(&self, share: &str, source: IpAddr, path: &str) -> bool {
        let inner = self.lock();
        let key = (share.to_string(), source, path.to_string());
        inner.recorded.get(&key).is_none_or(|at| at.elapsed() >= self.limits.window)
    }

    pub fn mark_recorded(&self, share: &str, source: IpAddr, path: &str) {
        let now = Instant::now();
        let mut inner = self.lock();
        make_room(&mut inner.recorded, now, self.limits.window, self.limits.max_keys, |at| *at);
        inner.recorded.insert((share.to_string(), source, path.to_string()), now);
    }

    /// Counts a share-link request that is not recorded on its own.
    pub fn count(&self, share: Option<&str>, source: IpAddr, what: Counted, now_wire: &str) {
        count(&mut self.lock().tallies, share, source, what, now_wire);
    }

    /// Records what was counted since the last flush as one `share.access_summary` event
    /// (nothing when nothing was counted). On failure the counts are kept for the next try.
    pub fn flush(&self, gavel: &Gavel) -> Result<bool, CoreError> {
        let taken = std::mem::take(&mut self.lock().tallies);
        let Some(since) = taken.since.clone() else {
            return Ok(false);
        };
        let mut rows: Vec<AccessTally> = taken.rows.values().cloned().collect();
        rows.sort_by(|a, b| (&a.share_id, &a.source).cmp(&(&b.share_id, &b.source)));
        if taken.rest != AccessTally::default() {
            rows.push(taken.rest.clone());
        }
        let to = gavel_ledger::clock::format_time(gavel.clock().now());
        match gavel.record_share_summary(&since, &to, &rows) {
            Ok(()) => Ok(true),
            Err(e) => {
                let mut inner = self.lock();
                for row in rows {
                    let source = row.source.as_deref().and_then(|s| s.parse().ok());
                    merge(&mut inner.tallies, row, source, &since);
                }
                Err(e)
            }
        }
    }
}

fn bump(t: &mut AccessTally, what: Counted, n: u64) {
    let field = match what {
        Counted::Repeated => &mut t.repeated,
        Counted::NotFound => &mut t.not_found,
        Counted::RateLimited => &mut t.rate_limited,
        Counted::TooLong => &mut t.too_long,
    };
    *field = field.saturating_add(n);
}

fn count(t: &mut Tallies, share: Option<&str>, source: IpAddr, what: Counted, now_wire: &str) {
    if t.since.is_none() {
        t.since = Some(now_wire.to_string());
    }
    let key = (share.map(str::to_string), source);
    // One row is kept for the sum of everything beyond the others.
    if t.rows.len() >= MAX_SUMMARY_ROWS - 1 && !t.rows.contains_key(&key) {
        return bump(&mut t.rest, what, 1);
    }
    let row = t.rows.entry(key).or_insert_with(|| AccessTally {
        share_id: share.map(str::to_string),
        source: Some(source.to_string()),
        ..Default::default()
    });
    bump(row, what, 1);
}

/// Puts a row that could not be recorded back (a failed flush).
fn merge(t: &mut Tallies, row: AccessTally, source: Option<IpAddr>, since: &str) {
    let since = t.since.take().map_or(since.to_string(), |s| s.min(since.to_string()));
    t.since = Some(since.clone());
    let fold = |into: &mut AccessTally| {
        bump(into, Counted::Repeated, row.repeated);
        bump(into, Counted::NotFound, row.not_found);
        bump(into, Counted::RateLimited, row.rate_limited);
        bump(into, Counted::TooLong, row.too_long);
    };
    match source {
        Some(source) if t.rows.len() < MAX_SUMMARY_ROWS - 1 => {
            let key = (row.share_id.clone(), source);
            let into = t.rows.entry(key).or_insert_with(|| AccessTally {
                share_id: row.share_id.clone(),
                source: row.source.clone(),
                ..Default::default()
            });
            fold(into);
        }
        _ => fold(&mut t.rest),
    }
}

/// The layer on every unauthenticated route: spends the source's budget first.
pub async fn source_budget(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let source = source_of(&req);
    let now = gavel_ledger::clock::format_time(state.gavel.clock().now());
    if let Err(refused) = state.public.admit_source(source, &now) {
        return refused.into_response();
    }
    next.run(req).await
}

/// Records the counts every window while the server runs.
pub async fn run_flushes(state: AppState) {
    let every = state.public.limits().window;
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    loop {
        tick.tick().await;
        flush_now(&state).await;
    }
}

/// Records the counts now (also at shutdown, so a graceful stop loses none).
pub async fn flush_now(state: &AppState) {
    let (guard, gavel) = (state.public.clone(), state.gavel.clone());
    match tokio::task::spawn_blocking(move || guard.flush(&gavel)).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => {
            tracing::error!(error = %e, "could not record the share access summary; kept for the next try")
        }
        Err(e) => tracing::error!(error = %e, "share access summary task failed"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(n: u32) -> IpAddr {
        IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + n))
    }

    #[test]
    fn a_links_budget_is_shared_by_every_source() {
        let guard = PublicGuard::new(PublicLimits { per_link: 5, ..Default::default() });
        for n in 0..5 {
            assert!(guard.admit_link("hash", ip(n), "t").is_ok());
        }
        let refused = guard.admit_link("hash", ip(99), "t").unwrap_err().into_response();
        assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
        let retry: u64 = refused.headers()[header::RETRY_AFTER].to_str().unwrap().parse().unwrap();
        assert!((1..=60).contains(&retry));
        assert!(guard.admit_link("other", ip(99), "t").is_ok(), "another link has its own budget");
    }

    #[test]
    fn memory_stays_bounded_under_many_sources() {
        let guard = PublicGuard::new(PublicLimits { max_keys: 50, ..Default::default() });
        for n in 0..1_000 {
            let _ = guard.admit_source(ip(n), "t");
            guard.mark_recorded("shr", ip(n), "f");
            guard.count(Some("shr"), ip(n), Counted::NotFound, "t");
        }
        let inner = guard.lock();
        assert!(inner.sources.map.len() <= 50 && inner.recorded.len() <= 50);
        assert!(inner.tallies.rows.len() < MAX_SUMMARY_ROWS);
        let counted: u64 = inner.tallies.rows.values().map(|r| r.not_found).sum();
        assert_eq!(counted + inner.tallies.rest.not_found, 1_000, "nothing counted is lost");
    }

    #[test]
    fn a_window_that_ended_starts_over() {
        let mut w = Windows::new();
        let start = Instant::now();
        let window = Duration::from_secs(60);
        assert!(w.hit(&1, start, window, 1, 10).is_ok());
        assert!(w.hit(&1, start + Duration::from_secs(30), window, 1, 10).is_err());
        assert!(w.hit(&1, start + window, window, 1, 10).is_ok());
    }
}
