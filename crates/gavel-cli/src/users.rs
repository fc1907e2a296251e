//! `gavel users`: people and their roles, over the server's `/v1/users` API.
//!
//! Tokens are printed exactly once, when issued (create, rotate): the server keeps only their hash.

use crate::remote::{print_table, s, seg, show, Remote};
use clap::Subcommand;
use gavel_core::{Issued, Role, User};
use gavel_server::openapi::List;
use serde_json::json;
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
            show(user, json, |user: &Issued<User>| {
                let u = &user.principal;
                println!("created user {} ({}) with role {}", s(&u.name), s(&u.id), s(&u.role));
                print_token(&user.token);
            })?;
        }
        UsersCommand::List { json } => {
            show(remote.get("/v1/users", &[])?, json, |list: &List<User>| {
                let rows: Vec<Vec<String>> = list
                    .items
                    .iter()
                    .map(|u| {
                        vec![
                            s(&u.id),
                            s(&u.name),
                            s(&u.role),
                            s(&u.status),
                            s(&u.created_at),
                            s(&u.created_by),
                        ]
                    })
                    .collect();
                print_table(&["ID", "NAME", "ROLE", "STATUS", "CREATED", "CREATED BY"], &rows);
            })?;
        }
        UsersCommand::Role { user, role, json } => {
            let path = format!("/v1/users/{}/role", seg(&user)?);
            show(remote.post(&path, Some(json!({"role": role})))?, json, |u: &User| {
                println!("user {} ({}) now has role {}", s(&u.name), s(&u.id), s(&u.role));
            })?;
        }
        UsersCommand::Deactivate { user, reason, json } => {
            let path = format!("/v1/users/{}/deactivate", seg(&user)?);
            show(remote.post(&path, Some(json!({"reason": reason})))?, json, |u: &User| {
                println!("deactivated user {} ({}): its token no longer works", s(&u.name), s(&u.id));
            })?;
        }
        UsersCommand::Rotate { user, json } => {
            let path = format!("/v1/users/{}/rotate", seg(&user)?);
            show(remote.post(&path, None)?, json, |user: &Issued<User>| {
                let u = &user.principal;
                println!("issued a new token for user {} ({}); the old one is revoked", s(&u.name), s(&u.id));
                print_token(&user.token);
            })?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The one-time token line shared by users and agents.
pub fn print_token(token: &str) {
    println!("token (shown once, store it now): {}", s(token));
}
