//! The JavaScript API (wasm-bindgen): a thin shell over the core. Every entry point validates
//! its input and returns a JS `Error` with a readable message; nothing here holds model logic.
//! Which model, data and run are in use, and the rules of changing them, are the core's
//! [`Session`]; the shell adds only what overlapping JS calls need (a busy flag, the seeds).
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

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use serde::Serialize;
use wasm_bindgen::prelude::*;

use crate::device::{BackendInfo, BackendRequest, select_device};
use crate::session::{Session, SessionError};
use crate::{Device, EbmConfig, EnergyNet};
pub use chains::ChainHelper;
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

/// The engine's state: the core session (every rule of which model, data and run are in use)
/// and what only concerns calls from JavaScript.
struct State {
    session: Session,
    /// Reported to the page; the session only needs the device.
    info: BackendInfo,
    /// Set while an async call holds a model across its awaits: JavaScript may call again in
    /// between, and a change of state then (new weights, data or settings) must wait until the
    /// call is done. A concern of overlapping JS calls, not of the session's rules.
    busy: bool,
    /// Where draws (samples, noise to score) get their seeds: the platform's entropy, so each
    /// visit and each `<ebm-sampler>` draws its own images; a seed given to a call reproduces it.
    /// Kept here because seeding from the page's entropy is the browser's choice (`debm` takes
    /// `--seed`), not a rule of the session.
    rng: StdRng,
}

/// How a run in the browser describes itself in the notes of the files it saves (after where its
/// weights came from, `Provenance::note`).
const BROWSER_RUN: &str = "trained in the browser";

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
    /// The model samples by walking noise levels from noise (denoising, recovery), each level
    /// reported as it is reached, rather than by Langevin chains.
    walks_levels: bool,
    /// The steps `generate` takes when asked for 0: from noise (a denoising model's levels, a
    /// recovery model's steps per level) and continuing persistent chains.
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
        Ok(Engine { state: Rc::new(RefCell::new(State { session: Session::new(device), info, rng: entropy_rng(), busy: false })) })
    }

    /// Which backend runs: `{backend, adapter, software_adapter, note}`.
    pub fn backend(&self) -> Result<JsValue, JsError> {
        to_js(&self.state.borrow().info)
    }

    /// The current configuration as JSON.
    pub fn config(&self) -> String {
        self.state.borrow().session.config().to_json()
    }

    /// The defaults of a recipe as JSON: `"denoising"` (denoising score matching of an energy
    /// per noise level), `"recovery"` (diffusion recovery likelihood) or `"contrastive"` (the UvA
    /// tutorial-8 reference); omitted, the recipe a new network trains with by default
    /// ([`crate::config::Recipe::for_new_networks`]).
    #[wasm_bindgen(js_name = defaultConfig)]
    pub fn default_config(recipe: Option<String>) -> Result<String, JsError> {
        let recipe = match recipe {
            Some(name) => name.parse().map_err(err)?,
            None => crate::config::Recipe::for_new_networks(),
        };
        Ok(EbmConfig::preset(recipe).to_json())
    }

    /// Replaces the configuration (validated, and checked against the loaded data). A different
    /// architecture discards the current model; a training run is set aside: its model stays in
    /// use and `startTraining(true)` carries on from it (`Session::set_config`).
    #[wasm_bindgen(js_name = setConfig)]
    pub fn set_config(&self, json: &str) -> Result<(), JsError> {
        let config = EbmConfig::from_json(json).map_err(err)?;
        self.idle_state()?.session.set_config(config).map_err(err)
    }

    /// `{ready, iteration, classes, class_names, classifier, config, persistent_chains}` of the
    /// current model.
    #[wasm_bindgen(js_name = modelInfo)]
    pub fn model_info(&self) -> Result<JsValue, JsError> {
        let s = self.state.borrow();
        let session = &s.session;
        let config = session.config();
        let classifier = session.classifier();
        to_js(&ModelInfo {
            ready: session.has_model(),
            iteration: session.iteration(),
            classes: config.classes,
            // The net's own classes (a class-conditional recovery net may have no classifier yet) and a
            // probe's, which may know more.
            class_names: (0..config.classes.max(classifier.as_ref().map_or(0, |c| c.classes()))).map(crate::data::class_name).collect(),
            classifier: classifier.map(|c| c.kind()),
            config,
            persistent_chains: session.persistent_chains(),
            walks_levels: config.walks_levels(),
            default_steps: DefaultSteps {
                noise: crate::sampler::default_noise_steps(config),
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
        self.state.borrow().session.iteration() as f64
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

    /// The model in use (`Session::model`), with `missing` as the message when there is none.
    fn current_model(&self, s: &State, missing: &str) -> Result<EnergyNet, JsError> {
        s.session.model().map_err(|e| match e {
            SessionError::NoModel => err(missing),
            other => err(other),
        })
    }

    /// The model to sample or score with, its configuration, and the device (freshly seeded
    /// from the engine's random stream, so repeated calls differ).
    fn model_for_use(&self) -> Result<(EnergyNet, EbmConfig, Device), JsError> {
        let mut s = self.state.borrow_mut();
        let model = s.session.model().map_err(err)?;
        let seed = s.rng.random();
        let device = s.session.device().clone();
        device.seed(seed);
        Ok((model, s.session.config().clone(), device))
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
