//! gavel.toml `[limits]` and `trusted_proxies` on the real `gavel serve`: a value takes effect over
//! HTTP, a value out of bounds or an unknown key refuses to start naming the key, and budgets are
//! kept per client address — the peer, or behind a trusted proxy the address it forwarded for.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed expectation is the test failing

mod common;

use common::Server;
use serde_json::Value;
use std::io::{Read, Write};
use std::process::Command;

/// One HTTP/1.0 request with extra header lines; returns the status and the JSON body.
fn request(server: &Server, method: &str, path: &str, headers: &[&str], body: &[u8]) -> (u16, Value) {
    let addr = server.url.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    let mut head = format!("{method} {path} HTTP/1.0\r\nHost: {addr}\r\nContent-Length: {}\r\n", body.len());
    for h in headers {
        head.push_str(h);
        head.push_str("\r\n");
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    // The server may answer 413 before reading everything; a reset while sending is fine.
    let _ = stream.write_all(body);
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    let response = String::from_utf8_lossy(&response);
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    (status, serde_json::from_str(body).unwrap_or(Value::String(body.to_string())))
}

fn get(server: &Server, path: &str, headers: &[&str]) -> u16 {
    request(server, "GET", path, headers, b"").0
}

/// Starts `gavel serve` on a fresh data directory with `config` as gavel.toml; it must refuse.
fn refused_to_start(config: &str) -> String {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::write(data.join("gavel.toml"), config).unwrap();
    let out = common::clean(&mut Command::new(env!("CARGO_BIN_EXE_gavel")))
        .args(["serve", "--addr", "127.0.0.1:0", "--data-dir"])
        .arg(&data)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(3), "{config}: {stderr}");
    stderr
}

#[test]
fn limits_from_gavel_toml_take_effect_over_http() {
    let server = Server::start_with_config(Some(
        "[limits]\nmax_body_kib = 16\nunauthenticated_per_minute = 4\napproval_wait_max_secs = 5\n",
    ));
    let auth = format!("Authorization: Bearer {}", server.admin);
    let big = format!("{{\"name\": \"{}\"}}", "a".repeat(17 * 1024));
    let (status, body) = request(&server, "POST", "/v1/agents", &[&auth], big.as_bytes());
    assert_eq!(status, 413, "{body}");
    assert_eq!(body["error"]["code"], "payload_too_large", "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("16384 bytes"), "{body}");
    // Under the limit the same route runs (and refuses the name on its own grounds).
    let small = format!("{{\"name\": \"{}\"}}", "a".repeat(15 * 1024));
    let json = "Content-Type: application/json";
    let (status, body) = request(&server, "POST", "/v1/agents", &[&auth, json], small.as_bytes());
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "invalid_request", "{body}");

    let (status, body) = request(&server, "GET", "/v1/approvals/apr_x?wait=6", &[&auth], b"");
    assert_eq!(status, 400, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("at most 5 seconds"), "{body}");

    for _ in 0..4 {
        assert_eq!(get(&server, "/healthz", &[]), 200);
    }
    assert_eq!(get(&server, "/healthz", &[]), 429, "the fifth unauthenticated request in a minute");
}

#[test]
fn a_limit_out_of_bounds_or_an_unknown_key_refuses_to_start() {
    let stderr = refused_to_start("[limits]\nmax_body_kib = 1\n");
    assert!(
        stderr.contains("limits.max_body_kib = 1") && stderr.contains("between 16 and 65536"),
        "{stderr}"
    );
    let stderr = refused_to_start("[limits]\nunauthenticated_per_minute = 0\n");
    assert!(stderr.contains("limits.unauthenticated_per_minute"), "{stderr}");
    let stderr = refused_to_start("[limits]\nmax_body = 64\n");
    assert!(stderr.contains("unknown field `max_body`"), "{stderr}");
    let stderr = refused_to_start("[limits]\nmax_body_kib = \"big\"\n");
    assert!(stderr.contains("max_body_kib"), "{stderr}");
    let stderr = refused_to_start("trusted_proxies = [\"10.0.0.0/33\"]\n");
    assert!(stderr.contains("\"10.0.0.0/33\""), "{stderr}");
}

#[test]
fn a_forwarding_header_from_an_untrusted_peer_is_ignored() {
    // No trusted proxies: whatever the client claims, its budget is its peer address's.
    let server = Server::start_with_config(Some("[limits]\nunauthenticated_per_minute = 3\n"));
    for n in 1..=3 {
        let xff = format!("X-Forwarded-For: 203.0.113.{n}");
        assert_eq!(get(&server, "/healthz", &[&xff]), 200);
    }
    assert_eq!(get(&server, "/healthz", &["X-Forwarded-For: 203.0.113.99"]), 429);
    assert_eq!(get(&server, "/healthz", &["Forwarded: for=198.51.100.7"]), 429);
}

#[test]
fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_budget() {
    let server = Server::start_with_config(Some(
        "trusted_proxies = [\"127.0.0.1\"]\n[limits]\nunauthenticated_per_minute = 2\n",
    ));
    let first = "X-Forwarded-For: 203.0.113.1";
    let second = "X-Forwarded-For: 6.6.6.6, 203.0.113.2";
    for _ in 0..2 {
        assert_eq!(get(&server, "/healthz", &[first]), 200);
    }
    assert_eq!(get(&server, "/healthz", &[first]), 429, "the first client spent its budget");
    for _ in 0..2 {
        assert_eq!(get(&server, "/healthz", &[second]), 200, "the second client has its own");
    }
    assert_eq!(get(&server, "/healthz", &[second]), 429);
    assert_eq!(get(&server, "/healthz", &["Forwarded: for=\"[2001:db8::7]:443\""]), 200);

    // Malformed headers fall back to the peer (127.0.0.1), which has a budget of its own.
    assert_eq!(get(&server, "/healthz", &["X-Forwarded-For: not-an-address"]), 200);
    assert_eq!(get(&server, "/healthz", &["Forwarded: for=unknown"]), 200);
    assert_eq!(get(&server, "/healthz", &["X-Forwarded-For: 203.0.113.9, garbage"]), 429);

    // A refused token is aggregated under the forwarded client; the access log names it too.
    let (status, _) = request(
        &server,
        "GET",
        "/v1/me",
        &["Authorization: Bearer gvl_wrong", "X-Forwarded-For: 198.51.100.23"],
        b"",
    );
    assert_eq!(status, 401);
    let tmp = server.stop();
    let log = std::fs::read_to_string(tmp.path().join("server.log")).unwrap();
    let access: Vec<Value> = log
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|l| l["target"] == "gavel::access")
        .collect();
    let clients: Vec<&str> = access.iter().filter_map(|l| l["fields"]["client"].as_str()).collect();
    for client in ["203.0.113.1", "203.0.113.2", "2001:db8::7", "127.0.0.1", "198.51.100.23"] {
        assert!(clients.contains(&client), "{client} not in {clients:?}");
    }
    assert!(!clients.contains(&"6.6.6.6"), "a hop left of the client is never believed: {clients:?}");
    // Flushed at shutdown: the refused credential is counted under the forwarded address.
    let db = rusqlite::Connection::open(tmp.path().join("data/gavel.db")).unwrap();
    let failures: Vec<String> = db
        .prepare("SELECT CAST(body AS TEXT) FROM events WHERE kind = 'auth.failures'")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert!(failures[0].contains("\"source\":\"198.51.100.23\""), "{}", failures[0]);
}
