//! Failed authentications (SOC 2 CC6.2): who tried which credential from where, recorded without
//! letting anyone flood the log.
//!
//! A failed attempt is only *noted* in memory ([`Gavel::note_failed_authentication`]: one store
//! read to classify it, nothing written). Once a minute the server calls
//! [`Gavel::flush_failed_authentications`], which appends one `auth.failures` event with a row per
//! (credential, source, reason) seen since the last flush: its count and the first and last time.
//! Only presented tokens are noted (decide included): a missing or malformed `Authorization`
//! header is no credential and is not recorded.
//!
//! Invariants:
//! * the log gains at most one event per flush, whatever the attempt rate; an event holds at most
//!   [`MAX_ROWS_PER_EVENT`] rows, the rest are summed in `rows_omitted` / `attempts_omitted`, and
//!   memory holds at most [`MAX_NOTED`] distinct rows (further new rows are only counted);
//! * a token is never recorded: an unknown credential is named by the first 12 hex digits of its
//!   SHA-256 (`unknown:<hash>`, enough to correlate attempts, useless to replay); a revoked
//!   (rotated or deactivated) credential or an inactive user by the principal it belonged to;
//! * what was noted but not yet flushed is lost if the process dies (at most one minute of
//!   counts); the server flushes at shutdown too.

use crate::error::Result;
use crate::ids::token_hash;
use crate::Gavel;
use gavel_ledger::event::Actor;
use serde::Serialize;
use serde_json::json;
use std::collections::BTreeMap;

/// Rows written in one `auth.failures` event; the rest are summed.
pub const MAX_ROWS_PER_EVENT: usize = 100;
/// Distinct rows kept in memory between flushes; attempts beyond are counted, not itemized.
pub const MAX_NOTED: usize = 10_000;

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Key {
    credential: String,
    source: String,
    reason: &'static str,
}

#[derive(Debug, Clone, Serialize)]
struct Row {
    count: u64,
    first_at: String,
    last_at: String,
    /// The principal the credential belonged to, when it is known.
    #[serde(skip_serializing_if = "Option::is_none")]
    principal: Option<gavel_events::CredentialOwner>,
}

/// What was noted since the last flush.
#[derive(Debug, Default)]
pub(crate) struct Noted {
    rows: BTreeMap<Key, Row>,
    /// Attempts not itemized because `rows` was full.
    overflow: u64,
    since: Option<String>,
}

impl Gavel {
    /// Notes one failed authentication of `token` from `source` (an IP address, or `None` when
    /// unknown). Cheap: classifies the credential with one read, writes nothing.
    pub fn note_failed_authentication(&self, token: &str, source: Option<&str>) {
        let (credential, reason, principal) = self.classify_failed(token);
        let now = self.now();
        let mut noted = self.auth_failures.lock().unwrap_or_else(|p| p.into_inner());
        noted.since.get_or_insert_with(|| now.clone());
        let key = Key { credential, source: source.unwrap_or("unknown").to_string(), reason };
        if let Some(row) = noted.rows.get_mut(&key) {
            row.count += 1;
            row.last_at = now;
        } else if noted.rows.len() < MAX_NOTED {
            noted.rows.insert(key, Row { count: 1, first_at: now.clone(), last_at: now, principal });
        } else {
            noted.overflow += 1;
        }
    }

    /// How the failed credential is named in the record, why it failed, and whose it was.
    fn classify_failed(&self, token: &str) -> (String, &'static str, Option<gavel_events::CredentialOwner>) {
        let hash = token_hash(token);
        let unknown = || (format!("unknown:{}", &hash[..12.min(hash.len())]), "unknown credential", None);
        let Ok(Some(doc)) = self.store.get_doc("tokens", &hash) else { return unknown() };
        let (Some(kind), Some(id)) = (doc.body["principal_type"].as_str(), doc.body["principal_id"].as_str())
        else {
            return unknown();
        };
        let collection = if kind == "user" { "users" } else { "agents" };
        let record = self.store.get_doc(collection, id).ok().flatten();
        let name = record.as_ref().and_then(|d| d.body["name"].as_str().map(str::to_string));
        let status = record.as_ref().and_then(|d| d.body["status"].as_str().map(str::to_string));
        let principal = Some(gavel_events::CredentialOwner {
            kind: kind.into(),
            id: id.into(),
            name,
            status: status.clone(),
            other: Default::default(),
        });
        let reason = if doc.body["revoked"] != json!(false) {
            "revoked credential (rotated or deactivated)"
        } else if kind == "user" && status.as_deref() != Some("active") {
            "user not active"
        } else if kind == "agent" && status.as_deref() == Some("deactivated") {
            "agent deactivated"
        } else {
            // The credential is valid now: it failed for another reason (e.g. a race with its
            // rotation); still worth recording.
            "refused credential"
        };
        (format!("{kind}:{id}"), reason, principal)
    }

    /// Appends what was noted since the last flush as one `auth.failures` event and forgets it;
    /// returns the event's seq, or `None` when nothing was noted. On a failed append the noted
    /// rows are put back (merged with anything noted meanwhile), so nothing is lost.
    pub fn flush_failed_authentications(&self) -> Result<Option<u64>> {
        let noted = std::mem::take(&mut *self.auth_failures.lock().unwrap_or_else(|p| p.into_inner()));
        if noted.rows.is_empty() && noted.overflow == 0 {
            return Ok(None);
        }
        let mut rows: Vec<(&Key, &Row)> = noted.rows.iter().collect();
        // The loudest rows are itemized first.
        rows.sort_by(|a, b| b.1.count.cmp(&a.1.count).then(a.0.cmp(b.0)));
        let shown: Vec<gavel_events::AuthFailureRow> = rows
            .iter()
            .take(MAX_ROWS_PER_EVENT)
            .map(|(k, r)| gavel_events::AuthFailureRow {
                credential: k.credential.clone(),
                source: k.source.clone(),
                reason: k.reason.into(),
                count: r.count,
                first_at: r.first_at.clone(),
                last_at: r.last_at.clone(),
                principal: r.principal.clone(),
                other: Default::default(),
            })
            .collect();
        let omitted = &rows[shown.len()..];
        let attempts: u64 = rows.iter().map(|(_, r)| r.count).sum::<u64>() + noted.overflow;
        let data = crate::typed(&gavel_events::AuthFailures {
            since: noted.since.clone(),
            until: self.now(),
            attempts,
            rows: shown,
            rows_omitted: omitted.len() as u64,
            attempts_omitted: omitted.iter().map(|(_, r)| r.count).sum::<u64>() + noted.overflow,
            other: Default::default(),
        })?;
        match self.record(gavel_events::kind::AUTH_FAILURES, &Actor::system("auth"), data, Vec::new()) {
            Ok(appended) => Ok(Some(appended.seq)),
            Err(e) => {
                let mut now = self.auth_failures.lock().unwrap_or_else(|p| p.into_inner());
                for (key, row) in noted.rows {
                    match now.rows.get_mut(&key) {
                        Some(r) => {
                            r.count += row.count;
                            r.first_at = row.first_at;
                        }
                        None => {
                            now.rows.insert(key, row);
                        }
                    }
                }
                now.overflow += noted.overflow;
                if noted.since.is_some() {
                    now.since = noted.since;
                }
                Err(e)
            }
        }
    }
}
