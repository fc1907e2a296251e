//! Every signed checkpoint uploaded to the S3-compatible bucket of the evidence export
//! (`monthly_export_s3_url`), so a copy is held where the database's owner cannot rewrite it
//! (issue 13; with Object Lock or a write-only credential on the bucket, not even the server can).
//!
//! Layout: `<prefix>/checkpoints/<origin>/<tree size>.c2sp`, one object per checkpoint holding its
//! C2SP signed note verbatim, plus `<prefix>/checkpoints/<origin>/checkpoint`, the latest uploaded
//! note (the tlog convention, for monitors, and how a restarted server finds where it was). The
//! origin (`gavel.local/<org>`) is spelled safely in keys ([`origin_key`]: letters, digits, `.`
//! and `-` kept, any other byte as `_XX` hex), so two logs sharing a bucket never collide.
//!
//! Invariants:
//! * only checkpoints whose signature verifies under the log key are uploaded (a stored row the
//!   key did not sign is logged and skipped);
//! * idempotent: a per-size object that already holds the same note is left as it is; one that
//!   holds anything else is never overwritten — the upload fails loudly and is retried, so a
//!   conflicting note under this origin stays visible;
//! * an upload counts only once read back byte for byte; then, and only then, the `checkpoint`
//!   pointer moves to it. Checkpoints go up in size order, so the pointer's size says every
//!   authentic checkpoint since the position the uploader started from is uploaded;
//! * a failure is logged, counted (`gavel_checkpoint_upload_failures_total`) and retried from the
//!   same checkpoint after a backoff (the interval, doubling up to `max_backoff`); nothing is lost,
//!   because the checkpoints stay in the database and the position is the bucket's pointer;
//! * it never blocks `decide`: it is its own task, its database reads run on the blocking pool and
//!   nothing it does appends to the log. *Why no log event per upload* (as `evidence.uploaded`
//!   has)? The event would be an entry after the checkpoint just uploaded, the next checkpoint
//!   would cover it and be uploaded with another event: the log would grow every
//!   `checkpoint_interval` forever while idle. The bucket itself is the record; the gauge
//!   `gavel_checkpoint_upload_tree_size` shows how far it goes;
//! * at shutdown, after the final checkpoint is signed, one last pass (at most 15 s) uploads it.
//!
//! Where it starts: from the pointer's checkpoint if the bucket has one for this origin (signed
//! by this log's key); else from the newest checkpoint stored at start (earlier ones are not
//! backfilled: uploaded now, from a database that could already have been rewritten, they would
//! vouch for nothing a later checkpoint does not).

use crate::background::{Background, Lease};
use crate::metrics::Metrics;
use crate::s3_export::{S3Target, UploadError};
use gavel_core::{CoreError, Gavel, StoredCheckpoint};
use gavel_ledger::checkpoint::NoteVerifier;
use object_store::aws::AmazonS3;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStoreExt, PutPayload};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How the uploader paces itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadConfig {
    /// How often the stored checkpoints are looked at (the server signs one every 10 s).
    pub interval: Duration,
    /// The longest wait after failures before the next try.
    pub max_backoff: Duration,
}

impl Default for UploadConfig {
    fn default() -> Self {
        UploadConfig { interval: Duration::from_secs(5), max_backoff: Duration::from_secs(300) }
    }
}

/// The origin as one key segment: ASCII letters, digits, `.` and `-` as they are, every other
/// byte as `_` and two upper-case hex digits (`gavel.local/acme` → `gavel.local_2Facme`).
/// Reversible, so distinct origins get distinct keys.
pub fn origin_key(origin: &str) -> String {
    let mut out = String::with_capacity(origin.len());
    for b in origin.bytes() {
        if b.is_ascii_alphanumeric() || b == b'.' || b == b'-' {
            out.push(b as char);
        } else {
            out.push_str(&format!("_{b:02X}"));
        }
    }
    // "." and ".." are not plain path segments.
    if out.bytes().all(|b| b == b'.') {
        out = out.replace('.', "_2E");
    }
    out
}

/// The key of `name` under the checkpoints of `origin`.
fn key(target: &S3Target, origin: &str, name: &str) -> Result<ObjectPath, UploadError> {
    let rel = format!("checkpoints/{}/{name}", origin_key(origin));
    let key = if target.prefix.is_empty() { rel } else { format!("{}/{rel}", target.prefix) };
    ObjectPath::parse(&key).map_err(|e| UploadError::Config(format!("object key {key:?}: {e}")))
}

/// The key of the checkpoint of `tree_size`: `<prefix>/checkpoints/<origin>/<tree_size>.c2sp`.
pub fn checkpoint_key(target: &S3Target, origin: &str, tree_size: u64) -> Result<ObjectPath, UploadError> {
    key(target, origin, &format!("{tree_size}.c2sp"))
}

/// The key of the latest uploaded checkpoint: `<prefix>/checkpoints/<origin>/checkpoint`.
pub fn latest_key(target: &S3Target, origin: &str) -> Result<ObjectPath, UploadError> {
    key(target, origin, "checkpoint")
}

/// The object at `key`, or `None` if there is none.
async fn read(store: &AmazonS3, key: &ObjectPath) -> Result<Option<Vec<u8>>, object_store::Error> {
    match store.get(key).await {
        Ok(got) => Ok(Some(got.bytes().await?.to_vec())),
        Err(object_store::Error::NotFound { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Uploads one signed checkpoint (see the module invariants), then moves the pointer to it.
pub async fn upload(
    store: &AmazonS3,
    target: &S3Target,
    origin: &str,
    checkpoint: &StoredCheckpoint,
) -> Result<(), UploadError> {
    let key = checkpoint_key(target, origin, checkpoint.size)?;
    let url = format!("s3://{}/{key}", target.bucket);
    let remote = |message: String| UploadError::Remote { url: url.clone(), message };
    let note = checkpoint.note.as_bytes();
    match read(store, &key).await.map_err(|e| remote(e.to_string()))? {
        Some(held) if held == note => {}
        Some(_) => {
            return Err(remote(format!(
                "already holds a different note for tree size {}: not overwritten",
                checkpoint.size
            )))
        }
        None => {
            store.put(&key, PutPayload::from(note.to_vec())).await.map_err(|e| remote(e.to_string()))?;
            let back = read(store, &key).await.map_err(|e| remote(format!("reading back: {e}")))?;
            if back.as_deref() != Some(note) {
                return Err(UploadError::Incomplete {
                    url: url.clone(),
                    message: "the note read back differs from the one uploaded".into(),
                });
            }
        }
    }
    let latest = latest_key(target, origin)?;
    store.put(&latest, PutPayload::from(note.to_vec())).await.map_err(|e| UploadError::Remote {
        url: format!("s3://{}/{latest}", target.bucket),
        message: e.to_string(),
    })?;
    Ok(())
}

/// The tree size of the latest checkpoint uploaded for `origin` (the pointer), if the bucket has
/// one signed by this log's key.
pub async fn uploaded_size(
    store: &AmazonS3,
    target: &S3Target,
    origin: &str,
    verifier: &NoteVerifier,
) -> Result<Option<u64>, UploadError> {
    let latest = latest_key(target, origin)?;
    let url = format!("s3://{}/{latest}", target.bucket);
    let Some(bytes) = read(store, &latest)
        .await
        .map_err(|e| UploadError::Remote { url: url.clone(), message: e.to_string() })?
    else {
        return Ok(None);
    };
    let parsed = String::from_utf8(bytes)
        .map_err(|e| e.to_string())
        .and_then(|note| verifier.verify(&note).map_err(|e| e.to_string()));
    match parsed {
        Ok(c) if c.origin == origin => Ok(Some(c.size)),
        Ok(c) => {
            tracing::warn!(%url, origin = %c.origin, "the uploaded checkpoint pointer names another origin; starting afresh");
            Ok(None)
        }
        Err(e) => {
            tracing::warn!(%url, error = %e, "the uploaded checkpoint pointer is not a note signed by the log key; starting afresh");
            Ok(None)
        }
    }
}

/// The uploader's state between passes.
struct Uploader {
    gavel: Arc<Gavel>,
    target: S3Target,
    config: UploadConfig,
    metrics: Arc<Metrics>,
    /// Checkpoints of a larger size are still to upload; `None` until learned from the bucket.
    position: Option<u64>,
    /// The S3 client, built on first use (credentials from the environment).
    client: Option<AmazonS3>,
    backoff: Duration,
    next_try: Instant,
}

impl Uploader {
    async fn db<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Gavel) -> Result<T, CoreError> + Send + 'static,
    ) -> Result<T, String> {
        let gavel = self.gavel.clone();
        tokio::task::spawn_blocking(move || f(&gavel))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())
    }

    /// Uploads what is due; on failure, backs off.
    async fn pass(&mut self) {
        if Instant::now() < self.next_try {
            return;
        }
        match self.upload_due().await {
            Ok(()) => self.backoff = self.config.interval,
            Err(e) => {
                self.metrics.checkpoint_upload_failures.inc();
                tracing::error!(error = %e, target = %self.target.url(), retry_in = ?self.backoff,
                                "could not upload a signed checkpoint; will retry");
                self.next_try = Instant::now() + self.backoff;
                self.backoff = (self.backoff * 2).min(self.config.max_backoff);
            }
        }
    }

    async fn upload_due(&mut self) -> Result<(), String> {
        if self.client.is_none() {
            self.client = Some(self.target.client().map_err(|e| e.to_string())?);
        }
        let Some(store) = self.client.clone() else { return Ok(()) };
        let origin = self.gavel.origin().to_string();
        let position = match self.position {
            Some(p) => p,
            None => {
                let verifier = self.gavel.log_verifier().clone();
                let p = match uploaded_size(&store, &self.target, &origin, &verifier)
                    .await
                    .map_err(|e| e.to_string())?
                {
                    Some(size) => size,
                    None => self
                        .db(|gavel| gavel.latest_checkpoint())
                        .await?
                        .map_or(0, |c| c.size.saturating_sub(1)),
                };
                self.position = Some(p);
                p
            }
        };
        let due = self.db(move |gavel| gavel.checkpoints_after(position, 100)).await?;
        for c in due {
            let authentic = matches!(self.gavel.log_verifier().verify(&c.note),
                                     Ok(v) if v.size == c.size && v.root == c.root && v.origin == origin);
            if authentic {
                upload(&store, &self.target, &origin, &c).await.map_err(|e| e.to_string())?;
                self.metrics.checkpoint_upload_tree_size.set(c.size);
            } else {
                tracing::error!(
                    size = c.size,
                    "a stored checkpoint is not signed by the log key: not uploaded"
                );
            }
            self.position = Some(c.size);
        }
        Ok(())
    }
}

/// Starts the uploader on the current runtime. [`Background::stop`] lets the pass in flight
/// finish, then makes one last pass (at most 15 s, retrying nothing) for the final checkpoint:
/// stop it after that checkpoint is signed.
pub fn start(gavel: Arc<Gavel>, target: S3Target, config: UploadConfig, metrics: Arc<Metrics>) -> Background {
    let interval = config.interval;
    Background::start_leased(interval, Lease::new(&gavel, "checkpoint-upload"), move |mut ticks| async move {
        let mut uploader = Uploader {
            gavel,
            target,
            backoff: config.interval,
            config,
            metrics,
            position: None,
            client: None,
            next_try: Instant::now(),
        };
        while ticks.next().await {
            uploader.pass().await;
        }
        uploader.next_try = Instant::now();
        if tokio::time::timeout(Duration::from_secs(15), uploader.pass()).await.is_err() {
            tracing::error!(
                "the last checkpoint upload at shutdown timed out; it is uploaded at the next start"
            );
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_become_distinct_plain_key_segments() {
        assert_eq!(origin_key("gavel.local/acme"), "gavel.local_2Facme");
        assert_eq!(origin_key("gavel.local/a_b"), "gavel.local_2Fa_5Fb");
        assert_ne!(origin_key("a/b"), origin_key("a_2Fb"));
        assert_eq!(origin_key(".."), "_2E_2E");
        let t = S3Target::parse("s3://evidence/gavel/prod", None, None).unwrap();
        assert_eq!(
            checkpoint_key(&t, "gavel.local/acme", 42).unwrap().as_ref(),
            "gavel/prod/checkpoints/gavel.local_2Facme/42.c2sp"
        );
        let bare = S3Target::parse("s3://evidence", None, None).unwrap();
        assert_eq!(
            latest_key(&bare, "gavel.local/x").unwrap().as_ref(),
            "checkpoints/gavel.local_2Fx/checkpoint"
        );
    }
}
