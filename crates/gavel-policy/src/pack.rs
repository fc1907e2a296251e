//! Policy packs as data: a directory with `pack.toml` (name, version, description), `policies.cedar`
//! and optionally `tools.toml` (`[tools]` table: tool name → category). Packs ship in `packs/<name>/`
//! and the built-in ones are embedded in the binary.
//!
//! Invariant: a [`Pack`] returned by [`load_pack`] or [`builtin_pack`] has policies that validate against
//! the gavel schema (with the pack name as set id) and well-formed tool categories.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::validate::{check_set_id, parse_and_validate};
use crate::PolicyError;

/// A policy pack.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pack {
    pub name: String,
    pub version: u32,
    pub description: String,
    /// Cedar policy text.
    pub policies: String,
    /// Tool name → category (e.g. `"stripe.create_charge"` → `"payments"`).
    pub tools: BTreeMap<String, String>,
}

impl Pack {
    /// The category the pack gives `tool`, if any.
    pub fn category_of(&self, tool: &str) -> Option<&str> {
        self.tools.get(tool).map(String::as_str)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Manifest {
    name: String,
    version: u32,
    description: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Tools {
    #[serde(default)]
    tools: BTreeMap<String, String>,
}

/// Names of the packs embedded in this build.
pub const BUILTIN_PACKS: &[&str] = &["soc2"];

/// Loads and validates a pack directory.
pub fn load_pack(dir: &Path) -> Result<Pack, PolicyError> {
    let read = |name: &str| -> Result<Option<String>, PolicyError> {
        let path = dir.join(name);
        match std::fs::read_to_string(&path) {
            Ok(s) => Ok(Some(s)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && name == "tools.toml" => Ok(None),
            Err(source) => Err(PolicyError::Io { path, source }),
        }
    };
    let manifest = read("pack.toml")?.unwrap_or_default();
    let policies = read("policies.cedar")?.unwrap_or_default();
    let tools = read("tools.toml")?;
    from_texts(dir, &manifest, &policies, tools.as_deref())
}

/// A pack embedded in the binary, by name (see [`BUILTIN_PACKS`]).
pub fn builtin_pack(name: &str) -> Option<Pack> {
    let (manifest, policies, tools) = match name {
        "soc2" => (
            include_str!("../../../packs/soc2/pack.toml"),
            include_str!("../../../packs/soc2/policies.cedar"),
            include_str!("../../../packs/soc2/tools.toml"),
        ),
        _ => return None,
    };
    // The embedded files are checked by this crate's tests, so an error here cannot ship; `ok()` keeps the
    // signature simple for callers.
    from_texts(&Path::new("packs").join(name), manifest, policies, Some(tools)).ok()
}

fn from_texts(dir: &Path, manifest: &str, policies: &str, tools: Option<&str>) -> Result<Pack, PolicyError> {
    let at = |file: &str, message: String| PolicyError::Pack { path: dir.join(file), message };
    let m: Manifest = toml::from_str(manifest).map_err(|e| at("pack.toml", e.to_string()))?;
    check_set_id(&m.name).map_err(|e| at("pack.toml", e.to_string()))?;
    let tools = match tools {
        Some(t) => toml::from_str::<Tools>(t).map_err(|e| at("tools.toml", e.to_string()))?.tools,
        None => BTreeMap::new(),
    };
    for (tool, category) in &tools {
        let ok = !category.is_empty()
            && category.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if tool.is_empty() || !ok {
            return Err(at(
                "tools.toml",
                format!("tool {tool:?} has category {category:?}: use a non-empty name of [a-z0-9_]"),
            ));
        }
    }
    parse_and_validate(&m.name, policies).map_err(|e| at("policies.cedar", e.to_string()))?;
    Ok(Pack {
        name: m.name,
        version: m.version,
        description: m.description,
        policies: policies.to_string(),
        tools,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, files: &[(&str, &str)]) {
        for (name, text) in files {
            std::fs::write(dir.join(name), text).expect("write");
        }
    }

    const MANIFEST: &str = "name = \"mini\"\nversion = 2\ndescription = \"a test pack\"\n";
    const POLICIES: &str =
        "permit (principal, action, resource) when { resource.category == \"read_only\" };\n";

    #[test]
    fn loads_a_pack_directory() {
        let d = tempfile::tempdir().expect("tempdir");
        write(
            d.path(),
            &[
                ("pack.toml", MANIFEST),
                ("policies.cedar", POLICIES),
                ("tools.toml", "[tools]\n\"fs.read\" = \"read_only\"\n"),
            ],
        );
        let p = load_pack(d.path()).expect("pack");
        assert_eq!((p.name.as_str(), p.version), ("mini", 2));
        assert_eq!(p.category_of("fs.read"), Some("read_only"));
        assert_eq!(p.policies, POLICIES);
    }

    #[test]
    fn tools_file_is_optional() {
        let d = tempfile::tempdir().expect("tempdir");
        write(d.path(), &[("pack.toml", MANIFEST), ("policies.cedar", POLICIES)]);
        assert!(load_pack(d.path()).expect("pack").tools.is_empty());
    }

    #[test]
    fn missing_policies_file_is_an_io_error() {
        let d = tempfile::tempdir().expect("tempdir");
        write(d.path(), &[("pack.toml", MANIFEST)]);
        assert!(matches!(load_pack(d.path()), Err(PolicyError::Io { .. })));
    }

    #[test]
    fn bad_files_name_the_file() {
        let d = tempfile::tempdir().expect("tempdir");
        write(d.path(), &[("pack.toml", "name = \"mini\"\n"), ("policies.cedar", POLICIES)]);
        let e = load_pack(d.path()).unwrap_err().to_string();
        assert!(e.contains("pack.toml") && e.contains("version"), "{e}");

        write(d.path(), &[("pack.toml", MANIFEST), ("tools.toml", "[tools]\nx = \"Bad Category\"\n")]);
        let e = load_pack(d.path()).unwrap_err().to_string();
        assert!(e.contains("tools.toml"), "{e}");

        write(
            d.path(),
            &[
                ("tools.toml", "[tools]\n"),
                ("policies.cedar", "permit (principal, action, resource)\nwhen { resource.nope };"),
            ],
        );
        let e = load_pack(d.path()).unwrap_err().to_string();
        assert!(e.contains("policies.cedar") && e.contains("line 2"), "{e}");
    }

    #[test]
    fn unknown_builtin_is_none() {
        assert!(builtin_pack("nope").is_none());
        for name in BUILTIN_PACKS {
            assert!(builtin_pack(name).is_some(), "{name}");
        }
    }
}
