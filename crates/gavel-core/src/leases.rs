//! Background work that must run once across replicas (detectors, webhook and notification
//! delivery, checkpoint signing and upload, retention purges, scheduled scans and exports) runs
//! only on the replica holding its lease.
//!
//! Invariants: a lease is held for [`LEASE_TTL`] from its last renewal, measured by the database's
//! clock; it passes to another replica only once it expired, so a replica that died hands its
//! work over within that time. A lease that cannot be read (the database is unreachable) counts
//! as not held: the work pauses rather than risk running twice. A single-process store (SQLite)
//! grants every lease.

use crate::Gavel;
use std::time::Duration;

/// How long a lease lasts without renewal. Loops renew it every round (their intervals are a few
/// seconds at most), so only a replica that stopped or lost the database lets it lapse.
pub const LEASE_TTL: Duration = Duration::from_secs(15);

/// A name for this process among the replicas: host, process id and a random part (a restarted
/// process is a new holder).
pub(crate) fn new_replica_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_default();
    let host = if host.is_empty() { "host".to_string() } else { host };
    format!("{host}:{}:{}", std::process::id(), crate::ids::new_id("r").trim_start_matches("r_"))
}

impl Gavel {
    /// This process's name among the replicas: the holder of its leases.
    pub fn replica_id(&self) -> &str {
        &self.replica_id
    }

    /// Takes or renews the lease `name` for this replica; true while this replica holds it. A
    /// database error is logged and counts as not held. Blocking: call from blocking contexts.
    pub fn hold_lease(&self, name: &str) -> bool {
        match self.store.acquire_lease(name, &self.replica_id, LEASE_TTL) {
            Ok(held) => held,
            Err(e) => {
                tracing::warn!(lease = name, error = %e, "could not renew the lease; its work pauses here");
                false
            }
        }
    }
}
