//! Energies of images, and classes of images under a class-conditional model.

use rand::RngExt;
use serde::Serialize;
use wasm_bindgen::prelude::*;

use super::convert::rgba_to_images;
use super::files::parse_split;
use super::{BusyGuard, Engine, err, to_js};
use crate::buffer::ReplayBuffer;
use crate::data::{Split, images_to_tensor};
use crate::inference::{Classifier, ClassifyError, argmax_rows, energies};
use crate::limits::{MAX_IMAGES_PER_CALL, SCORING_CHUNK, check_count};
use crate::metrics::{Classification, auroc_lower_is_positive};
use crate::session::ModelClassifier;
use crate::{Device, Tensor};

#[derive(Serialize)]
struct SplitClassification {
    split: Split,
    /// Which classifier answered.
    classifier: Classifier,
    #[serde(flatten)]
    result: Classification,
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
        energies(&model, images, SCORING_CHUNK).await.map_err(err)
    }

    /// Energies of the first `limit` rows of a dataset split.
    #[wasm_bindgen(js_name = scoreSplit)]
    pub async fn score_split(&self, split: &str, limit: usize) -> Result<Vec<f32>, JsError> {
        let split = parse_split(split)?;
        let _busy = BusyGuard::take(&self.state)?;
        let (model, _, device) = self.model_for_use()?;
        let (images, _) = self.split_rows(split, limit, &device)?;
        energies(&model, images, SCORING_CHUNK).await.map_err(err)
    }

    /// Energies of `count` uniform-noise images.
    #[wasm_bindgen(js_name = scoreNoise)]
    pub async fn score_noise(&self, count: usize) -> Result<Vec<f32>, JsError> {
        check_count("count", count, MAX_IMAGES_PER_CALL).map_err(err)?;
        let _busy = BusyGuard::take(&self.state)?;
        let (model, config, device) = self.model_for_use()?;
        let seed = self.state.borrow_mut().rng.random();
        device.seed(seed);
        let noise = ReplayBuffer::noise(count, config.image_shape(), &device);
        energies(&model, noise, SCORING_CHUNK).await.map_err(err)
    }

    /// Class probabilities p(y | x) of `count` RGBA images under a class-conditional model:
    /// `count` rows of `classes` numbers, flattened.
    #[wasm_bindgen(js_name = classifyRgba)]
    pub async fn classify_rgba(&self, rgba: &[u8], count: usize) -> Result<Vec<f32>, JsError> {
        let _busy = BusyGuard::take(&self.state)?;
        let (model, config, device) = self.model_for_use()?;
        let images = rgba_tensor(rgba, count, config.image_size, config.channels, &device)?;
        let classifier = self.classifier()?;
        let rows = classifier.probabilities(&model, images, SCORING_CHUNK).await.map_err(err)?;
        Ok(rows.concat())
    }

    /// Classifies the first `limit` rows of a labelled split: `{split, rows, accuracy,
    /// majority_baseline, majority_class, confusion}`.
    #[wasm_bindgen(js_name = classifySplit)]
    pub async fn classify_split(&self, split: &str, limit: usize) -> Result<JsValue, JsError> {
        let split = parse_split(split)?;
        let _busy = BusyGuard::take(&self.state)?;
        let (model, _, device) = self.model_for_use()?;
        let classifier = self.classifier()?;
        let (images, labels) = self.split_rows(split, limit, &device)?;
        let labels = labels.ok_or_else(|| err(format!("the {} split has no labels to compare with", split.name())))?;
        let predicted = argmax_rows(&classifier.probabilities(&model, images, SCORING_CHUNK).await.map_err(err)?);
        let result = Classification::of(&labels, &predicted, classifier.classes());
        to_js(&SplitClassification { split, classifier: classifier.kind(), result })
    }
}

impl Engine {
    /// The classifier of the model in use (`Session::classifier`: the loaded file's probe while
    /// its net is in use, else a class-conditional head).
    fn classifier(&self) -> Result<ModelClassifier, JsError> {
        self.state.borrow().session.classifier().ok_or_else(|| err(ClassifyError::NoClassifier))
    }

    /// The first `limit` rows of `split` as a tensor, with their labels if the split has them.
    fn split_rows(&self, split: Split, limit: usize, device: &Device) -> Result<(Tensor<4>, Option<Vec<u8>>), JsError> {
        let s = self.state.borrow();
        let dataset = s.session.dataset().ok_or_else(|| err("no dataset is loaded"))?;
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
