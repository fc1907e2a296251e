//! The tool registry's categories under two-person change control (SOC 2 CC8.1).
//!
//! A tool's category is what policies see as `resource.category` (`"none"` for a tool the
//! registry does not categorise), so re-categorising a tool can widen what policies allow: it is a
//! policy change, and goes through the same two-person rule as `policies`. The registry is the
//! `tools/<tool>` documents decide reads on every call (packs write them too, at install).
//!
//! Invariants:
//! * a change is a set of assignments tool → category (or → none, to uncategorise), proposed by
//!   an admin and applied only when a *different* admin approves it; any admin may reject it
//!   (its author withdrawing it included);
//! * a proposal is checked before anything is read or recorded: 1-[`MAX_ASSIGNMENTS`]
//!   assignments, tool names as decide accepts them, no tool twice, categories `[a-z0-9_]` of at
//!   most [`MAX_CATEGORY_CHARS`] (as packs write them; `none` is refused: it is what policies see
//!   for an uncategorised tool, set by `null`), an upstream name as the gateway records it. A
//!   refused proposal records nothing;
//! * each assignment records the category in force at proposal (`previous`); an assignment that
//!   changes nothing is refused (409), so every assignment of a change is a change;
//! * approval re-reads every tool and refuses (409, stale) if any category moved since the
//!   proposal: the approver approves exactly the before → after they were shown. The `tools`
//!   documents are then written by compare-and-set in the same transaction as the
//!   `tools.categories_applied` event, so a concurrent write fails the approval and nothing is
//!   applied;
//! * authorization is checked before any state is read (a refused caller learns nothing);
//! * the gateway, holding only agent tokens, never sets a category: it can only report tool
//!   names (`gateway`), which the CLI expands an upstream's configured globs over before it
//!   proposes a change as an admin.

use crate::error::{CoreError, Result};
use crate::identity::Principal;
use crate::ids::new_id;
use crate::policies::ChangeStatus;
use crate::{from_doc, Gavel};
use gavel_events::{
    kind, CategoryAssignment, ToolCategoriesApplied, ToolCategoriesProposed, ToolCategoriesRejected,
};
use gavel_store::docs::{DocKeys, DocQuery, Expect, StateOp};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::json;
use std::collections::BTreeSet;

/// The registry's collection (`tools/<tool name>`), read by decide on every call.
pub const TOOLS: &str = "tools";
/// The collection of category changes (`tool_category_changes/<id>`, k1 status).
pub const CHANGES: &str = "tool_category_changes";
/// The most assignments one change may carry (as many as one recorded tool list may name).
pub const MAX_ASSIGNMENTS: usize = crate::gateway::MAX_TOOLS;
/// The longest category name.
pub const MAX_CATEGORY_CHARS: usize = 64;
/// What policies see for a tool the registry does not categorise (not a category one can set).
pub const UNCATEGORISED: &str = "none";

/// One tool of the registry: its category and where that came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ToolEntry {
    pub tool: String,
    /// `None`: uncategorised (policies see `"none"`).
    #[serde(default)]
    pub category: Option<String>,
    /// `<pack>@<version>` for a pack's tool, `upstream:<name>` or `admin` for a change's.
    #[serde(default)]
    pub source: Option<String>,
    /// The change that set it, who approved it and when (absent for a pack's tools).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approved_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approved_by_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applied_at: Option<String>,
}

/// One assignment as proposed: the tool and the category it should get.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RequestedCategory {
    pub tool: String,
    /// Required: a category, or `null` to uncategorise the tool (a forgotten member must not
    /// silently uncategorise).
    #[serde(deserialize_with = "nullable")]
    #[schema(required = true)]
    pub category: Option<String>,
}

fn nullable<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Option<String>, D::Error> {
    Option::<String>::deserialize(d)
}

/// The body of `POST /v1/tools/changes`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProposeCategories {
    pub assignments: Vec<RequestedCategory>,
    /// The gateway upstream whose configuration the categories come from (the change's source
    /// is then `upstream:<name>`, else `admin`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream: Option<String>,
}

/// One assignment of a change: the category it gives and the one in force at proposal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ToolCategoryAssignment {
    pub tool: String,
    /// `None`: uncategorised.
    pub category: Option<String>,
    pub previous: Option<String>,
}

/// A proposed category change, applied once a second admin approves it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ToolCategoryChange {
    pub id: String,
    /// `upstream:<name>` or `admin`.
    pub source: String,
    pub assignments: Vec<ToolCategoryAssignment>,
    pub proposed_by: String,
    pub proposed_by_name: String,
    pub proposed_at: String,
    pub status: ChangeStatus,
    pub decided_by: Option<String>,
    pub decided_by_name: Option<String>,
    pub decided_at: Option<String>,
    pub comment: Option<String>,
}

/// Checks a category name: 1-64 of `[a-z0-9_]` (as packs write them), not `none`.
pub fn check_category(category: &str) -> Result<()> {
    let ok = !category.is_empty()
        && category.len() <= MAX_CATEGORY_CHARS
        && category.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !ok {
        return Err(CoreError::Invalid(format!(
            "category {category:?} must be 1-{MAX_CATEGORY_CHARS} characters of [a-z0-9_]"
        )));
    }
    if category == UNCATEGORISED {
        return Err(CoreError::Invalid(format!(
            "{UNCATEGORISED:?} is what policies see for an uncategorised tool: set the category to null to uncategorise"
        )));
    }
    Ok(())
}

/// Checks a proposal's assignments (see the module doc), before anything is read.
pub fn check_assignments(assignments: &[RequestedCategory]) -> Result<()> {
    if assignments.is_empty() {
        return Err(CoreError::Invalid("a category change needs at least one assignment".into()));
    }
    if assignments.len() > MAX_ASSIGNMENTS {
        return Err(CoreError::Invalid(format!(
            "a category change has at most {MAX_ASSIGNMENTS} assignments, not {}",
            assignments.len()
        )));
    }
    let mut seen = BTreeSet::new();
    for a in assignments {
        crate::decide::check_tool_name(&a.tool)
            .map_err(|e| CoreError::Invalid(format!("tool {:?}: {e}", a.tool)))?;
        if let Some(category) = &a.category {
            check_category(category).map_err(|e| CoreError::Invalid(format!("tool {}: {e}", a.tool)))?;
        }
        if !seen.insert(a.tool.as_str()) {
            return Err(CoreError::Invalid(format!("tool {} is assigned twice", a.tool)));
        }
    }
    Ok(())
}

/// Whether `name` matches `pattern`, where `*` matches any run of characters (none included)
/// and every other character only itself. Enough for an upstream's `categories` globs.
pub fn glob_matches(pattern: &str, name: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or_default();
    let Some(mut rest) = name.strip_prefix(first) else { return false };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else {
        // No `*`: the whole name is the pattern.
        return rest.is_empty();
    };
    for part in middle {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

/// Checks a glob: 1-256 printable ASCII characters without spaces (tool names' alphabet) and
/// `*`s.
pub fn check_glob(pattern: &str) -> Result<()> {
    if !pattern.is_empty() && pattern.len() <= 256 && pattern.chars().all(|c| c.is_ascii_graphic()) {
        Ok(())
    } else {
        Err(CoreError::Invalid(format!(
            "glob {pattern:?} must be 1-256 printable ASCII characters without spaces (`*` matches any run)"
        )))
    }
}

/// A tool's registry document as an approval compares it: its category (`None`: uncategorised)
/// and the document's version (what the compare-and-set expects).
type InRegistry = (Option<String>, u64);

fn status_str(status: ChangeStatus) -> String {
    json!(status).as_str().unwrap_or_default().to_string()
}

fn change_op(change: &ToolCategoryChange, expect: Expect) -> StateOp {
    StateOp::put(
        CHANGES,
        &change.id,
        json!(change),
        DocKeys { k1: Some(status_str(change.status)), ..Default::default() },
        expect,
    )
}

fn event_assignments(assignments: &[ToolCategoryAssignment]) -> Vec<CategoryAssignment> {
    assignments
        .iter()
        .map(|a| CategoryAssignment {
            tool: a.tool.clone(),
            category: a.category.clone(),
            previous: a.previous.clone(),
        })
        .collect()
}

impl Gavel {
    /// The tool registry, by tool name (readers).
    pub fn list_tools(&self, by: &Principal) -> Result<Vec<ToolEntry>> {
        by.require_reader()?;
        let mut tools: Vec<ToolEntry> = self.all_docs(TOOLS, 100_000)?;
        tools.sort_by(|a, b| a.tool.cmp(&b.tool));
        Ok(tools)
    }

    /// Category changes, most recently changed first, optionally of one status (readers).
    pub fn list_tool_category_changes(
        &self,
        by: &Principal,
        status: Option<ChangeStatus>,
    ) -> Result<Vec<ToolCategoryChange>> {
        by.require_reader()?;
        let mut q = DocQuery::new(CHANGES, 10_000);
        q.k1 = status.map(status_str);
        self.store.query_docs(&q)?.into_iter().map(from_doc).collect()
    }

    /// One category change (readers).
    pub fn get_tool_category_change(&self, by: &Principal, id: &str) -> Result<ToolCategoryChange> {
        by.require_reader()?;
        self.tool_category_change(id).map(|(c, _)| c)
    }

    fn tool_category_change(&self, id: &str) -> Result<(ToolCategoryChange, u64)> {
        let doc = self
            .store
            .get_doc(CHANGES, id)?
            .ok_or_else(|| CoreError::NotFound(format!("no tool category change {id:?}")))?;
        let version = doc.version;
        Ok((from_doc(doc)?, version))
    }

    /// The registry documents of `tools` (in that order) in one read: each one's category and
    /// version, `None` when the registry has no document for it.
    fn registry_of(&self, tools: &[&str]) -> Result<Vec<Option<InRegistry>>> {
        let keys: Vec<(&str, &str)> = tools.iter().map(|t| (TOOLS, *t)).collect();
        Ok(self
            .store
            .get_docs(&keys)?
            .into_iter()
            .map(|doc| doc.map(|d| (d.body["category"].as_str().map(str::to_string), d.version)))
            .collect())
    }

    /// Proposes a category change (admins; see the module doc for what is refused).
    pub fn propose_tool_categories(
        &self,
        by: &Principal,
        request: &ProposeCategories,
    ) -> Result<ToolCategoryChange> {
        let admin = by.require_admin()?;
        check_assignments(&request.assignments)?;
        if let Some(upstream) = &request.upstream {
            crate::gateway::check_upstream(upstream)?;
        }
        let tools: Vec<&str> = request.assignments.iter().map(|a| a.tool.as_str()).collect();
        let current = self.registry_of(&tools)?;
        let mut assignments = Vec::with_capacity(tools.len());
        let mut unchanged = Vec::new();
        for (asked, now) in request.assignments.iter().zip(current) {
            let previous = now.and_then(|(category, _)| category);
            if previous == asked.category {
                unchanged.push(format!(
                    "{} is already {}",
                    asked.tool,
                    previous.as_deref().unwrap_or(UNCATEGORISED)
                ));
            }
            assignments.push(ToolCategoryAssignment {
                tool: asked.tool.clone(),
                category: asked.category.clone(),
                previous,
            });
        }
        if !unchanged.is_empty() {
            return Err(CoreError::Conflict(format!(
                "a category change must change every tool it lists: {}",
                unchanged.join(", ")
            )));
        }
        let change = ToolCategoryChange {
            id: new_id("tcc"),
            source: request
                .upstream
                .as_ref()
                .map_or_else(|| "admin".to_string(), |u| format!("upstream:{u}")),
            assignments,
            proposed_by: admin.id.clone(),
            proposed_by_name: admin.name.clone(),
            proposed_at: self.now(),
            status: ChangeStatus::Pending,
            decided_by: None,
            decided_by_name: None,
            decided_at: None,
            comment: None,
        };
        let proposed = ToolCategoriesProposed {
            change_id: change.id.clone(),
            source: change.source.clone(),
            assignments: event_assignments(&change.assignments),
            proposed_by: admin.id.clone(),
            proposed_by_name: admin.name.clone(),
            other: Default::default(),
        };
        self.record(
            kind::TOOLS_CATEGORIES_PROPOSED,
            &by.actor(),
            crate::typed(&proposed)?,
            vec![change_op(&change, Expect::Absent)],
        )?;
        Ok(change)
    }

    /// Approves and applies a pending category change: an admin other than its author, and only
    /// while every tool still has the category it had at proposal.
    pub fn approve_tool_categories(
        &self,
        by: &Principal,
        change_id: &str,
        comment: Option<&str>,
    ) -> Result<ToolCategoryChange> {
        let admin = by.require_admin()?;
        let (mut change, change_version) = self.tool_category_change(change_id)?;
        if change.status != ChangeStatus::Pending {
            return Err(CoreError::Conflict(format!(
                "tool category change {change_id} was already {}",
                status_str(change.status)
            )));
        }
        if change.proposed_by == admin.id {
            return Err(CoreError::Forbidden(format!(
                "two-person rule: {} proposed change {change_id} and cannot approve it; another admin must",
                admin.name
            )));
        }
        let tools: Vec<&str> = change.assignments.iter().map(|a| a.tool.as_str()).collect();
        let current = self.registry_of(&tools)?;
        let mut stale = Vec::new();
        let now = self.now();
        let mut ops = Vec::with_capacity(tools.len() + 1);
        for (a, doc) in change.assignments.iter().zip(current) {
            let (category, expect) = match doc {
                Some((category, version)) => (category, Expect::Version(version)),
                None => (None, Expect::Absent),
            };
            if category != a.previous {
                stale.push(format!(
                    "{} is now {} (it was {} when proposed)",
                    a.tool,
                    category.as_deref().unwrap_or(UNCATEGORISED),
                    a.previous.as_deref().unwrap_or(UNCATEGORISED)
                ));
                continue;
            }
            ops.push(StateOp::put(
                TOOLS,
                &a.tool,
                json!({"tool": a.tool, "category": a.category, "source": change.source,
                       "change_id": change.id, "approved_by": admin.id, "approved_by_name": admin.name,
                       "applied_at": now}),
                DocKeys { k1: a.category.clone(), ..Default::default() },
                expect,
            ));
        }
        if !stale.is_empty() {
            return Err(CoreError::Conflict(format!(
                "tool category change {change_id} is stale, so it was not applied: {}; reject it and propose the change again",
                stale.join(", ")
            )));
        }
        change.status = ChangeStatus::Applied;
        change.decided_by = Some(admin.id.clone());
        change.decided_by_name = Some(admin.name.clone());
        change.decided_at = Some(now);
        change.comment = comment.map(str::to_string);
        ops.push(change_op(&change, Expect::Version(change_version)));
        let applied = ToolCategoriesApplied {
            change_id: change.id.clone(),
            source: change.source.clone(),
            assignments: event_assignments(&change.assignments),
            proposed_by: change.proposed_by.clone(),
            proposed_by_name: change.proposed_by_name.clone(),
            approved_by: admin.id.clone(),
            approved_by_name: admin.name.clone(),
            comment: change.comment.clone(),
            other: Default::default(),
        };
        self.record(kind::TOOLS_CATEGORIES_APPLIED, &by.actor(), crate::typed(&applied)?, ops)?;
        Ok(change)
    }

    /// Rejects a pending category change (any admin, its author withdrawing it included).
    pub fn reject_tool_categories(
        &self,
        by: &Principal,
        change_id: &str,
        comment: Option<&str>,
    ) -> Result<ToolCategoryChange> {
        let admin = by.require_admin()?;
        let (mut change, version) = self.tool_category_change(change_id)?;
        if change.status != ChangeStatus::Pending {
            return Err(CoreError::Conflict(format!(
                "tool category change {change_id} is no longer pending"
            )));
        }
        change.status = ChangeStatus::Rejected;
        change.decided_by = Some(admin.id.clone());
        change.decided_by_name = Some(admin.name.clone());
        change.decided_at = Some(self.now());
        change.comment = comment.map(str::to_string);
        let rejected = ToolCategoriesRejected {
            change_id: change.id.clone(),
            rejected_by: admin.id.clone(),
            rejected_by_name: admin.name.clone(),
            comment: change.comment.clone(),
            other: Default::default(),
        };
        self.record(
            kind::TOOLS_CATEGORIES_REJECTED,
            &by.actor(),
            crate::typed(&rejected)?,
            vec![change_op(&change, Expect::Version(version))],
        )?;
        Ok(change)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

    use super::*;
    use crate::decide::DecideRequest;
    use crate::identity::Role;
    use crate::NewAgent;
    use gavel_ledger::clock::ManualClock;
    use gavel_policy::Outcome;
    use std::sync::Arc;

    const READ_ONLY: &str = r#"@id("read_only_tools")
permit (principal, action == Action::"call_tool", resource) when { resource.category == "read_only" };
"#;

    struct World {
        _dir: tempfile::TempDir,
        gavel: Gavel,
        alice: Principal,
        bob: Principal,
        agent: Principal,
    }

    fn world() -> World {
        let dir = tempfile::tempdir().unwrap();
        let clock =
            Arc::new(ManualClock::new(time::OffsetDateTime::from_unix_timestamp(1_767_225_600).unwrap()));
        let log = Arc::new(
            gavel_store::Log::open(&gavel_store::layout::DataDir::new(dir.path()), clock.clone(), None)
                .unwrap()
                .0,
        );
        let gavel = Gavel::new(log, clock);
        let alice = gavel.authenticate(&gavel.bootstrap_admin().unwrap().unwrap().token).unwrap();
        let bob = gavel.authenticate(&gavel.create_user(&alice, "bob", Role::Admin).unwrap().token).unwrap();
        let issued =
            gavel.create_agent(&alice, NewAgent { name: "reader".into(), ..Default::default() }).unwrap();
        let agent = gavel.authenticate(&issued.token).unwrap();
        let change = gavel.propose_policy(&alice, "read-only", READ_ONLY, None).unwrap();
        gavel.approve_change(&bob, &change.id, None).unwrap();
        World { _dir: dir, gavel, alice, bob, agent }
    }

    fn assign(pairs: &[(&str, Option<&str>)]) -> ProposeCategories {
        ProposeCategories {
            assignments: pairs
                .iter()
                .map(|(tool, category)| RequestedCategory {
                    tool: tool.to_string(),
                    category: category.map(str::to_string),
                })
                .collect(),
            upstream: Some("files".into()),
        }
    }

    fn decide(w: &World, tool: &str) -> Outcome {
        let req: DecideRequest = serde_json::from_value(json!({"tool": tool})).unwrap();
        w.gavel.decide(&w.agent, req).unwrap().decision
    }

    fn log_size(w: &World) -> u64 {
        w.gavel.store.head().unwrap().size
    }

    #[test]
    fn a_second_admin_applies_a_change_and_decide_sees_it_on_the_next_call() {
        let w = world();
        assert_eq!(decide(&w, "read_file"), Outcome::Deny, "uncategorised: the policy does not permit it");
        let change =
            w.gavel.propose_tool_categories(&w.alice, &assign(&[("read_file", Some("read_only"))])).unwrap();
        assert_eq!((change.status, change.source.as_str()), (ChangeStatus::Pending, "upstream:files"));
        assert_eq!(change.assignments[0].previous, None);
        assert_eq!(decide(&w, "read_file"), Outcome::Deny, "a pending change changes nothing");

        let refused = w.gavel.approve_tool_categories(&w.alice, &change.id, None);
        assert!(
            matches!(&refused, Err(CoreError::Forbidden(m)) if m.contains("two-person rule")),
            "{refused:?}"
        );
        let applied = w.gavel.approve_tool_categories(&w.bob, &change.id, Some("reviewed")).unwrap();
        assert_eq!(
            (applied.status, applied.decided_by_name.as_deref()),
            (ChangeStatus::Applied, Some("bob"))
        );
        assert_eq!(decide(&w, "read_file"), Outcome::Allow);
        let entry =
            w.gavel.list_tools(&w.alice).unwrap().into_iter().find(|t| t.tool == "read_file").unwrap();
        assert_eq!(
            (entry.category.as_deref(), entry.change_id.as_deref()),
            (Some("read_only"), Some(change.id.as_str()))
        );
        assert!(matches!(
            w.gavel.approve_tool_categories(&w.bob, &change.id, None),
            Err(CoreError::Conflict(_))
        ));

        // Uncategorising is a change like any other.
        let back = w.gavel.propose_tool_categories(&w.bob, &assign(&[("read_file", None)])).unwrap();
        assert_eq!(back.assignments[0].previous.as_deref(), Some("read_only"));
        w.gavel.approve_tool_categories(&w.alice, &back.id, None).unwrap();
        assert_eq!(decide(&w, "read_file"), Outcome::Deny);
    }

    #[test]
    fn an_approval_of_a_change_overtaken_by_another_is_refused_and_applies_nothing() {
        let w = world();
        let first =
            w.gavel.propose_tool_categories(&w.alice, &assign(&[("wipe", Some("destructive"))])).unwrap();
        let second = w
            .gavel
            .propose_tool_categories(
                &w.alice,
                &assign(&[("wipe", Some("read_only")), ("read_file", Some("read_only"))]),
            )
            .unwrap();
        w.gavel.approve_tool_categories(&w.bob, &first.id, None).unwrap();
        let before = log_size(&w);
        let stale = w.gavel.approve_tool_categories(&w.bob, &second.id, None);
        match stale {
            Err(CoreError::Conflict(m)) => {
                assert!(m.contains("stale") && m.contains("wipe is now destructive"), "{m}")
            }
            other => panic!("expected a stale conflict, got {other:?}"),
        }
        assert_eq!(log_size(&w), before, "nothing recorded");
        assert_eq!(decide(&w, "wipe"), Outcome::Deny, "still destructive");
        assert_eq!(decide(&w, "read_file"), Outcome::Deny, "no part of a stale change applies");
        assert_eq!(
            w.gavel.get_tool_category_change(&w.alice, &second.id).unwrap().status,
            ChangeStatus::Pending
        );
        let rejected = w.gavel.reject_tool_categories(&w.alice, &second.id, Some("stale")).unwrap();
        assert_eq!(rejected.status, ChangeStatus::Rejected);
        assert!(matches!(
            w.gavel.approve_tool_categories(&w.bob, &second.id, None),
            Err(CoreError::Conflict(_))
        ));
    }

    #[test]
    fn bad_proposals_and_callers_are_refused_and_record_nothing() {
        let w = world();
        let before = log_size(&w);
        let long = "x".repeat(257);
        let too_many: Vec<(String, Option<&str>)> =
            (0..=MAX_ASSIGNMENTS).map(|i| (format!("t{i}"), Some("read_only"))).collect();
        let too_many: Vec<(&str, Option<&str>)> = too_many.iter().map(|(t, c)| (t.as_str(), *c)).collect();
        for (bad, says) in [
            (assign(&[]), "at least one"),
            (assign(&[("has space", Some("read_only"))]), "printable ASCII"),
            (assign(&[(long.as_str(), Some("read_only"))]), "printable ASCII"),
            (assign(&[("a", Some("Read-Only"))]), "[a-z0-9_]"),
            (assign(&[("a", Some(""))]), "[a-z0-9_]"),
            (assign(&[("a", Some("none"))]), "null to uncategorise"),
            (assign(&[("a", Some("x")), ("a", Some("y"))]), "twice"),
            (assign(&too_many), "at most"),
        ] {
            match w.gavel.propose_tool_categories(&w.alice, &bad) {
                Err(CoreError::Invalid(m)) => assert!(m.contains(says), "{says}: {m}"),
                other => panic!("{says}: expected Invalid, got {other:?}"),
            }
        }
        let mut bad_upstream = assign(&[("a", Some("x"))]);
        bad_upstream.upstream = Some("a b".into());
        assert!(matches!(
            w.gavel.propose_tool_categories(&w.alice, &bad_upstream),
            Err(CoreError::Invalid(_))
        ));
        let noop = w.gavel.propose_tool_categories(&w.alice, &assign(&[("a", None)]));
        assert!(matches!(&noop, Err(CoreError::Conflict(m)) if m.contains("a is already none")), "{noop:?}");
        // Only admins propose, approve or reject; agents and viewers are refused before any read.
        let viewer =
            w.gavel.authenticate(&w.gavel.create_user(&w.alice, "vic", Role::Viewer).unwrap().token).unwrap();
        let before = before + 1; // vic's creation
        assert_eq!(log_size(&w), before);
        for who in [&viewer, &w.agent] {
            assert!(matches!(
                w.gavel.propose_tool_categories(who, &assign(&[("a", Some("x"))])),
                Err(CoreError::Forbidden(_))
            ));
            assert!(matches!(
                w.gavel.approve_tool_categories(who, "tcc_nothing", None),
                Err(CoreError::Forbidden(_))
            ));
            assert!(matches!(
                w.gavel.reject_tool_categories(who, "tcc_nothing", None),
                Err(CoreError::Forbidden(_))
            ));
        }
        assert!(w.gavel.list_tools(&viewer).is_ok() && w.gavel.list_tools(&w.agent).is_err());
        assert!(matches!(
            w.gavel.approve_tool_categories(&w.bob, "tcc_nothing", None),
            Err(CoreError::NotFound(_))
        ));
        assert_eq!(log_size(&w), before, "nothing recorded");
    }

    #[test]
    fn a_change_is_recorded_as_events_a_reader_can_follow() {
        let w = world();
        let change =
            w.gavel.propose_tool_categories(&w.alice, &assign(&[("read_file", Some("read_only"))])).unwrap();
        w.gavel.approve_tool_categories(&w.bob, &change.id, None).unwrap();
        let size = log_size(&w);
        let events: Vec<gavel_ledger::event::Event> = (size - 2..size)
            .map(|seq| {
                serde_json::from_slice(&w.gavel.store.entry(seq).unwrap().unwrap().bytes.unwrap()).unwrap()
            })
            .collect();
        let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
        assert_eq!(kinds, [kind::TOOLS_CATEGORIES_PROPOSED, kind::TOOLS_CATEGORIES_APPLIED]);
        let applied: ToolCategoriesApplied = gavel_events::read(&events[1].data);
        assert_eq!((applied.proposed_by_name.as_str(), applied.approved_by_name.as_str()), ("admin", "bob"));
        assert_eq!(applied.assignments[0].category.as_deref(), Some("read_only"));
    }

    #[test]
    fn globs_match_runs_of_any_characters() {
        for (pattern, name, matches) in [
            ("read_*", "read_file", true),
            ("read_*", "read_", true),
            ("read_*", "write_file", false),
            ("*", "anything", true),
            ("*_file", "read_file", true),
            ("*_file", "read_files", false),
            ("a*b*c", "abc", true),
            ("a*b*c", "a-b-x-c", true),
            ("a*b*c", "acb", false),
            ("a*a", "a", false),
            ("exact", "exact", true),
            ("exact", "exactly", false),
            ("**", "", true),
        ] {
            assert_eq!(glob_matches(pattern, name), matches, "{pattern} vs {name}");
        }
        assert!(check_glob("fs.*").is_ok() && check_glob("").is_err() && check_glob("a b").is_err());
    }
}
