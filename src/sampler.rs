//! Langevin dynamics on the energy: x ← clamp(x + N(0, σ)); x ← clamp(x − step·clamp(∇ₓE, ±g)).
//!
//! Everything stays on the device: no value is read back inside the loop.

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
/// recorded states when `options.record_every` asks for them.
pub fn langevin(
    net: &EnergyNet,
    start: Tensor<4>,
    params: &LangevinParams,
    options: &ChainOptions,
) -> (Tensor<4>, Vec<ChainFrame>) {
    #[cfg(not(target_arch = "wasm32"))]
    if let Some(halves) = cpu_halves::run(net, &start, params, options) {
        return (halves, Vec::new());
    }
    chain(net, start, params, options, &mut Noise::OnDevice)
}

/// Where the per-step Gaussian noise comes from.
enum Noise {
    /// The device's own generator (no upload: on a GPU the noise never leaves it).
    OnDevice,
    /// A generator of our own, for chains run on several CPU threads at once: each thread
    /// draws from its own seeded stream, so results do not depend on thread timing.
    #[cfg_attr(target_arch = "wasm32", allow(dead_code))]
    Seeded(rand::rngs::StdRng),
}

impl Noise {
    fn sample(&mut self, like: &Tensor<4>, std: f64) -> Tensor<4> {
        let distribution = Distribution::Normal(0.0, std);
        match self {
            Noise::OnDevice => Tensor::random(like.shape(), distribution, &like.device()),
            Noise::Seeded(rng) => {
                Tensor::from_data(burn::tensor::TensorData::random::<f32, _, _>(like.shape(), distribution, rng), &like.device())
            }
        }
    }
}

fn chain(
    net: &EnergyNet,
    start: Tensor<4>,
    params: &LangevinParams,
    options: &ChainOptions,
    noise_source: &mut Noise,
) -> (Tensor<4>, Vec<ChainFrame>) {
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
            let noise = noise_source.sample(&x, params.noise_std);
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

/// On the CPU backend, natively, the chains of a training batch run as two halves on two
/// threads: burn-flex keeps only ~1.2 of two cores busy on this small net, and Langevin chains
/// are independent of each other. (No threads in the browser; a GPU runs the batch at once.)
#[cfg(not(target_arch = "wasm32"))]
mod cpu_halves {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    /// Below this many chains the halves are too small to pay for a thread.
    const MIN_BATCH: usize = 16;

    pub fn run(net: &EnergyNet, start: &Tensor<4>, params: &LangevinParams, options: &ChainOptions) -> Option<Tensor<4>> {
        let n = start.dims()[0];
        let threads = std::thread::available_parallelism().map_or(1, |t| t.get());
        let plain = options.record_every.is_none() && options.free.is_none();
        if threads < 2 || n < MIN_BATCH || !plain || start.device() != Device::flex() {
            return None;
        }
        // Two seeds from the device's generator, so a seeded run stays repeatable.
        let seeds = Tensor::<1>::random([2], Distribution::Uniform(0.0, 4.0e9), &start.device()).into_data();
        let seeds: Vec<u64> = seeds.iter::<f32>().map(|s| s as u64).collect();
        let half = n / 2;
        let parts = [(0, half), (half, n - half)];
        let results: Vec<Tensor<4>> = std::thread::scope(|scope| {
            let handles: Vec<_> = parts
                .iter()
                .zip(&seeds)
                .map(|(&(from, len), &seed)| {
                    let start = start.clone().narrow(0, from, len);
                    let options = ChainOptions { labels: options.labels.clone().map(|l| l.narrow(0, from, len)), ..Default::default() };
                    scope.spawn(move || chain(net, start, params, &options, &mut Noise::Seeded(StdRng::seed_from_u64(seed))).0)
                })
                .collect();
            handles.into_iter().map(|h| h.join().expect("a Langevin thread panicked")).collect()
        });
        Some(Tensor::cat(results, 0))
    }
}
