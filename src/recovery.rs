//! The noise schedule of diffusion recovery likelihood (Gao, Song, Poole, Wu, Kingma, ICLR
//! 2021; the authors' `get_sigma_schedule` in ruiqigao/recovery_likelihood, model.py): T noise
//! levels cut out of the DDPM β schedule (β linear from 1e-4 to 0.02 over 1,000 steps), and the
//! Langevin step size of each level.
//!
//! Level t ∈ 0..T holds x_t = ā_t·x₀ + σ̄_t·ε; the next one is x̃ = a_{t+1}·x_t + σ_{t+1}·ε′. The
//! energy of level t is f(y, t) on y = a_{t+1}·x_t, and the conditional
//! log p(y | x̃) = f(y, t)/s_t² − ‖y − x̃‖² / (2σ²_{t+1}) (no tether at the last level, t = T−1,
//! whose energy is the marginal of x_T ≈ N(0, I)). Entry t + 1 of `a` and `sigma` is the step
//! from level t to the next; `a[T]` is the step to pure noise.

use serde::{Deserialize, Serialize};

/// Most levels a schedule may have (the cut points of 1,000 DDPM steps stay distinct).
pub const MAX_LEVELS: usize = 50;

/// The schedule's numbers for `levels` levels: each vector has T + 1 entries.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct NoiseSchedule {
    /// a_i: the signal kept by step i (from entry i − 1 to i).
    pub a: Vec<f32>,
    /// σ_i = √(1 − a_i²): the noise added by step i.
    pub sigma: Vec<f32>,
    /// ā_i = a_0·…·a_i: the signal left of x₀ at entry i.
    pub a_cum: Vec<f32>,
    /// σ̄_i = √(1 − ā_i²).
    pub sigma_cum: Vec<f32>,
    /// The Langevin step size s_t² of level t (T entries).
    pub step_size: Vec<f32>,
}

/// What one Langevin step at a level does, per chain: y ← y + ½∇f + tether·(x̃ − y) + noise·ε.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LevelStep {
    /// ½·s_t²/σ²_{t+1} (0 at the last level: no tether to the noisier image).
    pub tether: f32,
    /// s_t times the noise scale.
    pub noise: f32,
    /// 1/a_{t+1}: from the chain's y back to x_t once the level's steps are done (1 at the last level).
    pub rescale: f32,
}

impl NoiseSchedule {
    /// The authors' schedule for `levels` levels with step factor b² (their 2e-4).
    pub fn new(levels: usize, step_factor: f64) -> Self {
        assert!((2..=MAX_LEVELS).contains(&levels), "a schedule needs 2 to {MAX_LEVELS} levels");
        let betas: Vec<f64> = (0..1000).map(|i| 1e-4 + (0.02 - 1e-4) * i as f64 / 999.0).chain([1.0]).collect();
        let keep = |range: std::ops::Range<usize>| range.map(|i| (1.0 - betas[i]).sqrt()).product::<f64>();
        // Cut points: k·⌊1000 / (2(T−1))⌋ for k < T, then 999.
        let stride = 1000 / ((levels - 1) * 2);
        let cuts: Vec<usize> = (0..levels).map(|k| k * stride).chain([999]).collect();
        let mut a = vec![keep(0..cuts[0] + 1)];
        a.extend(cuts.windows(2).map(|w| keep(w[0] + 1..w[1] + 1)));
        let a_cum: Vec<f64> = a
            .iter()
            .scan(1.0, |acc, &v| {
                *acc *= v;
                Some(*acc)
            })
            .collect();
        let root = |v: &f64| (1.0 - v * v).max(0.0).sqrt();
        let sigma: Vec<f64> = a.iter().map(root).collect();
        let sigma_cum: Vec<f64> = a_cum.iter().map(root).collect();
        let step_size = (0..levels).map(|t| sigma_cum[t] / sigma_cum[0] * step_factor * sigma[t + 1] * sigma[t + 1]).collect::<Vec<_>>();
        let f32s = |v: Vec<f64>| v.into_iter().map(|x| x as f32).collect();
        Self { a: f32s(a), sigma: f32s(sigma), a_cum: f32s(a_cum), sigma_cum: f32s(sigma_cum), step_size: f32s(step_size) }
    }

    /// Every vector has its length (T + 1, T for the step sizes) and every number is finite:
    /// a schedule that came from elsewhere (a chain helper's share) is checked before use.
    pub fn is_well_formed(&self) -> bool {
        let t = self.step_size.len();
        let vectors = [&self.a, &self.sigma, &self.a_cum, &self.sigma_cum];
        t >= 1
            && vectors.iter().all(|v| v.len() == t + 1)
            && vectors.iter().chain([&&self.step_size]).all(|v| v.iter().all(|x| x.is_finite()))
    }

    /// Number of levels T.
    pub fn levels(&self) -> usize {
        self.step_size.len()
    }

    /// The factor of the energy's input at level t: y = a_{t+1}·x_t (1 at the last level,
    /// whose input is x_T itself).
    pub fn input_scale(&self, level: usize) -> f32 {
        if level + 1 == self.levels() { 1.0 } else { self.a[level + 1] }
    }

    /// One Langevin step's coefficients at `level`, with the noise scaled by `noise_scale`
    /// (1 in training; the authors sample with 0.99).
    pub fn step(&self, level: usize, noise_scale: f32) -> LevelStep {
        let s2 = self.step_size[level];
        let last = level + 1 == self.levels();
        let sigma = self.sigma[level + 1];
        LevelStep {
            tether: if last { 0.0 } else { 0.5 * s2 / (sigma * sigma) },
            noise: s2.sqrt() * noise_scale,
            rescale: 1.0 / self.input_scale(level),
        }
    }

    /// Weight of a level's term in the loss: σ₁/σ_{t+1} (the authors' normalisation, which
    /// keeps the noisier levels' larger energy differences from dominating).
    pub fn loss_weight(&self, level: usize) -> f32 {
        self.sigma[1] / self.sigma[level + 1]
    }

    /// The level at which an image with Gaussian noise of standard deviation `sigma` (on the
    /// [-1, 1] scale) looks like x_t/ā_t: σ̄_t/ā_t nearest to `sigma`. Where denoising starts.
    pub fn level_for_noise(&self, sigma: f32) -> usize {
        let gap = |t: usize| (self.sigma_cum[t] / self.a_cum[t] - sigma).abs();
        (0..self.levels()).min_by(|&i, &j| gap(i).total_cmp(&gap(j))).unwrap_or(0)
    }
}
