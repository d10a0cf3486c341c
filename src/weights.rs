//! The one file format the site and `debm` share for weights and checkpoints.
//!
//! Layout: `DEBMWTS\0`, u32 LE format version, u32 LE header length, u32 LE CRC32 of the header
//! (version 3 on), a JSON [`Header`], then the sections the header lists, back to back. The
//! model section is burn's burnpack record. Large sections (Adam's state, the persistent chains)
//! may be stored deflated: their header entry says so and gives the inflated size, which is
//! checked before anything is inflated.
//! The version is checked first so an old or new file is reported, never misread.
//!
//! Damage is refused, not loaded: a download or browser-stored copy with one wrong bit used to
//! load and sample without a word (issue 40). From version 3 the header and every section
//! (its stored bytes, deflated or not) carry a CRC32, checked by [`WeightsFile::decode`]
//! before anything is parsed or inflated, and the refusal names what failed. Versions 1 and 2
//! have no checksums and still load as before. A net with a NaN or infinite weight is refused
//! on loading ([`load_section`]), whatever the version: it would only ever sample noise.

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::prelude::*;
use burn::store::ModuleRecord;
use burn::tensor::{Bytes, Transaction};
use serde::{Deserialize, Serialize};

use crate::config::EbmConfig;
use crate::model::probe::fingerprint;
use crate::model::{ClassProbe, EnergyNet, NetShape};

/// The names of a file's sections, in one place: the weights file, checkpoints, the persistent
/// chains, the browser and `debm` all read and write them by these.
pub mod section {
    /// The energy net that samples and scores (a recovery model's moving average of the weights).
    pub const MODEL: &str = "model";
    /// The weights being trained when they differ from [`MODEL`] (the recovery recipe).
    pub const TRAINING_MODEL: &str = "training_model";
    /// Adam's state, and the parameter ids it is keyed by.
    pub const OPTIMIZER: &str = "optimizer";
    pub const PARAM_IDS: &str = "param_ids";
    /// The slow-drift guard's running mean (one f64 LE).
    pub const DRIFT_LEVEL: &str = "drift_level";
    /// The persistent chains (one byte per value), their labels and ages.
    pub const BUFFER: &str = "buffer";
    pub const BUFFER_LABELS: &str = "buffer_labels";
    pub const BUFFER_AGES: &str = "buffer_ages";
    /// A [`ClassProbe`](crate::model::ClassProbe) (JSON).
    pub const PROBE: &str = "probe";
}

pub const MAGIC: &[u8; 8] = b"DEBMWTS\0";
/// 3: CRC32 of the header and of every section. 2: sections may be deflated (`deflated_from`
/// in the header). Version 1 and 2 files still load, without checksums.
pub const FORMAT_VERSION: u32 = 3;
/// The first version whose header and sections carry checksums.
pub const CHECKSUMMED_VERSION: u32 = 3;
/// The oldest version this build reads.
pub const OLDEST_READABLE_VERSION: u32 = 1;
const MAX_HEADER: usize = 1 << 20;

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Section {
    pub name: String,
    /// Bytes in the file.
    pub len: u64,
    /// `Some(n)`: the section is deflated (raw DEFLATE) and inflates to `n` bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deflated_from: Option<u64>,
    /// CRC32 of the bytes in the file (required from version 3; older files have none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crc32: Option<u32>,
}

/// Sections worth deflating: Adam's state (its first moment is all zeros with β₁ = 0) and the
/// replay-buffer images.
const DEFLATED_SECTIONS: [&str; 2] = [section::OPTIMIZER, section::BUFFER];

/// The largest section a file may inflate to (a full 8,192-chain buffer at 224×224×3 is
/// 1.2 GB; anything above this is refused before inflating).
const MAX_INFLATED: u64 = 1 << 31;

fn deflate(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut encoder = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::new(6));
    encoder.write_all(bytes).expect("writing to memory");
    encoder.finish().expect("writing to memory")
}

fn inflate(name: &str, bytes: &[u8], len: u64) -> Result<Vec<u8>, WeightsError> {
    use std::io::Read;
    if len > MAX_INFLATED {
        return Err(WeightsError::Damaged(format!("section `{name}` claims {len} bytes inflated, more than allowed")));
    }
    let mut out = Vec::with_capacity(len as usize);
    flate2::read::DeflateDecoder::new(bytes)
        .take(len + 1)
        .read_to_end(&mut out)
        .map_err(|e| WeightsError::Damaged(format!("section `{name}` does not inflate: {e}")))?;
    if out.len() as u64 != len {
        return Err(WeightsError::Damaged(format!("section `{name}` inflates to {} bytes, not the {len} its header says", out.len())));
    }
    Ok(out)
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Header {
    pub format_version: u32,
    pub net: NetShape,
    pub config: EbmConfig,
    /// Training iterations behind these weights.
    pub iteration: u64,
    /// Free-form provenance (what trained it, on what data).
    #[serde(default)]
    pub note: String,
    pub sections: Vec<Section>,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum WeightsError {
    #[error("not a weights file of this project (it does not start with DEBMWTS)")]
    NotWeights,
    #[error("weights file format version {found} is not supported (this build reads versions {OLDEST_READABLE_VERSION}–{FORMAT_VERSION})")]
    Version { found: u32 },
    #[error("the weights file is truncated or damaged: {0}")]
    Damaged(String),
    #[error("these weights were written by a newer version of dermaebm ({0}); update this build to read them")]
    Newer(String),
    #[error("these weights are for a different network ({found}); the current model is {expected}")]
    Architecture { found: String, expected: String },
    #[error("the weights do not fit the network: {0}")]
    Record(String),
    #[error("reading the weights back from the device failed: {0}")]
    Readback(String),
}

pub fn describe(net: &NetShape) -> String {
    let classes = if net.classes > 0 { format!(", {} classes", net.classes) } else { String::new() };
    let kind = match net.residual {
        Some(r) => format!("residual energy net of {} stages × {} blocks (embedding {}), ", r.stages, r.blocks, r.embedding),
        None => String::new(),
    };
    format!("{kind}{}×{}×{} images, width {}{classes}", net.channels, net.image_size, net.image_size, net.width)
}

/// A parsed file: header plus named sections.
pub struct WeightsFile {
    pub header: Header,
    pub sections: Vec<(String, Vec<u8>)>,
}

impl WeightsFile {
    pub fn section(&self, name: &str) -> Option<&[u8]> {
        self.sections.iter().find(|(n, _)| n == name).map(|(_, b)| b.as_slice())
    }

    pub fn encode(config: &EbmConfig, iteration: u64, note: &str, sections: Vec<(String, Vec<u8>)>) -> Vec<u8> {
        // Deflate the big sections where that saves space; the rest stay as they are.
        let stored: Vec<(Section, Vec<u8>)> = sections
            .into_iter()
            .map(|(name, bytes)| {
                let packed = DEFLATED_SECTIONS.contains(&name.as_str()).then(|| deflate(&bytes)).filter(|p| p.len() < bytes.len());
                let (deflated_from, stored) = match packed {
                    Some(p) => (Some(bytes.len() as u64), p),
                    None => (None, bytes),
                };
                let crc32 = Some(crc32fast::hash(&stored));
                (Section { name, len: stored.len() as u64, deflated_from, crc32 }, stored)
            })
            .collect();
        let header = Header {
            format_version: FORMAT_VERSION,
            net: NetShape::from(config),
            config: config.clone(),
            iteration,
            note: note.into(),
            sections: stored.iter().map(|(s, _)| s.clone()).collect(),
        };
        let sections: Vec<(String, Vec<u8>)> = stored.into_iter().map(|(s, b)| (s.name, b)).collect();
        let json = serde_json::to_vec(&header).expect("header serialises");
        let mut out = Vec::with_capacity(20 + json.len() + sections.iter().map(|s| s.1.len()).sum::<usize>());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        out.extend_from_slice(&(json.len() as u32).to_le_bytes());
        out.extend_from_slice(&crc32fast::hash(&json).to_le_bytes());
        out.extend_from_slice(&json);
        for (_, bytes) in sections {
            out.extend_from_slice(&bytes);
        }
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, WeightsError> {
        if bytes.len() < 8 || &bytes[..8] != MAGIC {
            return Err(WeightsError::NotWeights);
        }
        if bytes.len() < 16 {
            return Err(WeightsError::Damaged("the header is cut short".into()));
        }
        let version = u32::from_le_bytes(bytes[8..12].try_into().unwrap());
        if !(OLDEST_READABLE_VERSION..=FORMAT_VERSION).contains(&version) {
            return Err(WeightsError::Version { found: version });
        }
        let checked = version >= CHECKSUMMED_VERSION;
        // Version 3 puts the header's checksum between its length and the header itself.
        let start = if checked { 20 } else { 16 };
        let len = u32::from_le_bytes(bytes[12..16].try_into().unwrap()) as usize;
        if len > MAX_HEADER {
            return Err(WeightsError::Damaged(format!("the header claims {len} bytes, more than the {MAX_HEADER} allowed")));
        }
        if bytes.len() < start + len {
            return Err(WeightsError::Damaged("the header is cut short".into()));
        }
        let json = &bytes[start..start + len];
        // Checked before parsing: a damaged header could otherwise still parse and misdescribe
        // the sections (a length, a size, a setting) without any other check noticing.
        if checked && crc32fast::hash(json) != u32::from_le_bytes(bytes[16..20].try_into().unwrap()) {
            return Err(WeightsError::Damaged("the header fails its checksum".into()));
        }
        let header: Header = serde_json::from_slice(json).map_err(|e| {
            // Settings are added without a format-version bump (old files read with defaults),
            // so an unknown one means a newer writer, not damage.
            let message = e.to_string();
            // Likewise an unknown recipe (or other named choice): a newer build's file.
            if message.starts_with("unknown field") || message.starts_with("unknown variant") {
                WeightsError::Newer(message)
            } else {
                WeightsError::Damaged(format!("bad header: {e}"))
            }
        })?;
        header.config.validate().map_err(|e| WeightsError::Damaged(e.to_string()))?;
        if header.net != NetShape::from(&header.config) {
            return Err(WeightsError::Damaged("the header's network shape disagrees with its config".into()));
        }
        if checked && header.format_version != version {
            return Err(WeightsError::Damaged(format!("the header says version {}, the file {version}", header.format_version)));
        }
        let mut offset = start + len;
        let mut sections = Vec::new();
        for s in &header.sections {
            let end = offset.checked_add(s.len as usize).filter(|&e| e <= bytes.len());
            let Some(end) = end else {
                return Err(WeightsError::Damaged(format!("section `{}` is cut short", s.name)));
            };
            let stored = &bytes[offset..end];
            if checked {
                let Some(crc32) = s.crc32 else {
                    return Err(WeightsError::Damaged(format!("section `{}` has no checksum", s.name)));
                };
                // Before inflating: a flipped bit in deflated bytes may still inflate, to
                // something else.
                if crc32fast::hash(stored) != crc32 {
                    return Err(WeightsError::Damaged(format!("section `{}` fails its checksum", s.name)));
                }
            }
            let section = match s.deflated_from {
                Some(len) => inflate(&s.name, stored, len)?,
                None => stored.to_vec(),
            };
            sections.push((s.name.clone(), section));
            offset = end;
        }
        // A version 3 file is exactly its header and sections; older writers were not held to it.
        if checked && offset != bytes.len() {
            return Err(WeightsError::Damaged(format!("{} bytes follow the last section", bytes.len() - offset)));
        }
        Ok(Self { header, sections })
    }

    /// Builds the network the file describes on `device` and loads its weights.
    pub fn model(&self, device: &Device) -> Result<EnergyNet, WeightsError> {
        self.model_section(section::MODEL, device)
    }

    /// Builds the network the file describes from section `name` (`model`, or a checkpoint's
    /// weights being trained); refusals name the section.
    pub fn model_section(&self, name: &str, device: &Device) -> Result<EnergyNet, WeightsError> {
        let bytes = self.section(name).ok_or_else(|| WeightsError::Damaged(format!("no `{name}` section")))?;
        load_section(self.header.net, name, bytes, device)
    }

    /// This file with its net replaced by `model` (same shape) and its note by `note`; the
    /// configuration, iteration and every other section (Adam's state, the persistent chains)
    /// stay. E.g. a checkpoint whose net is the mean of its run's snapshots.
    pub async fn with_model(&self, model: &EnergyNet, note: &str) -> Result<Vec<u8>, WeightsError> {
        let net = self.header.net;
        let bytes = model_bytes(model, net).await?;
        // The new bytes must load as this file's network, or the file would not.
        load_model(net, &bytes, &Device::flex())?;
        let sections =
            self.sections.iter().map(|(name, b)| (name.clone(), if name == section::MODEL { bytes.clone() } else { b.clone() })).collect();
        Ok(Self::encode(&self.header.config, self.header.iteration, note, sections))
    }

    /// The linear probe stored with this net (`probe` section), if there is one and it was
    /// fitted on exactly this net; a probe of another net (the file's net was trained on or
    /// replaced since) is `None`, not an error — the head classifies instead.
    pub fn probe(&self) -> Result<Option<ClassProbe>, WeightsError> {
        let (Some(bytes), Some(net)) = (self.section(section::PROBE), self.section(section::MODEL)) else {
            return Ok(None);
        };
        let probe = ClassProbe::from_bytes(bytes).map_err(|e| WeightsError::Damaged(e.to_string()))?;
        let features = self.header.net.feature_width();
        if probe.features != features {
            return Err(WeightsError::Damaged(format!("the probe reads {} features; this net has {features}", probe.features)));
        }
        Ok((probe.net_fingerprint == fingerprint(net)).then_some(probe))
    }

    /// This file with `probe` stored beside its net (replacing any earlier probe); everything
    /// else stays.
    pub fn with_probe(&self, probe: &ClassProbe) -> Vec<u8> {
        let mut sections: Vec<(String, Vec<u8>)> = self.sections.iter().filter(|(name, _)| name != section::PROBE).cloned().collect();
        sections.push((section::PROBE.into(), probe.to_bytes()));
        Self::encode(&self.header.config, self.header.iteration, &self.header.note, sections)
    }

    /// Like [`Self::model`] but insists on a given architecture.
    pub fn model_for(&self, expected: NetShape, device: &Device) -> Result<EnergyNet, WeightsError> {
        if self.header.net != expected {
            return Err(WeightsError::Architecture { found: describe(&self.header.net), expected: describe(&expected) });
        }
        self.model(device)
    }
}

/// Loads burnpack `bytes` (a `model` section) into a new network of shape `net`; see
/// [`load_section`].
pub fn load_model(net: NetShape, bytes: &[u8], device: &Device) -> Result<EnergyNet, WeightsError> {
    load_section(net, section::MODEL, bytes, device)
}

/// Loads burnpack `bytes`, the file's section `section`, into a new network of shape `net`.
/// A NaN or infinite weight is refused as damage, naming the section: a v1/v2 file has no
/// checksum to catch a flipped exponent bit, and a net trained into NaN samples only noise.
pub fn load_section(net: NetShape, section: &str, bytes: &[u8], device: &Device) -> Result<EnergyNet, WeightsError> {
    let record = ModuleRecord::from_bytes(Bytes::from_bytes_vec(bytes.to_vec())).map_err(|e| WeightsError::Record(e.to_string()))?;
    // Checked on the CPU backend, where the values read back synchronously (WebGPU's do not),
    // before the net reaches `device`.
    let cpu = Device::flex();
    let on_cpu = EnergyNet::new(net, &cpu).try_load_record(record.clone()).map_err(|e| WeightsError::Record(e.to_string()))?;
    let bad = non_finite_weights(&on_cpu);
    if bad > 0 {
        let plural = if bad == 1 { "" } else { "s" };
        return Err(WeightsError::Damaged(format!("section `{section}` holds {bad} NaN or infinite weight{plural}")));
    }
    if *device == cpu {
        return Ok(on_cpu);
    }
    EnergyNet::new(net, device).try_load_record(record).map_err(|e| WeightsError::Record(e.to_string()))
}

/// How many of `model`'s weights are NaN or infinite (`model` on a synchronously readable device).
fn non_finite_weights(model: &EnergyNet) -> usize {
    struct Count(usize);
    impl ModuleVisitor for Count {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            let data = param.val().without_autodiff().into_data().convert::<f32>();
            self.0 += data.iter::<f32>().filter(|v| !v.is_finite()).count();
        }
    }
    let mut count = Count(0);
    model.visit(&mut count);
    count.0
}

/// The model's parameters as burnpack bytes. Reads the parameters asynchronously (WebGPU cannot
/// read synchronously), then records them from a CPU copy.
pub async fn model_bytes(model: &EnergyNet, net: NetShape) -> Result<Vec<u8>, WeightsError> {
    struct Collect {
        shapes: Vec<Vec<usize>>,
        transaction: Option<Transaction>,
    }
    impl ModuleVisitor for Collect {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            let t = param.val().without_autodiff();
            self.shapes.push(t.dims().to_vec());
            self.transaction = Some(self.transaction.take().unwrap_or_default().register(t));
        }
    }
    struct Fill {
        values: std::vec::IntoIter<burn::tensor::TensorData>,
    }
    impl ModuleMapper for Fill {
        fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
            let data = self.values.next().expect("one value per parameter");
            let device = param.val().device();
            Param::initialized(param.id, Tensor::from_data(data, &device))
        }
    }
    let mut collect = Collect { shapes: Vec::new(), transaction: None };
    model.visit(&mut collect);
    let values = match collect.transaction {
        Some(t) => t.execute_async().await.map_err(|e| WeightsError::Readback(format!("{e:?}")))?,
        None => Vec::new(),
    };
    let cpu_model = EnergyNet::new(net, &Device::flex()).map(&mut Fill { values: values.into_iter() });
    let bytes = cpu_model.into_record().into_bytes().map_err(|e| WeightsError::Record(e.to_string()))?;
    Ok(bytes.to_vec())
}
