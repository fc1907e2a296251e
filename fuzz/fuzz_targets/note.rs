//! C2SP signed notes and checkpoints: parsing never panics; what parses re-serializes to the
//! same bytes; a body signed with the fixed key verifies, and verifies as a checkpoint exactly
//! when it parses as one.
#![no_main]

use ed25519_dalek::SigningKey;
use gavel_ledger::checkpoint::{Checkpoint, NoteSigner, NoteVerifier, SignedNote};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fn keys() -> &'static (NoteSigner, NoteVerifier) {
    static KEYS: OnceLock<(NoteSigner, NoteVerifier)> = OnceLock::new();
    KEYS.get_or_init(|| {
        let signer = NoteSigner::new("fuzz.example/log", SigningKey::from_bytes(&[7; 32])).expect("signer");
        let verifier = NoteVerifier::from_verifier_key(&signer.verifier_key()).expect("verifier key");
        (signer, verifier)
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let (signer, verifier) = keys();

    if let Ok(note) = SignedNote::parse(text) {
        assert_eq!(note.to_text(), text, "a parsed note re-serializes to itself");
    }
    let body = Checkpoint::parse_body(text);
    if let Ok(cp) = &body {
        assert_eq!(cp.body(), text, "a parsed checkpoint re-serializes to itself");
        cp.validate().expect("a parsed checkpoint validates");
    }
    // Verification with the fixed key: whatever it accepts parses and re-serializes.
    if let Ok(cp) = verifier.verify(text) {
        let note = SignedNote::parse(text).expect("a verified note parses");
        assert_eq!(cp.body(), note.body);
    }
    // Any verifier key that parses names itself the same way.
    if let Ok(v) = NoteVerifier::from_verifier_key(text) {
        let again = NoteVerifier::from_verifier_key(&v.verifier_key()).expect("own verifier key");
        assert_eq!((again.name(), again.key_id()), (v.name(), v.key_id()));
    }
    // Signing then verifying: a body the signer takes comes back whole, as a checkpoint exactly
    // when it parses as one; a co-signature by another key appended after it is ignored.
    if let Ok(signed) = signer.sign_note(text) {
        let note = verifier.verify_note(&signed).expect("own signature verifies");
        assert_eq!(note.body, text);
        assert_eq!(note.to_text(), signed);
        assert_eq!(verifier.verify(&signed).ok().as_ref(), body.as_ref().ok());
        let other = NoteSigner::new("witness", SigningKey::from_bytes(&[9; 32])).expect("witness");
        let cosigned = other.cosign(&signed).expect("cosign");
        assert_eq!(verifier.verify_note(&cosigned).expect("still verifies").body, text);
    }
});
