//! Scheduled monthly bundles uploaded to S3-compatible storage, tested against a server we did not
//! write: moto (`python -m moto.server`, PyPI `moto[server]`, from gavel-testkit's pinned oracles). The uploaded
//! bundle is listed and downloaded from moto with boto3 and must verify offline; a failed upload
//! (missing bucket) is reported, leaves the local bundle intact, and succeeds at the next run.
//! Every signed checkpoint is uploaded beside the bundles (`checkpoint_upload`), read back the
//! same way, and must verify as a checkpoint held outside the database.
//!
//! The tests set the AWS_* environment variables the S3 client reads, once, before any of them
//! goes on ([`aws_env`]), to the same values.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed expectation is the test failing

mod common;

use common::Server;
use gavel_core::evidence_runs::Schedule;
use gavel_ledger::clock::ManualClock;
use gavel_server::checkpoint_upload::{origin_key, UploadConfig};
use gavel_server::s3_export::{S3Target, UPLOADS_COLLECTION};
use gavel_store::docs::DocQuery;

use serde_json::json;
use std::process::{Child, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use time::macros::datetime;

const BUCKET: &str = "gavel-evidence";

/// moto's S3 server on a free loopback port; stopped on drop.
struct Moto {
    child: Child,
    base: String,
}

impl Moto {
    fn start() -> Moto {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = gavel_testkit::python_command()
            .args(["-m", "moto.server", "-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the oracles' python -m moto.server");
        let moto = Moto { child, base: format!("http://127.0.0.1:{port}") };
        let deadline = Instant::now() + Duration::from_secs(60);
        while ureq::get(&format!("{}/moto-api/", moto.base)).call().is_err() {
            assert!(Instant::now() < deadline, "moto did not start on port {port}");
            std::thread::sleep(Duration::from_millis(200));
        }
        moto
    }

    /// Downloads every object under `prefix` into `out` with boto3 (AWS's own Python client, a
    /// dependency of moto), and returns their keys — an S3 client we did not write either.
    fn download(&self, prefix: &str, out: &std::path::Path) -> Vec<String> {
        const SCRIPT: &str = r#"
import boto3, os, sys
endpoint, bucket, prefix, out = sys.argv[1:5]
s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                  aws_access_key_id="testing", aws_secret_access_key="testing")
for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
    for obj in page.get("Contents", []):
        key = obj["Key"]
        path = os.path.join(out, key[len(prefix):])
        os.makedirs(os.path.dirname(path), exist_ok=True)
        s3.download_file(bucket, key, path)
        print(key)
"#;
        let out = gavel_testkit::python_command()
            .args(["-c", SCRIPT, &self.base, BUCKET, prefix])
            .arg(out)
            .output()
            .expect("the oracles' python");
        assert!(out.status.success(), "boto3 download: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap().lines().map(str::to_string).collect()
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sets the AWS_* variables the S3 client reads, once per process: every test calls it first,
/// and waits for it, so no test reads the environment while another writes it.
fn aws_env() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        std::env::set_var("AWS_ACCESS_KEY_ID", "testing");
        std::env::set_var("AWS_SECRET_ACCESS_KEY", "testing");
        std::env::set_var("AWS_REGION", "us-east-1");
    });
}

#[test]
fn monthly_bundles_are_uploaded_read_back_and_retried_until_they_are() {
    aws_env();
    let moto = Moto::start();

    // Some March activity, then the 1st of April: March is due.
    let clock = Arc::new(ManualClock::new(datetime!(2026-03-20 09:00 UTC)));
    let server = Server::start_with(clock.clone(), gavel_core::Settings::default());
    let admin = server.state.gavel.bootstrap_admin().unwrap().unwrap().token;
    let agent = server.ok("POST", "/v1/agents", &admin, Some(json!({"name": "bot", "owner": "dave"})));
    server.ok("POST", "/v1/packs/soc2/install", &admin, None);
    server.ok("POST", "/v1/decide", agent["token"].as_str().unwrap(), Some(json!({"tool": "search_docs"})));
    clock.set(datetime!(2026-04-01 02:00 UTC));

    let (gavel, log) = (server.state.gavel.clone(), server.log.clone());
    let target = S3Target::parse(&format!("s3://{BUCKET}/gavel/prod"), Some(&moto.base), None).unwrap();
    let schedule = Schedule {
        scan_every: None,
        monthly_export: true,
        copy_to: None,
        upload_to: Some(Arc::new(target)),
        checks: Default::default(),
    };
    let uploads =
        |_: &gavel_core::Gavel| log.store().query_docs(&DocQuery::new(UPLOADS_COLLECTION, 10)).unwrap();

    // No bucket yet: the export is made and kept, the upload fails loudly, nothing is recorded.
    let err = gavel.run_due(&schedule).unwrap_err().to_string();
    assert!(err.contains("not uploaded yet") && err.contains("s3://gavel-evidence/gavel/prod"), "{err}");
    let records = gavel.exports(&gavel.authenticate(&admin).unwrap()).unwrap();
    assert_eq!(records.len(), 1, "{records:?}");
    let export = records[0].clone();
    assert_eq!((export.from.as_str(), export.to.as_str()), ("2026-03-01", "2026-04-01"));
    let local = log.data_dir().exports().join(&export.export_id);
    let opts = gavel_evidence::VerifyOptions::default();
    assert!(gavel_evidence::verify_bundle(&local, &opts).valid, "the local bundle is intact");
    assert!(uploads(&gavel).is_empty());

    // The bucket appears (plain S3 CreateBucket); the next hourly check uploads, once.
    ureq::put(&format!("{}/{BUCKET}", moto.base)).call().expect("create the bucket");
    clock.set(datetime!(2026-04-01 03:00 UTC));
    let done = gavel.run_due(&schedule).unwrap();
    assert_eq!(done.len(), 1, "no second export, one upload: {done:?}");
    assert!(done[0].starts_with(&format!("uploaded {}", export.export_id)), "{done:?}");
    assert!(gavel.run_due(&schedule).unwrap().is_empty(), "a done upload is never repeated");
    let recorded = uploads(&gavel);
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0].body["sha256sums_sha256"], export.sha256sums_sha256.as_str());
    assert_eq!(recorded[0].body["url"], format!("s3://{BUCKET}/gavel/prod/{}/", export.export_id).as_str());
    // The record (the `evidence.uploaded` event's data) is what its payload type writes back.
    let retyped = gavel_events::retype(gavel_events::kind::EVIDENCE_UPLOADED, &recorded[0].body);
    assert_eq!(retyped.expect("typed").expect("reads"), recorded[0].body);

    // What moto holds is exactly the bundle, and it verifies offline.
    let prefix = format!("gavel/prod/{}/", export.export_id);
    let downloaded = tempfile::tempdir().unwrap();
    let mut keys = moto.download(&prefix, downloaded.path());
    keys.sort();
    let sums = std::fs::read_to_string(local.join("SHA256SUMS")).unwrap();
    let mut expected: Vec<String> = sums
        .lines()
        .filter_map(|l| l.split_once("  ").map(|(_, p)| p.to_string()))
        .chain(["SHA256SUMS".to_string(), "SHA256SUMS.sig".to_string()])
        .map(|p| format!("{prefix}{p}"))
        .collect();
    expected.sort();
    assert_eq!(keys, expected, "exactly the bundle's files");
    let report = gavel_evidence::verify_bundle(downloaded.path(), &opts);
    assert!(report.valid, "the bundle downloaded from S3 verifies: {report:?}");
    assert!(gavel_evidence::verify_bundle(&local, &opts).valid, "and the local one is untouched");

    // moto gone: an upload for another target fails and is reported; the local bundle stays.
    drop(moto);
    let elsewhere = Schedule {
        upload_to: Some(Arc::new(
            S3Target::parse("s3://other-bucket", Some("http://127.0.0.1:9"), None).unwrap(),
        )),
        ..schedule.clone()
    };
    let err = gavel.run_due(&elsewhere).unwrap_err().to_string();
    assert!(err.contains("not uploaded yet") && err.contains("s3://other-bucket"), "{err}");
    assert!(gavel_evidence::verify_bundle(&local, &opts).valid);
    assert_eq!(uploads(&gavel).len(), 1);
}

/// A metric's value from `/metrics` (0 if absent).
fn metric(server: &Server, name: &str) -> u64 {
    let text = server.call("GET", "/metrics", None, None).1.as_str().unwrap_or_default().to_string();
    text.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|v| v.strip_prefix(' ')))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

fn wait_metric(server: &Server, name: &str, at_least: u64) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while metric(server, name) < at_least {
        assert!(Instant::now() < deadline, "{name} never reached {at_least} ({})", metric(server, name));
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Issue 13: with the S3 export configured, every signed checkpoint is uploaded to
/// `<prefix>/checkpoints/<origin>/<size>.c2sp` (plus the `checkpoint` pointer), read back, never
/// overwritten with another note, retried after failures, resumed after a restart without a gap,
/// and the notes boto3 downloads anchor the log.
#[test]
fn every_signed_checkpoint_is_uploaded_read_back_retried_and_never_overwritten() {
    aws_env();
    let moto = Moto::start();
    let target = S3Target::parse(&format!("s3://{BUCKET}/gavel/prod"), Some(&moto.base), None).unwrap();
    let fast = UploadConfig { interval: Duration::from_millis(100), max_backoff: Duration::from_millis(400) };
    let mut server =
        Server::start_tweaked(move |s| s.with_checkpoint_upload(Some(target.clone()), fast.clone()));
    let admin = server.state.gavel.bootstrap_admin().unwrap().unwrap().token;
    let agent = server.ok("POST", "/v1/agents", &admin, Some(json!({"name": "bot"})));
    let agent = agent["token"].as_str().unwrap().to_string();
    let decide = |server: &Server| {
        server.ok("POST", "/v1/decide", &agent, Some(json!({"tool": "search_docs"})));
    };
    decide(&server);

    // No bucket yet: the upload fails, is counted, and is retried.
    let first = server.log.checkpoint().unwrap();
    wait_metric(&server, "gavel_checkpoint_upload_failures_total", 2);
    assert_eq!(metric(&server, "gavel_checkpoint_upload_tree_size"), 0);
    ureq::put(&format!("{}/{BUCKET}", moto.base)).call().expect("create the bucket");
    wait_metric(&server, "gavel_checkpoint_upload_tree_size", first.size);

    // More checkpoints, a restart (its final checkpoint is uploaded at shutdown or at the next
    // start), more again: every checkpoint from the first on is in the bucket, each once.
    decide(&server);
    server.log.checkpoint().unwrap();
    // Covered only by the checkpoint signed at shutdown.
    decide(&server);
    let unsigned = gavel_store::Store::head(server.log.store().as_ref()).unwrap().size;
    server.reopen();
    assert!(server.log.latest_authentic_checkpoint().unwrap().unwrap().size >= unsigned);
    decide(&server);
    let last = server.log.checkpoint().unwrap();
    wait_metric(&server, "gavel_checkpoint_upload_tree_size", last.size);
    let origin = server.log.origin().to_string();
    let dir = format!("gavel/prod/checkpoints/{}/", origin_key(&origin));
    let downloaded = tempfile::tempdir().unwrap();
    let keys: std::collections::BTreeSet<String> =
        moto.download(&dir, downloaded.path()).into_iter().collect();
    let stored: Vec<_> =
        server.log.store().checkpoints().unwrap().into_iter().filter(|c| c.size >= first.size).collect();
    assert!(stored.len() >= 3, "{stored:?}");
    let mut expected: std::collections::BTreeSet<String> =
        stored.iter().map(|c| format!("{dir}{}.c2sp", c.size)).collect();
    expected.insert(format!("{dir}checkpoint"));
    assert_eq!(keys, expected, "every checkpoint since the first, and the pointer");
    let mut notes = Vec::new();
    for c in &stored {
        let held = std::fs::read_to_string(downloaded.path().join(format!("{}.c2sp", c.size))).unwrap();
        assert_eq!(held, c.note, "size {}", c.size);
        notes.push(held);
    }
    let pointer = std::fs::read_to_string(downloaded.path().join("checkpoint")).unwrap();
    assert_eq!(pointer, last.note);
    let report = server.log.verify_with(0, None, &notes).unwrap();
    assert!(report.valid, "the notes in the bucket anchor the log: {report:?}");

    // Someone else's note already under the next size: never overwritten, reported, retried.
    let failures = metric(&server, "gavel_checkpoint_upload_failures_total");
    decide(&server);
    let next = gavel_store::Store::head(server.log.store().as_ref()).unwrap().size;
    let key = format!("{dir}{next}.c2sp");
    ureq::put(&format!("{}/{BUCKET}/{key}", moto.base)).send_string("not ours\n").expect("plant a note");
    assert_eq!(server.log.checkpoint().unwrap().size, next);
    wait_metric(&server, "gavel_checkpoint_upload_failures_total", failures + 2);
    assert_eq!(metric(&server, "gavel_checkpoint_upload_tree_size"), last.size);
    let again = tempfile::tempdir().unwrap();
    moto.download(&dir, again.path());
    assert_eq!(std::fs::read_to_string(again.path().join(format!("{next}.c2sp"))).unwrap(), "not ours\n");
    assert_eq!(std::fs::read_to_string(again.path().join("checkpoint")).unwrap(), last.note);
}
