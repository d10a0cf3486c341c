//! Training in the browser: `Engine.startTraining` returns a `Training` handle over the run the
//! session started (the core's [`SharedRun`]). `Training.run` drives the core's loop
//! ([`RunLoop`]: the checkpoint policy, live samples, pause) and hands each event to JavaScript;
//! `step` takes one iteration. The session keeps the run too, to sample from its model.

use std::cell::{Cell, RefCell};
use std::ops::Deref;
use std::rc::Rc;

use js_sys::{Function, Reflect};
use wasm_bindgen::prelude::*;

use super::{BROWSER_RUN, Engine, State, err, to_js};
use crate::checkpoint::Contents;
use crate::run_options::RunOptions;
use crate::session::{SharedRun, Start};
use crate::training_run::{CheckpointPolicy, RunEvent, RunLoop, TrainingRun};

/// One training run started by `Engine.startTraining`. It stays valid until the engine's
/// configuration, weights or data change, or another run starts.
#[wasm_bindgen]
pub struct Training {
    run: Rc<SharedRun>,
    state: Rc<RefCell<State>>,
    /// A loop (`run`) is going on.
    running: Cell<bool>,
    /// `pause` was called: the loop stops before its next iteration.
    stop: Cell<bool>,
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
        Ok(Training { run, state: Rc::clone(&self.state), running: Cell::new(false), stop: Cell::new(false) })
    }
}

#[wasm_bindgen]
impl Training {
    /// One CD iteration; returns its statistics.
    pub async fn step(&self) -> Result<JsValue, JsError> {
        to_js(&self.next().await?)
    }

    /// Trains in the core's loop (`RunLoop`) and calls `on_event(event)` with each of its events,
    /// in order: `{event: "training", running: true, iteration}`, then per iteration
    /// `{event: "stats", stats}`, `{event: "samples", …}` when due and `{event: "checkpoint",
    /// reason, iteration, bytes, keep}` when due, and at the end the stop checkpoint and
    /// `{event: "training", running: false, iteration}`. It stops after `options.iterations`,
    /// when `pause()` is called, or when `on_event` returns `false`. `options`: `{iterations,
    /// checkpointEvery = 25, keepEvery = 0, keptAt = 0, checkpointOnStop = true, sampleEvery =
    /// 5}` (`RunOptions`; any other name is refused). Returns the last iteration's statistics
    /// (null if none ran).
    pub async fn run(&self, options: JsValue, on_event: Option<Function>) -> Result<JsValue, JsError> {
        self.check_current()?;
        let options: RunOptions = if options.is_undefined() || options.is_null() {
            RunOptions::default()
        } else {
            // Unknown names are refused (`RunOptions`), naming the one that was not understood.
            // Read through JSON: serde_wasm_bindgen looks up a struct's own fields by name and
            // never sees the others, so it cannot refuse them (a misspelt `iterations` ran forever).
            let json = js_sys::JSON::stringify(&options).map_err(|_| err("training options: not a plain object"))?;
            serde_json::from_str(&String::from(json)).map_err(|e| err(format!("training options: {e}")))?
        };
        options.check().map_err(err)?;
        if self.running.replace(true) {
            return Err(err("training is already running"));
        }
        let result = self.run_loop(options, on_event).await;
        self.running.set(false);
        result
    }

    /// Asks a running loop to stop before its next iteration (with its pause checkpoint);
    /// returns whether one was running.
    pub fn pause(&self) -> bool {
        self.stop.set(self.running.get());
        self.running.get()
    }

    /// The `count` newest replay-buffer samples: `{rgba, labels, count, side, columns, levels}`.
    #[wasm_bindgen(js_name = bufferSamples)]
    pub async fn buffer_samples(&self, count: usize) -> Result<JsValue, JsError> {
        to_js(&self.lock()?.buffer_samples(count).await.map_err(err)?)
    }

    /// What the run's model draws now, to watch training: the `count` newest replay-buffer
    /// samples (contrastive), or `min(count, 8)` chains walked from noise down every level with
    /// the moving-average weights (recovery), one row per chain and one column per level (the
    /// start, then levels T−1 … 0). Returns `{rgba, count, side, columns, levels, labels}`
    /// (`levels`: the noise level of each column, empty for the buffer).
    #[wasm_bindgen(js_name = liveSamples)]
    pub async fn live_samples(&self, count: usize) -> Result<JsValue, JsError> {
        to_js(&self.lock()?.live_samples(count).await.map_err(err)?)
    }

    /// The run as a checkpoint file: weights, configuration and replay buffer (Adam's state
    /// stays out in the browser, see `OPTIMIZER_STATE_IN_CHECKPOINTS`). `loadWeights` +
    /// `startTraining(true)` continue from it.
    #[wasm_bindgen(js_name = saveCheckpoint)]
    pub async fn save_checkpoint(&self) -> Result<js_sys::Uint8Array, JsError> {
        let run = self.lock()?;
        let bytes = run.checkpoint(CONTENTS, &self.run.provenance().note(BROWSER_RUN)).await.map_err(err)?;
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

    /// The loop of `run`: the policy from `options`, then each event to `on_event`.
    async fn run_loop(&self, options: RunOptions, on_event: Option<Function>) -> Result<JsValue, JsError> {
        let policy = CheckpointPolicy {
            every: options.checkpoint_every,
            keep_every: options.keep_every,
            kept_at: options.kept_at,
            on_stop: options.checkpoint_on_stop,
            contents: CONTENTS,
            note: self.run.provenance().note(BROWSER_RUN),
        };
        self.run.set_checkpoints(Some(policy)).map_err(err)?;
        let until = options.iterations.map(|n| self.run.iteration() + n);
        let mut lp = RunLoop::new(until, options.sample_every);
        self.stop.set(false);
        let mut last = JsValue::NULL;
        loop {
            self.check_current()?;
            let Some(event) = self.run.advance(&mut lp, self.stop.get()).await.map_err(err)? else { break };
            if let RunEvent::Stats { stats } = &event {
                last = to_js(stats)?;
            }
            if let Some(callback) = &on_event {
                let answer =
                    callback.call1(&JsValue::NULL, &to_js(&event)?).map_err(|e| err(format!("the event callback threw: {e:?}")))?;
                if answer == JsValue::FALSE {
                    self.stop.set(true);
                }
            }
            // The stop is the last event: return in the same turn, so that the handle is free
            // again (and `running` false) before JavaScript can answer the stop with a new call.
            if event.is_stop() {
                break;
            }
            // Give the event loop a turn so the page (or worker) can react, and pause, in between.
            yield_now().await;
        }
        Ok(last)
    }
}

/// What a browser checkpoint holds: weights and replay buffer (Adam's state only where the
/// platform keeps it, see `OPTIMIZER_STATE_IN_CHECKPOINTS`).
const CONTENTS: Contents = Contents { optimizer: crate::platform::OPTIMIZER_STATE_IN_CHECKPOINTS, buffer: true, newest_chains: None };

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
