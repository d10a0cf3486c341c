//! Reading one `.npy` array (format versions 1–3) from bytes, with the header checked before
//! anything is allocated.

use std::io::Cursor;

use npyz::{DType, NpyHeader, Order};

use super::error::DataError;

/// Headers are a few hundred bytes; anything far larger is corrupt or hostile. numpy's own
/// reader refuses headers over 10000 bytes by default (`max_header_size`).
pub const MAX_HEADER_BYTES: usize = 10_000;
/// The header dict of a plain array is `{…: (…), …}`: four brackets, nested two deep. npyz's
/// parser backtracks exponentially on nested brackets (found by fuzzing: minutes for a
/// 180-byte header), so anything more is refused before it sees them.
const MAX_HEADER_BRACKETS: usize = 8;
const MAX_HEADER_DEPTH: usize = 2;

fn brackets_are_plain(text: &[u8]) -> bool {
    let (mut depth, mut deepest, mut count) = (0usize, 0usize, 0usize);
    for b in text {
        match b {
            b'(' | b'[' | b'{' => {
                depth += 1;
                count += 1;
                deepest = deepest.max(depth);
            }
            b')' | b']' | b'}' => {
                depth = depth.saturating_sub(1);
                count += 1;
            }
            _ => {}
        }
    }
    count <= MAX_HEADER_BRACKETS && deepest <= MAX_HEADER_DEPTH
}
const MAGIC: &[u8] = b"\x93NUMPY";

pub fn is_npy(bytes: &[u8]) -> bool {
    bytes.starts_with(MAGIC)
}

/// An array whose header has been read; `data` borrows the raw element bytes.
pub struct RawArray<'a> {
    pub shape: Vec<u64>,
    /// numpy's type string, e.g. `|u1` or `<i8`.
    pub descr: String,
    pub data: &'a [u8],
}

impl RawArray<'_> {
    pub fn is_u8(&self) -> bool {
        matches!(self.descr.as_str(), "|u1" | "<u1" | ">u1" | "u1")
    }

    /// The elements as integers, for label arrays of any integer width.
    pub fn integers(&self, file: &str, key: &str) -> Result<Vec<i64>, DataError> {
        let d = self.descr.as_bytes();
        let bad = || DataError::DType { file: file.into(), key: key.into(), dtype: self.descr.clone() };
        if d.len() < 3 || !(d[1] == b'i' || d[1] == b'u') {
            return Err(bad());
        }
        let width: usize = self.descr[2..].parse().map_err(|_| bad())?;
        let big = d[0] == b'>';
        let signed = d[1] == b'i';
        if ![1, 2, 4, 8].contains(&width) {
            return Err(bad());
        }
        Ok(self
            .data
            .chunks_exact(width)
            .map(|c| {
                let mut b = [0u8; 8];
                if big {
                    for (i, v) in c.iter().rev().enumerate() {
                        b[i] = *v;
                    }
                } else {
                    b[..width].copy_from_slice(c);
                }
                let raw = u64::from_le_bytes(b);
                if signed && width < 8 && raw >> (width * 8 - 1) & 1 == 1 {
                    // Sign-extend.
                    (raw | (!0u64 << (width * 8))) as i64
                } else {
                    raw as i64
                }
            })
            .collect())
    }
}

/// What a .npy header says: the array's shape and type, and where its data lies.
pub struct Header {
    pub shape: Vec<u64>,
    pub descr: String,
    /// Offset of the first data byte.
    pub data_start: usize,
    /// Data bytes the header promises (element size × elements).
    pub data_len: u64,
}

/// Where the header of a .npy that starts with `prefix` ends (magic, version, length and the
/// header dict), once at least 12 bytes are known; `None` when `prefix` cannot be a .npy with
/// a header of acceptable size (then [`parse_header`] says why).
pub fn header_end(prefix: &[u8]) -> Option<usize> {
    if !is_npy(prefix) || prefix.len() < 12 {
        return None;
    }
    let (start, len) = match prefix[6] {
        1 => (10, u16::from_le_bytes([prefix[8], prefix[9]]) as usize),
        2 | 3 => (12, u32::from_le_bytes([prefix[8], prefix[9], prefix[10], prefix[11]]) as usize),
        _ => return None,
    };
    (len <= MAX_HEADER_BYTES).then_some(start + len)
}

/// Reads the header at the start of `bytes` (the data need not follow yet).
pub fn parse_header(bytes: &[u8], file: &str, key: &str) -> Result<Header, DataError> {
    let bad = |detail: String| DataError::BadNpy { file: file.into(), key: key.into(), detail };
    let truncated = |detail: &str| DataError::Truncated { file: file.into(), detail: format!("{key}: {detail}") };
    if !is_npy(bytes) {
        return Err(bad("missing the \\x93NUMPY magic".into()));
    }
    if bytes.len() < 10 {
        return Err(truncated("the .npy header is cut short"));
    }
    let major = bytes[6];
    let header_len = match major {
        1 => u16::from_le_bytes([bytes[8], bytes[9]]) as usize,
        2 | 3 => {
            if bytes.len() < 12 {
                return Err(truncated("the .npy header is cut short"));
            }
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize
        }
        v => return Err(bad(format!("unsupported .npy format version {v} (1–3 are supported)"))),
    };
    if header_len > MAX_HEADER_BYTES {
        return Err(DataError::HeaderTooLarge { file: file.into(), key: key.into(), size: header_len, limit: MAX_HEADER_BYTES });
    }
    let prefix = if major == 1 { 10 } else { 12 };
    if bytes.len() < prefix + header_len {
        return Err(truncated("the .npy header is cut short"));
    }
    let text = &bytes[prefix..prefix + header_len];
    if !brackets_are_plain(text) || !text.is_ascii() {
        return Err(bad("the header is not the dict numpy writes for a plain array".into()));
    }
    let mut cursor = Cursor::new(&bytes[..prefix + header_len]);
    let header = NpyHeader::from_reader(&mut cursor).map_err(|e| bad(e.to_string()))?;
    let file_reader = npyz::NpyFile::with_header(header, Cursor::new(&[][..]));
    let descr = match file_reader.dtype() {
        DType::Plain(t) => t.to_string(),
        other => return Err(DataError::DType { file: file.into(), key: key.into(), dtype: other.descr() }),
    };
    if file_reader.order() == Order::Fortran {
        return Err(DataError::FortranOrder { file: file.into(), key: key.into() });
    }
    let shape = file_reader.shape().to_vec();
    let item = file_reader.header().dtype().num_bytes().ok_or_else(|| DataError::DType {
        file: file.into(),
        key: key.into(),
        dtype: descr.clone(),
    })?;
    let data_len =
        shape.iter().try_fold(item as u64, |acc, &d| acc.checked_mul(d)).ok_or_else(|| bad(format!("shape {shape:?} is too large")))?;
    Ok(Header { shape, descr, data_start: prefix + header_len, data_len })
}

/// Parses `bytes` as one .npy array. `file`/`key` name it in errors. Bytes after the promised
/// data are ignored, as numpy ignores them.
pub fn parse<'a>(bytes: &'a [u8], file: &str, key: &str) -> Result<RawArray<'a>, DataError> {
    let Header { shape, descr, data_start, data_len } = parse_header(bytes, file, key)?;
    let data = &bytes[data_start..];
    if (data.len() as u64) < data_len {
        return Err(DataError::Truncated {
            file: file.into(),
            detail: format!("{key}: {} data bytes where the header promises {data_len}", data.len()),
        });
    }
    Ok(RawArray { shape, descr, data: &data[..data_len as usize] })
}
