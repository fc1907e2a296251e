//! `gavel decide`: ask the server to decide one tool call, as an agent would (POST /v1/decide).
//!
//! The exit status says whether the command worked, not what was decided: 0 for allow, deny and
//! require_approval alike, non-zero when no decision could be had (3 refused, 4 not authenticated,
//! 5 unreachable or 5xx). A 503 means the log could not record the decision, so the caller must
//! treat the call as denied; the error says so.

use crate::remote::{s, show, ApiFailure, Remote};
use anyhow::{bail, Context};
use clap::Args;
use gavel_core::decide::DecideResponse;
use serde_json::{json, Value};
use std::process::ExitCode;

#[derive(Args)]
pub struct DecideArgs {
    /// Tool name, e.g. send_email.
    #[arg(long)]
    tool: String,
    /// The tool's arguments as a JSON object, e.g. '{"to": "a@b.c"}'.
    #[arg(long = "args", value_name = "JSON")]
    arguments: Option<String>,
    /// What the tool acts on (a customer id, a path).
    #[arg(long)]
    resource: Option<String>,
    /// The human the agent acts for.
    #[arg(long)]
    on_behalf_of: Option<String>,
    /// Cost of the call in US dollars.
    #[arg(long)]
    cost_usd: Option<f64>,
    /// Environment the agent claims to run in (recorded; policies see the registered one).
    #[arg(long)]
    environment: Option<String>,
    /// Print the server's answer.
    #[arg(long)]
    json: bool,
}

pub fn run(remote: &Remote, args: DecideArgs) -> anyhow::Result<ExitCode> {
    let arguments = match &args.arguments {
        None => None,
        Some(text) => {
            let v: Value = serde_json::from_str(text).context("--args is not valid JSON")?;
            if !v.is_object() {
                bail!("--args must be a JSON object, e.g. '{{\"query\": \"select 1\"}}'");
            }
            Some(v)
        }
    };
    if let Some(cost) = args.cost_usd {
        if !cost.is_finite() || cost < 0.0 {
            bail!("--cost-usd must be a non-negative number");
        }
    }
    let mut body = json!({"tool": args.tool});
    if let Some(a) = arguments {
        body["arguments"] = a;
    }
    if let Some(r) = &args.resource {
        body["resource"] = json!(r);
    }
    if let Some(u) = &args.on_behalf_of {
        body["on_behalf_of"] = json!(u);
    }
    if args.environment.is_some() || args.cost_usd.is_some() {
        body["context"] = json!({"environment": args.environment, "cost_usd": args.cost_usd});
    }
    let decision = remote.post("/v1/decide", Some(body)).map_err(|e| match e.downcast::<ApiFailure>() {
        // Fail closed: a decision that could not be recorded is no permission.
        Ok(mut f) if f.status == 503 => {
            f.message = format!("{}; nothing was recorded: treat this tool call as denied", f.message);
            anyhow::Error::new(f)
        }
        Ok(f) => anyhow::Error::new(f),
        Err(e) => e,
    })?;
    show(decision, args.json, |d: &DecideResponse| {
        println!("decision:    {}", s(&d.decision));
        println!(
            "enforced:    {}",
            if d.enforced { "true" } else { "false (no enforcing policy: permissive mode, recorded)" }
        );
        if let Some(would_have) = d.would_have {
            println!("would_have:  {} (observe-mode policies)", s(&would_have));
        }
        let policies: Vec<String> = d
            .policies
            .iter()
            .map(|p| format!("{}/{} (v{})", s(&p.set_id), s(&p.policy_id), p.version))
            .collect();
        println!("policies:    {}", if policies.is_empty() { "-".into() } else { policies.join(", ") });
        if d.reasons.is_empty() {
            println!("reasons:     -");
        }
        for (i, r) in d.reasons.iter().enumerate() {
            println!("{}{}", if i == 0 { "reasons:     " } else { "             " }, s(r));
        }
        if let Some(approval_id) = &d.approval_id {
            println!("approval_id: {}", s(approval_id));
        }
        println!("seq:         {}", d.seq);
        println!("decision_id: {}", s(&d.decision_id));
    })?;
    Ok(ExitCode::SUCCESS)
}
