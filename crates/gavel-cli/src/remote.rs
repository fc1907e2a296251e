//! The HTTP client behind every command that talks to a running `gavel serve`, and the small
//! output helpers those commands share.
//!
//! Every failure becomes an `anyhow` error whose text is what the operator needs: a refusal by the
//! server reads `<message> (<code>, HTTP <status>)` (the server's `{"error": {"code", "message"}}`),
//! an unreachable server names the URL that was tried. `main` prints it after `error: ` and picks
//! the exit status from the typed cause ([`ApiFailure`], [`Unreachable`], [`NoToken`]).

use anyhow::{bail, Context};
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::fmt;
use std::time::Duration;

/// A refusal by the server, kept as a type so a command can react to one status (decide's 503).
#[derive(Debug)]
pub struct ApiFailure {
    pub status: u16,
    pub code: String,
    pub message: String,
}

impl fmt::Display for ApiFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}, HTTP {})", self.message, self.code, self.status)
    }
}

impl std::error::Error for ApiFailure {}

/// The server could not be reached at all (connection refused, DNS, timeout).
#[derive(Debug)]
pub struct Unreachable(pub String);

impl fmt::Display for Unreachable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Unreachable {}

/// A command that needs a token was given none.
#[derive(Debug)]
pub struct NoToken;

impl fmt::Display for NoToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "this command needs a token: pass --token or set GAVEL_TOKEN \
             (a user token for admin, approval and audit commands, an agent token for \
             `gavel decide` and `gavel outcome`)",
        )
    }
}

impl std::error::Error for NoToken {}

/// The options of the commands that call the server, and only of those (local commands do not
/// show them). Declared `global` on the command that flattens them, so they go anywhere after
/// its name: `gavel users list --token T` and `gavel users --token T list` alike.
#[derive(clap::Args, Clone, Debug)]
pub struct RemoteArgs {
    /// URL of the gavel server.
    #[arg(long, global = true, env = "GAVEL_SERVER", default_value = "http://127.0.0.1:7311")]
    pub server: String,
    /// Bearer token: a user token for admin, approval and audit commands, an agent token for
    /// `gavel decide`, `gavel outcome` and reading the agent's own approvals (and their receipts).
    // The value is a secret: never echo it in --help.
    #[arg(long, global = true, env = "GAVEL_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
}

impl RemoteArgs {
    /// The client for these options (checked here, so a bad --server never gets in the way of
    /// parsing).
    pub fn connect(&self) -> anyhow::Result<Remote> {
        Remote::new(&self.server, self.token.clone())
    }
}

/// Where the server is and who we are to it.
pub struct Remote {
    base: String,
    token: Option<String>,
    agent: ureq::Agent,
}

impl Remote {
    pub fn new(server: &str, token: Option<String>) -> anyhow::Result<Remote> {
        let base = server.trim().trim_end_matches('/').to_string();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            bail!("--server {server:?} must be an http:// or https:// URL (e.g. http://127.0.0.1:7311)");
        }
        // An empty GAVEL_TOKEN (e.g. `export GAVEL_TOKEN=`) is as good as none; say so early.
        let token = token.map(|t| t.trim().to_string()).filter(|t| !t.is_empty());
        let agent = ureq::AgentBuilder::new()
            .timeout_connect(Duration::from_secs(10))
            // Generous: a decide waits for a durable commit, which can queue behind a busy log.
            .timeout(Duration::from_secs(120))
            .user_agent(concat!("gavel-cli/", env!("CARGO_PKG_VERSION")))
            .build();
        Ok(Remote { base, token, agent })
    }

    fn token(&self) -> anyhow::Result<&str> {
        self.token.as_deref().ok_or_else(|| NoToken.into())
    }

    /// The server's base URL (no trailing slash).
    pub fn base(&self) -> &str {
        &self.base
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// GET a JSON document with the caller's token.
    pub fn get(&self, path: &str, query: &[(&str, String)]) -> anyhow::Result<Value> {
        let mut req = self.agent.get(&self.url(path)).set("Authorization", &bearer(self.token()?));
        for (k, v) in query {
            req = req.query(k, v);
        }
        json_body(self.send(req, None)?)
    }

    /// GET a text document that needs no token (the Cedar schema).
    pub fn get_text_public(&self, path: &str) -> anyhow::Result<String> {
        let response = self.send(self.agent.get(&self.url(path)), None)?;
        response.into_string().context("reading the server's answer")
    }

    /// POST with the caller's token; `body` None sends an empty body (the server then uses its
    /// defaults, e.g. no comment).
    pub fn post(&self, path: &str, body: Option<Value>) -> anyhow::Result<Value> {
        let req = self.agent.post(&self.url(path)).set("Authorization", &bearer(self.token()?));
        json_body(self.send(req, body.as_ref())?)
    }

    /// PUT a JSON body with the caller's token.
    pub fn put(&self, path: &str, body: Value) -> anyhow::Result<Value> {
        let req = self.agent.put(&self.url(path)).set("Authorization", &bearer(self.token()?));
        json_body(self.send(req, Some(&body))?)
    }

    /// DELETE with the caller's token and an optional JSON body.
    pub fn delete(&self, path: &str, body: Option<Value>) -> anyhow::Result<Value> {
        let req = self.agent.delete(&self.url(path)).set("Authorization", &bearer(self.token()?));
        json_body(self.send(req, body.as_ref())?)
    }

    fn send(&self, req: ureq::Request, body: Option<&Value>) -> anyhow::Result<ureq::Response> {
        let result = match body {
            Some(body) => req.send_json(body),
            None => req.call(),
        };
        match result {
            Ok(response) => Ok(response),
            Err(ureq::Error::Status(status, response)) => Err(failure(status, response).into()),
            Err(ureq::Error::Transport(t)) => Err(Unreachable(format!(
                "cannot reach the gavel server at {}: {t} (is `gavel serve` running there? set --server or GAVEL_SERVER)",
                self.base
            ))
            .into()),
        }
    }
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

fn json_body(response: ureq::Response) -> anyhow::Result<Value> {
    response.into_json::<Value>().context("the server's answer is not JSON")
}

/// Reads the server's error body; anything else (a proxy's HTML page) is summarised as text.
fn failure(status: u16, response: ureq::Response) -> ApiFailure {
    let text = response.into_string().unwrap_or_default();
    match serde_json::from_str::<gavel_server::error::ErrorBody>(&text) {
        Ok(body) => ApiFailure { status, code: body.error.code, message: body.error.message },
        Err(_) => {
            let mut snippet: String = text.trim().chars().take(200).collect();
            if snippet.is_empty() {
                snippet = "the server answered without an error body".into();
            }
            ApiFailure { status, code: "http_error".into(), message: snippet }
        }
    }
}

/// One path segment, percent-encoded so that an id or name can never change the route.
pub fn seg(value: &str) -> anyhow::Result<String> {
    // URL parsers resolve `.` and `..` segments (even percent-encoded ones) before sending.
    if value.is_empty() || value == "." || value == ".." {
        bail!("{value:?} cannot be used in a URL path; use the id instead");
    }
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    Ok(out)
}

/// Reads the server's answer as `T`, the type the server answers with (a core or server type).
pub fn read<T: DeserializeOwned>(answer: Value) -> anyhow::Result<T> {
    serde_json::from_value(answer)
        .with_context(|| format!("the server's answer does not read as {}", type_name::<T>()))
}

/// With `--json`, prints the server's answer exactly as received; otherwise reads it as `T` and
/// hands it to `text`.
pub fn show<T: DeserializeOwned>(answer: Value, json: bool, text: impl FnOnce(&T)) -> anyhow::Result<()> {
    if json {
        crate::print_json(&answer);
    } else {
        text(&read(answer)?);
    }
    Ok(())
}

/// A type's name without its module paths: `List<User>`, not
/// `gavel_server::openapi::List<gavel_core::identity::User>`.
fn type_name<T>() -> String {
    let full = std::any::type_name::<T>();
    let mut out = String::with_capacity(full.len());
    let mut path = String::new();
    for c in full.chars() {
        if c.is_alphanumeric() || c == '_' || c == ':' {
            path.push(c);
        } else {
            out.push_str(path.rsplit("::").next().unwrap_or_default());
            path.clear();
            out.push(c);
        }
    }
    out.push_str(path.rsplit("::").next().unwrap_or_default());
    out
}

/// A value as a short human string, the one rule every table and line of the CLI prints by:
/// strings bare; absent, null and empty as `-`; lists joined with commas; numbers as JSON writes
/// them; enums by their wire name.
pub trait Human {
    fn human(&self) -> String;
}

/// `v` as a short human string (see [`Human`]).
pub fn s<T: Human + ?Sized>(v: &T) -> String {
    v.human()
}

/// The answers' free-form members (event data, arguments), read as JSON.
impl Human for Value {
    fn human(&self) -> String {
        match self {
            Value::Null => "-".into(),
            Value::String(text) => text.human(),
            Value::Array(items) => items.human(),
            other => other.to_string(),
        }
    }
}

impl Human for str {
    fn human(&self) -> String {
        if self.is_empty() {
            "-".into()
        } else {
            self.to_string()
        }
    }
}

impl Human for String {
    fn human(&self) -> String {
        self.as_str().human()
    }
}

impl<T: Human + ?Sized> Human for &T {
    fn human(&self) -> String {
        (**self).human()
    }
}

impl<T: Human> Human for Option<T> {
    fn human(&self) -> String {
        self.as_ref().map_or_else(|| "-".into(), Human::human)
    }
}

impl<T: Human> Human for [T] {
    fn human(&self) -> String {
        if self.is_empty() {
            "-".into()
        } else {
            self.iter().map(Human::human).collect::<Vec<_>>().join(",")
        }
    }
}

impl<T: Human> Human for Vec<T> {
    fn human(&self) -> String {
        self.as_slice().human()
    }
}

/// As JSON writes it (`1.0`, not Rust's `1`), so a typed answer prints what its JSON did.
impl Human for f64 {
    fn human(&self) -> String {
        serde_json::Number::from_f64(*self).map_or_else(|| "-".into(), |n| n.to_string())
    }
}

macro_rules! human_by_display {
    ($($t:ty),*) => {$(
        impl Human for $t {
            fn human(&self) -> String {
                self.to_string()
            }
        }
    )*};
}
human_by_display!(bool, u8, u16, u32, u64, usize);

macro_rules! human_by_wire_name {
    ($($t:ty),*) => {$(
        impl Human for $t {
            fn human(&self) -> String {
                wire_name(self).human()
            }
        }
    )*};
}
human_by_wire_name!(
    gavel_core::Role,
    gavel_core::Status,
    gavel_policy::Outcome,
    gavel_policy::Mode,
    gavel_core::approvals::ApprovalStatus,
    gavel_core::containment::ScopeKind,
    gavel_core::approvals::FindingStatus,
    gavel_core::policies::ChangeStatus,
    gavel_core::incidents::IncidentStatus,
    gavel_core::incidents::Severity,
    gavel_core::retention::HoldStatus,
    gavel_core::compliance::State,
    gavel_core::compliance::Severity
);

/// The wire name of a value serde writes as a string (a core enum's variant, e.g. `applied`): what
/// the server reads in a query. Empty for any other value.
pub fn wire_name<T: serde::Serialize + ?Sized>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(Value::String(name)) => name,
        _ => String::new(),
    }
}

/// Prints rows under a header, each column as wide as its widest cell.
pub fn print_table(header: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let last = cells.len().saturating_sub(1);
        let text: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(i, c)| if i == last { c.to_string() } else { format!("{c:<w$}", w = widths[i]) })
            .collect();
        println!("{}", text.join("  "));
    };
    line(header.to_vec());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_segments_cannot_escape_their_route() {
        assert_eq!(seg("usr_01").unwrap(), "usr_01");
        assert_eq!(seg("a/b?c#d e").unwrap(), "a%2Fb%3Fc%23d%20e");
        assert_eq!(seg("bob@acme.com").unwrap(), "bob%40acme.com");
        assert!(seg("..").is_err());
        assert!(seg("").is_err());
    }

    #[test]
    fn servers_must_be_http_urls() {
        assert!(Remote::new("127.0.0.1:7311", None).is_err());
        let r = Remote::new("http://127.0.0.1:7311/", Some("  ".into())).unwrap();
        assert_eq!(r.base, "http://127.0.0.1:7311");
        assert!(r.token().is_err(), "a blank token is no token");
    }

    #[test]
    fn wire_names_are_serde_names() {
        use gavel_core::policies::ChangeStatus;
        assert_eq!(wire_name(&ChangeStatus::Applied), "applied");
        assert_eq!(wire_name(&gavel_policy::Outcome::RequireApproval), "require_approval");
        assert_eq!(wire_name(&3), "");
    }

    #[test]
    fn human_values() {
        assert_eq!(s(&Value::Null), "-");
        assert_eq!(s(&serde_json::json!(["a", "b"])), "a,b");
        assert_eq!(s(&serde_json::json!(3)), "3");
    }

    /// A typed member prints exactly as the same member of the JSON answer did.
    #[test]
    fn typed_values_print_as_their_json() {
        use gavel_core::approvals::ApprovalStatus;
        let cases: Vec<(String, Value)> = vec![
            (s("bob"), serde_json::json!("bob")),
            (s(""), serde_json::json!("")),
            (s(&None::<String>), Value::Null),
            (s(&Some("x".to_string())), serde_json::json!("x")),
            (s(&vec!["a".to_string(), String::new()]), serde_json::json!(["a", ""])),
            (s(&Vec::<String>::new()), serde_json::json!([])),
            (s(&7_u64), serde_json::json!(7)),
            (s(&true), serde_json::json!(true)),
            (s(&1.0_f64), serde_json::json!(1.0)),
            (s(&0.25_f64), serde_json::json!(0.25)),
            (s(&Some(2.5_f64)), serde_json::json!(2.5)),
            (s(&f64::NAN), serde_json::json!(f64::NAN)),
            (s(&gavel_policy::Outcome::RequireApproval), serde_json::json!("require_approval")),
            (s(&ApprovalStatus::Voided), serde_json::json!("voided")),
            (s(&Some(gavel_core::Role::Viewer)), serde_json::json!("viewer")),
        ];
        for (typed, json) in cases {
            assert_eq!(typed, s(&json), "{json}");
        }
    }

    #[test]
    fn answers_read_as_their_type_or_say_which() {
        let user = serde_json::json!({"id": "usr_1", "name": "bob", "role": "admin", "status": "active",
                                      "created_at": "t", "created_by": "system"});
        let list: gavel_server::openapi::List<gavel_core::User> =
            read(serde_json::json!({"items": [user]})).unwrap();
        assert_eq!(list.items[0].role, gavel_core::Role::Admin);
        let err = read::<gavel_server::openapi::List<gavel_core::User>>(serde_json::json!({"items": [{}]}))
            .map(drop)
            .unwrap_err();
        assert_eq!(err.to_string(), "the server's answer does not read as List<User>");
        assert_eq!(type_name::<Option<Vec<gavel_core::Agent>>>(), "Option<Vec<Agent>>");
    }
}
