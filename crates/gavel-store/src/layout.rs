//! Where gavel keeps things in its data directory.
//!
//! ```text
//! <data-dir>/            0700
//!   gavel.db             SQLite database, + -wal (no -shm: `unix-excl` keeps the WAL index in memory)
//!   keys/log.key         Ed25519 log signing key, PKCS#8 PEM, 0600
//!   keys/export.key      Ed25519 export signing key (evidence bundles' SHA256SUMS), 0600
//!   exports/<export id>/ evidence bundles the server serves to share links
//!   gavel.toml           server configuration (optional; gavel-server `config`)
//!   frameworks/<name>.toml  frameworks named over HTTP besides the built-in `soc2` (optional)
//! ```

use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct DataDir {
    root: PathBuf,
}

impl DataDir {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        DataDir { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn database(&self) -> PathBuf {
        self.root.join("gavel.db")
    }

    pub fn log_key(&self) -> PathBuf {
        self.root.join("keys").join("log.key")
    }

    /// The key that signs evidence bundles. Separate from the log key: it is used on demand by
    /// whoever exports (and may be rotated or held by the compliance team), while the log key
    /// signs checkpoints continuously and must never change.
    pub fn export_key(&self) -> PathBuf {
        self.root.join("keys").join("export.key")
    }

    /// Where evidence bundles live that share links can serve (`exports/<export id>`).
    pub fn exports(&self) -> PathBuf {
        self.root.join("exports")
    }

    /// Creates the directory (0700) if it does not exist yet.
    pub fn create(&self) -> std::io::Result<()> {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(&self.root)
    }

    pub fn exists(&self) -> bool {
        self.database().exists()
    }
}
