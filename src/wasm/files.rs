//! Weights, checkpoints and datasets in and out of the engine (as bytes: no filesystem here).

use js_sys::Uint8Array;
use serde::Serialize;
use wasm_bindgen::prelude::*;

use super::{BusyGuard, Engine, err, to_js};
use crate::data::{Dataset, Limits, Split};
use crate::limits::MAX_IMAGES_PER_CALL;
use crate::weights::{WeightsFile, model_bytes, section};
use crate::{EbmConfig, NetShape};

#[derive(Serialize)]
struct Loaded<'a> {
    iteration: u64,
    note: &'a str,
    config: &'a EbmConfig,
    /// The file carries a replay buffer / optimiser state that training will continue from.
    has_buffer: bool,
    has_optimizer: bool,
}

#[wasm_bindgen]
impl Engine {
    /// Loads a weights or checkpoint file; its configuration becomes the current one, and
    /// `startTraining(true)` continues from it (with its optimiser state and replay buffer when
    /// it has them). Returns `{iteration, note, config, has_buffer, has_optimizer}`.
    #[wasm_bindgen(js_name = loadWeights)]
    pub fn load_weights(&self, bytes: &[u8]) -> Result<JsValue, JsError> {
        let file = WeightsFile::decode(bytes).map_err(err)?;
        let mut s = self.idle_state()?;
        let result = to_js(&Loaded {
            iteration: file.header.iteration,
            note: &file.header.note,
            config: &file.header.config,
            has_buffer: file.section(section::BUFFER).is_some(),
            has_optimizer: file.section(section::OPTIMIZER).is_some(),
        })?;
        s.session.load_weights(file).map_err(err)?;
        Ok(result)
    }

    /// The current model as a weights file (with its configuration).
    #[wasm_bindgen(js_name = saveWeights)]
    pub async fn save_weights(&self) -> Result<Uint8Array, JsError> {
        let _busy = BusyGuard::take(&self.state)?;
        let (model, config, iteration, note) = {
            let s = self.state.borrow();
            let session = &s.session;
            let model = self.current_model(&s, "there is no model to save yet")?;
            (model, session.config().clone(), session.iteration(), session.note(super::BROWSER_RUN))
        };
        let bytes = model_bytes(&model, NetShape::from(&config)).await.map_err(err)?;
        let file = WeightsFile::encode(&config, iteration, &note, vec![(section::MODEL.into(), bytes)]);
        Ok(Uint8Array::from(file.as_slice()))
    }

    /// Parses and merges uploaded `.npz`/`.npy` files; returns the dataset summary. The data
    /// decides the image shape; a model that no longer fits is discarded, a training run set
    /// aside (`Session::load_dataset`).
    #[wasm_bindgen(js_name = loadDataset)]
    pub fn load_dataset(&self, names: Vec<String>, files: Vec<Uint8Array>) -> Result<JsValue, JsError> {
        if names.len() != files.len() || names.is_empty() {
            return Err(err("give one name per file, and at least one file"));
        }
        self.idle_state()?;
        let contents: Vec<Vec<u8>> = files.iter().map(|f| f.to_vec()).collect();
        let pairs: Vec<(&str, &[u8])> = names.iter().map(|n| n.as_str()).zip(contents.iter().map(|c| c.as_slice())).collect();
        let dataset = Dataset::load(&pairs, Limits::default()).map_err(err)?;
        let summary = dataset.summary();
        self.idle_state()?.session.load_dataset(dataset);
        to_js(&summary)
    }

    /// `count` images of `split` from row `start`, as RGBA bytes concatenated.
    #[wasm_bindgen(js_name = datasetImages)]
    pub fn dataset_images(&self, split: &str, start: usize, count: usize) -> Result<Uint8Array, JsError> {
        let s = self.state.borrow();
        let dataset = s.session.dataset().ok_or_else(|| err("no dataset is loaded"))?;
        let split = parse_split(split)?;
        let rows = dataset.rows(split);
        if start >= rows {
            return Err(err(format!("row {start} is past the end of the {} split ({rows} rows)", split.name())));
        }
        let end = start.saturating_add(count.min(MAX_IMAGES_PER_CALL)).min(rows);
        let mut out = Vec::new();
        for i in start..end {
            out.extend(dataset.rgba(split, i).unwrap_or_default());
        }
        Ok(Uint8Array::from(out.as_slice()))
    }

    /// Labels of `count` rows of `split` from row `start` (empty if the split is unlabelled).
    #[wasm_bindgen(js_name = datasetLabels)]
    pub fn dataset_labels(&self, split: &str, start: usize, count: usize) -> Result<Vec<u8>, JsError> {
        let s = self.state.borrow();
        let dataset = s.session.dataset().ok_or_else(|| err("no dataset is loaded"))?;
        let split = parse_split(split)?;
        let end = start.saturating_add(count).min(dataset.rows(split));
        Ok((start..end).filter_map(|i| dataset.label(split, i)).collect())
    }
}

pub(super) fn parse_split(split: &str) -> Result<Split, JsError> {
    Split::parse(split).ok_or_else(|| err(format!("unknown split `{split}`: use train, val or test")))
}
