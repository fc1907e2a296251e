//! Scheduled monthly bundles uploaded to S3-compatible storage, tested against a server we did not
//! write: moto (`python -m moto.server`, PyPI `moto[server]`, from gavel-testkit's pinned oracles). The uploaded
//! bundle is listed and downloaded from moto with boto3 and must verify offline; a failed upload
//! (missing bucket) is reported, leaves the local bundle intact, and succeeds at the next run.
//!
//! One test in this binary only: it sets the AWS_* environment variables the S3 client reads.

mod common;

use common::Server;
use gavel_ledger::clock::ManualClock;
use gavel_server::compliance_api::{run_due, Schedule};
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

#[test]
fn monthly_bundles_are_uploaded_read_back_and_retried_until_they_are() {
    let moto = Moto::start();
    // Only this test runs in this binary, so setting the environment here races with nothing.
    std::env::set_var("AWS_ACCESS_KEY_ID", "testing");
    std::env::set_var("AWS_SECRET_ACCESS_KEY", "testing");
    std::env::set_var("AWS_REGION", "us-east-1");

    // Some March activity, then the 1st of April: March is due.
    let clock = Arc::new(ManualClock::new(datetime!(2026-03-20 09:00 UTC)));
    let server = Server::start_with(clock.clone(), gavel_core::Settings::default());
    let admin = server.state.gavel.bootstrap_admin().unwrap().unwrap().token;
    let agent = server.ok("POST", "/v1/agents", &admin, Some(json!({"name": "bot", "owner": "dave"})));
    server.ok("POST", "/v1/packs/soc2/install", &admin, None);
    server.ok("POST", "/v1/decide", agent["token"].as_str().unwrap(), Some(json!({"tool": "search_docs"})));
    clock.set(datetime!(2026-04-01 02:00 UTC));

    let (gavel, log) = (server.state.gavel.clone(), server.state.log.clone());
    let target = S3Target::parse(&format!("s3://{BUCKET}/gavel/prod"), Some(&moto.base), None).unwrap();
    let schedule = Schedule {
        scan_every: None,
        monthly_export: true,
        copy_to: None,
        upload_to: Some(target),
        checks: Default::default(),
    };
    let uploads =
        |gavel: &gavel_core::Gavel| gavel.store().query_docs(&DocQuery::new(UPLOADS_COLLECTION, 10)).unwrap();

    // No bucket yet: the export is made and kept, the upload fails loudly, nothing is recorded.
    let err = run_due(&gavel, &log, &schedule).unwrap_err().to_string();
    assert!(err.contains("not uploaded yet") && err.contains("s3://gavel-evidence/gavel/prod"), "{err}");
    let records = gavel.export_records().unwrap();
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
    let done = run_due(&gavel, &log, &schedule).unwrap();
    assert_eq!(done.len(), 1, "no second export, one upload: {done:?}");
    assert!(done[0].starts_with(&format!("uploaded {}", export.export_id)), "{done:?}");
    assert!(run_due(&gavel, &log, &schedule).unwrap().is_empty(), "a done upload is never repeated");
    let recorded = uploads(&gavel);
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0].body["sha256sums_sha256"], export.sha256sums_sha256.as_str());
    assert_eq!(recorded[0].body["url"], format!("s3://{BUCKET}/gavel/prod/{}/", export.export_id).as_str());

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
        upload_to: Some(S3Target::parse("s3://other-bucket", Some("http://127.0.0.1:9"), None).unwrap()),
        ..schedule.clone()
    };
    let err = run_due(&gavel, &log, &elsewhere).unwrap_err().to_string();
    assert!(err.contains("not uploaded yet") && err.contains("s3://other-bucket"), "{err}");
    assert!(gavel_evidence::verify_bundle(&local, &opts).valid);
    assert_eq!(uploads(&gavel).len(), 1);
}
