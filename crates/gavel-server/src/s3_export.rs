//! Uploads of scheduled evidence bundles to S3-compatible storage (AWS S3, MinIO, …) through the
//! `object_store` crate.
//!
//! Invariants:
//! * a bundle goes under `<prefix>/<export id>/<path>`, every file `SHA256SUMS` lists first, then
//!   `SHA256SUMS.sig`, then `SHA256SUMS` itself — so a reader who sees `SHA256SUMS` can rely on
//!   every file it lists (and its signature) being there;
//! * an upload only counts once it is read back: every object's size must match the local file, and
//!   the stored `SHA256SUMS` and `SHA256SUMS.sig` must be byte-identical to the local ones (whose
//!   SHA-256 must match the export on record); anything less is an error, never a success;
//! * the local bundle is only read, never moved or removed, whatever happens remotely;
//! * a successful upload is recorded by core (`gavel_core::evidence_runs`): one `evidence.uploaded`
//!   event plus an `evidence_uploads` document keyed by export and URL, in one transaction. A
//!   bundle with that record is never uploaded to that URL again; one without is retried at every
//!   scheduled check;
//! * credentials come from the environment only (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
//!   `AWS_SESSION_TOKEN`, `AWS_REGION`, …, read by `AmazonS3Builder::from_env`), never from gavel.toml.
//!
//! `object_store` is async while the schedule runs on the blocking pool: each upload drives its own
//! current-thread tokio runtime (a blocking-pool thread is outside any runtime context, so this is
//! allowed), and core records the upload after that runtime is done, because recording blocks on
//! the log writer and must not run inside a runtime.

pub use gavel_core::evidence_runs::{Uploaded, UPLOADED_KIND, UPLOADS_COLLECTION};
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStoreExt, PutPayload, RetryConfig, WriteMultipart};
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::Path;
use std::time::Duration;

/// Files up to this size are one PUT; larger ones (events.jsonl of a busy month) are a multipart
/// upload in parts of this size, so memory stays bounded whatever the bundle's size.
const PART: usize = 8 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    #[error("{0}")]
    Config(String),
    #[error("the local bundle {dir}: {message}")]
    Bundle { dir: String, message: String },
    #[error("{url}: {message}")]
    Remote { url: String, message: String },
    #[error("{url} is incomplete after upload: {message}")]
    Incomplete { url: String, message: String },
    #[error("starting the upload runtime: {0}")]
    Runtime(std::io::Error),
}

/// Where scheduled bundles go: `s3://<bucket>/<prefix>`, optionally at a non-AWS endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Target {
    pub bucket: String,
    /// Without leading or trailing `/`; may be empty.
    pub prefix: String,
    /// e.g. `http://127.0.0.1:9000` for MinIO; None: AWS (or `AWS_ENDPOINT` from the environment).
    pub endpoint: Option<String>,
    /// None: `AWS_REGION` / `AWS_DEFAULT_REGION` from the environment, else us-east-1.
    pub region: Option<String>,
}

impl S3Target {
    /// Parses `s3://bucket[/prefix]` and checks the endpoint is an http(s) URL.
    pub fn parse(url: &str, endpoint: Option<&str>, region: Option<&str>) -> Result<S3Target, UploadError> {
        let bad = |why: &str| UploadError::Config(format!("monthly_export_s3_url {url:?} {why}"));
        let rest = url.strip_prefix("s3://").ok_or_else(|| bad("must look like s3://bucket/prefix"))?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let bucket_ok = (3..=63).contains(&bucket.len())
            && bucket.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-.".contains(&b))
            && !bucket.starts_with(['-', '.'])
            && !bucket.ends_with(['-', '.']);
        if !bucket_ok {
            return Err(bad("has no valid bucket name (3-63 characters: a-z 0-9 . -)"));
        }
        let prefix = prefix.trim_matches('/');
        if !prefix.is_empty() && ObjectPath::parse(prefix).is_err()
            || prefix.split('/').any(|s| s == "." || s == "..")
        {
            return Err(bad("has a prefix that is not a plain path (a/b/c)"));
        }
        if let Some(e) = endpoint {
            if !(e.starts_with("http://") || e.starts_with("https://")) || e.len() <= "https://".len() {
                return Err(UploadError::Config(format!(
                    "monthly_export_s3_endpoint {e:?} must be an http:// or https:// URL"
                )));
            }
        }
        if region.is_some_and(|r| r.is_empty() || r.len() > 64) {
            return Err(UploadError::Config("monthly_export_s3_region must be a region name".into()));
        }
        Ok(S3Target {
            bucket: bucket.to_string(),
            prefix: prefix.to_string(),
            endpoint: endpoint.map(str::to_string),
            region: region.map(str::to_string),
        })
    }

    /// `s3://bucket/prefix` (normalised), the identity of the target in upload records.
    pub fn url(&self) -> String {
        if self.prefix.is_empty() {
            format!("s3://{}", self.bucket)
        } else {
            format!("s3://{}/{}", self.bucket, self.prefix)
        }
    }

    /// The key of one file of one bundle.
    fn key(&self, export_id: &str, path: &str) -> Result<ObjectPath, UploadError> {
        let key = if self.prefix.is_empty() {
            format!("{export_id}/{path}")
        } else {
            format!("{}/{export_id}/{path}", self.prefix)
        };
        ObjectPath::parse(&key).map_err(|e| UploadError::Config(format!("object key {key:?}: {e}")))
    }

    pub(crate) fn client(&self) -> Result<AmazonS3, UploadError> {
        // Few, short retries: a failed upload is retried at the next hourly check anyway.
        let retry =
            RetryConfig { max_retries: 3, retry_timeout: Duration::from_secs(60), ..Default::default() };
        let mut b = AmazonS3Builder::from_env().with_bucket_name(&self.bucket).with_retry(retry);
        if let Some(endpoint) = &self.endpoint {
            b = b.with_endpoint(endpoint).with_allow_http(endpoint.starts_with("http://"));
        }
        if let Some(region) = &self.region {
            b = b.with_region(region);
        }
        b.build().map_err(|e| UploadError::Config(format!("S3 client for {}: {e}", self.url())))
    }
}

/// The bundle's files in upload order (listed files, then `SHA256SUMS.sig`, then `SHA256SUMS`),
/// with their sizes; checks `SHA256SUMS` is the one on record.
fn upload_plan(dir: &Path, expected_sums: &str) -> Result<(Vec<(String, u64)>, String), UploadError> {
    let bundle_err = |message: String| UploadError::Bundle { dir: dir.display().to_string(), message };
    let sums = std::fs::read(dir.join("SHA256SUMS")).map_err(|e| bundle_err(format!("SHA256SUMS: {e}")))?;
    let sums_sha = hex::encode(Sha256::digest(&sums));
    if sums_sha != expected_sums {
        return Err(bundle_err(format!(
            "SHA256SUMS has SHA-256 {sums_sha}, the export on record says {expected_sums}: not uploading a \
             bundle that changed since it was exported"
        )));
    }
    let text = String::from_utf8(sums).map_err(|_| bundle_err("SHA256SUMS is not UTF-8".into()))?;
    // The bundle format's own parser: hex hashes, sorted safe relative paths, or the line that is not.
    let mut paths = Vec::new();
    for (path, _) in gavel_evidence::sums::parse(&text).map_err(bundle_err)? {
        if path == "SHA256SUMS" || path == "SHA256SUMS.sig" {
            return Err(bundle_err(format!("SHA256SUMS lists {path:?}, not a plain bundle file")));
        }
        paths.push(path);
    }
    paths.push("SHA256SUMS.sig".into());
    paths.push("SHA256SUMS".into());
    let mut plan = Vec::with_capacity(paths.len());
    for path in paths {
        let size = std::fs::metadata(dir.join(&path)).map_err(|e| bundle_err(format!("{path}: {e}")))?.len();
        plan.push((path, size));
    }
    Ok((plan, sums_sha))
}

/// Uploads the bundle in `dir` (export `export_id`, whose `SHA256SUMS` has SHA-256 `expected_sums`)
/// and reads it back. Blocking: runs its own current-thread runtime; call it outside any runtime.
pub fn upload_bundle(
    target: &S3Target,
    dir: &Path,
    export_id: &str,
    expected_sums: &str,
) -> Result<Uploaded, UploadError> {
    let (plan, sums_sha) = upload_plan(dir, expected_sums)?;
    let store = target.client()?;
    let url = format!("{}/{export_id}/", target.url());
    let remote = |message: String| UploadError::Remote { url: url.clone(), message };
    let runtime =
        tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(UploadError::Runtime)?;
    runtime.block_on(async {
        for (path, _) in &plan {
            let key = target.key(export_id, path)?;
            put_file(&store, &key, &dir.join(path))
                .await
                .map_err(|e| remote(format!("uploading {path}: {e}")))?;
        }
        // Read back: sizes of everything, bytes of the signed checksum list and its signature.
        let incomplete = |message: String| UploadError::Incomplete { url: url.clone(), message };
        for (path, size) in &plan {
            let key = target.key(export_id, path)?;
            let meta = store.head(&key).await.map_err(|e| incomplete(format!("{path}: {e}")))?;
            if meta.size != *size {
                return Err(incomplete(format!("{path} has {} bytes, the bundle's has {size}", meta.size)));
            }
        }
        for path in ["SHA256SUMS", "SHA256SUMS.sig"] {
            let key = target.key(export_id, path)?;
            let got = store.get(&key).await.map_err(|e| incomplete(format!("{path}: {e}")))?;
            let got = got.bytes().await.map_err(|e| incomplete(format!("{path}: {e}")))?;
            let local = std::fs::read(dir.join(path)).map_err(|e| UploadError::Bundle {
                dir: dir.display().to_string(),
                message: format!("{path}: {e}"),
            })?;
            if got.as_ref() != local.as_slice() {
                return Err(incomplete(format!("{path} read back differs from the bundle's")));
            }
        }
        Ok(())
    })?;
    Ok(Uploaded {
        url,
        objects: plan.len(),
        bytes: plan.iter().map(|(_, s)| s).sum(),
        sha256sums_sha256: sums_sha,
    })
}

async fn put_file(store: &AmazonS3, key: &ObjectPath, file: &Path) -> Result<(), String> {
    let mut f = std::fs::File::open(file).map_err(|e| e.to_string())?;
    let size = f.metadata().map_err(|e| e.to_string())?.len();
    if size <= PART as u64 {
        let mut bytes = Vec::with_capacity(size as usize);
        f.read_to_end(&mut bytes).map_err(|e| e.to_string())?;
        store.put(key, PutPayload::from(bytes)).await.map_err(|e| e.to_string())?;
        return Ok(());
    }
    let upload = store.put_multipart(key).await.map_err(|e| e.to_string())?;
    let mut writer = WriteMultipart::new_with_chunk_size(upload, PART);
    let mut buf = vec![0u8; 1024 * 1024];
    loop {
        let n = match f.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) => {
                let _ = writer.abort().await;
                return Err(e.to_string());
            }
        };
        // At most two parts in flight (16 MiB).
        writer.wait_for_capacity(2).await.map_err(|e| e.to_string())?;
        writer.write(&buf[..n]);
    }
    writer.finish().await.map_err(|e| e.to_string())?;
    Ok(())
}

/// The S3 target as core's uploader: core decides what is due and records what was done.
impl gavel_core::evidence_runs::BundleUploader for S3Target {
    fn target(&self) -> String {
        self.url()
    }

    fn upload(&self, dir: &Path, export_id: &str, sha256sums_sha256: &str) -> Result<Uploaded, String> {
        upload_bundle(self, dir, export_id, sha256sums_sha256).map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_and_bad_ones_are_refused() {
        let t =
            S3Target::parse("s3://evidence-bucket/gavel/prod/", Some("http://127.0.0.1:9000"), None).unwrap();
        assert_eq!((t.bucket.as_str(), t.prefix.as_str()), ("evidence-bucket", "gavel/prod"));
        assert_eq!(t.url(), "s3://evidence-bucket/gavel/prod");
        assert_eq!(t.key("x1", "oscal/a.json").unwrap().as_ref(), "gavel/prod/x1/oscal/a.json");
        let bare = S3Target::parse("s3://bkt", None, Some("eu-west-1")).unwrap();
        assert_eq!(
            (bare.url(), bare.key("x1", "SHA256SUMS").unwrap().to_string()),
            ("s3://bkt".into(), "x1/SHA256SUMS".into())
        );
        for bad in
            ["bucket/prefix", "s3://", "s3://UPPER/x", "s3://b/../x", "s3://ok-bucket/a//b", "https://b/x"]
        {
            assert!(S3Target::parse(bad, None, None).is_err(), "{bad}");
        }
        assert!(S3Target::parse("s3://bkt/x", Some("127.0.0.1:9000"), None).is_err());
        assert!(S3Target::parse("s3://bkt/x", None, Some("")).is_err());
    }

    #[test]
    fn the_checksum_list_goes_last_and_a_changed_or_odd_bundle_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("oscal")).unwrap();
        std::fs::write(dir.path().join("events.jsonl"), "{}\n").unwrap();
        std::fs::write(dir.path().join("oscal/a.json"), "{}").unwrap();
        std::fs::write(dir.path().join("SHA256SUMS.sig"), [0u8; 64]).unwrap();
        let write_sums = |text: &str| {
            std::fs::write(dir.path().join("SHA256SUMS"), text).unwrap();
            hex::encode(Sha256::digest(text.as_bytes()))
        };
        // Hashes are not checked here (verification does); they only need the format's shape.
        let (a, b) = ("a".repeat(64), "b".repeat(64));
        let sums = write_sums(&format!("{a}  events.jsonl\n{b}  oscal/a.json\n"));
        let (plan, sha) = upload_plan(dir.path(), &sums).unwrap();
        let order: Vec<&str> = plan.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(order, ["events.jsonl", "oscal/a.json", "SHA256SUMS.sig", "SHA256SUMS"]);
        assert_eq!((sha, plan[0].1), (sums.clone(), 3));
        let err = upload_plan(dir.path(), &"0".repeat(64)).unwrap_err().to_string();
        assert!(err.contains("changed since it was exported"), "{err}");
        for bad in ["../x", "/etc/passwd", "SHA256SUMS", "missing.csv"] {
            let sums = write_sums(&format!("{a}  {bad}\n"));
            assert!(upload_plan(dir.path(), &sums).is_err(), "{bad}");
        }
        for bad in ["no-separator\n", "aa  events.jsonl\n"] {
            let sums = write_sums(bad);
            assert!(upload_plan(dir.path(), &sums).is_err(), "{bad}");
        }
    }
}
