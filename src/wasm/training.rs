//! Training in the browser: `Engine.startTraining` returns a `Training` handle that steps the run
//! the session started (the core's [`SharedRun`]); the worker's loop and the embedding API drive
//! it one iteration at a time. The session keeps the run too, to sample from its model.

use std::cell::RefCell;
use std::ops::Deref;
use std::rc::Rc;

use js_sys::{Function, Reflect};
use serde::Serialize;
use wasm_bindgen::prelude::*;

use super::convert::values_to_rgba;
use super::{BROWSER_RUN, Engine, State, err, to_js};
use crate::checkpoint::Contents;
use crate::inference::{generate, read_values};
use crate::limits::MAX_BUFFER_IMAGES_SHOWN;
use crate::sampler::Dynamics;
use crate::session::{SharedRun, Start};
use crate::training_run::TrainingRun;

#[derive(Serialize)]
struct BufferSamples {
    /// RGBA bytes of each image, concatenated (oldest first).
    #[serde(with = "serde_bytes")]
    rgba: Vec<u8>,
    /// The label each chain samples under (class-conditional runs).
    labels: Vec<i32>,
    count: usize,
    side: usize,
}

/// Chains a recovery run's live view walks.
const LIVE_WALKS: usize = 8;

#[derive(Serialize)]
struct LiveSamples {
    #[serde(with = "serde_bytes")]
    rgba: Vec<u8>,
    count: usize,
    side: usize,
    columns: usize,
    levels: Vec<usize>,
}

/// One training run started by `Engine.startTraining`. It stays valid until the engine's
/// configuration, weights or data change, or another run starts.
#[wasm_bindgen]
pub struct Training {
    run: Rc<SharedRun>,
    state: Rc<RefCell<State>>,
}

#[wasm_bindgen]
impl Engine {
    /// Starts a training run with the current configuration and dataset. With
    /// `continue_model`, it continues the current model where it stands (`Start::Continue`):
    /// loaded weights with their optimiser state and replay buffer when they have them, or the
    /// run set aside by a change of settings or data, exactly; with no model, a new net. A run
    /// started before is discarded.
    #[wasm_bindgen(js_name = startTraining)]
    pub fn start_training(&self, continue_model: bool) -> Result<Training, JsError> {
        let mut s = self.idle_state()?;
        // `true` has always meant "continue the model if there is one" to the page.
        let start = if continue_model && s.session.has_model() { Start::Continue } else { Start::Fresh };
        let run = s.session.start_training(start).map_err(err)?;
        Ok(Training { run, state: Rc::clone(&self.state) })
    }
}

#[wasm_bindgen]
impl Training {
    /// One CD iteration; returns its statistics.
    pub async fn step(&self) -> Result<JsValue, JsError> {
        to_js(&self.next().await?)
    }

    /// Runs `iterations` CD iterations, calling `on_progress(stats)` after each; a callback that
    /// returns `false` stops the run early. Returns the last iteration's statistics.
    pub async fn run(&self, iterations: u32, on_progress: Option<Function>) -> Result<JsValue, JsError> {
        if iterations == 0 {
            return Err(err("iterations must be at least 1"));
        }
        let mut last = JsValue::NULL;
        for _ in 0..iterations {
            last = to_js(&self.next().await?)?;
            if let Some(callback) = &on_progress {
                let answer = callback.call1(&JsValue::NULL, &last).map_err(|e| err(format!("the progress callback threw: {e:?}")))?;
                if answer == JsValue::FALSE {
                    break;
                }
            }
            // Give the event loop a turn so the page (or worker) can react between iterations.
            yield_now().await;
        }
        Ok(last)
    }

    /// The `count` newest replay-buffer samples: `{rgba, labels, count, side}`.
    #[wasm_bindgen(js_name = bufferSamples)]
    pub async fn buffer_samples(&self, count: usize) -> Result<JsValue, JsError> {
        let run = self.lock()?;
        let shape = run.trainer().config().image_shape();
        let Some((images, labels)) = run.trainer().buffer().latest(count.clamp(1, MAX_BUFFER_IMAGES_SHOWN)) else {
            return to_js(&BufferSamples { rgba: Vec::new(), labels: Vec::new(), count: 0, side: shape[1] });
        };
        let values = read_values(images).await.map_err(err)?;
        to_js(&BufferSamples { rgba: values_to_rgba(&values, shape), count: labels.len(), labels, side: shape[1] })
    }

    /// What the run's model draws now, to watch training: the `count` newest replay-buffer
    /// samples (contrastive), or `min(count, 8)` chains walked from noise down every level with
    /// the moving-average weights (recovery), one row per chain and one column per level (the
    /// start, then levels T−1 … 0). Returns `{rgba, count, side, columns, levels}` (`levels`:
    /// the noise level of each column, empty for the buffer).
    #[wasm_bindgen(js_name = liveSamples)]
    pub async fn live_samples(&self, count: usize) -> Result<JsValue, JsError> {
        let run = self.lock()?;
        let config = run.trainer().config().clone();
        if !config.is_recovery() {
            drop(run);
            let buffer = self.buffer_samples(count).await?;
            let _ = Reflect::set(&buffer, &"columns".into(), &JsValue::from(16));
            let _ = Reflect::set(&buffer, &"levels".into(), &js_sys::Array::new());
            return Ok(buffer);
        }
        let chains = count.clamp(1, LIVE_WALKS);
        let shape = config.image_shape();
        let model = burn::module::Module::valid(run.trainer().sampling_model());
        let device = run.trainer().device();
        let dynamics = Dynamics::sampling(&config, None);
        let walk = generate(&model, chains, shape, &dynamics, Some(1), None, &device).await.map_err(err)?;
        let per_image: usize = shape.iter().product();
        let columns = walk.chain.len();
        let mut values = Vec::with_capacity(chains * columns * per_image);
        for chain in 0..chains {
            for frame in &walk.chain {
                values.extend(frame.values[chain * per_image..(chain + 1) * per_image].iter().map(|v| v.clamp(-1.0, 1.0)));
            }
        }
        to_js(&LiveSamples {
            rgba: values_to_rgba(&values, shape),
            count: chains * columns,
            side: shape[1],
            columns,
            levels: walk.chain.iter().filter_map(|f| f.level).collect(),
        })
    }

    /// The run as a checkpoint file: weights, configuration and replay buffer (Adam's state
    /// stays out in the browser, see `OPTIMIZER_STATE_IN_CHECKPOINTS`). `loadWeights` +
    /// `startTraining(true)` continue from it.
    #[wasm_bindgen(js_name = saveCheckpoint)]
    pub async fn save_checkpoint(&self) -> Result<js_sys::Uint8Array, JsError> {
        let run = self.lock()?;
        let contents = Contents { optimizer: crate::platform::OPTIMIZER_STATE_IN_CHECKPOINTS, buffer: true, newest_chains: None };
        let bytes = run.checkpoint(contents, &self.run.provenance().note(BROWSER_RUN)).await.map_err(err)?;
        Ok(js_sys::Uint8Array::from(bytes.as_slice()))
    }

    /// Iterations behind the run's model.
    pub fn iteration(&self) -> Result<f64, JsError> {
        self.check_current()?;
        Ok(self.run.iteration() as f64)
    }
}

impl Training {
    /// Refuses a run that is no longer the engine's current one.
    fn check_current(&self) -> Result<(), JsError> {
        if self.state.try_borrow().is_ok_and(|s| s.session.is_training(&self.run)) {
            Ok(())
        } else {
            Err(err("this training run was discarded (the configuration, weights or data changed, or a new run started)"))
        }
    }

    /// The run, if it is still the engine's current one and no other call holds it.
    fn lock(&self) -> Result<impl Deref<Target = TrainingRun> + '_, JsError> {
        self.check_current()?;
        self.run.read().map_err(err)
    }

    async fn next(&self) -> Result<crate::IterStats, JsError> {
        self.check_current()?;
        Ok(self.run.next().await.map_err(err)?.stats)
    }
}

/// Resolves after the event loop has had a turn (`setTimeout(0)`, present in pages and workers
/// alike), so messages and rendering are not starved by a long run.
async fn yield_now() {
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        let global = js_sys::global();
        match Reflect::get(&global, &"setTimeout".into()).ok().and_then(|f| f.dyn_into::<Function>().ok()) {
            Some(set_timeout) => {
                let _ = set_timeout.call2(&global, &resolve, &JsValue::from(0));
            }
            None => {
                let _ = resolve.call0(&JsValue::NULL);
            }
        }
    });
    let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
}
