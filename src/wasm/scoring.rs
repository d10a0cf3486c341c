//! Energies of images, and classes of images under a class-conditional model.

use rand::RngExt;
use serde::Serialize;
use wasm_bindgen::prelude::*;

use super::convert::rgba_to_images;
use super::files::parse_split;
use super::{BusyGuard, Engine, err, to_js};
use crate::buffer::ReplayBuffer;
use crate::data::{Split, images_to_tensor};
use crate::inference::{argmax_rows, class_probabilities, energies};
use crate::metrics::auroc_lower_is_positive;
use crate::{Device, Tensor};

#[derive(Serialize)]
struct SplitClassification {
    split: Split,
    rows: usize,
    /// Share of rows whose most probable class is their label.
    accuracy: f64,
    /// Accuracy of always answering the most common label of these rows.
    majority_baseline: f64,
    majority_class: usize,
    /// confusion[true][predicted] counts.
    confusion: Vec<Vec<usize>>,
}

#[wasm_bindgen]
impl Engine {
    /// AUROC of `likely` against `unlikely` energies: the chance that a random likely value is
    /// lower than a random unlikely one (ties count half); 1 = perfectly separated.
    pub fn auroc(likely: &[f32], unlikely: &[f32]) -> Result<f64, JsError> {
        auroc_lower_is_positive(likely, unlikely)
            .ok_or_else(|| err("AUROC needs at least one energy in each group, and finite energies only"))
    }

    /// Energies of `count` RGBA images (each side×side×4 bytes, the model's size).
    #[wasm_bindgen(js_name = scoreRgba)]
    pub async fn score_rgba(&self, rgba: &[u8], count: usize) -> Result<Vec<f32>, JsError> {
        let _busy = BusyGuard::take(&self.state)?;
        let (model, config, device) = self.model_for_use()?;
        let images = rgba_tensor(rgba, count, config.image_size, config.channels, &device)?;
        energies(&model, images, 256).await.map_err(err)
    }

    /// Energies of the first `limit` rows of a dataset split.
    #[wasm_bindgen(js_name = scoreSplit)]
    pub async fn score_split(&self, split: &str, limit: usize) -> Result<Vec<f32>, JsError> {
        let split = parse_split(split)?;
        let _busy = BusyGuard::take(&self.state)?;
        let (model, _, device) = self.model_for_use()?;
        let (images, _) = self.split_rows(split, limit, &device)?;
        energies(&model, images, 256).await.map_err(err)
    }

    /// Energies of `count` uniform-noise images.
    #[wasm_bindgen(js_name = scoreNoise)]
    pub async fn score_noise(&self, count: usize) -> Result<Vec<f32>, JsError> {
        if count == 0 || count > 4096 {
            return Err(err(format!("count must be between 1 and 4096 (got {count})")));
        }
        let _busy = BusyGuard::take(&self.state)?;
        let (model, config, device) = self.model_for_use()?;
        let seed = self.state.borrow_mut().rng.random();
        device.seed(seed);
        let noise = ReplayBuffer::noise(count, config.image_shape(), &device);
        energies(&model, noise, 256).await.map_err(err)
    }

    /// Class probabilities p(y | x) of `count` RGBA images under a class-conditional model:
    /// `count` rows of `classes` numbers, flattened.
    #[wasm_bindgen(js_name = classifyRgba)]
    pub async fn classify_rgba(&self, rgba: &[u8], count: usize) -> Result<Vec<f32>, JsError> {
        let _busy = BusyGuard::take(&self.state)?;
        let (model, config, device) = self.model_for_use()?;
        let images = rgba_tensor(rgba, count, config.image_size, config.channels, &device)?;
        let rows = class_probabilities(&model, images, 256).await.map_err(err)?;
        Ok(rows.concat())
    }

    /// Classifies the first `limit` rows of a labelled split: `{split, rows, accuracy,
    /// majority_baseline, majority_class, confusion}`.
    #[wasm_bindgen(js_name = classifySplit)]
    pub async fn classify_split(&self, split: &str, limit: usize) -> Result<JsValue, JsError> {
        let split = parse_split(split)?;
        let _busy = BusyGuard::take(&self.state)?;
        let (model, config, device) = self.model_for_use()?;
        if config.classes == 0 {
            return Err(err("this model is not class-conditional: it has no classifier"));
        }
        let (images, labels) = self.split_rows(split, limit, &device)?;
        let labels = labels.ok_or_else(|| err(format!("the {} split has no labels to compare with", split.name())))?;
        let predicted = argmax_rows(&class_probabilities(&model, images, 256).await.map_err(err)?);
        let classes = config.classes.max(labels.iter().map(|&l| l as usize + 1).max().unwrap_or(0));
        let mut confusion = vec![vec![0usize; classes]; classes];
        for (&truth, &guess) in labels.iter().zip(&predicted) {
            confusion[truth as usize][guess] += 1;
        }
        let right: usize = (0..classes).map(|k| confusion[k][k]).sum();
        let per_class: Vec<usize> = confusion.iter().map(|row| row.iter().sum()).collect();
        let (majority_class, &majority) = per_class.iter().enumerate().max_by_key(|(_, n)| **n).unwrap_or((0, &0));
        let rows = labels.len();
        to_js(&SplitClassification {
            split,
            rows,
            accuracy: right as f64 / rows as f64,
            majority_baseline: majority as f64 / rows as f64,
            majority_class,
            confusion,
        })
    }
}

impl Engine {
    /// The first `limit` rows of `split` as a tensor, with their labels if the split has them.
    fn split_rows(&self, split: Split, limit: usize, device: &Device) -> Result<(Tensor<4>, Option<Vec<u8>>), JsError> {
        let s = self.state.borrow();
        let dataset = s.dataset.as_ref().ok_or_else(|| err("no dataset is loaded"))?;
        let n = dataset.rows(split).min(limit.max(1));
        if n == 0 {
            return Err(err(format!("the dataset has no {} split", split.name())));
        }
        let rows: Vec<usize> = (0..n).collect();
        let labels = dataset.is_labelled(split).then(|| rows.iter().filter_map(|&i| dataset.label(split, i)).collect());
        Ok((dataset.batch(split, &rows, device), labels))
    }
}

fn rgba_tensor(rgba: &[u8], count: usize, side: usize, channels: usize, device: &Device) -> Result<Tensor<4>, JsError> {
    let images = rgba_to_images(rgba, count, side, channels)?;
    let refs: Vec<&[u8]> = images.iter().map(|r| r.as_slice()).collect();
    Ok(images_to_tensor(&refs, channels, side, side, device))
}
