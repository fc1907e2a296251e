//! Key material on disk: the log's Ed25519 signing key.
//!
//! The private key is a PKCS#8 PEM file (`-----BEGIN PRIVATE KEY-----`, RFC 8410), the format
//! `openssl genpkey -algorithm ed25519` writes, so operators can inspect or back it up with
//! standard tools. Invariants:
//!
//! * The key file is created once, with mode 0600, inside directories created with mode 0700;
//!   creation uses `create_new`, so two processes starting together never overwrite each other's
//!   key (the loser loads the winner's), and an existing key is never replaced.
//! * A key file that group or other may read or write is refused, never used: a leaked or
//!   substituted key cannot be detected afterwards.
//! * Creation is durable: file written, file fsynced, then its directory fsynced, so a crash
//!   after a checkpoint was signed cannot lose the key that signed it.
//!
//! Unix only (permission bits).

use std::fs::{DirBuilder, File, OpenOptions};
use std::io::{ErrorKind, Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey, KeypairBytes};
use ed25519_dalek::{SigningKey, VerifyingKey};
use rand_core::OsRng;

use crate::LedgerError;

/// A fresh Ed25519 signing key from the operating system's random number generator.
pub fn generate_signing_key() -> SigningKey {
    SigningKey::generate(&mut OsRng)
}

/// Loads the PKCS#8 PEM private key at `path`, or creates it (parent dirs 0700, file 0600, written with
/// create_new so a concurrent creator never clobbers it) on first start. Returns (key, created).
/// Refuses (InvalidKey with a clear message naming the path and mode) a key file readable by group/other.
///
/// Group or other *write* permission is refused too: whoever can replace the key can sign.
pub fn load_or_create_signing_key(path: &Path) -> Result<(SigningKey, bool), LedgerError> {
    match File::open(path) {
        Ok(file) => return load(path, file).map(|key| (key, false)),
        Err(e) if e.kind() == ErrorKind::NotFound => {}
        Err(e) => return Err(io_error(path, "cannot open key file", e)),
    }
    match create(path) {
        Ok(key) => Ok((key, true)),
        // Another process created it between our open and our create: use its key.
        Err(CreateError::Exists) => {
            let file = File::open(path).map_err(|e| io_error(path, "cannot open key file", e))?;
            load(path, file).map(|key| (key, false))
        }
        Err(CreateError::Failed(e)) => Err(e),
    }
}

fn load(path: &Path, mut file: File) -> Result<SigningKey, LedgerError> {
    // Permissions of the file we opened (fstat), not of whatever the path names by now.
    let meta = file.metadata().map_err(|e| io_error(path, "cannot stat key file", e))?;
    if !meta.is_file() {
        return Err(LedgerError::InvalidKey(format!("key file {} is not a regular file", path.display())));
    }
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(LedgerError::InvalidKey(format!(
            "key file {} has mode {mode:04o}: group and other must have no access to a private \
             key (run `chmod 600 {}` if the key has not leaked, otherwise replace it)",
            path.display(),
            path.display()
        )));
    }
    let mut pem = String::new();
    file.read_to_string(&mut pem).map_err(|e| io_error(path, "cannot read key file", e))?;
    // The parse error is deliberately not shown: it says nothing useful and the file is secret.
    SigningKey::from_pkcs8_pem(&pem).map_err(|_| {
        LedgerError::InvalidKey(format!(
            "key file {} is not a PKCS#8 PEM Ed25519 private key",
            path.display()
        ))
    })
}

enum CreateError {
    Exists,
    Failed(LedgerError),
}

fn create(path: &Path) -> Result<SigningKey, CreateError> {
    let failed = |what: &str, e: std::io::Error| CreateError::Failed(io_error(path, what, e));
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    // Only directories created here get 0700; existing ones are the operator's business.
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| failed("cannot create key directory", e))?;

    let key = generate_signing_key();
    let pem = private_key_pem(&key).map_err(CreateError::Failed)?;
    let mut file = match OpenOptions::new().write(true).create_new(true).mode(0o600).open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == ErrorKind::AlreadyExists => return Err(CreateError::Exists),
        Err(e) => return Err(failed("cannot create key file", e)),
    };
    if let Err(e) = file.write_all(pem.as_bytes()).and_then(|()| file.sync_all()) {
        // The file is ours and incomplete: remove it, or the next start would refuse it.
        let _ = std::fs::remove_file(path);
        return Err(failed("cannot write key file", e));
    }
    // The directory entry must be durable too, or a crash could lose the file itself.
    File::open(dir).and_then(|d| d.sync_all()).map_err(|e| failed("cannot sync key directory", e))?;
    Ok(key)
}

/// PKCS#8 v1 (RFC 8410 `OneAsymmetricKey` without the optional public key), as OpenSSL writes
/// it: the most widely readable form.
fn private_key_pem(key: &SigningKey) -> Result<String, LedgerError> {
    let bytes = KeypairBytes { secret_key: key.to_bytes(), public_key: None };
    let pem = bytes
        .to_pkcs8_pem(LineEnding::LF)
        .map_err(|e| LedgerError::InvalidKey(format!("cannot encode private key: {e}")))?;
    Ok(pem.as_str().to_owned())
}

/// DER prefix of an Ed25519 SubjectPublicKeyInfo (RFC 8410 §4): SEQUENCE { SEQUENCE { OID
/// 1.3.101.112 }, BIT STRING (33 bytes, 0 unused bits) }, followed by the 32 key bytes.
const ED25519_SPKI_PREFIX: [u8; 12] =
    [0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00];

/// The public key as an SPKI PEM (`-----BEGIN PUBLIC KEY-----`), byte for byte what
/// `openssl pkey -pubout` prints. Built by hand because the encoding is fixed and this way
/// cannot fail.
pub fn public_key_pem(key: &VerifyingKey) -> String {
    let mut der = ED25519_SPKI_PREFIX.to_vec();
    der.extend_from_slice(key.as_bytes());
    // 44 bytes of DER are 60 base64 characters: one PEM line (PEM lines hold up to 64).
    format!("-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n", B64.encode(der))
}

fn io_error(path: &Path, what: &str, e: std::io::Error) -> LedgerError {
    LedgerError::Io(std::io::Error::new(e.kind(), format!("{what} {}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::pkcs8::EncodePublicKey;
    use std::fs;

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).expect("stat").permissions().mode() & 0o777
    }

    #[test]
    fn creates_a_0600_file_then_loads_the_same_key() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("keys/nested/log.pem");

        let (key, created) = load_or_create_signing_key(&path).expect("create");
        assert!(created);
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(&dir.path().join("keys")), 0o700);
        assert_eq!(mode(&dir.path().join("keys/nested")), 0o700);
        let pem = fs::read_to_string(&path).expect("read");
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----\n"), "{pem}");

        let (again, created) = load_or_create_signing_key(&path).expect("load");
        assert!(!created);
        assert_eq!(again.to_bytes(), key.to_bytes());
    }

    #[test]
    fn group_or_other_access_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("log.pem");
        load_or_create_signing_key(&path).expect("create");
        for bad in [0o640, 0o604, 0o620, 0o644] {
            fs::set_permissions(&path, fs::Permissions::from_mode(bad)).expect("chmod");
            let err = load_or_create_signing_key(&path).expect_err("must refuse");
            let msg = err.to_string();
            assert!(matches!(err, LedgerError::InvalidKey(_)), "{msg}");
            assert!(msg.contains(&path.display().to_string()), "{msg}");
            assert!(msg.contains(&format!("{bad:04o}")), "{msg}");
        }
        fs::set_permissions(&path, fs::Permissions::from_mode(0o400)).expect("chmod");
        load_or_create_signing_key(&path).expect("owner read-only is fine");
    }

    #[test]
    fn garbage_is_refused_and_never_overwritten() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("log.pem");
        fs::write(&path, "not a key\n").expect("write");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).expect("chmod");
        let err = load_or_create_signing_key(&path).expect_err("garbage");
        assert!(matches!(err, LedgerError::InvalidKey(_)), "{err}");
        assert_eq!(fs::read_to_string(&path).expect("read"), "not a key\n");
    }

    #[test]
    fn loads_a_key_written_with_the_public_key_too() {
        // PKCS#8 v2 (with the public key), as other tools may write it.
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("log.pem");
        let key = generate_signing_key();
        let pem = key.to_pkcs8_pem(LineEnding::LF).expect("encode");
        fs::write(&path, pem.as_bytes()).expect("write");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).expect("chmod");
        let (loaded, created) = load_or_create_signing_key(&path).expect("load");
        assert!(!created);
        assert_eq!(loaded.to_bytes(), key.to_bytes());
    }

    #[test]
    fn public_key_pem_is_spki() {
        let key = generate_signing_key().verifying_key();
        let ours = public_key_pem(&key);
        let theirs = key.to_public_key_pem(LineEnding::LF).expect("encode");
        assert_eq!(ours, theirs);
        assert!(ours.starts_with("-----BEGIN PUBLIC KEY-----\n"));
    }

    #[test]
    fn generated_keys_differ() {
        assert_ne!(generate_signing_key().to_bytes(), generate_signing_key().to_bytes());
    }
}
