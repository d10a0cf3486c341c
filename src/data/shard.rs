//! One uploaded file (a shard) interpreted as MedMNIST splits.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::error::DataError;
use super::npy::{self, RawArray};
use super::npz::{self, Limits};

/// MedMNIST's splits.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    Train,
    Val,
    Test,
}

impl Split {
    pub const ALL: [Split; 3] = [Split::Train, Split::Val, Split::Test];

    pub fn name(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Val => "val",
            Split::Test => "test",
        }
    }

    pub fn parse(s: &str) -> Option<Split> {
        Split::ALL.into_iter().find(|x| x.name() == s)
    }
}

/// Images of one split in one shard, stored as numpy had them: N×H×W×C, row-major, uint8.
#[derive(Clone, Debug, PartialEq)]
pub struct ImageArray {
    pub count: usize,
    pub height: usize,
    pub width: usize,
    pub channels: usize,
    pub pixels: Vec<u8>,
    pub labels: Option<Vec<u8>>,
}

impl ImageArray {
    pub fn image_bytes(&self) -> usize {
        self.height * self.width * self.channels
    }

    pub fn image(&self, i: usize) -> &[u8] {
        let n = self.image_bytes();
        &self.pixels[i * n..(i + 1) * n]
    }
}

/// A parsed file: images per split, and label arrays that came without images (bare .npy).
#[derive(Clone, Debug, Default)]
pub struct Shard {
    pub name: String,
    pub images: BTreeMap<Split, ImageArray>,
    pub orphan_labels: BTreeMap<Split, Vec<u8>>,
}

/// Largest image side accepted (MedMNIST+ goes up to 224).
pub const MAX_SIDE: usize = 224;

const EXPECTED_IMAGES: &str = "(N, H, W, 3) RGB or (N, H, W) grayscale uint8 with square sides of 8–224 pixels";

fn image_array(raw: &RawArray, file: &str, key: &str) -> Result<ImageArray, DataError> {
    if !raw.is_u8() {
        return Err(DataError::DType { file: file.into(), key: key.into(), dtype: raw.descr.clone() });
    }
    let shape_err = || DataError::Shape { file: file.into(), key: key.into(), shape: raw.shape.clone(), expected: EXPECTED_IMAGES.into() };
    let (n, h, w, c) = match raw.shape.as_slice() {
        [n, h, w] => (*n, *h, *w, 1),
        [n, h, w, c] if *c == 3 || *c == 1 => (*n, *h, *w, *c),
        _ => return Err(shape_err()),
    };
    if h != w || !(8..=MAX_SIDE as u64).contains(&h) {
        return Err(shape_err());
    }
    Ok(ImageArray {
        count: n as usize,
        height: h as usize,
        width: w as usize,
        channels: c as usize,
        pixels: raw.data.to_vec(),
        labels: None,
    })
}

fn label_array(raw: &RawArray, file: &str, key: &str) -> Result<Vec<u8>, DataError> {
    match raw.shape.as_slice() {
        [_] | [_, 1] => {}
        _ => {
            return Err(DataError::Shape {
                file: file.into(),
                key: key.into(),
                shape: raw.shape.clone(),
                expected: "(N,) or (N, 1) class indices".into(),
            });
        }
    }
    raw.integers(file, key)?
        .into_iter()
        .map(|v| u8::try_from(v).map_err(|_| DataError::BadLabel { file: file.into(), key: key.into(), label: v }))
        .collect()
}

/// Splits `key` like `train_images` into (split, "images"); a bare name counts as train.
fn classify(key: &str) -> (Split, bool) {
    let base = key.rsplit('/').next().unwrap_or(key);
    let base = base.strip_suffix(".npy").unwrap_or(base);
    let split = Split::ALL.into_iter().find(|s| base.starts_with(&format!("{}_", s.name()))).unwrap_or(Split::Train);
    (split, base.ends_with("labels"))
}

/// Parses the bytes of one uploaded `.npz` or `.npy` file named `file`.
pub fn load_shard(file: &str, bytes: &[u8], limits: Limits) -> Result<Shard, DataError> {
    let mut shard = Shard { name: file.into(), ..Default::default() };
    if npy::is_npy(bytes) {
        // A bare array: its role comes from the file name (train_images.npy, val_labels.npy…).
        let raw = npy::parse(bytes, file, file)?;
        let (split, is_labels) = classify(file);
        if is_labels {
            shard.orphan_labels.insert(split, label_array(&raw, file, file)?);
        } else {
            shard.images.insert(split, image_array(&raw, file, file)?);
        }
        return Ok(shard);
    }
    if !npz::is_zip(bytes) {
        return Err(DataError::NotRecognised { file: file.into() });
    }
    let entries = npz::read_entries(bytes, file, limits)?;
    let mut labels = BTreeMap::new();
    for (key, data) in &entries {
        let Some(split) = Split::ALL.into_iter().find(|s| key == &format!("{}_images", s.name())) else { continue };
        let raw = npy::parse(data, file, key)?;
        shard.images.insert(split, image_array(&raw, file, key)?);
    }
    for (key, data) in &entries {
        let Some(split) = Split::ALL.into_iter().find(|s| key == &format!("{}_labels", s.name())) else { continue };
        let raw = npy::parse(data, file, key)?;
        labels.insert(split, (key.clone(), label_array(&raw, file, key)?));
    }
    if shard.images.is_empty() {
        let found: Vec<&str> = entries.iter().map(|(k, _)| k.as_str()).collect();
        let found = if found.is_empty() { "nothing".to_string() } else { found.join(", ") };
        return Err(DataError::MissingImages { file: file.into(), found });
    }
    for (split, (key, l)) in labels {
        let Some(images) = shard.images.get_mut(&split) else {
            return Err(DataError::OrphanLabels { file: file.into(), key });
        };
        if l.len() != images.count {
            return Err(DataError::LabelCount { file: file.into(), split: split.name().into(), labels: l.len(), images: images.count });
        }
        images.labels = Some(l);
    }
    Ok(shard)
}
