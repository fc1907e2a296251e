//! `gavel notify`: notification channels for people (chat, generic JSON) over
//! `/v1/notifications/channels` (admins only). Held calls, approvals about to expire, incidents,
//! kill switches and new readiness findings are posted to them, each message linking to the
//! console page of its item (docs/console.md, "Notifications").

use crate::remote::{print_table, s, seg, show, wire_name, Remote};
use clap::{Subcommand, ValueEnum};
use gavel_core::notifications::{ChannelView, NotificationDelivery};
use gavel_server::openapi::List;
use serde_json::json;
use std::process::ExitCode;

#[derive(Subcommand)]
pub enum NotifyCommand {
    /// Channels: create, list, disable, and their deliveries.
    Channels {
        #[command(subcommand)]
        command: ChannelsCommand,
    },
}

/// How a channel's messages are written.
#[derive(Clone, Copy, ValueEnum)]
pub enum FormatArg {
    /// Slack incoming webhook (also Mattermost, Rocket.Chat).
    Slack,
    /// A JSON object: kind, ids, summary, console link.
    Json,
}

#[derive(Subcommand)]
pub enum ChannelsCommand {
    /// Add a channel. Needs an admin token.
    Create {
        /// A name people recognise (e.g. "payments approvers").
        #[arg(long)]
        name: String,
        /// slack (Slack, Mattermost, Rocket.Chat) or json (a generic JSON object).
        #[arg(long, value_enum)]
        format: FormatArg,
        /// http(s) URL the messages are POSTed to.
        #[arg(long)]
        url: String,
        /// approval.requested | approval.expiring | incident.opened | killswitch.engaged |
        /// scan.finding; repeat; default all.
        #[arg(long = "event")]
        events: Vec<String>,
        /// Only agents in this group (repeat); with --agent-owner, either matches.
        #[arg(long = "agent-group")]
        agent_groups: Vec<String>,
        /// Only agents owned by this owner (repeat).
        #[arg(long = "agent-owner")]
        agent_owners: Vec<String>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Every channel with its attempt counts.
    List {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Disable a channel (never deleted).
    Disable {
        /// The channel id (from `gavel notify channels list`).
        id: String,
        /// Why (recorded and shown on the channel).
        #[arg(long)]
        reason: Option<String>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// The messages sent to a channel, newest first, with their attempts.
    Deliveries {
        /// The channel id (from `gavel notify channels list`).
        id: String,
        /// At most this many, newest first.
        #[arg(long)]
        limit: Option<u32>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

fn state(c: &ChannelView) -> String {
    if c.enabled {
        "enabled".into()
    } else {
        format!("disabled ({})", s(&c.disabled_reason))
    }
}

pub fn run(remote: &Remote, cmd: NotifyCommand) -> anyhow::Result<ExitCode> {
    let NotifyCommand::Channels { command } = cmd;
    match command {
        ChannelsCommand::Create { name, format, url, events, agent_groups, agent_owners, json } => {
            let format = match format {
                FormatArg::Slack => "slack",
                FormatArg::Json => "json",
            };
            let body = json!({"name": name, "format": format, "url": url, "events": events,
                              "agent_groups": agent_groups, "agent_owners": agent_owners});
            show(remote.post("/v1/notifications/channels", Some(body))?, json, |c: &ChannelView| {
                println!("notification channel {} ({}) created", s(&c.id), s(&c.name))
            })?;
        }
        ChannelsCommand::List { json } => {
            show(remote.get("/v1/notifications/channels", &[])?, json, |list: &List<ChannelView>| {
                let rows: Vec<Vec<String>> = list
                    .items
                    .iter()
                    .map(|c| {
                        vec![
                            s(&c.id),
                            s(&c.name),
                            wire_name(&c.format),
                            s(&c.url),
                            s(&c.events),
                            s(&[c.agent_groups.clone(), c.agent_owners.clone()].concat()),
                            state(c),
                            format!("{}/{}/{}", c.attempts.delivered, c.attempts.retrying, c.attempts.failed),
                        ]
                    })
                    .collect();
                if rows.is_empty() {
                    println!("no notification channel is configured");
                } else {
                    print_table(
                        &["ID", "NAME", "FORMAT", "URL", "EVENTS", "AGENTS", "STATE", "OK/RETRY/FAILED"],
                        &rows,
                    );
                }
            })?;
        }
        ChannelsCommand::Disable { id, reason, json } => {
            let body = reason.map(|r| json!({"reason": r}));
            let path = format!("/v1/notifications/channels/{}/disable", seg(&id)?);
            show(remote.post(&path, body)?, json, |c: &ChannelView| {
                println!("notification channel {} disabled", s(&c.id))
            })?;
        }
        ChannelsCommand::Deliveries { id, limit, json } => {
            let query: Vec<(&str, String)> = limit.map(|l| ("limit", l.to_string())).into_iter().collect();
            let path = format!("/v1/notifications/channels/{}/deliveries", seg(&id)?);
            show(remote.get(&path, &query)?, json, |list: &List<NotificationDelivery>| {
                let rows: Vec<Vec<String>> = list
                    .items
                    .iter()
                    .map(|d| {
                        let last = d.attempts.last();
                        vec![
                            s(&d.notice_id),
                            s(&d.status),
                            s(&d.attempts.len()),
                            s(&last.map(|a| a.at.clone())),
                            s(&last.and_then(|a| a.status_code)),
                            s(&last.and_then(|a| a.error.clone())),
                        ]
                    })
                    .collect();
                if rows.is_empty() {
                    println!("nothing sent yet");
                } else {
                    print_table(&["NOTICE", "STATUS", "ATTEMPTS", "LAST", "CODE", "ERROR"], &rows);
                }
            })?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
