//! Langevin dynamics on the energy: x ← clamp(x + N(0, σ)); x ← clamp(x − step·clamp(∇ₓE, ±g)).
//!
//! On a GPU everything stays on the device: no value is read back inside the loop. On the CPU
//! (`flex`) the chains take [`crate::cpu_chains`], the same dynamics without autodiff.

use burn::prelude::*;
use burn::tensor::Distribution;

use crate::config::EbmConfig;
use crate::model::EnergyNet;

/// The sampler's knobs (a subset of [`EbmConfig`]).
#[derive(Clone, Copy, Debug, PartialEq)]
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

/// One recorded state of the chain.
pub struct ChainFrame {
    /// Number of Langevin steps taken to reach this state (0 = the start).
    pub step: usize,
    pub images: Tensor<4>,
}

/// Which pixels Langevin may change: `true` where the sampler is free, `false` where the input
/// is kept exactly (inpainting). Shape [N, C, H, W].
pub type FreeMask = Tensor<4, Bool>;

/// What a chain records and what constrains it.
#[derive(Clone, Default)]
pub struct ChainOptions {
    /// Keep every k-th state (and the first and last) for visualising the chain.
    pub record_every: Option<usize>,
    /// Only these pixels may change (inpainting); the rest stay bit-identical.
    pub free: Option<FreeMask>,
    /// Sample from E(x, y) for these labels, one per image (class-conditional nets).
    pub labels: Option<Tensor<1, Int>>,
}

/// Runs `params.steps` Langevin steps from `start` and returns the final images, plus the
/// recorded states when `options.record_every` asks for them. Async because on the CPU the
/// chains may run on helper workers ([`crate::cpu_chains::ChainPool`]).
pub async fn langevin(net: &EnergyNet, start: Tensor<4>, params: &LangevinParams, options: &ChainOptions) -> (Tensor<4>, Vec<ChainFrame>) {
    if let Some(done) = crate::cpu_chains::langevin(net, &start, params, options).await {
        return done;
    }
    chain(net, start, params, options)
}

fn chain(net: &EnergyNet, start: Tensor<4>, params: &LangevinParams, options: &ChainOptions) -> (Tensor<4>, Vec<ChainFrame>) {
    // Gradients are only wanted for the input: a net without autodiff treats its weights as
    // constants, so the backward pass skips their gradients entirely.
    let net = net.valid();
    let fixed = start.clone().without_autodiff();
    let mut x = fixed.clone();
    let mut chain = Vec::new();
    let record_every = options.record_every.filter(|&k| k > 0);
    if record_every.is_some() {
        chain.push(ChainFrame { step: 0, images: x.clone() });
    }
    for step in 1..=params.steps {
        if params.noise_std > 0.0 {
            // Noise first, so `x` is moved into the add and its buffer can be reused in place.
            let noise = Tensor::random(x.shape(), Distribution::Normal(0.0, params.noise_std), &x.device());
            x = (x + noise).clamp(-1.0, 1.0);
        }
        let leaf = x.clone().detach().autodiff().require_grad();
        let energy = match &options.labels {
            Some(labels) => net.energy_given(leaf.clone(), labels.clone()),
            None => net.energy(leaf.clone()),
        };
        let grads = energy.sum().backward();
        let grad = leaf.grad(&grads).expect("the Langevin input is a leaf that requires its gradient");
        let g = params.grad_clamp;
        x = (x - grad.clamp(-g, g) * params.step_size).clamp(-1.0, 1.0);
        if let Some(mask) = &options.free {
            x = fixed.clone().mask_where(mask.clone(), x);
        }
        if let Some(k) = record_every
            && (step % k == 0 || step == params.steps)
        {
            chain.push(ChainFrame { step, images: x.clone() });
        }
    }
    (x, chain)
}
