//! Training in the browser: set up, one iteration at a time (the worker's loop), or a run of
//! iterations with a progress callback (the embedding API).

use js_sys::{Function, Reflect};
use serde::Serialize;
use wasm_bindgen::prelude::*;

use super::convert::values_to_rgba;
use super::{BusyGuard, Engine, State, check_labels, err, to_js};
use crate::checkpoint;
use crate::data::BatchSource;
use crate::inference::read_values;
use crate::{IterStats, Trainer};

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

#[wasm_bindgen]
impl Engine {
    /// Sets up training with the current configuration and dataset. With `continue_model`, it
    /// continues from the current model — and from the optimiser state and replay buffer of the
    /// last loaded checkpoint, when it has them.
    #[wasm_bindgen(js_name = startTraining)]
    pub fn start_training(&self, continue_model: bool) -> Result<(), JsError> {
        let mut s = self.idle_state()?;
        let dataset = s.dataset.as_ref().ok_or_else(|| err("load a dataset before training"))?;
        check_labels(dataset, &s.config)?;
        let split = dataset.training_split();
        let rows = dataset.rows(split);
        let bytes = s.config.buffer_bytes();
        if bytes > 1 << 30 {
            return Err(err(format!("a replay buffer of {} images needs {} MB; lower buffer_size", s.config.buffer_size, bytes >> 20)));
        }
        let mut trainer = match (&s.model, &s.loaded, continue_model) {
            (_, Some(file), true) => checkpoint::restore(file, s.config.clone(), &s.device).map_err(err)?,
            (Some(model), None, true) => {
                let mut t = Trainer::with_model(s.config.clone(), &s.device, model.clone()).map_err(err)?;
                t.resume_from(s.model_iteration, None);
                t
            }
            _ => Trainer::new(s.config.clone(), &s.device).map_err(err)?,
        };
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
        to_js(&self.one_iteration().await?)
    }

    /// Runs `iterations` CD iterations, calling `on_progress(stats)` after each; a callback that
    /// returns `false` stops the run early. Returns the last iteration's statistics.
    pub async fn train(&self, iterations: u32, on_progress: Option<Function>) -> Result<JsValue, JsError> {
        if iterations == 0 {
            return Err(err("iterations must be at least 1"));
        }
        let _busy = BusyGuard::take(&self.state)?;
        let mut last = None;
        for _ in 0..iterations {
            let stats = self.one_iteration().await?;
            let js = to_js(&stats)?;
            last = Some(js.clone());
            if let Some(callback) = &on_progress {
                let answer = callback.call1(&JsValue::NULL, &js).map_err(|e| err(format!("the progress callback threw: {e:?}")))?;
                if answer == JsValue::FALSE {
                    break;
                }
            }
            // Give the event loop a turn so the page (or worker) can react between iterations.
            yield_now().await;
        }
        Ok(last.unwrap_or(JsValue::NULL))
    }

    /// The `count` newest replay-buffer samples: `{rgba, labels, count, side}`.
    #[wasm_bindgen(js_name = bufferSamples)]
    pub async fn buffer_samples(&self, count: usize) -> Result<JsValue, JsError> {
        let _busy = BusyGuard::take(&self.state)?;
        let (latest, shape) = {
            let s = self.state.borrow();
            let trainer = s.trainer.as_ref().ok_or_else(|| err("training is not set up"))?;
            (trainer.buffer().latest_labelled(count.clamp(1, 1024)), s.config.image_shape())
        };
        let Some((images, labels)) = latest else {
            return to_js(&BufferSamples { rgba: Vec::new(), labels: Vec::new(), count: 0, side: shape[1] });
        };
        let values = read_values(images).await.map_err(err)?;
        to_js(&BufferSamples { rgba: values_to_rgba(&values, shape), count: labels.len(), labels, side: shape[1] })
    }

    /// Images in the training run's replay buffer.
    #[wasm_bindgen(js_name = bufferLength)]
    pub fn buffer_length(&self) -> usize {
        self.state.borrow().trainer.as_ref().map_or(0, |t| t.buffer().len())
    }
}

impl Engine {
    /// One iteration on a batch drawn from the loaded data. The trainer is held outside the
    /// state while it awaits the device, and put back whatever the outcome.
    async fn one_iteration(&self) -> Result<IterStats, JsError> {
        let (mut trainer, real, labels) = {
            let mut s = self.state.borrow_mut();
            let State { trainer, dataset, source, .. } = &mut *s;
            let (Some(dataset), Some(source)) = (dataset.as_ref(), source.as_ref()) else {
                return Err(err("training is not set up; call startTraining first"));
            };
            let mut trainer = trainer.take().ok_or_else(|| err("training is not set up; call startTraining first"))?;
            let device = trainer.device();
            let batch = trainer.config().batch_size;
            let (real, labels) = source.draw_labelled(dataset, batch, trainer.rng(), &device);
            (trainer, real, labels)
        };
        let labels = labels.filter(|_| trainer.config().is_conditional());
        let result = trainer.step_labelled(real, labels.as_deref()).await;
        let mut s = self.state.borrow_mut();
        s.model_iteration = trainer.iteration();
        s.trainer = Some(trainer);
        result.map_err(err)
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
