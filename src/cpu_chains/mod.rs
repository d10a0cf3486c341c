//! Langevin chains on the CPU without autodiff (burn's `flex` device, natively and in wasm).
//!
//! The general path (`sampler::chain`) builds an autodiff graph every step to get ∇ₓE; here the
//! frozen net's forward keeps each activation's slope and a hand-written backward walks back to
//! the input ([`frozen_net`]), on channels-last arrays with one scratch space per tile of
//! chains. Each chain draws its noise from its own stream, seeded from the run's seed and the
//! chain's index, so the images do not depend on how chains are split into tiles or threads.
//! Natively, tiles run on every core (rayon); in the browser, one after another.

mod conv;
mod fast_math;
mod frozen_net;
mod pool;
mod wire;

use burn::prelude::*;
use burn::tensor::TensorData;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand_distr::{Distribution as _, StandardNormal};

pub use conv::Conv;
pub use frozen_net::{Dense, FrozenNet, Target};
pub use pool::{ChainPool, ShareFuture, ShareJob, install_pool, run_on_pool, shares};

/// Recorded frames of a run: (step, every chain's values).
pub type Frames = Vec<(usize, Vec<f32>)>;

use crate::model::EnergyNet;
use crate::sampler::{ChainFrame, ChainOptions, LangevinParams};

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
    params: &LangevinParams,
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
    let frozen = net.frozen(h);
    let to_nhwc = |values: Vec<f32>| swap_inner_axes(&values, n, c, h * w);
    let images = to_nhwc(start.clone().into_data().convert::<f32>().try_into_vec::<f32>().ok()?);
    let labels: Option<Vec<i32>> =
        options.labels.clone().map(|l| l.into_data().convert::<i32>().try_into_vec::<i32>().expect("labels are integers"));
    let free: Option<Vec<bool>> = options.free.clone().map(|m| {
        let values: Vec<f32> = m.float().into_data().convert::<f32>().try_into_vec::<f32>().expect("a mask converts to floats");
        swap_inner_axes(&values, n, c, h * w).into_iter().map(|v| v > 0.5).collect()
    });
    // The run's seed from the device's generator, so a seeded run stays repeatable.
    let seed_parts = Tensor::<1>::random([2], burn::tensor::Distribution::Uniform(0.0, 16_777_216.0), &device).into_data();
    let seed = seed_parts.iter::<f32>().fold(0u64, |acc, v| (acc << 24) | v as u64);
    let record_every = options.record_every.filter(|&k| k > 0);
    let spec = Spec { params: *params, target_labels: labels.as_deref(), free: free.as_deref(), record_every, seed, first_chain: 0 };
    let (finals, frames) = match pool::installed() {
        Some(pool) => run_on_pool(pool.as_ref(), &frozen, &images, &spec).await,
        None => run_chains(&frozen, &images, &spec),
    };
    let to_tensor = |nhwc: &[f32]| Tensor::<4>::from_data(TensorData::new(swap_inner_axes(nhwc, n, h * w, c), [n, c, h, w]), &device);
    let frames = frames.iter().map(|(step, values)| ChainFrame { step: *step, images: to_tensor(values) }).collect();
    Some((to_tensor(&finals), frames))
}

/// What every chain of a run shares.
pub struct Spec<'a> {
    pub params: LangevinParams,
    /// Per-chain labels for E(x, y); `None` descends E(x).
    pub target_labels: Option<&'a [i32]>,
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
pub fn run_chains(net: &FrozenNet, images: &[f32], spec: &Spec) -> (Vec<f32>, Vec<(usize, Vec<f32>)>) {
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
        for (i, (step, values)) in tile_frames.into_iter().enumerate() {
            match frames.get_mut(i) {
                Some((_, all)) => all.extend(values),
                None => frames.push((step, values)),
            }
        }
    }
    (finals, frames)
}

/// The chains `first..first + count` of a run, on one thread.
fn run_tile(net: &FrozenNet, start: &[f32], first: usize, spec: &Spec) -> (Vec<f32>, Vec<(usize, Vec<f32>)>) {
    let len = net.image_len();
    let count = start.len() / len;
    let p = &spec.params;
    let (step_size, clamp, noise_std) = (p.step_size as f32, p.grad_clamp as f32, p.noise_std as f32);
    let mut rngs: Vec<StdRng> = (0..count).map(|i| chain_rng(spec.seed, spec.first_chain + first + i)).collect();
    let labels = spec.target_labels.map(|l| &l[first..first + count]);
    let target = labels.map_or(Target::Marginal, Target::Class);
    let free = spec.free.map(|f| &f[first * len..(first + count) * len]);
    let mut ws = net.workspace(count);
    let mut x = start.to_vec();
    let mut grad = vec![0.0f32; x.len()];
    let mut noise = vec![0.0f32; len];
    let mut frames = Vec::new();
    if spec.record_every.is_some() {
        frames.push((0, x.clone()));
    }
    for step in 1..=p.steps {
        if noise_std > 0.0 {
            for (image, rng) in x.chunks_exact_mut(len).zip(&mut rngs) {
                for e in noise.iter_mut() {
                    *e = StandardNormal.sample(rng);
                }
                fast_math::add_noise(image, &noise, noise_std);
            }
        }
        net.energy_grad(count, &x, target, &mut ws, &mut grad);
        fast_math::descend(&mut x, &grad, step_size, clamp);
        if let Some(free) = free {
            for ((v, &s), &f) in x.iter_mut().zip(start).zip(free) {
                if !f {
                    *v = s;
                }
            }
        }
        if let Some(k) = spec.record_every
            && (step % k == 0 || step == p.steps)
        {
            frames.push((step, x.clone()));
        }
    }
    (x, frames)
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
