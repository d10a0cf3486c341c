//! New images from the energy: samples from noise (optionally of one class, with their
//! chains), inpainting and denoising.

use std::ops::ControlFlow;

use js_sys::Uint8Array;
use serde::Serialize;
use wasm_bindgen::prelude::*;

use super::convert::{images_to_rgba, rgba_to_images, values_to_rgba};
use super::{BusyGuard, Engine, class_arg, err, to_js};
use crate::edit::{self, Edited, MaskPreset};
use crate::inference::{Answer, Frame, generate_observed, go_on};
use crate::limits::{MAX_SAMPLES_PER_CALL, MAX_STEPS_PER_CALL, check_count};
use crate::persistent::{BURN_IN_STEPS, ChainSnapshot, DEFAULT_STEPS, continue_chains};
use crate::sampler::{Composition, Corrector, DEFAULT_MALA_STEP, Dynamics, LangevinParams};
use crate::{Device, EnergyNet};
use rand::SeedableRng;
use rand::rngs::StdRng;

#[derive(Serialize)]
struct GeneratedJs {
    /// RGBA bytes of each sample, concatenated.
    #[serde(with = "serde_bytes")]
    samples: Vec<u8>,
    /// The recorded states of the chains, from noise to the samples.
    chain: Vec<FrameJs>,
    side: usize,
    count: usize,
    /// Where the chains started: "noise" or "persistent".
    from: &'static str,
    /// Langevin steps each sample took.
    steps: usize,
    /// The levels a sample walked (0: a contrastive model's chains).
    levels: usize,
    /// The draw's seed: the same call with it gives the same samples.
    seed: u32,
    /// The class sampled (class-conditional models), `null` for any.
    class: Option<usize>,
}

#[derive(Serialize)]
struct FrameJs {
    /// Langevin steps taken to reach this state.
    step: usize,
    /// The noise level of the images (a recovery model's walk: T at the start down to 0);
    /// absent for a contrastive model.
    #[serde(skip_serializing_if = "Option::is_none")]
    level: Option<usize>,
    /// RGBA bytes of each chain's state, concatenated.
    #[serde(with = "serde_bytes")]
    rgba: Vec<u8>,
}

#[derive(Serialize)]
struct EditedJs {
    #[serde(with = "serde_bytes")]
    before: Vec<u8>,
    #[serde(with = "serde_bytes")]
    after: Vec<u8>,
    energy_before: Vec<f32>,
    energy_after: Vec<f32>,
    side: usize,
    count: usize,
}

fn check_steps(steps: usize) -> Result<(), JsError> {
    check_count("steps", steps, MAX_STEPS_PER_CALL).map_err(err).map(drop)
}

#[wasm_bindgen]
impl Engine {
    /// `count` new samples after `steps` Langevin steps (0: the model's default — 256 from noise,
    /// 40 continuing chains), of `class` when the model is class-conditional (omit it for any
    /// class), recording the chain every `record_every` steps (0 = no chain). `from`: "noise" (the
    /// default) starts from uniform noise; "persistent" continues the model's persistent chains
    /// (those of the loaded file, or the replay buffer of training run here). A recovery model
    /// walks its noise levels from N(0, I), `steps` per level (0: as trained), recording the end
    /// of every level when `record_every` > 0; it has no persistent chains. Returns
    /// `{samples, chain, side, count, from, steps, levels, seed}` (`steps`: Langevin steps each
    /// sample took; `levels`: the model's noise levels, 0 for a contrastive one; `seed`: the
    /// draw's seed — give it back as `seed` to get the same samples). `seed` omitted: a fresh
    /// random draw. `on_frame`, when given, is called with `{step, level, rgba}` as each level of
    /// a walk is reached (the start, then levels T−1 … 0), so a page can draw the walk while it
    /// runs; a callback that returns `false`, or a promise of it, stops the walk at that level
    /// (the call then fails: "the walk was stopped before its last level"); a promise also lets
    /// the event loop run before the walk goes on. A denoising model walks its levels
    /// (`steps`: how many; 0: its own), and may follow a `composition` (JSON `{"terms":
    /// [{"class": k, "weight": w}, …]}`: E_any + Σ w·(E_k − E_any) — one class with guidance, two
    /// classes together) with `mala_steps` Metropolis-adjusted Langevin steps after each level.
    pub async fn generate(
        &self,
        count: usize,
        steps: usize,
        record_every: usize,
        class: Option<u32>,
        from: Option<String>,
        seed: Option<f64>,
        on_frame: Option<js_sys::Function>,
        composition: Option<String>,
        mala_steps: Option<u32>,
    ) -> Result<JsValue, JsError> {
        check_count("count", count, MAX_SAMPLES_PER_CALL).map_err(err)?;
        let composition: Composition = match composition.as_deref() {
            None | Some("") => Composition::default(),
            Some(json) => serde_json::from_str(json)
                .map_err(|e| err(format!("composition is not {{\"terms\": [{{\"class\", \"weight\"}}]}}: {e}")))?,
        };
        let corrector = Corrector { steps: mala_steps.unwrap_or(0) as usize, step_factor: DEFAULT_MALA_STEP };
        let persistent = match from.as_deref() {
            None | Some("noise") => false,
            Some("persistent") => true,
            Some(other) => return Err(err(format!("unknown start `{other}`: use \"noise\" or \"persistent\""))),
        };
        let seed = self.draw_seed(seed)?;
        let _busy = BusyGuard::take(&self.state)?;
        let (model, config, device) = self.model_for_use()?;
        device.seed(u64::from(seed));
        let class = class_arg(class, &config)?;
        if persistent && config.walks_levels() {
            return Err(err("this model has no persistent chains: it samples from noise through its noise levels"));
        }
        // 0 steps: the model's own default (see `Dynamics::sampling` and `persistent::DEFAULT_STEPS`).
        let steps = (steps > 0).then_some(steps);
        let params = LangevinParams { steps: steps.unwrap_or(DEFAULT_STEPS), ..LangevinParams::from(&config) };
        let dynamics = if persistent { Dynamics::Clamped(params) } else { Dynamics::sampling(&config, steps) };
        let dynamics = dynamics.composed(composition, corrector, config.classes).map_err(err)?;
        check_steps(dynamics.total_steps())?;
        let record = (record_every > 0).then_some(record_every);
        let out = if persistent {
            let chains = self.persistent_chains().await?;
            let mut rng = StdRng::seed_from_u64(u64::from(seed));
            continue_chains(&model, &chains, count, &params, record, class, BURN_IN_STEPS, &mut rng, &device).await.map_err(err)?
        } else {
            let shape = config.image_shape();
            let mut observe = |frame: &Frame| -> Answer {
                let Some(callback) = &on_frame else { return go_on() };
                let Ok(value) = to_js(&FrameJs { step: frame.step, level: frame.level, rgba: values_to_rgba(&frame.values, shape) }) else {
                    return go_on();
                };
                // A callback that throws only loses its own drawing, not the samples; one that
                // answers `false` (or a promise of it) stops the walk.
                let answer = callback.call1(&JsValue::NULL, &value).unwrap_or(JsValue::TRUE);
                Box::pin(async move {
                    let answer = match answer.dyn_into::<js_sys::Promise>() {
                        Ok(promise) => wasm_bindgen_futures::JsFuture::from(promise).await.unwrap_or(JsValue::TRUE),
                        Err(answer) => answer,
                    };
                    if answer == JsValue::FALSE { ControlFlow::Break(()) } else { ControlFlow::Continue(()) }
                })
            };
            generate_observed(&model, count, shape, &dynamics, record, class, &device, &mut observe).await.map_err(err)?
        };
        let shape = config.image_shape();
        to_js(&GeneratedJs {
            samples: values_to_rgba(&out.samples, shape),
            chain: out.chain.iter().map(|f| FrameJs { step: f.step, level: f.level, rgba: values_to_rgba(&f.values, shape) }).collect(),
            side: shape[1],
            count,
            from: if persistent { "persistent" } else { "noise" },
            steps: dynamics.total_steps(),
            levels: dynamics.level_count(),
            seed,
            class,
        })
    }

    /// Fills in the pixels where `mask` (side×side bytes, non-zero = fill in) is set, in each of
    /// `count` RGBA images, with `steps` Langevin steps; every other pixel is returned unchanged.
    /// Returns `{before, after, energy_before, energy_after, side, count}`.
    pub async fn inpaint(&self, rgba: &[u8], count: usize, mask: &[u8], steps: usize, class: Option<u32>) -> Result<JsValue, JsError> {
        let _busy = BusyGuard::take(&self.state)?;
        let e = self.edit_inputs(rgba, count, steps, class)?;
        let free: Vec<bool> = mask.iter().map(|&m| m != 0).collect();
        let out = edit::inpaint(&e.model, &e.images, e.channels, e.side, &free, &e.dynamics, e.class, &e.device).await.map_err(err)?;
        edited_js(out, e.channels, e.side)
    }

    /// Runs `steps` Langevin steps from each of `count` (noisy) RGBA images (a recovery model:
    /// the walk down from the level whose noise matches `noise_std`, the standard deviation of
    /// the noise on the [-1, 1] scale, `steps` per level; 0 steps: the model's default).
    /// Returns `{before, after, energy_before, energy_after, side, count}`.
    pub async fn denoise(
        &self,
        rgba: &[u8],
        count: usize,
        steps: usize,
        class: Option<u32>,
        noise_std: Option<f64>,
    ) -> Result<JsValue, JsError> {
        if noise_std.is_some_and(|s| !(s.is_finite() && (0.0..=2.0).contains(&s))) {
            return Err(err("noise_std must be between 0 and 2"));
        }
        let _busy = BusyGuard::take(&self.state)?;
        let e = self.edit_inputs(rgba, count, steps, class)?;
        let out = edit::denoise(&e.model, &e.images, e.channels, e.side, &e.dynamics, noise_std, e.class, &e.device).await.map_err(err)?;
        edited_js(out, e.channels, e.side)
    }

    /// The RGBA images with Gaussian noise of standard deviation `sigma` (on the [-1, 1] scale).
    #[wasm_bindgen(js_name = addNoise)]
    pub async fn add_noise(&self, rgba: &[u8], count: usize, sigma: f64) -> Result<Uint8Array, JsError> {
        if !(sigma.is_finite() && (0.0..=2.0).contains(&sigma)) {
            return Err(err(format!("sigma must be between 0 and 2 (got {sigma})")));
        }
        let _busy = BusyGuard::take(&self.state)?;
        let (_, config, device) = self.model_for_use()?;
        let (c, side) = (config.channels, config.image_size);
        let images = rgba_to_images(rgba, count, side, c)?;
        let noisy = edit::add_noise(&images, c, side, sigma, &device).await.map_err(err)?;
        Ok(Uint8Array::from(images_to_rgba(&noisy, c).as_slice()))
    }

    /// A ready-made inpainting mask of `side`×`side` bytes (1 = fill in): `centre_square`,
    /// `left_half`, `right_half`, `top_half` or `bottom_half`.
    #[wasm_bindgen(js_name = maskPreset)]
    pub fn mask_preset(name: &str, side: usize) -> Result<Uint8Array, JsError> {
        let preset = MaskPreset::parse(name)
            .ok_or_else(|| err(format!("unknown mask `{name}`: use centre_square, left_half, right_half, top_half or bottom_half")))?;
        if !(8..=crate::config::MAX_IMAGE_SIZE).contains(&side) {
            return Err(err(format!("side must be between 8 and {} pixels (got {side})", crate::config::MAX_IMAGE_SIZE)));
        }
        let bytes: Vec<u8> = preset.mask(side).into_iter().map(u8::from).collect();
        Ok(Uint8Array::from(bytes.as_slice()))
    }
}

/// What inpainting and denoising both start from, checked.
struct EditInputs {
    model: EnergyNet,
    device: Device,
    images: Vec<Vec<u8>>,
    channels: usize,
    side: usize,
    dynamics: Dynamics,
    class: Option<usize>,
}

impl Engine {
    /// The chains to continue: those of the model in use (`Session::chains`), read without the
    /// engine's state borrowed across the wait.
    async fn persistent_chains(&self) -> Result<ChainSnapshot, JsError> {
        let chains = self.state.borrow().session.chains().map_err(err)?;
        chains.read().await.map_err(err)
    }

    fn edit_inputs(&self, rgba: &[u8], count: usize, steps: usize, class: Option<u32>) -> Result<EditInputs, JsError> {
        let (model, config, device) = self.model_for_use()?;
        let class = class_arg(class, &config)?;
        let (channels, side) = (config.channels, config.image_size);
        let images = rgba_to_images(rgba, count, side, channels)?;
        let dynamics = Dynamics::sampling(&config, (steps > 0).then_some(steps));
        check_steps(dynamics.total_steps())?;
        Ok(EditInputs { model, device, images, channels, side, dynamics, class })
    }
}

fn edited_js(out: Edited, channels: usize, side: usize) -> Result<JsValue, JsError> {
    to_js(&EditedJs {
        count: out.after.len(),
        before: images_to_rgba(&out.before, channels),
        after: images_to_rgba(&out.after, channels),
        energy_before: out.energy_before,
        energy_after: out.energy_after,
        side,
    })
}
