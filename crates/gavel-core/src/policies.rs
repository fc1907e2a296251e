//! Policy change control (SOC 2 CC8.1): versioned Cedar policy sets, two-person approval of
//! every change, observe/enforce modes, and packs.
//!
//! * A version is immutable once proposed (`policy_versions/<set>@<n>`); nothing is deleted.
//! * Every change to what is enforced — activating a version (including a rollback to an earlier
//!   one), deactivating a set, switching observe ↔ enforce — is a *change request* proposed by one
//!   admin and applied only when a *different* admin approves it.
//! * Each step is a log event carrying the policy text's SHA-256, the author, the approver and
//!   the time. Applying a change bumps the policy epoch (`meta/policy_epoch`), which tells every
//!   replica to rebuild its engine before the next decision.
//! * Installing a pack activates it in observe mode at once: observe mode enforces nothing, so no
//!   second person is needed to *watch*; going live is a change like any other.
//! * Policies in force that cannot be built into an engine (an old database may hold text that
//!   today's checks refuse) never fail decide: every call is denied (all sets, since leaving out
//!   a failing forbid would fail open), enforced and recorded with the reason, the error logged
//!   once per epoch. Only an unreadable store is an error (503). The repair is an ordinary
//!   two-person change: approving one does not need the text it replaces to load.

use crate::error::{CoreError, Result};
use crate::identity::Principal;
use crate::ids::new_id;
use crate::{from_doc, Gavel};
use gavel_policy::{
    parse_and_validate, Engine, Evaluation, LoadedSet, Mode, Outcome, PolicyError, ToolCall, Verdict,
};
use gavel_store::docs::{DocKeys, DocQuery, Expect, StateOp};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::sync::Arc;

/// A policy set: its mode and the version in force.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PolicySet {
    pub set_id: String,
    pub mode: Mode,
    /// The version in force; `None` before the first activation or after deactivation.
    pub active_version: Option<u32>,
    pub latest_version: u32,
    /// The pack this set came from, if any.
    pub pack: Option<String>,
}

/// One immutable version of a policy set's text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PolicyVersion {
    pub set_id: String,
    pub version: u32,
    pub text: String,
    pub sha256: String,
    pub author: String,
    pub author_name: String,
    pub created_at: String,
    /// `pack:<name>@<version>` for pack-installed text.
    pub source: Option<String>,
}

/// What a policy change does to its set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ChangeAction {
    Activate,
    Deactivate,
    SetMode,
}

/// The state of a policy change request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "snake_case")]
pub enum ChangeStatus {
    Pending,
    Applied,
    Rejected,
}

/// A proposed change to a policy set, applied once a second admin approves it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PolicyChange {
    pub id: String,
    pub set_id: String,
    pub action: ChangeAction,
    /// The version to activate (Activate).
    pub version: Option<u32>,
    /// The mode to switch to (SetMode), or the mode a first activation starts in.
    pub mode: Option<Mode>,
    /// SHA-256 of the policy text the change puts in force (Activate).
    pub sha256: Option<String>,
    pub proposed_by: String,
    pub proposed_by_name: String,
    pub proposed_at: String,
    pub status: ChangeStatus,
    pub decided_by: Option<String>,
    pub decided_by_name: Option<String>,
    pub decided_at: Option<String>,
    pub comment: Option<String>,
}

fn set_op(set: &PolicySet, expect: Expect) -> StateOp {
    StateOp::put(
        "policy_sets",
        &set.set_id,
        json!(set),
        DocKeys { k1: Some(mode_str(set.mode).into()), ..Default::default() },
        expect,
    )
}

fn change_op(change: &PolicyChange, expect: Expect) -> StateOp {
    let status = json!(change.status).as_str().unwrap_or_default().to_string();
    StateOp::put(
        "policy_changes",
        &change.id,
        json!(change),
        DocKeys { k1: Some(change.set_id.clone()), k2: Some(status), k3: None },
        expect,
    )
}

fn version_op(v: &PolicyVersion) -> StateOp {
    StateOp::put(
        "policy_versions",
        &format!("{}@{}", v.set_id, v.version),
        json!(v),
        DocKeys { k1: Some(v.set_id.clone()), ..Default::default() },
        Expect::Absent,
    )
}

fn epoch_op() -> StateOp {
    StateOp::put("meta", "policy_epoch", json!({}), DocKeys::default(), Expect::Any)
}

/// A change action as events name it (its serde name: `activate`, `deactivate`, `set_mode`).
fn action_str(action: ChangeAction) -> Result<String> {
    match crate::typed(&action)? {
        serde_json::Value::String(s) => Ok(s),
        other => Err(CoreError::Internal(format!("change action serialized as {other}"))),
    }
}

pub fn mode_str(mode: Mode) -> &'static str {
    match mode {
        Mode::Enforce => "enforce",
        Mode::Observe => "observe",
    }
}

/// A policy set with every version, oldest first, and its change history
/// (`GET /v1/policies/{set}/versions`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PolicyHistory {
    pub set: PolicySet,
    pub versions: Vec<PolicyVersion>,
    pub changes: Vec<PolicyChange>,
}

/// A built-in policy pack and its install state (`GET /v1/packs`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PackInfo {
    pub name: String,
    pub version: u32,
    pub description: String,
    /// How many tools the pack categorises.
    pub tools: usize,
    /// The policy set the pack installed, if it is installed.
    pub installed: Option<PolicySet>,
}

impl Gavel {
    /// Every policy set with its mode and version in force (readers).
    pub fn list_policy_sets(&self, by: &Principal) -> Result<Vec<PolicySet>> {
        by.require_reader()?;
        self.policy_sets()
    }

    /// Every policy set, unchecked: for the engine, the scans and the rules.
    pub(crate) fn policy_sets(&self) -> Result<Vec<PolicySet>> {
        let mut sets: Vec<PolicySet> = self.all_docs("policy_sets", 10_000)?;
        sets.sort_by(|a, b| a.set_id.cmp(&b.set_id));
        Ok(sets)
    }

    fn policy_set_versioned(&self, set_id: &str) -> Result<Option<(PolicySet, u64)>> {
        match self.store.get_doc("policy_sets", set_id)? {
            Some(doc) => {
                let v = doc.version;
                Ok(Some((from_doc(doc)?, v)))
            }
            None => Ok(None),
        }
    }

    /// One policy set (readers).
    pub fn get_policy_set(&self, by: &Principal, set_id: &str) -> Result<PolicySet> {
        by.require_reader()?;
        self.policy_set(set_id)
    }

    pub(crate) fn policy_set(&self, set_id: &str) -> Result<PolicySet> {
        self.policy_set_versioned(set_id)?
            .map(|(s, _)| s)
            .ok_or_else(|| CoreError::NotFound(format!("no policy set {set_id:?}")))
    }

    /// One immutable version of a set's text (readers).
    pub fn get_policy_version(&self, by: &Principal, set_id: &str, version: u32) -> Result<PolicyVersion> {
        by.require_reader()?;
        self.policy_version(set_id, version)
    }

    /// One version, unchecked: for the rules, explain, the trace and the scans.
    pub(crate) fn policy_version(&self, set_id: &str, version: u32) -> Result<PolicyVersion> {
        let doc = self
            .store
            .get_doc("policy_versions", &format!("{set_id}@{version}"))?
            .ok_or_else(|| CoreError::NotFound(format!("policy set {set_id:?} has no version {version}")))?;
        from_doc(doc)
    }

    /// A set with every version, oldest first, and every change request of it (readers).
    pub fn policy_history(&self, by: &Principal, set_id: &str) -> Result<PolicyHistory> {
        by.require_reader()?;
        let set = self.policy_set(set_id)?;
        let mut q = DocQuery::new("policy_versions", 100_000);
        q.k1 = Some(set_id.into());
        let mut versions: Vec<PolicyVersion> =
            self.store.query_docs(&q)?.into_iter().map(from_doc).collect::<Result<_>>()?;
        versions.sort_by_key(|v| v.version);
        Ok(PolicyHistory { set, versions, changes: self.policy_changes(Some(set_id), None)? })
    }

    /// Change requests, newest first, optionally for one set and/or one status (readers).
    pub fn list_policy_changes(
        &self,
        by: &Principal,
        set_id: Option<&str>,
        status: Option<ChangeStatus>,
    ) -> Result<Vec<PolicyChange>> {
        by.require_reader()?;
        self.policy_changes(set_id, status)
    }

    /// [`Gavel::list_policy_changes`] unchecked: for the trace.
    pub(crate) fn policy_changes(
        &self,
        set_id: Option<&str>,
        status: Option<ChangeStatus>,
    ) -> Result<Vec<PolicyChange>> {
        let mut q = DocQuery::new("policy_changes", 10_000);
        q.k1 = set_id.map(str::to_string);
        q.k2 = status.map(|s| json!(s).as_str().unwrap_or_default().to_string());
        self.store.query_docs(&q)?.into_iter().map(from_doc).collect()
    }

    /// One change request (readers).
    pub fn get_policy_change(&self, by: &Principal, id: &str) -> Result<PolicyChange> {
        by.require_reader()?;
        self.policy_change_versioned(id).map(|(c, _)| c)
    }

    /// The built-in packs, each with the policy set it installed, if any (readers).
    pub fn packs(&self, by: &Principal) -> Result<Vec<PackInfo>> {
        by.require_reader()?;
        let sets = self.policy_sets()?;
        Ok(gavel_policy::BUILTIN_PACKS
            .iter()
            .filter_map(|name| gavel_policy::builtin_pack(name))
            .map(|pack| PackInfo {
                installed: sets.iter().find(|s| s.set_id == pack.name).cloned(),
                name: pack.name,
                version: pack.version,
                description: pack.description,
                tools: pack.tools.len(),
            })
            .collect())
    }

    fn policy_change_versioned(&self, id: &str) -> Result<(PolicyChange, u64)> {
        let doc = self
            .store
            .get_doc("policy_changes", id)?
            .ok_or_else(|| CoreError::NotFound(format!("no policy change {id:?}")))?;
        let v = doc.version;
        Ok((from_doc(doc)?, v))
    }

    /// Proposes new policy text for `set_id` (creating the set if new): validates it against the
    /// schema, stores it as the next immutable version, and opens a change to activate it.
    pub fn propose_policy(
        &self,
        by: &Principal,
        set_id: &str,
        text: &str,
        mode: Option<Mode>,
    ) -> Result<PolicyChange> {
        let admin = by.require_admin()?;
        let source = parse_and_validate(set_id, text)?;
        let existing = self.policy_set_versioned(set_id)?;
        let (mut set, expect) = match existing {
            Some((set, v)) => (set, Expect::Version(v)),
            None => (
                PolicySet {
                    set_id: set_id.into(),
                    mode: mode.unwrap_or(Mode::Enforce),
                    active_version: None,
                    latest_version: 0,
                    pack: None,
                },
                Expect::Absent,
            ),
        };
        set.latest_version += 1;
        let now = self.now();
        let version = PolicyVersion {
            set_id: set_id.into(),
            version: set.latest_version,
            text: source.text.clone(),
            sha256: source.sha256.clone(),
            author: admin.id.clone(),
            author_name: admin.name.clone(),
            created_at: now.clone(),
            source: None,
        };
        let change = PolicyChange {
            id: new_id("chg"),
            set_id: set_id.into(),
            action: ChangeAction::Activate,
            version: Some(version.version),
            mode: if set.active_version.is_none() { Some(set.mode) } else { None },
            sha256: Some(version.sha256.clone()),
            proposed_by: admin.id.clone(),
            proposed_by_name: admin.name.clone(),
            proposed_at: now,
            status: ChangeStatus::Pending,
            decided_by: None,
            decided_by_name: None,
            decided_at: None,
            comment: None,
        };
        let proposed = gavel_events::PolicyProposed {
            change_id: change.id.clone(),
            set_id: set_id.into(),
            action: action_str(change.action)?,
            version: Some(u64::from(version.version)),
            sha256: Some(version.sha256.clone()),
            author: admin.id.clone(),
            author_name: admin.name.clone(),
            mode: None,
            warnings: Some(json!(source.warnings)),
            other: Default::default(),
        };
        self.record(
            gavel_events::kind::POLICY_PROPOSED,
            &by.actor(),
            crate::typed(&proposed)?,
            vec![set_op(&set, expect), version_op(&version), change_op(&change, Expect::Absent)],
        )?;
        Ok(change)
    }

    /// Opens a change to activate an existing version (a rollback when it is an earlier one).
    pub fn propose_activation(&self, by: &Principal, set_id: &str, version: u32) -> Result<PolicyChange> {
        // Authorization first: a caller without the role learns nothing about the set's state.
        by.require_admin()?;
        let set = self.policy_set(set_id)?;
        let v = self.policy_version(set_id, version)?;
        if set.active_version == Some(version) {
            return Err(CoreError::Conflict(format!("version {version} of {set_id} is already active")));
        }
        self.open_change(by, set_id, ChangeAction::Activate, Some(version), None, Some(v.sha256))
    }

    pub fn propose_deactivation(&self, by: &Principal, set_id: &str) -> Result<PolicyChange> {
        by.require_admin()?;
        let set = self.policy_set(set_id)?;
        if set.active_version.is_none() {
            return Err(CoreError::Conflict(format!("policy set {set_id} is not active")));
        }
        self.open_change(by, set_id, ChangeAction::Deactivate, None, None, None)
    }

    pub fn propose_mode(&self, by: &Principal, set_id: &str, mode: Mode) -> Result<PolicyChange> {
        by.require_admin()?;
        let set = self.policy_set(set_id)?;
        if set.mode == mode {
            return Err(CoreError::Conflict(format!(
                "policy set {set_id} is already in {} mode",
                mode_str(mode)
            )));
        }
        self.open_change(by, set_id, ChangeAction::SetMode, None, Some(mode), None)
    }

    fn open_change(
        &self,
        by: &Principal,
        set_id: &str,
        action: ChangeAction,
        version: Option<u32>,
        mode: Option<Mode>,
        sha256: Option<String>,
    ) -> Result<PolicyChange> {
        let admin = by.require_admin()?;
        let change = PolicyChange {
            id: new_id("chg"),
            set_id: set_id.into(),
            action,
            version,
            mode,
            sha256,
            proposed_by: admin.id.clone(),
            proposed_by_name: admin.name.clone(),
            proposed_at: self.now(),
            status: ChangeStatus::Pending,
            decided_by: None,
            decided_by_name: None,
            decided_at: None,
            comment: None,
        };
        let proposed = gavel_events::PolicyProposed {
            change_id: change.id.clone(),
            set_id: set_id.into(),
            action: action_str(action)?,
            version: version.map(u64::from),
            sha256: change.sha256.clone(),
            author: admin.id.clone(),
            author_name: admin.name.clone(),
            mode: Some(json!(mode.map(mode_str))),
            warnings: None,
            other: Default::default(),
        };
        self.record(
            gavel_events::kind::POLICY_PROPOSED,
            &by.actor(),
            crate::typed(&proposed)?,
            vec![change_op(&change, Expect::Absent)],
        )?;
        Ok(change)
    }

    /// Approves and applies a pending change. The approver must be an admin other than the author.
    pub fn approve_change(
        &self,
        by: &Principal,
        change_id: &str,
        comment: Option<&str>,
    ) -> Result<PolicyChange> {
        let admin = by.require_admin()?;
        let (mut change, change_version) = self.policy_change_versioned(change_id)?;
        if change.status != ChangeStatus::Pending {
            return Err(CoreError::Conflict(format!(
                "change {change_id} was already {}",
                json!(change.status).as_str().unwrap_or_default()
            )));
        }
        if change.proposed_by == admin.id {
            return Err(CoreError::Forbidden(format!(
                "two-person rule: {} proposed change {change_id} and cannot approve it; another admin must",
                admin.name
            )));
        }
        let (mut set, set_version) = self
            .policy_set_versioned(&change.set_id)?
            .ok_or_else(|| CoreError::NotFound(format!("no policy set {:?}", change.set_id)))?;
        let previous = (set.active_version, set.mode);
        let (kind, version_text) = match change.action {
            ChangeAction::Activate => {
                let version =
                    change.version.ok_or_else(|| CoreError::Internal("activation without version".into()))?;
                let v = self.policy_version(&change.set_id, version)?;
                // The engine must accept the whole active configuration, not just this text.
                set.active_version = Some(version);
                if let Some(mode) = change.mode.filter(|_| previous.0.is_none()) {
                    set.mode = mode;
                }
                (gavel_events::kind::POLICY_ACTIVATED, Some(v))
            }
            ChangeAction::Deactivate => {
                set.active_version = None;
                (gavel_events::kind::POLICY_DEACTIVATED, None)
            }
            ChangeAction::SetMode => {
                set.mode =
                    change.mode.ok_or_else(|| CoreError::Internal("mode change without mode".into()))?;
                (gavel_events::kind::POLICY_MODE_CHANGED, None)
            }
        };
        if let Some(v) = &version_text {
            let mut sets = self.loaded_sets(Some(&set.set_id))?;
            sets.push(LoadedSet {
                set_id: set.set_id.clone(),
                version: v.version,
                mode: set.mode,
                source: parse_and_validate(&set.set_id, &v.text)?,
            });
            Engine::new(sets)?;
        }
        let now = self.now();
        change.status = ChangeStatus::Applied;
        change.decided_by = Some(admin.id.clone());
        change.decided_by_name = Some(admin.name.clone());
        change.decided_at = Some(now);
        change.comment = comment.map(str::to_string);
        let author = version_text.as_ref().map(|v| v.author.clone());
        let applied = gavel_events::PolicyApplied {
            change_id: change.id.clone(),
            set_id: set.set_id.clone(),
            action: action_str(change.action)?,
            version: set.active_version.map(u64::from),
            previous_version: previous.0.map(u64::from),
            mode: mode_str(set.mode).into(),
            previous_mode: mode_str(previous.1).into(),
            sha256: version_text.as_ref().map(|v| v.sha256.clone()),
            text_author: author,
            proposed_by: change.proposed_by.clone(),
            approved_by: admin.id.clone(),
            approved_by_name: admin.name.clone(),
            comment: comment.map(str::to_string),
            other: Default::default(),
        };
        self.record(
            kind,
            &by.actor(),
            crate::typed(&applied)?,
            vec![
                change_op(&change, Expect::Version(change_version)),
                set_op(&set, Expect::Version(set_version)),
                epoch_op(),
            ],
        )?;
        Ok(change)
    }

    /// Rejects a pending change (any admin, including its author withdrawing it).
    pub fn reject_change(
        &self,
        by: &Principal,
        change_id: &str,
        comment: Option<&str>,
    ) -> Result<PolicyChange> {
        let admin = by.require_admin()?;
        let (mut change, version) = self.policy_change_versioned(change_id)?;
        if change.status != ChangeStatus::Pending {
            return Err(CoreError::Conflict(format!("change {change_id} is no longer pending")));
        }
        change.status = ChangeStatus::Rejected;
        change.decided_by = Some(admin.id.clone());
        change.decided_by_name = Some(admin.name.clone());
        change.decided_at = Some(self.now());
        change.comment = comment.map(str::to_string);
        let rejected = gavel_events::PolicyRejected {
            change_id: change.id.clone(),
            set_id: change.set_id.clone(),
            rejected_by: admin.id.clone(),
            comment: comment.map(str::to_string),
            other: Default::default(),
        };
        self.record(
            gavel_events::kind::POLICY_REJECTED,
            &by.actor(),
            crate::typed(&rejected)?,
            vec![change_op(&change, Expect::Version(version))],
        )?;
        Ok(change)
    }

    /// Installs a built-in pack in observe mode (active at once; it enforces nothing) and records
    /// its tool categories.
    pub fn install_pack(&self, by: &Principal, name: &str) -> Result<PolicySet> {
        let admin = by.require_admin()?;
        let pack = gavel_policy::builtin_pack(name).ok_or_else(|| {
            CoreError::NotFound(format!(
                "no pack {name:?} (available: {})",
                gavel_policy::BUILTIN_PACKS.join(", ")
            ))
        })?;
        if self.policy_set_versioned(&pack.name)?.is_some() {
            return Err(CoreError::Conflict(format!(
                "pack {} is already installed; change it with `gavel policy propose` or go live with `gavel pack golive`",
                pack.name
            )));
        }
        let source = parse_and_validate(&pack.name, &pack.policies)?;
        let now = self.now();
        let set = PolicySet {
            set_id: pack.name.clone(),
            mode: Mode::Observe,
            active_version: Some(1),
            latest_version: 1,
            pack: Some(format!("{}@{}", pack.name, pack.version)),
        };
        let version = PolicyVersion {
            set_id: pack.name.clone(),
            version: 1,
            text: source.text.clone(),
            sha256: source.sha256.clone(),
            author: admin.id.clone(),
            author_name: admin.name.clone(),
            created_at: now,
            source: set.pack.clone(),
        };
        let mut ops = vec![set_op(&set, Expect::Absent), version_op(&version), epoch_op()];
        for (tool, category) in &pack.tools {
            ops.push(StateOp::put(
                "tools",
                tool,
                json!({"tool": tool, "category": category, "source": set.pack}),
                DocKeys { k1: Some(category.clone()), ..Default::default() },
                Expect::Any,
            ));
        }
        self.record(
            gavel_events::kind::PACK_INSTALLED,
            &by.actor(),
            crate::typed(&gavel_events::PackInstalled {
                pack: pack.name.clone(),
                pack_version: pack.version,
                set_id: set.set_id.clone(),
                version: 1,
                sha256: version.sha256.clone(),
                mode: "observe".into(),
                installed_by: admin.id.clone(),
                tools: pack.tools.len() as u64,
                other: Default::default(),
            })?,
            ops,
        )?;
        Ok(set)
    }

    /// The sets in force, validated; `except` leaves one out (a change replacing it must not
    /// depend on the text it replaces being loadable).
    fn loaded_sets(&self, except: Option<&str>) -> Result<Vec<LoadedSet>> {
        let mut out = Vec::new();
        for set in self.policy_sets()? {
            if except == Some(set.set_id.as_str()) {
                continue;
            }
            if let Some(version) = set.active_version {
                let v = self.policy_version(&set.set_id, version)?;
                let source = parse_and_validate(&set.set_id, &v.text).map_err(|e| PolicyError::InSet {
                    set_id: set.set_id.clone(),
                    version,
                    source: Box::new(e),
                })?;
                out.push(LoadedSet { set_id: set.set_id.clone(), version, mode: set.mode, source });
            }
        }
        Ok(out)
    }

    /// The policies in force at policy epoch `epoch` (the version of `meta/policy_epoch` the
    /// caller read), rebuilt whenever the epoch moved (on any replica).
    ///
    /// Policies that cannot be built into an engine (an old database may hold text that today's
    /// checks refuse) do not fail the caller: the failure is logged once per epoch and every call
    /// is denied, naming it, until a change moves the epoch. Only a store that cannot be read is
    /// an error (it is not cached: the next call tries again).
    pub(crate) fn engine_at(&self, epoch: u64) -> Result<InForce> {
        let mut cached = self.engine.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((e, in_force)) = cached.as_ref() {
            if *e == epoch {
                return Ok(in_force.clone());
            }
        }
        let in_force = match self.loaded_sets(None).and_then(|sets| Ok(Engine::new(sets)?)) {
            Ok(engine) => InForce::Engine(Arc::new(engine)),
            Err(e @ CoreError::Unavailable(_)) => return Err(e),
            Err(e) => {
                tracing::error!(
                    policy_epoch = epoch,
                    error = %e,
                    "the policies in force cannot be loaded: every tool call is denied until a policy \
                     change replaces or deactivates the failing set"
                );
                InForce::Broken(e.to_string().into())
            }
        };
        *cached = Some((epoch, in_force.clone()));
        Ok(in_force)
    }
}

/// The policies in force at one epoch: an engine, or why none could be built.
#[derive(Debug, Clone)]
pub(crate) enum InForce {
    Engine(Arc<Engine>),
    Broken(Arc<str>),
}

impl InForce {
    /// Evaluates a call. Without an engine every call is denied and enforced (fail closed), with
    /// the failure as the reason, so the decision is recorded like any other.
    pub(crate) fn evaluate(&self, call: &ToolCall) -> Evaluation {
        match self {
            InForce::Engine(engine) => engine.evaluate(call),
            InForce::Broken(why) => Evaluation {
                enforced: Some(Verdict {
                    outcome: Outcome::Deny,
                    policies: vec![],
                    reasons: vec![format!(
                        "the policies in force could not be loaded, so every call is denied (fail closed): {why}"
                    )],
                    errors: vec![format!("policies in force could not be loaded: {why}")],
                }),
                would_have: None,
            },
        }
    }
}
