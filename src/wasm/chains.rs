//! Langevin chains across workers: the engine hands shares of its chains to a pool of helper
//! workers (`js/chain-pool.js`), each running `ChainHelper` in its own instance of this module.
//! Partitioning, seeding and joining are the core's ([`crate::sampler::cpu::run_on_pool`]); this
//! file only moves a share's numbers between Rust and JavaScript.

use std::rc::Rc;

use js_sys::{Array, Float32Array, Function, Int32Array, Object, Promise, Reflect, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

use super::{Engine, err};
use crate::sampler::Dynamics;
use crate::sampler::cpu::{ChainPool, Frame, Frames, Frozen, ShareFuture, ShareJob, Spec, install_pool, run_chains};

/// Runs shares of chains in a helper worker.
#[wasm_bindgen]
pub struct ChainHelper;

#[wasm_bindgen]
impl ChainHelper {
    #[wasm_bindgen(constructor)]
    pub fn new() -> ChainHelper {
        ChainHelper
    }

    /// Runs one share (the object `setChainPool`'s function receives) and returns
    /// `{finals: Float32Array, frames: [{step, values: Float32Array}]}`.
    #[wasm_bindgen(js_name = runShare)]
    pub fn run_share(&self, job: &JsValue) -> Result<Object, JsError> {
        let floats = |key: &str| -> Result<Vec<f32>, JsError> {
            let v = get(job, key);
            v.dyn_ref::<Float32Array>().map(|a| a.to_vec()).ok_or_else(|| err(format!("share.{key} must be a Float32Array")))
        };
        let number = |key: &str| -> Result<f64, JsError> {
            get(job, key).as_f64().filter(|v| v.is_finite()).ok_or_else(|| err(format!("share.{key} must be a number")))
        };
        let net = Frozen::from_values(&floats("net")?).map_err(err)?;
        let images = floats("images")?;
        let len = net.image_len();
        if images.is_empty() || images.len() % len != 0 {
            return Err(err(format!("share.images must hold whole images of {len} values")));
        }
        let count = images.len() / len;
        let labels = get(job, "labels").dyn_ref::<Int32Array>().map(|a| a.to_vec());
        let levels: Option<Vec<u32>> =
            get(job, "levels").dyn_ref::<Int32Array>().map(|a| a.to_vec().into_iter().map(|l| l.max(0) as u32).collect());
        let free: Option<Vec<bool>> = get(job, "free").dyn_ref::<Uint8Array>().map(|a| a.to_vec().into_iter().map(|f| f != 0).collect());
        let net_levels = net.levels();
        if labels.as_ref().is_some_and(|l| l.len() != count || l.iter().any(|&y| y < 0 || y as usize >= net.label_classes().max(1)))
            || levels.as_ref().is_some_and(|l| l.len() != count || l.iter().any(|&t| t as usize >= net_levels))
            || free.as_ref().is_some_and(|f| f.len() != images.len())
        {
            return Err(err("share.labels / share.levels / share.free do not fit its images or the net"));
        }
        let dynamics: Dynamics = get(job, "dynamics")
            .as_string()
            .and_then(|json| serde_json::from_str(&json).ok())
            .ok_or_else(|| err("share.dynamics must be the chains' dynamics as JSON"))?;
        check_dynamics(&dynamics, &net, levels.is_some())?;
        let record = number("record_every")? as usize;
        let seed = ((number("seed_hi")? as u64) << 32) | number("seed_lo")? as u64;
        let spec = Spec {
            dynamics: &dynamics,
            target_labels: labels.as_deref(),
            levels: levels.as_deref(),
            free: free.as_deref(),
            record_every: (record > 0).then_some(record),
            seed,
            first_chain: number("first_chain")? as usize,
        };
        let (finals, frames) = run_chains(&net, &images, &spec);
        let out = Object::new();
        set(&out, "finals", &Float32Array::from(finals.as_slice()));
        let list = Array::new();
        for f in frames {
            let frame = Object::new();
            set(&frame, "step", &JsValue::from(f.step as f64));
            if let Some(level) = f.level {
                set(&frame, "level", &JsValue::from(level as f64));
            }
            set(&frame, "values", &Float32Array::from(f.values.as_slice()));
            list.push(&frame);
        }
        set(&out, "frames", &list);
        Ok(out)
    }
}

impl Default for ChainHelper {
    fn default() -> Self {
        Self::new()
    }
}

#[wasm_bindgen]
impl Engine {
    /// Runs Langevin on the CPU as `helpers` shares through `run(share) → Promise<{finals,
    /// frames}>` (the worker's chain pool); `null` runs it on this thread again. A pool that
    /// fails leaves the chains to run here.
    #[wasm_bindgen(js_name = setChainPool)]
    pub fn set_chain_pool(&self, run: Option<Function>, helpers: u32) -> Result<(), JsError> {
        self.idle_state()?;
        match run {
            Some(run) if helpers > 0 => install_pool(Some(Rc::new(JsChainPool { run, helpers: helpers as usize }))),
            Some(_) => return Err(err("helpers must be at least 1")),
            None => install_pool(None),
        }
        Ok(())
    }
}

/// The pool as JavaScript runs it.
struct JsChainPool {
    run: Function,
    helpers: usize,
}

impl ChainPool for JsChainPool {
    fn helpers(&self) -> usize {
        self.helpers
    }

    fn start(&self, job: ShareJob<'_>) -> ShareFuture {
        let share = Object::new();
        set(&share, "net", &Float32Array::from(job.net));
        set(&share, "images", &Float32Array::from(job.images));
        if let Some(labels) = job.labels {
            set(&share, "labels", &Int32Array::from(labels));
        }
        if let Some(levels) = job.levels {
            set(&share, "levels", &Int32Array::from(levels.iter().map(|&l| l as i32).collect::<Vec<_>>().as_slice()));
        }
        if let Some(free) = job.free {
            set(&share, "free", &Uint8Array::from(free.iter().map(|&f| u8::from(f)).collect::<Vec<_>>().as_slice()));
        }
        set(&share, "dynamics", &JsValue::from_str(&serde_json::to_string(job.dynamics).expect("dynamics serialise")));
        for (key, value) in [
            ("record_every", job.record_every.unwrap_or(0) as f64),
            ("seed_hi", (job.seed >> 32) as f64),
            ("seed_lo", (job.seed & 0xFFFF_FFFF) as f64),
            ("first_chain", job.first_chain as f64),
        ] {
            set(&share, key, &JsValue::from(value));
        }
        // Called now, so every share is under way before the first is awaited.
        let started = self.run.call1(&JsValue::NULL, &share).map(|value| Promise::resolve(&value));
        Box::pin(async move {
            let promise = started.map_err(|e| format!("the chain pool refused a share: {e:?}"))?;
            let out = JsFuture::from(promise).await.map_err(|e| format!("a share failed: {e:?}"))?;
            let finals = get(&out, "finals").dyn_ref::<Float32Array>().map(|a| a.to_vec()).ok_or("a share returned no finals")?;
            let mut frames: Frames = Vec::new();
            for frame in Array::from(&get(&out, "frames")).iter() {
                let step = get(&frame, "step").as_f64().ok_or("a frame has no step")? as usize;
                let level = get(&frame, "level").as_f64().map(|l| l as usize);
                let values = get(&frame, "values").dyn_ref::<Float32Array>().map(|a| a.to_vec()).ok_or("a frame has no values")?;
                frames.push(Frame { step, level, values });
            }
            Ok((finals, frames))
        })
    }
}

/// A share's dynamics must fit its net and stay within what one call may ask for.
fn check_dynamics(dynamics: &Dynamics, net: &Frozen, has_levels: bool) -> Result<(), JsError> {
    use crate::sampler::{RecoveryChains, Walk};
    let net_levels = net.levels();
    let within = dynamics.total_steps() <= crate::limits::MAX_STEPS_PER_CALL * 16;
    let fits = match (dynamics, net) {
        (Dynamics::Clamped(p), Frozen::Conv(_)) => [p.step_size, p.noise_std, p.grad_clamp].iter().all(|v| v.is_finite()),
        (Dynamics::Recovery(RecoveryChains { schedule, noise_scale, walk, .. }), Frozen::Conv(_)) => {
            schedule.is_well_formed()
                && schedule.levels() == net_levels
                && noise_scale.is_finite()
                && match walk {
                    Walk::OneLevel => has_levels,
                    Walk::Down { top } => *top < net_levels,
                }
        }
        (Dynamics::Denoising(walk), Frozen::Residual(_)) => walk.is_well_formed(),
        _ => false,
    };
    if within && fits { Ok(()) } else { Err(err("share.dynamics does not fit the net or is out of range")) }
}

fn get(target: &JsValue, key: &str) -> JsValue {
    Reflect::get(target, &JsValue::from_str(key)).unwrap_or(JsValue::UNDEFINED)
}

fn set(target: &Object, key: &str, value: &JsValue) {
    // Setting a property on a fresh plain object cannot fail.
    let _ = Reflect::set(target, &JsValue::from_str(key), value);
}
