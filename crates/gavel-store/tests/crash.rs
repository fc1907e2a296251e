//! Durability under SIGKILL: a child process appends from several threads and prints every
//! acknowledgement; the parent kills it mid-stream, reopens the store, and finds every
//! acknowledged event present, with the same leaf hash, and the chain valid.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed expectation is the test failing

use gavel_ledger::clock::SystemClock;
use gavel_ledger::event::{Actor, EventDraft};
use gavel_store::{SqliteStore, Store};
use serde_json::json;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

const CHILD_ENV: &str = "GAVEL_CRASH_CHILD_DB";

/// Runs only inside the child process the real test starts.
#[test]
fn crash_child() {
    let Ok(path) = std::env::var(CHILD_ENV) else { return };
    let store = Arc::new(SqliteStore::open(path.as_ref(), Arc::new(SystemClock)).unwrap());
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let store = store.clone();
            std::thread::spawn(move || {
                for i in 0u64.. {
                    let draft =
                        EventDraft::new("test.crash", Actor::agent(&format!("writer-{t}")), json!({"i": i}))
                            .unwrap();
                    let a = store.append(draft).unwrap();
                    let mut out = std::io::stdout().lock();
                    writeln!(out, "ack {} {}", a.seq, hex::encode(a.leaf_hash)).unwrap();
                    out.flush().unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        let _ = t.join();
    }
}

#[test]
fn every_acknowledged_append_survives_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("gavel.db");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "crash_child", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, &db)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut acked = Vec::new();
    let started = Instant::now();
    while acked.len() < 3000 && started.elapsed() < Duration::from_secs(60) {
        let Some(Ok(line)) = lines.next() else { break };
        if let Some(rest) = line.strip_prefix("ack ") {
            acked.push(rest.to_string());
        }
    }
    child.kill().unwrap(); // SIGKILL on Unix: no destructor, no flush, no clean shutdown
    child.wait().unwrap();
    // Acknowledgements already in the pipe were given before the kill: they count too.
    acked.extend(lines.map_while(Result::ok).filter_map(|l| l.strip_prefix("ack ").map(str::to_string)));
    assert!(acked.len() >= 100, "the child acknowledged only {} appends", acked.len());

    let store = SqliteStore::open(&db, Arc::new(SystemClock)).unwrap();
    for ack in &acked {
        let (seq, leaf) = ack.split_once(' ').unwrap();
        let entry =
            store.entry(seq.parse().unwrap()).unwrap().unwrap_or_else(|| panic!("acked seq {seq} lost"));
        assert_eq!(hex::encode(entry.leaf_hash), leaf, "seq {seq} changed");
    }
    let report = store.verify(0, None, vec![]).unwrap();
    assert!(report.valid, "{report:?}");
    assert!(report.total >= acked.len() as u64);
    // The log keeps going after the crash.
    let next = store.append(EventDraft::new("test.after", Actor::system("t"), json!({})).unwrap()).unwrap();
    assert_eq!(next.seq, report.total);
}
