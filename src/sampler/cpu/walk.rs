//! The denoising walk on the CPU path: the same Heun steps as [`DenoisingWalk::step`] on a tile
//! of chains, with the frozen residual net's hand-written denoiser ([`FrozenResidual::denoised`]).
//! Each chain draws its churn noise from its own stream, so the images do not depend on how the
//! chains are split into tiles, threads or helpers.

use rand_distr::{Distribution as _, StandardNormal};

use super::{Frame, Frames, FrozenResidual, Spec, chain_rng};
use crate::sampler::{DenoisingWalk, walk_evaluations_to};

/// D(x; σ) of a tile and the energies, of the walk's composed energy: D_any + Σ w_k·(D_k −
/// D_any) ([`crate::sampler::Composition`]); without a composition, under the chains' classes.
fn evaluate(
    net: &FrozenResidual,
    walk: &DenoisingWalk,
    count: usize,
    x: &[f32],
    sigma: f64,
    labels: Option<&[i32]>,
) -> (Vec<f32>, Vec<f32>) {
    let one = |rows: Option<&[i32]>| {
        let mut out = vec![0.0; x.len()];
        let energy = net.denoised(count, x, sigma as f32, rows, &mut out);
        (out, energy)
    };
    match walk.composition.terms.as_slice() {
        [] => one(labels),
        [t] if t.weight == 1.0 => one(Some(&vec![t.class as i32; count])),
        terms => {
            let (d_any, e_any) = one(None);
            let (mut d, mut e) = (d_any.clone(), e_any.clone());
            for t in terms {
                let (d_k, e_k) = one(Some(&vec![t.class as i32; count]));
                let w = t.weight as f32;
                d.iter_mut().zip(d_k.iter().zip(&d_any)).for_each(|(d, (k, a))| *d += w * (k - a));
                e.iter_mut().zip(e_k.iter().zip(&e_any)).for_each(|(e, (k, a))| *e += w * (k - a));
            }
            (d, e)
        }
    }
}

/// Puts the pixels that may not change back to `anchor`'s values.
fn keep_fixed(x: &mut [f32], anchor: &[f32], free: Option<&[bool]>) {
    if let Some(free) = free {
        for ((v, &s), &f) in x.iter_mut().zip(anchor).zip(free) {
            if !f {
                *v = s;
            }
        }
    }
}

/// Chains `first..first + count` of a run (`start`, NHWC) down `walk`'s levels.
pub fn run_tile(net: &FrozenResidual, walk: &DenoisingWalk, start: &[f32], first: usize, spec: &Spec) -> (Vec<f32>, Frames) {
    let len = net.image_len();
    let count = start.len() / len;
    let labels = spec.target_labels.map(|l| &l[first..first + count]);
    let free = spec.free.map(|f| &f[first * len..(first + count) * len]);
    let mut rngs: Vec<_> = (0..count).map(|i| chain_rng(spec.seed, spec.first_chain + first + i)).collect();
    let levels = walk.levels();
    let record = spec.record_every.is_some();
    let mut frames = Vec::new();
    if record {
        frames.push(Frame { step: 0, level: Some(levels), values: start.to_vec() });
    }
    let mut x = start.to_vec();
    for index in 0..levels {
        let (s, s_next) = (walk.sigmas[index], walk.sigmas[index + 1]);
        let s_hat = s * (1.0 + walk.gamma);
        if walk.gamma > 0.0 {
            let lift = (s_hat * s_hat - s * s).sqrt() as f32;
            for (chain, rng) in rngs.iter_mut().enumerate() {
                for v in &mut x[chain * len..(chain + 1) * len] {
                    let e: f32 = StandardNormal.sample(rng);
                    *v += lift * e;
                }
            }
        }
        let h = (s_next - s_hat) as f32;
        let d: Vec<f32> = evaluate(net, walk, count, &x, s_hat, labels).0.iter().zip(&x).map(|(dn, v)| (v - dn) / s_hat as f32).collect();
        let euler: Vec<f32> = x.iter().zip(&d).map(|(v, d)| v + h * d).collect();
        let mut next = if s_next > 0.0 {
            let second = evaluate(net, walk, count, &euler, s_next, labels).0;
            x.iter().zip(&d).zip(euler.iter().zip(&second)).map(|((v, d), (e, dn))| v + 0.5 * h * (d + (e - dn) / s_next as f32)).collect()
        } else {
            euler
        };
        keep_fixed(&mut next, start, free);
        if s_next > 0.0 {
            for _ in 0..walk.corrector.steps {
                mala(net, walk, count, &mut next, s_next, labels, &mut rngs);
                keep_fixed(&mut next, start, free);
            }
        }
        x = next;
        if record {
            frames.push(Frame { step: walk_evaluations_to(index + 1, levels), level: Some(levels - index - 1), values: x.clone() });
        }
    }
    (x, frames)
}

/// One Metropolis-adjusted Langevin step of every chain of a tile on the composed energy at
/// level σ (as [`DenoisingWalk::step`]'s corrector), each chain's noise and test from its stream.
fn mala(
    net: &FrozenResidual,
    walk: &DenoisingWalk,
    count: usize,
    x: &mut [f32],
    sigma: f64,
    labels: Option<&[i32]>,
    rngs: &mut [rand::rngs::StdRng],
) {
    use rand::RngExt;
    let len = net.image_len();
    let eps = (walk.corrector.step_factor * sigma * sigma) as f32;
    let inv = 1.0 / (sigma * sigma) as f32;
    let (d_here, e_here) = evaluate(net, walk, count, x, sigma, labels);
    let g: Vec<f32> = x.iter().zip(&d_here).map(|(v, d)| (v - d) * inv).collect();
    let mut proposal = vec![0.0; x.len()];
    for (chain, rng) in rngs.iter_mut().enumerate().take(count) {
        for i in chain * len..(chain + 1) * len {
            let xi: f32 = StandardNormal.sample(rng);
            proposal[i] = x[i] - eps * g[i] + (2.0 * eps).sqrt() * xi;
        }
    }
    let (d_there, e_there) = evaluate(net, walk, count, &proposal, sigma, labels);
    let g_there: Vec<f32> = proposal.iter().zip(&d_there).map(|(v, d)| (v - d) * inv).collect();
    for (chain, rng) in rngs.iter_mut().enumerate().take(count) {
        let r = chain * len..(chain + 1) * len;
        // log q(a | b) = −‖a − b + ε∇E(b)‖²/(4ε).
        let log_q = |a: &[f32], b: &[f32], g_b: &[f32]| -> f32 {
            -a.iter().zip(b).zip(g_b).map(|((a, b), g)| (a - b + eps * g).powi(2)).sum::<f32>() / (4.0 * eps)
        };
        let log_accept = e_here[chain] - e_there[chain] + log_q(&x[r.clone()], &proposal[r.clone()], &g_there[r.clone()])
            - log_q(&proposal[r.clone()], &x[r.clone()], &g[r.clone()]);
        let u: f32 = rng.random();
        if u.ln() < log_accept {
            x[r.clone()].copy_from_slice(&proposal[r]);
        }
    }
}
