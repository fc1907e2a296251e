//! A loop that runs beside the API (the detector task, the webhook dispatcher): woken on every
//! tick of its interval, stopped cleanly.
//!
//! Invariants:
//! * [`Background::stop`] raises the stop flag, wakes the loop at once (no waiting out the
//!   interval) and returns only when the loop's future has finished — so whatever the loop had in
//!   flight has committed before `serve` signs its final checkpoint;
//! * the loop sees the stop through [`Ticks::next`] returning `false`, and through
//!   [`Ticks::stopping`] between steps of a long round;
//! * a loop started with a lease ([`Background::start_leased`]) gets a tick only while this
//!   replica holds the lease (renewed before every round), so it runs on one replica at a time.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A running background loop.
pub struct Background {
    stop: Arc<AtomicBool>,
    wake: Arc<tokio::sync::Notify>,
    task: tokio::task::JoinHandle<()>,
}

/// The lease a loop runs under: its name, the core that takes it, and a flag kept equal to
/// "this replica held it at the last renewal" (readiness reads the detectors').
pub struct Lease {
    pub gavel: Arc<gavel_core::Gavel>,
    pub name: &'static str,
    pub held: Arc<AtomicBool>,
}

impl Lease {
    pub fn new(gavel: &Arc<gavel_core::Gavel>, name: &'static str) -> Lease {
        Lease { gavel: gavel.clone(), name, held: Arc::new(AtomicBool::new(false)) }
    }
}

/// What a background loop waits on: its interval, or the stop.
pub struct Ticks {
    stop: Arc<AtomicBool>,
    wake: Arc<tokio::sync::Notify>,
    tick: tokio::time::Interval,
    lease: Option<Lease>,
}

impl Ticks {
    /// Waits for the next tick (the first is immediate) at which this replica holds the loop's
    /// lease, if it has one; `false` once the loop is to stop.
    pub async fn next(&mut self) -> bool {
        loop {
            if self.stopping() {
                return false;
            }
            tokio::select! {
                _ = self.tick.tick() => {}
                _ = self.wake.notified() => {}
            }
            if self.stopping() {
                return false;
            }
            let Some(lease) = &self.lease else { return true };
            let (gavel, name) = (lease.gavel.clone(), lease.name);
            let held = tokio::task::spawn_blocking(move || gavel.hold_lease(name)).await.unwrap_or(false);
            if lease.held.swap(held, Ordering::SeqCst) != held {
                tracing::info!(lease = name, held, "lease changed hands");
            }
            if held {
                return true;
            }
        }
    }

    /// True once [`Background::stop`] was called.
    pub fn stopping(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    /// The stop flag, for work that runs off the loop's task (e.g. on the blocking pool).
    pub fn stop_flag(&self) -> Arc<AtomicBool> {
        self.stop.clone()
    }
}

impl Background {
    /// Spawns `body` on the current runtime with its [`Ticks`] every `interval`. A tick missed
    /// while a round ran is not made up for: the next round starts one interval later.
    pub fn start<F, Fut>(interval: Duration, body: F) -> Background
    where
        F: FnOnce(Ticks) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        Self::start_with(interval, None, body)
    }

    /// Like [`Background::start`], with ticks only while this replica holds `lease`.
    pub fn start_leased<F, Fut>(interval: Duration, lease: Lease, body: F) -> Background
    where
        F: FnOnce(Ticks) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        Self::start_with(interval, Some(lease), body)
    }

    fn start_with<F, Fut>(interval: Duration, lease: Option<Lease>, body: F) -> Background
    where
        F: FnOnce(Ticks) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let stop = Arc::new(AtomicBool::new(false));
        let wake = Arc::new(tokio::sync::Notify::new());
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let ticks = Ticks { stop: stop.clone(), wake: wake.clone(), tick, lease };
        let task = tokio::spawn(body(ticks));
        Background { stop, wake, task }
    }

    /// Stops the loop and waits until it has finished.
    pub async fn stop(self) {
        self.stop.store(true, Ordering::SeqCst);
        self.wake.notify_one();
        let _ = self.task.await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU32;

    #[tokio::test]
    async fn ticks_until_stopped_and_stop_waits_for_the_round_in_flight() {
        let rounds = Arc::new(AtomicU32::new(0));
        let finished = Arc::new(AtomicBool::new(false));
        let (r, f) = (rounds.clone(), finished.clone());
        let bg = Background::start(Duration::from_millis(5), move |mut ticks| async move {
            while ticks.next().await {
                r.fetch_add(1, Ordering::SeqCst);
                // A round that takes a while: stop must wait for it.
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            f.store(true, Ordering::SeqCst);
        });
        tokio::time::sleep(Duration::from_millis(60)).await;
        bg.stop().await;
        assert!(finished.load(Ordering::SeqCst), "stop returned before the loop ended");
        let after_stop = rounds.load(Ordering::SeqCst);
        assert!(after_stop >= 2, "the loop ticked: {after_stop}");
        tokio::time::sleep(Duration::from_millis(30)).await;
        assert_eq!(rounds.load(Ordering::SeqCst), after_stop, "no round after stop");
    }

    #[tokio::test]
    async fn stop_does_not_wait_out_a_long_interval() {
        let bg =
            Background::start(
                Duration::from_secs(3600),
                |mut ticks| async move { while ticks.next().await {} },
            );
        tokio::time::sleep(Duration::from_millis(10)).await;
        tokio::time::timeout(Duration::from_secs(5), bg.stop()).await.expect("stopped promptly");
    }
}
