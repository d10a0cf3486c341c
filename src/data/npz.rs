//! Reading the arrays of a `.npz` (a zip of `.npy` entries, stored or deflated) from bytes.

use std::io::{Cursor, Read};

use zip::ZipArchive;
use zip::result::ZipError;

use super::error::DataError;

/// Caps on what a file may make us allocate.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Largest inflated size of one entry (a 224×224 DermaMNIST train split is ~1.05 GB).
    pub max_entry_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self { max_entry_bytes: 1_536 * 1024 * 1024 }
    }
}

pub fn is_zip(bytes: &[u8]) -> bool {
    bytes.starts_with(b"PK\x03\x04") || bytes.starts_with(b"PK\x05\x06")
}

/// The entries of the archive as (array name without `.npy`, inflated bytes).
pub fn read_entries(bytes: &[u8], file: &str, limits: Limits) -> Result<Vec<(String, Vec<u8>)>, DataError> {
    let broken = |e: ZipError| DataError::Truncated { file: file.into(), detail: e.to_string() };
    let mut archive = ZipArchive::new(Cursor::new(bytes)).map_err(broken)?;
    let mut entries = Vec::new();
    for i in 0..archive.len() {
        let entry = archive.by_index(i).map_err(broken)?;
        if entry.is_dir() {
            continue;
        }
        let name = entry.name().map_err(broken)?.to_string();
        let key = name.strip_suffix(".npy").unwrap_or(&name).to_string();
        let declared = entry.size();
        if declared > limits.max_entry_bytes {
            return Err(DataError::TooLarge { file: file.into(), key, size: declared, limit: limits.max_entry_bytes });
        }
        // Never trust the declared size for the allocation, and never read past it: a lying
        // header cannot make us inflate more than the cap.
        let mut data = Vec::with_capacity(declared.min(64 * 1024 * 1024) as usize);
        let mut limited = entry.take(limits.max_entry_bytes + 1);
        limited.read_to_end(&mut data).map_err(|e| DataError::Truncated { file: file.into(), detail: format!("{key}: {e}") })?;
        if data.len() as u64 > limits.max_entry_bytes {
            return Err(DataError::TooLarge { file: file.into(), key, size: data.len() as u64, limit: limits.max_entry_bytes });
        }
        entries.push((key, data));
    }
    Ok(entries)
}
