//! Console sessions: a person signs in to the web console with their user token once; the
//! browser then holds a random session id in a cookie, never the token.
//!
//! Invariants:
//! * only active users sign in: an agent's token is refused (agents have no console), and so is
//!   any credential `authenticate_caller` refuses (each refusal counts as a failed authentication);
//! * the store keeps the SHA-256 of a session id (`sessions/<hash>`), never the id, so reading the
//!   database does not yield a usable session; beside it, the hash of the token signed in with;
//! * every use of a session re-checks that credential and the user, so rotating the token,
//!   deactivating the user or signing out ends the session at once, on every replica; a session
//!   also ends [`SESSION_TTL`] after sign-in, whatever happens;
//! * signing in and out are log events (`console.signed_in`, `console.signed_out`): access to the
//!   console is on the record like every other action;
//! * a session's CSRF token is derived from its id ([`csrf_token`]): only whoever holds the
//!   cookie can know it, and nothing more needs storing.

use crate::error::{CoreError, Result};
use crate::identity::{Principal, User};
use crate::ids::token_hash;
use crate::Gavel;
use gavel_ledger::clock::{format_time, parse_time};
use gavel_store::docs::{DocKeys, Expect, StateOp};
use rand_core::{OsRng, RngCore};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};

/// How long a session lasts after sign-in.
pub const SESSION_TTL: time::Duration = time::Duration::hours(8);

pub const SIGNED_IN_KIND: &str = gavel_events::kind::CONSOLE_SIGNED_IN;
pub const SIGNED_OUT_KIND: &str = gavel_events::kind::CONSOLE_SIGNED_OUT;
const SESSIONS: &str = "sessions";

/// A session just opened: the id goes to the browser (once), the rest to the page.
#[derive(Debug, Clone)]
pub struct Session {
    /// 256 random bits, URL-safe: the cookie's value.
    pub id: String,
    pub user: User,
    pub expires_at: String,
}

/// What the store keeps of a session.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct StoredSession {
    user_id: String,
    /// The hash of the token the user signed in with: the session lives only as long as it does.
    token_hash: String,
    created_at: String,
    expires_at: String,
    ended: bool,
}

/// The CSRF token of the session `session_id`: a keyed digest of the id, so a page can carry it
/// in its forms and a cross-site request, which cannot read the page, cannot.
pub fn csrf_token(session_id: &str) -> String {
    hex::encode(Sha256::digest(format!("gavel console csrf\n{session_id}").as_bytes()))
}

/// Whether `presented` is the CSRF token of `session_id` (compared in constant time).
pub fn csrf_matches(session_id: &str, presented: &str) -> bool {
    let want = csrf_token(session_id);
    want.len() == presented.len()
        && want.bytes().zip(presented.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
}

fn session_key(session_id: &str) -> String {
    token_hash(session_id)
}

/// A prefix of the stored hash: names the session in the record without revealing it.
fn session_label(key: &str) -> String {
    key.chars().take(16).collect()
}

fn new_session_id() -> String {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

fn ended() -> CoreError {
    CoreError::Unauthenticated("no such session, or it has ended: sign in again".into())
}

impl Gavel {
    /// Signs a user in with their token: records `console.signed_in` and returns the session.
    /// `source` is the client's address, for the record and for failed attempts.
    pub fn sign_in(&self, token: &str, source: Option<&str>) -> Result<Session> {
        let principal = self.authenticate_caller(token).inspect_err(|e| {
            if matches!(e, CoreError::Unauthenticated(_)) {
                self.note_failed_authentication(token, source);
            }
        })?;
        let user = match principal {
            Principal::User(u) => u,
            Principal::Agent(a) => {
                return Err(CoreError::Forbidden(format!(
                    "agent {} cannot sign in to the console: it is for people (sign in with a user token)",
                    a.name
                )))
            }
            Principal::Operator(_) => return Err(CoreError::Forbidden("the console is for users".into())),
        };
        let now = self.clock.now();
        let id = new_session_id();
        let key = session_key(&id);
        let stored = StoredSession {
            user_id: user.id.clone(),
            token_hash: token_hash(token),
            created_at: format_time(now),
            expires_at: format_time(now + SESSION_TTL),
            ended: false,
        };
        let data = crate::typed(&gavel_events::ConsoleSignedIn {
            user_id: user.id.clone(),
            name: user.name.clone(),
            role: user.role.as_str().into(),
            session: session_label(&key),
            source: source.map(str::to_string),
            expires_at: stored.expires_at.clone(),
            other: Default::default(),
        })?;
        let op = StateOp::put(SESSIONS, &key, json!(stored), DocKeys::default(), Expect::Absent);
        self.record(SIGNED_IN_KIND, &principal_actor(&user), data, vec![op])?;
        Ok(Session { id, expires_at: stored.expires_at, user })
    }

    /// The user behind a session, checked now: the session exists, has not ended or expired, and
    /// the token it was opened with still authenticates that same active user.
    pub fn session_user(&self, session_id: &str) -> Result<Principal> {
        let doc = self.store.get_doc(SESSIONS, &session_key(session_id))?.ok_or_else(ended)?;
        let s: StoredSession =
            serde_json::from_value(doc.body).map_err(|e| CoreError::Internal(format!("session: {e}")))?;
        let expired = parse_time(&s.expires_at).is_none_or(|t| self.clock.now() >= t);
        if s.ended || expired {
            return Err(ended());
        }
        match self.authenticate_token_hash(&s.token_hash) {
            Ok(p @ Principal::User(_)) if p.actor().id == s.user_id => Ok(p),
            // The credential was rotated or revoked, or the user deactivated.
            _ => Err(ended()),
        }
    }

    /// Ends a session (`console.signed_out`). Ending one that has already ended is refused, so
    /// every sign-out on record ended a live session.
    pub fn sign_out(&self, session_id: &str) -> Result<()> {
        let user = match self.session_user(session_id)? {
            Principal::User(u) => u,
            _ => return Err(ended()),
        };
        let key = session_key(session_id);
        let doc = self.store.get_doc(SESSIONS, &key)?.ok_or_else(ended)?;
        let mut s: StoredSession =
            serde_json::from_value(doc.body).map_err(|e| CoreError::Internal(format!("session: {e}")))?;
        s.ended = true;
        let op = StateOp::put(SESSIONS, &key, json!(s), DocKeys::default(), Expect::Version(doc.version));
        let data = crate::typed(&gavel_events::ConsoleSignedOut {
            user_id: user.id.clone(),
            name: user.name.clone(),
            session: session_label(&key),
            other: Default::default(),
        })?;
        self.record(SIGNED_OUT_KIND, &principal_actor(&user), data, vec![op])?;
        Ok(())
    }
}

fn principal_actor(user: &User) -> gavel_ledger::event::Actor {
    gavel_ledger::event::Actor::user(&user.id)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `console.signed_in` wrote `json!(user.role)` and `&key[..16]`.
    #[test]
    fn a_sign_in_records_the_role_and_the_session_label_as_before() {
        for role in [crate::Role::Admin, crate::Role::Approver, crate::Role::Auditor, crate::Role::Viewer] {
            assert_eq!(json!(role.as_str()), json!(role));
        }
        let key = session_key(&new_session_id());
        assert_eq!(session_label(&key), &key[..16]);
    }

    #[test]
    fn csrf_tokens_belong_to_their_session() {
        let (a, b) = (new_session_id(), new_session_id());
        assert_ne!(a, b);
        assert_eq!(a.len(), 64);
        assert!(csrf_matches(&a, &csrf_token(&a)));
        assert!(!csrf_matches(&a, &csrf_token(&b)));
        assert!(!csrf_matches(&a, ""));
        assert!(!csrf_matches(&a, &csrf_token(&a)[..63]));
        assert_ne!(csrf_token(&a), session_key(&a), "the CSRF token is not the stored key");
    }
}
