//! gavel-policy: Cedar policies for agent tool calls — the schema, validation of policy sets, packs,
//! and the engine that turns a tool call into allow / deny / require_approval. Knows nothing of HTTP
//! or storage.
//!
//! * [`schema`]: the Cedar schema of a tool call ([`SCHEMA_TEXT`]); how arguments, cost and time appear.
//! * [`validate`]: [`parse_and_validate`] — strict validation, policy ids, `@gavel` annotations, errors
//!   with line and column.
//! * [`limits`]: bounds on policy text (size, bracket nesting, operators per policy) checked before
//!   Cedar parses it, so no policy can exhaust a stack in parsing, validation or evaluation.
//! * [`engine`]: [`Engine`], [`ToolCall`] → [`Evaluation`] (`enforced` and `would_have` verdicts).
//! * `native`: evaluation of the Cedar subset gavel policies are written in without Cedar's general
//!   interpreter (an order of magnitude faster), checked against Cedar, which stays the reference.
//! * [`text`]: [`text_sha256`] and [`diff`] for policy versions.
//! * [`pack`]: packs as data ([`load_pack`], [`builtin_pack`]); the SOC 2 pack lives in `packs/soc2/`.
//!
//! # Decision rule
//!
//! The policies of the sets judged together (the enforcing sets for `enforced`; the enforcing and
//! observing sets together for `would_have`) decide by **forbid > require_approval > permit > default deny**:
//!
//! 1. if any `forbid` is satisfied → **deny**, naming every satisfied forbid;
//! 2. else if any `permit` annotated `@gavel("require_approval")` is satisfied → **require_approval**,
//!    naming those holds (plain permits satisfied at the same time do not lift the hold);
//! 3. else if any `permit` is satisfied → **allow**, naming those permits;
//! 4. else → **deny** with "no policy permits this call (default deny)".
//!
//! Errors fail closed. Cedar skips a policy whose evaluation errors (e.g. an overflow). If a skipped policy
//! is a `forbid`, gavel treats it as satisfied — **deny**, with a reason naming it — because a guard that
//! could not be checked must not let the call through. A skipped `permit` (hold or not) is ignored, so the
//! call falls to the next rule; its error is still listed in [`Verdict::errors`]. A tool call that cannot
//! be turned into a Cedar request at all (bad hour, non-finite cost, empty ids) is denied.
//!
//! # Observe and enforce
//!
//! [`Evaluation::enforced`] is the verdict of the enforcing sets alone (`None` when no set enforces: the
//! caller decides what "permissive but recorded" means). [`Evaluation::would_have`] is the verdict of the
//! enforcing *and* observing sets judged together (`None` when no set observes): what would happen if the
//! observed sets were switched to enforce as they are. Set ids are unique within an engine (they namespace
//! policy ids), so to trial a new version of a set next to the enforcing one, load it under another id
//! (e.g. `soc2-next`) and remember that `would_have` is then the union of both.
//!
//! `@gavel("require_approval")` is only accepted on `permit`: a hold is a permit that needs a human. Any
//! other `@gavel(...)` value is refused at validation, so a typo cannot silently turn a hold into an allow.
//!
//! Invariant of the crate: nothing here panics on input-derived data, and evaluation never returns an
//! error — every problem becomes a deny with a reason.

pub mod engine;
pub mod error;
pub mod limits;
mod native;
pub mod pack;
pub mod request;
pub mod schema;
pub mod text;
pub mod validate;

pub use engine::{Engine, Evaluation, LoadedSet, Mode, Outcome, PolicyRef, Verdict};
pub use error::PolicyError;
pub use pack::{builtin_pack, load_pack, Pack, BUILTIN_PACKS};
pub use request::{ToolCall, UNCATEGORISED};
pub use schema::{schema_text, SCHEMA_TEXT};
pub use text::{diff, text_sha256};
pub use validate::{parse_and_validate, Effect, PolicyInfo, PolicySetSource};
