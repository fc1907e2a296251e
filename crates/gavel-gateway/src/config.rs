//! Named upstreams in `gavel.toml`: the `[gateway.upstreams.NAME]` tables `gavel gateway
//! --upstream-name NAME` picks one from, each either a command to start (stdio) or a URL
//! (Streamable HTTP).
//!
//! ```toml
//! [gateway.upstreams.files]
//! command = ["npx", "-y", "@modelcontextprotocol/server-filesystem", "/srv/docs"]
//! env = { NODE_ENV = "production" }
//!
//! [gateway.upstreams.search]
//! url = "http://127.0.0.1:8000/mcp"
//! categories = { "search_*" = "read_only", "delete_*" = "destructive" }
//! ```
//!
//! Invariants:
//! * the file is `gavel serve`'s own `gavel.toml`: only its `[gateway]` table is read here, and
//!   the server accepts that table and reads nothing of it;
//! * inside `[gateway]` an unknown key is an error (a typo never falls back silently), and every
//!   upstream is checked when the file is read, not only the one picked: its name is one gavel
//!   records tool lists under, it has exactly one of `command` (non-empty) and `url` (http or
//!   https), `env` only beside `command`, and no `GAVEL_TOKEN` in `env` (the agent's credential
//!   stays with gavel);
//! * `categories` (glob → category) is read for `gavel tools categorize`, never by the gateway: it
//!   proposes the categories to the server as an admin, and only a second admin's approval puts
//!   them in force (the gateway holds agent tokens, which can never set a category). Each glob and
//!   category is checked as the server checks them, so a bad one is an error before anything is
//!   sent.

use crate::{GatewayError, Upstream};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::Path;

/// The `[gateway]` table.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct GatewaySection {
    #[serde(default)]
    upstreams: BTreeMap<String, UpstreamEntry>,
}

/// One `[gateway.upstreams.NAME]` table, as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UpstreamEntry {
    command: Option<Vec<String>>,
    env: Option<BTreeMap<String, String>>,
    url: Option<String>,
    categories: Option<BTreeMap<String, String>>,
}

/// The named upstreams of one file, checked.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NamedUpstreams {
    /// Where they were read from, for messages.
    pub path: String,
    pub upstreams: BTreeMap<String, Upstream>,
    /// Each upstream's `categories` (glob → category), checked; absent for one without.
    pub categories: BTreeMap<String, BTreeMap<String, String>>,
}

impl NamedUpstreams {
    /// Reads the `[gateway]` table of the file at `path` (other tables are `gavel serve`'s).
    pub fn load(path: &Path) -> Result<NamedUpstreams, GatewayError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| GatewayError::Config(format!("cannot read {}: {e}", path.display())))?;
        NamedUpstreams::parse(&path.display().to_string(), &text)
    }

    /// Parses a file's text; `path` names it in messages.
    pub fn parse(path: &str, text: &str) -> Result<NamedUpstreams, GatewayError> {
        let bad = |message: String| GatewayError::Config(format!("{path}: {message}"));
        let mut table: toml::Table = toml::from_str(text).map_err(|e| bad(e.to_string()))?;
        let section: GatewaySection = match table.remove("gateway") {
            None => GatewaySection::default(),
            Some(value) => value.try_into().map_err(|e: toml::de::Error| bad(format!("[gateway]: {e}")))?,
        };
        let mut upstreams = BTreeMap::new();
        let mut categories = BTreeMap::new();
        for (name, mut entry) in section.upstreams {
            let in_table = |m: String| bad(format!("[gateway.upstreams.{name}]: {m}"));
            if let Some(globs) = entry.categories.take() {
                check_categories(&globs).map_err(in_table)?;
                categories.insert(name.clone(), globs);
            }
            let upstream = check_entry(&name, entry).map_err(in_table)?;
            upstreams.insert(name, upstream);
        }
        Ok(NamedUpstreams { path: path.to_string(), upstreams, categories })
    }

    /// The upstream called `name`, or an error naming the ones there are.
    pub fn get(&self, name: &str) -> Result<&Upstream, GatewayError> {
        self.upstreams.get(name).ok_or_else(|| {
            let known = if self.upstreams.is_empty() {
                "it defines none".to_string()
            } else {
                format!("it defines {}", self.upstreams.keys().cloned().collect::<Vec<_>>().join(", "))
            };
            GatewayError::Config(format!(
                "no upstream {name:?} in {} ([gateway.upstreams.{name}]); {known}",
                self.path
            ))
        })
    }
}

/// Each glob and category of a `categories` table, as the server checks them.
fn check_categories(globs: &BTreeMap<String, String>) -> Result<(), String> {
    use gavel_core::tool_categories::{check_category, check_glob};
    for (glob, category) in globs {
        check_glob(glob).map_err(|e| format!("categories: {e}"))?;
        check_category(category).map_err(|e| format!("categories: glob {glob:?}: {e}"))?;
    }
    Ok(())
}

fn check_entry(name: &str, entry: UpstreamEntry) -> Result<Upstream, String> {
    gavel_core::gateway::check_upstream(name).map_err(|e| format!("the name: {e}"))?;
    match (entry.command, entry.url) {
        (Some(_), Some(_)) => {
            Err("set either command (a server to start) or url (a Streamable HTTP endpoint), not both".into())
        }
        (None, None) => Err("set command (a server to start) or url (a Streamable HTTP endpoint)".into()),
        (None, Some(url)) => {
            if entry.env.is_some() {
                return Err("env is for a started server (command); a url upstream has none".into());
            }
            check_url(&url)?;
            Ok(Upstream::Url(url))
        }
        (Some(command), None) => {
            if command.first().is_none_or(|program| program.trim().is_empty()) {
                return Err("command must name a program: command = [\"python3\", \"server.py\"]".into());
            }
            let env = entry.env.unwrap_or_default();
            for key in env.keys() {
                if key.is_empty() || key.contains('=') || key.contains('\0') {
                    return Err(format!("env key {key:?} is not a variable name"));
                }
                if key == "GAVEL_TOKEN" {
                    return Err(
                        "env must not pass GAVEL_TOKEN: the agent's gavel token stays with gavel".into()
                    );
                }
            }
            Ok(Upstream::Command {
                command: command.into_iter().map(OsString::from).collect(),
                env: env.into_iter().map(|(k, v)| (OsString::from(k), OsString::from(v))).collect(),
            })
        }
    }
}

/// An upstream URL must be http or https.
pub fn check_url(url: &str) -> Result<(), String> {
    let url = url.trim();
    let rest = url.strip_prefix("http://").or_else(|| url.strip_prefix("https://"));
    if rest.is_some_and(|r| !r.is_empty() && !r.starts_with('/')) {
        Ok(())
    } else {
        Err(format!("{url:?} must be an http:// or https:// URL, e.g. http://127.0.0.1:8000/mcp"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<NamedUpstreams, String> {
        NamedUpstreams::parse("gavel.toml", text).map_err(|e| e.to_string())
    }

    #[test]
    fn upstreams_are_read_beside_the_servers_keys() {
        let file = parse(
            r#"addr = "127.0.0.1:7311"
[limits]
max_body_kib = 64
[gateway.upstreams.files]
command = ["npx", "-y", "server-filesystem", "/srv"]
env = { NODE_ENV = "production" }
[gateway.upstreams.search]
url = "http://127.0.0.1:8000/mcp"
categories = { "search_*" = "read_only", "drop_table" = "destructive" }
"#,
        )
        .unwrap();
        assert_eq!(
            file.categories
                .get("search")
                .map(|c| c.iter().map(|(g, c)| format!("{g}={c}")).collect::<Vec<_>>()),
            Some(vec!["drop_table=destructive".to_string(), "search_*=read_only".to_string()])
        );
        assert!(!file.categories.contains_key("files"));
        assert_eq!(
            file.get("files").unwrap(),
            &Upstream::Command {
                command: ["npx", "-y", "server-filesystem", "/srv"].map(OsString::from).to_vec(),
                env: vec![(OsString::from("NODE_ENV"), OsString::from("production"))],
            }
        );
        assert_eq!(file.get("search").unwrap(), &Upstream::Url("http://127.0.0.1:8000/mcp".into()));
        let unknown = file.get("serach").unwrap_err().to_string();
        assert!(unknown.contains("no upstream \"serach\"") && unknown.contains("files, search"), "{unknown}");
        assert!(parse("addr = \"x\"\n")
            .unwrap()
            .get("files")
            .unwrap_err()
            .to_string()
            .contains("defines none"));
    }

    #[test]
    fn bad_upstreams_are_refused_naming_the_table() {
        for (text, says) in [
            ("[gateway.upstreams.x]\ncommand = [\"a\"]\nurl = \"http://h/mcp\"\n", "not both"),
            ("[gateway.upstreams.x]\nenv = { A = \"b\" }\n", "set command"),
            ("[gateway.upstreams.x]\ncommand = []\n", "must name a program"),
            ("[gateway.upstreams.x]\nurl = \"ftp://h\"\n", "http:// or https://"),
            ("[gateway.upstreams.x]\nurl = \"http://h/mcp\"\nenv = { A = \"b\" }\n", "env is for a started"),
            ("[gateway.upstreams.x]\ncommand = [\"a\"]\nenv = { GAVEL_TOKEN = \"gvl_x\" }\n", "GAVEL_TOKEN"),
            ("[gateway.upstreams.\"bad name\"]\ncommand = [\"a\"]\n", "the name"),
            ("[gateway.upstreams.x]\ncomand = [\"a\"]\n", "unknown field"),
            ("[gateway]\nupstream = {}\n", "unknown field"),
            (
                "[gateway.upstreams.x]\nurl = \"http://h/mcp\"\ncategories = { \"a*\" = \"Read\" }\n",
                "[a-z0-9_]",
            ),
            (
                "[gateway.upstreams.x]\nurl = \"http://h/mcp\"\ncategories = { \"a*\" = \"none\" }\n",
                "uncategorise",
            ),
            ("[gateway.upstreams.x]\nurl = \"http://h/mcp\"\ncategories = { \"a b\" = \"x\" }\n", "glob"),
            ("[gateway.upstreams.x]\nurl = \"http://h/mcp\"\ncategories = { \"a\" = 1 }\n", "gavel.toml"),
            ("[gateway.upstreams.x\n", "gavel.toml"),
        ] {
            let refused = parse(text).unwrap_err();
            assert!(refused.contains(says) && refused.starts_with("gavel.toml: "), "{text}: {refused}");
        }
    }
}
