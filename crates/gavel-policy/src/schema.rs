//! The Cedar schema of a gavel tool call, embedded as text.
//!
//! Entities and request shape:
//! * principal `Agent::"<agent id>"` with `owner`, `environment`, `tier` (all `String`), member of
//!   zero or more `AgentGroup::"<group>"`;
//! * action `Action::"call_tool"` (the only action);
//! * resource `Tool::"<tool name>"` with `category: String` (`"none"` when the tool is uncategorised);
//! * context:
//!   - `arguments: Arguments` — the call's arguments as an entity whose **tags** are the top-level
//!     argument keys. Cedar 4 has no validated open records (`additionalAttributes` needs the
//!     experimental `partial-validate` feature), but entity tags are stable and validated: a policy
//!     writes `context.arguments.hasTag("command") && context.arguments.getTag("command") like "*sudo*"`.
//!     A tag's value is the argument itself when it is a JSON string, else its compact JSON text
//!     (numbers, booleans, null, arrays and objects alike). When the arguments are not a JSON object
//!     there are no tags.
//!   - `argument_text: String` — the whole arguments as compact JSON with object keys sorted, for
//!     `like` patterns over everything (`context.argument_text like "*rm -rf*"`). Strings inside it are
//!     JSON-escaped (a newline is the two characters `\n`).
//!   - `on_behalf_of: String` — the end user the agent acts for, `""` when absent.
//!   - `environment: String` — the environment of the call (the agent's environment).
//!   - `cost_usd?: decimal` — optional: absent when the caller did not state a cost, so strict
//!     validation makes policies test `context has cost_usd` first. Cedar's `decimal` (4 fractional
//!     digits, range about ±9.2e14) compares with `.greaterThan(decimal("100.00"))` etc.; `Long` would
//!     force cents and lose readability, floats do not exist in Cedar.
//!   - `hour_utc: Long` — hour of day, 0..=23, in UTC.
//!
//! Invariant: [`SCHEMA_TEXT`] is what validation and request building use; there is no second copy.

use std::sync::OnceLock;

use cedar_policy::Schema;

use crate::PolicyError;

/// The gavel Cedar schema, in Cedar's human-readable schema syntax.
pub const SCHEMA_TEXT: &str = r#"// gavel: one agent tool call.
entity AgentGroup;

entity Agent in [AgentGroup] {
  owner: String,
  environment: String,
  tier: String,
};

entity Tool {
  category: String,
};

// The call's arguments: one tag per top-level argument key.
entity Arguments tags String;

action call_tool appliesTo {
  principal: [Agent],
  resource: [Tool],
  context: {
    arguments: Arguments,
    argument_text: String,
    on_behalf_of: String,
    environment: String,
    cost_usd?: __cedar::decimal,
    hour_utc: Long,
  },
};
"#;

/// The schema as text (for `gavel policy schema` and documentation).
pub fn schema_text() -> &'static str {
    SCHEMA_TEXT
}

/// The parsed schema, built once. Errors only if [`SCHEMA_TEXT`] is broken (a bug, caught by tests).
pub(crate) fn schema() -> Result<&'static Schema, PolicyError> {
    // Parsed once: parsing is not free and every validation and evaluation needs it.
    static SCHEMA: OnceLock<Result<Schema, String>> = OnceLock::new();
    SCHEMA
        .get_or_init(|| {
            Schema::from_cedarschema_str(SCHEMA_TEXT)
                .map(|(schema, _warnings)| schema)
                .map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|e| PolicyError::Schema(e.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_schema_parses_without_warnings() {
        let (_, warnings) = Schema::from_cedarschema_str(SCHEMA_TEXT).expect("schema parses");
        assert_eq!(warnings.count(), 0);
        assert!(schema().is_ok());
    }

    #[test]
    fn schema_declares_the_gavel_entities() {
        let s = schema().expect("schema");
        let types: Vec<String> = s.entity_types().map(|t| t.to_string()).collect();
        for t in ["Agent", "AgentGroup", "Tool", "Arguments"] {
            assert!(types.contains(&t.to_string()), "missing {t} in {types:?}");
        }
        let actions: Vec<String> = s.actions().map(|a| a.to_string()).collect();
        assert_eq!(actions, vec![r#"Action::"call_tool""#.to_string()]);
    }
}
