//! `SHA256SUMS`: the `sha256sum` text format, one line per bundle file, sorted by path.
//!
//! Invariants: a line is exactly `<64 lowercase hex>  <path>\n` (two spaces, text mode, as
//! `sha256sum` writes it); paths are relative, `/`-separated, with no `.`/`..` segment, no
//! backslash and no newline (so `sha256sum` never escapes them); lines are sorted by the path's
//! bytes with no duplicates. [`parse`] accepts exactly what [`format`] writes.

use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::Path;

/// The file listing the hashes, and its signature: the only two files a listing omits.
pub const SUMS_FILE: &str = "SHA256SUMS";
pub const SIG_FILE: &str = "SHA256SUMS.sig";

/// SHA-256 of a file, streamed.
pub fn hash_file(path: &Path) -> std::io::Result<String> {
    let mut f = std::fs::File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex::encode(h.finalize()))
}

/// A writer that hashes exactly the bytes its inner writer accepted, so a file's SHA-256 is
/// known when it is written rather than by reading it back (a 10 M-event bundle is ~18 GB).
/// Put it *below* any buffering, so what it hashes is what reaches the file.
pub struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
}

impl<W: std::io::Write> HashingWriter<W> {
    pub fn new(inner: W) -> Self {
        HashingWriter { inner, hasher: Sha256::new() }
    }

    /// The inner writer and the hex SHA-256 of everything written through this one.
    pub fn finish(self) -> (W, String) {
        (self.inner, hex::encode(self.hasher.finalize()))
    }
}

impl<W: std::io::Write> std::io::Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        // `n <= buf.len()` by the `Write` contract; `get` keeps a broken writer from panicking.
        self.hasher.update(buf.get(..n).unwrap_or(buf));
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Whether `path` is a path the format carries as is.
pub fn is_safe_path(path: &str) -> bool {
    !path.is_empty()
        && !path.starts_with('/')
        && !path.contains(['\\', '\n', '\r', '\0'])
        && path.split('/').all(|seg| !seg.is_empty() && seg != "." && seg != "..")
}

/// Formats sorted entries `(path, hex sha256)`.
pub fn format(entries: &[(String, String)]) -> String {
    let mut out = String::new();
    for (path, hash) in entries {
        out.push_str(hash);
        out.push_str("  ");
        out.push_str(path);
        out.push('\n');
    }
    out
}

/// Parses a SHA256SUMS file; the error names the line (1-based) and what is wrong with it.
pub fn parse(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut out: Vec<(String, String)> = Vec::new();
    if text.is_empty() {
        return Err("SHA256SUMS is empty".into());
    }
    let Some(body) = text.strip_suffix('\n') else {
        return Err("SHA256SUMS does not end with a newline".into());
    };
    for (i, line) in body.split('\n').enumerate() {
        let n = i + 1;
        let (hash, path) = line
            .split_once("  ")
            .ok_or_else(|| format!("SHA256SUMS line {n}: not `<sha256>  <path>`: {line:?}"))?;
        if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
            return Err(format!("SHA256SUMS line {n}: {hash:?} is not 64 lowercase hex digits"));
        }
        if !is_safe_path(path) {
            return Err(format!("SHA256SUMS line {n}: unsafe path {path:?}"));
        }
        if let Some((prev, _)) = out.last() {
            if prev.as_bytes() >= path.as_bytes() {
                return Err(format!(
                    "SHA256SUMS line {n}: {path:?} is not sorted after {prev:?} (or repeated)"
                ));
            }
        }
        out.push((path.to_string(), hash.to_string()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_hashing_writer_hashes_what_the_file_holds() {
        use std::io::Write;
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("f");
        let mut w = std::io::BufWriter::with_capacity(
            7,
            HashingWriter::new(std::fs::File::create(&path).expect("create")),
        );
        for i in 0..1000u32 {
            writeln!(w, "line {i}").expect("write");
        }
        let (_, hash) = w.into_inner().map_err(|e| e.into_error()).expect("flush").finish();
        assert_eq!(hash, hash_file(&path).expect("hash"));
    }

    #[test]
    fn rejects_bad_lines() {
        let h = "a".repeat(64);
        for bad in [
            String::new(),
            format!("{h}  a"),
            format!("{h} a\n"),
            format!("{}  a\n", "A".repeat(64)),
            format!("{h}  ../a\n"),
            format!("{h}  /a\n"),
            format!("{h}  b\n{h}  a\n"),
            format!("{h}  a\n{h}  a\n"),
        ] {
            assert!(parse(&bad).is_err(), "{bad:?}");
        }
    }

    proptest! {
        #[test]
        fn format_parse_round_trip(mut paths in proptest::collection::btree_set("[a-z]{1,5}(/[a-z.]{1,5}){0,2}", 1..10)) {
            paths.retain(|p| is_safe_path(p));
            prop_assume!(!paths.is_empty());
            let entries: Vec<(String, String)> = paths.into_iter().map(|p| (p, "0".repeat(64))).collect();
            prop_assert_eq!(parse(&format(&entries)).ok(), Some(entries));
        }
    }
}
