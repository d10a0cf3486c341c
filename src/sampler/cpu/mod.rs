//! Chains on the CPU without autodiff (burn's `flex` device, natively and in wasm), for every
//! recipe's dynamics ([`Dynamics`]): Langevin on the CNN, and the denoising walk on the residual
//! net ([`FrozenResidual`]).
//!
//! The general path ([`super::autodiff`]) builds an autodiff graph every step to get ∇ₓE; here the
//! frozen net's forward keeps each activation's slope and a hand-written backward walks back to
//! the input ([`frozen_net`]), on channels-last arrays with one scratch space per tile of
//! chains. Each chain draws its noise from its own stream, seeded from the run's seed and the
//! chain's index, so the images do not depend on how chains are split into tiles or threads.
//! Natively, tiles run on every core (rayon); in the browser, one after another.

mod conv;
mod fast_math;
mod frozen_net;
mod frozen_residual;
mod pool;
mod walk;
mod wire;

use burn::prelude::*;
use burn::tensor::{Int, TensorData};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand_distr::{Distribution as _, StandardNormal};

pub use conv::Conv;
pub use frozen_net::{Dense, FrozenEmbedding, FrozenNet, Target};
pub use frozen_residual::{Affine, FrozenBlock, FrozenResidual};
pub use pool::{ChainPool, ShareFuture, ShareJob, install_pool, run_on_pool, shares};

/// One recorded state of every chain of a run (or share).
#[derive(Clone, Debug, PartialEq)]
pub struct Frame {
    /// Langevin steps taken.
    pub step: usize,
    /// The noise level reached (a recovery walk); `None` otherwise.
    pub level: Option<usize>,
    /// Every chain's values, NHWC, one chain after another.
    pub values: Vec<f32>,
}

/// Recorded frames of a run.
pub type Frames = Vec<Frame>;

/// A net frozen for the CPU path: the CNN (Langevin of the contrastive and recovery recipes) or
/// the residual energy (the denoising walk).
#[derive(Clone, Debug)]
pub enum Frozen {
    Conv(Box<FrozenNet>),
    Residual(Box<FrozenResidual>),
}

impl Frozen {
    /// `net`'s weights in the CPU path's layouts, for images of side `side`.
    pub fn of(net: &EnergyNet, side: usize) -> Frozen {
        match net {
            EnergyNet::Conv(net) => Frozen::Conv(Box::new(FrozenNet::of(net, side))),
            EnergyNet::Residual(net) => Frozen::Residual(Box::new(FrozenResidual::of(net, side))),
        }
    }

    /// Values of one image.
    pub fn image_len(&self) -> usize {
        match self {
            Frozen::Conv(net) => net.image_len(),
            Frozen::Residual(net) => net.image_len(),
        }
    }

    /// Classes a chain's label may name (0: none).
    pub fn label_classes(&self) -> usize {
        match self {
            Frozen::Conv(net) => net.label_classes(),
            Frozen::Residual(net) => net.classes,
        }
    }

    /// Noise levels a one-level recovery chain may name (0: none).
    pub fn levels(&self) -> usize {
        match self {
            Frozen::Conv(net) => net.levels.as_ref().map_or(0, |l| l.rows),
            Frozen::Residual(_) => 0,
        }
    }
}

use crate::model::EnergyNet;
use crate::sampler::{ChainFrame, ChainOptions, Dynamics, LangevinParams, RecoveryChains, Walk};

/// Most chains per tile: enough rows for the matrix products to run at speed, few enough that
/// a tile's scratch space stays in cache and a batch splits over several threads.
const TILE: usize = 16;

/// Chains per tile for `n` chains: at most [`TILE`], fewer when that keeps every core busy
/// (results do not depend on it: each chain's noise is its own).
fn tile_size(n: usize) -> usize {
    #[cfg(not(target_arch = "wasm32"))]
    let threads = rayon::current_num_threads();
    #[cfg(target_arch = "wasm32")]
    let threads = 1;
    n.div_ceil(threads).clamp(1, TILE)
}

/// Runs the chains on the CPU when `start` lives on the `flex` device — on the installed
/// [`ChainPool`]'s helpers when there is one, else here; `None` otherwise (the caller then
/// takes the general path).
pub async fn langevin(
    net: &EnergyNet,
    start: &Tensor<4>,
    dynamics: &Dynamics,
    options: &ChainOptions,
) -> Option<(Tensor<4>, Vec<ChainFrame>)> {
    let device = start.device();
    if device != Device::flex() {
        return None;
    }
    let [n, c, h, w] = start.dims();
    if n == 0 {
        return Some((start.clone(), Vec::new()));
    }
    let frozen = Frozen::of(net, h);
    let to_nhwc = |values: Vec<f32>| swap_inner_axes(&values, n, c, h * w);
    let images = to_nhwc(start.clone().into_data().convert::<f32>().try_into_vec::<f32>().ok()?);
    let ints = |t: Tensor<1, Int>| t.into_data().convert::<i32>().try_into_vec::<i32>().expect("integers");
    let labels: Option<Vec<i32>> = options.labels.clone().map(ints);
    let levels = options.levels.as_deref();
    let free: Option<Vec<bool>> = options.free.clone().map(|m| {
        let values: Vec<f32> = m.float().into_data().convert::<f32>().try_into_vec::<f32>().expect("a mask converts to floats");
        swap_inner_axes(&values, n, c, h * w).into_iter().map(|v| v > 0.5).collect()
    });
    // The run's seed from the device's generator, so a seeded run stays repeatable.
    let seed_parts = Tensor::<1>::random([2], burn::tensor::Distribution::Uniform(0.0, 16_777_216.0), &device).into_data();
    let seed = seed_parts.iter::<f32>().fold(0u64, |acc, v| (acc << 24) | v as u64);
    let record_every = options.record_every.filter(|&k| k > 0);
    let spec = Spec { dynamics, target_labels: labels.as_deref(), levels, free: free.as_deref(), record_every, seed, first_chain: 0 };
    let (finals, frames) = match pool::installed() {
        Some(pool) => run_on_pool(pool.as_ref(), &frozen, &images, &spec).await,
        None => run_chains(&frozen, &images, &spec),
    };
    let to_tensor = |nhwc: &[f32]| Tensor::<4>::from_data(TensorData::new(swap_inner_axes(nhwc, n, h * w, c), [n, c, h, w]), &device);
    let frames = frames.iter().map(|f| ChainFrame { step: f.step, level: f.level, images: to_tensor(&f.values) }).collect();
    Some((to_tensor(&finals), frames))
}

/// What every chain of a run shares.
pub struct Spec<'a> {
    pub dynamics: &'a Dynamics,
    /// Per-chain labels for E(x, y); `None` descends E(x).
    pub target_labels: Option<&'a [i32]>,
    /// Per-chain noise levels ([`Walk::OneLevel`]).
    pub levels: Option<&'a [u32]>,
    /// Per-value "may change" flags (NHWC, like the images); `None`: every value is free.
    pub free: Option<&'a [bool]>,
    pub record_every: Option<usize>,
    pub seed: u64,
    /// Index of the first chain of `images` within the whole run: a share of a run's chains
    /// computed elsewhere (another thread or worker) gets the same noise as in one piece.
    pub first_chain: usize,
}

/// The noise stream of chain `index` of a run seeded with `seed` (independent of tiling).
pub fn chain_rng(seed: u64, index: usize) -> StdRng {
    // SplitMix64 of (seed, index): distinct, well-mixed seeds for neighbouring chains.
    let mut z = seed ^ (index as u64).wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    StdRng::seed_from_u64(z ^ (z >> 31))
}

/// Runs every chain of `images` (NHWC, one after another) and returns the final images and the
/// recorded frames (step, all images), in the same layout.
pub fn run_chains(net: &Frozen, images: &[f32], spec: &Spec) -> (Vec<f32>, Frames) {
    let len = net.image_len();
    let n = images.len() / len;
    let tile = tile_size(n);
    let tiles: Vec<usize> = (0..n.div_ceil(tile)).collect();
    let run = |&t: &usize| {
        let first = t * tile;
        let count = tile.min(n - first);
        run_tile(net, &images[first * len..(first + count) * len], first, spec)
    };
    #[cfg(not(target_arch = "wasm32"))]
    let results: Vec<_> = {
        use rayon::prelude::*;
        tiles.par_iter().map(run).collect()
    };
    #[cfg(target_arch = "wasm32")]
    let results: Vec<_> = tiles.iter().map(run).collect();

    join_shares(results)
}

/// The results of a run's shares, in chain order, as one run's: final images one after
/// another, and each recorded frame with every chain's values.
fn join_shares(results: Vec<(Vec<f32>, Frames)>) -> (Vec<f32>, Frames) {
    let mut finals = Vec::with_capacity(results.iter().map(|r| r.0.len()).sum());
    let mut frames: Frames = Vec::new();
    for (tile_final, tile_frames) in results {
        finals.extend(tile_final);
        for (i, frame) in tile_frames.into_iter().enumerate() {
            match frames.get_mut(i) {
                Some(all) => all.values.extend(frame.values),
                None => frames.push(frame),
            }
        }
    }
    (finals, frames)
}

/// The chains `first..first + count` of a run, on one thread.
fn run_tile(net: &Frozen, start: &[f32], first: usize, spec: &Spec) -> (Vec<f32>, Frames) {
    let net = match (net, spec.dynamics) {
        (Frozen::Residual(net), Dynamics::Denoising(walk)) => return walk::run_tile(net, walk, start, first, spec),
        (Frozen::Conv(net), Dynamics::Clamped(_) | Dynamics::Recovery(_)) => net,
        // Dynamics of another kind of net: nothing moves (the callers never ask for it).
        _ => return (start.to_vec(), Vec::new()),
    };
    let len = net.image_len();
    let count = start.len() / len;
    let tile = Tile {
        net,
        count,
        rngs: (0..count).map(|i| chain_rng(spec.seed, spec.first_chain + first + i)).collect(),
        labels: spec.target_labels.map(|l| &l[first..first + count]),
        free: spec.free.map(|f| &f[first * len..(first + count) * len]),
        ws: net.workspace(count),
        grad: vec![0.0f32; start.len()],
        noise: vec![0.0f32; len],
        frames: Vec::new(),
    };
    match spec.dynamics {
        Dynamics::Clamped(params) => tile.clamped(start, params, spec.record_every),
        Dynamics::Recovery(chains) => {
            tile.recovery(start, chains, spec.levels.map(|l| &l[first..first + count]), spec.record_every.is_some())
        }
        Dynamics::Denoising(_) => (start.to_vec(), Vec::new()),
    }
}

/// One thread's chains and their scratch space.
struct Tile<'a> {
    net: &'a FrozenNet,
    count: usize,
    rngs: Vec<StdRng>,
    labels: Option<&'a [i32]>,
    free: Option<&'a [bool]>,
    ws: frozen_net::Workspace,
    grad: Vec<f32>,
    noise: Vec<f32>,
    frames: Frames,
}

impl Tile<'_> {
    /// Draws one image's Gaussian noise into `self.noise` from chain `chain`'s stream.
    fn draw_noise(&mut self, chain: usize) {
        let rng = &mut self.rngs[chain];
        for e in self.noise.iter_mut() {
            *e = StandardNormal.sample(rng);
        }
    }

    /// Puts the kept pixels (inpainting) back to `anchor`'s values.
    fn keep_fixed(&self, x: &mut [f32], anchor: &[f32]) {
        if let Some(free) = self.free {
            for ((v, &s), &f) in x.iter_mut().zip(anchor).zip(free) {
                if !f {
                    *v = s;
                }
            }
        }
    }

    fn record(&mut self, step: usize, level: Option<usize>, x: &[f32]) {
        self.frames.push(Frame { step, level, values: x.to_vec() });
    }

    /// The contrastive recipe's chains.
    fn clamped(mut self, start: &[f32], p: &LangevinParams, record_every: Option<usize>) -> (Vec<f32>, Frames) {
        let len = self.net.image_len();
        let (step_size, clamp, noise_std) = (p.step_size as f32, p.grad_clamp as f32, p.noise_std as f32);
        let target = self.labels.map_or(Target::Marginal, Target::Class);
        let mut x = start.to_vec();
        if record_every.is_some() {
            self.record(0, None, &x);
        }
        for step in 1..=p.steps {
            if noise_std > 0.0 {
                for chain in 0..self.count {
                    self.draw_noise(chain);
                    fast_math::add_noise(&mut x[chain * len..(chain + 1) * len], &self.noise, noise_std);
                }
            }
            self.net.energy_grad(self.count, &x, target, None, &mut self.ws, &mut self.grad);
            fast_math::descend(&mut x, &self.grad, step_size, clamp);
            self.keep_fixed(&mut x, start);
            if let Some(k) = record_every
                && (step % k == 0 || step == p.steps)
            {
                self.record(step, None, &x);
            }
        }
        (x, self.frames)
    }

    /// The recovery recipe's chains: one level per chain, or the walk down the levels.
    fn recovery(mut self, start: &[f32], chains: &RecoveryChains, levels: Option<&[u32]>, record: bool) -> (Vec<f32>, Frames) {
        let len = self.net.image_len();
        let stages: Vec<Vec<u32>> = match chains.walk {
            Walk::OneLevel => vec![levels.expect("a one-level recovery chain needs its levels").to_vec()],
            Walk::Down { top } => (0..=top as u32).rev().map(|t| vec![t; self.count]).collect(),
        };
        let target = self.labels.map_or(Target::Marginal, Target::Class);
        let mut x = start.to_vec();
        if record && let Walk::Down { top } = chains.walk {
            self.record(0, Some(top + 1), &x);
        }
        let mut taken = 0;
        for stage in stages {
            let steps: Vec<_> = stage.iter().map(|&t| chains.schedule.step(t as usize, chains.noise_scale)).collect();
            let anchor = x.clone();
            for _ in 0..chains.steps {
                self.net.energy_grad(self.count, &x, target, Some(&stage), &mut self.ws, &mut self.grad);
                for (chain, s) in steps.iter().enumerate() {
                    self.draw_noise(chain);
                    let range = chain * len..(chain + 1) * len;
                    fast_math::recovery_step(
                        &mut x[range.clone()],
                        &self.grad[range.clone()],
                        &anchor[range],
                        &self.noise,
                        s.tether,
                        s.noise,
                    );
                }
                self.keep_fixed(&mut x, &anchor);
            }
            taken += chains.steps;
            for (chain, s) in steps.iter().enumerate() {
                x[chain * len..(chain + 1) * len].iter_mut().for_each(|v| *v *= s.rescale);
            }
            if record {
                let level = (chains.walk != Walk::OneLevel).then_some(stage[0] as usize);
                self.record(taken, level, &x);
            }
        }
        (x, self.frames)
    }
}

/// Swaps the two inner axes of `n` blocks of `rows × cols` values: [N, C, P] → [N, P, C] with
/// (C, P) as (rows, cols) turns NCHW into channels-last, and (P, C) turns it back.
pub fn swap_inner_axes(values: &[f32], n: usize, rows: usize, cols: usize) -> Vec<f32> {
    let mut out = vec![0.0; values.len()];
    for b in 0..n {
        for r in 0..rows {
            for c in 0..cols {
                out[(b * cols + c) * rows + r] = values[(b * rows + r) * cols + c];
            }
        }
    }
    out
}
