//! Retention and legal hold: how long event payloads are kept, and what may never be purged.
//!
//! Invariants:
//! * the retention period is never below [`MIN_RETENTION_DAYS`] (a lower setting is refused);
//! * a purge clears only payloads of events older than the period, never of an event under an
//!   active legal hold, and never of a purge, retention or hold record ([`KEPT_KIND_PREFIXES`]);
//! * each purge is one `retention.purged` event committed in the same transaction as the
//!   clearing, naming the exact seq ranges it cleared and how many payloads; leaf hashes, Merkle
//!   nodes and checkpoints stay, so the chain and every proof still verify, and verification
//!   refuses any missing payload no purge record covers (see `gavel_ledger::verify`);
//! * a hold is placed by one admin and released only when a second admin approves the release;
//! * the period (`retention/policy`) defaults to the minimum; keeping or lengthening it applies
//!   at once (and supersedes a pending shortening); shortening is a request (`retention/pending`,
//!   `retention.change_requested`) that a different admin approves (`retention.policy_set`
//!   names both);
//! * a purge clears at most `Settings::purge_batch` (50,000) seqs per transaction, and also
//!   deletes the `decisions` documents of the cleared range (they repeat the arguments). A hold
//!   (`holds/<id>`) covers a time range, mapped to seqs at purge time by binary search over
//!   event times (which never decrease).
//!
//! Progress is kept in one document (`retention/state`): everything below `purged_upto` was
//! considered, except the `deferred` ranges that were held at the time and are reconsidered on
//! every run. Each purge batch moves that document with compare-and-set, so concurrent or
//! crashed runs never clear a range twice or skip one.

use crate::{from_doc, CoreError, Gavel, Principal, Result};
use gavel_events::kind;
use gavel_ledger::clock::{format_time, parse_time};
use gavel_ledger::event::{Actor, EventDraft, PURGE_RECORD_KIND};
use gavel_store::docs::{DocKeys, DocQuery, Expect, Purge, StateOp};
use serde::{Deserialize, Serialize};
use serde_json::json;

/// The shortest retention gavel accepts: SOC 2 auditors expect a year of records.
pub const MIN_RETENTION_DAYS: u32 = 365;
/// The longest accepted (a typo guard; a century is "forever" for a log).
pub const MAX_RETENTION_DAYS: u32 = 36_500;
/// Payloads of these kinds are never purged: they are the proof of what was deleted and why.
pub const KEPT_KIND_PREFIXES: [&str; 2] = ["retention.", "hold."];
/// Per-call documents that repeat event payloads (tool arguments) and go with them.
const PURGED_COLLECTIONS: [&str; 1] = ["decisions"];

const RETENTION: &str = "retention";
const HOLDS: &str = "holds";

/// A half-open seq range `[from, to)`.
pub type SeqRange = (u64, u64);

/// The retention period in force.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RetentionPolicy {
    pub days: u32,
    /// Who set it; `None` for the built-in default.
    pub set_by: Option<String>,
    pub set_at: Option<String>,
}

/// A request to shorten the retention period, waiting for a second admin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PendingRetention {
    pub days: u32,
    pub previous_days: u32,
    pub requested_by: String,
    pub requested_at: String,
    /// `pending`, then `approved` (by `approved_by`) or `superseded` (by a later change).
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approved_by: Option<String>,
}

impl PendingRetention {
    /// The request as a `retention.policy_set` that superseded it records it.
    fn event(&self) -> gavel_events::RetentionRequest {
        gavel_events::RetentionRequest {
            days: self.days,
            previous_days: self.previous_days,
            requested_by: self.requested_by.clone(),
            requested_at: self.requested_at.clone(),
            status: self.status.clone(),
            approved_by: self.approved_by.clone(),
            other: Default::default(),
        }
    }
}

/// What asking for a retention period did: lengthening (or keeping) applies at once; shortening
/// waits for a different admin ([`Gavel::approve_retention`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RetentionChange {
    pub status: RetentionChangeStatus,
    pub policy: RetentionPolicy,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pending: Option<PendingRetention>,
}

/// Whether a retention change applies now or waits for a second admin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RetentionChangeStatus {
    /// Kept or lengthened: in force at once.
    Applied,
    /// A shortening: a different admin approves it.
    Pending,
}

impl Default for RetentionPolicy {
    fn default() -> Self {
        RetentionPolicy { days: MIN_RETENTION_DAYS, set_by: None, set_at: None }
    }
}

/// The retention period in force and what purging has done (`GET /v1/retention`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RetentionOverview {
    pub policy: RetentionPolicy,
    /// A shortening waiting for a second admin, if any.
    pub pending: Option<PendingRetention>,
    pub minimum_days: u32,
    /// Kinds whose payloads are never purged (patterns).
    pub kept_kinds: Vec<String>,
    pub state: RetentionState,
    /// Legal holds not released.
    pub holds_in_force: usize,
}

/// How far purging has got.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RetentionState {
    /// Every seq below this was considered by a purge.
    pub purged_upto: u64,
    /// Ranges below `purged_upto` that were not cleared (held, or not reached yet), each
    /// `[from, to)`.
    #[schema(value_type = Vec<Vec<u64>>)]
    pub deferred: Vec<SeqRange>,
}

/// What a legal hold covers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum HoldScope {
    /// Events with `from <= time < to` (log time form).
    TimeRange { from: String, to: String },
    /// An incident's events: its linked events and every entry of its timeline, including
    /// those added after the hold was placed.
    Incident { incident_id: String },
}

impl HoldScope {
    /// The scope as `hold.placed` records it.
    fn event(&self) -> gavel_events::HoldScope {
        match self {
            HoldScope::TimeRange { from, to } => gavel_events::HoldScope {
                kind: "time_range".into(),
                from: Some(from.clone()),
                to: Some(to.clone()),
                ..Default::default()
            },
            HoldScope::Incident { incident_id } => gavel_events::HoldScope {
                kind: "incident".into(),
                incident_id: Some(incident_id.clone()),
                ..Default::default()
            },
        }
    }
}

/// Where a legal hold is in its two-person release.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum HoldStatus {
    Active,
    /// A release was asked for; the hold still holds until a second admin approves.
    ReleaseRequested,
    Released,
}

impl HoldStatus {
    fn as_str(self) -> &'static str {
        match self {
            HoldStatus::Active => "active",
            HoldStatus::ReleaseRequested => "release_requested",
            HoldStatus::Released => "released",
        }
    }
}

/// A legal hold: nothing it covers is purged until two admins release it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Hold {
    pub id: String,
    pub scope: HoldScope,
    pub reason: String,
    pub status: HoldStatus,
    pub placed_by: String,
    pub placed_at: String,
    pub release_requested_by: Option<String>,
    pub release_requested_at: Option<String>,
    pub release_reason: Option<String>,
    pub released_by: Option<String>,
    pub released_at: Option<String>,
}

/// The outcome of one purge run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PurgeReport {
    pub retention_days: u32,
    /// Events before this time were past retention.
    pub cutoff: String,
    /// The seq ranges whose payloads were cleared, over all batches.
    #[schema(value_type = Vec<Vec<u64>>)]
    pub cleared: Vec<SeqRange>,
    pub payloads_cleared: u64,
    /// Ranges past retention kept because a legal hold covers them.
    #[schema(value_type = Vec<Vec<u64>>)]
    pub held: Vec<SeqRange>,
    /// The seqs of the `retention.purged` records written (one per batch).
    pub records: Vec<u64>,
}

/// Parses an RFC 3339 time or a `YYYY-MM-DD` date (midnight UTC) into the log's time form.
pub fn parse_bound(name: &str, value: &str) -> Result<String> {
    let value = value.trim();
    let full = if value.len() == 10 { format!("{value}T00:00:00Z") } else { value.to_string() };
    parse_time(&full).map(format_time).ok_or_else(|| {
        CoreError::Invalid(format!("{name} {value:?} is not a date (2026-11-01) or an RFC 3339 time"))
    })
}

/// Sorted, disjoint, non-empty ranges covering the same seqs as `ranges`.
pub fn normalize(mut ranges: Vec<SeqRange>) -> Vec<SeqRange> {
    ranges.retain(|(a, b)| a < b);
    ranges.sort_unstable();
    let mut out: Vec<SeqRange> = Vec::with_capacity(ranges.len());
    for (a, b) in ranges {
        match out.last_mut() {
            Some(last) if a <= last.1 => last.1 = last.1.max(b),
            _ => out.push((a, b)),
        }
    }
    out
}

/// `(ranges ∖ minus, ranges ∩ minus)`, both normalized.
pub fn split_by(ranges: &[SeqRange], minus: &[SeqRange]) -> (Vec<SeqRange>, Vec<SeqRange>) {
    let minus = normalize(minus.to_vec());
    let (mut outside, mut inside) = (Vec::new(), Vec::new());
    for &(from, to) in &normalize(ranges.to_vec()) {
        let mut at = from;
        for &(m_from, m_to) in minus.iter().filter(|(a, b)| *b > from && *a < to) {
            if m_from > at {
                outside.push((at, m_from));
            }
            inside.push((at.max(m_from), to.min(m_to)));
            at = at.max(m_to);
        }
        if at < to {
            outside.push((at, to));
        }
    }
    (normalize(outside), normalize(inside))
}

/// The first batch of `ranges` (at most `max` seqs) and the rest.
fn take_batch(ranges: &[SeqRange], max: u64) -> (Vec<SeqRange>, Vec<SeqRange>) {
    let (mut batch, mut rest) = (Vec::new(), Vec::new());
    let mut room = max;
    for &(from, to) in ranges {
        if room == 0 {
            rest.push((from, to));
        } else if to - from <= room {
            batch.push((from, to));
            room -= to - from;
        } else {
            batch.push((from, from + room));
            rest.push((from + room, to));
            room = 0;
        }
    }
    (batch, rest)
}

impl Gavel {
    /// The retention period in force (the default until an admin sets one). No caller check: the
    /// purge, the scans and the server's export schedule read it; callers get it through
    /// [`Gavel::retention_overview`].
    pub(crate) fn retention_policy(&self) -> Result<RetentionPolicy> {
        match self.store.get_doc(RETENTION, "policy")? {
            Some(doc) => from_doc(doc),
            None => Ok(RetentionPolicy::default()),
        }
    }

    /// The retention period in force, a shortening waiting for approval, the minimum, the kinds
    /// never purged, how far purging got and how many holds are in force (readers).
    pub fn retention_overview(&self, by: &Principal) -> Result<RetentionOverview> {
        by.require_reader()?;
        let holds: Vec<Hold> = self.all_docs(HOLDS, 10_000)?;
        Ok(RetentionOverview {
            policy: self.retention_policy()?,
            pending: self.pending_retention_versioned()?.map(|(p, _)| p),
            minimum_days: MIN_RETENTION_DAYS,
            kept_kinds: KEPT_KIND_PREFIXES.iter().map(|k| format!("{k}*")).collect(),
            state: self.retention_state_versioned()?.0,
            holds_in_force: holds.iter().filter(|h| h.status != HoldStatus::Released).count(),
        })
    }

    fn retention_state_versioned(&self) -> Result<(RetentionState, Expect)> {
        match self.store.get_doc(RETENTION, "state")? {
            Some(doc) => {
                let version = doc.version;
                Ok((from_doc(doc)?, Expect::Version(version)))
            }
            None => Ok((RetentionState::default(), Expect::Absent)),
        }
    }

    fn pending_retention_versioned(&self) -> Result<Option<(PendingRetention, u64)>> {
        let Some(doc) = self.store.get_doc(RETENTION, "pending")? else { return Ok(None) };
        let version = doc.version;
        let pending: PendingRetention = from_doc(doc)?;
        Ok((pending.status == "pending").then_some((pending, version)))
    }

    fn pending_expect(&self) -> Result<Expect> {
        Ok(match self.store.get_doc(RETENTION, "pending")? {
            Some(doc) => Expect::Version(doc.version),
            None => Expect::Absent,
        })
    }

    /// Asks for a retention period (admin). Below [`MIN_RETENTION_DAYS`] is refused. Keeping or
    /// lengthening it applies at once; shortening it (which lets purges delete sooner) is a
    /// pending request that a *different* admin approves, as releasing a legal hold is. A new
    /// request replaces a pending one.
    pub fn set_retention(&self, by: &Principal, days: u32) -> Result<RetentionChange> {
        let user = by.require_admin()?;
        if days < MIN_RETENTION_DAYS {
            return Err(CoreError::Invalid(format!(
                "retention of {days} days is below the minimum of {MIN_RETENTION_DAYS} days that decision, \
                 approval, incident and policy records must be kept"
            )));
        }
        if days > MAX_RETENTION_DAYS {
            return Err(CoreError::Invalid(format!("retention of {days} days exceeds {MAX_RETENTION_DAYS}")));
        }
        let previous = self.retention_policy()?;
        let outstanding = self.pending_retention_versioned()?;
        let pending_expect = self.pending_expect()?;
        if days < previous.days {
            let pending = PendingRetention {
                days,
                previous_days: previous.days,
                requested_by: user.name.clone(),
                requested_at: self.now(),
                status: "pending".into(),
                approved_by: None,
            };
            let requested = gavel_events::RetentionChangeRequested {
                days,
                previous_days: previous.days,
                requested_by: user.name.clone(),
                other: Default::default(),
            };
            self.record(
                kind::RETENTION_CHANGE_REQUESTED,
                &by.actor(),
                crate::typed(&requested)?,
                vec![StateOp::put(RETENTION, "pending", json!(pending), DocKeys::default(), pending_expect)],
            )?;
            return Ok(RetentionChange {
                status: RetentionChangeStatus::Pending,
                policy: previous,
                pending: Some(pending),
            });
        }
        let policy = RetentionPolicy { days, set_by: Some(user.name.clone()), set_at: Some(self.now()) };
        let mut ops =
            vec![StateOp::put(RETENTION, "policy", json!(policy), DocKeys::default(), self.policy_expect()?)];
        let superseded = outstanding.map(|(mut p, version)| {
            // Keeping or lengthening supersedes a pending shortening.
            p.status = "superseded".into();
            ops.push(StateOp::put(
                RETENTION,
                "pending",
                json!(p),
                DocKeys::default(),
                Expect::Version(version),
            ));
            p
        });
        let set = gavel_events::RetentionPolicySet {
            days,
            previous_days: previous.days,
            set_by: user.name.clone(),
            superseded_request: Some(superseded.as_ref().map(PendingRetention::event)),
            ..Default::default()
        };
        self.record(kind::RETENTION_POLICY_SET, &by.actor(), crate::typed(&set)?, ops)?;
        Ok(RetentionChange { status: RetentionChangeStatus::Applied, policy, pending: None })
    }

    /// Approves a pending shortening (a second admin): it applies from now on.
    pub fn approve_retention(&self, by: &Principal) -> Result<RetentionPolicy> {
        let user = by.require_admin()?;
        let (mut pending, version) = self
            .pending_retention_versioned()?
            .ok_or_else(|| CoreError::Conflict("no retention change is pending".into()))?;
        if pending.requested_by == user.name {
            return Err(CoreError::Forbidden(
                "two-person rule: the admin who asked to shorten retention cannot approve it".into(),
            ));
        }
        let previous = self.retention_policy()?;
        let policy =
            RetentionPolicy { days: pending.days, set_by: Some(user.name.clone()), set_at: Some(self.now()) };
        pending.status = "approved".into();
        pending.approved_by = Some(user.name.clone());
        let set = gavel_events::RetentionPolicySet {
            days: pending.days,
            previous_days: previous.days,
            set_by: user.name.clone(),
            requested_by: Some(pending.requested_by.clone()),
            approved_by: Some(user.name.clone()),
            ..Default::default()
        };
        self.record(
            kind::RETENTION_POLICY_SET,
            &by.actor(),
            crate::typed(&set)?,
            vec![
                StateOp::put(RETENTION, "policy", json!(policy), DocKeys::default(), self.policy_expect()?),
                StateOp::put(
                    RETENTION,
                    "pending",
                    json!(pending),
                    DocKeys::default(),
                    Expect::Version(version),
                ),
            ],
        )?;
        Ok(policy)
    }

    fn policy_expect(&self) -> Result<Expect> {
        Ok(match self.store.get_doc(RETENTION, "policy")? {
            Some(doc) => Expect::Version(doc.version),
            None => Expect::Absent,
        })
    }

    /// Places a legal hold on a time range (admin): nothing in it is purged until released.
    pub fn place_hold(&self, by: &Principal, from: &str, to: &str, reason: &str) -> Result<Hold> {
        by.require_admin()?;
        let (from, to) = (parse_bound("from", from)?, parse_bound("to", to)?);
        if from >= to {
            return Err(CoreError::Invalid(format!("the hold's from ({from}) must be before its to ({to})")));
        }
        self.place(by, HoldScope::TimeRange { from, to }, reason)
    }

    /// Places a legal hold on an incident's events (admin).
    pub fn place_incident_hold(&self, by: &Principal, incident_id: &str, reason: &str) -> Result<Hold> {
        by.require_admin()?;
        if self.store.get_doc(crate::incidents::INCIDENTS, incident_id)?.is_none() {
            return Err(CoreError::NotFound(format!("no incident {incident_id:?}")));
        }
        self.place(by, HoldScope::Incident { incident_id: incident_id.into() }, reason)
    }

    fn place(&self, by: &Principal, scope: HoldScope, reason: &str) -> Result<Hold> {
        let user = by.require_admin()?;
        if reason.trim().is_empty() {
            return Err(CoreError::Invalid("say why the records are held (reason)".into()));
        }
        let hold = Hold {
            id: crate::ids::new_id("hold"),
            scope,
            reason: reason.into(),
            status: HoldStatus::Active,
            placed_by: user.name.clone(),
            placed_at: self.now(),
            release_requested_by: None,
            release_requested_at: None,
            release_reason: None,
            released_by: None,
            released_at: None,
        };
        let placed = gavel_events::HoldPlaced {
            hold_id: hold.id.clone(),
            scope: hold.scope.event(),
            reason: reason.into(),
            placed_by: user.name.clone(),
            other: Default::default(),
        };
        self.record(
            kind::HOLD_PLACED,
            &by.actor(),
            crate::typed(&placed)?,
            vec![hold_op(&hold, Expect::Absent)],
        )?;
        Ok(hold)
    }

    /// Asks for a hold to be released; it stays in force until a different admin approves.
    pub fn request_hold_release(&self, by: &Principal, id: &str, reason: &str) -> Result<Hold> {
        let user = by.require_admin()?;
        if reason.trim().is_empty() {
            return Err(CoreError::Invalid("say why the hold can be released (reason)".into()));
        }
        let (mut hold, version) = self.hold_versioned(id)?;
        if hold.status != HoldStatus::Active {
            return Err(CoreError::Conflict(format!("hold {id} is {}, not active", hold.status.as_str())));
        }
        hold.status = HoldStatus::ReleaseRequested;
        hold.release_requested_by = Some(user.name.clone());
        hold.release_requested_at = Some(self.now());
        hold.release_reason = Some(reason.into());
        let requested = gavel_events::HoldReleaseRequested {
            hold_id: id.into(),
            requested_by: user.name.clone(),
            reason: reason.into(),
            other: Default::default(),
        };
        self.record(
            kind::HOLD_RELEASE_REQUESTED,
            &by.actor(),
            crate::typed(&requested)?,
            vec![hold_op(&hold, Expect::Version(version))],
        )?;
        Ok(hold)
    }

    /// Approves a requested release (a second admin): the held range may be purged from now on.
    pub fn approve_hold_release(&self, by: &Principal, id: &str) -> Result<Hold> {
        let user = by.require_admin()?;
        let (mut hold, version) = self.hold_versioned(id)?;
        if hold.status != HoldStatus::ReleaseRequested {
            return Err(CoreError::Conflict(format!(
                "hold {id} is {}: a release must be requested first",
                hold.status.as_str()
            )));
        }
        if hold.release_requested_by.as_deref() == Some(user.name.as_str()) {
            return Err(CoreError::Forbidden(
                "two-person rule: the admin who requested a hold's release cannot approve it".into(),
            ));
        }
        hold.status = HoldStatus::Released;
        hold.released_by = Some(user.name.clone());
        hold.released_at = Some(self.now());
        let released = gavel_events::HoldReleased {
            hold_id: id.into(),
            requested_by: hold.release_requested_by.clone(),
            approved_by: user.name.clone(),
            other: Default::default(),
        };
        self.record(
            kind::HOLD_RELEASED,
            &by.actor(),
            crate::typed(&released)?,
            vec![hold_op(&hold, Expect::Version(version))],
        )?;
        Ok(hold)
    }

    /// Holds, newest first.
    pub fn holds(&self, by: &Principal) -> Result<Vec<Hold>> {
        by.require_reader()?;
        self.all_docs(HOLDS, 10_000)
    }

    pub fn hold(&self, by: &Principal, id: &str) -> Result<Hold> {
        by.require_reader()?;
        Ok(self.hold_versioned(id)?.0)
    }

    fn hold_versioned(&self, id: &str) -> Result<(Hold, u64)> {
        let doc =
            self.store.get_doc(HOLDS, id)?.ok_or_else(|| CoreError::NotFound(format!("no hold {id:?}")))?;
        let version = doc.version;
        Ok((from_doc(doc)?, version))
    }

    /// The seq ranges that holds in force (active or awaiting release approval) cover now.
    fn held_ranges(&self) -> Result<Vec<SeqRange>> {
        let mut ranges = Vec::new();
        for status in [HoldStatus::Active, HoldStatus::ReleaseRequested] {
            let mut q = DocQuery::new(HOLDS, 10_000);
            q.k1 = Some(status.as_str().into());
            for doc in self.store.query_docs(&q)? {
                let hold: Hold = from_doc(doc)?;
                match hold.scope {
                    HoldScope::TimeRange { from, to } => {
                        ranges.push((self.store.first_seq_at(&from)?, self.store.first_seq_at(&to)?));
                    }
                    HoldScope::Incident { incident_id } => {
                        ranges.extend(self.incident_seqs(&incident_id)?.into_iter().map(|s| (s, s + 1)));
                    }
                }
            }
        }
        Ok(normalize(ranges))
    }

    /// The seqs of an incident's events: linked evidence and every timeline entry.
    fn incident_seqs(&self, incident_id: &str) -> Result<Vec<u64>> {
        let mut seqs = Vec::new();
        if let Some(doc) = self.store.get_doc(crate::incidents::INCIDENTS, incident_id)? {
            let incident: crate::incidents::Incident = from_doc(doc)?;
            seqs.extend(incident.linked_seqs);
        }
        let mut q = DocQuery::new(crate::incidents::ENTRIES, 100_000);
        q.k1 = Some(incident_id.into());
        seqs.extend(self.store.query_docs(&q)?.into_iter().map(|d| d.seq));
        Ok(seqs)
    }

    /// Purges event payloads past retention, except held ones (admin, or the scheduled job when
    /// `by` is `None`). Idempotent: a second run right after the first clears nothing.
    pub fn purge_expired(&self, by: Option<&Principal>) -> Result<PurgeReport> {
        let actor = match by {
            Some(p) => {
                p.require_admin()?;
                p.actor()
            }
            None => Actor::system("retention"),
        };
        let policy = self.retention_policy()?;
        let cutoff = format_time(self.clock.now() - time::Duration::days(i64::from(policy.days)));
        let cutoff_seq = self.store.first_seq_at(&cutoff)?;
        let (state, mut expect) = self.retention_state_versioned()?;
        let held = self.held_ranges()?;
        let mut candidates = state.deferred.clone();
        if state.purged_upto < cutoff_seq {
            candidates.push((state.purged_upto, cutoff_seq));
        }
        let (mut to_clear, held_now) = split_by(&candidates, &held);
        let keep: Vec<String> = KEPT_KIND_PREFIXES.iter().map(|k| k.to_string()).collect();
        let mut report = PurgeReport {
            retention_days: policy.days,
            cutoff: cutoff.clone(),
            cleared: Vec::new(),
            payloads_cleared: 0,
            held: held_now.clone(),
            records: Vec::new(),
        };
        let watermark = state.purged_upto.max(cutoff_seq);
        while !to_clear.is_empty() {
            let (batch, rest) = take_batch(&to_clear, self.settings.purge_batch.max(1));
            let mut expected = 0;
            for &(from, to) in &batch {
                expected += self.store.count_payloads(from, to, &keep)?;
            }
            // Whatever is left for later runs: held ranges, and unfinished work (below the old
            // watermark it must be listed; above it the watermark stays at its start).
            let pending_above = rest.iter().find(|r| r.0 >= state.purged_upto).map_or(watermark, |r| r.0);
            let next = RetentionState {
                purged_upto: pending_above,
                deferred: normalize(
                    held_now
                        .iter()
                        .copied()
                        .chain(rest.iter().copied().filter(|r| r.0 < pending_above))
                        .collect(),
                ),
            };
            let data = crate::typed(&gavel_events::RetentionPurged {
                ranges: batch.clone(),
                payloads_cleared: expected,
                retention_days: policy.days,
                cutoff: cutoff.clone(),
                kept_kinds: Some(KEPT_KIND_PREFIXES.iter().map(|k| format!("{k}*")).collect()),
                held_ranges: held_now.clone(),
                documents_dropped: Some(PURGED_COLLECTIONS.iter().map(|c| c.to_string()).collect()),
                other: Default::default(),
            })?;
            let draft = EventDraft::new(PURGE_RECORD_KIND, actor.clone(), data)
                .map_err(|e| CoreError::Internal(e.to_string()))?;
            let purge = Purge {
                ranges: batch.clone(),
                keep_kind_prefixes: keep.clone(),
                collections: PURGED_COLLECTIONS.iter().map(|c| c.to_string()).collect(),
                expected_payloads: expected,
            };
            let op = StateOp::put(RETENTION, "state", json!(next), DocKeys::default(), expect);
            let appended = self
                .store
                .submit_purge(draft, vec![op], purge)?
                .blocking_recv()
                .map_err(|_| CoreError::Unavailable("the log writer stopped".into()))??;
            expect = Expect::Version(match expect {
                Expect::Version(v) => v + 1,
                _ => 1,
            });
            report.records.push(appended.seq);
            report.payloads_cleared += expected;
            report.cleared.extend(batch);
            to_clear = rest;
        }
        if report.records.is_empty() && (state.purged_upto < watermark || state.deferred != held_now) {
            // Nothing to clear, but the frontier moved (everything past retention was kept
            // kinds or is held): record the new state so later runs start from there.
            let next = RetentionState { purged_upto: watermark, deferred: held_now.clone() };
            let frontier = gavel_events::RetentionPurged {
                ranges: Vec::new(),
                payloads_cleared: 0,
                retention_days: policy.days,
                cutoff: cutoff.clone(),
                kept_kinds: None,
                held_ranges: held_now.clone(),
                documents_dropped: None,
                other: Default::default(),
            };
            let appended = self.record(
                PURGE_RECORD_KIND,
                &actor,
                crate::typed(&frontier)?,
                vec![StateOp::put(RETENTION, "state", json!(next), DocKeys::default(), expect)],
            )?;
            report.records.push(appended.seq);
        }
        report.cleared = normalize(report.cleared);
        Ok(report)
    }
}

fn hold_op(hold: &Hold, expect: Expect) -> StateOp {
    StateOp::put(
        HOLDS,
        &hold.id,
        json!(hold),
        DocKeys { k1: Some(hold.status.as_str().into()), ..Default::default() },
        expect,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `hold.placed` and `retention.policy_set` embedded these types whole (`json!(hold.scope)`,
    /// `json!(superseded)`): their event forms must be the same JSON.
    #[test]
    fn a_hold_scope_and_a_superseded_request_are_recorded_in_their_serde_form() {
        for scope in [
            HoldScope::TimeRange {
                from: "2026-03-01T00:00:00.000000Z".into(),
                to: "2026-03-06T00:00:00.000000Z".into(),
            },
            HoldScope::Incident { incident_id: "inc_1".into() },
        ] {
            assert_eq!(crate::typed(&scope.event()).unwrap(), json!(scope));
        }
        let mut pending = PendingRetention {
            days: 365,
            previous_days: 400,
            requested_by: "bob".into(),
            requested_at: "2026-12-07T09:00:00.000000Z".into(),
            status: "superseded".into(),
            approved_by: None,
        };
        assert_eq!(crate::typed(&pending.event()).unwrap(), json!(pending));
        pending.approved_by = Some("carol".into());
        assert_eq!(crate::typed(&pending.event()).unwrap(), json!(pending));
        // `"superseded_request": superseded` with `superseded: Option<PendingRetention>`.
        let set = |superseded: Option<&PendingRetention>| gavel_events::RetentionPolicySet {
            superseded_request: Some(superseded.map(PendingRetention::event)),
            ..Default::default()
        };
        assert_eq!(crate::typed(&set(None)).unwrap()["superseded_request"], json!(None::<PendingRetention>));
        assert_eq!(crate::typed(&set(Some(&pending))).unwrap()["superseded_request"], json!(Some(&pending)));
    }

    #[test]
    fn ranges_normalize_and_split() {
        assert_eq!(normalize(vec![(5, 7), (0, 2), (2, 3), (6, 9), (4, 4)]), vec![(0, 3), (5, 9)]);
        let (out, inside) = split_by(&[(0, 10), (20, 30)], &[(5, 8), (9, 22), (29, 40)]);
        assert_eq!(out, vec![(0, 5), (8, 9), (22, 29)]);
        assert_eq!(inside, vec![(5, 8), (9, 10), (20, 22), (29, 30)]);
        assert_eq!(split_by(&[(0, 4)], &[]), (vec![(0, 4)], vec![]));
        assert_eq!(split_by(&[], &[(0, 4)]), (vec![], vec![]));
    }

    #[test]
    fn batches_split_ranges_at_the_size_limit() {
        assert_eq!(take_batch(&[(0, 3), (5, 10)], 5), (vec![(0, 3), (5, 7)], vec![(7, 10)]));
        assert_eq!(take_batch(&[(0, 3)], 5), (vec![(0, 3)], vec![]));
    }

    #[test]
    fn bounds_accept_dates_and_rfc3339() {
        assert_eq!(parse_bound("from", "2026-01-02").unwrap(), "2026-01-02T00:00:00.000000Z");
        assert_eq!(parse_bound("to", "2026-01-02T03:04:05Z").unwrap(), "2026-01-02T03:04:05.000000Z");
        assert!(matches!(parse_bound("from", "yesterday"), Err(CoreError::Invalid(_))));
    }
}
