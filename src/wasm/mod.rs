//! The JavaScript API (wasm-bindgen): a thin shell over the core. Every entry point validates
//! its input and returns a JS `Error` with a readable message; nothing here holds model logic.
//!
//! One `Engine` per page or worker. Its methods are spread over a few files by topic:
//! weights and data (`files`), training (`training`), sampling and editing (`sampling`),
//! energies and classes (`scoring`), image export (`export`), chains on helper workers
//! (`chains`).

mod chains;
mod convert;
mod export;
mod files;
mod sampling;
mod scoring;
mod training;

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

use burn::module::Module;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use serde::Serialize;
use wasm_bindgen::prelude::*;

use crate::data::Dataset;
use crate::device::{BackendInfo, BackendRequest, select_device};
use crate::persistent::ChainSnapshot;
use crate::weights::WeightsFile;
use crate::{Device, EbmConfig, EnergyNet, NetShape};
pub use chains::ChainHelper;
use training::SharedRun;
pub use training::Training;

#[wasm_bindgen(start)]
pub fn start() {
    // Remaining panics are bugs; make them readable in the console.
    console_error_panic_hook::set_once();
}

fn err(message: impl std::fmt::Display) -> JsError {
    JsError::new(&message.to_string())
}

fn to_js<T: Serialize>(value: &T) -> Result<JsValue, JsError> {
    // Plain objects and null as JSON would have them, but byte vectors as Uint8Array.
    value.serialize(&serde_wasm_bindgen::Serializer::json_compatible().serialize_bytes_as_arrays(false)).map_err(err)
}

struct State {
    device: Device,
    info: BackendInfo,
    config: EbmConfig,
    /// The model used for sampling and scoring when no training run is set up.
    model: Option<EnergyNet>,
    /// Iterations behind the current model (the training run's, once it has stepped).
    model_iteration: u64,
    /// The last weights or checkpoint file loaded: training continues from its optimiser
    /// state and replay buffer when it has them.
    loaded: Option<WeightsFile>,
    /// The persistent chains that came with the loaded file (replaced by the trainer's own
    /// replay buffer once training runs here).
    chains: Option<ChainSnapshot>,
    dataset: Option<Arc<Dataset>>,
    /// The current training run, shared with the `Training` handle that owns it: sampling and
    /// scoring use its model while it exists.
    training: Option<SharedRun>,
    /// Set while an async call holds the trainer or model, so overlapping calls are refused.
    busy: bool,
    /// Where draws (samples, noise to score) get their seeds: the platform's entropy, so each
    /// visit and each `<ebm-sampler>` draws its own images; a seed given to a call reproduces it.
    rng: StdRng,
}

/// A generator seeded from the platform's entropy (the browser's `crypto.getRandomValues`).
fn entropy_rng() -> StdRng {
    let mut seed = [0u8; 32];
    // Without entropy (never in a browser) the draws are still random enough to look at.
    if getrandom::fill(&mut seed).is_err() {
        seed[..8].copy_from_slice(&(js_sys::Date::now() as u64).to_le_bytes());
    }
    StdRng::from_seed(seed)
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
struct ModelInfo<'a> {
    /// Whether a model is ready for sampling.
    ready: bool,
    iteration: u64,
    /// 0 = unconditional.
    classes: usize,
    /// Names of the classes the classifier answers with (empty when there is none).
    class_names: Vec<String>,
    /// Which classifier `classifyRgba` / `classifySplit` use: "probe", "head", or none.
    classifier: Option<crate::inference::Classifier>,
    config: &'a EbmConfig,
    /// Persistent chains available to continue (`generate(…, "persistent")`): the loaded
    /// file's, or the replay buffer of training run here.
    persistent_chains: usize,
    /// The Langevin steps `generate` takes when asked for 0: from noise (per level for a
    /// recovery model) and continuing persistent chains.
    default_steps: DefaultSteps,
}

#[derive(Serialize)]
struct DefaultSteps {
    noise: usize,
    persistent: usize,
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
                rng: entropy_rng(),
                config,
                model: None,
                model_iteration: 0,
                loaded: None,
                chains: None,
                dataset: None,
                training: None,
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

    /// The defaults of a recipe as JSON: `"recovery"` (diffusion recovery likelihood, what a
    /// new network trains with by default; also when `recipe` is omitted) or `"contrastive"`
    /// (the UvA tutorial-8 reference).
    #[wasm_bindgen(js_name = defaultConfig)]
    pub fn default_config(recipe: Option<String>) -> Result<String, JsError> {
        match recipe.as_deref() {
            None | Some("recovery") => Ok(EbmConfig::recovery().to_json()),
            Some("contrastive") => Ok(EbmConfig::default().to_json()),
            Some(other) => Err(err(format!("unknown recipe `{other}`: use recovery or contrastive"))),
        }
    }

    /// Replaces the configuration (validated). A different architecture discards the current
    /// model; any training set up is discarded.
    #[wasm_bindgen(js_name = setConfig)]
    pub fn set_config(&self, json: &str) -> Result<(), JsError> {
        let config = EbmConfig::from_json(json).map_err(err)?;
        let mut s = self.idle_state()?;
        if let Some(d) = &s.dataset {
            if (d.channels, d.height) != (config.channels, config.image_size) {
                return Err(err(format!(
                    "the loaded dataset has {}-channel {}×{} images; set channels={} and image_size={}",
                    d.channels, d.height, d.width, d.channels, d.height
                )));
            }
            crate::training_run::check_data(d, &config).map_err(err)?;
        }
        if NetShape::from(&config) != NetShape::from(&s.config) {
            s.model = None;
            s.loaded = None;
            s.chains = None;
            s.model_iteration = 0;
        }
        s.training = None;
        s.config = config;
        Ok(())
    }

    /// `{ready, iteration, classes, class_names, classifier, config, persistent_chains}` of the
    /// current model.
    #[wasm_bindgen(js_name = modelInfo)]
    pub fn model_info(&self) -> Result<JsValue, JsError> {
        let probe = self.probe()?;
        let s = self.state.borrow();
        let classes = s.config.classes;
        let classifier = crate::inference::Classifier::of(classes, probe.as_ref());
        let named = probe.as_ref().map_or(classes, |p| p.classes);
        to_js(&ModelInfo {
            ready: s.model.is_some() || s.training.is_some(),
            iteration: s.model_iteration,
            classes,
            class_names: (0..named).map(crate::data::class_name).collect(),
            classifier,
            config: &s.config,
            persistent_chains: match s.training.as_ref().and_then(|t| t.try_lock()) {
                Some(run) => run.trainer().buffer().len(),
                None => s.chains.as_ref().map_or(0, |c| c.len()),
            },
            default_steps: DefaultSteps {
                noise: if s.config.is_recovery() { s.config.recovery.steps } else { crate::sampler::NOISE_STEPS },
                persistent: crate::persistent::DEFAULT_STEPS,
            },
        })
    }

    /// Bytes of WebAssembly memory the engine holds. Wasm memory only grows, so this is also
    /// the peak so far (what the benchmarks report as memory).
    #[wasm_bindgen(js_name = memoryBytes)]
    pub fn memory_bytes() -> f64 {
        wasm_bindgen::memory()
            .unchecked_into::<js_sys::WebAssembly::Memory>()
            .buffer()
            .unchecked_into::<js_sys::ArrayBuffer>()
            .byte_length() as f64
    }

    /// Training iterations behind the current model.
    pub fn iteration(&self) -> f64 {
        self.state.borrow().model_iteration as f64
    }
}

impl Engine {
    /// The state for a synchronous change, refused while an async call is running.
    fn idle_state(&self) -> Result<std::cell::RefMut<'_, State>, JsError> {
        let s = self.state.try_borrow_mut().map_err(|_| err("the engine is busy with another call"))?;
        if s.busy {
            return Err(err("the engine is busy with another call; wait for it to finish"));
        }
        Ok(s)
    }

    /// The training run's model while one is set up, else the loaded or trained one; `missing`
    /// says what to do when there is none.
    fn current_model(&self, s: &State, missing: &str) -> Result<EnergyNet, JsError> {
        match &s.training {
            Some(run) => {
                let run = run.try_lock().ok_or_else(|| err("the engine is busy with another call; wait for it to finish"))?;
                Ok(run.trainer().sampling_model().valid())
            }
            None => s.model.clone().ok_or_else(|| err(missing)),
        }
    }

    /// The model to sample or score with, its configuration, and the device (freshly seeded
    /// from the engine's random stream, so repeated calls differ).
    fn model_for_use(&self) -> Result<(EnergyNet, EbmConfig, Device), JsError> {
        let mut s = self.state.borrow_mut();
        let model = self.current_model(&s, "no model yet: load weights or train first")?;
        let seed = s.rng.random();
        let device = s.device.clone();
        device.seed(seed);
        Ok((model, s.config.clone(), device))
    }

    /// The seed of one draw: `given` (to reproduce an earlier one), else a fresh one from the
    /// engine's entropy-seeded stream. Seeds are 32-bit: exact as JavaScript numbers.
    fn draw_seed(&self, given: Option<f64>) -> Result<u32, JsError> {
        match given {
            Some(seed) if seed.is_finite() && seed >= 0.0 && seed <= u32::MAX as f64 && seed.fract() == 0.0 => Ok(seed as u32),
            Some(seed) => Err(err(format!("seed must be a whole number from 0 to {} (got {seed})", u32::MAX))),
            None => Ok(self.state.borrow_mut().rng.random()),
        }
    }
}

/// A class index from JavaScript, checked against the model (`None` = any class) by the core's
/// one rule.
fn class_arg(class: Option<u32>, config: &EbmConfig) -> Result<Option<usize>, JsError> {
    crate::inference::check_class_of(config.classes, class.map(|k| k as usize)).map_err(err)
}
