//! Identities: users with roles, agents, and their bearer credentials.
//!
//! Invariants:
//! * a token is stored only as its SHA-256 (`tokens/<hash>`), pointing at one principal; each
//!   principal has exactly one live credential (`credentials/<principal id>`), and rotation revokes
//!   the old one in the same transaction that issues the new one;
//! * names are unique per kind (`user_names/<name>`, `agent_names/<name>`), claimed atomically;
//!   user names also ignoring ASCII case (`user_names_folded/<lowercase>`), since people are
//!   matched that way;
//! * every create / role change / rotation / deactivation is one log event, written with its state
//!   change; a deactivated principal's next request already sees the change;
//! * roles: admin, approver, auditor, viewer; agents are active ⇄ suspended, → deactivated
//!   (final). A deactivated agent's credential is refused (401) on every route but decide
//!   ([`Gavel::authenticate_caller`]), where each call is still answered and recorded as a
//!   denial; a suspended agent still authenticates (it polls its approvals);
//! * only an admin rotates another user's credential, refused (403) before any read; anyone
//!   rotates their own;
//! * the first start on an empty log creates `admin` and returns its token once.

use crate::error::{CoreError, Result};
use crate::ids::{new_id, new_token, token_hash};
use crate::Gavel;
use gavel_ledger::event::Actor;
use gavel_store::docs::{DocKeys, DocQuery, Expect, StateOp};
use serde::{Deserialize, Serialize};
use serde_json::json;

/// What a user may do: `admin` administers, `approver` decides held calls, `auditor` reads and
/// exports evidence, `viewer` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Manages users, agents, policies and packs; approves other admins' policy changes.
    Admin,
    /// Decides approval requests for held tool calls.
    Approver,
    /// Reads the audit trail and evidence.
    Auditor,
    /// Reads everything, changes nothing.
    Viewer,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Approver => "approver",
            Role::Auditor => "auditor",
            Role::Viewer => "viewer",
        }
    }
}

/// A user's or an agent's lifecycle state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Active,
    Suspended,
    Deactivated,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Active => "active",
            Status::Suspended => "suspended",
            Status::Deactivated => "deactivated",
        }
    }
}

/// A person who administers, approves or audits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct User {
    pub id: String,
    pub name: String,
    pub role: Role,
    pub status: Status,
    pub created_at: String,
    pub created_by: String,
}

/// A registered AI agent whose tool calls gavel decides.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Agent {
    pub id: String,
    pub name: String,
    /// The accountable human or team (user id or e-mail).
    pub owner: String,
    pub environment: String,
    pub tier: String,
    pub groups: Vec<String>,
    pub status: Status,
    pub created_at: String,
    pub created_by: String,
    /// Rate limit and cost cap (CC7.4); absent = unlimited.
    #[serde(default)]
    pub limits: crate::containment::Limits,
}

/// Who is calling.
#[derive(Debug, Clone, PartialEq)]
pub enum Principal {
    User(User),
    Agent(Agent),
    /// Whoever holds the data directory itself: the local CLI's commands on it (`gavel audit
    /// verify`, `audit record`, `evidence export` without `--server`). Access to the files already
    /// grants everything, so no token is asked; the CLI names the actor it records. Only the
    /// operations that say so accept an operator; every other check refuses one.
    Operator(Actor),
}

impl Principal {
    pub fn actor(&self) -> Actor {
        match self {
            Principal::User(u) => Actor::user(&u.id),
            Principal::Agent(a) => Actor::agent(&a.id),
            Principal::Operator(actor) => actor.clone(),
        }
    }

    /// The user, if the caller is one with one of `roles`.
    pub fn require_user(&self, roles: &[Role]) -> Result<&User> {
        match self {
            Principal::User(u) if roles.contains(&u.role) => Ok(u),
            Principal::User(u) => Err(CoreError::Forbidden(format!(
                "this needs the {} role; {} is {}",
                roles.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(" or "),
                u.name,
                u.role.as_str()
            ))),
            Principal::Agent(_) => {
                Err(CoreError::Forbidden("agents cannot do this; use a user token".into()))
            }
            Principal::Operator(_) => Err(CoreError::Forbidden(
                "this needs a user token; it cannot be done on the data directory".into(),
            )),
        }
    }

    pub fn require_admin(&self) -> Result<&User> {
        self.require_user(&[Role::Admin])
    }

    /// Any user may read (viewers included); agents may not.
    pub fn require_reader(&self) -> Result<&User> {
        self.require_user(&READERS)
    }

    /// Local operators (whoever holds the data directory) and users with one of `roles`.
    pub(crate) fn require_operator_or(&self, roles: &[Role]) -> Result<()> {
        match self {
            Principal::Operator(_) => Ok(()),
            p => p.require_user(roles).map(|_| ()),
        }
    }
}

/// The roles that may read (every user role; agents may not).
pub(crate) const READERS: [Role; 4] = [Role::Admin, Role::Approver, Role::Auditor, Role::Viewer];

/// One agent of the inventory (CC6.1): when it was first and last seen deciding, and how often.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct InventoryEntry {
    pub agent: Agent,
    /// The time of its first decision.
    pub first_seen: Option<String>,
    /// The time of its latest decision.
    pub last_seen: Option<String>,
    /// Its decisions, all outcomes.
    pub decisions: u64,
    pub by_outcome: OutcomeCounts,
}

/// Decisions by outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OutcomeCounts {
    pub allow: u64,
    pub deny: u64,
    pub require_approval: u64,
}

/// A principal together with its one-time credential.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Issued<T> {
    #[serde(flatten)]
    pub principal: T,
    /// The bearer token, shown once.
    pub token: String,
}

/// An agent to register (the body of `POST /v1/agents`).
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = NewAgentBody)]
pub struct NewAgent {
    pub name: String,
    /// The accountable human or team (default: the registering admin).
    #[serde(default)]
    pub owner: Option<String>,
    /// Default `development`.
    #[serde(default)]
    pub environment: Option<String>,
    /// Default `standard`.
    #[serde(default)]
    pub tier: Option<String>,
    #[serde(default)]
    pub groups: Vec<String>,
    #[serde(default)]
    pub limits: Option<crate::containment::Limits>,
}

fn check_name(what: &str, name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.@".contains(c));
    if ok {
        Ok(())
    } else {
        Err(CoreError::Invalid(format!(
            "{what} name {name:?} must be 1-64 characters of letters, digits, '-', '_', '.', '@'"
        )))
    }
}

fn check_label(what: &str, value: &str) -> Result<()> {
    if value.is_empty()
        || value.len() > 64
        || !value.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    {
        return Err(CoreError::Invalid(format!(
            "{what} {value:?} must be 1-64 letters, digits, '-', '_' or '.'"
        )));
    }
    Ok(())
}

fn credential_ops(principal_type: &str, principal_id: &str, token: &str, time: &str) -> Vec<StateOp> {
    let hash = token_hash(token);
    vec![
        StateOp::put(
            "tokens",
            &hash,
            json!({"principal_type": principal_type, "principal_id": principal_id, "revoked": false}),
            DocKeys { k1: Some(principal_id.into()), ..Default::default() },
            Expect::Absent,
        ),
        StateOp::put(
            "credentials",
            principal_id,
            json!({"token_hash": hash, "issued_at": time}),
            DocKeys::default(),
            Expect::Any,
        ),
    ]
}

impl Gavel {
    /// Resolves a bearer token to its principal. Revoked tokens and deactivated users are refused;
    /// a deactivated agent is returned as such so its calls can be denied *and recorded*.
    /// Authenticates through the in-process cache; returns the principal and the identity epoch
    /// it is known valid at. The caller must confirm that epoch is still current in the read
    /// transaction that uses the principal (see `decide_with_token`).
    pub(crate) fn authenticate_cached(&self, token: &str) -> Result<(Principal, u64)> {
        let key = token_hash(token);
        let cache = || self.auth_cache.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(hit) = cache().get(&key) {
            return Ok((hit.1.clone(), hit.0));
        }
        // The epoch is read *before* the credential: a change racing this read leaves a newer
        // epoch behind, so the entry is found stale at its first use rather than trusted forever.
        let epoch = self.identity_epoch()?;
        let principal = self.authenticate(token)?;
        self.cache_authentication(key, epoch, &principal);
        Ok((principal, epoch))
    }

    pub(crate) fn cache_authentication(&self, token_hash: String, epoch: u64, principal: &Principal) {
        let mut cache = self.auth_cache.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() >= crate::AUTH_CACHE_MAX {
            cache.clear();
        }
        cache.insert(token_hash, (epoch, principal.clone()));
    }

    /// The current identity epoch (0 before any identity change).
    pub(crate) fn identity_epoch(&self) -> Result<u64> {
        Ok(self.store.get_doc("meta", crate::IDENTITY_EPOCH)?.map_or(0, |d| d.version))
    }

    /// The caller of every route but decide: as [`Gavel::authenticate`], and a deactivated
    /// agent's credential is refused (401) like an inactive user's. Deactivation is final, so
    /// nothing but decide — which still takes the credential so that each refused call is on
    /// record as a denial — has anything to offer it (it used to read its approvals, decisions
    /// and `/v1/me`, and record outcomes). A suspended agent still authenticates: it may be
    /// reactivated and polls its approvals meanwhile.
    pub fn authenticate_caller(&self, token: &str) -> Result<Principal> {
        let principal = self.authenticate(token)?;
        if let Principal::Agent(a) = &principal {
            if a.status == Status::Deactivated {
                return Err(CoreError::Unauthenticated(format!("agent {} is deactivated", a.name)));
            }
        }
        Ok(principal)
    }

    pub fn authenticate(&self, token: &str) -> Result<Principal> {
        self.authenticate_token_hash(&token_hash(token))
    }

    /// [`Gavel::authenticate`] by the token's hash (what the store keeps of it): for a console
    /// session, which keeps the hash of the token it was opened with, never the token.
    pub(crate) fn authenticate_token_hash(&self, hash: &str) -> Result<Principal> {
        let unauthenticated = || CoreError::Unauthenticated("invalid or revoked credential".into());
        let doc = self.store.get_doc("tokens", hash)?.ok_or_else(unauthenticated)?;
        if doc.body["revoked"] != json!(false) {
            return Err(unauthenticated());
        }
        let id = doc.body["principal_id"].as_str().ok_or_else(unauthenticated)?;
        match doc.body["principal_type"].as_str() {
            Some("user") => {
                let user: User = self.doc_by_id("users", "user", id)?;
                if user.status != Status::Active {
                    return Err(CoreError::Unauthenticated(format!(
                        "user {} is {}",
                        user.name,
                        user.status.as_str()
                    )));
                }
                Ok(Principal::User(user))
            }
            Some("agent") => Ok(Principal::Agent(self.doc_by_id("agents", "agent", id)?)),
            _ => Err(unauthenticated()),
        }
    }

    /// On a log with no users, creates the first admin and returns its token (once, ever).
    pub fn bootstrap_admin(&self) -> Result<Option<Issued<User>>> {
        if self.store.count_docs(&DocQuery::new("users", 1))? > 0 {
            return Ok(None);
        }
        let marker =
            StateOp::put("meta", "bootstrap", json!({"done": true}), DocKeys::default(), Expect::Absent);
        match self.create_user_with(&Actor::system("bootstrap"), "admin", Role::Admin, vec![marker]) {
            Ok(issued) => Ok(Some(issued)),
            // Another process bootstrapped first.
            Err(CoreError::Conflict(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub fn create_user(&self, by: &Principal, name: &str, role: Role) -> Result<Issued<User>> {
        by.require_admin()?;
        self.create_user_with(&by.actor(), name, role, Vec::new())
    }

    fn create_user_with(
        &self,
        actor: &Actor,
        name: &str,
        role: Role,
        extra: Vec<StateOp>,
    ) -> Result<Issued<User>> {
        check_name("user", name)?;
        // Names are compared ignoring ASCII case wherever people are matched (approvers,
        // owners, on-behalf-of), so `Bob` and `bob` must never be two people.
        let folded = name.to_ascii_lowercase();
        if let Some(existing) = self.users()?.into_iter().find(|u| u.name.to_ascii_lowercase() == folded) {
            return Err(CoreError::Conflict(format!(
                "a user named {:?} already exists; names differing only in case are one person",
                existing.name
            )));
        }
        let user = User {
            id: new_id("usr"),
            name: name.into(),
            role,
            status: Status::Active,
            created_at: self.now(),
            created_by: actor.id.clone(),
        };
        let token = new_token();
        let mut ops = vec![
            StateOp::put("user_names", name, json!({"id": user.id}), DocKeys::default(), Expect::Absent),
            // Claimed atomically, so two concurrent creations differing in case cannot both win.
            StateOp::put(
                "user_names_folded",
                &folded,
                json!({"id": user.id}),
                DocKeys::default(),
                Expect::Absent,
            ),
            self.user_op(&user, Expect::Absent),
        ];
        ops.extend(credential_ops("user", &user.id, &token, &user.created_at));
        ops.extend(extra);
        self.record(
            gavel_events::kind::USER_CREATED,
            actor,
            crate::typed(&gavel_events::UserCreated {
                user_id: user.id.clone(),
                name: user.name.clone(),
                role: role.as_str().to_string(),
                created_by: actor.id.clone(),
                other: Default::default(),
            })?,
            ops,
        )
        .map_err(|e| match e {
            CoreError::Conflict(m) if m.contains("user_names") => CoreError::Conflict(format!(
                "a user named {name:?} already exists (names differing only in case are one person)"
            )),
            e => e,
        })?;
        Ok(Issued { principal: user, token })
    }

    fn user_op(&self, user: &User, expect: Expect) -> StateOp {
        StateOp::put(
            "users",
            &user.id,
            json!(user),
            DocKeys { k1: Some(user.role.as_str().into()), k2: Some(user.status.as_str().into()), k3: None },
            expect,
        )
    }

    pub(crate) fn agent_op(&self, agent: &Agent, expect: Expect) -> StateOp {
        StateOp::put(
            "agents",
            &agent.id,
            json!(agent),
            DocKeys {
                k1: Some(agent.status.as_str().into()),
                k2: Some(agent.owner.clone()),
                k3: Some(agent.environment.clone()),
            },
            expect,
        )
    }

    /// A user by id or name (readers).
    pub fn get_user(&self, by: &Principal, id_or_name: &str) -> Result<User> {
        by.require_reader()?;
        self.user(id_or_name)
    }

    /// A user by id or name, unchecked: for rules that look a person up.
    pub(crate) fn user(&self, id_or_name: &str) -> Result<User> {
        self.user_versioned(id_or_name).map(|(u, _)| u)
    }

    fn user_versioned(&self, id_or_name: &str) -> Result<(User, u64)> {
        self.named_doc("user_names", "users", "user", id_or_name)
    }

    /// Every user (readers).
    pub fn list_users(&self, by: &Principal) -> Result<Vec<User>> {
        by.require_reader()?;
        self.users()
    }

    pub(crate) fn users(&self) -> Result<Vec<User>> {
        self.all_docs("users", 10_000)
    }

    pub fn set_user_role(&self, by: &Principal, user: &str, role: Role) -> Result<User> {
        let admin = by.require_admin()?;
        let (mut u, version) = self.user_versioned(user)?;
        if u.id == admin.id && role != Role::Admin {
            return Err(CoreError::Forbidden("an admin cannot demote themselves; ask another admin".into()));
        }
        let from = u.role;
        u.role = role;
        self.record(
            gavel_events::kind::USER_ROLE_CHANGED,
            &by.actor(),
            crate::typed(&gavel_events::UserRoleChanged {
                user_id: u.id.clone(),
                name: u.name.clone(),
                from: from.as_str().to_string(),
                to: role.as_str().to_string(),
                other: Default::default(),
            })?,
            vec![self.user_op(&u, Expect::Version(version))],
        )?;
        Ok(u)
    }

    pub fn deactivate_user(&self, by: &Principal, user: &str, reason: &str) -> Result<User> {
        let admin = by.require_admin()?;
        let (mut u, version) = self.user_versioned(user)?;
        if u.id == admin.id {
            return Err(CoreError::Forbidden("an admin cannot deactivate themselves".into()));
        }
        if u.status == Status::Deactivated {
            return Err(CoreError::Conflict(format!("user {} is already deactivated", u.name)));
        }
        u.status = Status::Deactivated;
        self.record(
            gavel_events::kind::USER_DEACTIVATED,
            &by.actor(),
            crate::typed(&gavel_events::UserDeactivated {
                user_id: u.id.clone(),
                name: u.name.clone(),
                reason: reason.to_string(),
                other: Default::default(),
            })?,
            vec![self.user_op(&u, Expect::Version(version))],
        )?;
        Ok(u)
    }

    pub fn rotate_user_credential(&self, by: &Principal, user: &str) -> Result<Issued<User>> {
        let caller = by.require_reader()?;
        // A non-admin may rotate only their own credential: refused before any read, so the
        // answer never tells whether another user exists (authorization before state).
        let names_self = user == caller.id || user.eq_ignore_ascii_case(&caller.name);
        if caller.role != Role::Admin && !names_self {
            return Err(CoreError::Forbidden("only an admin can rotate another user's credential".into()));
        }
        let (u, _) = self.user_versioned(user)?;
        if caller.id != u.id && caller.role != Role::Admin {
            return Err(CoreError::Forbidden("only an admin can rotate another user's credential".into()));
        }
        let rotated = gavel_events::CredentialRotated {
            user_id: Some(u.id.clone()),
            name: u.name.clone(),
            ..Default::default()
        };
        let token = self.rotate("user", &u.id, &by.actor(), crate::typed(&rotated)?)?;
        Ok(Issued { principal: u, token })
    }

    /// Issues a new credential for `principal_id` and revokes the current one, atomically.
    fn rotate(
        &self,
        kind: &str,
        principal_id: &str,
        actor: &Actor,
        data: serde_json::Value,
    ) -> Result<String> {
        let current = self
            .store
            .get_doc("credentials", principal_id)?
            .ok_or_else(|| CoreError::NotFound(format!("no credential for {principal_id}")))?;
        let old_hash = current.body["token_hash"].as_str().unwrap_or_default().to_string();
        let old = self.store.get_doc("tokens", &old_hash)?;
        let token = new_token();
        let now = self.now();
        let mut ops = credential_ops(kind, principal_id, &token, &now);
        // The credentials doc must be the one we read: two concurrent rotations cannot both win.
        ops[1].expect = Expect::Version(current.version);
        if let Some(old) = old {
            let mut body = old.body;
            body["revoked"] = json!(true);
            body["revoked_at"] = json!(now);
            ops.push(StateOp::put("tokens", &old_hash, body, old.keys, Expect::Version(old.version)));
        }
        self.record(&format!("{kind}.credential_rotated"), actor, data, ops)?;
        Ok(token)
    }

    pub fn create_agent(&self, by: &Principal, new: NewAgent) -> Result<Issued<Agent>> {
        let admin = by.require_admin()?;
        check_name("agent", &new.name)?;
        let environment = new.environment.unwrap_or_else(|| "development".into());
        let tier = new.tier.unwrap_or_else(|| "standard".into());
        check_label("environment", &environment)?;
        check_label("tier", &tier)?;
        for g in &new.groups {
            check_label("group", g)?;
        }
        let mut groups = new.groups;
        groups.sort();
        groups.dedup();
        let agent = Agent {
            id: new_id("agt"),
            name: new.name,
            owner: new.owner.unwrap_or_else(|| admin.name.clone()),
            environment,
            tier,
            groups,
            status: Status::Active,
            created_at: self.now(),
            created_by: admin.id.clone(),
            limits: new.limits.unwrap_or_default(),
        };
        agent.limits.validate()?;
        let token = new_token();
        let mut ops = vec![
            StateOp::put(
                "agent_names",
                &agent.name,
                json!({"id": agent.id}),
                DocKeys::default(),
                Expect::Absent,
            ),
            self.agent_op(&agent, Expect::Absent),
        ];
        ops.extend(credential_ops("agent", &agent.id, &token, &agent.created_at));
        let registered = gavel_events::AgentRegistered {
            agent_id: agent.id.clone(),
            name: agent.name.clone(),
            owner: agent.owner.clone(),
            environment: agent.environment.clone(),
            tier: agent.tier.clone(),
            groups: agent.groups.clone(),
            other: Default::default(),
        };
        self.record(gavel_events::kind::AGENT_REGISTERED, &by.actor(), crate::typed(&registered)?, ops)
            .map_err(|e| match e {
                CoreError::Conflict(m) if m.contains("agent_names") => {
                    CoreError::Conflict(format!("an agent named {:?} already exists", agent.name))
                }
                e => e,
            })?;
        Ok(Issued { principal: agent, token })
    }

    /// An agent by id or name (readers).
    pub fn get_agent(&self, by: &Principal, id_or_name: &str) -> Result<Agent> {
        by.require_reader()?;
        self.agent(id_or_name)
    }

    /// An agent by id or name, unchecked: for the decision path and the rules that resolve a name.
    pub(crate) fn agent(&self, id_or_name: &str) -> Result<Agent> {
        self.agent_versioned(id_or_name).map(|(a, _)| a)
    }

    pub(crate) fn agent_versioned(&self, id_or_name: &str) -> Result<(Agent, u64)> {
        self.named_doc("agent_names", "agents", "agent", id_or_name)
    }

    /// Every agent (readers).
    pub fn list_agents(&self, by: &Principal) -> Result<Vec<Agent>> {
        by.require_reader()?;
        self.agents()
    }

    /// Every agent, unchecked: for the inventory and the compliance scans.
    pub(crate) fn agents(&self) -> Result<Vec<Agent>> {
        self.all_docs("agents", 100_000)
    }

    pub fn deactivate_agent(&self, by: &Principal, agent: &str, reason: &str) -> Result<Agent> {
        by.require_admin()?;
        let (mut a, version) = self.agent_versioned(agent)?;
        if a.status == Status::Deactivated {
            return Err(CoreError::Conflict(format!("agent {} is already deactivated", a.name)));
        }
        a.status = Status::Deactivated;
        let (mut ops, voided) =
            self.void_approvals_ops(Some(&a.id), None, &format!("agent {} deactivated", a.name))?;
        ops.push(self.agent_op(&a, Expect::Version(version)));
        let deactivated = gavel_events::AgentStatusChanged {
            agent_id: a.id.clone(),
            name: a.name.clone(),
            reason: reason.to_string(),
            incident_id: None,
            voided_approvals: Some(voided),
            other: Default::default(),
        };
        self.record(gavel_events::kind::AGENT_DEACTIVATED, &by.actor(), crate::typed(&deactivated)?, ops)?;
        Ok(a)
    }

    /// The agent inventory (CC6.1): every agent with its status, owner, environment, groups,
    /// first and last decision, and decision counts by outcome.
    pub fn agent_inventory(&self, by: &Principal) -> Result<Vec<InventoryEntry>> {
        by.require_reader()?;
        let mut out = Vec::new();
        for agent in self.agents()? {
            let mut q = DocQuery::new("decisions", 1);
            q.k1 = Some(agent.id.clone());
            let last_seen = self.store.query_docs(&q)?.first().map(|d| d.time.clone());
            q.ascending = true;
            let first_seen = self.store.query_docs(&q)?.first().map(|d| d.time.clone());
            let mut count = |outcome: &str| {
                q.k3 = Some(outcome.into());
                self.store.count_docs(&q)
            };
            let by_outcome = OutcomeCounts {
                allow: count("allow")?,
                deny: count("deny")?,
                require_approval: count("require_approval")?,
            };
            out.push(InventoryEntry {
                agent,
                first_seen,
                last_seen,
                decisions: by_outcome.allow + by_outcome.deny + by_outcome.require_approval,
                by_outcome,
            });
        }
        Ok(out)
    }

    /// Suspends (temporarily stops) or reactivates an agent; deactivation is final.
    pub fn set_agent_status(
        &self,
        by: &Principal,
        agent: &str,
        status: Status,
        reason: &str,
    ) -> Result<Agent> {
        self.set_agent_status_for(by, agent, status, reason, None)
    }

    /// Like [`Gavel::set_agent_status`]; with `incident_id`, the change is a containment action
    /// of that incident (it must exist and be unresolved) and an entry of its timeline.
    pub fn set_agent_status_for(
        &self,
        by: &Principal,
        agent: &str,
        status: Status,
        reason: &str,
        incident_id: Option<&str>,
    ) -> Result<Agent> {
        by.require_admin()?;
        let (mut a, version) = self.agent_versioned(agent)?;
        let kind = match (a.status, status) {
            (Status::Deactivated, _) => {
                return Err(CoreError::Conflict(format!(
                    "agent {} is deactivated; register a new agent",
                    a.name
                )))
            }
            (from, to) if from == to => {
                return Err(CoreError::Conflict(format!("agent {} is already {}", a.name, to.as_str())))
            }
            (_, Status::Suspended) => gavel_events::kind::AGENT_SUSPENDED,
            (_, Status::Active) => gavel_events::kind::AGENT_REACTIVATED,
            (_, Status::Deactivated) => return self.deactivate_agent(by, agent, reason),
        };
        a.status = status;
        let mut changed = gavel_events::AgentStatusChanged {
            agent_id: a.id.clone(),
            name: a.name.clone(),
            reason: reason.to_string(),
            incident_id: incident_id.map(str::to_string),
            voided_approvals: None,
            other: Default::default(),
        };
        let mut ops = vec![self.agent_op(&a, Expect::Version(version))];
        if status == Status::Suspended {
            let (voids, voided) =
                self.void_approvals_ops(Some(&a.id), None, &format!("agent {} suspended", a.name))?;
            ops.extend(voids);
            changed.voided_approvals = Some(voided);
        }
        let data = crate::typed(&changed)?;
        if let Some(id) = incident_id {
            let action = json!({"type": kind, "agent_id": a.id, "agent": a.name});
            ops.extend(self.incident_link_ops(id, kind, by, action, &data)?);
        }
        self.record(kind, &by.actor(), data, ops)?;
        Ok(a)
    }

    pub fn rotate_agent_credential(&self, by: &Principal, agent: &str) -> Result<Issued<Agent>> {
        by.require_admin()?;
        let a = self.agent(agent)?;
        if a.status == Status::Deactivated {
            return Err(CoreError::Conflict(format!("agent {} is deactivated", a.name)));
        }
        let rotated = gavel_events::CredentialRotated {
            agent_id: Some(a.id.clone()),
            name: a.name.clone(),
            ..Default::default()
        };
        let token = self.rotate("agent", &a.id, &by.actor(), crate::typed(&rotated)?)?;
        Ok(Issued { principal: a, token })
    }
}
