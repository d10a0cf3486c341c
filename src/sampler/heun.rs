//! The denoising recipe's walk (EDM's Algorithm 2; churn 0 is the deterministic Algorithm 1):
//! from N(μ, σ_max²) down the levels σ₀ > … > σ_{L−1} to 0, each level one Heun step of the
//! probability-flow ODE dx/dσ = (x − D(x; σ))/σ — two gradient evaluations, one at the last
//! level (Euler). D comes from the energy's input gradient ([`ResidualNet::denoised`]), written
//! as forward operations, so the walk needs no autodiff graph on any device.
//!
//! Energies add, and so do their gradients (the thing an energy can do that a score network
//! cannot do with a test of its result): a class-conditional net's walk may follow a
//! [`Composition`] E_any + Σ_k w_k·(E_k − E_any) — one class with guidance w, two classes
//! together — and after each level's step take Metropolis-adjusted Langevin (MALA) steps on the
//! composed energy of the level reached, each accepted or refused by the energies' difference
//! (Du et al., "Reduce, Reuse, Recycle", ICML 2023). Inpainting walks keep the known pixels.

use burn::prelude::*;
use burn::tensor::{Distribution, Int, TensorData};
use serde::{Deserialize, Serialize};

use crate::config::EbmConfig;
use crate::denoising::{churn_gamma, walk_evaluations, walk_sigmas};
use crate::model::ResidualNet;

/// The largest weight a class may take in a composition: far beyond it the walk leaves the
/// images' range.
pub const MAX_GUIDANCE: f64 = 20.0;

/// Most classes one composition adds.
pub const MAX_COMPOSED: usize = 8;

/// Most MALA steps after each level.
pub const MAX_CORRECTOR_STEPS: usize = 100;

/// The MALA step as a fraction of the level's σ² when none is given (`debm sample`, the site).
pub const DEFAULT_MALA_STEP: f64 = 0.05;

/// One class's part of a composed energy.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClassTerm {
    pub class: usize,
    /// w in E_any + w·(E_k − E_any): 1 is the class's own energy, above 1 guidance.
    pub weight: f64,
}

/// The energy a walk descends: "any class" plus Σ_k w_k·(E_k − E_any) over `terms` (none: any
/// class, or the chains' own classes when the sampler is given one label per chain).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Composition {
    pub terms: Vec<ClassTerm>,
}

impl Composition {
    /// Class `class` with guidance `weight`.
    pub fn class(class: usize, weight: f64) -> Self {
        Self { terms: vec![ClassTerm { class, weight }] }
    }

    /// Checked against a net of `classes` classes: classes that exist, weights in range, not
    /// too many terms.
    pub fn check(&self, classes: usize) -> Result<(), String> {
        if self.terms.is_empty() {
            return Ok(());
        }
        if classes == 0 {
            return Err("this model is not class-conditional: it composes no classes".into());
        }
        if self.terms.len() > MAX_COMPOSED {
            return Err(format!("at most {MAX_COMPOSED} classes compose one energy (got {})", self.terms.len()));
        }
        for t in &self.terms {
            if t.class >= classes {
                return Err(format!("class {} does not exist: the model has classes 0–{}", t.class, classes - 1));
            }
            if !(t.weight.is_finite() && (0.0..=MAX_GUIDANCE).contains(&t.weight)) {
                return Err(format!("a class's weight (guidance) must be between 0 and {MAX_GUIDANCE} (got {})", t.weight));
            }
        }
        Ok(())
    }

    /// Gradient evaluations one denoiser call costs: one per class, and one for "any class"
    /// unless a single class with weight 1 is all there is.
    pub fn evaluations(&self) -> usize {
        match self.terms.as_slice() {
            [] => 1,
            [t] if t.weight == 1.0 => 1,
            terms => terms.len() + 1,
        }
    }
}

/// Metropolis-adjusted Langevin steps after each level's step, at the level reached:
/// x′ = x − ε∇E(x) + √(2ε)·ξ with ε = `step_factor`·σ², kept when a uniform draw is below
/// exp(E(x) − E(x′) + log q(x | x′) − log q(x′ | x)).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Corrector {
    pub steps: usize,
    pub step_factor: f64,
}

/// The levels a denoising walk passes and how it steps.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DenoisingWalk {
    /// σ of each level, from the first down, then 0 (`levels + 1` values).
    pub sigmas: Vec<f64>,
    /// EDM's stochastic churn as γ: each level is raised to σ·(1 + γ) by fresh noise before
    /// its step (0: the deterministic walk; [`churn_gamma`] from the configuration's churn).
    pub gamma: f64,
    /// The energy walked (see [`Composition`]).
    #[serde(default)]
    pub composition: Composition,
    /// MALA steps after each level (none by default).
    #[serde(default)]
    pub corrector: Corrector,
}

/// What the walk needs of the net at a batch: the denoised images (and the energies, for MALA).
pub(crate) struct Evaluation {
    pub denoised: Tensor<4>,
    pub energy: Option<Tensor<1>>,
}

impl DenoisingWalk {
    /// The configuration's walk, with `levels` levels instead of its own when given.
    pub fn of(config: &EbmConfig, levels: Option<usize>) -> Self {
        let d = &config.denoising;
        let levels = levels.unwrap_or(d.levels);
        Self {
            sigmas: walk_sigmas(levels, d.sigma_min, d.sigma_max),
            gamma: churn_gamma(d.churn, levels),
            composition: Composition::default(),
            corrector: Corrector::default(),
        }
    }

    /// σ strictly decreasing, finite, ending at 0; γ, the composition's weights and the
    /// corrector in range (a walk read from elsewhere, e.g. a helper's share, is checked before
    /// it runs).
    pub fn is_well_formed(&self) -> bool {
        use crate::denoising::{MAX_SIGMA, MAX_WALK_LEVELS};
        let n = self.sigmas.len();
        (2..=MAX_WALK_LEVELS + 1).contains(&n)
            && self.sigmas[n - 1] == 0.0
            && self.sigmas.iter().all(|s| s.is_finite() && (0.0..=MAX_SIGMA).contains(s))
            && self.sigmas.windows(2).all(|w| w[0] > w[1])
            && self.gamma.is_finite()
            && (0.0..=1.0).contains(&self.gamma)
            && self.composition.terms.len() <= MAX_COMPOSED
            && self.composition.terms.iter().all(|t| t.weight.is_finite() && (0.0..=MAX_GUIDANCE).contains(&t.weight))
            && self.corrector.steps <= MAX_CORRECTOR_STEPS
            && self.corrector.step_factor.is_finite()
            && (0.0..=1.0).contains(&self.corrector.step_factor)
    }

    /// Levels of the walk.
    pub fn levels(&self) -> usize {
        self.sigmas.len() - 1
    }

    /// Gradient evaluations of the whole walk: twice the levels less one, times what the
    /// composition costs, plus the corrector's steps.
    pub fn evaluations(&self) -> usize {
        let levels = self.levels();
        let corrected = self.sigmas[1..].iter().filter(|&&s| s > 0.0).count();
        (walk_evaluations(levels) + corrected * self.corrector.steps) * self.composition.evaluations()
    }

    /// Level `index` alone: a walk of one level, from σ_index to the next (the same γ,
    /// composition and corrector), so a driver can run and show a walk level by level.
    pub fn level(&self, index: usize) -> Self {
        Self { sigmas: self.sigmas[index..index + 2].to_vec(), ..self.clone() }
    }

    /// The rest of this walk for images that already carry Gaussian noise of `sigma`: from
    /// `sigma` down through the levels below it (none left at σ = 0: the images stay).
    pub fn from_noise(&self, sigma: f64) -> Self {
        let mut sigmas = Vec::with_capacity(self.sigmas.len() + 1);
        if sigma > 0.0 {
            sigmas.push(sigma);
            sigmas.extend(self.sigmas.iter().copied().filter(|&s| s < sigma && s > 0.0));
        }
        sigmas.push(0.0);
        Self { sigmas, ..self.clone() }
    }

    /// Where the walk starts: N(μ, σ₀²) per value, from standard normal `z`.
    pub fn start(&self, net: &ResidualNet, z: Tensor<4>) -> Tensor<4> {
        let (mean, _) = net.data_statistics_tensors();
        let c = mean.dims()[0];
        z * self.sigmas[0] as f32 + mean.reshape([1, c, 1, 1])
    }

    /// D(x; σ) of the composed energy (and its value when `with_energy`): D_any + Σ w_k·(D_k −
    /// D_any), as the gradients add; without a composition, under the chains' `labels`.
    pub(crate) fn evaluate(
        &self,
        net: &ResidualNet,
        x: Tensor<4>,
        sigma: f64,
        labels: Option<&Tensor<1, Int>>,
        with_energy: bool,
    ) -> Evaluation {
        let n = x.dims()[0];
        let device = x.device();
        let s = Tensor::<1>::from_data(TensorData::new(vec![sigma as f32; n], [n]), &device);
        let one = |rows: Option<&Tensor<1, Int>>| {
            let denoised = net.denoised(x.clone(), s.clone(), rows);
            let energy = with_energy.then(|| net.energy(x.clone(), s.clone(), rows));
            (denoised, energy)
        };
        let class = |k: usize| Tensor::<1, Int>::from_data(TensorData::new(vec![k as i32; n], [n]), &device);
        let (denoised, energy) = match self.composition.terms.as_slice() {
            [] => one(labels),
            [t] if t.weight == 1.0 => one(Some(&class(t.class))),
            terms => {
                let (d_any, e_any) = one(None);
                let (mut d, mut e) = (d_any.clone(), e_any.clone());
                for t in terms {
                    let (d_k, e_k) = one(Some(&class(t.class)));
                    let w = t.weight as f32;
                    d = d + (d_k - d_any.clone()) * w;
                    e = match (e, e_k, &e_any) {
                        (Some(e), Some(e_k), Some(e_any)) => Some(e + (e_k - e_any.clone()) * w),
                        _ => None,
                    };
                }
                (d, e)
            }
        };
        Evaluation { denoised, energy }
    }

    /// One level: from `x` at level `index` to level `index + 1` (the last index ends at σ = 0),
    /// then the corrector's MALA steps at the level reached. `fixed`: the pixels that may not
    /// change (`false` in the mask) keep the anchor's values.
    pub fn step(
        &self,
        net: &ResidualNet,
        x: Tensor<4>,
        index: usize,
        labels: Option<&Tensor<1, Int>>,
        fixed: Option<(&Tensor<4>, &Tensor<4, Bool>)>,
    ) -> Tensor<4> {
        let (s, s_next) = (self.sigmas[index], self.sigmas[index + 1]);
        let device = x.device();
        let keep = |next: Tensor<4>| match fixed {
            Some((anchor, free)) => anchor.clone().mask_where(free.clone(), next),
            None => next,
        };
        let s_hat = s * (1.0 + self.gamma);
        let x = if self.gamma > 0.0 {
            let lift = (s_hat * s_hat - s * s).sqrt() as f32;
            x.clone() + Tensor::random(x.shape(), Distribution::Normal(0.0, 1.0), &device) * lift
        } else {
            x
        };
        let d = (x.clone() - self.evaluate(net, x.clone(), s_hat, labels, false).denoised) / s_hat as f32;
        let h = (s_next - s_hat) as f32;
        let euler = x.clone() + d.clone() * h;
        let mut next = if s_next > 0.0 {
            let d2 = (euler.clone() - self.evaluate(net, euler, s_next, labels, false).denoised) / s_next as f32;
            keep(x + (d + d2) * (h * 0.5))
        } else {
            keep(euler)
        };
        if s_next > 0.0 {
            for _ in 0..self.corrector.steps {
                next = keep(self.mala(net, next, s_next, labels));
            }
        }
        next
    }

    /// One Metropolis-adjusted Langevin step on the composed energy at level σ.
    fn mala(&self, net: &ResidualNet, x: Tensor<4>, sigma: f64, labels: Option<&Tensor<1, Int>>) -> Tensor<4> {
        let n = x.dims()[0];
        let device = x.device();
        let eps = (self.corrector.step_factor * sigma * sigma) as f32;
        let grad_of = |e: &Evaluation, x: &Tensor<4>| (x.clone() - e.denoised.clone()) / (sigma * sigma) as f32;
        let here = self.evaluate(net, x.clone(), sigma, labels, true);
        let g = grad_of(&here, &x);
        let proposal =
            x.clone() - g.clone() * eps + Tensor::random(x.shape(), Distribution::Normal(0.0, 1.0), &device) * (2.0 * eps).sqrt();
        let there = self.evaluate(net, proposal.clone(), sigma, labels, true);
        let g_there = grad_of(&there, &proposal);
        // log q(a | b) = −‖a − b + ε∇E(b)‖²/(4ε) + const.
        let log_q = |a: &Tensor<4>, b: &Tensor<4>, g_b: &Tensor<4>| {
            (a.clone() - b.clone() + g_b.clone() * eps).square().sum_dim(3).sum_dim(2).sum_dim(1).reshape([n]) / (-4.0 * eps)
        };
        let (Some(e_here), Some(e_there)) = (here.energy, there.energy) else { return x };
        let log_accept = e_here - e_there + log_q(&x, &proposal, &g_there) - log_q(&proposal, &x, &g);
        let u = Tensor::<1>::random([n], Distribution::Uniform(0.0, 1.0), &device).log();
        let accept = u.lower(log_accept).reshape([n, 1, 1, 1]).expand(x.shape());
        x.mask_where(accept, proposal)
    }
}
