//! Interoperability of signed checkpoints with implementations we did not write:
//!
//! * the `openssl` command line (OpenSSL 3) checks our Ed25519 signatures and reads our key
//!   files, and we verify what it signs with a key it generated;
//! * published vectors of Go's `golang.org/x/mod/sumdb/note` (the reference implementation of
//!   C2SP signed-note), including a real checkpoint signed by `sum.golang.org`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed expectation is the test failing

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use ed25519_dalek::SigningKey;
use gavel_ledger::checkpoint::{Checkpoint, NoteSignature, NoteSigner, NoteVerifier, SignedNote};
use gavel_ledger::keys::{load_or_create_signing_key, public_key_pem};

// ---------------------------------------------------------------------------------------------
// OpenSSL

/// Runs `openssl` with `args`; `None` when it is not installed (the caller skips, loudly).
fn openssl(args: &[&str]) -> Option<Output> {
    match Command::new("openssl").args(args).output() {
        Ok(out) => Some(out),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => panic!("cannot run openssl: {e}"),
    }
}

fn openssl_available() -> bool {
    if openssl(&["version"]).is_some() {
        return true;
    }
    eprintln!("NOTICE: `openssl` is not on PATH; skipping the OpenSSL interoperability test");
    false
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("temporary paths are UTF-8")
}

/// `openssl pkeyutl -verify` of `sig` (raw 64 bytes) over `body` with the SPKI PEM `pubkey`.
fn openssl_verifies(dir: &Path, pubkey_pem: &str, body: &[u8], sig: &[u8]) -> bool {
    let (pub_path, body_path, sig_path) = (dir.join("pub.pem"), dir.join("body"), dir.join("sig"));
    fs::write(&pub_path, pubkey_pem).expect("write public key");
    fs::write(&body_path, body).expect("write body");
    fs::write(&sig_path, sig).expect("write signature");
    let out = openssl(&[
        "pkeyutl",
        "-verify",
        "-pubin",
        "-inkey",
        path_str(&pub_path),
        "-rawin",
        "-in",
        path_str(&body_path),
        "-sigfile",
        path_str(&sig_path),
    ])
    .expect("openssl is available");
    out.status.success()
}

#[test]
fn openssl_verifies_our_checkpoint_signatures_and_reads_our_keys() {
    if !openssl_available() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let key_path = dir.path().join("log.pem");
    let (key, created) = load_or_create_signing_key(&key_path).expect("create key");
    assert!(created);
    let signer = NoteSigner::new("gavel.example/log", key).expect("signer");

    let checkpoint =
        Checkpoint { origin: "gavel.example/log".into(), size: 1234, root: [0x5a; 32], extensions: vec![] };
    let text = signer.sign(&checkpoint);
    let note = SignedNote::parse(&text).expect("our note parses");
    let [sig] = note.signatures.as_slice() else { panic!("one signature expected") };
    assert_eq!(sig.key_id, signer.key_id());
    assert_eq!(sig.signature.len(), 64);

    let pem = public_key_pem(&signer.verifying_key());
    let body = note.body.as_bytes();
    assert!(openssl_verifies(dir.path(), &pem, body, &sig.signature), "openssl rejects our signature");
    let mut tampered = body.to_vec();
    tampered[body.len() - 5] ^= 0x01;
    assert!(
        !openssl_verifies(dir.path(), &pem, &tampered, &sig.signature),
        "openssl accepts a tampered body"
    );

    // Our PKCS#8 private key file, read by OpenSSL, yields our SPKI public key PEM.
    let out = openssl(&["pkey", "-in", path_str(&key_path), "-pubout"]).expect("openssl");
    assert!(out.status.success(), "openssl pkey: {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout), pem);
}

#[test]
fn we_verify_what_openssl_signs_with_a_key_it_generated() {
    if !openssl_available() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let key_path = dir.path().join("openssl.pem");
    let out = openssl(&["genpkey", "-algorithm", "ed25519", "-out", path_str(&key_path)]).expect("openssl");
    assert!(out.status.success(), "openssl genpkey failed");
    fs::set_permissions(&key_path, fs::Permissions::from_mode(0o600)).expect("chmod");

    // Our loader reads OpenSSL's key file; the public keys agree.
    let (key, created) = load_or_create_signing_key(&key_path).expect("load OpenSSL's key");
    assert!(!created);
    let out = openssl(&["pkey", "-in", path_str(&key_path), "-pubout"]).expect("openssl");
    assert_eq!(String::from_utf8_lossy(&out.stdout), public_key_pem(&key.verifying_key()));

    // OpenSSL signs a checkpoint body; we assemble the note line and verify it.
    let checkpoint = Checkpoint {
        origin: "openssl.example/log".into(),
        size: 7,
        root: [0x11; 32],
        extensions: vec!["an extension".into()],
    };
    let body_path = dir.path().join("body");
    let sig_path = dir.path().join("sig");
    fs::write(&body_path, checkpoint.body()).expect("write body");
    let out = openssl(&[
        "pkeyutl",
        "-sign",
        "-inkey",
        path_str(&key_path),
        "-rawin",
        "-in",
        path_str(&body_path),
        "-out",
        path_str(&sig_path),
    ])
    .expect("openssl");
    assert!(out.status.success(), "openssl pkeyutl -sign failed");
    let signature = fs::read(&sig_path).expect("read signature");

    let verifier = NoteVerifier::new("openssl.example/log", key.verifying_key()).expect("verifier");
    let note = SignedNote {
        body: checkpoint.body(),
        signatures: vec![NoteSignature {
            name: verifier.name().into(),
            key_id: verifier.key_id(),
            signature,
        }],
    };
    assert_eq!(verifier.verify(&note.to_text()).expect("verifies"), checkpoint);
    // Ed25519 is deterministic: OpenSSL and we produce the very same note.
    let ours = NoteSigner::new("openssl.example/log", key).expect("signer");
    assert_eq!(ours.sign(&checkpoint), note.to_text());
}

// ---------------------------------------------------------------------------------------------
// Go's golang.org/x/mod/sumdb/note

// Source: golang.org/x/mod, sumdb/note/note_test.go (TestNewVerifier, TestSign, TestOpen) and
// sumdb/note/example_test.go (ExampleSign, ExampleOpen, ExampleSign_add_signatures), BSD license.
const PETER_VKEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
const PETER_SKEY: &str = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
const ENOCH_VKEY: &str = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop";
const TEXT: &str = "If you think cryptography is the answer to your problem,\n\
                    then you don't know what your problem is.\n";
const PETER_SIG: &str = "\u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";
const ENOCH_SIG: &str = "\u{2014} EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n";

// Source: github.com/transparency-dev/formats, log/note_test.go (TestSumDBNoteParsing), Apache
// 2.0: a checkpoint of the Go checksum database signed by sum.golang.org, whose verifier key is
// the one built into the go command (cmd/go/internal/modfetch/key.go).
const SUMDB_VKEY: &str = "sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8";
const SUMDB_CHECKPOINT: &str = "go.sum database tree\n\
                                6476701\n\
                                mb8QLQIs0Z0yP5Cstq6guj87oXWeC9gEM8oVikmm9Wk=\n\
                                \n\
                                \u{2014} sum.golang.org Az3grsLX85Gz+s1SiTbgkuqxgItqFq7gsMUEyVnrsa9LM7Us9S+1xbFIGu95949rj4nPRYfvimWEPWL+o3GeoWwOoAw=\n";

/// Every way of changing one byte of `text` to another printable ASCII byte is rejected.
fn assert_one_byte_changes_rejected(verifier: &NoteVerifier, text: &str) {
    let bytes = text.as_bytes();
    let mut tried = 0;
    for i in 0..bytes.len() {
        if !bytes[i].is_ascii_graphic() {
            continue; // newlines, spaces and the em dash's bytes: structure, tested elsewhere
        }
        let mut changed = bytes.to_vec();
        changed[i] = if bytes[i] == b'~' { b'!' } else { bytes[i] + 1 };
        let changed = String::from_utf8(changed).expect("still UTF-8");
        assert!(verifier.verify_note(&changed).is_err(), "accepted with byte {i} changed:\n{changed}");
        tried += 1;
    }
    assert!(tried > 100);
}

#[test]
fn go_verifier_keys_parse() {
    for vkey in [PETER_VKEY, ENOCH_VKEY, SUMDB_VKEY] {
        let v = NoteVerifier::from_verifier_key(vkey).expect(vkey);
        assert_eq!(v.verifier_key(), vkey, "round trip");
    }
    let peter = NoteVerifier::from_verifier_key(PETER_VKEY).expect("peter");
    assert_eq!((peter.name(), peter.key_id()), ("PeterNeumann", [0xc7, 0x4f, 0x20, 0xa3]));

    // Go's TestNewVerifier: a wrong-length key and an unknown algorithm, each with its key
    // hash adjusted, are refused.
    for bad in [
        "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==",
        "PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
    ] {
        assert!(NoteVerifier::from_verifier_key(bad).is_err(), "{bad}");
    }
}

#[test]
fn go_signed_note_verifies_and_one_byte_change_is_rejected() {
    let peter = NoteVerifier::from_verifier_key(PETER_VKEY).expect("peter");
    let enoch = NoteVerifier::from_verifier_key(ENOCH_VKEY).expect("enoch");

    let single = format!("{TEXT}\n{PETER_SIG}");
    let note = peter.verify_note(&single).expect("Go's note verifies");
    assert_eq!(note.body, TEXT);
    assert_eq!(note.to_text(), single, "we re-encode it byte for byte");
    assert!(enoch.verify_note(&single).is_err(), "Enoch did not sign it");
    assert_one_byte_changes_rejected(&peter, &single);

    // Doubly signed: each key verifies, the other line is ignored.
    let double = format!("{TEXT}\n{PETER_SIG}{ENOCH_SIG}");
    assert_eq!(peter.verify_note(&double).expect("peter").body, TEXT);
    assert_eq!(enoch.verify_note(&double).expect("enoch").body, TEXT);

    // Go's TestOpen: a corrupted signature of a known key fails the note...
    let corrupt = format!("{TEXT}\n{}ABCD{}", &PETER_SIG[..60], &PETER_SIG[60..]);
    assert!(peter.verify_note(&corrupt).is_err());
    // ...and these messages are malformed.
    for bad in [
        TEXT.to_string(),
        format!("{TEXT}\n"),
        format!("{TEXT}\n{}", &PETER_SIG[..PETER_SIG.len() - 1]),
        format!("\u{1}{TEXT}\n{PETER_SIG}"),
        format!("{TEXT}\n\u{2014} Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM="),
        format!("{TEXT}\n{PETER_SIG}Unexpected line.\n"),
    ] {
        assert!(SignedNote::parse(&bad).is_err(), "{bad:?}");
        assert!(peter.verify_note(&bad).is_err(), "{bad:?}");
    }
}

/// Seed of a Go signer key `PRIVATE+KEY+<name>+<id>+<base64(0x01 || seed)>`.
fn go_signer_seed(skey: &str) -> [u8; 32] {
    let b64 = skey.splitn(5, '+').nth(4).expect("five fields");
    let typed = B64.decode(b64).expect("base64");
    assert_eq!(typed[0], 0x01, "Ed25519");
    typed[1..].try_into().expect("32-byte seed")
}

#[test]
fn we_sign_exactly_what_go_signs() {
    // Same key, same text: Ed25519 being deterministic, the note must be Go's, byte for byte.
    let peter =
        NoteSigner::new("PeterNeumann", SigningKey::from_bytes(&go_signer_seed(PETER_SKEY))).expect("signer");
    assert_eq!(peter.verifier_key(), PETER_VKEY);
    let single = peter.sign_note(TEXT).expect("sign");
    assert_eq!(single, format!("{TEXT}\n{PETER_SIG}"));

    // ExampleSign_add_signatures generates EnochRoot's key from a reader of zero bytes, so its
    // seed is 32 zero bytes; co-signing Peter's note gives Go's doubly signed note.
    let enoch = NoteSigner::new("EnochRoot", SigningKey::from_bytes(&[0; 32])).expect("signer");
    assert_eq!(enoch.verifier_key(), ENOCH_VKEY);
    assert_eq!(enoch.cosign(&single).expect("cosign"), format!("{TEXT}\n{PETER_SIG}{ENOCH_SIG}"));
}

#[test]
fn sum_golang_org_checkpoint_verifies_and_one_byte_change_is_rejected() {
    let sumdb = NoteVerifier::from_verifier_key(SUMDB_VKEY).expect("sum.golang.org key");
    let checkpoint = sumdb.verify(SUMDB_CHECKPOINT).expect("real checkpoint verifies");
    assert_eq!(checkpoint.origin, "go.sum database tree");
    assert_eq!(checkpoint.size, 6476701);
    assert_eq!(B64.encode(checkpoint.root), "mb8QLQIs0Z0yP5Cstq6guj87oXWeC9gEM8oVikmm9Wk=");
    assert!(checkpoint.extensions.is_empty());
    assert_eq!(
        SignedNote::parse(SUMDB_CHECKPOINT).expect("parses").body,
        checkpoint.body(),
        "our body encoding is the one sum.golang.org signed"
    );
    assert_one_byte_changes_rejected(&sumdb, SUMDB_CHECKPOINT);

    // Another key's verifier finds no signature of its own.
    let peter = NoteVerifier::from_verifier_key(PETER_VKEY).expect("peter");
    assert!(peter.verify(SUMDB_CHECKPOINT).is_err());
}
