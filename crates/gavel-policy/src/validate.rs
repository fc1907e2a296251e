//! Parsing and strict validation of Cedar policy text against the gavel schema.
//!
//! Rules enforced here, on top of Cedar's own parser and strict validator:
//! * the text holds at least one static policy; templates (`?principal` / `?resource` slots) are refused;
//! * each policy's id is its `@id("...")` annotation, else `policy<N>` by position (0-based, in source
//!   order, as Cedar numbers them); ids are unique within the set and made of `[A-Za-z0-9_.-]`;
//! * the only `@gavel(...)` value is `"require_approval"`, and only on `permit` (a hold is a kind of permit);
//! * every error names the 1-based line (and column) it comes from when Cedar or the policy gives one;
//! * the text is within the [`crate::limits`] (size, nesting, operators per policy) before Cedar
//!   parses it, and Cedar's recursive work runs on a stack those limits cannot exhaust; a text
//!   Cedar's typechecker did not finish (it stops without an error when its stack runs low) is
//!   refused, never passed as checked.
//!
//! Invariant: a [`PolicySetSource`] exists only for text that passed all of the above; its `sha256` is the
//! hash of exactly that text.

use std::collections::{BTreeSet, HashMap};
use std::str::FromStr;

use cedar_policy::{Effect as CedarEffect, Policy, PolicyId, PolicySet, ValidationMode, Validator};
use miette::Diagnostic;
use serde::{Deserialize, Serialize};

use crate::{limits, schema, text_sha256, PolicyError};

/// The annotation gavel reads to turn a permit into a hold.
pub const GAVEL_ANNOTATION: &str = "gavel";
/// The one value [`GAVEL_ANNOTATION`] may take.
pub const REQUIRE_APPROVAL: &str = "require_approval";

const MAX_ID_LEN: usize = 128;

/// Whether a policy permits or forbids.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Effect {
    Permit,
    Forbid,
}

/// What gavel knows about one policy of a validated set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyInfo {
    /// The policy id (from `@id`, else `policy<N>`).
    pub id: String,
    pub effect: Effect,
    /// True for a `permit` annotated `@gavel("require_approval")`.
    pub require_approval: bool,
    /// 1-based line where the policy (including its annotations) starts.
    pub line: u32,
}

/// Policy text that parsed and validated, with what gavel derived from it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicySetSource {
    /// The exact text that was validated.
    pub text: String,
    /// Lowercase hex SHA-256 of `text` (see [`crate::text_sha256`]).
    pub sha256: String,
    /// The policies, in source order.
    pub policies: Vec<PolicyInfo>,
    /// Cedar validator warnings (e.g. a policy that can never apply); they do not block the set.
    pub warnings: Vec<String>,
}

/// A validated set, with the Cedar policies ready to evaluate (ids not yet namespaced).
pub(crate) struct Compiled {
    pub source: PolicySetSource,
    pub policies: Vec<Policy>,
}

/// Parses `text` and validates it (strict mode) against the gavel schema.
///
/// `set_id` is checked too (it prefixes policy ids in decisions): 1 to 64 characters of
/// `[A-Za-z0-9_.-]`.
pub fn parse_and_validate(set_id: &str, text: &str) -> Result<PolicySetSource, PolicyError> {
    compile(set_id, text).map(|c| c.source)
}

/// Checks that a set id can name policies in decisions: non-empty, short, no separators.
pub fn check_set_id(set_id: &str) -> Result<(), PolicyError> {
    let reason = if set_id.is_empty() {
        Some("it is empty".to_string())
    } else if set_id.len() > 64 {
        Some("it is longer than 64 characters".to_string())
    } else if !set_id.chars().all(is_id_char) {
        Some("only letters, digits, '_', '.' and '-' are allowed".to_string())
    } else {
        None
    };
    match reason {
        Some(reason) => Err(PolicyError::InvalidSetId { id: set_id.to_string(), reason }),
        None => Ok(()),
    }
}

fn is_id_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')
}

/// [`compile_here`] within the [`limits`]: the text is prescanned, then Cedar's recursive work runs
/// on a stack big enough for anything the prescan lets through.
pub(crate) fn compile(set_id: &str, text: &str) -> Result<Compiled, PolicyError> {
    check_set_id(set_id)?;
    limits::prescan(text)?;
    limits::on_compile_stack(|| compile_here(set_id, text))
}

/// Compiles on the current stack: only for callers already on [`limits::on_compile_stack`] that
/// prescanned `text`.
pub(crate) fn compile_here(set_id: &str, text: &str) -> Result<Compiled, PolicyError> {
    check_set_id(set_id)?;
    let parsed = PolicySet::from_str(text).map_err(|errs| parse_error(text, &errs))?;
    if let Some(t) = parsed.templates().next() {
        let (line, column) = span_of(text, t.to_cedar().as_str(), 0).map(|o| line_col(text, o)).unzip();
        return Err(PolicyError::Invalid {
            line,
            column,
            message: "policy templates (with ?principal or ?resource slots) are not supported".to_string(),
        });
    }

    // Cedar names static policies policy0, policy1, ... in source order; sort numerically so the
    // derived ids and the search for each policy's position follow the text.
    let mut ordered: Vec<(usize, &Policy)> = parsed
        .policies()
        .map(|p| {
            let n = p.id().to_string().strip_prefix("policy").and_then(|n| n.parse::<usize>().ok());
            (n.unwrap_or(usize::MAX), p)
        })
        .collect();
    ordered.sort_by_key(|(n, _)| *n);
    if ordered.is_empty() {
        return Err(PolicyError::Empty);
    }

    let mut infos = Vec::with_capacity(ordered.len());
    let mut policies = Vec::with_capacity(ordered.len());
    let mut seen: HashMap<String, u32> = HashMap::new();
    let mut search_from = 0;
    for (index, policy) in ordered {
        // Locate the policy's own text to report its line; searching forward from the previous one keeps
        // identical policies apart.
        let start = policy.to_cedar().and_then(|src| {
            let at = span_of(text, &src, search_from)?;
            search_from = at + src.len();
            Some(at)
        });
        let (line, column) = start.map(|o| line_col(text, o)).unzip();
        let fail = |message: String| PolicyError::Invalid { line, column, message };

        let id = match policy.annotation("id") {
            Some(id) => {
                if id.is_empty() || id.len() > MAX_ID_LEN || !id.chars().all(is_id_char) {
                    return Err(fail(format!(
                        "@id({id:?}) is not a valid policy id: use 1 to {MAX_ID_LEN} letters, digits, '_', '.' or '-'"
                    )));
                }
                id.to_string()
            }
            None => format!("policy{index}"),
        };
        if let Some(first) = seen.get(&id) {
            return Err(fail(format!("policy id {id:?} is used twice (first on line {first})")));
        }
        seen.insert(id.clone(), line.unwrap_or(0));

        let effect = match policy.effect() {
            CedarEffect::Permit => Effect::Permit,
            CedarEffect::Forbid => Effect::Forbid,
        };
        let require_approval = match policy.annotation(GAVEL_ANNOTATION) {
            None => false,
            Some(REQUIRE_APPROVAL) if effect == Effect::Permit => true,
            Some(REQUIRE_APPROVAL) => {
                return Err(fail(format!(
                    "@{GAVEL_ANNOTATION}(\"{REQUIRE_APPROVAL}\") is only allowed on permit policies \
                     (policy {id:?} is a forbid)"
                )))
            }
            Some(other) => {
                return Err(fail(format!(
                    "unknown @{GAVEL_ANNOTATION}({other:?}) on policy {id:?}: the only value is \"{REQUIRE_APPROVAL}\""
                )))
            }
        };

        infos.push(PolicyInfo { id: id.clone(), effect, require_approval, line: line.unwrap_or(0) });
        policies.push(policy.new_id(PolicyId::new(id)));
    }

    let mut renamed = PolicySet::new();
    for p in &policies {
        // Ids were checked unique above, so adding cannot clash; map the error anyway rather than panic.
        renamed.add(p.clone()).map_err(|e| PolicyError::invalid(e.to_string()))?;
    }
    let validator = Validator::new(schema::schema()?.clone());
    let result = validator.validate(&renamed, ValidationMode::Strict);
    if let Some(err) = result.validation_errors().next() {
        return Err(diagnostic_error(text, err, result.validation_errors().count()));
    }
    // Cedar's typechecker gives up without an error when its stack runs low; a policy it could not
    // check must not pass as checked. The limits make this unreachable; it stays as the last word.
    if !result.validation_passed() {
        return Err(PolicyError::invalid(
            "Cedar could not finish validating this policy text (it is too deeply nested)",
        ));
    }
    let warnings = result
        .validation_warnings()
        .map(|w| match first_offset(w) {
            Some(o) => {
                let (l, c) = line_col(text, o);
                format!("line {l}, column {c}: {w}")
            }
            None => w.to_string(),
        })
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();

    Ok(Compiled {
        source: PolicySetSource {
            text: text.to_string(),
            sha256: text_sha256(text),
            policies: infos,
            warnings,
        },
        policies,
    })
}

/// Byte offset of `needle` in `text`, at or after `from`.
fn span_of(text: &str, needle: &str, from: usize) -> Option<usize> {
    text.get(from..)?.find(needle).map(|i| i + from)
}

/// 1-based line and column (in characters) of a byte offset; offsets past the end clamp to it.
pub(crate) fn line_col(text: &str, offset: usize) -> (u32, u32) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (u32::try_from(line).unwrap_or(u32::MAX), u32::try_from(column).unwrap_or(u32::MAX))
}

fn first_offset(d: &(impl Diagnostic + ?Sized)) -> Option<usize> {
    d.labels().and_then(|mut labels| labels.next()).map(|l| l.offset())
}

fn parse_error(text: &str, errs: &cedar_policy::ParseErrors) -> PolicyError {
    let count = errs.iter().count();
    match errs.iter().next() {
        Some(first) => diagnostic_error(text, first, count),
        None => PolicyError::invalid(errs.to_string()),
    }
}

/// Turns a Cedar diagnostic into [`PolicyError::Invalid`], with its location, help and a count of the rest.
fn diagnostic_error(text: &str, d: &(impl Diagnostic + ?Sized), count: usize) -> PolicyError {
    let mut message = d.to_string();
    if let Some(help) = d.help() {
        message.push_str(&format!(" (help: {help})"));
    }
    if count > 1 {
        message.push_str(&format!(" (and {} more error{})", count - 1, if count > 2 { "s" } else { "" }));
    }
    let (line, column) = first_offset(d).map(|o| line_col(text, o)).unzip();
    PolicyError::Invalid { line, column, message }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OK: &str = r#"@id("read")
permit (principal, action == Action::"call_tool", resource)
when { resource.category == "read_only" };

forbid (principal, action, resource)
when { context.argument_text like "*rm -rf*" };
"#;

    #[test]
    fn valid_text_yields_ids_effects_lines_and_hash() {
        let s = parse_and_validate("team", OK).expect("valid");
        assert_eq!(s.sha256, text_sha256(OK));
        assert_eq!(s.text, OK);
        assert_eq!(
            s.policies,
            vec![
                PolicyInfo { id: "read".into(), effect: Effect::Permit, require_approval: false, line: 1 },
                PolicyInfo { id: "policy1".into(), effect: Effect::Forbid, require_approval: false, line: 5 },
            ]
        );
    }

    #[test]
    fn line_col_counts_from_one_in_characters() {
        let t = "ab\ncdé\nx";
        assert_eq!(line_col(t, 0), (1, 1));
        assert_eq!(line_col(t, 3), (2, 1));
        assert_eq!(line_col(t, "ab\ncdé".len()), (2, 4));
        assert_eq!(line_col(t, 999), (3, 2));
    }

    #[test]
    fn set_ids_are_checked() {
        assert!(check_set_id("soc2").is_ok());
        assert!(check_set_id("team-a.v_2").is_ok());
        for bad in ["", "a/b", "with space", &"x".repeat(65)] {
            assert!(matches!(check_set_id(bad), Err(PolicyError::InvalidSetId { .. })), "{bad:?}");
        }
        assert!(matches!(parse_and_validate("a/b", OK), Err(PolicyError::InvalidSetId { .. })));
    }

    #[test]
    fn comments_only_is_empty() {
        assert!(matches!(parse_and_validate("s", ""), Err(PolicyError::Empty)));
        assert!(matches!(parse_and_validate("s", "  \n// nothing here\n"), Err(PolicyError::Empty)));
    }

    #[test]
    fn syntax_error_has_a_location() {
        let err =
            parse_and_validate("s", "permit (principal, action, resource)\nwhen { 1 + };\n").unwrap_err();
        assert_eq!(err.location().map(|l| l.0), Some(2), "{err}");
    }

    #[test]
    fn templates_are_refused() {
        let err = parse_and_validate("s", "permit (principal == ?principal, action, resource);").unwrap_err();
        assert!(err.to_string().contains("templates"), "{err}");
    }

    #[test]
    fn identical_policies_get_their_own_lines() {
        let t = "permit (principal, action, resource);\npermit (principal, action, resource);\n";
        let s = parse_and_validate("s", t).expect("valid");
        let lines: Vec<u32> = s.policies.iter().map(|p| p.line).collect();
        assert_eq!(lines, vec![1, 2]);
    }

    #[test]
    fn bad_id_annotation_is_refused_with_its_line() {
        let t = "permit (principal, action, resource);\n@id(\"has space\")\npermit (principal, action, resource);";
        let err = parse_and_validate("s", t).unwrap_err();
        assert_eq!(err.location().map(|l| l.0), Some(2), "{err}");
    }
}
