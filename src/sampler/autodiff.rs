//! The general path: every step builds a small autodiff graph for ∇ₓf and stays on the device
//! (WebGPU, native wgpu, or `flex` when the CPU path is not taken). No value is read back.
//!
//! Every step's input gradient is held until the whole chain has run on the device
//! ([`Chain::settle`]): on WebGPU (burn 0.22 / cubecl, SwiftShader and the wgpu backend alike,
//! with and without fusion) a gradient tensor dropped right after the step that used it let the
//! chain's images be overwritten by later allocations — a walk that should move by 1e-3 moved
//! by 6 (found by tests/web.rs `webgpu_recovery_walk_matches_the_cpu`). Holding them costs one
//! image batch per step until the chain is read.

use burn::prelude::*;
use burn::tensor::{Distribution, Int, TensorData};

use super::{ChainFrame, ChainOptions, Dynamics, LangevinParams, RecoveryChains, Walk};
use crate::model::EnergyNet;

/// Runs the chains with burn's autodiff for ∇ₓf, on `start`'s device.
pub async fn chain(net: &EnergyNet, start: Tensor<4>, dynamics: &Dynamics, options: &ChainOptions) -> (Tensor<4>, Vec<ChainFrame>) {
    // Gradients are only wanted for the input: a net without autodiff treats its weights as
    // constants, so the backward pass skips their gradients entirely.
    let net = net.valid();
    let start = start.without_autodiff();
    let mut held = Held(Vec::new());
    let (end, frames) = match dynamics {
        Dynamics::Clamped(params) => clamped(&net, start, params, options, &mut held),
        Dynamics::Recovery(chains) => recovery(&net, start, chains, options, &mut held),
        Dynamics::Denoising(walk) => super::walk_all(&net, walk, start, options),
    };
    held.settle(&end).await;
    (end, frames)
}

/// The input gradients of a chain's steps, held until the chain has run (see the module doc).
struct Held(Vec<Tensor<4>>);

impl Held {
    /// Waits for the chain's last image to exist on the device — the queue runs in order, so
    /// every step before it has run too — then lets the gradients go.
    async fn settle(self, end: &Tensor<4>) {
        if self.0.is_empty() {
            return;
        }
        let one = end.clone().flatten::<1>(0, 3).narrow(0, 0, 1);
        // A failed read only means the device is gone; the caller's own read will say so.
        let _ = one.into_data_async().await;
        drop(self);
    }
}

/// x + drift·∇ₓf(s·x, 0) for a net whose level-0 input is s·x (the walk's final step).
pub async fn final_step(net: &EnergyNet, x: Tensor<4>, input_scale: f32, drift: f32) -> Tensor<4> {
    let net = net.valid();
    let x = x.without_autodiff();
    let n = x.dims()[0];
    // i32, as every backend stores integers (WebGPU reads i64 data as pairs of i32).
    let level_0 = Tensor::<1, Int>::from_data(TensorData::new(vec![0i32; n], [n]), &x.device());
    let grad = output_grad(&net, &(x.clone() * input_scale), &ChainOptions::default(), Some(&level_0));
    let out = x + grad.clone() * (drift * input_scale);
    Held(vec![grad]).settle(&out).await;
    out
}

/// ∇ₓ of the net's output (−E) at `x`, under the options' labels or at `levels`.
fn output_grad(net: &EnergyNet, x: &Tensor<4>, options: &ChainOptions, levels: Option<&Tensor<1, Int>>) -> Tensor<4> {
    let leaf = x.clone().detach().autodiff().require_grad();
    let out = match (levels, &options.labels) {
        (Some(levels), labels) => net.forward_at_given(leaf.clone(), levels, labels.as_ref()),
        (None, Some(labels)) => net.forward_given(leaf.clone(), labels.clone()),
        (None, None) => net.forward(leaf.clone()),
    };
    let grads = out.sum().backward();
    leaf.grad(&grads).expect("the Langevin input is a leaf that requires its gradient")
}

fn clamped(
    net: &EnergyNet,
    start: Tensor<4>,
    params: &LangevinParams,
    options: &ChainOptions,
    held: &mut Held,
) -> (Tensor<4>, Vec<ChainFrame>) {
    let mut x = start.clone();
    let mut chain = Vec::new();
    let record_every = options.record_every.filter(|&k| k > 0);
    if record_every.is_some() {
        chain.push(ChainFrame { step: 0, level: None, images: x.clone() });
    }
    for step in 1..=params.steps {
        if params.noise_std > 0.0 {
            // Noise first, so `x` is moved into the add and its buffer can be reused in place.
            let noise = Tensor::random(x.shape(), Distribution::Normal(0.0, params.noise_std), &x.device());
            x = (x + noise).clamp(-1.0, 1.0);
        }
        // The output is −E: descending E is ascending the output.
        let grad = output_grad(net, &x, options, None);
        held.0.push(grad.clone());
        let g = params.grad_clamp;
        x = (x - grad.neg().clamp(-g, g) * params.step_size).clamp(-1.0, 1.0);
        if let Some(mask) = &options.free {
            x = start.clone().mask_where(mask.clone(), x);
        }
        if let Some(k) = record_every
            && (step % k == 0 || step == params.steps)
        {
            chain.push(ChainFrame { step, level: None, images: x.clone() });
        }
    }
    (x, chain)
}

/// A per-chain factor: one number when every chain has the same (a walk's level), else a
/// [N, 1, 1, 1] tensor that multiplies each chain's image.
enum Factor {
    Same(f32),
    PerChain(Box<Tensor<4>>),
}

impl Factor {
    fn of(values: Vec<f32>, device: &Device) -> Self {
        match values.first() {
            Some(&first) if values.iter().all(|&v| v == first) => Factor::Same(first),
            _ => {
                let n = values.len();
                Factor::PerChain(Box::new(Tensor::from_data(TensorData::new(values, [n, 1, 1, 1]), device)))
            }
        }
    }

    fn times(&self, x: Tensor<4>) -> Tensor<4> {
        match self {
            Factor::Same(v) => x * *v,
            Factor::PerChain(t) => x * (**t).clone(),
        }
    }
}

fn recovery(
    net: &EnergyNet,
    start: Tensor<4>,
    chains: &RecoveryChains,
    options: &ChainOptions,
    held: &mut Held,
) -> (Tensor<4>, Vec<ChainFrame>) {
    let device = start.device();
    let n = start.dims()[0];
    let record = options.record_every.is_some_and(|k| k > 0);
    // Each stage: the level of every chain, on the host (for the coefficients) and the device.
    let stages: Vec<Vec<usize>> = match chains.walk {
        Walk::OneLevel => {
            let levels = options.levels.as_ref().expect("a one-level recovery chain needs its levels");
            vec![levels.iter().map(|&l| l as usize).collect()]
        }
        Walk::Down { top } => (0..=top).rev().map(|t| vec![t; n]).collect(),
    };
    let mut x = start.clone();
    let mut frames = Vec::new();
    if record && let Walk::Down { top } = chains.walk {
        frames.push(ChainFrame { step: 0, level: Some(top + 1), images: x.clone() });
    }
    let mut taken = 0;
    for levels in stages {
        let steps: Vec<_> = levels.iter().map(|&t| chains.schedule.step(t, chains.noise_scale)).collect();
        let tether = Factor::of(steps.iter().map(|s| s.tether).collect(), &device);
        let noise = Factor::of(steps.iter().map(|s| s.noise).collect(), &device);
        let rescale = Factor::of(steps.iter().map(|s| s.rescale).collect(), &device);
        // i32, as every backend stores integers (WebGPU reads i64 data as pairs of i32).
        let level_ids = Tensor::<1, Int>::from_data(TensorData::new(levels.iter().map(|&l| l as i32).collect(), [n]), &device);
        let anchor = x.clone();
        for _ in 0..chains.steps {
            // The noise is drawn before the gradient, as the contrastive chain does.
            let eps = Tensor::random(x.shape(), Distribution::Normal(0.0, 1.0), &device);
            let grad = output_grad(net, &x, options, Some(&level_ids));
            held.0.push(grad.clone());
            let drift = tether.times(anchor.clone() - x.clone());
            x = x + grad * 0.5 + drift + noise.times(eps);
            if let Some(mask) = &options.free {
                x = anchor.clone().mask_where(mask.clone(), x);
            }
        }
        taken += chains.steps;
        x = rescale.times(x);
        if record {
            let level = if chains.walk == Walk::OneLevel { None } else { Some(levels[0]) };
            frames.push(ChainFrame { step: taken, level, images: x.clone() });
        }
    }
    (x, frames)
}
