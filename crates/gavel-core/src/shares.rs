//! Evidence exports on record, and read-only share links for auditors.
//!
//! Invariants:
//! * exports are recorded by core (`evidence_runs`: `evidence.exported`, `evidence_exports/<id>`
//!   with the SHA-256 of the signed `SHA256SUMS`); a share can only point at an export on record;
//! * a share link's token is shown once and stored only as its SHA-256; a link is scoped to one
//!   export, expires (1–365 days), and can be revoked; revocation and expiry take effect on the
//!   next request;
//! * the first access through a link to each file (or the listing) from one source in a window is
//!   a `share.accessed` event, written before anything is served (fail closed: if it cannot be
//!   recorded, nothing is served); its path is at most [`MAX_RECORDED_PATH`] characters;
//! * repeated and refused requests are not one event each (anyone holding a link could fill the
//!   disk with records that retention keeps for a year): the server counts them per link and
//!   source and records the counts once a window as one `share.access_summary` event
//!   ([`Gavel::record_share_summary`]), with one `share_accesses` document per link named.

use crate::{from_doc, CoreError, Gavel, Principal, Result};
use gavel_events::kind;
use gavel_evidence::export::EXPORTS_COLLECTION;
use gavel_ledger::clock::{format_time, parse_time};
use gavel_ledger::event::Actor;
use gavel_store::docs::{DocKeys, DocQuery, Expect, StateOp};
use serde::{Deserialize, Serialize};
use serde_json::json;

const SHARES: &str = "shares";
const SHARE_ACCESSES: &str = "share_accesses";
pub const MAX_SHARE_DAYS: u32 = 365;
/// The longest path a `share.accessed` event carries (longer ones are cut, marked with `…`).
pub const MAX_RECORDED_PATH: usize = 200;
/// At most this many (link, source) rows in one `share.access_summary` event.
pub const MAX_SUMMARY_ROWS: usize = 100;

/// Requests through share links counted instead of recorded one by one, for one (link, source).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AccessTally {
    /// The link, when the request named a known one.
    pub share_id: Option<String>,
    /// The peer address (`None` in the row that sums everything beyond [`MAX_SUMMARY_ROWS`]).
    pub source: Option<String>,
    /// Served again within the window after a recorded first access.
    pub repeated: u64,
    /// Unknown, revoked or expired link, or a path the bundle does not have.
    pub not_found: u64,
    /// Refused by the rate limit (429).
    pub rate_limited: u64,
    /// Refused as too long (414).
    pub too_long: u64,
}

impl AccessTally {
    /// The row as `share.access_summary` records it.
    fn event(&self) -> gavel_events::ShareAccessRow {
        gavel_events::ShareAccessRow {
            share_id: self.share_id.clone(),
            source: self.source.clone(),
            repeated: self.repeated,
            not_found: self.not_found,
            rate_limited: self.rate_limited,
            too_long: self.too_long,
            other: Default::default(),
        }
    }
}

/// One first access through a share link: its `share_accesses` document, and the same fields as
/// the `share.accessed` event ([`AccessRecord::event`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AccessRecord {
    pub share_id: String,
    pub export_id: String,
    /// The file read (`null`: the listing), cut at [`MAX_RECORDED_PATH`] characters.
    pub path: Option<String>,
    /// Who asked (address and user agent).
    pub client: String,
}

impl AccessRecord {
    /// The access as `share.accessed` records it.
    fn event(&self) -> gavel_events::ShareAccessed {
        gavel_events::ShareAccessed {
            share_id: self.share_id.clone(),
            export_id: self.export_id.clone(),
            path: self.path.clone(),
            client: self.client.clone(),
            other: Default::default(),
        }
    }
}

/// The window a summary counted requests over, `[from, to)` (wire times).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AccessWindow {
    pub from: String,
    pub to: String,
}

/// One link's row of a `share.access_summary`, as its `share_accesses` document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CountedAccesses {
    #[serde(flatten)]
    pub tally: AccessTally,
    pub summary: AccessWindow,
}

/// What a `share_accesses` document holds: a recorded first access, or the requests of one
/// source counted over a window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum AccessEntry {
    Recorded(AccessRecord),
    Counted(CountedAccesses),
}

/// One entry of a share link's accesses (`GET /v1/shares/{id}/accesses`), with the seq and time
/// of the event that recorded it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ShareAccess {
    #[serde(flatten)]
    pub entry: AccessEntry,
    pub seq: u64,
    pub time: String,
}

/// An evidence bundle on record (written by `gavel evidence export` or `POST /v1/compliance/exports`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ExportRecord {
    pub export_id: String,
    pub framework: String,
    /// The period, `[from, to)` dates.
    pub from: String,
    pub to: String,
    pub checkpoint_size: u64,
    pub checkpoint_root: String,
    /// SHA-256 (hex) of the bundle's signed `SHA256SUMS`: names the exact bundle.
    pub sha256sums_sha256: String,
    pub total_events: u64,
    pub type_ii: bool,
    #[serde(default)]
    pub simulated: bool,
    /// When it was recorded (the time of its `evidence.exported` event).
    #[serde(default)]
    pub recorded_at: String,
}

/// A read-only, expiring, revocable link to one export (never its token).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Share {
    pub id: String,
    pub export_id: String,
    pub created_by: String,
    pub created_at: String,
    pub expires_at: String,
    pub revoked: bool,
    pub revoked_by: Option<String>,
    pub revoked_at: Option<String>,
}

/// A new share link: the token is in `url_token` and is never shown again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct IssuedShare {
    #[serde(flatten)]
    pub share: Share,
    pub token: String,
}

impl Gavel {
    /// Exports on record, newest first (readers).
    pub fn exports(&self, by: &Principal) -> Result<Vec<ExportRecord>> {
        by.require_reader()?;
        self.export_records()
    }

    /// Exports on record, newest first (no caller check: for the server's own schedule).
    pub(crate) fn export_records(&self) -> Result<Vec<ExportRecord>> {
        self.store.query_docs(&DocQuery::new(EXPORTS_COLLECTION, 1000))?.into_iter().map(export_of).collect()
    }

    pub fn export(&self, by: &Principal, id: &str) -> Result<ExportRecord> {
        by.require_reader()?;
        self.export_record(id)
    }

    fn export_record(&self, id: &str) -> Result<ExportRecord> {
        let doc = self
            .store
            .get_doc(EXPORTS_COLLECTION, id)?
            .ok_or_else(|| CoreError::NotFound(format!("no export {id:?}")))?;
        export_of(doc)
    }

    /// Creates a read-only link to one export (admin), valid for `days` days.
    pub fn create_share(&self, by: &Principal, export_id: &str, days: u32) -> Result<IssuedShare> {
        self.create_share_of_held(by, export_id, days, |_| Ok(()))
    }

    /// [`Gavel::create_share`], refusing an export `held` says the caller cannot serve (the server:
    /// its bundle is not in the exports directory). `held` runs after the role check, so a caller
    /// without the role learns nothing about which exports exist or are held.
    pub fn create_share_of_held(
        &self,
        by: &Principal,
        export_id: &str,
        days: u32,
        held: impl FnOnce(&ExportRecord) -> Result<()>,
    ) -> Result<IssuedShare> {
        let user = by.require_admin()?;
        if !(1..=MAX_SHARE_DAYS).contains(&days) {
            return Err(CoreError::Invalid(format!(
                "a share link expires after 1 to {MAX_SHARE_DAYS} days, not {days}"
            )));
        }
        let export = self.export_record(export_id)?;
        held(&export)?;
        let token = crate::ids::new_token().replacen("gvl_", "gsh_", 1);
        let share = Share {
            id: crate::ids::new_id("shr"),
            export_id: export.export_id.clone(),
            created_by: user.name.clone(),
            created_at: self.now(),
            expires_at: format_time(self.clock.now() + time::Duration::days(i64::from(days))),
            revoked: false,
            revoked_by: None,
            revoked_at: None,
        };
        let created = gavel_events::ShareCreated {
            share_id: share.id.clone(),
            export_id: export.export_id.clone(),
            expires_at: share.expires_at.clone(),
            created_by: user.name.clone(),
            other: Default::default(),
        };
        self.record(
            kind::SHARE_CREATED,
            &by.actor(),
            crate::typed(&created)?,
            vec![StateOp::put(
                SHARES,
                &share.id,
                json!(share),
                DocKeys {
                    k1: Some(crate::ids::token_hash(&token)),
                    k2: Some(export.export_id),
                    ..Default::default()
                },
                Expect::Absent,
            )],
        )?;
        Ok(IssuedShare { share, token })
    }

    /// Share links, newest first (readers; never their tokens).
    pub fn shares(&self, by: &Principal) -> Result<Vec<Share>> {
        by.require_reader()?;
        self.all_docs(SHARES, 1000)
    }

    /// Revokes a link (admin): the next request through it is refused.
    pub fn revoke_share(&self, by: &Principal, id: &str) -> Result<Share> {
        let user = by.require_admin()?;
        let doc =
            self.store.get_doc(SHARES, id)?.ok_or_else(|| CoreError::NotFound(format!("no share {id:?}")))?;
        let (version, keys) = (doc.version, doc.keys.clone());
        let mut share: Share = from_doc(doc)?;
        if share.revoked {
            return Err(CoreError::Conflict(format!("share {id} is already revoked")));
        }
        share.revoked = true;
        share.revoked_by = Some(user.name.clone());
        share.revoked_at = Some(self.now());
        let revoked = gavel_events::ShareRevoked {
            share_id: id.to_string(),
            export_id: share.export_id.clone(),
            revoked_by: user.name.clone(),
            other: Default::default(),
        };
        self.record(
            kind::SHARE_REVOKED,
            &by.actor(),
            crate::typed(&revoked)?,
            vec![StateOp::put(SHARES, id, json!(share), keys, Expect::Version(version))],
        )?;
        Ok(share)
    }

    /// Admits one access through a share link and records it; returns the export it may read.
    /// `what` is the listing (`None`) or a file path; `client` says who asked (address, agent).
    pub fn access_share(&self, token: &str, what: Option<&str>, client: &str) -> Result<ExportRecord> {
        let (share, export) = self.open_share(token)?;
        self.record_share_access(&share, what, client)?;
        Ok(export)
    }

    /// The link a token names and its export, if the link is in force. Records nothing.
    pub fn open_share(&self, token: &str) -> Result<(Share, ExportRecord)> {
        let mut q = DocQuery::new(SHARES, 1);
        q.k1 = Some(crate::ids::token_hash(token));
        // One answer for unknown, revoked and expired links, so a link cannot be probed.
        let gone = || CoreError::NotFound("no such share link (unknown, revoked or expired)".into());
        let doc = self.store.query_docs(&q)?.into_iter().next().ok_or_else(gone)?;
        let share: Share = from_doc(doc)?;
        let expired = parse_time(&share.expires_at).is_none_or(|t| t <= self.clock.now());
        if share.revoked || expired {
            return Err(gone());
        }
        let export = self.export_record(&share.export_id)?;
        Ok((share, export))
    }

    /// Records one access through `share` (a `share.accessed` event and its document).
    pub fn record_share_access(&self, share: &Share, what: Option<&str>, client: &str) -> Result<()> {
        let path = what.map(|p| {
            if p.chars().count() <= MAX_RECORDED_PATH {
                p.to_string()
            } else {
                format!("{}…", p.chars().take(MAX_RECORDED_PATH).collect::<String>())
            }
        });
        let access = AccessRecord {
            share_id: share.id.clone(),
            export_id: share.export_id.clone(),
            path,
            client: client.into(),
        };
        self.record(
            kind::SHARE_ACCESSED,
            &Actor::system("share"),
            crate::typed(&access.event())?,
            // One document per access (never a shared counter), so parallel downloads never
            // conflict.
            vec![StateOp::put(
                SHARE_ACCESSES,
                &crate::ids::new_id("acc"),
                crate::typed(&access)?,
                DocKeys { k1: Some(share.id.clone()), ..Default::default() },
                Expect::Absent,
            )],
        )?;
        Ok(())
    }

    /// Records the requests through share links counted over `[from, to)` (wire times) as one
    /// `share.access_summary` event; each row naming a link is also a `share_accesses` document
    /// of that link, so its accesses list shows them. At most [`MAX_SUMMARY_ROWS`] rows.
    pub fn record_share_summary(&self, from: &str, to: &str, rows: &[AccessTally]) -> Result<()> {
        if rows.len() > MAX_SUMMARY_ROWS {
            return Err(CoreError::Invalid(format!(
                "a share access summary has at most {MAX_SUMMARY_ROWS} rows, not {}",
                rows.len()
            )));
        }
        let window = AccessWindow { from: from.to_string(), to: to.to_string() };
        let mut ops = Vec::new();
        for row in rows {
            let Some(share_id) = &row.share_id else { continue };
            let doc = crate::typed(&CountedAccesses { tally: row.clone(), summary: window.clone() })?;
            ops.push(StateOp::put(
                SHARE_ACCESSES,
                &crate::ids::new_id("acc"),
                doc,
                DocKeys { k1: Some(share_id.clone()), ..Default::default() },
                Expect::Absent,
            ));
        }
        let summary = gavel_events::ShareAccessSummary {
            from: from.to_string(),
            to: to.to_string(),
            rows: rows.iter().map(AccessTally::event).collect(),
            other: Default::default(),
        };
        self.record(kind::SHARE_ACCESS_SUMMARY, &Actor::system("share"), crate::typed(&summary)?, ops)?;
        Ok(())
    }

    /// Accesses recorded through a share link, newest first (readers).
    pub fn share_accesses(&self, by: &Principal, share_id: &str, limit: u32) -> Result<Vec<ShareAccess>> {
        by.require_reader()?;
        let mut q = DocQuery::new(SHARE_ACCESSES, limit.clamp(1, 1000));
        q.k1 = Some(share_id.into());
        self.store
            .query_docs(&q)?
            .into_iter()
            .map(|d| {
                let (seq, time) = (d.seq, d.time.clone());
                Ok(ShareAccess { entry: from_doc(d)?, seq, time })
            })
            .collect()
    }
}

fn export_of(doc: gavel_store::docs::Doc) -> Result<ExportRecord> {
    let time = doc.time.clone();
    let mut export: ExportRecord = from_doc(doc)?;
    export.recorded_at = time;
    Ok(export)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `share.accessed` was its document's JSON, and `share.access_summary` embedded the rows
    /// whole (`json!(rows)`): their event forms must be the same JSON.
    #[test]
    fn an_access_and_a_summary_row_are_recorded_in_their_serde_form() {
        for path in [None, Some("controls/CC6.1.json".to_string())] {
            let access = AccessRecord {
                share_id: "shr_1".into(),
                export_id: "exp_1".into(),
                path,
                client: "127.0.0.1 curl/8".into(),
            };
            assert_eq!(crate::typed(&access.event()).unwrap(), json!(access));
        }
        let rows = [
            AccessTally {
                share_id: Some("shr_1".into()),
                source: Some("127.0.0.1".into()),
                repeated: 3,
                ..Default::default()
            },
            AccessTally { not_found: 1, rate_limited: 2, too_long: 4, ..Default::default() },
        ];
        let typed: Vec<_> = rows.iter().map(AccessTally::event).collect();
        assert_eq!(crate::typed(&typed).unwrap(), json!(rows));
    }

    #[test]
    fn share_tokens_are_distinct_from_credentials() {
        let t = crate::ids::new_token().replacen("gvl_", "gsh_", 1);
        assert!(t.starts_with("gsh_") && t.len() > 40);
    }
}
