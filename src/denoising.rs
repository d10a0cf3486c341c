//! The numbers of the denoising recipe (Karras, Aittala, Aila, Laine, "Elucidating the Design
//! Space of Diffusion-Based Generative Models", NeurIPS 2022 — EDM — around an energy, as
//! `../shared/bench/torch_edm_energy.py`): the noise levels σ a walk passes, the preconditioning
//! coefficients of a level, and the distribution training draws its levels from.
//!
//! The energy of level σ is E(x, σ) = ‖x − μ‖²/(2(σ² + σ_d²)) + (σ_d/σ)·H(c_in·(x − μ), c_noise)
//! with μ the training images' channel means and σ_d their standard deviation; its denoiser is
//! D(x; σ) = x − σ²∇ₓE = μ + c_skip·(x − μ) − c_out·∇ᵤH ([`crate::model::ResidualNet`]).

use serde::{Deserialize, Serialize};

/// EDM's ρ: the walk's levels are evenly spaced in σ^(1/ρ), denser near σ_min.
pub const RHO: f64 = 7.0;

/// Most levels a walk may pass (each costs two gradient evaluations).
pub const MAX_WALK_LEVELS: usize = 1000;

/// The bounds a configuration's σ range must stay within: below `MIN_SIGMA` the energy's
/// factor σ_d/σ and c_out's cancellation lose f32 precision; above `MAX_SIGMA` a walk starts
/// from noise that dwarfs any image by far more than it needs to.
pub const MIN_SIGMA: f64 = 1e-4;
pub const MAX_SIGMA: f64 = 1000.0;

/// The preconditioning of level σ for data of standard deviation σ_d.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Coefficients {
    /// 1/√(σ² + σ_d²): scales the centred input to unit variance.
    pub c_in: f32,
    /// σ_d²/(σ² + σ_d²): the share of the noisy image the denoiser keeps.
    pub c_skip: f32,
    /// σ·σ_d/√(σ² + σ_d²): the scale of the net's correction.
    pub c_out: f32,
    /// ln(σ)/4: the net's level input.
    pub c_noise: f32,
    /// σ_d/σ: the factor of H in the energy.
    pub energy_scale: f32,
}

impl Coefficients {
    pub fn at(sigma: f64, sigma_data: f64) -> Self {
        let total = sigma * sigma + sigma_data * sigma_data;
        Self {
            c_in: (1.0 / total.sqrt()) as f32,
            c_skip: (sigma_data * sigma_data / total) as f32,
            c_out: (sigma * sigma_data / total.sqrt()) as f32,
            c_noise: (sigma.ln() / 4.0) as f32,
            energy_scale: (sigma_data / sigma) as f32,
        }
    }
}

/// The levels of a walk from `sigma_max` down to `sigma_min` in `levels` steps (EDM's eq. 5,
/// ρ = 7), followed by 0: `levels + 1` values.
pub fn walk_sigmas(levels: usize, sigma_min: f64, sigma_max: f64) -> Vec<f64> {
    assert!(levels >= 1, "a walk needs at least one level");
    let (lo, hi) = (sigma_min.powf(1.0 / RHO), sigma_max.powf(1.0 / RHO));
    let last = (levels - 1).max(1) as f64;
    let mut s: Vec<f64> = (0..levels).map(|i| (hi + i as f64 / last * (lo - hi)).powf(RHO)).collect();
    if levels == 1 {
        s[0] = sigma_max;
    }
    s.push(0.0);
    s
}

/// Gradient evaluations of a Heun walk of `levels` levels: two per level but the last (Euler).
pub fn walk_evaluations(levels: usize) -> usize {
    (2 * levels).saturating_sub(1)
}

/// How much EDM's stochastic churn raises a level before its step: γ = min(churn/levels, √2 − 1)
/// (0: the deterministic walk).
pub fn churn_gamma(churn: f64, levels: usize) -> f64 {
    if churn > 0.0 { (churn / levels as f64).min(std::f64::consts::SQRT_2 - 1.0) } else { 0.0 }
}

/// Training's levels: ln σ ~ N(p_mean, p_std²) (EDM's −1.2, 1.2), from a standard normal draw.
pub fn training_sigma(p_mean: f64, p_std: f64, standard_normal: f64) -> f64 {
    (p_mean + p_std * standard_normal).exp()
}

/// The data statistics the preconditioning centres and scales by: μ per channel and one σ_d, of
/// images in [-1, 1].
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct DataStatistics {
    pub mean: Vec<f32>,
    pub std: f32,
}

impl DataStatistics {
    /// Channel means and the standard deviation around them of `values`, flat [N, C, H, W]
    /// images in [-1, 1].
    pub fn of(values: &[f32], channels: usize, pixels_per_channel: usize) -> Self {
        let image = channels * pixels_per_channel;
        let count = (values.len() / image.max(1)) as f64 * pixels_per_channel as f64;
        let mut sums = vec![0.0f64; channels];
        for (i, v) in values.iter().enumerate() {
            sums[(i % image) / pixels_per_channel] += f64::from(*v);
        }
        let mean: Vec<f64> = sums.iter().map(|s| s / count.max(1.0)).collect();
        let squares: f64 = values.iter().enumerate().map(|(i, v)| (f64::from(*v) - mean[(i % image) / pixels_per_channel]).powi(2)).sum();
        let std = (squares / (count * channels as f64).max(1.0)).sqrt();
        Self { mean: mean.iter().map(|&m| m as f32).collect(), std: std as f32 }
    }
}

/// The level a denoising energy scores clean images at (energies, histograms, AUROC, the
/// probe's features): the default walk's last, σ_min.
pub const SCORE_SIGMA: f32 = 0.002;

impl DataStatistics {
    /// The statistics of H×W×C uint8 images (`pixels`, image after image), as [-1, 1] values.
    pub fn of_bytes(pixels: &[u8], channels: usize) -> Self {
        let count = (pixels.len() / channels.max(1)) as f64;
        let mut sums = vec![0.0f64; channels];
        let mut squares = vec![0.0f64; channels];
        for px in pixels.chunks_exact(channels) {
            for (c, &v) in px.iter().enumerate() {
                let x = f64::from(v) / 127.5 - 1.0;
                sums[c] += x;
                squares[c] += x * x;
            }
        }
        let mean: Vec<f64> = sums.iter().map(|s| s / count.max(1.0)).collect();
        // Σ(x − μ_c)² over every value, from the sums of squares.
        let centred: f64 = (0..channels).map(|c| squares[c] - count * mean[c] * mean[c]).sum();
        let std = (centred.max(0.0) / (count * channels as f64).max(1.0)).sqrt();
        Self { mean: mean.iter().map(|&m| m as f32).collect(), std: std as f32 }
    }
}
