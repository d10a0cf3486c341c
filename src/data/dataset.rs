//! Shards merged into one dataset: summary, previews and batches for the trainer.

use std::collections::BTreeMap;

use burn::prelude::*;
use burn::tensor::{Int, TensorData};
use rand::{Rng, RngExt};
use serde::{Deserialize, Serialize};

use super::error::DataError;
use super::npz::Limits;
use super::shard::{ImageArray, Shard, Split, load_shard};

/// DermaMNIST's class names, in label order.
pub const DERMAMNIST_CLASSES: [&str; 7] = ["akiec", "bcc", "bkl", "df", "mel", "nv", "vasc"];

/// Name of class `index`: the DermaMNIST name where there is one.
pub fn class_name(index: usize) -> String {
    DERMAMNIST_CLASSES.get(index).map(|s| s.to_string()).unwrap_or_else(|| format!("class {index}"))
}

/// Images of one size from one or more files, by split.
#[derive(Clone, Debug)]
pub struct Dataset {
    pub height: usize,
    pub width: usize,
    pub channels: usize,
    pub files: Vec<String>,
    splits: BTreeMap<Split, ImageArray>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct ClassCount {
    pub class: usize,
    pub name: String,
    pub count: usize,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct SplitSummary {
    pub split: Split,
    pub rows: usize,
    pub labelled: bool,
    pub class_counts: Vec<ClassCount>,
}

/// What the site and `debm info` show about a dataset.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Summary {
    pub files: Vec<String>,
    /// [height, width] in pixels.
    pub image_size: [usize; 2],
    pub channels: usize,
    pub total_rows: usize,
    pub splits: Vec<SplitSummary>,
    /// Mean pixel per channel over every image, in 0..1.
    pub mean_pixel: Vec<f64>,
}

impl Dataset {
    /// Parses and merges uploaded files, given as (name, bytes).
    pub fn load(files: &[(&str, &[u8])], limits: Limits) -> Result<Self, DataError> {
        let shards = files.iter().map(|(name, bytes)| load_shard(name, bytes, limits)).collect::<Result<Vec<_>, _>>()?;
        Self::from_shards(shards)
    }

    pub fn from_shards(shards: Vec<Shard>) -> Result<Self, DataError> {
        let mut dataset: Option<Dataset> = None;
        let mut orphans = Vec::new();
        for shard in shards {
            for (split, labels) in shard.orphan_labels {
                orphans.push((shard.name.clone(), split, labels));
            }
            for (split, images) in shard.images {
                let d = dataset.get_or_insert_with(|| Dataset {
                    height: images.height,
                    width: images.width,
                    channels: images.channels,
                    files: Vec::new(),
                    splits: BTreeMap::new(),
                });
                if (images.height, images.width, images.channels) != (d.height, d.width, d.channels) {
                    return Err(DataError::ShapeMismatch {
                        file: shard.name.clone(),
                        got: describe(images.height, images.width, images.channels),
                        expected: describe(d.height, d.width, d.channels),
                    });
                }
                if !d.files.contains(&shard.name) {
                    d.files.push(shard.name.clone());
                }
                match d.splits.get_mut(&split) {
                    None => {
                        d.splits.insert(split, images);
                    }
                    Some(existing) => append(existing, images),
                }
            }
        }
        let Some(mut dataset) = dataset else {
            return Err(DataError::Empty("none of the files holds an image array".into()));
        };
        for (file, split, labels) in orphans {
            match dataset.splits.get_mut(&split) {
                Some(images) if images.labels.is_none() && images.count == labels.len() => images.labels = Some(labels),
                Some(images) if images.labels.is_none() => {
                    return Err(DataError::LabelCount { file, split: split.name().into(), labels: labels.len(), images: images.count });
                }
                Some(_) => {
                    return Err(DataError::DuplicateLabels { file, key: format!("{}_labels", split.name()), split: split.name().into() });
                }
                None => return Err(DataError::OrphanLabels { file, key: format!("{}_labels", split.name()) }),
            }
        }
        if dataset.splits.values().all(|s| s.count == 0) {
            return Err(DataError::Empty("the image arrays have zero rows".into()));
        }
        Ok(dataset)
    }

    pub fn rows(&self, split: Split) -> usize {
        self.splits.get(&split).map_or(0, |s| s.count)
    }

    pub fn split(&self, split: Split) -> Option<&ImageArray> {
        self.splits.get(&split)
    }

    pub fn splits(&self) -> impl Iterator<Item = Split> + '_ {
        self.splits.keys().copied()
    }

    /// The split to train on: train if present, else the largest one.
    pub fn training_split(&self) -> Split {
        if self.rows(Split::Train) > 0 {
            return Split::Train;
        }
        self.splits.iter().max_by_key(|(_, s)| s.count).map(|(k, _)| *k).unwrap_or(Split::Train)
    }

    pub fn summary(&self) -> Summary {
        let mut sums = vec![0u64; self.channels];
        let mut pixels = 0u64;
        let splits = self
            .splits
            .iter()
            .map(|(split, images)| {
                for px in images.pixels.chunks_exact(self.channels) {
                    for (s, v) in sums.iter_mut().zip(px) {
                        *s += *v as u64;
                    }
                }
                pixels += (images.count * self.height * self.width) as u64;
                let class_counts = images
                    .labels
                    .as_ref()
                    .map(|labels| {
                        let classes = labels.iter().copied().max().map_or(0, |m| m as usize + 1).max(DERMAMNIST_CLASSES.len());
                        let mut counts = vec![0usize; classes];
                        for &l in labels {
                            counts[l as usize] += 1;
                        }
                        counts.into_iter().enumerate().map(|(class, count)| ClassCount { class, name: class_name(class), count }).collect()
                    })
                    .unwrap_or_default();
                SplitSummary { split: *split, rows: images.count, labelled: images.labels.is_some(), class_counts }
            })
            .collect::<Vec<_>>();
        Summary {
            files: self.files.clone(),
            image_size: [self.height, self.width],
            channels: self.channels,
            total_rows: splits.iter().map(|s| s.rows).sum(),
            splits,
            mean_pixel: sums.iter().map(|&s| s as f64 / pixels.max(1) as f64 / 255.0).collect(),
        }
    }

    /// Row `index` of `split` as RGBA bytes (H×W×4), for previews.
    pub fn rgba(&self, split: Split, index: usize) -> Option<Vec<u8>> {
        let images = self.splits.get(&split)?;
        (index < images.count).then(|| to_rgba(images.image(index), images.channels))
    }

    /// Number of classes the labels of every split cover (largest label + 1); 0 if unlabelled.
    pub fn label_classes(&self) -> usize {
        self.splits.values().filter_map(|s| s.labels.as_ref()).flat_map(|l| l.iter().max()).map(|&m| m as usize + 1).max().unwrap_or(0)
    }

    /// Whether `split` has a label for every row.
    pub fn is_labelled(&self, split: Split) -> bool {
        self.splits.get(&split).is_some_and(|s| s.labels.is_some())
    }

    /// Label of row `index` of `split`, if the split is labelled.
    pub fn label(&self, split: Split, index: usize) -> Option<u8> {
        self.splits.get(&split)?.labels.as_ref()?.get(index).copied()
    }

    /// Rows `indices` of `split` as a [N, C, H, W] tensor in [-1, 1].
    pub fn batch(&self, split: Split, indices: &[usize], device: &Device) -> Tensor<4> {
        let images = &self.splits[&split];
        let rows: Vec<&[u8]> = indices.iter().map(|&i| images.image(i)).collect();
        images_to_tensor(&rows, self.channels, self.height, self.width, device)
    }
}

fn describe(h: usize, w: usize, c: usize) -> String {
    format!("{h}×{w}×{c}")
}

fn append(existing: &mut ImageArray, more: ImageArray) {
    existing.labels = match (existing.labels.take(), more.labels) {
        (Some(mut a), Some(b)) => {
            a.extend(b);
            Some(a)
        }
        // Labels only mean something when every row has one.
        _ => None,
    };
    existing.pixels.extend(more.pixels);
    existing.count += more.count;
}

/// H×W×C bytes → RGBA bytes (grayscale is repeated over R, G and B).
pub fn to_rgba(hwc: &[u8], channels: usize) -> Vec<u8> {
    hwc.chunks_exact(channels).flat_map(|px| if channels == 1 { [px[0], px[0], px[0], 255] } else { [px[0], px[1], px[2], 255] }).collect()
}

/// H×W×C uint8 images → [N, C, H, W] floats in [-1, 1] on `device`.
pub fn images_to_tensor(rows: &[&[u8]], channels: usize, height: usize, width: usize, device: &Device) -> Tensor<4> {
    let plane = height * width;
    let mut out = vec![0f32; rows.len() * channels * plane];
    for (n, hwc) in rows.iter().enumerate() {
        let base = n * channels * plane;
        for (p, px) in hwc.chunks_exact(channels).enumerate() {
            for (c, v) in px.iter().enumerate() {
                out[base + c * plane + p] = *v as f32 / 127.5 - 1.0;
            }
        }
    }
    Tensor::from_data(TensorData::new(out, [rows.len(), channels, height, width]), device)
}

/// [N, C, H, W] floats in [-1, 1] → per image H×W×C uint8 (rounded, clamped).
pub fn tensor_values_to_images(values: &[f32], channels: usize, height: usize, width: usize) -> Vec<Vec<u8>> {
    let plane = height * width;
    values
        .chunks_exact(channels * plane)
        .map(|img| {
            let mut hwc = vec![0u8; channels * plane];
            for c in 0..channels {
                for p in 0..plane {
                    let v = ((img[c * plane + p] + 1.0) * 127.5).round().clamp(0.0, 255.0);
                    hwc[p * channels + c] = v as u8;
                }
            }
            hwc
        })
        .collect()
}

/// Draws training batches from one split. Splits up to `max_device_bytes` are uploaded once and
/// gathered on the device; larger ones are converted per batch.
pub struct BatchSource {
    split: Split,
    rows: usize,
    on_device: Option<Tensor<4>>,
}

impl BatchSource {
    pub const DEFAULT_DEVICE_BYTES: usize = 512 * 1024 * 1024;

    pub fn new(dataset: &Dataset, split: Split, device: &Device, max_device_bytes: usize) -> Self {
        let rows = dataset.rows(split);
        let bytes = rows * dataset.channels * dataset.height * dataset.width * 4;
        let on_device = (rows > 0 && bytes <= max_device_bytes).then(|| {
            let all: Vec<usize> = (0..rows).collect();
            dataset.batch(split, &all, device)
        });
        Self { split, rows, on_device }
    }

    /// `n` rows chosen uniformly with replacement, with their labels when the split is labelled.
    pub fn draw(&self, dataset: &Dataset, n: usize, rng: &mut impl Rng, device: &Device) -> (Tensor<4>, Option<Vec<i32>>) {
        let picks: Vec<usize> = (0..n).map(|_| rng.random_range(0..self.rows)).collect();
        let labels = dataset.split(self.split).and_then(|s| s.labels.as_ref()).map(|l| picks.iter().map(|&i| l[i] as i32).collect());
        let images = match &self.on_device {
            Some(all) => {
                let idx: Vec<i32> = picks.iter().map(|&i| i as i32).collect();
                all.clone().select(0, Tensor::<1, Int>::from_data(TensorData::new(idx, [n]), device))
            }
            None => dataset.batch(self.split, &picks, device),
        };
        (images, labels)
    }
}
