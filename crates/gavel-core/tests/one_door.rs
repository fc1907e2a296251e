//! One door into core: no front end can append to the log or check a permission on its own,
//! because none of them can reach the store. The HTTP server and the CLI do not depend on
//! gavel-store (only their tests do, to inspect what core wrote), and gavel-evidence, which core
//! hands the store to read a period, calls none of the store's writes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed expectation is the test failing

use std::path::{Path, PathBuf};

fn crates() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("crates/").to_path_buf()
}

fn dependencies(krate: &str) -> toml::Table {
    let text = std::fs::read_to_string(crates().join(krate).join("Cargo.toml")).expect("manifest");
    let manifest: toml::Table = text.parse().expect("toml");
    manifest.get("dependencies").and_then(|d| d.as_table()).cloned().unwrap_or_default()
}

#[test]
fn front_ends_reach_the_log_only_through_core() {
    for front_end in ["gavel-server", "gavel-cli", "gavel-gateway"] {
        let deps = dependencies(front_end);
        assert!(deps.contains_key("gavel-core"), "{front_end} is a front end of gavel-core");
        assert!(
            !deps.contains_key("gavel-store"),
            "{front_end} depends on gavel-store: it could append to the log without core's rules"
        );
    }
}

/// The store's writes, as they are called.
const WRITES: [&str; 7] = [
    ".append(",
    ".append_with(",
    ".submit_with(",
    ".submit_purge(",
    ".save_checkpoint(",
    ".init_meta(",
    ".probe_commit(",
];

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn the_exporter_writes_files_never_the_log() {
    let mut files = Vec::new();
    sources(&crates().join("gavel-evidence").join("src"), &mut files);
    assert!(files.len() > 5, "{files:?}");
    for file in files {
        let text = std::fs::read_to_string(&file).expect("source");
        for (n, line) in text.lines().enumerate() {
            for write in WRITES {
                assert!(
                    !line.contains(write),
                    "{}:{}: {write} — only gavel-core writes the log",
                    file.display(),
                    n + 1
                );
            }
        }
    }
}
