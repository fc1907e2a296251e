//! Bounds on policy text, checked before Cedar sees it, and the stack the Cedar work runs on.
//!
//! Cedar's parser, validator, JSON conversion and evaluator, and gavel's `native` compiler
//! and evaluator, all recurse over a policy's syntax tree. Unbounded input (140 nested parentheses,
//! a 3,000-term `&&` chain) overflowed the stack and aborted the whole server, which no error
//! handling can catch. So:
//!
//! * [`prescan`] reads the text once, iteratively, and refuses it — with the line and column where
//!   a bound is first exceeded — unless it is at most [`MAX_TEXT_BYTES`] long, nests brackets at
//!   most [`MAX_NESTING`] deep, and every policy has at most [`MAX_OPERATORS`] operators. It knows
//!   Cedar's string literals (with `\` escapes) and `//` comments, so brackets and operators inside
//!   them do not count;
//! * every syntax tree that passes is at most [`MAX_TREE_DEPTH`] deep (each tree node above a leaf
//!   is an operator token or a bracket of its policy, plus the few Cedar joins the scope and
//!   conditions with), which is what bounds every recursion below;
//! * the cold paths (parsing, validation, building an engine) run on a stack of
//!   [`COMPILE_STACK`] bytes (`on_compile_stack`), enough for that depth in debug builds with a
//!   wide margin, whatever thread calls them; evaluation keeps the caller's stack when it has room
//!   for the engine's deepest policy and only otherwise moves to a fresh segment (see
//!   `Engine::evaluate`), so ordinary policies cost decide one thread-local read.
//!
//! Measured with Cedar 4.7.1 on a 2 MiB thread (the default of spawned and tokio threads), before
//! these bounds, parse + validate + engine build + both evaluations: a release build survives 139
//! nested parentheses (sets and records alike) and a ~2,300-term `&&` / `||` chain (1,182 nested
//! `if`s), and Cedar's evaluator reports "recursion limit reached" past 482 terms; a debug build
//! parses only 36 nested parentheses (35 set literals, 33 records), converts a 131-term chain to
//! JSON before overflowing and evaluates 35 terms. So the bounds are chosen for real policies and
//! the stack is made to fit them, not the other way round: on [`COMPILE_STACK`] and with
//! `eval_stack`, a debug build handles [`MAX_NESTING`] brackets around a
//! [`MAX_OPERATORS`]-operator chain (the deepest tree the bounds admit), natively and with Cedar,
//! from a 2 MiB thread (`tests/limits.rs` runs exactly that).

use crate::validate::line_col;
use crate::PolicyError;

/// Longest policy text accepted, in bytes. The soc2 pack is 3 KB; a megabyte is hundreds of
/// policies, and keeps one proposal's parse and validation to well under a second.
pub const MAX_TEXT_BYTES: usize = 1 << 20;

/// Deepest nesting of `(`, `[` and `{` accepted. Real policies nest 2 or 3 deep (the soc2 pack: 2);
/// Cedar's parser spends ~55 KB of stack per level in debug builds, so 64 levels stay far inside
/// [`COMPILE_STACK`].
pub const MAX_NESTING: usize = 64;

/// Most operators accepted in one policy (`&&` `||` `==` `!=` `<` `<=` `>` `>=` `+` `-` `*` `!`
/// `.` and the keywords `if` `in` `has` `like` `is`). A chain of them is as deep as it is long in
/// Cedar's tree; the largest soc2 policy has 36. Long lists belong in a set literal
/// (`["a", "b"].contains(x)`), whose commas do not count.
pub const MAX_OPERATORS: usize = 512;

/// The deepest syntax tree a policy within the bounds can have: each node above a leaf is an
/// operator or a bracket of its policy, or one of the few nodes Cedar joins the scope and the
/// conditions with.
pub const MAX_TREE_DEPTH: usize = MAX_OPERATORS + MAX_NESTING + 8;

/// The stack the cold paths run on. Cedar's debug-build evaluator needs ~50 KB per tree level,
/// its validator and JSON conversion less; 64 MiB covers the deepest admitted tree
/// ([`MAX_TREE_DEPTH`] levels ≈ 32 MiB in debug) twice. It is reserved address
/// space, touched only as deep as the work goes.
pub const COMPILE_STACK: usize = 64 << 20;

/// Runs `f` on a stack of at least [`COMPILE_STACK`] bytes: on a fresh segment of this thread
/// (no thread is spawned), since callers come on threads of any size.
pub(crate) fn on_compile_stack<R>(f: impl FnOnce() -> R) -> R {
    stacker::grow(COMPILE_STACK, f)
}

/// Stack per tree level that evaluating a policy may take. Measured on a 2 MiB thread: Cedar's
/// evaluator gives up ("recursion limit reached") past a 482-term `&&` chain in release (~4 KB a
/// level) and a 35-term one in debug (~55 KB a level); gavel's native evaluator takes ~0.2 KB
/// (release) and ~0.8 KB (debug). Half as much again for margin.
const EVAL_STACK_PER_LEVEL: usize = if cfg!(debug_assertions) { 80 << 10 } else { 6 << 10 };

/// What evaluation needs besides the levels: the 100 KiB Cedar's evaluator insists on keeping free
/// before each step, and room for the frames around it.
const EVAL_STACK_BASE: usize = 256 << 10;

/// The stack evaluating a tree `depth` levels deep may take.
pub(crate) fn eval_stack(depth: usize) -> usize {
    EVAL_STACK_BASE.saturating_add(depth.saturating_mul(EVAL_STACK_PER_LEVEL))
}

/// Runs `f` on this thread's stack if at least `need` bytes of it remain, else on a fresh
/// segment of `need` bytes and a margin. When the stack has room (every ordinary policy set, on
/// any thread decide runs on) this costs a thread-local read; no thread is spawned either way.
pub(crate) fn with_stack<R>(need: usize, f: impl FnOnce() -> R) -> R {
    stacker::maybe_grow(need, need.saturating_add(1 << 20), f)
}

/// How deep the tree of a policy in Cedar's JSON form is (each tree level is two JSON levels:
/// `{"&&": {"left": …}}`), counted without recursion.
pub(crate) fn json_tree_depth(value: &serde_json::Value) -> usize {
    let mut deepest = 0;
    let mut pending = vec![(value, 1usize)];
    while let Some((v, depth)) = pending.pop() {
        deepest = deepest.max(depth);
        match v {
            serde_json::Value::Array(items) => pending.extend(items.iter().map(|i| (i, depth + 1))),
            serde_json::Value::Object(members) => pending.extend(members.values().map(|i| (i, depth + 1))),
            _ => {}
        }
    }
    deepest.div_ceil(2)
}

/// Checks the bounds above, without recursion, before anything parses `text`.
pub fn prescan(text: &str) -> Result<(), PolicyError> {
    let at = |offset: usize, message: String| {
        let (line, column) = line_col(text, offset);
        PolicyError::Invalid { line: Some(line), column: Some(column), message }
    };
    if text.len() > MAX_TEXT_BYTES {
        return Err(at(
            MAX_TEXT_BYTES,
            format!("policy text is longer than {MAX_TEXT_BYTES} bytes ({} bytes)", text.len()),
        ));
    }
    let bytes = text.as_bytes();
    let mut depth = 0usize;
    let mut operators = 0usize;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        let next = bytes.get(i + 1).copied();
        // How many bytes this token takes, and whether it is an operator.
        let (len, operator) = match b {
            b'"' => {
                // A string literal: up to the next unescaped quote (or the end, which Cedar refuses).
                let mut j = i + 1;
                while j < bytes.len() && bytes[j] != b'"' {
                    j += if bytes[j] == b'\\' { 2 } else { 1 };
                }
                (j + 1 - i, false)
            }
            b'/' if next == Some(b'/') => {
                let end = bytes[i..].iter().position(|&c| c == b'\n').map_or(bytes.len(), |n| i + n);
                (end - i, false)
            }
            b'(' | b'[' | b'{' => {
                depth += 1;
                if depth > MAX_NESTING {
                    return Err(at(
                        i,
                        format!(
                            "brackets nest more than {MAX_NESTING} deep here; \
                             split the condition into several policies or simplify it"
                        ),
                    ));
                }
                (1, false)
            }
            b')' | b']' | b'}' => {
                // Unbalanced closers are Cedar's to report.
                depth = depth.saturating_sub(1);
                (1, false)
            }
            // Policies end at `;`, which Cedar uses for nothing else.
            b';' => {
                operators = 0;
                (1, false)
            }
            b'&' if next == Some(b'&') => (2, true),
            b'|' if next == Some(b'|') => (2, true),
            b'=' | b'!' | b'<' | b'>' if next == Some(b'=') => (2, true),
            b'!' | b'<' | b'>' | b'+' | b'-' | b'*' | b'.' => (1, true),
            b if b == b'_' || b.is_ascii_alphanumeric() => {
                let word_len =
                    bytes[i..].iter().take_while(|&&c| c == b'_' || c.is_ascii_alphanumeric()).count();
                let word = &bytes[i..i + word_len];
                (word_len, matches!(word, b"if" | b"in" | b"has" | b"like" | b"is"))
            }
            _ => (1, false),
        };
        if operator {
            operators += 1;
            if operators > MAX_OPERATORS {
                return Err(at(
                    i,
                    format!(
                        "this policy has more than {MAX_OPERATORS} operators; split it into several \
                         policies, or test membership with a set literal: [\"a\", \"b\"].contains(x)"
                    ),
                ));
            }
        }
        i += len;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn location(text: &str) -> Option<(u32, Option<u32>)> {
        prescan(text).err().and_then(|e| e.location())
    }

    #[test]
    fn nesting_is_bounded_and_located() {
        let ok = format!("{}true{}", "(".repeat(MAX_NESTING), ")".repeat(MAX_NESTING));
        assert!(prescan(&ok).is_ok());
        let deep = format!("when {{\n  {}true{}", "[".repeat(MAX_NESTING), "]".repeat(MAX_NESTING));
        // `{` is level 1, so the 64th `[` is one too many: column 3 + 63.
        assert_eq!(location(&deep), Some((2, Some(3 + MAX_NESTING as u32 - 1))));
    }

    #[test]
    fn operators_are_counted_per_policy_and_located() {
        let chain = |n: usize| vec!["a"; n].join(" && ");
        assert!(prescan(&chain(MAX_OPERATORS + 1)).is_ok(), "n terms have n - 1 operators");
        let err = prescan(&chain(MAX_OPERATORS + 2)).unwrap_err();
        assert_eq!(err.location(), Some((1, Some(1 + (MAX_OPERATORS as u32) * 5 + 2))), "{err}");
        assert!(err.to_string().contains("more than 512 operators"), "{err}");
        let two = format!("{};\n{};", chain(MAX_OPERATORS), chain(MAX_OPERATORS));
        assert!(prescan(&two).is_ok(), "each policy has its own budget");
    }

    #[test]
    fn keywords_count_but_identifiers_containing_them_do_not() {
        let text = format!("{} x", "if ".repeat(MAX_OPERATORS + 1));
        assert!(prescan(&text).is_err());
        let words = "inner hash likes island iffy ".repeat(MAX_OPERATORS);
        assert!(prescan(&words).is_ok());
    }

    #[test]
    fn strings_and_comments_do_not_count() {
        let brackets = "(".repeat(MAX_NESTING + 1);
        let ops = "&&".repeat(MAX_OPERATORS + 1);
        let text = format!(
            "// {brackets} {ops}\npermit (principal, action, resource) when {{ \
             context.argument_text like \"*{brackets}\\\"{ops}\\\\\" }};"
        );
        assert!(prescan(&text).is_ok(), "{:?}", prescan(&text));
        // The escaped quote does not end the string; the escaped backslash before the last one
        // does not keep it open: the bracket after it counts.
        let after = format!("\"\\\\\"{}", "(".repeat(MAX_NESTING + 1));
        assert_eq!(location(&after), Some((1, Some(5 + MAX_NESTING as u32))));
    }

    #[test]
    fn unterminated_strings_and_stray_closers_are_left_to_cedar() {
        assert!(prescan("\"never closed (((").is_ok());
        assert!(prescan(")))]]]}}}").is_ok());
        assert!(prescan("\"ends in a backslash \\").is_ok());
    }

    #[test]
    fn text_size_is_bounded() {
        let text = " ".repeat(MAX_TEXT_BYTES + 1);
        assert!(prescan(&text).unwrap_err().to_string().contains("longer than"));
        assert!(prescan(&" ".repeat(MAX_TEXT_BYTES)).is_ok());
    }

    #[test]
    fn multibyte_text_is_scanned_by_bytes_and_located_in_characters() {
        let text = format!("\"é\" é {}", "(".repeat(MAX_NESTING + 1));
        assert_eq!(location(&text), Some((1, Some(7 + MAX_NESTING as u32))));
    }
}
