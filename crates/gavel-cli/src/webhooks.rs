//! `gavel webhooks`: signed event streams to SIEMs (SOC 2 CC7.2) over `/v1/webhooks`.
//!
//! Deliveries follow the Standard Webhooks spec (HMAC-SHA256 with the endpoint's `whsec_`
//! secret); every attempt is recorded in the log. The secret is printed once, at creation or
//! rotation. Endpoints are disabled, never deleted: their history is evidence.

use crate::remote::{print_table, s, seg, show, Remote};
use clap::Subcommand;
use gavel_core::webhooks::{CreatedEndpoint, DeliveryAttempt, EndpointDetail, EndpointView, RotatedSecret};
use gavel_server::openapi::List;
use serde_json::json;
use std::process::ExitCode;

#[derive(Subcommand)]
pub enum WebhooksCommand {
    /// Add an endpoint; prints its id and its secret (shown once). Needs an admin token.
    Create {
        /// http(s) URL receiving signed POSTs.
        #[arg(long)]
        url: String,
        /// Event kinds to send: exact (`decision`) or prefix (`policy.*`); repeat; default all.
        #[arg(long = "kind")]
        kinds: Vec<String>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Every endpoint (without secrets).
    List {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// One endpoint with its delivery counts and success rate.
    Show {
        /// The endpoint id (from `gavel webhooks list`).
        id: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Change the kinds an endpoint receives, or enable/disable it.
    Update {
        /// The endpoint id (from `gavel webhooks list`).
        id: String,
        /// Replaces the kind filter; repeat.
        #[arg(long = "kind")]
        kinds: Vec<String>,
        /// Enable the endpoint again (deliveries resume where they stopped).
        #[arg(long, conflicts_with = "disable")]
        enable: bool,
        /// Disable the endpoint (nothing is delivered until enabled).
        #[arg(long)]
        disable: bool,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Issue a new secret (printed once); the old one stops signing at once.
    RotateSecret {
        /// The endpoint id (from `gavel webhooks list`).
        id: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Disable an endpoint (never deleted: its delivery history is evidence).
    Disable {
        /// The endpoint id (from `gavel webhooks list`).
        id: String,
        /// Why (recorded and shown on the endpoint).
        #[arg(long)]
        reason: Option<String>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Every delivery attempt, newest first: status code, latency, error.
    Deliveries {
        /// The endpoint id (from `gavel webhooks list`).
        id: String,
        /// retrying | delivered | failed
        #[arg(long)]
        status: Option<String>,
        /// At most this many deliveries, newest first.
        #[arg(long)]
        limit: Option<u32>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

fn print_secret(id: &str, secret: &str) {
    println!("webhook {}", s(id));
    println!("secret: {} (shown once: store it now)", s(secret));
}

pub fn run(remote: &Remote, cmd: WebhooksCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        WebhooksCommand::Create { url, kinds, json } => {
            let body = json!({"url": url, "kinds": kinds});
            show(remote.post("/v1/webhooks", Some(body))?, json, |w: &CreatedEndpoint| {
                print_secret(&w.endpoint.id, &w.secret)
            })?;
        }
        WebhooksCommand::List { json } => {
            show(remote.get("/v1/webhooks", &[])?, json, |list: &List<EndpointView>| {
                let rows: Vec<Vec<String>> = list
                    .items
                    .iter()
                    .map(|w| vec![s(&w.id), s(&w.url), kinds(w), enabled(w), s(&w.created_at)])
                    .collect();
                if rows.is_empty() {
                    println!("no webhook endpoint is configured");
                } else {
                    print_table(&["ID", "URL", "KINDS", "STATE", "CREATED"], &rows);
                }
            })?;
        }
        WebhooksCommand::Show { id, json } => {
            show(remote.get(&format!("/v1/webhooks/{}", seg(&id)?), &[])?, json, |d: &EndpointDetail| {
                let w = &d.endpoint;
                println!("webhook       {}", s(&w.id));
                println!("url           {}", s(&w.url));
                println!("kinds         {}", kinds(w));
                println!("state         {}", enabled(w));
                println!("deliveries    {}", json!(d.deliveries));
                println!("attempts      {}", json!(d.attempts));
                println!("success rate  {}", s(&d.success_rate));
                if let Some(until) = &d.held_until {
                    println!("held until    {until} (the last round got no 2xx)");
                }
            })?;
        }
        WebhooksCommand::Update { id, kinds: new_kinds, enable, disable, json } => {
            let mut body = json!({});
            if !new_kinds.is_empty() {
                body["kinds"] = json!(new_kinds);
            }
            if enable || disable {
                body["enabled"] = json!(enable);
            }
            if body.as_object().is_some_and(|o| o.is_empty()) {
                anyhow::bail!("nothing to change: pass --kind, --enable or --disable");
            }
            let answer = remote.post(&format!("/v1/webhooks/{}/update", seg(&id)?), Some(body))?;
            show(answer, json, |w: &EndpointView| {
                println!("webhook {} updated: kinds {}, {}", s(&w.id), kinds(w), enabled(w))
            })?;
        }
        WebhooksCommand::RotateSecret { id, json } => {
            let answer = remote.post(&format!("/v1/webhooks/{}/rotate-secret", seg(&id)?), None)?;
            show(answer, json, |r: &RotatedSecret| print_secret(&r.id, &r.secret))?;
        }
        WebhooksCommand::Disable { id, reason, json } => {
            let body = reason.map(|r| json!({"reason": r}));
            show(remote.delete(&format!("/v1/webhooks/{}", seg(&id)?), body)?, json, |w: &EndpointView| {
                println!("webhook {} disabled", s(&w.id))
            })?;
        }
        WebhooksCommand::Deliveries { id, status, limit, json } => {
            let mut query = Vec::new();
            if let Some(st) = status {
                query.push(("status", st));
            }
            if let Some(l) = limit {
                query.push(("limit", l.to_string()));
            }
            let answer = remote.get(&format!("/v1/webhooks/{}/deliveries", seg(&id)?), &query)?;
            show(answer, json, |list: &List<DeliveryAttempt>| {
                let rows: Vec<Vec<String>> = list
                    .items
                    .iter()
                    .map(|d| {
                        let a = &d.attempt;
                        vec![
                            s(&a.at),
                            s(&a.seq),
                            s(&a.webhook_id),
                            s(&a.attempt),
                            s(&a.status_code),
                            s(&a.latency_ms),
                            s(&a.outcome),
                            s(&a.error),
                        ]
                    })
                    .collect();
                if rows.is_empty() {
                    println!("no delivery attempt yet");
                } else {
                    print_table(
                        &["AT", "SEQ", "WEBHOOK-ID", "ATTEMPT", "STATUS", "LATENCY_MS", "OUTCOME", "ERROR"],
                        &rows,
                    );
                }
            })?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn kinds(w: &EndpointView) -> String {
    if w.kinds.is_empty() {
        "all".into()
    } else {
        s(&w.kinds)
    }
}

fn enabled(w: &EndpointView) -> String {
    if w.enabled {
        "enabled".into()
    } else {
        format!("disabled ({})", s(&w.disabled_reason))
    }
}
