//! Reading the arrays of a `.npz` (a zip of `.npy` entries, stored or deflated) from bytes.

use std::io::{Cursor, Read};

use zip::ZipArchive;
use zip::result::ZipError;

use super::error::DataError;
use super::npy;

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

/// The entries of the archive as (array name without `.npy`, bytes of the array). Each entry
/// is inflated as a stream and only as far as its .npy header promises data (numpy ignores
/// what follows too), so a small file cannot make us inflate — or hold — more than the arrays
/// it declares; an entry that is not an .npy is not read past its first bytes.
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
        let data = read_npy_member(entry, declared, file, &key, limits)?;
        entries.push((key, data));
    }
    Ok(entries)
}

/// The bytes of one member up to the end of the data its .npy header promises (all that a
/// reader needs to parse it or to say what is wrong with it).
fn read_npy_member(member: impl Read, declared: u64, file: &str, key: &str, limits: Limits) -> Result<Vec<u8>, DataError> {
    let failed = |e: std::io::Error| DataError::Truncated { file: file.into(), detail: format!("{key}: {e}") };
    // Never read past the cap, whatever the headers say.
    let mut member = member.take(limits.max_entry_bytes + 1);
    let mut data = Vec::new();
    let mut fill_to = |data: &mut Vec<u8>, end: u64| -> Result<(), DataError> {
        let want = end.saturating_sub(data.len() as u64);
        // Reserve for what is promised, but never more than 64 MiB ahead of what arrived.
        data.reserve(want.min(declared).min(64 << 20) as usize);
        (&mut member).take(want).read_to_end(data).map(drop).map_err(failed)
    };
    // Magic, version and header length; then the header; then exactly the promised data.
    fill_to(&mut data, 12)?;
    let Some(header_end) = npy::header_end(&data) else { return Ok(data) };
    fill_to(&mut data, header_end as u64)?;
    let Ok(header) = npy::parse_header(&data, file, key) else { return Ok(data) };
    if header.data_len > limits.max_entry_bytes {
        return Err(DataError::TooLarge { file: file.into(), key: key.into(), size: header.data_len, limit: limits.max_entry_bytes });
    }
    fill_to(&mut data, header.data_start as u64 + header.data_len)?;
    Ok(data)
}
