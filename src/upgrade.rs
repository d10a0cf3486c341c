//! Rewriting a weights file: in the current format version (`debm upgrade`), keeping every
//! section byte for byte — a file of an older version (no checksums before version 3) is decoded
//! and encoded again, with the same configuration, iteration, note and sections, and only then
//! carries a checksum for each — or cut to what sampling needs (`debm strip`, [`sampling_only`]).
//!
//! Checksums taken over damaged bytes would vouch for the damage, so nothing is rewritten that
//! does not load the way the site and a resumed run load it ([`check_loads`]), and the new
//! file must decode to exactly what the old one held before it is handed back.

use crate::Device;
use crate::checkpoint;
use crate::weights::{FORMAT_VERSION, WeightsError, WeightsFile, section};

/// Why a file was not rewritten.
#[derive(Debug, thiserror::Error)]
pub enum UpgradeError {
    /// The file itself is refused: it is not rewritten, so its damage gets no checksum.
    #[error(transparent)]
    Refused(#[from] WeightsError),
    /// The rewritten file would not hold what the original held (a bug of the encoder).
    #[error("the rewritten file would differ from the original in {0}; nothing was written")]
    Differs(String),
}

/// A file rewritten in the current version.
pub struct Upgraded {
    /// The new file.
    pub bytes: Vec<u8>,
    /// The version it was written in.
    pub from_version: u32,
    /// Its sections' names, in order.
    pub sections: Vec<String>,
}

/// Every check the file's readers make: the header and sections ([`WeightsFile::decode`], done
/// by the caller), each net (shape, NaN or infinite weights), Adam's state and its parameter
/// ids, the drift level, the persistent chains (as a resumed run takes them: `checkpoint::restore`
/// with the file's own configuration) and the linear probe.
pub fn check_loads(file: &WeightsFile) -> Result<(), WeightsError> {
    checkpoint::restore(file, file.header.config.clone(), &Device::flex())?;
    file.probe()?;
    Ok(())
}

/// `bytes` (a weights file of any version this build reads) in the current version, with the
/// same header fields and the same sections, byte for byte once decoded.
pub fn upgrade(bytes: &[u8]) -> Result<Upgraded, UpgradeError> {
    let old = WeightsFile::decode(bytes)?;
    // The version the prefix gives (a decoded file is at least that long).
    let from_version = u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes"));
    check_loads(&old)?;
    let new_bytes = WeightsFile::encode(&old.header.config, old.header.iteration, &old.header.note, old.sections.clone());
    let new = WeightsFile::decode(&new_bytes)?;
    let (a, b) = (&old.header, &new.header);
    if new.sections != old.sections {
        return Err(UpgradeError::Differs("its sections".into()));
    }
    if (&a.config, a.iteration, &a.note, a.net) != (&b.config, b.iteration, &b.note, b.net) {
        return Err(UpgradeError::Differs("its header (configuration, iteration, note or network)".into()));
    }
    if b.format_version != FORMAT_VERSION {
        return Err(UpgradeError::Differs(format!("its version ({}, not {FORMAT_VERSION})", b.format_version)));
    }
    check_loads(&new)?;
    Ok(Upgraded { bytes: new_bytes, from_version, sections: new.sections.iter().map(|(name, _)| name.clone()).collect() })
}

/// The sections a page or `debm` needs to sample, score and classify: the net that samples, its
/// persistent chains (a contrastive model continues them) and its linear probe. The rest is the
/// training state — the weights being trained behind a moving average, Adam's moments and their
/// parameter ids, the drift guard's mean — which only a resumed run reads; without it a run
/// continues from the sampled net with a fresh optimiser.
pub const SAMPLING_SECTIONS: [&str; 5] = [section::MODEL, section::BUFFER, section::BUFFER_LABELS, section::BUFFER_AGES, section::PROBE];

/// A file cut to its [`SAMPLING_SECTIONS`].
pub struct Stripped {
    /// The new file (current format version).
    pub bytes: Vec<u8>,
    /// The sections kept, and those left out, in the file's order.
    pub kept: Vec<String>,
    pub dropped: Vec<String>,
}

/// `bytes` with only the sections sampling needs, each byte for byte, and the same
/// configuration, iteration and note: what a site ships.
/// Refused as [`upgrade`] refuses: a file that does not load is not rewritten.
pub fn sampling_only(bytes: &[u8]) -> Result<Stripped, UpgradeError> {
    let old = WeightsFile::decode(bytes)?;
    check_loads(&old)?;
    let (kept, dropped): (Vec<_>, Vec<_>) = old.sections.iter().cloned().partition(|(name, _)| SAMPLING_SECTIONS.contains(&name.as_str()));
    let new_bytes = WeightsFile::encode(&old.header.config, old.header.iteration, &old.header.note, kept.clone());
    let new = WeightsFile::decode(&new_bytes)?;
    if new.sections != kept {
        return Err(UpgradeError::Differs("its sections".into()));
    }
    let (a, b) = (&old.header, &new.header);
    if (&a.config, a.iteration, &a.note, a.net) != (&b.config, b.iteration, &b.note, b.net) {
        return Err(UpgradeError::Differs("its header (configuration, iteration, note or network)".into()));
    }
    check_loads(&new)?;
    let names = |sections: &[(String, Vec<u8>)]| sections.iter().map(|(name, _)| name.clone()).collect();
    Ok(Stripped { bytes: new_bytes, kept: names(&kept), dropped: names(&dropped) })
}
