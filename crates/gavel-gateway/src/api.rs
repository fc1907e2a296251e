//! The gateway's client of `gavel serve`: decide, read the agent's approval, report an outcome,
//! report an upstream's tool list, each as the agent (its bearer token), with gavel-core's wire types.
//!
//! Invariant: every failure is an [`ApiError`] the caller turns into a refused call; nothing here
//! retries a decide (a second decide would be a second recorded decision).

use gavel_core::approvals::{Approval, OutcomeRequest, RecordedOutcome};
use gavel_core::decide::{DecideRequest, DecideResponse};
use gavel_core::gateway::{ToolsSeen, ToolsSeenRequest};
use serde_json::Value;
use std::time::Duration;

/// Why a call to gavel gave no usable answer.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// No connection (refused, DNS, timeout).
    #[error("cannot reach the gavel server at {server}: {reason}")]
    Unreachable { server: String, reason: String },
    /// gavel answered with an error (`{"error": {"code", "message"}}`).
    #[error("{message} ({code}, HTTP {status})")]
    Refused { status: u16, code: String, message: String },
    /// gavel answered 2xx with a body that does not read as the expected type.
    #[error("the gavel server's answer does not read: {0}")]
    BadAnswer(String),
}

/// Where gavel is and the agent's token (a clone shares the connections).
#[derive(Clone)]
pub struct GavelClient {
    base: String,
    bearer: String,
    http: ureq::Agent,
}

impl GavelClient {
    pub fn new(server: &str, token: &str) -> Result<GavelClient, crate::GatewayError> {
        let token = token.trim();
        if token.is_empty() {
            return Err(crate::GatewayError::Config("the gateway needs the agent's token (--token)".into()));
        }
        Ok(GavelClient::for_server(server)?.with_token(token))
    }

    /// A client of `server` for callers that bring their own token with each request (the HTTP
    /// gateway): it calls gavel only through [`GavelClient::with_token`].
    pub fn for_server(server: &str) -> Result<GavelClient, crate::GatewayError> {
        let base = server.trim().trim_end_matches('/').to_string();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(crate::GatewayError::Config(format!(
                "--server {server:?} must be an http:// or https:// URL (e.g. http://127.0.0.1:7311)"
            )));
        }
        let http = ureq::AgentBuilder::new()
            .timeout_connect(Duration::from_secs(10))
            // A decide waits for a durable commit; an approval long-poll for up to its `wait`.
            .timeout(Duration::from_secs(120))
            .user_agent(concat!("gavel-gateway/", env!("CARGO_PKG_VERSION")))
            .build();
        Ok(GavelClient { base, bearer: String::new(), http })
    }

    /// The same server and connections, as the holder of `token`.
    pub fn with_token(&self, token: &str) -> GavelClient {
        GavelClient {
            base: self.base.clone(),
            bearer: format!("Bearer {}", token.trim()),
            http: self.http.clone(),
        }
    }

    /// `GET /v1/me`: who the token is (`{"type": "agent", "agent": …}` for an agent).
    pub fn me(&self) -> Result<Value, ApiError> {
        let request = self.http.get(&format!("{}/v1/me", self.base)).set("Authorization", &self.bearer);
        self.read(request.call())
    }

    pub fn server(&self) -> &str {
        &self.base
    }

    /// `POST /v1/decide`.
    pub fn decide(&self, request: &DecideRequest) -> Result<DecideResponse, ApiError> {
        let body = serde_json::to_value(request).map_err(|e| ApiError::BadAnswer(e.to_string()))?;
        self.post("/v1/decide", &body)
    }

    /// `GET /v1/approvals/{id}?wait=…`: the agent's own request, with its receipt once approved.
    /// `wait_secs` long-polls while it is pending (the server allows at most 60).
    pub fn approval(&self, id: &str, wait_secs: u64) -> Result<Approval, ApiError> {
        let request = self
            .http
            .get(&format!("{}/v1/approvals/{}", self.base, segment(id)))
            .query("wait", &wait_secs.to_string())
            .set("Authorization", &self.bearer);
        self.read(request.call())
    }

    /// `POST /v1/gateway/tools`: an upstream's tool list, recorded when it changed; the answer
    /// names the tools the active policies deny the agent.
    pub fn tools_seen(&self, seen: &ToolsSeenRequest) -> Result<ToolsSeen, ApiError> {
        let body = serde_json::to_value(seen).map_err(|e| ApiError::BadAnswer(e.to_string()))?;
        self.post("/v1/gateway/tools", &body)
    }

    /// `POST /v1/decisions/{id}/outcome`.
    pub fn report_outcome(
        &self,
        decision_id: &str,
        outcome: &OutcomeRequest,
    ) -> Result<RecordedOutcome, ApiError> {
        let body = serde_json::to_value(outcome).map_err(|e| ApiError::BadAnswer(e.to_string()))?;
        self.post(&format!("/v1/decisions/{}/outcome", segment(decision_id)), &body)
    }

    fn post<T: serde::de::DeserializeOwned>(&self, path: &str, body: &Value) -> Result<T, ApiError> {
        let request = self.http.post(&format!("{}{path}", self.base)).set("Authorization", &self.bearer);
        self.read(request.send_json(body))
    }

    fn read<T: serde::de::DeserializeOwned>(
        &self,
        answer: Result<ureq::Response, ureq::Error>,
    ) -> Result<T, ApiError> {
        match answer {
            Ok(response) => response.into_json::<T>().map_err(|e| ApiError::BadAnswer(e.to_string())),
            Err(ureq::Error::Status(status, response)) => {
                let text = response.into_string().unwrap_or_default();
                let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
                let field = |name: &str| body.pointer(&format!("/error/{name}")).and_then(Value::as_str);
                Err(ApiError::Refused {
                    status,
                    code: field("code").unwrap_or("http_error").to_string(),
                    message: field("message")
                        .map(str::to_string)
                        .unwrap_or_else(|| text.trim().chars().take(200).collect()),
                })
            }
            Err(ureq::Error::Transport(t)) => {
                Err(ApiError::Unreachable { server: self.base.clone(), reason: t.to_string() })
            }
        }
    }
}

/// One path segment, percent-encoded (ids come from gavel's answers, but a path must never be
/// changed by what it carries).
fn segment(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || b"-_~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn servers_must_be_http_urls_and_tokens_present() {
        assert!(GavelClient::new("127.0.0.1:7311", "gvl_x").is_err());
        assert!(GavelClient::new("http://127.0.0.1:7311", "  ").is_err());
        assert_eq!(
            GavelClient::new("http://127.0.0.1:7311/", "gvl_x").unwrap().server(),
            "http://127.0.0.1:7311"
        );
    }

    #[test]
    fn segments_cannot_leave_their_route() {
        assert_eq!(segment("apr_01"), "apr_01");
        assert_eq!(segment("../x?y"), "%2E%2E%2Fx%3Fy");
    }
}
