//! The engine: loaded policy sets (each enforcing or observing) evaluated against one tool call.
//!
//! Precedence, applied to the policies of the sets being judged together:
//! **forbid > require_approval > permit > default deny** — see the crate documentation for the rule
//! and its fail-closed handling of erroring policies.
//!
//! Invariants:
//! * policy ids are namespaced by set id inside Cedar (`<set_id>/<policy_id>`); set ids are unique in an
//!   engine and cannot contain `/`, so two sets may both have `policy0`;
//! * every set is re-validated when the engine is built: an engine never holds unvalidated text;
//! * every set is within the [`limits`], and building and evaluating run on stacks those limits
//!   cannot exhaust;
//! * evaluation never fails: a call that cannot be evaluated is denied, with the reason recorded;
//! * policies are indexed by the tool their scope names (`resource == Tool::"x"` can neither apply
//!   to nor error for another tool), so a call is judged against its tool's policies plus the
//!   scope-free ones, with the same result as the whole set;
//! * when every policy of the sets judged compiles to `native` predicates, calls are evaluated
//!   natively; otherwise Cedar judges every call ([`Engine::evaluate_with_cedar`] is the reference
//!   the tests and the decide bench compare with).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use cedar_policy::{Authorizer, Decision, Policy, PolicyId, PolicySet, ResourceConstraint, Response};
use serde::{Deserialize, Serialize};

use crate::native::{CallView, NativePolicy, NeedsCedar};
use crate::request::{RequestError, ToolCall};
use crate::validate::{compile_here, Effect, PolicySetSource};
use crate::{limits, text_sha256, PolicyError};

/// Whether a set's verdict is enforced or only recorded as `would_have`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Decisions follow the set.
    Enforce,
    /// The set enforces nothing; decisions record what it would have decided (`would_have`).
    Observe,
}

/// One version of one policy set, as activated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoadedSet {
    pub set_id: String,
    pub version: u32,
    pub mode: Mode,
    pub source: PolicySetSource,
}

/// The decision on a tool call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum), value(rename_all = "snake_case"))]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Allow,
    Deny,
    RequireApproval,
}

impl Outcome {
    /// The wire name: `allow`, `deny` or `require_approval`.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Allow => "allow",
            Outcome::Deny => "deny",
            Outcome::RequireApproval => "require_approval",
        }
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A policy named in a verdict.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PolicyRef {
    pub set_id: String,
    pub version: u32,
    pub policy_id: String,
}

impl std::fmt::Display for PolicyRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{} (v{})", self.set_id, self.policy_id, self.version)
    }
}

/// The outcome for one group of sets, with the policies that determined it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdict {
    pub outcome: Outcome,
    /// The policies that determined the outcome (none for a default deny), in set then source order.
    pub policies: Vec<PolicyRef>,
    /// Human sentences explaining the outcome, one per determining policy.
    pub reasons: Vec<String>,
    /// Evaluation errors (a policy that errored is skipped by Cedar; an erroring forbid also denies).
    pub errors: Vec<String>,
}

/// The result of evaluating one tool call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evaluation {
    /// What is enforced: the verdict of the enforcing sets; None when no set enforces (permissive-but-recorded).
    pub enforced: Option<Verdict>,
    /// What would happen if the observe sets enforced too (enforcing + observing sets together); None when no
    /// observe set.
    pub would_have: Option<Verdict>,
}

/// What the engine knows about one Cedar policy.
#[derive(Debug, Clone)]
struct Meta {
    /// (set position, policy position): the order verdicts list policies in.
    order: (usize, usize),
    reference: PolicyRef,
    effect: Effect,
    require_approval: bool,
}

/// Evaluates tool calls against loaded policy sets. Immutable once built: share it in an `Arc` and call
/// [`Engine::evaluate`] from any number of threads.
#[derive(Debug, Clone)]
pub struct Engine {
    enforcing: Indexed,
    combined: Indexed,
    has_enforcing: bool,
    has_observing: bool,
    meta: HashMap<PolicyId, Meta>,
    authorizer: Authorizer,
    /// The stack evaluating a call may take, from the deepest policy (see [`limits::eval_stack`]).
    eval_stack: usize,
}

/// A policy set indexed by tool. A policy whose scope says `resource == Tool::"x"` can only be
/// satisfied — or even evaluated past its scope, so it can neither permit, forbid nor error — for
/// tool `x`; leaving it out of every other tool's set changes no decision, and spares Cedar
/// evaluating it (Cedar evaluates every policy of the set it is given).
#[derive(Debug, Clone)]
struct Indexed {
    /// Policies that may apply to any tool.
    generic: PolicySet,
    /// Per tool named in a scope: that tool's policies plus the generic ones.
    by_tool: HashMap<String, PolicySet>,
    /// The same policies compiled for [`native`] evaluation, indexed the same way; `None` when any
    /// of them is outside the native subset (then Cedar judges every call).
    native: Option<ByTool<Arc<(Meta, NativePolicy)>>>,
}

/// Policies that may apply to any tool, and per tool named in a scope, its own plus those.
#[derive(Debug, Clone)]
struct ByTool<P> {
    generic: Vec<P>,
    by_tool: HashMap<String, Vec<P>>,
}

impl<P: Clone> ByTool<P> {
    fn new(items: impl IntoIterator<Item = (Option<String>, P)>) -> Self {
        let mut generic = Vec::new();
        let mut scoped: HashMap<String, Vec<P>> = HashMap::new();
        for (tool, item) in items {
            match tool {
                Some(tool) => scoped.entry(tool).or_default().push(item),
                None => generic.push(item),
            }
        }
        let by_tool = scoped
            .into_iter()
            .map(|(tool, own)| {
                let mut all = generic.clone();
                all.extend(own);
                (tool, all)
            })
            .collect();
        ByTool { generic, by_tool }
    }

    fn for_tool(&self, tool: &str) -> &[P] {
        self.by_tool.get(tool).unwrap_or(&self.generic)
    }
}

impl Indexed {
    fn new(policies: Vec<(Policy, Meta)>) -> Result<Self, PolicyError> {
        let tool_of = |p: &Policy| match p.resource_constraint() {
            ResourceConstraint::Eq(uid) if uid.type_name().to_string() == "Tool" => {
                Some(uid.id().unescaped().to_string())
            }
            _ => None,
        };
        let native = policies
            .iter()
            .map(|(policy, meta)| {
                let compiled = policy.to_json().ok().as_ref().and_then(NativePolicy::compile)?;
                Some((compiled.scoped_tool().map(str::to_string), Arc::new((meta.clone(), compiled))))
            })
            .collect::<Option<Vec<_>>>()
            .map(ByTool::new);
        let cedar = ByTool::new(policies.into_iter().map(|(p, _)| (tool_of(&p), p)));
        let set = |policies: Vec<Policy>| {
            PolicySet::from_policies(policies).map_err(|e| PolicyError::invalid(e.to_string()))
        };
        Ok(Indexed {
            generic: set(cedar.generic)?,
            by_tool: cedar.by_tool.into_iter().map(|(t, ps)| Ok((t, set(ps)?))).collect::<Result<_, _>>()?,
            native,
        })
    }

    fn for_tool(&self, tool: &str) -> &PolicySet {
        self.by_tool.get(tool).unwrap_or(&self.generic)
    }
}

impl Engine {
    /// Builds an engine, re-validating every set (and checking its stored hash against its text).
    ///
    /// Every text is checked against the [`limits`] first, and the build runs on
    /// `limits::on_compile_stack`, so no stored text can abort the process here.
    pub fn new(sets: Vec<LoadedSet>) -> Result<Engine, PolicyError> {
        for set in &sets {
            limits::prescan(&set.source.text).map_err(|e| PolicyError::InSet {
                set_id: set.set_id.clone(),
                version: set.version,
                source: Box::new(e),
            })?;
        }
        limits::on_compile_stack(|| Self::build(sets))
    }

    fn build(sets: Vec<LoadedSet>) -> Result<Engine, PolicyError> {
        let mut enforcing = Vec::new();
        let mut combined = Vec::new();
        let mut meta = HashMap::new();
        let mut seen = HashSet::new();
        let (mut has_enforcing, mut has_observing) = (false, false);
        let mut deepest = 0;

        for (set_pos, set) in sets.iter().enumerate() {
            if !seen.insert(set.set_id.as_str()) {
                return Err(PolicyError::DuplicateSet(set.set_id.clone()));
            }
            let in_set = |e: PolicyError| match e {
                // A bad set id is already about the set; wrapping would repeat it.
                e @ PolicyError::InvalidSetId { .. } => e,
                e => PolicyError::InSet {
                    set_id: set.set_id.clone(),
                    version: set.version,
                    source: Box::new(e),
                },
            };
            let actual = text_sha256(&set.source.text);
            if actual != set.source.sha256 {
                return Err(PolicyError::HashMismatch {
                    set_id: set.set_id.clone(),
                    stored: set.source.sha256.clone(),
                    actual,
                });
            }
            let compiled = compile_here(&set.set_id, &set.source.text).map_err(in_set)?;
            match set.mode {
                Mode::Enforce => has_enforcing = true,
                Mode::Observe => has_observing = true,
            }
            for (pol_pos, (info, policy)) in
                compiled.source.policies.iter().zip(compiled.policies).enumerate()
            {
                let id = PolicyId::new(format!("{}/{}", set.set_id, info.id));
                let policy = policy.new_id(id.clone());
                let depth = policy.to_json().map_or(limits::MAX_TREE_DEPTH, |j| limits::json_tree_depth(&j));
                deepest = deepest.max(depth);
                let m = Meta {
                    order: (set_pos, pol_pos),
                    reference: PolicyRef {
                        set_id: set.set_id.clone(),
                        version: set.version,
                        policy_id: info.id.clone(),
                    },
                    effect: info.effect,
                    require_approval: info.require_approval,
                };
                combined.push((policy.clone(), m.clone()));
                if set.mode == Mode::Enforce {
                    enforcing.push((policy, m.clone()));
                }
                meta.insert(id, m);
            }
        }
        // Ids are unique per set and set ids are unique and slash-free, so adding cannot clash;
        // map the error anyway rather than panic.
        let index = |policies: Vec<(Policy, Meta)>| {
            Indexed::new(policies).map_err(|e| PolicyError::invalid(e.to_string()))
        };
        Ok(Engine {
            enforcing: index(enforcing)?,
            combined: index(combined)?,
            has_enforcing,
            has_observing,
            meta,
            authorizer: Authorizer::new(),
            eval_stack: limits::eval_stack(deepest),
        })
    }

    /// True when at least one set is in enforce mode.
    pub fn has_enforcing(&self) -> bool {
        self.has_enforcing
    }

    /// True when at least one set is in observe mode.
    pub fn has_observing(&self) -> bool {
        self.has_observing
    }

    /// True when every call is judged by gavel's [`native`] evaluator (every policy of the sets judged
    /// compiled to it); false when Cedar judges them. Either way the verdicts are the same.
    pub fn is_native(&self) -> bool {
        let native = |set: &Indexed| set.native.is_some();
        (!self.has_enforcing || native(&self.enforcing)) && (!self.has_observing || native(&self.combined))
    }

    /// Evaluates one call. Never fails: a call that cannot be evaluated is denied (fail closed).
    ///
    /// Natively when the policies allow it (see [`Engine::is_native`]), otherwise — and for a call on
    /// which native evaluation meets a run-time error, so that Cedar reports it — with Cedar.
    ///
    /// Runs on the caller's stack when it has room for the deepest policy (always, for ordinary
    /// policies), else on a fresh stack segment of this thread: deep policies cost time, never a
    /// crash or a "recursion limit" error.
    pub fn evaluate(&self, req: &ToolCall) -> Evaluation {
        limits::with_stack(self.eval_stack, || self.evaluate_here(req))
    }

    fn evaluate_here(&self, req: &ToolCall) -> Evaluation {
        if !self.has_enforcing && !self.has_observing {
            return Evaluation { enforced: None, would_have: None };
        }
        if !self.is_native() {
            return self.evaluate_with_cedar_here(req);
        }
        let cost = match req.check() {
            Ok(cost) => cost,
            Err(e) => return self.refused(&e),
        };
        // A cost the native view cannot hold, or a run-time error in a policy: Cedar judges (and
        // reports) the call.
        let Ok(view) = CallView::new(req, cost.as_deref()) else { return self.evaluate_with_cedar_here(req) };
        let judge = |set: &Indexed| -> Result<Verdict, NeedsCedar> {
            let Some(native) = &set.native else { return Err(NeedsCedar) };
            let mut satisfied = Vec::new();
            for entry in native.for_tool(&req.tool) {
                if entry.1.is_satisfied(&view)? {
                    satisfied.push(&entry.0);
                }
            }
            Ok(precedence(satisfied, Vec::new(), Vec::new()))
        };
        let enforced = self.has_enforcing.then(|| judge(&self.enforcing)).transpose();
        let would_have = self.has_observing.then(|| judge(&self.combined)).transpose();
        if let (Ok(enforced), Ok(would_have)) = (enforced, would_have) {
            return Evaluation { enforced, would_have };
        }
        self.evaluate_with_cedar_here(req)
    }

    /// Evaluates one call with Cedar alone: the reference [`Engine::evaluate`] agrees with (tests and
    /// the benchmark compare the two).
    pub fn evaluate_with_cedar(&self, req: &ToolCall) -> Evaluation {
        limits::with_stack(self.eval_stack, || self.evaluate_with_cedar_here(req))
    }

    fn evaluate_with_cedar_here(&self, req: &ToolCall) -> Evaluation {
        if !self.has_enforcing && !self.has_observing {
            return Evaluation { enforced: None, would_have: None };
        }
        // Prepared once: both verdicts judge the same request and entities.
        let prepared = match req.prepare() {
            Ok(p) => p,
            Err(e) => return self.refused(&e),
        };
        let judge = |set: &Indexed| -> Verdict {
            let policies = set.for_tool(&req.tool);
            self.verdict(&self.authorizer.is_authorized(&prepared.request, policies, &prepared.entities))
        };
        Evaluation {
            enforced: self.has_enforcing.then(|| judge(&self.enforcing)),
            would_have: self.has_observing.then(|| judge(&self.combined)),
        }
    }

    /// Both verdicts for a call that cannot be evaluated at all: deny.
    fn refused(&self, e: &RequestError) -> Evaluation {
        let verdict = || Verdict {
            outcome: Outcome::Deny,
            policies: Vec::new(),
            reasons: vec![format!("the tool call could not be evaluated, so it is denied: {e}")],
            errors: vec![format!("invalid tool call: {e}")],
        };
        Evaluation {
            enforced: self.has_enforcing.then(verdict),
            would_have: self.has_observing.then(verdict),
        }
    }

    /// Applies gavel's precedence to a Cedar response.
    ///
    /// Cedar's `reason` holds the satisfied forbids when a forbid was satisfied, otherwise all satisfied
    /// permits; that is all the precedence rule needs.
    fn verdict(&self, response: &Response) -> Verdict {
        let mut errors = Vec::new();
        let mut errored_forbids: Vec<&Meta> = Vec::new();
        for e in response.diagnostics().errors() {
            let cedar_policy::AuthorizationError::PolicyEvaluationError(e) = e;
            match self.meta.get(e.policy_id()) {
                Some(m) => {
                    errors.push(format!("policy {} failed to evaluate: {}", m.reference, e.inner()));
                    if m.effect == Effect::Forbid {
                        errored_forbids.push(m);
                    }
                }
                None => errors.push(e.to_string()),
            }
        }
        let satisfied: Vec<&Meta> =
            response.diagnostics().reason().filter_map(|id| self.meta.get(id)).collect();
        let verdict = precedence(satisfied, errored_forbids, errors);
        // Belt and braces: Cedar must agree when nothing permitted the call.
        debug_assert!(
            !(verdict.outcome == Outcome::Deny && verdict.policies.is_empty())
                || response.decision() == Decision::Deny
        );
        verdict
    }
}

/// gavel's rule over the satisfied policies (in any order) and the forbids that errored.
///
/// `satisfied` may hold every satisfied policy, or — as Cedar's `reason` does — only the forbids when a
/// forbid was satisfied: permits are only looked at when no forbid was.
fn precedence(mut satisfied: Vec<&Meta>, mut errored_forbids: Vec<&Meta>, errors: Vec<String>) -> Verdict {
    errored_forbids.sort_by_key(|m| m.order);
    satisfied.sort_by_key(|m| m.order);
    let forbids: Vec<&Meta> = satisfied.iter().copied().filter(|m| m.effect == Effect::Forbid).collect();
    let holds: Vec<&Meta> = satisfied.iter().copied().filter(|m| m.require_approval).collect();
    let permits: Vec<&Meta> = satisfied.iter().copied().filter(|m| m.effect == Effect::Permit).collect();

    let refs = |ms: &[&Meta]| ms.iter().map(|m| m.reference.clone()).collect::<Vec<_>>();
    let (outcome, policies, reasons) = if !forbids.is_empty() || !errored_forbids.is_empty() {
        let mut reasons: Vec<String> =
            forbids.iter().map(|m| format!("forbidden by {}", m.reference)).collect();
        reasons.extend(errored_forbids.iter().map(|m| {
            format!(
                "forbid policy {} could not be evaluated, so the call is denied (fail closed)",
                m.reference
            )
        }));
        let mut all = forbids.clone();
        all.extend(errored_forbids.iter().copied());
        (Outcome::Deny, refs(&all), reasons)
    } else if !holds.is_empty() {
        let reasons = holds.iter().map(|m| format!("approval required by {}", m.reference)).collect();
        (Outcome::RequireApproval, refs(&holds), reasons)
    } else if !permits.is_empty() {
        let reasons = permits.iter().map(|m| format!("permitted by {}", m.reference)).collect();
        (Outcome::Allow, refs(&permits), reasons)
    } else {
        (Outcome::Deny, Vec::new(), vec!["no policy permits this call (default deny)".to_string()])
    };
    Verdict { outcome, policies, reasons, errors }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse_and_validate;

    fn set(id: &str, version: u32, mode: Mode, text: &str) -> LoadedSet {
        LoadedSet {
            set_id: id.into(),
            version,
            mode,
            source: parse_and_validate(id, text).expect("valid policy text"),
        }
    }

    fn call() -> ToolCall {
        ToolCall {
            agent_id: "a1".into(),
            owner: "alice".into(),
            environment: "dev".into(),
            tier: "standard".into(),
            groups: vec![],
            tool: "t".into(),
            tool_category: None,
            arguments: serde_json::json!({}),
            on_behalf_of: None,
            cost_usd: None,
            hour_utc: 0,
        }
    }

    #[test]
    fn engine_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<Engine>();
    }

    #[test]
    fn outcome_serialises_in_snake_case() {
        assert_eq!(serde_json::to_string(&Outcome::RequireApproval).unwrap(), "\"require_approval\"");
        assert_eq!(serde_json::to_string(&Outcome::Allow).unwrap(), "\"allow\"");
        assert_eq!(serde_json::to_string(&Outcome::Deny).unwrap(), "\"deny\"");
        assert_eq!(Outcome::RequireApproval.to_string(), "require_approval");
        assert_eq!(serde_json::to_string(&Mode::Observe).unwrap(), "\"observe\"");
    }

    #[test]
    fn no_sets_means_nothing_enforced_or_observed() {
        let e = Engine::new(vec![]).expect("engine");
        assert!(!e.has_enforcing());
        assert_eq!(e.evaluate(&call()), Evaluation { enforced: None, would_have: None });
    }

    #[test]
    fn duplicate_set_ids_are_refused() {
        let p = "permit (principal, action, resource);";
        let err =
            Engine::new(vec![set("a", 1, Mode::Enforce, p), set("a", 2, Mode::Observe, p)]).unwrap_err();
        assert!(matches!(err, PolicyError::DuplicateSet(ref s) if s == "a"), "{err}");
    }

    #[test]
    fn tampered_source_is_refused() {
        let mut s = set("a", 1, Mode::Enforce, "permit (principal, action, resource);");
        s.source.text = "forbid (principal, action, resource);".into();
        assert!(matches!(Engine::new(vec![s]), Err(PolicyError::HashMismatch { .. })));
    }

    #[test]
    fn invalid_stored_text_is_refused_naming_the_set() {
        let text = "permit (principal, action, resource)\nwhen { principal.nope == 1 };";
        let s = LoadedSet {
            set_id: "team".into(),
            version: 7,
            mode: Mode::Enforce,
            source: PolicySetSource {
                text: text.into(),
                sha256: text_sha256(text),
                policies: vec![],
                warnings: vec![],
            },
        };
        let err = Engine::new(vec![s]).unwrap_err();
        assert!(err.to_string().starts_with("policy set \"team\" (v7): line 2"), "{err}");
    }

    #[test]
    fn invalid_call_is_denied_in_both_verdicts() {
        let p = "permit (principal, action, resource);";
        let e =
            Engine::new(vec![set("a", 1, Mode::Enforce, p), set("b", 1, Mode::Observe, p)]).expect("engine");
        let mut c = call();
        c.hour_utc = 99;
        let ev = e.evaluate(&c);
        for v in [ev.enforced.expect("enforced"), ev.would_have.expect("would_have")] {
            assert_eq!(v.outcome, Outcome::Deny);
            assert!(v.errors[0].contains("hour_utc 99"), "{v:?}");
        }
    }
}
