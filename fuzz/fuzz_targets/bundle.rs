//! The offline bundle verifier on hostile bundles: a small valid bundle (`fuzz/seeds/bundle`,
//! exported by `gavel evidence export` from `gavel demo` data) with one file replaced by the fuzz
//! input. `verify_bundle` must never panic and never hang; the unchanged bundle verifies.
//!
//! Input: byte 0 picks the file, byte 1 holds flags (bit 0: re-seal SHA256SUMS, its signature
//! and signing-key.pem with a fuzz key, as a forger would, so the later checks see consistent
//! sums; bit 1: pass the pristine bundle as `--previous`), the rest is the file's new content.
#![no_main]

use ed25519_dalek::{Signer as _, SigningKey};
use gavel_evidence::{verify_bundle, VerifyOptions};
use gavel_ledger::keys::public_key_pem;
use libfuzzer_sys::fuzz_target;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

const FILES: &[(&str, &[u8])] = &[
    ("README.txt", include_bytes!("../seeds/bundle/README.txt")),
    ("SHA256SUMS", include_bytes!("../seeds/bundle/SHA256SUMS")),
    ("SHA256SUMS.sig", include_bytes!("../seeds/bundle/SHA256SUMS.sig")),
    ("controls/CC6.1.csv", include_bytes!("../seeds/bundle/controls/CC6.1.csv")),
    ("controls/CC6.1.json", include_bytes!("../seeds/bundle/controls/CC6.1.json")),
    ("controls/CC6.2.csv", include_bytes!("../seeds/bundle/controls/CC6.2.csv")),
    ("controls/CC6.2.json", include_bytes!("../seeds/bundle/controls/CC6.2.json")),
    ("controls/CC6.3.csv", include_bytes!("../seeds/bundle/controls/CC6.3.csv")),
    ("controls/CC6.3.json", include_bytes!("../seeds/bundle/controls/CC6.3.json")),
    ("controls/CC6.6.csv", include_bytes!("../seeds/bundle/controls/CC6.6.csv")),
    ("controls/CC6.6.json", include_bytes!("../seeds/bundle/controls/CC6.6.json")),
    ("controls/CC6.7.csv", include_bytes!("../seeds/bundle/controls/CC6.7.csv")),
    ("controls/CC6.7.json", include_bytes!("../seeds/bundle/controls/CC6.7.json")),
    ("controls/CC7.2.csv", include_bytes!("../seeds/bundle/controls/CC7.2.csv")),
    ("controls/CC7.2.json", include_bytes!("../seeds/bundle/controls/CC7.2.json")),
    ("controls/CC7.3.csv", include_bytes!("../seeds/bundle/controls/CC7.3.csv")),
    ("controls/CC7.3.json", include_bytes!("../seeds/bundle/controls/CC7.3.json")),
    ("controls/CC7.4.csv", include_bytes!("../seeds/bundle/controls/CC7.4.csv")),
    ("controls/CC7.4.json", include_bytes!("../seeds/bundle/controls/CC7.4.json")),
    ("controls/CC8.1.csv", include_bytes!("../seeds/bundle/controls/CC8.1.csv")),
    ("controls/CC8.1.json", include_bytes!("../seeds/bundle/controls/CC8.1.json")),
    ("events.jsonl", include_bytes!("../seeds/bundle/events.jsonl")),
    ("integrity.json", include_bytes!("../seeds/bundle/integrity.json")),
    ("manifest.json", include_bytes!("../seeds/bundle/manifest.json")),
    ("oscal/assessment-results.json", include_bytes!("../seeds/bundle/oscal/assessment-results.json")),
    ("report.pdf", include_bytes!("../seeds/bundle/report.pdf")),
    ("signing-key.pem", include_bytes!("../seeds/bundle/signing-key.pem")),
    ("summary.json", include_bytes!("../seeds/bundle/summary.json")),
];

const SUMS: &str = "SHA256SUMS";
const SIG: &str = "SHA256SUMS.sig";
const PEM: &str = "signing-key.pem";

struct Dirs {
    _tmp: tempfile::TempDir,
    /// Mutated in place, restored after each input.
    work: PathBuf,
    /// Never written after setup: the `previous` bundle.
    pristine: PathBuf,
}

fn write_all(dir: &Path) {
    for (name, bytes) in FILES {
        let path = dir.join(name);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, bytes).expect("write");
    }
}

fn dirs() -> &'static Dirs {
    static DIRS: OnceLock<Dirs> = OnceLock::new();
    DIRS.get_or_init(|| {
        // A RAM disk when there is one: every input rewrites a few files.
        let tmp = if Path::new("/dev/shm").is_dir() {
            tempfile::tempdir_in("/dev/shm")
        } else {
            tempfile::tempdir()
        }
        .expect("tempdir");
        let (work, pristine) = (tmp.path().join("work"), tmp.path().join("pristine"));
        write_all(&work);
        write_all(&pristine);
        let report = verify_bundle(&work, &VerifyOptions::default());
        assert!(report.valid, "the seed bundle verifies: {report:#?}");
        Dirs { _tmp: tmp, work, pristine }
    })
}

/// SHA256SUMS over the bundle with `name` holding `content` and the forger's key, signed by it.
fn reseal(name: &str, content: &[u8]) -> Vec<(&'static str, Vec<u8>)> {
    let key = SigningKey::from_bytes(&[3; 32]);
    let pem = public_key_pem(&key.verifying_key()).into_bytes();
    let mut sums = String::new();
    for (file, original) in FILES {
        if *file == SUMS || *file == SIG {
            continue;
        }
        let bytes: &[u8] = if *file == name {
            content
        } else if *file == PEM {
            &pem
        } else {
            original
        };
        sums.push_str(&format!("{:x}  {file}\n", Sha256::digest(bytes)));
    }
    let sig = key.sign(sums.as_bytes()).to_bytes().to_vec();
    vec![(PEM, pem), (SUMS, sums.into_bytes()), (SIG, sig)]
}

fuzz_target!(|data: &[u8]| {
    let [pick, flags, content @ ..] = data else { return };
    let d = dirs();
    let (name, original) = FILES[*pick as usize % FILES.len()];
    let mut writes = vec![(name, content.to_vec())];
    if flags & 1 == 1 && ![SUMS, SIG, PEM].contains(&name) {
        writes.extend(reseal(name, content));
    }
    for (file, bytes) in &writes {
        std::fs::write(d.work.join(file), bytes).expect("write");
    }
    let opts =
        VerifyOptions { previous: (flags & 2 == 2).then(|| d.pristine.clone()), ..VerifyOptions::default() };
    let report = verify_bundle(&d.work, &opts);
    if content == original {
        assert!(report.valid, "an unchanged bundle verifies: {report:#?}");
    }
    for (file, _) in &writes {
        let restore = FILES.iter().find(|(f, _)| f == file).map(|(_, b)| *b).expect("known file");
        std::fs::write(d.work.join(file), restore).expect("restore");
    }
});
