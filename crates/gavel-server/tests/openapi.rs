//! The OpenAPI document (issue 12 item 3): it validates as OpenAPI 3.1 under an implementation
//! gavel did not write (`openapi-spec-validator`, a pinned test oracle), and it describes exactly
//! the routes the router serves.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed expectation is the test failing

mod common;

use common::Server;
use serde_json::Value;
use std::collections::BTreeSet;
use std::io::Write;
use std::process::Stdio;

/// Runs `openapi_spec_validator` over the document the live server serves; returns every error.
fn validator_errors(doc: &str) -> Vec<String> {
    let script = r#"
import json, sys
from openapi_spec_validator import OpenAPIV31SpecValidator
doc = json.load(sys.stdin)
errors = [f"{'/'.join(str(p) for p in e.absolute_path)}: {e.message}" for e in OpenAPIV31SpecValidator(doc).iter_errors()]
print(json.dumps(errors))
"#;
    let mut child = gavel_testkit::python_command()
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the oracles' python");
    child.stdin.take().unwrap().write_all(doc.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "validator: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("the validator's JSON answer")
}

#[test]
fn the_served_document_is_valid_openapi_3_1() {
    let server = Server::start();
    let (status, doc) = server.get_bytes("/v1/openapi.json", None);
    assert_eq!(status, 200);
    let doc = String::from_utf8(doc).unwrap();
    let errors = validator_errors(&doc);
    assert!(errors.is_empty(), "{} errors:\n{}", errors.len(), errors.join("\n"));
}

/// The document's operations as (METHOD, path template), templates in OpenAPI syntax.
fn documented(doc: &Value) -> BTreeSet<(String, String)> {
    let mut ops = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in ["get", "put", "post", "delete", "patch"] {
            if item.get(method).is_some() {
                ops.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    ops
}

#[test]
fn the_document_lists_exactly_the_routes_the_router_serves() {
    let doc = gavel_server::api::api_doc();
    let documented = documented(doc);
    // axum's rest-of-path `{*path}` is OpenAPI's `{path}`.
    let routed: BTreeSet<(String, String)> = gavel_server::api::route_list()
        .into_iter()
        .map(|(m, p, _)| (m.to_string(), p.replace("{*", "{")))
        .collect();
    let undocumented: Vec<_> = routed.difference(&documented).collect();
    let unrouted: Vec<_> = documented.difference(&routed).collect();
    assert!(undocumented.is_empty(), "routes missing from the document: {undocumented:?}");
    assert!(unrouted.is_empty(), "documented operations no route serves: {unrouted:?}");
    // A route needs a token exactly when the document says so.
    for (method, path, secured) in gavel_server::api::route_list() {
        let op = &doc["paths"][path.replace("{*", "{")][method.as_str().to_lowercase()];
        let documented_secured = op["security"].as_array().is_some_and(|s| !s.is_empty());
        assert_eq!(documented_secured, secured, "{method} {path}: security in the document");
    }
}

/// What the document promises of every operation (see `gavel_server::openapi`).
#[test]
fn every_operation_is_tagged_and_documents_its_errors() {
    let doc = gavel_server::api::api_doc();
    let tags: BTreeSet<&str> =
        doc["tags"].as_array().unwrap().iter().filter_map(|t| t["name"].as_str()).collect();
    for (method, path) in documented(doc) {
        let op = &doc["paths"][&path][method.to_lowercase()];
        let what = format!("{method} {path}");
        let op_tags = op["tags"].as_array().unwrap_or_else(|| panic!("{what}: no tags"));
        assert_eq!(op_tags.len(), 1, "{what}");
        assert!(tags.contains(op_tags[0].as_str().unwrap()), "{what}: unknown tag");
        let responses = op["responses"].as_object().unwrap();
        for (status, r) in responses {
            let content = r["content"].as_object().unwrap_or_else(|| panic!("{what} {status}: no content"));
            if status.starts_with('4') || status.starts_with('5') {
                assert_eq!(
                    content["application/json"]["schema"]["$ref"], "#/components/schemas/ErrorBody",
                    "{what} {status}"
                );
            } else {
                assert!(content.values().all(|c| c.get("schema").is_some()), "{what} {status}: no schema");
            }
        }
        let secured = op["security"].as_array().is_some_and(|s| !s.is_empty());
        let mut expected = vec![];
        if secured {
            expected.extend(["401", "403"]);
        } else {
            expected.push("429");
        }
        if path.contains('{') {
            expected.push("404");
        }
        for status in expected {
            assert!(responses.contains_key(status), "{what}: {status} is not documented");
        }
        assert!(responses.keys().any(|s| s.starts_with('2')), "{what}: no 2xx");
    }
}

/// A property-based tester (`tests/openapi/fuzz.py`, on the oracles' Python with `jsonschema`)
/// calls random operations with parameters and bodies generated from the document, for a fixed
/// seed and time, and fails on any 5xx, undocumented status or body that breaks its schema.
#[test]
fn generated_requests_get_no_server_error_and_documented_answers() {
    let seconds = std::env::var("GAVEL_API_FUZZ_SECS").unwrap_or_else(|_| "60".into());
    let server = Server::start();
    let admin = server.state.gavel.bootstrap_admin().unwrap().unwrap().token;
    let agent = server.ok("POST", "/v1/agents", &admin, Some(serde_json::json!({"name": "bot"})));
    server.ok("POST", "/v1/packs/soc2/install", &admin, None);
    let tokens = serde_json::json!({"admin": admin, "agent": agent["token"]});
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/openapi/fuzz.py");
    let mut child = gavel_testkit::python_command()
        .args([script, &server.base, "20260305", &seconds])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the oracles' python");
    child.stdin.take().unwrap().write_all(tokens.to_string().as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "the tester: {}", String::from_utf8_lossy(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).expect("the tester's JSON report");
    let failures = report["failures"].as_array().unwrap();
    assert!(report["calls"].as_u64().unwrap() > 100, "{report}");
    assert!(
        failures.is_empty(),
        "{} failures in {} calls:\n{}",
        failures.len(),
        report["calls"],
        failures.iter().map(|f| f.to_string()).collect::<Vec<_>>().join("\n")
    );
}
