//! A tool call as gavel receives it, and its translation into a Cedar request and entity store.
//!
//! Invariants:
//! * the request and entities conform to the gavel schema by construction (built here from typed
//!   fields; not re-validated per call, a unit test validates every shape against the schema), so a
//!   policy that validated can only fail at run time for value reasons (overflow, extension
//!   function errors), never for a type mismatch;
//! * malformed input (empty ids, hour past 23, a cost that is not a finite decimal in Cedar's range) is an
//!   error here, which the engine turns into a deny: gavel fails closed.

use std::collections::BTreeSet;

use cedar_policy::{
    Context, Entities, Entity, EntityId, EntityTypeName, EntityUid, Request, RestrictedExpression,
};
use serde::{Deserialize, Serialize};

/// Category given to a tool that no pack or admin has categorised.
pub const UNCATEGORISED: &str = "none";

/// Largest magnitude a Cedar `decimal` holds (i64::MAX / 10^4).
const DECIMAL_MAX: f64 = 922_337_203_685_477.0;

/// One tool call by one agent, with what gavel knows about the agent and the tool.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    pub agent_id: String,
    pub owner: String,
    pub environment: String,
    pub tier: String,
    /// `AgentGroup` ids the agent belongs to (duplicates are ignored).
    pub groups: Vec<String>,
    pub tool: String,
    /// `None` means uncategorised; the policies then see [`UNCATEGORISED`].
    pub tool_category: Option<String>,
    pub arguments: serde_json::Value,
    pub on_behalf_of: Option<String>,
    pub cost_usd: Option<f64>,
    /// Hour of day in UTC, 0..=23.
    pub hour_utc: u8,
}

/// Why a tool call could not be turned into a Cedar request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub(crate) struct RequestError(pub String);

/// A tool call ready for Cedar.
pub(crate) struct Prepared {
    pub request: Request,
    pub entities: Entities,
}

/// The entity types gavel builds requests from, parsed once (Cedar's parser is not free and
/// ran five times per call).
fn type_name(name: &'static str) -> Result<EntityTypeName, RequestError> {
    static TYPES: std::sync::OnceLock<Vec<(&'static str, EntityTypeName)>> = std::sync::OnceLock::new();
    let types = TYPES.get_or_init(|| {
        ["Agent", "AgentGroup", "Tool", "Arguments", "Action"]
            .into_iter()
            .filter_map(|n| n.parse().ok().map(|t| (n, t)))
            .collect()
    });
    types
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, t)| t.clone())
        .ok_or_else(|| RequestError(format!("entity type {name} is not a gavel type")))
}

fn uid(type_name_str: &'static str, id: &str) -> Result<EntityUid, RequestError> {
    Ok(EntityUid::from_type_name_and_id(type_name(type_name_str)?, EntityId::new(id)))
}

fn s(v: &str) -> RestrictedExpression {
    RestrictedExpression::new_string(v.to_string())
}

/// `v` with object keys sorted at every level, as compact JSON.
///
/// Sorting is done here rather than relying on serde_json's map type, whose order depends on whether
/// some crate in the build enabled `preserve_order`. Not RFC 8785 (numbers keep serde_json's form):
/// the text is for pattern matching, not for hashing.
pub fn canonical_json(v: &serde_json::Value) -> String {
    fn sorted(v: &serde_json::Value) -> serde_json::Value {
        match v {
            serde_json::Value::Object(m) => {
                let mut keys: Vec<&String> = m.keys().collect();
                keys.sort();
                let mut out = serde_json::Map::new();
                for k in keys {
                    if let Some(x) = m.get(k) {
                        out.insert(k.clone(), sorted(x));
                    }
                }
                serde_json::Value::Object(out)
            }
            serde_json::Value::Array(a) => serde_json::Value::Array(a.iter().map(sorted).collect()),
            other => other.clone(),
        }
    }
    sorted(v).to_string()
}

/// The tags of the `Arguments` entity: one per top-level key; strings verbatim, other values as JSON.
pub fn argument_tags(arguments: &serde_json::Value) -> Vec<(String, String)> {
    match arguments {
        serde_json::Value::Object(m) => m
            .iter()
            .map(|(k, v)| {
                let text = match v {
                    serde_json::Value::String(s) => s.clone(),
                    other => canonical_json(other),
                };
                (k.clone(), text)
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// A cost as a Cedar decimal literal (4 fractional digits), or why it cannot be one.
fn decimal_literal(cost: f64) -> Result<String, RequestError> {
    if !cost.is_finite() {
        return Err(RequestError(format!("cost_usd {cost} is not a finite number")));
    }
    if cost.abs() > DECIMAL_MAX {
        return Err(RequestError(format!("cost_usd {cost} is outside the range of a Cedar decimal")));
    }
    let text = format!("{cost:.4}");
    // `-0.0000` is not a problem for Cedar, but normalise it so logs and tests see one zero.
    Ok(if text == "-0.0000" { "0.0000".to_string() } else { text })
}

impl ToolCall {
    /// Builds the Cedar request and entities for this call.
    ///
    /// They are not re-validated against the schema on every call: they are built right here
    /// with the schema's types, and a test (`prepared_calls_conform_to_the_schema`) validates them
    /// for every shape of call. Validating per call cost a third of evaluation time.
    pub(crate) fn prepare(&self) -> Result<Prepared, RequestError> {
        self.prepare_with(None)
    }

    /// Refuses a call that cannot be a Cedar request; on success, the cost as a Cedar decimal
    /// literal. Both evaluation paths (Cedar and [`crate::native`]) start here, so they refuse the same
    /// calls with the same reasons.
    pub(crate) fn check(&self) -> Result<Option<String>, RequestError> {
        if self.agent_id.is_empty() {
            return Err(RequestError("agent id is empty".into()));
        }
        if self.tool.is_empty() {
            return Err(RequestError("tool name is empty".into()));
        }
        if self.hour_utc > 23 {
            return Err(RequestError(format!(
                "hour_utc {} is not an hour of the day (0..=23)",
                self.hour_utc
            )));
        }
        self.cost_usd.map(decimal_literal).transpose()
    }

    /// The tool's category as the policies see it.
    pub(crate) fn category(&self) -> &str {
        self.tool_category.as_deref().filter(|c| !c.is_empty()).unwrap_or(UNCATEGORISED)
    }

    fn prepare_with(&self, schema: Option<&cedar_policy::Schema>) -> Result<Prepared, RequestError> {
        let cost = self.check()?;

        let groups: BTreeSet<&str> = self.groups.iter().map(String::as_str).collect();
        let group_uids = groups.iter().map(|g| uid("AgentGroup", g)).collect::<Result<Vec<_>, _>>()?;
        let agent_uid = uid("Agent", &self.agent_id)?;
        let tool_uid = uid("Tool", &self.tool)?;
        let args_uid = uid("Arguments", "call")?;
        let category = self.category();

        let bad = |e: &dyn std::fmt::Display| RequestError(e.to_string());
        let mut entities: Vec<Entity> =
            group_uids.iter().map(|g| Entity::new_no_attrs(g.clone(), Default::default())).collect();
        entities.push(
            Entity::new(
                agent_uid.clone(),
                [
                    ("owner".to_string(), s(&self.owner)),
                    ("environment".to_string(), s(&self.environment)),
                    ("tier".to_string(), s(&self.tier)),
                ]
                .into(),
                group_uids.iter().cloned().collect(),
            )
            .map_err(|e| bad(&e))?,
        );
        entities.push(
            Entity::new(tool_uid.clone(), [("category".to_string(), s(category))].into(), Default::default())
                .map_err(|e| bad(&e))?,
        );
        entities.push(
            Entity::new_with_tags(
                args_uid.clone(),
                [],
                [],
                argument_tags(&self.arguments)
                    .into_iter()
                    .map(|(k, v)| (k, RestrictedExpression::new_string(v))),
            )
            .map_err(|e| bad(&e))?,
        );
        let entities = Entities::from_entities(entities, schema).map_err(|e| bad(&e))?;

        let mut context = vec![
            ("arguments".to_string(), RestrictedExpression::new_entity_uid(args_uid)),
            ("argument_text".to_string(), s(&canonical_json(&self.arguments))),
            ("on_behalf_of".to_string(), s(self.on_behalf_of.as_deref().unwrap_or(""))),
            ("environment".to_string(), s(&self.environment)),
            ("hour_utc".to_string(), RestrictedExpression::new_long(i64::from(self.hour_utc))),
        ];
        if let Some(cost) = cost {
            context.push(("cost_usd".to_string(), RestrictedExpression::new_decimal(cost)));
        }
        let context = Context::from_pairs(context).map_err(|e| bad(&e))?;
        let action = uid("Action", "call_tool")?;
        let request = Request::new(agent_uid, action, tool_uid, context, schema).map_err(|e| bad(&e))?;
        Ok(Prepared { request, entities })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn prepared_calls_conform_to_the_schema() {
        let schema = crate::schema::schema().unwrap();
        let mut calls = vec![call()];
        let mut c = call();
        c.groups = vec![];
        c.cost_usd = None;
        c.on_behalf_of = None;
        c.tool_category = None;
        c.arguments = json!({});
        calls.push(c);
        let mut c = call();
        c.groups = vec!["a".into(), "b".into(), "a".into()];
        c.cost_usd = Some(12345.678);
        c.arguments = json!({"cmd": "rm -rf /", "n": 3, "nested": {"x": [1, 2]}, "flag": true});
        calls.push(c);
        for c in calls {
            c.prepare_with(Some(schema)).unwrap();
            c.prepare().unwrap();
        }
    }

    pub(crate) fn call() -> ToolCall {
        ToolCall {
            agent_id: "a1".into(),
            owner: "alice".into(),
            environment: "production".into(),
            tier: "standard".into(),
            groups: vec!["support".into(), "support".into()],
            tool: "send_email".into(),
            tool_category: Some("external_comm".into()),
            arguments: json!({"to": "x@example.com", "n": 2}),
            on_behalf_of: None,
            cost_usd: Some(1.5),
            hour_utc: 13,
        }
    }

    #[test]
    fn canonical_json_sorts_keys_at_every_level() {
        let v = json!({"b": 1, "a": {"d": [{"z": 1, "y": 2}], "c": "rm -rf /"}});
        assert_eq!(canonical_json(&v), r#"{"a":{"c":"rm -rf /","d":[{"y":2,"z":1}]},"b":1}"#);
    }

    #[test]
    fn tags_keep_strings_verbatim_and_encode_the_rest() {
        let mut tags = argument_tags(&json!({"cmd": "ls \"x\"", "n": 3, "o": {"b": 1, "a": null}}));
        tags.sort();
        assert_eq!(
            tags,
            vec![
                ("cmd".to_string(), "ls \"x\"".to_string()),
                ("n".to_string(), "3".to_string()),
                ("o".to_string(), r#"{"a":null,"b":1}"#.to_string()),
            ]
        );
        assert!(argument_tags(&json!(["not", "an", "object"])).is_empty());
    }

    #[test]
    fn decimal_literals_have_four_digits_and_a_range() {
        assert_eq!(decimal_literal(1.5).unwrap(), "1.5000");
        assert_eq!(decimal_literal(-0.00001).unwrap(), "0.0000");
        assert!(decimal_literal(f64::NAN).is_err());
        assert!(decimal_literal(f64::INFINITY).is_err());
        assert!(decimal_literal(1e15).is_err());
    }

    #[test]
    fn a_well_formed_call_prepares() {
        assert!(call().prepare().is_ok());
        let mut c = call();
        c.cost_usd = None;
        c.tool_category = None;
        c.arguments = json!("just a string");
        assert!(c.prepare().is_ok());
    }

    #[test]
    fn malformed_calls_are_refused() {
        let mut c = call();
        c.hour_utc = 24;
        assert!(c.prepare().is_err());
        let mut c = call();
        c.agent_id.clear();
        assert!(c.prepare().is_err());
        let mut c = call();
        c.tool.clear();
        assert!(c.prepare().is_err());
        let mut c = call();
        c.cost_usd = Some(f64::NAN);
        assert!(c.prepare().is_err());
    }
}
