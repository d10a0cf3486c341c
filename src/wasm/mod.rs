//! The JavaScript API (wasm-bindgen): a thin shell over the core. Every entry point validates
//! its input and returns a JS `Error` with a readable message; nothing here holds model logic.

use std::cell::RefCell;
use std::rc::Rc;

use burn::module::Module;
use js_sys::Uint8Array;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use serde::Serialize;
use wasm_bindgen::prelude::*;

use crate::data::dataset::tensor_values_to_images;
use crate::data::{BatchSource, Dataset, Limits, Split};
use crate::device::{BackendInfo, BackendRequest, select_device};
use crate::export;
use crate::inference::{energies, generate, read_values};
use crate::sampler::LangevinParams;
use crate::weights::{WeightsFile, model_bytes};
use crate::{Device, EbmConfig, EnergyNet, NetShape, Trainer};

#[wasm_bindgen(start)]
pub fn start() {
    // Remaining panics are bugs; make them readable in the console.
    console_error_panic_hook::set_once();
}

fn err(message: impl std::fmt::Display) -> JsError {
    JsError::new(&message.to_string())
}

fn to_js<T: Serialize>(value: &T) -> Result<JsValue, JsError> {
    value.serialize(&serde_wasm_bindgen::Serializer::json_compatible()).map_err(err)
}

struct State {
    device: Device,
    info: BackendInfo,
    config: EbmConfig,
    /// The model used for sampling and scoring (the trainer's, while training).
    model: Option<EnergyNet>,
    model_iteration: u64,
    dataset: Option<Dataset>,
    source: Option<BatchSource>,
    trainer: Option<Trainer>,
    /// Set while an async call holds the trainer or model, so overlapping calls are refused.
    busy: bool,
    rng: StdRng,
}

/// Everything a page needs: backend, weights, data, training, sampling, scoring.
#[wasm_bindgen]
pub struct Engine {
    state: Rc<RefCell<State>>,
}

/// Marks the engine busy for the life of an async call.
struct BusyGuard(Rc<RefCell<State>>);

impl BusyGuard {
    fn take(state: &Rc<RefCell<State>>) -> Result<Self, JsError> {
        let mut s = state.try_borrow_mut().map_err(|_| err("the engine is busy with another call"))?;
        if s.busy {
            return Err(err("the engine is busy with another call; wait for it to finish"));
        }
        s.busy = true;
        Ok(Self(state.clone()))
    }
}

impl Drop for BusyGuard {
    fn drop(&mut self) {
        if let Ok(mut s) = self.0.try_borrow_mut() {
            s.busy = false;
        }
    }
}

#[derive(Serialize)]
struct GeneratedJs {
    /// RGBA bytes of each sample, concatenated.
    samples: Vec<u8>,
    /// Per recorded step: (step, RGBA of each sample concatenated).
    chain: Vec<(usize, Vec<u8>)>,
    side: usize,
    count: usize,
}

#[wasm_bindgen]
impl Engine {
    /// Starts an engine on `backend` ("auto", "gpu" or "cpu").
    pub async fn create(backend: String) -> Result<Engine, JsError> {
        let request: BackendRequest = backend.parse().map_err(err)?;
        let (device, info) = select_device(request).await;
        let config = EbmConfig::default();
        Ok(Engine {
            state: Rc::new(RefCell::new(State {
                device,
                info,
                rng: StdRng::seed_from_u64(config.seed),
                config,
                model: None,
                model_iteration: 0,
                dataset: None,
                source: None,
                trainer: None,
                busy: false,
            })),
        })
    }

    /// Which backend runs: `{backend, adapter, software_adapter, note}`.
    pub fn backend(&self) -> Result<JsValue, JsError> {
        to_js(&self.state.borrow().info)
    }

    /// The current configuration as JSON.
    pub fn config(&self) -> String {
        self.state.borrow().config.to_json()
    }

    /// The reference defaults as JSON.
    #[wasm_bindgen(js_name = defaultConfig)]
    pub fn default_config() -> String {
        EbmConfig::default().to_json()
    }

    /// Replaces the configuration (validated). Refused while training is set up; a different
    /// architecture discards the current model.
    #[wasm_bindgen(js_name = setConfig)]
    pub fn set_config(&self, json: &str) -> Result<(), JsError> {
        let config = EbmConfig::from_json(json).map_err(err)?;
        let mut s = self.state.try_borrow_mut().map_err(|_| err("the engine is busy"))?;
        if s.busy {
            return Err(err("the engine is busy with another call"));
        }
        if let Some(d) = &s.dataset
            && (d.channels, d.height) != (config.channels, config.image_size)
        {
            return Err(err(format!(
                "the loaded dataset has {}-channel {}×{} images; set channels={} and image_size={}",
                d.channels, d.height, d.width, d.channels, d.height
            )));
        }
        if NetShape::from(&config) != NetShape::from(&s.config) {
            s.model = None;
        }
        s.trainer = None;
        s.rng = StdRng::seed_from_u64(config.seed);
        s.config = config;
        Ok(())
    }

    /// Loads a weights or checkpoint file; its configuration becomes the current one.
    /// Returns `{iteration, note, config}`.
    #[wasm_bindgen(js_name = loadWeights)]
    pub fn load_weights(&self, bytes: &[u8]) -> Result<JsValue, JsError> {
        let file = WeightsFile::decode(bytes).map_err(err)?;
        let mut s = self.state.try_borrow_mut().map_err(|_| err("the engine is busy"))?;
        if s.busy {
            return Err(err("the engine is busy with another call"));
        }
        if let Some(d) = &s.dataset
            && (d.channels, d.height) != (file.header.config.channels, file.header.config.image_size)
        {
            return Err(err(format!(
                "these weights are for {}-channel {}×{} images but the loaded dataset has {}-channel {}×{} images",
                file.header.config.channels, file.header.config.image_size, file.header.config.image_size, d.channels, d.height, d.width
            )));
        }
        let model = file.model(&s.device).map_err(err)?;
        s.model = Some(model);
        s.model_iteration = file.header.iteration;
        s.config = file.header.config.clone();
        s.trainer = None;
        #[derive(Serialize)]
        struct Loaded<'a> {
            iteration: u64,
            note: &'a str,
            config: &'a EbmConfig,
        }
        to_js(&Loaded { iteration: file.header.iteration, note: &file.header.note, config: &file.header.config })
    }

    /// Whether a model is ready for sampling.
    #[wasm_bindgen(js_name = hasModel)]
    pub fn has_model(&self) -> bool {
        let s = self.state.borrow();
        s.model.is_some() || s.trainer.is_some()
    }

    /// The current model as a weights file (with its configuration).
    #[wasm_bindgen(js_name = saveWeights)]
    pub async fn save_weights(&self) -> Result<Uint8Array, JsError> {
        let _busy = BusyGuard::take(&self.state)?;
        let (model, config, iteration) = {
            let s = self.state.borrow();
            let model = match &s.trainer {
                Some(t) => t.model().valid(),
                None => s.model.clone().ok_or_else(|| err("there is no model to save yet"))?,
            };
            let iteration = s.trainer.as_ref().map_or(s.model_iteration, |t| t.iteration());
            (model, s.config.clone(), iteration)
        };
        let bytes = model_bytes(&model, NetShape::from(&config)).await.map_err(err)?;
        let file = WeightsFile::encode(&config, iteration, "trained in the browser", vec![("model".into(), bytes)]);
        Ok(Uint8Array::from(file.as_slice()))
    }

    /// Parses and merges uploaded `.npz`/`.npy` files; returns the dataset summary.
    #[wasm_bindgen(js_name = loadDataset)]
    pub fn load_dataset(&self, names: Vec<String>, files: Vec<Uint8Array>) -> Result<JsValue, JsError> {
        if names.len() != files.len() || names.is_empty() {
            return Err(err("give one name per file, and at least one file"));
        }
        let contents: Vec<Vec<u8>> = files.iter().map(|f| f.to_vec()).collect();
        let pairs: Vec<(&str, &[u8])> = names.iter().map(|n| n.as_str()).zip(contents.iter().map(|c| c.as_slice())).collect();
        let dataset = Dataset::load(&pairs, Limits::default()).map_err(err)?;
        let summary = dataset.summary();
        let mut s = self.state.try_borrow_mut().map_err(|_| err("the engine is busy"))?;
        if s.busy {
            return Err(err("the engine is busy with another call"));
        }
        // The data decides the image shape; keep the rest of the configuration.
        if (s.config.channels, s.config.image_size) != (dataset.channels, dataset.height) {
            s.config.channels = dataset.channels;
            s.config.image_size = dataset.height;
            s.model = None;
        }
        s.trainer = None;
        s.source = None;
        s.dataset = Some(dataset);
        to_js(&summary)
    }

    /// `count` images of `split` from row `start`, as RGBA bytes concatenated.
    #[wasm_bindgen(js_name = datasetImages)]
    pub fn dataset_images(&self, split: &str, start: usize, count: usize) -> Result<Uint8Array, JsError> {
        let s = self.state.borrow();
        let dataset = s.dataset.as_ref().ok_or_else(|| err("no dataset is loaded"))?;
        let split = Split::parse(split).ok_or_else(|| err(format!("unknown split `{split}`: use train, val or test")))?;
        let rows = dataset.rows(split);
        if start >= rows {
            return Err(err(format!("row {start} is past the end of the {} split ({rows} rows)", split.name())));
        }
        let end = (start + count).min(rows);
        let mut out = Vec::new();
        for i in start..end {
            out.extend(dataset.rgba(split, i).expect("row in range"));
        }
        Ok(Uint8Array::from(out.as_slice()))
    }

    /// Sets up training with the current configuration and dataset, continuing from the
    /// current model when `continue_model` is true (e.g. loaded weights).
    #[wasm_bindgen(js_name = startTraining)]
    pub fn start_training(&self, continue_model: bool) -> Result<(), JsError> {
        let mut s = self.state.try_borrow_mut().map_err(|_| err("the engine is busy"))?;
        if s.busy {
            return Err(err("the engine is busy with another call"));
        }
        let dataset = s.dataset.as_ref().ok_or_else(|| err("load a dataset before training"))?;
        let split = dataset.training_split();
        let rows = dataset.rows(split);
        let bytes = s.config.buffer_bytes();
        if bytes > 1 << 30 {
            return Err(err(format!("a replay buffer of {} images needs {} MB; lower buffer_size", s.config.buffer_size, bytes >> 20)));
        }
        let mut trainer = match (&s.model, continue_model) {
            (Some(model), true) => Trainer::with_model(s.config.clone(), &s.device, model.clone()).map_err(err)?,
            _ => Trainer::new(s.config.clone(), &s.device).map_err(err)?,
        };
        if continue_model {
            trainer.resume_from(s.model_iteration, None);
        }
        trainer.set_iters_per_epoch(rows.div_ceil(s.config.batch_size) as u64);
        let source = BatchSource::new(dataset, split, &s.device, BatchSource::DEFAULT_DEVICE_BYTES);
        s.source = Some(source);
        s.trainer = Some(trainer);
        Ok(())
    }

    /// One CD iteration; returns its statistics.
    #[wasm_bindgen(js_name = trainStep)]
    pub async fn train_step(&self) -> Result<JsValue, JsError> {
        let _busy = BusyGuard::take(&self.state)?;
        let (mut trainer, real) = {
            let mut s = self.state.borrow_mut();
            let State { trainer, dataset, source, .. } = &mut *s;
            let mut trainer = trainer.take().ok_or_else(|| err("training is not set up; call startTraining first"))?;
            let (dataset, source) = (dataset.as_ref().unwrap(), source.as_ref().unwrap());
            let device = trainer.device();
            let batch = trainer.config().batch_size;
            let real = source.draw(dataset, batch, trainer.rng(), &device);
            (trainer, real)
        };
        let result = trainer.step(real).await;
        let mut s = self.state.borrow_mut();
        s.model_iteration = trainer.iteration();
        s.trainer = Some(trainer);
        to_js(&result.map_err(err)?)
    }

    /// Training iterations done so far.
    pub fn iteration(&self) -> f64 {
        let s = self.state.borrow();
        s.trainer.as_ref().map_or(s.model_iteration, |t| t.iteration()) as f64
    }

    /// The `count` newest replay-buffer samples as RGBA bytes.
    #[wasm_bindgen(js_name = bufferSamples)]
    pub async fn buffer_samples(&self, count: usize) -> Result<Uint8Array, JsError> {
        let _busy = BusyGuard::take(&self.state)?;
        let (latest, shape) = {
            let s = self.state.borrow();
            let trainer = s.trainer.as_ref().ok_or_else(|| err("training is not set up"))?;
            (trainer.buffer().latest(count.clamp(1, 1024)), s.config.image_shape())
        };
        let Some(latest) = latest else { return Ok(Uint8Array::new_with_length(0)) };
        let values = read_values(latest).await.map_err(err)?;
        Ok(Uint8Array::from(rgba_concat(&values, shape).as_slice()))
    }

    /// `count` new samples from uniform noise after `steps` Langevin steps, recording the chain
    /// every `record_every` steps (0 = no chain). Returns `{samples, chain, side, count}`.
    pub async fn generate(&self, count: usize, steps: usize, record_every: usize) -> Result<JsValue, JsError> {
        if count == 0 || count > 256 {
            return Err(err(format!("count must be between 1 and 256 (got {count})")));
        }
        if steps == 0 || steps > 2000 {
            return Err(err(format!("steps must be between 1 and 2000 (got {steps})")));
        }
        let _busy = BusyGuard::take(&self.state)?;
        let (model, config, device) = self.model_for_use()?;
        let params = LangevinParams { steps, ..LangevinParams::from(&config) };
        let record = (record_every > 0).then_some(record_every);
        let out = generate(&model, count, config.image_shape(), &params, record, &device).await.map_err(err)?;
        let shape = config.image_shape();
        to_js(&GeneratedJs {
            samples: rgba_concat(&out.samples, shape),
            chain: out.chain.iter().map(|(step, v)| (*step, rgba_concat(v, shape))).collect(),
            side: shape[1],
            count,
        })
    }

    /// Energies of `count` RGBA images (each side×side×4 bytes, the model's size).
    #[wasm_bindgen(js_name = scoreRgba)]
    pub async fn score_rgba(&self, rgba: &[u8], count: usize) -> Result<Vec<f32>, JsError> {
        let _busy = BusyGuard::take(&self.state)?;
        let (model, config, device) = self.model_for_use()?;
        let side = config.image_size;
        if count == 0 || rgba.len() != count * side * side * 4 {
            return Err(err(format!("expected {count} RGBA images of {side}×{side} ({} bytes), got {} bytes", count * side * side * 4, rgba.len())));
        }
        let c = config.channels;
        let rows: Vec<Vec<u8>> = rgba
            .chunks_exact(side * side * 4)
            .map(|img| img.chunks_exact(4).flat_map(|p| if c == 1 { vec![p[0]] } else { p[..3].to_vec() }).collect())
            .collect();
        let refs: Vec<&[u8]> = rows.iter().map(|r| r.as_slice()).collect();
        let images = crate::data::images_to_tensor(&refs, c, side, side, &device);
        energies(&model, images, 256).await.map_err(err)
    }

    /// Energies of rows of a dataset split (`limit` rows at most).
    #[wasm_bindgen(js_name = scoreSplit)]
    pub async fn score_split(&self, split: &str, limit: usize) -> Result<Vec<f32>, JsError> {
        let _busy = BusyGuard::take(&self.state)?;
        let split = Split::parse(split).ok_or_else(|| err(format!("unknown split `{split}`")))?;
        let (model, _, device) = self.model_for_use()?;
        let images = {
            let s = self.state.borrow();
            let dataset = s.dataset.as_ref().ok_or_else(|| err("no dataset is loaded"))?;
            let n = dataset.rows(split).min(limit.max(1));
            if n == 0 {
                return Err(err(format!("the {} split is empty", split.name())));
            }
            dataset.batch(split, &(0..n).collect::<Vec<_>>(), &device)
        };
        energies(&model, images, 256).await.map_err(err)
    }

    /// Energies of `count` uniform-noise images.
    #[wasm_bindgen(js_name = scoreNoise)]
    pub async fn score_noise(&self, count: usize) -> Result<Vec<f32>, JsError> {
        let _busy = BusyGuard::take(&self.state)?;
        let (model, config, device) = self.model_for_use()?;
        let seed = self.state.borrow_mut().rng.random();
        device.seed(seed);
        let noise = crate::buffer::ReplayBuffer::noise(count.clamp(1, 4096), config.image_shape(), &device);
        energies(&model, noise, 256).await.map_err(err)
    }

    /// Encodes RGBA images (each side×side) as a PNG grid.
    #[wasm_bindgen(js_name = encodePng)]
    pub fn encode_png(rgba: &[u8], side: usize, columns: usize, scale: usize) -> Result<Uint8Array, JsError> {
        check_layout(columns, scale)?;
        let images = split_rgba(rgba, side)?;
        let png = export::png(&export::grid(&images, side, 3, columns, scale)).map_err(err)?;
        Ok(Uint8Array::from(png.as_slice()))
    }

    /// Encodes frames (each a concatenation of `per_frame` RGBA images) as an animated GIF.
    #[wasm_bindgen(js_name = encodeGif)]
    pub fn encode_gif(frames: Vec<Uint8Array>, side: usize, columns: usize, scale: usize) -> Result<Uint8Array, JsError> {
        check_layout(columns, scale)?;
        if frames.is_empty() || frames.len() > 512 {
            return Err(err(format!("a GIF needs 1 to 512 frames (got {})", frames.len())));
        }
        let grids = frames
            .iter()
            .map(|f| split_rgba(&f.to_vec(), side).map(|imgs| export::grid(&imgs, side, 3, columns, scale)))
            .collect::<Result<Vec<_>, _>>()?;
        let gif = export::gif(&grids, 12).map_err(err)?;
        Ok(Uint8Array::from(gif.as_slice()))
    }
}

impl Engine {
    fn model_for_use(&self) -> Result<(EnergyNet, EbmConfig, Device), JsError> {
        let mut s = self.state.borrow_mut();
        let model = match &s.trainer {
            Some(t) => t.model().valid(),
            None => s.model.clone().ok_or_else(|| err("no model yet: load weights or train first"))?,
        };
        let seed = s.rng.random();
        let device = s.device.clone();
        device.seed(seed);
        Ok((model, s.config.clone(), device))
    }
}

fn check_layout(columns: usize, scale: usize) -> Result<(), JsError> {
    if !(1..=256).contains(&columns) || !(1..=16).contains(&scale) {
        return Err(err(format!("columns must be 1–256 and scale 1–16 (got {columns} and {scale})")));
    }
    Ok(())
}

/// NCHW values in [-1, 1] → RGBA bytes of each image, concatenated.
fn rgba_concat(values: &[f32], shape: [usize; 3]) -> Vec<u8> {
    let [c, h, w] = shape;
    tensor_values_to_images(values, c, h, w).iter().flat_map(|img| crate::data::dataset::to_rgba(img, c)).collect()
}

/// RGBA bytes → RGB images.
fn split_rgba(rgba: &[u8], side: usize) -> Result<Vec<Vec<u8>>, JsError> {
    if side == 0 || side > crate::config::MAX_IMAGE_SIZE {
        return Err(err(format!("side must be between 1 and {} pixels (got {side})", crate::config::MAX_IMAGE_SIZE)));
    }
    let n = side * side * 4;
    if rgba.is_empty() || rgba.len() % n != 0 {
        return Err(err(format!("expected whole {side}×{side} RGBA images, got {} bytes", rgba.len())));
    }
    Ok(rgba.chunks_exact(n).map(|img| img.chunks_exact(4).flat_map(|p| [p[0], p[1], p[2]]).collect()).collect())
}
