//! End-to-end tests of the `gavel` binary: what an operator types, including the bad paths.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed expectation is the test failing

use gavel_ledger::checkpoint::NoteVerifier;
use gavel_ledger::hash::from_hex;
use gavel_ledger::merkle::verify_inclusion;
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};

/// Runs `gavel args...` on the data directory `dir` (given as GAVEL_DATA_DIR, which every local
/// command reads and the others ignore).
fn gavel(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gavel"))
        .args(args)
        .env("GAVEL_DATA_DIR", dir)
        .output()
        .expect("run gavel")
}

fn json(out: &Output) -> Value {
    assert!(out.status.success(), "gavel failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("JSON output")
}

/// Tampers with the database behind gavel's back, then closes it: gavel opens a database only
/// when no other process has it open.
fn tamper(dir: &Path, sql: &str) {
    let db = rusqlite::Connection::open(dir.join("gavel.db")).unwrap();
    db.execute_batch(sql).unwrap();
}

fn record(dir: &Path, i: u32) -> Value {
    let data = format!(r#"{{"review": {i}, "reviewer": "alice"}}"#);
    json(&gavel(dir, &["audit", "record", "--kind", "external.access_review", "--data", &data, "--json"]))
}

#[test]
fn init_record_checkpoint_proof_and_verify() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let init = json(&gavel(&dir, &["init", "--org", "acme", "--json"]));
    assert_eq!(init["origin"], "gavel.local/acme");
    assert_eq!(init["key_created"], true);
    assert!(init["admin_token"].as_str().unwrap().starts_with("gvl_"));
    // The bootstrap admin is the first event.
    let base = init["tree_size"].as_u64().unwrap();
    assert_eq!(base, 1);
    // Idempotent; the origin never changes.
    let again = json(&gavel(&dir, &["init", "--json"]));
    assert_eq!(again["key_created"], false);
    assert_eq!(again["admin_token"], Value::Null, "the admin token is shown once, ever");
    let other = gavel(&dir, &["init", "--org", "other"]);
    assert_eq!(other.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&other.stderr).contains("origin never changes"));

    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(dir.join("keys/log.key")).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);

    for i in 0..5 {
        assert_eq!(record(&dir, i)["seq"], base + u64::from(i));
    }
    let keys = json(&gavel(&dir, &["keys", "show", "--json"]));
    let vkey = keys["log"]["verifier_key"].as_str().unwrap().to_string();
    assert!(vkey.starts_with("gavel.local/acme+"));
    assert!(keys["log"]["public_key_pem"].as_str().unwrap().starts_with("-----BEGIN PUBLIC KEY-----"));

    let ckpt = json(&gavel(&dir, &["audit", "checkpoint", "--json"]));
    assert_eq!(ckpt["tree_size"], base + 5);
    let verifier = NoteVerifier::from_verifier_key(&vkey).unwrap();
    let checkpoint = verifier.verify(ckpt["note"].as_str().unwrap()).unwrap();
    assert_eq!(checkpoint.size, base + 5);
    // Human form prints the signed note itself.
    let text = gavel(&dir, &["audit", "checkpoint"]);
    assert_eq!(String::from_utf8_lossy(&text.stdout), ckpt["note"].as_str().unwrap());

    let proof = json(&gavel(&dir, &["audit", "proof", "--seq", "3", "--json"]));
    let hashes: Vec<_> =
        proof["hashes"].as_array().unwrap().iter().map(|h| from_hex(h.as_str().unwrap()).unwrap()).collect();
    let leaf = from_hex(proof["leaf_hash"].as_str().unwrap()).unwrap();
    verify_inclusion(&leaf, 3, base + 5, &hashes, &checkpoint.root).unwrap();
    // One name per thing: the tree size is `tree_size` in the checkpoint, the proof and the flag.
    let size = (base + 5).to_string();
    let pinned = json(&gavel(&dir, &["audit", "proof", "--seq", "3", "--tree-size", &size, "--json"]));
    assert_eq!((&pinned["tree_size"], &pinned["hashes"]), (&ckpt["tree_size"], &proof["hashes"]));

    let consistency = json(&gavel(&dir, &["audit", "consistency", "--old", "2", "--json"]));
    assert_eq!(consistency["new_size"], base + 5);

    let verify = json(&gavel(&dir, &["audit", "verify", "--json"]));
    assert_eq!(verify["verified"], base + 5);
    assert_eq!(verify["total"], base + 5);
    assert_eq!(verify["valid"], true);
    assert_eq!(verify["first_break"], Value::Null);
    let part = json(&gavel(&dir, &["audit", "verify", "--from-seq", "1", "--to-seq", "3", "--json"]));
    assert_eq!((part["total"].as_u64(), part["valid"].as_bool()), (Some(3), Some(true)));
}

#[test]
fn bad_input_is_refused_and_changes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    // Commands other than init never create a data directory.
    let out = gavel(&dir, &["audit", "verify"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("gavel init"));
    assert!(!dir.exists());

    json(&gavel(&dir, &["init", "--json"]));
    for (args, needle) in [
        (vec!["audit", "record", "--kind", "decision", "--data", "{}"], "external"),
        (vec!["audit", "record", "--kind", "external.", "--data", "{}"], "refused"),
        (vec!["audit", "record", "--kind", "external.Bad", "--data", "{}"], "refused"),
        (vec!["audit", "record", "--kind", "external.x", "--data", "{not json"], "not valid JSON"),
        (vec!["audit", "record", "--kind", "external.x", "--data", "[1]"], "JSON object"),
        (vec!["audit", "record", "--kind", "external.x", "--data", r#"{"n": 18446744073709551615}"#], "2^53"),
        (vec!["audit", "proof", "--seq", "5"], "holds 1 events"),
        (vec!["audit", "verify", "--from-seq", "5", "--to-seq", "1"], "before"),
        // A range past the end of a short log says how long the log is, whichever end is out.
        (
            vec!["audit", "verify", "--from-seq", "10", "--to-seq", "20"],
            "--from-seq 10 is past the end of the log: it holds 1 event(s), the last is seq 0",
        ),
        (
            vec!["audit", "verify", "--from-seq", "0", "--to-seq", "3"],
            "--to-seq 3 is past the end of the log: it holds 1 event(s), the last is seq 0",
        ),
        (vec!["audit", "verify", "--from-seq", "1"], "--from-seq 1 is past the end of the log"),
        (vec!["audit", "verify", "--from-seq", "0", "--to-seq", "1"], "--to-seq 1 is past the end"),
    ] {
        let out = gavel(&dir, &args);
        assert_eq!(out.status.code(), Some(3), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(needle), "{args:?}: {err}");
    }
    let verify = json(&gavel(&dir, &["audit", "verify", "--json"]));
    assert_eq!(verify["total"], 1, "only the bootstrap admin was recorded");
    assert_eq!(verify["valid"], true);
}

#[test]
fn tampering_and_truncation_make_verify_fail_with_exit_1() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    json(&gavel(&dir, &["init", "--json"]));
    for i in 0..8 {
        record(&dir, i);
    }
    json(&gavel(&dir, &["audit", "checkpoint", "--json"]));
    // Truncate the tail below the signed checkpoint of size 9 (bootstrap admin + 8 records).
    tamper(&dir, "DELETE FROM events WHERE seq >= 6; DELETE FROM merkle_nodes;");
    let out = gavel(&dir, &["audit", "verify", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((report["valid"].as_bool(), report["first_break"].as_u64()), (Some(false), Some(6)));

    // Edit one byte of event 2.
    tamper(
        &dir,
        "UPDATE events SET body = CAST(replace(CAST(body AS TEXT), 'alice', 'alicf') AS BLOB) WHERE seq = 2",
    );
    let out = gavel(&dir, &["audit", "verify"]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("first break at seq 2"), "{text}");
}

#[test]
fn a_forged_checkpoint_row_makes_verify_fail() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    json(&gavel(&dir, &["init", "--json"]));
    record(&dir, 0);
    json(&gavel(&dir, &["audit", "checkpoint", "--json"]));
    tamper(
        &dir,
        "UPDATE checkpoints SET note = replace(note, char(10) || '2' || char(10), char(10) || '3' || char(10))",
    );
    let out = gavel(&dir, &["audit", "verify", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(report["reason"].as_str().unwrap().contains("signature"), "{report}");
}

#[test]
fn serve_signs_checkpoints_and_stops_cleanly_on_sigterm() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let mut child = Command::new(env!("CARGO_BIN_EXE_gavel"))
        .args(["serve", "--checkpoint-interval", "1", "--addr", "127.0.0.1:0", "--data-dir"])
        .arg(&dir)
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Wait for the first start to create the data directory. While serving, the database is the
    // server's alone: a local append is refused, saying why.
    let start = std::time::Instant::now();
    while !dir.join("gavel.db").exists() && start.elapsed().as_secs() < 30 {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    let out = gavel(&dir, &["audit", "record", "--kind", "external.x", "--data", "{}", "--json"]);
    let refused =
        (out.status.code(), String::from_utf8_lossy(&out.stderr).contains("in use by another process"));
    if refused != (Some(3), true) {
        let _ = child.kill(); // never leave a server behind a failed assertion
        panic!("a local append beside the server must be refused with exit 3: {out:?}");
    }
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let kill = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(kill.success());
    assert!(child.wait().unwrap().success());
    record(&dir, 1);
    let verify = json(&gavel(&dir, &["audit", "verify", "--json"]));
    assert_eq!(verify["valid"], true);
    assert!(verify["checkpoints_checked"].as_u64().unwrap() >= 1, "{verify}");
}

/// `audit verify --checkpoint FILE`: a checkpoint kept outside the data directory catches what the
/// database alone cannot (its events and checkpoints rewritten together), and one from another log
/// is refused.
#[test]
fn verify_against_a_checkpoint_held_elsewhere() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    json(&gavel(&dir, &["init", "--org", "acme", "--json"]));
    for i in 0..20 {
        record(&dir, i);
    }
    let checkpoint = gavel(&dir, &["audit", "checkpoint"]);
    assert!(checkpoint.status.success());
    let held = tmp.path().join("held.note");
    std::fs::write(&held, &checkpoint.stdout).unwrap();
    let held = held.to_str().unwrap();
    let ok = gavel(&dir, &["audit", "verify", "--checkpoint", held]);
    let text = String::from_utf8_lossy(&ok.stdout);
    assert!(ok.status.success() && text.contains("extends the 1 checkpoint"), "{text}");

    record(&dir, 99);
    let tail = json(&gavel(&dir, &["audit", "verify", "--json"]));
    assert!(tail["warnings"][0].as_str().unwrap().contains("21..22"), "{tail}");

    // Rewrite history in the database: drop the tail and every checkpoint that covered it.
    let db = rusqlite::Connection::open(dir.join("gavel.db")).unwrap();
    db.execute_batch(
        "DELETE FROM events WHERE seq >= 10; DELETE FROM merkle_nodes; DELETE FROM checkpoints;",
    )
    .unwrap();
    drop(db); // gavel holds the database alone
    let alone = gavel(&dir, &["audit", "verify"]);
    assert!(alone.status.success(), "the database alone cannot tell");
    assert!(String::from_utf8_lossy(&alone.stdout).contains("warning: no signed checkpoint"));
    let caught = gavel(&dir, &["audit", "verify", "--checkpoint", held]);
    assert_eq!(caught.status.code(), Some(1), "{}", String::from_utf8_lossy(&caught.stderr));
    assert!(String::from_utf8_lossy(&caught.stdout).contains("truncated"));

    let other = tmp.path().join("other");
    json(&gavel(&other, &["init", "--org", "acme", "--json"]));
    let foreign = tmp.path().join("foreign.note");
    std::fs::write(&foreign, gavel(&other, &["audit", "checkpoint"]).stdout).unwrap();
    let refused = gavel(&dir, &["audit", "verify", "--checkpoint", foreign.to_str().unwrap()]);
    assert_eq!(refused.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("not a checkpoint signed by this log"));
    let missing = gavel(&dir, &["audit", "verify", "--checkpoint", "/nonexistent.note"]);
    assert_eq!(missing.status.code(), Some(3));
}

/// An unreadable config file is reported once, with the OS error once.
#[test]
fn a_missing_config_file_is_reported_once() {
    let tmp = tempfile::tempdir().unwrap();
    let out = gavel(&tmp.path().join("data"), &["serve", "--config", "/nonexistent/gavel.toml"]);
    assert_eq!(out.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("cannot read /nonexistent/gavel.toml"), "{stderr}");
    assert_eq!(stderr.matches("No such file or directory").count(), 1, "{stderr}");
}

/// `gavel keys show --json | head -c 10`: a closed pipe ends the command quietly (SIGPIPE, as
/// `cat` does), never a panic with exit 101 and a backtrace.
#[test]
fn writing_into_a_closed_pipe_ends_quietly() {
    use std::os::unix::process::ExitStatusExt;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    json(&gavel(&dir, &["init", "--json"]));
    let (read_end, write_end) = std::io::pipe().unwrap();
    drop(read_end); // the reader is gone before gavel writes a byte
    let out = Command::new(env!("CARGO_BIN_EXE_gavel"))
        .args(["keys", "show", "--json", "--data-dir"])
        .arg(&dir)
        .stdout(std::process::Stdio::from(write_end))
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(out.status.signal(), Some(libc::SIGPIPE), "{:?} {stderr}", out.status);
}

/// The documented exit statuses: 2 for a wrong command line (nothing ran), 3 for a failure,
/// 4 without a token, 5 when the server cannot be reached (for decide: no decision, denied).
#[test]
fn exit_statuses_say_what_went_wrong() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    assert_eq!(gavel(&dir, &["audit", "verify", "--no-such-flag"]).status.code(), Some(2));
    assert_eq!(gavel(&dir, &["audit", "verify"]).status.code(), Some(3), "no data directory");
    let no_token = gavel(&dir, &["users", "list"]);
    assert_eq!(no_token.status.code(), Some(4), "{}", String::from_utf8_lossy(&no_token.stderr));
    // A port nobody listens on: bind one, then free it.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let server = format!("http://127.0.0.1:{port}");
    let out = Command::new(env!("CARGO_BIN_EXE_gavel"))
        .args(["decide", "--tool", "t", "--server", &server, "--token", "gvl_x"])
        .env_remove("GAVEL_TOKEN")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(5), "{}", String::from_utf8_lossy(&out.stderr));
    let help = String::from_utf8_lossy(&gavel(&dir, &["--help"]).stdout).to_string();
    assert!(
        help.contains("Exit status: 0 done; 1 verification") && help.contains("treat the call as denied"),
        "{help}"
    );
}

/// Shell completions and man pages come from the same definitions as the CLI; bash itself checks
/// the completion script's syntax.
#[test]
fn completions_and_man_pages() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let bash = gavel(&dir, &["completions", "bash"]);
    assert!(bash.status.success());
    let script = tmp.path().join("gavel.bash");
    std::fs::write(&script, &bash.stdout).unwrap();
    let text = String::from_utf8_lossy(&bash.stdout);
    assert!(text.contains("gavel") && text.contains("verify") && text.contains("--checkpoint"), "{text}");
    let syntax = Command::new("bash").arg("-n").arg(&script).output().unwrap();
    assert!(syntax.status.success(), "{}", String::from_utf8_lossy(&syntax.stderr));
    for shell in ["zsh", "fish"] {
        assert!(!gavel(&dir, &["completions", shell]).stdout.is_empty(), "{shell}");
    }
    assert_eq!(gavel(&dir, &["completions", "tcsh"]).status.code(), Some(2));

    let man = tmp.path().join("man");
    let out = gavel(&dir, &["manpages", "--out", man.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    for page in ["gavel.1", "gavel-audit-verify.1", "gavel-findings-resolve.1"] {
        let roff = std::fs::read_to_string(man.join(page)).unwrap_or_else(|e| panic!("{page}: {e}"));
        assert!(roff.contains(".TH"), "{page} is not a man page");
    }
    assert!(!dir.exists(), "neither command touches the data directory");
}
