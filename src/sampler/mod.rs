//! Langevin dynamics on the energy, for both recipes ([`Dynamics`]) and on both paths: on a GPU
//! everything stays on the device with burn's autodiff for ∇ₓf ([`autodiff`]: no value is read
//! back inside the loop); on the CPU (`flex`) the chains take [`cpu`], the same dynamics with a
//! hand-written input gradient and no autodiff.

mod autodiff;
pub mod cpu;
mod heun;

pub use heun::{ClassTerm, Composition, Corrector, DEFAULT_MALA_STEP, DenoisingWalk, MAX_COMPOSED, MAX_CORRECTOR_STEPS, MAX_GUIDANCE};

/// The general path whatever the device (the tests hold the CPU path against it; async: it
/// waits for the device to have run the chain).
pub use autodiff::chain as langevin_autodiff;

use burn::module::Module;
use burn::prelude::*;
use burn::tensor::Int;
use serde::{Deserialize, Serialize};

use crate::config::EbmConfig;
use crate::model::EnergyNet;
use crate::recovery::NoiseSchedule;

/// Langevin steps of a contrastive model's samples from noise (the site, `<ebm-sampler>` and
/// `debm sample` by default).
pub const NOISE_STEPS: usize = 256;

/// What "steps" means by default when a model samples from noise: a contrastive model's
/// Langevin steps ([`NOISE_STEPS`]), a recovery model's steps per level (as trained), a denoising
/// model's levels (its configuration's walk).
pub fn default_noise_steps(config: &EbmConfig) -> usize {
    match config.recipe {
        crate::config::Recipe::Contrastive => NOISE_STEPS,
        crate::config::Recipe::Recovery => config.recovery.steps,
        crate::config::Recipe::Denoising => config.denoising.levels,
    }
}

/// Noise scale of a recovery model's samples: the authors' 0.99 (training uses 1).
pub const SAMPLING_NOISE_SCALE: f32 = 0.99;

/// The final denoising step of a recovery model's samples, once the walk has reached level 0:
/// x ← x + FINAL_DRIFT·∇ₓf(a₁x, 0), the drift of 2·FINAL_DRIFT noiseless Langevin steps at
/// once (`debm sample --final-drift D` tries others). Off by default, by measurement (drl3 at
/// 3,500 updates, the same 1003 walks; FID vs val / high-frequency energy, val's 0.048): none
/// 228.2 / 0.128; 10 — the posterior mean: the fine noise gone, texture like val's — 294.3 /
/// 0.033; 30: 203.6 / 0.214; 100: 372 / 0.88. FID rewards only the steps that overshoot into
/// more grain than the samples had; the one that cleans them costs FID (weights/README.md).
pub const FINAL_DRIFT: f32 = 0.0;

/// The contrastive recipe's sampler knobs (a subset of [`EbmConfig`]).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct LangevinParams {
    pub steps: usize,
    pub step_size: f64,
    pub noise_std: f64,
    pub grad_clamp: f64,
}

impl From<&EbmConfig> for LangevinParams {
    fn from(c: &EbmConfig) -> Self {
        Self { steps: c.langevin_steps, step_size: c.step_size, noise_std: c.noise_std, grad_clamp: c.grad_clamp }
    }
}

/// How a chain moves: the Langevin dynamics of the model's recipe.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Dynamics {
    /// The contrastive recipe on E(x): x ← clamp(x + N(0, σ)); x ← clamp(x − step·clamp(∇ₓE, ±g)),
    /// in [-1, 1].
    Clamped(LangevinParams),
    /// The recovery recipe ([`crate::recovery`]): at a level t, K steps of
    /// y ← y + ½∇f(y, t) + tether·(x̃ − y) + noise·ε from the noisier image y = x̃, then
    /// x_t = y/a_{t+1}.
    Recovery(RecoveryChains),
    /// The denoising recipe: the Heun walk down the levels of E(x, σ) ([`DenoisingWalk`]).
    Denoising(DenoisingWalk),
}

impl From<LangevinParams> for Dynamics {
    fn from(params: LangevinParams) -> Self {
        Dynamics::Clamped(params)
    }
}

/// The recovery recipe's chains.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RecoveryChains {
    pub schedule: NoiseSchedule,
    /// Langevin steps per level.
    pub steps: usize,
    /// Multiplies each step's noise: 1 in training, [`SAMPLING_NOISE_SCALE`] for samples.
    pub noise_scale: f32,
    pub walk: Walk,
    /// A walk down to level 0 ends with x ← x + final_drift·∇ₓf(a₁x, 0) ([`FINAL_DRIFT`] for
    /// samples; 0, none, in training).
    #[serde(default)]
    pub final_drift: f32,
}

/// Which levels a recovery chain runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Walk {
    /// One level per chain, given by [`ChainOptions::levels`] (training's negatives).
    OneLevel,
    /// Every chain walks down from level `top` to level 0: from N(0, I) at top = T − 1 (samples),
    /// or from a noisy image at the level whose noise it has (denoising).
    Down { top: usize },
}

impl Dynamics {
    /// How a model of `config` samples: a contrastive one `steps` steps (default
    /// [`NOISE_STEPS`]) of its own dynamics, a recovery one the walk down all its levels with
    /// `steps` per level (default: as trained), a denoising one its walk of `steps` levels
    /// (default: the configuration's).
    pub fn sampling(config: &EbmConfig, steps: Option<usize>) -> Self {
        if config.is_denoising() {
            return Dynamics::Denoising(DenoisingWalk::of(config, steps));
        }
        if config.is_recovery() {
            Dynamics::Recovery(RecoveryChains {
                schedule: NoiseSchedule::new(config.recovery.levels, config.recovery.step_factor),
                steps: steps.unwrap_or(config.recovery.steps),
                noise_scale: SAMPLING_NOISE_SCALE,
                walk: Walk::Down { top: config.recovery.levels - 1 },
                final_drift: FINAL_DRIFT,
            })
        } else {
            Dynamics::Clamped(LangevinParams { steps: steps.unwrap_or(NOISE_STEPS), ..LangevinParams::from(config) })
        }
    }

    /// These dynamics following a composed energy (and the MALA corrector) — a denoising
    /// walk's; any other refuses a non-empty composition or corrector. The one rule for the
    /// engine and `debm sample`: the classes must exist in a model of `classes` classes and the
    /// weights and steps be in range.
    pub fn composed(self, composition: Composition, corrector: Corrector, classes: usize) -> Result<Self, String> {
        match self {
            Dynamics::Denoising(walk) => {
                composition.check(classes)?;
                let walk = DenoisingWalk { composition, corrector, ..walk };
                if !walk.is_well_formed() {
                    return Err(format!(
                        "the corrector takes at most {MAX_CORRECTOR_STEPS} steps of a step factor between 0 and 1 (got {} steps of {})",
                        corrector.steps, corrector.step_factor
                    ));
                }
                Ok(Dynamics::Denoising(walk))
            }
            other if composition.terms.is_empty() && corrector.steps == 0 => Ok(other),
            _ => Err("only a denoising model composes class energies or corrects its walk".into()),
        }
    }

    /// Levels a sample walks (0: a contrastive chain; a one-level piece of a walk: 1).
    pub fn level_count(&self) -> usize {
        match self {
            Dynamics::Clamped(_) => 0,
            Dynamics::Recovery(r) => match r.walk {
                Walk::OneLevel => 1,
                Walk::Down { top } => top + 1,
            },
            Dynamics::Denoising(walk) => walk.levels(),
        }
    }

    /// Langevin steps a chain takes in all.
    pub fn total_steps(&self) -> usize {
        match self {
            Dynamics::Denoising(walk) => walk.evaluations(),
            Dynamics::Clamped(p) => p.steps,
            Dynamics::Recovery(r) => match r.walk {
                Walk::OneLevel => r.steps,
                Walk::Down { top } => r.steps * (top + 1),
            },
        }
    }

    /// The levels a chain passes, in order (empty for the contrastive recipe; `None` entries
    /// never occur: a one-level chain's levels are per chain, given in its options).
    pub fn walked_levels(&self) -> Vec<usize> {
        match self {
            Dynamics::Recovery(RecoveryChains { walk: Walk::Down { top }, .. }) => (0..=*top).rev().collect(),
            _ => Vec::new(),
        }
    }
}

/// One recorded state of the chain.
pub struct ChainFrame {
    /// Number of Langevin steps taken to reach this state (0 = the start).
    pub step: usize,
    /// The noise level of the images (a recovery walk: T at the start, then each level
    /// reached); `None` for the contrastive recipe.
    pub level: Option<usize>,
    pub images: Tensor<4>,
}

/// Which pixels Langevin may change: `true` where the sampler is free, `false` where the input
/// is kept exactly (inpainting). Shape [N, C, H, W].
pub type FreeMask = Tensor<4, Bool>;

/// What a chain records and what constrains it.
#[derive(Clone, Default)]
pub struct ChainOptions {
    /// Keep every k-th state (and the first and last) for visualising the chain; a recovery
    /// walk keeps the start and the end of every level instead.
    pub record_every: Option<usize>,
    /// Only these pixels may change (inpainting); the rest stay bit-identical.
    pub free: Option<FreeMask>,
    /// Sample from E(x, y) for these labels, one per image (class-conditional nets).
    pub labels: Option<Tensor<1, Int>>,
    /// The noise level of each chain, for [`Walk::OneLevel`] (on the host: each chain's step
    /// coefficients come from it, and WebGPU cannot read a tensor back synchronously).
    pub levels: Option<Vec<u32>>,
}

/// Runs the chains of `dynamics` from `start` and returns the final images, plus the recorded
/// states when `options.record_every` asks for them. Async because on the CPU the chains may
/// run on helper workers ([`cpu::ChainPool`]).
pub async fn langevin(net: &EnergyNet, start: Tensor<4>, dynamics: &Dynamics, options: &ChainOptions) -> (Tensor<4>, Vec<ChainFrame>) {
    if let Dynamics::Denoising(walk) = dynamics {
        if let Some(done) = cpu::langevin(net, &start, dynamics, options).await {
            return done;
        }
        return walk_all(&net.valid(), walk, start.without_autodiff(), options);
    }
    let net = &fixed(net);
    let (mut end, mut frames) = match cpu::langevin(net, &start, dynamics, options).await {
        Some(done) => done,
        None => autodiff::chain(net, start, dynamics, options).await,
    };
    if let Dynamics::Recovery(chains @ RecoveryChains { walk: Walk::Down { .. }, .. }) = dynamics {
        end = step_down_level_0(net, end, chains, options.free.as_ref()).await;
        if let Some(last) = frames.last_mut() {
            last.images = end.clone();
        }
    }
    (end, frames)
}

/// The end of a walk down to level 0: one step x ← x + final_drift·∇ₓf(a₁x, 0) on the free
/// pixels (all without a mask), on the autodiff path (one gradient pass, any device).
pub async fn final_step(net: &EnergyNet, x: Tensor<4>, chains: &RecoveryChains, free: Option<&FreeMask>) -> Tensor<4> {
    if chains.final_drift == 0.0 {
        return x;
    }
    step_down_level_0(&fixed(net), x, chains, free).await
}

/// The weights stay fixed along a chain: a spectrally normalised net is normalised once, here
/// (a walk that runs its levels one by one fixes the net once for all of them).
pub fn fixed(net: &EnergyNet) -> std::borrow::Cow<'_, EnergyNet> {
    if net.has_spectral_norm() { std::borrow::Cow::Owned(net.valid().baked()) } else { std::borrow::Cow::Borrowed(net) }
}

/// [`final_step`] on a net already [`fixed`].
async fn step_down_level_0(net: &EnergyNet, x: Tensor<4>, chains: &RecoveryChains, free: Option<&FreeMask>) -> Tensor<4> {
    if chains.final_drift == 0.0 {
        return x;
    }
    let moved = autodiff::final_step(net, x.clone(), chains.schedule.input_scale(0), chains.final_drift).await;
    match free {
        Some(mask) => x.mask_where(mask.clone(), moved),
        None => moved,
    }
}

/// A whole denoising walk from `start` (already at the first level) with burn's operations on
/// any device, every level recorded when asked; pixels outside `options.free` keep `start`'s
/// values.
/// A net other than a denoising one has no walk: its images stay as they are.
fn walk_all(net: &EnergyNet, walk: &DenoisingWalk, start: Tensor<4>, options: &ChainOptions) -> (Tensor<4>, Vec<ChainFrame>) {
    let Some(net) = net.residual() else { return (start, Vec::new()) };
    let record = options.record_every.is_some_and(|k| k > 0);
    let mut frames = Vec::new();
    if record {
        frames.push(ChainFrame { step: 0, level: Some(walk.levels()), images: start.clone() });
    }
    let fixed = options.free.as_ref().map(|free| (start.clone(), free.clone()));
    let mut x = start;
    for index in 0..walk.levels() {
        x = walk.step(net, x, index, options.labels.as_ref(), fixed.as_ref().map(|(anchor, free)| (anchor, free)));
        if record {
            let remaining = walk.levels() - index - 1;
            frames.push(ChainFrame { step: walk_evaluations_to(index + 1, walk.levels()), level: Some(remaining), images: x.clone() });
        }
    }
    (x, frames)
}

/// Gradient evaluations of the first `done` levels of a walk of `levels` levels.
pub fn walk_evaluations_to(done: usize, levels: usize) -> usize {
    if done >= levels { crate::denoising::walk_evaluations(levels) } else { 2 * done }
}
