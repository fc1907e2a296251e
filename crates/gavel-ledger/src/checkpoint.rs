//! Signed checkpoints: the C2SP `tlog-checkpoint` body inside a C2SP `signed-note`, signed with
//! Ed25519 (signature type `0x01`).
//!
//! A signed checkpoint looks like this (every line ends with `\n`):
//!
//! ```text
//! <origin>
//! <tree size, decimal>
//! <base64 of the 32-byte root hash>
//! [extension lines]
//!
//! — <key name> <base64(key ID (4 bytes) || Ed25519 signature (64 bytes))>
//! [more signature lines]
//! ```
//!
//! Invariants, all checked when parsing and relied upon when signing:
//!
//! * The signature covers the note body (the *text*): every byte up to and including the newline
//!   that ends the last body line. The blank line and the signature lines are not signed, which is
//!   what lets witnesses append co-signatures.
//! * The text is separated from the signatures by the **last** blank line of the note; a note is
//!   valid UTF-8 with no control character but `\n` (so no `\r`), and has at least one signature
//!   line (100 at most, like Go's `golang.org/x/mod/sumdb/note`).
//! * Key names are non-empty, with no whitespace, no `+` and no control character.
//! * `key ID = SHA-256(key name || 0x0A || 0x01 || 32-byte public key)[0..4]`, and a verifier key
//!   is spelled `<name>+<8 hex digits of the key ID>+<base64(0x01 || public key)>`.
//! * Verification ignores lines of unknown signers, fails if a line from the expected key (same
//!   name *and* key ID) does not verify, and fails unless at least one such line verifies.
//! * A checkpoint body has at least three non-empty lines: a non-empty origin, the tree size as
//!   a `u64` without leading zeros (`0` for the empty tree), the root as padded standard base64
//!   of exactly 32 bytes; any further lines are non-empty extension lines. Base64 is decoded
//!   strictly (canonical padding and trailing bits), so a parsed body re-encodes to itself.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

use crate::hash::Hash;
use crate::LedgerError;

/// Signature type byte of Ed25519 in the signed-note key ID and verifier key.
const ALG_ED25519: u8 = 0x01;

/// Prefix of every signature line: U+2014 EM DASH, then a space.
const SIG_PREFIX: &str = "\u{2014} ";

/// Most signature lines a note may carry. The spec asks for at least 16; Go's implementation
/// stops at 100, and so do we, to bound the work an adversarial note can cause.
pub const MAX_SIGNATURES: usize = 100;

fn malformed(msg: impl Into<String>) -> LedgerError {
    LedgerError::InvalidCheckpoint(msg.into())
}

/// The tree head a log commits to: its origin, its size and the RFC 6962 root at that size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// Unique identifier of the log, e.g. `example.com/log42`.
    pub origin: String,
    /// Number of leaves in the tree.
    pub size: u64,
    /// RFC 6962 Merkle root of the first `size` leaves.
    pub root: Hash,
    /// Opaque extension lines, each without its newline (usually none).
    pub extensions: Vec<String>,
}

impl Checkpoint {
    /// The note text of this checkpoint, i.e. the exact bytes a signature covers.
    ///
    /// The fields are written as they are; [`Checkpoint::validate`] tells whether they make a
    /// well-formed body (no newline in the origin, no empty or multi-line extension...).
    pub fn body(&self) -> String {
        let mut body = format!("{}\n{}\n{}\n", self.origin, self.size, B64.encode(self.root));
        for line in &self.extensions {
            body.push_str(line);
            body.push('\n');
        }
        body
    }

    /// Parses a checkpoint body (the text of a signed note, final newline included).
    pub fn parse_body(body: &str) -> Result<Self, LedgerError> {
        check_characters(body)?;
        let content = body
            .strip_suffix('\n')
            .ok_or_else(|| malformed("checkpoint body does not end with a newline"))?;
        let mut lines = content.split('\n');
        // `split` always yields at least one item, possibly empty.
        let origin = lines.next().unwrap_or_default();
        if origin.is_empty() {
            return Err(malformed("checkpoint origin line is empty"));
        }
        let size_line = lines.next().ok_or_else(|| malformed("checkpoint has no tree size line"))?;
        let root_line = lines.next().ok_or_else(|| malformed("checkpoint has no root hash line"))?;
        let size = parse_size(size_line)?;
        let root = parse_root(root_line)?;
        let mut extensions = Vec::new();
        for line in lines {
            if line.is_empty() {
                return Err(malformed("checkpoint has an empty extension line"));
            }
            extensions.push(line.to_string());
        }
        Ok(Checkpoint { origin: origin.to_string(), size, root, extensions })
    }

    /// Checks that [`Checkpoint::body`] is well formed and parses back to `self`. Signing does
    /// not check (it cannot fail), so callers building a checkpoint from configuration or other
    /// input call this first; a bad origin otherwise only shows when the signed note is verified.
    pub fn validate(&self) -> Result<(), LedgerError> {
        if Checkpoint::parse_body(&self.body())? != *self {
            return Err(malformed("checkpoint origin or an extension line contains a newline"));
        }
        Ok(())
    }
}

/// Tree size: ASCII decimal, no sign, no leading zeros except `0` itself, fits in a `u64`.
fn parse_size(line: &str) -> Result<u64, LedgerError> {
    let canonical = !line.is_empty()
        && line.bytes().all(|b| b.is_ascii_digit())
        && (line == "0" || !line.starts_with('0'));
    if !canonical {
        return Err(malformed(format!(
            "checkpoint tree size {line:?} is not a decimal number without leading zeros"
        )));
    }
    line.parse().map_err(|_| malformed(format!("checkpoint tree size {line} does not fit in 64 bits")))
}

fn parse_root(line: &str) -> Result<Hash, LedgerError> {
    let bytes =
        B64.decode(line).map_err(|e| malformed(format!("checkpoint root hash is not valid base64: {e}")))?;
    Hash::try_from(bytes.as_slice())
        .map_err(|_| malformed(format!("checkpoint root hash is {} bytes, not 32", bytes.len())))
}

/// Signed notes are UTF-8 (guaranteed by `&str`) with no control character other than newline.
fn check_characters(text: &str) -> Result<(), LedgerError> {
    match text.chars().find(|&c| c < ' ' && c != '\n') {
        Some(c) => Err(malformed(format!("note contains the control character {c:?}"))),
        None => Ok(()),
    }
}

/// Key names: non-empty, no whitespace (any Unicode space), no `+` (the verifier key
/// separator), no control character. Returns why a name is refused.
fn check_key_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("key name is empty".into());
    }
    if let Some(c) = name.chars().find(|&c| c.is_whitespace() || c == '+' || c.is_control()) {
        return Err(format!(
            "key name {name:?} contains {c:?} (spaces, '+' and control characters are not allowed)"
        ));
    }
    Ok(())
}

/// The signed-note key ID of an Ed25519 key:
/// `SHA-256(name || 0x0A || 0x01 || public key)[0..4]`.
pub fn key_id(name: &str, public_key: &VerifyingKey) -> [u8; 4] {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update([b'\n', ALG_ED25519]);
    h.update(public_key.as_bytes());
    let digest = h.finalize();
    [digest[0], digest[1], digest[2], digest[3]]
}

/// One signature line of a note, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteSignature {
    /// Key name, as written on the line.
    pub name: String,
    /// The first four bytes of the decoded signature: which key of that name signed.
    pub key_id: [u8; 4],
    /// The signature proper (64 bytes for Ed25519; other types may differ).
    pub signature: Vec<u8>,
}

impl NoteSignature {
    fn line(&self) -> String {
        let mut blob = Vec::with_capacity(4 + self.signature.len());
        blob.extend_from_slice(&self.key_id);
        blob.extend_from_slice(&self.signature);
        format!("{SIG_PREFIX}{} {}\n", self.name, B64.encode(blob))
    }

    fn parse_line(line: &str) -> Result<Self, LedgerError> {
        let rest = line.strip_prefix(SIG_PREFIX).ok_or_else(|| {
            malformed(format!(
                "line {line:?} after the blank line is not a signature line (\"— <name> <base64>\")"
            ))
        })?;
        let (name, b64) = rest
            .split_once(' ')
            .ok_or_else(|| malformed(format!("signature line {line:?} has no signature")))?;
        check_key_name(name).map_err(malformed)?;
        let blob = B64
            .decode(b64)
            .map_err(|e| malformed(format!("signature of {name:?} is not valid base64: {e}")))?;
        // Four bytes of key ID, then at least one byte of signature.
        if blob.len() < 5 {
            return Err(malformed(format!("signature of {name:?} is only {} bytes", blob.len())));
        }
        let (id, signature) = blob.split_at(4);
        Ok(NoteSignature {
            name: name.to_string(),
            key_id: [id[0], id[1], id[2], id[3]],
            signature: signature.to_vec(),
        })
    }
}

/// A parsed (not necessarily verified) signed note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedNote {
    /// The signed text, final newline included.
    pub body: String,
    /// Every signature line, in order, whoever made it.
    pub signatures: Vec<NoteSignature>,
}

impl SignedNote {
    /// Parses a signed note. Checks its syntax only: no signature is verified here.
    pub fn parse(text: &str) -> Result<Self, LedgerError> {
        check_characters(text)?;
        // The text ends at the *last* blank line: the text may contain blank lines, signature
        // lines may not.
        let split = text
            .rfind("\n\n")
            .ok_or_else(|| malformed("note has no blank line between its text and its signatures"))?;
        let (body, sigs) = (&text[..split + 1], &text[split + 2..]);
        let sigs = sigs
            .strip_suffix('\n')
            .ok_or_else(|| malformed("note has no signature line ending with a newline"))?;
        let mut signatures = Vec::new();
        for line in sigs.split('\n') {
            if signatures.len() == MAX_SIGNATURES {
                return Err(malformed(format!("note has more than {MAX_SIGNATURES} signatures")));
            }
            signatures.push(NoteSignature::parse_line(line)?);
        }
        Ok(SignedNote { body: body.to_string(), signatures })
    }

    /// The note as text: body, blank line, one line per signature.
    pub fn to_text(&self) -> String {
        let mut text = format!("{}\n", self.body);
        for sig in &self.signatures {
            text.push_str(&sig.line());
        }
        text
    }
}

/// A note body must be non-empty, end with a newline and contain no control character but
/// newlines; anything else would not parse back as the text that was signed.
fn check_note_body(body: &str) -> Result<(), LedgerError> {
    check_characters(body)?;
    if !body.ends_with('\n') {
        return Err(malformed("note text does not end with a newline"));
    }
    Ok(())
}

/// Signs notes and checkpoints with an Ed25519 key under a key name.
pub struct NoteSigner {
    name: String,
    key_id: [u8; 4],
    key: SigningKey,
}

// Written by hand so that no `{:?}` can ever print the private key.
impl std::fmt::Debug for NoteSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NoteSigner")
            .field("name", &self.name)
            .field("key_id", &hex::encode(self.key_id))
            .finish_non_exhaustive()
    }
}

impl NoteSigner {
    /// A signer named `name` (refused if empty, or with whitespace, `+` or control characters).
    pub fn new(name: &str, key: SigningKey) -> Result<Self, LedgerError> {
        check_key_name(name).map_err(LedgerError::InvalidKey)?;
        Ok(NoteSigner { name: name.to_string(), key_id: key_id(name, &key.verifying_key()), key })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn key_id(&self) -> [u8; 4] {
        self.key_id
    }

    pub fn verifying_key(&self) -> VerifyingKey {
        self.key.verifying_key()
    }

    /// The verifier key to hand to verifiers: `<name>+<key ID hex>+<base64(0x01 || key)>`.
    pub fn verifier_key(&self) -> String {
        verifier_key_string(&self.name, self.key_id, &self.verifying_key())
    }

    fn signature(&self, body: &str) -> NoteSignature {
        NoteSignature {
            name: self.name.clone(),
            key_id: self.key_id,
            signature: self.key.sign(body.as_bytes()).to_bytes().to_vec(),
        }
    }

    /// Signs `body` (non-empty, ending with a newline) and returns the whole note text with
    /// this signer's line.
    pub fn sign_note(&self, body: &str) -> Result<String, LedgerError> {
        check_note_body(body)?;
        Ok(format!("{body}\n{}", self.signature(body).line()))
    }

    /// Signs a checkpoint. The checkpoint is signed as it is: see [`Checkpoint::validate`].
    pub fn sign(&self, checkpoint: &Checkpoint) -> String {
        let body = checkpoint.body();
        format!("{body}\n{}", self.signature(&body).line())
    }

    /// Adds this signer's line to an existing signed note (co-signing); keeps the other lines.
    ///
    /// A line of this same key (name and key ID) is replaced rather than duplicated. The
    /// existing signatures are *not* verified: a witness checks the log's signature with the
    /// log's [`NoteVerifier`] before co-signing.
    pub fn cosign(&self, note_text: &str) -> Result<String, LedgerError> {
        let mut note = SignedNote::parse(note_text)?;
        note.signatures.retain(|s| s.name != self.name || s.key_id != self.key_id);
        if note.signatures.len() == MAX_SIGNATURES {
            return Err(malformed(format!("note already has {MAX_SIGNATURES} signatures")));
        }
        note.signatures.push(self.signature(&note.body));
        Ok(note.to_text())
    }
}

fn verifier_key_string(name: &str, id: [u8; 4], key: &VerifyingKey) -> String {
    let mut typed = Vec::with_capacity(33);
    typed.push(ALG_ED25519);
    typed.extend_from_slice(key.as_bytes());
    format!("{name}+{}+{}", hex::encode(id), B64.encode(typed))
}

/// Verifies notes and checkpoints signed by one Ed25519 key with one name.
#[derive(Debug, Clone)]
pub struct NoteVerifier {
    name: String,
    key_id: [u8; 4],
    key: VerifyingKey,
}

impl NoteVerifier {
    /// Parses a verifier key `<name>+<8 hex digits key ID>+<base64(0x01 || public key)>`, as
    /// printed by [`NoteSigner::verifier_key`] or Go's `note.NewEd25519VerifierKey`.
    pub fn from_verifier_key(vkey: &str) -> Result<Self, LedgerError> {
        let bad = |why: &str| LedgerError::InvalidKey(format!("verifier key {vkey:?}: {why}"));
        // The name has no '+', the hex ID neither; the base64 may contain '+'.
        let (name, rest) = vkey.split_once('+').ok_or_else(|| bad("expected <name>+<key id>+<key>"))?;
        let (id_hex, key_b64) = rest.split_once('+').ok_or_else(|| bad("expected <name>+<key id>+<key>"))?;
        let mut id = [0u8; 4];
        if id_hex.len() != 8 || hex::decode_to_slice(id_hex, &mut id).is_err() {
            return Err(bad("the key ID is not 8 hex digits"));
        }
        let typed = B64.decode(key_b64).map_err(|_| bad("the key is not valid base64"))?;
        let key_bytes = match typed.split_first() {
            Some((&ALG_ED25519, key)) => {
                <[u8; 32]>::try_from(key).map_err(|_| bad("an Ed25519 key is 32 bytes"))?
            }
            Some((alg, _)) => {
                return Err(bad(&format!("signature type 0x{alg:02x} is not supported (only 0x01, Ed25519)")))
            }
            None => return Err(bad("the key is empty")),
        };
        let key = VerifyingKey::from_bytes(&key_bytes).map_err(|_| bad("not an Ed25519 public key"))?;
        let verifier = NoteVerifier::new(name, key)?;
        if verifier.key_id != id {
            return Err(bad(&format!("the key ID should be {}", hex::encode(verifier.key_id))));
        }
        Ok(verifier)
    }

    /// A verifier for `key` under `name` (same name rules as [`NoteSigner::new`]). Weak
    /// (small-order) keys are refused: no honest signer has one.
    pub fn new(name: &str, key: VerifyingKey) -> Result<Self, LedgerError> {
        check_key_name(name).map_err(LedgerError::InvalidKey)?;
        if key.is_weak() {
            return Err(LedgerError::InvalidKey(format!(
                "the public key of {name:?} is a weak (small-order) Ed25519 key"
            )));
        }
        Ok(NoteVerifier { name: name.to_string(), key_id: key_id(name, &key), key })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn key_id(&self) -> [u8; 4] {
        self.key_id
    }

    /// The verifier key string of this verifier (see [`NoteVerifier::from_verifier_key`]).
    pub fn verifier_key(&self) -> String {
        verifier_key_string(&self.name, self.key_id, &self.key)
    }

    /// Parses `text` and verifies it carries a valid signature of this key.
    ///
    /// Lines of other keys are ignored (not verified) but kept in the returned note, so that
    /// it can be re-emitted with its co-signatures: only this verifier's key is vouched for.
    pub fn verify_note(&self, text: &str) -> Result<SignedNote, LedgerError> {
        let note = SignedNote::parse(text)?;
        let mut verified = false;
        for sig in &note.signatures {
            // Only a line matching both name and key ID is ours; another key sharing one of
            // them is someone else's, and must be ignored rather than fail the note.
            if sig.name != self.name || sig.key_id != self.key_id {
                continue;
            }
            // `verify_strict` also refuses the non-canonical and small-order edge cases that
            // plain Ed25519 verification tolerates; an honest signature never has them.
            let ok = Signature::from_slice(&sig.signature)
                .and_then(|s| self.key.verify_strict(note.body.as_bytes(), &s))
                .is_ok();
            if !ok {
                return Err(malformed(format!(
                    "invalid signature for key {}+{}",
                    self.name,
                    hex::encode(self.key_id)
                )));
            }
            verified = true;
        }
        if !verified {
            return Err(malformed(format!(
                "note has no signature by key {}+{}",
                self.name,
                hex::encode(self.key_id)
            )));
        }
        Ok(note)
    }

    /// Verifies a signed checkpoint and returns it. The origin is not compared with anything:
    /// the caller checks it is the log it expects.
    pub fn verify(&self, text: &str) -> Result<Checkpoint, LedgerError> {
        let note = self.verify_note(text)?;
        Checkpoint::parse_body(&note.body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn signer(name: &str, seed: u8) -> NoteSigner {
        NoteSigner::new(name, SigningKey::from_bytes(&[seed; 32])).expect("valid name")
    }

    fn verifier_of(s: &NoteSigner) -> NoteVerifier {
        NoteVerifier::new(s.name(), s.verifying_key()).expect("valid name and key")
    }

    fn checkpoint() -> Checkpoint {
        Checkpoint { origin: "gavel.example/log".into(), size: 42, root: [7u8; 32], extensions: vec![] }
    }

    fn root_b64() -> String {
        B64.encode([7u8; 32])
    }

    #[test]
    fn sign_verify_round_trip() {
        let s = signer("gavel.example/log", 1);
        let v = verifier_of(&s);
        for cp in [
            checkpoint(),
            Checkpoint { size: 0, extensions: vec!["ext one".into(), "— ext two".into()], ..checkpoint() },
            Checkpoint { size: u64::MAX, ..checkpoint() },
        ] {
            cp.validate().expect("valid checkpoint");
            let text = s.sign(&cp);
            assert_eq!(v.verify(&text).expect("verifies"), cp);
            let note = SignedNote::parse(&text).expect("parses");
            assert_eq!(note.body, cp.body());
            assert_eq!(note.to_text(), text, "parse/to_text round trip");
            assert_eq!(note.signatures.len(), 1);
            assert_eq!(note.signatures[0].signature.len(), 64);
        }
    }

    #[test]
    fn exact_text_layout() {
        let s = signer("gavel.example/log", 1);
        let text = s.sign(&checkpoint());
        let prefix = format!("gavel.example/log\n42\n{}\n\n\u{2014} gavel.example/log ", root_b64());
        assert!(text.starts_with(&prefix), "{text:?}");
        assert!(text.ends_with('\n'));
        assert_eq!(text.lines().count(), 5);
        // 4 + 64 bytes of blob: 92 base64 characters (with one '=' of padding).
        let b64 = text.lines().last().and_then(|l| l.rsplit(' ').next());
        assert_eq!(b64.map(str::len), Some(92));
        assert_eq!(s.sign_note(&checkpoint().body()).expect("valid body"), text);
    }

    #[test]
    fn several_signature_lines() {
        let log = signer("gavel.example/log", 1);
        let witness = signer("witness.example", 2);
        let stranger = signer("stranger.example", 3);
        let cp = checkpoint();

        let signed = log.sign(&cp);
        let with_stranger = stranger.cosign(&signed).expect("cosign");
        let text = witness.cosign(&with_stranger).expect("cosign");

        let note = SignedNote::parse(&text).expect("parses");
        let names: Vec<&str> = note.signatures.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["gavel.example/log", "stranger.example", "witness.example"]);
        assert!(text.starts_with(&signed), "co-signing keeps the existing lines");

        // Each known key verifies on its own; the other lines are ignored.
        let v_log = verifier_of(&log);
        let v_witness = verifier_of(&witness);
        assert_eq!(v_log.verify(&text).expect("log verifies"), cp);
        assert_eq!(v_witness.verify(&text).expect("witness verifies"), cp);
        assert_eq!(v_log.verify_note(&text).expect("verifies"), note);

        // A key that did not sign finds nothing to verify.
        let absent = signer("absent.example", 4);
        assert!(verifier_of(&absent).verify(&text).is_err());

        // Co-signing again replaces the line instead of adding one.
        let again = witness.cosign(&text).expect("cosign");
        assert_eq!(again, text, "Ed25519 is deterministic: same line, same place");
        assert_eq!(SignedNote::parse(&again).expect("parses").signatures.len(), 3);
    }

    #[test]
    fn same_name_other_key_is_ignored_but_own_bad_line_fails() {
        let log = signer("gavel.example/log", 1);
        let impostor = signer("gavel.example/log", 9); // same name, other key: other key ID
        assert_ne!(log.key_id(), impostor.key_id());
        let text = impostor.cosign(&log.sign(&checkpoint())).expect("cosign");
        verifier_of(&log).verify(&text).expect("impostor line ignored");
        verifier_of(&impostor).verify(&text).expect("and vice versa");

        // A line claiming our name and key ID with a bad signature fails the whole note, even
        // next to a good one.
        let mut note = SignedNote::parse(&text).expect("parses");
        let mut forged = note.signatures[0].clone();
        forged.signature[0] ^= 1;
        note.signatures.push(forged);
        assert!(verifier_of(&log).verify(&note.to_text()).is_err());
    }

    #[test]
    fn tampering_is_detected() {
        let s = signer("gavel.example/log", 1);
        let v = verifier_of(&s);
        let text = s.sign(&checkpoint());

        // Any changed byte of the body: size, root, origin.
        let body_len = checkpoint().body().len();
        for i in 0..body_len {
            let mut bytes = text.clone().into_bytes();
            if bytes[i] == b'\n' {
                continue;
            }
            bytes[i] ^= 0x01;
            if let Ok(t) = String::from_utf8(bytes) {
                assert!(v.verify(&t).is_err(), "tampered body byte {i} accepted");
            }
        }

        // A changed signature byte (the key ID is left alone, so the line is still ours).
        let mut note = SignedNote::parse(&text).expect("parses");
        note.signatures[0].signature[10] ^= 0x80;
        let err = v.verify(&note.to_text()).expect_err("tampered signature");
        assert!(err.to_string().contains("invalid signature"), "{err}");

        // A truncated signature with our key ID is also an invalid signature of ours.
        let mut note = SignedNote::parse(&text).expect("parses");
        note.signatures[0].signature.truncate(63);
        assert!(v.verify(&note.to_text()).is_err());

        // A wrong key ID makes the line someone else's: no signature of ours remains.
        let mut note = SignedNote::parse(&text).expect("parses");
        note.signatures[0].key_id[0] ^= 1;
        let err = v.verify(&note.to_text()).expect_err("wrong key id");
        assert!(err.to_string().contains("no signature"), "{err}");
    }

    #[test]
    fn malformed_notes_are_rejected() {
        let s = signer("gavel.example/log", 1);
        let v = verifier_of(&s);
        let good = s.sign(&checkpoint());
        let body = checkpoint().body();
        let line = &good[body.len() + 1..];
        let blob = line.rsplit(' ').next().unwrap_or_default().trim_end();

        let cases: Vec<(&str, String)> = vec![
            ("empty", String::new()),
            ("body only", body.clone()),
            ("missing blank line", format!("{body}{line}")),
            ("no signature line", format!("{body}\n")),
            ("no final newline", good.trim_end_matches('\n').to_string()),
            ("unexpected line", format!("{good}not a signature\n")),
            ("blank line after signatures", format!("{good}\n")),
            ("bad base64", format!("{body}\n\u{2014} gavel.example/log {blob}!\n")),
            (
                "unpadded base64",
                format!("{body}\n\u{2014} gavel.example/log {}\n", blob.trim_end_matches('=')),
            ),
            ("short signature", format!("{body}\n\u{2014} gavel.example/log AAAAAA==\n")),
            ("no signature", format!("{body}\n\u{2014} gavel.example/log\n")),
            ("empty signature", format!("{body}\n\u{2014} gavel.example/log \n")),
            ("hyphen, not em dash", format!("{body}\n- gavel.example/log {blob}\n")),
            ("name with '+'", format!("{body}\n\u{2014} gavel+log {blob}\n")),
            ("name with space", format!("{body}\n\u{2014} gavel log {blob}\n")),
            ("empty name", format!("{body}\n\u{2014}  {blob}\n")),
            ("carriage return in body", good.replacen("42\n", "42\r\n", 1)),
            ("CRLF line endings", good.replace('\n', "\r\n")),
            ("other control character", format!("\u{1}{good}")),
            ("too many signatures", format!("{body}\n{}", line.repeat(MAX_SIGNATURES + 1))),
        ];
        for (what, text) in cases {
            assert!(SignedNote::parse(&text).is_err(), "{what}: parsed {text:?}");
            assert!(v.verify(&text).is_err(), "{what}: verified");
        }
        // The limit itself is fine.
        let many = format!("{body}\n{}", line.repeat(MAX_SIGNATURES));
        assert_eq!(v.verify(&many).expect("100 signatures"), checkpoint());
    }

    #[test]
    fn malformed_checkpoints_are_rejected() {
        let r = root_b64();
        let short_root = B64.encode([7u8; 31]);
        let long_root = B64.encode([7u8; 33]);
        let hex_root = hex::encode([7u8; 32]);
        let cases: Vec<(&str, String)> = vec![
            ("empty", String::new()),
            ("no final newline", format!("o\n1\n{r}")),
            ("empty origin", format!("\n1\n{r}\n")),
            ("no size", "o\n".to_string()),
            ("no root", "o\n1\n".to_string()),
            ("empty size", format!("o\n\n{r}\n")),
            ("size with leading zero", format!("o\n042\n{r}\n")),
            ("size 00", format!("o\n00\n{r}\n")),
            ("size with sign", format!("o\n+42\n{r}\n")),
            ("negative size", format!("o\n-1\n{r}\n")),
            ("size with space", format!("o\n 42\n{r}\n")),
            ("size overflow", format!("o\n18446744073709551616\n{r}\n")),
            ("hex size", format!("o\n0x2a\n{r}\n")),
            ("root of 31 bytes", format!("o\n1\n{short_root}\n")),
            ("root of 33 bytes", format!("o\n1\n{long_root}\n")),
            ("hex root", format!("o\n1\n{hex_root}\n")),
            ("unpadded root", format!("o\n1\n{}\n", r.trim_end_matches('='))),
            ("empty extension", format!("o\n1\n{r}\n\n")),
            ("empty extension between", format!("o\n1\n{r}\na\n\nb\n")),
            ("carriage return", format!("o\r\n1\n{r}\n")),
        ];
        for (what, body) in cases {
            assert!(Checkpoint::parse_body(&body).is_err(), "{what}: parsed {body:?}");
        }

        // And through a signed note: a valid signature does not make a bad body a checkpoint.
        let s = signer("gavel.example/log", 1);
        let text = s.sign_note(&format!("o\n042\n{r}\n")).expect("a valid note");
        verifier_of(&s).verify_note(&text).expect("the note is fine");
        assert!(verifier_of(&s).verify(&text).is_err(), "the checkpoint is not");

        let ok = Checkpoint::parse_body(&format!("o\n0\n{r}\nx\n")).expect("valid");
        assert_eq!((ok.size, ok.extensions), (0, vec!["x".to_string()]));
    }

    #[test]
    fn validate_catches_unencodable_fields() {
        let bad_origin = Checkpoint { origin: "a\nb".into(), ..checkpoint() };
        let bad_ext = Checkpoint { extensions: vec!["x\ny".into()], ..checkpoint() };
        let empty_ext = Checkpoint { extensions: vec![String::new()], ..checkpoint() };
        for cp in [bad_origin, bad_ext, empty_ext] {
            assert!(cp.validate().is_err(), "{cp:?}");
        }
        checkpoint().validate().expect("valid");
    }

    #[test]
    fn sign_note_refuses_bodies_that_would_not_round_trip() {
        let s = signer("n", 1);
        for body in ["", "no newline", "cr\r\n", "nul\0\n"] {
            assert!(s.sign_note(body).is_err(), "{body:?}");
        }
        // Blank lines inside the text are allowed: the last blank line separates.
        let body = "a\n\nb\n\n";
        let note = verifier_of(&s).verify_note(&s.sign_note(body).expect("valid")).expect("verifies");
        assert_eq!(note.body, body);
    }

    #[test]
    fn key_names_are_checked() {
        let key = SigningKey::from_bytes(&[1; 32]);
        for name in ["", "a+b", "a b", "a\tb", "a\nb", "a\u{a0}b", "a\u{1}b"] {
            assert!(NoteSigner::new(name, key.clone()).is_err(), "{name:?}");
            assert!(NoteVerifier::new(name, key.verifying_key()).is_err(), "{name:?}");
        }
        NoteSigner::new("example.com/log-1_é", key).expect("valid name");
    }

    #[test]
    fn key_id_matches_the_formula() {
        let s = signer("gavel.example/log", 1);
        let mut preimage = b"gavel.example/log\n\x01".to_vec();
        preimage.extend_from_slice(s.verifying_key().as_bytes());
        let digest = Sha256::digest(&preimage);
        assert_eq!(s.key_id(), digest[..4]);
        assert_eq!(key_id("gavel.example/log", &s.verifying_key()), s.key_id());
        assert_ne!(key_id("other", &s.verifying_key()), s.key_id());
    }

    #[test]
    fn verifier_key_round_trip() {
        let s = signer("gavel.example/log", 1);
        let vkey = s.verifier_key();
        let mut typed = vec![1u8];
        typed.extend_from_slice(s.verifying_key().as_bytes());
        assert_eq!(vkey, format!("gavel.example/log+{}+{}", hex::encode(s.key_id()), B64.encode(&typed)));
        let v = NoteVerifier::from_verifier_key(&vkey).expect("parses");
        assert_eq!(v.name(), s.name());
        assert_eq!(v.key_id(), s.key_id());
        assert_eq!(v.verifier_key(), vkey);
        v.verify(&s.sign(&checkpoint())).expect("verifies");

        // Uppercase hex is accepted, as Go does.
        let upper = vkey.replacen(&hex::encode(s.key_id()), &hex::encode_upper(s.key_id()), 1);
        NoteVerifier::from_verifier_key(&upper).expect("uppercase key id");
    }

    #[test]
    fn mangled_verifier_keys_are_rejected() {
        let s = signer("gavel.example/log", 1);
        let vkey = s.verifier_key();
        // Every proper substring, and every single-byte change.
        for i in 0..=vkey.len() {
            for j in i + 1..=vkey.len() {
                if (i, j) != (0, vkey.len()) {
                    if let Some(sub) = vkey.get(i..j) {
                        assert!(NoteVerifier::from_verifier_key(sub).is_err(), "{sub:?}");
                    }
                }
            }
        }
        for i in 0..vkey.len() {
            let mut bytes = vkey.clone().into_bytes();
            bytes[i] = bytes[i].wrapping_add(1);
            if let Ok(k) = String::from_utf8(bytes) {
                assert!(NoteVerifier::from_verifier_key(&k).is_err(), "{k:?}");
            }
        }
        // Another signature type, with a matching key ID.
        let key = s.verifying_key();
        let mut typed = vec![4u8];
        typed.extend_from_slice(key.as_bytes());
        let other_type = format!("gavel.example/log+00000000+{}", B64.encode(&typed));
        assert!(NoteVerifier::from_verifier_key(&other_type).is_err());
    }

    #[test]
    fn signer_debug_hides_the_key() {
        let s = signer("n", 1);
        let shown = format!("{s:?}");
        assert!(shown.contains("NoteSigner") && shown.contains(&hex::encode(s.key_id())));
        assert!(!shown.contains(&hex::encode([1u8; 32])));
    }

    proptest! {
        #[test]
        fn any_valid_checkpoint_round_trips(
            origin in "[a-z0-9./ -]{0,20}[a-z]",
            size: u64,
            root: [u8; 32],
            extensions in proptest::collection::vec("[ -~]{1,20}", 0..3),
        ) {
            let cp = Checkpoint { origin, size, root, extensions };
            prop_assert!(cp.validate().is_ok());
            prop_assert_eq!(Checkpoint::parse_body(&cp.body()).ok(), Some(cp.clone()));
            let s = signer("gavel.example/log", 1);
            prop_assert_eq!(verifier_of(&s).verify(&s.sign(&cp)).ok(), Some(cp));
        }
    }
}
