//! `gavel users`: people and their roles, over the server's `/v1/users` API.
//!
//! Tokens are printed exactly once, when issued (create, rotate): the server keeps only their hash.

use crate::remote::{items, print_table, s, seg, Remote};
use clap::Subcommand;
use gavel_core::Role;
use serde_json::{json, Value};
use std::process::ExitCode;

#[derive(Subcommand)]
pub enum UsersCommand {
    /// Create a user and print its token (shown once). Needs an admin token.
    Create {
        /// Unique name: letters, digits, '-', '_', '.', '@'.
        name: String,
        /// The user's role.
        #[arg(long, value_enum)]
        role: Role,
        /// Print the server's object: id, name, role, status, ..., token.
        #[arg(long)]
        json: bool,
    },
    /// List every user.
    List {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Change a user's role. Needs an admin token.
    Role {
        /// User id or name.
        user: String,
        /// The user's role.
        #[arg(value_enum)]
        role: Role,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Deactivate a user: its token stops working at once. Needs an admin token.
    Deactivate {
        /// User id or name.
        user: String,
        /// Why, for the record.
        #[arg(long)]
        reason: Option<String>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Issue a new token for a user and revoke the old one. Needs an admin token.
    Rotate {
        /// User id or name.
        user: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

pub fn run(remote: &Remote, cmd: UsersCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        UsersCommand::Create { name, role, json } => {
            let user = remote.post("/v1/users", Some(json!({"name": name, "role": role})))?;
            if json {
                crate::print_json(&user);
            } else {
                println!(
                    "created user {} ({}) with role {}",
                    s(&user["name"]),
                    s(&user["id"]),
                    s(&user["role"])
                );
                print_token(&user);
            }
        }
        UsersCommand::List { json } => {
            let list = remote.get("/v1/users", &[])?;
            if json {
                crate::print_json(&list);
            } else {
                let rows: Vec<Vec<String>> = items(&list)
                    .iter()
                    .map(|u| {
                        ["id", "name", "role", "status", "created_at", "created_by"]
                            .iter()
                            .map(|k| s(&u[*k]))
                            .collect()
                    })
                    .collect();
                print_table(&["ID", "NAME", "ROLE", "STATUS", "CREATED", "CREATED BY"], &rows);
            }
        }
        UsersCommand::Role { user, role, json } => {
            let path = format!("/v1/users/{}/role", seg(&user)?);
            let user = remote.post(&path, Some(json!({"role": role})))?;
            if json {
                crate::print_json(&user);
            } else {
                println!("user {} ({}) now has role {}", s(&user["name"]), s(&user["id"]), s(&user["role"]));
            }
        }
        UsersCommand::Deactivate { user, reason, json } => {
            let path = format!("/v1/users/{}/deactivate", seg(&user)?);
            let user = remote.post(&path, Some(json!({"reason": reason})))?;
            if json {
                crate::print_json(&user);
            } else {
                println!(
                    "deactivated user {} ({}): its token no longer works",
                    s(&user["name"]),
                    s(&user["id"])
                );
            }
        }
        UsersCommand::Rotate { user, json } => {
            let path = format!("/v1/users/{}/rotate", seg(&user)?);
            let user = remote.post(&path, None)?;
            if json {
                crate::print_json(&user);
            } else {
                println!(
                    "issued a new token for user {} ({}); the old one is revoked",
                    s(&user["name"]),
                    s(&user["id"])
                );
                print_token(&user);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The one-time token line shared by users and agents.
pub fn print_token(principal: &Value) {
    println!("token (shown once, store it now): {}", s(&principal["token"]));
}
