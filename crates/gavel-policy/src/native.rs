//! Native evaluation of the part of Cedar that gavel policies are written in, with Cedar as the
//! reference.
//!
//! Cedar's evaluator is general: for every request it builds an entity store, and for every policy it
//! rebuilds the policy's condition as an expression and interprets it (about 1 µs per policy). gavel's
//! requests all have one shape — one agent in some groups, one tool, one fixed context record — so a
//! policy over that shape compiles to a small typed predicate that reads the [`ToolCall`] directly.
//!
//! Invariants (what keeps the two evaluators in agreement):
//! * a policy compiles only if **every** construct in it is one this module understands — scopes on
//!   `Agent`, `AgentGroup`, `Tool` and the `call_tool` action; `&&`, `||`, `!`, `if`; `==` / `!=` on
//!   strings, longs and entities; `<`, `<=`, `>`, `>=` on longs; `like`; `in` on groups; a set
//!   literal of strings or longs `.contains(...)`; `has` and the decimal comparisons on the
//!   optional `cost_usd`; `hasTag` / `getTag` on the arguments. Anything else leaves the policy to
//!   Cedar, and an engine evaluates a set natively only when all of its policies
//!   compiled (`Engine` falls back to Cedar for the whole set otherwise);
//! * compilation is typed: an expression of the wrong type for its place is not compiled, so native
//!   evaluation never meets a type error where Cedar would report one;
//! * evaluation is left to right with the same short-circuits as Cedar (`&&`, `||`, `if`), scope before
//!   conditions, so it evaluates exactly the sub-expressions Cedar would. The only run-time errors this
//!   subset can raise (a missing tag, an absent cost) are returned as [`NeedsCedar`] and the engine
//!   re-evaluates that call with Cedar, so error reports always come from Cedar;
//! * values are the ones Cedar would see: the same category default, argument text, tags and the cost's
//!   decimal literal (both paths take them from `ToolCall`), and `like` patterns and decimals follow
//!   Cedar's definitions. The property tests in `tests/native.rs` check agreement on generated
//!   policies and calls.

use std::cell::OnceCell;
use std::collections::HashMap;

use serde_json::Value;

use crate::request::{argument_tags, canonical_json, ToolCall};

/// A run-time error in native evaluation: Cedar must judge this call (it reports the error).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct NeedsCedar;

/// A policy compiled to a predicate over a tool call.
#[derive(Debug, Clone)]
pub(crate) struct NativePolicy {
    /// Scope and conditions together, scope first.
    condition: BoolExpr,
    /// The tool named by the resource scope, if it names one.
    tool: Option<String>,
}

impl NativePolicy {
    /// Compiles a policy from Cedar's JSON form (`Policy::to_json`); `None` if any part of it is outside
    /// the subset.
    pub(crate) fn compile(est: &Value) -> Option<NativePolicy> {
        let obj = est.as_object()?;
        let resource = resource_scope(obj.get("resource")?)?;
        let tool = match &resource {
            BoolExpr::ToolIs(tool) => Some(tool.clone()),
            _ => None,
        };
        let mut parts =
            vec![principal_scope(obj.get("principal")?)?, action_scope(obj.get("action")?)?, resource];
        for condition in obj.get("conditions")?.as_array()? {
            let body = bool_expr(condition.get("body")?)?;
            match condition.get("kind")?.as_str()? {
                "when" => parts.push(body),
                "unless" => parts.push(BoolExpr::Not(Box::new(body))),
                _ => return None,
            }
        }
        let condition = parts
            .into_iter()
            .reduce(|a, b| BoolExpr::And(Box::new(a), Box::new(b)))
            .unwrap_or(BoolExpr::Const(true));
        Some(NativePolicy { condition, tool })
    }

    /// Whether the policy is satisfied by the call.
    pub(crate) fn is_satisfied(&self, call: &CallView<'_>) -> Result<bool, NeedsCedar> {
        self.condition.eval(call)
    }

    /// The tool this policy is confined to by its scope (`resource == Tool::"x"` or `in`), if any.
    pub(crate) fn scoped_tool(&self) -> Option<&str> {
        self.tool.as_deref()
    }
}

/// A tool call as the native evaluator reads it; the argument text and tags are computed on first use.
pub(crate) struct CallView<'a> {
    call: &'a ToolCall,
    category: &'a str,
    /// The cost in Cedar decimal units (1/10,000), if the call has one.
    cost: Option<i64>,
    argument_text: OnceCell<String>,
    tags: OnceCell<HashMap<String, String>>,
}

impl<'a> CallView<'a> {
    /// `cost_literal` is what `ToolCall::check` returned: the decimal literal Cedar would be given.
    pub(crate) fn new(call: &'a ToolCall, cost_literal: Option<&str>) -> Result<CallView<'a>, NeedsCedar> {
        let cost = match cost_literal {
            Some(text) => Some(parse_decimal(text).ok_or(NeedsCedar)?),
            None => None,
        };
        Ok(CallView {
            call,
            category: call.category(),
            cost,
            argument_text: OnceCell::new(),
            tags: OnceCell::new(),
        })
    }

    fn argument_text(&self) -> &str {
        self.argument_text.get_or_init(|| canonical_json(&self.call.arguments))
    }

    fn tag(&self, key: &str) -> Option<&str> {
        self.tags
            .get_or_init(|| argument_tags(&self.call.arguments).into_iter().collect())
            .get(key)
            .map(String::as_str)
    }
}

#[derive(Debug, Clone)]
enum BoolExpr {
    Const(bool),
    Not(Box<BoolExpr>),
    And(Box<BoolExpr>, Box<BoolExpr>),
    Or(Box<BoolExpr>, Box<BoolExpr>),
    If(Box<BoolExpr>, Box<BoolExpr>, Box<BoolExpr>),
    StrEq(StrExpr, StrExpr),
    /// `["a", "b"].contains(s)`: a set literal of strings.
    StrIn(Vec<String>, StrExpr),
    /// `[1, 2].contains(n)`: a set literal of longs.
    LongIn(Vec<i64>, LongExpr),
    Like(StrExpr, Pattern),
    LongCmp(LongExpr, Cmp, LongExpr),
    DecimalCmp(DecimalExpr, Cmp, DecimalExpr),
    /// The principal is this agent (`==`, or `in` an agent: `in` is reflexive).
    AgentIs(String),
    /// The principal is in this group (its only ancestors are its groups).
    InGroup(String),
    /// The resource is this tool (tools have no ancestors, so `in` is `==`).
    ToolIs(String),
    HasCost,
    HasTag(StrExpr),
}

#[derive(Debug, Clone)]
enum StrExpr {
    Lit(String),
    Owner,
    AgentEnvironment,
    Tier,
    Category,
    ArgumentText,
    OnBehalfOf,
    Environment,
    /// `context.arguments.getTag(key)`: an error when the tag is absent.
    Tag(Box<StrExpr>),
}

#[derive(Debug, Clone)]
enum LongExpr {
    Lit(i64),
    HourUtc,
}

#[derive(Debug, Clone)]
enum DecimalExpr {
    Lit(i64),
    /// `context.cost_usd`: an error when the call has no cost.
    Cost,
}

#[derive(Debug, Clone, Copy)]
enum Cmp {
    Eq,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Cmp {
    fn holds<T: Ord>(self, a: T, b: T) -> bool {
        match self {
            Cmp::Eq => a == b,
            Cmp::Lt => a < b,
            Cmp::Le => a <= b,
            Cmp::Gt => a > b,
            Cmp::Ge => a >= b,
        }
    }
}

impl BoolExpr {
    fn eval(&self, c: &CallView<'_>) -> Result<bool, NeedsCedar> {
        Ok(match self {
            BoolExpr::Const(b) => *b,
            BoolExpr::Not(e) => !e.eval(c)?,
            BoolExpr::And(a, b) => a.eval(c)? && b.eval(c)?,
            BoolExpr::Or(a, b) => a.eval(c)? || b.eval(c)?,
            BoolExpr::If(i, t, e) => {
                if i.eval(c)? {
                    t.eval(c)?
                } else {
                    e.eval(c)?
                }
            }
            BoolExpr::StrEq(a, b) => a.eval(c)? == b.eval(c)?,
            BoolExpr::StrIn(set, s) => {
                let s = s.eval(c)?;
                set.iter().any(|x| x == s)
            }
            BoolExpr::LongIn(set, n) => set.contains(&n.eval(c)),
            BoolExpr::Like(s, p) => p.matches(s.eval(c)?),
            BoolExpr::LongCmp(a, op, b) => op.holds(a.eval(c), b.eval(c)),
            BoolExpr::DecimalCmp(a, op, b) => op.holds(a.eval(c)?, b.eval(c)?),
            BoolExpr::AgentIs(id) => c.call.agent_id == *id,
            BoolExpr::InGroup(g) => c.call.groups.iter().any(|x| x == g),
            BoolExpr::ToolIs(t) => c.call.tool == *t,
            BoolExpr::HasCost => c.cost.is_some(),
            BoolExpr::HasTag(k) => c.tag(k.eval(c)?).is_some(),
        })
    }
}

impl StrExpr {
    fn eval<'c>(&'c self, c: &'c CallView<'_>) -> Result<&'c str, NeedsCedar> {
        Ok(match self {
            StrExpr::Lit(s) => s,
            StrExpr::Owner => &c.call.owner,
            StrExpr::AgentEnvironment | StrExpr::Environment => &c.call.environment,
            StrExpr::Tier => &c.call.tier,
            StrExpr::Category => c.category,
            StrExpr::ArgumentText => c.argument_text(),
            StrExpr::OnBehalfOf => c.call.on_behalf_of.as_deref().unwrap_or(""),
            StrExpr::Tag(k) => c.tag(k.eval(c)?).ok_or(NeedsCedar)?,
        })
    }
}

impl LongExpr {
    fn eval(&self, c: &CallView<'_>) -> i64 {
        match self {
            LongExpr::Lit(n) => *n,
            LongExpr::HourUtc => i64::from(c.call.hour_utc),
        }
    }
}

impl DecimalExpr {
    fn eval(&self, c: &CallView<'_>) -> Result<i64, NeedsCedar> {
        match self {
            DecimalExpr::Lit(n) => Ok(*n),
            DecimalExpr::Cost => c.cost.ok_or(NeedsCedar),
        }
    }
}

/// A Cedar `like` pattern: literal text separated by `*` wildcards.
#[derive(Debug, Clone)]
struct Pattern {
    /// The literal runs between wildcards; `len() - 1` wildcards. `["", "rm -rf", ""]` is `*rm -rf*`.
    pieces: Vec<String>,
}

impl Pattern {
    /// Cedar's `like`: `*` matches any sequence of characters, everything else itself. Matching whole
    /// UTF-8 literals against UTF-8 text only ever matches at character boundaries, so matching bytes
    /// here is matching characters as Cedar does; with only `*` wildcards, taking each middle piece at
    /// its leftmost occurrence is exact.
    fn matches(&self, text: &str) -> bool {
        let (first, rest) = match self.pieces.split_first() {
            Some(split) => split,
            None => return text.is_empty(),
        };
        let Some((last, middle)) = rest.split_last() else {
            return text == first;
        };
        let Some(mut remaining) = text.strip_prefix(first.as_str()) else {
            return false;
        };
        for piece in middle {
            match remaining.find(piece.as_str()) {
                Some(at) => remaining = &remaining[at + piece.len()..],
                None => return false,
            }
        }
        remaining.len() >= last.len() && remaining.ends_with(last.as_str())
    }
}

/// A Cedar decimal literal (`-?digits.digits`, 1 to 4 fractional digits, within i64 in 1/10,000 units)
/// in 1/10,000 units; `None` for anything Cedar's `decimal()` would not accept (and, to stay clear of
/// its edge, for i64::MIN).
pub(crate) fn parse_decimal(text: &str) -> Option<i64> {
    let (negative, body) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (int, frac) = body.split_once('.')?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(int) || !digits(frac) || frac.len() > 4 {
        return None;
    }
    let mut value: i128 = 0;
    for b in int.bytes().chain(frac.bytes()) {
        value = value.checked_mul(10)?.checked_add(i128::from(b - b'0'))?;
        if value > i128::from(i64::MAX) * 10_000 {
            return None;
        }
    }
    for _ in frac.len()..4 {
        value *= 10;
    }
    let value = i64::try_from(value).ok()?;
    Some(if negative { -value } else { value })
}

fn entity(v: &Value) -> Option<(&str, &str)> {
    let o = v.as_object()?;
    Some((o.get("type")?.as_str()?, o.get("id")?.as_str()?))
}

/// `principal in E` / `principal == E`, for the entity types a principal can be.
fn principal_relation(op: &str, (ty, id): (&str, &str)) -> Option<BoolExpr> {
    match (op, ty) {
        ("==" | "in", "Agent") => Some(BoolExpr::AgentIs(id.to_string())),
        ("in", "AgentGroup") => Some(BoolExpr::InGroup(id.to_string())),
        _ => None,
    }
}

fn resource_relation(op: &str, (ty, id): (&str, &str)) -> Option<BoolExpr> {
    match (op, ty) {
        ("==" | "in", "Tool") => Some(BoolExpr::ToolIs(id.to_string())),
        _ => None,
    }
}

fn principal_scope(v: &Value) -> Option<BoolExpr> {
    match v.get("op")?.as_str()? {
        "All" => Some(BoolExpr::Const(true)),
        op @ ("==" | "in") => principal_relation(op, entity(v.get("entity")?)?),
        "is" if v.get("entity_type")?.as_str()? == "Agent" => match v.get("in") {
            None => Some(BoolExpr::Const(true)),
            Some(i) => principal_relation("in", entity(i.get("entity")?)?),
        },
        _ => None,
    }
}

fn resource_scope(v: &Value) -> Option<BoolExpr> {
    match v.get("op")?.as_str()? {
        "All" => Some(BoolExpr::Const(true)),
        op @ ("==" | "in") => resource_relation(op, entity(v.get("entity")?)?),
        "is" if v.get("entity_type")?.as_str()? == "Tool" => match v.get("in") {
            None => Some(BoolExpr::Const(true)),
            Some(i) => resource_relation("in", entity(i.get("entity")?)?),
        },
        _ => None,
    }
}

fn action_scope(v: &Value) -> Option<BoolExpr> {
    let is_call_tool = |e: &Value| entity(e) == Some(("Action", "call_tool"));
    match v.get("op")?.as_str()? {
        "All" => Some(BoolExpr::Const(true)),
        "==" | "in" if v.get("entity").is_some() => {
            is_call_tool(v.get("entity")?).then_some(BoolExpr::Const(true))
        }
        // A list of actions that names call_tool holds; any other action name is left to Cedar.
        "in" => {
            let list = v.get("entities")?.as_array()?;
            (!list.is_empty() && list.iter().all(is_call_tool)).then_some(BoolExpr::Const(true))
        }
        _ => None,
    }
}

/// The single key of a JSON expression node and its operand.
fn node(v: &Value) -> Option<(&str, &Value)> {
    let o = v.as_object()?;
    if o.len() != 1 {
        return None;
    }
    o.iter().next().map(|(k, v)| (k.as_str(), v))
}

fn binary(v: &Value) -> Option<(&Value, &Value)> {
    Some((v.get("left")?, v.get("right")?))
}

/// `Var.attr`: which variable and which attribute.
fn attribute(v: &Value) -> Option<(&str, &str)> {
    let (key, body) = node(v)?;
    if key != "." {
        return None;
    }
    let (var_key, var) = node(body.get("left")?)?;
    (var_key == "Var").then_some(())?;
    Some((var.as_str()?, body.get("attr")?.as_str()?))
}

fn bool_expr(v: &Value) -> Option<BoolExpr> {
    let (key, body) = node(v)?;
    let both = |f: fn(Box<BoolExpr>, Box<BoolExpr>) -> BoolExpr| {
        let (l, r) = binary(body)?;
        Some(f(Box::new(bool_expr(l)?), Box::new(bool_expr(r)?)))
    };
    match key {
        "Value" => body.as_bool().map(BoolExpr::Const),
        "!" => Some(BoolExpr::Not(Box::new(bool_expr(body.get("arg")?)?))),
        "&&" => both(BoolExpr::And),
        "||" => both(BoolExpr::Or),
        "if-then-else" => Some(BoolExpr::If(
            Box::new(bool_expr(body.get("if")?)?),
            Box::new(bool_expr(body.get("then")?)?),
            Box::new(bool_expr(body.get("else")?)?),
        )),
        "==" | "!=" => {
            let (l, r) = binary(body)?;
            let eq = equality(l, r)?;
            Some(if key == "==" { eq } else { BoolExpr::Not(Box::new(eq)) })
        }
        "<" | "<=" | ">" | ">=" => {
            let (l, r) = binary(body)?;
            let op = match key {
                "<" => Cmp::Lt,
                "<=" => Cmp::Le,
                ">" => Cmp::Gt,
                _ => Cmp::Ge,
            };
            Some(BoolExpr::LongCmp(long_expr(l)?, op, long_expr(r)?))
        }
        "lessThan" | "lessThanOrEqual" | "greaterThan" | "greaterThanOrEqual" => {
            let args = body.as_array()?;
            let [l, r] = args.as_slice() else { return None };
            let op = match key {
                "lessThan" => Cmp::Lt,
                "lessThanOrEqual" => Cmp::Le,
                "greaterThan" => Cmp::Gt,
                _ => Cmp::Ge,
            };
            Some(BoolExpr::DecimalCmp(decimal_expr(l)?, op, decimal_expr(r)?))
        }
        "like" => {
            let s = str_expr(body.get("left")?)?;
            Some(BoolExpr::Like(s, pattern(body.get("pattern")?)?))
        }
        "in" => {
            let (l, r) = binary(body)?;
            let (lk, var) = node(l)?;
            (lk == "Var" && var.as_str()? == "principal").then_some(())?;
            let (rk, target) = node(r)?;
            match rk {
                "Value" => principal_relation("in", entity(target.get("__entity")?)?),
                "Set" => target
                    .as_array()?
                    .iter()
                    .map(|e| {
                        let (k, val) = node(e)?;
                        (k == "Value").then_some(())?;
                        principal_relation("in", entity(val.get("__entity")?)?)
                    })
                    .collect::<Option<Vec<_>>>()?
                    .into_iter()
                    .reduce(|a, b| BoolExpr::Or(Box::new(a), Box::new(b))),
                _ => None,
            }
        }
        "contains" => {
            let (l, r) = binary(body)?;
            let (lk, set) = node(l)?;
            (lk == "Set").then_some(())?;
            let literals: Vec<&Value> = set
                .as_array()?
                .iter()
                .map(|e| node(e).filter(|(k, _)| *k == "Value").map(|(_, v)| v))
                .collect::<Option<_>>()?;
            if literals.is_empty() {
                return None;
            }
            if let Some(strings) =
                literals.iter().map(|v| v.as_str().map(str::to_string)).collect::<Option<Vec<_>>>()
            {
                return Some(BoolExpr::StrIn(strings, str_expr(r)?));
            }
            let longs = literals.iter().map(|v| v.as_i64()).collect::<Option<Vec<_>>>()?;
            Some(BoolExpr::LongIn(longs, long_expr(r)?))
        }
        "has" => {
            let (vk, var) = node(body.get("left")?)?;
            let is_context = vk == "Var" && var.as_str()? == "context";
            (is_context && body.get("attr")?.as_str()? == "cost_usd").then_some(BoolExpr::HasCost)
        }
        "hasTag" => {
            let (l, r) = binary(body)?;
            (attribute(l)? == ("context", "arguments")).then_some(())?;
            Some(BoolExpr::HasTag(str_expr(r)?))
        }
        _ => None,
    }
}

/// `l == r` for operands of one type: strings, longs, or the principal / resource against an entity.
fn equality(l: &Value, r: &Value) -> Option<BoolExpr> {
    if let (Some(a), Some(b)) = (str_expr(l), str_expr(r)) {
        return Some(BoolExpr::StrEq(a, b));
    }
    if let (Some(a), Some(b)) = (long_expr(l), long_expr(r)) {
        return Some(BoolExpr::LongCmp(a, Cmp::Eq, b));
    }
    let var_and_entity = |var: &Value, lit: &Value| -> Option<BoolExpr> {
        let (vk, name) = node(var)?;
        (vk == "Var").then_some(())?;
        let (lk, val) = node(lit)?;
        (lk == "Value").then_some(())?;
        let e = entity(val.get("__entity")?)?;
        match name.as_str()? {
            "principal" => principal_relation("==", e),
            "resource" => resource_relation("==", e),
            _ => None,
        }
    };
    var_and_entity(l, r).or_else(|| var_and_entity(r, l))
}

fn str_expr(v: &Value) -> Option<StrExpr> {
    let (key, body) = node(v)?;
    match key {
        "Value" => body.as_str().map(|s| StrExpr::Lit(s.to_string())),
        "." => Some(match attribute(v)? {
            ("principal", "owner") => StrExpr::Owner,
            ("principal", "environment") => StrExpr::AgentEnvironment,
            ("principal", "tier") => StrExpr::Tier,
            ("resource", "category") => StrExpr::Category,
            ("context", "argument_text") => StrExpr::ArgumentText,
            ("context", "on_behalf_of") => StrExpr::OnBehalfOf,
            ("context", "environment") => StrExpr::Environment,
            _ => return None,
        }),
        "getTag" => {
            let (l, r) = binary(body)?;
            (attribute(l)? == ("context", "arguments")).then_some(())?;
            Some(StrExpr::Tag(Box::new(str_expr(r)?)))
        }
        _ => None,
    }
}

fn long_expr(v: &Value) -> Option<LongExpr> {
    let (key, body) = node(v)?;
    match key {
        "Value" => body.as_i64().map(LongExpr::Lit),
        "." => (attribute(v)? == ("context", "hour_utc")).then_some(LongExpr::HourUtc),
        _ => None,
    }
}

fn decimal_expr(v: &Value) -> Option<DecimalExpr> {
    let (key, body) = node(v)?;
    match key {
        "decimal" => {
            let [arg] = body.as_array()?.as_slice() else { return None };
            let (k, text) = node(arg)?;
            (k == "Value").then_some(())?;
            parse_decimal(text.as_str()?).map(DecimalExpr::Lit)
        }
        "." => (attribute(v)? == ("context", "cost_usd")).then_some(DecimalExpr::Cost),
        _ => None,
    }
}

/// A `like` pattern from its JSON form: `"Wildcard"` or `{"Literal": "c"}` per element.
fn pattern(v: &Value) -> Option<Pattern> {
    let mut pieces = vec![String::new()];
    for element in v.as_array()? {
        match element {
            Value::String(w) if w == "Wildcard" => pieces.push(String::new()),
            Value::Object(o) if o.len() == 1 => pieces.last_mut()?.push_str(o.get("Literal")?.as_str()?),
            _ => return None,
        }
    }
    Some(Pattern { pieces })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pat(pieces: &[&str]) -> Pattern {
        Pattern { pieces: pieces.iter().map(|s| s.to_string()).collect() }
    }

    #[test]
    fn patterns_match_like_globs() {
        assert!(pat(&["", "rm -rf", ""]).matches("sudo rm -rf /"));
        assert!(!pat(&["", "rm -rf", ""]).matches("rm -r"));
        assert!(pat(&["abc"]).matches("abc"));
        assert!(!pat(&["abc"]).matches("abcd"));
        assert!(pat(&["a", ""]).matches("a"));
        assert!(pat(&["", "a"]).matches("ba"));
        assert!(!pat(&["ab", "ba"]).matches("aba"), "prefix and suffix must not overlap");
        assert!(pat(&["ab", "ba"]).matches("abba"));
        assert!(pat(&["", "a", "b", ""]).matches("xaxbx"));
        assert!(!pat(&["", "b", "a", ""]).matches("ab"));
        assert!(!pat(&["", "a", "a", ""]).matches("xax"), "each middle piece consumes its match");
        assert!(pat(&["", "a", "a", ""]).matches("aa"));
        assert!(pat(&["", ""]).matches(""));
        assert!(pat(&["é", "ü"]).matches("éxü"));
    }

    /// Compiles a policy that skipped validation (so it can meet run-time errors).
    fn unvalidated(text: &str) -> NativePolicy {
        let policy: cedar_policy::Policy = text.parse().expect("parses");
        NativePolicy::compile(&policy.to_json().expect("json")).expect("in the native subset")
    }

    #[test]
    fn run_time_errors_hand_the_call_to_cedar() {
        let mut call = crate::request::tests::call();
        call.arguments = serde_json::json!({"x": "y"});
        call.cost_usd = None;
        let tag = unvalidated(
            r#"permit (principal, action, resource) when { context.arguments.getTag("x") == "y" };"#,
        );
        let cost = unvalidated(
            r#"forbid (principal, action, resource) when { context.cost_usd.greaterThan(decimal("1.0")) };"#,
        );
        let view = CallView::new(&call, None).expect("view");
        assert_eq!(tag.is_satisfied(&view), Ok(true));
        assert_eq!(cost.is_satisfied(&view), Err(NeedsCedar), "no cost: Cedar reports the missing attribute");
        call.arguments = serde_json::json!({"z": "y"});
        let view = CallView::new(&call, Some("2.5000")).expect("view");
        assert_eq!(tag.is_satisfied(&view), Err(NeedsCedar), "no such tag: Cedar reports it");
        assert_eq!(cost.is_satisfied(&view), Ok(true));
    }

    #[test]
    fn decimals_parse_as_cedar_defines_them() {
        assert_eq!(parse_decimal("1.5"), Some(15_000));
        assert_eq!(parse_decimal("-0.0001"), Some(-1));
        assert_eq!(parse_decimal("10.1234"), Some(101_234));
        assert_eq!(parse_decimal("922337203685477.5807"), Some(i64::MAX));
        assert_eq!(parse_decimal("922337203685477.5808"), None);
        assert_eq!(parse_decimal("-922337203685477.5808"), None);
        for bad in ["1", "1.", ".5", "1.23456", "1e3", "+1.0", "--1.0", "1.0x", ""] {
            assert_eq!(parse_decimal(bad), None, "{bad}");
        }
    }
}
