//! `--archive`: the bundle directory as one `.tar.gz`, for mail, tickets and object stores.
//!
//! Invariants: the archive holds exactly the bundle's regular files under one top directory
//! named like the bundle, in path order, with normalized metadata (mode 0644, uid/gid 0, mtime of
//! the export), so the same bundle always gives the same archive bytes; it is written to a
//! temporary file and renamed into place. Extracting it gives a directory that verifies like the
//! original (the signed SHA256SUMS is inside).

use crate::export::list_files;
use crate::sums::{SIG_FILE, SUMS_FILE};
use crate::EvidenceError;
use flate2::write::GzEncoder;
use flate2::Compression;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// Writes `<bundle>.tar.gz` next to the bundle directory and returns its path.
pub fn write_tar_gz(bundle: &Path, mtime: u64) -> Result<PathBuf, EvidenceError> {
    let name = bundle
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| EvidenceError::Invalid(format!("{} has no usable name", bundle.display())))?;
    let dest = bundle.with_file_name(format!("{name}.tar.gz"));
    let tmp = bundle.with_file_name(format!(".{name}.tar.gz.partial-{}", std::process::id()));
    let mut files = Vec::new();
    list_files(bundle, bundle, &mut files)?;
    files.push(SUMS_FILE.to_string());
    files.push(SIG_FILE.to_string());
    files.sort();
    let write = || -> Result<(), EvidenceError> {
        let gz = GzEncoder::new(BufWriter::new(File::create(&tmp)?), Compression::default());
        let mut tar = tar::Builder::new(gz);
        for rel in &files {
            let mut f = File::open(bundle.join(rel))?;
            let len = f.metadata()?.len();
            let mut header = tar::Header::new_gnu();
            header.set_size(len);
            header.set_mode(0o644);
            header.set_uid(0);
            header.set_gid(0);
            header.set_mtime(mtime);
            header.set_entry_type(tar::EntryType::Regular);
            tar.append_data(&mut header, format!("{name}/{rel}"), &mut f)?;
        }
        let mut out = tar.into_inner()?.finish()?;
        out.flush()?;
        out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        Ok(())
    };
    if let Err(e) = write() {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    std::fs::rename(&tmp, &dest)?;
    Ok(dest)
}
