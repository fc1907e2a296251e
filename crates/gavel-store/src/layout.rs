//! Where gavel keeps things in its data directory.
//!
//! ```text
//! <data-dir>/            0700
//!   gavel.db             SQLite database, + -wal (no -shm: `unix-excl` keeps the WAL index in memory);
//!                        not used when the log lives in PostgreSQL (`database_url`, [`Database`])
//!   keys/log.key         Ed25519 log signing key, PKCS#8 PEM, 0600
//!   keys/export.key      Ed25519 export signing key (evidence bundles' SHA256SUMS), 0600
//!   exports/<export id>/ evidence bundles the server serves to share links
//!   gavel.toml           server configuration (optional; gavel-server `config`)
//!   frameworks/<name>.toml  frameworks named over HTTP besides the built-in `soc2` (optional)
//! ```

use crate::StoreError;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct DataDir {
    root: PathBuf,
    /// Where the log lives when it is not `gavel.db` in the directory.
    database: Option<Database>,
}

/// Where a data directory's log and documents live.
#[derive(Clone, PartialEq, Eq)]
pub enum Database {
    /// An SQLite file (the default: `<data-dir>/gavel.db`).
    Sqlite(PathBuf),
    /// A PostgreSQL database, by connection URL (`postgres://user@host:port/db`).
    Postgres(String),
}

impl Database {
    /// Parses a database URL: `postgres://…` or `postgresql://…`, or `sqlite://PATH` (relative
    /// paths from the working directory; `sqlite:///abs/path` for an absolute one).
    pub fn parse(url: &str) -> Result<Database, StoreError> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Database::Postgres(url.to_string()));
        }
        match url.strip_prefix("sqlite://") {
            Some(path) if !path.is_empty() => Ok(Database::Sqlite(PathBuf::from(path))),
            _ => Err(StoreError::Invalid(format!(
                "database URL {:?} must start with postgres://, postgresql:// or sqlite://PATH",
                Database::redact(url)
            ))),
        }
    }

    /// The URL with any password replaced by `***`, for logs and messages.
    fn redact(url: &str) -> String {
        let Some((scheme, rest)) = url.split_once("://") else { return url.to_string() };
        let (authority, tail) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        match authority.rsplit_once('@') {
            Some((user, host)) if user.contains(':') => {
                let name = user.split(':').next().unwrap_or_default();
                format!("{scheme}://{name}:***@{host}{tail}")
            }
            _ => url.to_string(),
        }
    }
}

/// Shows where the log lives without a password the URL may hold.
impl std::fmt::Display for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Database::Sqlite(path) => write!(f, "sqlite://{}", path.display()),
            Database::Postgres(url) => f.write_str(&Database::redact(url)),
        }
    }
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

impl DataDir {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        DataDir { root: root.into(), database: None }
    }

    /// Keeps the log in `database` instead of `<root>/gavel.db`; the keys, configuration and
    /// exports stay in the directory.
    pub fn with_database(mut self, database: Option<Database>) -> Self {
        self.database = database;
        self
    }

    /// Whether a database other than `<root>/gavel.db` was chosen.
    pub fn has_database_url(&self) -> bool {
        self.database.is_some()
    }

    /// Where the log lives.
    pub fn database_location(&self) -> Database {
        self.database.clone().unwrap_or_else(|| Database::Sqlite(self.database()))
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

    /// Whether gavel was initialised here: the SQLite file exists or, with PostgreSQL, the log key
    /// (the database itself is checked when it is opened).
    pub fn exists(&self) -> bool {
        match self.database_location() {
            Database::Sqlite(path) => path.exists(),
            Database::Postgres(_) => self.log_key().exists(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_urls_parse_and_display_without_their_password() {
        let pg = Database::parse("postgres://gavel:s3cret@db.internal:5432/gavel").unwrap();
        assert_eq!(pg.to_string(), "postgres://gavel:***@db.internal:5432/gavel");
        assert_eq!(format!("{pg:?}"), "postgres://gavel:***@db.internal:5432/gavel");
        assert_eq!(Database::parse("postgresql://h/db").unwrap().to_string(), "postgresql://h/db");
        assert_eq!(
            Database::parse("sqlite:///var/lib/gavel.db").unwrap(),
            Database::Sqlite("/var/lib/gavel.db".into())
        );
        for bad in ["mysql://x", "sqlite://", "gavel.db", "http://user:pw@host/"] {
            let err = Database::parse(bad).unwrap_err().to_string();
            assert!(err.contains("must start with postgres://"), "{bad}: {err}");
            assert!(!err.contains("pw@"), "{err}");
        }
        let dir = DataDir::new("/tmp/none");
        assert_eq!(dir.database_location(), Database::Sqlite("/tmp/none/gavel.db".into()));
        let dir = dir.with_database(Some(pg.clone()));
        assert_eq!(dir.database_location(), pg);
    }
}
